import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BinaryReader, BinaryWriter, bytesSize, GrowableBinaryWriter, loneSurrogateAt, uintSize, utf8Length, varintSize } from '../../protocol/binary.ts';
import type { ReaderDialect } from '../../protocol/binary.ts';
import { DecodeError, EncodeError } from '../../protocol/errors.ts';
import type { DecodeReason, EncodeReason } from '../../protocol/errors.ts';

const EDGE_NUMBERS = [0, 1, 127, 128, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 49 - 1, 2 ** 49, Number.MAX_SAFE_INTEGER];
const EMPTY = new Uint8Array(0);
const INSIDE: ReaderDialect = { truncatedVarint: 'inside', limitName: 'node id limit', trailingBytes: 'bytes left after a complete value', emptyBytes: EMPTY };
const BEFORE: ReaderDialect = { truncatedVarint: 'before', limitName: 'limit', trailingBytes: 'bytes after the end' };

function reader(dialect: ReaderDialect, ...bytes: number[]): BinaryReader {
  return new BinaryReader(Uint8Array.from(bytes), 'test value', dialect);
}

function decodeFails(read: () => unknown, reason: DecodeReason, message: string): void {
  try {
    read();
  } catch (error) {
    assert.instance(error, DecodeError);
    assert.is((error as DecodeError).reason, reason);
    assert.is((error as DecodeError).message, message);
    return;
  }
  assert.unreachable(`decoding succeeded; expected ${reason}`);
}

function encodeFails(write: () => unknown, reason: EncodeReason, message: string): void {
  try {
    write();
  } catch (error) {
    assert.instance(error, EncodeError);
    assert.is((error as EncodeError).reason, reason);
    assert.is((error as EncodeError).message, message);
    return;
  }
  assert.unreachable(`encoding succeeded; expected ${reason}`);
}

// ---------------------------------------------------------------- sizes

test('varint sizes grow by one byte every 7 bits, up to 8 bytes at 2^53 - 1', () => {
  assert.equal(EDGE_NUMBERS.map(varintSize), [1, 1, 1, 2, 2, 3, 3, 4, 5, 5, 5, 7, 8, 8]);
  assert.is(uintSize(300, 'n'), 2);
  assert.is(bytesSize(new Uint8Array(200)), 202);
});

test('uintSize refuses what has no varint: negative, fractional, NaN, beyond 2^53 - 1', () => {
  for (const bad of [-1, 0.5, NaN, Infinity, 2 ** 53]) encodeFails(() => uintSize(bad, 'term'), 'invalid-number', `cannot encode term: ${bad} is not a non-negative safe integer (invalid-number)`);
});

test('utf8Length agrees with TextEncoder on well-formed text and is -1 with a lone surrogate', () => {
  for (const text of ['', 'ascii', 'é', '中文', '🦀', '\ufeffbom', 'a🛰b\u07ff\u0800']) assert.is(utf8Length(text), new TextEncoder().encode(text).length, text);
  for (const [text, at] of [['\ud800', 0], ['ok\udc00', 2], ['🦀\ud83d', 2], ['\ud83dx', 0]] as const) {
    assert.is(utf8Length(text), -1, text);
    assert.is(loneSurrogateAt(text), at, text);
  }
  assert.is(loneSurrogateAt('🦀'), -1);
});

// ---------------------------------------------------------------- writing

test('both writers write the same bytes, and the reader reads them back', () => {
  const strings = ['', 'n1', 'nœud', '🦀', 'x'.repeat(200), 'é'.repeat(40), '12D3KooWLmDa9Yd8gGp2yGzdGQ6hpYFbdjYTUvKp9Kb1HgQqu8pZ'];
  const payload = Uint8Array.from([1, 2, 3]);
  let size = 1 + bytesSize(payload);
  for (const value of EDGE_NUMBERS) size += varintSize(value);
  for (const text of strings) size += varintSize(utf8Length(text)) + utf8Length(text);
  const exact = new BinaryWriter(size);
  const growable = new GrowableBinaryWriter(0);
  exact.u8(7);
  growable.u8(7);
  for (const value of EDGE_NUMBERS) {
    exact.uint(value);
    growable.checkedUint(value, 'n');
  }
  for (const text of strings) {
    exact.string(text, utf8Length(text));
    growable.checkedString(text, 's', 1_000);
  }
  exact.bytes(payload);
  growable.checkedBytes(payload, 'b', 10);
  const bytes = exact.finish('test codec');
  assert.equal(growable.finish(), bytes);

  const read = new BinaryReader(bytes, 'test value', BEFORE);
  assert.is(read.u8('tag'), 7);
  for (const value of EDGE_NUMBERS) assert.is(read.uint('n'), value);
  for (const text of strings) assert.is(read.string('s', 1_000), text);
  assert.equal(read.bytesView('b'), payload);
  read.finish();
});

test('headroom leaves zeroed bytes in front of an exactly sized value', () => {
  const writer = new BinaryWriter(4 + 2, 4);
  writer.uint(300);
  assert.equal(writer.finish('test codec'), Uint8Array.from([0, 0, 0, 0, 0xac, 0x02]));
});

test('an exactly sized writer that is not filled exactly is a codec bug, reported as such', () => {
  const short = new BinaryWriter(3);
  short.uint(1);
  assert.throws(() => short.finish('test codec'), /test codec wrote 1 bytes into a buffer sized 3/);
});

test('the growable writer grows from any capacity and returns exactly what it wrote', () => {
  const writer = new GrowableBinaryWriter(1);
  const big = new Uint8Array(10_000).fill(9);
  writer.checkedBytes(big, 'big', 20_000);
  for (let i = 0; i < 1_000; i++) writer.checkedString(`key-${i}`, 'key', 64);
  assert.is(writer.position, writer.finish().length);
  const read = new BinaryReader(writer.finish(), 'test value', BEFORE);
  assert.equal(read.bytesCopy('big', 20_000), big);
  for (let i = 0; i < 1_000; i++) assert.is(read.string('key', 64), `key-${i}`);
  read.finish();
});

test('the growable writer refuses values that would not decode back, naming the field', () => {
  const writer = new GrowableBinaryWriter(16);
  encodeFails(() => writer.checkedUint(-1, 'seq'), 'invalid-number', 'cannot encode seq: -1 is not a non-negative safe integer (invalid-number)');
  encodeFails(() => writer.checkedString(7 as unknown as string, 'id', 10), 'invalid-value', 'cannot encode id: 7 is not a string (invalid-value)');
  encodeFails(() => writer.checkedString('a\ud800', 'id', 10), 'invalid-string', 'cannot encode id: a lone UTF-16 surrogate has no UTF-8 form (invalid-string)');
  encodeFails(() => writer.checkedString('abc', 'id', 2), 'too-large', 'cannot encode id: 3 UTF-8 bytes exceed the limit of 2 (too-large)');
  encodeFails(() => writer.checkedString('éé', 'id', 3), 'too-large', 'cannot encode id: 4 UTF-8 bytes exceed the limit of 3 (too-large)');
  encodeFails(() => writer.checkedBytes('x' as unknown as Uint8Array, 'value', 10), 'invalid-value', 'cannot encode value: not a Uint8Array (invalid-value)');
  encodeFails(() => writer.checkedBytes(new Uint8Array(11), 'value', 10), 'too-large', 'cannot encode value: 11 bytes exceed the limit of 10 (too-large)');
  assert.is(writer.position, 0, 'a refused value writes nothing');
});

test('a short string that turns out not to be ASCII is written as UTF-8 all the same', () => {
  const writer = new GrowableBinaryWriter(16);
  writer.checkedString('abcé', 's', 10);
  assert.equal(writer.finish(), Uint8Array.from([5, 0x61, 0x62, 0x63, 0xc3, 0xa9]));
});

// ---------------------------------------------------------------- reading

test('a varint must be minimal and at most 2^53 - 1', () => {
  decodeFails(() => reader(BEFORE, 0x80, 0x00).uint('seq'), 'non-canonical', 'cannot decode test value: seq is a varint with a redundant zero byte (non-canonical) at byte offset 0');
  decodeFails(() => reader(BEFORE, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10).uint('seq'), 'unsafe-integer', 'cannot decode test value: seq exceeds 2^53 - 1 (unsafe-integer) at byte offset 0');
  decodeFails(() => reader(BEFORE, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01).uint('seq'), 'unsafe-integer', 'cannot decode test value: seq is a varint longer than 8 bytes (unsafe-integer) at byte offset 0');
  assert.is(reader(BEFORE, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f).uint('seq'), Number.MAX_SAFE_INTEGER);
});

test('a varint cut short is reported in the dialect of the codec', () => {
  // The same input, cut inside a varint that starts at offset 1 and lacks its byte at offset 3.
  const inside = reader(INSIDE, 1, 0x80, 0x80);
  inside.u8('tag');
  decodeFails(() => inside.uint('term'), 'truncated', 'cannot decode test value: input ends inside term (truncated) at byte offset 1');
  const before = reader(BEFORE, 1, 0x80, 0x80);
  before.u8('tag');
  decodeFails(() => before.uint('seq'), 'truncated', 'cannot decode test value: input ends before seq (truncated) at byte offset 3');
});

test('lengths are bounded by the limit and by the input, in that order', () => {
  decodeFails(() => reader(INSIDE, 5, 0x61).string('from', 4), 'too-large', 'cannot decode test value: from declares 5 bytes, over the node id limit of 4 (too-large) at byte offset 0');
  decodeFails(() => reader(BEFORE, 5, 0x61).string('key', 4), 'too-large', 'cannot decode test value: key declares 5 bytes, over the limit of 4 (too-large) at byte offset 0');
  decodeFails(() => reader(BEFORE, 3, 0x61).bytesView('data'), 'length-out-of-bounds', 'cannot decode test value: data declares 3 bytes but only 1 remain (length-out-of-bounds) at byte offset 0');
  decodeFails(() => reader(BEFORE, 2, 0xc3, 0x28).string('id', 10), 'invalid-utf8', 'cannot decode test value: id is not well-formed UTF-8 (invalid-utf8) at byte offset 1');
  decodeFails(() => reader(BEFORE, 12, ...new Array(10).fill(0x61), 0xc3, 0x28).string('id', 20), 'invalid-utf8', 'cannot decode test value: id is not well-formed UTF-8 (invalid-utf8) at byte offset 1');
});

test('bytesView is a view of the input and an empty field is the dialect\'s shared empty array; bytesCopy is a copy', () => {
  const input = Uint8Array.from([2, 7, 8, 0, 2, 7, 8]);
  const read = new BinaryReader(input, 'test value', INSIDE);
  const view = read.bytesView('a');
  assert.is(view.buffer, input.buffer);
  assert.is(read.bytesView('b'), EMPTY);
  const copy = read.bytesCopy('c', 2);
  assert.equal(copy, Uint8Array.from([7, 8]));
  assert.is.not(copy.buffer, input.buffer);
  assert.is(reader(BEFORE, 0).bytesView('d').length, 0);
});

test('flags, counts, versions and sizes are checked before anything is built', () => {
  decodeFails(() => reader(INSIDE, 0x09).flags('flags', 0x07, 'flags byte'), 'invalid-value', 'cannot decode test value: flags byte 0x9 has unknown bits set (invalid-value) at byte offset 0');
  decodeFails(() => reader(BEFORE, 0x09).flags('ack flags', 0x01), 'invalid-value', 'cannot decode test value: ack flags 0x9 has unknown bits set (invalid-value) at byte offset 0');
  decodeFails(() => reader(BEFORE, 9).count('entry count', 'entries', 8, 1), 'count-out-of-bounds', 'cannot decode test value: 9 entries exceed the limit of 8 (count-out-of-bounds) at byte offset 0');
  decodeFails(() => reader(BEFORE, 2, 0, 0, 0).count('entry count', 'entries', 8, 4), 'count-out-of-bounds', 'cannot decode test value: 2 entries cannot fit in the 3 bytes left (count-out-of-bounds) at byte offset 0');
  decodeFails(() => reader(BEFORE, 2).version(1), 'unknown-version', 'cannot decode test value: codec version 2 is not 1 (unknown-version) at byte offset 0');
  decodeFails(() => reader(BEFORE, 1, 2, 3).limitInput(2), 'too-large', 'cannot decode test value: 3 bytes exceed the limit of 2 (too-large) at byte offset 0');
});

test('trailing bytes are refused in the dialect of the codec, at their offset', () => {
  const inside = reader(INSIDE, 1, 0, 0);
  inside.uint('term');
  decodeFails(() => inside.finish(), 'trailing-bytes', 'cannot decode test value: 2 bytes left after a complete value (trailing-bytes) at byte offset 1');
  decodeFails(() => reader(BEFORE, 0).finish(), 'trailing-bytes', 'cannot decode test value: 1 bytes after the end (trailing-bytes) at byte offset 0');
});

test.run();

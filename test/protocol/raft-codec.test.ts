import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError, EncodeError } from '../../protocol/errors.ts';
import type { DecodeReason, EncodeReason } from '../../protocol/errors.ts';
import {
  codecLimits,
  decodeConfChange,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeConfChange,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodedMessageSize,
  encodeSnapshot,
  RAFT_CODEC_VERSION,
} from '../../protocol/raft-codec.ts';
import { ConfChangeType, EMPTY_BYTES, EntryType, message, MessageType } from '../../protocol/raft.ts';
import type { Entry, Message, Snapshot } from '../../protocol/raft.ts';
import { SeededPrng } from '../../raft/prng.ts';

const WIRE_TYPES: MessageType[] = Object.values(MessageType).filter((type) => type < 100);
const EDGE_NUMBERS = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 49 - 1, 2 ** 49, Number.MAX_SAFE_INTEGER];

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function decodeFails(decode: () => unknown, reason: DecodeReason): DecodeError {
  try {
    decode();
  } catch (error) {
    assert.instance(error, DecodeError, `expected DecodeError, got ${String(error)}`);
    const decodeError = error as DecodeError;
    assert.is(decodeError.reason, reason, decodeError.message);
    assert.match(decodeError.message, /at byte offset \d+/);
    return decodeError;
  }
  assert.unreachable(`decoding succeeded; expected ${reason}`);
  throw new Error('unreachable');
}

function encodeFails(encode: () => unknown, reason: EncodeReason): EncodeError {
  try {
    encode();
  } catch (error) {
    assert.instance(error, EncodeError, `expected EncodeError, got ${String(error)}`);
    assert.is((error as EncodeError).reason, reason, (error as EncodeError).message);
    return error as EncodeError;
  }
  assert.unreachable(`encoding succeeded; expected ${reason}`);
  throw new Error('unreachable');
}

function roundTrip(original: Message): Message {
  const encoded = encodeMessage(original);
  assert.is(encoded.length, encodedMessageSize(original), 'size pass and write pass agree');
  const decoded = decodeMessage(encoded);
  assert.equal(decoded, original);
  assert.equal(encodeMessage(decoded), encoded, 're-encoding gives the same bytes');
  return decoded;
}

function sampleSnapshot(): Snapshot {
  return { metadata: { index: 1_000, term: 7, conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } }, data: bytes(1, 2, 3, 4, 5) };
}

function sampleEntries(count: number, firstIndex: number): Entry[] {
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    entries.push({ term: 3, index: firstIndex + i, type: i % 10 === 0 ? EntryType.ConfChange : EntryType.Normal, data: new Uint8Array(i % 50).fill(i & 0xff) });
  }
  return entries;
}

// ---------------------------------------------------------------- round trips

test('every wire message type round-trips with all fields set', () => {
  for (const type of WIRE_TYPES) {
    roundTrip(message({
      type,
      from: 'n1',
      to: 'n2',
      term: 9,
      logTerm: 8,
      index: 1_234,
      entries: sampleEntries(3, 1_235),
      commit: 1_200,
      reject: true,
      rejectHint: 77,
      context: bytes(9, 9, 9),
      snapshot: sampleSnapshot(),
      snapshotOffset: 4_096,
      snapshotDone: true,
    }));
  }
});

test('every wire message type round-trips with every field at its empty value', () => {
  for (const type of WIRE_TYPES) {
    const decoded = roundTrip(message({ type }));
    assert.is(decoded.snapshot, null);
    assert.is(decoded.context.length, 0);
  }
});

test('numbers at every varint width boundary round-trip, up to 2^53 - 1', () => {
  for (const value of EDGE_NUMBERS) {
    roundTrip(message({ type: MessageType.Append, term: value, logTerm: value, index: value, commit: value, rejectHint: value, snapshotOffset: value,
      entries: [{ term: value, index: value, type: EntryType.Normal, data: EMPTY_BYTES }] }));
    assert.equal(decodeHardState(encodeHardState({ term: value, vote: 'n1', commit: value })), { term: value, vote: 'n1', commit: value });
  }
});

test('a varint takes one byte below 128 and eight at 2^53 - 1', () => {
  const base = encodeMessage(message({ type: MessageType.Heartbeat })).length;
  assert.is(encodeMessage(message({ type: MessageType.Heartbeat, term: 127 })).length, base);
  assert.is(encodeMessage(message({ type: MessageType.Heartbeat, term: 128 })).length, base + 1);
  assert.is(encodeMessage(message({ type: MessageType.Heartbeat, term: Number.MAX_SAFE_INTEGER })).length, base + 7);
});

test('non-ASCII node ids round-trip, including a leading byte-order mark and astral characters', () => {
  for (const id of ['nœud-1', '节点', '🦀🦀', '\ufeffn1', 'a\u0000b']) {
    roundTrip(message({ type: MessageType.Vote, from: id, to: id }));
    assert.equal(decodeHardState(encodeHardState({ term: 1, vote: id, commit: 0 })), { term: 1, vote: id, commit: 0 });
  }
});

test('an Append of 10,000 entries round-trips and its encoding is exactly the precomputed size', () => {
  const original = message({ type: MessageType.Append, from: 'leader', to: 'follower', term: 5, index: 99, logTerm: 4, commit: 90, entries: sampleEntries(10_000, 100) });
  const decoded = roundTrip(original);
  assert.is(decoded.entries.length, 10_000);
  assert.is(decoded.entries[9_999]!.index, 10_099);
});

test('decoded payloads are views of the input, not copies', () => {
  const encoded = encodeMessage(message({ type: MessageType.Append, entries: sampleEntries(2, 1).map((entry) => ({ ...entry, data: bytes(7, 7) })) }));
  const decoded = decodeMessage(encoded);
  assert.is(decoded.entries[0]!.data.buffer, encoded.buffer);
});

test('decoding works on a view at a nonzero offset of a larger buffer', () => {
  const encoded = encodeMessage(message({ type: MessageType.Snapshot, snapshot: sampleSnapshot(), snapshotOffset: 10 }));
  const larger = new Uint8Array(encoded.length + 20).fill(0xee);
  larger.set(encoded, 7);
  assert.equal(decodeMessage(larger.subarray(7, 7 + encoded.length)), decodeMessage(encoded));
});

test('Entry, HardState, ConfState, Snapshot and ConfChange round-trip standalone', () => {
  for (const entry of sampleEntries(20, 1)) assert.equal(decodeEntry(encodeEntry(entry)), entry);
  const hardState = { term: 12, vote: 'n3', commit: 400 };
  assert.equal(decodeHardState(encodeHardState(hardState)), hardState);
  assert.equal(decodeHardState(encodeHardState({ term: 0, vote: '', commit: 0 })), { term: 0, vote: '', commit: 0 });
  const conf = { voters: ['a', 'b', 'c'], learners: ['d', 'e'] };
  assert.equal(decodeConfState(encodeConfState(conf)), conf);
  assert.equal(decodeConfState(encodeConfState({ voters: [], learners: [] })), { voters: [], learners: [] });
  const snapshot = sampleSnapshot();
  assert.equal(decodeSnapshot(encodeSnapshot(snapshot)), snapshot);
  const bigSnapshot = { ...snapshot, data: new Uint8Array(1 << 20).fill(3) };
  assert.equal(decodeSnapshot(encodeSnapshot(bigSnapshot)), bigSnapshot);
  for (const type of Object.values(ConfChangeType)) {
    const change = { type, nodeId: 'n9', context: bytes(1, 2) };
    assert.equal(decodeConfChange(encodeConfChange(change)), change);
  }
});

test('headroom leaves zeroed bytes in front and the value decodes from after them', () => {
  const snapshot = sampleSnapshot();
  const withHeadroom = encodeSnapshot(snapshot, 4);
  assert.equal(withHeadroom.subarray(0, 4), new Uint8Array(4));
  assert.equal(withHeadroom.subarray(4), encodeSnapshot(snapshot));
  const entry = sampleEntries(1, 5)[0]!;
  assert.equal(decodeEntry(encodeEntry(entry, 4).subarray(4)), entry);
});

// ---------------------------------------------------------------- what the decoder refuses

test('local-only and unknown message types are refused on decode and on encode', () => {
  for (const type of [0, 15, 99, MessageType.Hup, MessageType.Beat, MessageType.CheckQuorum, 255]) {
    const encoded = encodeMessage(message({ type: MessageType.Vote }));
    encoded[1] = type;
    const error = decodeFails(() => decodeMessage(encoded), 'unknown-message-type');
    assert.is(error.offset, 1);
  }
  encodeFails(() => encodeMessage(message({ type: MessageType.Hup })), 'invalid-value');
});

test('an unknown codec version is refused', () => {
  const encoded = encodeMessage(message({ type: MessageType.Vote }));
  encoded[0] = RAFT_CODEC_VERSION + 1;
  assert.is(decodeFails(() => decodeMessage(encoded), 'unknown-version').offset, 0);
  const change = encodeConfChange({ type: ConfChangeType.AddVoter, nodeId: 'n1', context: EMPTY_BYTES });
  change[0] = 0;
  decodeFails(() => decodeConfChange(change), 'unknown-version');
});

test('every strict prefix of a valid encoding is refused', () => {
  const encoded = encodeMessage(message({ type: MessageType.Append, from: 'n1', to: 'n2', term: 300, entries: sampleEntries(3, 1), context: bytes(1), snapshot: sampleSnapshot() }));
  for (let length = 0; length < encoded.length; length++) {
    try {
      decodeMessage(encoded.subarray(0, length));
      assert.unreachable(`prefix of ${length} bytes decoded`);
    } catch (error) {
      assert.instance(error, DecodeError);
      assert.ok(['truncated', 'length-out-of-bounds', 'count-out-of-bounds'].includes((error as DecodeError).reason), (error as DecodeError).message);
    }
  }
  decodeFails(() => decodeMessage(EMPTY_BYTES), 'truncated');
});

test('trailing bytes after a complete value are refused, with their offset', () => {
  const encoded = encodeMessage(message({ type: MessageType.Heartbeat, commit: 5 }));
  const extended = new Uint8Array(encoded.length + 1);
  extended.set(encoded);
  assert.is(decodeFails(() => decodeMessage(extended), 'trailing-bytes').offset, encoded.length);
  decodeFails(() => decodeEntry(bytes(1, 1, 0, 0, 0)), 'trailing-bytes');
  decodeFails(() => decodeHardState(bytes(1, 0, 1, 9)), 'trailing-bytes');
});

test('a length prefix beyond the end of the input is refused', () => {
  // Entry: term 1, index 1, type 0, data declares 100 bytes, 2 present.
  const error = decodeFails(() => decodeEntry(bytes(1, 1, 0, 100, 5, 5)), 'length-out-of-bounds');
  assert.is(error.offset, 3);
  assert.match(error.message, /declares 100 bytes but only 2 remain/);
  decodeFails(() => decodeHardState(bytes(1, 5, 0x6e)), 'length-out-of-bounds');
});

test('varints above 2^53 - 1, longer than 8 bytes or with redundant zero bytes are refused', () => {
  const encoded = encodeMessage(message({ type: MessageType.Vote, term: Number.MAX_SAFE_INTEGER }));
  // version, type, from length, to length, then term's eight bytes: ff ff ff ff ff ff ff 0f.
  assert.is(encoded[11], 0x0f);
  encoded[11] = 0x10; // 2^53
  assert.is(decodeFails(() => decodeMessage(encoded), 'unsafe-integer').offset, 4);
  decodeFails(() => decodeEntry(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 0, 0)), 'unsafe-integer');
  decodeFails(() => decodeEntry(bytes(0x81, 0x00, 1, 0, 0)), 'non-canonical');
  decodeFails(() => decodeEntry(bytes(0x80, 0x80, 0x00, 1, 0, 0)), 'non-canonical');
});

test('negative, fractional, NaN and unsafe numbers are refused on encode (the format cannot express them)', () => {
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1]) {
    encodeFails(() => encodeMessage(message({ type: MessageType.Vote, term: bad })), 'invalid-number');
    encodeFails(() => encodeEntry({ term: 1, index: bad, type: EntryType.Normal, data: EMPTY_BYTES }), 'invalid-number');
    encodeFails(() => encodeHardState({ term: 1, vote: '', commit: bad }), 'invalid-number');
  }
});

test('unknown entry types, conf change types and flag bits are refused', () => {
  decodeFails(() => decodeEntry(bytes(1, 1, 2, 0)), 'invalid-value');
  decodeFails(() => decodeConfChange(bytes(RAFT_CODEC_VERSION, 3, 1, 0x61, 0)), 'invalid-value');
  decodeFails(() => decodeConfChange(bytes(RAFT_CODEC_VERSION, 0, 0, 0)), 'invalid-value');
  const encoded = encodeMessage(message({ type: MessageType.Vote }));
  // version, type, from, to, five numbers, snapshotOffset, then flags at 10.
  encoded[10] = 8;
  assert.is(decodeFails(() => decodeMessage(encoded), 'invalid-value').offset, 10);
  encodeFails(() => encodeEntry({ term: 1, index: 1, type: 7 as EntryType, data: EMPTY_BYTES }), 'invalid-value');
  encodeFails(() => encodeConfChange({ type: 9 as ConfChangeType, nodeId: 'n1', context: EMPTY_BYTES }), 'invalid-value');
});

test('absurd entry counts are refused before any work: beyond the limit, or beyond what the input could hold', () => {
  // version, type 5, from '', to '', 6 zero numbers, flags 0, context '', count 2^21 (3 bytes).
  const hugeCount = bytes(RAFT_CODEC_VERSION, MessageType.Append, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x01);
  assert.is(decodeFails(() => decodeMessage(hugeCount), 'count-out-of-bounds').offset, 12);
  const fiveClaimedOneSent = bytes(RAFT_CODEC_VERSION, MessageType.Append, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 1, 0, 0);
  assert.match(decodeFails(() => decodeMessage(fiveClaimedOneSent), 'count-out-of-bounds').message, /5 entries cannot fit/);
  const limits = codecLimits({ maxEntriesPerMessage: 10 });
  const eleven = encodeMessage(message({ type: MessageType.Append, entries: sampleEntries(11, 1) }));
  decodeFails(() => decodeMessage(eleven, limits), 'count-out-of-bounds');
  encodeFails(() => encodeMessage(message({ type: MessageType.Append, entries: sampleEntries(11, 1) }), limits), 'too-large');
  decodeFails(() => decodeConfState(bytes(0xff, 0x7f, 0)), 'count-out-of-bounds');
});

test('messages over the size limit are refused; 16 MiB by default', () => {
  const limits = codecLimits({ maxMessageBytes: 100 });
  const big = message({ type: MessageType.Append, entries: [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(200) }] });
  encodeFails(() => encodeMessage(big, limits), 'too-large');
  decodeFails(() => decodeMessage(encodeMessage(big), limits), 'too-large');
  const justOver = message({ type: MessageType.Snapshot, snapshot: { ...sampleSnapshot(), data: new Uint8Array(16 * 1024 * 1024) } });
  encodeFails(() => encodeMessage(justOver), 'too-large');
  assert.throws(() => codecLimits({ maxMessageBytes: 0 }), RangeError);
});

test('node ids that are not well-formed UTF-8 or are too long are refused', () => {
  const encoded = encodeMessage(message({ type: MessageType.Vote, from: 'ab' }));
  encoded[3] = 0xff;
  assert.is(decodeFails(() => decodeMessage(encoded), 'invalid-utf8').offset, 3);
  // An encoded surrogate (CESU-8 style) is not UTF-8 either.
  decodeFails(() => decodeHardState(bytes(1, 3, 0xed, 0xa0, 0x80, 0)), 'invalid-utf8');
  // An overlong encoding of '/'.
  decodeFails(() => decodeHardState(bytes(1, 2, 0xc0, 0xaf, 0)), 'invalid-utf8');
  const limits = codecLimits({ maxNodeIdBytes: 4 });
  decodeFails(() => decodeHardState(encodeHardState({ term: 1, vote: 'abcde', commit: 0 }), limits), 'too-large');
  encodeFails(() => encodeHardState({ term: 1, vote: 'abcde', commit: 0 }, 0, limits), 'too-large');
  encodeFails(() => encodeMessage(message({ type: MessageType.Vote, from: 'a\ud800b' })), 'invalid-string');
  encodeFails(() => encodeMessage(message({ type: MessageType.Vote, to: '\udc00' })), 'invalid-string');
});

test('a ConfState with a node both voter and learner, twice a voter, or an empty id is refused', () => {
  // voters [a], learners [a]
  const both = decodeFails(() => decodeConfState(bytes(1, 1, 0x61, 1, 1, 0x61)), 'invalid-conf-state');
  assert.is(both.offset, 4);
  assert.match(both.message, /"a" is listed twice/);
  decodeFails(() => decodeConfState(bytes(2, 1, 0x61, 1, 0x61, 0)), 'invalid-conf-state');
  decodeFails(() => decodeConfState(bytes(1, 0, 0)), 'invalid-conf-state');
  encodeFails(() => encodeConfState({ voters: ['a'], learners: ['a'] }), 'invalid-conf-state');
  encodeFails(() => encodeSnapshot({ ...sampleSnapshot(), metadata: { index: 1, term: 1, conf: { voters: ['a', 'a'], learners: [] } } }), 'invalid-conf-state');
  encodeFails(() => encodeConfState({ voters: [''], learners: [] }), 'invalid-conf-state');
});

// ---------------------------------------------------------------- fuzzing

function randomBytes(prng: SeededPrng, length: number): Uint8Array {
  const result = new Uint8Array(length);
  for (let i = 0; i < length; i++) result[i] = prng.nextInt(256);
  return result;
}

function randomNumber(prng: SeededPrng): number {
  return prng.nextInt(4) === 0 ? EDGE_NUMBERS[prng.nextInt(EDGE_NUMBERS.length)]! : prng.nextInt(1_000);
}

const IDS = ['', 'n1', 'n2', 'n3', 'nœud', '🦀', '12D3KooWLmDa9Yd8gGp2yGzdGQ6hpYFbdjYTUvKp9Kb1HgQqu8pZ'];

function randomMessage(prng: SeededPrng): Message {
  const entries: Entry[] = [];
  const entryCount = prng.nextInt(3) === 0 ? prng.nextInt(20) : 0;
  const firstIndex = randomNumber(prng);
  for (let i = 0; i < entryCount; i++) {
    entries.push({ term: randomNumber(prng), index: Math.min(firstIndex + i, Number.MAX_SAFE_INTEGER), type: prng.nextInt(2) as EntryType, data: randomBytes(prng, prng.nextInt(12)) });
  }
  const members = IDS.slice(1).filter(() => prng.nextInt(2) === 0);
  const split = prng.nextInt(members.length + 1);
  const snapshot: Snapshot | null = prng.nextInt(4) === 0
    ? { metadata: { index: randomNumber(prng), term: randomNumber(prng), conf: { voters: members.slice(0, split), learners: members.slice(split) } }, data: randomBytes(prng, prng.nextInt(16)) }
    : null;
  return message({
    type: WIRE_TYPES[prng.nextInt(WIRE_TYPES.length)]!,
    from: IDS[prng.nextInt(IDS.length)]!,
    to: IDS[prng.nextInt(IDS.length)]!,
    term: randomNumber(prng),
    logTerm: randomNumber(prng),
    index: randomNumber(prng),
    entries,
    commit: randomNumber(prng),
    reject: prng.nextInt(2) === 0,
    rejectHint: randomNumber(prng),
    context: prng.nextInt(3) === 0 ? randomBytes(prng, prng.nextInt(8)) : EMPTY_BYTES,
    snapshot,
    snapshotOffset: randomNumber(prng),
    snapshotDone: prng.nextInt(2) === 0,
  });
}

function mutate(prng: SeededPrng, input: Uint8Array): Uint8Array {
  const kind = prng.nextInt(6);
  if (kind === 0 || input.length === 0) {
    // Extend with random bytes.
    const extended = new Uint8Array(input.length + 1 + prng.nextInt(16));
    extended.set(input);
    extended.set(randomBytes(prng, extended.length - input.length), input.length);
    return extended;
  }
  if (kind === 1) return input.slice(0, prng.nextInt(input.length)); // truncate
  const output = input.slice();
  if (kind === 2) {
    // One to three bit flips.
    for (let flips = 1 + prng.nextInt(3); flips > 0; flips--) output[prng.nextInt(output.length)]! ^= 1 << prng.nextInt(8);
    return output;
  }
  if (kind === 3) {
    output[prng.nextInt(output.length)] = prng.nextInt(256); // overwrite a byte
    return output;
  }
  const at = prng.nextInt(input.length);
  if (kind === 4) return Uint8Array.from([...input.subarray(0, at), prng.nextInt(256), ...input.subarray(at)]); // insert a byte
  return Uint8Array.from([...input.subarray(0, at), ...input.subarray(at + 1)]); // delete a byte
}

/** Decode either yields a value that re-encodes to exactly the input, or throws DecodeError. Returns whether it decoded. */
function checkDecodeContract(input: Uint8Array, label: string): boolean {
  let decoded: Message;
  try {
    decoded = decodeMessage(input);
  } catch (error) {
    if (!(error instanceof DecodeError)) {
      throw new Error(`${label}: decode threw ${String(error)} instead of DecodeError for ${Buffer.from(input).toString('hex')}`);
    }
    return false;
  }
  const reencoded = encodeMessage(decoded);
  assert.equal(reencoded, input, `${label}: an accepted input re-encodes to the same bytes (${Buffer.from(input).toString('hex')})`);
  assert.equal(decodeMessage(reencoded), decoded);
  return true;
}

test('fuzz: 5,000 random byte strings either decode to a message that re-encodes cleanly or throw DecodeError', () => {
  const prng = new SeededPrng(0x5eed_0001);
  let accepted = 0;
  for (let i = 0; i < 5_000; i++) {
    const input = randomBytes(prng, prng.nextInt(64));
    // Half start like a real message, so the fuzzer gets past the first two bytes.
    if (i % 2 === 0 && input.length >= 2) {
      input[0] = RAFT_CODEC_VERSION;
      input[1] = WIRE_TYPES[prng.nextInt(WIRE_TYPES.length)]!;
    }
    if (checkDecodeContract(input, `random input ${i}`)) accepted++;
  }
  assert.ok(accepted < 5_000);
});

test('fuzz: 5,000 mutated valid encodings (bit flips, truncations, extensions, edits) either decode cleanly or throw DecodeError', () => {
  const prng = new SeededPrng(0x5eed_0002);
  let accepted = 0;
  for (let i = 0; i < 5_000; i++) {
    const original = randomMessage(prng);
    const encoded = encodeMessage(original);
    assert.equal(decodeMessage(encoded), original, `random message ${i} round-trips`);
    let mutated = mutate(prng, encoded);
    if (prng.nextInt(4) === 0) mutated = mutate(prng, mutated);
    if (checkDecodeContract(mutated, `mutation ${i}`)) accepted++;
  }
  // Many single-bit flips land in payload bytes and still decode: the accepting path is exercised too.
  assert.ok(accepted > 100, `only ${accepted} mutations decoded`);
  assert.ok(accepted < 4_000, `${accepted} mutations decoded`);
});

test('fuzz: the standalone decoders throw only DecodeError on random input', () => {
  const prng = new SeededPrng(0x5eed_0003);
  const decoders: Array<[string, (input: Uint8Array) => unknown, (value: never) => Uint8Array]> = [
    ['Entry', decodeEntry, encodeEntry as (value: never) => Uint8Array],
    ['HardState', decodeHardState, encodeHardState as (value: never) => Uint8Array],
    ['ConfState', decodeConfState, encodeConfState as (value: never) => Uint8Array],
    ['Snapshot', decodeSnapshot, encodeSnapshot as (value: never) => Uint8Array],
    ['ConfChange', decodeConfChange, encodeConfChange as (value: never) => Uint8Array],
  ];
  for (const [name, decode, encode] of decoders) {
    for (let i = 0; i < 2_000; i++) {
      const input = randomBytes(prng, prng.nextInt(24));
      if (name === 'ConfChange' && input.length > 0 && i % 2 === 0) input[0] = RAFT_CODEC_VERSION;
      let decoded: unknown;
      try {
        decoded = decode(input);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw new Error(`${name}: threw ${String(error)} for ${Buffer.from(input).toString('hex')}`);
        continue;
      }
      assert.equal(encode(decoded as never), input, `${name}: accepted input re-encodes to the same bytes`);
    }
  }
});

test.run();

// The binary mechanics every Tribune codec shares: varints, length-prefixed
// bytes and UTF-8 strings, flags bytes, counts, and the size arithmetic that
// lets an encoder allocate once. The codecs (raft-codec.ts, membership.ts)
// keep their layouts, limits and validation; this file knows none of them.
//
//   const size = 1 + uintSize(term, 'term') + bytesSize(data);   // validates; EncodeError if refused
//   const writer = new BinaryWriter(size);                       // one allocation
//   writer.u8(VERSION); writer.uint(term); writer.bytes(data);
//   const bytes = writer.finish('my codec');                     // the size pass and the write pass agree
//
//   const growable = new GrowableBinaryWriter(128);              // no size pass: validates as it writes
//   growable.checkedString(id, 'ping.target', limits.maxNodeIdBytes);
//
//   const reader = new BinaryReader(bytes, 'my message', MY_DIALECT);
//   reader.version(VERSION);
//   const term = reader.uint('term');                            // DecodeError, nothing else
//   reader.finish();                                             // no trailing bytes
//
// Format. Numbers are unsigned LEB128 varints, 7 bits a byte, low bits first:
// one byte below 128, at most 8 bytes for 2^53 - 1 (Number.MAX_SAFE_INTEGER).
// A varint must be minimal (no redundant trailing zero group) and at most 2^53 -
// 1, so every number has exactly one encoding and a decoded number is exact.
// Byte strings and strings are a varint byte length followed by the bytes;
// strings are well-formed UTF-8 (a lone UTF-16 surrogate has no encoding).
//
// Writing comes in two kinds. BinaryWriter trusts its input: a size pass
// (uintSize, utf8Length...) validated every value and sized the buffer exactly,
// so the hot loop of a large Append checks nothing. GrowableBinaryWriter
// validates each value as it writes it (EncodeError with the field's name) and
// grows. Reading trusts nothing: every read checks bounds and canonical form
// and throws DecodeError with the offset.

import { DecodeError, EncodeError } from './errors.ts';
import type { DecodeReason } from './errors.ts';

const textEncoder = new TextEncoder();
// fatal: malformed UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a leading
// U+FEFF is part of the string, not stripped (stripping it would break re-encoding).
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The longest varint: 2^53 - 1 needs 53 bits, 8 groups of 7. */
const VARINT_BYTES_MAX = 8;

/**
 * Longest string decoded by building it a character at a time; longer ones
 * go to TextDecoder. Measured (Node 24): 2 bytes 11 ns against 50 ns, 10 bytes
 * even, 52 bytes (a libp2p peer id) 390 ns against 53 ns.
 */
const SHORT_ASCII_DECODE_BYTES_MAX = 8;

// ---------------------------------------------------------------- sizes (and validation before encoding)

/** Bytes of the varint of `value`, a non-negative safe integer (not checked: see uintSize). */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  if (value < 0x800000000) return 5;
  if (value < 0x40000000000) return 6;
  if (value < 0x2000000000000) return 7;
  return 8;
}

/** Bytes of the varint of `value`; throws EncodeError 'invalid-number' unless it is a non-negative safe integer. */
export function uintSize(value: number, field: string): number {
  checkUint(value, field);
  return varintSize(value);
}

/** Throws EncodeError 'invalid-number' unless `value` is a non-negative safe integer, the numbers a varint can hold. */
function checkUint(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new EncodeError('invalid-number', field, `${value} is not a non-negative safe integer`);
  }
}

/** Bytes of a length-prefixed byte string. */
export function bytesSize(bytes: Uint8Array): number {
  return varintSize(bytes.length) + bytes.length;
}

/**
 * UTF-8 length of `text` in bytes, or -1 if it holds a lone UTF-16 surrogate,
 * which has no UTF-8 form (TextEncoder would silently write U+FFFD instead).
 * Equal to `text.length` exactly when the text is ASCII.
 */
export function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      length += 1;
    } else if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return -1;
      length += 2; // two UTF-16 units, four UTF-8 bytes
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      return -1;
    } else {
      length += 2;
    }
  }
  return length;
}

/** Index of the first lone UTF-16 surrogate in `text`, or -1: for error messages after utf8Length refused. */
export function loneSurrogateAt(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800 || code > 0xdfff) continue;
    if (code >= 0xdc00) return i;
    const next = text.charCodeAt(i + 1);
    if (!(next >= 0xdc00 && next <= 0xdfff)) return i;
    i++;
  }
  return -1;
}

// ---------------------------------------------------------------- writing

/** Refuses a non-string, a lone surrogate or more than `maxBytes` UTF-8 bytes, in that order; returns the UTF-8 length. */
function checkString(value: string, field: string, maxBytes: number): number {
  if (typeof value !== 'string') throw new EncodeError('invalid-value', field, `${String(value)} is not a string`);
  const length = utf8Length(value);
  if (length < 0) throw new EncodeError('invalid-string', field, 'a lone UTF-16 surrogate has no UTF-8 form');
  if (length > maxBytes) throw new EncodeError('too-large', field, `${length} UTF-8 bytes exceed the limit of ${maxBytes}`);
  return length;
}

/**
 * The one-allocation writer: the buffer has exactly the size a size pass
 * computed (uintSize, bytesSize, utf8Length...), which also validated every
 * value, so writes neither check values nor check room; `finish` asserts that
 * the two passes agree. The loops are written out in the methods, not shared
 * through helper functions: through a helper, encoding a 1,000-entry Append
 * measured about 10% slower.
 */
export class BinaryWriter {
  readonly buffer: Uint8Array;
  /** Where the next byte goes. */
  position: number;

  /** `headroomBytes`: zeroed bytes left in front (counted in `sizeBytes`), for a header the caller fills later (a checksum) without copying the value again. */
  constructor(sizeBytes: number, headroomBytes = 0) {
    this.buffer = new Uint8Array(sizeBytes);
    this.position = headroomBytes;
  }

  /** One byte: a version, a type, an enumeration or a flags byte. */
  u8(value: number): void {
    this.buffer[this.position++] = value;
  }

  /** A varint of a non-negative safe integer. */
  uint(value: number): void {
    const buffer = this.buffer;
    let position = this.position;
    // Above 2^31 bit operators would truncate; divide until the value fits.
    while (value > 0x7fffffff) {
      buffer[position++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    while (value >= 0x80) {
      buffer[position++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buffer[position++] = value;
    this.position = position;
  }

  /** Length-prefixed bytes. */
  bytes(value: Uint8Array): void {
    this.uint(value.length);
    this.buffer.set(value, this.position);
    this.position += value.length;
  }

  /** A length-prefixed UTF-8 string; `byteLength` is its utf8Length (not -1). */
  string(value: string, byteLength: number): void {
    this.uint(byteLength);
    const buffer = this.buffer;
    const start = this.position;
    if (byteLength === value.length) {
      // ASCII, the common case (ids, addresses, keys): no encoder call, no temporary.
      for (let i = 0; i < byteLength; i++) buffer[start + i] = value.charCodeAt(i);
    } else {
      textEncoder.encodeInto(value, buffer.subarray(start, start + byteLength));
    }
    this.position = start + byteLength;
  }

  /** The buffer, headroom included. `codec` names the codec in the error if the writes did not fill it exactly. */
  finish(codec: string): Uint8Array {
    if (this.position !== this.buffer.length) {
      // The size pass and the write pass disagree: a bug in the codec, not bad input.
      throw new Error(`${codec} wrote ${this.position} bytes into a buffer sized ${this.buffer.length}`);
    }
    return this.buffer;
  }
}

/**
 * The writer without a size pass: it validates each value as it writes it
 * (the checked* methods throw EncodeError naming the field) and moves to a
 * buffer twice as large when full. Costs a room check per write and a final
 * copy; worth it where values are small and many (membership messages, state
 * commands and snapshots), where a size pass would walk every map and string
 * twice. Writes go through a BinaryWriter over the current buffer.
 */
export class GrowableBinaryWriter {
  private out: BinaryWriter;

  /** `capacityBytes`: the expected size, when the caller can guess it, to avoid regrowing. */
  constructor(capacityBytes: number) {
    this.out = new BinaryWriter(Math.max(16, capacityBytes));
  }

  /** Bytes written so far. */
  get position(): number {
    return this.out.position;
  }

  /** Makes room for `bytes` more bytes. */
  private reserve(bytes: number): void {
    const out = this.out;
    if (out.position + bytes <= out.buffer.length) return;
    let size = out.buffer.length * 2;
    while (size < out.position + bytes) size *= 2;
    const grown = new BinaryWriter(size, out.position);
    grown.buffer.set(out.buffer.subarray(0, out.position));
    this.out = grown;
  }

  /** One byte: a version, a type, an enumeration or a flags byte. */
  u8(value: number): void {
    this.reserve(1);
    this.out.u8(value);
  }

  /** A varint, after refusing what has none ('invalid-number'). */
  checkedUint(value: number, field: string): void {
    checkUint(value, field);
    this.reserve(VARINT_BYTES_MAX);
    this.out.uint(value);
  }

  /** Length-prefixed bytes, after refusing a non-Uint8Array ('invalid-value') or more than `maxBytes` ('too-large'). */
  checkedBytes(value: Uint8Array, field: string, maxBytes: number): void {
    if (!(value instanceof Uint8Array)) throw new EncodeError('invalid-value', field, 'not a Uint8Array');
    if (value.length > maxBytes) throw new EncodeError('too-large', field, `${value.length} bytes exceed the limit of ${maxBytes}`);
    this.reserve(VARINT_BYTES_MAX + value.length);
    this.out.bytes(value);
  }

  /**
   * A length-prefixed UTF-8 string of at most `maxBytes`, after refusing, in
   * this order: a non-string ('invalid-value'), a lone surrogate
   * ('invalid-string'), more than `maxBytes` UTF-8 bytes ('too-large').
   */
  checkedString(value: string, field: string, maxBytes: number): void {
    if (typeof value === 'string' && value.length < 0x80 && value.length <= maxBytes && this.shortAscii(value)) return;
    const length = checkString(value, field, maxBytes);
    this.reserve(VARINT_BYTES_MAX + length);
    this.out.string(value, length);
  }

  /**
   * The common case in one pass: a short ASCII string is valid, is its own
   * UTF-8 and has a one-byte length. Returns false, having written nothing
   * (bytes past `position` do not count), at the first non-ASCII character.
   */
  private shortAscii(value: string): boolean {
    this.reserve(1 + value.length);
    const out = this.out;
    const buffer = out.buffer;
    const start = out.position;
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) return false;
      buffer[start + 1 + i] = code;
    }
    buffer[start] = value.length;
    out.position = start + 1 + value.length;
    return true;
  }

  /** A copy of the bytes written, in a buffer of exactly their size. */
  finish(): Uint8Array {
    return this.out.buffer.slice(0, this.out.position);
  }
}

// ---------------------------------------------------------------- reading

/**
 * What differs between the codecs that share BinaryReader. The wording fields
 * keep each codec's DecodeError messages exactly as they were before the
 * codecs shared a reader (logs and alerts match on them); a new codec should
 * copy one of the existing dialects rather than invent a fourth.
 */
export type ReaderDialect = {
  /**
   * A varint cut short by the end of the input: 'inside' reports "input ends
   * inside FIELD" at the varint's first byte (raft codec); 'before' reports
   * "input ends before FIELD" at the missing byte (membership, state commands).
   */
  truncatedVarint: 'inside' | 'before';
  /** Names the bound in a length's too-large message, "over the LIMIT of N": 'limit', or 'node id limit' (raft codec, whose strings are all node ids). */
  limitName: string;
  /** Ends the trailing-bytes message after the count, e.g. 'bytes left after a complete value'. */
  trailingBytes: string;
  /** What `bytesView` returns for an empty field (default: one zero-length array shared by every reader), so the value keeps no reference to the input. */
  emptyBytes?: Uint8Array;
};

const NO_BYTES = new Uint8Array(0);

/** Reads what the writers write; every read checks bounds and canonical form and throws DecodeError, nothing else. */
export class BinaryReader {
  readonly buffer: Uint8Array;
  /** What is being decoded, for error messages ("raft Message", "membership message"). */
  readonly what: string;
  readonly dialect: ReaderDialect;
  /** Offset of the next byte to read. */
  pos = 0;

  constructor(buffer: Uint8Array, what: string, dialect: ReaderDialect) {
    this.buffer = buffer;
    this.what = what;
    this.dialect = dialect;
  }

  fail(reason: DecodeReason, detail: string, offset: number): never {
    throw new DecodeError(reason, this.what, detail, offset);
  }

  remaining(): number {
    return this.buffer.length - this.pos;
  }

  /** Refuses ('too-large', offset 0) an input over `maxBytes` before any of it is parsed. */
  limitInput(maxBytes: number): void {
    if (this.buffer.length > maxBytes) this.fail('too-large', `${this.buffer.length} bytes exceed the limit of ${maxBytes}`, 0);
  }

  /** The codec version byte; anything but `expected` is 'unknown-version'. */
  version(expected: number): void {
    const offset = this.pos;
    const version = this.u8('the version byte');
    if (version !== expected) this.fail('unknown-version', `codec version ${version} is not ${expected}`, offset);
  }

  u8(field: string): number {
    if (this.pos >= this.buffer.length) this.fail('truncated', `input ends before ${field}`, this.pos);
    return this.buffer[this.pos++]!;
  }

  /** A flags byte whose bits outside `known` must be zero ('invalid-value'). `label` names it in that message when it differs from `field`. */
  flags(field: string, known: number, label = field): number {
    const offset = this.pos;
    const flags = this.u8(field);
    if ((flags & ~known) !== 0) this.fail('invalid-value', `${label} 0x${flags.toString(16)} has unknown bits set`, offset);
    return flags;
  }

  /** A minimal LEB128 varint of at most 2^53 - 1. */
  uint(field: string): number {
    const buffer = this.buffer;
    const start = this.pos;
    let position = start;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      if (position >= buffer.length) this.truncatedVarint(field, start, position);
      const byte = buffer[position++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        this.pos = position;
        if (byte === 0 && i > 0) this.fail('non-canonical', `${field} is a varint with a redundant zero byte`, start);
        if (value > Number.MAX_SAFE_INTEGER) this.fail('unsafe-integer', `${field} exceeds 2^53 - 1`, start);
        return value;
      }
      scale *= 0x80;
    }
    this.pos = position;
    return this.fail('unsafe-integer', `${field} is a varint longer than 8 bytes`, start);
  }

  private truncatedVarint(field: string, start: number, position: number): never {
    this.pos = position;
    if (this.dialect.truncatedVarint === 'inside') this.fail('truncated', `input ends inside ${field}`, start);
    return this.fail('truncated', `input ends before ${field}`, position);
  }

  /**
   * A count of items that follow, refused ('count-out-of-bounds') above
   * `maxCount`, or when `minBytesEach` bytes per item cannot fit in what is
   * left: an absurd count stops before any allocation. `noun` names the items.
   */
  count(field: string, noun: string, maxCount: number, minBytesEach: number): number {
    const offset = this.pos;
    const count = this.uint(field);
    if (count > maxCount) this.fail('count-out-of-bounds', `${count} ${noun} exceed the limit of ${maxCount}`, offset);
    if (count * minBytesEach > this.remaining()) {
      this.fail('count-out-of-bounds', `${count} ${noun} cannot fit in the ${this.remaining()} bytes left`, offset);
    }
    return count;
  }

  /** A length prefix: at most `maxBytes` ('too-large') and within the input ('length-out-of-bounds'). */
  length(field: string, maxBytes: number): number {
    const lengthOffset = this.pos;
    const length = this.uint(`${field} length`);
    if (length > maxBytes) this.fail('too-large', `${field} declares ${length} bytes, over the ${this.dialect.limitName} of ${maxBytes}`, lengthOffset);
    if (length > this.remaining()) {
      this.fail('length-out-of-bounds', `${field} declares ${length} bytes but only ${this.remaining()} remain`, lengthOffset);
    }
    return length;
  }

  /** Length-prefixed bytes as a view into the input, not a copy: the caller must not reuse the input while the value lives. */
  bytesView(field: string): Uint8Array {
    const length = this.length(field, Number.MAX_SAFE_INTEGER);
    if (length === 0) return this.dialect.emptyBytes ?? NO_BYTES;
    const start = this.pos;
    this.pos += length;
    return this.buffer.subarray(start, start + length);
  }

  /** Length-prefixed bytes, at most `maxBytes`, copied into a plain Uint8Array the caller may keep after the input is gone. */
  bytesCopy(field: string, maxBytes: number): Uint8Array {
    const length = this.length(field, maxBytes);
    const value = new Uint8Array(length);
    value.set(this.buffer.subarray(this.pos, this.pos + length));
    this.pos += length;
    return value;
  }

  /** A length-prefixed string of at most `maxBytes` of well-formed UTF-8 ('invalid-utf8'). */
  string(field: string, maxBytes: number): string {
    const length = this.length(field, maxBytes);
    const start = this.pos;
    const end = start + length;
    this.pos = end;
    const buffer = this.buffer;
    if (length <= SHORT_ASCII_DECODE_BYTES_MAX) {
      // Short ASCII (tag keys and values, small ids): cheaper than a decoder call.
      let text = '';
      for (let i = start; i < end; i++) {
        const byte = buffer[i]!;
        if (byte >= 0x80) return this.utf8(field, start, end);
        text += String.fromCharCode(byte);
      }
      return text;
    }
    return this.utf8(field, start, end);
  }

  private utf8(field: string, start: number, end: number): string {
    try {
      return textDecoder.decode(this.buffer.subarray(start, end));
    } catch {
      return this.fail('invalid-utf8', `${field} is not well-formed UTF-8`, start);
    }
  }

  /** The value must end exactly at the end of the input ('trailing-bytes'). */
  finish(): void {
    if (this.pos !== this.buffer.length) {
      this.fail('trailing-bytes', `${this.buffer.length - this.pos} ${this.dialect.trailingBytes}`, this.pos);
    }
  }
}

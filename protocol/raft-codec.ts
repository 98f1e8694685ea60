// Binary codecs for Raft's wire and disk types (protocol/raft.ts).
//
//   const bytes = encodeMessage(message(...));        // one allocation, exact size
//   const again = decodeMessage(bytes);                // throws DecodeError, nothing else
//
// Format. Numbers are unsigned LEB128 varints (1 byte below 128, at most 8
// bytes for 2^53 - 1); negative numbers have no encoding at all, so the decoder
// never produces one. Byte fields and strings are a varint length followed by
// the bytes; strings (node ids) are UTF-8. Booleans live in one flags byte.
// Every value has exactly one encoding (varints must be minimal, unused flag
// bits zero), so anything the decoder accepts re-encodes to the same bytes.
//
//   Entry        term, index, type:u8, data
//   HardState    term, vote:string, commit
//   ConfState    voterCount, voters:string*, learnerCount, learners:string*
//   Snapshot     index, term, ConfState, data
//   ConfChange   version:u8, type:u8, nodeId:string, context
//   Message      version:u8, type:u8, from, to, term, logTerm, index, commit,
//                rejectHint, snapshotOffset, flags:u8 (1 reject, 2 snapshotDone,
//                4 has snapshot), context, entryCount, Entry*, [Snapshot]
//
// Message and ConfChange start with a version byte because they outlive a
// build: messages cross between agents of different versions during a rolling
// upgrade, and ConfChange sits inside replicated log entries. Entry, HardState
// and Snapshot are versioned by their container (the message, or the storage's
// format record).
//
// Decoded byte fields (`data`, `context`) are views into the input, not
// copies: decoding an Append of a thousand entries allocates no payload bytes.
// The caller must not reuse the input buffer while the decoded value is alive.

import { DecodeError, EncodeError } from './errors.ts';
import type { DecodeReason } from './errors.ts';
import { EMPTY_BYTES, isWireMessageType } from './raft.ts';
import type { ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType, Snapshot } from './raft.ts';

/** The version byte that starts every encoded Message and ConfChange. Bump it when the layout changes. */
export const RAFT_CODEC_VERSION = 1;

/** Bounds the decoder enforces, so a hostile or damaged input cannot make it allocate without limit. */
export type CodecLimits = {
  /** Largest encoded Message accepted or produced. Trades snapshot chunk and Append batch size against the memory one peer can make us hold. */
  maxMessageBytes: number;
  /** Most entries in one Message. The leader's batching stays far below this; it only stops absurd counts before any work. */
  maxEntriesPerMessage: number;
  /** Longest node id, in UTF-8 bytes. libp2p peer ids are about 52 characters. */
  maxNodeIdBytes: number;
};

/** 16 MiB messages, 65,536 entries, 256-byte node ids. */
export const DEFAULT_CODEC_LIMITS: Readonly<CodecLimits> = Object.freeze({
  maxMessageBytes: 16 * 1024 * 1024,
  maxEntriesPerMessage: 65_536,
  maxNodeIdBytes: 256,
});

/** The default limits with some fields replaced; every field must be a positive safe integer. */
export function codecLimits(fields: Partial<CodecLimits>): CodecLimits {
  const limits = { ...DEFAULT_CODEC_LIMITS, ...fields };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`codec limit ${name} must be a positive safe integer, got ${value}`);
  }
  return limits;
}

const FLAG_REJECT = 1;
const FLAG_SNAPSHOT_DONE = 2;
const FLAG_HAS_SNAPSHOT = 4;
const FLAGS_KNOWN = FLAG_REJECT | FLAG_SNAPSHOT_DONE | FLAG_HAS_SNAPSHOT;

/** Smallest possible encoded Entry: four one-byte fields (term, index, type, empty data). */
const ENTRY_BYTES_MIN = 4;

const textEncoder = new TextEncoder();
// fatal: malformed UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a leading
// U+FEFF is part of the id, not stripped (stripping it would break re-encoding).
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------- public API

export function encodeEntry(entry: Entry, headroomBytes = 0): Uint8Array {
  const writer = new Writer(headroomBytes + entrySize(entry, 'entry'), headroomBytes);
  writeEntry(writer, entry);
  return writer.finish();
}

export function decodeEntry(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Entry {
  const reader = new Reader(bytes, 'raft Entry', limits);
  const entry = readEntry(reader);
  reader.finish();
  return entry;
}

export function encodeHardState(state: HardState, headroomBytes = 0, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Uint8Array {
  const size = uintSize(state.term, 'hardState.term') + stringSize(state.vote, 'hardState.vote', limits) + uintSize(state.commit, 'hardState.commit');
  const writer = new Writer(headroomBytes + size, headroomBytes);
  writer.uint(state.term);
  writer.string(state.vote);
  writer.uint(state.commit);
  return writer.finish();
}

export function decodeHardState(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): HardState {
  const reader = new Reader(bytes, 'raft HardState', limits);
  const term = reader.uint('term');
  const vote = reader.string('vote');
  const commit = reader.uint('commit');
  reader.finish();
  return { term, vote, commit };
}

export function encodeConfState(conf: ConfState, headroomBytes = 0, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Uint8Array {
  const writer = new Writer(headroomBytes + confStateSize(conf, 'confState', limits), headroomBytes);
  writeConfState(writer, conf);
  return writer.finish();
}

export function decodeConfState(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): ConfState {
  const reader = new Reader(bytes, 'raft ConfState', limits);
  const conf = readConfState(reader);
  reader.finish();
  return conf;
}

/** Metadata and data in one value. `headroomBytes` lets storage put its checksum in front without copying a large snapshot again. */
export function encodeSnapshot(snapshot: Snapshot, headroomBytes = 0, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Uint8Array {
  const writer = new Writer(headroomBytes + snapshotSize(snapshot, 'snapshot', limits), headroomBytes);
  writeSnapshot(writer, snapshot);
  return writer.finish();
}

export function decodeSnapshot(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Snapshot {
  const reader = new Reader(bytes, 'raft Snapshot', limits);
  const snapshot = readSnapshot(reader);
  reader.finish();
  return snapshot;
}

export function encodeConfChange(change: ConfChange, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Uint8Array {
  if (change.type !== 0 && change.type !== 1 && change.type !== 2) {
    throw new EncodeError('invalid-value', 'confChange.type', `${String(change.type)} is not a ConfChangeType`);
  }
  if (change.nodeId.length === 0) throw new EncodeError('invalid-value', 'confChange.nodeId', 'the node id is empty');
  const size = 2 + stringSize(change.nodeId, 'confChange.nodeId', limits) + bytesSize(change.context);
  const writer = new Writer(size, 0);
  writer.u8(RAFT_CODEC_VERSION);
  writer.u8(change.type);
  writer.string(change.nodeId);
  writer.bytes(change.context);
  return writer.finish();
}

export function decodeConfChange(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): ConfChange {
  const reader = new Reader(bytes, 'raft ConfChange', limits);
  reader.version();
  const typeOffset = reader.pos;
  const type = reader.u8('type');
  if (type > 2) reader.fail('invalid-value', `type ${type} is not a ConfChangeType`, typeOffset);
  const idOffset = reader.pos;
  const nodeId = reader.string('nodeId');
  if (nodeId.length === 0) reader.fail('invalid-value', 'nodeId is empty', idOffset);
  const context = reader.bytes('context');
  reader.finish();
  return { type: type as ConfChangeType, nodeId, context };
}

/** Exact size of `encodeMessage(message)`, validating every field on the way (throws EncodeError). */
export function encodedMessageSize(message: Message, limits: CodecLimits = DEFAULT_CODEC_LIMITS): number {
  if (!isWireMessageType(message.type)) {
    throw new EncodeError('invalid-value', 'message.type', `${String(message.type)} is not a wire message type (local-only kinds never cross the network)`);
  }
  const entries = message.entries;
  if (entries.length > limits.maxEntriesPerMessage) {
    throw new EncodeError('too-large', 'message.entries', `${entries.length} entries exceed the limit of ${limits.maxEntriesPerMessage}`);
  }
  let size = 2 + // version, type
    stringSize(message.from, 'message.from', limits) +
    stringSize(message.to, 'message.to', limits) +
    uintSize(message.term, 'message.term') +
    uintSize(message.logTerm, 'message.logTerm') +
    uintSize(message.index, 'message.index') +
    uintSize(message.commit, 'message.commit') +
    uintSize(message.rejectHint, 'message.rejectHint') +
    uintSize(message.snapshotOffset, 'message.snapshotOffset') +
    1 + // flags
    bytesSize(message.context) +
    varintSize(entries.length);
  for (let i = 0; i < entries.length; i++) size += entrySize(entries[i]!, 'message.entries[]');
  if (message.snapshot !== null) size += snapshotSize(message.snapshot, 'message.snapshot', limits);
  return size;
}

/** One allocation of exactly the encoded size. Throws EncodeError for a value that would not decode back to itself or exceeds `limits`. */
export function encodeMessage(message: Message, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Uint8Array {
  const size = encodedMessageSize(message, limits);
  if (size > limits.maxMessageBytes) {
    throw new EncodeError('too-large', 'message', `${size} bytes exceed the limit of ${limits.maxMessageBytes}`);
  }
  const writer = new Writer(size, 0);
  writer.u8(RAFT_CODEC_VERSION);
  writer.u8(message.type);
  writer.string(message.from);
  writer.string(message.to);
  writer.uint(message.term);
  writer.uint(message.logTerm);
  writer.uint(message.index);
  writer.uint(message.commit);
  writer.uint(message.rejectHint);
  writer.uint(message.snapshotOffset);
  writer.u8((message.reject ? FLAG_REJECT : 0) | (message.snapshotDone ? FLAG_SNAPSHOT_DONE : 0) | (message.snapshot !== null ? FLAG_HAS_SNAPSHOT : 0));
  writer.bytes(message.context);
  const entries = message.entries;
  writer.uint(entries.length);
  for (let i = 0; i < entries.length; i++) writeEntry(writer, entries[i]!);
  if (message.snapshot !== null) writeSnapshot(writer, message.snapshot);
  return writer.finish();
}

/** Decode one Message. Any input either yields a Message that re-encodes to the same bytes, or throws DecodeError. */
export function decodeMessage(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Message {
  const reader = new Reader(bytes, 'raft Message', limits);
  if (bytes.length > limits.maxMessageBytes) {
    reader.fail('too-large', `${bytes.length} bytes exceed the limit of ${limits.maxMessageBytes}`, 0);
  }
  reader.version();
  const typeOffset = reader.pos;
  const type = reader.u8('type');
  if (!isWireMessageType(type)) reader.fail('unknown-message-type', `type ${type} is not a wire message type`, typeOffset);
  const from = reader.string('from');
  const to = reader.string('to');
  const term = reader.uint('term');
  const logTerm = reader.uint('logTerm');
  const index = reader.uint('index');
  const commit = reader.uint('commit');
  const rejectHint = reader.uint('rejectHint');
  const snapshotOffset = reader.uint('snapshotOffset');
  const flagsOffset = reader.pos;
  const flags = reader.u8('flags');
  if ((flags & ~FLAGS_KNOWN) !== 0) reader.fail('invalid-value', `flags byte 0x${flags.toString(16)} has unknown bits set`, flagsOffset);
  const context = reader.bytes('context');
  const countOffset = reader.pos;
  const count = reader.uint('entry count');
  if (count > limits.maxEntriesPerMessage) {
    reader.fail('count-out-of-bounds', `${count} entries exceed the limit of ${limits.maxEntriesPerMessage}`, countOffset);
  }
  if (count * ENTRY_BYTES_MIN > reader.remaining()) {
    reader.fail('count-out-of-bounds', `${count} entries cannot fit in the ${reader.remaining()} bytes left`, countOffset);
  }
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) entries.push(readEntry(reader));
  const snapshot = (flags & FLAG_HAS_SNAPSHOT) !== 0 ? readSnapshot(reader) : null;
  reader.finish();
  // Same property order as `message()` builds, so decoded and local messages share a shape.
  return {
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    context,
    snapshot,
    snapshotOffset,
    snapshotDone: (flags & FLAG_SNAPSHOT_DONE) !== 0,
    type: type as MessageType,
  };
}

// ---------------------------------------------------------------- sizes (and validation before encoding)

function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  if (value < 0x800000000) return 5;
  if (value < 0x40000000000) return 6;
  if (value < 0x2000000000000) return 7;
  return 8;
}

function uintSize(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new EncodeError('invalid-number', field, `${value} is not a non-negative safe integer`);
  }
  return varintSize(value);
}

function bytesSize(bytes: Uint8Array): number {
  return varintSize(bytes.length) + bytes.length;
}

function stringSize(text: string, field: string, limits: CodecLimits): number {
  const length = utf8Length(text, field);
  if (length > limits.maxNodeIdBytes) {
    throw new EncodeError('too-large', field, `${length} UTF-8 bytes exceed the node id limit of ${limits.maxNodeIdBytes}`);
  }
  return varintSize(length) + length;
}

/** UTF-8 length of a well-formed string; a lone surrogate has no UTF-8 form and is refused. */
function utf8Length(text: string, field: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      length += 1;
    } else if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) throw new EncodeError('invalid-string', field, `lone surrogate at character ${i}`);
      length += 2; // two UTF-16 units, four UTF-8 bytes
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      throw new EncodeError('invalid-string', field, `lone surrogate at character ${i}`);
    } else {
      length += 2;
    }
  }
  return length;
}

function entrySize(entry: Entry, field: string): number {
  if (entry.type !== 0 && entry.type !== 1) {
    throw new EncodeError('invalid-value', `${field}.type`, `${String(entry.type)} is not an EntryType`);
  }
  return uintSize(entry.term, `${field}.term`) + uintSize(entry.index, `${field}.index`) + 1 + bytesSize(entry.data);
}

function confStateSize(conf: ConfState, field: string, limits: CodecLimits): number {
  const seen = new Set<string>();
  let size = varintSize(conf.voters.length) + varintSize(conf.learners.length);
  for (const list of [conf.voters, conf.learners]) {
    for (const id of list) {
      if (id.length === 0) throw new EncodeError('invalid-conf-state', field, 'a member has an empty node id');
      if (seen.has(id)) throw new EncodeError('invalid-conf-state', field, `node ${JSON.stringify(id)} is listed twice (a node is a voter or a learner, once)`);
      seen.add(id);
      size += stringSize(id, field, limits);
    }
  }
  return size;
}

function snapshotSize(snapshot: Snapshot, field: string, limits: CodecLimits): number {
  const metadata = snapshot.metadata;
  return uintSize(metadata.index, `${field}.metadata.index`) +
    uintSize(metadata.term, `${field}.metadata.term`) +
    confStateSize(metadata.conf, `${field}.metadata.conf`, limits) +
    bytesSize(snapshot.data);
}

// ---------------------------------------------------------------- writing (values already validated by the size pass)

class Writer {
  readonly buffer: Uint8Array;
  position: number;

  constructor(size: number, start: number) {
    this.buffer = new Uint8Array(size);
    this.position = start;
  }

  u8(value: number): void {
    this.buffer[this.position++] = value;
  }

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

  bytes(value: Uint8Array): void {
    this.uint(value.length);
    this.buffer.set(value, this.position);
    this.position += value.length;
  }

  string(value: string): void {
    const length = utf8Length(value, 'string');
    this.uint(length);
    if (length === value.length) {
      // ASCII, the common case for node ids: no encoder call, no temporary.
      const buffer = this.buffer;
      const start = this.position;
      for (let i = 0; i < length; i++) buffer[start + i] = value.charCodeAt(i);
    } else {
      textEncoder.encodeInto(value, this.buffer.subarray(this.position, this.position + length));
    }
    this.position += length;
  }

  finish(): Uint8Array {
    if (this.position !== this.buffer.length) {
      // The size pass and the write pass disagree: a bug here, not bad input.
      throw new Error(`raft codec wrote ${this.position} bytes into a buffer sized ${this.buffer.length}`);
    }
    return this.buffer;
  }
}

function writeEntry(writer: Writer, entry: Entry): void {
  writer.uint(entry.term);
  writer.uint(entry.index);
  writer.u8(entry.type);
  writer.bytes(entry.data);
}

function writeConfState(writer: Writer, conf: ConfState): void {
  writer.uint(conf.voters.length);
  for (const id of conf.voters) writer.string(id);
  writer.uint(conf.learners.length);
  for (const id of conf.learners) writer.string(id);
}

function writeSnapshot(writer: Writer, snapshot: Snapshot): void {
  writer.uint(snapshot.metadata.index);
  writer.uint(snapshot.metadata.term);
  writeConfState(writer, snapshot.metadata.conf);
  writer.bytes(snapshot.data);
}

// ---------------------------------------------------------------- reading

class Reader {
  readonly buffer: Uint8Array;
  readonly what: string;
  readonly limits: CodecLimits;
  pos = 0;

  constructor(buffer: Uint8Array, what: string, limits: CodecLimits) {
    this.buffer = buffer;
    this.what = what;
    this.limits = limits;
  }

  fail(reason: DecodeReason, detail: string, offset: number): never {
    throw new DecodeError(reason, this.what, detail, offset);
  }

  remaining(): number {
    return this.buffer.length - this.pos;
  }

  u8(field: string): number {
    if (this.pos >= this.buffer.length) this.fail('truncated', `input ends before ${field}`, this.pos);
    return this.buffer[this.pos++]!;
  }

  version(): void {
    const offset = this.pos;
    const version = this.u8('the version byte');
    if (version !== RAFT_CODEC_VERSION) this.fail('unknown-version', `codec version ${version} is not ${RAFT_CODEC_VERSION}`, offset);
  }

  /** A minimal LEB128 varint of at most 2^53 - 1. */
  uint(field: string): number {
    const buffer = this.buffer;
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= buffer.length) this.fail('truncated', `input ends inside ${field}`, start);
      const byte = buffer[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) this.fail('non-canonical', `${field} is a varint with a redundant zero byte`, start);
        if (value > Number.MAX_SAFE_INTEGER) this.fail('unsafe-integer', `${field} exceeds 2^53 - 1`, start);
        return value;
      }
      scale *= 0x80;
    }
    return this.fail('unsafe-integer', `${field} is a varint longer than 8 bytes`, start);
  }

  /** Length-prefixed bytes, as a view into the input. */
  bytes(field: string): Uint8Array {
    const lengthOffset = this.pos;
    const length = this.uint(`${field} length`);
    if (length > this.remaining()) {
      this.fail('length-out-of-bounds', `${field} declares ${length} bytes but only ${this.remaining()} remain`, lengthOffset);
    }
    if (length === 0) return EMPTY_BYTES;
    const start = this.pos;
    this.pos += length;
    return this.buffer.subarray(start, start + length);
  }

  /** A length-prefixed UTF-8 node id. */
  string(field: string): string {
    const lengthOffset = this.pos;
    const length = this.uint(`${field} length`);
    if (length > this.limits.maxNodeIdBytes) {
      this.fail('too-large', `${field} declares ${length} bytes, over the node id limit of ${this.limits.maxNodeIdBytes}`, lengthOffset);
    }
    if (length > this.remaining()) {
      this.fail('length-out-of-bounds', `${field} declares ${length} bytes but only ${this.remaining()} remain`, lengthOffset);
    }
    const start = this.pos;
    this.pos += length;
    const buffer = this.buffer;
    let ascii = true;
    for (let i = start; i < start + length; i++) {
      if (buffer[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      let text = '';
      for (let i = start; i < start + length; i++) text += String.fromCharCode(buffer[i]!);
      return text;
    }
    try {
      return textDecoder.decode(buffer.subarray(start, start + length));
    } catch {
      return this.fail('invalid-utf8', `${field} is not well-formed UTF-8`, start);
    }
  }

  finish(): void {
    if (this.pos !== this.buffer.length) {
      this.fail('trailing-bytes', `${this.buffer.length - this.pos} bytes left after a complete value`, this.pos);
    }
  }
}

function readEntry(reader: Reader): Entry {
  const term = reader.uint('entry term');
  const index = reader.uint('entry index');
  const typeOffset = reader.pos;
  const type = reader.u8('entry type');
  if (type > 1) reader.fail('invalid-value', `entry type ${type} is not an EntryType`, typeOffset);
  const data = reader.bytes('entry data');
  return { term, index, type: type as EntryType, data };
}

function readNodeIds(reader: Reader, field: string, seen: Set<string>, into: string[]): void {
  const countOffset = reader.pos;
  const count = reader.uint(`${field} count`);
  // Each id takes at least its one-byte length prefix.
  if (count > reader.remaining()) {
    reader.fail('count-out-of-bounds', `${count} ${field} cannot fit in the ${reader.remaining()} bytes left`, countOffset);
  }
  for (let i = 0; i < count; i++) {
    const idOffset = reader.pos;
    const id = reader.string(field);
    if (id.length === 0) reader.fail('invalid-conf-state', `a member of ${field} has an empty node id`, idOffset);
    if (seen.has(id)) {
      reader.fail('invalid-conf-state', `node ${JSON.stringify(id)} is listed twice (a node is a voter or a learner, once)`, idOffset);
    }
    seen.add(id);
    into.push(id);
  }
}

function readConfState(reader: Reader): ConfState {
  const seen = new Set<string>();
  const voters: string[] = [];
  const learners: string[] = [];
  readNodeIds(reader, 'voters', seen, voters);
  readNodeIds(reader, 'learners', seen, learners);
  return { voters, learners };
}

function readSnapshot(reader: Reader): Snapshot {
  const index = reader.uint('snapshot index');
  const term = reader.uint('snapshot term');
  const conf = readConfState(reader);
  const data = reader.bytes('snapshot data');
  return { metadata: { index, term, conf }, data };
}

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
// The varint, string and bounds mechanics are protocol/binary.ts; encoding is
// a size pass (which validates) and one exactly sized BinaryWriter.
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

import { BinaryReader, BinaryWriter, bytesSize, loneSurrogateAt, uintSize, utf8Length, varintSize } from './binary.ts';
import type { ReaderDialect } from './binary.ts';
import { EncodeError } from './errors.ts';
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

/** This codec's wording of decode errors (unchanged since it had its own reader), and decoded empty fields as the shared EMPTY_BYTES. */
const RAFT_DIALECT: ReaderDialect = Object.freeze({
  truncatedVarint: 'inside',
  limitName: 'node id limit',
  trailingBytes: 'bytes left after a complete value',
  emptyBytes: EMPTY_BYTES,
});

// ---------------------------------------------------------------- public API

export function encodeEntry(entry: Entry, headroomBytes = 0): Uint8Array {
  const writer = new BinaryWriter(headroomBytes + entrySize(entry, 'entry'), headroomBytes);
  writeEntry(writer, entry);
  return writer.finish('raft codec');
}

export function decodeEntry(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Entry {
  const reader = new BinaryReader(bytes, 'raft Entry', RAFT_DIALECT);
  const entry = readEntry(reader);
  reader.finish();
  return entry;
}

export function encodeHardState(state: HardState, headroomBytes = 0, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Uint8Array {
  const size = uintSize(state.term, 'hardState.term') + stringSize(state.vote, 'hardState.vote', limits) + uintSize(state.commit, 'hardState.commit');
  const writer = new BinaryWriter(headroomBytes + size, headroomBytes);
  writer.uint(state.term);
  writeString(writer, state.vote);
  writer.uint(state.commit);
  return writer.finish('raft codec');
}

export function decodeHardState(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): HardState {
  const reader = new BinaryReader(bytes, 'raft HardState', RAFT_DIALECT);
  const term = reader.uint('term');
  const vote = reader.string('vote', limits.maxNodeIdBytes);
  const commit = reader.uint('commit');
  reader.finish();
  return { term, vote, commit };
}

export function encodeConfState(conf: ConfState, headroomBytes = 0, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Uint8Array {
  const writer = new BinaryWriter(headroomBytes + confStateSize(conf, 'confState', limits), headroomBytes);
  writeConfState(writer, conf);
  return writer.finish('raft codec');
}

export function decodeConfState(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): ConfState {
  const reader = new BinaryReader(bytes, 'raft ConfState', RAFT_DIALECT);
  const conf = readConfState(reader, limits);
  reader.finish();
  return conf;
}

/** Metadata and data in one value. `headroomBytes` lets storage put its checksum in front without copying a large snapshot again. */
export function encodeSnapshot(snapshot: Snapshot, headroomBytes = 0, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Uint8Array {
  const writer = new BinaryWriter(headroomBytes + snapshotSize(snapshot, 'snapshot', limits), headroomBytes);
  writeSnapshot(writer, snapshot);
  return writer.finish('raft codec');
}

export function decodeSnapshot(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Snapshot {
  const reader = new BinaryReader(bytes, 'raft Snapshot', RAFT_DIALECT);
  const snapshot = readSnapshot(reader, limits);
  reader.finish();
  return snapshot;
}

export function encodeConfChange(change: ConfChange, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Uint8Array {
  if (change.type !== 0 && change.type !== 1 && change.type !== 2) {
    throw new EncodeError('invalid-value', 'confChange.type', `${String(change.type)} is not a ConfChangeType`);
  }
  if (change.nodeId.length === 0) throw new EncodeError('invalid-value', 'confChange.nodeId', 'the node id is empty');
  const size = 2 + stringSize(change.nodeId, 'confChange.nodeId', limits) + bytesSize(change.context);
  const writer = new BinaryWriter(size, 0);
  writer.u8(RAFT_CODEC_VERSION);
  writer.u8(change.type);
  writeString(writer, change.nodeId);
  writer.bytes(change.context);
  return writer.finish('raft codec');
}

export function decodeConfChange(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): ConfChange {
  const reader = new BinaryReader(bytes, 'raft ConfChange', RAFT_DIALECT);
  reader.version(RAFT_CODEC_VERSION);
  const typeOffset = reader.pos;
  const type = reader.u8('type');
  if (type > 2) reader.fail('invalid-value', `type ${type} is not a ConfChangeType`, typeOffset);
  const idOffset = reader.pos;
  const nodeId = reader.string('nodeId', limits.maxNodeIdBytes);
  if (nodeId.length === 0) reader.fail('invalid-value', 'nodeId is empty', idOffset);
  const context = reader.bytesView('context');
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
  const writer = new BinaryWriter(size, 0);
  writer.u8(RAFT_CODEC_VERSION);
  writer.u8(message.type);
  writeString(writer, message.from);
  writeString(writer, message.to);
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
  return writer.finish('raft codec');
}

/** Decode one Message. Any input either yields a Message that re-encodes to the same bytes, or throws DecodeError. */
export function decodeMessage(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Message {
  const reader = new BinaryReader(bytes, 'raft Message', RAFT_DIALECT);
  reader.limitInput(limits.maxMessageBytes);
  reader.version(RAFT_CODEC_VERSION);
  const typeOffset = reader.pos;
  const type = reader.u8('type');
  if (!isWireMessageType(type)) reader.fail('unknown-message-type', `type ${type} is not a wire message type`, typeOffset);
  const from = reader.string('from', limits.maxNodeIdBytes);
  const to = reader.string('to', limits.maxNodeIdBytes);
  const term = reader.uint('term');
  const logTerm = reader.uint('logTerm');
  const index = reader.uint('index');
  const commit = reader.uint('commit');
  const rejectHint = reader.uint('rejectHint');
  const snapshotOffset = reader.uint('snapshotOffset');
  const flags = reader.flags('flags', FLAGS_KNOWN, 'flags byte');
  const context = reader.bytesView('context');
  const count = reader.count('entry count', 'entries', limits.maxEntriesPerMessage, ENTRY_BYTES_MIN);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) entries.push(readEntry(reader));
  const snapshot = (flags & FLAG_HAS_SNAPSHOT) !== 0 ? readSnapshot(reader, limits) : null;
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

function stringSize(text: string, field: string, limits: CodecLimits): number {
  const length = utf8Length(text);
  if (length < 0) throw new EncodeError('invalid-string', field, `lone surrogate at character ${loneSurrogateAt(text)}`);
  if (length > limits.maxNodeIdBytes) {
    throw new EncodeError('too-large', field, `${length} UTF-8 bytes exceed the node id limit of ${limits.maxNodeIdBytes}`);
  }
  return varintSize(length) + length;
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

/** A node id, validated by stringSize. */
function writeString(writer: BinaryWriter, text: string): void {
  writer.string(text, utf8Length(text));
}

function writeEntry(writer: BinaryWriter, entry: Entry): void {
  writer.uint(entry.term);
  writer.uint(entry.index);
  writer.u8(entry.type);
  writer.bytes(entry.data);
}

function writeConfState(writer: BinaryWriter, conf: ConfState): void {
  writer.uint(conf.voters.length);
  for (const id of conf.voters) writeString(writer, id);
  writer.uint(conf.learners.length);
  for (const id of conf.learners) writeString(writer, id);
}

function writeSnapshot(writer: BinaryWriter, snapshot: Snapshot): void {
  writer.uint(snapshot.metadata.index);
  writer.uint(snapshot.metadata.term);
  writeConfState(writer, snapshot.metadata.conf);
  writer.bytes(snapshot.data);
}

// ---------------------------------------------------------------- reading

function readEntry(reader: BinaryReader): Entry {
  const term = reader.uint('entry term');
  const index = reader.uint('entry index');
  const typeOffset = reader.pos;
  const type = reader.u8('entry type');
  if (type > 1) reader.fail('invalid-value', `entry type ${type} is not an EntryType`, typeOffset);
  const data = reader.bytesView('entry data');
  return { term, index, type: type as EntryType, data };
}

function readNodeIds(reader: BinaryReader, field: string, limits: CodecLimits, seen: Set<string>, into: string[]): void {
  // Each id takes at least its one-byte length prefix; the message size bounds the count.
  const count = reader.count(`${field} count`, field, Number.MAX_SAFE_INTEGER, 1);
  for (let i = 0; i < count; i++) {
    const idOffset = reader.pos;
    const id = reader.string(field, limits.maxNodeIdBytes);
    if (id.length === 0) reader.fail('invalid-conf-state', `a member of ${field} has an empty node id`, idOffset);
    if (seen.has(id)) {
      reader.fail('invalid-conf-state', `node ${JSON.stringify(id)} is listed twice (a node is a voter or a learner, once)`, idOffset);
    }
    seen.add(id);
    into.push(id);
  }
}

function readConfState(reader: BinaryReader, limits: CodecLimits): ConfState {
  const seen = new Set<string>();
  const voters: string[] = [];
  const learners: string[] = [];
  readNodeIds(reader, 'voters', limits, seen, voters);
  readNodeIds(reader, 'learners', limits, seen, learners);
  return { voters, learners };
}

function readSnapshot(reader: BinaryReader, limits: CodecLimits): Snapshot {
  const index = reader.uint('snapshot index');
  const term = reader.uint('snapshot term');
  const conf = readConfState(reader, limits);
  const data = reader.bytesView('snapshot data');
  return { metadata: { index, term, conf }, data };
}

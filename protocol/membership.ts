// Membership and failure-detection messages (SWIM with Lifeguard, as in
// hashicorp/memberlist), their binary codec and their validation.
//
//   const bytes = encodeMembershipMessage({ type: MembershipMessageType.Ping, seq: 7, target: 'n2', updates: [] });
//   const again = decodeMembershipMessage(bytes);   // throws DecodeError, nothing else
//
// Who sends what:
// - Ping: the prober -> the member it probes this protocol period, directly (the
//   probe stream), or an intermediary -> the target of an indirect probe. The
//   receiver answers with an Ack carrying the same `seq` if `target` is itself,
//   and drops the ping otherwise (it was meant for a previous owner of the address).
// - Ack: the answer to a Ping or, relayed by an intermediary, to a PingReq.
//   `nack` set (Lifeguard): the intermediary could not reach the target in time;
//   the requester counts it as evidence that its own network works.
// - PingReq: the prober -> k other members when the direct ping timed out:
//   "ping `target` for me and relay the ack". With `nack` the intermediary sends a
//   Nack if the target stays silent for most of `timeoutMs`.
// - Alive / Suspect / Dead: state updates. Published on the datacenter's gossip
//   topic by the member that decided them, and piggybacked on Ping, Ack and
//   PingReq by everyone for a bounded number of retransmissions. A Dead whose
//   `from` is its own `node` is a Leave (memberlist's convention).
// - PushPull: full state exchange with one member (periodic anti-entropy, joins,
//   reconnects to failed members). The receiver merges the list and, unless
//   `reply` is set, answers with its own list.
//
// Format (version 1). Numbers are minimal unsigned LEB128 varints of at most
// 2^53 - 1; strings are a varint length and UTF-8; booleans live in a flags byte
// whose unused bits must be zero; tags are sorted by key. Every value has
// exactly one encoding, so anything the decoder accepts re-encodes to the same
// bytes. The varint, string and bounds mechanics are protocol/binary.ts.
//
//   message    version:u8 type:u8 body
//   Ping       seq target updates
//   Ack        seq flags(1 nack) updates
//   PingReq    seq target targetAddress requester flags(1 nack) timeoutMs updates
//   Alive      node incarnation address tags
//   Suspect    node incarnation from
//   Dead       node incarnation from
//   PushPull   flags(1 join, 2 reply) count record*
//   record     node address incarnation state:u8 tags
//   updates    count (type:u8 body)*          (only Alive, Suspect, Dead)
//   tags       count (key value)*             (keys non-empty, strictly ascending)

import { BinaryReader, GrowableBinaryWriter } from './binary.ts';
import type { ReaderDialect } from './binary.ts';
import { EncodeError } from './errors.ts';

/** The version byte that starts every encoded membership message. Bump it when the layout changes. */
export const MEMBERSHIP_CODEC_VERSION = 1;

export const MembershipMessageType = {
  Ping: 1,
  Ack: 2,
  PingReq: 3,
  Alive: 4,
  Suspect: 5,
  Dead: 6,
  PushPull: 7,
} as const;
export type MembershipMessageType = (typeof MembershipMessageType)[keyof typeof MembershipMessageType];

/** A member's state as one member sees it. Numeric because it crosses the wire in push-pull records. */
export const MemberState = {
  Alive: 0,
  /** Failed a probe; dead after the suspicion timeout unless it refutes. */
  Suspect: 1,
  /** Declared failed (Consul's "failed"). Kept as a tombstone, then reaped. */
  Dead: 2,
  /** Left gracefully: a Dead it sent about itself. */
  Left: 3,
} as const;
export type MemberState = (typeof MemberState)[keyof typeof MemberState];

/** Member metadata (Consul/serf tags: role, datacenter, build...). Small: it rides in every Alive. */
export type Tags = Readonly<Record<string, string>>;

/** `node` is alive at `incarnation`, reachable at `address`, with `tags`. Only `node` itself raises its incarnation. */
export type Alive = {
  type: typeof MembershipMessageType.Alive;
  node: string;
  incarnation: number;
  address: string;
  tags: Tags;
};

/** `from` suspects `node` (at `incarnation`) of having failed. */
export type Suspect = {
  type: typeof MembershipMessageType.Suspect;
  node: string;
  incarnation: number;
  from: string;
};

/** `from` declares `node` (at `incarnation`) dead; `from === node` means it left. */
export type Dead = {
  type: typeof MembershipMessageType.Dead;
  node: string;
  incarnation: number;
  from: string;
};

export type MembershipUpdate = Alive | Suspect | Dead;

export type Ping = {
  type: typeof MembershipMessageType.Ping;
  seq: number;
  /** The node the sender means to probe; a receiver with another id drops the ping. */
  target: string;
  updates: MembershipUpdate[];
};

export type Ack = {
  type: typeof MembershipMessageType.Ack;
  seq: number;
  /** A Lifeguard Nack: "I asked, the target did not answer". Not an ack. */
  nack: boolean;
  updates: MembershipUpdate[];
};

export type PingReq = {
  type: typeof MembershipMessageType.PingReq;
  /** The requester's probe sequence number, echoed in the relayed Ack or Nack. */
  seq: number;
  target: string;
  /** Where to reach the target, for an intermediary that has not heard of it yet. */
  targetAddress: string;
  requester: string;
  /** Send a Nack if the target does not answer. */
  nack: boolean;
  /** How long the requester will wait from now; the intermediary nacks at 80% of it. */
  timeoutMs: number;
  updates: MembershipUpdate[];
};

export type MemberRecord = {
  node: string;
  address: string;
  incarnation: number;
  state: MemberState;
  tags: Tags;
};

export type PushPull = {
  type: typeof MembershipMessageType.PushPull;
  /** The sender is joining through this exchange (for metrics and logs; merging is the same). */
  join: boolean;
  /** This is the answer to a PushPull: merge it, do not answer. */
  reply: boolean;
  members: MemberRecord[];
};

export type MembershipMessage = Ping | Ack | PingReq | Alive | Suspect | Dead | PushPull;

/** Bounds the decoder enforces and the encoder respects, so no peer can make us allocate without limit. */
export type MembershipCodecLimits = {
  /** Largest encoded message. Push-pull of the biggest cluster is the largest; probes are a few hundred bytes. */
  maxMessageBytes: number;
  /** Most member records in one PushPull. Trades the largest cluster we can describe against the memory a peer can make us hold. */
  maxMembersPerPushPull: number;
  /** Most updates piggybacked on one Ping, Ack or PingReq. */
  maxUpdatesPerMessage: number;
  /** Longest node id in UTF-8 bytes. libp2p peer ids are about 52 characters. */
  maxNodeIdBytes: number;
  /** Longest address (a multiaddr or host:port) in UTF-8 bytes. */
  maxAddressBytes: number;
  /** Largest encoded tag set, count prefix included (memberlist's MetaMaxSize is 512). */
  maxTagsBytes: number;
  /** Longest PingReq timeout. */
  maxTimeoutMs: number;
};

/** 16 MiB, 16,384 members, 256 updates, 256-byte ids, 512-byte addresses and tags, 10-minute timeouts. */
export const DEFAULT_MEMBERSHIP_LIMITS: Readonly<MembershipCodecLimits> = Object.freeze({
  maxMessageBytes: 16 * 1024 * 1024,
  maxMembersPerPushPull: 16_384,
  maxUpdatesPerMessage: 256,
  maxNodeIdBytes: 256,
  maxAddressBytes: 512,
  maxTagsBytes: 512,
  maxTimeoutMs: 600_000,
});

const FLAG_NACK = 1;
const FLAG_JOIN = 1;
const FLAG_REPLY = 2;

/** A first guess at an encoding's size; the writer doubles it as needed. Probes and updates fit. */
const WRITER_CAPACITY_BYTES = 128;

/** This codec's wording of decode errors, unchanged since it had its own reader. */
const MEMBERSHIP_DIALECT: ReaderDialect = Object.freeze({
  truncatedVarint: 'before',
  limitName: 'limit',
  trailingBytes: 'bytes left after a complete message',
});

// ---------------------------------------------------------------- public API

/** Encode one message. Throws EncodeError for a value that breaks a bound or would not decode back to itself. */
export function encodeMembershipMessage(message: MembershipMessage, limits: MembershipCodecLimits = DEFAULT_MEMBERSHIP_LIMITS): Uint8Array {
  const writer = new GrowableBinaryWriter(WRITER_CAPACITY_BYTES);
  writer.u8(MEMBERSHIP_CODEC_VERSION);
  writeMessage(writer, message, limits);
  const bytes = writer.finish();
  if (bytes.length > limits.maxMessageBytes) {
    throw new EncodeError('too-large', 'message', `${bytes.length} bytes exceed the limit of ${limits.maxMessageBytes}`);
  }
  return bytes;
}

/** Decode one message. Any input yields a valid message that re-encodes to the same bytes, or throws DecodeError. */
export function decodeMembershipMessage(bytes: Uint8Array, limits: MembershipCodecLimits = DEFAULT_MEMBERSHIP_LIMITS): MembershipMessage {
  const reader = new BinaryReader(bytes, 'membership message', MEMBERSHIP_DIALECT);
  reader.limitInput(limits.maxMessageBytes);
  reader.version(MEMBERSHIP_CODEC_VERSION);
  const message = readMessage(reader, limits);
  reader.finish();
  return message;
}

/** Encoded size of one update as it sits in a piggyback list (type byte included). The broadcast queue budgets with it. */
export function encodedUpdateSize(update: MembershipUpdate, limits: MembershipCodecLimits = DEFAULT_MEMBERSHIP_LIMITS): number {
  const writer = new GrowableBinaryWriter(WRITER_CAPACITY_BYTES);
  writeMessage(writer, update, limits);
  return writer.position;
}

export function isMembershipUpdate(message: MembershipMessage): message is MembershipUpdate {
  return message.type === MembershipMessageType.Alive || message.type === MembershipMessageType.Suspect || message.type === MembershipMessageType.Dead;
}

/** Whether two tag sets hold the same pairs. */
export function tagsEqual(left: Tags, right: Tags): boolean {
  const leftKeys = Object.keys(left);
  if (leftKeys.length !== Object.keys(right).length) return false;
  for (const key of leftKeys) {
    if (!Object.hasOwn(right, key) || right[key] !== left[key]) return false;
  }
  return true;
}

export function memberStateName(state: MemberState): 'alive' | 'suspect' | 'dead' | 'left' {
  switch (state) {
    case MemberState.Alive: return 'alive';
    case MemberState.Suspect: return 'suspect';
    case MemberState.Dead: return 'dead';
    case MemberState.Left: return 'left';
  }
}

// ---------------------------------------------------------------- writing

function writeMessage(writer: GrowableBinaryWriter, message: MembershipMessage, limits: MembershipCodecLimits): void {
  switch (message.type) {
    case MembershipMessageType.Ping:
      writer.u8(message.type);
      writer.checkedUint(message.seq, 'ping.seq');
      writeNodeId(writer, message.target, 'ping.target', limits);
      writeUpdates(writer, message.updates, 'ping.updates', limits);
      return;
    case MembershipMessageType.Ack:
      writer.u8(message.type);
      writer.checkedUint(message.seq, 'ack.seq');
      writer.u8(message.nack ? FLAG_NACK : 0);
      writeUpdates(writer, message.updates, 'ack.updates', limits);
      return;
    case MembershipMessageType.PingReq:
      writer.u8(message.type);
      writer.checkedUint(message.seq, 'pingReq.seq');
      writeNodeId(writer, message.target, 'pingReq.target', limits);
      writeAddress(writer, message.targetAddress, 'pingReq.targetAddress', limits);
      writeNodeId(writer, message.requester, 'pingReq.requester', limits);
      writer.u8(message.nack ? FLAG_NACK : 0);
      if (message.timeoutMs > limits.maxTimeoutMs) {
        throw new EncodeError('too-large', 'pingReq.timeoutMs', `${message.timeoutMs} ms exceeds the limit of ${limits.maxTimeoutMs}`);
      }
      writer.checkedUint(message.timeoutMs, 'pingReq.timeoutMs');
      writeUpdates(writer, message.updates, 'pingReq.updates', limits);
      return;
    case MembershipMessageType.Alive:
      writer.u8(message.type);
      writeNodeId(writer, message.node, 'alive.node', limits);
      writer.checkedUint(message.incarnation, 'alive.incarnation');
      writeAddress(writer, message.address, 'alive.address', limits);
      writeTags(writer, message.tags, 'alive.tags', limits);
      return;
    case MembershipMessageType.Suspect:
    case MembershipMessageType.Dead: {
      const field = message.type === MembershipMessageType.Suspect ? 'suspect' : 'dead';
      writer.u8(message.type);
      writeNodeId(writer, message.node, `${field}.node`, limits);
      writer.checkedUint(message.incarnation, `${field}.incarnation`);
      writeNodeId(writer, message.from, `${field}.from`, limits);
      return;
    }
    case MembershipMessageType.PushPull:
      writePushPull(writer, message, limits);
      return;
    default:
      throw new EncodeError('invalid-value', 'message.type', `${String((message as { type: unknown }).type)} is not a MembershipMessageType`);
  }
}

function writePushPull(writer: GrowableBinaryWriter, message: PushPull, limits: MembershipCodecLimits): void {
  const members = message.members;
  if (members.length > limits.maxMembersPerPushPull) {
    throw new EncodeError('too-large', 'pushPull.members', `${members.length} members exceed the limit of ${limits.maxMembersPerPushPull}`);
  }
  writer.u8(message.type);
  writer.u8((message.join ? FLAG_JOIN : 0) | (message.reply ? FLAG_REPLY : 0));
  writer.checkedUint(members.length, 'pushPull.members.length');
  const seen = new Set<string>();
  for (const member of members) {
    if (seen.has(member.node)) throw new EncodeError('invalid-value', 'pushPull.members[].node', `node ${JSON.stringify(member.node)} is listed twice`);
    seen.add(member.node);
    writeNodeId(writer, member.node, 'pushPull.members[].node', limits);
    writeAddress(writer, member.address, 'pushPull.members[].address', limits);
    writer.checkedUint(member.incarnation, 'pushPull.members[].incarnation');
    if (member.state !== 0 && member.state !== 1 && member.state !== 2 && member.state !== 3) {
      throw new EncodeError('invalid-value', 'pushPull.members[].state', `${String(member.state)} is not a MemberState`);
    }
    writer.u8(member.state);
    writeTags(writer, member.tags, 'pushPull.members[].tags', limits);
  }
}

function writeUpdates(writer: GrowableBinaryWriter, updates: MembershipUpdate[], field: string, limits: MembershipCodecLimits): void {
  if (updates.length > limits.maxUpdatesPerMessage) {
    throw new EncodeError('too-large', field, `${updates.length} updates exceed the limit of ${limits.maxUpdatesPerMessage}`);
  }
  writer.checkedUint(updates.length, `${field}.length`);
  for (const update of updates) {
    if (!isMembershipUpdate(update)) throw new EncodeError('invalid-value', `${field}[].type`, `${String((update as { type: unknown }).type)} is not an Alive, Suspect or Dead`);
    writeMessage(writer, update, limits);
  }
}

function writeNodeId(writer: GrowableBinaryWriter, value: string, field: string, limits: MembershipCodecLimits): void {
  if (value === '') throw new EncodeError('invalid-value', field, 'the node id is empty');
  writer.checkedString(value, field, limits.maxNodeIdBytes);
}

function writeAddress(writer: GrowableBinaryWriter, value: string, field: string, limits: MembershipCodecLimits): void {
  writer.checkedString(value, field, limits.maxAddressBytes);
}

function writeTags(writer: GrowableBinaryWriter, tags: Tags, field: string, limits: MembershipCodecLimits): void {
  const keys = Object.keys(tags).sort();
  const start = writer.position;
  writer.checkedUint(keys.length, `${field}.length`);
  for (const key of keys) {
    if (key === '') throw new EncodeError('invalid-value', field, 'a tag key is empty');
    const value = tags[key];
    if (typeof value !== 'string') throw new EncodeError('invalid-value', `${field}.${key}`, 'a tag value is not a string');
    writer.checkedString(key, `${field} key`, limits.maxTagsBytes);
    writer.checkedString(value, `${field}.${key}`, limits.maxTagsBytes);
  }
  const size = writer.position - start;
  if (size > limits.maxTagsBytes) throw new EncodeError('too-large', field, `${size} bytes of tags exceed the limit of ${limits.maxTagsBytes}`);
}

// ---------------------------------------------------------------- reading

/** Smallest encoded member record: one-byte node id, empty address, incarnation, state, no tags. */
const MEMBER_RECORD_BYTES_MIN = 2 + 1 + 1 + 1 + 1;
/** Smallest encoded update: a Suspect with one-byte ids. */
const UPDATE_BYTES_MIN = 1 + 2 + 1 + 2;

function readMessage(reader: BinaryReader, limits: MembershipCodecLimits): MembershipMessage {
  const typeOffset = reader.pos;
  const type = reader.u8('type');
  switch (type) {
    case MembershipMessageType.Ping: {
      const seq = reader.uint('ping seq');
      const target = readNodeId(reader, 'ping target', limits);
      const updates = readUpdates(reader, limits);
      return { type, seq, target, updates };
    }
    case MembershipMessageType.Ack: {
      const seq = reader.uint('ack seq');
      const flags = reader.flags('ack flags', FLAG_NACK);
      const updates = readUpdates(reader, limits);
      return { type, seq, nack: (flags & FLAG_NACK) !== 0, updates };
    }
    case MembershipMessageType.PingReq: {
      const seq = reader.uint('pingReq seq');
      const target = readNodeId(reader, 'pingReq target', limits);
      const targetAddress = readAddress(reader, 'pingReq targetAddress', limits);
      const requester = readNodeId(reader, 'pingReq requester', limits);
      const flags = reader.flags('pingReq flags', FLAG_NACK);
      const timeoutOffset = reader.pos;
      const timeoutMs = reader.uint('pingReq timeoutMs');
      if (timeoutMs > limits.maxTimeoutMs) reader.fail('too-large', `timeoutMs ${timeoutMs} exceeds ${limits.maxTimeoutMs}`, timeoutOffset);
      const updates = readUpdates(reader, limits);
      return { type, seq, target, targetAddress, requester, nack: (flags & FLAG_NACK) !== 0, timeoutMs, updates };
    }
    case MembershipMessageType.Alive:
    case MembershipMessageType.Suspect:
    case MembershipMessageType.Dead:
      return readUpdateBody(reader, type, limits);
    case MembershipMessageType.PushPull:
      return readPushPull(reader, limits);
    default:
      return reader.fail('unknown-message-type', `type ${type} is not a membership message type`, typeOffset);
  }
}

function readUpdateBody(reader: BinaryReader, type: 4 | 5 | 6, limits: MembershipCodecLimits): MembershipUpdate {
  const node = readNodeId(reader, 'update node', limits);
  const incarnation = reader.uint('update incarnation');
  if (type === MembershipMessageType.Alive) {
    const address = readAddress(reader, 'alive address', limits);
    const tags = readTags(reader, 'alive tags', limits);
    return { type, node, incarnation, address, tags };
  }
  const from = readNodeId(reader, 'update from', limits);
  return { type, node, incarnation, from };
}

function readUpdates(reader: BinaryReader, limits: MembershipCodecLimits): MembershipUpdate[] {
  const count = reader.count('update count', 'updates', limits.maxUpdatesPerMessage, UPDATE_BYTES_MIN);
  const updates: MembershipUpdate[] = [];
  for (let i = 0; i < count; i++) {
    const typeOffset = reader.pos;
    const type = reader.u8('update type');
    if (type !== MembershipMessageType.Alive && type !== MembershipMessageType.Suspect && type !== MembershipMessageType.Dead) {
      reader.fail('unknown-message-type', `type ${type} cannot be piggybacked (only Alive, Suspect, Dead)`, typeOffset);
    }
    updates.push(readUpdateBody(reader, type, limits));
  }
  return updates;
}

function readPushPull(reader: BinaryReader, limits: MembershipCodecLimits): PushPull {
  const flags = reader.flags('pushPull flags', FLAG_JOIN | FLAG_REPLY);
  const count = reader.count('member count', 'members', limits.maxMembersPerPushPull, MEMBER_RECORD_BYTES_MIN);
  const members: MemberRecord[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const nodeOffset = reader.pos;
    const node = readNodeId(reader, 'member node', limits);
    if (seen.has(node)) reader.fail('invalid-value', `node ${JSON.stringify(node)} is listed twice`, nodeOffset);
    seen.add(node);
    const address = readAddress(reader, 'member address', limits);
    const incarnation = reader.uint('member incarnation');
    const stateOffset = reader.pos;
    const state = reader.u8('member state');
    if (state > MemberState.Left) reader.fail('invalid-value', `state ${state} is not a MemberState`, stateOffset);
    const tags = readTags(reader, 'member tags', limits);
    members.push({ node, address, incarnation, state: state as MemberState, tags });
  }
  return { type: MembershipMessageType.PushPull, join: (flags & FLAG_JOIN) !== 0, reply: (flags & FLAG_REPLY) !== 0, members };
}

function readNodeId(reader: BinaryReader, field: string, limits: MembershipCodecLimits): string {
  const offset = reader.pos;
  const id = reader.string(field, limits.maxNodeIdBytes);
  if (id === '') reader.fail('invalid-value', `${field} is empty`, offset);
  return id;
}

function readAddress(reader: BinaryReader, field: string, limits: MembershipCodecLimits): string {
  return reader.string(field, limits.maxAddressBytes);
}

function readTags(reader: BinaryReader, field: string, limits: MembershipCodecLimits): Tags {
  const start = reader.pos;
  const count = reader.uint(`${field} count`);
  // Each pair takes at least three bytes: a one-byte key and an empty value.
  if (count * 3 > reader.remaining() || count * 3 > limits.maxTagsBytes) {
    reader.fail('count-out-of-bounds', `${count} tags cannot fit`, start);
  }
  const tags: Record<string, string> = {};
  let previous = '';
  for (let i = 0; i < count; i++) {
    const keyOffset = reader.pos;
    const key = reader.string(`${field} key`, limits.maxTagsBytes);
    if (key === '') reader.fail('invalid-value', `${field} has an empty key`, keyOffset);
    if (i > 0 && !(previous < key)) reader.fail('non-canonical', `${field} keys are not strictly ascending`, keyOffset);
    previous = key;
    // defineProperty: a key named "__proto__" is data, not the prototype.
    Object.defineProperty(tags, key, { value: reader.string(`${field} value`, limits.maxTagsBytes), enumerable: true, writable: true, configurable: true });
  }
  if (reader.pos - start > limits.maxTagsBytes) reader.fail('too-large', `${field} take ${reader.pos - start} bytes, over ${limits.maxTagsBytes}`, start);
  return tags;
}

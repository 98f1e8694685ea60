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
// bytes.
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

import { DecodeError, EncodeError } from './errors.ts';
import type { DecodeReason } from './errors.ts';

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

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------- public API

/** Encode one message. Throws EncodeError for a value that breaks a bound or would not decode back to itself. */
export function encodeMembershipMessage(message: MembershipMessage, limits: MembershipCodecLimits = DEFAULT_MEMBERSHIP_LIMITS): Uint8Array {
  const writer = new Writer(limits);
  writer.u8(MEMBERSHIP_CODEC_VERSION);
  writeMessage(writer, message);
  const bytes = writer.finish();
  if (bytes.length > limits.maxMessageBytes) {
    throw new EncodeError('too-large', 'message', `${bytes.length} bytes exceed the limit of ${limits.maxMessageBytes}`);
  }
  return bytes;
}

/** Decode one message. Any input yields a valid message that re-encodes to the same bytes, or throws DecodeError. */
export function decodeMembershipMessage(bytes: Uint8Array, limits: MembershipCodecLimits = DEFAULT_MEMBERSHIP_LIMITS): MembershipMessage {
  const reader = new Reader(bytes, limits);
  if (bytes.length > limits.maxMessageBytes) {
    reader.fail('too-large', `${bytes.length} bytes exceed the limit of ${limits.maxMessageBytes}`, 0);
  }
  const versionOffset = reader.pos;
  const version = reader.u8('the version byte');
  if (version !== MEMBERSHIP_CODEC_VERSION) {
    reader.fail('unknown-version', `codec version ${version} is not ${MEMBERSHIP_CODEC_VERSION}`, versionOffset);
  }
  const message = readMessage(reader);
  reader.finish();
  return message;
}

/** Encoded size of one update as it sits in a piggyback list (type byte included). The broadcast queue budgets with it. */
export function encodedUpdateSize(update: MembershipUpdate, limits: MembershipCodecLimits = DEFAULT_MEMBERSHIP_LIMITS): number {
  const writer = new Writer(limits);
  writeMessage(writer, update);
  return writer.finish().length;
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

function writeMessage(writer: Writer, message: MembershipMessage): void {
  switch (message.type) {
    case MembershipMessageType.Ping:
      writer.u8(message.type);
      writer.uint(message.seq, 'ping.seq');
      writer.nodeId(message.target, 'ping.target');
      writeUpdates(writer, message.updates, 'ping.updates');
      return;
    case MembershipMessageType.Ack:
      writer.u8(message.type);
      writer.uint(message.seq, 'ack.seq');
      writer.u8(message.nack ? FLAG_NACK : 0);
      writeUpdates(writer, message.updates, 'ack.updates');
      return;
    case MembershipMessageType.PingReq:
      writer.u8(message.type);
      writer.uint(message.seq, 'pingReq.seq');
      writer.nodeId(message.target, 'pingReq.target');
      writer.address(message.targetAddress, 'pingReq.targetAddress');
      writer.nodeId(message.requester, 'pingReq.requester');
      writer.u8(message.nack ? FLAG_NACK : 0);
      if (message.timeoutMs > writer.limits.maxTimeoutMs) {
        throw new EncodeError('too-large', 'pingReq.timeoutMs', `${message.timeoutMs} ms exceeds the limit of ${writer.limits.maxTimeoutMs}`);
      }
      writer.uint(message.timeoutMs, 'pingReq.timeoutMs');
      writeUpdates(writer, message.updates, 'pingReq.updates');
      return;
    case MembershipMessageType.Alive:
      writer.u8(message.type);
      writer.nodeId(message.node, 'alive.node');
      writer.uint(message.incarnation, 'alive.incarnation');
      writer.address(message.address, 'alive.address');
      writer.tags(message.tags, 'alive.tags');
      return;
    case MembershipMessageType.Suspect:
    case MembershipMessageType.Dead: {
      const field = message.type === MembershipMessageType.Suspect ? 'suspect' : 'dead';
      writer.u8(message.type);
      writer.nodeId(message.node, `${field}.node`);
      writer.uint(message.incarnation, `${field}.incarnation`);
      writer.nodeId(message.from, `${field}.from`);
      return;
    }
    case MembershipMessageType.PushPull:
      writePushPull(writer, message);
      return;
    default:
      throw new EncodeError('invalid-value', 'message.type', `${String((message as { type: unknown }).type)} is not a MembershipMessageType`);
  }
}

function writePushPull(writer: Writer, message: PushPull): void {
  const members = message.members;
  if (members.length > writer.limits.maxMembersPerPushPull) {
    throw new EncodeError('too-large', 'pushPull.members', `${members.length} members exceed the limit of ${writer.limits.maxMembersPerPushPull}`);
  }
  writer.u8(message.type);
  writer.u8((message.join ? FLAG_JOIN : 0) | (message.reply ? FLAG_REPLY : 0));
  writer.uint(members.length, 'pushPull.members.length');
  const seen = new Set<string>();
  for (const member of members) {
    if (seen.has(member.node)) throw new EncodeError('invalid-value', 'pushPull.members[].node', `node ${JSON.stringify(member.node)} is listed twice`);
    seen.add(member.node);
    writer.nodeId(member.node, 'pushPull.members[].node');
    writer.address(member.address, 'pushPull.members[].address');
    writer.uint(member.incarnation, 'pushPull.members[].incarnation');
    if (member.state !== 0 && member.state !== 1 && member.state !== 2 && member.state !== 3) {
      throw new EncodeError('invalid-value', 'pushPull.members[].state', `${String(member.state)} is not a MemberState`);
    }
    writer.u8(member.state);
    writer.tags(member.tags, 'pushPull.members[].tags');
  }
}

function writeUpdates(writer: Writer, updates: MembershipUpdate[], field: string): void {
  if (updates.length > writer.limits.maxUpdatesPerMessage) {
    throw new EncodeError('too-large', field, `${updates.length} updates exceed the limit of ${writer.limits.maxUpdatesPerMessage}`);
  }
  writer.uint(updates.length, `${field}.length`);
  for (const update of updates) {
    if (!isMembershipUpdate(update)) throw new EncodeError('invalid-value', `${field}[].type`, `${String((update as { type: unknown }).type)} is not an Alive, Suspect or Dead`);
    writeMessage(writer, update);
  }
}

/** A growable buffer; every write validates its value first. */
class Writer {
  readonly limits: MembershipCodecLimits;
  private buffer = new Uint8Array(128);
  private position = 0;

  constructor(limits: MembershipCodecLimits) {
    this.limits = limits;
  }

  private reserve(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.position + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.position));
    this.buffer = grown;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.position++] = value;
  }

  uint(value: number, field: string): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new EncodeError('invalid-number', field, `${value} is not a non-negative safe integer`);
    this.reserve(8);
    // Above 2^31 bit operators would truncate; divide until the value fits.
    while (value > 0x7fffffff) {
      this.buffer[this.position++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    while (value >= 0x80) {
      this.buffer[this.position++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buffer[this.position++] = value;
  }

  /** A length-prefixed UTF-8 string of at most `maxBytes`; returns its encoded size. */
  string(value: string, field: string, maxBytes: number): number {
    if (typeof value !== 'string') throw new EncodeError('invalid-value', field, `${String(value)} is not a string`);
    if (isAscii(value)) {
      // The common case (ids, addresses): no encoder call, no temporary.
      if (value.length > maxBytes) throw new EncodeError('too-large', field, `${value.length} UTF-8 bytes exceed the limit of ${maxBytes}`);
      const start = this.position;
      this.uint(value.length, field);
      this.reserve(value.length);
      for (let i = 0; i < value.length; i++) this.buffer[this.position++] = value.charCodeAt(i);
      return this.position - start;
    }
    if (hasLoneSurrogate(value)) throw new EncodeError('invalid-string', field, 'a lone UTF-16 surrogate has no UTF-8 form');
    const bytes = textEncoder.encode(value);
    if (bytes.length > maxBytes) throw new EncodeError('too-large', field, `${bytes.length} UTF-8 bytes exceed the limit of ${maxBytes}`);
    const start = this.position;
    this.uint(bytes.length, field);
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.position);
    this.position += bytes.length;
    return this.position - start;
  }

  nodeId(value: string, field: string): void {
    if (value === '') throw new EncodeError('invalid-value', field, 'the node id is empty');
    this.string(value, field, this.limits.maxNodeIdBytes);
  }

  address(value: string, field: string): void {
    this.string(value, field, this.limits.maxAddressBytes);
  }

  tags(tags: Tags, field: string): void {
    const keys = Object.keys(tags).sort();
    const start = this.position;
    this.uint(keys.length, `${field}.length`);
    for (const key of keys) {
      if (key === '') throw new EncodeError('invalid-value', field, 'a tag key is empty');
      const value = tags[key];
      if (typeof value !== 'string') throw new EncodeError('invalid-value', `${field}.${key}`, 'a tag value is not a string');
      this.string(key, `${field} key`, this.limits.maxTagsBytes);
      this.string(value, `${field}.${key}`, this.limits.maxTagsBytes);
    }
    const size = this.position - start;
    if (size > this.limits.maxTagsBytes) throw new EncodeError('too-large', field, `${size} bytes of tags exceed the limit of ${this.limits.maxTagsBytes}`);
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.position);
  }
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** A lone UTF-16 surrogate has no UTF-8 form: TextEncoder would silently turn it into U+FFFD. */
function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800 || code > 0xdfff) continue;
    if (code >= 0xdc00) return true;
    const next = text.charCodeAt(i + 1);
    if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
    i++;
  }
  return false;
}

// ---------------------------------------------------------------- reading

/** Smallest encoded member record: one-byte node id, empty address, incarnation, state, no tags. */
const MEMBER_RECORD_BYTES_MIN = 2 + 1 + 1 + 1 + 1;
/** Smallest encoded update: a Suspect with one-byte ids. */
const UPDATE_BYTES_MIN = 1 + 2 + 1 + 2;

function readMessage(reader: Reader): MembershipMessage {
  const typeOffset = reader.pos;
  const type = reader.u8('type');
  switch (type) {
    case MembershipMessageType.Ping: {
      const seq = reader.uint('ping seq');
      const target = reader.nodeId('ping target');
      const updates = readUpdates(reader);
      return { type, seq, target, updates };
    }
    case MembershipMessageType.Ack: {
      const seq = reader.uint('ack seq');
      const flags = reader.flags('ack flags', FLAG_NACK);
      const updates = readUpdates(reader);
      return { type, seq, nack: (flags & FLAG_NACK) !== 0, updates };
    }
    case MembershipMessageType.PingReq: {
      const seq = reader.uint('pingReq seq');
      const target = reader.nodeId('pingReq target');
      const targetAddress = reader.address('pingReq targetAddress');
      const requester = reader.nodeId('pingReq requester');
      const flags = reader.flags('pingReq flags', FLAG_NACK);
      const timeoutOffset = reader.pos;
      const timeoutMs = reader.uint('pingReq timeoutMs');
      if (timeoutMs > reader.limits.maxTimeoutMs) reader.fail('too-large', `timeoutMs ${timeoutMs} exceeds ${reader.limits.maxTimeoutMs}`, timeoutOffset);
      const updates = readUpdates(reader);
      return { type, seq, target, targetAddress, requester, nack: (flags & FLAG_NACK) !== 0, timeoutMs, updates };
    }
    case MembershipMessageType.Alive:
    case MembershipMessageType.Suspect:
    case MembershipMessageType.Dead:
      return readUpdateBody(reader, type);
    case MembershipMessageType.PushPull:
      return readPushPull(reader);
    default:
      return reader.fail('unknown-message-type', `type ${type} is not a membership message type`, typeOffset);
  }
}

function readUpdateBody(reader: Reader, type: 4 | 5 | 6): MembershipUpdate {
  const node = reader.nodeId('update node');
  const incarnation = reader.uint('update incarnation');
  if (type === MembershipMessageType.Alive) {
    const address = reader.address('alive address');
    const tags = reader.tags('alive tags');
    return { type, node, incarnation, address, tags };
  }
  const from = reader.nodeId('update from');
  return { type, node, incarnation, from };
}

function readUpdates(reader: Reader): MembershipUpdate[] {
  const countOffset = reader.pos;
  const count = reader.uint('update count');
  if (count > reader.limits.maxUpdatesPerMessage) {
    reader.fail('count-out-of-bounds', `${count} updates exceed the limit of ${reader.limits.maxUpdatesPerMessage}`, countOffset);
  }
  if (count * UPDATE_BYTES_MIN > reader.remaining()) {
    reader.fail('count-out-of-bounds', `${count} updates cannot fit in the ${reader.remaining()} bytes left`, countOffset);
  }
  const updates: MembershipUpdate[] = [];
  for (let i = 0; i < count; i++) {
    const typeOffset = reader.pos;
    const type = reader.u8('update type');
    if (type !== MembershipMessageType.Alive && type !== MembershipMessageType.Suspect && type !== MembershipMessageType.Dead) {
      reader.fail('unknown-message-type', `type ${type} cannot be piggybacked (only Alive, Suspect, Dead)`, typeOffset);
    }
    updates.push(readUpdateBody(reader, type));
  }
  return updates;
}

function readPushPull(reader: Reader): PushPull {
  const flags = reader.flags('pushPull flags', FLAG_JOIN | FLAG_REPLY);
  const countOffset = reader.pos;
  const count = reader.uint('member count');
  if (count > reader.limits.maxMembersPerPushPull) {
    reader.fail('count-out-of-bounds', `${count} members exceed the limit of ${reader.limits.maxMembersPerPushPull}`, countOffset);
  }
  if (count * MEMBER_RECORD_BYTES_MIN > reader.remaining()) {
    reader.fail('count-out-of-bounds', `${count} members cannot fit in the ${reader.remaining()} bytes left`, countOffset);
  }
  const members: MemberRecord[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const nodeOffset = reader.pos;
    const node = reader.nodeId('member node');
    if (seen.has(node)) reader.fail('invalid-value', `node ${JSON.stringify(node)} is listed twice`, nodeOffset);
    seen.add(node);
    const address = reader.address('member address');
    const incarnation = reader.uint('member incarnation');
    const stateOffset = reader.pos;
    const state = reader.u8('member state');
    if (state > MemberState.Left) reader.fail('invalid-value', `state ${state} is not a MemberState`, stateOffset);
    const tags = reader.tags('member tags');
    members.push({ node, address, incarnation, state: state as MemberState, tags });
  }
  return { type: MembershipMessageType.PushPull, join: (flags & FLAG_JOIN) !== 0, reply: (flags & FLAG_REPLY) !== 0, members };
}

class Reader {
  readonly buffer: Uint8Array;
  readonly limits: MembershipCodecLimits;
  pos = 0;

  constructor(buffer: Uint8Array, limits: MembershipCodecLimits) {
    this.buffer = buffer;
    this.limits = limits;
  }

  fail(reason: DecodeReason, detail: string, offset: number): never {
    throw new DecodeError(reason, 'membership message', detail, offset);
  }

  remaining(): number {
    return this.buffer.length - this.pos;
  }

  u8(field: string): number {
    if (this.pos >= this.buffer.length) this.fail('truncated', `input ends before ${field}`, this.pos);
    return this.buffer[this.pos++]!;
  }

  flags(field: string, known: number): number {
    const offset = this.pos;
    const flags = this.u8(field);
    if ((flags & ~known) !== 0) this.fail('invalid-value', `${field} 0x${flags.toString(16)} has unknown bits set`, offset);
    return flags;
  }

  /** A minimal LEB128 varint of at most 2^53 - 1. */
  uint(field: string): number {
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8(field);
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

  string(field: string, maxBytes: number): string {
    const lengthOffset = this.pos;
    const length = this.uint(`${field} length`);
    if (length > maxBytes) this.fail('too-large', `${field} declares ${length} bytes, over the limit of ${maxBytes}`, lengthOffset);
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

  nodeId(field: string): string {
    const offset = this.pos;
    const id = this.string(field, this.limits.maxNodeIdBytes);
    if (id === '') this.fail('invalid-value', `${field} is empty`, offset);
    return id;
  }

  address(field: string): string {
    return this.string(field, this.limits.maxAddressBytes);
  }

  tags(field: string): Tags {
    const start = this.pos;
    const count = this.uint(`${field} count`);
    // Each pair takes at least three bytes: a one-byte key and an empty value.
    if (count * 3 > this.remaining() || count * 3 > this.limits.maxTagsBytes) {
      this.fail('count-out-of-bounds', `${count} tags cannot fit`, start);
    }
    const tags: Record<string, string> = {};
    let previous = '';
    for (let i = 0; i < count; i++) {
      const keyOffset = this.pos;
      const key = this.string(`${field} key`, this.limits.maxTagsBytes);
      if (key === '') this.fail('invalid-value', `${field} has an empty key`, keyOffset);
      if (i > 0 && !(previous < key)) this.fail('non-canonical', `${field} keys are not strictly ascending`, keyOffset);
      previous = key;
      // defineProperty: a key named "__proto__" is data, not the prototype.
      Object.defineProperty(tags, key, { value: this.string(`${field} value`, this.limits.maxTagsBytes), enumerable: true, writable: true, configurable: true });
    }
    if (this.pos - start > this.limits.maxTagsBytes) this.fail('too-large', `${field} take ${this.pos - start} bytes, over ${this.limits.maxTagsBytes}`, start);
    return tags;
  }

  finish(): void {
    if (this.pos !== this.buffer.length) this.fail('trailing-bytes', `${this.buffer.length - this.pos} bytes left after a complete message`, this.pos);
  }
}

// Replicated-state commands: every change to the catalog, the KV store and
// sessions travels through the Raft log as one of these, and every replica's
// state machine (agent/state/) applies it in log order. Types, the binary codec
// and validation live here; what apply does is described on each type and
// implemented in agent/state/state-machine.ts.
//
//   const bytes = encodeStateCommand({ type: 'kvSet', nowMs: Date.now(), key: 'web/config', value, flags: 0 });
//   await raft.propose(bytes);                 // every replica: decodeStateCommand(bytes), then apply
//   const again = decodeStateCommand(bytes);   // throws DecodeError, nothing else
//
// Time. The state machine never reads a clock. Every command carries `nowMs`,
// the proposer's wall clock in Unix milliseconds; the leader stamps it when it
// proposes (a follower that forwards a write lets the leader re-stamp it).
// Session TTLs and lock-delay are computed from it, and the state machine keeps
// the largest `nowMs` seen so that its notion of time never runs backwards
// across a change of leader.
//
// Format (version 1). Numbers are minimal unsigned LEB128 varints of at most
// 2^53 - 1; strings are a varint byte length and UTF-8; byte strings a varint
// length and the bytes; booleans live in flags bytes whose unused bits must be
// zero; enumerations are one byte; maps are sorted by key with no duplicates.
// Every value has exactly one encoding, so anything the decoder accepts
// re-encodes to the same bytes.
//
//   command           version:u8 type:u8 nowMs body
//   kvSet             key value flags
//   kvCas             key value flags casIndex
//   kvDelete          key
//   kvDeleteTree      prefix
//   kvDeleteCas       key casIndex
//   kvLock, kvUnlock  key value flags session
//   txn               count op*
//   op                verb:u8 key value flags index session
//   catalogRegister   flags(1 skipNodeUpdate, 2 service present) node service? count check*
//   node              id name address datacenter taggedAddresses:map meta:map
//   service           id name count tag* address count (name address port)* meta:map port
//                     weightPassing weightWarning flags(1 enableTagOverride)
//   check             checkId name status:u8 notes output serviceId type definition
//   catalogDeregister node serviceId checkId
//   sessionCreate     id node name ttlMs lockDelayMs behavior:u8 count nodeCheck* count serviceCheck*
//   sessionDestroy, sessionRenew, sessionExpire    id
//   stateRestore      snapshot:bytes            (up to STATE_RESTORE_COMMAND_BYTES_MAX; every other command up to maxCommandBytes)
//   nodeHealth        node status:u8 output
//   map               count (key value)*          (keys non-empty, strictly ascending)

import { BinaryReader, GrowableBinaryWriter } from './binary.ts';
import type { ReaderDialect } from './binary.ts';
import { EncodeError } from './errors.ts';
import type { DecodeReason, EncodeReason } from './errors.ts';

/** The version byte that starts every encoded state command. Bump it when the layout changes. */
export const STATE_COMMAND_CODEC_VERSION = 1;

// ---------------------------------------------------------------- KV commands

/**
 * PUT /v1/kv/:key (optionally ?flags). Proposed by whichever agent took the request.
 * Apply: stores the value and flags, keeps the key's lock holder and LockIndex;
 * CreateIndex is set on creation, ModifyIndex only if something changed. Result: `true`.
 */
export type KvSet = { type: 'kvSet'; nowMs: number; key: string; value: Uint8Array; flags: number };

/**
 * PUT /v1/kv/:key?cas=N. Apply: like kvSet, but only if the key's ModifyIndex is
 * `casIndex`; `casIndex` 0 means "only if the key does not exist". Result: `true` or `false`.
 */
export type KvCas = { type: 'kvCas'; nowMs: number; key: string; value: Uint8Array; flags: number; casIndex: number };

/** DELETE /v1/kv/:key. Apply: removes the key if present (a lock on it goes with it). Result: `true`. */
export type KvDelete = { type: 'kvDelete'; nowMs: number; key: string };

/** DELETE /v1/kv/:prefix?recurse. Apply: removes every key starting with `prefix` ('' = all). Result: `true`. */
export type KvDeleteTree = { type: 'kvDeleteTree'; nowMs: number; prefix: string };

/**
 * DELETE /v1/kv/:key?cas=N. Apply: removes the key only if its ModifyIndex is `casIndex`.
 * Result: `true` if deleted or if the key did not exist (as Consul), else `false`.
 */
export type KvDeleteCas = { type: 'kvDeleteCas'; nowMs: number; key: string; casIndex: number };

/**
 * PUT /v1/kv/:key?acquire=SESSION. Apply: the session must exist (else a
 * rejection "invalid session"); fails (`false`) if another session holds the key
 * or the key is in lock-delay at `nowMs`; otherwise stores value and flags with
 * the session as holder. LockIndex grows by one only when the holder changes.
 */
export type KvLock = { type: 'kvLock'; nowMs: number; key: string; value: Uint8Array; flags: number; session: string };

/**
 * PUT /v1/kv/:key?release=SESSION. Apply: only if `session` holds the key
 * (else `false`): stores value and flags and clears the holder. No lock-delay:
 * a voluntary release frees the key at once.
 */
export type KvUnlock = { type: 'kvUnlock'; nowMs: number; key: string; value: Uint8Array; flags: number; session: string };

/** Consul's KV verbs in PUT /v1/txn (plus `get-or-empty` and `check-not-exists` of newer Consul). */
export const TXN_VERBS = [
  'set', 'cas', 'lock', 'unlock', 'get', 'get-or-empty', 'get-tree',
  'check-index', 'check-session', 'check-not-exists', 'delete', 'delete-tree', 'delete-cas',
] as const;
export type TxnVerb = (typeof TXN_VERBS)[number];

/**
 * One KV operation of a transaction, as Consul's `{"KV": {Verb, Key, Value, Flags, Index, Session}}`.
 * Fields a verb does not use are carried but ignored (Value and Flags by
 * set/cas/lock/unlock, Index by cas/check-index/delete-cas, Session by lock/unlock/check-session).
 * `key` is a prefix for get-tree and delete-tree and may then be empty.
 */
export type TxnOp = { verb: TxnVerb; key: string; value: Uint8Array; flags: number; index: number; session: string };

/**
 * PUT /v1/txn with at least one write (a read-only transaction is served from
 * the local replica without Raft). Apply: runs the operations in order, each
 * seeing the effects of the previous ones; if any fails, none takes effect and
 * the result lists every failure with its operation index, as Consul's
 * `{"Results": null, "Errors": [{"OpIndex", "What"}]}`.
 */
export type Txn = { type: 'txn'; nowMs: number; ops: TxnOp[] };

// ---------------------------------------------------------------- catalog commands

export const CHECK_STATUSES = ['passing', 'warning', 'critical'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** A node as registered: Consul's register body without the service and checks. */
export type CatalogNode = {
  /** The node's UUID, or '' when the registrant has none. */
  id: string;
  node: string;
  address: string;
  datacenter: string;
  /** e.g. { lan: '10.0.0.1', wan: '198.51.100.1' } */
  taggedAddresses: Record<string, string>;
  meta: Record<string, string>;
};

export type ServiceAddress = { address: string; port: number };

/** A service instance as registered (Consul's `Service` object, `ID` already defaulted to the name). */
export type CatalogService = {
  id: string;
  service: string;
  tags: string[];
  address: string;
  taggedAddresses: Record<string, ServiceAddress>;
  meta: Record<string, string>;
  port: number;
  /** DNS SRV weights by health: Consul's default { passing: 1, warning: 1 }. */
  weights: { passing: number; warning: number };
  enableTagOverride: boolean;
};

/** A health check as registered. `checkId` already defaulted to the name, `status` to critical. */
export type CatalogCheck = {
  checkId: string;
  name: string;
  status: CheckStatus;
  notes: string;
  output: string;
  /** The service instance on the same node the check belongs to, or '' for a node check. */
  serviceId: string;
  /** 'http', 'tcp', 'ttl', 'script', 'serf'... informational. */
  type: string;
  /** Consul's `Definition` object as JSON text (HTTP, TCP, Interval, Timeout...), or ''. */
  definition: string;
};

/**
 * PUT /v1/catalog/register, and the agents' anti-entropy sync of their own node.
 * Apply: upserts the node (unless `skipNodeUpdate` and it exists), the service
 * and the checks, all or nothing: a check naming a service that is neither in
 * this request nor already on the node rejects the whole command ("Missing
 * service registration"). A check written as critical invalidates the sessions
 * bound to it. Records that did not change keep their ModifyIndex. Result: `true`.
 */
export type CatalogRegister = {
  type: 'catalogRegister';
  nowMs: number;
  node: CatalogNode;
  skipNodeUpdate: boolean;
  service: CatalogService | null;
  checks: CatalogCheck[];
};

/**
 * PUT /v1/catalog/deregister, anti-entropy, and the leader's reconciler for
 * members that left. Apply, by precedence as Consul: `serviceId` set → that
 * service and its checks; else `checkId` set → that check; else the whole node
 * with its services and checks. Sessions bound to a removed check, or all the
 * node's sessions when the node goes, are invalidated. Removing something
 * absent is not an error. Result: `true`.
 */
export type CatalogDeregister = { type: 'catalogDeregister'; nowMs: number; node: string; serviceId: string; checkId: string };

/**
 * The leader's reconciler, from gossip: the `serfHealth` check of `node`
 * (created if missing). Critical invalidates every session bound to it, which
 * by default is every session of the node. Apply rejects an unknown node
 * ("Missing node registration"); the reconciler registers alive members with
 * catalogRegister first. Result: `true` if the check changed, `false` if it already had this status and output.
 */
export type NodeHealth = { type: 'nodeHealth'; nowMs: number; node: string; status: 'passing' | 'critical'; output: string };

// ---------------------------------------------------------------- session commands

export const SESSION_BEHAVIORS = ['release', 'delete'] as const;
export type SessionBehavior = (typeof SESSION_BEHAVIORS)[number];

/**
 * PUT /v1/session/create. The proposer picks the id (a random UUID) so that
 * replicas agree without randomness. Apply: the node must be registered and
 * every listed check must exist on it and not be critical (Consul's messages);
 * a TTL session expires at nowMs + 2 × TTL unless renewed (Consul's grace
 * multiplier). Result: `{ ID }`.
 */
export type SessionCreate = {
  type: 'sessionCreate';
  nowMs: number;
  id: string;
  node: string;
  name: string;
  /** 0 = no TTL, else 10 s to 24 h. */
  ttlMs: number;
  /** 0 to 60 s; the HTTP layer defaults it to 15 s. */
  lockDelayMs: number;
  behavior: SessionBehavior;
  /** Node-level check ids (Consul's `NodeChecks`, and the legacy `Checks`); the HTTP layer defaults them to ['serfHealth']. */
  nodeChecks: string[];
  /** Service-level check ids on the same node (Consul's `ServiceChecks[].ID`). */
  serviceChecks: string[];
};

/**
 * PUT /v1/session/destroy/:id. Apply: invalidates the session: its locks are
 * released (behavior release) or its keys deleted (behavior delete), and those
 * keys stay in lock-delay until nowMs + LockDelay. Result: `true` (also for an unknown session, as Consul).
 */
export type SessionDestroy = { type: 'sessionDestroy'; nowMs: number; id: string };

/**
 * PUT /v1/session/renew/:id. Apply: pushes a TTL session's expiry to nowMs + 2 × TTL.
 * Result: the session, or a rejection for an unknown session (HTTP 404).
 */
export type SessionRenew = { type: 'sessionRenew'; nowMs: number; id: string };

/**
 * The leader, when its timer for a TTL session fires (it reads the replicated
 * expiry, so a new leader carries on where the old one stopped). Apply:
 * invalidates the session as sessionDestroy does, but only if it still exists
 * and its expiry is at or before nowMs — a renewal committed in between wins.
 * Result: `true` if the session was invalidated.
 */
export type SessionExpire = { type: 'sessionExpire'; nowMs: number; id: string };

// ---------------------------------------------------------------- restore

/**
 * PUT /v1/snapshot: replace the whole replicated state with a snapshot's. The
 * agent that took the request verified the file (checksum, full decode, a
 * trial load) before proposing; the leader proposes it as one entry, so every
 * replica replaces its state at the same index. `snapshot` is the state
 * machine's own snapshot encoding (agent/state/snapshot.ts), without the
 * file's header. Apply: decodes it (a rejection "invalid-command", nothing
 * changed, if it does not decode) and loads it with every Raft index in it
 * (CreateIndex, ModifyIndex, scope indexes) set to this entry's index, so
 * that indexes only move forward, every blocking query wakes, and no `?cas`
 * made with an index from before the restore can succeed; LockIndex, lock
 * holders, lock-delays and session expiries are kept. Result: `true`.
 */
export type StateRestore = { type: 'stateRestore'; nowMs: number; snapshot: Uint8Array };

/**
 * Largest restore command. A restore is one Raft entry, and the leader sends
 * an entry that large alone in one Append (Raft's maxSizePerMsg only bounds
 * how many entries share a message), so this must fit one frame of the Raft
 * transport (agent/consensus/mesh-raft-transport.ts, maxFrameBytes 8 MiB,
 * below raft-codec's 16 MiB message limit) with room for the frame and
 * message headers. Raising it means raising those limits first. The
 * snapshot inside is deflated: 8 MiB holds tens of MiB of state.
 */
export const STATE_RESTORE_COMMAND_BYTES_MAX = 8 * 1024 * 1024 - 64 * 1024;

export type StateCommand =
  | KvSet | KvCas | KvDelete | KvDeleteTree | KvDeleteCas | KvLock | KvUnlock | Txn
  | CatalogRegister | CatalogDeregister | NodeHealth
  | SessionCreate | SessionDestroy | SessionRenew | SessionExpire
  | StateRestore;
export type StateCommandType = StateCommand['type'];

/** Type byte of each command on the wire: its position in this list plus one. Append only. */
export const STATE_COMMAND_TYPES = [
  'kvSet', 'kvCas', 'kvDelete', 'kvDeleteTree', 'kvDeleteCas', 'kvLock', 'kvUnlock', 'txn',
  'catalogRegister', 'catalogDeregister', 'nodeHealth',
  'sessionCreate', 'sessionDestroy', 'sessionRenew', 'sessionExpire',
  'stateRestore',
] as const satisfies readonly StateCommandType[];

// ---------------------------------------------------------------- limits

/** Bounds the decoder enforces and the encoder respects: no proposer can make a replica allocate without limit. */
export type StateCommandLimits = {
  /** Largest encoded command. A txn of 128 operations with its values is the largest. */
  maxCommandBytes: number;
  /** Longest KV key in UTF-8 bytes. Consul sets none; 512 bytes holds any path a tool generates and bounds the index memory. */
  maxKeyBytes: number;
  /** Largest KV value: Consul's kv_max_value_size default, 512 KiB. */
  maxValueBytes: number;
  /** Most operations in one txn (Consul's limit since 1.x: 128). */
  maxTxnOps: number;
  /** Sum of the values of one txn: Consul's txn_max_req_len default, 512 KiB. */
  maxTxnValueBytes: number;
  /** Node names, service names and ids, check ids and names, tags, session names, datacenters. */
  maxNameBytes: number;
  /** Addresses (IP or host name). */
  maxAddressBytes: number;
  /** Most pairs in a meta map (Consul's metaMaxKeyPairs: 64). */
  maxMetaPairs: number;
  /** Longest meta key (Consul: 128) and value (Consul: 512). */
  maxMetaKeyBytes: number;
  maxMetaValueBytes: number;
  /** Most tags on a service instance. */
  maxTags: number;
  /** Most tagged addresses on a node or service. */
  maxTaggedAddresses: number;
  /** Most checks in one catalogRegister. */
  maxChecksPerRegister: number;
  /** Check notes, output and definition: Consul truncates check output at 4 KiB. */
  maxCheckTextBytes: number;
  /** Most checks a session is bound to. */
  maxSessionChecks: number;
};

/** 1 MiB commands, 512-byte keys, 512 KiB values, 128-op txns (512 KiB of values), 256-byte names, 4 KiB check text. */
export const DEFAULT_STATE_COMMAND_LIMITS: Readonly<StateCommandLimits> = Object.freeze({
  maxCommandBytes: 1024 * 1024,
  maxKeyBytes: 512,
  maxValueBytes: 512 * 1024,
  maxTxnOps: 128,
  maxTxnValueBytes: 512 * 1024,
  maxNameBytes: 256,
  maxAddressBytes: 256,
  maxMetaPairs: 64,
  maxMetaKeyBytes: 128,
  maxMetaValueBytes: 512,
  maxTags: 64,
  maxTaggedAddresses: 16,
  maxChecksPerRegister: 64,
  maxCheckTextBytes: 4096,
  maxSessionChecks: 32,
});

/** Consul's session TTL bounds: 10 s to 24 h (0 = no TTL). */
export const SESSION_TTL_MS_MIN = 10_000;
export const SESSION_TTL_MS_MAX = 86_400_000;
/** Consul's maximum lock-delay: 60 s. */
export const LOCK_DELAY_MS_MAX = 60_000;
/** The id of the check the leader writes from gossip, and the default session check. */
export const SERF_HEALTH_CHECK_ID = 'serfHealth';

// ---------------------------------------------------------------- field rules shared by encoder and decoder

type Problem = { reason: 'invalid-value' | 'too-large'; detail: string } | null;

const UUID_LOWER = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_ANY_CASE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A KV key: not empty (unless a prefix), no leading '/' (Consul clients strip it; a key that keeps one is a client bug). */
export function kvKeyProblem(key: string, isPrefix: boolean): Problem {
  if (key === '') return isPrefix ? null : { reason: 'invalid-value', detail: 'the key is empty' };
  if (key.charCodeAt(0) === 0x2f) return { reason: 'invalid-value', detail: `key ${JSON.stringify(key)} starts with '/'` };
  return null;
}

/** A session id: a lowercase UUID as the HTTP layer generates; '' only where the verb allows "no session". */
export function sessionIdProblem(id: string, allowEmpty: boolean): Problem {
  if (id === '' && allowEmpty) return null;
  return UUID_LOWER.test(id) ? null : { reason: 'invalid-value', detail: `session ${JSON.stringify(id)} is not a lowercase UUID` };
}

function nonEmptyProblem(value: string, what: string): Problem {
  return value === '' ? { reason: 'invalid-value', detail: `${what} is empty` } : null;
}

function nodeIdProblem(id: string): Problem {
  return id === '' || UUID_ANY_CASE.test(id) ? null : { reason: 'invalid-value', detail: `node ID ${JSON.stringify(id)} is not a UUID` };
}

function definitionProblem(text: string): Problem {
  if (text === '') return null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return null;
  } catch {
    // fall through
  }
  return { reason: 'invalid-value', detail: 'the check definition is not a JSON object' };
}

function ttlProblem(ttlMs: number): Problem {
  if (ttlMs === 0 || (ttlMs >= SESSION_TTL_MS_MIN && ttlMs <= SESSION_TTL_MS_MAX)) return null;
  return { reason: 'invalid-value', detail: `TTL ${ttlMs} ms is outside 10s..24h` };
}

function upTo(limit: number, what: string): (value: number) => Problem {
  return (value) => (value <= limit ? null : { reason: 'too-large', detail: `${what} ${value} exceeds ${limit}` });
}

const portProblem = upTo(65_535, 'port');
const lockDelayProblem = upTo(LOCK_DELAY_MS_MAX, 'lock-delay (ms)');
function weightPassingProblem(weight: number): Problem {
  return weight >= 1 && weight <= 65_535 ? null : { reason: 'invalid-value', detail: `passing weight ${weight} is outside 1..65535` };
}

// ---------------------------------------------------------------- public API

/** Encode one command. Throws EncodeError for a value that breaks a rule or would not decode back to itself. */
export function encodeStateCommand(command: StateCommand, limits: StateCommandLimits = DEFAULT_STATE_COMMAND_LIMITS): Uint8Array {
  const writer = new StateWriter(limits);
  writer.u8(STATE_COMMAND_CODEC_VERSION);
  writeCommand(writer, command);
  const bytes = writer.finish();
  const maxBytes = commandBytesMax(command.type === 'stateRestore' ? RESTORE_TYPE_CODE : 0, limits);
  if (bytes.length > maxBytes) {
    throw new EncodeError('too-large', 'command', `${bytes.length} bytes exceed the limit of ${maxBytes}`);
  }
  return bytes;
}

/** Decode one command. Any input yields a valid command that re-encodes to the same bytes, or throws DecodeError. */
export function decodeStateCommand(bytes: Uint8Array, limits: StateCommandLimits = DEFAULT_STATE_COMMAND_LIMITS): StateCommand {
  const reader = new StateReader(bytes, limits, 'state command');
  const maxBytes = commandBytesMax(bytes[1] ?? 0, limits);
  if (bytes.length > maxBytes) {
    reader.fail('too-large', `${bytes.length} bytes exceed the limit of ${maxBytes}`, 0);
  }
  reader.version(STATE_COMMAND_CODEC_VERSION);
  const command = readCommand(reader);
  reader.finish();
  return command;
}

/** The type byte of stateRestore, the one command allowed beyond maxCommandBytes. */
const RESTORE_TYPE_CODE = STATE_COMMAND_TYPES.indexOf('stateRestore') + 1;

/** Largest encoding of a command of type byte `typeCode`. */
function commandBytesMax(typeCode: number, limits: StateCommandLimits): number {
  return typeCode === RESTORE_TYPE_CODE ? Math.max(limits.maxCommandBytes, STATE_RESTORE_COMMAND_BYTES_MAX) : limits.maxCommandBytes;
}

/** Whether a txn operation writes (a transaction without any is served locally, without Raft). */
export function isWriteVerb(verb: TxnVerb): boolean {
  return verb === 'set' || verb === 'cas' || verb === 'lock' || verb === 'unlock' ||
    verb === 'delete' || verb === 'delete-tree' || verb === 'delete-cas';
}

// ---------------------------------------------------------------- writing

function writeCommand(writer: StateWriter, command: StateCommand): void {
  const typeCode = (STATE_COMMAND_TYPES as readonly string[]).indexOf((command as { type: unknown }).type as string);
  if (typeCode < 0) throw new EncodeError('invalid-value', 'type', `${String((command as { type: unknown }).type)} is not a state command type`);
  writer.u8(typeCode + 1);
  writer.uint(command.nowMs, 'nowMs');
  const limits = writer.limits;
  switch (command.type) {
    case 'kvSet':
      writer.key(command.key, 'key', false);
      writer.bytes(command.value, 'value', limits.maxValueBytes);
      writer.uint(command.flags, 'flags');
      return;
    case 'kvCas':
      writer.key(command.key, 'key', false);
      writer.bytes(command.value, 'value', limits.maxValueBytes);
      writer.uint(command.flags, 'flags');
      writer.uint(command.casIndex, 'casIndex');
      return;
    case 'kvDelete':
      writer.key(command.key, 'key', false);
      return;
    case 'kvDeleteTree':
      writer.key(command.prefix, 'prefix', true);
      return;
    case 'kvDeleteCas':
      writer.key(command.key, 'key', false);
      writer.uint(command.casIndex, 'casIndex');
      return;
    case 'kvLock':
    case 'kvUnlock':
      writer.key(command.key, 'key', false);
      writer.bytes(command.value, 'value', limits.maxValueBytes);
      writer.uint(command.flags, 'flags');
      writer.checked(command.session, 'session', limits.maxNameBytes, sessionIdProblem(command.session, false));
      return;
    case 'txn':
      writeTxn(writer, command);
      return;
    case 'catalogRegister':
      writeRegister(writer, command);
      return;
    case 'catalogDeregister':
      writer.name(command.node, 'node');
      writer.string(command.serviceId, 'serviceId', limits.maxNameBytes);
      writer.string(command.checkId, 'checkId', limits.maxNameBytes);
      return;
    case 'nodeHealth':
      writer.name(command.node, 'node');
      if (command.status !== 'passing' && command.status !== 'critical') throw new EncodeError('invalid-value', 'status', `${String(command.status)} is not passing or critical`);
      writer.enumeration(command.status, 'status', CHECK_STATUSES);
      writer.string(command.output, 'output', limits.maxCheckTextBytes);
      return;
    case 'sessionCreate':
      writer.checked(command.id, 'id', limits.maxNameBytes, sessionIdProblem(command.id, false));
      writer.name(command.node, 'node');
      writer.string(command.name, 'name', limits.maxNameBytes);
      writer.number(command.ttlMs, 'ttlMs', ttlProblem);
      writer.number(command.lockDelayMs, 'lockDelayMs', lockDelayProblem);
      writer.enumeration(command.behavior, 'behavior', SESSION_BEHAVIORS);
      writer.nameList(command.nodeChecks, 'nodeChecks', limits.maxSessionChecks);
      writer.nameList(command.serviceChecks, 'serviceChecks', limits.maxSessionChecks);
      return;
    case 'sessionDestroy':
    case 'sessionRenew':
    case 'sessionExpire':
      writer.checked(command.id, 'id', limits.maxNameBytes, sessionIdProblem(command.id, false));
      return;
    case 'stateRestore':
      if (!(command.snapshot instanceof Uint8Array) || command.snapshot.length === 0) throw new EncodeError('invalid-value', 'snapshot', 'a restore needs a snapshot');
      writer.bytes(command.snapshot, 'snapshot', STATE_RESTORE_COMMAND_BYTES_MAX);
      return;
    default:
      throw new EncodeError('invalid-value', 'type', `${String((command as { type: unknown }).type)} is not a state command type`);
  }
}

function writeTxn(writer: StateWriter, command: Txn): void {
  const limits = writer.limits;
  if (!Array.isArray(command.ops)) throw new EncodeError('invalid-value', 'ops', 'not an array');
  if (command.ops.length === 0) throw new EncodeError('invalid-value', 'ops', 'a transaction needs at least one operation');
  if (command.ops.length > limits.maxTxnOps) throw new EncodeError('too-large', 'ops', `${command.ops.length} operations exceed the limit of ${limits.maxTxnOps}`);
  writer.uint(command.ops.length, 'ops.length');
  let valueBytes = 0;
  for (const op of command.ops) {
    writer.enumeration(op.verb, 'ops[].verb', TXN_VERBS);
    writer.key(op.key, 'ops[].key', op.verb === 'get-tree' || op.verb === 'delete-tree');
    writer.bytes(op.value, 'ops[].value', limits.maxValueBytes);
    valueBytes += op.value.length;
    writer.uint(op.flags, 'ops[].flags');
    writer.uint(op.index, 'ops[].index');
    const sessionRequired = op.verb === 'lock' || op.verb === 'unlock';
    writer.checked(op.session, 'ops[].session', limits.maxNameBytes, sessionIdProblem(op.session, !sessionRequired));
  }
  if (valueBytes > limits.maxTxnValueBytes) throw new EncodeError('too-large', 'ops[].value', `${valueBytes} value bytes exceed the limit of ${limits.maxTxnValueBytes}`);
}

const REGISTER_SKIP_NODE_UPDATE = 1;
const REGISTER_HAS_SERVICE = 2;
const SERVICE_ENABLE_TAG_OVERRIDE = 1;

function writeRegister(writer: StateWriter, command: CatalogRegister): void {
  const limits = writer.limits;
  writer.u8((command.skipNodeUpdate ? REGISTER_SKIP_NODE_UPDATE : 0) | (command.service ? REGISTER_HAS_SERVICE : 0));
  const node = command.node;
  writer.checked(node.id, 'node.id', limits.maxNameBytes, nodeIdProblem(node.id));
  writer.name(node.node, 'node.node');
  writer.checked(node.address, 'node.address', limits.maxAddressBytes,
    node.address === '' && !command.skipNodeUpdate ? { reason: 'invalid-value', detail: 'an address is required unless SkipNodeUpdate is set' } : null);
  writer.string(node.datacenter, 'node.datacenter', limits.maxNameBytes);
  writer.stringMap(node.taggedAddresses, 'node.taggedAddresses', limits.maxTaggedAddresses, limits.maxNameBytes, limits.maxAddressBytes);
  writer.stringMap(node.meta, 'node.meta', limits.maxMetaPairs, limits.maxMetaKeyBytes, limits.maxMetaValueBytes);
  if (command.service) writeService(writer, command.service);
  if (!Array.isArray(command.checks)) throw new EncodeError('invalid-value', 'checks', 'not an array');
  if (command.checks.length > limits.maxChecksPerRegister) {
    throw new EncodeError('too-large', 'checks', `${command.checks.length} checks exceed the limit of ${limits.maxChecksPerRegister}`);
  }
  writer.uint(command.checks.length, 'checks.length');
  const seen = new Set<string>();
  for (const check of command.checks) {
    if (seen.has(check.checkId)) throw new EncodeError('invalid-value', 'checks[].checkId', `check ${JSON.stringify(check.checkId)} is listed twice`);
    seen.add(check.checkId);
    writer.name(check.checkId, 'checks[].checkId');
    writer.string(check.name, 'checks[].name', limits.maxNameBytes);
    writer.enumeration(check.status, 'checks[].status', CHECK_STATUSES);
    writer.string(check.notes, 'checks[].notes', limits.maxCheckTextBytes);
    writer.string(check.output, 'checks[].output', limits.maxCheckTextBytes);
    writer.string(check.serviceId, 'checks[].serviceId', limits.maxNameBytes);
    writer.string(check.type, 'checks[].type', limits.maxNameBytes);
    writer.checked(check.definition, 'checks[].definition', limits.maxCheckTextBytes, definitionProblem(check.definition));
  }
}

function writeService(writer: StateWriter, service: CatalogService): void {
  const limits = writer.limits;
  writer.name(service.id, 'service.id');
  writer.name(service.service, 'service.service');
  writer.nameList(service.tags, 'service.tags', limits.maxTags, true);
  writer.string(service.address, 'service.address', limits.maxAddressBytes);
  const names = sortedKeys(service.taggedAddresses, 'service.taggedAddresses');
  if (names.length > limits.maxTaggedAddresses) throw new EncodeError('too-large', 'service.taggedAddresses', `${names.length} entries exceed the limit of ${limits.maxTaggedAddresses}`);
  writer.uint(names.length, 'service.taggedAddresses.length');
  for (const name of names) {
    const address = service.taggedAddresses[name]!;
    writer.name(name, 'service.taggedAddresses key');
    writer.string(address.address, `service.taggedAddresses.${name}.address`, limits.maxAddressBytes);
    writer.number(address.port, `service.taggedAddresses.${name}.port`, portProblem);
  }
  writer.stringMap(service.meta, 'service.meta', limits.maxMetaPairs, limits.maxMetaKeyBytes, limits.maxMetaValueBytes);
  writer.number(service.port, 'service.port', portProblem);
  writer.number(service.weights.passing, 'service.weights.passing', weightPassingProblem);
  writer.number(service.weights.warning, 'service.weights.warning', upTo(65_535, 'warning weight'));
  writer.u8(service.enableTagOverride ? SERVICE_ENABLE_TAG_OVERRIDE : 0);
}

function sortedKeys(map: Record<string, unknown>, field: string): string[] {
  if (map === null || typeof map !== 'object') throw new EncodeError('invalid-value', field, 'not an object');
  return Object.keys(map).sort();
}

/** This codec's wording of decode errors, unchanged since it had its own reader. */
const STATE_DIALECT: ReaderDialect = Object.freeze({
  truncatedVarint: 'before',
  limitName: 'limit',
  trailingBytes: 'bytes after the end',
});

/**
 * A growable buffer; every write validates its value first. Exported for the
 * state snapshot codec (agent/state/), which shares the field encodings.
 */
export class StateWriter {
  readonly limits: StateCommandLimits;
  private readonly out: GrowableBinaryWriter;

  /** `capacityBytes`: the expected size, when the caller knows it (a snapshot), to avoid regrowing. */
  constructor(limits: StateCommandLimits = DEFAULT_STATE_COMMAND_LIMITS, capacityBytes = 256) {
    this.limits = limits;
    this.out = new GrowableBinaryWriter(capacityBytes);
  }

  u8(value: number): void {
    this.out.u8(value);
  }

  uint(value: number, field: string): void {
    this.out.checkedUint(value, field);
  }

  /** A number with a rule beyond "non-negative safe integer". */
  number(value: number, field: string, rule: (value: number) => Problem): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new EncodeError('invalid-number', field, `${value} is not a non-negative safe integer`);
    const problem = rule(value);
    if (problem) throw new EncodeError(problem.reason, field, problem.detail);
    this.uint(value, field);
  }

  bytes(value: Uint8Array, field: string, maxBytes: number): void {
    this.out.checkedBytes(value, field, maxBytes);
  }

  string(value: string, field: string, maxBytes: number): void {
    this.out.checkedString(value, field, maxBytes);
  }

  /** A string with a rule; `problem` is the rule's verdict on `value`. */
  checked(value: string, field: string, maxBytes: number, problem: Problem): void {
    if (typeof value !== 'string') throw new EncodeError('invalid-value', field, `${String(value)} is not a string`);
    if (problem) throw new EncodeError(problem.reason, field, problem.detail);
    this.string(value, field, maxBytes);
  }

  key(value: string, field: string, isPrefix: boolean): void {
    if (typeof value !== 'string') throw new EncodeError('invalid-value', field, `${String(value)} is not a string`);
    this.checked(value, field, this.limits.maxKeyBytes, kvKeyProblem(value, isPrefix));
  }

  /** A non-empty identifier of at most maxNameBytes. */
  name(value: string, field: string): void {
    if (typeof value !== 'string') throw new EncodeError('invalid-value', field, `${String(value)} is not a string`);
    this.checked(value, field, this.limits.maxNameBytes, nonEmptyProblem(value, field));
  }

  nameList(values: string[], field: string, maxCount: number, allowDuplicates = false): void {
    if (!Array.isArray(values)) throw new EncodeError('invalid-value', field, 'not an array');
    if (values.length > maxCount) throw new EncodeError('too-large', field, `${values.length} entries exceed the limit of ${maxCount}`);
    if (!allowDuplicates && new Set(values).size !== values.length) throw new EncodeError('invalid-value', field, 'an entry is listed twice');
    this.uint(values.length, `${field}.length`);
    for (const value of values) this.name(value, `${field}[]`);
  }

  enumeration<T extends string>(value: T, field: string, names: readonly string[]): void {
    const code = names.indexOf(value);
    if (code < 0) throw new EncodeError('invalid-value', field, `${String(value)} is not one of ${names.join(', ')}`);
    this.u8(code);
  }

  stringMap(map: Record<string, string>, field: string, maxPairs: number, maxKeyBytes: number, maxValueBytes: number): void {
    const keys = sortedKeys(map, field);
    if (keys.length > maxPairs) throw new EncodeError('too-large', field, `${keys.length} pairs exceed the limit of ${maxPairs}`);
    this.uint(keys.length, `${field}.length`);
    for (const key of keys) {
      this.checked(key, `${field} key`, maxKeyBytes, nonEmptyProblem(key, `${field} key`));
      this.string(map[key]!, `${field}.${key}`, maxValueBytes);
    }
  }

  finish(): Uint8Array {
    return this.out.finish();
  }
}

// ---------------------------------------------------------------- reading

function readCommand(reader: StateReader): StateCommand {
  const typeOffset = reader.pos;
  const typeCode = reader.u8('type');
  const type = STATE_COMMAND_TYPES[typeCode - 1];
  if (type === undefined) reader.fail('unknown-message-type', `type ${typeCode} is not a state command type`, typeOffset);
  const nowMs = reader.uint('nowMs');
  const limits = reader.limits;
  switch (type) {
    case 'kvSet': {
      const key = reader.key('key', false);
      const value = reader.bytes('value', limits.maxValueBytes);
      return { type, nowMs, key, value, flags: reader.uint('flags') };
    }
    case 'kvCas': {
      const key = reader.key('key', false);
      const value = reader.bytes('value', limits.maxValueBytes);
      const flags = reader.uint('flags');
      return { type, nowMs, key, value, flags, casIndex: reader.uint('casIndex') };
    }
    case 'kvDelete':
      return { type, nowMs, key: reader.key('key', false) };
    case 'kvDeleteTree':
      return { type, nowMs, prefix: reader.key('prefix', true) };
    case 'kvDeleteCas': {
      const key = reader.key('key', false);
      return { type, nowMs, key, casIndex: reader.uint('casIndex') };
    }
    case 'kvLock':
    case 'kvUnlock': {
      const key = reader.key('key', false);
      const value = reader.bytes('value', limits.maxValueBytes);
      const flags = reader.uint('flags');
      const session = reader.checked('session', limits.maxNameBytes, (id) => sessionIdProblem(id, false));
      return { type, nowMs, key, value, flags, session };
    }
    case 'txn':
      return { type, nowMs, ops: readTxnOps(reader) };
    case 'catalogRegister':
      return readRegister(reader, nowMs);
    case 'catalogDeregister': {
      const node = reader.name('node');
      const serviceId = reader.string('serviceId', limits.maxNameBytes);
      const checkId = reader.string('checkId', limits.maxNameBytes);
      return { type, nowMs, node, serviceId, checkId };
    }
    case 'nodeHealth': {
      const node = reader.name('node');
      const statusOffset = reader.pos;
      const status = reader.enumeration('status', CHECK_STATUSES);
      if (status === 'warning') reader.fail('invalid-value', 'nodeHealth status must be passing or critical', statusOffset);
      return { type, nowMs, node, status, output: reader.string('output', limits.maxCheckTextBytes) };
    }
    case 'sessionCreate': {
      const id = reader.checked('id', limits.maxNameBytes, (value) => sessionIdProblem(value, false));
      const node = reader.name('node');
      const name = reader.string('name', limits.maxNameBytes);
      const ttlMs = reader.number('ttlMs', ttlProblem);
      const lockDelayMs = reader.number('lockDelayMs', lockDelayProblem);
      const behavior = reader.enumeration('behavior', SESSION_BEHAVIORS);
      const nodeChecks = reader.nameList('nodeChecks', limits.maxSessionChecks);
      const serviceChecks = reader.nameList('serviceChecks', limits.maxSessionChecks);
      return { type, nowMs, id, node, name, ttlMs, lockDelayMs, behavior, nodeChecks, serviceChecks };
    }
    case 'sessionDestroy':
    case 'sessionRenew':
    case 'sessionExpire':
      return { type, nowMs, id: reader.checked('id', limits.maxNameBytes, (value) => sessionIdProblem(value, false)) };
    case 'stateRestore': {
      const offset = reader.pos;
      const snapshot = reader.bytes('snapshot', STATE_RESTORE_COMMAND_BYTES_MAX);
      if (snapshot.length === 0) reader.fail('invalid-value', 'a restore needs a snapshot', offset);
      return { type, nowMs, snapshot };
    }
  }
}

/** Smallest encoded txn operation: verb, an empty prefix, and four empty or zero fields. */
const TXN_OP_BYTES_MIN = 1 + 1 + 1 + 1 + 1 + 1;
/** Smallest encoded check: one-byte id, status and seven empty strings. */
const CHECK_BYTES_MIN = 2 + 1 + 1 * 6;

function readTxnOps(reader: StateReader): TxnOp[] {
  const limits = reader.limits;
  const countOffset = reader.pos;
  const count = reader.uint('operation count');
  if (count === 0) reader.fail('invalid-value', 'a transaction needs at least one operation', countOffset);
  if (count > limits.maxTxnOps) reader.fail('count-out-of-bounds', `${count} operations exceed the limit of ${limits.maxTxnOps}`, countOffset);
  if (count * TXN_OP_BYTES_MIN > reader.remaining()) reader.fail('count-out-of-bounds', `${count} operations cannot fit in the ${reader.remaining()} bytes left`, countOffset);
  const ops: TxnOp[] = [];
  let valueBytes = 0;
  for (let i = 0; i < count; i++) {
    const verb = reader.enumeration('verb', TXN_VERBS);
    const key = reader.key('key', verb === 'get-tree' || verb === 'delete-tree');
    const valueOffset = reader.pos;
    const value = reader.bytes('value', limits.maxValueBytes);
    valueBytes += value.length;
    if (valueBytes > limits.maxTxnValueBytes) reader.fail('too-large', `the operations' values exceed ${limits.maxTxnValueBytes} bytes`, valueOffset);
    const flags = reader.uint('flags');
    const index = reader.uint('index');
    const sessionRequired = verb === 'lock' || verb === 'unlock';
    const session = reader.checked('session', limits.maxNameBytes, (id) => sessionIdProblem(id, !sessionRequired));
    ops.push({ verb, key, value, flags, index, session });
  }
  return ops;
}

function readRegister(reader: StateReader, nowMs: number): CatalogRegister {
  const limits = reader.limits;
  const flags = reader.flags('register flags', REGISTER_SKIP_NODE_UPDATE | REGISTER_HAS_SERVICE);
  const skipNodeUpdate = (flags & REGISTER_SKIP_NODE_UPDATE) !== 0;
  const node: CatalogNode = {
    id: reader.checked('node id', limits.maxNameBytes, nodeIdProblem),
    node: reader.name('node name'),
    address: reader.checked('node address', limits.maxAddressBytes, (address) =>
      address === '' && !skipNodeUpdate ? { reason: 'invalid-value', detail: 'an address is required unless SkipNodeUpdate is set' } : null),
    datacenter: reader.string('node datacenter', limits.maxNameBytes),
    taggedAddresses: reader.stringMap('node taggedAddresses', limits.maxTaggedAddresses, limits.maxNameBytes, limits.maxAddressBytes),
    meta: reader.stringMap('node meta', limits.maxMetaPairs, limits.maxMetaKeyBytes, limits.maxMetaValueBytes),
  };
  const service = (flags & REGISTER_HAS_SERVICE) !== 0 ? readService(reader) : null;
  const countOffset = reader.pos;
  const count = reader.uint('check count');
  if (count > limits.maxChecksPerRegister) reader.fail('count-out-of-bounds', `${count} checks exceed the limit of ${limits.maxChecksPerRegister}`, countOffset);
  if (count * CHECK_BYTES_MIN > reader.remaining()) reader.fail('count-out-of-bounds', `${count} checks cannot fit in the ${reader.remaining()} bytes left`, countOffset);
  const checks: CatalogCheck[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const idOffset = reader.pos;
    const checkId = reader.name('checkId');
    if (seen.has(checkId)) reader.fail('invalid-value', `check ${JSON.stringify(checkId)} is listed twice`, idOffset);
    seen.add(checkId);
    checks.push({
      checkId,
      name: reader.string('check name', limits.maxNameBytes),
      status: reader.enumeration('check status', CHECK_STATUSES),
      notes: reader.string('check notes', limits.maxCheckTextBytes),
      output: reader.string('check output', limits.maxCheckTextBytes),
      serviceId: reader.string('check serviceId', limits.maxNameBytes),
      type: reader.string('check type', limits.maxNameBytes),
      definition: reader.checked('check definition', limits.maxCheckTextBytes, definitionProblem),
    });
  }
  return { type: 'catalogRegister', nowMs, node, skipNodeUpdate, service, checks };
}

function readService(reader: StateReader): CatalogService {
  const limits = reader.limits;
  const id = reader.name('service id');
  const service = reader.name('service name');
  const tags = reader.nameList('service tags', limits.maxTags, true);
  const address = reader.string('service address', limits.maxAddressBytes);
  const countOffset = reader.pos;
  const count = reader.uint('service taggedAddresses count');
  if (count > limits.maxTaggedAddresses) reader.fail('count-out-of-bounds', `${count} tagged addresses exceed the limit of ${limits.maxTaggedAddresses}`, countOffset);
  const taggedAddresses: Record<string, ServiceAddress> = {};
  let previous: string | null = null;
  for (let i = 0; i < count; i++) {
    const nameOffset = reader.pos;
    const name = reader.name('service taggedAddresses key');
    if (previous !== null && !(previous < name)) reader.fail('invalid-value', 'service taggedAddresses keys are not strictly ascending', nameOffset);
    previous = name;
    const entryAddress = reader.string('service taggedAddress', limits.maxAddressBytes);
    const port = reader.number('service taggedAddress port', portProblem);
    defineEntry(taggedAddresses, name, { address: entryAddress, port });
  }
  const meta = reader.stringMap('service meta', limits.maxMetaPairs, limits.maxMetaKeyBytes, limits.maxMetaValueBytes);
  const port = reader.number('service port', portProblem);
  const passing = reader.number('service passing weight', weightPassingProblem);
  const warning = reader.number('service warning weight', upTo(65_535, 'warning weight'));
  const flags = reader.flags('service flags', SERVICE_ENABLE_TAG_OVERRIDE);
  return { id, service, tags, address, taggedAddresses, meta, port, weights: { passing, warning }, enableTagOverride: flags !== 0 };
}

/** Sets a key as plain data, so that a key named "__proto__" stays a key. */
function defineEntry<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Reads what StateWriter writes; every read validates. Exported for the state snapshot codec. */
export class StateReader {
  readonly limits: StateCommandLimits;
  private readonly input: BinaryReader;

  /** `what`: what is being decoded, for error messages ("state command", "state snapshot"). */
  constructor(buffer: Uint8Array, limits: StateCommandLimits, what: string) {
    this.limits = limits;
    this.input = new BinaryReader(buffer, what, STATE_DIALECT);
  }

  /** Offset of the next byte to read. */
  get pos(): number {
    return this.input.pos;
  }

  fail(reason: DecodeReason, detail: string, offset: number): never {
    return this.input.fail(reason, detail, offset);
  }

  remaining(): number {
    return this.input.remaining();
  }

  finish(): void {
    this.input.finish();
  }

  u8(field: string): number {
    return this.input.u8(field);
  }

  /** The codec version byte; anything but `expected` is 'unknown-version'. */
  version(expected: number): void {
    this.input.version(expected);
  }

  flags(field: string, known: number): number {
    return this.input.flags(field, known);
  }

  uint(field: string): number {
    return this.input.uint(field);
  }

  number(field: string, rule: (value: number) => Problem): number {
    const start = this.pos;
    const value = this.uint(field);
    const problem = rule(value);
    if (problem) this.fail(problem.reason, `${field}: ${problem.detail}`, start);
    return value;
  }

  /**
   * A byte string, copied into a plain Uint8Array: the caller may keep it long
   * after the input is gone, and a Buffer input's slice() would be a view.
   */
  bytes(field: string, maxBytes: number): Uint8Array {
    return this.input.bytesCopy(field, maxBytes);
  }

  string(field: string, maxBytes: number): string {
    return this.input.string(field, maxBytes);
  }

  checked(field: string, maxBytes: number, rule: (value: string) => Problem): string {
    const start = this.pos;
    const value = this.string(field, maxBytes);
    const problem = rule(value);
    if (problem) this.fail(problem.reason, `${field}: ${problem.detail}`, start);
    return value;
  }

  key(field: string, isPrefix: boolean): string {
    return this.checked(field, this.limits.maxKeyBytes, (key) => kvKeyProblem(key, isPrefix));
  }

  name(field: string): string {
    return this.checked(field, this.limits.maxNameBytes, (value) => nonEmptyProblem(value, field));
  }

  nameList(field: string, maxCount: number, allowDuplicates = false): string[] {
    const countOffset = this.pos;
    const count = this.uint(`${field} count`);
    if (count > maxCount) this.fail('count-out-of-bounds', `${count} ${field} exceed the limit of ${maxCount}`, countOffset);
    if (count * 2 > this.remaining()) this.fail('count-out-of-bounds', `${count} ${field} cannot fit in the ${this.remaining()} bytes left`, countOffset);
    const values: string[] = [];
    const seen = allowDuplicates ? null : new Set<string>();
    for (let i = 0; i < count; i++) {
      const offset = this.pos;
      const value = this.name(field);
      if (seen) {
        if (seen.has(value)) this.fail('invalid-value', `${field}: ${JSON.stringify(value)} is listed twice`, offset);
        seen.add(value);
      }
      values.push(value);
    }
    return values;
  }

  enumeration<const T extends string>(field: string, names: readonly T[]): T {
    const offset = this.pos;
    const code = this.u8(field);
    const name = names[code];
    if (name === undefined) this.fail('invalid-value', `${field} ${code} is not one of ${names.join(', ')}`, offset);
    return name;
  }

  stringMap(field: string, maxPairs: number, maxKeyBytes: number, maxValueBytes: number): Record<string, string> {
    const countOffset = this.pos;
    const count = this.uint(`${field} count`);
    if (count > maxPairs) this.fail('count-out-of-bounds', `${count} ${field} pairs exceed the limit of ${maxPairs}`, countOffset);
    if (count * 3 > this.remaining()) this.fail('count-out-of-bounds', `${count} ${field} pairs cannot fit in the ${this.remaining()} bytes left`, countOffset);
    const map: Record<string, string> = {};
    let previous: string | null = null;
    for (let i = 0; i < count; i++) {
      const keyOffset = this.pos;
      const key = this.checked(`${field} key`, maxKeyBytes, (value) => nonEmptyProblem(value, `${field} key`));
      if (previous !== null && !(previous < key)) this.fail('invalid-value', `${field} keys are not strictly ascending`, keyOffset);
      previous = key;
      defineEntry(map, key, this.string(`${field} value`, maxValueBytes));
    }
    return map;
  }
}

// ---------------------------------------------------------------- results

/**
 * Why the state machine refused a command it could decode, with Consul's
 * message. Nothing changed. Results travel back to the proposer (through the
 * agent-to-agent RPC when a follower forwarded the write); the HTTP layer maps
 * the code to a status (400 for most, 404 for unknown-session, 500 where
 * Consul answers 500).
 */
export type Rejection = { rejected: true; code: RejectionCode; message: string };

export type RejectionCode =
  /** The entry's bytes are not a valid command (a proposer bug: the builder validates before proposing). */
  | 'invalid-command'
  /** kvLock/kvUnlock or a txn lock with a session that does not exist ("invalid session"). */
  | 'invalid-session'
  /** "Missing node registration": a session, check or nodeHealth for an unregistered node. */
  | 'missing-node'
  /** "Missing service registration": a check naming a service the node does not have. */
  | 'missing-service'
  /** "Missing check 'x' registration": a session bound to an unknown check. */
  | 'missing-check'
  /** "Check 'x' is in critical state": a session bound to a critical check. */
  | 'critical-check'
  /** renew of a session that does not exist (HTTP 404). */
  | 'unknown-session'
  /** catalogRegister with a node ID another node already has. */
  | 'node-id-conflict'
  /** sessionCreate with an id that already exists (the proposer must pick a fresh UUID). */
  | 'duplicate-session';

export function rejection(code: RejectionCode, message: string): Rejection {
  return { rejected: true, code, message };
}

export function isRejection(value: unknown): value is Rejection {
  return typeof value === 'object' && value !== null && (value as { rejected?: unknown }).rejected === true;
}

// The state machine's snapshot format: the whole replicated state as
// deterministic bytes (the same state gives the same bytes on every replica),
// deflate-compressed. Raft stores it, ships it to lagging followers, and
// GET /v1/snapshot hands it out.
//
//   const bytes = encodeSnapshot(parts);     // parts: see SnapshotParts
//   const again = decodeSnapshot(bytes);     // throws DecodeError on anything malformed
//
// Layout: a version byte, then a raw deflate stream of
//
//   appliedIndex clockMs
//   count (key value flags createIndex modifyIndex lockIndex session)*       KV entries, key order
//   count (key index)*                                                       tombstones, oldest first
//   globalFloor count (segment index)*                                       reaped-tombstone floors
//   count (id name node ttlMs lockDelayMs behavior:u8 count nodeCheck* count serviceCheck*
//          createIndex modifyIndex expiresAtMs)*                             sessions, id order
//   count (key untilMs)*                                                     lock-delays, key order
//   count (node createIndex modifyIndex count service* count check*)*        catalog, node order
//   count (scope index)* count (family index)*                               scope indexes and floors
//
// with the field encodings of protocol/state-commands.ts (varints, strings,
// maps sorted by key).

import { constants as bufferConstants } from 'node:buffer';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { DecodeError } from '../../protocol/errors.ts';
import { CHECK_STATUSES, DEFAULT_STATE_COMMAND_LIMITS, SESSION_BEHAVIORS, StateReader, StateWriter } from '../../protocol/state-commands.ts';
import type { ServiceAddress, StateCommandLimits } from '../../protocol/state-commands.ts';
import type { CheckRecord, NodeRecord, ServiceRecord } from './catalog.ts';
import type { KvEntry, Tombstone } from './kv-store.ts';
import type { SessionRecord } from './sessions.ts';
import type { Scope } from './watch-index.ts';

/** The version byte in front of the compressed body. Bump it when the layout changes. */
export const SNAPSHOT_FORMAT_VERSION = 1;

/** Largest inflated snapshot we accept (4 GiB): a bound on what a corrupt or hostile snapshot can make us allocate. */
const SNAPSHOT_INFLATED_BYTES_MAX = Math.min(4 * 1024 * 1024 * 1024, bufferConstants.MAX_LENGTH);

/** Field bounds inside a snapshot: the command limits, since every stored field came from a command. */
const LIMITS: StateCommandLimits = DEFAULT_STATE_COMMAND_LIMITS;

export type SnapshotParts = {
  appliedIndex: number;
  clockMs: number;
  kvEntries: readonly KvEntry[];
  tombstones: readonly Tombstone[];
  kvFloors: { global: number; segments: readonly [string, number][] };
  sessions: readonly SessionRecord[];
  lockDelays: readonly [string, number][];
  catalog: readonly { node: NodeRecord; services: ServiceRecord[]; checks: CheckRecord[] }[];
  scopeIndexes: readonly [Scope, number][];
  scopeFloors: readonly [string, number][];
};

export type DecodedSnapshot = {
  appliedIndex: number;
  clockMs: number;
  kvEntries: KvEntry[];
  tombstones: Tombstone[];
  kvFloors: { global: number; segments: [string, number][] };
  sessions: SessionRecord[];
  lockDelays: [string, number][];
  catalog: { node: NodeRecord; services: ServiceRecord[]; checks: CheckRecord[] }[];
  scopeIndexes: [Scope, number][];
  scopeFloors: [string, number][];
};

// ---------------------------------------------------------------- encoding

export function encodeSnapshot(parts: SnapshotParts): Uint8Array {
  // Sized for the KV entries, which dominate, so the buffer rarely regrows.
  let capacityBytes = 1024;
  for (const entry of parts.kvEntries) capacityBytes += entry.key.length + entry.value.length + entry.session.length + 24;
  const writer = new StateWriter(LIMITS, capacityBytes);
  writer.uint(parts.appliedIndex, 'appliedIndex');
  writer.uint(parts.clockMs, 'clockMs');
  writeCounted(writer, parts.kvEntries, (entry) => {
    writer.string(entry.key, 'kv key', LIMITS.maxKeyBytes);
    writer.bytes(entry.value, 'kv value', LIMITS.maxValueBytes);
    writer.uint(entry.flags, 'kv flags');
    writer.uint(entry.createIndex, 'kv createIndex');
    writer.uint(entry.modifyIndex, 'kv modifyIndex');
    writer.uint(entry.lockIndex, 'kv lockIndex');
    writer.string(entry.session, 'kv session', LIMITS.maxNameBytes);
  });
  writeCounted(writer, parts.tombstones, (tombstone) => {
    writer.string(tombstone.key, 'tombstone key', LIMITS.maxKeyBytes);
    writer.uint(tombstone.index, 'tombstone index');
  });
  writer.uint(parts.kvFloors.global, 'kv global floor');
  writePairs(writer, parts.kvFloors.segments, 'kv floor', LIMITS.maxKeyBytes);
  writeCounted(writer, parts.sessions, (session) => {
    writer.string(session.id, 'session id', LIMITS.maxNameBytes);
    writer.string(session.name, 'session name', LIMITS.maxNameBytes);
    writer.string(session.node, 'session node', LIMITS.maxNameBytes);
    writer.uint(session.ttlMs, 'session ttlMs');
    writer.uint(session.lockDelayMs, 'session lockDelayMs');
    writer.enumeration(session.behavior, 'session behavior', SESSION_BEHAVIORS);
    writer.nameList([...session.nodeChecks], 'session nodeChecks', LIMITS.maxSessionChecks);
    writer.nameList([...session.serviceChecks], 'session serviceChecks', LIMITS.maxSessionChecks);
    writer.uint(session.createIndex, 'session createIndex');
    writer.uint(session.modifyIndex, 'session modifyIndex');
    writer.uint(session.expiresAtMs, 'session expiresAtMs');
  });
  writePairs(writer, parts.lockDelays, 'lock-delay', LIMITS.maxKeyBytes);
  writeCounted(writer, parts.catalog, ({ node, services, checks }) => {
    writeNode(writer, node);
    writeCounted(writer, services, (service) => writeService(writer, service));
    writeCounted(writer, checks, (check) => writeCheck(writer, check));
  });
  writePairs(writer, parts.scopeIndexes, 'scope', Number.MAX_SAFE_INTEGER);
  writePairs(writer, parts.scopeFloors, 'scope floor', Number.MAX_SAFE_INTEGER);
  const body = writer.finish();
  const compressed = deflateRawSync(body);
  const bytes = new Uint8Array(compressed.length + 1);
  bytes[0] = SNAPSHOT_FORMAT_VERSION;
  bytes.set(compressed, 1);
  return bytes;
}

function writeCounted<T>(writer: StateWriter, items: readonly T[], write: (item: T) => void): void {
  writer.uint(items.length, 'count');
  for (const item of items) write(item);
}

function writePairs(writer: StateWriter, pairs: readonly (readonly [string, number])[], what: string, maxKeyBytes: number): void {
  writeCounted(writer, pairs, ([key, value]) => {
    writer.string(key, `${what} key`, maxKeyBytes);
    writer.uint(value, `${what} value`);
  });
}

function writeNode(writer: StateWriter, node: NodeRecord): void {
  writer.string(node.id, 'node id', LIMITS.maxNameBytes);
  writer.string(node.node, 'node name', LIMITS.maxNameBytes);
  writer.string(node.address, 'node address', LIMITS.maxAddressBytes);
  writer.string(node.datacenter, 'node datacenter', LIMITS.maxNameBytes);
  writer.stringMap(node.taggedAddresses, 'node taggedAddresses', LIMITS.maxTaggedAddresses, LIMITS.maxNameBytes, LIMITS.maxAddressBytes);
  writer.stringMap(node.meta, 'node meta', LIMITS.maxMetaPairs, LIMITS.maxMetaKeyBytes, LIMITS.maxMetaValueBytes);
  writer.uint(node.createIndex, 'node createIndex');
  writer.uint(node.modifyIndex, 'node modifyIndex');
}

function writeService(writer: StateWriter, service: ServiceRecord): void {
  writer.string(service.id, 'service id', LIMITS.maxNameBytes);
  writer.string(service.service, 'service name', LIMITS.maxNameBytes);
  writer.nameList([...service.tags], 'service tags', LIMITS.maxTags, true);
  writer.string(service.address, 'service address', LIMITS.maxAddressBytes);
  const names = Object.keys(service.taggedAddresses).sort();
  writer.uint(names.length, 'service taggedAddresses count');
  for (const name of names) {
    writer.string(name, 'service taggedAddresses key', LIMITS.maxNameBytes);
    writer.string(service.taggedAddresses[name]!.address, 'service taggedAddress', LIMITS.maxAddressBytes);
    writer.uint(service.taggedAddresses[name]!.port, 'service taggedAddress port');
  }
  writer.stringMap(service.meta, 'service meta', LIMITS.maxMetaPairs, LIMITS.maxMetaKeyBytes, LIMITS.maxMetaValueBytes);
  writer.uint(service.port, 'service port');
  writer.uint(service.weights.passing, 'service passing weight');
  writer.uint(service.weights.warning, 'service warning weight');
  writer.u8(service.enableTagOverride ? 1 : 0);
  writer.uint(service.createIndex, 'service createIndex');
  writer.uint(service.modifyIndex, 'service modifyIndex');
}

function writeCheck(writer: StateWriter, check: CheckRecord): void {
  writer.string(check.checkId, 'check id', LIMITS.maxNameBytes);
  writer.string(check.name, 'check name', LIMITS.maxNameBytes);
  writer.enumeration(check.status, 'check status', CHECK_STATUSES);
  writer.string(check.notes, 'check notes', LIMITS.maxCheckTextBytes);
  writer.string(check.output, 'check output', LIMITS.maxCheckTextBytes);
  writer.string(check.serviceId, 'check serviceId', LIMITS.maxNameBytes);
  writer.string(check.type, 'check type', LIMITS.maxNameBytes);
  writer.string(check.definition, 'check definition', LIMITS.maxCheckTextBytes);
  writer.uint(check.createIndex, 'check createIndex');
  writer.uint(check.modifyIndex, 'check modifyIndex');
}

// ---------------------------------------------------------------- decoding

export function decodeSnapshot(bytes: Uint8Array): DecodedSnapshot {
  if (bytes.length === 0) throw new DecodeError('truncated', 'state snapshot', 'the snapshot is empty', 0);
  if (bytes[0] !== SNAPSHOT_FORMAT_VERSION) {
    throw new DecodeError('unknown-version', 'state snapshot', `format version ${bytes[0]} is not ${SNAPSHOT_FORMAT_VERSION}`, 0);
  }
  let body: Uint8Array;
  try {
    body = inflateRawSync(bytes.subarray(1), { maxOutputLength: SNAPSHOT_INFLATED_BYTES_MAX });
  } catch (error) {
    throw new DecodeError('invalid-value', 'state snapshot', `the compressed body is corrupt: ${(error as Error).message}`, 1);
  }
  const reader = new StateReader(body, LIMITS, 'state snapshot');
  const appliedIndex = reader.uint('appliedIndex');
  const clockMs = reader.uint('clockMs');
  const kvEntries = readCounted(reader, 'kv entries', 8, () => ({
    key: reader.string('kv key', LIMITS.maxKeyBytes),
    value: reader.bytes('kv value', LIMITS.maxValueBytes),
    flags: reader.uint('kv flags'),
    createIndex: reader.uint('kv createIndex'),
    modifyIndex: reader.uint('kv modifyIndex'),
    lockIndex: reader.uint('kv lockIndex'),
    session: reader.string('kv session', LIMITS.maxNameBytes),
  }));
  const tombstones = readCounted(reader, 'tombstones', 2, () => ({ key: reader.string('tombstone key', LIMITS.maxKeyBytes), index: reader.uint('tombstone index') }));
  const global = reader.uint('kv global floor');
  const segments = readPairs(reader, 'kv floors', LIMITS.maxKeyBytes);
  const sessions = readCounted(reader, 'sessions', 13, (): SessionRecord => ({
    id: reader.string('session id', LIMITS.maxNameBytes),
    name: reader.string('session name', LIMITS.maxNameBytes),
    node: reader.string('session node', LIMITS.maxNameBytes),
    ttlMs: reader.uint('session ttlMs'),
    lockDelayMs: reader.uint('session lockDelayMs'),
    behavior: reader.enumeration('session behavior', SESSION_BEHAVIORS),
    nodeChecks: reader.nameList('session nodeChecks', LIMITS.maxSessionChecks),
    serviceChecks: reader.nameList('session serviceChecks', LIMITS.maxSessionChecks),
    createIndex: reader.uint('session createIndex'),
    modifyIndex: reader.uint('session modifyIndex'),
    expiresAtMs: reader.uint('session expiresAtMs'),
  }));
  const lockDelays = readPairs(reader, 'lock-delays', LIMITS.maxKeyBytes);
  const catalog = readCounted(reader, 'nodes', 10, () => {
    const node = readNode(reader);
    const services = readCounted(reader, 'services', 14, () => readService(reader, node.node));
    const checks = readCounted(reader, 'checks', 11, () => readCheck(reader, node.node));
    return { node, services, checks };
  });
  const scopeIndexes = readPairs(reader, 'scope indexes', Number.MAX_SAFE_INTEGER) as [Scope, number][];
  const scopeFloors = readPairs(reader, 'scope floors', Number.MAX_SAFE_INTEGER);
  reader.finish();
  return { appliedIndex, clockMs, kvEntries, tombstones, kvFloors: { global, segments }, sessions, lockDelays, catalog, scopeIndexes, scopeFloors };
}

function readCounted<T>(reader: StateReader, what: string, minBytes: number, read: () => T): T[] {
  const offset = reader.pos;
  const count = reader.uint(`${what} count`);
  if (count * minBytes > reader.remaining()) reader.fail('count-out-of-bounds', `${count} ${what} cannot fit in the ${reader.remaining()} bytes left`, offset);
  const items: T[] = [];
  for (let i = 0; i < count; i++) items.push(read());
  return items;
}

function readPairs(reader: StateReader, what: string, maxKeyBytes: number): [string, number][] {
  return readCounted(reader, what, 2, () => [reader.string(`${what} key`, maxKeyBytes), reader.uint(`${what} value`)] as [string, number]);
}

function readNode(reader: StateReader): NodeRecord {
  return {
    id: reader.string('node id', LIMITS.maxNameBytes),
    node: reader.string('node name', LIMITS.maxNameBytes),
    address: reader.string('node address', LIMITS.maxAddressBytes),
    datacenter: reader.string('node datacenter', LIMITS.maxNameBytes),
    taggedAddresses: reader.stringMap('node taggedAddresses', LIMITS.maxTaggedAddresses, LIMITS.maxNameBytes, LIMITS.maxAddressBytes),
    meta: reader.stringMap('node meta', LIMITS.maxMetaPairs, LIMITS.maxMetaKeyBytes, LIMITS.maxMetaValueBytes),
    createIndex: reader.uint('node createIndex'),
    modifyIndex: reader.uint('node modifyIndex'),
  };
}

function readService(reader: StateReader, node: string): ServiceRecord {
  const id = reader.string('service id', LIMITS.maxNameBytes);
  const service = reader.string('service name', LIMITS.maxNameBytes);
  const tags = reader.nameList('service tags', LIMITS.maxTags, true);
  const address = reader.string('service address', LIMITS.maxAddressBytes);
  const taggedAddresses: Record<string, ServiceAddress> = {};
  readCounted(reader, 'service taggedAddresses', 3, () => {
    const name = reader.string('service taggedAddresses key', LIMITS.maxNameBytes);
    const entry = { address: reader.string('service taggedAddress', LIMITS.maxAddressBytes), port: reader.uint('service taggedAddress port') };
    Object.defineProperty(taggedAddresses, name, { value: entry, enumerable: true, writable: true, configurable: true });
  });
  const meta = reader.stringMap('service meta', LIMITS.maxMetaPairs, LIMITS.maxMetaKeyBytes, LIMITS.maxMetaValueBytes);
  const port = reader.uint('service port');
  const passing = reader.uint('service passing weight');
  const warning = reader.uint('service warning weight');
  const enableTagOverride = reader.flags('service flags', 1) === 1;
  const createIndex = reader.uint('service createIndex');
  const modifyIndex = reader.uint('service modifyIndex');
  return { id, service, tags, address, taggedAddresses, meta, port, weights: { passing, warning }, enableTagOverride, node, createIndex, modifyIndex };
}

function readCheck(reader: StateReader, node: string): CheckRecord {
  return {
    checkId: reader.string('check id', LIMITS.maxNameBytes),
    name: reader.string('check name', LIMITS.maxNameBytes),
    status: reader.enumeration('check status', CHECK_STATUSES),
    notes: reader.string('check notes', LIMITS.maxCheckTextBytes),
    output: reader.string('check output', LIMITS.maxCheckTextBytes),
    serviceId: reader.string('check serviceId', LIMITS.maxNameBytes),
    type: reader.string('check type', LIMITS.maxNameBytes),
    definition: reader.string('check definition', LIMITS.maxCheckTextBytes),
    node,
    createIndex: reader.uint('check createIndex'),
    modifyIndex: reader.uint('check modifyIndex'),
  };
}

// Snapshots of the whole replicated state, as Consul's /v1/snapshot:
//
//   GET /v1/snapshot   ?stale, ?consistent   a snapshot file (below); X-Consul-Index is its Raft index
//   PUT /v1/snapshot   body: a snapshot file  verified whole, then replicated as one stateRestore
//                                            entry: every replica replaces its state at that index
//
//   tribune snapshot save backup.snap       (agent/cli/snapshot.ts)
//   tribune snapshot inspect backup.snap
//   tribune snapshot restore backup.snap
//
// The file (version 1; Consul's is a gzipped tar, ours is one header and the
// state machine's own deflated snapshot). Numbers are big-endian:
//
//   offset  0  magic "TRIBSNAP"
//           8  file format version u16 (SNAPSHOT_FILE_VERSION)
//          10  state snapshot format version u16 (the body's first byte, agent/state/snapshot.ts)
//          12  reserved u32, zero
//          16  Raft index u64: the last entry applied into this state
//          24  Raft term u64: the term when the snapshot was taken
//          32  created at u64: Unix milliseconds
//          40  body length u64
//          48  SHA-256 of bytes 0..47 followed by the body (32 bytes)
//          80  body: StateMachine.snapshot()
//
// A restore is verified before anything is proposed (magic, version, length,
// checksum, a full decode, a trial load into a scratch state machine that must
// snapshot back to the same state); a file that fails is 400 with what is
// wrong, and nothing stored changes. It is then proposed as one Raft entry
// (protocol/state-commands.ts, stateRestore): the indexes of the restored
// state all become that entry's index, so they move forward and every
// blocking query wakes.
//
// Between agents. The agent-to-agent RPC that forwards HTTP requests carries
// at most RPC_MAX_BYTES (1 MiB) per message, base64 inside JSON; a snapshot
// may be several MiB. So these endpoints do their own forwarding, in chunks of
// SNAPSHOT_CHUNK_BYTES, instead of going through forwardingRouter:
//   - restore on an agent that is not the leader: it verifies the file, then
//     uploads it to the leader as `PUT /v1/snapshot?upload=ID&offset=N&size=S`
//     chunks; the leader verifies the whole file again when the last chunk
//     arrives and answers with the restore's outcome;
//   - save on an agent without a replica: it asks the leader for
//     `GET /v1/snapshot?download` (the leader takes the snapshot, keeps it for
//     a minute and answers the first chunk with its id and size), then
//     `GET /v1/snapshot?download=ID&offset=N` for the rest, and checks the
//     checksum. ?stale is then served by the leader too (chunks must come
//     from the agent that holds the snapshot).
// `upload` and `download` are for agents; a client has no reason to use them.
// One upload at a time per leader, at most DOWNLOADS_HELD_MAX downloads held;
// both are dropped after TRANSFER_IDLE_MS without a chunk.

import { createHash, randomBytes } from 'node:crypto';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { inflateRawSync } from 'node:zlib';
import { DecodeError } from '../../protocol/errors.ts';
import { RPC_MAX_BYTES } from '../../protocol/rpc.ts';
import { isRejection, STATE_RESTORE_COMMAND_BYTES_MAX } from '../../protocol/state-commands.ts';
import { decodeSnapshot, SNAPSHOT_FORMAT_VERSION } from '../state/snapshot.ts';
import type { DecodedSnapshot } from '../state/snapshot.ts';
import { StateMachine } from '../state/state-machine.ts';
import { parseConsistencyMode } from './blocking.ts';
import type { ConsistencyMode } from './blocking.ts';
import type { HttpForwarder } from './forwarding.ts';
import { HttpError } from './router.ts';
import type { ApiRequest, QueryMeta, Reply, Router } from './router.ts';
import type { StateApi } from './state-api.ts';

/** The first bytes of every snapshot file. */
export const SNAPSHOT_FILE_MAGIC = 'TRIBSNAP';
/** The layout of the file around the body. Bump it when the header changes. */
export const SNAPSHOT_FILE_VERSION = 1;
/** Bytes before the body. */
export const SNAPSHOT_HEADER_BYTES = 80;
/** Bytes covered by the checksum before the body (everything up to the checksum itself). */
const CHECKSUMMED_HEADER_BYTES = 48;
/**
 * Largest body that can be restored: the restore command (version, type,
 * nowMs, length, body) must fit STATE_RESTORE_COMMAND_BYTES_MAX.
 */
export const SNAPSHOT_BODY_BYTES_MAX = STATE_RESTORE_COMMAND_BYTES_MAX - 16;
/** Largest file PUT /v1/snapshot accepts. */
export const SNAPSHOT_FILE_BYTES_MAX = SNAPSHOT_HEADER_BYTES + SNAPSHOT_BODY_BYTES_MAX;
/**
 * Raw bytes per chunk between agents: base64 (4/3) plus the RPC's JSON must
 * stay under RPC_MAX_BYTES, with room to spare.
 */
export const SNAPSHOT_CHUNK_BYTES = 512 * 1024;
if (Math.ceil(SNAPSHOT_CHUNK_BYTES / 3) * 4 + 16 * 1024 > RPC_MAX_BYTES) throw new Error('SNAPSHOT_CHUNK_BYTES does not fit one agent RPC message');
/**
 * Files larger than this are verified on a worker thread: the trial load and
 * re-encoding take about 0.1 s per MiB of file on a free core, and the event
 * loop must keep answering Raft heartbeats (the election timeout is 1-2 s).
 */
const VERIFY_IN_WORKER_BYTES_MIN = 1024 * 1024;
/** A verification that takes longer than this is abandoned (the worker is stopped). */
const VERIFY_TIMEOUT_MS = 120_000;
/** An upload or download without a chunk for this long is dropped. */
const TRANSFER_IDLE_MS = 60_000;
/** Snapshots held for agents downloading them in chunks. */
const DOWNLOADS_HELD_MAX = 4;

const SNAPSHOT_CONTENT_TYPE = 'application/octet-stream';
const ID_HEADER = 'X-Tribune-Snapshot-Id';
const SIZE_HEADER = 'X-Tribune-Snapshot-Size';

// ---------------------------------------------------------------- the file

export type SnapshotHeader = {
  fileVersion: number;
  stateFormatVersion: number;
  /** The last Raft index applied into the state. */
  index: number;
  /** The Raft term when the snapshot was taken. */
  term: number;
  createdAtMs: number;
  bodyBytes: number;
  /** Hex SHA-256 over header bytes 0..47 and the body. */
  sha256: string;
};

/** A file that is not a whole, intact snapshot; the message says what is wrong and is shown to users. */
export class SnapshotFileError extends Error {
  override name = 'SnapshotFileError';
}

/** Consul's snapshot ID: term-index-createdAt. */
export function snapshotId(header: Pick<SnapshotHeader, 'term' | 'index' | 'createdAtMs'>): string {
  return `${header.term}-${header.index}-${header.createdAtMs}`;
}

/** Wrap a state snapshot (StateMachine.snapshot()) in the file format. */
export function encodeSnapshotFile(fields: { index: number; term: number; createdAtMs: number; body: Uint8Array }): Buffer {
  for (const name of ['index', 'term', 'createdAtMs'] as const) {
    if (!Number.isSafeInteger(fields[name]) || fields[name] < 0) throw new RangeError(`snapshot ${name} must be a non-negative safe integer, got ${fields[name]}`);
  }
  if (fields.body.length === 0) throw new RangeError('a snapshot body is never empty');
  const file = Buffer.alloc(SNAPSHOT_HEADER_BYTES + fields.body.length);
  file.write(SNAPSHOT_FILE_MAGIC, 0, 'latin1');
  file.writeUInt16BE(SNAPSHOT_FILE_VERSION, 8);
  file.writeUInt16BE(fields.body[0]!, 10);
  file.writeBigUInt64BE(BigInt(fields.index), 16);
  file.writeBigUInt64BE(BigInt(fields.term), 24);
  file.writeBigUInt64BE(BigInt(fields.createdAtMs), 32);
  file.writeBigUInt64BE(BigInt(fields.body.length), 40);
  file.set(fields.body, SNAPSHOT_HEADER_BYTES);
  checksum(file, fields.body.length).copy(file, CHECKSUMMED_HEADER_BYTES);
  return file;
}

function checksum(file: Uint8Array, bodyBytes: number): Buffer {
  return createHash('sha256')
    .update(file.subarray(0, CHECKSUMMED_HEADER_BYTES))
    .update(file.subarray(SNAPSHOT_HEADER_BYTES, SNAPSHOT_HEADER_BYTES + bodyBytes))
    .digest();
}

/** Check the header, the length and the checksum; SnapshotFileError otherwise. The body is not decoded. */
export function decodeSnapshotFile(file: Uint8Array): { header: SnapshotHeader; body: Uint8Array } {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (bytes.length === 0) throw new SnapshotFileError('the snapshot is empty');
  if (bytes.length < SNAPSHOT_FILE_MAGIC.length || bytes.toString('latin1', 0, SNAPSHOT_FILE_MAGIC.length) !== SNAPSHOT_FILE_MAGIC) {
    throw new SnapshotFileError('not a Tribune snapshot (it does not start with "TRIBSNAP")');
  }
  if (bytes.length < SNAPSHOT_HEADER_BYTES) throw new SnapshotFileError(`truncated: ${bytes.length} bytes, shorter than the ${SNAPSHOT_HEADER_BYTES}-byte header`);
  const fileVersion = bytes.readUInt16BE(8);
  if (fileVersion !== SNAPSHOT_FILE_VERSION) throw new SnapshotFileError(`snapshot file version ${fileVersion} is not supported (this agent reads ${SNAPSHOT_FILE_VERSION})`);
  const stateFormatVersion = bytes.readUInt16BE(10);
  if (bytes.readUInt32BE(12) !== 0) throw new SnapshotFileError('corrupt header: reserved bytes are not zero');
  const read = (offset: number, what: string): number => {
    const value = bytes.readBigUInt64BE(offset);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new SnapshotFileError(`corrupt header: ${what} ${value} is out of range`);
    return Number(value);
  };
  const index = read(16, 'index');
  const term = read(24, 'term');
  const createdAtMs = read(32, 'creation time');
  const bodyBytes = read(40, 'body length');
  const actualBodyBytes = bytes.length - SNAPSHOT_HEADER_BYTES;
  if (actualBodyBytes < bodyBytes) throw new SnapshotFileError(`truncated: the header announces ${bodyBytes} bytes of state, the file holds ${actualBodyBytes}`);
  if (actualBodyBytes > bodyBytes) throw new SnapshotFileError(`${actualBodyBytes - bodyBytes} unexpected bytes after the end of the snapshot`);
  const expected = bytes.subarray(CHECKSUMMED_HEADER_BYTES, SNAPSHOT_HEADER_BYTES);
  const actual = checksum(bytes, bodyBytes);
  if (!actual.equals(expected)) throw new SnapshotFileError(`checksum mismatch: the file is corrupt (SHA-256 ${actual.toString('hex').slice(0, 16)}…, header says ${expected.toString('hex').slice(0, 16)}…)`);
  const body = bytes.subarray(SNAPSHOT_HEADER_BYTES);
  if (body[0] !== stateFormatVersion) throw new SnapshotFileError(`corrupt header: state format ${stateFormatVersion}, the body says ${body[0]}`);
  return { header: { fileVersion, stateFormatVersion, index, term, createdAtMs, bodyBytes, sha256: expected.toString('hex') }, body };
}

/** What `tribune snapshot inspect` prints: the header and how much of each kind the state holds. */
export type SnapshotSummary = {
  header: SnapshotHeader;
  fileBytes: number;
  counts: { kvEntries: number; kvBytes: number; tombstones: number; sessions: number; lockDelays: number; nodes: number; services: number; checks: number };
  /** Each KV key with its key and value bytes, in key order, for `-kvdetails`. */
  kvSizes: { key: string; bytes: number }[];
};

/** Decode a whole file (header, checksum, state); SnapshotFileError for anything wrong. */
export function inspectSnapshotFile(file: Uint8Array): SnapshotSummary {
  const { header, body } = decodeSnapshotFile(file);
  const decoded = decodeBody(body);
  if (decoded.appliedIndex !== header.index) throw new SnapshotFileError(`corrupt header: index ${header.index}, the state says ${decoded.appliedIndex}`);
  return summarize(header, file.length, decoded);
}

function decodeBody(body: Uint8Array): DecodedSnapshot {
  if (body[0] !== SNAPSHOT_FORMAT_VERSION) throw new SnapshotFileError(`state format ${body[0]} is not supported (this agent reads ${SNAPSHOT_FORMAT_VERSION})`);
  try {
    return decodeSnapshot(body);
  } catch (error) {
    if (error instanceof DecodeError) throw new SnapshotFileError(`the state does not decode: ${error.message}`);
    throw error;
  }
}

function summarize(header: SnapshotHeader, fileBytes: number, decoded: DecodedSnapshot): SnapshotSummary {
  const kvSizes = decoded.kvEntries.map((entry) => ({ key: entry.key, bytes: Buffer.byteLength(entry.key) + entry.value.length }));
  const kvBytes = kvSizes.reduce((sum, entry) => sum + entry.bytes, 0);
  return {
    header,
    fileBytes,
    counts: {
      kvEntries: decoded.kvEntries.length,
      kvBytes,
      tombstones: decoded.tombstones.length,
      sessions: decoded.sessions.length,
      lockDelays: decoded.lockDelays.length,
      nodes: decoded.catalog.length,
      services: decoded.catalog.reduce((sum, node) => sum + node.services.length, 0),
      checks: decoded.catalog.reduce((sum, node) => sum + node.checks.length, 0),
    },
    kvSizes,
  };
}

/**
 * Everything a restore checks before it proposes: the file (inspectSnapshotFile),
 * the size a restore can carry, and a trial load into a scratch state machine
 * whose own snapshot must hold exactly the same state (so the replicas will
 * load it without surprise, and a hand-made file with keys out of order or
 * duplicates is refused). Returns the body to propose.
 */
export function verifySnapshotForRestore(file: Uint8Array): { summary: SnapshotSummary; body: Uint8Array } {
  const summary = inspectSnapshotFile(file);
  const body = Buffer.from(file.buffer, file.byteOffset, file.byteLength).subarray(SNAPSHOT_HEADER_BYTES);
  if (body.length > SNAPSHOT_BODY_BYTES_MAX) {
    throw new SnapshotFileError(`too large to restore: ${body.length} bytes of compressed state, the limit is ${SNAPSHOT_BODY_BYTES_MAX} (one Raft entry)`);
  }
  const scratch = new StateMachine();
  scratch.restore(body, summary.header.index);
  const original = inflateRawSync(body.subarray(1));
  const reloaded = inflateRawSync(scratch.snapshot().subarray(1));
  if (!original.equals(reloaded)) throw new SnapshotFileError('the state is not in canonical form (keys out of order or repeated): it was not written by a Tribune agent');
  return { summary, body };
}

// ---------------------------------------------------------------- endpoints

export type SnapshotEndpointsOptions = {
  /** The replicated state: read barriers, the local replica, replication of the restore. */
  state: StateApi;
  /** Sends requests to the leader when this agent holds no replica (save) or is not the leader (restore). */
  forwarder: HttpForwarder;
  /** Whether this agent is the Raft leader now: restores are proposed there. */
  isLeader(): boolean;
  /** The current Raft term, for the header. */
  raftTerm(): number;
  /** Raw bytes per chunk between agents; tests use small ones to exercise many. */
  chunkBytes?: number;
  /** Unix ms; injected by tests. */
  now?: () => number;
};

type Upload = { id: string; sizeBytes: number; chunks: Buffer[]; receivedBytes: number; touchedAtMs: number };
type Download = { id: string; file: Buffer; meta: QueryMeta; touchedAtMs: number };

export function registerSnapshotEndpoints(router: Router, options: SnapshotEndpointsOptions): void {
  const api = options.state;
  const chunkBytes = options.chunkBytes ?? SNAPSHOT_CHUNK_BYTES;
  if (!(Number.isSafeInteger(chunkBytes) && chunkBytes > 0 && chunkBytes <= SNAPSHOT_CHUNK_BYTES)) throw new RangeError(`chunkBytes must be 1..${SNAPSHOT_CHUNK_BYTES}`);
  const now = options.now ?? Date.now;
  let upload: Upload | null = null;
  const downloads = new Map<string, Download>();

  async function takeSnapshot(mode: ConsistencyMode): Promise<{ file: Buffer; meta: QueryMeta }> {
    const meta = await api.readBarrier(mode);
    // Synchronous from here: no entry can be applied between the body and its index.
    const body = api.state.snapshot();
    const index = api.state.index;
    const file = encodeSnapshotFile({ index, term: options.raftTerm(), createdAtMs: now(), body });
    return { file, meta: { ...meta, index: Math.max(1, index) } };
  }

  async function restore(file: Buffer): Promise<Reply> {
    let body: Uint8Array;
    try {
      body = await verifyOffTheEventLoop(file);
    } catch (error) {
      if (error instanceof SnapshotFileError) throw new HttpError(400, `Invalid snapshot: ${error.message}`);
      throw error;
    }
    if (!options.isLeader()) return uploadToLeader(file);
    const result = await api.apply({ type: 'stateRestore', nowMs: now(), snapshot: body });
    if (isRejection(result)) throw new HttpError(400, `Snapshot restore refused: ${result.message}`);
    return { meta: api.queryMeta() };
  }

  /** The agent-side of a restore through a non-leader: the file in chunks, the leader's answer to the last. */
  async function uploadToLeader(file: Buffer): Promise<Reply> {
    const id = randomBytes(8).toString('hex');
    let reply: Reply = {};
    for (let offset = 0; offset < file.length; offset += chunkBytes) {
      const chunk = file.subarray(offset, Math.min(file.length, offset + chunkBytes));
      reply = await options.forwarder.forward(internalRequest('PUT', { upload: id, offset: String(offset), size: String(file.length) }, chunk));
    }
    return reply;
  }

  /** The leader's side: collect chunks; the last one runs the restore. */
  async function receiveUpload(request: ApiRequest): Promise<Reply> {
    const id = request.query.get('upload') ?? '';
    const offset = integerParameter(request, 'offset');
    const sizeBytes = integerParameter(request, 'size');
    if (!/^[0-9a-f]{16}$/.test(id)) throw new HttpError(400, 'Invalid snapshot upload id');
    if (sizeBytes > SNAPSHOT_FILE_BYTES_MAX) throw new HttpError(413, `Snapshot of ${sizeBytes} bytes is larger than the ${SNAPSHOT_FILE_BYTES_MAX} a restore can carry`);
    if (!options.isLeader()) throw new HttpError(500, 'Snapshot upload interrupted: this agent is no longer the leader; retry the restore');
    const nowMs = now();
    if (upload && upload.id !== id && nowMs - upload.touchedAtMs > TRANSFER_IDLE_MS) upload = null;
    if (offset === 0 && upload?.id !== id) {
      if (upload) throw new HttpError(409, 'Another snapshot restore is being uploaded to the leader; retry in a minute');
      upload = { id, sizeBytes, chunks: [], receivedBytes: 0, touchedAtMs: nowMs };
    }
    if (!upload || upload.id !== id) throw new HttpError(409, 'Snapshot upload expired or replaced; retry the restore');
    const current = upload;
    if (offset !== current.receivedBytes || sizeBytes !== current.sizeBytes || offset + request.body.length > sizeBytes || request.body.length === 0) {
      upload = null;
      throw new HttpError(400, `Snapshot upload out of order: chunk at ${offset} (+${request.body.length}) of ${sizeBytes}, expected ${current.receivedBytes} of ${current.sizeBytes}; retry the restore`);
    }
    current.chunks.push(Buffer.from(request.body));
    current.receivedBytes += request.body.length;
    current.touchedAtMs = nowMs;
    if (current.receivedBytes < current.sizeBytes) return { status: 202 };
    upload = null;
    return restore(Buffer.concat(current.chunks, current.sizeBytes));
  }

  /** The agent-side of a save through an agent without a replica: the leader's snapshot in chunks. */
  async function downloadFromLeader(mode: ConsistencyMode): Promise<Reply> {
    const first = await options.forwarder.forward(internalRequest('GET', mode === 'consistent' ? { download: '', consistent: '' } : { download: '' }));
    const id = first.headers?.[ID_HEADER] ?? '';
    const sizeBytes = Number(first.headers?.[SIZE_HEADER]);
    if (!/^[0-9a-f]{16}$/.test(id) || !Number.isSafeInteger(sizeBytes) || sizeBytes < SNAPSHOT_HEADER_BYTES || !first.raw) {
      throw new HttpError(500, 'The leader answered the snapshot download without its id, size or data');
    }
    const chunks = [Buffer.from(first.raw.body)];
    let receivedBytes = chunks[0]!.length;
    const chunkCountMax = Math.ceil(sizeBytes / chunkBytes) + 1;
    for (let count = 1; receivedBytes < sizeBytes && count <= chunkCountMax; count++) {
      const next = await options.forwarder.forward(internalRequest('GET', { download: id, offset: String(receivedBytes) }));
      const chunk = Buffer.from(next.raw?.body ?? '');
      if (chunk.length === 0) break;
      chunks.push(chunk);
      receivedBytes += chunk.length;
    }
    const file = Buffer.concat(chunks);
    try {
      decodeSnapshotFile(file);
    } catch (error) {
      if (error instanceof SnapshotFileError) throw new HttpError(500, `The snapshot from the leader did not arrive intact: ${error.message}`);
      throw error;
    }
    return { raw: { body: file, contentType: SNAPSHOT_CONTENT_TYPE }, meta: first.meta };
  }

  /** The leader's side of a download: take and hold a snapshot, or serve the next chunk of one held. */
  async function serveDownload(request: ApiRequest, mode: ConsistencyMode): Promise<Reply> {
    const nowMs = now();
    for (const [id, held] of downloads) if (nowMs - held.touchedAtMs > TRANSFER_IDLE_MS) downloads.delete(id);
    const id = request.query.get('download') ?? '';
    let held: Download;
    let offset = 0;
    if (id === '') {
      const { file, meta } = await takeSnapshot(mode);
      held = { id: randomBytes(8).toString('hex'), file, meta, touchedAtMs: nowMs };
      downloads.set(held.id, held);
      if (downloads.size > DOWNLOADS_HELD_MAX) downloads.delete(downloads.keys().next().value!);
    } else {
      const found = downloads.get(id);
      if (!found) throw new HttpError(404, 'Snapshot download expired or unknown; retry the save');
      held = found;
      offset = integerParameter(request, 'offset');
      held.touchedAtMs = nowMs;
    }
    const end = Math.min(held.file.length, offset + chunkBytes);
    if (end >= held.file.length) downloads.delete(held.id);
    return {
      raw: { body: held.file.subarray(Math.min(offset, end), end), contentType: SNAPSHOT_CONTENT_TYPE },
      headers: { [ID_HEADER]: held.id, [SIZE_HEADER]: String(held.file.length) },
      meta: held.meta,
    };
  }

  router.get('/v1/snapshot', async (request) => {
    const mode = parseConsistencyMode(request.query);
    if (request.query.has('download')) {
      if (!options.forwarder.hasReplica()) throw new HttpError(500, 'This agent holds no replica of the state to serve a snapshot from');
      return serveDownload(request, mode);
    }
    if (!options.forwarder.hasReplica()) return downloadFromLeader(mode);
    const { file, meta } = await takeSnapshot(mode);
    return { raw: { body: file, contentType: SNAPSHOT_CONTENT_TYPE }, meta };
  });

  router.put('/v1/snapshot', async (request) => {
    if (request.query.has('upload')) return receiveUpload(request);
    return restore(request.body);
  }, { maxBodyBytes: SNAPSHOT_FILE_BYTES_MAX });
}

function integerParameter(request: ApiRequest, name: string): number {
  const text = request.query.get(name) ?? '';
  const value = Number(text);
  if (!/^\d{1,15}$/.test(text) || !Number.isSafeInteger(value)) throw new HttpError(400, `Invalid ?${name}: ${JSON.stringify(text.slice(0, 32))} is not an unsigned integer`);
  return value;
}

/** A request from this agent to the leader, through HttpForwarder (the agent RPC). */
function internalRequest(method: 'GET' | 'PUT', query: Record<string, string>, body: Buffer = Buffer.alloc(0)): ApiRequest {
  return {
    method,
    path: '/v1/snapshot',
    params: {},
    query: new URLSearchParams(query),
    headers: {},
    token: undefined,
    body,
    json: () => {
      throw new HttpError(400, 'snapshot requests carry no JSON');
    },
    signal: new AbortController().signal,
    remoteAddress: '',
  };
}

// ---------------------------------------------------------------- verification on a worker thread

/** The workerData that makes this module, loaded in a worker, verify a file and answer. */
type VerifyRequest = { tribuneSnapshotVerify: Uint8Array };
type VerifyAnswer = { ok: true } | { ok: false; message: string; isFileError: boolean };

/** verifySnapshotForRestore, on a worker thread for large files; resolves with the body to propose. */
async function verifyOffTheEventLoop(file: Buffer): Promise<Uint8Array> {
  if (file.length < VERIFY_IN_WORKER_BYTES_MIN) return verifySnapshotForRestore(file).body;
  const request: VerifyRequest = { tribuneSnapshotVerify: file };
  const answer = await new Promise<VerifyAnswer>((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: request });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`snapshot verification took more than ${VERIFY_TIMEOUT_MS} ms`));
    }, VERIFY_TIMEOUT_MS);
    worker.once('message', (message: VerifyAnswer) => {
      clearTimeout(timer);
      resolve(message);
      void worker.terminate();
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`snapshot verification worker exited with code ${code} before answering`));
    });
  });
  if (!answer.ok) throw answer.isFileError ? new SnapshotFileError(answer.message) : new Error(answer.message);
  return Buffer.from(file.buffer, file.byteOffset, file.byteLength).subarray(SNAPSHOT_HEADER_BYTES);
}

function isVerifyRequest(data: unknown): data is VerifyRequest {
  return typeof data === 'object' && data !== null && (data as Partial<VerifyRequest>).tribuneSnapshotVerify instanceof Uint8Array;
}

if (!isMainThread && isVerifyRequest(workerData)) {
  let answer: VerifyAnswer;
  try {
    verifySnapshotForRestore(workerData.tribuneSnapshotVerify);
    answer = { ok: true };
  } catch (error) {
    answer = { ok: false, message: (error as Error).message, isFileError: error instanceof SnapshotFileError };
  }
  parentPort!.postMessage(answer);
}

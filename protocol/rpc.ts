// Agent-to-agent RPC on `/tribune/rpc/1.0.0`: one request, one response, JSON
// (small, rare, debuggable; the hot Raft path has its own binary codec).
// Each request kind says who sends it and what the receiver does.

import { DecodeError } from './errors.ts';

export const RPC_PROTOCOL = '/tribune/rpc/1.0.0';
export const RPC_MAX_BYTES = 1024 * 1024;

export type RpcRequest =
  /**
   * Bootstrap coordinator -> each chosen voter: promise to found Raft group
   * `clusterId` with exactly `voters` (peer ids) and nothing else for a while.
   * The receiver refuses if it already belongs to a group or promised another.
   */
  | { method: 'bootstrapPrepare'; clusterId: string; voters: string[] }
  /** Coordinator -> each voter, after every voter promised: write the founding state and start Raft. */
  | { method: 'bootstrapCommit'; clusterId: string; voters: string[] }
  /** Coordinator -> voters that promised, when another refused: forget the promise. */
  | { method: 'bootstrapAbort'; clusterId: string }
  /** Raft leader -> an agent it will add as a learner: start an empty Raft node of `clusterId` to receive the log. */
  | { method: 'raftJoin'; clusterId: string }
  /** Any agent -> the leader: propose `data` (base64 of a state command); the answer is the state machine's result. */
  | { method: 'propose'; data: string }
  /** Any agent -> the leader: confirm a linearizable read in `mode`; the answer carries the read index. */
  | { method: 'readIndex'; mode: 'safe' | 'lease' }
  /**
   * An agent without a replica of the state -> a Raft member (the leader, or
   * any voter for ?stale): answer this HTTP API request as if it had come to
   * you (`path` includes the query string; `body` is base64). The answer is a
   * ForwardedHttpReply.
   */
  | { method: 'http'; httpMethod: string; path: string; body: string };

/** The answer to a forwarded HTTP request. */
export type ForwardedHttpReply = {
  status: number;
  headers: Record<string, string>;
  meta: { index: number; knownLeader: boolean; lastContactMs: number } | null;
  json?: unknown;
  /** base64 of a raw body, with its content type. */
  raw?: { body: string; contentType: string };
  /** An error answer's message. */
  error?: string;
};

export type RpcResponse = { ok: true; result: unknown } | { ok: false; error: string; leaderHint?: string };

const methods = new Set(['bootstrapPrepare', 'bootstrapCommit', 'bootstrapAbort', 'raftJoin', 'propose', 'readIndex', 'http']);
const httpMethods = new Set(['GET', 'PUT', 'POST', 'DELETE']);

/**
 * JSON with byte arrays carried as `{"$bytes": base64}`: state-machine results
 * (txn outcomes, KV entries) hold Uint8Arrays and travel back to forwarding
 * agents in RPC answers.
 */
export function encodeRpc(value: RpcRequest | RpcResponse): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, (_key, field: unknown) => (field instanceof Uint8Array ? { $bytes: Buffer.from(field).toString('base64') } : field)));
}

function reviveBytes(_key: string, field: unknown): unknown {
  if (typeof field === 'object' && field !== null && !Array.isArray(field)) {
    const bytes = (field as { $bytes?: unknown }).$bytes;
    if (typeof bytes === 'string' && Object.keys(field).length === 1) return new Uint8Array(Buffer.from(bytes, 'base64'));
  }
  return field;
}

function fail(reason: string): never {
  throw new DecodeError('invalid-value', 'rpc message', reason, 0);
}

function stringField(value: Record<string, unknown>, name: string, maxLength = 256): string {
  const field = value[name];
  if (typeof field !== 'string' || field.length === 0 || field.length > maxLength) fail(`rpc: "${name}" must be a non-empty string of at most ${maxLength} characters`);
  return field;
}

export function decodeRpcRequest(bytes: Uint8Array): RpcRequest {
  if (bytes.length > RPC_MAX_BYTES) fail(`rpc: request of ${bytes.length} bytes exceeds ${RPC_MAX_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    fail(`rpc: request is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('rpc: request must be an object');
  const record = value as Record<string, unknown>;
  const method = record.method;
  if (typeof method !== 'string' || !methods.has(method)) fail(`rpc: unknown method ${JSON.stringify(method)}`);
  switch (method) {
    case 'bootstrapPrepare':
    case 'bootstrapCommit': {
      const voters = record.voters;
      if (!Array.isArray(voters) || voters.length === 0 || voters.length > 9 || !voters.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 128)) {
        fail('rpc: "voters" must be 1 to 9 peer ids');
      }
      if (new Set(voters).size !== voters.length) fail('rpc: "voters" has duplicates');
      return { method, clusterId: stringField(record, 'clusterId'), voters: voters as string[] };
    }
    case 'bootstrapAbort':
    case 'raftJoin':
      return { method, clusterId: stringField(record, 'clusterId') };
    case 'propose':
      return { method, data: stringField(record, 'data', RPC_MAX_BYTES) };
    case 'http': {
      const httpMethod = record.httpMethod;
      if (typeof httpMethod !== 'string' || !httpMethods.has(httpMethod)) fail('rpc: "httpMethod" must be GET, PUT, POST or DELETE');
      const path = stringField(record, 'path', 8192);
      if (!path.startsWith('/v1/')) fail('rpc: only /v1/ paths are forwarded');
      const body = record.body;
      if (typeof body !== 'string' || body.length > RPC_MAX_BYTES) fail('rpc: "body" must be a base64 string');
      return { method, httpMethod, path, body };
    }
    case 'readIndex': {
      const mode = record.mode;
      if (mode !== 'safe' && mode !== 'lease') fail('rpc: "mode" must be "safe" or "lease"');
      return { method, mode };
    }
  }
  return fail('rpc: unreachable');
}

export function decodeRpcResponse(bytes: Uint8Array): RpcResponse {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes), reviveBytes);
  } catch (error) {
    fail(`rpc: response is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) fail('rpc: response must be an object');
  const record = value as Record<string, unknown>;
  if (record.ok === true) return { ok: true, result: record.result };
  if (record.ok === false && typeof record.error === 'string') {
    return typeof record.leaderHint === 'string' ? { ok: false, error: record.error, leaderHint: record.leaderHint } : { ok: false, error: record.error };
  }
  return fail('rpc: response must have ok: true with a result, or ok: false with an error');
}

// PUT /v1/txn: up to 128 KV operations, all or nothing, in Consul's shapes
// (agent/txn_endpoint.go):
//
//   [{"KV": {"Verb": "set", "Key": "a", "Value": "aGk=", "Flags": 0, "Index": 0, "Session": ""}}, ...]
//   200 {"Results": [{"KV": {...}}], "Errors": null}
//   409 {"Results": null, "Errors": [{"OpIndex": 1, "What": "failed to set key \"b\", index is stale"}]}
//
// A transaction without writes (get, get-tree, check-*) is served from the
// local replica after the read barrier of its consistency mode (?stale,
// ?consistent), without Raft, as Consul does; anything else is one Raft
// command. Field names are matched case-insensitively and unknown fields are
// ignored, as Go's encoding/json does.
//
// Bad input never reaches the log: a body that is not JSON, not an array, or
// has a field of the wrong type is 400 "Failed to parse body: ..." naming the
// operation and field; too many operations or too large a value is 413 with
// Consul's message; an operation that cannot succeed whatever the state (an
// unknown verb, a key starting with '/', a lock without a session) is the 409
// rollback answer with its OpIndex, as Consul reports it.

import { isWriteVerb, sessionIdProblem, TXN_VERBS } from '../../protocol/state-commands.ts';
import type { TxnOp, TxnVerb } from '../../protocol/state-commands.ts';
import type { TxnError, TxnOutcome } from '../state/txn.ts';
import { consulTxnResponse } from '../state/txn.ts';
import { applyCommand, KV_KEY_MAX_BYTES } from './kv-endpoints.ts';
import { parseConsistencyMode } from './blocking.ts';
import { HttpError } from './router.ts';
import type { ApiRequest, QueryMeta, Reply, Router } from './router.ts';
import { KV_VALUE_MAX_BYTES } from './server.ts';
import type { StateApi } from './state-api.ts';

/** Most operations in one transaction (Consul's maxTxnOps since 1.x). */
export const TXN_OPS_MAX = 128;
/** Largest request body: Consul's txn_max_req_len default (the suggested Raft entry size, 512 KiB). */
export const TXN_BODY_MAX_BYTES = 512 * 1024;

/** A parsed operation, or why it cannot succeed (reported as the 409 rollback answer). */
type ParsedOp = { op: TxnOp } | { error: string };

export function registerTxnEndpoints(router: Router, api: StateApi): void {
  router.put('/v1/txn', (request) => txn(api, request), { maxBodyBytes: TXN_BODY_MAX_BYTES });
}

async function txn(api: StateApi, request: ApiRequest): Promise<Reply> {
  const parsed = parseTxnBody(request.body);
  const errors: TxnError[] = [];
  const ops: TxnOp[] = [];
  parsed.forEach((item, index) => {
    if ('error' in item) errors.push({ OpIndex: index, What: item.error });
    else ops.push(item.op);
  });
  if (errors.length > 0) return txnReply({ Results: null, Errors: errors }, null);
  if (ops.length === 0) {
    // Consul runs an empty list as a read that returns nothing.
    return txnReply({ Results: [], Errors: null }, await api.readBarrier(parseConsistencyMode(request.query)));
  }
  if (!ops.some((op) => isWriteVerb(op.verb))) {
    const meta = await api.readBarrier(parseConsistencyMode(request.query));
    const read = api.state.txnRead(ops);
    if ('rejected' in read) throw new HttpError(500, read.message);
    return txnReply(read.outcome, meta);
  }
  const outcome = await applyCommand(api, { type: 'txn', nowMs: Date.now(), ops }) as TxnOutcome;
  return txnReply(outcome, null);
}

/**
 * 200 with the results, or 409 with the errors. Results is null when there is
 * none (Go's nil slice), as Consul answers for deletes and empty trees. A read
 * reports X-Consul-KnownLeader and X-Consul-LastContact but no index (Consul's
 * read path does not block).
 */
function txnReply(outcome: TxnOutcome, meta: QueryMeta | null): Reply {
  const body = consulTxnResponse(outcome);
  if (body.Results !== null && body.Results.length === 0) body.Results = null;
  const headers: Record<string, string> = {};
  if (meta !== null) {
    headers['X-Consul-KnownLeader'] = meta.knownLeader ? 'true' : 'false';
    headers['X-Consul-LastContact'] = String(Math.max(0, Math.floor(meta.lastContactMs)));
  }
  return { status: outcome.Errors === null ? 200 : 409, headers, json: body };
}

// ---------------------------------------------------------------- parsing

function malformed(detail: string): HttpError {
  return new HttpError(400, `Failed to parse body: ${detail}`);
}

/** Parse and check the body; throws HttpError 400/413 for what makes the whole request unusable. */
export function parseTxnBody(body: Buffer): ParsedOp[] {
  const text = body.toString('utf8');
  if (text.trim() === '') throw malformed('the body is empty; expected a JSON array of operations');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw malformed((error as Error).message.split('\n', 1)[0]!.slice(0, 120));
  }
  if (!Array.isArray(value)) throw malformed(`expected a JSON array of operations, got ${jsonType(value)}`);
  if (value.length > TXN_OPS_MAX) throw new HttpError(413, `Transaction contains too many operations (${value.length} > ${TXN_OPS_MAX})`);
  let valueBytes = 0;
  return value.map((item, index) => {
    const parsed = parseOp(item, index);
    if ('op' in parsed) {
      valueBytes += parsed.op.value.length;
      if (valueBytes > KV_VALUE_MAX_BYTES) throw new HttpError(413, `Request body too large: the values add up to more than ${KV_VALUE_MAX_BYTES} bytes`);
    }
    return parsed;
  });
}

function parseOp(item: unknown, index: number): ParsedOp {
  const where = `operation ${index}`;
  if (!isObject(item)) throw malformed(`${where}: expected an object like {"KV": {...}}, got ${jsonType(item)}`);
  const kv = field(item, 'KV');
  if (kv === undefined || kv === null) {
    const other = ['Node', 'Service', 'Check', 'Session'].find((name) => field(item, name) !== undefined);
    if (other !== undefined) throw malformed(`${where}: ${other} operations are not supported; only KV`);
    throw malformed(`${where}: missing "KV"`);
  }
  if (!isObject(kv)) throw malformed(`${where}: "KV" must be an object, got ${jsonType(kv)}`);
  const verbText = stringField(kv, 'Verb', where);
  const key = stringField(kv, 'Key', where);
  const value = valueField(kv, where);
  const flags = unsignedField(kv, 'Flags', where);
  const modifyIndex = unsignedField(kv, 'Index', where);
  const session = stringField(kv, 'Session', where);
  if (value.length > KV_VALUE_MAX_BYTES) {
    throw new HttpError(413, `Value for key ${JSON.stringify(key.slice(0, 64))} is too large (${value.length} > ${KV_VALUE_MAX_BYTES} bytes)`);
  }

  if (!(TXN_VERBS as readonly string[]).includes(verbText)) return { error: `unknown KV verb ${JSON.stringify(verbText)}` };
  const verb = verbText as TxnVerb;
  const isPrefix = verb === 'get-tree' || verb === 'delete-tree';
  if (key === '' && !isPrefix) return { error: 'Must provide key' };
  if (key.startsWith('/')) return { error: `key ${JSON.stringify(key.slice(0, 64))} must not begin with a '/'` };
  const keyBytes = Buffer.byteLength(key, 'utf8');
  if (keyBytes > KV_KEY_MAX_BYTES) return { error: `key is ${keyBytes} bytes, over the limit of ${KV_KEY_MAX_BYTES}` };

  // Only these verbs read the session; for the rest it is ignored, as Consul ignores it.
  const usesSession = verb === 'lock' || verb === 'unlock' || verb === 'check-session' || verb === 'get-or-empty';
  if ((verb === 'lock' || verb === 'unlock') && session === '') return { error: 'missing session' };
  if (usesSession && sessionIdProblem(session, true) !== null) {
    if (verb === 'unlock') return { error: `failed to unlock key ${JSON.stringify(key)}, lock isn't held, or is held by another session` };
    return { error: `invalid session ${JSON.stringify(session.slice(0, 64))}` };
  }
  return { op: { verb, key, value, flags, index: modifyIndex, session: usesSession ? session : '' } };
}

// ---------------------------------------------------------------- JSON fields, Go-style

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : typeof value;
}

/** A member by name, case-insensitively (Go's encoding/json), preferring the exact spelling. */
export function field(object: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(object, name)) return object[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(object)) if (key.toLowerCase() === lower) return object[key];
  return undefined;
}

function stringField(object: Record<string, unknown>, name: string, where: string): string {
  const value = field(object, name);
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw malformed(`${where}: KV.${name} must be a string, got ${jsonType(value)}`);
  return value;
}

function unsignedField(object: Record<string, unknown>, name: string, where: string): number {
  const value = field(object, name);
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(`${where}: KV.${name} must be an unsigned integer below 2^53, got ${JSON.stringify(value)?.slice(0, 40) ?? jsonType(value)}`);
  }
  return value;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Value: base64 (standard alphabet, padded, as Go's StdEncoding), or null/absent for empty. */
function valueField(object: Record<string, unknown>, where: string): Uint8Array {
  const value = field(object, 'Value');
  if (value === undefined || value === null) return new Uint8Array(0);
  if (typeof value !== 'string') throw malformed(`${where}: KV.Value must be a base64 string, got ${jsonType(value)}`);
  if (!BASE64.test(value)) throw malformed(`${where}: KV.Value is not valid base64`);
  const bytes = Buffer.from(value, 'base64');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

// KV endpoints in Consul's shapes (`/v1/kv/*key`), as agent/kvs_endpoint.go answers them:
//   GET    [{LockIndex, Key, Flags, Value (base64 or null), Session?, CreateIndex, ModifyIndex}];
//          ?recurse lists a prefix, ?keys (with ?separator) lists key names ([] for an empty
//          root, else 404 when nothing matches), ?raw answers the value bytes as text/plain;
//          404 with an empty body when the key does not exist. Blocking (?index&wait) on the
//          key, or on the prefix for ?recurse and ?keys: a write elsewhere wakes nobody here.
//   PUT    body = value (at most 512 KiB, else 413); ?flags; ?cas=N (0 = create only);
//          ?acquire=SESSION / ?release=SESSION (locks; lock-delay applies to acquire).
//          A plain set answers true; cas, acquire and release answer whether they happened.
//   DELETE ?recurse deletes a prefix; ?cas=N deletes only at that ModifyIndex (answers the
//          outcome); otherwise true.
// Consistency: ?stale, ?consistent or the default, through StateApi.readBarrier.
// Bad input (an empty or '/'-led key, conflicting flags, a non-numeric ?flags or ?cas, an
// unknown session) is a 4xx with a message and changes nothing.
//
//   registerKvEndpoints(forwardingRouter(router, agent), agent);
//
// Also the helpers the txn and session endpoints share: applyCommand (rejections and
// refused encodings become 4xx) and blockingRead (barrier, then wait on a Scope).

import { EncodeError } from '../../protocol/errors.ts';
import { DEFAULT_STATE_COMMAND_LIMITS, isRejection, kvKeyProblem, sessionIdProblem } from '../../protocol/state-commands.ts';
import type { Rejection, StateCommand } from '../../protocol/state-commands.ts';
import { consulKvEntry } from '../state/kv-store.ts';
import { Scope } from '../state/watch-index.ts';
import { parseBlockingQuery, parseConsistencyMode, waitForIndex } from './blocking.ts';
import { HttpError, jsonReply } from './router.ts';
import type { ApiRequest, QueryMeta, Reply, Router } from './router.ts';
import { KV_VALUE_MAX_BYTES } from './server.ts';
import type { StateApi } from './state-api.ts';
import { scopeWatch } from './state-watch.ts';

/** Longest key in UTF-8 bytes (the state command codec's bound; Consul sets none). */
export const KV_KEY_MAX_BYTES = DEFAULT_STATE_COMMAND_LIMITS.maxKeyBytes;

// ---------------------------------------------------------------- shared with txn and session endpoints

/** HTTP status for a command the state machine refused: Consul's message, 404 for an unknown session on renew, else 400. */
export function rejectionStatus(rejection: Rejection): number {
  if (rejection.code === 'unknown-session') return 404;
  if (rejection.code === 'invalid-command' || rejection.code === 'duplicate-session') return 500;
  return 400;
}

/**
 * Replicate `command` and return the state machine's result. A Rejection
 * becomes an HttpError with Consul's message; a value the codec refuses (a
 * bound this layer did not check) becomes 400 rather than 500. Either way
 * nothing was stored.
 */
export async function applyCommand(api: StateApi, command: StateCommand): Promise<unknown> {
  let result: unknown;
  try {
    result = await api.apply(command);
  } catch (error) {
    if (error instanceof EncodeError) throw new HttpError(400, `Invalid request: ${error.message}`);
    throw error;
  }
  if (isRejection(result)) throw new HttpError(rejectionStatus(result), result.message);
  return result;
}

/**
 * A read at the consistency the request asks for, blocking on `scope` when it
 * carries `?index`: resolves once the local replica may answer, with the meta
 * to report (the caller sets the index from its read).
 */
export async function blockingRead(api: StateApi, request: ApiRequest, scope: Scope): Promise<QueryMeta> {
  const mode = parseConsistencyMode(request.query);
  const blocking = parseBlockingQuery(request.query);
  const meta = await api.readBarrier(mode);
  if (blocking === undefined) return meta;
  await waitForIndex(blocking, scopeWatch(api.state, scope), request.signal);
  return api.queryMeta();
}

/** An unsigned integer query parameter (`?flags=42`), undefined when absent; 400 naming it otherwise. */
export function unsignedParameter(request: ApiRequest, name: string): number | undefined {
  const text = request.query.get(name);
  if (text === null) return undefined;
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new HttpError(400, `Invalid ?${name}: ${JSON.stringify(text.slice(0, 32))} is not an unsigned integer below 2^53`);
  }
  return Number(text);
}

/** Consul's conflictingFlags: at most one of `names` may be given. The message quotes the query as Go's url.Values.Encode (sorted). */
function rejectConflictingFlags(request: ApiRequest, names: readonly string[]): void {
  if (names.filter((name) => request.query.has(name)).length < 2) return;
  const sorted = new URLSearchParams(request.query);
  sorted.sort();
  throw new HttpError(400, `Conflicting flags: ${sorted.toString()}`);
}

// ---------------------------------------------------------------- keys

/** The key from the path. `allowEmpty` for prefixes (recurse, keys). Consul's messages. */
function keyOf(request: ApiRequest, allowEmpty: boolean): string {
  const key = request.params.key ?? '';
  if (key === '') {
    if (allowEmpty) return key;
    throw new HttpError(400, 'Missing key name');
  }
  const problem = kvKeyProblem(key, allowEmpty);
  if (problem !== null) throw new HttpError(400, `Invalid key ${JSON.stringify(shorten(key))}: key must not begin with a '/'`);
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > KV_KEY_MAX_BYTES) throw new HttpError(400, `Invalid key ${JSON.stringify(shorten(key))}: ${bytes} bytes, the limit is ${KV_KEY_MAX_BYTES}`);
  return key;
}

function shorten(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

/** A session id from `?acquire=` or `?release=`: empty is Consul's "missing session". */
function sessionParameter(request: ApiRequest, name: string): string {
  const session = request.query.get(name) ?? '';
  if (session === '') throw new HttpError(400, `Missing session (?${name}= needs a session ID)`);
  return session;
}

// ---------------------------------------------------------------- endpoints

export function registerKvEndpoints(router: Router, api: StateApi): void {
  router.get('/v1/kv/*key', (request) => kvGet(api, request));
  router.put('/v1/kv/*key', (request) => kvPut(api, request), { maxBodyBytes: KV_VALUE_MAX_BYTES });
  router.delete('/v1/kv/*key', (request) => kvDelete(api, request));
}

async function kvGet(api: StateApi, request: ApiRequest): Promise<Reply> {
  const listKeys = request.query.has('keys');
  const recurse = request.query.has('recurse');
  const key = keyOf(request, listKeys || recurse);
  if (listKeys) {
    // Consul's historic spelling is accepted too; the correct one wins.
    const separator = request.query.get('separator') ?? request.query.get('seperator') ?? '';
    const meta = await blockingRead(api, request, Scope.kvPrefix(key));
    const { keys, index } = api.state.kvKeys(key, separator);
    if (keys.length === 0 && key !== '') return { status: 404, meta: { ...meta, index } };
    return jsonReply(keys, { ...meta, index });
  }
  if (recurse) {
    const meta = await blockingRead(api, request, Scope.kvPrefix(key));
    const { entries, index } = api.state.kvList(key);
    if (entries.length === 0) return { status: 404, meta: { ...meta, index } };
    return jsonReply(entries.map((entry) => consulKvEntry(entry)), { ...meta, index });
  }
  const meta = await blockingRead(api, request, Scope.kvKey(key));
  const { entry, index } = api.state.kvGet(key);
  if (entry === null) return { status: 404, meta: { ...meta, index } };
  if (request.query.has('raw')) {
    // As Consul: a fixed content type, no sniffing, and a sandbox, so that a browser
    // never runs a stored value as a page.
    return {
      raw: { body: Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.length), contentType: 'text/plain' },
      headers: { 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': 'sandbox' },
      meta: { ...meta, index },
    };
  }
  return jsonReply([consulKvEntry(entry)], { ...meta, index });
}

async function kvPut(api: StateApi, request: ApiRequest): Promise<Reply> {
  const key = keyOf(request, false);
  rejectConflictingFlags(request, ['cas', 'acquire', 'release']);
  const flags = unsignedParameter(request, 'flags') ?? 0;
  const cas = unsignedParameter(request, 'cas');
  const value = new Uint8Array(request.body.buffer, request.body.byteOffset, request.body.length);
  const nowMs = Date.now();
  if (request.query.has('acquire')) {
    const session = sessionParameter(request, 'acquire');
    // Not a session id we could have issued: it cannot exist (Consul: "invalid session").
    if (sessionIdProblem(session, false) !== null) throw new HttpError(400, `invalid session ${JSON.stringify(shorten(session))}`);
    return jsonReply(await applyCommand(api, { type: 'kvLock', nowMs, key, value, flags, session }) === true);
  }
  if (request.query.has('release')) {
    const session = sessionParameter(request, 'release');
    // Such a session cannot hold the key, so the release cannot happen: false, as the state would answer.
    if (sessionIdProblem(session, false) !== null) return jsonReply(false);
    return jsonReply(await applyCommand(api, { type: 'kvUnlock', nowMs, key, value, flags, session }) === true);
  }
  if (cas !== undefined) {
    return jsonReply(await applyCommand(api, { type: 'kvCas', nowMs, key, value, flags, casIndex: cas }) === true);
  }
  await applyCommand(api, { type: 'kvSet', nowMs, key, value, flags });
  return jsonReply(true);
}

async function kvDelete(api: StateApi, request: ApiRequest): Promise<Reply> {
  const recurse = request.query.has('recurse');
  const key = keyOf(request, recurse);
  rejectConflictingFlags(request, ['recurse', 'cas']);
  const cas = unsignedParameter(request, 'cas');
  const nowMs = Date.now();
  if (recurse) {
    await applyCommand(api, { type: 'kvDeleteTree', nowMs, prefix: key });
    return jsonReply(true);
  }
  if (cas !== undefined) return jsonReply(await applyCommand(api, { type: 'kvDeleteCas', nowMs, key, casIndex: cas }) === true);
  await applyCommand(api, { type: 'kvDelete', nowMs, key });
  return jsonReply(true);
}

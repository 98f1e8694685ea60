// Session endpoints in Consul's shapes (agent/session_endpoint.go):
//   PUT /v1/session/create        {Name, Node, LockDelay, Behavior, TTL, Checks, NodeChecks, ServiceChecks} → {"ID": "..."}
//   PUT /v1/session/destroy/:id   → true
//   PUT /v1/session/renew/:id     → [session], or 404 "Session id '…' not found"
//   GET /v1/session/info/:id      → [session] or []
//   GET /v1/session/node/:node    → [session, ...]
//   GET /v1/session/list          → [session, ...]
// The reads block (?index&wait) on their own scope: one session, one node's
// sessions, or the list.
//
// Create, as Consul: every field is optional. Node defaults to this agent's
// node (decided here, before any forwarding, so that a request forwarded to a
// Raft member still names the node it was sent to); the checks default to
// ["serfHealth"] unless Checks, NodeChecks or ServiceChecks is given (an empty
// list binds the session to no check); LockDelay defaults to 15 s and is a Go
// duration string or a number (below 1000 it means seconds, else
// nanoseconds), at most 60 s; TTL is "" (none) or 10 s to 24 h; Behavior is
// release (default) or delete. The proposer picks the session ID and stamps the
// time. Field names match case-insensitively; unknown fields are ignored.
// Mistakes are 400 with Consul's message, and nothing is stored.
//
//   registerSessionEndpoints(router, agent, { nodeName: 'node-a', forwarder: agent });

import { randomUUID } from 'node:crypto';
import { LOCK_DELAY_MS_MAX, SERF_HEALTH_CHECK_ID, SESSION_TTL_MS_MAX, SESSION_TTL_MS_MIN, sessionIdProblem } from '../../protocol/state-commands.ts';
import type { SessionBehavior, SessionCreate } from '../../protocol/state-commands.ts';
import { consulSession } from '../state/sessions.ts';
import type { SessionRecord } from '../state/sessions.ts';
import { Scope } from '../state/watch-index.ts';
import { DurationError, parseDurationNs } from './duration.ts';
import { forwardingRouter } from './forwarding.ts';
import type { HttpForwarder } from './forwarding.ts';
import { applyCommand, blockingRead } from './kv-endpoints.ts';
import { HttpError, jsonReply } from './router.ts';
import type { ApiRequest, Reply, Router } from './router.ts';
import type { StateApi } from './state-api.ts';
import { field } from './txn-endpoints.ts';

/** Consul's default lock-delay for a new session. */
export const SESSION_LOCK_DELAY_MS_DEFAULT = 15_000;
/** Largest create body: a few hundred check ids at most. */
export const SESSION_CREATE_BODY_MAX_BYTES = 64 * 1024;
/** Names, node names and check ids: the state command codec's bound. */
const NAME_MAX_BYTES = 256;
/** Most checks one session may be bound to (the codec's bound). */
const SESSION_CHECKS_MAX = 32;
/** Consul's lockDelayMinThreshold: a LockDelay below 1000 (ns) is taken as seconds. */
const LOCK_DELAY_SECONDS_THRESHOLD = 1000;

export type SessionEndpointOptions = {
  /** This agent's node: the default `Node` of a new session. */
  nodeName: string;
  /** When given, reads and the other writes are forwarded by agents without a replica; create never needs to be. */
  forwarder?: HttpForwarder;
};

/** What a create body asks for, validated and with Consul's defaults applied. */
export type SessionCreateRequest = Omit<SessionCreate, 'type' | 'nowMs' | 'id'>;

export function registerSessionEndpoints(router: Router, api: StateApi, options: SessionEndpointOptions): void {
  const forwarded = options.forwarder ? forwardingRouter(router, options.forwarder) : router;
  // Create is validated and proposed here: a proposal reaches the leader from any agent.
  router.put('/v1/session/create', (request) => create(api, request, options.nodeName), { maxBodyBytes: SESSION_CREATE_BODY_MAX_BYTES });
  forwarded.put('/v1/session/destroy/:id', (request) => destroy(api, request));
  forwarded.put('/v1/session/renew/:id', (request) => renew(api, request));
  forwarded.get('/v1/session/info/:id', async (request) => {
    const id = sessionIdOf(request);
    const meta = await blockingRead(api, request, Scope.session(id));
    const { sessions, index } = api.state.sessionInfo(id);
    return jsonReply(sessions, { ...meta, index });
  });
  forwarded.get('/v1/session/node/:node', async (request) => {
    const node = request.params.node ?? '';
    if (node === '') throw new HttpError(400, 'Missing node name');
    const meta = await blockingRead(api, request, Scope.nodeSessions(node));
    const { sessions, index } = api.state.sessionsOfNode(node);
    return jsonReply(sessions, { ...meta, index });
  });
  forwarded.get('/v1/session/list', async (request) => {
    const meta = await blockingRead(api, request, Scope.sessions);
    const { sessions, index } = api.state.sessionList();
    return jsonReply(sessions, { ...meta, index });
  });
}

function sessionIdOf(request: ApiRequest): string {
  const id = request.params.id ?? '';
  if (id === '') throw new HttpError(400, 'Missing session');
  return id;
}

async function create(api: StateApi, request: ApiRequest, nodeName: string): Promise<Reply> {
  const session = parseSessionCreate(request.body, nodeName);
  // The proposer picks the id; a collision with a live session is refused by the state, so pick again.
  for (let attempt = 0; ; attempt++) {
    const id = randomUUID();
    try {
      const result = await applyCommand(api, { type: 'sessionCreate', nowMs: Date.now(), id, ...session }) as { ID: string };
      return jsonReply({ ID: result.ID });
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 500 && /already exists/.test(error.message)) || attempt >= 2) throw error;
    }
  }
}

async function destroy(api: StateApi, request: ApiRequest): Promise<Reply> {
  const id = sessionIdOf(request);
  // An id we could never have issued names no session: destroying nothing succeeds, as in Consul.
  if (sessionIdProblem(id, false) === null) await applyCommand(api, { type: 'sessionDestroy', nowMs: Date.now(), id });
  return jsonReply(true);
}

async function renew(api: StateApi, request: ApiRequest): Promise<Reply> {
  const id = sessionIdOf(request);
  if (sessionIdProblem(id, false) !== null) throw new HttpError(404, `Session id '${id.slice(0, 64)}' not found`);
  const renewed = await applyCommand(api, { type: 'sessionRenew', nowMs: Date.now(), id }) as SessionRecord;
  return jsonReply([consulSession(renewed)]);
}

// ---------------------------------------------------------------- the create body

function decodeFailed(detail: string): HttpError {
  return new HttpError(400, `Request decode failed: ${detail}`);
}

/** Parse a create body (empty = all defaults); HttpError 400 naming the first problem. */
export function parseSessionCreate(body: Buffer, defaultNode: string): SessionCreateRequest {
  const defaults: SessionCreateRequest = {
    node: defaultNode,
    name: '',
    ttlMs: 0,
    lockDelayMs: SESSION_LOCK_DELAY_MS_DEFAULT,
    behavior: 'release',
    nodeChecks: [SERF_HEALTH_CHECK_ID],
    serviceChecks: [],
  };
  const text = body.toString('utf8');
  if (text.trim() === '') return defaults;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw decodeFailed((error as Error).message.split('\n', 1)[0]!.slice(0, 120));
  }
  if (value === null) return defaults; // Go decodes null into a struct as "change nothing"
  if (typeof value !== 'object' || Array.isArray(value)) throw decodeFailed(`expected a JSON object, got ${Array.isArray(value) ? 'array' : typeof value}`);
  const object = value as Record<string, unknown>;

  const name = optionalString(object, 'Name') ?? '';
  checkNameBytes(name, 'Name');
  const node = optionalString(object, 'Node') ?? defaultNode;
  if (node === '') throw new HttpError(400, 'Must provide Node');
  checkNameBytes(node, 'Node');

  const behaviorText = optionalString(object, 'Behavior') ?? '';
  if (behaviorText !== '' && behaviorText !== 'release' && behaviorText !== 'delete') {
    throw new HttpError(400, `Invalid Behavior setting '${behaviorText.slice(0, 64)}'`);
  }
  const behavior: SessionBehavior = behaviorText === '' ? 'release' : behaviorText;

  const ttlMs = parseTtl(optionalString(object, 'TTL') ?? '');
  const lockDelayMs = parseLockDelay(field(object, 'LockDelay'));

  // Any of the three check fields replaces the default binding to serfHealth (Consul's fixup).
  const checksGiven = ['Checks', 'NodeChecks', 'ServiceChecks'].some((name) => field(object, name) !== undefined);
  const nodeChecks = checksGiven
    ? unique([...stringList(object, 'Checks'), ...stringList(object, 'NodeChecks')], 'NodeChecks')
    : defaults.nodeChecks;
  const serviceChecks = unique(serviceCheckIds(object), 'ServiceChecks');
  return { node, name, ttlMs, lockDelayMs, behavior, nodeChecks, serviceChecks };
}

function optionalString(object: Record<string, unknown>, name: string): string | undefined {
  const value = field(object, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw decodeFailed(`${name} must be a string, got ${jsonType(value)}`);
  return value;
}

function checkNameBytes(value: string, name: string): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > NAME_MAX_BYTES) throw new HttpError(400, `${name} is ${bytes} bytes; the limit is ${NAME_MAX_BYTES}`);
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

/** Consul: "" or 0 is no TTL; otherwise a Go duration between 10 s and 24 h. */
function parseTtl(text: string): number {
  if (text === '') return 0;
  let ns: number;
  try {
    ns = parseDurationNs(text);
  } catch (error) {
    if (error instanceof DurationError) throw new HttpError(400, `Session TTL '${text.slice(0, 64)}' invalid: ${error.message}`);
    throw error;
  }
  if (ns === 0) return 0;
  const ms = ns / 1e6;
  if (ms < SESSION_TTL_MS_MIN || ms > SESSION_TTL_MS_MAX) {
    throw new HttpError(400, `Invalid Session TTL '${Math.round(ns)}', must be between [10s=24h0m0s]`);
  }
  return Math.ceil(ms);
}

/** Consul's FixupLockDelay: a duration string or a number of nanoseconds, small values meaning seconds; clamped to 60 s. */
function parseLockDelay(value: unknown): number {
  if (value === undefined || value === null) return SESSION_LOCK_DELAY_MS_DEFAULT;
  let ns: number;
  if (typeof value === 'string') {
    try {
      ns = parseDurationNs(value);
    } catch (error) {
      if (error instanceof DurationError) throw decodeFailed(error.message);
      throw error;
    }
  } else if (typeof value === 'number' && Number.isFinite(value)) {
    ns = value;
  } else {
    throw decodeFailed(`LockDelay must be a duration string or a number, got ${jsonType(value)}`);
  }
  if (ns < 0) throw new HttpError(400, `Invalid LockDelay ${JSON.stringify(value)}: must not be negative`);
  if (ns < LOCK_DELAY_SECONDS_THRESHOLD) ns *= 1e9;
  // Consul's MaxLockDelay: anything longer is not respected.
  return Math.min(LOCK_DELAY_MS_MAX, Math.ceil(ns / 1e6));
}

function stringList(object: Record<string, unknown>, name: string): string[] {
  const value = field(object, name);
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw decodeFailed(`${name} must be a list of check IDs, got ${jsonType(value)}`);
  return value.map((item, index) => {
    if (typeof item !== 'string') throw decodeFailed(`${name}[${index}] must be a string, got ${jsonType(item)}`);
    return item;
  });
}

/** ServiceChecks: [{"ID": "...", "Namespace": "..."}]; only the ID matters without namespaces. */
function serviceCheckIds(object: Record<string, unknown>): string[] {
  const value = field(object, 'ServiceChecks');
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw decodeFailed(`ServiceChecks must be a list of {"ID": ...}, got ${jsonType(value)}`);
  return value.map((item, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw decodeFailed(`ServiceChecks[${index}] must be an object, got ${jsonType(item)}`);
    const id = field(item as Record<string, unknown>, 'ID');
    if (typeof id !== 'string') throw decodeFailed(`ServiceChecks[${index}].ID must be a string, got ${jsonType(id)}`);
    return id;
  });
}

/** Check ids: non-empty, within bounds, each once (a repeat binds nothing more). */
function unique(ids: string[], name: string): string[] {
  const seen = [...new Set(ids)];
  if (seen.length > SESSION_CHECKS_MAX) throw new HttpError(400, `${name}: ${seen.length} checks exceed the limit of ${SESSION_CHECKS_MAX}`);
  for (const id of seen) {
    if (id === '') throw new HttpError(400, `${name}: a check ID is empty`);
    checkNameBytes(id, `${name} check ID`);
  }
  return seen;
}

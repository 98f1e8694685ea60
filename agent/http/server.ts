// The agent's HTTP API server: plain node:http, Consul's /v1 paths, headers
// and error conventions, so that existing Consul clients work unchanged.
//
//   const http = await startHttpServer({ api, host: '127.0.0.1', port: 8500, log });
//   // … later, after answering a leave:
//   await http.close();
//
// Endpoint files register routes on one Router (router.ts): the agent's own
// (agent-endpoints.ts) by default; issue 4's KV, catalog, health, sessions
// and txn come as more registration functions in `routes`.
//
// What every request gets here, so that handlers need not care:
// - routing: unknown path 404 naming it, wrong method 405 with `Allow`,
//   OPTIONS answered from the routes, HEAD served by GET handlers;
// - the body read whole before the handler runs, within the route's size
//   limit (413, checked against Content-Length before reading a byte; the
//   rest is drained within bounds so that the client sees the answer) and a
//   time limit (408, then the connection closes);
// - `?token=` / `X-Consul-Token` accepted (and hidden in logs), `?pretty`;
// - errors as Consul writes them: a plain-text message with the status.
//   HttpError and AgentApiError carry their status; anything else is 500
//   with its message (no stack) and is logged with its stack;
// - a signal aborted when the client disconnects, so blocking waits end;
// - keep-alive.

import { createServer } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentApiError } from './agent-api.ts';
import type { AgentApi } from './agent-api.ts';
import { registerAgentEndpoints } from './agent-endpoints.ts';
import { HttpError, Router } from './router.ts';
import type { ApiRequest, Reply } from './router.ts';

export type HttpLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type HttpLog = (level: HttpLogLevel, message: string) => void;

/** Adds one file's endpoints to the router. Endpoints that need more than AgentApi close over it. */
export type RouteRegistration = (router: Router, api: AgentApi) => void;

/** Largest Consul KV value (512 KiB); bodies are allowed a little more so that the KV handler can name its own limit. */
export const KV_VALUE_MAX_BYTES = 512 * 1024;
/** Default body limit: a KV value plus slack for JSON framing (txn, catalog registrations). */
export const HTTP_BODY_MAX_BYTES_DEFAULT = KV_VALUE_MAX_BYTES + 64 * 1024;

export type HttpServerOptions = {
  api: AgentApi;
  /** Listen address; Consul's default is the loopback only. */
  host?: string;
  /** 8500 as Consul; 0 picks a free port (tests). */
  port?: number;
  log?: HttpLog;
  /** Endpoint files; default the agent endpoints only. */
  routes?: readonly RouteRegistration[];
  /** Body limit for routes that set none. Larger is 413. */
  maxBodyBytes?: number;
  /**
   * Time from the request's headers to the last byte of its body. Longer is
   * 408 and the connection closes: a client trickling a body cannot hold a
   * socket and a buffer for ever. Generous because bodies are small.
   */
  bodyTimeoutMs?: number;
  /**
   * How long an idle keep-alive connection stays open. Longer than the usual
   * client-side idle timeouts, so that the server is not the one closing a
   * socket the client is about to reuse (the client would see ECONNRESET).
   */
  keepAliveTimeoutMs?: number;
  /** close(): how long in-flight requests may take to finish before their connections are cut. */
  closeGraceMs?: number;
};

export type HttpServer = {
  /** The port listened on (the chosen one when asked for 0). */
  port: number;
  host: string;
  router: Router;
  /**
   * Stop accepting, end blocking waits (they answer with what is current),
   * let in-flight requests finish for up to closeGraceMs, then cut what is
   * left. A handler must not await close(): the leave endpoint answers first,
   * and the runtime closes the server after api.leave() resolves.
   */
  close(): Promise<void>;
};

const BODY_TIMEOUT_MS_DEFAULT = 30_000;
const KEEP_ALIVE_TIMEOUT_MS_DEFAULT = 65_000;
const CLOSE_GRACE_MS_DEFAULT = 5_000;
/**
 * After an error answered before the body was read (413, 404 with a body):
 * how much more of it is read and discarded, and for how long, before the
 * socket is cut. Reading on instead of closing at once lets the client
 * finish sending and see the answer: closing a socket with unread data makes
 * the kernel send a reset, which can destroy the answer in flight (Go's HTTP
 * server reads on for the same reason). Within these bounds the connection
 * stays usable for the next request.
 */
const UNREAD_BODY_DRAIN_MAX_BYTES = 4 * 1024 * 1024;
const UNREAD_BODY_DRAIN_MS = 2_000;
/** Longest message taken from an unexpected error into a 500 body. */
const ERROR_MESSAGE_MAX_CHARS = 500;

/** Reason for aborting request signals: the client went away. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
}
/** Reason for aborting request signals: the server is closing. */
export class ServerClosingError extends Error {
  override name = 'ServerClosingError';
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const host = options.host ?? '127.0.0.1';
  const log: HttpLog = options.log ?? (() => {});
  const maxBodyBytesDefault = options.maxBodyBytes ?? HTTP_BODY_MAX_BYTES_DEFAULT;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? BODY_TIMEOUT_MS_DEFAULT;
  const closeGraceMs = options.closeGraceMs ?? CLOSE_GRACE_MS_DEFAULT;
  if (!(Number.isSafeInteger(maxBodyBytesDefault) && maxBodyBytesDefault >= 0)) throw new Error('maxBodyBytes must be a non-negative integer');
  if (!(bodyTimeoutMs > 0)) throw new Error('bodyTimeoutMs must be positive');

  const router = new Router();
  for (const register of options.routes ?? [registerAgentEndpoints]) register(router, options.api);

  const inFlight = new Map<AbortController, Promise<void>>();
  let closing = false;

  const server = createServer({ keepAlive: true }, (req, res) => {
    const controller = new AbortController();
    const done = handleRequest(req, res, controller.signal).catch((error: unknown) => {
      // handleRequest answers its own errors; reaching here is a bug in it.
      log('error', `http: request handling failed: ${describeError(error)}`);
      if (!res.headersSent && !res.destroyed) writeError(res, 500, 'Internal error', {}, true);
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new ClientGoneError('client disconnected'));
    });
    inFlight.set(controller, done);
    void done.finally(() => inFlight.delete(controller));
  });
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS_DEFAULT;
  // Malformed HTTP, oversized headers and resets are answered (400/431/408)
  // or dropped by node's default 'clientError' behaviour; it never throws.

  async function handleRequest(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    req.on('error', () => {}); // a reset mid-body; readBody sees it as 'close' before 'end'
    res.on('error', () => {});
    const method = req.method ?? 'GET';
    const target = splitTarget(req.url ?? '/');
    const logUrl = redactToken(req.url ?? '/');
    let status = 0;
    try {
      if (target === undefined) throw new HttpError(400, 'Invalid request target');
      const match = router.match(method, target.path);
      if (match.kind === 'not-found') throw notFound(target.path);
      if (match.kind === 'method-not-allowed') {
        throw new HttpError(405, `method ${method} not allowed`, { headers: { Allow: match.allow.join(',') } });
      }
      if (match.kind === 'options') {
        status = 200;
        writeReply(res, { headers: { Allow: match.allow.join(',') } }, false, closing);
        return;
      }
      const query = new URLSearchParams(target.search);
      const body = await readBody(req, match.options.maxBodyBytes ?? maxBodyBytesDefault, bodyTimeoutMs);
      const request: ApiRequest = {
        method,
        path: target.path,
        params: match.params,
        query,
        headers: req.headers,
        token: requestToken(req, query),
        body,
        json: () => parseJsonBody(body),
        signal,
        remoteAddress: req.socket.remoteAddress ?? '',
      };
      const reply = await match.handler(request);
      if (res.destroyed) {
        log('debug', `http: ${method} ${logUrl}: client disconnected before the answer`);
        return;
      }
      status = reply.status ?? 200;
      writeReply(res, reply, query.has('pretty'), closing);
    } catch (error) {
      if (error instanceof ClientGoneError || res.destroyed) {
        log('debug', `http: ${method} ${logUrl}: client disconnected`);
        return;
      }
      const answer = errorAnswer(error);
      status = answer.status;
      if (answer.status >= 500) log('error', `http: ${method} ${logUrl} from=${req.socket.remoteAddress}: ${describeError(error)}`);
      writeError(res, answer.status, answer.message, answer.headers, answer.closeConnection || closing);
      if (hasUnreadBody(req)) drainThenCut(req);
    } finally {
      if (status !== 0) log('debug', `http: ${method} ${logUrl} ${status} (${(performance.now() - started).toFixed(1)} ms) from=${req.socket.remoteAddress}`);
    }
  }

  function errorAnswer(error: unknown): { status: number; message: string; headers: Record<string, string>; closeConnection: boolean } {
    if (error instanceof HttpError) return { status: validStatus(error.status), message: error.message, headers: error.headers, closeConnection: error.closeConnection };
    if (error instanceof AgentApiError) return { status: validStatus(error.status), message: error.message, headers: {}, closeConnection: false };
    const message = error instanceof Error ? firstLine(error.message) : 'Internal error';
    return { status: 500, message: message === '' ? 'Internal error' : message, headers: {}, closeConnection: false };
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(new Error(`cannot listen for HTTP on ${host}:${options.port ?? 8500}: ${error.message}`, { cause: error }));
    server.once('error', onError);
    server.listen({ host, port: options.port ?? 8500 }, () => {
      server.off('error', onError);
      server.on('error', (error) => log('error', `http: server error: ${error.message}`));
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  log('info', `http: listening on ${address.address}:${address.port}`);

  let closed: Promise<void> | undefined;
  return {
    port: address.port,
    host,
    router,
    close() {
      closed ??= closeServer(server, inFlight, closeGraceMs, () => (closing = true));
      return closed;
    },
  };
}

async function closeServer(server: Server, inFlight: Map<AbortController, Promise<void>>, graceMs: number, markClosing: () => void): Promise<void> {
  markClosing();
  const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  for (const controller of inFlight.keys()) controller.abort(new ServerClosingError('server closing'));
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.allSettled([...inFlight.values()]),
    new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, graceMs))),
  ]);
  clearTimeout(graceTimer);
  server.closeAllConnections();
  await listenerClosed;
}

/** `path` and `search` of a request target; undefined when it is neither origin-form nor absolute-form. */
function splitTarget(url: string): { path: string; search: string } | undefined {
  let target = url;
  if (!target.startsWith('/')) {
    // absolute-form (`GET http://host/v1/… HTTP/1.1`), which proxies send
    try {
      const parsed = new URL(target);
      target = parsed.pathname + parsed.search;
    } catch {
      return undefined;
    }
  }
  const queryStart = target.indexOf('?');
  return queryStart < 0 ? { path: target, search: '' } : { path: target.slice(0, queryStart), search: target.slice(queryStart + 1) };
}

function notFound(path: string): HttpError {
  const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
  return new HttpError(404, path.startsWith('/v1/')
    ? `Invalid URL path: ${shown} is not a recognized HTTP API endpoint`
    : `Invalid URL path: ${shown}; the HTTP API paths start with /v1/`);
}

/** Read the whole body within `maxBytes` and `timeoutMs`; HttpError 413 / 408, ClientGoneError. */
function readBody(req: IncomingMessage, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    const length = Number(declared);
    if (length > maxBytes) {
      return Promise.reject(new HttpError(413, `Request body too large: ${length} bytes, max size: ${maxBytes} bytes`, { closeConnection: true }));
    }
    if (length === 0) return Promise.resolve(Buffer.alloc(0));
  } else if (req.headers['transfer-encoding'] === undefined) {
    return Promise.resolve(Buffer.alloc(0)); // no body at all (RFC 9112 §6.3)
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    const finish = (error: Error | undefined) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (error === undefined) resolve(Buffer.concat(chunks, receivedBytes));
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      receivedBytes += chunk.length;
      if (receivedBytes > maxBytes) {
        finish(new HttpError(413, `Request body too large: more than ${maxBytes} bytes`, { closeConnection: true }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(undefined);
    const onClose = () => finish(new ClientGoneError('client disconnected while sending the body'));
    const timer = setTimeout(() => {
      finish(new HttpError(408, `Request body not received within ${timeoutMs} ms`, { closeConnection: true }));
    }, timeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

function hasUnreadBody(req: IncomingMessage): boolean {
  const declaresBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  return declaresBody && !req.readableEnded && !req.destroyed;
}

/** Discard the rest of an unread body within the drain bounds; cut the socket beyond them. */
function drainThenCut(req: IncomingMessage): void {
  let drainedBytes = 0;
  const cut = () => req.socket.destroy();
  const timer = setTimeout(cut, UNREAD_BODY_DRAIN_MS);
  timer.unref();
  const stop = () => {
    clearTimeout(timer);
    req.off('data', onData);
  };
  const onData = (chunk: Buffer) => {
    drainedBytes += chunk.length;
    if (drainedBytes > UNREAD_BODY_DRAIN_MAX_BYTES) {
      stop();
      cut();
    }
  };
  req.on('data', onData);
  req.once('end', stop);
  req.once('close', stop);
  req.resume();
}

function parseJsonBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'Request decode failed: the body is empty, JSON expected');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `Request decode failed: ${firstLine((error as Error).message).slice(0, 120)}`);
  }
}

function requestToken(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const fromQuery = query.get('token');
  if (fromQuery !== null && fromQuery !== '') return fromQuery;
  const fromHeader = req.headers['x-consul-token'];
  if (typeof fromHeader === 'string' && fromHeader !== '') return fromHeader;
  const authorization = req.headers.authorization;
  const bearer = authorization === undefined ? null : /^bearer\s+(\S+)/i.exec(authorization);
  return bearer === null ? undefined : bearer[1];
}

/** The URL for logs, with `token=` values hidden as Consul does. */
function redactToken(url: string): string {
  return url.replace(/([?&]token=)[^&]*/gi, '$1<hidden>');
}

function writeReply(res: ServerResponse, reply: Reply, pretty: boolean, closeConnection: boolean): void {
  const headers: OutgoingHttpHeaders = { ...reply.headers };
  if (reply.meta !== undefined) {
    // Index 0 would make blocking clients spin (?index=0 never blocks); Consul answers 1.
    headers['X-Consul-Index'] = String(Math.max(1, Math.floor(reply.meta.index)));
    headers['X-Consul-KnownLeader'] = reply.meta.knownLeader ? 'true' : 'false';
    headers['X-Consul-LastContact'] = String(Math.max(0, Math.floor(reply.meta.lastContactMs)));
  }
  let body: Buffer | string = '';
  if ('json' in reply) {
    // Serialize before writing anything, so a value that cannot be (a cycle, a BigInt) is still a clean 500.
    body = (pretty ? JSON.stringify(reply.json, null, 4) + '\n' : JSON.stringify(reply.json)) ?? 'null';
    headers['Content-Type'] = 'application/json';
  } else if (reply.raw !== undefined) {
    body = reply.raw.body;
    headers['Content-Type'] = reply.raw.contentType;
  }
  headers['Content-Length'] = Buffer.byteLength(body);
  if (closeConnection) headers.Connection = 'close';
  res.writeHead(validStatus(reply.status ?? 200), headers);
  res.end(body);
}

function writeError(res: ServerResponse, status: number, message: string, headers: Record<string, string>, closeConnection: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = message; // no trailing newline: the `consul` client uses a short body as its error message
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...(closeConnection ? { Connection: 'close' } : {}),
  });
  res.end(body);
}

function validStatus(status: number): number {
  return Number.isInteger(status) && status >= 200 && status <= 599 ? status : 500;
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0]!.trim();
  return line.length > ERROR_MESSAGE_MAX_CHARS ? `${line.slice(0, ERROR_MESSAGE_MAX_CHARS)}…` : line;
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}

// Any agent accepts any request. An agent that holds no replica of the
// replicated state (it is not a Raft voter or learner) forwards requests for
// the state's endpoints to a Raft member over agent RPC — the leader, or any
// voter for ?stale — which answers them through its own router, as Consul
// clients forward to servers.
//
//   routes: [(router) => registerKvEndpoints(forwardingRouter(router, forwarder), state)]

import type { ForwardedHttpReply, RpcRequest } from '../../protocol/rpc.ts';
import { HttpError } from './router.ts';
import type { ApiRequest, Handler, Reply, Router } from './router.ts';

export interface HttpForwarder {
  /** True when this agent can answer state requests itself. */
  hasReplica(): boolean;
  /** Send the request to a Raft member and return its answer. */
  forward(request: ApiRequest): Promise<Reply>;
}

/** A view of `router` whose handlers forward when this agent has no replica. */
export function forwardingRouter(router: Router, forwarder: HttpForwarder): Router {
  const wrap = (handler: Handler): Handler => (request) => (forwarder.hasReplica() ? handler(request) : forwarder.forward(request));
  return new Proxy(router, {
    get(target, property) {
      if (property === 'get' || property === 'put' || property === 'post' || property === 'delete') {
        return (pattern: string, handler: Handler, options?: object) => target[property](pattern, wrap(handler), options);
      }
      if (property === 'add') {
        return (method: string, pattern: string, handler: Handler, options?: object) => target.add(method, pattern, wrap(handler), options);
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The RPC request that carries `request` to another agent. */
export function forwardedRequest(request: ApiRequest): Extract<RpcRequest, { method: 'http' }> {
  const query = request.query.toString();
  return { method: 'http', httpMethod: request.method, path: query ? `${request.path}?${query}` : request.path, body: request.body.toString('base64') };
}

/** Turn a forwarded answer back into a Reply (or the error it was). */
export function replyFromForwarded(answer: ForwardedHttpReply): Reply {
  if (answer.error !== undefined) throw new HttpError(answer.status, answer.error);
  const reply: Reply = { status: answer.status, headers: answer.headers };
  if (answer.meta) reply.meta = answer.meta;
  if ('json' in answer) reply.json = answer.json;
  if (answer.raw) reply.raw = { body: Buffer.from(answer.raw.body, 'base64'), contentType: answer.raw.contentType };
  return reply;
}

/** Run a forwarded request through `router` here; errors become error answers. */
export async function serveForwarded(router: Router, request: Extract<RpcRequest, { method: 'http' }>, fromPeer: string, timeoutMs: number): Promise<ForwardedHttpReply> {
  const url = new URL(request.path, 'http://forwarded');
  const match = router.match(request.httpMethod, url.pathname);
  if (match.kind !== 'found') return { status: match.kind === 'not-found' ? 404 : 405, headers: {}, meta: null, error: `cannot forward ${request.httpMethod} ${url.pathname}` };
  const body = Buffer.from(request.body, 'base64');
  const apiRequest: ApiRequest = {
    method: request.httpMethod,
    path: url.pathname,
    params: match.params,
    query: url.searchParams,
    headers: {},
    token: undefined,
    body,
    json: () => {
      try {
        return JSON.parse(body.toString('utf8')) as unknown;
      } catch (error) {
        throw new HttpError(400, `Request decode failed: ${(error as Error).message}`);
      }
    },
    signal: AbortSignal.timeout(timeoutMs),
    remoteAddress: fromPeer,
  };
  try {
    const reply = await match.handler(apiRequest);
    const answer: ForwardedHttpReply = { status: reply.status ?? 200, headers: reply.headers ?? {}, meta: reply.meta ?? null };
    if ('json' in reply) answer.json = reply.json;
    if (reply.raw) answer.raw = { body: Buffer.from(reply.raw.body).toString('base64'), contentType: reply.raw.contentType };
    return answer;
  } catch (error) {
    const status = typeof (error as { status?: unknown }).status === 'number' ? (error as { status: number }).status : 500;
    return { status, headers: {}, meta: null, error: (error as Error).message.split('\n')[0]! };
  }
}

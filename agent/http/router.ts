// The HTTP API's router: method + path pattern → handler, and the request and
// reply shapes every endpoint file works with. No I/O here; server.ts owns the
// sockets, reads bodies and writes replies.
//
//   export function registerKvEndpoints(router: Router, kv: KvApi): void {
//     router.get('/v1/kv/*key', async (request) => {
//       const key = request.params.key!;                      // decoded, may contain '/'
//       const blocking = parseBlockingQuery(request.query);   // ?index=&wait=, 400 on a bad one
//       await waitForIndex(blocking, kv.watch(key), request.signal);
//       return jsonReply(kv.get(key), queryMeta(agent, kv.index(key)));
//     });
//     router.put('/v1/kv/*key', handler, { maxBodyBytes: 512 * 1024 + 1024 });
//   }
//
// Patterns: static segments, `:name` (one segment, decoded, may be empty so
// that the handler can say "Missing node name" as Consul does) and a trailing
// `*` or `*name` (the rest of the path, possibly empty, with slashes; read it
// as params['*'] or params.name). Matching is on the received segments, so a
// `%2F` stays inside its param (decoded to `/`). Static segments beat params, params beat a
// rest, whatever the registration order: `/v1/agent/service/register` wins
// over `/v1/agent/service/:id`. A path that matches a pattern registered for
// other methods only is a 405 naming the allowed ones (Consul answers GET on
// a PUT endpoint that way); HEAD is served by GET handlers; OPTIONS answers
// the Allow list.

import type { IncomingHttpHeaders } from 'node:http';

/** What a handler sees of one request. */
export type ApiRequest = {
  method: string;
  /** The path as received, still percent-encoded (`/v1/kv/a%2Fb`). */
  path: string;
  /** Pattern parameters, percent-decoded. */
  params: Record<string, string>;
  /** Query parameters; Consul's flags are bare (`?recurse`), so test them with `has`. */
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** `?token=`, else `X-Consul-Token`, else `Authorization: Bearer …`; accepted and not yet enforced. */
  token: string | undefined;
  /** The whole body, already read within the route's size limit and the server's time limit. */
  body: Buffer;
  /** The body as JSON, or HttpError 400 `Request decode failed: …` naming the problem. */
  json(): unknown;
  /** Aborted when the client disconnects or the server closes: blocking waits end on it. */
  signal: AbortSignal;
  remoteAddress: string;
};

/** Consul's query metadata headers: X-Consul-Index, X-Consul-KnownLeader, X-Consul-LastContact. */
export type QueryMeta = { index: number; knownLeader: boolean; lastContactMs: number };

/**
 * What a handler answers. `{}` is 200 with an empty body (Consul's answer to
 * join, leave, force-leave). `json` (any value, `null` included) is sent as
 * application/json, pretty with `?pretty`; `raw` is sent as is (KV `?raw`,
 * snapshots). `meta` adds the X-Consul-* query headers.
 */
export type Reply = {
  status?: number;
  headers?: Record<string, string>;
  meta?: QueryMeta;
  json?: unknown;
  raw?: { body: Buffer | string; contentType: string };
};

export type Handler = (request: ApiRequest) => Reply | Promise<Reply>;

export type RouteOptions = {
  /** Largest body accepted (413 beyond); defaults to the server's limit. */
  maxBodyBytes?: number;
};

/** A JSON answer, with query metadata headers when `meta` is given. */
export function jsonReply(value: unknown, meta?: QueryMeta): Reply {
  return meta === undefined ? { json: value } : { json: value, meta };
}

/** 200 with no body. */
export function emptyReply(): Reply {
  return {};
}

/**
 * An error a handler throws to answer with a status and a plain-text message,
 * as Consul does (`Missing node name`, `Invalid wait time`). The message is
 * shown to the user: say what is wrong, without internals. Keep it under 80
 * characters where possible: the `consul` npm client shows shorter bodies as
 * the error message and longer ones as "bad request".
 */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Answer with `Connection: close` (the body was not read to its end). */
  readonly closeConnection: boolean;
  constructor(status: number, message: string, options: { headers?: Record<string, string>; closeConnection?: boolean } = {}) {
    super(message);
    this.status = status;
    this.headers = options.headers ?? {};
    this.closeConnection = options.closeConnection ?? false;
  }
}

type SegmentKind = 0 | 1 | 2; // static, param, rest: the order of precedence
type Segment = { kind: SegmentKind; text: string };

type Route = { handler: Handler; options: RouteOptions };

/** One pattern and its handlers by method. */
type Resource = {
  pattern: string;
  segments: Segment[];
  routes: Map<string, Route>;
};

export type RouteMatch =
  | { kind: 'found'; handler: Handler; options: RouteOptions; params: Record<string, string>; allow: string[] }
  | { kind: 'options'; allow: string[] }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

export class Router {
  /** Patterns without params, by exact path: the common case costs one Map lookup. */
  readonly #staticResources = new Map<string, Resource>();
  /** Patterns with params or a rest, most specific first. */
  readonly #dynamicResources: Resource[] = [];
  readonly #resourcesByPattern = new Map<string, Resource>();

  get(pattern: string, handler: Handler, options: RouteOptions = {}): void {
    this.add('GET', pattern, handler, options);
  }
  put(pattern: string, handler: Handler, options: RouteOptions = {}): void {
    this.add('PUT', pattern, handler, options);
  }
  post(pattern: string, handler: Handler, options: RouteOptions = {}): void {
    this.add('POST', pattern, handler, options);
  }
  delete(pattern: string, handler: Handler, options: RouteOptions = {}): void {
    this.add('DELETE', pattern, handler, options);
  }

  /** Register a handler; a second handler for the same method and pattern is a programming error. */
  add(method: string, pattern: string, handler: Handler, options: RouteOptions = {}): void {
    if (!/^[A-Z]+$/.test(method)) throw new Error(`route ${pattern}: method must be upper case, got ${JSON.stringify(method)}`);
    if (method === 'HEAD' || method === 'OPTIONS') throw new Error(`route ${pattern}: ${method} is answered by the router itself`);
    if (options.maxBodyBytes !== undefined && !(Number.isSafeInteger(options.maxBodyBytes) && options.maxBodyBytes >= 0)) {
      throw new Error(`route ${method} ${pattern}: maxBodyBytes must be a non-negative integer`);
    }
    let resource = this.#resourcesByPattern.get(pattern);
    if (resource === undefined) {
      resource = { pattern, segments: parsePattern(pattern), routes: new Map() };
      this.#resourcesByPattern.set(pattern, resource);
      if (resource.segments.every((segment) => segment.kind === 0)) {
        this.#staticResources.set(pattern, resource);
      } else {
        this.#dynamicResources.push(resource);
        this.#dynamicResources.sort((a, b) => compareSpecificity(a.segments, b.segments));
      }
    }
    if (resource.routes.has(method)) throw new Error(`route ${method} ${pattern} registered twice`);
    resource.routes.set(method, { handler, options });
  }

  /** Find the handler for a request; throws HttpError 400 for a path that is not valid percent-encoding. */
  match(method: string, rawPath: string): RouteMatch {
    const found = this.#findResource(rawPath);
    if (found === undefined) return { kind: 'not-found' };
    const { resource, params } = found;
    const allow = allowedMethods(resource);
    if (method === 'OPTIONS') return { kind: 'options', allow };
    const route = resource.routes.get(method) ?? (method === 'HEAD' ? resource.routes.get('GET') : undefined);
    if (route === undefined) return { kind: 'method-not-allowed', allow };
    return { kind: 'found', handler: route.handler, options: route.options, params, allow };
  }

  /** Every registered `METHOD pattern`, for documentation and tests. */
  routes(): string[] {
    return [...this.#resourcesByPattern.values()].flatMap((resource) => [...resource.routes.keys()].map((method) => `${method} ${resource.pattern}`));
  }

  #findResource(rawPath: string): { resource: Resource; params: Record<string, string> } | undefined {
    if (!rawPath.includes('%')) {
      const resource = this.#staticResources.get(rawPath);
      if (resource !== undefined) return { resource, params: {} };
    }
    const decoded = decodeSegments(rawPath);
    if (rawPath.includes('%')) {
      const resource = this.#staticResources.get(decoded.join('/'));
      // Only when no decoded segment contained a slash (`%2F` is data, not structure).
      if (resource !== undefined && resource.segments.length === decoded.length - 1) return { resource, params: {} };
    }
    for (const resource of this.#dynamicResources) {
      const params = matchSegments(resource.segments, decoded);
      if (params !== undefined) return { resource, params };
    }
    return undefined;
  }
}

function parsePattern(pattern: string): Segment[] {
  if (!pattern.startsWith('/')) throw new Error(`route pattern ${JSON.stringify(pattern)} must start with /`);
  const parts = pattern.slice(1).split('/');
  const names = new Set<string>();
  return parts.map((part, position) => {
    if (part.startsWith(':') || part.startsWith('*')) {
      const kind: SegmentKind = part.startsWith(':') ? 1 : 2;
      const name = kind === 2 && part === '*' ? '*' : part.slice(1);
      if (!/^[A-Za-z_*][A-Za-z0-9_]*$/.test(name)) throw new Error(`route pattern ${pattern}: bad parameter name ${JSON.stringify(part)}`);
      if (kind === 2 && position !== parts.length - 1) throw new Error(`route pattern ${pattern}: a rest (*) must be the last segment`);
      if (names.has(name)) throw new Error(`route pattern ${pattern}: parameter ${name} appears twice`);
      names.add(name);
      return { kind, text: name };
    }
    if (part.includes('%')) throw new Error(`route pattern ${pattern}: write static segments decoded`);
    return { kind: 0, text: part };
  });
}

/** Negative when `a` is more specific: compare segment kinds left to right, static < param < rest. */
function compareSpecificity(a: Segment[], b: Segment[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i]!.kind !== b[i]!.kind) return a[i]!.kind - b[i]!.kind;
  }
  return b.length - a.length; // the longer pattern says more
}

/** `['', 'v1', 'kv', 'a/b']` for `/v1/kv/a%2Fb`; HttpError 400 for malformed percent-encoding. */
function decodeSegments(rawPath: string): string[] {
  return rawPath.split('/').map((segment) => {
    if (!segment.includes('%')) return segment;
    try {
      return decodeURIComponent(segment);
    } catch {
      throw new HttpError(400, 'Invalid URL path: malformed percent-encoding');
    }
  });
}

function matchSegments(segments: Segment[], decoded: string[]): Record<string, string> | undefined {
  // decoded[0] is the empty string before the leading slash.
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const value = decoded[i + 1];
    if (segment.kind === 2) {
      if (value === undefined) return undefined; // `/v1/kv` does not match `/v1/kv/*`
      params[segment.text] = decoded.slice(i + 1).join('/');
      return params;
    }
    if (value === undefined) return undefined;
    // A param is one segment as received; a decoded `%2F` inside it is data.
    if (segment.kind === 0 && value !== segment.text) return undefined;
    if (segment.kind === 1) params[segment.text] = value;
  }
  return decoded.length === segments.length + 1 ? params : undefined;
}

function allowedMethods(resource: Resource): string[] {
  const methods = [...resource.routes.keys()];
  if (methods.includes('GET')) methods.push('HEAD');
  return ['OPTIONS', ...methods];
}

// The CLI's client for a running agent's HTTP API.
//
//   const address = resolveHttpAddress(flagValue, process.env);   // -http-addr, else CONSUL_HTTP_ADDR
//   if ('error' in address) fail(address.error);
//   const client = new AgentHttpClient(address.url);
//   const members = await client.getJson<ConsulMember[]>('/v1/agent/members');
//
// Failures are thrown as two kinds, because the CLI words them differently:
// `AgentConnectionError` (nothing answered: "is the agent running?") and
// `AgentResponseError` (the agent answered with an error status, worded like
// Consul's Go client: "Unexpected response code: 500 (body)").

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Where the CLI looks for the agent when neither -http-addr nor CONSUL_HTTP_ADDR says. */
export const DEFAULT_HTTP_ADDRESS = '127.0.0.1:8500';
const DEFAULT_HTTP_PORT = 8500;

/**
 * The agent's base URL from the `-http-addr` flag, else `CONSUL_HTTP_ADDR`,
 * else 127.0.0.1:8500. Accepts `host:port` (http, or https when
 * `CONSUL_HTTP_SSL=true`, as Consul does), `http://host:port` and
 * `https://host:port`. A bare host without a port means port 8500.
 */
export function resolveHttpAddress(flagValue: string | undefined, env: NodeJS.ProcessEnv): { url: URL } | { error: string } {
  const fromFlag = flagValue !== undefined;
  const raw = (fromFlag ? flagValue : env.CONSUL_HTTP_ADDR || DEFAULT_HTTP_ADDRESS).trim();
  const origin = fromFlag ? '-http-addr' : env.CONSUL_HTTP_ADDR ? 'CONSUL_HTTP_ADDR' : 'the default address';
  const invalid = (why: string) => ({ error: `invalid ${origin} "${raw}": ${why}` });
  if (raw.length === 0) return invalid('expected host:port or http://host:port');
  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  if (schemeMatch !== null) {
    const scheme = schemeMatch[1]!.toLowerCase();
    if (scheme === 'unix') return invalid('unix sockets are not supported; use host:port');
    if (scheme !== 'http' && scheme !== 'https') return invalid(`unsupported scheme "${scheme}"; use http or https`);
    const url = parseUrl(raw);
    return url === undefined ? invalid('expected host:port or http://host:port') : { url };
  }
  const ssl = /^(1|t|true)$/i.test(env.CONSUL_HTTP_SSL ?? '');
  const url = parseUrl(`${ssl ? 'https' : 'http'}://${raw}`);
  if (url === undefined || url.pathname !== '/' || url.search !== '') return invalid('expected host:port or http://host:port');
  if (url.port === '') url.port = String(DEFAULT_HTTP_PORT);
  return { url };
}

function parseUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.hostname.length > 0 ? url : undefined;
  } catch {
    return undefined;
  }
}

/** How an agent's address is shown to the user: `http://127.0.0.1:8500`, no trailing slash. */
export function displayAddress(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** Nothing answered at the address (refused, unknown host, timed out). */
export class AgentConnectionError extends Error {
  readonly address: string;
  readonly code: string | undefined;
  constructor(address: string, cause: NodeJS.ErrnoException) {
    const why = cause.code === 'ECONNREFUSED' ? 'is the agent running?'
      : cause.code === 'ENOTFOUND' || cause.code === 'EAI_AGAIN' ? `cannot resolve the host (${cause.code})`
      : cause.message;
    super(`Error connecting to agent at ${address}: ${why}`, { cause });
    this.name = 'AgentConnectionError';
    this.address = address;
    this.code = cause.code;
  }
}

/** The agent answered with a status other than 2xx. */
export class AgentResponseError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string) {
    super(`Unexpected response code: ${status} (${body.trim()})`);
    this.name = 'AgentResponseError';
    this.status = status;
    this.body = body;
  }
}

export type AgentResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

export type RequestOptions = {
  /** Query parameters; `true` sends a bare flag (`?recurse`), undefined/false omit the key. */
  query?: Record<string, string | number | boolean | undefined>;
  body?: string | Buffer;
  /** Statuses that are answers rather than errors (404 for a missing KV key). */
  acceptStatuses?: readonly number[];
};

export class AgentHttpClient {
  readonly url: URL;
  /** For messages: `http://127.0.0.1:8500`. */
  readonly address: string;

  constructor(url: URL) {
    this.url = url;
    this.address = displayAddress(url);
  }

  /** One request; resolves with any 2xx (or accepted) answer, throws the two errors above otherwise. */
  request(method: string, path: string, options: RequestOptions = {}): Promise<AgentResponse> {
    const target = new URL(this.url.pathname.replace(/\/+$/, '') + path, this.url);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value === undefined || value === false) continue;
      target.searchParams.set(key, value === true ? '' : String(value));
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    // `?recurse=` and `?recurse` mean the same to Consul; keep the bare form.
    const pathWithQuery = target.pathname + target.search.replace(/=(&|$)/g, '$1');
    return new Promise((resolvePromise, reject) => {
      const req = send({
        protocol: target.protocol,
        hostname: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port,
        method,
        path: pathWithQuery,
        agent: false, // one connection per command; nothing left open to keep the process alive
        headers: options.body === undefined ? {} : { 'content-length': Buffer.byteLength(options.body) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => reject(new AgentConnectionError(this.address, error)));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if ((status >= 200 && status < 300) || options.acceptStatuses?.includes(status)) {
            resolvePromise({ status, headers: res.headers, body });
          } else {
            reject(new AgentResponseError(status, body));
          }
        });
      });
      req.on('error', (error) => reject(new AgentConnectionError(this.address, error)));
      req.end(options.body);
    });
  }

  async getJson<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    const response = await this.request('GET', path, { query });
    try {
      return JSON.parse(response.body) as T;
    } catch {
      throw new Error(`Invalid answer from the agent at ${this.address}${path}: not JSON: ${response.body.slice(0, 200)}`);
    }
  }
}

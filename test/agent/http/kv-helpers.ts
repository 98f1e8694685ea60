// Shared by the KV, txn and session endpoint tests: a real dev agent
// (`tribune agent -dev`) as a child process on its own loopback address, and
// a raw HTTP helper that reports status, headers and body without throwing
// for an HTTP answer.
//
//   const agent = await startDevAgent({ ip: '127.0.0.54', node: 'kv-test' });
//   const answer = await agent.request('PUT', '/v1/kv/a', { body: 'x' });
//   await agent.stop();
//
// Each test file takes its own loopback address (127.0.0.54–60), and the ports
// are free ones picked at start, so that neither files running side by side nor
// two runs of the same file (two people testing at once) ever meet.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';

const CLI = new URL('../../../bin/tribune.js', import.meta.url).pathname;

export type Answer = { status: number; headers: IncomingHttpHeaders; body: Buffer; text: string };

export type RequestOptions = { body?: string | Buffer; headers?: Record<string, string | number>; timeoutMs?: number };

export type DevAgent = {
  ip: string;
  httpPort: number;
  node: string;
  /** The agent's HTTP API base, `http://ip:port`. */
  address: string;
  child: ChildProcess;
  output: string[];
  request(method: string, path: string, options?: RequestOptions): Promise<Answer>;
  /** JSON of a 2xx answer; throws with the status and body otherwise. */
  json<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** A new session on the agent's node (default body: LockDelay 15 s, no TTL). */
  createSession(body?: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
};

export function httpCall(ip: string, port: number, method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body !== undefined) headers['Content-Length'] = Buffer.byteLength(options.body);
    const req = httpRequest({ host: ip, port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path}: no answer in ${options.timeoutMs ?? 30_000} ms`)));
    // A server that refuses a large body answers before reading it and closes: the write may
    // fail (EPIPE, ECONNRESET) while the answer is already on its way. Give it a moment.
    req.on('error', (error) => setTimeout(() => reject(error), 200));
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A port nobody listens on at `ip` right now (the kernel's pick). */
export function freePort(ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, ip, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start `tribune agent -dev` on `ip` with free HTTP and mesh ports, and wait
 * until it leads and its node can hold sessions (serfHealth registered).
 */
export async function startDevAgent(options: { ip: string; node: string; extraArgs?: string[] }): Promise<DevAgent> {
  const { ip, node } = options;
  const httpPort = await freePort(ip);
  const meshPort = await freePort(ip);
  const child = spawn(process.execPath, [
    CLI, 'agent', '-dev', '-node', node, '-bind', ip, '-port', String(meshPort), '-client', ip, '-http-port', String(httpPort), '-dns-port', '-1',
    '-log-level', 'info', ...(options.extraArgs ?? []),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) output.push(line);
    if (output.length > 500) output.splice(0, output.length - 500);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const request = (method: string, path: string, requestOptions?: RequestOptions) => httpCall(ip, httpPort, method, path, requestOptions);
  const json = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const answer = await request(method, path, body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) });
    if (answer.status < 200 || answer.status > 299) throw new Error(`${method} ${path}: ${answer.status} ${answer.text}`);
    return JSON.parse(answer.text) as T;
  };
  const agent: DevAgent = {
    ip, httpPort, node, address: `http://${ip}:${httpPort}`, child, output, request, json,
    async createSession(body = {}) {
      return (await json<{ ID: string }>('PUT', '/v1/session/create', body)).ID;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))]);
      }
      running.delete(child);
    },
  };

  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const answer = await request('PUT', '/v1/session/create', { body: '{"Name":"readiness"}' });
      if (answer.status === 200 && child.exitCode === null) {
        const id = (JSON.parse(answer.text) as { ID: string }).ID;
        await request('PUT', `/v1/session/destroy/${id}`);
        return agent;
      }
      last = `${answer.status} ${answer.text}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  await agent.stop();
  throw new Error(`dev agent ${node} on ${ip}:${httpPort} not ready: ${last}\n${output.slice(-30).join('\n')}`);
}

// ---------------------------------------------------------------- fuzzing JSON bodies

/** A seeded PRNG (mulberry32): the same seed gives the same bodies, so a failure replays. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Fuzzer = {
  random: () => number;
  pick<T>(items: readonly T[]): T;
  int(max: number): number;
  /** A JSON value of any type, up to `depth` levels of nesting. */
  value(depth?: number): unknown;
  /** `value` changed in one random place: a field removed, renamed, retyped or replaced. */
  mutate(value: unknown): unknown;
  /** The text of `value`, possibly damaged as bytes: truncated, a character inserted or flipped. */
  text(value: unknown): string;
};

const AWKWARD_STRINGS = ['', ' ', '/', '//a', 'a/', '\u0000', '\uffff', '😀', '%2F', '..', 'null', 'true', '0', '-1', '1e309',
  'x'.repeat(300), 'k'.repeat(600), '=', 'YQ==', 'not base64!', '10s', '5s', '25h', '0s', '-1s', 'release', 'delete', 'serfHealth'];
const AWKWARD_NUMBERS = [0, -1, 1, 0.5, 1e3, 999, 2 ** 53, 2 ** 53 - 1, 2 ** 64, -0, 1e308, 128, 129, 60e9, 1e-9];

export function fuzzer(seed: number): Fuzzer {
  const random = seededRandom(seed);
  const int = (max: number) => Math.floor(random() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const scalar = (): unknown => {
    switch (int(6)) {
      case 0: return null;
      case 1: return random() < 0.5;
      case 2: return pick(AWKWARD_NUMBERS);
      case 3: return int(1000);
      case 4: return pick(AWKWARD_STRINGS);
      default: return String.fromCharCode(...Array.from({ length: int(12) }, () => 32 + int(95)));
    }
  };
  const value = (depth = 3): unknown => {
    if (depth <= 0 || random() < 0.5) return scalar();
    if (random() < 0.5) return Array.from({ length: int(4) }, () => value(depth - 1));
    const object: Record<string, unknown> = {};
    for (let i = int(4); i > 0; i--) object[pick(['KV', 'Verb', 'Key', 'Value', 'Name', 'TTL', 'x', '__proto__', 'constructor'])] = value(depth - 1);
    return object;
  };
  const mutate = (target: unknown): unknown => {
    if (Array.isArray(target)) {
      if (target.length === 0 || random() < 0.2) return random() < 0.5 ? [...target, value()] : value();
      const copy = [...target];
      const at = int(copy.length);
      switch (int(4)) {
        case 0: copy.splice(at, 1); break;
        case 1: copy.splice(at, 0, copy[at]); break;
        default: copy[at] = mutate(copy[at]);
      }
      return copy;
    }
    if (typeof target === 'object' && target !== null) {
      const copy: Record<string, unknown> = { ...(target as Record<string, unknown>) };
      const keys = Object.keys(copy);
      if (keys.length === 0 || random() < 0.15) {
        copy[pick([...keys, 'Extra', 'kv', 'verb', 'VALUE', 'Session', 'LockDelay', 'Checks', 'ServiceChecks'])] = value(2);
        return copy;
      }
      const key = pick(keys);
      switch (int(5)) {
        case 0: delete copy[key]; break;
        case 1: copy[key.toLowerCase() === key ? key.toUpperCase() : key.toLowerCase()] = copy[key]; delete copy[key]; break;
        case 2: copy[key] = value(2); break;
        default: copy[key] = mutate(copy[key]);
      }
      return copy;
    }
    return random() < 0.5 ? scalar() : value(2);
  };
  const text = (target: unknown): string => {
    const json = JSON.stringify(target) ?? 'null';
    switch (int(10)) {
      case 0: return json.slice(0, int(json.length + 1));
      case 1: {
        const at = int(json.length + 1);
        return json.slice(0, at) + pick(['{', '}', '[', ']', ',', '"', ':', '\\', 'x', ' ', '\u0000']) + json.slice(at);
      }
      case 2: return pick(['', 'null', '{}', '[]', '""', '0', 'true', '[null]', '[{}]', '[[]]', '{"KV":null}', '\uFEFF[]', '[] x']);
      default: return json;
    }
  };
  return { random, pick, int, value, mutate, text };
}

// Shared by the KV, txn and session endpoint tests: a real dev agent
// (`tribune agent -dev`) as a child process on its own loopback address, and
// a raw HTTP helper that reports status, headers and body without throwing
// for an HTTP answer.
//
//   const agent = await startDevAgent({ ip: '127.0.0.54', httpPort: 19554, node: 'kv-test' });
//   const answer = await agent.request('PUT', '/v1/kv/a', { body: 'x' });
//   await agent.stop();
//
// Each test file takes its own address and port so that files running side by
// side never meet: 127.0.0.54–60, HTTP ports 19554–19560.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
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
    req.on('error', reject);
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

/** Start `tribune agent -dev` and wait until it leads and its node can hold sessions (serfHealth registered). */
export async function startDevAgent(options: { ip: string; httpPort: number; node: string; extraArgs?: string[] }): Promise<DevAgent> {
  const { ip, httpPort, node } = options;
  const child = spawn(process.execPath, [
    CLI, 'agent', '-dev', '-node', node, '-bind', ip, '-client', ip, '-http-port', String(httpPort), '-dns-port', '-1',
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
      if (answer.status === 200) {
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

// One run of an interval check: HTTP, TCP or a script, each with a timeout,
// each answering a status and Consul's output text for it. No scheduling
// here (runner.ts owns the timers) and no state: a probe is a function.
//
//   await probeHttp({ url: 'http://127.0.0.1:8080/health', method: 'GET', headers: {}, body: '', … }, 10_000)
//   // { status: 'passing', output: 'HTTP GET http://127.0.0.1:8080/health: 200 OK Output: ok' }
//   await probeTcp('127.0.0.1:5432', 10_000)   // { status: 'passing', output: 'TCP connect 127.0.0.1:5432: Success' }
//   await probeScript(['/usr/local/bin/check_disk'], 10_000)   // exit 0 passing, 1 warning, else critical
//
// Outputs are cut to CHECK_OUTPUT_MAX_BYTES (Consul's OutputMaxSize default):
// a probe never reads more than that of a body or a script's output.

import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { CheckStatus } from '../../protocol/state-commands.ts';
import { CHECK_OUTPUT_MAX_BYTES, truncateUtf8 } from '../local/definitions.ts';
import type { HttpCheckTarget } from '../local/definitions.ts';
import { formatDuration } from '../http/duration.ts';

export type ProbeResult = { status: CheckStatus; output: string };

/** Consul's headers on HTTP checks, so that services can recognise (and not log) them. */
const HTTP_CHECK_USER_AGENT = 'Consul Health Check';
const HTTP_CHECK_ACCEPT = 'text/plain, text/*, */*';
/** Go's http.Client follows at most 10 redirects. */
const REDIRECTS_MAX = 10;

/** Consul's mapping: any 2xx is passing, 429 Too Many Requests is warning, anything else critical. */
export function httpStatusToCheckStatus(code: number): CheckStatus {
  if (code >= 200 && code <= 299) return 'passing';
  if (code === 429) return 'warning';
  return 'critical';
}

export async function probeHttp(target: HttpCheckTarget, timeoutMs: number): Promise<ProbeResult> {
  const deadline = AbortSignal.timeout(timeoutMs);
  let url = new URL(target.url);
  let method = target.method;
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await httpExchange(url, method, target, deadline);
      const location = response.headers.location;
      if (!target.disableRedirects && isRedirect(response.statusCode) && location !== undefined) {
        response.destroy();
        if (redirects >= REDIRECTS_MAX) return { status: 'critical', output: `${target.method} ${target.url}: stopped after ${REDIRECTS_MAX} redirects` };
        url = new URL(location, url);
        if (response.statusCode === 303 || ((response.statusCode === 301 || response.statusCode === 302) && method === 'POST')) method = 'GET';
        continue;
      }
      const code = response.statusCode ?? 0;
      const body = await readLimited(response, CHECK_OUTPUT_MAX_BYTES, deadline);
      const output = truncateUtf8(`HTTP ${target.method} ${target.url}: ${code} ${response.statusMessage ?? ''} Output: ${body}`);
      return { status: httpStatusToCheckStatus(code), output };
    }
  } catch (error) {
    if (deadline.aborted) {
      return { status: 'critical', output: `${target.method} ${target.url}: request timed out after ${formatDuration(timeoutMs)} (Client.Timeout exceeded)` };
    }
    return { status: 'critical', output: truncateUtf8(`${target.method} ${target.url}: ${describeNetworkError(error)}`) };
  }
}

function isRedirect(code: number | undefined): boolean {
  return code === 301 || code === 302 || code === 303 || code === 307 || code === 308;
}

function httpExchange(url: URL, method: string, target: HttpCheckTarget, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { 'User-Agent': HTTP_CHECK_USER_AGENT, Accept: HTTP_CHECK_ACCEPT };
    for (const [name, values] of Object.entries(target.headers)) headers[name] = values.length === 1 ? values[0]! : values;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(url, { method, headers, signal, agent: false, rejectUnauthorized: !target.tlsSkipVerify }, resolve);
    request.on('error', reject);
    if (target.body !== '' && method !== 'GET' && method !== 'HEAD') request.end(target.body);
    else request.end();
  });
}

/** At most `maxBytes` of the body, as text; the rest is not read. */
function readLimited(response: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = () => {
      response.destroy();
      resolve(Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8'));
    };
    response.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= maxBytes) finish();
    });
    response.on('end', finish);
    response.on('error', (error) => (signal.aborted ? reject(error) : finish()));
  });
}

/** Connect, then close at once: Consul's TCP check. */
export function probeTcp(target: string, timeoutMs: number): Promise<ProbeResult> {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
  const host = match?.[1] ?? target;
  const port = Number(match?.[2] ?? 0);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ status: 'critical', output: `dial tcp ${target}: i/o timeout after ${formatDuration(timeoutMs)}` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: 'passing', output: `TCP connect ${target}: Success` });
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: 'critical', output: `dial tcp ${target}: ${describeNetworkError(error)}` });
    });
  });
}

/**
 * Run a command (no shell unless the command is one): exit 0 is passing, 1
 * warning, anything else critical, as Consul's script checks. Output is
 * stdout and stderr together. On timeout the whole process group is killed.
 */
export function probeScript(args: readonly string[], timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    let settled = false;
    const done = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const collect = (chunk: Buffer) => {
      if (size >= CHECK_OUTPUT_MAX_BYTES) return;
      chunks.push(chunk);
      size += chunk.length;
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    child.once('error', (error) => done({ status: 'critical', output: truncateUtf8(`cannot run ${args[0]}: ${describeNetworkError(error)}`) }));
    child.once('close', (code, signal) => {
      const output = truncateUtf8(Buffer.concat(chunks).subarray(0, CHECK_OUTPUT_MAX_BYTES).toString('utf8'));
      if (timedOut) done({ status: 'critical', output: `Timed out (${formatDuration(timeoutMs)}) running check` });
      else if (code === 0) done({ status: 'passing', output });
      else if (code === 1) done({ status: 'warning', output });
      else done({ status: 'critical', output: output || `exited with ${code === null ? `signal ${signal}` : `code ${code}`}` });
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function describeNetworkError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connect: connection refused';
  if (code === 'ENOTFOUND') return 'no such host';
  if (code === 'EHOSTUNREACH') return 'connect: no route to host';
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  return (error as Error).message;
}

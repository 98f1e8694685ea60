// The health-check runners (agent/checks/): HTTP (2xx passing, 429
// warning, else critical; timeouts; redirects), TCP (connect), scripts (exit
// codes, timeouts), TTL (critical when it runs out), and the thresholds
// (success_before_passing, failures_before_critical/warning).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { probeHttp, probeScript, probeTcp } from '../../../agent/checks/probes.ts';
import { IntervalCheck, TtlCheck, TTL_EXPIRED_OUTPUT } from '../../../agent/checks/runner.ts';
import { StatusHandler } from '../../../agent/checks/status-handler.ts';
import { parseCheckDefinition } from '../../../agent/local/definitions.ts';
import type { HttpCheckTarget } from '../../../agent/local/definitions.ts';
import type { CheckStatus } from '../../../protocol/state-commands.ts';

const HOST = '127.0.0.1';

function target(url: string, extra: Partial<HttpCheckTarget> = {}): HttpCheckTarget {
  return { url, method: 'GET', headers: {}, body: '', tlsSkipVerify: false, disableRedirects: false, ...extra };
}

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as { port: number }).port;
}

async function close(server: Server | ReturnType<typeof createTcpServer>): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

test('HTTP: 2xx is passing, 429 warning, anything else critical; output as Consul words it', async () => {
  let status = 200;
  const seen: Record<string, string | undefined>[] = [];
  const server = createHttpServer((request, response) => {
    seen.push({ ua: request.headers['user-agent'], method: request.method, custom: request.headers['x-check'] as string | undefined });
    response.writeHead(status, { 'content-type': 'text/plain' }).end('body text');
  });
  const port = await listen(server);
  try {
    const url = `http://${HOST}:${port}/health`;
    const pass = await probeHttp(target(url, { headers: { 'X-Check': ['yes'] } }), 2_000);
    assert.equal(pass, { status: 'passing', output: `HTTP GET ${url}: 200 OK Output: body text` });
    assert.equal(seen[0], { ua: 'Consul Health Check', method: 'GET', custom: 'yes' });
    for (const [code, expected] of [[204, 'passing'], [299, 'passing'], [429, 'warning'], [404, 'critical'], [500, 'critical'], [503, 'critical']] as const) {
      status = code;
      assert.is((await probeHttp(target(url), 2_000)).status, expected, `HTTP ${code}`);
    }
    status = 200;
    assert.is((await probeHttp(target(url, { method: 'POST', body: '{}' }), 2_000)).status, 'passing');
    assert.is(seen.at(-1)!.method, 'POST');
  } finally {
    await close(server);
  }
});

test('HTTP: a slow answer is critical after the timeout; a closed port is critical at once', async () => {
  const server = createHttpServer(() => { /* never answers */ });
  const port = await listen(server);
  try {
    const started = Date.now();
    const slow = await probeHttp(target(`http://${HOST}:${port}/`), 200);
    assert.is(slow.status, 'critical');
    assert.match(slow.output, /timed out after 200ms/);
    assert.ok(Date.now() - started < 2_000);
  } finally {
    await close(server);
  }
  const refused = await probeHttp(target(`http://${HOST}:${port}/`), 2_000);
  assert.is(refused.status, 'critical');
  assert.match(refused.output, /connection refused/);
});

test('HTTP: redirects are followed unless DisableRedirects; the body read is bounded', async () => {
  const server = createHttpServer((request, response) => {
    if (request.url === '/old') response.writeHead(302, { location: '/new' }).end();
    else if (request.url === '/big') response.writeHead(200).end('x'.repeat(1_000_000));
    else response.writeHead(200).end('new');
  });
  const port = await listen(server);
  try {
    const followed = await probeHttp(target(`http://${HOST}:${port}/old`), 2_000);
    assert.is(followed.status, 'passing');
    assert.match(followed.output, /Output: new$/);
    assert.is((await probeHttp(target(`http://${HOST}:${port}/old`, { disableRedirects: true }), 2_000)).status, 'critical');
    const big = await probeHttp(target(`http://${HOST}:${port}/big`), 2_000);
    assert.is(big.status, 'passing');
    assert.ok(Buffer.byteLength(big.output) <= 4_096);
  } finally {
    await close(server);
  }
});

test('TCP: a listening port is passing, a closed one critical', async () => {
  const server = createTcpServer((socket) => socket.end());
  const port = await listen(server);
  try {
    assert.equal(await probeTcp(`${HOST}:${port}`, 2_000), { status: 'passing', output: `TCP connect ${HOST}:${port}: Success` });
  } finally {
    await close(server);
  }
  const closed = await probeTcp(`${HOST}:${port}`, 2_000);
  assert.is(closed.status, 'critical');
  assert.match(closed.output, new RegExp(`dial tcp ${HOST}:${port}: connect: connection refused`));
});

test('scripts: exit 0 passing, 1 warning, other critical; output captured; a hung script is killed at the timeout', async () => {
  assert.equal(await probeScript(['/bin/sh', '-c', 'echo fine'], 2_000), { status: 'passing', output: 'fine\n' });
  assert.equal(await probeScript(['/bin/sh', '-c', 'echo slow >&2; exit 1'], 2_000), { status: 'warning', output: 'slow\n' });
  assert.is((await probeScript(['/bin/sh', '-c', 'exit 2'], 2_000)).status, 'critical');
  const missing = await probeScript(['/nonexistent/check'], 2_000);
  assert.is(missing.status, 'critical');
  const started = Date.now();
  const hung = await probeScript(['/bin/sh', '-c', 'sleep 30'], 200);
  assert.equal(hung, { status: 'critical', output: 'Timed out (200ms) running check' });
  assert.ok(Date.now() - started < 5_000);
});

test('thresholds: success_before_passing and failures_before_critical hold the status; warning before critical', () => {
  const handler = new StatusHandler({ successBeforePassing: 2, failuresBeforeCritical: 3, failuresBeforeWarning: 2 });
  const results = (['passing', 'passing', 'critical', 'critical', 'critical', 'passing', 'critical', 'passing', 'passing'] as CheckStatus[]).map((status) => handler.next(status));
  assert.equal(results, [null, 'passing', null, 'warning', 'critical', null, null, null, 'passing']);
  const immediate = new StatusHandler({ successBeforePassing: 0, failuresBeforeCritical: 0, failuresBeforeWarning: 0 });
  assert.equal([immediate.next('critical'), immediate.next('passing'), immediate.next('warning')], ['critical', 'passing', 'warning']);
});

test('an interval check runs again and again, reports through the thresholds, and stops when told', async () => {
  const definition = parseCheckDefinition({ Name: 'c', TCP: '127.0.0.1:1', Interval: '20ms', FailuresBeforeCritical: 2 }, { enableScriptChecks: false, minCheckIntervalMs: 1 });
  const reports: string[] = [];
  let next: CheckStatus = 'critical';
  const runner = new IntervalCheck(definition, (status, output) => reports.push(`${status}:${output}`), {
    random: () => 0,
    probe: async () => ({ status: next, output: next }),
  });
  runner.start();
  try {
    await until(() => runner.runs >= 2);
    assert.equal(reports, ['critical:critical'], 'critical after the second failure only');
    next = 'passing';
    await until(() => reports.length >= 2);
    assert.is(reports[1], 'passing:passing');
  } finally {
    runner.stop();
  }
  const runs = runner.runs;
  await sleep(80);
  assert.ok(runner.runs <= runs + 1, 'no runs after stop');
});

test('a TTL check turns critical with "TTL expired" unless updated in time; each update restarts the clock', async () => {
  const reports: string[] = [];
  const ttl = new TtlCheck(400, (status, output) => reports.push(`${status}:${output}`));
  ttl.start();
  try {
    await sleep(200);
    ttl.update('passing', 'alive');
    await sleep(250);
    assert.equal(reports, ['passing:alive'], 'the update pushed the expiry back');
    await sleep(400);
    assert.equal(reports, ['passing:alive', `critical:${TTL_EXPIRED_OUTPUT}`]);
  } finally {
    ttl.stop();
  }
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(5);
  }
}

test.run();

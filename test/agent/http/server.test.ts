import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { AgentApiError } from '../../../agent/http/agent-api.ts';
import { parseBlockingQuery, queryMeta, waitForIndex } from '../../../agent/http/blocking.ts';
import type { IndexWatch, WaitOutcome } from '../../../agent/http/blocking.ts';
import { jsonReply } from '../../../agent/http/router.ts';
import type { Router } from '../../../agent/http/router.ts';
import { startHttpServer } from '../../../agent/http/server.ts';
import type { HttpServer, HttpServerOptions } from '../../../agent/http/server.ts';
import { registerAgentEndpoints } from '../../../agent/http/agent-endpoints.ts';
import { fakeAgentApi, send, sleep } from './helpers.ts';
import type { FakeAgentApi } from './helpers.ts';

/** A counter that blocking queries wait on, as the state machine's per-prefix indexes will be. */
class CounterWatch implements IndexWatch {
  index = 10;
  signals: AbortSignal[] = [];
  #waiters = new Set<() => void>();
  currentIndex(): number {
    return this.index;
  }
  waitForChange(_index: number, signal: AbortSignal): Promise<void> {
    this.signals.push(signal);
    return new Promise((resolve) => {
      const wake = () => {
        this.#waiters.delete(wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      this.#waiters.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
  get waiting(): number {
    return this.#waiters.size;
  }
  bump(): void {
    this.index++;
    for (const wake of [...this.#waiters]) wake();
  }
}

type Harness = {
  server: HttpServer;
  api: FakeAgentApi;
  watch: CounterWatch;
  outcomes: WaitOutcome[];
  handlerCalls: string[];
  logs: string[];
};

/** Test-only endpoints next to the agent's: what issue 4's files will register, in miniature. */
function testEndpoints(harness: Omit<Harness, 'server' | 'logs'>) {
  return (router: Router) => {
    router.put('/v1/test/echo/*rest', (request) => {
      harness.handlerCalls.push('echo');
      return jsonReply({ got: request.json(), token: request.token ?? null, rest: request.params.rest });
    });
    router.put('/v1/test/small', (request) => jsonReply({ bytes: request.body.length }), { maxBodyBytes: 16 });
    router.get('/v1/test/blocking', async (request) => {
      const blocking = parseBlockingQuery(request.query);
      harness.outcomes.push(await waitForIndex(blocking, harness.watch, request.signal));
      return jsonReply({ index: harness.watch.index }, queryMeta(harness.api, harness.watch.index));
    });
    router.get('/v1/test/crash', () => {
      const error = new TypeError('Cannot read properties of undefined (reading \'x\')\nsecond line');
      error.stack = 'TypeError: Cannot read…\n    at secretInternalFunction (agent/secret.ts:1:1)';
      throw error;
    });
    router.get('/v1/test/agent-error', () => {
      throw new AgentApiError(409, 'Session is locked by another holder');
    });
    router.get('/v1/test/odd-status', () => {
      throw new AgentApiError(42, 'not a real status');
    });
    router.get('/v1/test/raw', () => ({ raw: { body: 'hello', contentType: 'text/plain; charset=utf-8' } }));
    router.get('/v1/test/meta', () => jsonReply([], { index: 0, knownLeader: false, lastContactMs: -3.7 }));
    router.get('/v1/test/cycle', () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      return jsonReply(cyclic);
    });
  };
}

async function start(options: Partial<HttpServerOptions> = {}): Promise<Harness> {
  const api = fakeAgentApi();
  const partial = { api, watch: new CounterWatch(), outcomes: [] as WaitOutcome[], handlerCalls: [] as string[] };
  const logs: string[] = [];
  const server = await startHttpServer({
    api,
    host: '127.0.0.1',
    port: 0,
    log: (level, message) => logs.push(`${level} ${message}`),
    routes: [registerAgentEndpoints, testEndpoints(partial)],
    ...options,
  });
  return { ...partial, server, logs };
}

async function until(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Write raw bytes on a fresh socket; resolve with everything the server sends until it closes (or `waitMs`). */
function rawExchange(port: number, payload: string | Buffer, waitMs = 1_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed });
    }, waitMs);
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ text, closed });
    });
    socket.write(payload);
  });
}

// --- routing errors ------------------------------------------------------------

test('an unknown path is 404 in plain text naming the path', async () => {
  const { server } = await start();
  try {
    const answer = await send(server.port, 'GET', '/v1/agent/nothing-here?x=1');
    assert.is(answer.status, 404);
    assert.match(answer.headers['content-type']!, /^text\/plain/);
    assert.is(answer.body, 'Invalid URL path: "/v1/agent/nothing-here" is not a recognized HTTP API endpoint');
    const outside = await send(server.port, 'GET', '/agent/members');
    assert.is(outside.status, 404);
    assert.match(outside.body, /"\/agent\/members"; the HTTP API paths start with \/v1\//);
  } finally {
    await server.close();
  }
});

test('a known path with the wrong method is 405 with Allow, as Consul answers GET on PUT endpoints', async () => {
  const { server, api } = await start();
  try {
    for (const path of ['/v1/agent/join/127.0.0.12', '/v1/agent/leave', '/v1/agent/force-leave/node-b']) {
      const answer = await send(server.port, 'GET', path);
      assert.is(answer.status, 405, path);
      assert.is(answer.body, 'method GET not allowed');
      assert.is(answer.headers.allow, 'OPTIONS,PUT');
    }
    const post = await send(server.port, 'POST', '/v1/agent/members', { body: '{}' });
    assert.is(post.status, 405);
    assert.is(post.headers.allow, 'OPTIONS,GET,HEAD');
    assert.equal(api.calls, [], 'no handler ran');
  } finally {
    await server.close();
  }
});

test('OPTIONS lists the methods; HEAD answers GET\'s headers without a body', async () => {
  const { server } = await start();
  try {
    const options = await send(server.port, 'OPTIONS', '/v1/agent/leave');
    assert.is(options.status, 200);
    assert.is(options.headers.allow, 'OPTIONS,PUT');
    const head = await send(server.port, 'HEAD', '/v1/agent/members');
    assert.is(head.status, 200);
    assert.is(head.body, '');
    assert.is(head.headers['content-type'], 'application/json');
    assert.ok(Number(head.headers['content-length']) > 10);
  } finally {
    await server.close();
  }
});

// --- bodies ------------------------------------------------------------------------

test('JSON bodies reach the handler; malformed or empty JSON is 400 naming the problem', async () => {
  const { server } = await start();
  try {
    const ok = await send(server.port, 'PUT', '/v1/test/echo/a%2Fb/c', { body: '{"Key":"x","Flags":3}' });
    assert.is(ok.status, 200);
    assert.equal(JSON.parse(ok.body), { got: { Key: 'x', Flags: 3 }, token: null, rest: 'a/b/c' });
    const malformed = await send(server.port, 'PUT', '/v1/test/echo/x', { body: '{"Key": "x",' });
    assert.is(malformed.status, 400);
    assert.match(malformed.body, /^Request decode failed: .*JSON/);
    assert.match(malformed.headers['content-type']!, /^text\/plain/);
    const empty = await send(server.port, 'PUT', '/v1/test/echo/x');
    assert.is(empty.status, 400);
    assert.is(empty.body, 'Request decode failed: the body is empty, JSON expected');
  } finally {
    await server.close();
  }
});

test('a body over the limit is 413, by Content-Length before reading and by counting when chunked', async () => {
  const { server, handlerCalls } = await start({ maxBodyBytes: 1024 });
  try {
    const declared = await send(server.port, 'PUT', '/v1/test/echo/x', { body: Buffer.alloc(4096, 0x20) });
    assert.is(declared.status, 413);
    assert.is(declared.body, 'Request body too large: 4096 bytes, max size: 1024 bytes');
    const chunked = await send(server.port, 'PUT', '/v1/test/echo/x', { body: Buffer.alloc(4096, 0x20), chunked: true });
    assert.is(chunked.status, 413);
    assert.is(chunked.body, 'Request body too large: more than 1024 bytes');
    const route = await send(server.port, 'PUT', '/v1/test/small', { body: 'x'.repeat(17) });
    assert.is(route.status, 413, 'a route\'s own limit applies');
    const fits = await send(server.port, 'PUT', '/v1/test/small', { body: 'x'.repeat(16) });
    assert.equal(JSON.parse(fits.body), { bytes: 16 });
    assert.equal(handlerCalls, [], 'the handler never saw an oversize body');
  } finally {
    await server.close();
  }
});

test('after a 413 the client still gets its answer and the keep-alive connection stays usable', async () => {
  const { server } = await start({ maxBodyBytes: 1024 });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const oversize = await send(server.port, 'PUT', '/v1/test/echo/x', { body: Buffer.alloc(200_000, 0x20), agent });
    assert.is(oversize.status, 413);
    const next = await send(server.port, 'GET', '/v1/status/leader', { agent });
    assert.is(next.status, 200);
    assert.is(next.body, '"127.0.0.11:8301"');
  } finally {
    agent.destroy();
    await server.close();
  }
});

test('a body that does not arrive in time is 408 and the connection closes', async () => {
  const { server, handlerCalls } = await start({ bodyTimeoutMs: 150 });
  try {
    const started = performance.now();
    const { text, closed } = await rawExchange(server.port,
      'PUT /v1/test/echo/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"partial":', 3_000);
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /Request body not received within 150 ms$/);
    assert.match(text, /Connection: close/i);
    assert.ok(closed, 'the server closed the socket');
    assert.ok(performance.now() - started < 2_000);
    assert.equal(handlerCalls, []);
  } finally {
    await server.close();
  }
});

test('a client that disconnects mid-body leaves nothing behind and the server keeps serving', async () => {
  const { server, handlerCalls } = await start();
  try {
    await new Promise<void>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () => {
        socket.write('PUT /v1/test/echo/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{"half":');
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
      socket.on('error', () => {});
    });
    await sleep(50);
    assert.equal(handlerCalls, []);
    assert.is((await send(server.port, 'GET', '/v1/status/peers')).status, 200);
  } finally {
    await server.close();
  }
});

// --- answers -------------------------------------------------------------------------

test('?pretty indents JSON with four spaces and ends it with a newline, as Consul', async () => {
  const { server } = await start();
  try {
    const plain = await send(server.port, 'GET', '/v1/status/peers');
    assert.is(plain.body, '["127.0.0.11:8301","127.0.0.12:8301","127.0.0.13:8301"]');
    const pretty = await send(server.port, 'GET', '/v1/status/peers?pretty');
    assert.is(pretty.body, '[\n    "127.0.0.11:8301",\n    "127.0.0.12:8301",\n    "127.0.0.13:8301"\n]\n');
  } finally {
    await server.close();
  }
});

test('tokens are accepted from ?token, X-Consul-Token and Authorization: Bearer, and hidden in logs', async () => {
  const { server, logs } = await start();
  try {
    const byQuery = await send(server.port, 'PUT', '/v1/test/echo/x?token=s3cret-query', { body: '1' });
    assert.is(JSON.parse(byQuery.body).token, 's3cret-query');
    const byHeader = await send(server.port, 'PUT', '/v1/test/echo/x', { body: '1', headers: { 'X-Consul-Token': 's3cret-header' } });
    assert.is(JSON.parse(byHeader.body).token, 's3cret-header');
    const byBearer = await send(server.port, 'PUT', '/v1/test/echo/x', { body: '1', headers: { Authorization: 'Bearer s3cret-bearer' } });
    assert.is(JSON.parse(byBearer.body).token, 's3cret-bearer');
    const members = await send(server.port, 'GET', '/v1/agent/members?token=anything');
    assert.is(members.status, 200);
    assert.ok(logs.some((line) => line.includes('token=<hidden>')));
    assert.not.ok(logs.some((line) => line.includes('s3cret-query')));
  } finally {
    await server.close();
  }
});

test('an unexpected error is 500 with its first line only; the stack goes to the log, not the client', async () => {
  const { server, logs } = await start();
  try {
    const answer = await send(server.port, 'GET', '/v1/test/crash');
    assert.is(answer.status, 500);
    assert.is(answer.body, 'Cannot read properties of undefined (reading \'x\')');
    assert.not.match(answer.body, /secretInternalFunction|second line/);
    assert.ok(logs.some((line) => line.startsWith('error ') && line.includes('secretInternalFunction')));
  } finally {
    await server.close();
  }
});

test('AgentApiError answers its status; a nonsense status becomes 500; an unserializable answer is a clean 500', async () => {
  const { server } = await start();
  try {
    const conflict = await send(server.port, 'GET', '/v1/test/agent-error');
    assert.is(conflict.status, 409);
    assert.is(conflict.body, 'Session is locked by another holder');
    assert.is((await send(server.port, 'GET', '/v1/test/odd-status')).status, 500);
    const cycle = await send(server.port, 'GET', '/v1/test/cycle');
    assert.is(cycle.status, 500);
    assert.match(cycle.body, /circular/i);
  } finally {
    await server.close();
  }
});

test('query meta headers: X-Consul-Index never 0, KnownLeader, LastContact in whole ms; raw replies keep their type', async () => {
  const { server } = await start();
  try {
    const meta = await send(server.port, 'GET', '/v1/test/meta');
    assert.is(meta.headers['x-consul-index'], '1');
    assert.is(meta.headers['x-consul-knownleader'], 'false');
    assert.is(meta.headers['x-consul-lastcontact'], '0');
    const raw = await send(server.port, 'GET', '/v1/test/raw');
    assert.is(raw.body, 'hello');
    assert.is(raw.headers['content-type'], 'text/plain; charset=utf-8');
  } finally {
    await server.close();
  }
});

test('keep-alive: consecutive requests reuse one connection', async () => {
  const { server } = await start();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const ports = new Set<number>();
  try {
    for (let i = 0; i < 5; i++) {
      agent.once('free', (socket) => ports.add(socket.localPort!));
      assert.is((await send(server.port, 'GET', '/v1/status/leader', { agent })).status, 200);
    }
    await sleep(10);
    assert.is(ports.size, 1, `one client port, got ${[...ports]}`);
  } finally {
    agent.destroy();
    await server.close();
  }
});

test('absolute-form targets and malformed HTTP get answers, not crashes', async () => {
  const { server } = await start();
  try {
    const absolute = await rawExchange(server.port, `GET http://127.0.0.1:${server.port}/v1/status/leader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.match(absolute.text, /^HTTP\/1\.1 200 /);
    assert.match(absolute.text, /"127\.0\.0\.11:8301"$/);
    const garbage = await rawExchange(server.port, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage.text, /^HTTP\/1\.1 400 /);
    const badEncoding = await send(server.port, 'GET', '/v1/agent/force-leave/%zz');
    assert.is(badEncoding.status, 400);
    assert.is(badEncoding.body, 'Invalid URL path: malformed percent-encoding');
  } finally {
    await server.close();
  }
});

// --- blocking queries ----------------------------------------------------------------

test('a blocking query waits for the index to move past N and answers with the new X-Consul-Index', async () => {
  const { server, watch, outcomes } = await start();
  try {
    const immediate = await send(server.port, 'GET', '/v1/test/blocking?index=9');
    assert.is(immediate.headers['x-consul-index'], '10');
    const pending = send(server.port, 'GET', '/v1/test/blocking?index=10&wait=30s');
    await until(() => watch.waiting === 1, 'the request to block');
    watch.bump();
    const answer = await pending;
    assert.is(answer.status, 200);
    assert.is(answer.headers['x-consul-index'], '11');
    assert.is(answer.headers['x-consul-knownleader'], 'true');
    assert.is(answer.headers['x-consul-lastcontact'], '0');
    assert.equal(outcomes, ['changed', 'changed']);
  } finally {
    await server.close();
  }
});

test('a blocking query times out after ?wait (plus at most wait/16) and answers the same index', async () => {
  const { server, outcomes } = await start();
  try {
    const started = performance.now();
    const answer = await send(server.port, 'GET', '/v1/test/blocking?index=10&wait=80ms');
    const elapsed = performance.now() - started;
    assert.is(answer.headers['x-consul-index'], '10');
    assert.ok(elapsed >= 75 && elapsed < 1_000, `waited ${elapsed} ms`);
    assert.equal(outcomes, ['timeout']);
    const bad = await send(server.port, 'GET', '/v1/test/blocking?index=10&wait=10parsecs');
    assert.is(bad.status, 400);
    assert.is(bad.body, 'Invalid wait time: time: unknown unit "parsecs" in duration "10parsecs"');
  } finally {
    await server.close();
  }
});

test('a client disconnecting during a blocking wait aborts the wait', async () => {
  const { server, watch, outcomes, logs } = await start();
  try {
    const client = connect(server.port, '127.0.0.1');
    client.on('error', () => {});
    client.write('GET /v1/test/blocking?index=10&wait=5m HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await until(() => watch.waiting === 1, 'the request to block');
    const signal = watch.signals.at(-1)!;
    assert.not.ok(signal.aborted);
    client.destroy();
    await until(() => outcomes.length === 1, 'the wait to end');
    assert.equal(outcomes, ['aborted']);
    assert.ok(signal.aborted, 'the watch saw the abort');
    assert.is(watch.waiting, 0, 'no waiter left behind');
    assert.ok(logs.some((line) => line.includes('client disconnected')));
    assert.is((await send(server.port, 'GET', '/v1/status/leader')).status, 200, 'still serving');
  } finally {
    await server.close();
  }
});

test('close() ends blocking waits with an answer, lets them finish, and stops listening', async () => {
  const { server, watch } = await start();
  const pending = send(server.port, 'GET', '/v1/test/blocking?index=10&wait=5m');
  await until(() => watch.waiting === 1, 'the request to block');
  const started = performance.now();
  await server.close();
  assert.ok(performance.now() - started < 1_000, 'close did not wait for the blocking query\'s timeout');
  const answer = await pending;
  assert.is(answer.status, 200);
  assert.is(answer.headers.connection, 'close');
  assert.is(answer.headers['x-consul-index'], '10');
  try {
    await send(server.port, 'GET', '/v1/status/leader');
    assert.unreachable('the server still answers');
  } catch (error) {
    assert.is((error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  }
  await server.close(); // a second close is harmless
});

test('listening on a taken port fails with a message naming the address', async () => {
  const { server } = await start();
  try {
    await startHttpServer({ api: fakeAgentApi(), host: '127.0.0.1', port: server.port });
    assert.unreachable('listened twice');
  } catch (error) {
    assert.match((error as Error).message, new RegExp(`cannot listen for HTTP on 127\\.0\\.0\\.1:${server.port}: .*EADDRINUSE`));
  } finally {
    await server.close();
  }
});

test.run();

// Fuzz the HTTP API: thousands of random methods, paths (percent-encoding
// good and bad, unicode, dot segments, very long), queries (blocking
// parameters, flags, junk) and bodies (JSON, broken JSON, binary, oversize),
// plus raw garbage on sockets. Every request must get a 2xx or 4xx answer:
// with a fake agent that fails nothing, a 5xx means a bug of ours. The server
// must still answer afterwards and close promptly.
//
// Seeded: a failure prints the seed; TRIBUNE_FUZZ_SEED=N replays it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { parseBlockingQuery, queryMeta, waitForIndex } from '../../../agent/http/blocking.ts';
import type { IndexWatch } from '../../../agent/http/blocking.ts';
import { jsonReply } from '../../../agent/http/router.ts';
import type { Router } from '../../../agent/http/router.ts';
import { registerAgentEndpoints } from '../../../agent/http/agent-endpoints.ts';
import { startHttpServer } from '../../../agent/http/server.ts';
import { fakeAgentApi, send } from './helpers.ts';

const REQUESTS = 2_000;
const RAW_SOCKETS = 100;
const CONCURRENCY = 8;
const MAX_BODY_BYTES = 4_096;
const seed = Number(process.env.TRIBUNE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: small, seedable, good enough to pick test inputs. */
function prng(seedValue: number): () => number {
  let state = seedValue >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const random = prng(seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const integer = (max: number) => Math.floor(random() * max);

const METHODS = ['GET', 'GET', 'PUT', 'PUT', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'] as const;
const PREFIXES = [
  '/v1/agent/members', '/v1/agent/self', '/v1/status/leader', '/v1/status/peers', '/v1/agent/leave',
  '/v1/agent/join/', '/v1/agent/force-leave/', '/v1/operator/raft/configuration', '/v1/fuzz/echo/',
  '/v1/fuzz/blocking', '/v1/kv/', '/v1/', '/', '', '/v2/agent/members', '//v1//agent', '/v1/agent/members/',
];
const VALID_ROUTES: readonly (readonly [string, string])[] = [
  ['GET', '/v1/agent/members?wan=1'], ['GET', '/v1/agent/self?pretty'], ['GET', '/v1/status/leader'],
  ['GET', '/v1/operator/raft/configuration?stale'], ['PUT', '/v1/agent/join/127.0.0.12'],
  ['PUT', '/v1/agent/force-leave/node-b?prune'], ['PUT', '/v1/fuzz/echo/a/b'], ['POST', '/v1/fuzz/echo/'],
  ['GET', '/v1/fuzz/blocking?index=5&wait=2ms'],
];
const SEGMENT_PIECES = [
  'node-b', '127.0.0.12', '127.0.0.12:8301', '%2Fip4%2F127.0.0.13%2Ftcp%2F8301', '..', '.', '', '%', '%zz', '%E2%9C',
  '%E2%9C%93', '%00', '%2F', '%25', 'caf\u00e9', '~!$&\'()*+,;=:@', 'a'.repeat(3_000), '\u00ff\u00fe',
];
const QUERY_PIECES = [
  'pretty', 'wan=1', 'prune', 'stale', 'consistent', 'stale&consistent', 'token=secret', 'index=0', 'index=-1',
  'index=99999999999999999999999', 'wait=5x', 'wait=', 'wait=1ms', 'max_stale=abc', 'dc=dc9', '%%%', '&&', '=', 'a=%zz',
  'segment=alpha', 'recurse', 'index=abc',
];

function randomSegment(): string {
  const parts: string[] = [];
  for (let i = 0, n = integer(4); i < n; i++) parts.push(pick(SEGMENT_PIECES));
  for (let i = 0, n = integer(6); i < n; i++) parts.push(String.fromCharCode(0x21 + integer(0x5e))); // printable ASCII
  return parts.join('');
}

function randomPath(): string {
  let path = pick(PREFIXES);
  for (let i = 0, n = integer(3); i < n; i++) path += (random() < 0.5 ? '/' : '') + randomSegment();
  path = path.replace(/[?#]/g, '%3F'); // keep the query ours
  if (path.includes('/v1/fuzz/blocking')) {
    // Blocking requests always carry a short or broken wait, so that none waits the 5-minute default.
    return `${path}?index=${integer(30)}&wait=${pick(['1ms', '5ms', '20ms', 'soon', '-1s', '0.01s'])}`;
  }
  const queries: string[] = [];
  for (let i = 0, n = integer(4); i < n; i++) queries.push(pick(QUERY_PIECES));
  return queries.length === 0 ? path : `${path}?${queries.join('&')}`;
}

function randomBody(): Buffer | string | undefined {
  switch (integer(8)) {
    case 0: return undefined;
    case 1: return '';
    case 2: return JSON.stringify({ Key: randomSegment(), Flags: integer(100), Nested: [1, { a: null }], Value: 'aGVsbG8=' });
    case 3: return '{"Key": "x",';
    case 4: return Buffer.from(Array.from({ length: integer(300) }, () => integer(256)));
    case 5: return Buffer.alloc(MAX_BODY_BYTES + 1 + integer(20_000), 0x7b); // oversize
    case 6: return JSON.stringify('\u0000\ud800'.repeat(integer(10)));
    default: return pick(['null', '[]', '0', 'true', '"string"', '{"__proto__": {"polluted": true}}']);
  }
}

/** A watch whose index ticks forward on its own, so that some waits end by change and some by timeout. */
function tickingWatch(): IndexWatch & { stop(): void } {
  let index = 1;
  const waiters = new Set<() => void>();
  const timer = setInterval(() => {
    index++;
    for (const wake of [...waiters]) wake();
  }, 7);
  return {
    currentIndex: () => index,
    waitForChange(_index, signal) {
      return new Promise((resolve) => {
        const wake = () => {
          waiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        waiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    },
    stop: () => clearInterval(timer),
  };
}

test(`${REQUESTS} random requests and ${RAW_SOCKETS} garbage sockets never crash the server (seed ${seed})`, async () => {
  const api = fakeAgentApi();
  const watch = tickingWatch();
  const errors: string[] = [];
  const fuzzEndpoints = (router: Router) => {
    router.put('/v1/fuzz/echo/*', (request) => jsonReply({ body: request.json(), rest: request.params['*'] }));
    router.post('/v1/fuzz/echo/*', (request) => jsonReply({ bytes: request.body.length }));
    router.get('/v1/fuzz/blocking', async (request) => {
      await waitForIndex(parseBlockingQuery(request.query), watch, request.signal);
      return jsonReply(watch.currentIndex(), queryMeta(api, watch.currentIndex()));
    });
  };
  const server = await startHttpServer({
    api,
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: MAX_BODY_BYTES,
    routes: [registerAgentEndpoints, fuzzEndpoints],
    log: (level, message) => { if (level === 'error') errors.push(message); },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  try {
    let next = 0;
    const worker = async () => {
      while (next < REQUESTS) {
        const number = next++;
        // A third go to a valid route, so that bodies and queries reach handlers, not only the router.
        const [method, path] = random() < 0.33 ? pick(VALID_ROUTES) : [pick(METHODS), randomPath()];
        const body = randomBody();
        const chunked = body !== undefined && random() < 0.2;
        try {
          const answer = await send(server.port, method, path, { body, agent, chunked });
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          if (!(answer.status >= 200 && answer.status < 500)) failures.push(`#${number} ${method} ${path.slice(0, 120)} → ${answer.status} ${answer.body.slice(0, 200)}`);
        } catch (error) {
          failures.push(`#${number} ${method} ${path.slice(0, 120)} → no answer: ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    for (let i = 0; i < RAW_SOCKETS; i++) {
      await new Promise<void>((resolve) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          const junk = Buffer.from(Array.from({ length: 1 + integer(400) }, () => integer(256)));
          const prefix = pick(['', 'GET / HTTP/1.1\r\n', 'PUT /v1/agent/join/x HTTP/1.1\r\nContent-Length: 5\r\n\r\n', 'GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n']);
          socket.write(Buffer.concat([Buffer.from(prefix), junk]));
          setTimeout(() => socket.destroy(), integer(20));
        });
        socket.on('error', () => {});
        socket.on('close', () => resolve());
      });
    }

    assert.equal(failures.slice(0, 10), [], `seed ${seed}: ${failures.length} requests without a 2xx/4xx answer`);
    assert.equal(errors.slice(0, 5), [], `seed ${seed}: errors logged`);
    const leader = await send(server.port, 'GET', '/v1/status/leader');
    assert.is(leader.status, 200, 'still serving');
    assert.ok((statuses.get(200) ?? 0) > 50, 'the fuzz reached handlers');
    assert.ok((statuses.get(404) ?? 0) > 50 && (statuses.get(405) ?? 0) > 20 && (statuses.get(413) ?? 0) > 20 && (statuses.get(400) ?? 0) > 20,
      `a spread of errors: ${JSON.stringify(Object.fromEntries(statuses))}`);
  } finally {
    agent.destroy();
    watch.stop();
    const started = performance.now();
    await server.close();
    assert.ok(performance.now() - started < 2_000, 'nothing left hanging at close');
  }
});

test.run();

// Fuzz the registration endpoints of a real dev agent: PUT /v1/catalog/register,
// /v1/catalog/deregister, /v1/agent/service/register and
// /v1/agent/check/register get seeded random bodies — valid ones, valid ones
// with one field broken (wrong type, out of range, bad duration, oversize,
// lone surrogates, reserved meta keys), random JSON and broken JSON. Every
// answer must be a 2xx or a 4xx with a message, never a 5xx, and after a 4xx
// nothing stored may have changed: not the catalog, not the agent's own
// services and checks.
//
// Seeded: a failure prints the seed; TRIBUNE_FUZZ_SEED=N replays it, and
// TRIBUNE_FUZZ_DEBUG=1 prints every 4xx message.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { call, startTestAgent } from './catalog-agent.ts';
import type { TestAgent } from './catalog-agent.ts';

const BODIES = 1_200;
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
const chance = (p: number) => random() < p;
const integer = (max: number) => Math.floor(random() * max);

// ---------------------------------------------------------------- values

const WEIRD_VALUES: readonly unknown[] = [
  null, true, false, 0, -1, 1.5, 65_536, 2 ** 53, -0, '', ' ', 'x'.repeat(5_000), '\ud800', 'caf\u00e9', '\u0000', '../..', '%zz',
  [], [1, 2], ['a', ''], {}, { a: 1 }, { __proto__: 'x' }, '10s', '-1s', '1x', 'soon', '0', 'passing', 'critical', 'http://127.0.0.1:1/',
];
const DURATIONS = ['10s', '10s', '1s', '1h', '1h', '1m30s', '1.5s', '500ms', '0', '', '-5s', '5', 'x', '99999999999h', 10, null];
const NAMES = ['web', 'web', 'api', 'api', 'db', 'cache', 'Web', 'a-b_c', 'caf\u00e9', 'has space', 'x'.repeat(300), ''];
const STATUSES = ['passing', 'warning', 'critical', '', 'PASSING', 'ok', 3];

function weird(): unknown {
  return pick(WEIRD_VALUES);
}

function maybe<T>(value: () => T, p = 0.5): T | undefined {
  return chance(p) ? value() : undefined;
}

function compact(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

/** Field names as Consul's clients and config files spell them. */
function spell(name: string): string {
  return pick([name, name.toLowerCase(), name.replace(/[A-Z]/g, (c, i) => (i === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`))]);
}

function respell(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [chance(0.3) ? spell(key) : key, value]));
}

function meta(): Record<string, string> {
  const result: Record<string, string> = {};
  for (let i = 0, n = integer(4); i < n; i++) {
    result[pick(['env', 'team', 'v', 'ok_1', 'env', 'team', 'bad key', 'consul-x', 'k'.repeat(200)])] = pick(['prod', '', '1', 'prod', 'v'.repeat(600)]);
  }
  return result;
}

function agentCheck(): Record<string, unknown> {
  const kind = pick(['http', 'tcp', 'ttl', 'ttl', 'ttl', 'script', 'none', 'grpc', 'two']);
  const check: Record<string, unknown> = compact({
    CheckID: maybe(() => pick(['c1', 'c2', 'c3', 'service:web'])),
    Name: maybe(() => pick(NAMES), 0.3),
    Notes: maybe(() => pick(['', 'note', 'n'.repeat(5_000)]), 0.2),
    Status: maybe(() => pick(STATUSES), 0.3),
    Timeout: maybe(() => pick(DURATIONS), 0.2),
    SuccessBeforePassing: maybe(() => pick([0, 1, 3, -1, 1.5, '2']), 0.1),
    FailuresBeforeCritical: maybe(() => pick([0, 2, -3, 'x']), 0.1),
    DeregisterCriticalServiceAfter: maybe(() => pick(['90m', '1h', 'x', '']), 0.1),
  });
  if (kind === 'http' || kind === 'two') Object.assign(check, { HTTP: pick(['http://127.0.0.1:1/health', 'https://127.0.0.1:1/', 'ftp://x/', 'not a url', '']), Interval: pick(DURATIONS) });
  if (kind === 'http' && chance(0.3)) check.Header = pick([{ 'X-A': ['b'] }, { 'X-A': 'b' }, { 'bad header': ['x'] }, { 'X-A': [1] }, []]);
  if (kind === 'tcp' || kind === 'two') Object.assign(check, { TCP: pick(['127.0.0.1:1', '127.0.0.1', '127.0.0.1:99999', ':80']), Interval: pick(DURATIONS) });
  if (kind === 'ttl') check.TTL = pick(DURATIONS);
  if (kind === 'script') Object.assign(check, { Args: pick([['/bin/true'], [], 'true', [1]]), Interval: '10s' });
  if (kind === 'grpc') Object.assign(check, { GRPC: '127.0.0.1:1', Interval: '10s' });
  return respell(check);
}

function agentService(): Record<string, unknown> {
  const service = compact({
    Name: maybe(() => pick(NAMES), 0.95),
    ID: maybe(() => pick(['web-1', 'web-2', 'api-1', '', 'i'.repeat(300)]), 0.5),
    Tags: maybe(() => pick([['a'], ['a', 'b'], [], ['a'], ['b', 'c'], [''], Array.from({ length: 70 }, (_, i) => `t${i}`), 'a,b', [1]])),
    Address: maybe(() => pick(['10.0.0.1', '', 'host.example', 'a'.repeat(300)]), 0.3),
    Port: maybe(() => pick([80, 8080, 0, 65_535, 80, 65_536, -1, 8.5, '80']), 0.6),
    Meta: maybe(meta, 0.3),
    Weights: maybe(() => pick([{ Passing: 3, Warning: 1 }, { Passing: 0 }, { Warning: -1 }, 'heavy']), 0.2),
    EnableTagOverride: maybe(() => pick([true, false, 'yes']), 0.2),
    TaggedAddresses: maybe(() => pick([{ lan: { Address: '10.0.0.1', Port: 80 } }, { lan: '10.0.0.1' }, { wan: { Port: 70_000 } }]), 0.1),
    Check: maybe(agentCheck, 0.4),
    Checks: maybe(() => Array.from({ length: integer(3) }, agentCheck), 0.3),
  });
  return respell(service);
}

function catalogRegistration(): Record<string, unknown> {
  return respell(compact({
    Node: maybe(() => pick(['fz-a', 'fz-b', 'fz-c', '', 'n'.repeat(300)]), 0.95),
    Address: maybe(() => pick(['192.0.2.1', '', 'host.example']), 0.9),
    ID: maybe(() => pick(['', '2b8a3c4e-1111-4222-8333-944455556666', 'not-a-uuid']), 0.2),
    Datacenter: maybe(() => pick(['dc1', 'dc2', '']), 0.2),
    SkipNodeUpdate: maybe(() => pick([true, false, 1]), 0.1),
    NodeMeta: maybe(meta, 0.2),
    TaggedAddresses: maybe(() => pick([{ wan: '198.51.100.1' }, { wan: 5 }]), 0.1),
    Service: maybe(() => respell(compact({
      Service: maybe(() => pick(['redis', 'pg', '', 'x'.repeat(300)]), 0.9),
      ID: maybe(() => pick(['redis-1', 'pg-1', 'redis-2']), 0.6),
      Tags: maybe(() => pick([['primary'], [], [3]]), 0.5),
      Port: maybe(() => pick([6379, -1, '6379', 70_000]), 0.5),
      Meta: maybe(meta, 0.2),
    })), 0.7),
    Check: maybe(() => respell(compact({
      CheckID: maybe(() => pick(['chk', 'serfHealth', '']), 0.7),
      Name: maybe(() => pick(['check', '']), 0.5),
      Status: maybe(() => pick(STATUSES), 0.6),
      ServiceID: maybe(() => pick(['redis-1', 'ghost', '']), 0.4),
      Node: maybe(() => pick(['fz-a', 'other']), 0.1),
      Definition: maybe(() => pick([{ HTTP: 'http://x/', Interval: '10s' }, 'def', { big: 'x'.repeat(5_000) }]), 0.2),
      Output: maybe(() => pick(['fine', 'o'.repeat(5_000)]), 0.2),
    })), 0.5),
  }));
}

/** One field of a valid-ish body replaced by a value of some other kind. */
function corrupt(body: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(body);
  if (keys.length === 0) return body;
  const key = pick(keys);
  const value = body[key];
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && chance(0.5)) {
    return { ...body, [key]: corrupt(value as Record<string, unknown>) };
  }
  return { ...body, [key]: weird() };
}

function randomJson(depth = 0): unknown {
  if (depth > 3 || chance(0.4)) return weird();
  if (chance(0.5)) return Array.from({ length: integer(4) }, () => randomJson(depth + 1));
  return Object.fromEntries(Array.from({ length: integer(5) }, () => [pick(['Name', 'Node', 'Service', 'Check', 'Checks', 'x', '']), randomJson(depth + 1)]));
}

function rawBody(value: unknown): string {
  let text = JSON.stringify(value) ?? 'null';
  if (chance(0.05)) text = text.slice(0, integer(text.length));
  if (chance(0.02)) text = pick(['', 'nul', '{"Name": "x",}', '\u0000', '[', '{"Name":"a"} trailing']);
  return text;
}

function body(generate: () => Record<string, unknown>): string {
  const roll = random();
  if (roll < 0.6) return rawBody(generate());
  if (roll < 0.92) return rawBody(corrupt(generate()));
  return rawBody(randomJson());
}

// ---------------------------------------------------------------- what is stored

/** The catalog's structure and the agent's own registrations: statuses and outputs left out (checks run in the background). */
function stored(t: TestAgent): string {
  const catalog = t.agent.stateMachine.catalogView;
  const nodes = catalog.allNodes().map((node) => ({
    node: { ...node, createIndex: 0, modifyIndex: 0 },
    services: catalog.servicesOfNode(node.node).map((service) => ({ ...service, createIndex: 0, modifyIndex: 0 })),
    checks: catalog.checksOfNode(node.node).map((check) => [check.checkId, check.name, check.notes, check.serviceId, check.type, check.definition]),
  }));
  const local = t.agent.local!;
  const checks = Object.entries(local.checks()).map(([id, check]) => [id, check.Name, check.ServiceID, check.Definition]);
  return JSON.stringify({ nodes, services: local.services(), checks });
}

async function quiet(t: TestAgent): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await t.agent.local!.antiEntropy.settled();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

// ---------------------------------------------------------------- the run

const test = suite('registration fuzz');
let t: TestAgent;

test.before(async () => {
  t = await startTestAgent('127.0.0.74');
  const deadline = Date.now() + 10_000;
  while (t.agent.stateMachine.catalogView.node('node-1') === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
});

test.after(async () => {
  await t.stop();
});

test(`${BODIES} seeded bodies: 2xx or 4xx, never 5xx; nothing stored changes on a 4xx (seed ${seed})`, async () => {
  const endpoints: [string, () => string][] = [
    ['/v1/catalog/register', () => body(catalogRegistration)],
    ['/v1/agent/service/register', () => body(agentService)],
    ['/v1/agent/service/register', () => body(agentService)],
    ['/v1/agent/check/register', () => body(() => respell(compact({ ...agentCheck(), Name: maybe(() => pick(NAMES), 0.9), ServiceID: maybe(() => pick(['web-1', 'web', 'ghost']), 0.3) })))],
    ['/v1/catalog/deregister', () => rawBody(chance(0.5) ? corrupt({ Node: pick(['fz-a', 'fz-b', '']), ServiceID: pick(['redis-1', '']), CheckID: pick(['chk', '']) }) : randomJson())],
  ];
  const statuses: Record<number, number> = {};
  let baseline = stored(t);
  for (let i = 0; i < BODIES; i++) {
    const [path, make] = pick(endpoints);
    const text = make();
    const answer = await call(t.base, 'PUT', path, text);
    statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
    if (process.env.TRIBUNE_FUZZ_DEBUG && answer.status >= 400) console.log(`4xx ${path}: ${answer.text.trim().slice(0, 100)}`);
    const context = `seed ${seed}, body #${i} to ${path}: ${text.slice(0, 300)} → ${answer.status} ${answer.text.slice(0, 200)}`;
    assert.ok(answer.status >= 200 && answer.status < 500, context);
    if (answer.status >= 400) {
      assert.ok(answer.text.trim().length > 0, `a 4xx says what is wrong: ${context}`);
      assert.is(stored(t), baseline, `nothing stored changed: ${context}`);
    } else {
      await quiet(t);
      baseline = stored(t);
    }
  }
  console.log(`seed ${seed}: answers by status ${JSON.stringify(statuses)}`);
  assert.ok((statuses[200] ?? 0) > BODIES / 20, 'a fair share of the bodies were valid');
  assert.ok(Object.entries(statuses).filter(([status]) => Number(status) >= 400).reduce((sum, [, count]) => sum + count, 0) > BODIES / 4, 'and many were not');
  // Still serving, and consistent: every agent service is in the catalog once anti-entropy has run.
  await quiet(t);
  const services = Object.keys(t.agent.local!.services());
  const inCatalog = t.agent.stateMachine.catalogView.servicesOfNode('node-1').map((service) => service.id);
  assert.equal(inCatalog, [...services].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), `seed ${seed}`);
});

test.run();

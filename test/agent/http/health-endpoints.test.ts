// /v1/health/* against a real dev agent through the real `consul` npm
// client: a service registered with a TTL check through the agent is in
// health.service({passing: true}) only while the TTL check passes; the
// CheckServiceNode shape; ?passing, ?tag, /checks, /node, /state; a watch
// (blocking queries) that fires on a health change.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type Consul from 'consul';
import { call, eventually, startTestAgent } from './catalog-agent.ts';
import type { TestAgent } from './catalog-agent.ts';

type Entry = { Node: { Node: string }; Service: { ID: string; Service: string; Tags: string[]; Port: number }; Checks: { CheckID: string; Status: string; Output: string; ServiceName: string }[] };

const test = suite('health endpoints');
let t: TestAgent;
let consul: Consul;

test.before(async () => {
  t = await startTestAgent('127.0.0.72');
  consul = t.consul();
  await eventually(async () => ((await call(t.base, 'GET', '/v1/health/node/node-1')).json as unknown[]).length === 1, 'serfHealth of the agent\'s node');
});

test.after(async () => {
  await t.stop();
});

/** The client's typings demand fields Consul does not (a check's name and timeout); the API takes what it documents. */
const register = (options: object) => consul.agent.service.register(options as never);
const passingIds = async (service: string) => ((await consul.health.service({ service, passing: true })) as Entry[]).map((entry) => entry.Service.ID);
const allIds = async (service: string) => ((await consul.health.service(service)) as Entry[]).map((entry) => entry.Service.ID);

test('the agent\'s node carries serfHealth from the leader: passing, Consul\'s name and output', async () => {
  const checks = await consul.health.node('node-1') as { CheckID: string; Name: string; Status: string; Output: string }[];
  assert.equal(checks.map((check) => [check.CheckID, check.Name, check.Status, check.Output]), [['serfHealth', 'Serf Health Status', 'passing', 'Agent alive and reachable']]);
});

test('a TTL-checked service is in ?passing only while its check passes (pass, warn, fail through the consul client)', async () => {
  await register({ name: 'web', id: 'web-1', port: 8080, tags: ['v1'], check: { ttl: '30s' } });
  await eventually(async () => (await allIds('web')).length === 1, 'web in the catalog');
  assert.equal(await passingIds('web'), [], 'a new TTL check starts critical');

  await consul.agent.check.pass({ id: 'service:web-1', note: 'all good' });
  await eventually(async () => (await passingIds('web')).length === 1, 'web passing');
  const [entry] = (await consul.health.service({ service: 'web', passing: true })) as Entry[];
  assert.is(entry!.Node.Node, 'node-1');
  assert.equal([entry!.Service.ID, entry!.Service.Service, entry!.Service.Tags, entry!.Service.Port], ['web-1', 'web', ['v1'], 8080]);
  assert.equal(entry!.Checks.map((check) => [check.CheckID, check.Status]), [['serfHealth', 'passing'], ['service:web-1', 'passing']]);
  assert.is(entry!.Checks[1]!.Output, 'all good');
  assert.is(entry!.Checks[1]!.ServiceName, 'web');

  await consul.agent.check.warn('service:web-1');
  await eventually(async () => (await passingIds('web')).length === 0, 'a warning is not passing');
  assert.equal(await allIds('web'), ['web-1'], 'still listed without ?passing');

  await consul.agent.check.pass('service:web-1');
  await eventually(async () => (await passingIds('web')).length === 1, 'passing again');
  await consul.agent.check.fail({ id: 'service:web-1', note: 'down' });
  await eventually(async () => (await passingIds('web')).length === 0, 'failed');
  const critical = await consul.health.state('critical') as { CheckID: string; Output: string }[];
  assert.ok(critical.some((check) => check.CheckID === 'service:web-1' && check.Output === 'down'));
});

test('a TTL that runs out turns the check critical and the service drops out of ?passing', async () => {
  await register({ name: 'short', check: { ttl: '1s', status: 'passing' } });
  await eventually(async () => (await passingIds('short')).length === 1, 'short passing at first');
  const started = Date.now();
  await eventually(async () => (await passingIds('short')).length === 0, 'short expired', 5_000);
  assert.ok(Date.now() - started < 4_000);
  const checks = await consul.health.checks('short') as { Status: string; Output: string }[];
  assert.equal(checks.map((check) => [check.Status, check.Output]), [['critical', 'TTL expired']]);
});

test('?passing accepts Go booleans; anything else is 400', async () => {
  assert.equal(((await call(t.base, 'GET', '/v1/health/service/web?passing=false')).json as unknown[]).length, 1);
  assert.equal(((await call(t.base, 'GET', '/v1/health/service/web?passing=1')).json as unknown[]).length, 0);
  assert.equal(((await call(t.base, 'GET', '/v1/health/service/web?passing')).json as unknown[]).length, 0);
  const bad = await call(t.base, 'GET', '/v1/health/service/web?passing=maybe');
  assert.is(bad.status, 400);
  assert.match(bad.text, /Invalid value for \?passing/);
});

test('?tag filters; /checks lists only the service\'s own checks; /state validates its state', async () => {
  await register({ name: 'api', id: 'api-blue', tags: ['blue'], check: { ttl: '1h', status: 'passing' } });
  await register({ name: 'api', id: 'api-green', tags: ['green'], check: { ttl: '1h', status: 'passing' } });
  await eventually(async () => (await passingIds('api')).length === 2, 'both api instances');
  assert.equal(((await consul.health.service({ service: 'api', tag: 'green' })) as Entry[]).map((entry) => entry.Service.ID), ['api-green']);
  const checks = await consul.health.checks('api') as { CheckID: string }[];
  assert.equal(checks.map((check) => check.CheckID), ['service:api-blue', 'service:api-green']);
  const any = await consul.health.state('any') as { CheckID: string }[];
  assert.ok(any.some((check) => check.CheckID === 'serfHealth'));
  const passing = await consul.health.state('passing') as { Status: string }[];
  assert.ok(passing.length > 0 && passing.every((check) => check.Status === 'passing'));
  const bad = await call(t.base, 'GET', '/v1/health/state/sideways');
  assert.is(bad.status, 400);
  assert.match(bad.text, /Invalid check state "sideways"/);
  assert.equal((await call(t.base, 'GET', '/v1/health/service/nothing-here')).json, []);
  assert.equal((await call(t.base, 'GET', '/v1/health/node/nobody')).json, []);
});

test('a consul watch on health.service fires when the service\'s health changes', async () => {
  await register({ name: 'watched', check: { ttl: '1h' } });
  await eventually(async () => (await allIds('watched')).length === 1, 'watched registered');
  const watch = consul.watch({ method: consul.health.service, options: { service: 'watched', passing: true, wait: '5s' } as never });
  const seen: number[] = [];
  watch.on('change', (data: Entry[]) => seen.push(data.length));
  watch.on('error', () => {});
  try {
    await eventually(() => seen.length >= 1, 'the first answer');
    assert.equal(seen, [0]);
    await consul.agent.check.pass('service:watched');
    await eventually(() => seen.includes(1), 'the watch saw it pass', 8_000);
  } finally {
    watch.end();
  }
});

test('a blocking health query ignores changes to other services', async () => {
  const first = await call(t.base, 'GET', '/v1/health/service/api');
  const index = first.headers.get('x-consul-index');
  let done = false;
  const pending = call(t.base, 'GET', `/v1/health/service/api?index=${index}&wait=10s`).then((answer) => {
    done = true;
    return answer;
  });
  await consul.agent.check.fail('service:web-1');
  await consul.agent.check.pass('service:web-1');
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.is(done, false, 'web\'s checks do not wake a watcher of api');
  await consul.agent.check.fail('service:api-blue');
  const answer = await pending;
  assert.ok(Number(answer.headers.get('x-consul-index')) > Number(index));
});

test.run();

// /v1/catalog/* against a real dev agent, with the real `consul` npm client
// where it has a call for it: Consul's shapes, statuses and messages,
// blocking queries woken only by their own scope, consistency modes, and a
// bad registration that changes nothing.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type Consul from 'consul';
import { call, eventually, startTestAgent } from './catalog-agent.ts';
import type { TestAgent } from './catalog-agent.ts';

const test = suite('catalog endpoints');
let t: TestAgent;
let consul: Consul;

test.before(async () => {
  t = await startTestAgent('127.0.0.71');
  consul = t.consul();
  await eventually(async () => (await call(t.base, 'GET', '/v1/catalog/nodes')).text.includes('"node-1"'), 'the agent\'s own node in the catalog');
});

test.after(async () => {
  await t.stop();
});

const external = {
  Node: 'ext-1',
  Address: '192.0.2.10',
  NodeMeta: { rack: 'r1' },
  TaggedAddresses: { wan: '198.51.100.10' },
  Service: { ID: 'redis-1', Service: 'redis', Tags: ['primary', 'v6'], Port: 6379, Meta: { version: '6' } },
  Checks: [
    { CheckID: 'redis-alive', Name: 'Redis alive', Status: 'passing', ServiceID: 'redis-1', Definition: { TCP: '192.0.2.10:6379', Interval: '10s' } },
    { Name: 'disk', Status: 'warning' },
  ],
};

test('register answers true; the node, service and checks show in Consul\'s shapes', async () => {
  const answer = await call(t.base, 'PUT', '/v1/catalog/register', external);
  assert.is(answer.status, 200, answer.text);
  assert.is(answer.json, true);

  const nodes = await consul.catalog.node.list() as { Node: string; Address: string; Meta: Record<string, string>; TaggedAddresses: Record<string, string> }[];
  const ext = nodes.find((node) => node.Node === 'ext-1')!;
  assert.equal([ext.Address, ext.Meta, ext.TaggedAddresses], ['192.0.2.10', { rack: 'r1' }, { wan: '198.51.100.10' }]);
  assert.ok(nodes.some((node) => node.Node === 'node-1'), 'the agent registers itself');

  const services = await consul.catalog.service.list() as Record<string, string[]>;
  assert.equal(services.redis, ['primary', 'v6']);

  const rows = await consul.catalog.service.nodes('redis') as Record<string, unknown>[];
  assert.is(rows.length, 1);
  const row = rows[0]!;
  for (const key of ['ID', 'Node', 'Address', 'Datacenter', 'TaggedAddresses', 'NodeMeta', 'ServiceID', 'ServiceName', 'ServiceTags', 'ServiceAddress', 'ServiceWeights', 'ServiceMeta', 'ServicePort', 'ServiceEnableTagOverride', 'CreateIndex', 'ModifyIndex']) {
    assert.ok(key in row, `ServiceNode has ${key}`);
  }
  assert.equal([row.Node, row.ServiceID, row.ServicePort, row.ServiceMeta], ['ext-1', 'redis-1', 6379, { version: '6' }]);

  const node = await consul.catalog.node.services('ext-1') as { Node: { Node: string }; Services: Record<string, { Service: string; Port: number }> };
  assert.is(node.Node.Node, 'ext-1');
  assert.equal(Object.keys(node.Services), ['redis-1']);
  assert.is(node.Services['redis-1']!.Port, 6379);

  const checks = (await call(t.base, 'GET', '/v1/health/node/ext-1')).json as { CheckID: string; Status: string; Definition: unknown }[];
  assert.equal(checks.map((check) => [check.CheckID, check.Status]), [['disk', 'warning'], ['redis-alive', 'passing']]);
  assert.equal(checks[1]!.Definition, { TCP: '192.0.2.10:6379', Interval: '10s' });
});

test('?tag filters instances (case-insensitive, all tags must match), ?node-meta filters nodes', async () => {
  await call(t.base, 'PUT', '/v1/catalog/register', { Node: 'ext-2', Address: '192.0.2.11', NodeMeta: { rack: 'r2' }, Service: { ID: 'redis-2', Service: 'redis', Tags: ['replica', 'v6'] } });
  const byTag = async (query: string) => ((await call(t.base, 'GET', `/v1/catalog/service/redis${query}`)).json as { ServiceID: string }[]).map((row) => row.ServiceID);
  assert.equal(await byTag(''), ['redis-1', 'redis-2']);
  assert.equal(await byTag('?tag=primary'), ['redis-1']);
  assert.equal(await byTag('?tag=V6'), ['redis-1', 'redis-2']);
  assert.equal(await byTag('?tag=replica&tag=v6'), ['redis-2']);
  assert.equal(await byTag('?tag=nope'), []);
  assert.equal(await byTag('?node-meta=rack:r2'), ['redis-2']);
  assert.equal(((await consul.catalog.service.nodes({ service: 'redis', tag: 'replica' })) as { ServiceID: string }[]).map((row) => row.ServiceID), ['redis-2']);
  const nodes = (await call(t.base, 'GET', '/v1/catalog/nodes?node-meta=rack:r1')).json as { Node: string }[];
  assert.equal(nodes.map((node) => node.Node), ['ext-1']);
});

test('datacenters; an unknown node is null with 200; an unknown service is []; every read carries X-Consul-Index', async () => {
  assert.equal(await consul.catalog.datacenters(), ['dc1']);
  const unknown = await call(t.base, 'GET', '/v1/catalog/node/nobody');
  assert.equal([unknown.status, unknown.json], [200, null]);
  const none = await call(t.base, 'GET', '/v1/catalog/service/nothing');
  assert.equal([none.status, none.json], [200, []]);
  for (const path of ['/v1/catalog/nodes', '/v1/catalog/services', '/v1/catalog/service/redis', '/v1/catalog/node/ext-1', '/v1/catalog/service/nothing']) {
    const answer = await call(t.base, 'GET', path);
    assert.ok(Number(answer.headers.get('x-consul-index')) >= 1, `${path} has an index`);
    assert.is(answer.headers.get('x-consul-knownleader'), 'true');
  }
});

test('consistency modes: ?stale and ?consistent answer; both at once is 400; an unknown ?dc is 400', async () => {
  for (const query of ['?stale', '?consistent', '?leader', '']) {
    const answer = await call(t.base, 'GET', `/v1/catalog/service/redis${query}`);
    assert.is(answer.status, 200, `${query}: ${answer.text}`);
  }
  const both = await call(t.base, 'GET', '/v1/catalog/nodes?stale&consistent');
  assert.is(both.status, 400);
  assert.match(both.text, /Cannot specify \?stale with \?consistent/);
  const dc = await call(t.base, 'GET', '/v1/catalog/nodes?dc=elsewhere');
  assert.is(dc.status, 400);
  assert.match(dc.text, /No path to datacenter "elsewhere"/);
  assert.is((await call(t.base, 'GET', '/v1/catalog/nodes?dc=dc1')).status, 200);
});

test('a blocking query on one service is woken by a write to it, not by a write to another service', async () => {
  const first = await call(t.base, 'GET', '/v1/catalog/service/redis');
  const index = Number(first.headers.get('x-consul-index'));
  let answered: { index: number; at: number } | null = null;
  const started = Date.now();
  const pending = call(t.base, 'GET', `/v1/catalog/service/redis?index=${index}&wait=10s`).then((answer) => {
    answered = { index: Number(answer.headers.get('x-consul-index')), at: Date.now() };
    return answer;
  });
  await call(t.base, 'PUT', '/v1/catalog/register', { Node: 'ext-3', Address: '192.0.2.12', Service: { Service: 'memcached' } });
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.is(answered, null, 'a write to memcached does not wake a watcher of redis');
  await call(t.base, 'PUT', '/v1/catalog/register', { Node: 'ext-3', Address: '192.0.2.12', Service: { Service: 'redis', ID: 'redis-3' } });
  const answer = await pending;
  assert.ok(answered!.index > index);
  assert.ok(answered!.at - started < 5_000);
  assert.equal((answer.json as { ServiceID: string }[]).map((row) => row.ServiceID), ['redis-1', 'redis-2', 'redis-3']);
});

test('a blocking query with nothing new answers after its wait with the same index', async () => {
  const first = await call(t.base, 'GET', '/v1/catalog/node/ext-1');
  const index = first.headers.get('x-consul-index');
  const started = Date.now();
  const again = await call(t.base, 'GET', `/v1/catalog/node/ext-1?index=${index}&wait=300ms`);
  assert.ok(Date.now() - started >= 290);
  assert.is(again.headers.get('x-consul-index'), index);
});

test('deregister: a service, then a check, then the whole node; absent things are not an error', async () => {
  assert.is((await call(t.base, 'PUT', '/v1/catalog/deregister', { Node: 'ext-2', ServiceID: 'redis-2' })).json, true);
  assert.equal(((await call(t.base, 'GET', '/v1/catalog/service/redis')).json as { ServiceID: string }[]).map((row) => row.ServiceID), ['redis-1', 'redis-3']);
  assert.is(await consul.catalog.deregister({ node: 'ext-1', checkid: 'disk' }), undefined);
  const checks = (await call(t.base, 'GET', '/v1/health/node/ext-1')).json as { CheckID: string }[];
  assert.equal(checks.map((check) => check.CheckID), ['redis-alive']);
  assert.is((await call(t.base, 'PUT', '/v1/catalog/deregister', { Node: 'ext-1' })).json, true);
  assert.is((await call(t.base, 'GET', '/v1/catalog/node/ext-1')).json, null);
  assert.is((await call(t.base, 'PUT', '/v1/catalog/deregister', { Node: 'never-was', ServiceID: 'x' })).status, 200);
});

test('bad registrations are 400 with what is wrong, and nothing stored changes', async () => {
  const before = JSON.stringify(t.agent.stateMachine.catalogNodes().nodes) + JSON.stringify(t.agent.stateMachine.catalogServices().services);
  const cases: [unknown, RegExp][] = [
    ['{"Node": ', /Request decode failed/],
    [{ Address: '1.2.3.4' }, /^Missing node name$/],
    [{ Node: 'x' }, /^Missing node address$/],
    [{ Node: 'x', Address: 5 }, /registration\.Address: must be a string/],
    [{ Node: 'x', Address: 'a', Service: { Port: 80 } }, /^Must provide service name with ID$/],
    [{ Node: 'x', Address: 'a', Service: { Service: 'web', Port: -1 } }, /Port: must be an integer/],
    [{ Node: 'x', Address: 'a', Service: { Service: 'web', Tags: [1] } }, /Tags: must be a list of strings/],
    [{ Node: 'x', Address: 'a', Check: { CheckID: 'c', ServiceID: 'ghost' } }, /Missing service registration/],
    [{ Node: 'x', Address: 'a', Check: { CheckID: 'c', Status: 'ok' } }, /Status: must be passing, warning or critical/],
    [{ Node: 'x', Address: 'a', Check: { CheckID: 'c', Node: 'y' } }, /a check's Node must be/],
    [{ Node: 'x', Address: 'a', Check: {} }, /needs a CheckID or a Name/],
    [{ Node: 'x', Address: 'a', ID: 'not-a-uuid' }, /node ID "not-a-uuid" is not a UUID/],
    [{ Node: 'x', Address: 'a', Datacenter: 'dc9' }, /No path to datacenter "dc9"/],
    [{ Node: 'x', Address: 'a', NodeMeta: { 'bad key': 'v' } }, /meta key "bad key"/],
    [{ Node: 'x'.repeat(300), Address: 'a' }, /Invalid registration: node\.node/],
    [{ Node: 'x', Address: 'a', Checks: [{ CheckID: 'c' }, { CheckID: 'c' }] }, /given twice/],
    [[], /registration: must be a JSON object/],
  ];
  for (const [body, message] of cases) {
    const answer = await call(t.base, 'PUT', '/v1/catalog/register', body);
    assert.is(answer.status, 400, `${JSON.stringify(body)} → ${answer.status} ${answer.text}`);
    assert.match(answer.text, message);
  }
  const deregister = await call(t.base, 'PUT', '/v1/catalog/deregister', { ServiceID: 'x' });
  assert.equal([deregister.status, deregister.text.trim()], [400, 'Missing node name']);
  const after = JSON.stringify(t.agent.stateMachine.catalogNodes().nodes) + JSON.stringify(t.agent.stateMachine.catalogServices().services);
  assert.is(after, before);
  assert.is((await call(t.base, 'GET', '/v1/catalog/register')).status, 405);
});

test('entries registered on the agent\'s own node through the catalog are removed by its anti-entropy; serfHealth stays', async () => {
  await call(t.base, 'PUT', '/v1/catalog/register', { Node: 'node-1', Address: '127.0.0.71', Service: { Service: 'intruder' }, Check: { CheckID: 'intruder-check', Status: 'passing' } });
  assert.ok(((await call(t.base, 'GET', '/v1/catalog/services')).json as Record<string, unknown>).intruder);
  t.agent.local!.antiEntropy.requestFull();
  await eventually(async () => !((await call(t.base, 'GET', '/v1/catalog/services')).json as Record<string, unknown>).intruder, 'the intruder removed');
  const checks = (await call(t.base, 'GET', '/v1/health/node/node-1')).json as { CheckID: string }[];
  assert.equal(checks.map((check) => check.CheckID), ['serfHealth']);
});

test.run();

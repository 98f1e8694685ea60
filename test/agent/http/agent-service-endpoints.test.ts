// /v1/agent/service/* and /v1/agent/check/* against a real dev agent: the
// agent's own services and checks in Consul's shapes, HTTP and TCP checks
// run against tiny local servers and reaching the catalog, script checks
// refused unless enabled, config-file services at start-up, 404s and 400s.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type Consul from 'consul';
import { call, eventually, startTestAgent } from './catalog-agent.ts';
import type { TestAgent } from './catalog-agent.ts';

const test = suite('agent service and check endpoints');
let t: TestAgent;
let consul: Consul;

test.before(async () => {
  t = await startTestAgent('127.0.0.73', {
    services: [{ name: 'from-config', port: 7000, tags: ['cfg'], check: { ttl: '1h', status: 'passing' } }],
    checks: [{ name: 'node-ttl', ttl: '1h' }],
  });
  consul = t.consul();
  await eventually(async () => ((await call(t.base, 'GET', '/v1/catalog/services')).json as Record<string, unknown>)['from-config'], 'the config file\'s service in the catalog');
});

test.after(async () => {
  await t.stop();
});

async function catalogCheck(id: string): Promise<{ Status: string; Output: string } | undefined> {
  const checks = (await call(t.base, 'GET', '/v1/health/node/node-1')).json as { CheckID: string; Status: string; Output: string }[];
  return checks.find((check) => check.CheckID === id);
}

test('services and checks from the config files are there at start-up, in the agent and in the catalog', async () => {
  const services = await consul.agent.service.list() as Record<string, { Service: string; Port: number; Tags: string[] }>;
  assert.equal(Object.keys(services), ['from-config']);
  assert.equal([services['from-config']!.Port, services['from-config']!.Tags], [7000, ['cfg']]);
  const checks = await consul.agent.check.list() as Record<string, { Status: string }>;
  assert.equal(Object.keys(checks), ['node-ttl', 'service:from-config']);
  assert.is((await catalogCheck('node-ttl'))!.Status, 'critical');
  assert.is((await catalogCheck('service:from-config'))!.Status, 'passing');
});

test('register with Check and Checks; GET /v1/agent/services and /v1/agent/service/:id in Consul\'s shapes', async () => {
  const body = {
    Name: 'billing', ID: 'billing-1', Tags: ['v2'], Address: '10.0.0.9', Port: 9000, Meta: { team: 'pay' },
    TaggedAddresses: { lan: { Address: '10.0.0.9', Port: 9000 } }, Weights: { Passing: 10, Warning: 1 },
    Check: { TTL: '1h', Notes: 'first' },
    Checks: [{ CheckID: 'billing-2nd', Name: 'second', TTL: '1h', Status: 'warning' }],
  };
  const answer = await call(t.base, 'PUT', '/v1/agent/service/register', body);
  assert.equal([answer.status, answer.text], [200, '']);
  const services = (await call(t.base, 'GET', '/v1/agent/services')).json as Record<string, Record<string, unknown>>;
  assert.equal(services['billing-1'], {
    ID: 'billing-1', Service: 'billing', Tags: ['v2'], Meta: { team: 'pay' }, Port: 9000, Address: '10.0.0.9',
    TaggedAddresses: { lan: { Address: '10.0.0.9', Port: 9000 } }, Weights: { Passing: 10, Warning: 1 }, EnableTagOverride: false, Datacenter: 'dc1',
  });
  assert.equal((await call(t.base, 'GET', '/v1/agent/service/billing-1')).json, services['billing-1']);
  const missing = await call(t.base, 'GET', '/v1/agent/service/nope');
  assert.is(missing.status, 404);

  const checks = (await call(t.base, 'GET', '/v1/agent/checks')).json as Record<string, Record<string, unknown>>;
  assert.equal(Object.keys(checks).filter((id) => id.includes('billing')), ['billing-2nd', 'service:billing-1:1']);
  const first = checks['service:billing-1:1']!;
  assert.equal([first.Node, first.Name, first.Status, first.Notes, first.ServiceID, first.ServiceName, first.ServiceTags, first.Type],
    ['node-1', "Service 'billing' check", 'critical', 'first', 'billing-1', 'billing', ['v2'], 'ttl']);
  assert.is(checks['billing-2nd']!.Status, 'warning');
  await eventually(async () => (await catalogCheck('billing-2nd'))?.Status === 'warning', 'the checks in the catalog');
});

test('an HTTP check against a local server: passing on 200, warning on 429, critical on 500; it reaches the catalog', async () => {
  let status = 200;
  const server: Server = createHttpServer((_request, response) => response.writeHead(status).end(`status ${status}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.73', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    await consul.agent.service.register({ name: 'site', check: { http: `http://127.0.0.73:${port}/health`, interval: '1s', timeout: '500ms' } } as never);
    await eventually(async () => (await catalogCheck('service:site'))?.Status === 'passing', 'the HTTP check passing in the catalog', 10_000);
    assert.match((await catalogCheck('service:site'))!.Output, new RegExp(`^HTTP GET http://127.0.0.73:${port}/health: 200 OK Output: status 200`));
    status = 429;
    await eventually(async () => (await catalogCheck('service:site'))?.Status === 'warning', '429 is warning', 10_000);
    status = 500;
    await eventually(async () => (await catalogCheck('service:site'))?.Status === 'critical', '500 is critical', 10_000);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await call(t.base, 'PUT', '/v1/agent/service/deregister/site');
  }
});

test('a TCP check against a local listener: passing while it listens, critical once it is closed', async () => {
  const server = createTcpServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.73', resolve));
  const port = (server.address() as { port: number }).port;
  await call(t.base, 'PUT', '/v1/agent/check/register', { Name: 'tcp-probe', TCP: `127.0.0.73:${port}`, Interval: '1s', Timeout: '500ms' });
  await eventually(async () => (await catalogCheck('tcp-probe'))?.Status === 'passing', 'TCP passing', 10_000);
  assert.match((await catalogCheck('tcp-probe'))!.Output, /TCP connect 127\.0\.0\.73:\d+: Success/);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await eventually(async () => (await catalogCheck('tcp-probe'))?.Status === 'critical', 'TCP critical after the listener closed', 10_000);
  assert.is((await call(t.base, 'PUT', '/v1/agent/check/deregister/tcp-probe')).status, 200);
  await eventually(async () => (await catalogCheck('tcp-probe')) === undefined, 'the check gone from the catalog');
});

test('pass, warn, fail and update work on TTL checks only; unknown IDs are 404', async () => {
  await call(t.base, 'PUT', '/v1/agent/check/register', { Name: 'job', TTL: '1h' });
  assert.is((await call(t.base, 'PUT', '/v1/agent/check/warn/job?note=slow')).status, 200);
  assert.equal([(await call(t.base, 'GET', '/v1/agent/checks')).json].map((checks) => (checks as Record<string, { Status: string; Output: string }>).job).map((check) => [check!.Status, check!.Output]), [['warning', 'slow']]);
  const update = await call(t.base, 'PUT', '/v1/agent/check/update/job', { Status: 'passing', Output: 'done' });
  assert.is(update.status, 200, update.text);
  await eventually(async () => (await catalogCheck('job'))?.Output === 'done', 'the update in the catalog');
  const badStatus = await call(t.base, 'PUT', '/v1/agent/check/update/job', { Status: 'great' });
  assert.is(badStatus.status, 400);
  const unknown = await call(t.base, 'PUT', '/v1/agent/check/pass/ghost');
  assert.is(unknown.status, 404);
  assert.match(unknown.text, /Unknown check ID "ghost"/);
  await call(t.base, 'PUT', '/v1/agent/check/register', { Name: 'not-ttl', TCP: '127.0.0.73:1', Interval: '1h' });
  const notTtl = await call(t.base, 'PUT', '/v1/agent/check/pass/not-ttl');
  assert.is(notTtl.status, 400);
  assert.match(notTtl.text, /does not have associated TTL/);
  assert.is((await call(t.base, 'PUT', '/v1/agent/service/deregister/ghost')).status, 404);
  assert.is((await call(t.base, 'PUT', '/v1/agent/check/deregister/ghost')).status, 404);
  assert.is((await call(t.base, 'GET', '/v1/agent/check/pass/job')).status, 405);
});

test('a script check is refused with Consul\'s message when script checks are off; nothing is registered', async () => {
  const answer = await call(t.base, 'PUT', '/v1/agent/service/register', { Name: 'scripted', Check: { Args: ['/bin/true'], Interval: '10s' } });
  assert.is(answer.status, 400);
  assert.match(answer.text, /Scripts are disabled on this agent; to enable, configure 'enable_script_checks' to true/);
  const check = await call(t.base, 'PUT', '/v1/agent/check/register', { Name: 'scripted', Script: 'true', Interval: '10s' });
  assert.is(check.status, 400);
  assert.is(((await call(t.base, 'GET', '/v1/agent/services')).json as Record<string, unknown>).scripted, undefined);
  assert.is(((await call(t.base, 'GET', '/v1/agent/checks')).json as Record<string, unknown>).scripted, undefined);
});

test('with -enable-script-checks a script check runs: exit 0 passing, exit 1 warning', async () => {
  const other = await startTestAgent('127.0.0.76', { nodeName: 'scripts', enableScriptChecks: true });
  try {
    const ok = await call(other.base, 'PUT', '/v1/agent/check/register', { Name: 'ok', Args: ['/bin/sh', '-c', 'echo fine'], Interval: '1s' });
    assert.is(ok.status, 200, ok.text);
    await call(other.base, 'PUT', '/v1/agent/check/register', { Name: 'meh', Script: 'echo meh; exit 1', Interval: '1s' });
    await eventually(async () => {
      const checks = (await call(other.base, 'GET', '/v1/agent/checks')).json as Record<string, { Status: string; Output: string }>;
      return checks.ok?.Status === 'passing' && checks.ok.Output === 'fine\n' && checks.meh?.Status === 'warning';
    }, 'the scripts\' results', 10_000);
  } finally {
    await other.stop();
  }
});

test('bad definitions are 400 with what is wrong, and change nothing', async () => {
  const before = JSON.stringify([(await call(t.base, 'GET', '/v1/agent/services')).json, Object.keys((await call(t.base, 'GET', '/v1/agent/checks')).json as object)]);
  const cases: [string, unknown, RegExp][] = [
    ['/v1/agent/service/register', '{nope', /Request decode failed/],
    ['/v1/agent/service/register', { Port: 1 }, /^Missing service name$/],
    ['/v1/agent/service/register', { Name: 'x', Port: 'eighty' }, /service\.Port: must be an integer/],
    ['/v1/agent/service/register', { Name: 'x', Check: { HTTP: 'http://x/', Interval: 'often' } }, /Interval: time: invalid duration "often"/],
    ['/v1/agent/service/register', { Name: 'x', Check: { TTL: '1s', Notes: 'n'.repeat(5_000) } }, /Invalid registration: checks\[\]\.notes/],
    ['/v1/agent/service/register', { Name: 'from-config-2', Check: { CheckID: 'node-ttl', TTL: '1s' } }, /already registered for the node/],
    ['/v1/agent/check/register', { TTL: '1s' }, /^Missing check name$/],
    ['/v1/agent/check/register', { Name: 'c', ServiceID: 'ghost', TTL: '1s' }, /ServiceID "ghost" does not exist/],
    ['/v1/agent/check/register', { Name: 'c' }, /needs one of HTTP, TCP or Args\/Script/],
  ];
  for (const [path, body, message] of cases) {
    const answer = await call(t.base, 'PUT', path, body);
    assert.is(answer.status, 400, `${path} ${JSON.stringify(body).slice(0, 80)} → ${answer.status} ${answer.text}`);
    assert.match(answer.text, message);
  }
  const after = JSON.stringify([(await call(t.base, 'GET', '/v1/agent/services')).json, Object.keys((await call(t.base, 'GET', '/v1/agent/checks')).json as object)]);
  assert.is(after, before);
});

test('deregistering a service through the consul client removes it from the agent and the catalog', async () => {
  await consul.agent.service.deregister('billing-1');
  assert.is(((await consul.agent.service.list()) as Record<string, unknown>)['billing-1'], undefined);
  await eventually(async () => ((await consul.catalog.service.nodes('billing')) as unknown[]).length === 0, 'billing gone from the catalog');
  assert.is(await catalogCheck('billing-2nd'), undefined);
});

test.run();

// `tribune catalog services|nodes` and `tribune services register|deregister`
// against a real dev agent: service definition files in HCL and JSON (checks
// included), Consul's output, errors that say what is wrong.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../agent/cli/main.ts';
import { formatCatalogNodes } from '../../../agent/cli/catalog.ts';
import { call, eventually, startTestAgent } from './catalog-agent.ts';
import type { TestAgent } from './catalog-agent.ts';

const test = suite('catalog and services commands');
let t: TestAgent;
const dir = mkdtempSync(join(tmpdir(), 'tribune-catalog-cli-'));

async function tribune(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(args, {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    env: { CONSUL_HTTP_ADDR: `${t.host}:${t.port}` },
    readStdin: async () => Buffer.alloc(0),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test.before(async () => {
  t = await startTestAgent('127.0.0.75');
  await eventually(async () => (await call(t.base, 'GET', '/v1/catalog/nodes')).text.includes('node-1'), 'the node registered');
});

test.after(async () => {
  await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('services register FILE (HCL, snake_case, a check block) registers with the local agent, which syncs the catalog', async () => {
  const hcl = file('web.hcl', `
service {
  name = "web"
  id   = "web-1"
  port = 8080
  tags = ["v1", "primary"]
  meta = { team = "edge" }
  enable_tag_override = false
  check {
    id       = "web-ttl"
    ttl      = "1h"
    status   = "passing"
  }
}
`);
  const result = await tribune('services', 'register', hcl);
  assert.equal([result.code, result.out, result.err], [0, 'Registered service: web', '']);
  const services = (await call(t.base, 'GET', '/v1/agent/services')).json as Record<string, { Port: number; Tags: string[]; Meta: Record<string, string> }>;
  assert.equal([services['web-1']!.Port, services['web-1']!.Tags, services['web-1']!.Meta], [8080, ['v1', 'primary'], { team: 'edge' }]);
  const checks = (await call(t.base, 'GET', '/v1/agent/checks')).json as Record<string, { Status: string; ServiceID: string }>;
  assert.equal([checks['web-ttl']!.Status, checks['web-ttl']!.ServiceID], ['passing', 'web-1']);
  await eventually(async () => ((await call(t.base, 'GET', '/v1/health/service/web?passing')).json as unknown[]).length === 1, 'web passing in the catalog');
});

test('services register FILE (JSON with a services list) and from flags', async () => {
  const json = file('more.json', JSON.stringify({ services: [{ Name: 'db', Port: 5432, Tags: ['pg'] }, { name: 'cache', port: 6379 }] }));
  const result = await tribune('services', 'register', json);
  assert.equal([result.code, result.out], [0, 'Registered service: db\nRegistered service: cache']);
  const flags = await tribune('services', 'register', '-name=queue', '-port=5672', '-tag=amqp', '-tag=v3', '-meta=owner=ops');
  assert.equal([flags.code, flags.out], [0, 'Registered service: queue']);
  const queue = ((await call(t.base, 'GET', '/v1/agent/service/queue')).json) as { Port: number; Tags: string[]; Meta: Record<string, string> };
  assert.equal([queue.Port, queue.Tags, queue.Meta], [5672, ['amqp', 'v3'], { owner: 'ops' }]);
});

test('catalog services lists names, sorted; -tags adds the tags; -node limits to one node', async () => {
  await eventually(async () => (await tribune('catalog', 'services')).out.split('\n').length === 4, 'all services in the catalog');
  const plain = await tribune('catalog', 'services');
  assert.equal([plain.code, plain.out], [0, 'cache\ndb\nqueue\nweb']);
  const tags = await tribune('catalog', 'services', '-tags');
  assert.equal(tags.out.split('\n'), ['cache', 'db     pg', 'queue  amqp,v3', 'web    primary,v1']);
  const byNode = await tribune('catalog', 'services', '-node=node-1');
  assert.is(byNode.out, 'cache\ndb\nqueue\nweb');
  const none = await tribune('catalog', 'services', '-node=nobody');
  assert.equal([none.code, none.out, none.err], [0, '', 'No services match the given query - try expanding your search.']);
});

test('catalog nodes: Node, ID (8 characters), Address, DC; -detailed; -service', async () => {
  await call(t.base, 'PUT', '/v1/catalog/register', { Node: 'ext-1', Address: '192.0.2.7', NodeMeta: { rack: 'r9' }, Service: { Service: 'printer' } });
  const nodes = await tribune('catalog', 'nodes');
  const lines = nodes.out.split('\n');
  assert.match(lines[0]!, /^Node\s+ID\s+Address\s+DC$/);
  assert.match(lines[1]!, /^ext-1\s+192\.0\.2\.7\s+dc1$/);
  assert.match(lines[2]!, /^node-1\s+[0-9a-f]{8}\s+127\.0\.0\.75\s+dc1$/);
  const detailed = await tribune('catalog', 'nodes', '-detailed');
  assert.match(detailed.out, /TaggedAddresses\s+Meta/);
  assert.match(detailed.out, /lan=127\.0\.0\.75, lan_ipv4=127\.0\.0\.75, wan=127\.0\.0\.75, wan_ipv4=127\.0\.0\.75/);
  assert.match(detailed.out, /rack=r9/);
  const printers = await tribune('catalog', 'nodes', '-service=printer');
  assert.equal(printers.out.split('\n').slice(1).map((line) => line.split(/\s+/)[0]), ['ext-1']);
  const meta = await tribune('catalog', 'nodes', '-node-meta=rack=r9');
  assert.equal(meta.out.split('\n').length, 2);
  const badMeta = await tribune('catalog', 'nodes', '-node-meta=rack');
  assert.is(badMeta.code, 1);
  assert.match(badMeta.err, /expected key=value/);
});

test('formatCatalogNodes lines up columns as Consul\'s columnize does', () => {
  const text = formatCatalogNodes([
    { ID: '0123456789abcdef', Node: 'a', Address: '10.0.0.1', Datacenter: 'dc1', TaggedAddresses: null, Meta: null },
    { ID: '', Node: 'longer-name', Address: '10.0.0.22', Datacenter: 'dc1', TaggedAddresses: null, Meta: null },
  ], false);
  assert.is(text, 'Node         ID        Address    DC\na            01234567  10.0.0.1   dc1\nlonger-name            10.0.0.22  dc1');
});

test('services deregister FILE removes the file\'s services by ID (or name); -id removes one', async () => {
  const result = await tribune('services', 'deregister', join(dir, 'more.json'));
  assert.equal([result.code, result.out], [0, 'Deregistered service: db\nDeregistered service: cache']);
  const byId = await tribune('services', 'deregister', '-id=web-1');
  assert.equal([byId.code, byId.out], [0, 'Deregistered service: web-1']);
  assert.equal(Object.keys((await call(t.base, 'GET', '/v1/agent/services')).json as object), ['queue']);
  await eventually(async () => (await tribune('catalog', 'services')).out === 'printer\nqueue', 'the catalog follows');
});

test('bad input says what is wrong: an unknown service, a bad definition, a file that holds none', async () => {
  const unknown = await tribune('services', 'deregister', '-id=ghost');
  assert.is(unknown.code, 1);
  assert.match(unknown.err, /Error deregistering service: Unexpected response code: 404 \(Unknown service ID "ghost"/);
  const bad = await tribune('services', 'register', file('bad.json', JSON.stringify({ service: { name: 'x', port: 'eighty' } })));
  assert.is(bad.code, 1);
  assert.match(bad.err, /Error registering service: Unexpected response code: 400 \(service\.Port: must be an integer/);
  const empty = await tribune('services', 'register', file('empty.json', '{"datacenter": "dc1"}'));
  assert.is(empty.code, 1);
  assert.match(empty.err, /no service definition found/);
  const broken = await tribune('services', 'register', file('broken.hcl', 'service {'));
  assert.is(broken.code, 1);
  assert.match(broken.err, /invalid HCL/);
  const nothing = await tribune('services', 'register');
  assert.is(nothing.code, 1);
  assert.match(nothing.err, /give a FILE/);
});

test.run();

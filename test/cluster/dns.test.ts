// DNS on three real agents (127.0.0.81-83, DNS on port 18681 of each):
// services registered through each agent's HTTP API, some failing, queried
// with Debian's `dig` and with the dns2 client on every agent. Then one agent
// is killed and its instances leave the answers within one failure-detection
// time (the leader's serfHealth reconciler marks its node critical). Last, the same
// addresses with one Raft voter: agents without a replica answer DNS too.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import dns2 from 'dns2';
import { TestCluster, eventually } from './harness.ts';
import type { AgentProcess } from './harness.ts';

const DNS_PORT = 18681;
const cluster = new TestCluster({
  subnet: 0, first: 81, count: 3, httpPortBase: 19581, bootstrapExpect: 3,
  extraArgs: ['-dns-port', String(DNS_PORT)],
});
const [first, second, third] = cluster.agents as [AgentProcess, AgentProcess, AgentProcess];
const haveDig = spawnSync('dig', ['-v'], { encoding: 'utf8' }).status === 0;
let catalogRegister = true;

// Then the same addresses again with one Raft voter: the other two agents hold no replica and
// answer DNS from copies fetched through the forwarding path and kept by blocking queries.
const clientCluster = new TestCluster({
  subnet: 0, first: 81, count: 3, httpPortBase: 19581, bootstrapExpect: 3,
  extraArgs: ['-dns-port', String(DNS_PORT), '-raft-voters', '1'],
});

test.after(async () => {
  await cluster.cleanup();
  await clientCluster.cleanup();
});

type Record = { address?: string; target?: string; port?: number; data?: string[] };

/** dig's short answer lines, sorted. */
function dig(agent: AgentProcess, name: string, ...options: string[]): string[] {
  const run = spawnSync('dig', [`@${agent.ip}`, '-p', String(DNS_PORT), '+time=2', '+tries=1', '+short', ...options, name], { encoding: 'utf8', timeout: 10_000 });
  if (run.status !== 0) throw new Error(`dig ${name} ${options.join(' ')}: ${run.stdout}${run.stderr}`);
  return run.stdout.split('\n').filter(Boolean).sort();
}

/** dig's header: status and flags. */
function digHeader(agent: AgentProcess, name: string, ...options: string[]): { status: string; flags: string[]; answers: number; authority: string } {
  const run = spawnSync('dig', [`@${agent.ip}`, '-p', String(DNS_PORT), '+time=2', '+tries=1', ...options, name], { encoding: 'utf8', timeout: 10_000 });
  const output = run.stdout;
  return {
    status: /status: (\w+)/.exec(output)?.[1] ?? `no status in: ${output}${run.stderr}`,
    flags: (/;; flags: ([^;]*);/.exec(output)?.[1] ?? '').trim().split(' '),
    answers: Number(/ANSWER: (\d+)/.exec(output)?.[1] ?? -1),
    authority: /;; AUTHORITY SECTION:\n([^\n]*)/.exec(output)?.[1] ?? '',
  };
}

function udp(agent: AgentProcess) {
  return dns2.UDPClient({ dns: agent.ip, port: DNS_PORT, retryOverTCP: false, timeout: 3_000 } as never);
}

function tcp(agent: AgentProcess) {
  return dns2.TCPClient({ dns: agent.ip, port: DNS_PORT });
}

async function register(agent: AgentProcess, body: object): Promise<void> {
  const response = await cluster.put(agent, '/v1/catalog/register', JSON.stringify(body));
  if (response.status === 404) {
    catalogRegister = false;
    return;
  }
  assert.is(response.status, 200, await response.text());
}

function instance(node: string, address: string, service: string, status: string, tags: string[] = [], port = 8080) {
  return {
    Node: node, Address: address, NodeMeta: { rack: `rack-${node}` },
    Service: { ID: `${service}-${node}`, Service: service, Tags: tags, Port: port },
    Check: { CheckID: `check-${service}-${node}`, Name: 'probe', Status: status, ServiceID: `${service}-${node}` },
  };
}

test('three agents elect, then each registers services; every agent answers DNS', async () => {
  assert.ok(haveDig, 'dig not found: apt-get install dnsutils (.ci/run does)');
  cluster.startAll();
  await eventually(async () => {
    const nodes = await cluster.get<{ Node: string }[]>(first, '/v1/catalog/nodes');
    return nodes.length >= 3;
  }, 60_000, () => cluster.logs(first)).catch(async () => {
    // Without the catalog endpoints (or the reconciler) there is nothing to wait for: go on and let the next step decide.
    await eventually(async () => (await cluster.get<{ Config: unknown }>(first, '/v1/agent/self')) && true, 30_000, () => cluster.logs(first));
  });
  // web: three passing instances registered through three agents, one warning, one critical.
  await register(first, instance('web-1', '127.10.0.1', 'web', 'passing', ['v1', 'primary']));
  if (!catalogRegister) {
    console.log('SKIP: PUT /v1/catalog/register is not served by this build; the DNS cluster test needs it to register services');
    return;
  }
  await register(second, instance('web-2', '127.10.0.2', 'web', 'passing', ['v2'], 8081));
  await register(third, instance('web-3', '127.10.0.3', 'web', 'passing', ['v2']));
  await register(first, instance('web-4', '127.10.0.4', 'web', 'warning', ['v2']));
  await register(second, instance('web-5', '127.10.0.5', 'web', 'critical', ['v1']));
  for (let i = 0; i < 40; i++) await register(cluster.agents[i % 3]!, instance(`big-${String(i).padStart(2, '0')}`, `127.11.0.${i + 1}`, 'big', 'passing'));
  for (const agent of cluster.agents) {
    await eventually(() => dig(agent, 'big.service.consul', '+tcp').length === 40, 20_000, () => cluster.logs(agent));
  }
});

test('A: passing and warning instances from every agent, never the critical one (dig and dns2)', async () => {
  if (!catalogRegister) return;
  for (const agent of cluster.agents) {
    assert.equal(dig(agent, 'web.service.consul'), ['127.10.0.1', '127.10.0.2', '127.10.0.3', '127.10.0.4'], agent.name);
    const answer = await udp(agent)('web.service.dc1.consul');
    assert.equal((answer.answers as Record[]).map((record) => record.address).sort(), ['127.10.0.1', '127.10.0.2', '127.10.0.3', '127.10.0.4']);
  }
});

test('SRV: port and node target, with the target\'s address as additional record', async () => {
  if (!catalogRegister) return;
  const lines = dig(second, 'web.service.consul', 'SRV');
  assert.ok(lines.includes('1 1 8081 web-2.node.dc1.consul.'), lines.join('\n'));
  assert.is(lines.length, 4);
  const answer = await udp(third)('web.service.consul', 'SRV');
  const targets = (answer.answers as Record[]).map((record) => `${record.target}:${record.port}`).sort();
  assert.equal(targets, ['web-1.node.dc1.consul:8080', 'web-2.node.dc1.consul:8081', 'web-3.node.dc1.consul:8080', 'web-4.node.dc1.consul:8080']);
  const glue = (answer.additionals as (Record & { name: string })[]).filter((record) => record.address).map((record) => `${record.name}=${record.address}`).sort();
  assert.equal(glue, ['web-1.node.dc1.consul=127.10.0.1', 'web-2.node.dc1.consul=127.10.0.2', 'web-3.node.dc1.consul=127.10.0.3', 'web-4.node.dc1.consul=127.10.0.4']);
});

test('tags and the RFC 2782 forms', async () => {
  if (!catalogRegister) return;
  assert.equal(dig(first, 'v2.web.service.consul'), ['127.10.0.2', '127.10.0.3', '127.10.0.4']);
  assert.equal(dig(first, 'primary.web.service.consul'), ['127.10.0.1']);
  assert.equal(dig(second, '_web._v2.service.consul', 'SRV').length, 3);
  assert.equal(dig(third, '_web._tcp.service.dc1.consul', 'SRV').length, 4);
  assert.equal(dig(third, 'v1.web.service.consul'), ['127.10.0.1'], 'the critical v1 instance is left out');
});

test('node names: A, and TXT from the node meta; PTR back to the node', async () => {
  if (!catalogRegister) return;
  assert.equal(dig(first, 'web-2.node.consul'), ['127.10.0.2']);
  assert.equal(dig(first, 'web-2.node.dc1.consul', 'TXT'), ['"rack=rack-web-2"']);
  assert.equal(dig(second, '2.0.10.127.in-addr.arpa', 'PTR'), ['web-2.node.dc1.consul.']);
  const answer = await udp(third)('web-3.node.consul');
  assert.is((answer.answers as Record[])[0]!.address, '127.10.0.3');
});

test('unknown names: NXDOMAIN with the SOA; a known name of another type: NOERROR, no answers; outside the domain: REFUSED', () => {
  if (!catalogRegister) return;
  const unknown = digHeader(first, 'nope.service.consul');
  assert.is(unknown.status, 'NXDOMAIN');
  assert.match(unknown.authority, /SOA\s+ns\.consul\. hostmaster\.consul\./);
  const otherType = digHeader(second, 'web.service.consul', 'MX');
  assert.is(otherType.status, 'NOERROR');
  assert.is(otherType.answers, 0);
  assert.is(digHeader(third, 'example.com').status, 'REFUSED');
});

test('40 instances: UDP without EDNS0 sets TC and fits 512 bytes; TCP returns all 40', async () => {
  if (!catalogRegister) return;
  const truncated = digHeader(first, 'big.service.consul', 'SRV', '+noedns', '+ignore');
  assert.ok(truncated.flags.includes('tc'), truncated.flags.join(' '));
  assert.ok(truncated.answers > 0 && truncated.answers < 40, String(truncated.answers));
  const viaDns2 = await udp(second)('big.service.consul', 'SRV');
  assert.is((viaDns2.header as unknown as { tc: number }).tc, 1);
  assert.ok(viaDns2.answers.length < 40);
  assert.is(dig(third, 'big.service.consul', 'SRV', '+tcp').length, 40);
  const full = await tcp(first)('big.service.consul', 'SRV');
  assert.is(full.answers.length, 40);
  // dig's default (EDNS0, 1232 bytes) gets TC too and retries over TCP by itself: all 40.
  assert.is(dig(second, 'big.service.consul', 'SRV').length, 40);
});

test('a killed agent\'s instances leave the answers within one failure-detection time', async () => {
  if (!catalogRegister) return;
  // An instance on agent-3's own node: the reconciler's serfHealth check on that node decides it.
  let response = await cluster.put(third, '/v1/agent/service/register', JSON.stringify({ ID: 'cache-3', Name: 'cache', Port: 6379 }));
  if (response.status === 404) {
    response = await cluster.put(third, '/v1/catalog/register', JSON.stringify({ Node: third.name, Address: third.ip, SkipNodeUpdate: true, Service: { ID: 'cache-3', Service: 'cache', Port: 6379 } }));
  }
  assert.is(response.status, 200, await response.text());
  await register(first, instance('cache-1', '127.12.0.1', 'cache', 'passing'));
  await eventually(() => dig(first, 'cache.service.consul').length === 2 && dig(second, 'cache.service.consul').length === 2, 20_000, () => `${dig(first, 'cache.service.consul')}`);
  assert.ok(dig(first, 'cache.service.consul').includes(third.ip));
  const killedAt = Date.now();
  cluster.kill(third);
  // Failure detection with the test timings: probe every 200 ms, suspicion 0.6-3.6 s; then one Raft commit.
  await eventually(() => dig(first, 'cache.service.consul').join() === '127.12.0.1' && dig(second, 'cache.service.consul').join() === '127.12.0.1', 8_000, () => `first: ${dig(first, 'cache.service.consul')}; ${cluster.logs(first, 20)}`);
  console.log(`instances of the killed agent left DNS answers after ${Date.now() - killedAt} ms`);
  // The survivors keep answering everything else.
  assert.equal(dig(first, 'web.service.consul'), ['127.10.0.1', '127.10.0.2', '127.10.0.3', '127.10.0.4']);
});

test('an agent without a replica answers DNS: the first query fetches from a Raft member, changes arrive by blocking query', async () => {
  if (!catalogRegister) return;
  await cluster.cleanup();
  clientCluster.startAll();
  const roles = await eventually(async () => {
    const selves = await Promise.all(clientCluster.agents.map((agent) => clientCluster.get<{ Config: { Server: boolean } }>(agent, '/v1/agent/self')));
    const nodes = await clientCluster.get<unknown[]>(clientCluster.agents[0]!, '/v1/catalog/nodes?stale').catch(() => []);
    return selves.filter((self) => self.Config.Server).length === 1 && nodes.length === 3 && selves;
  }, 60_000, () => clientCluster.logs(clientCluster.agents[0]!));
  const client = clientCluster.agents[roles.findIndex((self) => !self.Config.Server)]!;
  const register = (node: string, address: string) => clientCluster.put(client, '/v1/catalog/register', JSON.stringify({ Node: node, Address: address, Service: { ID: `svc-${node}`, Service: 'svc', Port: 80 } }));
  assert.is((await register('x1', '127.20.0.1')).status, 200);
  await eventually(() => dig(client, 'svc.service.consul').join() === '127.20.0.1', 10_000, () => clientCluster.logs(client, 20));
  assert.is((await register('x2', '127.20.0.2')).status, 200);
  await eventually(() => dig(client, 'svc.service.consul').length === 2, 10_000, () => `${dig(client, 'svc.service.consul')}`);
  assert.equal(dig(client, 'x2.node.consul'), ['127.20.0.2']);
  assert.equal(dig(client, '2.0.20.127.in-addr.arpa', 'PTR'), ['x2.node.dc1.consul.']);
  assert.is(digHeader(client, 'nope.service.consul').status, 'NXDOMAIN');
});

test.run();

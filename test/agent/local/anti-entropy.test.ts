// The local agent and anti-entropy (agent/local/): the agent is
// authoritative for its own node. Its services and checks reach the catalog,
// changes made to its node by others are undone, entries it does not know
// are removed (except serfHealth, the leader's), failures are retried.
// The "catalog" here is a real state machine fed through the real codec.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EntryType } from '../../../protocol/raft.ts';
import { encodeStateCommand } from '../../../protocol/state-commands.ts';
import type { StateCommand } from '../../../protocol/state-commands.ts';
import { StateMachine } from '../../../agent/state/state-machine.ts';
import { fromConsulJson, stateCatalogReader } from '../../../agent/local/catalog-reader.ts';
import type { CatalogNodeReader } from '../../../agent/local/catalog-reader.ts';
import { LocalAgent, UnknownEntryError } from '../../../agent/local/local-agent.ts';
import { DefinitionError } from '../../../agent/local/json-fields.ts';
import { agentCatalogNode } from '../../../agent/local/node-identity.ts';

const NODE = agentCatalogNode({ name: 'node-1', peerId: '12D3KooWnode1', meshAddress: '127.0.0.5:8301', datacenter: 'dc1' });

class Cluster {
  readonly state = new StateMachine();
  index = 0;
  writes: StateCommand[] = [];
  reads = 0;
  failWrites = 0;
  leader = 'leader-a';

  async apply(command: StateCommand): Promise<unknown> {
    if (this.failWrites > 0) {
      this.failWrites--;
      throw new Error('No cluster leader');
    }
    this.writes.push(command);
    return this.applyNow(command);
  }

  applyNow(command: StateCommand): unknown {
    return this.state.apply({ term: 1, index: ++this.index, type: EntryType.Normal, data: encodeStateCommand(command) });
  }

  reader(): CatalogNodeReader {
    const inner = stateCatalogReader({
      state: this.state,
      readBarrier: async () => ({ index: 1, knownLeader: true, lastContactMs: 0 }),
      hasReplica: () => true,
      forward: async () => { throw new Error('not used'); },
    });
    return { read: (name) => { this.reads++; return inner.read(name); } };
  }

  services(): string[] {
    return this.state.catalogView.servicesOfNode('node-1').map((service) => service.id);
  }

  checks(): Record<string, string> {
    return Object.fromEntries(this.state.catalogView.checksOfNode('node-1').map((check) => [check.checkId, check.status]));
  }
}

function localAgent(cluster: Cluster, extra: Partial<ConstructorParameters<typeof LocalAgent>[0]> = {}): LocalAgent {
  return new LocalAgent({
    nodeName: 'node-1',
    node: () => NODE,
    datacenter: 'dc1',
    enableScriptChecks: false,
    reader: cluster.reader(),
    apply: (command) => cluster.apply(command),
    leaderId: () => cluster.leader,
    log: () => {},
    ...extra,
  });
}

async function settle(local: LocalAgent): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    await local.antiEntropy.settled();
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('at start, the config files\' services and checks and the node itself reach the catalog', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster);
  await local.start([{ name: 'web', port: 80, check: { ttl: '1h', status: 'passing' } }], [{ name: 'mem', ttl: '1h' }]);
  try {
    await settle(local);
    assert.equal(cluster.services(), ['web']);
    assert.equal(cluster.checks(), { mem: 'critical', 'service:web': 'passing' });
    assert.equal(cluster.state.catalogView.node('node-1')!.address, '127.0.0.5');
    assert.is(cluster.reads, 1, 'one full sync');
  } finally {
    await local.stop();
  }
});

test('a bad definition in the config files fails the start and names it', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster);
  try {
    await local.start([{ name: 'ok' }, { port: 80 }]);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, DefinitionError);
    assert.match((error as Error).message, /^service #2 in the config files: Missing service name$/);
  } finally {
    await local.stop();
  }
});

test('a check\'s status change is written without reading the catalog again', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster);
  await local.start([{ name: 'web', check: { ttl: '1h' } }]);
  try {
    await settle(local);
    const reads = cluster.reads;
    local.updateTtl('service:web', 'passing', 'ok');
    await until(() => cluster.checks()['service:web'] === 'passing', 'the pass in the catalog');
    assert.is(cluster.state.catalogView.checkOf('node-1', 'service:web')!.output, 'ok');
    assert.is(cluster.reads, reads, 'a partial sync');
    local.updateTtl('service:web', 'passing', 'still ok');
    await settle(local);
    assert.is(cluster.state.catalogView.checkOf('node-1', 'service:web')!.output, 'ok', 'an output-only change waits (check_update_interval)');
  } finally {
    await local.stop();
  }
});

test('a full sync removes what the agent does not know from its node, keeps serfHealth, restores what others changed', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster);
  await local.start([{ name: 'web', port: 80 }]);
  try {
    await settle(local);
    cluster.applyNow({ type: 'nodeHealth', nowMs: 1, node: 'node-1', status: 'passing', output: 'Agent alive and reachable' });
    const foreign = { id: 'rogue', service: 'rogue', tags: [], address: '', taggedAddresses: {}, meta: {}, port: 1, weights: { passing: 1, warning: 1 }, enableTagOverride: false };
    cluster.applyNow({ type: 'catalogRegister', nowMs: 1, node: NODE, skipNodeUpdate: true, service: foreign, checks: [{ checkId: 'rogue-check', name: 'r', status: 'passing', notes: '', output: '', serviceId: '', type: '', definition: '' }] });
    cluster.applyNow({ type: 'catalogRegister', nowMs: 1, node: NODE, skipNodeUpdate: true, service: { ...foreign, id: 'web', service: 'web', port: 9999 }, checks: [] });
    cluster.applyNow({ type: 'catalogRegister', nowMs: 1, node: { ...NODE, node: 'other', id: '' }, skipNodeUpdate: false, service: foreign, checks: [] });
    local.antiEntropy.requestFull();
    await settle(local);
    assert.equal(cluster.services(), ['web']);
    assert.is(cluster.state.catalogView.servicesOfNode('node-1')[0]!.port, 80, 'the port another writer changed is restored');
    assert.equal(cluster.checks(), { serfHealth: 'passing' });
    assert.equal(cluster.state.catalogView.servicesOfNode('other').map((service) => service.id), ['rogue'], 'other nodes are not ours');
  } finally {
    await local.stop();
  }
});

test('EnableTagOverride: tags changed in the catalog are adopted, not undone', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster);
  await local.start([{ name: 'web', tags: ['a'], enable_tag_override: true }]);
  try {
    await settle(local);
    const service = { id: 'web', service: 'web', tags: ['b', 'c'], address: '', taggedAddresses: {}, meta: {}, port: 0, weights: { passing: 1, warning: 1 }, enableTagOverride: true };
    cluster.applyNow({ type: 'catalogRegister', nowMs: 1, node: NODE, skipNodeUpdate: true, service, checks: [] });
    local.antiEntropy.requestFull();
    await settle(local);
    assert.equal(cluster.state.catalogView.servicesOfNode('node-1')[0]!.tags, ['b', 'c']);
    assert.equal(local.services().web!.Tags, ['b', 'c']);
  } finally {
    await local.stop();
  }
});

test('deregistering locally removes the service and its checks from the catalog; unknown IDs are UnknownEntryError', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster);
  await local.start([{ name: 'web', checks: [{ ttl: '1h' }, { ttl: '1h' }] }, { name: 'db' }], [{ name: 'disk', ttl: '1h' }]);
  try {
    await settle(local);
    assert.equal(Object.keys(cluster.checks()).sort(), ['disk', 'service:web:1', 'service:web:2']);
    local.deregisterService('web');
    local.deregisterCheck('disk');
    await settle(local);
    assert.equal(cluster.services(), ['db']);
    assert.equal(cluster.checks(), {});
    assert.throws(() => local.deregisterService('web'), (error: Error) => error instanceof UnknownEntryError && /Unknown service ID "web"/.test(error.message));
    assert.throws(() => local.updateTtl('nope', 'passing', ''), (error: Error) => error instanceof UnknownEntryError);
  } finally {
    await local.stop();
  }
});

test('a failed sync is retried with backoff until it goes through', async () => {
  const cluster = new Cluster();
  cluster.failWrites = 3;
  const local = localAgent(cluster);
  await local.start([{ name: 'web' }]);
  try {
    await until(() => cluster.services().includes('web'), 'the service after retries', 10_000);
  } finally {
    await local.stop();
  }
});

test('a change of leader triggers a full sync, which repairs what a lost write left out', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster, {});
  await local.start([{ name: 'web' }]);
  try {
    await settle(local);
    cluster.applyNow({ type: 'catalogDeregister', nowMs: 1, node: 'node-1', serviceId: 'web', checkId: '' });
    assert.equal(cluster.services(), []);
    const reads = cluster.reads;
    cluster.leader = 'leader-b';
    await until(() => cluster.services().includes('web'), 'the service restored after the leader change');
    assert.ok(cluster.reads > reads);
  } finally {
    await local.stop();
  }
});

test('re-registering keeps other checks and the current status; ?replace-existing-checks drops the others', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster);
  await local.start([{ name: 'web', checks: [{ id: 'a', ttl: '1h' }, { id: 'b', ttl: '1h' }] }]);
  try {
    local.updateTtl('a', 'passing', 'fine');
    local.registerService({ name: 'web', port: 81, checks: [{ id: 'a', ttl: '1h' }] });
    assert.equal(Object.keys(local.checks()), ['a', 'b']);
    assert.is(local.checks().a!.Status, 'passing', 'no flap on re-register');
    local.registerService({ name: 'web', port: 82, checks: [{ id: 'a', ttl: '1h' }] }, true);
    assert.equal(Object.keys(local.checks()), ['a']);
    await settle(local);
    assert.equal(cluster.checks(), { a: 'passing' });
    assert.is(cluster.state.catalogView.servicesOfNode('node-1')[0]!.port, 82);
  } finally {
    await local.stop();
  }
});

test('a check cannot take another service\'s check ID; a check for an unknown service is refused; nothing changes', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster);
  await local.start([{ name: 'web', check: { id: 'shared', ttl: '1h' } }]);
  try {
    assert.throws(() => local.registerService({ name: 'db', check: { id: 'shared', ttl: '1h' } }), /already registered for service "web"/);
    assert.throws(() => local.registerCheck({ name: 'x', service_id: 'nope', ttl: '1h' }), /ServiceID "nope" does not exist/);
    assert.equal(Object.keys(local.services()), ['web']);
    assert.equal(Object.keys(local.checks()), ['shared']);
  } finally {
    await local.stop();
  }
});

test('a service whose check stays critical past DeregisterCriticalServiceAfter is deregistered', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster, { minDeregisterCriticalServiceAfterMs: 1, reapIntervalMs: 60_000 });
  await local.start([
    { name: 'web', check: { ttl: '1h', deregister_critical_service_after: '100ms' } },
    { name: 'db', check: { ttl: '1h', status: 'passing', deregister_critical_service_after: '100ms' } },
  ]);
  try {
    const now = Date.now();
    assert.equal(local.reapCriticalServices(now + 50), []);
    assert.equal(local.reapCriticalServices(now + 5_000), ['web']);
    assert.equal(Object.keys(local.services()), ['db']);
  } finally {
    await local.stop();
  }
});

test('the forwarded reader (Consul JSON) and the replica reader see the same node', async () => {
  const cluster = new Cluster();
  const local = localAgent(cluster);
  await local.start([{ name: 'web', tags: ['x'], meta: { v: '1' }, tagged_addresses: { lan: { address: '10.0.0.1', port: 80 } }, check: { http: 'http://127.0.0.1:1/', interval: '1h' } }]);
  try {
    await settle(local);
    const direct = await cluster.reader().read('node-1');
    const viaJson = fromConsulJson(cluster.state.catalogNode('node-1').node, cluster.state.healthNode('node-1').checks);
    assert.equal(viaJson, direct);
    assert.equal(fromConsulJson(null, []), { node: null, services: [], checks: [] });
  } finally {
    await local.stop();
  }
});

test.run();

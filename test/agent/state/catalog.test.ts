// Catalog register/deregister and the health views.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aggregateStatus } from '../../../agent/state/catalog.ts';
import { check_, Harness, service } from './harness.ts';

function webCluster(): Harness {
  const h = new Harness();
  h.registerNode('n1', [check_('serfHealth')], service('web1', 'web', ['v1', 'Primary'], 8080)); // 1
  h.registerNode('n2', [check_('serfHealth'), check_('web-http', 'passing', 'web2')], service('web2', 'web', ['v2'], 8080)); // 2
  h.registerNode('n3', [check_('serfHealth'), check_('db-tcp', 'critical', 'db')], service('db', 'db', [], 5432)); // 3
  return h;
}

test('register creates node, service and checks; catalog reads show Consul\'s shapes', () => {
  const h = webCluster();
  assert.equal(h.state.catalogNodes().nodes.map((node) => node.Node), ['n1', 'n2', 'n3']);
  assert.equal(h.state.catalogServices().services, { db: [], web: ['Primary', 'v1', 'v2'] });
  const rows = h.state.catalogService('web').nodes;
  assert.equal(rows.map((row) => [row.Node, row.ServiceID, row.ServicePort, row.Address]), [['n1', 'web1', 8080, '10.0.0.2'], ['n2', 'web2', 8080, '10.0.0.2']]);
  const node = h.state.catalogNode('n2').node!;
  assert.equal(Object.keys(node.Services), ['web2']);
  assert.is(node.Node.Datacenter, 'dc1');
  assert.is(h.state.catalogNode('nope').node, null);
});

test('health/service aggregates node and service checks; ?passing drops instances with any non-passing check', () => {
  const h = webCluster();
  const all = h.state.healthService('web');
  assert.equal(all.entries.map((entry) => [entry.Node.Node, entry.Checks.map((check) => check.CheckID)]), [['n1', ['serfHealth']], ['n2', ['serfHealth', 'web-http']]]);
  assert.is(all.entries[1]!.Checks[1]!.ServiceName, 'web');
  assert.equal(all.entries[1]!.Checks[1]!.ServiceTags, ['v2']);
  assert.equal(h.state.healthService('db', { passing: true }).entries, []);
  h.apply({ type: 'nodeHealth', node: 'n1', status: 'critical', output: 'Agent not live or unreachable' });
  assert.equal(h.state.healthService('web', { passing: true }).entries.map((entry) => entry.Node.Node), ['n2']);
  h.registerNode('n2', [check_('web-http', 'warning', 'web2')], service('web2', 'web', ['v2'], 8080));
  assert.equal(h.state.healthService('web', { passing: true }).entries, [], 'warning is not passing');
});

test('?tag filters instances by tag, case-insensitively and all tags required', () => {
  const h = webCluster();
  assert.equal(h.state.healthService('web', { tags: ['primary'] }).entries.map((entry) => entry.Service.ID), ['web1']);
  assert.equal(h.state.healthService('web', { tags: ['v1', 'v2'] }).entries, []);
  assert.equal(h.state.catalogService('web', ['V2']).nodes.map((row) => row.ServiceID), ['web2']);
});

test('health/state lists checks by state; health/checks lists a service\'s checks; health/node a node\'s', () => {
  const h = webCluster();
  assert.equal(h.state.healthState('critical').checks.map((check) => [check.Node, check.CheckID]), [['n3', 'db-tcp']]);
  assert.is(h.state.healthState('passing').checks.length, 4);
  assert.is(h.state.healthState('any').checks.length, 5);
  assert.equal(h.state.healthChecks('web').checks.map((check) => check.CheckID), ['web-http']);
  assert.equal(h.state.healthNode('n2').checks.map((check) => check.CheckID), ['serfHealth', 'web-http']);
});

test('aggregated status: maintenance, then critical, then warning, else passing', () => {
  const record = (checkId: string, status: 'passing' | 'warning' | 'critical') => ({ ...check_(checkId, status), node: 'n', createIndex: 1, modifyIndex: 1 });
  assert.is(aggregateStatus([]), 'passing');
  assert.is(aggregateStatus([record('a', 'passing'), record('b', 'warning')]), 'warning');
  assert.is(aggregateStatus([record('a', 'critical'), record('b', 'warning')]), 'critical');
  assert.is(aggregateStatus([record('_node_maintenance', 'critical')]), 'maintenance');
});

test('a check for a service that is neither registered nor in the request rejects the whole registration', () => {
  const h = new Harness();
  h.registerNode('n1');
  const result = h.apply({
    type: 'catalogRegister',
    node: { id: '', node: 'n1', address: '10.9.9.9', datacenter: 'dc1', taggedAddresses: {}, meta: {} },
    skipNodeUpdate: false,
    service: null,
    checks: [check_('ok'), check_('orphan', 'passing', 'ghost')],
  });
  assert.equal(result, { rejected: true, code: 'missing-service', message: 'Missing service registration' });
  assert.is(h.state.catalogNodes().nodes[0]!.Address, '10.0.0.2', 'the node was not updated');
  assert.equal(h.state.healthNode('n1').checks.map((check) => check.CheckID), ['serfHealth'], 'no check was added');
});

test('re-registering identical records keeps their ModifyIndex and the scope indexes', () => {
  const h = webCluster();
  const before = h.state.healthService('web').index;
  h.registerNode('n1', [check_('serfHealth')], service('web1', 'web', ['v1', 'Primary'], 8080));
  assert.is(h.state.healthService('web').index, before);
  assert.is(h.state.catalogNodes().nodes[0]!.ModifyIndex, 1);
});

test('deregister removes a service with its checks, a single check, or the whole node', () => {
  const h = webCluster();
  h.apply({ type: 'catalogDeregister', node: 'n2', serviceId: 'web2', checkId: '' });
  assert.equal(h.state.healthNode('n2').checks.map((check) => check.CheckID), ['serfHealth']);
  assert.equal(h.state.catalogService('web').nodes.map((row) => row.Node), ['n1']);
  h.apply({ type: 'catalogDeregister', node: 'n3', serviceId: '', checkId: 'db-tcp' });
  assert.equal(h.state.healthChecks('db').checks, []);
  h.apply({ type: 'catalogDeregister', node: 'n3', serviceId: '', checkId: '' });
  assert.equal(h.state.catalogNodes().nodes.map((node) => node.Node), ['n1', 'n2']);
  assert.equal(h.state.catalogServices().services, { web: ['Primary', 'v1'] });
  assert.is(h.apply({ type: 'catalogDeregister', node: 'ghost', serviceId: '', checkId: '' }), true, 'absent node: not an error');
});

test('a node ID cannot be taken by another node name', () => {
  const h = new Harness();
  const node = { id: '0b5e2c4a-1f5e-4b8e-9a54-0d5e2c4a1f5e', node: 'a', address: '10.0.0.1', datacenter: 'dc1', taggedAddresses: {}, meta: {} };
  assert.is(h.apply({ type: 'catalogRegister', node, skipNodeUpdate: false, service: null, checks: [] }), true);
  const result = h.apply({ type: 'catalogRegister', node: { ...node, node: 'b' }, skipNodeUpdate: false, service: null, checks: [] });
  assert.is((result as { code: string }).code, 'node-id-conflict');
});

test('nodeHealth writes serfHealth; the same status again is no change; an unknown node is rejected', () => {
  const h = new Harness();
  h.registerNode('n1', []);
  assert.is(h.apply({ type: 'nodeHealth', node: 'n1', status: 'passing', output: 'Agent alive and reachable' }), true);
  assert.is(h.apply({ type: 'nodeHealth', node: 'n1', status: 'passing', output: 'Agent alive and reachable' }), false);
  assert.equal(h.state.healthNode('n1').checks.map((check) => [check.CheckID, check.Name, check.Status]), [['serfHealth', 'Serf Health Status', 'passing']]);
  assert.is((h.apply({ type: 'nodeHealth', node: 'ghost', status: 'critical', output: '' }) as { code: string }).code, 'missing-node');
});

test('skipNodeUpdate keeps the existing node record', () => {
  const h = new Harness();
  h.registerNode('n1');
  h.apply({
    type: 'catalogRegister',
    node: { id: '', node: 'n1', address: '', datacenter: '', taggedAddresses: {}, meta: {} },
    skipNodeUpdate: true,
    service: service('api'),
    checks: [],
  });
  assert.is(h.state.catalogNodes().nodes[0]!.Address, '10.0.0.2');
  assert.equal(h.state.catalogService('api').nodes.map((row) => row.Node), ['n1']);
});

test.run();

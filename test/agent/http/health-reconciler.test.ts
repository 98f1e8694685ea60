// The leader's serfHealth reconciler (agent/runtime/health-reconciler.ts):
// gossip states become catalog registrations and serfHealth checks; a left
// member is deregistered; a new leader repairs what the old one missed.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EntryType } from '../../../protocol/raft.ts';
import { MemberState } from '../../../protocol/membership.ts';
import { encodeStateCommand } from '../../../protocol/state-commands.ts';
import type { StateCommand } from '../../../protocol/state-commands.ts';
import type { MemberView } from '../../../agent/membership/membership-core.ts';
import { StateMachine } from '../../../agent/state/state-machine.ts';
import {
  HealthReconciler, membersByName, planReconcile, SERF_HEALTH_ALIVE_OUTPUT, SERF_HEALTH_FAILED_OUTPUT,
} from '../../../agent/runtime/health-reconciler.ts';
import { nodeIdFromPeerId } from '../../../agent/local/node-identity.ts';

const NOW_MS = 1_700_000_000_000;

function member(name: string, state: MemberState, address = `127.0.0.${name.length}:8301`, peer = `12D3KooW${name}`): MemberView {
  return { node: peer, address, incarnation: 1, state, tags: { name, dc: 'dc1' }, stateChangedMs: 0 };
}

class Replica {
  readonly state = new StateMachine();
  index = 0;
  readonly applied: StateCommand[] = [];
  apply(command: StateCommand): unknown {
    this.applied.push(command);
    return this.state.apply({ term: 1, index: ++this.index, type: EntryType.Normal, data: encodeStateCommand(command) });
  }
  serf(node: string) {
    return this.state.catalogView.checkOf(node, 'serfHealth');
  }
}

function reconcileOnce(replica: Replica, members: MemberView[]): StateCommand[] {
  const plan = planReconcile(membersByName(members, 'dc1'), replica.state.catalogView, 'dc1', NOW_MS);
  for (const command of plan.commands) replica.apply(command);
  return plan.commands;
}

test('an alive member is registered with its address, a derived node ID and serfHealth passing', () => {
  const replica = new Replica();
  reconcileOnce(replica, [member('agent-1', MemberState.Alive, '127.0.0.61:8301')]);
  const node = replica.state.catalogView.node('agent-1')!;
  assert.is(node.address, '127.0.0.61');
  assert.is(node.id, nodeIdFromPeerId('12D3KooWagent-1'));
  assert.match(node.id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(node.taggedAddresses, { lan: '127.0.0.61', lan_ipv4: '127.0.0.61', wan: '127.0.0.61', wan_ipv4: '127.0.0.61' });
  const check = replica.state.healthNode('agent-1').checks[0]!;
  assert.equal([check.CheckID, check.Name, check.Status, check.Output], ['serfHealth', 'Serf Health Status', 'passing', SERF_HEALTH_ALIVE_OUTPUT]);
});

test('a second pass over an unchanged cluster proposes nothing', () => {
  const replica = new Replica();
  const members = [member('a', MemberState.Alive), member('b', MemberState.Suspect), member('c', MemberState.Dead)];
  assert.is(reconcileOnce(replica, members).length, 3);
  assert.equal(reconcileOnce(replica, members), []);
});

test('failed becomes nodeHealth critical, which invalidates the node\'s sessions; alive again is passing', () => {
  const replica = new Replica();
  reconcileOnce(replica, [member('a', MemberState.Alive)]);
  replica.apply({ type: 'sessionCreate', nowMs: NOW_MS, id: '11111111-2222-3333-4444-555555555555', node: 'a', name: 'lock', ttlMs: 0, lockDelayMs: 0, behavior: 'release', nodeChecks: ['serfHealth'], serviceChecks: [] });
  assert.is(replica.state.sessionList().sessions.length, 1);
  const commands = reconcileOnce(replica, [member('a', MemberState.Dead)]);
  assert.equal(commands.map((command) => command.type), ['nodeHealth']);
  assert.equal([replica.serf('a')!.status, replica.serf('a')!.output], ['critical', SERF_HEALTH_FAILED_OUTPUT]);
  assert.is(replica.state.sessionList().sessions.length, 0, 'the session died with its node');
  reconcileOnce(replica, [member('a', MemberState.Alive)]);
  assert.is(replica.serf('a')!.status, 'passing');
});

test('a failed member unknown to the catalog is registered critical', () => {
  const replica = new Replica();
  reconcileOnce(replica, [member('ghost', MemberState.Dead)]);
  assert.is(replica.serf('ghost')!.status, 'critical');
});

test('left deregisters the node with its services; an alive agent that moved is re-registered at its new address', () => {
  const replica = new Replica();
  reconcileOnce(replica, [member('a', MemberState.Alive), member('b', MemberState.Alive)]);
  replica.apply({
    type: 'catalogRegister', nowMs: NOW_MS, node: { id: '', node: 'a', address: '127.0.0.1', datacenter: 'dc1', taggedAddresses: {}, meta: {} }, skipNodeUpdate: true,
    service: { id: 'web', service: 'web', tags: [], address: '', taggedAddresses: {}, meta: {}, port: 80, weights: { passing: 1, warning: 1 }, enableTagOverride: false }, checks: [],
  });
  reconcileOnce(replica, [member('a', MemberState.Left), member('b', MemberState.Alive, '10.1.2.3:8301')]);
  assert.is(replica.state.catalogView.node('a'), undefined);
  assert.equal(replica.state.catalogServices().services, {});
  assert.is(replica.state.catalogView.node('b')!.address, '10.1.2.3');
});

test('of two members with one name (a restart with a new identity), the alive one counts', () => {
  const replica = new Replica();
  const old = member('a', MemberState.Dead, '127.0.0.1:8301', 'old-peer');
  const fresh = member('a', MemberState.Alive, '127.0.0.1:8301', 'new-peer');
  reconcileOnce(replica, [old, fresh]);
  assert.is(replica.serf('a')!.status, 'passing');
  reconcileOnce(replica, [fresh, old]);
  assert.is(replica.serf('a')!.status, 'passing');
});

test('members of another datacenter and members without a name are left alone', () => {
  const replica = new Replica();
  const other = { ...member('x', MemberState.Alive), tags: { name: 'x', dc: 'dc2' } };
  const unnamed = { ...member('y', MemberState.Alive), tags: {} };
  assert.equal(reconcileOnce(replica, [other, unnamed]), []);
});

test('nodes registered without serfHealth (external services) are never reaped; agents gone from the member list are, after the grace', async () => {
  const replica = new Replica();
  reconcileOnce(replica, [member('a', MemberState.Alive), member('gone', MemberState.Alive)]);
  replica.apply({ type: 'catalogRegister', nowMs: NOW_MS, node: { id: '', node: 'external', address: '192.0.2.1', datacenter: 'dc1', taggedAddresses: {}, meta: {} }, skipNodeUpdate: false, service: null, checks: [] });
  let nowMs = NOW_MS;
  const members = [member('a', MemberState.Alive)];
  const reconciler = new HealthReconciler({
    datacenter: 'dc1',
    isLeader: () => true,
    members: () => members,
    catalog: replica.state.catalogView,
    apply: async (command) => replica.apply(command),
    barrier: async () => {},
    subscribe: () => () => {},
    log: () => {},
    leaderPollMs: 5,
    reconcileIntervalMs: 10,
    reapGraceMs: 1_000,
    now: () => nowMs,
  });
  reconciler.start();
  try {
    await sleep(60);
    assert.ok(replica.state.catalogView.node('gone'), 'not before the grace');
    nowMs += 1_001;
    await sleep(60);
    assert.is(replica.state.catalogView.node('gone'), undefined);
    assert.ok(replica.state.catalogView.node('external'));
    assert.ok(replica.state.catalogView.node('a'));
  } finally {
    await reconciler.stop();
  }
});

test('a new leader reconciles at once what happened before it led; a follower proposes nothing', async () => {
  const replica = new Replica();
  reconcileOnce(replica, [member('a', MemberState.Alive), member('b', MemberState.Alive)]);
  const members = [member('a', MemberState.Alive), member('b', MemberState.Dead)];
  let leader = false;
  const proposed: StateCommand[] = [];
  const reconciler = new HealthReconciler({
    datacenter: 'dc1',
    isLeader: () => leader,
    members: () => members,
    catalog: replica.state.catalogView,
    apply: async (command) => {
      proposed.push(command);
      return replica.apply(command);
    },
    barrier: async () => {},
    subscribe: () => () => {},
    log: () => {},
    leaderPollMs: 5,
    reconcileIntervalMs: 60_000,
  });
  reconciler.start();
  try {
    await sleep(40);
    assert.equal(proposed, [], 'a follower leaves the catalog alone');
    leader = true;
    await sleep(40);
    assert.is(replica.serf('b')!.status, 'critical');
    assert.is(proposed.length, 1);
  } finally {
    await reconciler.stop();
  }
});

test('a membership event triggers a pass at once; a failed proposal is retried', async () => {
  const replica = new Replica();
  const members = [member('a', MemberState.Alive)];
  let listener = () => {};
  let failNext = 1;
  const reconciler = new HealthReconciler({
    datacenter: 'dc1',
    isLeader: () => true,
    members: () => members,
    catalog: replica.state.catalogView,
    apply: async (command) => {
      if (failNext-- > 0) throw new Error('no quorum');
      return replica.apply(command);
    },
    barrier: async () => {},
    subscribe: (callback) => {
      listener = callback;
      return () => {};
    },
    log: () => {},
    leaderPollMs: 10_000,
    reconcileIntervalMs: 60_000,
    retryMs: 150,
  });
  reconciler.start();
  try {
    reconciler.poke();
    await sleep(30);
    assert.is(replica.state.catalogView.node('a'), undefined, 'the first proposal failed');
    // The poll interval is long: the retry comes from the reconciler's own timer.
    await sleep(200);
    assert.ok(replica.state.catalogView.node('a'), 'retried after the failure');
    members[0] = member('a', MemberState.Dead);
    listener();
    await sleep(30);
    assert.is(replica.serf('a')!.status, 'critical');
  } finally {
    await reconciler.stop();
  }
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test.run();

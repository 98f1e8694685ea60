// The leader's TTL reaper (agent/runtime/session-reaper.ts) over a real state
// machine and a fake clock: deadlines come from the replicated state, only the
// leader proposes, a renewal committed in between wins, and a new leader
// carries on where the old one stopped.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EntryType } from '../../../protocol/raft.ts';
import { encodeStateCommand, isRejection } from '../../../protocol/state-commands.ts';
import type { SessionExpire, StateCommand } from '../../../protocol/state-commands.ts';
import { StateMachine } from '../../../agent/state/state-machine.ts';
import { SessionReaper } from '../../../agent/runtime/session-reaper.ts';

const T0 = 1_700_000_000_000;
const SESSION_A = '11111111-1111-4111-8111-111111111111';
const SESSION_B = '22222222-2222-4222-8222-222222222222';

class Replica {
  readonly state = new StateMachine();
  private index = 0;
  apply(command: StateCommand): unknown {
    const result = this.state.apply({ term: 1, index: ++this.index, type: EntryType.Normal, data: encodeStateCommand(command) });
    if (isRejection(result)) throw new Error(result.message);
    return result;
  }
  session(id: string, ttlMs: number, nowMs: number): void {
    this.apply({ type: 'sessionCreate', nowMs, id, node: 'n1', name: '', ttlMs, lockDelayMs: 0, behavior: 'release', nodeChecks: [], serviceChecks: [] });
  }
}

function setup() {
  const replica = new Replica();
  replica.apply({
    type: 'catalogRegister', nowMs: T0, skipNodeUpdate: false, service: null, checks: [],
    node: { id: '', node: 'n1', address: '127.0.0.1', datacenter: 'dc1', taggedAddresses: {}, meta: {} },
  });
  const clock = { now: T0 };
  const leader = { is: true };
  const proposed: SessionExpire[] = [];
  const reaper = new SessionReaper({
    state: replica.state,
    isLeader: () => leader.is,
    propose: async (command) => {
      proposed.push(command);
      return replica.apply(command);
    },
    now: () => clock.now,
    log: () => {},
  });
  return { replica, clock, leader, proposed, reaper };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('nothing is proposed before 2 × TTL; at the deadline the session is expired with the leader\'s time', async () => {
  const { replica, clock, proposed, reaper } = setup();
  replica.session(SESSION_A, 10_000, T0);
  clock.now = T0 + 19_999;
  assert.is(reaper.tick(), 0);
  clock.now = T0 + 20_000;
  assert.is(reaper.tick(), 1);
  await settle();
  assert.equal(proposed, [{ type: 'sessionExpire', nowMs: T0 + 20_000, id: SESSION_A }]);
  assert.is(replica.state.session(SESSION_A), undefined);
});

test('only the leader proposes; an expiry in flight is not proposed twice', async () => {
  const { replica, clock, leader, proposed, reaper } = setup();
  replica.session(SESSION_A, 10_000, T0);
  clock.now = T0 + 60_000;
  leader.is = false;
  assert.is(reaper.tick(), 0);
  leader.is = true;
  assert.is(reaper.tick(), 1);
  assert.is(reaper.tick(), 0, 'still in flight');
  await settle();
  assert.is(proposed.length, 1);
});

test('a renewal committed before the expiry wins: the state machine refuses the stale expiry', async () => {
  const { replica, clock, reaper } = setup();
  replica.session(SESSION_A, 10_000, T0);
  clock.now = T0 + 20_000;
  // The renewal lands in the log between the reaper's read and its proposal.
  replica.apply({ type: 'sessionRenew', nowMs: T0 + 19_000, id: SESSION_A });
  assert.is(reaper.tick(), 0, 'the renewed deadline is read from the state');
  assert.is(replica.apply({ type: 'sessionExpire', nowMs: T0 + 20_000, id: SESSION_A }), false);
  assert.ok(replica.state.session(SESSION_A));
});

test('a new leader reaps from the replicated deadlines, with no memory of the old one', async () => {
  const { replica, clock } = setup();
  replica.session(SESSION_A, 10_000, T0);
  replica.session(SESSION_B, 30_000, T0);
  const proposed: string[] = [];
  const newLeader = new SessionReaper({
    state: replica.state, isLeader: () => true, now: () => clock.now, log: () => {},
    propose: async (command) => {
      proposed.push(command.id);
      return replica.apply(command);
    },
  });
  clock.now = T0 + 25_000;
  newLeader.tick();
  await settle();
  assert.equal(proposed, [SESSION_A]);
  clock.now = T0 + 60_000;
  newLeader.tick();
  await settle();
  assert.equal(proposed, [SESSION_A, SESSION_B]);
  assert.is(replica.state.sessionList().sessions.length, 0);
});

test('a failed proposal is retried at the next tick', async () => {
  const { replica, clock } = setup();
  replica.session(SESSION_A, 10_000, T0);
  let fail = true;
  const reaper = new SessionReaper({
    state: replica.state, isLeader: () => true, now: () => clock.now, log: () => {},
    propose: async (command) => {
      if (fail) throw new Error('no quorum');
      return replica.apply(command);
    },
  });
  clock.now = T0 + 20_000;
  assert.is(reaper.tick(), 1);
  await settle();
  fail = false;
  assert.is(reaper.tick(), 1);
  await settle();
  assert.is(replica.state.session(SESSION_A), undefined);
});

test.run();

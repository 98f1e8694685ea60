// Sessions: creation rules, invalidation (destroy, node death, critical
// check, TTL expiry) releasing or deleting keys, and lock-delay counted in
// command time only.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { goDuration } from '../../../agent/state/sessions.ts';
import { check_, Harness, service, text, uuid } from './harness.ts';

const S1 = uuid(1);
const S2 = uuid(2);

function withNode(): Harness {
  const h = new Harness();
  h.registerNode('n1', [check_('serfHealth'), check_('disk')]);
  return h;
}

test('create needs a registered node and existing, non-critical checks (Consul\'s messages)', () => {
  const h = new Harness();
  assert.equal(h.createSession(S1, 'n1'), { rejected: true, code: 'missing-node', message: 'Missing node registration' });
  h.registerNode('n1', [check_('serfHealth'), check_('bad', 'critical')]);
  assert.equal(h.createSession(S1, 'n1', { nodeChecks: ['nope'] }), { rejected: true, code: 'missing-check', message: "Missing check 'nope' registration" });
  assert.equal(h.createSession(S1, 'n1', { nodeChecks: ['bad'] }), { rejected: true, code: 'critical-check', message: "Check 'bad' is in critical state" });
  assert.equal(h.createSession(S1, 'n1'), { ID: S1 });
  assert.is((h.createSession(S1, 'n1') as { code: string }).code, 'duplicate-session');
  assert.equal(h.state.sessionList().sessions.map((session) => session.ID), [S1]);
});

test('info shows Consul\'s shape: LockDelay in nanoseconds, TTL as a Go duration', () => {
  const h = withNode();
  h.createSession(S1, 'n1', { ttlMs: 30_000, lockDelayMs: 15_000 });
  const [info] = h.state.sessionInfo(S1).sessions;
  assert.equal(info, {
    ID: S1, Name: 'test', Node: 'n1', LockDelay: 15_000_000_000, Behavior: 'release', TTL: '30s',
    NodeChecks: ['serfHealth'], ServiceChecks: null, CreateIndex: 2, ModifyIndex: 2,
  });
  assert.equal(h.state.sessionsOfNode('n1').sessions.map((session) => session.ID), [S1]);
  assert.equal([goDuration(10_000), goDuration(90_000), goDuration(86_400_000), goDuration(1_500)], ['10s', '1m30s', '24h0m0s', '1.5s']);
});

test('destroy with behavior release frees the locks, keeps the values, and starts lock-delay', () => {
  const h = withNode();
  h.createSession(S1, 'n1', { lockDelayMs: 15_000 });
  h.createSession(S2, 'n1', { lockDelayMs: 0 });
  h.lock('a', S1, 'va');
  h.lock('b', S1, 'vb');
  h.apply({ type: 'sessionDestroy', id: S1 });
  const a = h.state.kvGet('a').entry!;
  assert.equal([a.session, a.lockIndex, text(a.value), a.modifyIndex], ['', 1, 'va', h.index]);
  assert.is(h.lock('a', S2), false, 'lock-delay: not before nowMs + 15 s');
  h.advance(14_999);
  assert.is(h.lock('a', S2), false);
  h.advance(1);
  assert.is(h.lock('a', S2), true, 'free exactly at the end of the lock-delay');
  assert.is(h.state.kvGet('a').entry!.lockIndex, 2);
  assert.equal(h.state.sessionInfo(S1).sessions, []);
});

test('behavior delete removes the held keys on invalidation', () => {
  const h = withNode();
  h.createSession(S1, 'n1', { behavior: 'delete', lockDelayMs: 0 });
  h.lock('queue/1', S1, 'job');
  h.set('queue/2', 'unlocked');
  h.apply({ type: 'sessionDestroy', id: S1 });
  assert.is(h.state.kvGet('queue/1').entry, null);
  assert.ok(h.state.kvGet('queue/2').entry);
});

test('the serfHealth check going critical invalidates the node\'s sessions; lock-delay runs from that command\'s time', () => {
  const h = withNode();
  h.registerNode('n2');
  h.createSession(S1, 'n1', { lockDelayMs: 10_000 });
  h.createSession(S2, 'n2', { lockDelayMs: 0 });
  h.lock('leader', S1);
  h.advance(5_000);
  h.apply({ type: 'nodeHealth', node: 'n1', status: 'critical', output: 'Agent not live or unreachable' });
  assert.equal(h.state.sessionList().sessions.map((session) => session.ID), [S2]);
  assert.is(h.state.kvGet('leader').entry!.session, '');
  h.advance(9_999);
  assert.is(h.lock('leader', S2), false);
  h.advance(1);
  assert.is(h.lock('leader', S2), true);
});

test('a session bound to a check dies when that check goes critical or is deregistered, not when another does', () => {
  const h = withNode();
  h.createSession(S1, 'n1', { nodeChecks: ['disk'] });
  h.createSession(S2, 'n1', { nodeChecks: ['serfHealth'] });
  h.registerNode('n1', [check_('disk', 'warning')]);
  assert.is(h.state.sessionList().sessions.length, 2, 'warning does not invalidate');
  h.registerNode('n1', [check_('disk', 'critical')]);
  assert.equal(h.state.sessionList().sessions.map((session) => session.ID), [S2]);
  h.apply({ type: 'catalogDeregister', node: 'n1', serviceId: '', checkId: 'serfHealth' });
  assert.equal(h.state.sessionList().sessions, []);
});

test('a session bound to a service check dies with the service', () => {
  const h = new Harness();
  h.registerNode('n1', [check_('serfHealth'), check_('api-http', 'passing', 'api')], service('api'));
  h.createSession(S1, 'n1', { nodeChecks: [], serviceChecks: ['api-http'] });
  h.apply({ type: 'catalogDeregister', node: 'n1', serviceId: 'api', checkId: '' });
  assert.equal(h.state.sessionList().sessions, []);
});

test('deregistering the node invalidates all its sessions', () => {
  const h = withNode();
  h.createSession(S1, 'n1', { nodeChecks: [] });
  h.lock('k', S1);
  h.apply({ type: 'catalogDeregister', node: 'n1', serviceId: '', checkId: '' });
  assert.equal(h.state.sessionList().sessions, []);
  assert.is(h.state.kvGet('k').entry!.session, '');
});

test('TTL: expiry is replicated (2 × TTL); sessionExpire before it is a no-op, after it invalidates; renew pushes it', () => {
  const h = withNode();
  h.createSession(S1, 'n1', { ttlMs: 10_000, lockDelayMs: 0 });
  h.lock('k', S1);
  const created = h.nowMs;
  assert.is(h.state.nextSessionExpiryMs(), created + 20_000);
  assert.equal(h.state.sessionsToExpire(created + 19_999), []);
  h.advance(15_000);
  assert.is(h.apply({ type: 'sessionExpire', id: S1 }), false, 'not yet expired');
  const renewed = h.apply({ type: 'sessionRenew', id: S1 }) as { expiresAtMs: number };
  assert.is(renewed.expiresAtMs, created + 15_000 + 20_000);
  h.advance(19_999);
  assert.is(h.apply({ type: 'sessionExpire', id: S1 }), false, 'a renewal committed before the expiry wins');
  h.advance(1);
  assert.equal(h.state.sessionsToExpire(h.nowMs), [S1]);
  assert.is(h.apply({ type: 'sessionExpire', id: S1 }), true);
  assert.is(h.state.kvGet('k').entry!.session, '');
  assert.is(h.state.nextSessionExpiryMs(), null);
  assert.is((h.apply({ type: 'sessionRenew', id: S1 }) as { code: string }).code, 'unknown-session');
});

test('time never runs backwards: a command stamped earlier than one already applied uses the later time', () => {
  const h = withNode();
  h.createSession(S1, 'n1', { lockDelayMs: 10_000 });
  h.createSession(S2, 'n1', { nodeChecks: [], lockDelayMs: 0 });
  h.lock('k', S1);
  h.apply({ type: 'sessionDestroy', id: S1 }); // lock-delay until now + 10 s
  // A new leader whose clock is 1 minute behind stamps its commands earlier; the delay still holds...
  assert.is(h.apply({ type: 'kvLock', key: 'k', value: new Uint8Array(0), flags: 0, session: S2, nowMs: h.nowMs - 60_000 }), false);
  // ...and ends when commands stamped past it arrive.
  h.advance(10_000);
  assert.is(h.lock('k', S2), true);
  assert.is(h.state.clock, h.nowMs);
});

test.run();

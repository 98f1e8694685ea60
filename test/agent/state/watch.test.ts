// Blocking-query precision: a write wakes the waiters of what it changed, and
// nobody else; identical queries share one entry.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Scope, WatchRegistry } from '../../../agent/state/watch-index.ts';
import { check_, Harness, service, uuid } from './harness.ts';

/** Registers a waiter on `scope` and returns the list its wakes land in. */
function waitOn(h: Harness, scope: Scope): number[] {
  const woken: number[] = [];
  h.state.watches.wait(scope, (index) => woken.push(index));
  return woken;
}

test('a write to key a/x wakes waiters of a/x and of its prefixes, not of a/y or b', () => {
  const h = new Harness();
  h.set('a/y', '1');
  const exact = waitOn(h, Scope.kvKey('a/x'));
  const parent = waitOn(h, Scope.kvPrefix('a/'));
  const root = waitOn(h, Scope.kvPrefix(''));
  const partial = waitOn(h, Scope.kvPrefix('a/x'));
  const sibling = waitOn(h, Scope.kvKey('a/y'));
  const otherPrefix = waitOn(h, Scope.kvPrefix('b'));
  const longer = waitOn(h, Scope.kvPrefix('a/x/deeper'));
  h.set('a/x', 'v'); // index 2
  assert.equal([exact, parent, root, partial], [[2], [2], [2], [2]]);
  assert.equal([sibling, otherPrefix, longer], [[], [], []]);
  assert.is(h.state.watches.scopeCount, 3, 'the woken entries are gone; the others wait on');
});

test('a wake is one-shot, and a re-registered waiter gets the next change', () => {
  const h = new Harness();
  const woken: number[] = [];
  const wake = (index: number) => {
    woken.push(index);
    if (woken.length < 2) h.state.watches.wait(Scope.kvKey('k'), wake);
  };
  h.state.watches.wait(Scope.kvKey('k'), wake);
  h.set('k', '1');
  h.set('k', '2');
  h.set('k', '3');
  assert.equal(woken, [1, 2]);
});

test('identical blocking queries share one entry; cancel removes only the one waiter', () => {
  const registry = new WatchRegistry();
  const calls: string[] = [];
  const first = () => calls.push('first');
  const second = () => calls.push('second');
  registry.wait(Scope.kvPrefix('cfg/'), first);
  registry.wait(Scope.kvPrefix('cfg/'), second);
  assert.equal([registry.scopeCount, registry.waiterCount], [1, 2]);
  registry.cancel(Scope.kvPrefix('cfg/'), first);
  assert.equal([registry.scopeCount, registry.waiterCount], [1, 1]);
  registry.notifyKvKey('cfg/a', 5);
  assert.equal(calls, ['second']);
  assert.equal([registry.scopeCount, registry.waiterCount], [0, 0]);
  registry.cancel(Scope.kvPrefix('cfg/'), second); // already woken: ignored
  registry.notifyKvKey('cfg/b', 6);
  assert.equal(calls, ['second']);
});

test('an unchanged rewrite wakes nobody; a delete wakes the key and reports the deletion index', () => {
  const h = new Harness();
  h.set('k', 'v');
  const woken = waitOn(h, Scope.kvKey('k'));
  h.set('k', 'v');
  assert.equal(woken, []);
  h.apply({ type: 'kvDelete', key: 'k' });
  assert.equal(woken, [3]);
  assert.is(h.state.kvGet('k').index, 3);
});

test('a failed cas and a rejected command wake nobody', () => {
  const h = new Harness();
  h.set('k', 'v');
  const woken = waitOn(h, Scope.kvKey('k'));
  h.apply({ type: 'kvCas', key: 'k', value: new Uint8Array(1), flags: 0, casIndex: 99 });
  h.lock('k', uuid(5));
  assert.equal(woken, []);
});

test('session invalidation wakes the watchers of the keys it released', () => {
  const h = new Harness();
  h.registerNode('n1');
  h.createSession(uuid(1), 'n1');
  h.lock('leader', uuid(1));
  const key = waitOn(h, Scope.kvKey('leader'));
  const sessions = waitOn(h, Scope.sessions);
  const unrelated = waitOn(h, Scope.kvKey('other'));
  h.apply({ type: 'nodeHealth', node: 'n1', status: 'critical', output: '' });
  assert.equal([key, sessions, unrelated], [[h.index], [h.index], []]);
});

test('catalog: a change to one service wakes its watchers only; a node check wakes every service on the node', () => {
  const h = new Harness();
  h.registerNode('n1', [check_('serfHealth')], service('web'));
  h.registerNode('n2', [check_('serfHealth')], service('db'));
  const web = waitOn(h, Scope.service('web'));
  const db = waitOn(h, Scope.service('db'));
  const n2 = waitOn(h, Scope.node('n2'));
  const list = waitOn(h, Scope.services);
  h.registerNode('n1', [check_('web-http', 'passing', 'web')]);
  assert.equal([web.length, db.length, n2.length, list.length], [1, 0, 0, 0], 'a service check is not a change of the service list');
  const webAgain = waitOn(h, Scope.service('web'));
  h.apply({ type: 'nodeHealth', node: 'n2', status: 'critical', output: '' });
  assert.equal([webAgain.length, db.length, n2.length], [0, 1, 1]);
  assert.ok(h.state.healthService('db').index > h.state.healthService('web').index);
});

test('scope indexes stay monotonic when their subject disappears', () => {
  const h = new Harness();
  h.registerNode('n1', [], service('tmp'));
  const created = h.state.healthService('tmp').index;
  h.apply({ type: 'catalogDeregister', node: 'n1', serviceId: 'tmp', checkId: '' });
  const removed = h.state.healthService('tmp').index;
  assert.ok(removed > created);
  h.registerNode('n2');
  assert.ok(h.state.healthService('tmp').index >= removed);
  h.createSession(uuid(1), 'n2');
  const live = h.state.sessionInfo(uuid(1)).index;
  h.apply({ type: 'sessionDestroy', id: uuid(1) });
  assert.ok(h.state.sessionInfo(uuid(1)).index > live);
});

test('restore wakes every waiter', () => {
  const h = new Harness();
  h.set('k', 'v');
  const snapshot = h.state.snapshot();
  const woken = waitOn(h, Scope.kvKey('unrelated'));
  h.state.restore(snapshot, 10);
  assert.equal(woken, [10]);
});

test('10,000 watchers on distinct keys: one write wakes exactly its own', () => {
  const h = new Harness();
  let wakes = 0;
  let wokenKey = '';
  for (let i = 0; i < 10_000; i++) {
    const key = `svc/${i}/config`;
    h.state.watches.wait(Scope.kvKey(key), () => {
      wakes++;
      wokenKey = key;
    });
  }
  h.set('svc/4242/config', 'x');
  assert.equal([wakes, wokenKey, h.state.watches.scopeCount], [1, 'svc/4242/config', 9_999]);
});

test.run();

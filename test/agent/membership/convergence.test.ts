import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemberState } from '../../../protocol/membership.ts';
import { TestNetwork } from './harness.ts';

function convergesThroughOneSeed(count: number, seed: number, limitMs: number): void {
  const network = new TestNetwork({ seed });
  const ids = network.startCluster(count);
  const tookMs = network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), limitMs);
  assert.ok(tookMs !== null, `${count} members did not all see each other alive within ${limitMs} ms`);
  // A loss-free network gives nobody a reason to suspect anybody.
  assert.equal(network.history.filter((event) => event.type !== 'joined'), []);
  // Each member announced each other member exactly once: no flapping.
  for (const observer of ids) {
    const joined = network.history.filter((event) => event.observer === observer && event.type === 'joined').map((event) => event.subject);
    assert.is(new Set(joined).size, joined.length, `${observer} saw a member join twice`);
    assert.is(joined.length, count);
  }
}

test('5 members joining through one seed all see each other alive', () => {
  convergesThroughOneSeed(5, 1, 10_000);
  convergesThroughOneSeed(5, 2, 10_000);
});

test('50 members joining through one seed all see each other alive', () => {
  convergesThroughOneSeed(50, 3, 30_000);
});

test('joins converge at 10% message loss too', () => {
  const network = new TestNetwork({ seed: 4, lossRate: 0.1 });
  const ids = network.startCluster(30);
  assert.ok(network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 60_000) !== null);
});

test('a member restarted under the same id refutes its old death and is alive again everywhere', () => {
  const network = new TestNetwork({ seed: 5 });
  const ids = network.startCluster(8);
  network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 20_000);
  network.crash('n4');
  const others = ids.filter((id) => id !== 'n4');
  assert.ok(network.timeUntil(() => network.allSee(others, ['n4'], MemberState.Dead), 60_000) !== null);
  const deadAt = network.core('n1').member('n4')!.incarnation;
  const restarted = network.restart('n4', 'n1');
  assert.is(restarted.incarnation(), 1);
  assert.ok(network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 30_000) !== null, 'everyone sees n4 alive again');
  assert.ok(restarted.incarnation() > deadAt, `incarnation ${restarted.incarnation()} outbids the death at ${deadAt}`);
  assert.ok(network.eventsAbout('n4', 'joined').filter((event) => event.observer !== 'n4').length >= 2 * others.length, 'a join at start, and again after the restart');
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemberState } from '../../../protocol/membership.ts';
import { TestNetwork } from './harness.ts';

/** Messages (direct sends and topic publishes) per member per second once the cluster is quiet. */
function steadyStateRate(count: number, seed: number): number {
  const network = new TestNetwork({ seed });
  const ids = network.startCluster(count);
  assert.ok(network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 60_000) !== null, `${count} members converged`);
  network.runFor(60_000);
  const before = network.totalMessagesSent(ids);
  // Long enough to include several push-pull rounds at the stretched interval of 100 members (90 s).
  const windowMs = 540_000;
  network.runFor(windowMs);
  return (network.totalMessagesSent(ids) - before) / count / (windowMs / 1_000);
}

test('steady-state messages per member per second stay constant as the cluster grows (10 vs 100 members)', () => {
  const small = steadyStateRate(10, 61);
  const large = steadyStateRate(100, 62);
  console.log(`    steady state: ${small.toFixed(3)} msg/member/s at 10 members, ${large.toFixed(3)} at 100`);
  // One ping and one ack per period, plus a push-pull exchange every 30 s or more.
  assert.ok(small > 1.9 && small < 2.5, `10 members: ${small}`);
  assert.ok(large > 1.9 && large < 2.5, `100 members: ${large}`);
  assert.ok(large / small < 1.25 && small / large < 1.25, `ratio ${large / small}`);
});

test.run();

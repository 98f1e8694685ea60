import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { suspicionTimeoutMs } from '../../../agent/membership/suspicion.ts';
import { MemberState } from '../../../protocol/membership.ts';
import { TestNetwork } from './harness.ts';

const MEMBERS = 20;

for (const seed of [11, 12, 13]) {
  test(`a crashed member is declared dead by every other member within the bound, and no healthy member ever is, at 10% loss (seed ${seed})`, () => {
    const network = new TestNetwork({ seed, lossRate: 0.1 });
    const ids = network.startCluster(MEMBERS);
    assert.ok(network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 60_000) !== null, 'converged');
    network.runFor(60_000);

    const victim = 'n7';
    const others = ids.filter((id) => id !== victim);
    network.crash(victim);
    const config = network.config;
    // Someone probes the victim within a period or two; its period ends; the suspicion runs at most
    // its maximum; the death then spreads in a few more periods.
    const minMs = suspicionTimeoutMs(config.suspicionMultiplier, MEMBERS, config.probeIntervalMs);
    const boundMs = 2 * config.probeIntervalMs + config.suspicionMaxTimeoutMultiplier * minMs + 5 * config.probeIntervalMs;
    const tookMs = network.timeUntil(() => network.allSee(others, [victim], MemberState.Dead), boundMs);
    assert.ok(tookMs !== null, `not every member saw ${victim} dead within ${boundMs} ms`);
    // With k confirmations arriving fast, it is much quicker than the bound in practice.
    assert.ok(tookMs! < 2 * config.probeIntervalMs + minMs + 5 * config.probeIntervalMs, `took ${tookMs} ms`);

    network.runFor(300_000);
    const falseDeaths = network.history.filter((event) => event.type === 'failed' && event.subject !== victim);
    assert.equal(falseDeaths, [], 'zero false deaths');
    const refutations = others.reduce((sum, id) => sum + network.core(id).stats.refutations, 0);
    assert.ok(refutations > 0, 'the loss did cause suspicions, and they were refuted');
    for (const observer of others) {
      for (const subject of others) {
        const state = network.stateSeenBy(observer, subject);
        assert.ok(state === MemberState.Alive || state === MemberState.Suspect, `${observer} sees ${subject} as ${state}`);
      }
    }
  });
}

test('a suspected but alive member refutes by raising its incarnation and is never declared dead', () => {
  const network = new TestNetwork({ seed: 21 });
  const ids = network.startCluster(10);
  network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 20_000);
  network.runFor(5_000);
  // Cut n3 off for less than the suspicion timeout: long enough to be suspected, not to die.
  network.partition(['n3']);
  assert.ok(network.timeUntil(() => network.eventsAbout('n3', 'suspect').length > 0, 10_000) !== null, 'n3 is suspected');
  network.runFor(500);
  network.heal();
  assert.ok(network.timeUntil(() => network.allSee(ids, ['n3'], MemberState.Alive), 10_000) !== null, 'everyone sees n3 alive again');
  assert.ok(network.core('n3').incarnation() > 1, 'by refuting with a higher incarnation');
  assert.ok(network.core('n3').stats.refutations >= 1);
  assert.equal(network.eventsAbout('n3', 'failed'), []);
  assert.ok(network.eventsAbout('n3', 'alive').length > 0, 'observers report the suspect alive again');
});

test('with connection failures reported, a crashed member is detected without waiting for probe timeouts', () => {
  const slow = new TestNetwork({ seed: 31 });
  const fast = new TestNetwork({ seed: 31, sendFailureDelayMs: 5 });
  const times: number[] = [];
  for (const network of [slow, fast]) {
    const ids = network.startCluster(10);
    network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 20_000);
    network.crash('n5');
    const others = ids.filter((id) => id !== 'n5');
    const tookMs = network.timeUntil(() => network.allSee(others, ['n5'], MemberState.Dead), 60_000);
    assert.ok(tookMs !== null);
    times.push(tookMs!);
    assert.equal(network.history.filter((event) => event.type === 'failed' && event.subject !== 'n5'), []);
  }
  assert.ok(times[1]! <= times[0]! + 1_000, `with failures reported ${times[1]} ms, without ${times[0]} ms`);
});

test.run();

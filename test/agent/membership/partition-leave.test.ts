import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemberState } from '../../../protocol/membership.ts';
import { TestNetwork } from './harness.ts';

for (const seed of [41, 42]) {
  test(`a partitioned minority is declared dead, nobody dies inside either side, and the partition heals via push-pull (seed ${seed})`, () => {
    const network = new TestNetwork({ seed });
    const ids = network.startCluster(10);
    assert.ok(network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 20_000) !== null);
    const minority = ['n8', 'n9', 'n10'];
    const majority = ids.filter((id) => !minority.includes(id));

    network.partition(minority);
    assert.ok(network.timeUntil(() => network.allSee(majority, minority, MemberState.Dead), 60_000) !== null, 'the majority declares the minority dead');
    assert.ok(network.timeUntil(() => network.allSee(minority, majority, MemberState.Dead), 60_000) !== null, 'and the minority the majority');
    network.runFor(30_000);
    const sameSide = (a: string, b: string) => minority.includes(a) === minority.includes(b);
    assert.equal(network.history.filter((event) => event.type === 'failed' && sameSide(event.observer, event.subject)), [], 'no false deaths within a side');

    const reconnectsBefore = ids.reduce((sum, id) => sum + network.core(id).stats.reconnectsSent, 0);
    network.heal();
    const healedMs = network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 120_000);
    assert.ok(healedMs !== null, 'after healing, everyone sees everyone alive again');
    const reconnects = ids.reduce((sum, id) => sum + network.core(id).stats.reconnectsSent, 0) - reconnectsBefore;
    assert.ok(reconnects > 0, 'push-pull with failed members (reconnect) is what found the other side');
    // Everyone who was declared dead had to outbid the death.
    for (const id of ids) assert.ok(network.core(id).incarnation() > 1, `${id} refuted`);
  });
}

test('a member that leaves shows as left everywhere, never as failed, and stops probing', () => {
  const network = new TestNetwork({ seed: 51, lossRate: 0.05 });
  const ids = network.startCluster(10);
  network.timeUntil(() => network.allSee(ids, ids, MemberState.Alive), 30_000);
  network.leave('n6');
  const others = ids.filter((id) => id !== 'n6');
  assert.ok(network.timeUntil(() => network.allSee(others, ['n6'], MemberState.Left), 20_000) !== null, 'everyone sees n6 left');
  assert.is(network.stateSeenBy('n6', 'n6'), MemberState.Left);
  const sentAfterLeave = network.messagesSent.get('n6') ?? 0;
  network.runFor(120_000);
  assert.equal(network.eventsAbout('n6', 'failed'), []);
  assert.ok(network.allSee(others, ['n6'], MemberState.Left), 'still left two minutes later');
  // A leaving member only answers; it starts nothing, and nobody probes a left member.
  assert.ok((network.messagesSent.get('n6') ?? 0) - sentAfterLeave < 10, 'a left member goes quiet');
});

test.run();

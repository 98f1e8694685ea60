import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Awareness } from '../../../agent/membership/awareness.ts';
import { LAN_PROFILE, LOCAL_PROFILE, membershipConfig, MembershipConfigError, validateMembershipConfig, WAN_PROFILE } from '../../../agent/membership/config.ts';
import { pushPullScaleMs, reconnectProbability } from '../../../agent/membership/push-pull.ts';

test('awareness multiplies timeouts by score + 1 and stays within [0, max - 1]', () => {
  const awareness = new Awareness(8);
  assert.is(awareness.scaleTimeout(1_000), 1_000);
  awareness.applyDelta(3);
  assert.is(awareness.healthScore(), 3);
  assert.is(awareness.scaleTimeout(1_000), 4_000);
  awareness.applyDelta(100);
  assert.is(awareness.healthScore(), 7);
  assert.is(awareness.scaleTimeout(500), 4_000);
  awareness.applyDelta(-100);
  assert.is(awareness.healthScore(), 0);
  const disabled = new Awareness(1);
  disabled.applyDelta(5);
  assert.is(disabled.scaleTimeout(1_000), 1_000);
});

test('the LAN profile carries memberlist defaults', () => {
  assert.is(LAN_PROFILE.probeIntervalMs, 1_000);
  assert.is(LAN_PROFILE.probeTimeoutMs, 500);
  assert.is(LAN_PROFILE.indirectChecks, 3);
  assert.is(LAN_PROFILE.suspicionMultiplier, 4);
  assert.is(LAN_PROFILE.suspicionMaxTimeoutMultiplier, 6);
  assert.is(LAN_PROFILE.pushPullIntervalMs, 30_000);
  assert.is(LAN_PROFILE.retransmitMultiplier, 4);
  assert.is(LAN_PROFILE.awarenessMaxMultiplier, 8);
  for (const profile of [LAN_PROFILE, WAN_PROFILE, LOCAL_PROFILE]) validateMembershipConfig(profile);
  assert.is(membershipConfig('wan').probeIntervalMs, 5_000);
  assert.is(membershipConfig('local', { indirectChecks: 2 }).indirectChecks, 2);
});

test('validation names the field that cannot work', () => {
  const refuses = (overrides: Parameters<typeof membershipConfig>[1], field: string) => {
    try {
      membershipConfig('lan', overrides);
    } catch (error) {
      assert.instance(error, MembershipConfigError);
      assert.is((error as MembershipConfigError).field, field);
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify(overrides)}`);
  };
  refuses({ probeTimeoutMs: 1_000 }, 'probeTimeoutMs');
  refuses({ probeIntervalMs: 0 }, 'probeIntervalMs');
  refuses({ indirectChecks: -1 }, 'indirectChecks');
  refuses({ suspicionMultiplier: 0.5 }, 'suspicionMultiplier');
  refuses({ awarenessMaxMultiplier: 0 }, 'awarenessMaxMultiplier');
  refuses({ maxMembers: 1_000_000 }, 'maxMembers');
  refuses({ probeIntervalMs: 200_000, probeTimeoutMs: 1_000 }, 'probeIntervalMs');
});

test('push-pull stretches above 32 members by one interval per doubling', () => {
  assert.is(pushPullScaleMs(30_000, 1), 30_000);
  assert.is(pushPullScaleMs(30_000, 32), 30_000);
  assert.is(pushPullScaleMs(30_000, 33), 60_000);
  assert.is(pushPullScaleMs(30_000, 64), 60_000);
  assert.is(pushPullScaleMs(30_000, 65), 90_000);
  assert.is(pushPullScaleMs(30_000, 1_000), 180_000);
  assert.is(pushPullScaleMs(30_000, 10_000), 300_000);
});

test('reconnect probability is failed / alive, capped at 1', () => {
  assert.is(reconnectProbability(0, 10), 0);
  assert.is(reconnectProbability(2, 10), 0.2);
  assert.is(reconnectProbability(7, 3), 1);
  assert.is(reconnectProbability(1, 0), 1);
});

test.run();

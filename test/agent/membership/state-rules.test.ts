// One core, driven by hand: memberlist's incarnation rules, refutation, the
// probe cycle and the indirect-probe relay, each checked message by message.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { membershipConfig } from '../../../agent/membership/config.ts';
import type { MembershipConfig } from '../../../agent/membership/config.ts';
import { MembershipCore } from '../../../agent/membership/membership-core.ts';
import { suspicionTimeoutAfterMs } from '../../../agent/membership/suspicion.ts';
import type { MembershipEffects, OutboundMessage } from '../../../agent/membership/membership-core.ts';
import { MembershipMessageType as T, MemberState } from '../../../protocol/membership.ts';
import type { Alive, Dead, MemberRecord, MembershipMessage, MembershipUpdate, Suspect, Tags } from '../../../protocol/membership.ts';
import { SeededPrng } from '../../../raft/prng.ts';

/** `published`: every broadcast so far, across calls. */
type Driver = { core: MembershipCore; nowMs: number; last: MembershipEffects; published: MembershipUpdate[] };

function start(overrides: Partial<MembershipConfig> = {}, node = 'n1'): Driver {
  const core = new MembershipCore({ node, address: `${node}-addr`, config: membershipConfig('lan', overrides), prng: new SeededPrng(7), nowMs: 0 });
  const last = core.takeEffects();
  return { core, nowMs: 0, last, published: [...last.broadcasts] };
}

function alive(node: string, incarnation: number, address = `${node}-addr`, tags: Tags = {}): Alive {
  return { type: T.Alive, node, incarnation, address, tags };
}

function suspect(node: string, incarnation: number, from: string): Suspect {
  return { type: T.Suspect, node, incarnation, from };
}

function dead(node: string, incarnation: number, from: string): Dead {
  return { type: T.Dead, node, incarnation, from };
}

function receive(driver: Driver, from: string, message: MembershipMessage, atMs = driver.nowMs): MembershipEffects {
  driver.nowMs = atMs;
  driver.last = driver.core.handleMessage(from, message, atMs);
  driver.published.push(...driver.last.broadcasts);
  return driver.last;
}

function tickTo(driver: Driver, atMs: number): MembershipEffects {
  driver.nowMs = atMs;
  driver.last = driver.core.tick(atMs);
  driver.published.push(...driver.last.broadcasts);
  return driver.last;
}

/** Ticks at each requested wake-up until a send of `type` goes out; returns it. */
function tickUntilSent(driver: Driver, type: MembershipMessage['type'], limitMs = 120_000): OutboundMessage[] {
  while (driver.nowMs < limitMs) {
    const wake = driver.last.wakeAtMs;
    assert.ok(wake !== null, 'a wake-up is pending');
    const effects = tickTo(driver, wake);
    const sends = effects.sends.filter((send) => send.message.type === type);
    if (sends.length > 0) return sends;
  }
  assert.unreachable(`no ${type} sent by ${limitMs} ms`);
  return [];
}

function stateOf(driver: Driver, node: string): MemberState | undefined {
  return driver.core.member(node)?.state;
}

/** A core that knows n2..n{count} alive at incarnation 1. */
function withMembers(count: number, overrides: Partial<MembershipConfig> = {}): Driver {
  const driver = start(overrides);
  for (let i = 2; i <= count; i++) receive(driver, `n${i}`, alive(`n${i}`, 1));
  return driver;
}

// ---------------------------------------------------------------- incarnation rules

test('a new member joins on its first alive; an equal or lower incarnation is old news', () => {
  const driver = start();
  assert.equal(driver.last.events.map((event) => [event.type, event.member.node]), [['joined', 'n1']], 'we announce ourselves');
  assert.equal(driver.last.broadcasts, [alive('n1', 1)]);
  let effects = receive(driver, 'n2', alive('n2', 5));
  assert.equal(effects.events.map((event) => event.type), ['joined']);
  assert.is(stateOf(driver, 'n2'), MemberState.Alive);
  assert.equal(effects.broadcasts, [], 'learned updates are piggybacked, never re-published');
  effects = receive(driver, 'n2', alive('n2', 5, 'n2-addr', { role: 'voter' }));
  assert.equal(effects.events, [], 'same incarnation: ignored, even with new tags');
  effects = receive(driver, 'n2', alive('n2', 6, 'n2-addr', { role: 'voter' }));
  assert.equal(effects.events.map((event) => event.type), ['updated']);
  assert.equal(driver.core.member('n2')!.tags, { role: 'voter' });
});

test('a suspicion at the current incarnation or above makes an alive member suspect; a lower one is ignored', () => {
  const driver = withMembers(4);
  receive(driver, 'n2', alive('n2', 3));
  receive(driver, 'n3', suspect('n2', 2, 'n3'));
  assert.is(stateOf(driver, 'n2'), MemberState.Alive);
  const effects = receive(driver, 'n3', suspect('n2', 3, 'n3'));
  assert.is(stateOf(driver, 'n2'), MemberState.Suspect);
  assert.equal(effects.events.map((event) => event.type), ['suspect']);
});

test('an alive with a higher incarnation overrides suspect; an equal one does not', () => {
  const driver = withMembers(4);
  receive(driver, 'n3', suspect('n2', 1, 'n3'));
  receive(driver, 'n2', alive('n2', 1));
  assert.is(stateOf(driver, 'n2'), MemberState.Suspect);
  const effects = receive(driver, 'n2', alive('n2', 2));
  assert.is(stateOf(driver, 'n2'), MemberState.Alive);
  assert.equal(effects.events.map((event) => event.type), ['alive']);
});

test('dead overrides suspect at the same incarnation; only a higher-incarnation alive brings a dead member back', () => {
  const driver = withMembers(4);
  receive(driver, 'n3', suspect('n2', 1, 'n3'));
  receive(driver, 'n3', dead('n2', 0, 'n3'));
  assert.is(stateOf(driver, 'n2'), MemberState.Suspect, 'an older death is ignored');
  let effects = receive(driver, 'n3', dead('n2', 1, 'n3'));
  assert.is(stateOf(driver, 'n2'), MemberState.Dead);
  assert.equal(effects.events.map((event) => event.type), ['failed']);
  receive(driver, 'n4', suspect('n2', 1, 'n4'));
  assert.is(stateOf(driver, 'n2'), MemberState.Dead, 'suspicion cannot revive or re-kill a dead member');
  receive(driver, 'n2', alive('n2', 1));
  assert.is(stateOf(driver, 'n2'), MemberState.Dead);
  effects = receive(driver, 'n2', alive('n2', 2));
  assert.is(stateOf(driver, 'n2'), MemberState.Alive);
  assert.equal(effects.events.map((event) => event.type), ['joined']);
});

test('a Dead that a node sends about itself is a leave, not a failure', () => {
  const driver = withMembers(3);
  const effects = receive(driver, 'n2', dead('n2', 1, 'n2'));
  assert.is(stateOf(driver, 'n2'), MemberState.Left);
  assert.equal(effects.events.map((event) => event.type), ['left']);
});

test('a suspicion of ourselves is refuted with an incarnation above the accusation, published at once', () => {
  const driver = withMembers(3);
  const effects = receive(driver, 'n2', suspect('n1', 9, 'n2'));
  assert.is(driver.core.incarnation(), 10);
  assert.is(stateOf(driver, 'n1'), MemberState.Alive);
  assert.equal(effects.broadcasts, [alive('n1', 10)]);
  assert.is(driver.core.healthScore(), 1, 'being accused counts against our own health');
  receive(driver, 'n2', suspect('n1', 3, 'n2'));
  assert.is(driver.core.incarnation(), 10, 'an accusation older than our incarnation needs no refutation');
});

test('a death of ourselves is refuted; after leave() it is accepted and we stay left', () => {
  const driver = withMembers(3);
  let effects = receive(driver, 'n2', dead('n1', 1, 'n2'));
  assert.is(driver.core.incarnation(), 2);
  assert.equal(effects.broadcasts, [alive('n1', 2)]);
  effects = driver.core.leave(driver.nowMs);
  assert.equal(effects.broadcasts, [dead('n1', 2, 'n1')]);
  assert.equal(effects.events.map((event) => [event.type, event.member.node]), [['left', 'n1']]);
  effects = receive(driver, 'n2', suspect('n1', 2, 'n2'));
  assert.equal(effects.broadcasts, [], 'a leaving member does not refute');
  effects = receive(driver, 'n2', alive('n1', 7));
  assert.equal(effects.broadcasts, []);
  assert.is(stateOf(driver, 'n1'), MemberState.Left);
});

test('an alive about ourselves that is not what we sent is outbid', () => {
  const driver = withMembers(2);
  let effects = receive(driver, 'n2', alive('n1', 1, 'n1-addr', { role: 'old' }));
  assert.equal(effects.broadcasts, [alive('n1', 2)], 'same incarnation, other tags: refute');
  effects = receive(driver, 'n2', alive('n1', 2));
  assert.equal(effects.broadcasts, [], 'exactly us: nothing to do');
  effects = receive(driver, 'n2', alive('n1', 40));
  assert.equal(effects.broadcasts, [alive('n1', 41)], 'a previous run used higher incarnations');
});

test('push-pull merges like memberlist: remote dead only makes us suspect, left is left, and the reply carries the merged state', () => {
  const driver = withMembers(5);
  const members: MemberRecord[] = [
    { node: 'n2', address: 'n2-addr', incarnation: 1, state: MemberState.Dead, tags: {} },
    { node: 'n3', address: 'n3-addr', incarnation: 1, state: MemberState.Left, tags: {} },
    { node: 'n6', address: 'n6-addr', incarnation: 4, state: MemberState.Alive, tags: {} },
    { node: 'n1', address: 'n1-addr', incarnation: 3, state: MemberState.Dead, tags: {} },
  ];
  const effects = receive(driver, 'n4', { type: T.PushPull, join: true, reply: false, members });
  assert.is(stateOf(driver, 'n2'), MemberState.Suspect);
  assert.is(stateOf(driver, 'n3'), MemberState.Left);
  assert.is(stateOf(driver, 'n6'), MemberState.Alive);
  assert.is(driver.core.incarnation(), 4, 'our own death was refuted during the merge');
  assert.is(effects.sends.length, 1);
  const reply = effects.sends[0]!;
  assert.is(reply.to, 'n4');
  assert.ok(reply.message.type === T.PushPull && reply.message.reply && reply.message.join);
  const self = (reply.message as { members: MemberRecord[] }).members.find((record) => record.node === 'n1')!;
  assert.is(self.incarnation, 4, 'the reply already carries the refutation');
  const answer = receive(driver, 'n4', { type: T.PushPull, join: false, reply: true, members: [] });
  assert.equal(answer.sends, [], 'a reply is not answered');
});

test('an alive at a new address is ignored until the member has left, or been dead for deadNodeReclaimMs', () => {
  const driver = withMembers(3, { deadNodeReclaimMs: 30_000, probeIntervalMs: 60_000, pushPullIntervalMs: 0, reconnectIntervalMs: 0 });
  receive(driver, 'x', alive('n2', 5, 'elsewhere'));
  assert.is(driver.core.member('n2')!.address, 'n2-addr');
  assert.is(driver.core.stats.addressConflicts, 1);
  receive(driver, 'n3', dead('n2', 1, 'n3'), 1_000);
  receive(driver, 'x', alive('n2', 5, 'elsewhere'), 20_000);
  assert.is(stateOf(driver, 'n2'), MemberState.Dead);
  receive(driver, 'x', alive('n2', 1, 'elsewhere'), 31_000);
  assert.is(stateOf(driver, 'n2'), MemberState.Alive, 'reclaimed, even at the same incarnation');
  assert.is(driver.core.member('n2')!.address, 'elsewhere');
  receive(driver, 'n3', dead('n3', 1, 'n3'));
  receive(driver, 'x', alive('n3', 1, 'moved'));
  assert.is(driver.core.member('n3')!.address, 'moved', 'a left member may come back anywhere');
});

// ---------------------------------------------------------------- suspicion timers

/** Runs timers up to `untilMs`, answering every probe at once, so that only the suspicion under test can kill anyone. */
function runAnswering(driver: Driver, untilMs: number): void {
  while (driver.last.wakeAtMs !== null && driver.last.wakeAtMs <= untilMs) {
    const effects = tickTo(driver, driver.last.wakeAtMs);
    for (const send of effects.sends) {
      if (send.message.type === T.Ping) receive(driver, send.to, { type: T.Ack, seq: send.message.seq, nack: false, updates: [] });
    }
  }
  if (driver.nowMs < untilMs) tickTo(driver, untilMs);
}

test('a lone suspicion runs for the maximum; k independent confirmations bring it down to the minimum', () => {
  // 10 members: min = 4 * max(1, log10 10) * 1 s = 4 s, max = 6 * min = 24 s, k = 4 - 2 = 2.
  const quiet = { pushPullIntervalMs: 0, reconnectIntervalMs: 0 };
  assert.is(suspicionTimeoutAfterMs(1, 2, 4_000, 24_000), 11_381, 'for reference: one of two confirmations gives 24 - 20 * log 2 / log 3 s');
  const lone = withMembers(10, quiet);
  runAnswering(lone, 1_000);
  receive(lone, 'n3', suspect('n2', 1, 'n3'));
  runAnswering(lone, 24_999);
  assert.is(stateOf(lone, 'n2'), MemberState.Suspect);
  runAnswering(lone, 25_000);
  assert.is(stateOf(lone, 'n2'), MemberState.Dead);
  assert.ok(lone.published.some((update) => update.type === T.Dead && update.node === 'n2' && update.from === 'n1'), 'our own timer decided it: published');

  const confirmed = withMembers(10, quiet);
  runAnswering(confirmed, 1_000);
  receive(confirmed, 'n3', suspect('n2', 1, 'n3'));
  receive(confirmed, 'n3', suspect('n2', 1, 'n3'));
  receive(confirmed, 'n4', suspect('n2', 1, 'n4'));
  receive(confirmed, 'n5', suspect('n2', 1, 'n5'));
  runAnswering(confirmed, 4_999);
  assert.is(stateOf(confirmed, 'n2'), MemberState.Suspect);
  runAnswering(confirmed, 5_000);
  assert.is(stateOf(confirmed, 'n2'), MemberState.Dead);
  assert.equal(confirmed.published.filter((update) => update.type === T.Dead).map((update) => update.node), ['n2'], 'nobody else died');
  assert.equal(lone.published.filter((update) => update.type === T.Dead).map((update) => update.node), ['n2'], 'nobody else died');
});

test('a refutation cancels the suspicion timer', () => {
  const driver = withMembers(10, { pushPullIntervalMs: 0, reconnectIntervalMs: 0 });
  runAnswering(driver, 1_000);
  receive(driver, 'n3', suspect('n2', 1, 'n3'));
  runAnswering(driver, 2_000);
  receive(driver, 'n2', alive('n2', 2));
  runAnswering(driver, 60_000);
  assert.is(stateOf(driver, 'n2'), MemberState.Alive);
  assert.equal(driver.published.filter((update) => update.type === T.Dead), []);
});

// ---------------------------------------------------------------- probing

test('pings are answered with an ack of the same seq; a ping for another node is dropped', () => {
  const driver = withMembers(2);
  let effects = receive(driver, 'n2', { type: T.Ping, seq: 42, target: 'n1', updates: [] });
  assert.is(effects.sends.length, 1);
  assert.is(effects.sends[0]!.to, 'n2');
  assert.ok(effects.sends[0]!.message.type === T.Ack && effects.sends[0]!.message.seq === 42 && !effects.sends[0]!.message.nack);
  effects = receive(driver, 'n2', { type: T.Ping, seq: 43, target: 'someone-else', updates: [] });
  assert.equal(effects.sends, []);
  assert.is(driver.core.stats.misdirectedPings, 1);
});

test('a prober we hold as failed is told so in our ack, and can refute', () => {
  const driver = withMembers(3);
  receive(driver, 'n3', dead('n2', 1, 'n3'));
  const effects = receive(driver, 'n2', { type: T.Ping, seq: 1, target: 'n1', updates: [] });
  const ack = effects.sends[0]!.message;
  assert.ok(ack.type === T.Ack);
  assert.equal((ack as { updates: unknown[] }).updates[0], dead('n2', 1, 'n1'));
});

test('a probe without an ack: PingReq to k alive members at the timeout, suspicion at the end of the period, missing nacks raise awareness', () => {
  const driver = withMembers(6, { pushPullIntervalMs: 0, reconnectIntervalMs: 0, suspicionChecks: 0 });
  receive(driver, 'n6', dead('n6', 1, 'n6'));
  const [ping] = tickUntilSent(driver, T.Ping);
  const probedAtMs = driver.nowMs;
  const target = ping!.to;
  assert.ok(ping!.message.type === T.Ping && ping!.message.target === target);
  assert.is.not(target, 'n6', 'a left member is not probed');
  const requests = tickUntilSent(driver, T.PingReq);
  assert.is(driver.nowMs, probedAtMs + 500, 'indirect probes at the probe timeout');
  assert.is(requests.length, 3);
  for (const request of requests) {
    assert.ok(request.to !== target && request.to !== 'n1' && request.to !== 'n6', `asked ${request.to}`);
    const message = request.message;
    assert.ok(message.type === T.PingReq && message.target === target && message.nack && message.requester === 'n1' && message.timeoutMs === 500);
  }
  // One intermediary nacks: the other two are missing.
  receive(driver, requests[0]!.to, { type: T.Ack, seq: (ping!.message as { seq: number }).seq, nack: true, updates: [] }, probedAtMs + 900);
  const effects = tickTo(driver, probedAtMs + 1_000);
  assert.is(stateOf(driver, target), MemberState.Suspect);
  assert.equal(effects.broadcasts, [suspect(target, 1, 'n1')]);
  assert.is(driver.core.healthScore(), 2);
  // The next period is stretched by the score: 3 s instead of 1 s.
  assert.ok(effects.sends.some((send) => send.message.type === T.Ping));
  assert.is(driver.last.wakeAtMs, probedAtMs + 1_000 + 1_500, 'timeout 500 * (2 + 1)');
});

test('an ack relayed through an intermediary completes the probe and lowers awareness', () => {
  const driver = withMembers(5, { pushPullIntervalMs: 0, reconnectIntervalMs: 0 });
  receive(driver, 'n2', suspect('n1', 1, 'n2'));
  assert.is(driver.core.healthScore(), 1);
  const [ping] = tickUntilSent(driver, T.Ping);
  const seq = (ping!.message as { seq: number }).seq;
  tickUntilSent(driver, T.PingReq);
  receive(driver, 'n3', { type: T.Ack, seq, nack: false, updates: [] }, driver.nowMs + 100);
  const effects = tickTo(driver, driver.nowMs + 10_000);
  assert.is(stateOf(driver, ping!.to), MemberState.Alive);
  assert.equal(effects.events.filter((event) => event.type === 'suspect'), []);
  assert.is(driver.core.healthScore(), 0);
});

test('an intermediary pings the target for the requester and relays its ack, or nacks at 80% of the wait', () => {
  const driver = withMembers(3, { pushPullIntervalMs: 0, reconnectIntervalMs: 0, probeIntervalMs: 60_000, probeTimeoutMs: 500 });
  tickTo(driver, 100);
  let effects = receive(driver, 'n2', { type: T.PingReq, seq: 77, target: 'n3', targetAddress: 'n3-addr', requester: 'n2', nack: true, timeoutMs: 500, updates: [] }, 1_000);
  const relayPing = effects.sends.find((send) => send.to === 'n3' && send.message.type === T.Ping)!;
  assert.ok(relayPing !== undefined);
  effects = receive(driver, 'n3', { type: T.Ack, seq: (relayPing.message as { seq: number }).seq, nack: false, updates: [] }, 1_050);
  const relayed = effects.sends.find((send) => send.to === 'n2')!;
  assert.ok(relayed.message.type === T.Ack && relayed.message.seq === 77 && !relayed.message.nack);
  effects = tickTo(driver, 1_400);
  assert.equal(effects.sends, [], 'no nack after an ack');

  receive(driver, 'n2', { type: T.PingReq, seq: 78, target: 'n3', targetAddress: 'n3-addr', requester: 'n2', nack: true, timeoutMs: 500, updates: [] }, 2_000);
  assert.is(driver.last.wakeAtMs, 2_400);
  effects = tickTo(driver, 2_400);
  const nack = effects.sends.find((send) => send.to === 'n2')!;
  assert.ok(nack.message.type === T.Ack && nack.message.seq === 78 && nack.message.nack);
});

test('a failed send of the direct ping starts the indirect probes at once', () => {
  const driver = withMembers(5, { pushPullIntervalMs: 0, reconnectIntervalMs: 0 });
  const [ping] = tickUntilSent(driver, T.Ping);
  const effects = driver.core.sendFailed(ping!.to, ping!.message, driver.nowMs + 3);
  assert.is(effects.sends.filter((send) => send.message.type === T.PingReq).length, 3);
});

test('a suspect is pinged together with its suspicion, so it can refute at once', () => {
  const driver = withMembers(2, { pushPullIntervalMs: 0, reconnectIntervalMs: 0 });
  receive(driver, 'x', suspect('n2', 1, 'x'));
  const [ping] = tickUntilSent(driver, T.Ping);
  assert.equal((ping!.message as { updates: unknown[] }).updates[0], suspect('n2', 1, 'n1'));
});

test('a refutation also goes straight to the accuser; an accusation we already refuted gets our alive again, once per accuser', () => {
  const driver = withMembers(4);
  let effects = receive(driver, 'n2', suspect('n1', 1, 'n3'));
  assert.equal(effects.sends.filter((send) => send.message.type === T.Alive), [{ to: 'n3', address: 'n3-addr', message: alive('n1', 2) }]);
  effects = receive(driver, 'n2', suspect('n1', 1, 'n4'));
  assert.is(driver.core.incarnation(), 2, 'a stale accusation is not refuted again');
  assert.equal(effects.sends.filter((send) => send.message.type === T.Alive), [{ to: 'n4', address: 'n4-addr', message: alive('n1', 2) }]);
  effects = receive(driver, 'n3', suspect('n1', 1, 'n4'));
  assert.equal(effects.sends.filter((send) => send.message.type === T.Alive), [], 'n4 was already answered at this incarnation');
  assert.is(driver.core.stats.accusersAnswered, 2);
});

test('a ping that carries a suspicion of us is answered with our current alive first', () => {
  const driver = withMembers(3);
  receive(driver, 'n2', suspect('n1', 1, 'n2'));
  const effects = receive(driver, 'n3', { type: T.Ping, seq: 5, target: 'n1', updates: [suspect('n1', 1, 'n3')] });
  const ack = effects.sends.find((send) => send.to === 'n3' && send.message.type === T.Ack)!;
  assert.equal((ack.message as { updates: unknown[] }).updates[0], alive('n1', 2));
});

test('a member holding a suspicion pings the suspect itself before the minimum timeout, unless the refutation has arrived', () => {
  // 10 members: min 4 s; two checks, in [1.33, 2] s and [2.67, 3.33] s.
  const driver = withMembers(10, { pushPullIntervalMs: 0, reconnectIntervalMs: 0 });
  runAnswering(driver, 1_000);
  receive(driver, 'n3', suspect('n2', 1, 'n3'));
  const checks: number[] = [];
  while (driver.nowMs < 4_900) {
    const effects = tickTo(driver, driver.last.wakeAtMs!);
    for (const send of effects.sends) {
      if (send.message.type !== T.Ping) continue;
      if (send.to === 'n2' && send.message.updates[0]?.type === T.Suspect) checks.push(driver.nowMs - 1_000);
      else receive(driver, send.to, { type: T.Ack, seq: send.message.seq, nack: false, updates: [] });
    }
  }
  assert.is(driver.core.stats.suspicionChecksSent, 2);
  assert.is(checks.length, 2, `pings to the suspect at ${checks}`);
  assert.ok(checks[0]! >= 1_333 && checks[0]! <= 2_000 && checks[1]! >= 2_666 && checks[1]! <= 3_334, `checks at ${checks}`);

  const refuted = withMembers(10, { pushPullIntervalMs: 0, reconnectIntervalMs: 0 });
  runAnswering(refuted, 1_000);
  receive(refuted, 'n3', suspect('n2', 1, 'n3'));
  receive(refuted, 'n2', alive('n2', 2));
  runAnswering(refuted, 10_000);
  assert.is(refuted.core.stats.suspicionChecksSent, 0);
});

test('failed and left tombstones are reaped after their retention, with a reaped event', () => {
  const driver = withMembers(4, { failedMemberRetentionMs: 60_000, leftMemberRetentionMs: 10_000, pushPullIntervalMs: 0, reconnectIntervalMs: 0 });
  receive(driver, 'n3', dead('n2', 1, 'n3'), 1_000);
  receive(driver, 'n3', dead('n3', 1, 'n3'), 1_000);
  const reaped: string[] = [];
  while (driver.nowMs < 120_000) {
    tickTo(driver, driver.last.wakeAtMs!);
    for (const event of driver.last.events) if (event.type === 'reaped') reaped.push(`${event.member.node}@${Math.floor(driver.nowMs / 1000)}`);
    // The prober has to wrap its order to reap; keep n4 answering.
    for (const send of driver.last.sends) {
      if (send.message.type === T.Ping && send.to === 'n4') receive(driver, 'n4', { type: T.Ack, seq: send.message.seq, nack: false, updates: [] });
    }
  }
  assert.is(driver.core.member('n2'), undefined);
  assert.is(driver.core.member('n3'), undefined);
  assert.is(reaped.length, 2, reaped.join(' '));
  const times = Object.fromEntries(reaped.map((entry) => entry.split('@')));
  assert.ok(Number(times['n3']) >= 11 && Number(times['n3']) <= 14, `left reaped at ${times['n3']} s`);
  assert.ok(Number(times['n2']) >= 61 && Number(times['n2']) <= 64, `failed reaped at ${times['n2']} s`);
});

test('new tags raise our incarnation and are published', () => {
  const driver = withMembers(2);
  const effects = driver.core.updateTags({ role: 'voter' }, 10);
  assert.equal(effects.broadcasts, [alive('n1', 2, 'n1-addr', { role: 'voter' })]);
  assert.equal(effects.events.map((event) => event.type), ['updated']);
});

test('time must not go backwards', () => {
  const driver = start();
  tickTo(driver, 1_000);
  assert.throws(() => driver.core.tick(999), /backwards/);
});

test('the core reads no clock, draws no randomness and arms no timers of its own', () => {
  const folder = new URL('../../../agent/membership/', import.meta.url);
  // membership-adapter.ts is the I/O side by design: it owns the timer and the mesh.
  const coreFiles = readdirSync(folder).filter((name) => name !== 'membership-adapter.ts');
  assert.ok(coreFiles.includes('membership-core.ts'));
  for (const name of coreFiles) {
    const source = readFileSync(new URL(name, folder), 'utf8').replace(/\/\/.*$/gm, '');
    assert.not.match(source, /Date\.now|new Date|Math\.random|performance\.now|setTimeout|setInterval|process\.hrtime|from 'node:/, name);
  }
});

test.run();

// The membership and failure-detection core: SWIM with Lifeguard's
// refinements and memberlist's state rules, as a deterministic state machine.
// It never reads a clock, draws randomness of its own, or touches the network:
// the current time and every inbound message are passed in, the Prng is
// injected, and each call returns what to do.
//
//   const core = new MembershipCore({ node: 'n1', address: '10.0.0.1:8301', config: membershipConfig('lan'), prng, nowMs });
//   apply(core.takeEffects());                           // announce ourselves, first wake-up
//   apply(core.join(['10.0.0.2:8301'], nowMs));           // push-pull with the seeds
//   apply(core.handleMessage(fromPeerId, message, nowMs)); // whatever arrives, on the probe stream or the gossip topic
//   apply(core.tick(nowMs));                              // at effects.wakeAtMs
//
// where `apply` sends `effects.sends` on the probe stream, publishes
// `effects.broadcasts` on the datacenter's gossip topic, hands `effects.events`
// to the agent, and arms one timer for `effects.wakeAtMs`.
//
// Dissemination has two paths. An update this member decides (its own alive,
// a refutation, a suspicion from its own probe, a death from its own suspicion
// timer, its leave) is returned in `broadcasts` once, for the gossip topic.
// Every update this member accepts, its own or learned, also goes into the
// transmit-limited queue and is piggybacked on the next Pings, Acks and
// PingReqs: the SWIM epidemic, which needs no extra messages and covers what
// the topic loses. Learned updates are never re-published: gossipsub already
// floods, and re-publishing would make every update cost n publishes.
//
// A protocol period (probeIntervalMs stretched by local health):
//   t0            Ping the next member of a shuffled round-robin order
//   t0 + timeout  no Ack: PingReq to k random alive members (with Nack)
//   t0 + period   no Ack, direct or relayed: suspect it; count missing Nacks
//                 against our own health; start the next period
// A suspicion becomes a death when its Lifeguard timer runs out, unless the
// suspect refutes by raising its incarnation.

import type { Prng } from '../../raft/prng.ts';
import {
  DEFAULT_MEMBERSHIP_LIMITS,
  encodedUpdateSize,
  MembershipMessageType,
  MemberState,
  tagsEqual,
} from '../../protocol/membership.ts';
import type {
  Ack,
  Alive,
  Dead,
  MemberRecord,
  MembershipMessage,
  MembershipUpdate,
  Ping,
  PingReq,
  PushPull,
  Suspect,
  Tags,
} from '../../protocol/membership.ts';
import { Awareness } from './awareness.ts';
import { BroadcastQueue } from './broadcast-queue.ts';
import { validateMembershipConfig } from './config.ts';
import type { MembershipConfig } from './config.ts';
import { pushPullScaleMs, reconnectProbability } from './push-pull.ts';
import { Suspicion, suspicionTimeoutMs } from './suspicion.ts';

/** One member as this member sees it. */
export type MemberView = {
  node: string;
  address: string;
  incarnation: number;
  state: MemberState;
  tags: Tags;
  /** When this member last saw the state change (its own clock, as passed in). */
  stateChangedMs: number;
};

/**
 * What happened to a member, for the agent (catalog, `members`, Consul's serfHealth):
 * joined (first seen, or back from failed/left), alive (refuted a suspicion),
 * suspect, failed, left, updated (tags or address), reaped (tombstone removed).
 */
export type MemberEventType = 'joined' | 'alive' | 'suspect' | 'failed' | 'left' | 'updated' | 'reaped';

export type MemberEvent = {
  type: MemberEventType;
  member: MemberView;
  atMs: number;
};

/** A message for the probe stream. `to` is '' when only the address is known (a join seed); `address` is '' when only the id is. */
export type OutboundMessage = {
  to: string;
  address: string;
  message: MembershipMessage;
};

/** What one call asks of its caller. */
export type MembershipEffects = {
  sends: OutboundMessage[];
  /** Updates this member decided: publish each on the datacenter's gossip topic. */
  broadcasts: MembershipUpdate[];
  events: MemberEvent[];
  /** Call `tick` at this time (or later); null when nothing is pending. */
  wakeAtMs: number | null;
};

/** Counters for `info` and metrics. */
export type MembershipStats = {
  probesSent: number;
  probesFailed: number;
  indirectProbesRequested: number;
  indirectProbesRelayed: number;
  /** PingReqs refused because `maxIndirectProbes` were already running. */
  indirectProbesDropped: number;
  nacksReceived: number;
  refutations: number;
  /** Direct pings to suspects (see MembershipConfig.suspicionChecks). */
  suspicionChecksSent: number;
  /** Alives sent straight to a member that accused us. */
  accusersAnswered: number;
  /** Pings addressed to another node id (a stale address). */
  misdirectedPings: number;
  /** Alives that named a known node at another address and were ignored. */
  addressConflicts: number;
  /** New members ignored because `maxMembers` was reached. */
  membersRefused: number;
  pushPullsSent: number;
  reconnectsSent: number;
};

export type MembershipCoreOptions = {
  /** This member's id: the libp2p peer id in the agent, a short name in tests. */
  node: string;
  /** Where others reach this member. */
  address: string;
  tags?: Tags;
  /** Start above the incarnation a previous run used, when the agent persisted it; refutation catches up otherwise. */
  incarnation?: number;
  config: MembershipConfig;
  prng: Prng;
  nowMs: number;
};

type Member = MemberView;

/** Our own probe of one member in the current period. */
type ActiveProbe = {
  seq: number;
  target: string;
  indirectAtMs: number;
  endAtMs: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
};

/** An indirect probe we run for a requester: our ping's seq maps back to theirs. */
type IndirectProbe = {
  requester: string;
  requesterSeq: number;
  wantNack: boolean;
  nackAtMs: number;
  expiresAtMs: number;
};

/** Bound on the accusers remembered (forgotten all at once beyond it: at worst one extra direct alive each). */
const ANSWERED_ACCUSERS_MAX = 1_024;

/** An intermediary sends its Nack at this fraction of the requester's remaining wait, so the Nack arrives while the requester still counts. */
const NACK_FRACTION = 0.8;

export class MembershipCore {
  readonly node: string;
  readonly config: Readonly<MembershipConfig>;
  private readonly prng: Prng;
  private readonly awareness: Awareness;
  private readonly queue: BroadcastQueue<MembershipUpdate>;
  private readonly members = new Map<string, Member>();
  /** Members by state, so cluster-size estimates cost nothing. Indexed by MemberState. */
  private readonly stateCounts = [0, 0, 0, 0];
  /** Randomized round-robin probe order (memberlist's nodes slice); reshuffled and reaped at each wrap. */
  private probeOrder: string[] = [];
  private probeIndex = 0;
  private readonly suspicions = new Map<string, Suspicion>();
  /** When to ping each suspect directly (the pending suspicion checks), earliest first. */
  private readonly suspicionChecks = new Map<string, number[]>();
  private readonly indirectProbes = new Map<number, IndirectProbe>();
  private probe: ActiveProbe | null = null;
  private seq = 0;
  private nowMs: number;
  private nextProbeAtMs: number;
  private nextPushPullAtMs: number;
  private nextReconnectAtMs: number;
  private leaving = false;
  /** Accusers already sent our alive directly, with the incarnation we sent them. */
  private readonly answeredAccusers = new Map<string, number>();
  private effects: MembershipEffects = { sends: [], broadcasts: [], events: [], wakeAtMs: null };
  readonly stats: MembershipStats = {
    probesSent: 0,
    probesFailed: 0,
    indirectProbesRequested: 0,
    indirectProbesRelayed: 0,
    indirectProbesDropped: 0,
    nacksReceived: 0,
    refutations: 0,
    accusersAnswered: 0,
    suspicionChecksSent: 0,
    misdirectedPings: 0,
    addressConflicts: 0,
    membersRefused: 0,
    pushPullsSent: 0,
    reconnectsSent: 0,
  };

  constructor(options: MembershipCoreOptions) {
    validateMembershipConfig(options.config);
    if (options.node === '') throw new RangeError('the node id is empty');
    const incarnation = options.incarnation ?? 1;
    if (!Number.isSafeInteger(incarnation) || incarnation < 0) throw new RangeError(`incarnation must be a non-negative integer, got ${incarnation}`);
    this.node = options.node;
    this.config = { ...options.config };
    this.prng = options.prng;
    this.nowMs = options.nowMs;
    this.awareness = new Awareness(this.config.awarenessMaxMultiplier);
    this.queue = new BroadcastQueue(this.config.retransmitMultiplier);
    // Stagger the timers so members started together do not probe in lockstep.
    this.nextProbeAtMs = this.nowMs + this.staggerMs(this.config.probeIntervalMs);
    this.nextPushPullAtMs = this.nowMs + this.staggerMs(this.config.pushPullIntervalMs);
    this.nextReconnectAtMs = this.nowMs + this.staggerMs(this.config.reconnectIntervalMs);
    const self: Member = {
      node: this.node,
      address: options.address,
      incarnation,
      state: MemberState.Alive,
      tags: { ...(options.tags ?? {}) },
      stateChangedMs: this.nowMs,
    };
    this.insertMember(self);
    const alive = this.selfAlive();
    this.enqueue(alive);
    this.effects.broadcasts.push(alive);
    this.emit('joined', self);
  }

  // ---------------------------------------------------------------- inputs

  /**
   * Operator's force-leave of a failed member: mark it left everywhere, so it
   * is no longer reported failed (and its tombstone is reaped on the left
   * schedule). Refused for a member that is not failed: returns false.
   */
  forceLeave(node: string, nowMs: number): { accepted: boolean; effects: MembershipEffects } {
    this.advance(nowMs);
    const member = this.members.get(node);
    if (member === undefined || member.state !== MemberState.Dead || node === this.node) return { accepted: false, effects: this.takeEffects() };
    const dead: Dead = { type: MembershipMessageType.Dead, node, incarnation: member.incarnation, from: node };
    this.applyDead(dead);
    this.effects.broadcasts.push(dead);
    return { accepted: true, effects: this.takeEffects() };
  }

  /** Timers: run everything due at `nowMs`. Call at `wakeAtMs`; calling early or often is harmless. */
  tick(nowMs: number): MembershipEffects {
    this.advance(nowMs);
    return this.takeEffects();
  }

  /** A message from member `from` (its authenticated id), from the probe stream or the gossip topic. */
  handleMessage(from: string, message: MembershipMessage, nowMs: number): MembershipEffects {
    this.advance(nowMs);
    switch (message.type) {
      case MembershipMessageType.Ping:
        this.applyUpdates(message.updates);
        this.handlePing(from, message);
        break;
      case MembershipMessageType.Ack:
        this.applyUpdates(message.updates);
        this.handleAck(message);
        break;
      case MembershipMessageType.PingReq:
        this.applyUpdates(message.updates);
        this.handlePingReq(message);
        break;
      case MembershipMessageType.Alive:
      case MembershipMessageType.Suspect:
      case MembershipMessageType.Dead:
        this.applyUpdate(message);
        break;
      case MembershipMessageType.PushPull:
        this.handlePushPull(from, message);
        break;
    }
    return this.takeEffects();
  }

  /**
   * A send could not be delivered (no connection, stream refused). A failed
   * direct Ping counts as a failed probe at once: the indirect probes start
   * without waiting for the timeout, as memberlist does on a remote failure.
   */
  sendFailed(to: string, message: MembershipMessage, nowMs: number): MembershipEffects {
    this.advance(nowMs);
    const probe = this.probe;
    if (message.type === MembershipMessageType.Ping && probe !== null && message.seq === probe.seq && to === probe.target && !probe.indirectSent) {
      this.sendIndirectProbes(probe);
    }
    return this.takeEffects();
  }

  /** Push-pull with each seed address (memberlist's Join). Retrying unreachable seeds is the caller's job. */
  join(seedAddresses: readonly string[], nowMs: number): MembershipEffects {
    this.advance(nowMs);
    if (!this.leaving && seedAddresses.length > 0) {
      const members = this.localState();
      for (const address of seedAddresses) {
        this.send('', address, { type: MembershipMessageType.PushPull, join: true, reply: false, members });
        this.stats.pushPullsSent++;
      }
    }
    return this.takeEffects();
  }

  /**
   * Leave gracefully: a Dead about ourselves from ourselves, so others record
   * "left", not "failed". Probing and push-pull stop; the core still answers
   * pings so the news keeps spreading until the caller shuts down.
   */
  leave(nowMs: number): MembershipEffects {
    this.advance(nowMs);
    if (!this.leaving) {
      this.leaving = true;
      this.probe = null;
      const self = this.self();
      const dead: Dead = { type: MembershipMessageType.Dead, node: this.node, incarnation: self.incarnation, from: this.node };
      if (this.applyDead(dead)) this.effects.broadcasts.push(dead);
    }
    return this.takeEffects();
  }

  /** New tags for ourselves: a new incarnation, announced like a refutation (memberlist's UpdateNode). */
  updateTags(tags: Tags, nowMs: number): MembershipEffects {
    this.advance(nowMs);
    const self = this.self();
    if (!this.leaving && !tagsEqual(self.tags, tags)) {
      self.incarnation++;
      self.tags = { ...tags };
      const alive = this.selfAlive();
      this.enqueue(alive);
      this.effects.broadcasts.push(alive);
      this.emit('updated', self);
    }
    return this.takeEffects();
  }

  /** Effects accumulated so far (the constructor's, or any call's), with the next wake-up. */
  takeEffects(): MembershipEffects {
    const effects = this.effects;
    effects.wakeAtMs = this.computeWakeAtMs();
    this.effects = { sends: [], broadcasts: [], events: [], wakeAtMs: null };
    return effects;
  }

  // ---------------------------------------------------------------- queries

  member(node: string): MemberView | undefined {
    const member = this.members.get(node);
    return member === undefined ? undefined : view(member);
  }

  /** Every member, tombstones included, ourselves first. */
  memberList(): MemberView[] {
    return [...this.members.values()].map(view);
  }

  /** How many members are in `state` (ourselves included). */
  countIn(state: MemberState): number {
    return this.stateCounts[state]!;
  }

  /** Alive and suspect members, ourselves included: the n of every log-n formula. */
  liveCount(): number {
    return this.stateCounts[MemberState.Alive]! + this.stateCounts[MemberState.Suspect]!;
  }

  /** Lifeguard's local health score: 0 is healthy; the probe period is multiplied by score + 1. */
  healthScore(): number {
    return this.awareness.healthScore();
  }

  incarnation(): number {
    return this.self().incarnation;
  }

  hasLeft(): boolean {
    return this.leaving;
  }

  /** Updates still queued for piggybacking. */
  pendingBroadcasts(): number {
    return this.queue.size();
  }

  // ---------------------------------------------------------------- timers

  private advance(nowMs: number): void {
    if (!(nowMs >= this.nowMs)) throw new RangeError(`time went backwards: ${nowMs} after ${this.nowMs}`);
    this.nowMs = nowMs;
    this.runIndirectProbeTimers();
    this.runProbeTimers();
    this.runSuspicionTimers();
    this.runSuspicionChecks();
    if (this.leaving) return;
    if (this.config.pushPullIntervalMs > 0 && nowMs >= this.nextPushPullAtMs) {
      this.nextPushPullAtMs = nowMs + pushPullScaleMs(this.config.pushPullIntervalMs, this.liveCount());
      this.pushPullWithRandomMember();
    }
    if (this.config.reconnectIntervalMs > 0 && nowMs >= this.nextReconnectAtMs) {
      this.nextReconnectAtMs = nowMs + this.config.reconnectIntervalMs;
      this.reconnectToFailedMember();
    }
  }

  private runProbeTimers(): void {
    const probe = this.probe;
    if (probe !== null && !probe.indirectSent && this.nowMs >= probe.indirectAtMs) this.sendIndirectProbes(probe);
    if (probe !== null && this.nowMs >= probe.endAtMs) this.probeFailed(probe);
    if (!this.leaving && this.nowMs >= this.nextProbeAtMs) this.startProbe();
  }

  private runSuspicionTimers(): void {
    for (const [node, suspicion] of this.suspicions) {
      if (this.nowMs < suspicion.deadlineMs()) continue;
      this.clearSuspicion(node);
      const member = this.members.get(node);
      if (member === undefined || member.state !== MemberState.Suspect) continue;
      const dead: Dead = { type: MembershipMessageType.Dead, node, incarnation: member.incarnation, from: this.node };
      if (this.applyDead(dead)) this.effects.broadcasts.push(dead);
    }
  }

  /** Due suspicion checks: a ping straight to the suspect, carrying the suspicion, with no consequence if it goes unanswered. */
  private runSuspicionChecks(): void {
    for (const [node, checks] of this.suspicionChecks) {
      if (this.nowMs < checks[0]!) continue;
      while (checks.length > 0 && this.nowMs >= checks[0]!) checks.shift();
      if (checks.length === 0) this.suspicionChecks.delete(node);
      const member = this.members.get(node);
      if (member === undefined || member.state !== MemberState.Suspect || this.leaving) continue;
      const prefix: Suspect = { type: MembershipMessageType.Suspect, node, incarnation: member.incarnation, from: this.node };
      this.send(node, member.address, { type: MembershipMessageType.Ping, seq: ++this.seq, target: node, updates: this.piggyback(prefix) });
      this.stats.suspicionChecksSent++;
    }
  }

  private runIndirectProbeTimers(): void {
    for (const [seq, relay] of this.indirectProbes) {
      if (relay.wantNack && this.nowMs >= relay.nackAtMs) {
        relay.wantNack = false;
        this.sendTo(relay.requester, { type: MembershipMessageType.Ack, seq: relay.requesterSeq, nack: true, updates: this.piggyback(null) });
      }
      if (this.nowMs >= relay.expiresAtMs) this.indirectProbes.delete(seq);
    }
  }

  private computeWakeAtMs(): number | null {
    let wake = Number.POSITIVE_INFINITY;
    if (!this.leaving) {
      wake = this.nextProbeAtMs;
      if (this.config.pushPullIntervalMs > 0) wake = Math.min(wake, this.nextPushPullAtMs);
      if (this.config.reconnectIntervalMs > 0) wake = Math.min(wake, this.nextReconnectAtMs);
    }
    const probe = this.probe;
    if (probe !== null) wake = Math.min(wake, probe.indirectSent ? probe.endAtMs : probe.indirectAtMs);
    for (const relay of this.indirectProbes.values()) wake = Math.min(wake, relay.wantNack ? relay.nackAtMs : relay.expiresAtMs);
    for (const suspicion of this.suspicions.values()) wake = Math.min(wake, suspicion.deadlineMs());
    for (const checks of this.suspicionChecks.values()) wake = Math.min(wake, checks[0]!);
    return Number.isFinite(wake) ? Math.max(wake, this.nowMs) : null;
  }

  private staggerMs(intervalMs: number): number {
    return intervalMs > 0 ? Math.floor(this.prng.nextFloat() * intervalMs) : 0;
  }

  // ---------------------------------------------------------------- probing

  private startProbe(): void {
    const periodMs = this.awareness.scaleTimeout(this.config.probeIntervalMs);
    const timeoutMs = this.awareness.scaleTimeout(this.config.probeTimeoutMs);
    this.nextProbeAtMs = this.nowMs + periodMs;
    const target = this.nextProbeTarget();
    if (target === null) return;
    const seq = ++this.seq;
    this.probe = { seq, target: target.node, indirectAtMs: this.nowMs + timeoutMs, endAtMs: this.nowMs + periodMs, indirectSent: false, expectedNacks: 0, nacks: 0 };
    // A suspect is told it is suspected, so it can refute at once (memberlist's compound ping).
    const prefix: Suspect | null = target.state === MemberState.Suspect
      ? { type: MembershipMessageType.Suspect, node: target.node, incarnation: target.incarnation, from: this.node }
      : null;
    this.send(target.node, target.address, { type: MembershipMessageType.Ping, seq, target: target.node, updates: this.piggyback(prefix) });
    this.stats.probesSent++;
  }

  /** The next alive or suspect member in the shuffled round-robin order; null if there is none. */
  private nextProbeTarget(): Member | null {
    for (let checks = 0; checks < this.probeOrder.length;) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.resetProbeOrder();
        this.probeIndex = 0;
        checks++;
        continue;
      }
      const member = this.members.get(this.probeOrder[this.probeIndex++]!)!;
      if (member.node === this.node || member.state === MemberState.Dead || member.state === MemberState.Left) {
        checks++;
        continue;
      }
      return member;
    }
    return null;
  }

  private sendIndirectProbes(probe: ActiveProbe): void {
    probe.indirectSent = true;
    const target = this.members.get(probe.target);
    if (target === undefined) return;
    const peers = this.randomMembers(this.config.indirectChecks, (member) => member.node !== probe.target && member.state === MemberState.Alive);
    const timeoutMs = Math.max(0, probe.endAtMs - this.nowMs);
    for (const peer of peers) {
      probe.expectedNacks++;
      const request: PingReq = {
        type: MembershipMessageType.PingReq,
        seq: probe.seq,
        target: target.node,
        targetAddress: target.address,
        requester: this.node,
        nack: true,
        timeoutMs,
        updates: this.piggyback(null),
      };
      this.send(peer.node, peer.address, request);
      this.stats.indirectProbesRequested++;
    }
  }

  /** The period ended without an ack: count missing nacks against our own health, then suspect the target. */
  private probeFailed(probe: ActiveProbe): void {
    this.probe = null;
    this.stats.probesFailed++;
    // Nacks prove the intermediaries could talk to us; each missing one is evidence our own link is the problem.
    this.awareness.applyDelta(probe.expectedNacks > 0 ? probe.expectedNacks - Math.min(probe.nacks, probe.expectedNacks) : 1);
    const target = this.members.get(probe.target);
    if (target === undefined) return;
    const suspect: Suspect = { type: MembershipMessageType.Suspect, node: target.node, incarnation: target.incarnation, from: this.node };
    if (this.applySuspect(suspect)) this.effects.broadcasts.push(suspect);
  }

  private handlePing(from: string, ping: Ping): void {
    if (ping.target !== this.node) {
      this.stats.misdirectedPings++;
      return;
    }
    const sender = this.members.get(from);
    let prefix: MembershipUpdate | null = null;
    if (!this.leaving && ping.updates.some((update) => update.node === this.node && update.type !== MembershipMessageType.Alive)) {
      // A prober that still suspects us (perhaps of something we already refuted and it never heard of)
      // gets our current alive first: otherwise only luck brings it the refutation before its timer runs out.
      prefix = this.selfAlive();
    } else if (sender !== undefined && from !== this.node && !this.leaving) {
      // A prober we hold as suspect or failed hears so and can refute: this is what lets the two sides
      // of a healed partition notice each other as soon as one probe crosses.
      if (sender.state === MemberState.Suspect) {
        prefix = { type: MembershipMessageType.Suspect, node: from, incarnation: sender.incarnation, from: this.node };
      } else if (sender.state === MemberState.Dead || sender.state === MemberState.Left) {
        prefix = { type: MembershipMessageType.Dead, node: from, incarnation: sender.incarnation, from: this.node };
      }
    }
    this.sendTo(from, { type: MembershipMessageType.Ack, seq: ping.seq, nack: false, updates: this.piggyback(prefix) });
  }

  private handleAck(ack: Ack): void {
    const probe = this.probe;
    if (probe !== null && ack.seq === probe.seq) {
      if (ack.nack) {
        this.stats.nacksReceived++;
        if (probe.nacks < probe.expectedNacks) probe.nacks++;
        return;
      }
      this.probe = null;
      this.awareness.applyDelta(-1);
      return;
    }
    const relay = this.indirectProbes.get(ack.seq);
    if (relay !== undefined && !ack.nack) {
      this.indirectProbes.delete(ack.seq);
      this.sendTo(relay.requester, { type: MembershipMessageType.Ack, seq: relay.requesterSeq, nack: false, updates: this.piggyback(null) });
      this.stats.indirectProbesRelayed++;
    }
  }

  private handlePingReq(request: PingReq): void {
    if (request.target === this.node) {
      this.sendTo(request.requester, { type: MembershipMessageType.Ack, seq: request.seq, nack: false, updates: this.piggyback(null) });
      return;
    }
    if (this.indirectProbes.size >= this.config.maxIndirectProbes) {
      this.stats.indirectProbesDropped++;
      return;
    }
    const seq = ++this.seq;
    this.indirectProbes.set(seq, {
      requester: request.requester,
      requesterSeq: request.seq,
      wantNack: request.nack,
      nackAtMs: this.nowMs + Math.floor(request.timeoutMs * NACK_FRACTION),
      expiresAtMs: this.nowMs + request.timeoutMs,
    });
    const known = this.members.get(request.target);
    const address = request.targetAddress !== '' ? request.targetAddress : (known?.address ?? '');
    this.send(request.target, address, { type: MembershipMessageType.Ping, seq, target: request.target, updates: this.piggyback(null) });
  }

  // ---------------------------------------------------------------- push-pull

  private pushPullWithRandomMember(): void {
    const peer = this.randomMembers(1, (member) => member.state === MemberState.Alive)[0];
    if (peer === undefined) return;
    this.send(peer.node, peer.address, { type: MembershipMessageType.PushPull, join: false, reply: false, members: this.localState() });
    this.stats.pushPullsSent++;
  }

  /** Serf's reconnect: with probability failed/alive, push-pull with one random failed member. Heals partitions. */
  private reconnectToFailedMember(): void {
    const failedCount = this.stateCounts[MemberState.Dead]!;
    if (failedCount === 0) return;
    if (this.prng.nextFloat() >= reconnectProbability(failedCount, this.stateCounts[MemberState.Alive]!)) return;
    let pick = this.prng.nextInt(failedCount);
    for (const member of this.members.values()) {
      if (member.state !== MemberState.Dead || pick-- > 0) continue;
      this.send(member.node, member.address, { type: MembershipMessageType.PushPull, join: false, reply: false, members: this.localState() });
      this.stats.reconnectsSent++;
      return;
    }
  }

  private handlePushPull(from: string, pushPull: PushPull): void {
    this.mergeRemoteState(pushPull.members);
    // Merge first, answer second: a member that just refuted its death answers with the new incarnation.
    if (!pushPull.reply) {
      this.sendTo(from, { type: MembershipMessageType.PushPull, join: pushPull.join, reply: true, members: this.localState() });
    }
  }

  /** memberlist's mergeState: a remote "dead" only makes us suspect, so one confused member cannot kill a healthy one. */
  private mergeRemoteState(records: readonly MemberRecord[]): void {
    for (const record of records) {
      switch (record.state) {
        case MemberState.Alive:
          this.applyAlive({ type: MembershipMessageType.Alive, node: record.node, incarnation: record.incarnation, address: record.address, tags: record.tags });
          break;
        case MemberState.Left:
          this.applyDead({ type: MembershipMessageType.Dead, node: record.node, incarnation: record.incarnation, from: record.node });
          break;
        case MemberState.Dead:
        case MemberState.Suspect:
          this.applySuspect({ type: MembershipMessageType.Suspect, node: record.node, incarnation: record.incarnation, from: this.node });
          break;
      }
    }
  }

  private localState(): MemberRecord[] {
    const records: MemberRecord[] = [];
    for (const member of this.members.values()) {
      records.push({ node: member.node, address: member.address, incarnation: member.incarnation, state: member.state, tags: member.tags });
    }
    return records;
  }

  // ---------------------------------------------------------------- state rules (memberlist's aliveNode, suspectNode, deadNode)

  private applyUpdates(updates: readonly MembershipUpdate[]): void {
    for (const update of updates) this.applyUpdate(update);
  }

  private applyUpdate(update: MembershipUpdate): void {
    switch (update.type) {
      case MembershipMessageType.Alive: this.applyAlive(update); break;
      case MembershipMessageType.Suspect: this.applySuspect(update); break;
      case MembershipMessageType.Dead: this.applyDead(update); break;
    }
  }

  /**
   * An alive with a higher incarnation overrides anything; an equal or lower one
   * is old news. About ourselves: anything that does not match us exactly is
   * refuted. A known node at a new address is accepted only once it has left,
   * or has been dead for `deadNodeReclaimMs`. Returns whether it was accepted.
   */
  private applyAlive(alive: Alive): boolean {
    const member = this.members.get(alive.node);
    const isSelf = alive.node === this.node;
    if (member === undefined) {
      if (this.members.size >= this.config.maxMembers) {
        this.stats.membersRefused++;
        return false;
      }
      const added: Member = { node: alive.node, address: alive.address, incarnation: alive.incarnation, state: MemberState.Alive, tags: alive.tags, stateChangedMs: this.nowMs };
      this.insertMember(added);
      this.enqueue(alive);
      this.emit('joined', added);
      return true;
    }
    let replacesAddress = false;
    if (member.address !== alive.address) {
      const reclaimable = member.state === MemberState.Left ||
        (member.state === MemberState.Dead && this.nowMs - member.stateChangedMs >= this.config.deadNodeReclaimMs);
      if (!reclaimable) {
        this.stats.addressConflicts++;
        return false;
      }
      replacesAddress = true;
    }
    if (!isSelf && alive.incarnation <= member.incarnation && !replacesAddress) return false;
    if (isSelf && alive.incarnation < member.incarnation) return false;
    this.clearSuspicion(alive.node);
    if (isSelf) {
      if (this.leaving) return false;
      if (alive.incarnation === member.incarnation && tagsEqual(alive.tags, member.tags)) return false;
      // Someone holds a version of us we did not send (an earlier run, other tags): outbid it.
      this.refute(member, alive.incarnation, null);
      return false;
    }
    const previousState = member.state;
    const changed = member.address !== alive.address || !tagsEqual(member.tags, alive.tags);
    this.enqueue(alive);
    member.incarnation = alive.incarnation;
    member.address = alive.address;
    member.tags = alive.tags;
    if (member.state !== MemberState.Alive) this.setState(member, MemberState.Alive);
    if (previousState === MemberState.Dead || previousState === MemberState.Left) this.emit('joined', member);
    else if (previousState === MemberState.Suspect) this.emit('alive', member);
    else if (changed) this.emit('updated', member);
    return true;
  }

  /**
   * A suspicion at an incarnation at least the member's current one makes an
   * alive member suspect and starts its Lifeguard timer; for a member already
   * suspect it is a confirmation that shortens the timer. About ourselves: refute.
   * Returns whether it was new (a new suspicion or a counted confirmation).
   */
  private applySuspect(suspect: Suspect): boolean {
    const member = this.members.get(suspect.node);
    if (member === undefined) return false;
    if (suspect.incarnation < member.incarnation) {
      if (suspect.node === this.node) this.answerStaleAccusation(suspect.from);
      return false;
    }
    const suspicion = this.suspicions.get(suspect.node);
    if (suspicion !== undefined) {
      if (!suspicion.confirm(suspect.from)) return false;
      this.enqueue(suspect);
      return true;
    }
    if (member.state !== MemberState.Alive) return false;
    if (suspect.node === this.node) {
      if (!this.leaving) this.refute(member, suspect.incarnation, suspect.from);
      return false;
    }
    this.enqueue(suspect);
    member.incarnation = suspect.incarnation;
    this.setState(member, MemberState.Suspect);
    const clusterSize = this.liveCount();
    const expected = clusterSize - 2 < this.config.suspicionMultiplier - 2 ? 0 : this.config.suspicionMultiplier - 2;
    const minMs = suspicionTimeoutMs(this.config.suspicionMultiplier, clusterSize, this.config.probeIntervalMs);
    this.suspicions.set(suspect.node, new Suspicion(suspect.from, expected, minMs, this.config.suspicionMaxTimeoutMultiplier * minMs, this.nowMs));
    this.scheduleSuspicionChecks(suspect.node, minMs);
    this.emit('suspect', member);
    return true;
  }

  /**
   * A death at an incarnation at least the member's current one marks it failed
   * (or left, when it says so itself). About ourselves: refute, unless leaving.
   * Returns whether it was accepted.
   */
  private applyDead(dead: Dead): boolean {
    const member = this.members.get(dead.node);
    if (member === undefined) return false;
    if (dead.incarnation < member.incarnation) {
      if (dead.node === this.node) this.answerStaleAccusation(dead.from);
      return false;
    }
    this.clearSuspicion(dead.node);
    const leaving = dead.from === dead.node;
    // A failed member may still be marked left (force-leave); nothing else changes a tombstone.
    if (member.state === MemberState.Left || (member.state === MemberState.Dead && !leaving)) return false;
    if (dead.node === this.node && !this.leaving) {
      this.refute(member, dead.incarnation, dead.from);
      return false;
    }
    this.enqueue(dead);
    member.incarnation = dead.incarnation;
    const left = dead.from === dead.node;
    this.setState(member, left ? MemberState.Left : MemberState.Dead);
    this.emit(left ? 'left' : 'failed', member);
    return true;
  }

  private clearSuspicion(node: string): void {
    this.suspicions.delete(node);
    this.suspicionChecks.delete(node);
  }

  /**
   * Plan `suspicionChecks` direct pings to a new suspect within the minimum
   * timeout, check i at a random time in [i, i + 1/2] * min / (checks + 1).
   * A suspect that refuted answers with its alive (see handlePing), so a
   * refutation that gossip failed to bring us still arrives before our timer
   * can kill a healthy member. Once the refutation is in, the checks are
   * dropped: after a false suspicion almost nobody sends one.
   */
  private scheduleSuspicionChecks(node: string, minMs: number): void {
    const count = this.config.suspicionChecks;
    if (count === 0) return;
    const spacingMs = minMs / (count + 1);
    const checks: number[] = [];
    for (let i = 1; i <= count; i++) checks.push(this.nowMs + Math.max(1, Math.floor(spacingMs * (i + this.prng.nextFloat() / 2))));
    this.suspicionChecks.set(node, checks);
  }

  /**
   * Outbid an accusation: an incarnation above both ours and the accused one,
   * published and piggybacked, and sent straight to the accuser, the member
   * most certain to act on the accusation.
   */
  private refute(self: Member, accusedIncarnation: number, accuser: string | null): void {
    let incarnation = self.incarnation + 1;
    if (accusedIncarnation >= incarnation) incarnation = accusedIncarnation + 1;
    self.incarnation = incarnation;
    // Being accused is a sign our own messages are not getting through.
    this.awareness.applyDelta(1);
    this.stats.refutations++;
    const alive = this.selfAlive();
    this.enqueue(alive);
    this.effects.broadcasts.push(alive);
    if (accuser !== null) this.answerAccuser(accuser);
  }

  /**
   * An accusation we already refuted is still travelling. Its accuser (the
   * member that will declare us dead when its timer runs out) evidently missed
   * the refutation: send it our alive directly, and piggyback it again.
   */
  private answerStaleAccusation(accuser: string): void {
    if (this.leaving) return;
    this.enqueue(this.selfAlive());
    this.answerAccuser(accuser);
  }

  /** Our current alive, straight to `accuser`: once per accuser and incarnation, however often the accusation reaches us. */
  private answerAccuser(accuser: string): void {
    if (accuser === this.node || this.leaving) return;
    const incarnation = this.self().incarnation;
    if (this.answeredAccusers.get(accuser) === incarnation) return;
    if (this.answeredAccusers.size >= ANSWERED_ACCUSERS_MAX) this.answeredAccusers.clear();
    this.answeredAccusers.set(accuser, incarnation);
    this.stats.accusersAnswered++;
    this.sendTo(accuser, this.selfAlive());
  }

  // ---------------------------------------------------------------- bookkeeping

  private self(): Member {
    return this.members.get(this.node)!;
  }

  private selfAlive(): Alive {
    const self = this.self();
    return { type: MembershipMessageType.Alive, node: this.node, incarnation: self.incarnation, address: self.address, tags: self.tags };
  }

  /** Adds a member at a random place in the probe order, so a new member is probed soon on average (memberlist's randomOffset). */
  private insertMember(member: Member): void {
    this.members.set(member.node, member);
    this.stateCounts[member.state]!++;
    const order = this.probeOrder;
    const offset = this.prng.nextInt(order.length + 1);
    order.push(member.node);
    [order[offset], order[order.length - 1]] = [order[order.length - 1]!, order[offset]!];
  }

  private setState(member: Member, state: MemberState): void {
    this.stateCounts[member.state]!--;
    this.stateCounts[state]!++;
    member.state = state;
    member.stateChangedMs = this.nowMs;
  }

  /** At each wrap of the probe order: reap expired tombstones, then reshuffle (memberlist's resetNodes). */
  private resetProbeOrder(): void {
    const kept: string[] = [];
    for (const node of this.probeOrder) {
      const member = this.members.get(node)!;
      const ageMs = this.nowMs - member.stateChangedMs;
      const expired = node !== this.node && (
        (member.state === MemberState.Dead && ageMs >= this.config.failedMemberRetentionMs) ||
        (member.state === MemberState.Left && ageMs >= this.config.leftMemberRetentionMs));
      if (!expired) {
        kept.push(node);
        continue;
      }
      this.members.delete(node);
      this.stateCounts[member.state]!--;
      this.queue.remove(node);
      this.emit('reaped', member);
    }
    for (let i = kept.length - 1; i > 0; i--) {
      const j = this.prng.nextInt(i + 1);
      [kept[i], kept[j]] = [kept[j]!, kept[i]!];
    }
    this.probeOrder = kept;
  }

  /** Up to `count` distinct random members other than ourselves that pass `eligible` (memberlist's kRandomNodes: at most 3n draws). */
  private randomMembers(count: number, eligible: (member: Member) => boolean): Member[] {
    const chosen: Member[] = [];
    const order = this.probeOrder;
    for (let draws = 0; draws < 3 * order.length && chosen.length < count; draws++) {
      const member = this.members.get(order[this.prng.nextInt(order.length)]!)!;
      if (member.node === this.node || !eligible(member) || chosen.includes(member)) continue;
      chosen.push(member);
    }
    return chosen;
  }

  private enqueue(update: MembershipUpdate): void {
    this.queue.queue(update.node, update, encodedUpdateSize(update));
  }

  /** Updates for one outgoing probe message, `prefix` first. */
  private piggyback(prefix: MembershipUpdate | null): MembershipUpdate[] {
    let budget = this.config.piggybackBytesMax;
    let maxItems = DEFAULT_MEMBERSHIP_LIMITS.maxUpdatesPerMessage;
    if (prefix !== null) {
      budget -= encodedUpdateSize(prefix);
      maxItems--;
    }
    const updates = budget > 0 ? this.queue.take(budget, this.liveCount(), maxItems) : [];
    if (prefix !== null) updates.unshift(prefix);
    return updates;
  }

  private send(to: string, address: string, message: MembershipMessage): void {
    this.effects.sends.push({ to, address, message });
  }

  /** Send to a node by id, with its address if we know it. */
  private sendTo(node: string, message: MembershipMessage): void {
    this.send(node, this.members.get(node)?.address ?? '', message);
  }

  private emit(type: MemberEventType, member: Member): void {
    this.effects.events.push({ type, member: view(member), atMs: this.nowMs });
  }
}

function view(member: Member): MemberView {
  return { node: member.node, address: member.address, incarnation: member.incarnation, state: member.state, tags: member.tags, stateChangedMs: member.stateChangedMs };
}

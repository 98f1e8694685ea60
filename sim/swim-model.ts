// A compact model of the membership core for clusters too large to give every
// node a real MembershipCore. The obstacle is memory, not speed: each core
// holds a record per member, so N cores hold N^2 records (measured: about
// 290 bytes per record right after a join, so 10,000 nodes would need 29 GB
// and 100,000 nodes 2.9 TB). The model keeps one shared baseline view
// ("everyone alive at incarnation 1", the steady state) and stores only how
// each node's view differs from it, plus per-node typed arrays for timers.
//
// It follows the core rule for rule (agent/membership/membership-core.ts):
// the same protocol period (probe, indirect probes with Lifeguard nacks,
// suspicion), the same state rules (alive/suspect/dead with incarnations,
// refutation, answering accusers), the same Lifeguard awareness deltas, and
// it calls the core's own arithmetic and data structures: Suspicion (the
// timer that shrinks with confirmations), suspicionTimeoutMs,
// BroadcastQueue with its retransmit limit, pushPullScaleMs and
// reconnectProbability. It speaks the real protocol messages, so model nodes
// and real cores run side by side in one cluster (fidelity.core_nodes), and
// the real cores' detection times check the model's at scale.
//
// Where it differs from the core (all outside what a steady cluster with
// crashes, loss, partitions and overload exercises):
// - Steady state only: model nodes start warm and are never restarted or
//   joined; addresses and tags never change; tombstones are never reaped.
// - The probe order is a random affine permutation of all node numbers,
//   redrawn at each wrap, instead of a shuffled list of known members: each
//   member is still probed once per round at a uniformly random position.
// - Push-pull between two model nodes carries only the records that differ
//   from the baseline (the rest are equal on both sides, so merging them
//   changes nothing); it is sized as the full exchange for bandwidth.
// - Its piggyback queues start empty, where a warm-started real core's
//   queue still holds every member's alive from its join.

import type { MembershipConfig } from '../agent/membership/config.ts';
import { BroadcastQueue } from '../agent/membership/broadcast-queue.ts';
import { pushPullScaleMs, reconnectProbability } from '../agent/membership/push-pull.ts';
import { Suspicion, suspicionTimeoutMs } from '../agent/membership/suspicion.ts';
import { DEFAULT_MEMBERSHIP_LIMITS, MembershipMessageType, MemberState } from '../protocol/membership.ts';
import type { Ack, Alive, Dead, MemberRecord, MembershipMessage, MembershipUpdate, Ping, PingReq, PushPull, Suspect, Tags } from '../protocol/membership.ts';
import type { SeededPrng } from '../raft/prng.ts';
import type { Simulation } from './engine.ts';
import type { MembershipSink } from './membership-layer.ts';
import { tagsBytes, updateBytes, varintBytes } from './message-size.ts';

export type SwimModelOptions = {
  ids: readonly string[];
  addresses: readonly string[];
  config: MembershipConfig;
  /** 1 where a real core runs the node (the model leaves it alone). */
  isCore: Uint8Array;
  tags: Tags;
};

type Relay = { requester: number; requesterSeq: number; wantNack: boolean; nackAtMs: number; expiresAtMs: number };

const NACK_FRACTION = 0.8;
const ANSWERED_ACCUSERS_MAX = 1_024;
/** A push-pull between model nodes that lists only the records that differ from the baseline. */
const compactPushPulls = new WeakSet<PushPull>();

export class SwimModel {
  readonly stats = {
    probesSent: 0, probesFailed: 0, indirectProbesRequested: 0, indirectProbesRelayed: 0, indirectProbesDropped: 0,
    nacksReceived: 0, refutations: 0, accusersAnswered: 0, suspicionChecksSent: 0, misdirectedPings: 0, pushPullsSent: 0, reconnectsSent: 0,
  };
  private readonly sim: Simulation;
  private readonly sink: MembershipSink;
  private readonly config: MembershipConfig;
  private readonly ids: readonly string[];
  private readonly addresses: readonly string[];
  private readonly tags: Tags;
  private readonly isCore: Uint8Array;
  private readonly n: number;
  private readonly indexById = new Map<string, number>();
  private readonly prngs: (SeededPrng | undefined)[];
  // Per node: own incarnation, leaving, Lifeguard score, timers, the probe in progress.
  private readonly incarnation: Float64Array;
  private readonly leaving: Uint8Array;
  private readonly down: Uint8Array;
  private readonly awareness: Uint8Array;
  private readonly nextProbeAtMs: Float64Array;
  private readonly nextPushPullAtMs: Float64Array;
  private readonly nextReconnectAtMs: Float64Array;
  private readonly nowMs: Float64Array;
  private readonly seq: Float64Array;
  private readonly probeTarget: Int32Array;
  private readonly probeSeq: Float64Array;
  private readonly probeIndirectAtMs: Float64Array;
  private readonly probeEndAtMs: Float64Array;
  private readonly probeIndirectSent: Uint8Array;
  private readonly probeExpectedNacks: Int32Array;
  private readonly probeNacks: Int32Array;
  // The probe order: position `orderPos` of the permutation s = (a * pos + b) mod n.
  private readonly orderA: Float64Array;
  private readonly orderB: Float64Array;
  private readonly orderPos: Float64Array;
  // How many members each node sees suspect, dead, left (itself included): the core's stateCounts.
  private readonly suspectCount: Int32Array;
  private readonly deadCount: Int32Array;
  private readonly leftCount: Int32Array;
  /**
   * Per observer, how its view differs from the baseline: subject ->
   * incarnation * 4 + state. One map per observer (a single map would hit
   * V8's limit of 2^24 entries when loss makes thousands of members refute).
   */
  private readonly overrides: (Map<number, number> | undefined)[];
  /** The baseline: every member alive at this incarnation, unless an observer's override says otherwise. */
  private readonly baseIncarnation: Float64Array;
  /** Per subject: how many observers hold an override for it, and when its baseline was last checked for folding. */
  private readonly overrideCount: Int32Array;
  private readonly foldCheckedAtMs: Float64Array;
  private upModelNodes = 0;
  private readonly suspicions = new Map<number, Suspicion>();
  private readonly checks = new Map<number, number[]>();
  /** Per observer, the subjects with a running suspicion or pending checks (for timers). */
  private readonly suspected: (Set<number> | undefined)[];
  private readonly queues: (BroadcastQueue<MembershipUpdate> | undefined)[];
  private readonly relays: (Map<number, Relay> | undefined)[];
  private readonly answered: (Map<string, number> | undefined)[];

  constructor(sim: Simulation, sink: MembershipSink, options: SwimModelOptions) {
    this.sim = sim;
    this.sink = sink;
    this.config = options.config;
    this.ids = options.ids;
    this.addresses = options.addresses;
    this.tags = options.tags;
    this.isCore = options.isCore;
    const n = options.ids.length;
    this.n = n;
    options.ids.forEach((id, i) => this.indexById.set(id, i));
    this.prngs = new Array(n);
    const f64 = () => new Float64Array(n);
    this.incarnation = f64().fill(1);
    this.leaving = new Uint8Array(n);
    this.down = new Uint8Array(n);
    this.awareness = new Uint8Array(n);
    this.nextProbeAtMs = f64();
    this.nextPushPullAtMs = f64();
    this.nextReconnectAtMs = f64();
    this.nowMs = f64();
    this.seq = f64();
    this.probeTarget = new Int32Array(n).fill(-1);
    this.probeSeq = f64();
    this.probeIndirectAtMs = f64();
    this.probeEndAtMs = f64();
    this.probeIndirectSent = new Uint8Array(n);
    this.probeExpectedNacks = new Int32Array(n);
    this.probeNacks = new Int32Array(n);
    this.orderA = f64();
    this.orderB = f64();
    this.orderPos = f64();
    this.suspectCount = new Int32Array(n);
    this.deadCount = new Int32Array(n);
    this.leftCount = new Int32Array(n);
    this.overrides = new Array(n);
    this.baseIncarnation = new Float64Array(n).fill(1);
    this.overrideCount = new Int32Array(n);
    this.foldCheckedAtMs = new Float64Array(n).fill(-Infinity);
    this.suspected = new Array(n);
    this.queues = new Array(n);
    this.relays = new Array(n);
    this.answered = new Array(n);
  }

  /** Every model node starts in the steady state, its timers staggered as the core staggers them. */
  startWarm(): void {
    for (let i = 0; i < this.n; i++) {
      if (this.isCore[i] === 1) continue;
      this.upModelNodes++;
      const prng = this.sim.fork(0x20000 + i);
      this.prngs[i] = prng;
      const now = this.sim.localNowMs(i);
      this.nowMs[i] = now;
      this.nextProbeAtMs[i] = now + stagger(this.config.probeIntervalMs, prng);
      this.nextPushPullAtMs[i] = now + stagger(this.config.pushPullIntervalMs, prng);
      this.nextReconnectAtMs[i] = now + stagger(this.config.reconnectIntervalMs, prng);
      this.reshuffle(i);
      this.wake(i);
    }
  }

  crash(node: number): void {
    this.probeTarget[node] = -1;
    if (this.down[node] === 0) {
      this.down[node] = 1;
      this.upModelNodes--;
    }
  }

  restart(node: number): void {
    throw new Error(`node ${this.ids[node]} runs on the compact model, which does not restart nodes: run the scenario with fidelity.core_nodes = "all"`);
  }

  leave(node: number): void {
    const now = this.sim.localNowMs(node);
    this.advance(node, now);
    if (this.leaving[node] === 0) {
      // The core's leave: a Dead about ourselves from ourselves, applied (we are now "left"), queued and published.
      this.leaving[node] = 1;
      this.probeTarget[node] = -1;
      const dead: Dead = { type: MembershipMessageType.Dead, node: this.ids[node]!, incarnation: this.incarnation[node]!, from: this.ids[node]! };
      this.enqueue(node, dead);
      this.leftCount[node]!++;
      this.sink.event(node, node, 'left');
      this.sink.broadcast(node, dead);
    }
    this.wake(node);
  }

  tick(node: number, nowMs: number): void {
    this.advance(node, nowMs);
    this.wake(node);
  }

  handle(node: number, from: number, message: MembershipMessage, nowMs: number): void {
    this.advance(node, nowMs);
    switch (message.type) {
      case MembershipMessageType.Ping:
        this.applyUpdates(node, message.updates);
        this.handlePing(node, from, message);
        break;
      case MembershipMessageType.Ack:
        this.applyUpdates(node, message.updates);
        this.handleAck(node, message);
        break;
      case MembershipMessageType.PingReq:
        this.applyUpdates(node, message.updates);
        this.handlePingReq(node, message);
        break;
      case MembershipMessageType.Alive:
      case MembershipMessageType.Suspect:
      case MembershipMessageType.Dead:
        this.applyUpdate(node, message);
        break;
      case MembershipMessageType.PushPull:
        this.mergeRemoteState(node, message.members);
        if (!message.reply) this.sendPushPull(node, from, message.join, true);
        break;
    }
    this.wake(node);
  }

  sendFailed(node: number, to: number, message: MembershipMessage, nowMs: number): void {
    this.advance(node, nowMs);
    if (message.type === MembershipMessageType.Ping && this.probeTarget[node] === to && message.seq === this.probeSeq[node] && this.probeIndirectSent[node] === 0) {
      this.sendIndirectProbes(node);
    }
    this.wake(node);
  }

  stateSeenBy(observer: number, subject: number): MemberState | undefined {
    return this.stateOf(observer, subject);
  }

  aliveSeenBy(observer: number): number {
    return this.n - this.suspectCount[observer]! - this.deadCount[observer]! - this.leftCount[observer]!;
  }

  // ---------------------------------------------------------------- the view

  private stateOf(observer: number, subject: number): MemberState {
    if (observer === subject) return this.leaving[observer] === 1 ? MemberState.Left : MemberState.Alive;
    const packed = this.overrides[observer]?.get(subject);
    return packed === undefined ? MemberState.Alive : (packed % 4) as MemberState;
  }

  private incarnationOf(observer: number, subject: number): number {
    if (observer === subject) return this.incarnation[observer]!;
    const packed = this.overrides[observer]?.get(subject);
    return packed === undefined ? this.baseIncarnation[subject]! : Math.floor(packed / 4);
  }

  private setView(observer: number, subject: number, state: MemberState, incarnation: number): void {
    this.count(observer, this.stateOf(observer, subject), -1);
    this.count(observer, state, 1);
    let overrides = this.overrides[observer];
    if (state === MemberState.Alive && incarnation === this.baseIncarnation[subject]) {
      if (overrides?.delete(subject) === true) this.overrideCount[subject]!--;
      return;
    }
    if (overrides === undefined) this.overrides[observer] = overrides = new Map();
    if (!overrides.has(subject)) this.overrideCount[subject]!++;
    overrides.set(subject, incarnation * 4 + state);
    if (state === MemberState.Alive) this.maybeFold(subject, incarnation);
  }

  /**
   * Once every running model node sees `subject` alive at `incarnation` (a
   * refutation has spread), that becomes the baseline and the overrides go:
   * without this, a lossy run would keep one record per node for every
   * member that ever refuted, N^2 again. Checked at most once a second per subject.
   */
  private maybeFold(subject: number, incarnation: number): void {
    const now = this.sim.nowMs;
    if (this.overrideCount[subject]! < this.upModelNodes - 1 || now - this.foldCheckedAtMs[subject]! < 1_000) return;
    this.foldCheckedAtMs[subject] = now;
    for (let observer = 0; observer < this.n; observer++) {
      if (observer === subject || this.isCore[observer] === 1 || this.down[observer] === 1) continue;
      if (this.stateOf(observer, subject) !== MemberState.Alive || this.incarnationOf(observer, subject) !== incarnation) return;
    }
    this.baseIncarnation[subject] = incarnation;
    for (let observer = 0; observer < this.n; observer++) {
      const overrides = this.overrides[observer];
      const packed = overrides?.get(subject);
      if (packed === incarnation * 4 + MemberState.Alive) {
        overrides!.delete(subject);
        this.overrideCount[subject]!--;
      }
    }
  }

  private count(observer: number, state: MemberState, delta: number): void {
    if (state === MemberState.Suspect) this.suspectCount[observer]! += delta;
    else if (state === MemberState.Dead) this.deadCount[observer]! += delta;
    else if (state === MemberState.Left) this.leftCount[observer]! += delta;
  }

  private liveCount(observer: number): number {
    return this.n - this.deadCount[observer]! - this.leftCount[observer]!;
  }

  // ---------------------------------------------------------------- timers

  private advance(i: number, now: number): void {
    if (!(now >= this.nowMs[i]!)) throw new RangeError(`time went backwards at ${this.ids[i]}: ${now} after ${this.nowMs[i]}`);
    this.nowMs[i] = now;
    this.runRelayTimers(i);
    this.runProbeTimers(i);
    this.runSuspicionTimers(i);
    if (this.leaving[i] === 1) return;
    const config = this.config;
    if (config.pushPullIntervalMs > 0 && now >= this.nextPushPullAtMs[i]!) {
      this.nextPushPullAtMs[i] = now + pushPullScaleMs(config.pushPullIntervalMs, this.liveCount(i));
      const peer = this.randomMembers(i, 1, (s) => this.stateOf(i, s) === MemberState.Alive)[0];
      if (peer !== undefined) this.sendPushPull(i, peer, false, false);
    }
    if (config.reconnectIntervalMs > 0 && now >= this.nextReconnectAtMs[i]!) {
      this.nextReconnectAtMs[i] = now + config.reconnectIntervalMs;
      this.reconnect(i);
    }
  }

  private runProbeTimers(i: number): void {
    const now = this.nowMs[i]!;
    if (this.probeTarget[i]! >= 0 && this.probeIndirectSent[i] === 0 && now >= this.probeIndirectAtMs[i]!) this.sendIndirectProbes(i);
    if (this.probeTarget[i]! >= 0 && now >= this.probeEndAtMs[i]!) this.probeFailed(i);
    if (this.leaving[i] === 0 && now >= this.nextProbeAtMs[i]!) this.startProbe(i);
  }

  private runSuspicionTimers(i: number): void {
    const suspected = this.suspected[i];
    if (suspected === undefined || suspected.size === 0) return;
    const now = this.nowMs[i]!;
    for (const s of [...suspected]) {
      const key = i * this.n + s;
      const suspicion = this.suspicions.get(key);
      if (suspicion !== undefined && now >= suspicion.deadlineMs()) {
        this.clearSuspicion(i, s);
        if (this.stateOf(i, s) === MemberState.Suspect) {
          const dead: Dead = { type: MembershipMessageType.Dead, node: this.ids[s]!, incarnation: this.incarnationOf(i, s), from: this.ids[i]! };
          if (this.applyDead(i, dead)) this.sink.broadcast(i, dead);
        }
        continue;
      }
      // The suspicion checks: direct pings to the suspect, carrying the suspicion.
      const checks = this.checks.get(key);
      if (checks === undefined || now < checks[0]!) continue;
      while (checks.length > 0 && now >= checks[0]!) checks.shift();
      if (checks.length === 0) {
        this.checks.delete(key);
        if (!this.suspicions.has(key)) suspected.delete(s);
      }
      if (this.stateOf(i, s) !== MemberState.Suspect || this.leaving[i] === 1) continue;
      const prefix: Suspect = { type: MembershipMessageType.Suspect, node: this.ids[s]!, incarnation: this.incarnationOf(i, s), from: this.ids[i]! };
      this.sink.send(i, s, { type: MembershipMessageType.Ping, seq: ++this.seq[i]!, target: this.ids[s]!, updates: this.piggyback(i, prefix) });
      this.stats.suspicionChecksSent++;
    }
  }

  private runRelayTimers(i: number): void {
    const relays = this.relays[i];
    if (relays === undefined || relays.size === 0) return;
    const now = this.nowMs[i]!;
    for (const [seq, relay] of relays) {
      if (relay.wantNack && now >= relay.nackAtMs) {
        relay.wantNack = false;
        this.sink.send(i, relay.requester, { type: MembershipMessageType.Ack, seq: relay.requesterSeq, nack: true, updates: this.piggyback(i, null) });
      }
      if (now >= relay.expiresAtMs) relays.delete(seq);
    }
  }

  private wake(i: number): void {
    let wake = Infinity;
    if (this.leaving[i] === 0) {
      wake = this.nextProbeAtMs[i]!;
      if (this.config.pushPullIntervalMs > 0) wake = Math.min(wake, this.nextPushPullAtMs[i]!);
      if (this.config.reconnectIntervalMs > 0) wake = Math.min(wake, this.nextReconnectAtMs[i]!);
    }
    if (this.probeTarget[i]! >= 0) wake = Math.min(wake, this.probeIndirectSent[i] === 1 ? this.probeEndAtMs[i]! : this.probeIndirectAtMs[i]!);
    const relays = this.relays[i];
    if (relays !== undefined) for (const relay of relays.values()) wake = Math.min(wake, relay.wantNack ? relay.nackAtMs : relay.expiresAtMs);
    const suspected = this.suspected[i];
    if (suspected !== undefined) {
      for (const s of suspected) {
        const key = i * this.n + s;
        const suspicion = this.suspicions.get(key);
        if (suspicion !== undefined) wake = Math.min(wake, suspicion.deadlineMs());
        const checks = this.checks.get(key);
        if (checks !== undefined && checks.length > 0) wake = Math.min(wake, checks[0]!);
      }
    }
    if (Number.isFinite(wake)) this.sink.wake(i, Math.max(wake, this.nowMs[i]!));
  }

  // ---------------------------------------------------------------- probing

  private startProbe(i: number): void {
    const now = this.nowMs[i]!;
    const scale = this.awareness[i]! + 1;
    this.nextProbeAtMs[i] = now + this.config.probeIntervalMs * scale;
    const target = this.nextProbeTarget(i);
    if (target < 0) return;
    const seq = ++this.seq[i]!;
    this.probeTarget[i] = target;
    this.probeSeq[i] = seq;
    this.probeIndirectAtMs[i] = now + this.config.probeTimeoutMs * scale;
    this.probeEndAtMs[i] = now + this.config.probeIntervalMs * scale;
    this.probeIndirectSent[i] = 0;
    this.probeExpectedNacks[i] = 0;
    this.probeNacks[i] = 0;
    const prefix: Suspect | null = this.stateOf(i, target) === MemberState.Suspect
      ? { type: MembershipMessageType.Suspect, node: this.ids[target]!, incarnation: this.incarnationOf(i, target), from: this.ids[i]! }
      : null;
    this.sink.send(i, target, { type: MembershipMessageType.Ping, seq, target: this.ids[target]!, updates: this.piggyback(i, prefix) });
    this.stats.probesSent++;
  }

  private nextProbeTarget(i: number): number {
    const n = this.n;
    for (let checks = 0; checks < n;) {
      if (this.orderPos[i]! >= n) {
        this.reshuffle(i);
        checks++;
        continue;
      }
      const s = (this.orderA[i]! * this.orderPos[i]!++ + this.orderB[i]!) % n;
      const state = this.stateOf(i, s);
      if (s === i || state === MemberState.Dead || state === MemberState.Left) {
        checks++;
        continue;
      }
      return s;
    }
    return -1;
  }

  /** A new random permutation s = (a * pos + b) mod n, with a coprime to n. */
  private reshuffle(i: number): void {
    const prng = this.prngs[i]!;
    let a = 1 + prng.nextInt(Math.max(1, this.n - 1));
    while (gcd(a, this.n) !== 1) a = 1 + prng.nextInt(Math.max(1, this.n - 1));
    this.orderA[i] = a;
    this.orderB[i] = prng.nextInt(this.n);
    this.orderPos[i] = 0;
  }

  private sendIndirectProbes(i: number): void {
    this.probeIndirectSent[i] = 1;
    const target = this.probeTarget[i]!;
    const peers = this.randomMembers(i, this.config.indirectChecks, (s) => s !== target && this.stateOf(i, s) === MemberState.Alive);
    const timeoutMs = Math.max(0, this.probeEndAtMs[i]! - this.nowMs[i]!);
    for (const peer of peers) {
      this.probeExpectedNacks[i]!++;
      const request: PingReq = {
        type: MembershipMessageType.PingReq, seq: this.probeSeq[i]!, target: this.ids[target]!, targetAddress: this.addresses[target]!,
        requester: this.ids[i]!, nack: true, timeoutMs, updates: this.piggyback(i, null),
      };
      this.sink.send(i, peer, request);
      this.stats.indirectProbesRequested++;
    }
  }

  private probeFailed(i: number): void {
    const target = this.probeTarget[i]!;
    this.probeTarget[i] = -1;
    this.stats.probesFailed++;
    const expected = this.probeExpectedNacks[i]!;
    this.applyAwareness(i, expected > 0 ? expected - Math.min(this.probeNacks[i]!, expected) : 1);
    const suspect: Suspect = { type: MembershipMessageType.Suspect, node: this.ids[target]!, incarnation: this.incarnationOf(i, target), from: this.ids[i]! };
    if (this.applySuspect(i, suspect)) this.sink.broadcast(i, suspect);
  }

  private handlePing(i: number, from: number, ping: Ping): void {
    if (ping.target !== this.ids[i]) {
      this.stats.misdirectedPings++;
      return;
    }
    const self = this.ids[i]!;
    let prefix: MembershipUpdate | null = null;
    if (this.leaving[i] === 0 && ping.updates.some((update) => update.node === self && update.type !== MembershipMessageType.Alive)) {
      prefix = this.selfAlive(i);
    } else if (from !== i && this.leaving[i] === 0) {
      const state = this.stateOf(i, from);
      if (state === MemberState.Suspect) {
        prefix = { type: MembershipMessageType.Suspect, node: this.ids[from]!, incarnation: this.incarnationOf(i, from), from: self };
      } else if (state === MemberState.Dead || state === MemberState.Left) {
        prefix = { type: MembershipMessageType.Dead, node: this.ids[from]!, incarnation: this.incarnationOf(i, from), from: self };
      }
    }
    this.sink.send(i, from, { type: MembershipMessageType.Ack, seq: ping.seq, nack: false, updates: this.piggyback(i, prefix) });
  }

  private handleAck(i: number, ack: Ack): void {
    if (this.probeTarget[i]! >= 0 && ack.seq === this.probeSeq[i]) {
      if (ack.nack) {
        this.stats.nacksReceived++;
        if (this.probeNacks[i]! < this.probeExpectedNacks[i]!) this.probeNacks[i]!++;
        return;
      }
      this.probeTarget[i] = -1;
      this.applyAwareness(i, -1);
      return;
    }
    const relays = this.relays[i];
    const relay = relays?.get(ack.seq);
    if (relay !== undefined && !ack.nack) {
      relays!.delete(ack.seq);
      this.sink.send(i, relay.requester, { type: MembershipMessageType.Ack, seq: relay.requesterSeq, nack: false, updates: this.piggyback(i, null) });
      this.stats.indirectProbesRelayed++;
    }
  }

  private handlePingReq(i: number, request: PingReq): void {
    const requester = this.indexById.get(request.requester);
    const target = this.indexById.get(request.target);
    if (requester === undefined || target === undefined) return;
    if (target === i) {
      this.sink.send(i, requester, { type: MembershipMessageType.Ack, seq: request.seq, nack: false, updates: this.piggyback(i, null) });
      return;
    }
    let relays = this.relays[i];
    if (relays === undefined) this.relays[i] = relays = new Map();
    if (relays.size >= this.config.maxIndirectProbes) {
      this.stats.indirectProbesDropped++;
      return;
    }
    const seq = ++this.seq[i]!;
    const now = this.nowMs[i]!;
    relays.set(seq, {
      requester, requesterSeq: request.seq, wantNack: request.nack,
      nackAtMs: now + Math.floor(request.timeoutMs * NACK_FRACTION), expiresAtMs: now + request.timeoutMs,
    });
    this.sink.send(i, target, { type: MembershipMessageType.Ping, seq, target: request.target, updates: this.piggyback(i, null) });
  }

  // ---------------------------------------------------------------- push-pull

  private sendPushPull(i: number, to: number, join: boolean, reply: boolean): void {
    const message: PushPull = { type: MembershipMessageType.PushPull, join, reply, members: this.localState(i, this.isCore[to] === 0) };
    if (this.isCore[to] === 0) compactPushPulls.add(message);
    this.sink.send(i, to, message, this.pushPullBytes(i));
    if (!reply) this.stats.pushPullsSent++;
  }

  /** Our records: all of them for a real core, only those that differ from the baseline (and our own) for a model node. */
  private localState(i: number, compact: boolean): MemberRecord[] {
    const records: MemberRecord[] = [];
    const record = (s: number): MemberRecord => ({
      node: this.ids[s]!, address: this.addresses[s]!, incarnation: this.incarnationOf(i, s), state: this.stateOf(i, s), tags: this.tags,
    });
    if (!compact) {
      for (let s = 0; s < this.n; s++) records.push(record(s));
      return records;
    }
    records.push(record(i));
    for (const s of this.overrides[i]?.keys() ?? []) records.push(record(s));
    return records;
  }

  /** What the full exchange would weigh on the wire. */
  private pushPullBytes(i: number): number {
    const recordBytes = 2 + this.ids[i]!.length + 1 + this.addresses[i]!.length + 1 + 1 + tagsBytes(this.tags);
    return 3 + varintBytes(this.n) + this.n * recordBytes;
  }

  private reconnect(i: number): void {
    const failed = this.deadCount[i]!;
    if (failed === 0) return;
    const prng = this.prngs[i]!;
    const alive = this.n - this.suspectCount[i]! - failed - this.leftCount[i]!;
    if (prng.nextFloat() >= reconnectProbability(failed, alive)) return;
    let pick = prng.nextInt(failed);
    for (const s of this.overrides[i]?.keys() ?? []) {
      if (this.stateOf(i, s) !== MemberState.Dead || pick-- > 0) continue;
      this.sendPushPull(i, s, false, false);
      this.stats.reconnectsSent++;
      return;
    }
  }

  private mergeRemoteState(i: number, records: readonly MemberRecord[]): void {
    for (const record of records) {
      switch (record.state) {
        case MemberState.Alive:
          this.applyAlive(i, { type: MembershipMessageType.Alive, node: record.node, incarnation: record.incarnation, address: record.address, tags: record.tags });
          break;
        case MemberState.Left:
          this.applyDead(i, { type: MembershipMessageType.Dead, node: record.node, incarnation: record.incarnation, from: record.node });
          break;
        case MemberState.Dead:
        case MemberState.Suspect:
          this.applySuspect(i, { type: MembershipMessageType.Suspect, node: record.node, incarnation: record.incarnation, from: this.ids[i]! });
          break;
      }
    }
  }

  // ---------------------------------------------------------------- state rules

  private applyUpdates(i: number, updates: readonly MembershipUpdate[]): void {
    for (const update of updates) this.applyUpdate(i, update);
  }

  private applyUpdate(i: number, update: MembershipUpdate): void {
    switch (update.type) {
      case MembershipMessageType.Alive: this.applyAlive(i, update); break;
      case MembershipMessageType.Suspect: this.applySuspect(i, update); break;
      case MembershipMessageType.Dead: this.applyDead(i, update); break;
    }
  }

  private applyAlive(i: number, alive: Alive): boolean {
    const s = this.indexById.get(alive.node);
    if (s === undefined) return false;
    const isSelf = s === i;
    const current = this.incarnationOf(i, s);
    if (!isSelf && alive.incarnation <= current) return false;
    if (isSelf && alive.incarnation < current) return false;
    this.clearSuspicion(i, s);
    if (isSelf) {
      if (this.leaving[i] === 1 || alive.incarnation === current) return false;
      this.refute(i, alive.incarnation, null);
      return false;
    }
    const previous = this.stateOf(i, s);
    this.enqueue(i, alive);
    this.setView(i, s, MemberState.Alive, alive.incarnation);
    if (previous === MemberState.Dead || previous === MemberState.Left) this.sink.event(i, s, 'joined');
    else if (previous === MemberState.Suspect) this.sink.event(i, s, 'alive');
    return true;
  }

  private applySuspect(i: number, suspect: Suspect): boolean {
    const s = this.indexById.get(suspect.node);
    if (s === undefined) return false;
    if (suspect.incarnation < this.incarnationOf(i, s)) {
      if (s === i) this.answerStaleAccusation(i, suspect.from);
      return false;
    }
    const key = i * this.n + s;
    const suspicion = this.suspicions.get(key);
    if (suspicion !== undefined) {
      if (!suspicion.confirm(suspect.from)) return false;
      this.enqueue(i, suspect);
      return true;
    }
    if (this.stateOf(i, s) !== MemberState.Alive) return false;
    if (s === i) {
      if (this.leaving[i] === 0) this.refute(i, suspect.incarnation, suspect.from);
      return false;
    }
    this.enqueue(i, suspect);
    this.setView(i, s, MemberState.Suspect, suspect.incarnation);
    const config = this.config;
    const clusterSize = this.liveCount(i);
    const expected = clusterSize - 2 < config.suspicionMultiplier - 2 ? 0 : config.suspicionMultiplier - 2;
    const minMs = suspicionTimeoutMs(config.suspicionMultiplier, clusterSize, config.probeIntervalMs);
    const now = this.nowMs[i]!;
    this.suspicions.set(key, new Suspicion(suspect.from, expected, minMs, config.suspicionMaxTimeoutMultiplier * minMs, now));
    let suspected = this.suspected[i];
    if (suspected === undefined) this.suspected[i] = suspected = new Set();
    suspected.add(s);
    if (config.suspicionChecks > 0) {
      const spacingMs = minMs / (config.suspicionChecks + 1);
      const prng = this.prngs[i]!;
      const checks: number[] = [];
      for (let k = 1; k <= config.suspicionChecks; k++) checks.push(now + Math.max(1, Math.floor(spacingMs * (k + prng.nextFloat() / 2))));
      this.checks.set(key, checks);
    }
    this.sink.event(i, s, 'suspect');
    return true;
  }

  private applyDead(i: number, dead: Dead): boolean {
    const s = this.indexById.get(dead.node);
    if (s === undefined) return false;
    if (dead.incarnation < this.incarnationOf(i, s)) {
      if (s === i) this.answerStaleAccusation(i, dead.from);
      return false;
    }
    this.clearSuspicion(i, s);
    const left = dead.from === dead.node;
    const state = this.stateOf(i, s);
    if (s !== i && (state === MemberState.Left || (state === MemberState.Dead && !left))) return false;
    if (s === i) {
      // Our own leave is applied once, in leave(); anything else about us is refuted.
      if (this.leaving[i] === 0) this.refute(i, dead.incarnation, dead.from);
      return false;
    }
    this.enqueue(i, dead);
    this.setView(i, s, left ? MemberState.Left : MemberState.Dead, dead.incarnation);
    this.sink.event(i, s, left ? 'left' : 'failed');
    return true;
  }

  private clearSuspicion(i: number, s: number): void {
    const key = i * this.n + s;
    const hadSuspicion = this.suspicions.delete(key);
    const hadChecks = this.checks.delete(key);
    if (hadSuspicion || hadChecks) this.suspected[i]?.delete(s);
  }

  private refute(i: number, accusedIncarnation: number, accuser: string | null): void {
    let incarnation = this.incarnation[i]! + 1;
    if (accusedIncarnation >= incarnation) incarnation = accusedIncarnation + 1;
    this.incarnation[i] = incarnation;
    this.applyAwareness(i, 1);
    this.stats.refutations++;
    const alive = this.selfAlive(i);
    this.enqueue(i, alive);
    this.sink.broadcast(i, alive);
    if (accuser !== null) this.answerAccuser(i, accuser);
  }

  private answerStaleAccusation(i: number, accuser: string): void {
    if (this.leaving[i] === 1) return;
    this.enqueue(i, this.selfAlive(i));
    this.answerAccuser(i, accuser);
  }

  private answerAccuser(i: number, accuser: string): void {
    if (accuser === this.ids[i] || this.leaving[i] === 1) return;
    const to = this.indexById.get(accuser);
    if (to === undefined) return;
    const incarnation = this.incarnation[i]!;
    let answered = this.answered[i];
    if (answered === undefined) this.answered[i] = answered = new Map();
    if (answered.get(accuser) === incarnation) return;
    if (answered.size >= ANSWERED_ACCUSERS_MAX) answered.clear();
    answered.set(accuser, incarnation);
    this.stats.accusersAnswered++;
    this.sink.send(i, to, this.selfAlive(i));
  }

  // ---------------------------------------------------------------- bookkeeping

  private selfAlive(i: number): Alive {
    return { type: MembershipMessageType.Alive, node: this.ids[i]!, incarnation: this.incarnation[i]!, address: this.addresses[i]!, tags: this.tags };
  }

  private applyAwareness(i: number, delta: number): void {
    this.awareness[i] = Math.min(this.config.awarenessMaxMultiplier - 1, Math.max(0, this.awareness[i]! + delta));
  }

  private enqueue(i: number, update: MembershipUpdate): void {
    let queue = this.queues[i];
    if (queue === undefined) this.queues[i] = queue = new BroadcastQueue(this.config.retransmitMultiplier);
    queue.queue(update.node, update, updateBytes(update));
  }

  private piggyback(i: number, prefix: MembershipUpdate | null): MembershipUpdate[] {
    let budget = this.config.piggybackBytesMax;
    let maxItems = DEFAULT_MEMBERSHIP_LIMITS.maxUpdatesPerMessage;
    if (prefix !== null) {
      budget -= updateBytes(prefix);
      maxItems--;
    }
    const queue = this.queues[i];
    const updates = budget > 0 && queue !== undefined && queue.size() > 0 ? queue.take(budget, this.liveCount(i), maxItems) : [];
    if (prefix !== null) updates.unshift(prefix);
    return updates;
  }

  /** Up to `count` distinct random members other than `i` that pass `eligible` (at most 3n draws, as the core). */
  private randomMembers(i: number, count: number, eligible: (s: number) => boolean): number[] {
    const chosen: number[] = [];
    const prng = this.prngs[i]!;
    for (let draws = 0; draws < 3 * this.n && chosen.length < count; draws++) {
      const s = prng.nextInt(this.n);
      if (s === i || !eligible(s) || chosen.includes(s)) continue;
      chosen.push(s);
    }
    return chosen;
  }
}

function stagger(intervalMs: number, prng: SeededPrng): number {
  return intervalMs > 0 ? Math.floor(prng.nextFloat() * intervalMs) : 0;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Whether a push-pull lists only the records that differ from the baseline (between model nodes). */
export function isCompactPushPull(message: MembershipMessage): boolean {
  return message.type === MembershipMessageType.PushPull && compactPushPulls.has(message);
}

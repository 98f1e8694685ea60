// Runs the membership of every simulated node: the real MembershipCore
// (agent/membership/membership-core.ts, unmodified) on each node, or for
// very large clusters on a sample of nodes with the compact model
// (swim-model.ts) on the rest. It plays the part of the agent's adapter
// (agent/membership/membership-adapter.ts): it carries `sends` on the probe
// stream, publishes `broadcasts` on the gossip overlay, arms one timer per
// node for `wakeAtMs`, reports failed sends back, retries joins, and hands
// every member event to the recorder.
//
//   const layer = new MembershipLayer(sim, network, recorder, { ids, addresses, config, ... });
//   layer.startWarm();                   // steady state: everyone knows everyone
//   layer.crash(7); layer.restart(7, true);
//
// Fidelity options:
// - `codec`: every message is encoded with protocol/membership.ts and
//   decoded on arrival, so the run also exercises the wire format and no two
//   cores ever share a message object. Off, messages are passed by reference
//   (the cores never mutate what they receive) and sized arithmetically.
// - `feedback`: what the sender learns about a message that did not arrive.
//   'none' is memberlist's UDP (nothing); 'refused' reports sends to a
//   crashed process after a round trip (a TCP reset); 'stream' is the
//   agent's adapter: also any request that got no answer, after the request
//   timeout max(probeTimeoutMs, 500 ms).

import type { MembershipConfig } from '../agent/membership/config.ts';
import { MembershipCore } from '../agent/membership/membership-core.ts';
import type { MemberEventType, MembershipEffects } from '../agent/membership/membership-core.ts';
import { decodeMembershipMessage, encodeMembershipMessage, MembershipMessageType, MemberState } from '../protocol/membership.ts';
import type { MemberRecord, MembershipMessage, MembershipUpdate, Tags } from '../protocol/membership.ts';
import type { Simulation } from './engine.ts';
import type { GossipOverlay } from './gossipsub.ts';
import { messageBytes } from './message-size.ts';
import { Channel, SendOutcome } from './network.ts';
import type { Network, Transport } from './network.ts';
import type { Recorder } from './recorder.ts';
import type { SwimModel } from './swim-model.ts';

export type SendFeedback = 'none' | 'refused' | 'stream';

export type MembershipLayerOptions = {
  ids: readonly string[];
  addresses: readonly string[];
  tags: Tags;
  config: MembershipConfig;
  probeTransport: Transport;
  feedback: SendFeedback;
  codec: boolean;
  /** How often a node that knows nobody retries its join (the agent's -retry-join). */
  joinRetryMs: number;
  /** How long a leaving node keeps running so that its leave spreads. */
  leavePropagationMs: number;
};

/** What the model nodes need from the layer: the same plumbing the cores get. */
export type MembershipSink = {
  /** `sizeBytes` overrides the computed size (a compact push-pull standing for the full one). */
  send(from: number, to: number, message: MembershipMessage, sizeBytes?: number): void;
  broadcast(from: number, update: MembershipUpdate): void;
  event(observer: number, subject: number, type: 'joined' | 'alive' | 'suspect' | 'failed' | 'left'): void;
  wake(node: number, atLocalMs: number): void;
};

export class MembershipLayer {
  readonly ids: readonly string[];
  readonly addresses: readonly string[];
  readonly config: MembershipConfig;
  readonly nodes: number;
  private readonly sim: Simulation;
  private readonly network: Network;
  private readonly recorder: Recorder;
  private readonly options: MembershipLayerOptions;
  private overlay: GossipOverlay | null = null;
  private model: SwimModel | null = null;
  /** Real cores; null for a node that is down or run by the model. */
  readonly cores: (MembershipCore | null)[];
  /** 1 where the node runs the real core, 0 where the model runs it. */
  readonly isCore: Uint8Array;
  private readonly wakeAtMs: Float64Array;
  /** Highest incarnation each node used, for restarts that keep their data. */
  private readonly lastIncarnation: Float64Array;
  private readonly indexById = new Map<string, number>();
  private readonly indexByAddress = new Map<string, number>();
  private readonly joinSeeds: (readonly number[])[];
  private readonly DELIVER: number;
  private readonly WAKE: number;
  private readonly SEND_FAILED: number;
  private readonly JOIN_RETRY: number;
  private readonly SHUTDOWN: number;
  private readonly requestTimeoutMs: number;
  /** Every member event, after the recorder (the Raft layer's reconciler listens). */
  onMemberEvent: ((observer: number, subject: number, type: MemberEventType) => void) | null = null;
  readonly stats = { messagesDelivered: 0, sendsFailedReported: 0, broadcasts: 0, joinsAttempted: 0 };

  constructor(sim: Simulation, network: Network, recorder: Recorder, options: MembershipLayerOptions) {
    if (options.ids.length !== options.addresses.length) throw new RangeError('ids and addresses differ in length');
    this.sim = sim;
    this.network = network;
    this.recorder = recorder;
    this.options = options;
    this.ids = options.ids;
    this.addresses = options.addresses;
    this.config = options.config;
    this.nodes = options.ids.length;
    this.cores = new Array(this.nodes).fill(null);
    this.isCore = new Uint8Array(this.nodes).fill(1);
    this.wakeAtMs = new Float64Array(this.nodes).fill(Infinity);
    this.lastIncarnation = new Float64Array(this.nodes).fill(1);
    this.joinSeeds = new Array(this.nodes).fill([]);
    for (let i = 0; i < this.nodes; i++) {
      this.indexById.set(options.ids[i]!, i);
      this.indexByAddress.set(options.addresses[i]!, i);
    }
    this.requestTimeoutMs = Math.max(options.config.probeTimeoutMs, 500);
    const node = { node: true };
    this.DELIVER = sim.defineEvent('probe-deliver', (target, source, aux, ref) => this.onDeliver(target, source, aux, ref), node);
    this.WAKE = sim.defineEvent('membership-wake', (target, _source, aux) => this.onWake(target, aux), node);
    this.SEND_FAILED = sim.defineEvent('send-failed', (target, source, _aux, ref) => this.onSendFailed(target, source, ref as MembershipMessage), node);
    this.JOIN_RETRY = sim.defineEvent('join-retry', (target, _source, aux) => this.onJoinRetry(target, aux), node);
    this.SHUTDOWN = sim.defineEvent('leave-shutdown', (target, _source, aux) => {
      if (this.network.epoch[target] === aux) this.crash(target);
    });
  }

  /** The gossip overlay that carries broadcasts (set once, before starting). */
  attachOverlay(overlay: GossipOverlay): void {
    this.overlay = overlay;
  }

  /** Hands the nodes marked 0 in `coreMask` to the model. */
  attachModel(model: SwimModel, coreMask: Uint8Array): void {
    this.model = model;
    this.isCore.set(coreMask);
  }

  indexOf(id: string): number | undefined {
    return this.indexById.get(id);
  }

  /** The plumbing for the model. */
  sink(): MembershipSink {
    return {
      send: (from, to, message, sizeBytes) => this.transmit(from, to, message, sizeBytes),
      broadcast: (from, update) => this.publish(from, update),
      event: (observer, subject, type) => this.memberEvent(observer, subject, type),
      wake: (node, atLocalMs) => this.arm(node, atLocalMs),
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Steady state at time 0: every node runs and knows every other node alive
   * at incarnation 1, as after a completed join. Real cores learn it through
   * their own code path: one PushPull reply carrying every member.
   */
  startWarm(): void {
    const records: MemberRecord[] = [];
    for (let i = 0; i < this.nodes; i++) {
      records.push({ node: this.ids[i]!, address: this.addresses[i]!, incarnation: 1, state: MemberState.Alive, tags: this.options.tags });
    }
    for (let i = 0; i < this.nodes; i++) {
      if (this.isCore[i] === 0) continue;
      const core = this.createCore(i, 1);
      // Its first alive is old news in a steady state: everyone is about to be told of it below.
      const initial = core.takeEffects();
      initial.broadcasts.length = 0;
      this.apply(i, initial);
      const peer = this.ids[(i + 1) % this.nodes]!;
      this.apply(i, core.handleMessage(peer, { type: MembershipMessageType.PushPull, join: false, reply: true, members: records }, this.sim.localNowMs(i)));
    }
    this.model?.startWarm();
  }

  /** Starts node `node` from nothing and has it join through `seeds` (tried in order, retried until it knows someone). */
  startCold(node: number, seeds: readonly number[]): void {
    this.joinSeeds[node] = seeds.filter((seed) => seed !== node);
    if (this.isCore[node] === 0) throw new Error(`node ${node} is a model node; cold starts need real cores`);
    const core = this.createCore(node, 1);
    this.apply(node, core.takeEffects());
    this.attemptJoin(node, 0);
  }

  /** The process dies: no more messages in or out, no timers; its connections close. */
  crash(node: number): void {
    if (this.network.up[node] === 0) return;
    const core = this.cores[node];
    if (core !== null && core !== undefined) this.lastIncarnation[node] = Math.max(this.lastIncarnation[node]!, core.incarnation());
    if (this.isCore[node] === 0) this.model!.crash(node);
    this.cores[node] = null;
    this.wakeAtMs[node] = Infinity;
    this.network.crash(node);
    this.overlay?.disconnectAll(node);
    this.recorder.nodeDown(node);
  }

  /**
   * The process starts again under the same id and address. With its data
   * kept it starts above its last incarnation (the agent persists it);
   * without, at 1, and refutes its old self once it hears of it.
   */
  restart(node: number, dataKept: boolean, seeds: readonly number[]): void {
    if (this.network.up[node] === 1) return;
    if (this.isCore[node] === 0) this.model!.restart(node);
    this.network.restart(node);
    this.recorder.nodeUp(node);
    if (seeds.length > 0) this.joinSeeds[node] = seeds.filter((seed) => seed !== node);
    const core = this.createCore(node, dataKept ? this.lastIncarnation[node]! + 1 : 1);
    this.apply(node, core.takeEffects());
    this.attemptJoin(node, 0);
  }

  /** Graceful leave: announce, keep running `leavePropagationMs`, then stop. */
  leave(node: number): void {
    if (this.network.up[node] === 0) return;
    if (this.isCore[node] === 0) this.model!.leave(node);
    else {
      const core = this.cores[node]!;
      this.apply(node, core.leave(this.sim.localNowMs(node)));
    }
    this.sim.schedule(this.sim.nowMs + this.options.leavePropagationMs, this.SHUTDOWN, node, -1, this.network.epoch[node]!);
  }

  // ---------------------------------------------------------------- views

  /** The state `observer` holds for `subject` (undefined: unknown to it, or observer down). */
  stateSeenBy(observer: number, subject: number): MemberState | undefined {
    if (this.network.up[observer] === 0) return undefined;
    if (this.isCore[observer] === 0) return this.model!.stateSeenBy(observer, subject);
    return this.cores[observer]?.member(this.ids[subject]!)?.state;
  }

  /** How many members `observer` sees alive (itself included). */
  aliveSeenBy(observer: number): number {
    if (this.network.up[observer] === 0) return 0;
    if (this.isCore[observer] === 0) return this.model!.aliveSeenBy(observer);
    return this.cores[observer]?.countIn(MemberState.Alive) ?? 0;
  }

  /** Summed core counters (refutations, probes...), over real cores that are up. */
  coreStats(): Record<string, number> {
    const totals: Record<string, number> = {};
    for (const core of this.cores) {
      if (core === null) continue;
      for (const [name, value] of Object.entries(core.stats)) totals[name] = (totals[name] ?? 0) + value;
    }
    return totals;
  }

  // ---------------------------------------------------------------- plumbing

  private createCore(node: number, incarnation: number): MembershipCore {
    const core = new MembershipCore({
      node: this.ids[node]!,
      address: this.addresses[node]!,
      tags: this.options.tags,
      incarnation,
      config: this.config,
      prng: this.sim.fork(0x10000 + node),
      nowMs: this.sim.localNowMs(node),
    });
    this.cores[node] = core;
    return core;
  }

  private attemptJoin(node: number, seedIndex: number): void {
    const seeds = this.joinSeeds[node]!;
    if (seeds.length === 0) return;
    const core = this.cores[node];
    if (core === null || core === undefined) return;
    const seed = seeds[seedIndex % seeds.length]!;
    this.stats.joinsAttempted++;
    this.apply(node, core.join([this.addresses[seed]!], this.sim.localNowMs(node)));
    this.sim.schedule(this.sim.nowMs + this.options.joinRetryMs, this.JOIN_RETRY, node, -1, this.network.epoch[node]! * 65536 + ((seedIndex + 1) % 65536));
  }

  private onJoinRetry(node: number, aux: number): void {
    const seedIndex = aux % 65536;
    if (this.network.up[node] === 0 || (aux - seedIndex) / 65536 !== this.network.epoch[node]) return;
    const core = this.cores[node];
    if (core === null || core === undefined || core.memberList().length > 1) return;
    this.attemptJoin(node, seedIndex);
  }

  /** Carries out what one core call asked for. */
  private apply(node: number, effects: MembershipEffects): void {
    for (const send of effects.sends) {
      const to = send.to !== '' ? this.indexById.get(send.to) : this.indexByAddress.get(send.address);
      if (to === undefined) continue;
      this.transmit(node, to, send.message);
    }
    for (const update of effects.broadcasts) this.publish(node, update);
    for (const event of effects.events) {
      const subject = this.indexById.get(event.member.node);
      if (subject !== undefined) this.memberEvent(node, subject, event.type);
    }
    if (effects.wakeAtMs !== null) this.arm(node, effects.wakeAtMs);
  }

  private memberEvent(observer: number, subject: number, type: MemberEventType): void {
    this.recorder.memberEvent(observer, subject, type);
    this.onMemberEvent?.(observer, subject, type);
  }

  private arm(node: number, atLocalMs: number): void {
    const at = this.sim.virtualAtLocal(node, atLocalMs);
    if (at >= this.wakeAtMs[node]!) return;
    this.wakeAtMs[node] = at;
    this.sim.schedule(at, this.WAKE, node, -1, at);
  }

  private onWake(node: number, at: number): void {
    if (this.wakeAtMs[node] !== at || this.network.up[node] === 0) return;
    this.wakeAtMs[node] = Infinity;
    if (this.isCore[node] === 0) {
      this.model!.tick(node, this.sim.localNowMs(node));
      return;
    }
    const core = this.cores[node];
    if (core === null || core === undefined) return;
    this.apply(node, core.tick(this.sim.localNowMs(node)));
  }

  /** One message on the probe stream. */
  private transmit(from: number, to: number, message: MembershipMessage, sizeBytes?: number): void {
    let ref: MembershipMessage | Uint8Array = message;
    let size: number;
    if (this.options.codec && sizeBytes === undefined) {
      ref = encodeMembershipMessage(message);
      size = ref.length;
    } else {
      size = sizeBytes ?? messageBytes(message);
    }
    // A request opens (or reuses) a connection: gossipsub peers are the peers we talk to.
    if (this.overlay !== null && this.network.reachable(from, to)) this.overlay.connect(from, to);
    const outcome = this.network.send(from, to, Channel.Probe, size, this.options.probeTransport, this.DELIVER, ref);
    if (outcome === SendOutcome.Scheduled || outcome === SendOutcome.SenderDown) return;
    const feedback = this.options.feedback;
    if (feedback === 'none') return;
    if (outcome === SendOutcome.Refused) {
      this.sim.schedule(this.sim.nowMs + this.network.roundTripMs(from, to), this.SEND_FAILED, from, to, 0, message);
    } else if (feedback === 'stream') {
      this.sim.schedule(this.sim.nowMs + this.requestTimeoutMs, this.SEND_FAILED, from, to, 0, message);
    }
  }

  private publish(from: number, update: MembershipUpdate): void {
    this.stats.broadcasts++;
    if (this.overlay === null) return;
    if (this.options.codec) {
      const bytes = encodeMembershipMessage(update);
      this.overlay.publish(from, bytes, bytes.length);
    } else {
      this.overlay.publish(from, update, messageBytes(update));
    }
  }

  /** Gossip overlay delivery (wired by the runner). */
  deliverGossip(node: number, publisher: number, payload: unknown): void {
    this.handle(node, publisher, payload as MembershipMessage | Uint8Array);
  }

  private onDeliver(node: number, from: number, aux: number, ref: unknown): void {
    if (!this.network.accept(node, from, aux, this.options.probeTransport, Channel.Probe)) return;
    this.stats.messagesDelivered++;
    this.handle(node, from, ref as MembershipMessage | Uint8Array);
  }

  private handle(node: number, from: number, payload: MembershipMessage | Uint8Array): void {
    const message = payload instanceof Uint8Array ? decodeMembershipMessage(payload) : payload;
    if (this.isCore[node] === 0) {
      this.model!.handle(node, from, message, this.sim.localNowMs(node));
      return;
    }
    const core = this.cores[node];
    if (core === null || core === undefined) return;
    this.apply(node, core.handleMessage(this.ids[from]!, message, this.sim.localNowMs(node)));
  }

  private onSendFailed(node: number, to: number, message: MembershipMessage): void {
    if (this.network.up[node] === 0) return;
    this.stats.sendsFailedReported++;
    if (this.isCore[node] === 0) {
      this.model!.sendFailed(node, to, message, this.sim.localNowMs(node));
      return;
    }
    const core = this.cores[node];
    if (core === null || core === undefined) return;
    this.apply(node, core.sendFailed(this.ids[to]!, message, this.sim.localNowMs(node)));
  }
}

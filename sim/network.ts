// Simulated links between simulated nodes: latency per zone pair (any
// distribution), loss, duplication, reordering, per-node uplink bandwidth,
// partitions (total or one-way) that start and heal on a schedule, and nodes
// going down and coming back. It decides whether and when a message arrives;
// the subsystem that sent it (membership, gossip, Raft) owns the event kind
// that delivers it.
//
//   const network = new Network(sim, { nodes: 100, zoneOf, links, ... });
//   const outcome = network.send(from, to, Channel.Probe, bytes, Transport.Datagram, DELIVER_PROBE, message);
//   // in DELIVER_PROBE's handler: if (!network.accept(target, source, aux, Transport.Datagram)) return;
//
// Two transports, because the two families of systems differ exactly here:
// - Datagram (memberlist's UDP probes): a lost packet is gone.
// - Stream (TCP under libp2p: Tribune's probes, gossipsub, Raft): a lost
//   packet is retransmitted after a retransmission timeout that doubles each
//   time (Linux: 200 ms minimum), so loss becomes delay; after
//   `streamRetriesMax` losses in a row the connection is reset and the
//   message is lost (the sender sees an error).
// With `connectSetupMs`, the first stream message between two nodes (and any
// sent before the connection is up) waits for a connection handshake; a
// crash closes the node's connections, so a restart pays again.
// Messages across a partition are dropped on both transports (iptables DROP:
// the sender learns nothing until its own timeout). Messages to a node that
// is down are dropped; with `refusedWhenDown` the sender is told after one
// round trip (the host answers with a TCP reset, as after `kill -9`).

import type { SeededPrng } from '../raft/prng.ts';
import type { Distribution } from './distributions.ts';
import { sample } from './distributions.ts';
import type { Simulation } from './engine.ts';

/** What a message is, for the bandwidth accounting. */
export const Channel = { Probe: 0, Gossip: 1, Raft: 2, Client: 3 } as const;
export type Channel = (typeof Channel)[keyof typeof Channel];
export const CHANNEL_NAMES = ['probe', 'gossip', 'raft', 'client'] as const;
const CHANNELS = 4;

export const Transport = { Datagram: 0, Stream: 1 } as const;
export type Transport = (typeof Transport)[keyof typeof Transport];

/** What `send` did with a message. */
export const SendOutcome = {
  /** On its way (it may still be dropped on arrival if the target went down or a partition started). */
  Scheduled: 0,
  /** The target is down and refuses connections: tell the sender after a round trip. */
  Refused: 1,
  /** The target is down (host gone) or the link dropped it: the sender learns nothing. */
  Lost: 2,
  /** Dropped by a partition. */
  Partitioned: 3,
  /** The sender itself is down: nothing was sent. */
  SenderDown: 4,
} as const;
export type SendOutcome = (typeof SendOutcome)[keyof typeof SendOutcome];

/** The behaviour of the links from one zone to another. */
export type LinkProfile = {
  /** One-way latency. */
  latencyMs: Distribution;
  /** Chance each packet is lost (datagram) or must be retransmitted (stream). */
  lossRate: number;
  /** Chance a datagram is delivered twice (the copy takes its own latency). */
  duplicateRate: number;
  /** Chance a message is held back by `reorderDelayMs` more, so later ones overtake it. */
  reorderRate: number;
  reorderDelayMs: Distribution;
};

export const DEFAULT_LINK: Readonly<LinkProfile> = Object.freeze<LinkProfile>({
  latencyMs: { dist: 'lognormal', medianMs: 1, sigma: 0.4, max: 50 },
  lossRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  reorderDelayMs: { dist: 'uniform', min: 1, max: 20 },
});

export type NetworkOptions = {
  nodes: number;
  /** Zone of each node (index into zone names); all 0 without zones. */
  zoneOf: ArrayLike<number>;
  zones: number;
  /** links[fromZone * zones + toZone]. */
  links: LinkProfile[];
  /** Uplink of every node in bytes per second; 0 for unlimited. */
  uplinkBytesPerSecond: number;
  /** Messages to a node that is down are refused (the sender hears of it after a round trip) rather than silently lost. */
  refusedWhenDown: boolean;
  /** Stream transport: first retransmission timeout (doubles each time). */
  streamRtoMs: number;
  /** Stream transport: losses in a row before the connection resets and the message is lost. */
  streamRetriesMax: number;
  /**
   * Stream transport: setting up a connection (TCP, then Noise, Yamux and
   * identify under libp2p) before the first message between two nodes can
   * go; messages sent meanwhile wait for it. Null: connections are free.
   */
  connectSetupMs: Distribution | null;
  /** Chance that setting up a connection fails (a dial timeout, no usable address): what was sent on it is lost, the next send dials again. */
  connectFailRate: number;
};

/** One partition rule: nodes marked A cannot reach nodes marked B (and, unless one-way, B cannot reach A). */
type PartitionRule = { id: number; side: Uint8Array; oneWay: boolean };

/** `aux` of a delivery packs the target's epoch and the message size: epoch * SIZE_SPAN + size. */
const SIZE_SPAN = 1 << 24;
const SIDE_A = 1;
const SIDE_B = 2;

export class Network {
  readonly nodes: number;
  private readonly sim: Simulation;
  private readonly prng: SeededPrng;
  private readonly options: NetworkOptions;
  /** 1 while the node's process runs. */
  readonly up: Uint8Array;
  /** Bumped at every crash: stream messages sent to an earlier run of the process are dropped. */
  readonly epoch: Int32Array;
  /** Per node and channel: bytes and messages sent and received, counted from `countingFromMs`. */
  readonly bytesSent: Float64Array;
  readonly bytesReceived: Float64Array;
  readonly messagesSent: Float64Array;
  private readonly uplinkFreeAtMs: Float64Array;
  /** Extra loss on everything a node sends or receives (a bad NIC, a saturated switch port). */
  readonly nodeLossRate: Float32Array;
  /** Extra loss on every link (a timeline "loss" event without nodes). */
  globalLossRate = 0;
  private partitions: PartitionRule[] = [];
  /** Open stream connections by node pair (low * nodes + high): when each is ready, and the epochs it was opened at. */
  private readonly connections = new Map<number, { readyAtMs: number; epochLow: number; epochHigh: number; failed: boolean }>();
  private nextPartitionId = 1;
  countingFromMs = 0;
  readonly stats = {
    scheduled: 0, duplicated: 0, lostToLoss: 0, lostToPartition: 0, lostToDown: 0, refused: 0,
    droppedOnArrival: 0, retransmissions: 0, streamResets: 0, reordered: 0, failedDials: 0,
  };

  constructor(sim: Simulation, options: NetworkOptions) {
    if (options.links.length !== options.zones * options.zones) throw new RangeError(`expected ${options.zones * options.zones} link profiles, got ${options.links.length}`);
    this.sim = sim;
    this.options = options;
    this.nodes = options.nodes;
    this.prng = sim.fork(0x4e7);
    this.up = new Uint8Array(options.nodes).fill(1);
    this.epoch = new Int32Array(options.nodes);
    this.bytesSent = new Float64Array(options.nodes * CHANNELS);
    this.bytesReceived = new Float64Array(options.nodes * CHANNELS);
    this.messagesSent = new Float64Array(options.nodes * CHANNELS);
    this.uplinkFreeAtMs = new Float64Array(options.nodes);
    this.nodeLossRate = new Float32Array(options.nodes);
  }

  /**
   * Sends one message. On `Scheduled`, an event of `kind` will be delivered to
   * `to` with `source = from`, `ref`, and an `aux` that `accept` reads (the
   * target's epoch at sending and the size).
   */
  send(from: number, to: number, channel: Channel, sizeBytes: number, transport: Transport, kind: number, ref: unknown): SendOutcome {
    if (this.up[from] === 0) return SendOutcome.SenderDown;
    const now = this.sim.nowMs;
    if (now >= this.countingFromMs) {
      this.bytesSent[from * CHANNELS + channel]! += sizeBytes;
      this.messagesSent[from * CHANNELS + channel]!++;
    }
    if (this.up[to] === 0) {
      if (this.options.refusedWhenDown) {
        this.stats.refused++;
        return SendOutcome.Refused;
      }
      this.stats.lostToDown++;
      return SendOutcome.Lost;
    }
    if (this.partitions.length > 0 && this.blocked(from, to)) {
      this.stats.lostToPartition++;
      return SendOutcome.Partitioned;
    }
    const link = this.link(from, to);
    const lossRate = 1 - (1 - link.lossRate) * (1 - this.globalLossRate) * (1 - this.nodeLossRate[from]!) * (1 - this.nodeLossRate[to]!);
    let extraMs = 0;
    if (lossRate > 0) {
      if (transport === Transport.Datagram) {
        if (this.prng.nextFloat() < lossRate) {
          this.stats.lostToLoss++;
          return SendOutcome.Lost;
        }
      } else {
        // TCP: each loss costs a retransmission timeout, doubling; too many and the connection resets.
        let rto = this.options.streamRtoMs;
        let losses = 0;
        while (this.prng.nextFloat() < lossRate) {
          if (++losses > this.options.streamRetriesMax) {
            this.stats.streamResets++;
            return SendOutcome.Lost;
          }
          extraMs += rto;
          rto *= 2;
        }
        this.stats.retransmissions += losses;
      }
    }
    let departMs = now;
    const bandwidth = this.options.uplinkBytesPerSecond;
    if (bandwidth > 0) {
      departMs = Math.max(now, this.uplinkFreeAtMs[from]!) + (sizeBytes * 1000) / bandwidth;
      this.uplinkFreeAtMs[from] = departMs;
    }
    if (transport === Transport.Stream && this.options.connectSetupMs !== null) {
      const readyAtMs = this.connectionReadyAt(from, to);
      if (Number.isNaN(readyAtMs)) {
        this.stats.failedDials++;
        return SendOutcome.Lost;
      }
      departMs = Math.max(departMs, readyAtMs);
    }
    let arriveMs = departMs + extraMs + sample(link.latencyMs, this.prng);
    if (link.reorderRate > 0 && this.prng.nextFloat() < link.reorderRate) {
      arriveMs += sample(link.reorderDelayMs, this.prng);
      this.stats.reordered++;
    }
    const epoch = this.epoch[to]! * SIZE_SPAN + Math.min(sizeBytes, SIZE_SPAN - 1);
    this.stats.scheduled++;
    this.sim.schedule(Math.round(arriveMs), kind, to, from, epoch, ref);
    if (transport === Transport.Datagram && link.duplicateRate > 0 && this.prng.nextFloat() < link.duplicateRate) {
      this.stats.duplicated++;
      this.sim.schedule(Math.round(departMs + sample(link.latencyMs, this.prng)), kind, to, from, epoch, ref);
    }
    return SendOutcome.Scheduled;
  }

  /** Counts a message that certainly arrives and certainly changes nothing (a gossip duplicate), without scheduling it. */
  countOnly(from: number, to: number, channel: Channel, sizeBytes: number): void {
    if (this.sim.nowMs < this.countingFromMs) return;
    this.bytesSent[from * CHANNELS + channel]! += sizeBytes;
    this.messagesSent[from * CHANNELS + channel]!++;
    this.bytesReceived[to * CHANNELS + channel]! += sizeBytes;
  }

  /**
   * Whether a message arriving now may be handed to `to`: it is up, no
   * partition started while the message was in flight, and for a stream the
   * process is the one the message was sent to. Counts what it receives.
   */
  accept(to: number, from: number, aux: number, transport: Transport, channel: Channel): boolean {
    const sizeBytes = aux % SIZE_SPAN;
    const epochAtSend = (aux - sizeBytes) / SIZE_SPAN;
    if (this.up[to] === 0 || (transport === Transport.Stream && this.epoch[to] !== epochAtSend) ||
      (this.partitions.length > 0 && from >= 0 && this.blocked(from, to))) {
      this.stats.droppedOnArrival++;
      return false;
    }
    if (this.sim.nowMs >= this.countingFromMs) this.bytesReceived[to * CHANNELS + channel]! += sizeBytes;
    return true;
  }

  /**
   * When the stream connection between `a` and `b` is (or will be) ready;
   * opens it if there is none. NaN while a failed dial is still timing out:
   * what is sent then is lost, and the first send after it dials again.
   */
  private connectionReadyAt(a: number, b: number): number {
    const low = Math.min(a, b);
    const high = Math.max(a, b);
    const key = low * this.nodes + high;
    const now = this.sim.nowMs;
    const existing = this.connections.get(key);
    if (existing !== undefined && existing.epochLow === this.epoch[low] && existing.epochHigh === this.epoch[high] && !(existing.failed && now >= existing.readyAtMs)) {
      return existing.failed ? NaN : existing.readyAtMs;
    }
    const readyAtMs = now + sample(this.options.connectSetupMs!, this.prng);
    const failed = this.options.connectFailRate > 0 && this.prng.nextFloat() < this.options.connectFailRate;
    this.connections.set(key, { readyAtMs, epochLow: this.epoch[low]!, epochHigh: this.epoch[high]!, failed });
    return failed ? NaN : readyAtMs;
  }

  /** A round trip's worth of time from `from` to `to` (for refusals and timeouts). */
  roundTripMs(from: number, to: number): number {
    const link = this.link(from, to);
    return Math.max(1, Math.round(2 * sample(link.latencyMs, this.prng)));
  }

  /** Whether `from` can currently reach `to` (both up, no partition in the way). */
  reachable(from: number, to: number): boolean {
    return this.up[from] === 1 && this.up[to] === 1 && !(this.partitions.length > 0 && this.blocked(from, to));
  }

  // ---------------------------------------------------------------- faults

  crash(node: number): void {
    this.up[node] = 0;
    this.epoch[node]!++;
  }

  restart(node: number): void {
    this.up[node] = 1;
    this.uplinkFreeAtMs[node] = this.sim.nowMs;
  }

  /** Cuts `sideA` from `sideB` (everyone not in A when B is null); one-way drops only A to B. Returns the rule's id for `heal`. */
  partition(sideA: readonly number[], sideB: readonly number[] | null, oneWay: boolean): number {
    const side = new Uint8Array(this.nodes);
    if (sideB === null) side.fill(SIDE_B);
    else for (const node of sideB) side[node] = SIDE_B;
    for (const node of sideA) side[node] = SIDE_A;
    const id = this.nextPartitionId++;
    this.partitions.push({ id, side, oneWay });
    return id;
  }

  heal(id: number): void {
    this.partitions = this.partitions.filter((rule) => rule.id !== id);
  }

  healAll(): void {
    this.partitions = [];
  }

  /** Whether some partition rule separates `a` and `b` in either direction. */
  separated(a: number, b: number): boolean {
    return this.blocked(a, b) || this.blocked(b, a);
  }

  activePartitions(): number {
    return this.partitions.length;
  }

  bytesSentBy(node: number, channel: Channel | null = null): number {
    return channelSum(this.bytesSent, node, channel);
  }

  bytesReceivedBy(node: number, channel: Channel | null = null): number {
    return channelSum(this.bytesReceived, node, channel);
  }

  messagesSentBy(node: number, channel: Channel | null = null): number {
    return channelSum(this.messagesSent, node, channel);
  }

  private blocked(from: number, to: number): boolean {
    for (const rule of this.partitions) {
      const a = rule.side[from]!;
      const b = rule.side[to]!;
      if (a === SIDE_A && b === SIDE_B) return true;
      if (!rule.oneWay && a === SIDE_B && b === SIDE_A) return true;
    }
    return false;
  }

  private link(from: number, to: number): LinkProfile {
    const zones = this.options.zones;
    return this.options.links[this.options.zoneOf[from]! * zones + this.options.zoneOf[to]!]!;
  }
}

function channelSum(counters: Float64Array, node: number, channel: Channel | null): number {
  if (channel !== null) return counters[node * CHANNELS + channel]!;
  let sum = 0;
  for (let c = 0; c < CHANNELS; c++) sum += counters[node * CHANNELS + c]!;
  return sum;
}

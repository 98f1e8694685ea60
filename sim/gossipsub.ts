// A model of the gossipsub overlay that carries the membership topic: who is
// connected to whom, each node's mesh of D peers kept between D_lo and D_hi
// by a heartbeat, eager forwarding of every new message to the mesh, and
// lazy repair by IHAVE (message ids of the last few heartbeats, told to
// D_lazy peers outside the mesh) and IWANT (asking for the ones missed).
//
//   const overlay = new GossipOverlay(sim, network, { nodes, profile: GOSSIPSUB_DEFAULTS, deliver });
//   overlay.connectRandom(20);                  // steady state: every node already has connections
//   overlay.publish(node, update, sizeBytes);   // what MembershipCore returns in `broadcasts`
//   // deliver(node, publisher, update) runs once per node that receives it
//
// How it differs from the real library (@chainsafe/libp2p-gossipsub 14,
// gossipsub v1.1), and why the differences do not matter for what the
// simulator measures (how fast and how reliably membership updates spread):
// - No peer scoring, no Dscore/Dout quotas, no opportunistic grafting, no
//   peer exchange, no prune backoff: every peer holds the cluster key, and
//   Tribune runs with scoring neutralised and PX off (agent/mesh/mesh.ts).
// - No IDONTWANT (gossipsub v1.2) and no flood publishing unless asked:
//   duplicates are counted, which is the cost the real mesh pays too.
// - Message ids are integers and a message is "seen" in one bitset per
//   message (N bits) instead of one seen-cache per node; the seen TTL and
//   the message cache windows (mcache_len 5, mcache_gossip 3) are kept.
// - Heartbeats run in 10 ms phase slots (all nodes of a slot together),
//   not each at its own random instant; control messages travel alone
//   rather than piggybacked on data frames. Validation and signing are free.
// - Connections: libp2p keeps a connection to each peer it has dialled (up
//   to the connection manager's limit). The model connects a node to every
//   member it sends a probe-stream message to, up to `maxPeers`, and starts
//   steady-state scenarios from a random graph of `warmPeers` connections
//   per node. A crashed node's connections close at once (TCP reset); a
//   partition leaves them open and silently drops what crosses it, as an
//   iptables DROP rule does.
// - Everything rides the Stream transport: loss becomes retransmission delay.

import type { SeededPrng } from '../raft/prng.ts';
import type { Simulation } from './engine.ts';
import { Channel, SendOutcome, Transport } from './network.ts';
import type { Network } from './network.ts';

/** Gossipsub parameters (names as in the spec). */
export type GossipsubProfile = {
  /** Target mesh degree: each message is forwarded to about D peers per hop. */
  D: number;
  /** Below this many mesh peers the heartbeat grafts up to D. */
  Dlo: number;
  /** Above this many the heartbeat prunes down to D. */
  Dhi: number;
  /** Peers outside the mesh sent IHAVE per heartbeat (at least; see gossipFactor). */
  Dlazy: number;
  /** IHAVE goes to max(Dlazy, gossipFactor x non-mesh peers). */
  gossipFactor: number;
  heartbeatMs: number;
  /** Heartbeats a message stays in the cache (answerable by IWANT). */
  mcacheLength: number;
  /** Heartbeats whose message ids are advertised in IHAVE. */
  mcacheGossip: number;
  /** How long a message id is remembered to drop duplicates. */
  seenTtlMs: number;
  /** Publish to every connected peer instead of the mesh. */
  floodPublish: boolean;
  /** Connections a node keeps at most (libp2p's connection manager limit). */
  maxPeers: number;
};

/** The spec's and the library's defaults: D 6, D_lo 4, D_hi 12, D_lazy 6, 1 s heartbeat. */
export const GOSSIPSUB_DEFAULTS: Readonly<GossipsubProfile> = Object.freeze({
  D: 6,
  Dlo: 4,
  Dhi: 12,
  Dlazy: 6,
  gossipFactor: 0.25,
  heartbeatMs: 1_000,
  mcacheLength: 5,
  mcacheGossip: 3,
  seenTtlMs: 120_000,
  floodPublish: false,
  maxPeers: 600,
});

/** Tribune's LAN gossip profile (agent/mesh/mesh.ts GOSSIP_PROFILE_LAN): a smaller mesh for tens to hundreds of trusted agents. */
export const GOSSIPSUB_TRIBUNE_LAN: Readonly<GossipsubProfile> = Object.freeze({
  ...GOSSIPSUB_DEFAULTS,
  D: 4,
  Dlo: 3,
  Dhi: 8,
  Dlazy: 4,
});

export function validateGossipsubProfile(profile: GossipsubProfile): void {
  const problems: string[] = [];
  if (!(profile.Dlo <= profile.D && profile.D <= profile.Dhi)) problems.push(`need Dlo <= D <= Dhi, got ${profile.Dlo}, ${profile.D}, ${profile.Dhi}`);
  if (!(profile.Dlo >= 1)) problems.push('Dlo must be at least 1');
  if (!(profile.heartbeatMs >= 10)) problems.push('heartbeatMs must be at least 10');
  if (!(profile.mcacheGossip >= 1 && profile.mcacheGossip <= profile.mcacheLength)) problems.push('need 1 <= mcacheGossip <= mcacheLength');
  if (!(profile.maxPeers >= profile.D)) problems.push('maxPeers must be at least D');
  if (problems.length > 0) throw new RangeError(`gossipsub profile: ${problems.join('; ')}`);
}

/** One published message, shared by every node that holds it. */
type GossipMessage = {
  id: number;
  publisher: number;
  payload: unknown;
  sizeBytes: number;
  /** Bit per node: has seen it. */
  seen: Uint8Array;
  expiresAtMs: number;
};

const ControlType = { IHave: 1, IWant: 2, Graft: 3, Prune: 4 } as const;
type Control = { type: number; ids: number[] | null };

/** Bytes a data frame adds to the payload: signature (64), publisher id (38), seqno (8), topic, protobuf framing. */
const DATA_OVERHEAD_BYTES = 140;
/** Bytes per message id in IHAVE/IWANT (publisher id + seqno), and per control frame. */
const MESSAGE_ID_BYTES = 46;
const CONTROL_OVERHEAD_BYTES = 40;
const HEARTBEAT_SLOT_MS = 10;

export type GossipOverlayOptions = {
  nodes: number;
  profile: GossipsubProfile;
  /** Called once per node for each message it receives for the first time. */
  deliver: (node: number, publisher: number, payload: unknown) => void;
};

export class GossipOverlay {
  readonly profile: GossipsubProfile;
  private readonly sim: Simulation;
  private readonly network: Network;
  private readonly prng: SeededPrng;
  private readonly deliver: GossipOverlayOptions['deliver'];
  private readonly nodes: number;
  /** Connected topic peers of each node (symmetric). */
  private readonly peers: number[][];
  private readonly mesh: number[][];
  /** Per node, message ids of the last `mcacheLength` heartbeats, newest first. */
  private readonly mcache: number[][][];
  private readonly messages = new Map<number, GossipMessage>();
  private nextMessageId = 1;
  private readonly slots: number[][];
  private readonly DATA: number;
  private readonly CONTROL: number;
  private readonly HEARTBEAT: number;
  readonly stats = {
    published: 0, delivered: 0, duplicates: 0, forwarded: 0, ihaveSent: 0, iwantSent: 0, recoveredByIwant: 0,
    grafts: 0, prunes: 0, dropped: 0,
  };

  constructor(sim: Simulation, network: Network, options: GossipOverlayOptions) {
    validateGossipsubProfile(options.profile);
    this.sim = sim;
    this.network = network;
    this.profile = { ...options.profile };
    this.deliver = options.deliver;
    this.nodes = options.nodes;
    this.prng = sim.fork(0x6055);
    this.peers = Array.from({ length: this.nodes }, () => []);
    this.mesh = Array.from({ length: this.nodes }, () => []);
    this.mcache = Array.from({ length: this.nodes }, () => Array.from({ length: this.profile.mcacheLength }, () => []));
    this.DATA = sim.defineEvent('gossip-data', (target, source, aux, ref) => this.onData(target, source, aux, ref as GossipMessage), { node: true });
    this.CONTROL = sim.defineEvent('gossip-control', (target, source, aux, ref) => this.onControl(target, source, aux, ref as Control), { node: true });
    this.HEARTBEAT = sim.defineEvent('gossip-heartbeat', (slot) => this.onHeartbeatSlot(slot));
    const slotCount = Math.max(1, Math.floor(this.profile.heartbeatMs / HEARTBEAT_SLOT_MS));
    this.slots = Array.from({ length: slotCount }, () => []);
    for (let node = 0; node < this.nodes; node++) this.slots[this.prng.nextInt(slotCount)]!.push(node);
    for (let slot = 0; slot < slotCount; slot++) sim.schedule(slot * HEARTBEAT_SLOT_MS, this.HEARTBEAT, slot);
  }

  // ---------------------------------------------------------------- connections

  /** Opens a connection between `a` and `b` (a dial), if both have room. */
  connect(a: number, b: number): void {
    if (a === b) return;
    const peersOfA = this.peers[a]!;
    if (peersOfA.length >= this.profile.maxPeers || peersOfA.includes(b)) return;
    const peersOfB = this.peers[b]!;
    if (peersOfB.length >= this.profile.maxPeers) return;
    peersOfA.push(b);
    peersOfB.push(a);
  }

  /** Steady state: every node gets about `degree` random connections, and a mesh of D of them. */
  connectRandom(degree: number): void {
    const target = Math.min(degree, this.nodes - 1);
    for (let node = 0; node < this.nodes; node++) {
      for (let attempts = 0; this.peers[node]!.length < target && attempts < 4 * target; attempts++) {
        this.connect(node, this.prng.nextInt(this.nodes));
      }
    }
    for (let node = 0; node < this.nodes; node++) this.maintainMesh(node, false);
  }

  /** A node went down: every connection to it closes (its peers see the reset at once). */
  disconnectAll(node: number): void {
    for (const peer of this.peers[node]!) {
      removeFrom(this.peers[peer]!, node);
      removeFrom(this.mesh[peer]!, node);
    }
    this.peers[node] = [];
    this.mesh[node] = [];
    this.mcache[node] = Array.from({ length: this.profile.mcacheLength }, () => []);
  }

  peerCount(node: number): number {
    return this.peers[node]!.length;
  }

  meshDegree(node: number): number {
    return this.mesh[node]!.length;
  }

  // ---------------------------------------------------------------- publishing and receiving

  /** `node` publishes `payload` on the topic. */
  publish(node: number, payload: unknown, payloadBytes: number): void {
    const message: GossipMessage = {
      id: this.nextMessageId++,
      publisher: node,
      payload,
      sizeBytes: payloadBytes + DATA_OVERHEAD_BYTES,
      seen: new Uint8Array((this.nodes + 7) >> 3),
      expiresAtMs: this.sim.nowMs + this.profile.seenTtlMs,
    };
    this.messages.set(message.id, message);
    this.stats.published++;
    markSeen(message, node);
    this.mcache[node]![0]!.push(message.id);
    let targets = this.profile.floodPublish ? this.peers[node]! : this.mesh[node]!;
    if (targets.length === 0 && this.peers[node]!.length > 0) {
      // No mesh yet: fanout to up to D random connected peers, as gossipsub does.
      targets = this.randomSubset(this.peers[node]!, this.profile.D, null);
    }
    for (const peer of targets) this.sendData(node, peer, message);
  }

  private onData(node: number, from: number, epoch: number, message: GossipMessage): void {
    if (!this.network.accept(node, from, epoch, Transport.Stream, Channel.Gossip)) return;
    if (hasSeen(message, node)) {
      this.stats.duplicates++;
      return;
    }
    markSeen(message, node);
    this.stats.delivered++;
    this.mcache[node]![0]!.push(message.id);
    for (const peer of this.mesh[node]!) {
      if (peer === from || peer === message.publisher) continue;
      this.sendData(node, peer, message);
      this.stats.forwarded++;
    }
    this.deliver(node, message.publisher, message.payload);
  }

  private sendData(from: number, to: number, message: GossipMessage): void {
    if (hasSeen(message, to) && this.network.reachable(from, to)) {
      // Already seen there: a certain duplicate. Its bytes count, but no event is needed to learn nothing.
      this.network.countOnly(from, to, Channel.Gossip, message.sizeBytes);
      this.stats.duplicates++;
      return;
    }
    const outcome = this.network.send(from, to, Channel.Gossip, message.sizeBytes, Transport.Stream, this.DATA, message);
    if (outcome !== SendOutcome.Scheduled) this.stats.dropped++;
  }

  private sendControl(from: number, to: number, control: Control): void {
    const size = CONTROL_OVERHEAD_BYTES + (control.ids === null ? 0 : control.ids.length * MESSAGE_ID_BYTES);
    this.network.send(from, to, Channel.Gossip, size, Transport.Stream, this.CONTROL, control);
  }

  private onControl(node: number, from: number, epoch: number, control: Control): void {
    if (!this.network.accept(node, from, epoch, Transport.Stream, Channel.Gossip)) return;
    switch (control.type) {
      case ControlType.IHave: {
        const wanted: number[] = [];
        for (const id of control.ids!) {
          const message = this.messages.get(id);
          if (message !== undefined && !hasSeen(message, node)) wanted.push(id);
        }
        if (wanted.length > 0) {
          this.stats.iwantSent++;
          this.sendControl(node, from, { type: ControlType.IWant, ids: wanted });
        }
        return;
      }
      case ControlType.IWant:
        for (const id of control.ids!) {
          if (!this.inCache(node, id)) continue;
          const message = this.messages.get(id);
          if (message === undefined) continue;
          if (!hasSeen(message, from)) this.stats.recoveredByIwant++;
          this.sendData(node, from, message);
        }
        return;
      case ControlType.Graft: {
        const mesh = this.mesh[node]!;
        if (mesh.includes(from) || !this.peers[node]!.includes(from)) return;
        if (mesh.length >= this.profile.Dhi) {
          this.sendControl(node, from, { type: ControlType.Prune, ids: null });
          return;
        }
        mesh.push(from);
        return;
      }
      case ControlType.Prune:
        removeFrom(this.mesh[node]!, from);
        return;
    }
  }

  // ---------------------------------------------------------------- heartbeat

  private onHeartbeatSlot(slot: number): void {
    for (const node of this.slots[slot]!) {
      if (this.network.up[node] === 0) continue;
      this.maintainMesh(node, true);
      this.emitGossip(node);
      const cache = this.mcache[node]!;
      const oldest = cache.pop()!;
      oldest.length = 0;
      cache.unshift(oldest);
    }
    if (slot === 0) this.expireMessages();
    this.sim.schedule(this.sim.nowMs + this.profile.heartbeatMs, this.HEARTBEAT, slot);
  }

  /** Graft up to D when below D_lo, prune down to D when above D_hi. `signal` sends GRAFT/PRUNE (false at set-up: both sides at once). */
  private maintainMesh(node: number, signal: boolean): void {
    const mesh = this.mesh[node]!;
    const { D, Dlo, Dhi } = this.profile;
    if (mesh.length < Dlo) {
      const candidates = this.peers[node]!.filter((peer) => !mesh.includes(peer));
      for (const peer of this.randomSubset(candidates, D - mesh.length, null)) {
        mesh.push(peer);
        this.stats.grafts++;
        if (signal) this.sendControl(node, peer, { type: ControlType.Graft, ids: null });
        else if (!this.mesh[peer]!.includes(node) && this.mesh[peer]!.length < Dhi) this.mesh[peer]!.push(node);
      }
    } else if (mesh.length > Dhi) {
      const keep = this.randomSubset(mesh, D, null);
      for (const peer of mesh) {
        if (keep.includes(peer)) continue;
        this.stats.prunes++;
        if (signal) this.sendControl(node, peer, { type: ControlType.Prune, ids: null });
        else removeFrom(this.mesh[peer]!, node);
      }
      this.mesh[node] = keep;
    }
  }

  private emitGossip(node: number): void {
    const cache = this.mcache[node]!;
    let ids: number[] | null = null;
    for (let window = 0; window < this.profile.mcacheGossip; window++) {
      if (cache[window]!.length === 0) continue;
      ids = ids === null ? cache[window]!.slice() : ids.concat(cache[window]!);
    }
    if (ids === null) return;
    const mesh = this.mesh[node]!;
    const outside = this.peers[node]!.filter((peer) => !mesh.includes(peer));
    if (outside.length === 0) return;
    const count = Math.max(this.profile.Dlazy, Math.floor(this.profile.gossipFactor * outside.length));
    for (const peer of this.randomSubset(outside, count, null)) {
      this.stats.ihaveSent++;
      this.sendControl(node, peer, { type: ControlType.IHave, ids });
    }
  }

  private inCache(node: number, id: number): boolean {
    for (const window of this.mcache[node]!) if (window.includes(id)) return true;
    return false;
  }

  private expireMessages(): void {
    const now = this.sim.nowMs;
    for (const [id, message] of this.messages) if (message.expiresAtMs <= now) this.messages.delete(id);
  }

  /** Up to `count` distinct random elements of `from` (partial Fisher-Yates on a copy). */
  private randomSubset(from: readonly number[], count: number, exclude: number | null): number[] {
    const pool = exclude === null ? from.slice() : from.filter((value) => value !== exclude);
    const take = Math.min(count, pool.length);
    for (let i = 0; i < take; i++) {
      const j = i + this.prng.nextInt(pool.length - i);
      const swap = pool[i]!;
      pool[i] = pool[j]!;
      pool[j] = swap;
    }
    pool.length = take;
    return pool;
  }
}

function markSeen(message: GossipMessage, node: number): void {
  message.seen[node >> 3]! |= 1 << (node & 7);
}

function hasSeen(message: GossipMessage, node: number): boolean {
  return (message.seen[node >> 3]! & (1 << (node & 7))) !== 0;
}

function removeFrom(list: number[], value: number): void {
  const index = list.indexOf(value);
  if (index >= 0) {
    list[index] = list[list.length - 1]!;
    list.pop();
  }
}

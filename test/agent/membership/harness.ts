// A tiny deterministic network of membership cores for the tests: a virtual
// clock, one event queue, seeded loss and latency, partitions and crashes.
// Every message crosses the real codec (encoded, then decoded) so the tests
// also exercise the wire format. The "gossip topic" delivers a broadcast to
// every member the publisher currently lists as alive or suspect, each copy
// lost independently: a pessimistic stand-in for gossipsub, which the core
// must not depend on for correctness.

import { decodeMembershipMessage, encodeMembershipMessage, MemberState } from '../../../protocol/membership.ts';
import type { MembershipMessage, Tags } from '../../../protocol/membership.ts';
import { SeededPrng } from '../../../raft/prng.ts';
import { membershipConfig } from '../../../agent/membership/config.ts';
import type { MembershipConfig } from '../../../agent/membership/config.ts';
import { MembershipCore } from '../../../agent/membership/membership-core.ts';
import type { MemberEventType, MembershipEffects } from '../../../agent/membership/membership-core.ts';

export type NetworkOptions = {
  seed: number;
  /** Probability that any one message (or one broadcast copy) is lost. */
  lossRate?: number;
  latencyMinMs?: number;
  latencyMaxMs?: number;
  config?: Partial<MembershipConfig>;
  /** Report sends to crashed members back to the sender as `sendFailed` (a refused connection), after this delay. */
  sendFailureDelayMs?: number | null;
};

export type RecordedEvent = { observer: string; type: MemberEventType; subject: string; incarnation: number; atMs: number };

/** How often a member that knows nobody yet retries its join. */
export const JOIN_RETRY_MS = 2_000;

type SimNode = { id: string; address: string; core: MembershipCore; crashed: boolean; wakeAtMs: number | null };

type QueuedEvent =
  | { atMs: number; order: number; kind: 'deliver'; to: string; from: string; bytes: Uint8Array }
  | { atMs: number; order: number; kind: 'wake'; node: string }
  | { atMs: number; order: number; kind: 'retry-join'; node: string; seedAddress: string }
  | { atMs: number; order: number; kind: 'send-failed'; node: string; to: string; message: MembershipMessage };

/** A binary min-heap on (atMs, order): equal times run in scheduling order, so runs are reproducible. */
class EventQueue {
  private readonly heap: QueuedEvent[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(event: QueuedEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  peek(): QueuedEvent | undefined {
    return this.heap[0];
  }

  pop(): QueuedEvent {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

function before(a: QueuedEvent, b: QueuedEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order);
}

export class TestNetwork {
  nowMs = 0;
  lossRate: number;
  readonly config: MembershipConfig;
  readonly nodes = new Map<string, SimNode>();
  readonly history: RecordedEvent[] = [];
  /** Direct sends and broadcast publishes per node, for cost measurements. */
  readonly messagesSent = new Map<string, number>();
  private readonly prng: SeededPrng;
  private readonly nodeSeeds: SeededPrng;
  private readonly latencyMinMs: number;
  private readonly latencyMaxMs: number;
  private readonly sendFailureDelayMs: number | null;
  private readonly queue = new EventQueue();
  private readonly byAddress = new Map<string, string>();
  private order = 0;
  /** Members of one side of a partition; traffic between the sides is dropped. Empty: no partition. */
  private partitionSide = new Set<string>();

  constructor(options: NetworkOptions) {
    this.prng = new SeededPrng(options.seed);
    this.nodeSeeds = new SeededPrng(options.seed ^ 0x5bd1e995);
    this.lossRate = options.lossRate ?? 0;
    this.latencyMinMs = options.latencyMinMs ?? 1;
    this.latencyMaxMs = options.latencyMaxMs ?? 10;
    this.sendFailureDelayMs = options.sendFailureDelayMs ?? null;
    this.config = membershipConfig('lan', options.config ?? {});
  }

  /** Starts a member (not yet joined to anyone). */
  addNode(id: string, tags: Tags = {}): MembershipCore {
    const address = `10.0.${this.nodes.size >> 8}.${this.nodes.size & 0xff}:8301`;
    const core = new MembershipCore({ node: id, address, tags, config: this.config, prng: this.nodeSeeds.fork(this.nodes.size), nowMs: this.nowMs });
    const node: SimNode = { id, address, core, crashed: false, wakeAtMs: null };
    this.nodes.set(id, node);
    this.byAddress.set(address, id);
    this.apply(node, core.takeEffects());
    return core;
  }

  /**
   * `ids` push-pull with `seed`'s address, retried every `JOIN_RETRY_MS` until
   * they know another member, as `tribune agent -retry-join` does: a lost join
   * exchange is the adapter's to retry, not the core's.
   */
  join(ids: readonly string[], seed: string): void {
    const seedAddress = this.node(seed).address;
    for (const id of ids) this.attemptJoin(this.node(id), seedAddress);
  }

  /** Starts `count` members n1..n{count} and joins them all through n1. */
  startCluster(count: number): string[] {
    const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
    for (const id of ids) this.addNode(id);
    this.join(ids.slice(1), ids[0]!);
    return ids;
  }

  /** The process stops: no more messages in or out, no timers. */
  crash(id: string): void {
    this.node(id).crashed = true;
  }

  /** A crashed member starts again under the same id and address, with a fresh core (incarnation 1), and rejoins through `seed`. */
  restart(id: string, seed: string): MembershipCore {
    const old = this.node(id);
    const core = new MembershipCore({ node: id, address: old.address, config: this.config, prng: this.nodeSeeds.fork(this.nodes.size + 1_000), nowMs: this.nowMs });
    const node: SimNode = { id, address: old.address, core, crashed: false, wakeAtMs: null };
    this.nodes.set(id, node);
    this.apply(node, core.takeEffects());
    this.join([id], seed);
    return core;
  }

  leave(id: string): void {
    const node = this.node(id);
    this.apply(node, node.core.leave(this.nowMs));
  }

  /** Cuts every link between `side` and everyone else. */
  partition(side: readonly string[]): void {
    this.partitionSide = new Set(side);
  }

  heal(): void {
    this.partitionSide = new Set();
  }

  core(id: string): MembershipCore {
    return this.node(id).core;
  }

  /** The state `observer` holds for `subject`, or undefined if it does not know it. */
  stateSeenBy(observer: string, subject: string): MemberState | undefined {
    return this.node(observer).core.member(subject)?.state;
  }

  /** Whether every running member in `observers` sees every member in `subjects` in `state`. */
  allSee(observers: readonly string[], subjects: readonly string[], state: MemberState): boolean {
    for (const observer of observers) {
      if (this.node(observer).crashed) continue;
      for (const subject of subjects) if (this.stateSeenBy(observer, subject) !== state) return false;
    }
    return true;
  }

  runFor(durationMs: number): void {
    this.runUntil(this.nowMs + durationMs);
  }

  /** Runs events up to `untilMs`, stopping early once `done` holds (checked after each event). Returns whether `done` held. */
  runUntil(untilMs: number, done: (() => boolean) | null = null): boolean {
    for (;;) {
      const next = this.queue.peek();
      if (next === undefined || next.atMs > untilMs) break;
      this.queue.pop();
      this.nowMs = next.atMs;
      this.dispatch(next);
      if (done !== null && done()) return true;
    }
    this.nowMs = untilMs;
    return done !== null && done();
  }

  /** Runs until `done` holds or `limitMs` pass; returns the time it took, or null. */
  timeUntil(done: () => boolean, limitMs: number): number | null {
    const start = this.nowMs;
    if (done()) return 0;
    return this.runUntil(start + limitMs, done) ? this.nowMs - start : null;
  }

  /** Recorded events of `type` about `subject` (any observer). */
  eventsAbout(subject: string, type: MemberEventType): RecordedEvent[] {
    return this.history.filter((event) => event.subject === subject && event.type === type);
  }

  totalMessagesSent(ids: readonly string[]): number {
    return ids.reduce((sum, id) => sum + (this.messagesSent.get(id) ?? 0), 0);
  }

  // ---------------------------------------------------------------- plumbing

  private node(id: string): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  private dispatch(event: QueuedEvent): void {
    switch (event.kind) {
      case 'deliver': {
        const node = this.node(event.to);
        if (node.crashed) return;
        this.apply(node, node.core.handleMessage(event.from, decodeMembershipMessage(event.bytes), this.nowMs));
        return;
      }
      case 'wake': {
        const node = this.node(event.node);
        if (node.crashed || node.wakeAtMs !== event.atMs) return;
        node.wakeAtMs = null;
        const effects = node.core.tick(this.nowMs);
        if (effects.wakeAtMs !== null && effects.wakeAtMs <= this.nowMs) {
          throw new Error(`${node.id} asked to wake at ${effects.wakeAtMs} right after a tick at ${this.nowMs}: a due timer the core did not run`);
        }
        this.apply(node, effects);
        return;
      }
      case 'retry-join': {
        const node = this.node(event.node);
        if (!node.crashed && node.core.memberList().length === 1) this.attemptJoin(node, event.seedAddress);
        return;
      }
      case 'send-failed': {
        const node = this.node(event.node);
        if (node.crashed) return;
        this.apply(node, node.core.sendFailed(event.to, event.message, this.nowMs));
        return;
      }
    }
  }

  private attemptJoin(node: SimNode, seedAddress: string): void {
    this.apply(node, node.core.join([seedAddress], this.nowMs));
    this.schedule({ atMs: this.nowMs + JOIN_RETRY_MS, order: 0, kind: 'retry-join', node: node.id, seedAddress });
  }

  private apply(node: SimNode, effects: MembershipEffects): void {
    for (const send of effects.sends) {
      this.count(node.id);
      const target = send.to !== '' ? send.to : this.byAddress.get(send.address);
      if (target === undefined || !this.nodes.has(target)) continue;
      if (this.node(target).crashed && this.sendFailureDelayMs !== null) {
        this.schedule({ atMs: this.nowMs + this.sendFailureDelayMs, order: 0, kind: 'send-failed', node: node.id, to: target, message: send.message });
        continue;
      }
      this.transmit(node.id, target, encodeMembershipMessage(send.message));
    }
    for (const update of effects.broadcasts) {
      this.count(node.id);
      const bytes = encodeMembershipMessage(update);
      for (const member of node.core.memberList()) {
        if (member.node === node.id || (member.state !== MemberState.Alive && member.state !== MemberState.Suspect)) continue;
        this.transmit(node.id, member.node, bytes);
      }
    }
    for (const event of effects.events) {
      this.history.push({ observer: node.id, type: event.type, subject: event.member.node, incarnation: event.member.incarnation, atMs: event.atMs });
    }
    if (effects.wakeAtMs !== null && effects.wakeAtMs !== node.wakeAtMs) {
      node.wakeAtMs = effects.wakeAtMs;
      this.schedule({ atMs: effects.wakeAtMs, order: 0, kind: 'wake', node: node.id });
    }
  }

  private transmit(from: string, to: string, bytes: Uint8Array): void {
    if (this.nodes.get(to)?.crashed !== false) return;
    if (this.partitionSide.size > 0 && this.partitionSide.has(from) !== this.partitionSide.has(to)) return;
    if (this.lossRate > 0 && this.prng.nextFloat() < this.lossRate) return;
    const latencyMs = this.latencyMinMs + this.prng.nextInt(this.latencyMaxMs - this.latencyMinMs + 1);
    this.schedule({ atMs: this.nowMs + latencyMs, order: 0, kind: 'deliver', to, from, bytes });
  }

  private schedule(event: QueuedEvent): void {
    event.order = this.order++;
    this.queue.push(event);
  }

  private count(id: string): void {
    this.messagesSent.set(id, (this.messagesSent.get(id) ?? 0) + 1);
  }
}

// A scripted, synchronous network of RaftNodes for unit tests: messages are
// delivered only when the test says so (`stabilize`), filters drop or hold
// them, and every node persists to an in-memory durable store so it can be
// "crashed" and restarted.

import type { Message } from '../../protocol/raft.ts';
import { MessageType } from '../../protocol/raft.ts';
import type { RaftOptions } from '../../raft/config.ts';
import { SeededPrng } from '../../raft/prng.ts';
import { RaftNode } from '../../raft/raft-core.ts';
import type { ReadState } from '../../raft/raft-core.ts';
import { InMemoryDurableStorage } from '../../raft/storage.ts';

export type NodeOptions = Partial<Omit<RaftOptions, 'id' | 'prng' | 'storage'>>;

export class RaftNetwork {
  readonly nodes = new Map<string, RaftNode>();
  readonly durable = new Map<string, InMemoryDurableStorage>();
  /** Committed entries' data as applied by each node, decoded as text. */
  readonly applied = new Map<string, string[]>();
  readonly readStates = new Map<string, ReadState[]>();
  /** Every message delivered, for assertions about traffic. */
  delivered: Message[] = [];
  /** Return false to drop a message. */
  filter: (message: Message) => boolean = () => true;
  private inFlight: Message[] = [];
  private readonly options: NodeOptions;
  private seed = 1;

  constructor(voters: string[], options: NodeOptions = {}, extra: string[] = []) {
    this.options = options;
    const bootstrap = RaftNode.bootstrapState(voters);
    for (const id of [...voters, ...extra]) {
      const durable = new InMemoryDurableStorage();
      if (voters.includes(id)) durable.saveSync({ hardState: bootstrap.hardState, entries: [], snapshot: bootstrap.snapshot });
      this.durable.set(id, durable);
      this.start(id);
    }
  }

  start(id: string, options: NodeOptions = {}): RaftNode {
    const node = RaftNode.start({ electionTicks: 10, heartbeatTicks: 1, ...this.options, ...options, id, prng: new SeededPrng(this.seed++) }, this.durable.get(id)!.loadSync());
    this.nodes.set(id, node);
    this.applied.set(id, []);
    this.readStates.set(id, []);
    return node;
  }

  /** Drop the node's memory; durable storage survives. */
  crash(id: string): void {
    this.nodes.delete(id);
    this.inFlight = this.inFlight.filter((m) => m.to !== id && m.from !== id);
  }

  node(id: string): RaftNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no running node ${id}`);
    return node;
  }

  /** Process every node's Ready: persist, queue messages, record applies. */
  drainReady(): void {
    for (const [id, node] of this.nodes) {
      while (node.hasReady()) {
        const ready = node.ready();
        this.durable.get(id)!.saveSync({ hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot });
        for (const message of ready.leaderMessages) this.inFlight.push(message);
        for (const message of ready.messages) this.inFlight.push(message);
        const applied = this.applied.get(id)!;
        if (ready.snapshot) applied.push(`<snapshot ${ready.snapshot.metadata.index}>`);
        for (const entry of ready.committedEntries) if (entry.data.length > 0 && entry.type === 0) applied.push(new TextDecoder().decode(entry.data));
        this.readStates.get(id)!.push(...ready.readStates);
        node.advance(ready);
      }
    }
  }

  /** Deliver messages until the network is quiet; returns how many were delivered. */
  stabilize(maxRounds = 1000): number {
    let count = 0;
    for (let round = 0; round < maxRounds; round++) {
      this.drainReady();
      if (this.inFlight.length === 0) return count;
      const batch = this.inFlight;
      this.inFlight = [];
      for (const message of batch) {
        const target = this.nodes.get(message.to);
        if (!target || !this.filter(message)) continue;
        this.delivered.push(message);
        count++;
        target.step(message);
      }
    }
    throw new Error('network did not stabilize');
  }

  /** Take the queued messages without delivering them. */
  takeInFlight(): Message[] {
    this.drainReady();
    const batch = this.inFlight;
    this.inFlight = [];
    return batch;
  }

  deliver(messages: Message[]): void {
    for (const message of messages) this.nodes.get(message.to)?.step(message);
  }

  tick(ids: string[], times = 1): void {
    for (let i = 0; i < times; i++) for (const id of ids) this.nodes.get(id)?.tick();
  }

  /** Tick every running node `times` times, stabilizing after each tick. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const node of this.nodes.values()) node.tick();
      this.stabilize();
    }
  }

  elect(id: string): void {
    this.node(id).campaign();
    this.stabilize();
  }

  /** Cut every message between the two groups. */
  partition(...groups: string[][]): void {
    const groupOf = new Map<string, number>();
    groups.forEach((group, i) => group.forEach((id) => groupOf.set(id, i)));
    this.filter = (m) => groupOf.get(m.from) === groupOf.get(m.to);
  }

  heal(): void {
    this.filter = () => true;
  }

  propose(id: string, text: string): { index: number; term: number } {
    const result = this.node(id).propose(new TextEncoder().encode(text));
    this.stabilize();
    return result;
  }

  leader(): string | undefined {
    for (const [id, node] of this.nodes) if (node.status().role === 'leader') return id;
    return undefined;
  }

  countDelivered(type: MessageType, to?: string): number {
    return this.delivered.filter((m) => m.type === type && (to === undefined || m.to === to)).length;
  }
}

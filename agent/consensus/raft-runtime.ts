// The Raft runtime: drives a pure RaftNode with real timers, durable storage
// and a transport, and turns its Ready batches into resolved promises for
// proposers and readers. The only place where Raft meets the clock and disk.
//
//   const runtime = await RaftRuntime.start({ id, durable, transport, stateMachine });
//   const result = await runtime.propose(bytes);   // resolves after commit + apply
//   await runtime.read('safe');                    // linearizable: then read the state machine
//
// The loop (one at a time, never re-entered):
//   1. run every queued input (ticks, inbound messages, proposals, reads)
//   2. take a Ready; write it durably (one synced batch) — everything that
//      arrived meanwhile waits in the queue and goes into the next Ready, which
//      is where batching comes from
//   3. send its messages, install its snapshot, apply its committed entries,
//      settle proposals and reads, advance
// Messages are sent only after the save, so no node ever acknowledges (or, as
// leader, counts itself for) an entry it could lose in a crash.

import type { ConfChange, Entry, Message, Snapshot } from '../../protocol/raft.ts';
import { EntryType } from '../../protocol/raft.ts';
import type { RaftOptions, ReadMode } from '../../raft/config.ts';
import { NotLeaderError, ProposalDroppedError } from '../../raft/errors.ts';
import { SeededPrng } from '../../raft/prng.ts';
import { RaftNode } from '../../raft/raft-core.ts';
import type { Ready, Status } from '../../raft/raft-core.ts';
import type { DurableStorage } from '../../raft/storage.ts';
import { randomInt } from 'node:crypto';

/** What the runtime replicates: the application's deterministic state machine. */
export interface ReplicatedStateMachine {
  /** Apply one committed entry (also empty leader no-ops and conf changes, which most machines ignore). Returns the proposer's result. */
  apply(entry: Entry): unknown;
  /** Serialize the whole state as of the last applied entry. */
  snapshot(): Uint8Array;
  /** Replace the whole state (a snapshot from disk or from the leader). */
  restore(data: Uint8Array, index: number): void;
}

/** How Raft messages leave this node; `deliver` is how they come in. */
export interface RaftTransport {
  send(messages: Message[]): void;
  /** The runtime registers its inbound handler here. */
  setHandler(handler: (message: Message) => void): void;
  /** Tell the runtime a peer cannot be reached (it then probes instead of streaming). */
  setUnreachableHandler?(handler: (peer: string) => void): void;
}

export type RaftRuntimeOptions = {
  id: string;
  durable: DurableStorage;
  transport: RaftTransport;
  stateMachine: ReplicatedStateMachine;
  /** Milliseconds per Raft tick: with the default 10 election ticks, 100 ms gives a 1–2 s election timeout. */
  tickMs?: number;
  /** Raft core options (election ticks, window sizes, …). */
  raft?: Partial<Omit<RaftOptions, 'id' | 'prng' | 'storage'>>;
  /** Take a snapshot after this many entries applied since the last one. */
  snapshotEveryEntries?: number;
  /** Entries kept below a snapshot so slightly lagging followers need no snapshot. */
  retainEntries?: number;
  /** Seed for election-timeout randomness; default from crypto. */
  seed?: number;
  /** Called on leader or role changes. */
  onSoftState?: (leader: string, role: string) => void;
  /** Called once per Ready that was written, with its entry count (metrics, batching measurement). */
  onPersist?: (entries: number, synced: boolean) => void;
  /** Storage failed: the runtime has stopped (it never continues past a write it could not make durable). */
  onFatalError?: (error: Error) => void;
};

type PendingProposal = { term: number; resolve: (result: unknown) => void; reject: (error: Error) => void };
type ReadWaiter = { resolve: (index: number) => void; reject: (error: Error) => void };
/** One ReadIndex round and every read that shares it. */
type PendingRead = { index: number | null; waiters: ReadWaiter[] };

export class RaftRuntime {
  readonly id: string;
  private readonly node: RaftNode;
  private readonly options: RaftRuntimeOptions;
  private readonly durable: DurableStorage;
  private readonly stateMachine: ReplicatedStateMachine;
  private inbox: (() => void)[] = [];
  private processing = false;
  private scheduled = false;
  private stopped = false;
  private ticker: NodeJS.Timeout | null = null;
  private readonly pendingProposals = new Map<number, PendingProposal>();
  private readonly pendingReads = new Map<string, PendingRead>();
  private readCounter = 0;
  /** Reads asked for since the last loop turn, by mode: each group shares one ReadIndex round (as etcd batches them). */
  private readonly queuedReads: Record<ReadMode, ReadWaiter[]> = { safe: [], lease: [] };
  private appliedIndex: number;
  private snapshotIndex: number;
  private failure: Error | null = null;
  private idleWaiters: (() => void)[] = [];

  static async start(options: RaftRuntimeOptions): Promise<RaftRuntime> {
    const persisted = await options.durable.load();
    options.stateMachine.restore(persisted.snapshot.data, persisted.snapshot.metadata.index);
    const node = RaftNode.start(
      { ...options.raft, id: options.id, prng: new SeededPrng(options.seed ?? randomInt(2 ** 31)) },
      persisted,
    );
    return new RaftRuntime(options, node, persisted.snapshot.metadata.index);
  }

  private constructor(options: RaftRuntimeOptions, node: RaftNode, snapshotIndex: number) {
    this.options = options;
    this.id = options.id;
    this.node = node;
    this.durable = options.durable;
    this.stateMachine = options.stateMachine;
    this.appliedIndex = snapshotIndex;
    this.snapshotIndex = snapshotIndex;
    options.transport.setHandler((message) => this.enqueue(() => this.node.step(message)));
    options.transport.setUnreachableHandler?.((peer) => this.enqueue(() => this.node.reportUnreachable(peer)));
    this.ticker = setInterval(() => this.enqueue(() => this.node.tick()), options.tickMs ?? 100);
    this.ticker.unref?.();
    this.schedule();
  }

  /** Replicate `data`; resolves with the state machine's result once committed and applied here. */
  propose(data: Uint8Array): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.enqueue(() => {
        try {
          const { index, term } = this.node.propose(data);
          this.pendingProposals.set(index, { term, resolve, reject });
        } catch (error) {
          reject(error as Error);
        }
      });
    });
  }

  proposeConfChange(change: ConfChange): Promise<void> {
    return new Promise((resolve, reject) => {
      this.enqueue(() => {
        try {
          const { index, term } = this.node.proposeConfChange(change);
          this.pendingProposals.set(index, { term, resolve: () => resolve(), reject });
        } catch (error) {
          reject(error as Error);
        }
      });
    });
  }

  /**
   * Wait until a linearizable read is possible: resolves with the read index
   * once this node has applied it; read the state machine then. `lease` skips
   * the quorum round while the leader's lease holds.
   */
  read(mode: ReadMode = 'safe'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.enqueue(() => this.queuedReads[mode].push({ resolve, reject }));
    });
  }

  /** Start one ReadIndex round per mode for the reads queued in this loop turn. */
  private flushQueuedReads(): void {
    for (const mode of ['safe', 'lease'] as const) {
      const waiters = this.queuedReads[mode];
      if (waiters.length === 0) continue;
      this.queuedReads[mode] = [];
      const context = new TextEncoder().encode(`${this.id}/${++this.readCounter}`);
      const key = contextString(context);
      this.pendingReads.set(key, { index: null, waiters });
      try {
        this.node.readIndex(context, mode);
      } catch (error) {
        this.pendingReads.delete(key);
        for (const waiter of waiters) waiter.reject(error as Error);
      }
    }
  }

  transferLeadership(transferee: string): void {
    this.enqueue(() => this.node.transferLeadership(transferee));
  }

  /** Start an election now instead of waiting for a timeout (used right after bootstrap). */
  campaign(): void {
    this.enqueue(() => this.node.campaign());
  }

  status(): Status {
    return this.node.status();
  }

  get applied(): number {
    return this.appliedIndex;
  }

  isLeader(): boolean {
    return this.node.status().role === 'leader';
  }

  /** Resolves once the inbox is empty and no Ready is being processed. */
  idle(): Promise<void> {
    if (!this.processing && this.inbox.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stop ticking and processing; pending proposals and reads fail. Does not close the durable storage. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    await this.idle();
    const error = new ProposalDroppedError('the raft runtime stopped');
    for (const mode of ['safe', 'lease'] as const) {
      for (const waiter of this.queuedReads[mode]) waiter.reject(error);
      this.queuedReads[mode] = [];
    }
    for (const pending of this.pendingProposals.values()) pending.reject(error);
    for (const pending of this.pendingReads.values()) for (const waiter of pending.waiters) waiter.reject(error);
    this.pendingProposals.clear();
    this.pendingReads.clear();
  }

  private enqueue(input: () => void): void {
    if (this.stopped) return;
    this.inbox.push(input);
    this.schedule();
  }

  private schedule(): void {
    if (this.processing || this.scheduled || this.stopped) return;
    this.scheduled = true;
    // setImmediate, not a microtask: lets every proposal and message that is
    // ready in this turn of the event loop join the same batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.process();
    });
  }

  private async process(): Promise<void> {
    if (this.processing || this.failure) return;
    this.processing = true;
    try {
      for (;;) {
        const inputs = this.inbox;
        this.inbox = [];
        for (const input of inputs) input();
        this.flushQueuedReads();
        if (!this.node.hasReady()) break;
        await this.handleReady(this.node.ready());
        if (this.stopped) break;
      }
    } catch (error) {
      // A storage failure is fatal: never send or apply what may not be durable.
      this.failure = error as Error;
      this.stopped = true;
      if (this.ticker) clearInterval(this.ticker);
      for (const pending of this.pendingProposals.values()) pending.reject(this.failure);
      for (const pending of this.pendingReads.values()) for (const waiter of pending.waiters) waiter.reject(this.failure!);
      this.pendingProposals.clear();
      this.pendingReads.clear();
      if (this.options.onFatalError) this.options.onFatalError(this.failure);
      else console.error(`raft ${this.id}: stopped after a fatal error:`, this.failure);
    } finally {
      this.processing = false;
      if (this.inbox.length > 0 && !this.stopped) this.schedule();
      else {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    // A leader's Appends go out while it writes its own copy (Raft thesis §10.2.1).
    if (ready.leaderMessages.length > 0) this.options.transport.send(ready.leaderMessages);
    if (ready.hardState || ready.entries.length > 0 || ready.snapshot) {
      await this.durable.save({ hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot, sync: ready.mustSync || ready.snapshot !== null });
      this.options.onPersist?.(ready.entries.length, ready.mustSync);
    }
    if (ready.messages.length > 0) this.options.transport.send(ready.messages);
    if (ready.softState) this.options.onSoftState?.(ready.softState.leader, ready.softState.role);
    if (ready.snapshot) this.installSnapshot(ready.snapshot);
    for (const entry of ready.committedEntries) this.applyEntry(entry);
    for (const readState of ready.readStates) {
      const pending = this.pendingReads.get(contextString(readState.context));
      if (pending) pending.index = readState.index;
    }
    for (const context of ready.droppedReads) {
      const key = contextString(context);
      const error = new NotLeaderError(this.node.status().leader, this.node.status().term);
      for (const waiter of this.pendingReads.get(key)?.waiters ?? []) waiter.reject(error);
      this.pendingReads.delete(key);
    }
    this.node.advance(ready);
    this.settleReads();
    await this.maybeSnapshot();
  }

  private installSnapshot(snapshot: Snapshot): void {
    this.stateMachine.restore(snapshot.data, snapshot.metadata.index);
    this.appliedIndex = snapshot.metadata.index;
    this.snapshotIndex = snapshot.metadata.index;
    // Proposals at or below the snapshot are settled by it only if they were
    // ours; we cannot know, so they fail as dropped (the caller may retry).
    for (const [index, pending] of this.pendingProposals) {
      if (index <= snapshot.metadata.index) {
        pending.reject(new ProposalDroppedError('superseded by a snapshot from the leader'));
        this.pendingProposals.delete(index);
      }
    }
  }

  private applyEntry(entry: Entry): void {
    const result = this.stateMachine.apply(entry);
    this.appliedIndex = entry.index;
    const pending = this.pendingProposals.get(entry.index);
    if (!pending) return;
    this.pendingProposals.delete(entry.index);
    if (pending.term === entry.term) pending.resolve(entry.type === EntryType.ConfChange ? undefined : result);
    else pending.reject(new ProposalDroppedError(`lost to a change of leader (index ${entry.index} holds an entry of term ${entry.term})`));
  }

  private settleReads(): void {
    for (const [key, pending] of this.pendingReads) {
      if (pending.index !== null && pending.index <= this.appliedIndex) {
        this.pendingReads.delete(key);
        for (const waiter of pending.waiters) waiter.resolve(pending.index);
      }
    }
  }

  private async maybeSnapshot(): Promise<void> {
    const every = this.options.snapshotEveryEntries ?? 10_000;
    if (this.appliedIndex - this.snapshotIndex < every) return;
    const retain = this.options.retainEntries ?? 1_000;
    const snapshot = this.node.createSnapshot(this.stateMachine.snapshot(), retain);
    await this.durable.saveSnapshot(snapshot, retain);
    this.snapshotIndex = snapshot.metadata.index;
  }
}

function contextString(context: Uint8Array): string {
  let key = '';
  for (let i = 0; i < context.length; i++) key += String.fromCharCode(context[i]!);
  return key;
}

/**
 * Delivers messages between runtimes in one process (benchmarks, tests), on a
 * later turn of the event loop as a network would. Optional per-message
 * latency; messages to unknown or stopped nodes are dropped.
 */
export class InMemoryRaftNetwork {
  private readonly handlers = new Map<string, (message: Message) => void>();
  private readonly cut = new Set<string>();
  messagesDelivered = 0;

  transport(id: string): RaftTransport {
    return {
      send: (messages) => {
        for (const message of messages) {
          if (this.cut.has(message.from) || this.cut.has(message.to)) continue;
          setImmediate(() => {
            const handler = this.handlers.get(message.to);
            if (!handler || this.cut.has(message.to)) return;
            this.messagesDelivered++;
            handler(message);
          });
        }
      },
      setHandler: (handler) => this.handlers.set(id, handler),
    };
  }

  /** Drop every message to and from `id` (a crashed or isolated node). */
  isolate(id: string): void {
    this.cut.add(id);
  }

  reconnect(id: string): void {
    this.cut.delete(id);
  }

  remove(id: string): void {
    this.handlers.delete(id);
  }
}

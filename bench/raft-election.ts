// Fail-over time (issue 2): how long after the leader dies until a new leader
// is elected, and until that leader has committed its first entry (its no-op;
// from then on it accepts and commits writes).
//
//   npm run bench:raft-election                        100 seeds x {3, 5} voters + 20 real-time runs
//   npm run bench:raft-election -- --runs 1000 --realtime-runs 0
//
// Part 1, deterministic: real RaftNode cores with in-memory storage, a virtual
// clock and a seeded network (one-way delay uniform in [1, 5] ms, no loss), the
// default options (10 election ticks, 1 heartbeat tick, pre-vote, check-quorum)
// and the agent's default tick of 100 ms; each node ticks at its own phase. A
// leader is elected, the cluster runs heartbeats for 2-3 s (the kill lands at a
// random point between ticks), then the leader is killed: it stops ticking and
// every message to or from it is dropped. Each seed replays exactly.
//
// Part 2, real time: the same with RaftRuntime (real timers, tickMs 100) over
// the in-memory network, to check that the virtual figures hold with a real
// event loop.

import { parseArgs } from 'node:util';
import { InMemoryRaftNetwork, RaftRuntime } from '../agent/consensus/raft-runtime.ts';
import type { ReplicatedStateMachine } from '../agent/consensus/raft-runtime.ts';
import type { Entry, Message } from '../protocol/raft.ts';
import { defaultRaftOptions } from '../raft/config.ts';
import { SeededPrng } from '../raft/prng.ts';
import { RaftNode } from '../raft/raft-core.ts';
import { InMemoryDurableStorage } from '../raft/storage.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    'first-seed': { type: 'string', default: '1' },
    'realtime-runs': { type: 'string', default: '20' },
    'realtime-voters': { type: 'string', default: '3' },
  },
});

const RUNS = Number(args.runs);
const FIRST_SEED = Number(args['first-seed']);
const REALTIME_RUNS = Number(args['realtime-runs']);
const REALTIME_VOTERS = Number(args['realtime-voters']);
for (const [name, value] of [['runs', RUNS], ['first-seed', FIRST_SEED], ['realtime-runs', REALTIME_RUNS], ['realtime-voters', REALTIME_VOTERS]] as const) {
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
}

/** The agent's default tick (agent/consensus/raft-runtime.ts). */
const TICK_MS = 100;
const DELAY_MS_MIN = 1;
const DELAY_MS_MAX = 5;
/** Heartbeats before the kill: long enough for a steady state, random so the kill lands anywhere in a tick. */
const STEADY_MS_MIN = 2_000;
const STEADY_MS_SPREAD = 1_000;
/** A run that has not recovered this long after the kill counts as failed (it would show as a maximum of ∞). */
const RECOVERY_MS_MAX = 60_000;

type FailoverResult = {
  /** Kill to the first node becoming leader of a later term. */
  electedMs: number;
  /** Kill to that leader applying an entry of its own term (its no-op): writes commit from here on. */
  committedMs: number;
  /** Terms the cluster went through to get there: 1 is a clean election, more means split votes. */
  terms: number;
};

// ---------------------------------------------------------------- deterministic driver

type Event = { kind: 'tick'; node: string } | { kind: 'deliver'; message: Message };

/** A binary min-heap of events by time, then by insertion order, so that equal times replay identically. */
class EventQueue {
  private readonly heap: { at: number; seq: number; event: Event }[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, event: Event): void {
    const heap = this.heap;
    heap.push({ at, seq: this.seq++, event });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.before(heap[parent]!, heap[i]!)) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  pop(): { at: number; event: Event } {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        let smallest = i;
        if (left < heap.length && this.before(heap[left]!, heap[smallest]!)) smallest = left;
        if (left + 1 < heap.length && this.before(heap[left + 1]!, heap[smallest]!)) smallest = left + 1;
        if (smallest === i) break;
        [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
        i = smallest;
      }
    }
    return top;
  }

  private before(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

function simulateFailover(voters: number, seed: number): FailoverResult | null {
  const prng = new SeededPrng(seed);
  const ids = Array.from({ length: voters }, (_, i) => `n${i + 1}`);
  const boot = RaftNode.bootstrapState(ids);
  const queue = new EventQueue();
  const nodes = new Map<string, { raft: RaftNode; durable: InMemoryDurableStorage; alive: boolean }>();
  for (const [i, id] of ids.entries()) {
    const durable = new InMemoryDurableStorage();
    durable.saveSync({ hardState: boot.hardState, entries: [], snapshot: boot.snapshot });
    const raft = RaftNode.start({ id, prng: prng.fork(i + 1) }, durable.loadSync());
    nodes.set(id, { raft, durable, alive: true });
    queue.push(prng.nextInt(TICK_MS), { kind: 'tick', node: id });
  }

  let now = 0;
  let killedAt = -1;
  let killedTerm = 0;
  let electedAt = -1;
  let newLeader = '';
  let committedAt = -1;
  let firstLeader = '';

  function drain(id: string): void {
    const node = nodes.get(id)!;
    const raft = node.raft;
    while (raft.hasReady()) {
      const ready = raft.ready();
      node.durable.saveSync({ hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot });
      for (const message of [...ready.leaderMessages, ...ready.messages]) {
        const delay = DELAY_MS_MIN + prng.nextInt(DELAY_MS_MAX - DELAY_MS_MIN + 1);
        queue.push(now + delay, { kind: 'deliver', message });
      }
      if (ready.softState?.role === 'leader') {
        if (killedAt < 0 && firstLeader === '') firstLeader = id;
        if (killedAt >= 0 && electedAt < 0) {
          electedAt = now;
          newLeader = id;
        }
      }
      if (killedAt >= 0 && id === newLeader && committedAt < 0) {
        const term = raft.status().term;
        if (ready.committedEntries.some((entry) => entry.term === term)) committedAt = now;
      }
      raft.advance(ready);
    }
  }

  // Bootstrap as the runtime does: one founder campaigns at once.
  nodes.get(ids[0]!)!.raft.campaign();
  drain(ids[0]!);
  const killAt = STEADY_MS_MIN + prng.nextInt(STEADY_MS_SPREAD);
  const stopAt = killAt + RECOVERY_MS_MAX;

  while (queue.size > 0) {
    const { at, event } = queue.pop();
    now = at;
    if (now >= stopAt) return null;
    if (killedAt < 0 && now >= killAt) {
      const leader = ids.find((id) => nodes.get(id)!.raft.status().role === 'leader');
      if (!leader) throw new Error(`seed ${seed}: no leader at the kill time ${killAt} ms`);
      nodes.get(leader)!.alive = false;
      killedAt = now;
      killedTerm = nodes.get(leader)!.raft.status().term;
    }
    if (event.kind === 'tick') {
      const node = nodes.get(event.node)!;
      if (!node.alive) continue;
      node.raft.tick();
      drain(event.node);
      queue.push(now + TICK_MS, event);
    } else {
      const { message } = event;
      if (!nodes.get(message.from)!.alive || !nodes.get(message.to)!.alive) continue;
      nodes.get(message.to)!.raft.step(message);
      drain(message.to);
    }
    if (committedAt >= 0) {
      const term = nodes.get(newLeader)!.raft.status().term;
      return { electedMs: electedAt - killedAt, committedMs: committedAt - killedAt, terms: term - killedTerm };
    }
  }
  return null;
}

// ---------------------------------------------------------------- real-time runs

class NoteTermsStateMachine implements ReplicatedStateMachine {
  private readonly onApply: (entry: Entry) => void;
  constructor(onApply: (entry: Entry) => void) {
    this.onApply = onApply;
  }
  apply(entry: Entry): unknown {
    this.onApply(entry);
    return undefined;
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(): void {}
}

async function realTimeFailover(voters: number, seed: number): Promise<FailoverResult | null> {
  const prng = new SeededPrng(seed);
  const ids = Array.from({ length: voters }, (_, i) => `n${i + 1}`);
  const boot = RaftNode.bootstrapState(ids);
  const network = new InMemoryRaftNetwork();
  const runtimes: RaftRuntime[] = [];
  let killedAt = -1;
  let killedTerm = 0;
  let electedAt = -1;
  let newLeader = '';
  let committedAt = -1;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  try {
    for (const id of ids) {
      const durable = new InMemoryDurableStorage();
      await durable.save({ hardState: boot.hardState, entries: [], snapshot: boot.snapshot });
      runtimes.push(await RaftRuntime.start({
        id,
        durable,
        transport: network.transport(id),
        tickMs: TICK_MS,
        seed: prng.nextInt(2 ** 31),
        stateMachine: new NoteTermsStateMachine((entry) => {
          if (killedAt < 0 || id !== newLeader || committedAt >= 0 || entry.term <= killedTerm) return;
          committedAt = performance.now();
          done();
        }),
        onSoftState: (_leader, role) => {
          if (role !== 'leader' || killedAt < 0 || electedAt >= 0) return;
          electedAt = performance.now();
          newLeader = id;
        },
      }));
    }
    runtimes[0]!.campaign();
    const electedDeadline = performance.now() + 10_000;
    while (!runtimes.some((runtime) => runtime.isLeader())) {
      if (performance.now() > electedDeadline) throw new Error('real-time run: no first leader within 10 s');
      await sleep(10);
    }
    await sleep(STEADY_MS_MIN / 2 + prng.nextInt(STEADY_MS_SPREAD));
    const leader = runtimes.find((runtime) => runtime.isLeader());
    if (!leader) return null;
    killedTerm = leader.status().term;
    network.isolate(leader.id);
    killedAt = performance.now();
    await leader.stop();
    const timeout = setTimeout(done, RECOVERY_MS_MAX);
    await finished;
    clearTimeout(timeout);
    if (committedAt < 0) return null;
    const term = runtimes.find((runtime) => runtime.id === newLeader)!.status().term;
    return { electedMs: electedAt - killedAt, committedMs: committedAt - killedAt, terms: term - killedTerm };
  } finally {
    for (const runtime of runtimes) await runtime.stop();
  }
}

// ---------------------------------------------------------------- reporting

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

function describe(label: string, results: (FailoverResult | null)[]): void {
  const ok = results.filter((r): r is FailoverResult => r !== null);
  const failed = results.length - ok.length;
  const line = (name: string, values: number[]) => {
    const cells = [0.5, 0.9, 1].map((f) => percentile(values, f));
    const ms = cells.map((v) => `${v.toFixed(0).padStart(6)} ms`).join(' ');
    const ticks = cells.map((v) => `${(v / TICK_MS).toFixed(1).padStart(5)}`).join(' ');
    console.log(`  ${name.padEnd(20)} ${ms}   ${ticks}   (min ${Math.min(...values).toFixed(0)} ms)`);
  };
  const splitVotes = ok.filter((r) => r.terms > 1).length;
  console.log(`${label}: ${ok.length} runs${failed > 0 ? `, ${failed} NOT RECOVERED within ${RECOVERY_MS_MAX / 1000} s` : ''}; ` +
    `${splitVotes} needed more than one term`);
  console.log(`  ${''.padEnd(20)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'max'.padStart(9)}   ${'ticks: median p90 max'}`);
  line('new leader elected', ok.map((r) => r.electedMs));
  line('first commit', ok.map((r) => r.committedMs));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------- main

console.log(`raft fail-over: tick ${TICK_MS} ms, electionTicks ${defaultRaftOptions.electionTicks} ` +
  `(timeout drawn from [${defaultRaftOptions.electionTicks}, ${2 * defaultRaftOptions.electionTicks}) ticks), ` +
  `heartbeatTicks ${defaultRaftOptions.heartbeatTicks}, pre-vote ${defaultRaftOptions.preVote}, check-quorum ${defaultRaftOptions.checkQuorum}`);
console.log(`deterministic: seeds ${FIRST_SEED}..${FIRST_SEED + RUNS - 1}, one-way delay ${DELAY_MS_MIN}-${DELAY_MS_MAX} ms, kill after ${STEADY_MS_MIN}-${STEADY_MS_MIN + STEADY_MS_SPREAD} ms`);
for (const voters of [3, 5]) {
  const started = performance.now();
  const results = Array.from({ length: RUNS }, (_, i) => simulateFailover(voters, FIRST_SEED + i));
  describe(`${voters} voters, virtual time (${((performance.now() - started) / 1000).toFixed(1)} s wall)`, results);
}
if (REALTIME_RUNS > 0) {
  console.log(`real time: RaftRuntime, tickMs ${TICK_MS}, in-memory network and storage, ${REALTIME_RUNS} runs with ${REALTIME_VOTERS} voters`);
  const results: (FailoverResult | null)[] = [];
  for (let i = 0; i < REALTIME_RUNS; i++) results.push(await realTimeFailover(REALTIME_VOTERS, FIRST_SEED + i));
  describe(`${REALTIME_VOTERS} voters, real time`, results);
}

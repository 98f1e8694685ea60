// A deterministic Raft cluster in one process: N real RaftNode cores, a
// simulated network (delay, reordering, loss, duplication, partitions),
// crash-restarts from durable storage, snapshots, and random clients driving a
// key/value state machine. One seed reproduces a whole run.
//
// After every Ready it checks Raft's safety properties (Raft paper, Figure 3):
//   election safety     at most one leader per term
//   leader completeness a new leader's log holds every committed entry
//   state-machine safety no two nodes apply different entries at one index
//   log matching        entries with equal index and term have equal prefixes
// and it records the clients' history for the linearizability checker.
//
//   const run = runRaftScenario({ seed: 7, nodes: 5 });
//   if (run.violation) console.log(run.violation);   // replay: same seed

import type { ConfChangeType, Entry, Message } from '../protocol/raft.ts';
import { ConfChangeType as ConfChangeTypes, EMPTY_BYTES, EntryType, MessageType } from '../protocol/raft.ts';
import { RaftNode } from '../raft/raft-core.ts';
import type { Ready } from '../raft/raft-core.ts';
import { decodeConfChange } from '../protocol/raft-codec.ts';
import { NotLeaderError, ProposalDroppedError, RemovedNodeError } from '../raft/errors.ts';
import { SeededPrng } from '../raft/prng.ts';
import { InMemoryDurableStorage } from '../raft/storage.ts';
import { HistoryRecorder, checkLinearizability, kvModel } from './linearizability.ts';
import { RaftSafety } from './raft-safety.ts';
import type { CheckResult, KvInput, KvOutput, KvState, OperationHandle } from './linearizability.ts';

export type RaftScenarioOptions = {
  seed: number;
  nodes: number;
  /** Virtual milliseconds to run with faults, then the same again healed to check liveness. */
  durationMs: number;
  tickMs: number;
  /** One-way message delay is uniform in [delayMsMin, delayMsMax]: overlapping delays reorder. */
  delayMsMin: number;
  delayMsMax: number;
  lossRate: number;
  duplicateRate: number;
  /** Per virtual second, the chance that some node crashes (it restarts after 50–500 ms). */
  crashRatePerSecond: number;
  /** Per virtual second, the chance that the network splits into two sides (healed after 100–1500 ms). */
  partitionRatePerSecond: number;
  clients: number;
  keys: number;
  /** Fraction of reads served by ReadIndex lease rather than a safe heartbeat round. */
  leaseReadFraction: number;
  /** Take a snapshot after this many applied entries; keep `retainEntries` below it. */
  snapshotEvery: number;
  retainEntries: number;
  /** Chance per virtual second of a leadership transfer request. */
  transferRatePerSecond: number;
  /** Run the linearizability check at the end. */
  checkLinearizable: boolean;
  /** Record a trace of events (for replaying a failing seed). */
  trace: boolean;
  /** Raft options under test. Without check-quorum, lease reads fall back to safe reads. */
  checkQuorum: boolean;
  preVote: boolean;
  /** Each node's tick period differs from tickMs by up to this fraction (clock-rate drift; leases must tolerate it). */
  tickDriftFraction: number;
  /** Nodes beyond `nodes` that start empty and join as learners, get promoted, and may later be removed. */
  spareNodes: number;
  /** Per virtual second, the chance that the leader proposes the next membership change. */
  membershipChangeRatePerSecond: number;
};

export const defaultScenario: Omit<RaftScenarioOptions, 'seed'> = {
  nodes: 3,
  durationMs: 6_000,
  tickMs: 10,
  delayMsMin: 1,
  delayMsMax: 15,
  lossRate: 0.05,
  duplicateRate: 0.03,
  crashRatePerSecond: 0.5,
  partitionRatePerSecond: 0.4,
  clients: 4,
  keys: 3,
  leaseReadFraction: 0.5,
  snapshotEvery: 25,
  retainEntries: 5,
  transferRatePerSecond: 0.2,
  checkLinearizable: true,
  trace: false,
  checkQuorum: true,
  preVote: true,
  tickDriftFraction: 0.02,
  spareNodes: 0,
  membershipChangeRatePerSecond: 1,
};

/**
 * A scenario whose fault mix and Raft options vary with the seed, so that many
 * seeds cover calm runs, storms of crashes and partitions, and both
 * check-quorum settings. Options passed explicitly win.
 */
export function scenarioForSeed(seed: number, overrides: Partial<RaftScenarioOptions> = {}): Partial<RaftScenarioOptions> & { seed: number } {
  const prng = new SeededPrng(seed ^ 0x5bd1e995);
  const pick = <T>(values: T[]): T => values[prng.nextInt(values.length)]!;
  return {
    seed,
    lossRate: pick([0, 0.02, 0.05, 0.15]),
    duplicateRate: pick([0, 0.03, 0.1]),
    delayMsMax: pick([5, 15, 40]),
    crashRatePerSecond: pick([0, 0.5, 2]),
    partitionRatePerSecond: pick([0, 0.4, 2]),
    transferRatePerSecond: pick([0, 0.2, 1]),
    checkQuorum: pick([true, true, false]),
    preVote: pick([true, false]),
    snapshotEvery: pick([10, 25, 100]),
    clients: pick([3, 5, 8]),
    spareNodes: pick([0, 1, 2]),
    ...overrides,
  };
}

export type RaftScenarioResult = {
  seed: number;
  /** The first safety violation, with context; null if none. */
  violation: string | null;
  linearizability: CheckResult<KvState> | null;
  stats: {
    committed: number;
    leaderChanges: number;
    crashes: number;
    partitions: number;
    messagesSent: number;
    messagesDropped: number;
    operationsCompleted: number;
    operationsUnknown: number;
    snapshotsSent: number;
    maxTerm: number;
  };
  trace: string[];
};

type Command = { opId: number; input: KvInput };

type SimNode = {
  id: string;
  durable: InMemoryDurableStorage;
  raft: RaftNode | null;
  prng: SeededPrng;
  kv: Map<string, string>;
  appliedIndex: number;
  snapshotIndex: number;
  /** Writes proposed on this node, by log index, awaiting apply. */
  pendingWrites: Map<number, { term: number; client: Client }>;
  /** Read requests by context, then waiting for applied ≥ index. */
  pendingReads: Map<string, { client: Client; index: number | null }>;
  tickOffsetMs: number;
  /** Not a member by design: a spare not yet added, or a node removed from the cluster. Not restarted. */
  retired: boolean;
};

type Client = {
  id: number;
  operation: { handle: OperationHandle; input: KvInput; opId: number; node: string; deadline: number } | null;
  leaderGuess: string;
  opsIssued: number;
};

type Event =
  | { kind: 'tick'; node: string }
  | { kind: 'deliver'; message: Message }
  | { kind: 'client'; client: number }
  | { kind: 'restart'; node: string }
  | { kind: 'heal' }
  | { kind: 'retire'; node: string };

class EventQueue {
  private heap: { at: number; seq: number; event: Event }[] = [];
  private seq = 0;

  push(at: number, event: Event): void {
    const item = { at, seq: this.seq++, event };
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.less(heap[parent]!, heap[i]!)) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  pop(): { at: number; event: Event } | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && this.less(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && this.less(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
        i = smallest;
      }
    }
    return top;
  }

  private less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class SafetyViolation extends Error {
  override name = 'SafetyViolation';
}

export function runRaftScenario(partial: Partial<RaftScenarioOptions> & { seed: number }): RaftScenarioResult {
  const options: RaftScenarioOptions = { ...defaultScenario, ...partial };
  const prng = new SeededPrng(options.seed);
  const queue = new EventQueue();
  const trace: string[] = [];
  const recorder = new HistoryRecorder<KvInput, KvOutput>();
  const stats: RaftScenarioResult['stats'] = {
    committed: 0, leaderChanges: 0, crashes: 0, partitions: 0, messagesSent: 0, messagesDropped: 0,
    operationsCompleted: 0, operationsUnknown: 0, snapshotsSent: 0, maxTerm: 0,
  };
  let now = 0;
  let faultsActive = true;
  /** Node ids on one side of the current partition; null when healed. */
  let partitionSide: Set<string> | null = null;

  const founders = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  const ids = Array.from({ length: options.nodes + options.spareNodes }, (_, i) => `n${i + 1}`);
  const bootstrap = RaftNode.bootstrapState(founders);
  const nodes = new Map<string, SimNode>();
  const tickPeriodMs = new Map<string, number>();
  for (const [i, id] of ids.entries()) {
    const durable = new InMemoryDurableStorage();
    const founder = founders.includes(id);
    if (founder) durable.saveSync({ hardState: bootstrap.hardState, entries: [], snapshot: bootstrap.snapshot });
    const node: SimNode = {
      id, durable, raft: null, prng: prng.fork(i + 1), kv: new Map(), appliedIndex: 0, snapshotIndex: 0,
      pendingWrites: new Map(), pendingReads: new Map(), tickOffsetMs: prng.nextInt(options.tickMs), retired: !founder,
    };
    nodes.set(id, node);
    if (founder) startNode(node);
    tickPeriodMs.set(id, options.tickMs * (1 + (prng.nextFloat() * 2 - 1) * options.tickDriftFraction));
    queue.push(node.tickOffsetMs, { kind: 'tick', node: id });
  }

  // Global records for the safety checks (sim/raft-safety.ts).
  const safety = new RaftSafety();

  const clients: Client[] = Array.from({ length: options.clients }, (_, i) => ({ id: i, operation: null, leaderGuess: ids[0]!, opsIssued: 0 }));
  for (const client of clients) queue.push(prng.nextInt(50), { kind: 'client', client: client.id });

  let opIdCounter = 0;
  let lastLeaderSeen = '';

  function log(line: string): void {
    if (options.trace) trace.push(`${String(now).padStart(6)} ${line}`);
  }

  function startNode(node: SimNode): void {
    const persisted = node.durable.loadSync();
    node.raft = RaftNode.start({
      id: node.id, prng: node.prng, electionTicks: 10, heartbeatTicks: 1, snapshotChunkBytes: 64, maxSizePerMsg: 4096,
      checkQuorum: options.checkQuorum, preVote: options.preVote,
    }, persisted);
    node.kv = decodeKv(persisted.snapshot.data);
    node.appliedIndex = persisted.snapshot.metadata.index;
    node.snapshotIndex = persisted.snapshot.metadata.index;
    node.pendingWrites.clear();
    node.pendingReads.clear();
  }

  function crash(node: SimNode): void {
    log(`crash ${node.id}`);
    stats.crashes++;
    node.raft = null;
    // Clients waiting on it will time out: their operations stay unknown.
    node.pendingWrites.clear();
    node.pendingReads.clear();
  }

  /** A node that applied its own removal stops; its data is wiped so it could join again as a new member. */
  function retire(node: SimNode): void {
    log(`${node.id} removed from the cluster; stopping it`);
    node.raft = null;
    node.retired = true;
    node.durable = new InMemoryDurableStorage();
    node.pendingWrites.clear();
    node.pendingReads.clear();
  }

  const everStarted = new Set<string>();

  function changeMembership(): void {
    const leader = ids.map((id) => nodes.get(id)!).find((node) => node.raft?.status().role === 'leader');
    if (!leader?.raft) return;
    const conf = leader.raft.confState();
    let change: { type: ConfChangeType; nodeId: string } | null = null;
    // Ids are never reused: a removed node replaying its old log would apply its own removal again.
    const spare = ids.find((id) => !founders.includes(id) && nodes.get(id)!.retired && !everStarted.has(id));
    if (conf.learners.length > 0) {
      change = { type: ConfChangeTypes.AddVoter, nodeId: conf.learners[prng.nextInt(conf.learners.length)]! };
    } else if (conf.voters.length > options.nodes) {
      change = { type: ConfChangeTypes.RemoveNode, nodeId: conf.voters[prng.nextInt(conf.voters.length)]! };
    } else if (spare) {
      const node = nodes.get(spare)!;
      node.retired = false;
      everStarted.add(spare);
      node.durable = new InMemoryDurableStorage();
      startNode(node);
      change = { type: ConfChangeTypes.AddLearner, nodeId: spare };
    }
    if (!change) return;
    try {
      leader.raft.proposeConfChange({ ...change, context: EMPTY_BYTES });
      log(`${leader.id} proposes conf change ${JSON.stringify(change)}`);
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
    drain(leader);
  }

  function connected(from: string, to: string): boolean {
    if (!partitionSide) return true;
    return partitionSide.has(from) === partitionSide.has(to);
  }

  function send(message: Message): void {
    stats.messagesSent++;
    if (message.type === MessageType.Snapshot) stats.snapshotsSent++;
    if (!connected(message.from, message.to) || (faultsActive && prng.nextFloat() < options.lossRate)) {
      stats.messagesDropped++;
      return;
    }
    const delay = options.delayMsMin + prng.nextInt(options.delayMsMax - options.delayMsMin + 1);
    queue.push(now + delay, { kind: 'deliver', message });
    if (faultsActive && prng.nextFloat() < options.duplicateRate) {
      queue.push(now + options.delayMsMin + prng.nextInt(options.delayMsMax * 2), { kind: 'deliver', message });
    }
  }

  function drain(node: SimNode): void {
    const raft = node.raft;
    if (!raft) return;
    while (raft.hasReady()) {
      const ready = raft.ready();
      checkReady(node, ready);
      node.durable.saveSync({ hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot });
      if (ready.softState?.role === 'leader') checkLeaderCompleteness(node);
      for (const message of ready.leaderMessages) send(message);
      for (const message of ready.messages) send(message);
      if (ready.snapshot) {
        node.kv = decodeKv(ready.snapshot.data);
        node.appliedIndex = ready.snapshot.metadata.index;
        log(`${node.id} installed snapshot at ${node.appliedIndex}`);
      }
      for (const entry of ready.committedEntries) applyEntry(node, entry);
      for (const context of ready.droppedReads) {
        const pending = node.pendingReads.get(decoder.decode(context));
        if (pending) failClient(pending.client);
        node.pendingReads.delete(decoder.decode(context));
      }
      for (const readState of ready.readStates) {
        const key = decoder.decode(readState.context);
        const pending = node.pendingReads.get(key);
        if (pending) pending.index = readState.index;
      }
      raft.advance(ready);
      if (raft.isRemoved()) {
        retire(node);
        return;
      }
      serveReads(node);
      if (node.appliedIndex - node.snapshotIndex >= options.snapshotEvery && raft.status().applied === node.appliedIndex) {
        const snapshot = raft.createSnapshot(encodeKv(node.kv), options.retainEntries);
        node.durable.saveSnapshotSync(snapshot, options.retainEntries);
        node.snapshotIndex = snapshot.metadata.index;
      }
    }
  }

  function checkReady(node: SimNode, ready: Ready): void {
    const status = node.raft!.status();
    if (status.term > stats.maxTerm) stats.maxTerm = status.term;
    if (ready.softState?.role === 'leader') {
      violated(safety.leaderElected(status.term, node.id));
      if (lastLeaderSeen !== node.id) stats.leaderChanges++;
      lastLeaderSeen = node.id;
      log(`${node.id} leader of term ${status.term}`);
    }
  }

  function checkLeaderCompleteness(node: SimNode): void {
    violated(safety.leaderComplete(node.id, node.durable.loadSync()));
  }

  function violated(problem: string | null): void {
    if (problem !== null) throw new SafetyViolation(problem);
  }

  function applyEntry(node: SimNode, entry: Entry): void {
    const data = decoder.decode(entry.data);
    violated(safety.applied(node.id, entry, node.appliedIndex, data));
    stats.committed = safety.committed;
    node.appliedIndex = entry.index;
    let output: KvOutput = null;
    if (entry.type === EntryType.ConfChange) {
      const change = decodeConfChange(entry.data);
      // The operator stops a removed node once its removal commits, whether or
      // not the node itself learned it (a stale node would otherwise campaign forever).
      if (change.type === ConfChangeTypes.RemoveNode) queue.push(now + 1, { kind: 'retire', node: change.nodeId });
    }
    if (entry.type === EntryType.Normal && entry.data.length > 0) {
      const command = JSON.parse(data) as Command;
      output = applyCommand(node.kv, command.input);
    }
    const pending = node.pendingWrites.get(entry.index);
    if (pending) {
      node.pendingWrites.delete(entry.index);
      if (pending.term === entry.term) completeClient(pending.client, output);
      else failClient(pending.client); // another entry took its place: it never applied
    }
  }

  function serveReads(node: SimNode): void {
    for (const [key, pending] of node.pendingReads) {
      if (pending.index === null || pending.index > node.appliedIndex) continue;
      node.pendingReads.delete(key);
      const input = pending.client.operation?.input;
      if (input && input.op === 'get') completeClient(pending.client, node.kv.get(input.key) ?? null);
    }
  }

  function completeClient(client: Client, output: KvOutput): void {
    if (!client.operation) return;
    recorder.complete(client.operation.handle, output, now);
    log(`client ${client.id} op ${client.operation.opId} -> ${JSON.stringify(output)}`);
    stats.operationsCompleted++;
    client.operation = null;
    queue.push(now + 1 + prng.nextInt(20), { kind: 'client', client: client.id });
  }

  function failClient(client: Client): void {
    if (!client.operation) return;
    recorder.fail(client.operation.handle);
    client.operation = null;
    queue.push(now + 5 + prng.nextInt(20), { kind: 'client', client: client.id });
  }

  function clientAct(client: Client): void {
    if (client.operation) {
      if (now < client.operation.deadline) return;
      // Timed out: the operation may or may not have happened. Leave it open (unknown) and move on.
      log(`client ${client.id} op ${client.operation.opId} timed out`);
      stats.operationsUnknown++;
      const node = nodes.get(client.operation.node);
      if (node) {
        for (const [index, pending] of node.pendingWrites) if (pending.client === client) node.pendingWrites.delete(index);
        for (const [key, pending] of node.pendingReads) if (pending.client === client) node.pendingReads.delete(key);
      }
      client.operation = null;
    }
    const key = `k${prng.nextInt(options.keys)}`;
    const choice = prng.nextFloat();
    const value = `c${client.id}-${client.opsIssued++}`;
    let input: KvInput;
    if (choice < 0.45) input = { op: 'get', key };
    else if (choice < 0.8) input = { op: 'put', key, value };
    else input = { op: 'cas', key, expected: prng.nextFloat() < 0.5 ? null : `c${prng.nextInt(options.clients)}-${prng.nextInt(Math.max(1, client.opsIssued))}`, value };
    // Reads go to any node (followers forward ReadIndex); writes to the guessed leader.
    const target = input.op === 'get' && prng.nextFloat() < 0.5 ? ids[prng.nextInt(ids.length)]! : client.leaderGuess;
    const node = nodes.get(target)!;
    const opId = ++opIdCounter;
    const handle = recorder.invoke(client.id, input, now);
    client.operation = { handle, input, opId, node: target, deadline: now + 1_000 };
    queue.push(now + 1_000, { kind: 'client', client: client.id });
    log(`client ${client.id} op ${opId} ${JSON.stringify(input)} -> ${target}`);
    const raft = node.raft;
    if (!raft) {
      failClient(client);
      client.leaderGuess = ids[prng.nextInt(ids.length)]!;
      return;
    }
    try {
      if (input.op === 'get') {
        const context = `r${opId}`;
        node.pendingReads.set(context, { client, index: null });
        const mode = prng.nextFloat() < options.leaseReadFraction ? 'lease' : 'safe';
        raft.readIndex(encoder.encode(context), mode);
      } else {
        const command: Command = { opId, input };
        const { index, term } = raft.propose(encoder.encode(JSON.stringify(command)));
        node.pendingWrites.set(index, { term, client });
      }
    } catch (error) {
      node.pendingReads.delete(`r${opId}`);
      if (error instanceof NotLeaderError) {
        client.leaderGuess = error.leaderHint || ids[prng.nextInt(ids.length)]!;
      } else if (!(error instanceof ProposalDroppedError || error instanceof RemovedNodeError)) {
        throw error;
      }
      failClient(client);
      return;
    }
    drain(node);
  }

  function injectFaults(): void {
    if (!faultsActive) return;
    const perTick = options.tickMs / 1000;
    if (prng.nextFloat() < options.crashRatePerSecond * perTick) {
      const alive = ids.filter((id) => nodes.get(id)!.raft !== null);
      // A majority of the founders' count must stay up for progress; spares count once they run.
      // Keep a majority alive most of the time so the run makes progress; sometimes not.
      if (alive.length > 0 && (alive.length > Math.floor(options.nodes / 2) + 1 || prng.nextFloat() < 0.2)) {
        const victim = nodes.get(alive[prng.nextInt(alive.length)]!)!;
        if (victim.raft) {
          crash(victim);
          queue.push(now + 50 + prng.nextInt(450), { kind: 'restart', node: victim.id });
        }
      }
    }
    if (!partitionSide && prng.nextFloat() < options.partitionRatePerSecond * perTick) {
      const side = new Set<string>();
      const size = 1 + prng.nextInt(options.nodes - 1);
      while (side.size < size) side.add(ids[prng.nextInt(ids.length)]!);
      partitionSide = side;
      stats.partitions++;
      log(`partition {${[...side].join(',')}} | rest`);
      queue.push(now + 100 + prng.nextInt(1400), { kind: 'heal' });
    }
    if (options.spareNodes > 0 && prng.nextFloat() < options.membershipChangeRatePerSecond * perTick) changeMembership();
    if (prng.nextFloat() < options.transferRatePerSecond * perTick) {
      const leader = ids.map((id) => nodes.get(id)!).find((node) => node.raft?.status().role === 'leader');
      if (leader?.raft) {
        const transferee = ids[prng.nextInt(ids.length)]!;
        if (transferee !== leader.id) {
          log(`transfer leadership ${leader.id} -> ${transferee}`);
          leader.raft.transferLeadership(transferee);
          drain(leader);
        }
      }
    }
  }

  let violation: string | null = null;
  const endFaults = options.durationMs;
  const end = options.durationMs * 2;
  try {
    for (;;) {
      const item = queue.pop();
      if (!item || item.at > end) break;
      now = item.at;
      if (faultsActive && now >= endFaults) {
        faultsActive = false;
        partitionSide = null;
        log('faults off');
        for (const node of nodes.values()) {
          if (!node.raft && !node.retired) queue.push(now + 1, { kind: 'restart', node: node.id });
        }
      }
      const event = item.event;
      switch (event.kind) {
        case 'tick': {
          const node = nodes.get(event.node)!;
          if (node.raft) {
            node.raft.tick();
            drain(node);
          }
          if (event.node === ids[0]) injectFaults();
          queue.push(now + tickPeriodMs.get(event.node)!, event);
          break;
        }
        case 'deliver': {
          const node = nodes.get(event.message.to);
          if (!node?.raft || !connected(event.message.from, event.message.to)) break;
          node.raft.step(event.message);
          drain(node);
          break;
        }
        case 'client':
          if (now < end - 1_500) clientAct(clients[event.client]!);
          break;
        case 'restart': {
          const node = nodes.get(event.node)!;
          if (!node.raft && !node.retired) {
            startNode(node);
            log(`restart ${node.id} from applied ${node.appliedIndex}`);
            drain(node);
          }
          break;
        }
        case 'retire': {
          const node = nodes.get(event.node)!;
          if (!node.retired) retire(node);
          break;
        }
        case 'heal':
          partitionSide = null;
          log('heal');
          break;
      }
    }
    checkLogMatching();
    checkConvergence();
  } catch (error) {
    if (!(error instanceof SafetyViolation)) throw error;
    violation = error.message;
  }

  function checkLogMatching(): void {
    violated(RaftSafety.logMatching(ids.map((id) => ({ id, entries: nodes.get(id)!.durable.loadSync().entries })), (entry) => decoder.decode(entry.data)));
  }

  function checkConvergence(): void {
    const leaders = ids.filter((id) => nodes.get(id)!.raft?.status().role === 'leader');
    if (leaders.length !== 1) throw new SafetyViolation(`liveness: after ${options.durationMs} ms without faults there are ${leaders.length} leaders`);
    const conf = nodes.get(leaders[0]!)!.raft!.confState();
    const members = [...conf.voters, ...conf.learners];
    for (const id of members) {
      if (!nodes.get(id)?.raft) throw new SafetyViolation(`liveness: member ${id} is not running at the end`);
    }
    const applied = members.map((id) => nodes.get(id)!.appliedIndex);
    if (new Set(applied).size !== 1) throw new SafetyViolation(`liveness: after healing, applied indexes differ: ${members.map((id, i) => `${id}=${applied[i]}`).join(' ')}`);
    const states = members.map((id) => encodeKvString(nodes.get(id)!.kv));
    if (new Set(states).size !== 1) throw new SafetyViolation('state-machine safety: replicas at the same applied index hold different state');
  }

  let linearizability: CheckResult<KvState> | null = null;
  if (violation === null && options.checkLinearizable) {
    linearizability = checkLinearizability(kvModel, recorder.history(), { maxSteps: 50_000_000 });
    if (linearizability.result === 'illegal') violation = `linearizability: ${linearizability.explanation}`;
  }
  if (violation) {
    log(`VIOLATION ${violation}`);
    for (const node of nodes.values()) {
      const status = node.raft?.status();
      log(status
        ? `  ${node.id} ${status.role} term ${status.term} leader ${status.leader || '-'} commit ${status.commit} applied ${status.applied} last ${status.lastIndex} voters ${status.conf.voters.join(',')} learners ${status.conf.learners.join(',')}`
        : `  ${node.id} ${node.retired ? 'retired' : 'down'}`);
    }
  }
  return { seed: options.seed, violation, linearizability, stats, trace };
}

function applyCommand(kv: Map<string, string>, input: KvInput): KvOutput {
  switch (input.op) {
    case 'get':
      return kv.get(input.key) ?? null;
    case 'put':
      kv.set(input.key, input.value);
      return null;
    case 'delete':
      kv.delete(input.key);
      return null;
    case 'cas':
      if ((kv.get(input.key) ?? null) !== input.expected) return false;
      kv.set(input.key, input.value);
      return true;
  }
}

function encodeKvString(kv: Map<string, string>): string {
  return JSON.stringify([...kv.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function encodeKv(kv: Map<string, string>): Uint8Array {
  return encoder.encode(encodeKvString(kv));
}

function decodeKv(data: Uint8Array): Map<string, string> {
  if (data.length === 0) return new Map();
  return new Map(JSON.parse(decoder.decode(data)) as [string, string][]);
}

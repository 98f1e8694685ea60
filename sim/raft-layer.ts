// The datacenter's Raft group inside a simulated mesh: the real RaftNode
// (raft/raft-core.ts) on each voter, with InMemoryDurableStorage that
// survives crashes (or not), driving the real replicated StateMachine
// (agent/state/state-machine.ts) with commands in the real codec
// (protocol/state-commands.ts). Raft messages and client requests cross the
// same simulated network as the gossip, so a partition that cuts the leader's
// zone off cuts its Raft traffic too.
//
// Around it, what the agent does and what clients do:
// - The reconciler: the leader turns its own membership view into Consul's
//   serfHealth check (nodeHealth critical when a node fails, passing when it
//   is back), once per event and in a full pass every 5 s; sessions bound to
//   serfHealth die with their node. The leader also expires TTL sessions.
// - KV clients (on non-voter agents): get, put and compare-and-swap sent to
//   the voter they believe leads, retried elsewhere on "not leader", given up
//   after a timeout (outcome unknown). Histories go to the linearizability
//   checker (sim/linearizability.ts). A compare-and-swap is a consistent read
//   of the value and its ModifyIndex, then kvCas on that index, recorded as
//   one cas(expected = the value read) operation spanning both steps; values
//   are unique, so a changed ModifyIndex means a changed value.
// - Lock contenders: create a session bound to serfHealth and keep renewing
//   it, kvLock a key, hold it, kvUnlock. A contender believes it holds the
//   lock from the acquire's answer until it sends the release, learns its
//   session is gone, or has had no renewal answered for one TTL (the
//   client-side rule a careful Consul client follows). Lock safety: no two
//   beliefs overlap in virtual time.
// - Availability: sampled every tick, the group is available while some
//   leader can exchange messages with a majority of voters that follow it
//   (it could commit); the report lists the windows without one, and the
//   gaps clients saw between successful writes.
//
// Not modelled: autopilot (voter replacement), non-voter forwarding over
// agent RPC (clients talk to voters directly), a voter that restarts without
// its data stays out of the group.

import { EntryType, MessageType } from '../protocol/raft.ts';
import type { Entry, Message } from '../protocol/raft.ts';
import { encodeStateCommand, isRejection, SERF_HEALTH_CHECK_ID } from '../protocol/state-commands.ts';
import type { StateCommand } from '../protocol/state-commands.ts';
import { NotLeaderError, ProposalDroppedError } from '../raft/errors.ts';
import type { SeededPrng } from '../raft/prng.ts';
import { RaftNode } from '../raft/raft-core.ts';
import { InMemoryDurableStorage } from '../raft/storage.ts';
import { StateMachine } from '../agent/state/state-machine.ts';
import type { ApplyResult } from '../agent/state/state-machine.ts';
import type { MemberEventType } from '../agent/membership/membership-core.ts';
import { MemberState } from '../protocol/membership.ts';
import { sample } from './distributions.ts';
import type { Simulation } from './engine.ts';
import { checkLinearizability, HistoryRecorder, kvModel } from './linearizability.ts';
import type { KvInput, KvOutput, OperationHandle } from './linearizability.ts';
import type { MembershipLayer } from './membership-layer.ts';
import { Channel, Transport } from './network.ts';
import type { Network } from './network.ts';
import type { KvWorkload, LockWorkload, RaftSettings } from './scenario.ts';
import { RaftSafety } from './raft-safety.ts';
import type { CheckVerdict } from './runner.ts';

export type RaftLayerOptions = {
  settings: RaftSettings;
  kv: KvWorkload | null;
  locks: LockWorkload | null;
  zoneOf: Int32Array;
  zones: number;
  /** Per node, how far its wall clock is off (the time a leader stamps on commands). */
  wallClockSkewMs: Float64Array;
  /** Clients act in [workloadFromMs, workloadUntilMs). */
  workloadFromMs: number;
  workloadUntilMs: number;
};

export type UnavailableWindow = { fromMs: number; toMs: number; durationMs: number };

export type RaftSummary = {
  voters: string[];
  leaderChanges: number;
  maxTerm: number;
  committed: number;
  /** Windows (ms from the timeline start) when no leader could reach a majority that follows it: writes could not commit. */
  unavailable: UnavailableWindow[];
  unavailableTotalMs: number;
  /** Gaps between successful client writes longer than a second. */
  writeGaps: UnavailableWindow[];
  kv: { completed: number; failed: number; unknown: number; linearizability: string } | null;
  locks: { acquisitions: number; holders: { contender: number; fromMs: number; toMs: number }[]; maxConcurrentHolders: number } | null;
  reconciler: { critical: number; passing: number };
};

type Voter = {
  node: number;
  id: string;
  durable: InMemoryDurableStorage;
  raft: RaftNode | null;
  state: StateMachine;
  prng: SeededPrng;
  nextTickLocalMs: number;
  /** Writes proposed here by log index: who to answer. */
  pendingWrites: Map<number, { term: number; request: ClientRequest }>;
  /** Reads by context: waiting for a read index, then for the apply. */
  pendingReads: Map<string, { request: ClientRequest; index: number | null }>;
  snapshotIndex: number;
  alive: boolean;
};

type RequestKind = 'get' | 'put' | 'cas' | 'sessionCreate' | 'lock' | 'unlock' | 'renew';
type ClientRequest = {
  client: number;
  serial: number;
  kind: RequestKind;
  key: string;
  value: string;
  casIndex: number;
  session: string;
  readMode: 'safe' | 'lease' | 'stale';
  /** The agent node the client runs on (answers go back there). */
  home: number;
};
type ClientReply = { client: number; serial: number; notLeader: string | null; result: ApplyResult | undefined; value: string | null; modifyIndex: number };

type Client = {
  id: number;
  home: number;
  kind: 'kv' | 'lock';
  serial: number;
  leaderGuess: number;
  /** The operation in flight: its history handle (KV), what it is, and when to give up. */
  pending: { serial: number; kind: RequestKind; key: string; handle: OperationHandle | null; deadlineMs: number; phase: number } | null;
  opsIssued: number;
  // lock contenders
  session: string;
  sessionsCreated: number;
  holdingSinceMs: number;
  /** When a renewal was last answered, and last sent. */
  lastRenewAckMs: number;
  lastRenewSentMs: number;
  releaseAtMs: number;
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const RECONCILE_EVERY_MS = 5_000;
/** Wall clocks start here, so that skews below it never make a command's time negative. */
const WALL_CLOCK_EPOCH_MS = 86_400_000;

export class RaftLayer {
  readonly voters: number[];
  private readonly sim: Simulation;
  private readonly network: Network;
  private readonly membership: MembershipLayer;
  private readonly options: RaftLayerOptions;
  private readonly prng: SeededPrng;
  private readonly byNode = new Map<number, Voter>();
  private readonly byId = new Map<string, Voter>();
  private readonly clients: Client[] = [];
  private readonly recorder = new HistoryRecorder<KvInput, KvOutput>();
  private readonly RAFT_DELIVER: number;
  private readonly TICK: number;
  private readonly REQUEST: number;
  private readonly REPLY: number;
  private readonly CLIENT_TIMER: number;
  private readonly SAMPLE: number;
  private readonly STOP: number;
  /** Raft's safety properties, checked as the voters go (sim/raft-safety.ts, shared with raft-cluster.ts). */
  private readonly safety = new RaftSafety();
  private violation: string | null = null;
  private leaderChanges = 0;
  private lastLeader = '';
  private maxTerm = 0;
  private unavailableSince: number | null = null;
  private readonly unavailable: UnavailableWindow[] = [];
  private lastWriteOkMs: number | null = null;
  private readonly writeGaps: UnavailableWindow[] = [];
  private readonly beliefs: { contender: number; fromMs: number; toMs: number }[] = [];
  private acquisitions = 0;
  private kvCompleted = 0;
  private kvFailed = 0;
  private readonly registered = new Set<number>();
  private lastReconcileMs = 0;
  private readonly reconcileCounts = { critical: 0, passing: 0 };

  constructor(sim: Simulation, network: Network, membership: MembershipLayer, options: RaftLayerOptions) {
    this.sim = sim;
    this.network = network;
    this.membership = membership;
    this.options = options;
    this.prng = sim.fork(0x4af7);
    this.voters = chooseVoters(options.settings, options.zoneOf, options.zones, membership.nodes);
    const node = { node: true };
    this.RAFT_DELIVER = sim.defineEvent('raft-deliver', (target, source, aux, ref) => this.onRaftMessage(target, source, aux, ref as Message), node);
    this.TICK = sim.defineEvent('raft-tick', (target) => this.onTick(target), node);
    this.REQUEST = sim.defineEvent('client-request', (target, source, aux, ref) => this.onRequest(target, source, aux, ref as ClientRequest), node);
    this.REPLY = sim.defineEvent('client-reply', (target, source, aux, ref) => this.onReply(target, source, aux, ref as ClientReply), node);
    this.CLIENT_TIMER = sim.defineEvent('client-timer', (target, _source, aux) => this.onClientTimer(target, aux));
    this.SAMPLE = sim.defineEvent('raft-sample', () => this.onSample());
    this.STOP = sim.defineEvent('raft-stop', (target, _source, aux) => {
      if (this.network.epoch[target] === aux || this.network.up[target] === 0) this.crash(target);
    });
    const founders = this.voters.map((node) => membership.ids[node]!);
    const bootstrap = RaftNode.bootstrapState(founders);
    for (const node of this.voters) {
      const durable = new InMemoryDurableStorage();
      durable.saveSync({ hardState: bootstrap.hardState, entries: [], snapshot: bootstrap.snapshot });
      const voter: Voter = {
        node, id: membership.ids[node]!, durable, raft: null, state: new StateMachine(), prng: sim.fork(0x7a00 + node),
        nextTickLocalMs: 0, pendingWrites: new Map(), pendingReads: new Map(), snapshotIndex: 0, alive: false,
      };
      this.byNode.set(node, voter);
      this.byId.set(voter.id, voter);
    }
    // Clients live on non-voter agents when there are any.
    // Spread evenly over the non-voters: KV clients at k/count of the list, lock contenders half a step further.
    const homes = Array.from({ length: membership.nodes }, (_, i) => i).filter((i) => !this.byNode.has(i));
    const homeOf = (k: number, count: number, shift: number) => (homes.length > 0
      ? homes[Math.floor(((k + shift) * homes.length) / count) % homes.length]!
      : this.voters[k % this.voters.length]!);
    let id = 0;
    const kvClients = options.kv?.clients ?? 0;
    const contenders = options.locks?.contenders ?? 0;
    for (let k = 0; k < kvClients; k++) this.clients.push(this.newClient(id++, homeOf(k, kvClients, 0), 'kv'));
    for (let k = 0; k < contenders; k++) this.clients.push(this.newClient(id++, homeOf(k, contenders, 0.5), 'lock'));
    membership.onMemberEvent = (observer, subject, type) => this.onMemberEvent(observer, subject, type);
  }

  isVoter(node: number): boolean {
    return this.byNode.has(node);
  }

  /**
   * The leader that can commit right now: it can exchange messages with a
   * majority of the voters (itself included) that follow it. -1 if none.
   */
  leader(): number {
    for (const voter of this.byNode.values()) {
      if (voter.raft === null || !voter.alive || voter.raft.status().role !== 'leader') continue;
      let followers = 0;
      for (const other of this.byNode.values()) {
        if (other.raft === null || !other.alive) continue;
        if (other !== voter && !(this.network.reachable(voter.node, other.node) && this.network.reachable(other.node, voter.node))) continue;
        if (other === voter || other.raft.status().leader === voter.id) followers++;
      }
      if (followers > this.voters.length / 2) return voter.node;
    }
    return -1;
  }

  /** The agent whose lock contender believes it holds the lock now, or -1. */
  lockHolder(): number {
    return this.clients.find((client) => client.kind === 'lock' && client.holdingSinceMs >= 0)?.home ?? -1;
  }

  /** Steady state: every voter runs from its bootstrap state, clients start after settling. */
  start(): void {
    for (const voter of this.byNode.values()) this.startVoter(voter);
    for (const client of this.clients) this.sim.schedule(this.options.workloadFromMs + this.prng.nextInt(200), this.CLIENT_TIMER, client.id, -1, -1);
    this.sim.schedule(0, this.SAMPLE, -1);
  }

  /** Cold start: voters start when their node does (restart() is called as each node starts). */
  prepareCold(): void {
    for (const client of this.clients) this.sim.schedule(this.options.workloadFromMs + this.prng.nextInt(200), this.CLIENT_TIMER, client.id, -1, -1);
    this.sim.schedule(0, this.SAMPLE, -1);
  }

  crash(node: number): void {
    const voter = this.byNode.get(node);
    if (voter === undefined) return;
    voter.raft = null;
    voter.alive = false;
    voter.pendingWrites.clear();
    voter.pendingReads.clear();
  }

  /** A leaving agent's process stops after `afterMs` (its membership leave spreads first): so does its voter. */
  leave(node: number, afterMs: number): void {
    if (!this.byNode.has(node)) return;
    this.sim.schedule(this.sim.nowMs + afterMs, this.STOP, node, -1, this.network.epoch[node]!);
  }

  restart(node: number, dataKept: boolean): void {
    const voter = this.byNode.get(node);
    if (voter === undefined || voter.alive) return;
    if (!dataKept) {
      // A voter without its log would break Raft's safety if it voted again: it stays out.
      this.sim.note(400, node, 0, `voter ${voter.id} lost its data and stays out of the Raft group`);
      return;
    }
    this.startVoter(voter);
  }

  /** Adds the final verdicts to `checks` and summarises the run. */
  finish(checks: CheckVerdict[]): RaftSummary {
    const end = this.sim.nowMs;
    if (this.unavailableSince !== null) this.closeWindow(end);
    if (this.violation === null) this.checkLogMatching();
    checks.push({ name: 'raft safety', ok: this.violation === null, detail: this.violation ?? `election safety, leader completeness, state-machine safety and log matching held over ${this.safety.committed} entries` });
    let kvSummary: RaftSummary['kv'] = null;
    if (this.options.kv !== null) {
      const history = this.recorder.history();
      const verdict = checkLinearizability(kvModel, history, { maxSteps: 20_000_000 });
      const unknown = history.filter((op) => op.return === Infinity).length;
      const text = verdict.result === 'illegal' ? `illegal: ${verdict.explanation}` : verdict.result;
      checks.push({
        name: 'KV linearizable',
        ok: verdict.result !== 'illegal',
        detail: verdict.result === 'ok'
          ? `${history.length} operations (${unknown} with unknown outcome) linearize`
          : `${text.split('\n')[0]} (the full explanation is in the result's raft.kv.linearizability)`,
      });
      kvSummary = { completed: this.kvCompleted, failed: this.kvFailed, unknown, linearizability: text };
    }
    let lockSummary: RaftSummary['locks'] = null;
    if (this.options.locks !== null) {
      for (const client of this.clients) if (client.kind === 'lock' && client.holdingSinceMs >= 0) this.endBelief(client, end);
      const maxConcurrent = maxOverlap(this.beliefs);
      checks.push({
        name: 'lock safety',
        ok: maxConcurrent <= 1,
        detail: maxConcurrent <= 1
          ? `${this.acquisitions} acquisitions, never two holders at once`
          : `${maxConcurrent} contenders believed they held ${this.options.locks.key} at the same time`,
      });
      lockSummary = { acquisitions: this.acquisitions, holders: this.beliefs.map((b) => ({ ...b, fromMs: b.fromMs - this.options.workloadFromMs, toMs: b.toMs - this.options.workloadFromMs })), maxConcurrentHolders: maxConcurrent };
    }
    const shift = (w: UnavailableWindow) => ({ ...w, fromMs: w.fromMs - this.options.workloadFromMs, toMs: w.toMs - this.options.workloadFromMs });
    return {
      voters: this.voters.map((node) => this.membership.ids[node]!),
      leaderChanges: this.leaderChanges,
      maxTerm: this.maxTerm,
      committed: this.safety.committed,
      unavailable: this.unavailable.filter((w) => w.toMs > this.options.workloadFromMs).map(shift),
      unavailableTotalMs: this.unavailable.filter((w) => w.toMs > this.options.workloadFromMs).reduce((sum, w) => sum + w.durationMs, 0),
      writeGaps: this.writeGaps.map(shift),
      kv: kvSummary,
      locks: lockSummary,
      reconciler: { ...this.reconcileCounts },
    };
  }

  // ---------------------------------------------------------------- Raft nodes

  private startVoter(voter: Voter): void {
    const persisted = voter.durable.loadSync();
    const { settings } = this.options;
    voter.raft = RaftNode.start({
      id: voter.id, prng: voter.prng, electionTicks: settings.electionTicks, heartbeatTicks: settings.heartbeatTicks,
      checkQuorum: true, preVote: true, maxSizePerMsg: 64 * 1024, snapshotChunkBytes: 64 * 1024,
    }, persisted);
    voter.state = new StateMachine();
    // The founding snapshot carries no data but an index: the state starts there too.
    if (persisted.snapshot.metadata.index > 0) voter.state.restore(persisted.snapshot.data, persisted.snapshot.metadata.index);
    voter.snapshotIndex = persisted.snapshot.metadata.index;
    voter.alive = true;
    voter.pendingWrites.clear();
    voter.pendingReads.clear();
    voter.nextTickLocalMs = this.sim.localNowMs(voter.node) + 1 + voter.prng.nextInt(settings.tickMs);
    this.scheduleTick(voter);
  }

  private scheduleTick(voter: Voter): void {
    const at = this.sim.virtualAtLocal(voter.node, voter.nextTickLocalMs);
    this.sim.schedule(at, this.TICK, voter.node, -1, this.network.epoch[voter.node]!);
  }

  private onTick(node: number): void {
    const voter = this.byNode.get(node);
    if (voter === undefined || voter.raft === null || this.network.up[node] === 0) return;
    voter.raft.tick();
    this.drain(voter);
    if (voter.raft?.status().role === 'leader') this.leaderDuties(voter);
    voter.nextTickLocalMs += this.options.settings.tickMs;
    if (voter.raft !== null) this.scheduleTick(voter);
  }

  private drain(voter: Voter): void {
    const raft = voter.raft;
    if (raft === null) return;
    while (raft.hasReady()) {
      const ready = raft.ready();
      const status = raft.status();
      if (status.term > this.maxTerm) this.maxTerm = status.term;
      if (ready.softState?.role === 'leader') {
        this.fail(this.safety.leaderElected(status.term, voter.id));
        this.fail(this.safety.leaderComplete(voter.id, voter.durable.loadSync()));
        if (this.lastLeader !== voter.id) this.leaderChanges++;
        this.lastLeader = voter.id;
        this.sim.note(401, voter.node, status.term, `${voter.id} leads term ${status.term}`);
      }
      for (const message of ready.leaderMessages) this.sendRaft(voter, message);
      voter.durable.saveSync({ hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot });
      for (const message of ready.messages) this.sendRaft(voter, message);
      if (ready.snapshot !== null) voter.state.restore(ready.snapshot.data, ready.snapshot.metadata.index);
      for (const entry of ready.committedEntries) this.apply(voter, entry);
      for (const context of ready.droppedReads) {
        const key = decoder.decode(context);
        const pending = voter.pendingReads.get(key);
        voter.pendingReads.delete(key);
        if (pending !== undefined) this.reply(voter.node, pending.request, { notLeader: '' });
      }
      for (const readState of ready.readStates) {
        const pending = voter.pendingReads.get(decoder.decode(readState.context));
        if (pending !== undefined) pending.index = readState.index;
      }
      raft.advance(ready);
      this.serveReads(voter);
      if (voter.state.index - voter.snapshotIndex >= 500 && raft.status().applied === voter.state.index) {
        const snapshot = raft.createSnapshot(voter.state.snapshot(), 50);
        voter.durable.saveSnapshotSync(snapshot, 50);
        voter.snapshotIndex = snapshot.metadata.index;
      }
    }
  }

  private apply(voter: Voter, entry: Entry): void {
    this.fail(this.safety.applied(voter.id, entry, voter.state.index, `${entry.type}:${hashBytes(entry.data)}`));
    const result = entry.type === EntryType.Normal ? voter.state.apply(entry) : (voter.state.apply(entry), null);
    const pending = voter.pendingWrites.get(entry.index);
    if (pending === undefined) return;
    voter.pendingWrites.delete(entry.index);
    if (pending.term === entry.term) this.reply(voter.node, pending.request, { result });
    else this.reply(voter.node, pending.request, { notLeader: '' });
  }

  private serveReads(voter: Voter): void {
    for (const [key, pending] of voter.pendingReads) {
      if (pending.index === null || pending.index > voter.state.index) continue;
      voter.pendingReads.delete(key);
      const { entry } = voter.state.kvGet(pending.request.key);
      this.reply(voter.node, pending.request, { value: entry === null ? null : decoder.decode(entry.value), modifyIndex: entry?.modifyIndex ?? 0 });
    }
  }

  private sendRaft(voter: Voter, message: Message): void {
    const to = this.byId.get(message.to);
    if (to === undefined) return;
    this.network.send(voter.node, to.node, Channel.Raft, raftMessageBytes(message), Transport.Stream, this.RAFT_DELIVER, message);
  }

  private onRaftMessage(node: number, from: number, aux: number, message: Message): void {
    if (!this.network.accept(node, from, aux, Transport.Stream, Channel.Raft)) return;
    const voter = this.byNode.get(node);
    if (voter?.raft === null || voter === undefined) return;
    voter.raft.step(message);
    this.drain(voter);
  }

  private fail(violation: string | null): void {
    if (violation === null) return;
    if (this.violation === null) {
      this.violation = violation;
      this.sim.note(402, 0, 0, `RAFT VIOLATION ${violation}`);
    }
  }

  private checkLogMatching(): void {
    const logs = [...this.byNode.values()].map((voter) => ({ id: voter.id, entries: voter.durable.loadSync().entries }));
    this.fail(RaftSafety.logMatching(logs, (entry) => hashBytes(entry.data)));
  }

  // ---------------------------------------------------------------- the agent around the leader

  private leaderDuties(voter: Voter): void {
    const now = this.sim.nowMs;
    // Register the agents that host lock contenders (their sessions need a serfHealth check).
    for (const client of this.clients) {
      if (client.kind !== 'lock' || this.registered.has(client.home)) continue;
      if (voter.state.catalogView.node(this.membership.ids[client.home]!) !== undefined) {
        this.registered.add(client.home);
        continue;
      }
      this.propose(voter, {
        type: 'catalogRegister', nowMs: this.commandNow(voter),
        node: { id: '', node: this.membership.ids[client.home]!, address: this.membership.addresses[client.home]!.split(':')[0]!, datacenter: 'dc1', taggedAddresses: {}, meta: {} },
        skipNodeUpdate: false, service: null,
        checks: [{ checkId: SERF_HEALTH_CHECK_ID, name: 'Serf Health Status', status: 'passing', notes: '', output: 'Agent alive and reachable', serviceId: '', type: 'serf', definition: '' }],
      });
    }
    for (const id of voter.state.sessionsToExpire(this.commandNow(voter))) this.propose(voter, { type: 'sessionExpire', nowMs: this.commandNow(voter), id });
    if (this.options.settings.reconcile && now - this.lastReconcileMs >= RECONCILE_EVERY_MS) {
      this.lastReconcileMs = now;
      for (const node of this.registered) this.reconcileNode(voter, node);
    }
  }

  /** The leader's membership event: a failure or a return becomes a serfHealth change. */
  private onMemberEvent(observer: number, subject: number, type: MemberEventType): void {
    if (!this.options.settings.reconcile || !this.registered.has(subject)) return;
    if (type !== 'failed' && type !== 'left' && type !== 'joined' && type !== 'alive') return;
    const voter = this.byNode.get(observer);
    if (voter?.raft?.status().role !== 'leader') return;
    this.reconcileNode(voter, subject);
  }

  private reconcileNode(voter: Voter, node: number): void {
    const seen = this.membership.stateSeenBy(voter.node, node);
    const wanted = seen === MemberState.Dead || seen === MemberState.Left ? 'critical' : seen === undefined ? null : 'passing';
    if (wanted === null) return;
    const check = voter.state.catalogView.checkOf(this.membership.ids[node]!, SERF_HEALTH_CHECK_ID);
    if (check === undefined || check.status === wanted) return;
    this.reconcileCounts[wanted]++;
    this.propose(voter, { type: 'nodeHealth', nowMs: this.commandNow(voter), node: this.membership.ids[node]!, status: wanted, output: wanted === 'critical' ? 'Agent not live or unreachable' : 'Agent alive and reachable' });
  }

  private propose(voter: Voter, command: StateCommand): number | null {
    try {
      const { index } = voter.raft!.propose(encodeStateCommand(command));
      this.drain(voter);
      return index;
    } catch (error) {
      if (error instanceof NotLeaderError || error instanceof ProposalDroppedError) return null;
      throw error;
    }
  }

  /** Command time: the leader's wall clock, virtual time plus its skew (from an arbitrary epoch, so that it stays positive). */
  private commandNow(voter: Voter): number {
    return Math.max(0, Math.floor(WALL_CLOCK_EPOCH_MS + this.sim.nowMs + this.options.wallClockSkewMs[voter.node]!));
  }

  // ---------------------------------------------------------------- client requests at a voter

  private onRequest(node: number, from: number, aux: number, request: ClientRequest): void {
    if (!this.network.accept(node, from, aux, Transport.Stream, Channel.Client)) return;
    const voter = this.byNode.get(node);
    const raft = voter?.raft ?? null;
    if (voter === undefined || raft === null) return;
    if (request.kind === 'get' && request.readMode === 'stale') {
      // ?stale: this replica answers from what it has applied, leader or not.
      const { entry } = voter.state.kvGet(request.key);
      this.reply(node, request, { value: entry === null ? null : decoder.decode(entry.value), modifyIndex: entry?.modifyIndex ?? 0 });
      return;
    }
    const status = raft.status();
    if (status.role !== 'leader') {
      this.reply(node, request, { notLeader: status.leader });
      return;
    }
    if (request.kind === 'get') {
      const context = `c${request.client}:${request.serial}`;
      voter.pendingReads.set(context, { request, index: null });
      try {
        raft.readIndex(encoder.encode(context), request.readMode === 'lease' ? 'lease' : 'safe');
      } catch (error) {
        voter.pendingReads.delete(context);
        if (!(error instanceof NotLeaderError || error instanceof ProposalDroppedError)) throw error;
        this.reply(node, request, { notLeader: '' });
        return;
      }
      this.drain(voter);
      return;
    }
    const command = this.commandFor(voter, request);
    let index: number;
    let term: number;
    try {
      ({ index, term } = raft.propose(encodeStateCommand(command)));
    } catch (error) {
      if (!(error instanceof NotLeaderError || error instanceof ProposalDroppedError)) throw error;
      this.reply(node, request, { notLeader: '' });
      return;
    }
    voter.pendingWrites.set(index, { term, request });
    this.drain(voter);
  }

  private commandFor(voter: Voter, request: ClientRequest): StateCommand {
    const nowMs = this.commandNow(voter);
    const value = encoder.encode(request.value);
    switch (request.kind) {
      case 'put': return { type: 'kvSet', nowMs, key: request.key, value, flags: 0 };
      case 'cas': return { type: 'kvCas', nowMs, key: request.key, value, flags: 0, casIndex: request.casIndex };
      case 'lock': return { type: 'kvLock', nowMs, key: request.key, value, flags: 0, session: request.session };
      case 'unlock': return { type: 'kvUnlock', nowMs, key: request.key, value, flags: 0, session: request.session };
      case 'renew': return { type: 'sessionRenew', nowMs, id: request.session };
      case 'sessionCreate': {
        const locks = this.options.locks!;
        return {
          type: 'sessionCreate', nowMs, id: request.session, node: this.membership.ids[request.home]!, name: 'sim-lock',
          ttlMs: locks.sessionTtlMs, lockDelayMs: locks.lockDelayMs, behavior: 'release', nodeChecks: [SERF_HEALTH_CHECK_ID], serviceChecks: [],
        };
      }
      case 'get': throw new Error('reads are not commands');
    }
  }

  private reply(node: number, request: ClientRequest, fields: Partial<ClientReply>): void {
    const reply: ClientReply = { client: request.client, serial: request.serial, notLeader: null, result: undefined, value: null, modifyIndex: 0, ...fields };
    this.network.send(node, request.home, Channel.Client, 64 + (reply.value?.length ?? 0), Transport.Stream, this.REPLY, reply);
  }

  // ---------------------------------------------------------------- clients

  private newClient(id: number, home: number, kind: 'kv' | 'lock'): Client {
    return {
      id, home, kind, serial: 0, leaderGuess: this.voters[id % this.voters.length]!, pending: null, opsIssued: 0,
      session: '', sessionsCreated: 0, holdingSinceMs: -1, lastRenewAckMs: 0, lastRenewSentMs: 0, releaseAtMs: 0,
    };
  }

  private send(client: Client, kind: RequestKind, fields: Partial<ClientRequest>, handle: OperationHandle | null, phase = 0): void {
    const timeoutMs = client.kind === 'kv' ? this.options.kv!.timeoutMs : 2_000;
    const serial = ++client.serial;
    client.pending = { serial, kind, key: fields.key ?? '', handle, deadlineMs: this.sim.nowMs + timeoutMs, phase };
    const request: ClientRequest = {
      client: client.id, serial, kind, key: '', value: '', casIndex: 0, session: client.session,
      readMode: this.options.kv?.readMode === 'default' ? 'lease' : this.options.kv?.readMode === 'stale' ? 'stale' : 'safe', home: client.home, ...fields,
    };
    // A stale read may go to any voter; everything else to the one believed to lead.
    const to = request.readMode === 'stale' && kind === 'get' ? this.voters[this.prng.nextInt(this.voters.length)]! : client.leaderGuess;
    this.network.send(client.home, to, Channel.Client, 64 + request.key.length + request.value.length, Transport.Stream, this.REQUEST, request);
    this.sim.schedule(this.sim.nowMs + timeoutMs, this.CLIENT_TIMER, client.id, -1, serial);
  }

  /** A client's timer: `serial` -1 means "act now"; otherwise the timeout of that request. */
  private onClientTimer(clientId: number, serial: number): void {
    const client = this.clients[clientId]!;
    const now = this.sim.nowMs;
    if (serial >= 0) {
      if (client.pending === null || client.pending.serial !== serial) return;
      // Timed out: for KV the outcome is unknown (left open in the history).
      client.pending = null;
      client.leaderGuess = this.voters[this.prng.nextInt(this.voters.length)]!;
    }
    if (client.pending !== null) return;
    if (now >= this.options.workloadUntilMs) {
      if (client.kind === 'lock' && client.holdingSinceMs >= 0) this.endBelief(client, now);
      return;
    }
    if (this.network.up[client.home] === 0) {
      if (client.kind === 'lock' && client.holdingSinceMs >= 0) this.endBelief(client, now);
      this.sim.schedule(now + 500, this.CLIENT_TIMER, client.id, -1, -1);
      return;
    }
    if (client.kind === 'kv') this.nextKvOperation(client);
    else this.nextLockStep(client);
  }

  private nextKvOperation(client: Client): void {
    const kv = this.options.kv!;
    const key = `k${this.prng.nextInt(kv.keys)}`;
    const choice = this.prng.nextFloat();
    const now = this.sim.nowMs;
    if (choice < kv.readFraction) {
      this.send(client, 'get', { key }, this.recorder.invoke(client.id, { op: 'get', key }, now));
    } else if (choice < kv.readFraction + kv.casFraction) {
      // Phase 1 reads; the operation is recorded once the swap is sent (see onReply).
      this.send(client, 'get', { key }, null, 1);
    } else {
      const value = `c${client.id}-${client.opsIssued++}`;
      this.send(client, 'put', { key, value }, this.recorder.invoke(client.id, { op: 'put', key, value }, now));
    }
  }

  private onReply(node: number, from: number, aux: number, reply: ClientReply): void {
    if (!this.network.accept(node, from, aux, Transport.Stream, Channel.Client)) return;
    const client = this.clients[reply.client]!;
    const pending = client.pending;
    if (pending === null || pending.serial !== reply.serial) return;
    const now = this.sim.nowMs;
    client.pending = null;
    if (reply.notLeader !== null) {
      // Refused before proposing, or dropped with leadership: it did not happen.
      if (pending.handle !== null) this.recorder.fail(pending.handle);
      this.kvFailed += client.kind === 'kv' ? 1 : 0;
      const hint = reply.notLeader === '' ? undefined : this.byId.get(reply.notLeader);
      client.leaderGuess = hint?.node ?? this.voters[this.prng.nextInt(this.voters.length)]!;
      this.sim.schedule(now + 10 + this.prng.nextInt(40), this.CLIENT_TIMER, client.id, -1, -1);
      return;
    }
    if (client.kind === 'kv') this.kvReply(client, pending, reply);
    else this.lockReply(client, pending, reply);
  }

  private kvReply(client: Client, pending: NonNullable<Client['pending']>, reply: ClientReply): void {
    const now = this.sim.nowMs;
    if (pending.phase === 1) {
      // The compare-and-swap's read answered: swap at that ModifyIndex, expecting that value.
      // Recorded from now: the swap takes effect (or not) between now and its answer.
      const value = `c${client.id}-${client.opsIssued++}`;
      const handle = this.recorder.invoke(client.id, { op: 'cas', key: pending.key, expected: reply.value, value }, now);
      this.send(client, 'cas', { key: pending.key, value, casIndex: reply.modifyIndex }, handle, 2);
      return;
    }
    this.kvCompleted++;
    if (pending.kind === 'get') this.recorder.complete(pending.handle!, reply.value, now);
    else if (pending.kind === 'put') this.recorder.complete(pending.handle!, null, now);
    else this.recorder.complete(pending.handle!, reply.result === true, now);
    if (pending.kind !== 'get') this.writeSucceeded(now);
    this.sim.schedule(now + Math.ceil(sample(this.options.kv!.thinkMs, this.prng)), this.CLIENT_TIMER, client.id, -1, -1);
  }

  /**
   * A lock contender, as a careful Consul client: it keeps its session alive
   * (a renewal every renewEveryMs, holding or not), acquires, holds, releases.
   * It believes it holds the lock from the acquire's answer until it sends the
   * release, learns the session is gone, or has had no renewal answered for a
   * whole TTL (then the server may have expired it: give up on our side).
   */
  private nextLockStep(client: Client): void {
    const locks = this.options.locks!;
    const now = this.sim.nowMs;
    if (client.session === '') {
      client.session = sessionId(client.id, ++client.sessionsCreated);
      this.send(client, 'sessionCreate', {}, null);
      return;
    }
    const holding = client.holdingSinceMs >= 0;
    if (holding && now - client.lastRenewAckMs >= locks.sessionTtlMs) {
      this.endBelief(client, now);
      client.session = '';
      this.sim.schedule(now + 100, this.CLIENT_TIMER, client.id, -1, -1);
      return;
    }
    if (holding && now >= client.releaseAtMs) {
      this.endBelief(client, now);
      this.send(client, 'unlock', { key: locks.key, value: `c${client.id}` }, null);
      return;
    }
    if (now - client.lastRenewSentMs >= locks.renewEveryMs) {
      client.lastRenewSentMs = now;
      this.send(client, 'renew', {}, null);
      return;
    }
    if (!holding) {
      this.send(client, 'lock', { key: locks.key, value: `c${client.id}` }, null);
      return;
    }
    this.scheduleLockStep(client);
  }

  /** The contender's next due step: its next renewal, or its release. */
  private scheduleLockStep(client: Client, atMs = Infinity): void {
    const locks = this.options.locks!;
    const now = this.sim.nowMs;
    let next = Math.min(atMs, client.lastRenewSentMs + locks.renewEveryMs);
    if (client.holdingSinceMs >= 0) next = Math.min(next, client.releaseAtMs);
    this.sim.schedule(Math.max(now + 1, next), this.CLIENT_TIMER, client.id, -1, -1);
  }

  private lockReply(client: Client, pending: NonNullable<Client['pending']>, reply: ClientReply): void {
    const locks = this.options.locks!;
    const now = this.sim.nowMs;
    const rejected = isRejection(reply.result);
    switch (pending.kind) {
      case 'sessionCreate':
        if (rejected) {
          client.session = '';
          this.sim.schedule(now + 500, this.CLIENT_TIMER, client.id, -1, -1);
          return;
        }
        client.lastRenewAckMs = now;
        client.lastRenewSentMs = now;
        this.sim.schedule(now + 1, this.CLIENT_TIMER, client.id, -1, -1);
        return;
      case 'lock':
        if (reply.result === true) {
          this.acquisitions++;
          client.holdingSinceMs = now;
          client.releaseAtMs = now + Math.ceil(sample(locks.holdMs, this.prng));
          this.scheduleLockStep(client);
          return;
        }
        if (rejected) client.session = '';
        this.scheduleLockStep(client, now + 200 + this.prng.nextInt(300));
        return;
      case 'renew':
        if (rejected) {
          // The session is gone (invalidated or expired): so is the lock.
          if (client.holdingSinceMs >= 0) this.endBelief(client, now);
          client.session = '';
          this.sim.schedule(now + 100, this.CLIENT_TIMER, client.id, -1, -1);
          return;
        }
        client.lastRenewAckMs = now;
        this.scheduleLockStep(client, client.holdingSinceMs >= 0 ? Infinity : now + 1);
        return;
      case 'unlock':
        this.scheduleLockStep(client, now + 200 + this.prng.nextInt(800));
        return;
      default:
        return;
    }
  }

  private endBelief(client: Client, atMs: number): void {
    if (client.holdingSinceMs < 0) return;
    this.beliefs.push({ contender: client.id, fromMs: client.holdingSinceMs, toMs: atMs });
    client.holdingSinceMs = -1;
  }

  private writeSucceeded(now: number): void {
    if (this.lastWriteOkMs !== null && now - this.lastWriteOkMs > 1_000) {
      this.writeGaps.push({ fromMs: this.lastWriteOkMs, toMs: now, durationMs: now - this.lastWriteOkMs });
    }
    this.lastWriteOkMs = now;
  }

  // ---------------------------------------------------------------- availability

  private onSample(): void {
    const now = this.sim.nowMs;
    const available = this.leader() >= 0;
    if (!available && this.unavailableSince === null) this.unavailableSince = now;
    if (available && this.unavailableSince !== null) this.closeWindow(now);
    this.sim.schedule(now + this.options.settings.tickMs, this.SAMPLE, -1);
  }

  private closeWindow(now: number): void {
    const from = this.unavailableSince!;
    this.unavailableSince = null;
    this.unavailable.push({ fromMs: from, toMs: now, durationMs: now - from });
  }
}

// ---------------------------------------------------------------- helpers

function chooseVoters(settings: RaftSettings, zoneOf: Int32Array, zones: number, nodes: number): number[] {
  if (!settings.spreadVoters || zones === 1) return Array.from({ length: settings.voters }, (_, i) => i);
  const voters: number[] = [];
  const nextInZone = new Int32Array(zones).fill(-1);
  for (let i = nodes - 1; i >= 0; i--) nextInZone[zoneOf[i]!] = i;
  const used = new Set<number>();
  for (let round = 0; voters.length < settings.voters; round++) {
    for (let zone = 0; zone < zones && voters.length < settings.voters; zone++) {
      let node = -1;
      for (let i = 0, seen = 0; i < nodes; i++) {
        if (zoneOf[i] !== zone) continue;
        if (seen++ === round) { node = i; break; }
      }
      if (node >= 0 && !used.has(node)) {
        used.add(node);
        voters.push(node);
      }
    }
    if (round > nodes) break;
  }
  return voters;
}

function sessionId(client: number, count: number): string {
  const hex = (client * 1_000_003 + count).toString(16).padStart(12, '0').slice(-12);
  return `00000000-0000-4000-8000-${hex}`;
}

function raftMessageBytes(message: Message): number {
  let size = 48 + message.context.length;
  for (const entry of message.entries) size += 24 + entry.data.length;
  if (message.snapshot !== null) size += message.snapshot.data.length;
  if (message.type === MessageType.Snapshot) size += 64;
  return size;
}

function hashBytes(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return `${bytes.length}-${(h >>> 0).toString(16)}`;
}

/** The most intervals covering one instant (touching ends do not overlap). */
function maxOverlap(intervals: readonly { fromMs: number; toMs: number }[]): number {
  const points: [number, number][] = [];
  for (const interval of intervals) {
    if (interval.toMs <= interval.fromMs) continue;
    points.push([interval.fromMs, 1], [interval.toMs, -1]);
  }
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let max = 0;
  for (const [, delta] of points) {
    current += delta;
    max = Math.max(max, current);
  }
  return max;
}

// The Raft consensus algorithm as a pure state machine, in the style of
// etcd-io/raft. Inputs: tick(), step(message), propose(), proposeConfChange(),
// readIndex(), transferLeadership(). Output: a Ready batch. No clock, timers,
// randomness (a Prng is injected) or I/O.
//
// The runtime's loop, for every node:
//
//   node.tick() every tick; node.step(m) for each inbound message
//   if (node.hasReady()) {
//     const ready = node.ready();
//     send(ready.leaderMessages)           // a leader's Appends may go out while it writes (thesis §10.2.1)
//     await durable.save(ready)            // entries, hard state, snapshot: synced if ready.mustSync
//     send(ready.messages)                 // only after the save
//     restore(ready.snapshot); apply(ready.committedEntries); serve(ready.readStates)
//     node.advance(ready)
//   }
//
// Do not step messages between ready() and advance(): queue them (this also
// batches everything that arrived during one fsync into the next Ready).

import type { ConfChange, ConfState, Entry, HardState, Message, Snapshot } from '../protocol/raft.ts';
import {
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  MessageType,
  NONE,
  entrySize,
  hardStateEqual,
  isResponseMessage,
  message,
} from '../protocol/raft.ts';
import type { RaftConfig, RaftOptions, ReadMode } from './config.ts';
import { raftConfig } from './config.ts';
import { NotLeaderError, ProposalDroppedError, RemovedNodeError } from './errors.ts';
import { Progress } from './progress.ts';
import { quorumValue, tallyVotes } from './quorum.ts';
import { RaftLog } from './raft-log.ts';
import { ReadOnly } from './read-only.ts';
import type { PersistedState } from './storage.ts';
import { MemoryStorage } from './storage.ts';
import { decodeConfChange, encodeConfChange } from '../protocol/raft-codec.ts';

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

export type SoftState = { leader: string; role: Role };

/** A linearizable read may be served once the application has applied `index`. */
export type ReadState = { index: number; context: Uint8Array };

export type Ready = {
  /** Leader or role changed; not persisted. */
  softState: SoftState | null;
  /** Changed persistent state; write before sending messages. */
  hardState: HardState | null;
  /** Entries to append to durable storage before sending messages. */
  entries: Entry[];
  /** A snapshot received from the leader: persist it and restore the application from it. */
  snapshot: Snapshot | null;
  /** Entries committed by the cluster, to apply in order after the save. */
  committedEntries: Entry[];
  /** Messages to send after the save. */
  messages: Message[];
  /**
   * A leader's Appends, heartbeats and snapshot chunks: these may be sent
   * before or during the save. The leader counts its own log toward a commit
   * only once the save is done (advance), so a majority never includes an
   * entry the leader could still lose in a crash (Raft thesis §10.2.1).
   */
  leaderMessages: Message[];
  /** Reads confirmed linearizable at an index. */
  readStates: ReadState[];
  /** Contexts of this node's read requests that were dropped (leadership lost): fail them. */
  droppedReads: Uint8Array[];
  /** Whether the save must be synced (new entries, or a changed term or vote). */
  mustSync: boolean;
};

export type Status = {
  id: string;
  role: Role;
  leader: string;
  term: number;
  vote: string;
  commit: number;
  applied: number;
  lastIndex: number;
  conf: ConfState;
  /** Leader only: each peer's replication progress. */
  progress: Map<string, { match: number; next: number; state: string; recentActive: boolean; isLearner: boolean }>;
  leadTransferee: string;
};

const TRANSFER_CONTEXT = new TextEncoder().encode('transfer');

export class RaftNode {
  readonly id: string;
  private readonly config: RaftConfig;
  private readonly storage: MemoryStorage;
  private readonly log: RaftLog;

  private term = 0;
  private vote = NONE;
  private leader = NONE;
  private role: Role = 'follower';

  private voters: string[] = [];
  private learners: string[] = [];
  private progress = new Map<string, Progress>();
  private votes = new Map<string, boolean>();

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Ticks since start: the leader's clock for leases. */
  private tickCount = 0;

  private leadTransferee = NONE;
  /** A conf change may not be proposed while one at or below this index is unapplied. */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private removed = false;

  private readonly readOnly = new ReadOnly();
  /** Read requests that arrived before this leader committed an entry of its term. */
  private pendingReadIndexMessages: Message[] = [];
  private readStates: ReadState[] = [];
  private droppedReads: Uint8Array[] = [];
  private messages: Message[] = [];
  private leaderMessages: Message[] = [];
  /** Proposals appended since the last Ready: broadcast once per Ready, not once per proposal. */
  private appendBroadcastPending = false;

  /** Incoming snapshot being assembled from chunks. */
  private incomingSnapshot: { snapshot: Snapshot; chunks: Uint8Array[]; received: number } | null = null;

  private previousSoftState: SoftState;
  private previousHardState: HardState;

  /** Start a node from what durable storage loaded (empty for a brand-new node). */
  static start(options: Omit<RaftOptions, 'storage'>, persisted: PersistedState): RaftNode {
    return new RaftNode(raftConfig({ ...options, storage: MemoryStorage.from(persisted) }));
  }

  /**
   * The state every founding voter starts from: an empty snapshot at index 1
   * whose membership is `voters`. All founders build the same state, so they
   * agree on the log without talking; a node joining later starts empty and
   * receives the log from the leader.
   */
  static bootstrapState(voters: string[]): PersistedState {
    const unique = [...new Set(voters)].sort();
    if (unique.length === 0) throw new Error('bootstrap needs at least one voter');
    return {
      hardState: { term: 1, vote: NONE, commit: 1 },
      snapshot: { metadata: { index: 1, term: 1, conf: { voters: unique, learners: [] } }, data: EMPTY_BYTES },
      entries: [],
    };
  }

  constructor(config: RaftConfig) {
    this.config = config;
    this.id = config.id;
    this.storage = config.storage;
    this.log = new RaftLog(this.storage);
    const { hardState, confState } = this.storage.initialState();
    this.applyConfState(confState);
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) {
      if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex()) {
        throw new Error(`raft: persisted commit ${hardState.commit} is outside [${this.log.committed}, ${this.log.lastIndex()}]`);
      }
      this.log.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (config.applied > 0) this.log.appliedTo(config.applied);
    this.becomeFollower(this.term, NONE);
    this.previousSoftState = this.softState();
    this.previousHardState = this.hardState();
  }

  // ---------------------------------------------------------------- inputs

  /** Advance logical time by one tick. */
  tick(): void {
    this.tickCount++;
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  /** Start an election now (if this node may vote). Used by tests and by bootstrap to save an election timeout. */
  campaign(): void {
    this.stepLocal(MessageType.Hup);
  }

  /**
   * Propose application data. On the leader the entry is appended at once and
   * its index and term returned: it is committed when an entry at that index
   * with that term is applied; if a different term shows up there, it was lost.
   */
  propose(data: Uint8Array): { index: number; term: number } {
    return this.proposeEntry(EntryType.Normal, data);
  }

  /** Propose one membership change. Refused while another is pending. */
  proposeConfChange(change: ConfChange): { index: number; term: number } {
    this.assertCanPropose();
    if (this.pendingConfIndex > this.log.applied) {
      throw new ProposalDroppedError(`a configuration change is already pending at index ${this.pendingConfIndex} (applied ${this.log.applied})`);
    }
    if (change.nodeId === NONE) throw new ProposalDroppedError('a configuration change needs a node id');
    if (change.type === ConfChangeType.AddLearner && this.voters.includes(change.nodeId)) {
      throw new ProposalDroppedError(`${change.nodeId} is a voter; demoting a voter to learner is not supported, remove it first`);
    }
    if (change.type === ConfChangeType.RemoveNode && this.voters.length === 1 && this.voters[0] === change.nodeId) {
      throw new ProposalDroppedError(`refusing to remove ${change.nodeId}, the last voter`);
    }
    const result = this.proposeEntry(EntryType.ConfChange, encodeConfChange(change));
    this.pendingConfIndex = result.index;
    return result;
  }

  /**
   * Ask for a linearizable read. The answer comes as a ReadState with the same
   * context in a later Ready (serve the read once applied ≥ its index). `safe`
   * confirms leadership with a heartbeat round; `lease` answers from the
   * leader's lease without a round trip while the lease holds (else falls back
   * to safe). On a follower the request is forwarded to the leader.
   */
  readIndex(context: Uint8Array, mode: ReadMode = 'safe'): void {
    if (this.removed) throw new RemovedNodeError(this.id);
    const request = message({ type: MessageType.ReadIndex, from: this.id, to: this.id, context });
    if (this.role === 'leader') {
      this.leaderReadIndex(request, mode);
      return;
    }
    if (this.leader === NONE) throw new NotLeaderError(NONE, this.term);
    this.send(message({ type: MessageType.ReadIndex, to: this.leader, context }));
  }

  /** Hand leadership to `transferee` (it must be a voter); the leader stops accepting proposals until it is done or times out. */
  transferLeadership(transferee: string): void {
    const request = message({ type: MessageType.TransferLeader, from: transferee, to: this.id });
    if (this.role === 'leader') this.leaderTransfer(request);
    else if (this.leader !== NONE) this.send({ ...request, to: this.leader });
    else throw new NotLeaderError(NONE, this.term);
  }

  /** The transport could not reach `peer`: go back to probing it. */
  reportUnreachable(peer: string): void {
    if (this.role !== 'leader') return;
    const progress = this.progress.get(peer);
    if (progress && progress.state === 'replicate') progress.becomeProbe();
  }

  /** Handle a message from another node. Messages for another node, or from an older incarnation of the protocol, are ignored. */
  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term === 0 && !isLocalType(m.type)) return;
    this.stepMessage(m);
  }

  // ---------------------------------------------------------------- outputs

  hasReady(): boolean {
    if (this.appendBroadcastPending) return true;
    if (this.messages.length > 0 || this.leaderMessages.length > 0 || this.readStates.length > 0 || this.droppedReads.length > 0) return true;
    if (this.log.unstableEntries().length > 0 || this.log.unstableSnapshot() !== null) return true;
    if (this.log.hasNextCommittedEntries()) return true;
    const soft = this.softState();
    if (soft.leader !== this.previousSoftState.leader || soft.role !== this.previousSoftState.role) return true;
    return !hardStateEqual(this.hardState(), this.previousHardState);
  }

  ready(): Ready {
    if (this.appendBroadcastPending) {
      this.appendBroadcastPending = false;
      if (this.role === 'leader') this.broadcastAppend();
    }
    const soft = this.softState();
    const hard = this.hardState();
    const softChanged = soft.leader !== this.previousSoftState.leader || soft.role !== this.previousSoftState.role;
    const hardChanged = !hardStateEqual(hard, this.previousHardState);
    const entries = this.log.unstableEntries().slice();
    const ready: Ready = {
      softState: softChanged ? soft : null,
      hardState: hardChanged ? hard : null,
      entries,
      snapshot: this.log.unstableSnapshot(),
      committedEntries: this.log.nextCommittedEntries(this.config.maxCommittedSizePerReady),
      messages: this.messages,
      leaderMessages: this.leaderMessages,
      readStates: this.readStates,
      droppedReads: this.droppedReads,
      mustSync: entries.length > 0 || (hardChanged && (hard.term !== this.previousHardState.term || hard.vote !== this.previousHardState.vote)),
    };
    this.messages = [];
    this.leaderMessages = [];
    this.readStates = [];
    this.droppedReads = [];
    return ready;
  }

  /** The Ready was made durable, sent and applied. */
  advance(ready: Ready): void {
    if (ready.softState) this.previousSoftState = ready.softState;
    if (ready.hardState) {
      this.previousHardState = ready.hardState;
      this.storage.setHardState(ready.hardState);
    }
    if (ready.snapshot) {
      this.storage.applySnapshot(ready.snapshot);
      this.log.stableSnapTo(ready.snapshot.metadata.index);
      if (this.log.applied < ready.snapshot.metadata.index) this.log.applied = ready.snapshot.metadata.index;
    }
    if (ready.entries.length > 0) {
      this.storage.append(ready.entries);
      const last = ready.entries[ready.entries.length - 1]!;
      this.log.stableTo(last.index, last.term);
      // Only now does the leader's own copy count toward a majority.
      if (this.role === 'leader' && this.log.term(last.index) === last.term && this.progress.get(this.id)?.maybeUpdate(last.index) && this.maybeCommit()) {
        this.releasePendingReadIndexMessages();
        this.appendBroadcastPending = true;
      }
    }
    if (ready.committedEntries.length > 0) {
      for (const entry of ready.committedEntries) {
        if (entry.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(entry.data));
        if (this.role === 'leader' && entry.term === this.term) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entrySize(entry));
      }
      this.log.appliedTo(ready.committedEntries[ready.committedEntries.length - 1]!.index);
    }
  }

  /**
   * Take a snapshot of the application state at the applied index and drop
   * log entries before `applied - retainEntries` (kept so slightly lagging
   * followers catch up without a snapshot). Save the returned snapshot with
   * durable.saveSnapshot(snapshot, retainEntries).
   */
  createSnapshot(data: Uint8Array, retainEntries: number): Snapshot {
    const applied = this.log.applied;
    const snapshot = this.storage.createSnapshot(applied, this.confState(), data);
    const compactTo = applied - retainEntries;
    if (compactTo > this.storage.firstIndex()) this.storage.compact(compactTo);
    return snapshot;
  }

  status(): Status {
    const progress = new Map<string, { match: number; next: number; state: string; recentActive: boolean; isLearner: boolean }>();
    if (this.role === 'leader') {
      for (const [id, p] of this.progress) progress.set(id, { match: p.match, next: p.next, state: p.state, recentActive: p.recentActive, isLearner: p.isLearner });
    }
    return {
      id: this.id,
      role: this.role,
      leader: this.leader,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      conf: this.confState(),
      progress,
      leadTransferee: this.leadTransferee,
    };
  }

  confState(): ConfState {
    return { voters: this.voters.slice(), learners: this.learners.slice() };
  }

  isRemoved(): boolean {
    return this.removed;
  }

  /** The leader's lease holds: a quorum acknowledged a recent heartbeat (see RaftConfig.leaseSafetyTicks). */
  hasLease(): boolean {
    if (this.role !== 'leader' || !this.config.checkQuorum || this.leadTransferee !== NONE) return false;
    const ackTicks: number[] = [];
    for (const voter of this.voters) {
      ackTicks.push(voter === this.id ? this.tickCount : (this.progress.get(voter)?.leaseAckTick ?? -Infinity));
    }
    return this.tickCount - quorumValue(ackTicks) < this.config.electionTicks - this.config.leaseSafetyTicks;
  }

  // ------------------------------------------------------ state transitions

  private softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private promotable(): boolean {
    return !this.removed && this.voters.includes(this.id);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.leader = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.config.electionTicks + this.config.prng.nextInt(this.config.electionTicks);
    this.leadTransferee = NONE;
    this.votes.clear();
    const lastIndex = this.log.lastIndex();
    for (const [id, progress] of this.progress) {
      const fresh = new Progress(lastIndex + 1, this.config.maxInflightMsgs, progress.isLearner);
      // Our own match is what is durable: the stable log (entries still in flight to disk count on advance).
      if (id === this.id) fresh.match = Math.min(lastIndex, this.storage.lastIndex());
      this.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    for (const status of this.readOnly.reset()) {
      if (status.request.from === this.id) this.droppedReads.push(status.request.context);
    }
    for (const request of this.pendingReadIndexMessages) {
      if (request.from === this.id) this.droppedReads.push(request.context);
    }
    this.pendingReadIndexMessages = [];
  }

  private becomeFollower(term: number, leader: string): void {
    this.reset(term);
    this.leader = leader;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    if (this.role === 'leader') throw new Error('raft invariant: leader cannot become pre-candidate');
    // Pre-vote does not raise the term or cast a vote: a node that cannot win leaves no trace.
    this.votes.clear();
    this.leader = NONE;
    this.role = 'pre-candidate';
  }

  private becomeCandidate(): void {
    if (this.role === 'leader') throw new Error('raft invariant: leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    if (this.role === 'follower') throw new Error('raft invariant: follower cannot become leader directly');
    this.reset(this.term);
    this.leader = this.id;
    this.role = 'leader';
    const self = this.progress.get(this.id);
    if (self) self.becomeReplicate();
    // No conf change until everything before this term is applied (the fix to single-server changes, Ongaro 2015).
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of the new term, so earlier entries commit by counting (§5.4.2).
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }]);
    this.broadcastAppend();
  }

  private startCampaign(kind: 'pre-election' | 'election' | 'transfer'): void {
    if (!this.promotable()) return;
    let voteType: MessageType;
    let voteTerm: number;
    if (kind === 'pre-election') {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (tallyVotes(this.voters, this.votes) === 'won') {
      if (kind === 'pre-election') this.startCampaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const voter of this.voters) {
      if (voter === this.id) continue;
      this.send(message({
        type: voteType,
        to: voter,
        term: voteTerm,
        index: lastIndex,
        logTerm: lastTerm,
        context: kind === 'transfer' ? TRANSFER_CONTEXT : EMPTY_BYTES,
      }));
    }
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.stepLocal(MessageType.Hup);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) this.stepLocal(MessageType.CheckQuorum);
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.stepLocal(MessageType.Beat);
    }
  }

  // ---------------------------------------------------------------- step

  private stepLocal(type: MessageType): void {
    this.stepMessage(message({ type, from: this.id, to: this.id }));
  }

  private stepMessage(m: Message): void {
    if (m.term === 0) {
      // Local message.
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const forced = m.context.length === TRANSFER_CONTEXT.length && m.context.every((b, i) => b === TRANSFER_CONTEXT[i]);
        const inLease = this.config.checkQuorum && this.leader !== NONE && this.electionElapsed < this.config.electionTicks;
        // Heard from a leader within the election timeout: a vote request is disruptive; ignore it (§6 of the thesis).
        if (!forced && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // Never change term on a pre-vote request.
      } else if (m.type === MessageType.PreVoteResponse && !m.reject) {
        // The term in a granted pre-vote response is the one we will campaign at.
      } else if (m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.Append)) {
        // A stale leader (e.g. healed from a partition) learns the new term from our answer and steps down.
        this.send(message({ type: MessageType.AppendResponse, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.send(message({ type: MessageType.PreVoteResponse, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        if (this.role === 'leader') return;
        if (this.hasUnappliedConfChange()) return;
        this.startCampaign(this.config.preVote ? 'pre-election' : 'election');
        return;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
    }

    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  /** A campaign must not start while a committed conf change is unapplied: the voter set could be stale. */
  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const entries = this.log.slice(Math.max(this.log.applied + 1, this.log.firstIndex()), this.log.committed + 1, Infinity);
    return entries.some((entry) => entry.type === EntryType.ConfChange);
  }

  private handleVoteRequest(m: Message): void {
    const responseType = m.type === MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.leader === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // The response carries the request's term: for a pre-vote that is the future term.
      this.send(message({ type: responseType, to: m.from, term: m.term }));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(message({ type: responseType, to: m.from, term: this.term, reject: true }));
    }
  }

  private stepCandidate(m: Message): void {
    const expectedResponse = this.role === 'pre-candidate' ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    switch (m.type) {
      case MessageType.Append:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshotChunk(m);
        return;
      case MessageType.TimeoutNow:
        return;
      case MessageType.ReadIndex:
        return;
    }
    if (m.type !== expectedResponse) return;
    if (!this.voters.includes(m.from)) return;
    if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
    const result = tallyVotes(this.voters, this.votes);
    if (result === 'won') {
      if (this.role === 'pre-candidate') this.startCampaign('election');
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, NONE);
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshotChunk(m);
        return;
      case MessageType.TimeoutNow:
        // Leadership transfer: campaign at once, bypassing pre-vote and leases.
        this.startCampaign('transfer');
        return;
      case MessageType.TransferLeader:
      case MessageType.ReadIndex:
        if (this.leader === NONE) return;
        this.send({ ...m, to: this.leader });
        return;
      case MessageType.ReadIndexResponse:
        this.readStates.push({ index: m.index, context: m.context });
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.broadcastHeartbeat(this.readOnly.lastPendingContext());
        return;
      case MessageType.CheckQuorum:
        if (!this.quorumActive()) this.becomeFollower(this.term, NONE);
        for (const [id, progress] of this.progress) if (id !== this.id) progress.recentActive = false;
        return;
      case MessageType.ReadIndex:
        this.leaderReadIndex(m, 'safe');
        return;
      case MessageType.TransferLeader:
        this.leaderTransfer(m);
        return;
    }

    const progress = this.progress.get(m.from);
    if (!progress) return; // not a member (any more)
    if (isResponseMessage(m.type)) progress.recentActive = true;

    switch (m.type) {
      case MessageType.AppendResponse:
        this.handleAppendResponse(m, progress);
        return;
      case MessageType.HeartbeatResponse:
        this.handleHeartbeatResponse(m, progress);
        return;
      case MessageType.SnapshotResponse:
        this.handleSnapshotResponse(m, progress);
        return;
    }
  }

  // ------------------------------------------------------------ leader side

  private assertCanPropose(): void {
    if (this.removed) throw new RemovedNodeError(this.id);
    if (this.role !== 'leader') throw new NotLeaderError(this.leader, this.term);
    if (!this.progress.has(this.id)) throw new ProposalDroppedError('this leader is not in the configuration');
    if (this.leadTransferee !== NONE) throw new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}`);
  }

  private proposeEntry(type: EntryType, data: Uint8Array): { index: number; term: number } {
    this.assertCanPropose();
    const size = data.length + 24;
    if (this.config.maxUncommittedEntriesBytes > 0 && this.uncommittedBytes > 0 && this.uncommittedBytes + size > this.config.maxUncommittedEntriesBytes) {
      throw new ProposalDroppedError(`too many uncommitted entries (${this.uncommittedBytes} bytes); followers are behind`);
    }
    const entry: Entry = { term: 0, index: 0, type, data };
    this.appendEntries([entry]);
    this.uncommittedBytes += size;
    this.appendBroadcastPending = true;
    return { index: entry.index, term: entry.term };
  }

  private appendEntries(entries: Entry[]): void {
    let index = this.log.lastIndex();
    for (const entry of entries) {
      entry.term = this.term;
      entry.index = ++index;
    }
    this.log.append(entries);
    // The leader's own match moves in advance(), once these entries are durable.
  }

  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const voter of this.voters) matches.push(this.progress.get(voter)?.match ?? 0);
    const quorumIndex = quorumValue(matches);
    // Only entries of the current term commit by counting (§5.4.2).
    if (quorumIndex > this.log.committed && quorumIndex !== Infinity && this.log.term(quorumIndex) === this.term) {
      this.log.commitTo(quorumIndex);
      return true;
    }
    return false;
  }

  /** Send every follower what it lacks: as many Appends as its flow-control window allows (pipelining). */
  private broadcastAppend(): void {
    for (const id of this.progress.keys()) {
      if (id === this.id) continue;
      if (this.sendAppend(id, true)) while (this.sendAppend(id, false)) { /* fill the window */ }
    }
  }

  private broadcastHeartbeat(context: Uint8Array | undefined): void {
    for (const [id, progress] of this.progress) {
      if (id === this.id) continue;
      this.send(message({
        type: MessageType.Heartbeat,
        to: id,
        // Never tell a follower to commit past what it is known to have.
        commit: Math.min(progress.match, this.log.committed),
        context: context ?? EMPTY_BYTES,
        // The tick of sending, echoed back: a quorum of echoes is the lease.
        index: this.tickCount,
      }));
    }
  }

  /** Send entries (or an empty Append to carry the commit index) to `to`; returns whether a message was sent. */
  private sendAppend(to: string, sendIfEmpty: boolean): boolean {
    const progress = this.progress.get(to)!;
    if (progress.isPaused()) return false;
    if (progress.next < this.log.firstIndex()) {
      this.startSnapshotTransfer(to, progress);
      return true;
    }
    const previousIndex = progress.next - 1;
    const previousTerm = this.log.term(previousIndex);
    const entries = this.log.entriesFrom(progress.next, this.config.maxSizePerMsg);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send(message({
      type: MessageType.Append,
      to,
      index: previousIndex,
      logTerm: previousTerm,
      entries,
      commit: this.log.committed,
    }));
    if (entries.length > 0) {
      if (progress.state === 'replicate') {
        const last = entries[entries.length - 1]!.index;
        progress.optimisticUpdate(last);
        progress.inflights.add(last);
      } else if (progress.state === 'probe') {
        progress.probeSent = true;
      }
    } else if (progress.state === 'probe') {
      progress.probeSent = true;
    }
    return true;
  }

  private handleAppendResponse(m: Message, progress: Progress): void {
    if (m.reject) {
      // Fast back-off: use the follower's hint, skipping whole terms the follower does not share.
      let nextProbeIndex = m.rejectHint;
      if (m.logTerm > 0) nextProbeIndex = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
      if (progress.maybeDecrTo(m.index, nextProbeIndex)) {
        if (progress.state === 'replicate') progress.becomeProbe();
        this.sendAppend(m.from, false) || this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = progress.isPaused();
    if (!progress.maybeUpdate(m.index)) return;
    if (progress.state === 'probe') {
      progress.becomeReplicate();
    } else if (progress.state === 'snapshot' && progress.match >= progress.pendingSnapshot) {
      progress.becomeProbe();
      progress.becomeReplicate();
    } else if (progress.state === 'replicate') {
      progress.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.broadcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from, true);
    }
    // Fill the pipeline while the window allows.
    while (this.sendAppend(m.from, false)) { /* keep sending */ }
    if (m.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.send(message({ type: MessageType.TimeoutNow, to: m.from }));
    }
  }

  private handleHeartbeatResponse(m: Message, progress: Progress): void {
    if (m.index > progress.leaseAckTick) progress.leaseAckTick = m.index;
    progress.probeSent = false;
    // The follower is alive but the window is full: the Appends in it were
    // probably lost (e.g. a partition). Free one slot so an Append goes out;
    // its rejection sends the follower back to probing from its match index.
    if (progress.state === 'replicate' && progress.inflights.full()) progress.inflights.freeFirstOne();
    if (progress.state === 'snapshot') {
      this.resendStalledSnapshotChunk(m.from, progress);
    } else if (progress.match < this.log.lastIndex()) {
      this.sendAppend(m.from, true);
    }
    if (m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks) return;
    acks.add(this.id);
    let granted = 0;
    for (const voter of this.voters) if (acks.has(voter)) granted++;
    if (granted < Math.floor(this.voters.length / 2) + 1) return;
    for (const status of this.readOnly.advance(m.context)) this.respondToReadIndex(status.request, status.index);
  }

  private leaderReadIndex(request: Message, mode: ReadMode): void {
    if (this.voters.length === 1 && this.voters[0] === this.id) {
      this.respondToReadIndex(request, this.log.committed);
      return;
    }
    // Until the leader commits an entry of its own term it does not know the
    // commit index (§6.4): hold the request.
    if (this.log.term(this.log.committed) !== this.term) {
      this.pendingReadIndexMessages.push(request);
      return;
    }
    if (mode === 'lease' && this.hasLease()) {
      this.respondToReadIndex(request, this.log.committed);
      return;
    }
    this.readOnly.addRequest(this.log.committed, request);
    this.readOnly.recvAck(this.id, request.context);
    this.broadcastHeartbeat(request.context);
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    if (this.log.term(this.log.committed) !== this.term) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const request of pending) this.leaderReadIndex(request, 'safe');
  }

  private respondToReadIndex(request: Message, index: number): void {
    if (request.from === NONE || request.from === this.id) {
      this.readStates.push({ index, context: request.context });
    } else {
      this.send(message({ type: MessageType.ReadIndexResponse, to: request.from, index, context: request.context }));
    }
  }

  private leaderTransfer(m: Message): void {
    const transferee = m.from;
    const progress = this.progress.get(transferee);
    if (!progress || progress.isLearner) return;
    if (transferee === this.id) return;
    if (this.leadTransferee === transferee) return;
    this.leadTransferee = transferee;
    this.electionElapsed = 0; // the transfer must finish within one election timeout
    if (progress.match === this.log.lastIndex()) {
      this.send(message({ type: MessageType.TimeoutNow, to: transferee }));
    } else {
      this.sendAppend(transferee, true);
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const voter of this.voters) {
      if (voter === this.id || this.progress.get(voter)?.recentActive) active++;
    }
    return active >= Math.floor(this.voters.length / 2) + 1;
  }

  // ------------------------------------------------------ snapshot transfer

  private startSnapshotTransfer(to: string, progress: Progress): void {
    if (!progress.recentActive) return; // do not ship a snapshot to a node that may be down
    const snapshot = this.log.snapshot();
    if (snapshot.metadata.index === 0) throw new Error(`raft invariant: ${to} needs entries before ${this.log.firstIndex()} but there is no snapshot`);
    progress.becomeSnapshot(snapshot.metadata.index);
    progress.snapshotTransfer = { snapshot, offset: 0, lastActivityTick: this.tickCount };
    this.sendSnapshotChunk(to, progress);
  }

  private sendSnapshotChunk(to: string, progress: Progress): void {
    const transfer = progress.snapshotTransfer!;
    const data = transfer.snapshot.data;
    const end = Math.min(transfer.offset + this.config.snapshotChunkBytes, data.length);
    transfer.lastActivityTick = this.tickCount;
    this.send(message({
      type: MessageType.Snapshot,
      to,
      snapshot: { metadata: transfer.snapshot.metadata, data: data.subarray(transfer.offset, end) },
      snapshotOffset: transfer.offset,
      snapshotDone: end >= data.length,
    }));
  }

  private handleSnapshotResponse(m: Message, progress: Progress): void {
    const transfer = progress.snapshotTransfer;
    if (progress.state !== 'snapshot' || !transfer) return;
    if (m.index > transfer.snapshot.data.length) return;
    transfer.offset = m.index;
    this.sendSnapshotChunk(m.from, progress);
  }

  /** A chunk or its acknowledgement was lost: after two heartbeat intervals without progress, send the current chunk again. */
  private resendStalledSnapshotChunk(to: string, progress: Progress): void {
    const transfer = progress.snapshotTransfer;
    if (!transfer) {
      progress.becomeProbe();
      return;
    }
    if (this.tickCount - transfer.lastActivityTick >= 2 * this.config.heartbeatTicks) this.sendSnapshotChunk(to, progress);
  }

  // ---------------------------------------------------------- follower side

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(message({ type: MessageType.AppendResponse, to: m.from, index: this.log.committed }));
      return;
    }
    const lastNewIndex = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNewIndex !== undefined) {
      this.send(message({ type: MessageType.AppendResponse, to: m.from, index: lastNewIndex }));
      return;
    }
    // Reject with a hint: the largest index ≤ m.index whose term is ≤ m.logTerm,
    // so the leader can skip over a whole conflicting term at once.
    const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(message({
      type: MessageType.AppendResponse,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      logTerm: this.log.term(hintIndex),
    }));
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(message({ type: MessageType.HeartbeatResponse, to: m.from, context: m.context, index: m.index }));
  }

  private handleSnapshotChunk(m: Message): void {
    const chunk = m.snapshot;
    if (!chunk) return;
    const metadata = chunk.metadata;
    let incoming = this.incomingSnapshot;
    if (!incoming || incoming.snapshot.metadata.index !== metadata.index || incoming.snapshot.metadata.term !== metadata.term) {
      if (m.snapshotOffset !== 0) {
        this.send(message({ type: MessageType.SnapshotResponse, to: m.from, index: 0, reject: true }));
        return;
      }
      incoming = { snapshot: { metadata, data: EMPTY_BYTES }, chunks: [], received: 0 };
      this.incomingSnapshot = incoming;
    }
    if (m.snapshotOffset !== incoming.received) {
      this.send(message({ type: MessageType.SnapshotResponse, to: m.from, index: incoming.received, reject: true }));
      return;
    }
    // Copy: the chunk may be a view into a transport buffer that is reused.
    incoming.chunks.push(chunk.data.slice());
    incoming.received += chunk.data.length;
    if (!m.snapshotDone) {
      this.send(message({ type: MessageType.SnapshotResponse, to: m.from, index: incoming.received }));
      return;
    }
    const data = new Uint8Array(incoming.received);
    let offset = 0;
    for (const part of incoming.chunks) {
      data.set(part, offset);
      offset += part.length;
    }
    this.incomingSnapshot = null;
    const snapshot: Snapshot = { metadata, data };
    if (this.restore(snapshot)) {
      this.send(message({ type: MessageType.AppendResponse, to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(message({ type: MessageType.AppendResponse, to: m.from, index: this.log.committed }));
    }
  }

  /** Install a snapshot from the leader; false when we already have everything it holds. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We have the snapshot's last entry: just move the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.applyConfState(snapshot.metadata.conf);
    return true;
  }

  // ------------------------------------------------------ membership

  private applyConfState(conf: ConfState): void {
    const lastIndex = this.log.lastIndex();
    const previous = this.progress;
    this.progress = new Map();
    this.voters = [...conf.voters];
    this.learners = [...conf.learners];
    for (const id of this.voters) this.progress.set(id, previous.get(id) ?? new Progress(lastIndex + 1, this.config.maxInflightMsgs, false));
    for (const id of this.learners) {
      const progress = previous.get(id) ?? new Progress(lastIndex + 1, this.config.maxInflightMsgs, true);
      progress.isLearner = true;
      this.progress.set(id, progress);
    }
    for (const id of this.voters) this.progress.get(id)!.isLearner = false;
    const self = this.progress.get(this.id);
    if (self) self.match = Math.max(self.match, this.role === 'leader' ? lastIndex : self.match);
  }

  private applyConfChange(change: ConfChange): void {
    const voters = this.voters.filter((id) => id !== change.nodeId);
    const learners = this.learners.filter((id) => id !== change.nodeId);
    switch (change.type) {
      case ConfChangeType.AddVoter:
        voters.push(change.nodeId);
        break;
      case ConfChangeType.AddLearner:
        if (this.voters.includes(change.nodeId)) return; // refused at proposal; ignore if it slipped through
        learners.push(change.nodeId);
        break;
      case ConfChangeType.RemoveNode:
        break;
    }
    const wasMember = this.progress.has(this.id);
    this.applyConfState({ voters, learners });
    if (wasMember && change.type === ConfChangeType.RemoveNode && change.nodeId === this.id) {
      this.removed = true;
      if (this.role === 'leader') this.becomeFollower(this.term, NONE);
    }
    if (this.role !== 'leader') return;
    if (this.leadTransferee !== NONE && !this.voters.includes(this.leadTransferee)) this.leadTransferee = NONE;
    // A smaller quorum may already have committed more.
    if (this.maybeCommit()) this.broadcastAppend();
    else for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, false);
  }

  // ---------------------------------------------------------------- send

  private send(m: Message): void {
    // A forwarded TransferLeader keeps its `from` (the transferee); everything else is from us.
    if (m.from === NONE) m.from = this.id;
    if (this.role === 'leader' && LEADER_PARALLEL_TYPES.has(m.type)) {
      m.term = this.term;
      this.leaderMessages.push(m);
      return;
    }
    const carriesOwnTerm =
      m.type === MessageType.Vote ||
      m.type === MessageType.PreVote ||
      m.type === MessageType.VoteResponse ||
      m.type === MessageType.PreVoteResponse;
    if (!carriesOwnTerm) {
      // Forwarded requests (ReadIndex, TransferLeader) travel with the term too: a receiver drops term-0 messages from the wire.
      m.term = this.term;
    }
    this.messages.push(m);
  }
}

/** What a leader may send before its own save completes: nothing in them depends on its disk. */
const LEADER_PARALLEL_TYPES: ReadonlySet<MessageType> = new Set([
  MessageType.Append, MessageType.Heartbeat, MessageType.Snapshot, MessageType.TimeoutNow, MessageType.ReadIndexResponse,
]);

function isLocalType(type: MessageType): boolean {
  return type === MessageType.Hup || type === MessageType.Beat || type === MessageType.CheckQuorum;
}


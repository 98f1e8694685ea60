// Raft's wire and disk types: the messages replicas exchange, log entries, hard
// state and snapshots. Defined once here; the binary codecs and their
// validation live in `raft-codec.ts` beside this file. Nothing here does I/O.
//
// Node ids are strings: the agent uses libp2p peer ids, the simulator and tests
// use short names ("n1"). The empty string means "none" (no vote, no leader).

/** No node: no vote cast, no leader known. */
export const NONE = '';

/** What a log entry carries. */
export const EntryType = {
  /** Application data (a replicated-state command), or empty: the no-op a new leader appends. */
  Normal: 0,
  /** A membership change; `data` is an encoded `ConfChange`. */
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export type Entry = {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
};

/** What must be on disk before a node may answer a message: Raft's persistent state. */
export type HardState = {
  term: number;
  /** Whom this node voted for in `term`, or NONE. */
  vote: string;
  /** Highest index known committed. Persisted so a restart re-applies no further than needed. */
  commit: number;
};

/** The voting and non-voting members. A node is in at most one of the two lists. */
export type ConfState = {
  voters: string[];
  learners: string[];
};

export type SnapshotMetadata = {
  /** The last log index and term the snapshot covers. */
  index: number;
  term: number;
  /** The membership as of `index`. */
  conf: ConfState;
};

export type Snapshot = {
  metadata: SnapshotMetadata;
  /** The application state machine's serialized state at `metadata.index`. */
  data: Uint8Array;
};

/** The membership change carried by an EntryType.ConfChange entry. One change at a time. */
export const ConfChangeType = {
  /** Add a voter, or promote an existing learner to voter. */
  AddVoter: 0,
  /** Add a non-voting learner that receives the log. */
  AddLearner: 1,
  /** Remove a voter or learner. */
  RemoveNode: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export type ConfChange = {
  type: ConfChangeType;
  nodeId: string;
  /** Opaque to Raft: the agent stores the member's address here. */
  context: Uint8Array;
};

/**
 * Message kinds. Each comment says who sends it and what the receiver does.
 * Local-only kinds (Hup, Beat, Propose, ReadIndex, TransferLeader from the
 * application) never cross the network; the codec refuses them.
 */
export const MessageType = {
  /** Candidate -> all voters: vote for me in `term`; `index`/`logTerm` describe my last entry. */
  Vote: 1,
  /** Voter -> candidate: `reject` says whether the vote was granted. */
  VoteResponse: 2,
  /** Would-be candidate -> voters: would you vote for me at `term` (not yet incremented locally)? Avoids disrupting a healthy leader. */
  PreVote: 3,
  /** Voter -> would-be candidate: the pre-vote answer. */
  PreVoteResponse: 4,
  /** Leader -> follower: `entries` follow the entry at (`index`, `logTerm`); `commit` is the leader's commit index. */
  Append: 5,
  /** Follower -> leader: accepted up to `index`, or `reject` with `rejectHint` (the follower's best guess of a matching index) and `logTerm` (its term at that index) for fast back-off. */
  AppendResponse: 6,
  /** Leader -> follower: I am still leader; `commit` is min(leader commit, follower's match); `context` echoes a ReadIndex round. */
  Heartbeat: 7,
  /** Follower -> leader: heartbeat acknowledged; echoes `context`. */
  HeartbeatResponse: 8,
  /** Leader -> follower: one chunk of a snapshot; see `snapshot`, `snapshotOffset`, `snapshotDone`. */
  Snapshot: 9,
  /** Follower -> leader: chunk received; `index` is the next byte offset wanted, `reject` if a chunk was out of order. */
  SnapshotResponse: 10,
  /** Leader -> transferee: start an election at once, ignoring lease and pre-vote (leadership transfer). */
  TimeoutNow: 11,
  /** Follower -> leader: forwarded read request carrying `context`; the leader answers with ReadIndexResponse. */
  ReadIndex: 12,
  /** Leader -> follower: the read index (`index`) for the request `context`. */
  ReadIndexResponse: 13,
  /** Follower -> leader: a forwarded leadership-transfer request; `from` is the node that should become leader. */
  TransferLeader: 14,
  /** Local: tick-driven election start. Never on the wire. */
  Hup: 100,
  /** Local: tick-driven heartbeat broadcast on the leader. Never on the wire. */
  Beat: 101,
  /** Local: tick-driven check-quorum on the leader (step down without a recently active quorum). Never on the wire. */
  CheckQuorum: 102,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One Raft message. Fields that a kind does not use are 0, NONE, empty or
 * false. `from`/`to` are node ids, `term` the sender's term (0 for local kinds).
 */
export type Message = {
  type: MessageType;
  from: string;
  to: string;
  term: number;
  /** Append: term of the entry at `index`. AppendResponse reject: the follower's term at `rejectHint`. Vote: last log term. */
  logTerm: number;
  /** Append: index preceding `entries`. AppendResponse: match index. Vote: last log index. ReadIndexResponse: the read index. SnapshotResponse: next offset wanted. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  /** ReadIndex rounds and heartbeats: the request id echoed back. Vote/PreVote: nonzero length marks a leadership-transfer campaign. */
  context: Uint8Array;
  /** Snapshot chunk: the snapshot's metadata, the byte offset of this chunk, whether it is the last, and the chunk bytes in `snapshot.data`. */
  snapshot: Snapshot | null;
  snapshotOffset: number;
  snapshotDone: boolean;
};

/** A message with every optional field at its empty value; pass the rest. */
export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: NONE,
    to: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
    snapshot: null,
    snapshotOffset: 0,
    snapshotDone: false,
    ...fields,
  };
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** True for the kinds that may cross the network. */
export function isWireMessageType(type: number): type is MessageType {
  return type >= MessageType.Vote && type <= MessageType.TransferLeader;
}

export function isResponseMessage(type: MessageType): boolean {
  return (
    type === MessageType.VoteResponse ||
    type === MessageType.PreVoteResponse ||
    type === MessageType.AppendResponse ||
    type === MessageType.HeartbeatResponse ||
    type === MessageType.SnapshotResponse ||
    type === MessageType.ReadIndexResponse
  );
}

export function emptyHardState(): HardState {
  return { term: 0, vote: NONE, commit: 0 };
}

export function isEmptyHardState(state: HardState): boolean {
  return state.term === 0 && state.vote === NONE && state.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: EMPTY_BYTES };
}

export function isEmptySnapshot(snapshot: Snapshot | null): boolean {
  return snapshot === null || snapshot.metadata.index === 0;
}

/** Bytes an entry takes toward size limits (payload plus a fixed header estimate). */
export function entrySize(entry: Entry): number {
  return entry.data.length + 24;
}

// Typed errors of the Raft library. Each carries what the caller needs to act:
// a NotLeaderError names the leader to retry against, a dropped proposal says
// why, a storage error names the file and what was wrong with it.

export class RaftError extends Error {
  override name = 'RaftError';
}

/** A proposal or read reached a node that is not the leader. Retry against `leaderHint` (NONE if unknown). */
export class NotLeaderError extends RaftError {
  override name = 'NotLeaderError';
  readonly leaderHint: string;
  readonly term: number;
  constructor(leaderHint: string, term: number) {
    super(leaderHint ? `not the leader; the leader is ${leaderHint} (term ${term})` : `not the leader and no leader is known (term ${term})`);
    this.leaderHint = leaderHint;
    this.term = term;
  }
}

/** This node has been removed from the cluster's membership; it will not take part again. */
export class RemovedNodeError extends RaftError {
  override name = 'RemovedNodeError';
  readonly nodeId: string;
  constructor(nodeId: string) {
    super(`node ${nodeId} has been removed from the raft configuration`);
    this.nodeId = nodeId;
  }
}

/**
 * A proposal was not accepted, or was accepted and then lost to a change of
 * leader before it committed. It may be retried; it was not applied.
 */
export class ProposalDroppedError extends RaftError {
  override name = 'ProposalDroppedError';
  readonly reason: string;
  constructor(reason: string) {
    super(`proposal dropped: ${reason}`);
    this.reason = reason;
  }
}

/** Asked for log entries that were compacted into a snapshot. */
export class CompactedError extends RaftError {
  override name = 'CompactedError';
  constructor(index: number, firstIndex: number) {
    super(`log index ${index} is compacted; first available is ${firstIndex}`);
  }
}

/** Asked for log entries that do not exist yet. */
export class UnavailableError extends RaftError {
  override name = 'UnavailableError';
  constructor(index: number, lastIndex: number) {
    super(`log index ${index} is unavailable; last index is ${lastIndex}`);
  }
}

export class SnapshotOutOfDateError extends RaftError {
  override name = 'SnapshotOutOfDateError';
  constructor(index: number, currentIndex: number) {
    super(`snapshot at index ${index} is older than the current snapshot at ${currentIndex}`);
  }
}

/** A Config that cannot work; the message names the field. */
export class ConfigError extends RaftError {
  override name = 'ConfigError';
}

/** Data on disk that does not decode or does not fit together. Never replayed; the operator must act. */
export class CorruptStorageError extends RaftError {
  override name = 'CorruptStorageError';
  readonly location: string;
  constructor(location: string, problem: string) {
    super(`raft storage at ${location} is corrupt: ${problem}. Refusing to start rather than replay damaged data; restore the data directory from a snapshot or remove this node and re-add it empty.`);
    this.location = location;
  }
}

// The Raft core's configuration: one typed object, validated in one place
// (as etcd-io/raft's Config.validate()). Time is counted in ticks; the runtime
// decides how long a tick is (the agent's default is 100 ms).

import type { Prng } from './prng.ts';
import type { MemoryStorage } from './storage.ts';
import { ConfigError } from './errors.ts';

export type ReadMode = 'safe' | 'lease';

export type RaftConfig = {
  /** This node's id; never NONE. */
  id: string;
  /**
   * The log, hard state and snapshot as of start-up, built from durable
   * storage (`MemoryStorage.from(await durable.load())`). The node appends to it
   * in `advance()`, after the runtime has made each Ready durable.
   */
  storage: MemoryStorage;
  /** Randomness for election timeouts. */
  prng: Prng;
  /**
   * Ticks a follower waits without hearing from a leader before it campaigns;
   * the actual timeout is drawn uniformly from [electionTicks, 2*electionTicks).
   * Larger means fewer spurious elections on a slow network and slower
   * fail-over. Must be well above heartbeatTicks (etcd suggests 10x).
   */
  electionTicks: number;
  /** Ticks between leader heartbeats. Smaller detects lost followers sooner and costs messages. */
  heartbeatTicks: number;
  /** Upper bound on the bytes of entries in one Append; trades per-message overhead against latency of one large message. */
  maxSizePerMsg: number;
  /**
   * Append messages that may be in flight to one follower before the leader
   * waits for acknowledgements (pipelining window). Larger fills a long pipe;
   * smaller bounds memory and retransmission after a loss.
   */
  maxInflightMsgs: number;
  /** Upper bound on the bytes of committed entries handed out in one Ready. */
  maxCommittedSizePerReady: number;
  /**
   * Proposals are refused (ProposalDroppedError) while the leader's uncommitted
   * entries exceed this many bytes: backpressure instead of unbounded memory
   * when followers cannot keep up. 0 means no limit.
   */
  maxUncommittedEntriesBytes: number;
  /**
   * A leader that has not heard from a quorum within an election timeout steps
   * down, and followers ignore vote requests while they hear from a leader.
   * Required for lease reads; protects a healthy cluster from a partitioned node.
   */
  checkQuorum: boolean;
  /** Candidates first ask whether they could win (pre-vote) before raising the term, so a rejoining node cannot disrupt a healthy leader. */
  preVote: boolean;
  /** Bytes of snapshot data in one Snapshot message; the snapshot is sent chunk by chunk with acknowledgement. */
  snapshotChunkBytes: number;
  /**
   * A lease read is served while a quorum acknowledged a heartbeat sent less
   * than `electionTicks - leaseSafetyTicks` ticks ago. The margin covers tick
   * granularity on both sides and clock-rate drift; at least 2.
   */
  leaseSafetyTicks: number;
  /** Highest index the application has applied (on restart); 0 means the snapshot's index. */
  applied: number;
};

/** Defaults for a LAN with a 100 ms tick: 1-2 s election timeout, 100 ms heartbeats. */
export const defaultRaftOptions = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxSizePerMsg: 1024 * 1024,
  maxInflightMsgs: 256,
  maxCommittedSizePerReady: 16 * 1024 * 1024,
  maxUncommittedEntriesBytes: 64 * 1024 * 1024,
  checkQuorum: true,
  preVote: true,
  snapshotChunkBytes: 512 * 1024,
  leaseSafetyTicks: 2,
  applied: 0,
} satisfies Partial<RaftConfig>;

export type RaftOptions = Pick<RaftConfig, 'id' | 'storage' | 'prng'> & Partial<Omit<RaftConfig, 'id' | 'storage' | 'prng'>>;

export function raftConfig(options: RaftOptions): RaftConfig {
  const config: RaftConfig = { ...defaultRaftOptions, ...options };
  validateRaftConfig(config);
  return config;
}

export function validateRaftConfig(config: RaftConfig): void {
  const problems: string[] = [];
  const positiveInteger = (name: keyof RaftConfig) => {
    const value = config[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) problems.push(`${name} must be a positive integer, got ${String(value)}`);
  };
  if (typeof config.id !== 'string' || config.id === '') problems.push('id must be a non-empty string');
  positiveInteger('electionTicks');
  positiveInteger('heartbeatTicks');
  positiveInteger('maxSizePerMsg');
  positiveInteger('maxInflightMsgs');
  positiveInteger('maxCommittedSizePerReady');
  positiveInteger('snapshotChunkBytes');
  if (config.electionTicks <= config.heartbeatTicks) problems.push(`electionTicks (${config.electionTicks}) must be greater than heartbeatTicks (${config.heartbeatTicks})`);
  if (!Number.isInteger(config.leaseSafetyTicks) || config.leaseSafetyTicks < 2) problems.push(`leaseSafetyTicks must be an integer of at least 2, got ${config.leaseSafetyTicks}`);
  if (!Number.isInteger(config.maxUncommittedEntriesBytes) || config.maxUncommittedEntriesBytes < 0) problems.push('maxUncommittedEntriesBytes must be a non-negative integer');
  if (!Number.isInteger(config.applied) || config.applied < 0) problems.push('applied must be a non-negative integer');
  if (!config.storage) problems.push('storage is required');
  if (!config.prng) problems.push('prng is required');
  if (problems.length > 0) throw new ConfigError(`invalid raft configuration: ${problems.join('; ')}`);
}

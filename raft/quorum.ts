// Majority arithmetic over the voters. Kept apart from the state machine so it
// can be tested on its own (as etcd-io/raft's quorum/ package).

/** Number of votes (or acknowledgements) that form a majority of `voterCount`. */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest value that a majority of `values` have reached: sort descending
 * and take the majority-th. Used for the commit index (values = match indexes)
 * and the lease (values = acknowledged heartbeat ticks). Empty -> Infinity, so
 * a node with no voters never commits by counting.
 */
export function quorumValue(values: number[]): number {
  if (values.length === 0) return Infinity;
  values.sort((a, b) => b - a);
  return values[majority(values.length) - 1]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

export function tallyVotes(voters: readonly string[], votes: ReadonlyMap<string, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const needed = majority(voters.length);
  if (granted >= needed) return 'won';
  if (rejected >= needed || voters.length - rejected < needed) return 'lost';
  return 'pending';
}

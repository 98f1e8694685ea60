// Raft's safety properties (Raft paper, Figure 3), checked on the fly by the
// simulators that drive real RaftNode cores: the Raft-only harness
// (raft-cluster.ts) and the mesh simulator's Raft group (raft-layer.ts).
//
//   election safety      at most one leader per term
//   leader completeness  a new leader's log holds every committed entry
//   state-machine safety no two nodes apply different entries at one index
//   log matching         entries with equal index and term have equal prefixes
//
// Each method returns the violation as a sentence, or null; the caller
// decides whether to throw or to record it.
//
//   const safety = new RaftSafety();
//   const problem = safety.leaderElected(term, id) ?? safety.applied(id, entry, appliedBefore, describe(entry));

import type { Entry } from '../protocol/raft.ts';
import type { PersistedState } from '../raft/storage.ts';

export class RaftSafety {
  private readonly leaderOfTerm = new Map<number, string>();
  /** What was applied at each index (by any node): term and a description of the data. */
  private readonly appliedAt = new Map<number, { term: number; data: string }>();
  highestApplied = 0;

  /** Entries committed (applied somewhere) so far. */
  get committed(): number {
    return this.appliedAt.size;
  }

  /** `id` became leader of `term`. */
  leaderElected(term: number, id: string): string | null {
    const existing = this.leaderOfTerm.get(term);
    if (existing !== undefined && existing !== id) return `election safety: ${existing} and ${id} are both leader of term ${term}`;
    this.leaderOfTerm.set(term, id);
    return null;
  }

  /** A new leader's durable log (and snapshot) must hold every entry applied anywhere so far. */
  leaderComplete(id: string, persisted: PersistedState): string | null {
    const byIndex = new Map<number, Entry>();
    for (const entry of persisted.entries) byIndex.set(entry.index, entry);
    for (const [index, applied] of this.appliedAt) {
      if (index <= persisted.snapshot.metadata.index) continue;
      const entry = byIndex.get(index);
      if (!entry || entry.term !== applied.term) {
        return `leader completeness: new leader ${id} lacks committed entry ${index} (term ${applied.term}); has ${entry ? `term ${entry.term}` : 'nothing'}`;
      }
    }
    return null;
  }

  /**
   * Node `id`, which had applied up to `appliedBefore`, applies `entry`
   * (its data described by `data`, equal for equal entries): in order, no
   * gaps, and the same entry every other node applied at that index.
   */
  applied(id: string, entry: Entry, appliedBefore: number, data: string): string | null {
    if (entry.index <= appliedBefore) return `${id} applied index ${entry.index} twice or out of order (applied ${appliedBefore})`;
    if (entry.index !== appliedBefore + 1) return `${id} skipped from applied ${appliedBefore} to ${entry.index}`;
    const earlier = this.appliedAt.get(entry.index);
    if (earlier && (earlier.term !== entry.term || earlier.data !== data)) {
      return `state-machine safety: index ${entry.index} applied as term ${earlier.term} ${earlier.data} elsewhere but term ${entry.term} ${data} on ${id}`;
    }
    if (!earlier) {
      this.appliedAt.set(entry.index, { term: entry.term, data });
      if (entry.index > this.highestApplied) this.highestApplied = entry.index;
    }
    return null;
  }

  /** Log matching over the nodes' durable logs: below any shared (index, term), equal entries. */
  static logMatching(logs: readonly { id: string; entries: readonly Entry[] }[], data: (entry: Entry) => string): string | null {
    const indexed = logs.map(({ id, entries }) => {
      const byIndex = new Map<number, Entry>();
      for (const entry of entries) byIndex.set(entry.index, entry);
      return { id, byIndex };
    });
    for (let a = 0; a < indexed.length; a++) {
      for (let b = a + 1; b < indexed.length; b++) {
        const left = indexed[a]!;
        const right = indexed[b]!;
        let matched = false;
        const indexes = [...left.byIndex.keys()].filter((index) => right.byIndex.has(index)).sort((x, y) => y - x);
        for (const index of indexes) {
          const x = left.byIndex.get(index)!;
          const y = right.byIndex.get(index)!;
          if (x.term === y.term) matched = true;
          if (matched && (x.term !== y.term || data(x) !== data(y))) {
            return `log matching: ${left.id} and ${right.id} share a later entry but differ at index ${index}`;
          }
        }
      }
    }
    return null;
  }
}

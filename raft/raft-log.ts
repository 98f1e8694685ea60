// The log as the Raft core sees it: the stable part in LogStorage plus the
// unstable tail (entries and possibly a snapshot) not yet made durable.
// Port of etcd-io/raft's raftLog/unstable, with its invariants asserted.

import type { Entry, Snapshot } from '../protocol/raft.ts';
import type { LogStorage } from './storage.ts';

/** Entries and a snapshot that the runtime has not yet written to durable storage. */
class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : undefined;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === index) return this.snapshot.metadata.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset]!.term;
  }

  stableTo(index: number, term: number): void {
    const actualTerm = this.maybeTerm(index);
    // Only if the entry was not replaced since the Ready that carried it.
    if (actualTerm === term && index >= this.offset) {
      this.entries = this.entries.slice(index + 1 - this.offset);
      this.offset = index + 1;
    }
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.metadata.index === index) this.snapshot = null;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  truncateAndAppend(entries: Entry[]): void {
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      for (const entry of entries) this.entries.push(entry);
    } else if (after <= this.offset) {
      // Replaces everything unstable; the runtime's next write overwrites stored entries from `after`.
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

export class RaftLog {
  readonly storage: LogStorage;
  readonly unstable: Unstable;
  /** Highest index known to be committed. */
  committed: number;
  /** Highest index handed to the application in a Ready. */
  applied: number;

  constructor(storage: LogStorage) {
    this.storage = storage;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new Unstable(lastIndex + 1);
    this.committed = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term of entry `index`, or 0 when it is compacted or does not exist. */
  term(index: number): number {
    const dummyIndex = this.firstIndex() - 1;
    if (index < dummyIndex || index > this.lastIndex()) return 0;
    const unstableTerm = this.unstable.maybeTerm(index);
    if (unstableTerm !== undefined) return unstableTerm;
    if (index < this.storage.firstIndex() - 1) return 0;
    return this.storage.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    if (index > this.lastIndex() || index < this.firstIndex() - 1) return false;
    return this.term(index) === term;
  }

  /** Raft's up-to-date check (§5.4.1): a candidate's log at least as new as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * A follower's handling of Append: if our entry at `index` has `logTerm`,
   * append `entries` (replacing a conflicting suffix), advance commit, and
   * return the new last index; otherwise undefined (reject).
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNewIndex = index + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      if (conflictIndex <= this.committed) {
        throw new Error(`raft invariant: entry ${conflictIndex} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(entries.slice(conflictIndex - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNewIndex));
    return lastNewIndex;
  }

  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    if (after < this.committed) {
      throw new Error(`raft invariant: append after ${after} is below committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** Index of the first entry whose term differs from ours (or that we lack); 0 when all match. */
  findConflict(entries: Entry[]): number {
    for (const entry of entries) {
      if (this.term(entry.index) !== entry.term) return entry.index;
    }
    return 0;
  }

  /**
   * Fast back-off: the largest index ≤ `index` whose term is ≤ `term`. A leader
   * uses it with the follower's hint to skip a whole term of mismatched entries
   * per round trip instead of one entry.
   */
  findConflictByTerm(index: number, term: number): number {
    const lastIndex = this.lastIndex();
    if (index > lastIndex) return index;
    const firstIndex = this.firstIndex();
    while (index >= firstIndex) {
      if (this.term(index) <= term) break;
      index--;
    }
    return index;
  }

  commitTo(index: number): void {
    if (this.committed >= index) return;
    if (index > this.lastIndex()) {
      throw new Error(`raft invariant: commit ${index} is beyond the last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new Error(`raft invariant: applied ${index} out of range [${this.applied}, ${this.committed}]`);
    }
    this.applied = index;
  }

  /** Entries in [lo, hi), at least one if any, at most about `maxBytes`. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const firstIndex = this.firstIndex();
    if (lo < firstIndex) throw new Error(`raft invariant: slice from compacted index ${lo} (first ${firstIndex})`);
    if (hi > this.lastIndex() + 1) throw new Error(`raft invariant: slice to ${hi} beyond last ${this.lastIndex()}`);
    let result: Entry[] = [];
    const unstableOffset = this.unstable.offset;
    if (lo < unstableOffset) {
      result = this.storage.entries(lo, Math.min(hi, unstableOffset), maxBytes);
      // Storage stopped early because of the size limit: return what it gave.
      if (result.length < Math.min(hi, unstableOffset) - lo) return result;
    }
    if (hi > unstableOffset) {
      const unstableEntries = this.unstable.slice(Math.max(lo, unstableOffset), hi);
      let bytes = 0;
      for (const entry of result) bytes += entry.data.length + 24;
      for (const entry of unstableEntries) {
        bytes += entry.data.length + 24;
        if (result.length > 0 && bytes > maxBytes) break;
        result.push(entry);
      }
    }
    return result;
  }

  /** Entries from `from` to the end, limited by `maxBytes`. */
  entriesFrom(from: number, maxBytes: number): Entry[] {
    const lastIndex = this.lastIndex();
    if (from > lastIndex) return [];
    return this.slice(from, lastIndex + 1, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  nextCommittedEntries(maxBytes: number): Entry[] {
    const from = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= from) return [];
    return this.slice(from, this.committed + 1, maxBytes);
  }

  /** Install a snapshot from the leader: the log becomes just the snapshot. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  unstableSnapshot(): Snapshot | null {
    return this.unstable.snapshot;
  }

  /** The latest snapshot: the unstable one if any, else storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}

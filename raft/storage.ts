// The two storage contracts of the Raft library.
//
// `LogStorage` is what the core reads, synchronously: the stable part of the
// log, the hard state and the latest snapshot. `MemoryStorage` implements it;
// the agent and the simulator keep one per node and append to it after each
// Ready has been made durable (exactly as etcd-io/raft's MemoryStorage).
//
// `DurableStorage` is what the runtime writes each Ready to before it sends
// messages or acknowledges anything (the level implementation is in
// `level-storage.ts`, an in-memory one for the simulator is below). On start
// the runtime loads it and fills a MemoryStorage from it.

import type { ConfState, Entry, HardState, Snapshot } from '../protocol/raft.ts';
import { emptyHardState, emptySnapshot } from '../protocol/raft.ts';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors.ts';

export interface LogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at least one even if it exceeds `maxBytes`. Throws CompactedError below firstIndex, UnavailableError past lastIndex. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry `index`; valid for firstIndex-1 .. lastIndex. */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

/** What a node must find again after a crash. */
export type PersistedState = {
  hardState: HardState;
  snapshot: Snapshot;
  /** Contiguous entries; any at or below the snapshot's index (kept for slow followers) are skipped on load. */
  entries: Entry[];
};

/** One Ready's durable part; written atomically and synced before `save` resolves. */
export type DurableWrite = {
  hardState: HardState | null;
  /** Entries to append; any stored entries at or after entries[0].index are replaced. */
  entries: Entry[];
  /** A snapshot to install; replaces the log up to its index. */
  snapshot: Snapshot | null;
  /** False when only the commit index changed (Ready.mustSync): the write need not reach the disk before returning. Default true. */
  sync?: boolean;
};

export interface DurableStorage {
  load(): Promise<PersistedState>;
  save(write: DurableWrite): Promise<void>;
  /** Store a snapshot taken by the application and drop log entries up to `snapshot.metadata.index - retainEntries`. */
  saveSnapshot(snapshot: Snapshot, retainEntries: number): Promise<void>;
  close(): Promise<void>;
}

export class MemoryStorage implements LogStorage {
  private hardState: HardState = emptyHardState();
  private currentSnapshot: Snapshot = emptySnapshot();
  /** entriesWithDummy[0] is a dummy carrying the snapshot's index and term. */
  private entriesWithDummy: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];

  static from(state: PersistedState): MemoryStorage {
    const storage = new MemoryStorage();
    storage.applySnapshot(state.snapshot);
    storage.append(state.entries);
    storage.setHardState(state.hardState);
    return storage;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.currentSnapshot.metadata.conf };
  }

  setHardState(state: HardState): void {
    this.hardState = { ...state };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.entriesWithDummy[0]!.index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.entriesWithDummy[index - offset]!;
      bytes += entry.data.length + 24;
      if (result.length > 0 && bytes > maxBytes) break;
      result.push(entry);
    }
    return result;
  }

  term(index: number): number {
    const offset = this.entriesWithDummy[0]!.index;
    if (index < offset) throw new CompactedError(index, offset + 1);
    if (index - offset >= this.entriesWithDummy.length) throw new UnavailableError(index, this.lastIndex());
    return this.entriesWithDummy[index - offset]!.term;
  }

  firstIndex(): number {
    return this.entriesWithDummy[0]!.index + 1;
  }

  lastIndex(): number {
    return this.entriesWithDummy[0]!.index + this.entriesWithDummy.length - 1;
  }

  snapshot(): Snapshot {
    return this.currentSnapshot;
  }

  /** Replace the whole log with a snapshot (received from the leader). */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index < this.currentSnapshot.metadata.index) {
      throw new SnapshotOutOfDateError(snapshot.metadata.index, this.currentSnapshot.metadata.index);
    }
    this.currentSnapshot = snapshot;
    this.entriesWithDummy = [{ term: snapshot.metadata.term, index: snapshot.metadata.index, type: 0, data: new Uint8Array(0) }];
  }

  /** Record a snapshot the application took at `index` (already applied) and drop entries up to `compactTo`. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.currentSnapshot.metadata.index) return this.currentSnapshot;
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    this.currentSnapshot = { metadata: { index, term: this.term(index), conf }, data };
    return this.currentSnapshot;
  }

  /** Drop entries before `compactIndex`; entry `compactIndex` becomes the dummy. */
  compact(compactIndex: number): void {
    const offset = this.entriesWithDummy[0]!.index;
    if (compactIndex <= offset) return;
    if (compactIndex > this.lastIndex()) throw new UnavailableError(compactIndex, this.lastIndex());
    const dummyAt = compactIndex - offset;
    const dummy = this.entriesWithDummy[dummyAt]!;
    this.entriesWithDummy = [{ term: dummy.term, index: dummy.index, type: 0, data: new Uint8Array(0) }, ...this.entriesWithDummy.slice(dummyAt + 1)];
  }

  /** Append entries, replacing any conflicting suffix. Entries already compacted are skipped. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    const toAppend = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const offset = toAppend[0]!.index - this.entriesWithDummy[0]!.index;
    if (offset > this.entriesWithDummy.length) {
      throw new UnavailableError(toAppend[0]!.index, this.lastIndex());
    }
    this.entriesWithDummy.length = offset;
    for (const entry of toAppend) this.entriesWithDummy.push(entry);
  }
}

/**
 * A DurableStorage that keeps everything in memory: for the simulator and
 * tests. "Crashing" a node means dropping its RaftNode and MemoryStorage and
 * building them again from `load()`; what was saved survives.
 */
export class InMemoryDurableStorage implements DurableStorage {
  private state: PersistedState = { hardState: emptyHardState(), snapshot: emptySnapshot(), entries: [] };

  async load(): Promise<PersistedState> {
    return this.loadSync();
  }

  loadSync(): PersistedState {
    return { hardState: { ...this.state.hardState }, snapshot: this.state.snapshot, entries: [...this.state.entries] };
  }

  async save(write: DurableWrite): Promise<void> {
    this.saveSync(write);
  }

  saveSync(write: DurableWrite): void {
    if (write.snapshot !== null && write.snapshot.metadata.index > this.state.snapshot.metadata.index) {
      const snapshotIndex = write.snapshot.metadata.index;
      this.state.snapshot = write.snapshot;
      this.state.entries = this.state.entries.filter((entry) => entry.index > snapshotIndex);
    }
    if (write.entries.length > 0) {
      const firstNew = write.entries[0]!.index;
      this.state.entries = this.state.entries.filter((entry) => entry.index < firstNew);
      const snapshotIndex = this.state.snapshot.metadata.index;
      for (const entry of write.entries) if (entry.index > snapshotIndex) this.state.entries.push(entry);
    }
    if (write.hardState !== null) this.state.hardState = { ...write.hardState };
  }

  async saveSnapshot(snapshot: Snapshot, retainEntries: number): Promise<void> {
    this.saveSnapshotSync(snapshot, retainEntries);
  }

  saveSnapshotSync(snapshot: Snapshot, retainEntries: number): void {
    if (snapshot.metadata.index <= this.state.snapshot.metadata.index) return;
    this.state.snapshot = snapshot;
    const keepAfter = snapshot.metadata.index - retainEntries;
    this.state.entries = this.state.entries.filter((entry) => entry.index > keepAfter);
  }

  async close(): Promise<void> {}
}

// DurableStorage on `level` (LevelDB through classic-level): where an agent's
// Raft log, hard state and snapshot survive crashes.
//
//   const storage = await LevelStorage.open(join(dataDir, 'raft'));
//   const state = await storage.load();          // validated, or CorruptStorageError
//   await storage.save({ hardState, entries, snapshot: null });   // one synced batch
//
// Layout, one database, binary keys (they sort in this order):
//
//   0x00                 format record: the layout version
//   0x01                 hard state
//   0x02                 snapshot, metadata and data in one value
//   0x10 + u64be index   log entry `index`; fixed-width big-endian, so key order is log order
//
// Every value is `crc32 (u32be) | payload`, the CRC taken over the key and
// then the payload: a flipped bit, a torn value or a value written under the
// wrong key all fail the check. Payloads use the codecs of protocol/raft-codec.ts.
//
// Each `save` is ONE `db.batch(..., { sync: true })`: LevelDB writes the batch
// to its write-ahead log atomically and fsyncs it before the promise resolves,
// so after a crash either the whole Ready is on disk or none of it.
//
// `load` never repairs. Anything that does not check out (a CRC, a decode, a
// gap in the log, a commit index past the log, an unknown format) is a
// CorruptStorageError naming the path and the problem: replaying damaged
// Raft state could make this node vote twice or acknowledge entries it lost,
// which breaks safety for the whole cluster. The operator decides.

import { Level } from 'level';
import { DecodeError } from '../protocol/errors.ts';
import { decodeEntry, decodeHardState, decodeSnapshot, encodeEntry, encodeHardState, encodeSnapshot } from '../protocol/raft-codec.ts';
import { emptyHardState, emptySnapshot } from '../protocol/raft.ts';
import type { Entry, HardState, Snapshot } from '../protocol/raft.ts';
import { crc32 } from './crc32.ts';
import { CorruptStorageError, RaftError, UnavailableError } from './errors.ts';
import type { DurableStorage, DurableWrite, PersistedState } from './storage.ts';

/** The layout described above. Bump it, and teach `load` the old one, when the layout changes. */
export const LEVEL_STORAGE_FORMAT_VERSION = 1;

const KEY_FORMAT = Uint8Array.of(0x00);
const KEY_HARD_STATE = Uint8Array.of(0x01);
const KEY_SNAPSHOT = Uint8Array.of(0x02);
const ENTRY_KEY_PREFIX = 0x10;
const ENTRY_KEY_BYTES = 9;
const CRC_BYTES = 4;
/** How many records `load` pulls from LevelDB per native call. */
const LOAD_BATCH_RECORDS = 1_024;

export type LevelStorageOptions = {
  /**
   * fsync each batch before `save` resolves (default true). false trades
   * durability for speed: a machine crash may lose acknowledged writes and
   * with them Raft's safety. Only for throwaway data (benchmarks, `-dev`).
   */
  sync?: boolean;
};

/** Another process (or another LevelStorage in this one) has the database open. */
export class StorageLockedError extends RaftError {
  override name = 'StorageLockedError';
  readonly location: string;
  constructor(location: string, cause: unknown) {
    super(`raft storage at ${location} is locked by another process (is another tribune agent running with the same data directory?)`, { cause });
    this.location = location;
  }
}

type Database = Level<Uint8Array, Uint8Array>;
type BatchOperation = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/** What the write path must know about the stored log without reading it. */
type LogBounds = {
  snapshotIndex: number;
  /** Lowest and highest stored entry index; both 0 when no entry is stored. */
  firstStoredIndex: number;
  lastStoredIndex: number;
};

export class LevelStorage implements DurableStorage {
  readonly location: string;
  private readonly db: Database;
  private readonly sync: boolean;
  private bounds: LogBounds;
  /** What `open` read and validated, handed to the first `load` so start-up reads the disk once. */
  private loadedAtOpen: PersistedState | null;
  /** Batches run one after another: LevelDB's thread pool does not keep the order of concurrent writes. */
  private writeTail: Promise<void> = Promise.resolve();
  /** Set when a batch failed: what is on disk is then unknown to us, so no further write is allowed. */
  private writeFailure: unknown = null;
  private closed = false;

  private constructor(db: Database, location: string, state: PersistedState, options: LevelStorageOptions) {
    this.db = db;
    this.location = location;
    this.sync = options.sync ?? true;
    this.loadedAtOpen = state;
    this.bounds = boundsOf(state);
  }

  /**
   * Open (creating if missing) and validate the whole store. Throws
   * StorageLockedError if the database is in use, CorruptStorageError if
   * anything in it does not check out.
   */
  static async open(location: string, options: LevelStorageOptions = {}): Promise<LevelStorage> {
    const db: Database = new Level<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (error) {
      if (isLockedError(error)) throw new StorageLockedError(location, error);
      throw error;
    }
    try {
      const state = await readStore(db, location);
      return new LevelStorage(db, location, state, options);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  /** Everything stored, validated. The first call returns what `open` already read. */
  async load(): Promise<PersistedState> {
    this.assertOpen();
    const state = this.loadedAtOpen;
    this.loadedAtOpen = null;
    if (state !== null) return state;
    await this.writeTail;
    return readStore(this.db, this.location);
  }

  async save(write: DurableWrite): Promise<void> {
    this.assertWritable();
    this.loadedAtOpen = null; // stale from now on: a later load must read what was written
    const operations: BatchOperation[] = [];
    const bounds = { ...this.bounds };
    let garbage: EntryRange | null = null;
    if (write.snapshot !== null && write.snapshot.metadata.index > bounds.snapshotIndex) {
      putSnapshot(operations, write.snapshot);
      garbage = compactableRange(bounds, write.snapshot.metadata.index);
      bounds.snapshotIndex = write.snapshot.metadata.index;
    }
    appendEntries(operations, bounds, write.entries);
    if (write.hardState !== null) {
      const lastIndex = Math.max(bounds.lastStoredIndex, bounds.snapshotIndex);
      if (write.hardState.commit > lastIndex) {
        // load() would reject this store; refuse to write it instead.
        throw new RaftError(`refusing to persist commit index ${write.hardState.commit} beyond the last log index ${lastIndex}`);
      }
      operations.push({ type: 'put', key: KEY_HARD_STATE, value: sealed(KEY_HARD_STATE, encodeHardState(write.hardState, CRC_BYTES)) });
    }
    // Only a new commit index may skip the sync: it is recomputed after a crash (as etcd does).
    const sync = write.sync ?? true;
    await this.writeBatch(operations, bounds, garbage, sync);
  }

  async saveSnapshot(snapshot: Snapshot, retainEntries: number): Promise<void> {
    this.loadedAtOpen = null;
    this.assertWritable();
    if (!Number.isSafeInteger(retainEntries) || retainEntries < 0) {
      throw new RangeError(`retainEntries must be a non-negative integer, got ${retainEntries}`);
    }
    if (snapshot.metadata.index <= this.bounds.snapshotIndex) return;
    const operations: BatchOperation[] = [];
    const bounds = { ...this.bounds };
    putSnapshot(operations, snapshot);
    // Retained entries must connect to the snapshot; if the log ends before it, none are useful.
    const compactThrough = bounds.lastStoredIndex < snapshot.metadata.index ? snapshot.metadata.index : snapshot.metadata.index - retainEntries;
    const garbage = compactableRange(bounds, compactThrough);
    bounds.snapshotIndex = snapshot.metadata.index;
    await this.writeBatch(operations, bounds, garbage, true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.loadedAtOpen = null;
    await this.writeTail;
    await this.db.close();
  }

  /** Last index of the stored log (or of the snapshot when no entry follows it), as the write path tracks it. */
  lastIndex(): number {
    return Math.max(this.bounds.lastStoredIndex, this.bounds.snapshotIndex);
  }

  private async writeBatch(operations: BatchOperation[], bounds: LogBounds, garbage: EntryRange | null, sync: boolean): Promise<void> {
    if (operations.length === 0) return;
    // The next save plans against these bounds at once, before this batch lands;
    // batches run in call order, and a failed one stops every later one.
    this.bounds = bounds;
    const run = this.writeTail.then(async () => {
      if (this.writeFailure !== null) throw new RaftError(`raft storage at ${this.location}: an earlier write failed`, { cause: this.writeFailure });
      await this.db.batch(operations, { sync: this.sync && sync });
      // Ascending, so an interrupted clear leaves a contiguous tail.
      if (garbage !== null) await this.db.clear({ gte: entryKey(garbage.first), lte: entryKey(garbage.last) });
    });
    this.writeTail = run.catch(() => {});
    try {
      await run;
    } catch (error) {
      this.writeFailure ??= error;
      throw error;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new RaftError(`raft storage at ${this.location} is closed`);
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.writeFailure !== null) {
      throw new RaftError(`raft storage at ${this.location}: an earlier write failed, so what is on disk is unknown; restart to reload it`, { cause: this.writeFailure });
    }
  }
}

// ---------------------------------------------------------------- write planning

function putSnapshot(operations: BatchOperation[], snapshot: Snapshot): void {
  operations.push({ type: 'put', key: KEY_SNAPSHOT, value: sealed(KEY_SNAPSHOT, encodeSnapshot(snapshot, CRC_BYTES)) });
}

/** Delete stored entries with index ≤ `through`, updating `bounds`. */
/**
 * The stored entries up to `through` become garbage once the snapshot that
 * covers them is written: returns their range for one range delete after the
 * batch (load ignores entries at or below the snapshot, so a crash between
 * the two is harmless, and a range delete costs far less than one delete per
 * entry inside the batch).
 */
function compactableRange(bounds: LogBounds, through: number): EntryRange | null {
  if (bounds.lastStoredIndex === 0 || through < bounds.firstStoredIndex) return null;
  const last = Math.min(through, bounds.lastStoredIndex);
  const range = { first: bounds.firstStoredIndex, last };
  if (last === bounds.lastStoredIndex) {
    bounds.firstStoredIndex = 0;
    bounds.lastStoredIndex = 0;
  } else {
    bounds.firstStoredIndex = last + 1;
  }
  return range;
}

type EntryRange = { first: number; last: number };

/**
 * Put `entries`, replacing the stored suffix from their first index (a
 * conflicting suffix left by an old leader). Entries at or below the
 * snapshot are committed and already in it: skipped.
 */
function appendEntries(operations: BatchOperation[], bounds: LogBounds, entries: Entry[]): void {
  let start = 0;
  while (start < entries.length && entries[start]!.index <= bounds.snapshotIndex) start++;
  if (start === entries.length) return;
  const firstNew = entries[start]!.index;
  const lastNew = entries[entries.length - 1]!.index;
  if (lastNew - firstNew !== entries.length - 1 - start) {
    throw new RaftError(`entries to persist are not contiguous: ${entries.length - start} entries span indexes ${firstNew}..${lastNew}`);
  }
  const lastIndex = Math.max(bounds.lastStoredIndex, bounds.snapshotIndex);
  if (firstNew > lastIndex + 1) throw new UnavailableError(firstNew, lastIndex); // would leave a gap
  for (let index = lastNew + 1; index <= bounds.lastStoredIndex; index++) operations.push({ type: 'del', key: entryKey(index) });
  for (let i = start; i < entries.length; i++) {
    const entry = entries[i]!;
    const key = entryKey(entry.index);
    operations.push({ type: 'put', key, value: sealed(key, encodeEntry(entry, CRC_BYTES)) });
  }
  if (bounds.firstStoredIndex === 0) bounds.firstStoredIndex = firstNew;
  bounds.lastStoredIndex = lastNew;
}

function boundsOf(state: PersistedState): LogBounds {
  const entries = state.entries;
  return {
    snapshotIndex: state.snapshot.metadata.index,
    firstStoredIndex: entries.length > 0 ? entries[0]!.index : 0,
    lastStoredIndex: entries.length > 0 ? entries[entries.length - 1]!.index : 0,
  };
}

// ---------------------------------------------------------------- records

function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(ENTRY_KEY_BYTES);
  key[0] = ENTRY_KEY_PREFIX;
  const view = new DataView(key.buffer);
  view.setUint32(1, Math.floor(index / 0x1_0000_0000));
  view.setUint32(5, index >>> 0);
  return key;
}

function entryKeyIndex(key: Uint8Array): number {
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  return view.getUint32(1) * 0x1_0000_0000 + view.getUint32(5);
}

/** Fill in the CRC in the first CRC_BYTES of `value` (left free by the encoder's headroom). */
function sealed(key: Uint8Array, value: Uint8Array): Uint8Array {
  const checksum = crc32(value.subarray(CRC_BYTES), crc32(key));
  new DataView(value.buffer, value.byteOffset, value.byteLength).setUint32(0, checksum);
  return value;
}

function keyName(key: Uint8Array): string {
  if (key.length === ENTRY_KEY_BYTES && key[0] === ENTRY_KEY_PREFIX) return `log entry ${entryKeyIndex(key)}`;
  if (key.length === 1 && key[0] === KEY_FORMAT[0]) return 'the format record';
  if (key.length === 1 && key[0] === KEY_HARD_STATE[0]) return 'the hard state';
  if (key.length === 1 && key[0] === KEY_SNAPSHOT[0]) return 'the snapshot';
  return `key 0x${Buffer.from(key).toString('hex')}`;
}

/** The payload of a stored value after checking its CRC. */
function unsealed(location: string, key: Uint8Array, value: Uint8Array): Uint8Array {
  if (value.length < CRC_BYTES) {
    throw new CorruptStorageError(location, `${keyName(key)} is ${value.length} bytes, too short to hold its checksum`);
  }
  const stored = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
  const payload = value.subarray(CRC_BYTES);
  const computed = crc32(payload, crc32(key));
  if (stored !== computed) {
    throw new CorruptStorageError(location, `${keyName(key)} fails its checksum (stored crc32 0x${hex32(stored)}, computed 0x${hex32(computed)} over ${payload.length} bytes)`);
  }
  return payload;
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0');
}

function decoded<T>(location: string, key: Uint8Array, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof DecodeError) throw new CorruptStorageError(location, `${keyName(key)} passes its checksum but does not decode: ${error.message}`);
    throw error;
  }
}

// ---------------------------------------------------------------- reading and validating

/** Read the whole store in key order, checking each record and then how they fit together. A fresh (empty) store gets its format record. */
async function readStore(db: Database, location: string): Promise<PersistedState> {
  let formatSeen = false;
  let hardState: HardState | null = null;
  let snapshot: Snapshot | null = null;
  const entries: Entry[] = [];
  let recordCount = 0;

  const iterator = db.iterator();
  try {
    for (;;) {
      const records = await iterator.nextv(LOAD_BATCH_RECORDS);
      if (records.length === 0) break;
      for (const [key, value] of records) {
        // Keys sort, so the format record (0x00) comes first whenever it exists.
        if (recordCount++ === 0 && !(key.length === 1 && key[0] === KEY_FORMAT[0])) {
          throw new CorruptStorageError(location, `the format record is missing (first key is ${keyName(key)})`);
        }
        // classic-level hands out Buffers; decoded fields become plain Uint8Array views
        // (no copy) so that callers get what the codec gives everywhere else, and
        // Buffer's sharing `slice` cannot surprise them.
        const payload = unsealed(location, key, new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
        if (key.length === ENTRY_KEY_BYTES && key[0] === ENTRY_KEY_PREFIX) {
          entries.push(checkedEntry(location, key, payload, entries));
        } else if (key.length === 1 && key[0] === KEY_FORMAT[0]) {
          checkFormat(location, payload);
          formatSeen = true;
        } else if (key.length === 1 && key[0] === KEY_HARD_STATE[0]) {
          hardState = decoded(location, key, () => decodeHardState(payload));
        } else if (key.length === 1 && key[0] === KEY_SNAPSHOT[0]) {
          snapshot = decoded(location, key, () => decodeSnapshot(payload));
        } else {
          throw new CorruptStorageError(location, `unknown ${keyName(key)} (not written by format version ${LEVEL_STORAGE_FORMAT_VERSION})`);
        }
      }
    }
  } finally {
    await iterator.close();
  }

  if (!formatSeen) {
    // An empty database: a fresh store. Mark it before anything else is written.
    const payload = Uint8Array.of(0, 0, 0, 0, LEVEL_STORAGE_FORMAT_VERSION);
    await db.put(KEY_FORMAT, sealed(KEY_FORMAT, payload), { sync: true });
  }
  const state: PersistedState = { hardState: hardState ?? emptyHardState(), snapshot: snapshot ?? emptySnapshot(), entries };
  checkFitsTogether(location, state);
  return state;
}

function checkFormat(location: string, payload: Uint8Array): void {
  if (payload.length !== 1) throw new CorruptStorageError(location, `the format record is ${payload.length} bytes, expected 1`);
  if (payload[0] !== LEVEL_STORAGE_FORMAT_VERSION) {
    throw new CorruptStorageError(location, `format version ${payload[0]} is unknown to this build (it reads version ${LEVEL_STORAGE_FORMAT_VERSION}); was it written by a newer tribune?`);
  }
}

/** Decode an entry record and check it against its key and the entry before it. */
function checkedEntry(location: string, key: Uint8Array, payload: Uint8Array, previous: Entry[]): Entry {
  const keyIndex = entryKeyIndex(key);
  const entry = decoded(location, key, () => decodeEntry(payload));
  if (entry.index !== keyIndex) throw new CorruptStorageError(location, `log entry ${keyIndex} holds an entry with index ${entry.index}`);
  if (keyIndex === 0) throw new CorruptStorageError(location, 'a log entry has index 0; the log starts at 1');
  const before = previous[previous.length - 1];
  if (before !== undefined) {
    if (keyIndex !== before.index + 1) {
      throw new CorruptStorageError(location, `the log has a gap: entry ${before.index} is followed by entry ${keyIndex} (entries ${before.index + 1}..${keyIndex - 1} are missing)`);
    }
    if (entry.term < before.term) {
      throw new CorruptStorageError(location, `log terms decrease: entry ${before.index} has term ${before.term}, entry ${keyIndex} has term ${entry.term}`);
    }
  }
  return entry;
}

function checkFitsTogether(location: string, state: PersistedState): void {
  const { index: snapshotIndex, term: snapshotTerm } = state.snapshot.metadata;
  const entries = state.entries;
  let lastIndex = snapshotIndex;
  if (entries.length > 0) {
    const first = entries[0]!;
    const last = entries[entries.length - 1]!;
    if (first.index > snapshotIndex + 1) {
      throw new CorruptStorageError(location, `the log starts at entry ${first.index} but the snapshot covers only up to ${snapshotIndex} (entries ${snapshotIndex + 1}..${first.index - 1} are missing)`);
    }
    if (last.index < snapshotIndex) {
      throw new CorruptStorageError(location, `the log ends at entry ${last.index}, before the snapshot's index ${snapshotIndex}; retained entries must reach the snapshot`);
    }
    if (snapshotIndex > 0) {
      const atSnapshot = entries[snapshotIndex - first.index];
      if (atSnapshot !== undefined && atSnapshot.term !== snapshotTerm) {
        throw new CorruptStorageError(location, `entry ${snapshotIndex} has term ${atSnapshot.term} but the snapshot at that index has term ${snapshotTerm}`);
      }
      const afterSnapshot = entries[Math.max(0, snapshotIndex + 1 - first.index)];
      if (afterSnapshot !== undefined && afterSnapshot.index > snapshotIndex && afterSnapshot.term < snapshotTerm) {
        throw new CorruptStorageError(location, `entry ${afterSnapshot.index} has term ${afterSnapshot.term}, lower than the snapshot's term ${snapshotTerm}`);
      }
    }
    lastIndex = Math.max(lastIndex, last.index);
  }
  if (state.hardState.commit > lastIndex) {
    throw new CorruptStorageError(location, `the hard state's commit index ${state.hardState.commit} is beyond the last log index ${lastIndex}`);
  }
}

function isLockedError(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  return (error as { code?: unknown } | null)?.code === 'LEVEL_LOCKED' || cause?.code === 'LEVEL_LOCKED';
}

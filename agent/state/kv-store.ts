// The replicated KV store: entries as Consul has them (Key, Value, Flags,
// CreateIndex, ModifyIndex, LockIndex, Session), kept sorted for prefix scans,
// with tombstones so that a prefix's index never goes backwards when a key
// under it is deleted, and an index of which keys each session holds.
//
//   const kv = new KvStore();
//   setEntry(kv, 7, 'web/config', bytes, 0);          // Consul's PUT semantics, at Raft index 7
//   kv.get('web/config')?.modifyIndex                 // 7
//   kv.list('web/')                                   // entries under the prefix, in UTF-8 byte order
//   kv.keys('', '/')                                  // ['web/']: one level, skipping whole subtrees
//
// The operations (setEntry, casEntry, lockEntry...) are functions over a
// KvView so that a transaction can run them against an overlay and commit or
// drop the result (txn.ts). Entries are immutable: a write stores a new
// object, so readers and overlays may hold on to entries they were given.
//
// Nothing here reads a clock: lock-delay and session existence are checked by
// the caller, with the time carried in the command.

import { compareKeys, SortedKeys } from './sorted-keys.ts';

export type KvEntry = {
  readonly key: string;
  readonly value: Uint8Array;
  /** Opaque to us; Consul's uint64 flags, limited here to 2^53 - 1. */
  readonly flags: number;
  readonly createIndex: number;
  readonly modifyIndex: number;
  /** How many times the key has been acquired by a new holder: a fencing token. */
  readonly lockIndex: number;
  /** The session holding the lock, or ''. */
  readonly session: string;
};

/** What the KV operations need: reads and two kinds of writes. KvStore commits them; the txn overlay buffers them. */
export interface KvView {
  get(key: string): KvEntry | undefined;
  /** Insert or replace `entry` (its modifyIndex is the write's index). */
  put(entry: KvEntry): void;
  /** Remove `key` (no-op if absent) as of Raft index `index`. */
  remove(key: string, index: number): void;
  /** Entries whose key starts with `prefix`, in key order. */
  list(prefix: string): KvEntry[];
}

export type KvStoreOptions = {
  /**
   * Most tombstones kept. A tombstone remembers the index at which a key was
   * deleted, so that the index of a prefix containing it does not go
   * backwards. Beyond this count the oldest are reaped and their index is
   * folded into a per-top-level-segment floor: memory stays bounded, and a
   * reap only raises the indexes of prefixes that could have held the key.
   */
  maxTombstones?: number;
  /** Most per-segment floors before they fold into one global floor (only for stores with very many top-level keys). */
  maxSegmentFloors?: number;
};

/** 16,384 tombstones (about 2 MB with short keys) and 4,096 segment floors. */
export const DEFAULT_KV_STORE_OPTIONS: Readonly<Required<KvStoreOptions>> = Object.freeze({
  maxTombstones: 16_384,
  maxSegmentFloors: 4_096,
});

/** A deleted key: the Raft index of its deletion. */
export type Tombstone = { key: string; index: number };

export class KvStore implements KvView {
  private readonly entries = new Map<string, KvEntry>();
  private readonly order = new SortedKeys();
  private readonly tombstones = new Map<string, number>();
  private readonly tombstoneOrder = new SortedKeys();
  /** Tombstones in deletion order (oldest first), with stale pairs left by re-created keys skipped lazily. */
  private tombstoneQueue: Tombstone[] = [];
  private tombstoneQueueHead = 0;
  private readonly floors: TombstoneFloors;
  private readonly heldBySession = new Map<string, Set<string>>();
  private readonly maxTombstones: number;
  /** Keys written or removed since the last drainTouched(): the state machine wakes their watchers. */
  private touched: string[] = [];

  constructor(options: KvStoreOptions = {}) {
    const settings = { ...DEFAULT_KV_STORE_OPTIONS, ...options };
    if (!Number.isSafeInteger(settings.maxTombstones) || settings.maxTombstones < 0) throw new RangeError('maxTombstones must be a non-negative integer');
    this.maxTombstones = settings.maxTombstones;
    this.floors = new TombstoneFloors(settings.maxSegmentFloors);
  }

  get size(): number {
    return this.entries.size;
  }

  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  get(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  put(entry: KvEntry): void {
    const previous = this.entries.get(entry.key);
    this.entries.set(entry.key, entry);
    if (previous === undefined) {
      this.order.insert(entry.key);
      if (this.tombstones.delete(entry.key)) this.tombstoneOrder.delete(entry.key);
    }
    const previousSession = previous?.session ?? '';
    if (previousSession !== entry.session) {
      if (previousSession !== '') this.release(previousSession, entry.key);
      if (entry.session !== '') this.hold(entry.session, entry.key);
    }
    this.touched.push(entry.key);
  }

  remove(key: string, index: number): void {
    const previous = this.entries.get(key);
    if (previous === undefined) return;
    this.entries.delete(key);
    this.order.delete(key);
    if (previous.session !== '') this.release(previous.session, key);
    this.addTombstone(key, index);
    this.touched.push(key);
  }

  list(prefix: string): KvEntry[] {
    const found: KvEntry[] = [];
    this.order.scanPrefix(prefix, (key) => {
      found.push(this.entries.get(key)!);
    });
    return found;
  }

  /**
   * Consul's `?keys&separator=`: every key under `prefix`, except that a key
   * with `separator` after the prefix is cut just after it and listed once
   * (`a/b/c` under `a/` with '/' gives `a/b/`). Whole subtrees are skipped, not read.
   */
  keys(prefix: string, separator: string): string[] {
    const found: string[] = [];
    this.order.scanPrefix(prefix, (key) => {
      if (separator === '') {
        found.push(key);
        return undefined;
      }
      const at = key.indexOf(separator, prefix.length);
      if (at < 0) {
        found.push(key);
        return undefined;
      }
      const group = key.slice(0, at + separator.length);
      found.push(group);
      return group;
    });
    return found;
  }

  /** The X-Consul-Index of one key: its ModifyIndex, or the index of its deletion. */
  indexOfKey(key: string): number {
    const entry = this.entries.get(key);
    if (entry !== undefined) return entry.modifyIndex;
    return Math.max(this.tombstones.get(key) ?? 0, this.floors.forKey(key));
  }

  /** The X-Consul-Index of a prefix: the largest ModifyIndex or deletion index under it. O(keys under it). */
  indexOfPrefix(prefix: string): number {
    let index = this.floors.forPrefix(prefix);
    this.order.scanPrefix(prefix, (key) => {
      const modifyIndex = this.entries.get(key)!.modifyIndex;
      if (modifyIndex > index) index = modifyIndex;
    });
    this.tombstoneOrder.scanPrefix(prefix, (key) => {
      const deletedAt = this.tombstones.get(key)!;
      if (deletedAt > index) index = deletedAt;
    });
    return index;
  }

  /** The keys `session` holds, in key order (the order invalidation processes them in, on every replica). */
  keysHeldBy(session: string): string[] {
    const held = this.heldBySession.get(session);
    return held === undefined ? [] : [...held].sort(compareKeys);
  }

  /** Keys written or removed since the last call. */
  drainTouched(): string[] {
    const touched = this.touched;
    this.touched = [];
    return touched;
  }

  clear(): void {
    this.entries.clear();
    this.order.clear();
    this.tombstones.clear();
    this.tombstoneOrder.clear();
    this.tombstoneQueue = [];
    this.tombstoneQueueHead = 0;
    this.floors.clear();
    this.heldBySession.clear();
    this.touched = [];
  }

  // ---------------------------------------------------------------- snapshots

  /** Every entry in key order. */
  allEntries(): KvEntry[] {
    const all: KvEntry[] = [];
    this.order.forEach((key) => all.push(this.entries.get(key)!));
    return all;
  }

  /** Live tombstones, oldest first (the order they will be reaped in). */
  allTombstones(): Tombstone[] {
    const live: Tombstone[] = [];
    for (let i = this.tombstoneQueueHead; i < this.tombstoneQueue.length; i++) {
      const tombstone = this.tombstoneQueue[i]!;
      if (this.tombstones.get(tombstone.key) === tombstone.index) live.push(tombstone);
    }
    return live;
  }

  floorEntries(): { global: number; segments: [string, number][] } {
    return this.floors.entries();
  }

  /** Rebuild from a snapshot's parts (entries in key order, tombstones oldest first). */
  load(entries: Iterable<KvEntry>, tombstones: Iterable<Tombstone>, floors: { global: number; segments: Iterable<[string, number]> }): void {
    this.clear();
    for (const entry of entries) this.put(entry);
    for (const tombstone of tombstones) {
      this.tombstones.set(tombstone.key, tombstone.index);
      this.tombstoneOrder.insert(tombstone.key);
      this.tombstoneQueue.push(tombstone);
    }
    this.floors.load(floors.global, floors.segments);
    this.touched = [];
  }

  // ---------------------------------------------------------------- internals

  private hold(session: string, key: string): void {
    let held = this.heldBySession.get(session);
    if (held === undefined) this.heldBySession.set(session, (held = new Set()));
    held.add(key);
  }

  private release(session: string, key: string): void {
    const held = this.heldBySession.get(session);
    if (held === undefined) return;
    held.delete(key);
    if (held.size === 0) this.heldBySession.delete(session);
  }

  private addTombstone(key: string, index: number): void {
    if (!this.tombstones.has(key)) this.tombstoneOrder.insert(key);
    this.tombstones.set(key, index);
    this.tombstoneQueue.push({ key, index });
    while (this.tombstones.size > this.maxTombstones) this.reapOldestTombstone();
    this.compactTombstoneQueue();
  }

  private reapOldestTombstone(): void {
    while (this.tombstoneQueueHead < this.tombstoneQueue.length) {
      const { key, index } = this.tombstoneQueue[this.tombstoneQueueHead++]!;
      if (this.tombstones.get(key) !== index) continue; // stale: the key was re-created or deleted again since
      this.tombstones.delete(key);
      this.tombstoneOrder.delete(key);
      this.floors.raise(key, index);
      return;
    }
  }

  /** Keep the queue within a constant factor of the live tombstones, however often keys are re-created. */
  private compactTombstoneQueue(): void {
    const queued = this.tombstoneQueue.length - this.tombstoneQueueHead;
    if (queued <= 2 * this.tombstones.size + 1024) return;
    this.tombstoneQueue = this.allTombstones();
    this.tombstoneQueueHead = 0;
  }
}

/**
 * Where reaped tombstones leave their index: per top-level segment (the key up
 * to and including its first '/', or the whole key), so that reaping `a/x`
 * raises the indexes of `a/...` scopes only. A prefix with a '/' has exactly
 * one segment; a prefix without one (like '' or 'ap') takes the largest floor
 * of the segments that start with it.
 */
class TombstoneFloors {
  private readonly segments = new Map<string, number>();
  private global = 0;
  private readonly maxSegments: number;

  constructor(maxSegments: number) {
    this.maxSegments = maxSegments;
  }

  raise(key: string, index: number): void {
    const segment = segmentOf(key);
    if (index > (this.segments.get(segment) ?? 0)) this.segments.set(segment, index);
    if (this.segments.size > this.maxSegments) {
      for (const value of this.segments.values()) if (value > this.global) this.global = value;
      this.segments.clear();
    }
  }

  forKey(key: string): number {
    return Math.max(this.global, this.segments.get(segmentOf(key)) ?? 0);
  }

  forPrefix(prefix: string): number {
    if (prefix.includes('/')) return Math.max(this.global, this.segments.get(segmentOf(prefix)) ?? 0);
    let floor = this.global;
    for (const [segment, index] of this.segments) {
      if (index > floor && segment.startsWith(prefix)) floor = index;
    }
    return floor;
  }

  clear(): void {
    this.segments.clear();
    this.global = 0;
  }

  entries(): { global: number; segments: [string, number][] } {
    return { global: this.global, segments: [...this.segments].sort((left, right) => compareKeys(left[0], right[0])) };
  }

  load(global: number, segments: Iterable<[string, number]>): void {
    this.clear();
    this.global = global;
    for (const [segment, index] of segments) this.segments.set(segment, index);
  }
}

function segmentOf(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? key : key.slice(0, slash + 1);
}

// ---------------------------------------------------------------- operations (Consul's semantics)

/**
 * PUT without cas/acquire/release (Consul's kvsSetTxn): keeps the holder and
 * LockIndex, sets CreateIndex on creation; an identical entry is not rewritten
 * and keeps its ModifyIndex. Returns the entry as stored.
 */
export function setEntry(view: KvView, index: number, key: string, value: Uint8Array, flags: number): KvEntry {
  const existing = view.get(key);
  const next: KvEntry = {
    key,
    value,
    flags,
    createIndex: existing?.createIndex ?? index,
    modifyIndex: index,
    lockIndex: existing?.lockIndex ?? 0,
    session: existing?.session ?? '',
  };
  return store(view, existing, next);
}

/** PUT ?cas=N: set only if ModifyIndex is N; 0 means "only if absent". Returns the stored entry or null. */
export function casEntry(view: KvView, index: number, key: string, value: Uint8Array, flags: number, casIndex: number): KvEntry | null {
  const existing = view.get(key);
  if (casIndex === 0 ? existing !== undefined : existing?.modifyIndex !== casIndex) return null;
  return setEntry(view, index, key, value, flags);
}

/**
 * PUT ?acquire=SESSION (Consul's kvsLockTxn), once the caller has checked that
 * the session exists and the key is not in lock-delay. Null if another session
 * holds the key. LockIndex grows only when the holder changes; re-acquiring
 * by the holder just updates value and flags.
 */
export function lockEntry(view: KvView, index: number, key: string, value: Uint8Array, flags: number, session: string): KvEntry | null {
  const existing = view.get(key);
  let lockIndex: number;
  if (existing === undefined) lockIndex = 1;
  else if (existing.session === session) lockIndex = existing.lockIndex;
  else if (existing.session !== '') return null;
  else lockIndex = existing.lockIndex + 1;
  return store(view, existing, { key, value, flags, createIndex: existing?.createIndex ?? index, modifyIndex: index, lockIndex, session });
}

/** PUT ?release=SESSION (Consul's kvsUnlockTxn): only the holder can release. Null if the key is absent or held by another (or nobody). */
export function unlockEntry(view: KvView, index: number, key: string, value: Uint8Array, flags: number, session: string): KvEntry | null {
  const existing = view.get(key);
  if (existing === undefined || existing.session !== session) return null;
  return store(view, existing, { key, value, flags, createIndex: existing.createIndex, modifyIndex: index, lockIndex: existing.lockIndex, session: '' });
}

/** DELETE ?cas=N: true if deleted, or if the key does not exist (Consul's answer); false on an index mismatch. */
export function deleteCasEntry(view: KvView, index: number, key: string, casIndex: number): boolean {
  const existing = view.get(key);
  if (existing === undefined) return true;
  if (existing.modifyIndex !== casIndex) return false;
  view.remove(key, index);
  return true;
}

/** DELETE ?recurse: every key under `prefix`. */
export function deleteTree(view: KvView, index: number, prefix: string): void {
  for (const entry of view.list(prefix)) view.remove(entry.key, index);
}

function store(view: KvView, existing: KvEntry | undefined, next: KvEntry): KvEntry {
  if (existing !== undefined && sameContent(existing, next)) return existing;
  view.put(next);
  return next;
}

function sameContent(left: KvEntry, right: KvEntry): boolean {
  return left.flags === right.flags && left.session === right.session && left.lockIndex === right.lockIndex && bytesEqual(left.value, right.value);
}

function bytesEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left === right) return true;
  if (left.length !== right.length) return false;
  for (let i = 0; i < left.length; i++) if (left[i] !== right[i]) return false;
  return true;
}

// ---------------------------------------------------------------- Consul's JSON

/** An entry as Consul's HTTP API shows it: base64 Value (null when empty), Session only when held. */
export type ConsulKvEntry = {
  LockIndex: number;
  Key: string;
  Flags: number;
  Value: string | null;
  Session?: string;
  CreateIndex: number;
  ModifyIndex: number;
};

export function consulKvEntry(entry: KvEntry, withValue = true): ConsulKvEntry {
  const json: ConsulKvEntry = {
    LockIndex: entry.lockIndex,
    Key: entry.key,
    Flags: entry.flags,
    Value: withValue && entry.value.length > 0 ? Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.length).toString('base64') : null,
    CreateIndex: entry.createIndex,
    ModifyIndex: entry.modifyIndex,
  };
  if (entry.session !== '') {
    // Consul's field order: Session comes before the indexes.
    return { LockIndex: json.LockIndex, Key: json.Key, Flags: json.Flags, Value: json.Value, Session: entry.session, CreateIndex: json.CreateIndex, ModifyIndex: json.ModifyIndex };
  }
  return json;
}

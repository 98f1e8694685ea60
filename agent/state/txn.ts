// PUT /v1/txn: up to 128 KV operations, all or nothing. The operations run in
// order against an overlay of the store, each seeing the previous ones'
// writes; if any fails, the overlay is dropped and the answer lists every
// failure with its operation index and Consul's message; otherwise the overlay
// is committed at the command's Raft index.
//
//   const outcome = runTxn(ops, { kv, index, nowMs, sessionExists, lockDelayUntil });
//   // { Results: [entry, ...], Errors: null } or { Results: null, Errors: [{ OpIndex: 1, What: 'failed to set key "a", index is stale' }] }
//
// Results are KV entries: with their value for get and get-tree, without it
// (empty) for the others, as Consul answers; delete verbs and check-not-exists
// produce none.

import type { TxnOp } from '../../protocol/state-commands.ts';
import { casEntry, consulKvEntry, deleteCasEntry, deleteTree, lockEntry, setEntry, unlockEntry } from './kv-store.ts';
import type { ConsulKvEntry, KvEntry, KvStore, KvView } from './kv-store.ts';
import { compareKeys } from './sorted-keys.ts';

export type TxnError = { OpIndex: number; What: string };

/** Consul's answer shape: exactly one of the two lists is set. */
export type TxnOutcome = { Results: TxnResult[]; Errors: null } | { Results: null; Errors: TxnError[] };

export type TxnResult = {
  entry: KvEntry;
  /** Whether the answer shows the value (get, get-tree, get-or-empty). */
  withValue: boolean;
};

export type TxnContext = {
  kv: KvStore;
  /** The Raft index the writes take (unused by a read-only transaction). */
  index: number;
  /** The command's time, for lock-delay. */
  nowMs: number;
  sessionExists(id: string): boolean;
  /** Unix ms until which `key` is in lock-delay (0 if not). */
  lockDelayUntil(key: string): number;
};

/** Run the operations; commit their writes only if every one succeeded. */
export function runTxn(ops: readonly TxnOp[], context: TxnContext): TxnOutcome {
  const overlay = new TxnOverlay(context.kv);
  const results: TxnResult[] = [];
  const errors: TxnError[] = [];
  for (let i = 0; i < ops.length; i++) {
    const outcome = runOp(overlay, ops[i]!, context);
    if (typeof outcome === 'string') errors.push({ OpIndex: i, What: outcome });
    else results.push(...outcome);
  }
  if (errors.length > 0) return { Results: null, Errors: errors };
  overlay.commit(context.index);
  return { Results: results, Errors: null };
}

/** Consul's JSON: `{"Results": [{"KV": {...}}], "Errors": null}` or `{"Results": null, "Errors": [...]}`. */
export function consulTxnResponse(outcome: TxnOutcome): { Results: { KV: ConsulKvEntry }[] | null; Errors: TxnError[] | null } {
  if (outcome.Errors !== null) return { Results: null, Errors: outcome.Errors };
  return { Results: outcome.Results.map((result) => ({ KV: consulKvEntry(result.entry, result.withValue) })), Errors: null };
}

/** One operation: its results, or the error message (Consul's wording). */
function runOp(view: TxnOverlay, op: TxnOp, context: TxnContext): TxnResult[] | string {
  const { index } = context;
  const key = op.key;
  switch (op.verb) {
    case 'set':
      return [{ entry: setEntry(view, index, key, op.value, op.flags), withValue: false }];
    case 'cas': {
      const entry = casEntry(view, index, key, op.value, op.flags, op.index);
      return entry ? [{ entry, withValue: false }] : `failed to set key ${quote(key)}, index is stale`;
    }
    case 'lock': {
      if (!context.sessionExists(op.session)) return `invalid session ${quote(op.session)}`;
      if (context.lockDelayUntil(key) > context.nowMs) return `failed to lock key ${quote(key)}, lock-delay is in effect`;
      const entry = lockEntry(view, index, key, op.value, op.flags, op.session);
      return entry ? [{ entry, withValue: false }] : `failed to lock key ${quote(key)}, lock is already held`;
    }
    case 'unlock': {
      const entry = unlockEntry(view, index, key, op.value, op.flags, op.session);
      return entry ? [{ entry, withValue: false }] : `failed to unlock key ${quote(key)}, lock isn't held, or is held by another session`;
    }
    case 'get': {
      const entry = view.get(key);
      return entry ? [{ entry, withValue: true }] : `key ${quote(key)} doesn't exist`;
    }
    case 'get-or-empty': {
      const entry = view.get(key) ?? { key, value: new Uint8Array(0), flags: op.flags, createIndex: 0, modifyIndex: op.index, lockIndex: 0, session: op.session };
      return [{ entry, withValue: true }];
    }
    case 'get-tree':
      return view.list(key).map((entry) => ({ entry, withValue: true }));
    case 'check-index': {
      const entry = view.get(key);
      if (!entry) return `failed to check index, key ${quote(key)} doesn't exist`;
      if (entry.modifyIndex !== op.index) return `failed index check for key ${quote(key)}, current modify index ${entry.modifyIndex} != ${op.index}`;
      return [{ entry, withValue: false }];
    }
    case 'check-session': {
      const entry = view.get(key);
      if (!entry) return `failed to check session, key ${quote(key)} doesn't exist`;
      if (entry.session !== op.session) return `failed session check for key ${quote(key)}, current session ${quote(entry.session)} != ${quote(op.session)}`;
      return [{ entry, withValue: false }];
    }
    case 'check-not-exists':
      return view.get(key) ? `key ${quote(key)} exists` : [];
    case 'delete':
      view.remove(key, index);
      return [];
    case 'delete-tree':
      deleteTree(view, index, key);
      return [];
    case 'delete-cas':
      return deleteCasEntry(view, index, key, op.index) ? [] : `failed to delete key ${quote(key)}, index is stale`;
  }
}

/** Go's %q for the strings we quote (JSON escaping agrees with it on everything printable). */
function quote(text: string): string {
  return JSON.stringify(text);
}

/**
 * The store as the transaction sees it: its own writes over the committed
 * entries. Writes are kept per key (the last one wins) in the order keys were
 * first written, which is the order they are committed in on every replica.
 */
class TxnOverlay implements KvView {
  private readonly base: KvStore;
  /** Key → the entry written, or null for removed. */
  private readonly writes = new Map<string, KvEntry | null>();

  constructor(base: KvStore) {
    this.base = base;
  }

  get(key: string): KvEntry | undefined {
    const written = this.writes.get(key);
    if (written === undefined) return this.base.get(key);
    return written ?? undefined;
  }

  put(entry: KvEntry): void {
    this.writes.set(entry.key, entry);
  }

  /** The index is applied at commit; a removal inside the transaction only hides the key. */
  remove(key: string, _index: number): void {
    if (this.get(key) !== undefined) this.writes.set(key, null);
  }

  list(prefix: string): KvEntry[] {
    const committed = this.base.list(prefix);
    const ownKeys = [...this.writes.keys()].filter((key) => key.startsWith(prefix));
    if (ownKeys.length === 0) return committed;
    const keys = new Set(committed.map((entry) => entry.key));
    for (const key of ownKeys) keys.add(key);
    const found: KvEntry[] = [];
    for (const key of [...keys].sort(compareKeys)) {
      const entry = this.get(key);
      if (entry !== undefined) found.push(entry);
    }
    return found;
  }

  commit(index: number): void {
    for (const [key, entry] of this.writes) {
      if (entry === null) this.base.remove(key, index);
      else this.base.put(entry);
    }
  }
}

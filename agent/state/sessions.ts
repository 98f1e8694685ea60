// Sessions: who holds locks, how long they live, and what happens to their
// keys when they end. Also lock-delay: after a session holding locks is
// invalidated, the keys it held cannot be acquired again until LockDelay after
// the invalidation, so that a holder that merely lost contact has time to
// notice before somebody else acts on the lock (Chubby's lock-delay).
//
//   sessions.add(record);                                  // sessionCreate applied
//   invalidateSession(context, id);                        // destroy, expiry, node death, critical check
//   sessions.lockDelayUntil('service/leader') > nowMs      // kvLock must fail until then
//
// All time comes from commands (`nowMs`, stamped by the leader). Expiry of TTL
// sessions is replicated state (`expiresAtMs`): the leader reads it to arm its
// timer and proposes sessionExpire when it fires, so a new leader carries on.

import type { SessionBehavior } from '../../protocol/state-commands.ts';
import type { KvStore } from './kv-store.ts';
import { compareKeys } from './sorted-keys.ts';
import { Scope } from './watch-index.ts';
import type { ChangeSink } from './watch-index.ts';

/** Consul invalidates a TTL session after twice its TTL without renewal (structs.SessionTTLMultiplier). */
export const SESSION_TTL_MULTIPLIER = 2;

export type SessionRecord = {
  readonly id: string;
  readonly name: string;
  readonly node: string;
  /** 0 = no TTL. */
  readonly ttlMs: number;
  readonly lockDelayMs: number;
  readonly behavior: SessionBehavior;
  readonly nodeChecks: readonly string[];
  readonly serviceChecks: readonly string[];
  readonly createIndex: number;
  readonly modifyIndex: number;
  /** Unix ms at which the session expires unless renewed (nowMs + 2 × TTL at create or renew); 0 without TTL. */
  readonly expiresAtMs: number;
};

export class Sessions {
  private readonly byId = new Map<string, SessionRecord>();
  private readonly byNode = new Map<string, Set<string>>();
  /** Key → Unix ms until which it cannot be acquired. Entries in the past are pruned at each invalidation. */
  private readonly lockDelays = new Map<string, number>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): SessionRecord | undefined {
    return this.byId.get(id);
  }

  add(record: SessionRecord): void {
    this.byId.set(record.id, record);
    let ids = this.byNode.get(record.node);
    if (ids === undefined) this.byNode.set(record.node, (ids = new Set()));
    ids.add(record.id);
  }

  /** Replace a record in place (renewal); the node does not change. */
  replace(record: SessionRecord): void {
    this.byId.set(record.id, record);
  }

  delete(id: string): SessionRecord | undefined {
    const record = this.byId.get(id);
    if (record === undefined) return undefined;
    this.byId.delete(id);
    const ids = this.byNode.get(record.node)!;
    ids.delete(id);
    if (ids.size === 0) this.byNode.delete(record.node);
    return record;
  }

  /** Every session, by id (Consul lists by its id index). */
  list(): SessionRecord[] {
    return [...this.byId.values()].sort(byId);
  }

  ofNode(node: string): SessionRecord[] {
    const ids = this.byNode.get(node);
    if (ids === undefined) return [];
    return [...ids].sort(compareKeys).map((id) => this.byId.get(id)!);
  }

  /** Sessions of `node` bound to its check `checkId` (as a node check or a service check), by id. */
  boundTo(node: string, checkId: string): string[] {
    return this.ofNode(node)
      .filter((session) => session.nodeChecks.includes(checkId) || session.serviceChecks.includes(checkId))
      .map((session) => session.id);
  }

  /** TTL sessions whose expiry is at or before `nowMs`, by id: what the leader should propose sessionExpire for. */
  expiredBy(nowMs: number): string[] {
    const expired: string[] = [];
    for (const session of this.byId.values()) {
      if (session.expiresAtMs > 0 && session.expiresAtMs <= nowMs) expired.push(session.id);
    }
    return expired.sort(compareKeys);
  }

  /** The earliest expiry of any TTL session, or null: when the leader's timer should fire next. */
  nextExpiryMs(): number | null {
    let next: number | null = null;
    for (const session of this.byId.values()) {
      if (session.expiresAtMs > 0 && (next === null || session.expiresAtMs < next)) next = session.expiresAtMs;
    }
    return next;
  }

  lockDelayUntil(key: string): number {
    return this.lockDelays.get(key) ?? 0;
  }

  setLockDelay(key: string, untilMs: number): void {
    if (untilMs > (this.lockDelays.get(key) ?? 0)) this.lockDelays.set(key, untilMs);
  }

  pruneLockDelays(nowMs: number): void {
    for (const [key, untilMs] of this.lockDelays) if (untilMs <= nowMs) this.lockDelays.delete(key);
  }

  clear(): void {
    this.byId.clear();
    this.byNode.clear();
    this.lockDelays.clear();
  }

  /** Lock-delays in key order (snapshots). */
  lockDelayEntries(): [string, number][] {
    return [...this.lockDelays].sort((left, right) => compareKeys(left[0], right[0]));
  }

  loadLockDelays(entries: Iterable<[string, number]>): void {
    this.lockDelays.clear();
    for (const [key, untilMs] of entries) this.lockDelays.set(key, untilMs);
  }
}

function byId(left: SessionRecord, right: SessionRecord): number {
  return compareKeys(left.id, right.id);
}

export function sessionExpiry(ttlMs: number, nowMs: number): number {
  return ttlMs === 0 ? 0 : nowMs + ttlMs * SESSION_TTL_MULTIPLIER;
}

export type InvalidationContext = {
  kv: KvStore;
  sessions: Sessions;
  changes: ChangeSink;
  /** Time of the command causing the invalidation (the state machine's monotonic clock). */
  nowMs: number;
};

/**
 * End a session (Consul's deleteSessionTxn): remove it, then release its locks
 * (behavior release: the holder is cleared, value and LockIndex stay) or delete
 * its keys (behavior delete), and put every one of those keys in lock-delay
 * until nowMs + LockDelay. Returns false for an unknown session.
 */
export function invalidateSession(context: InvalidationContext, id: string): boolean {
  const { kv, sessions, changes, nowMs } = context;
  const session = sessions.delete(id);
  if (session === undefined) return false;
  sessions.pruneLockDelays(nowMs);
  for (const key of kv.keysHeldBy(id)) {
    const entry = kv.get(key)!;
    if (session.behavior === 'release') kv.put({ ...entry, session: '', modifyIndex: changes.index });
    else kv.remove(key, changes.index);
    if (session.lockDelayMs > 0) sessions.setLockDelay(key, nowMs + session.lockDelayMs);
  }
  changes.touch(Scope.sessions);
  changes.touch(Scope.nodeSessions(session.node));
  changes.touch(Scope.session(id));
  changes.forget(Scope.session(id));
  if (sessions.ofNode(session.node).length === 0) changes.forget(Scope.nodeSessions(session.node));
  return true;
}

/** Invalidate several sessions, in id order (the same order on every replica). */
export function invalidateSessions(context: InvalidationContext, ids: Iterable<string>): number {
  let count = 0;
  for (const id of [...new Set(ids)].sort(compareKeys)) if (invalidateSession(context, id)) count++;
  return count;
}

// ---------------------------------------------------------------- Consul's JSON

export type ConsulSession = {
  ID: string;
  Name: string;
  Node: string;
  /** Nanoseconds, as Go's time.Duration marshals. */
  LockDelay: number;
  Behavior: SessionBehavior;
  /** A Go duration string ("30s"), or "" without TTL. */
  TTL: string;
  NodeChecks: string[];
  ServiceChecks: { ID: string; Namespace: string }[] | null;
  CreateIndex: number;
  ModifyIndex: number;
};

export function consulSession(session: SessionRecord): ConsulSession {
  return {
    ID: session.id,
    Name: session.name,
    Node: session.node,
    LockDelay: session.lockDelayMs * 1_000_000,
    Behavior: session.behavior,
    TTL: session.ttlMs === 0 ? '' : goDuration(session.ttlMs),
    NodeChecks: [...session.nodeChecks],
    ServiceChecks: session.serviceChecks.length === 0 ? null : session.serviceChecks.map((id) => ({ ID: id, Namespace: '' })),
    CreateIndex: session.createIndex,
    ModifyIndex: session.modifyIndex,
  };
}

/** Go's time.Duration.String for whole milliseconds: "10s", "1m30s", "1h0m0s", "1.5s", "250ms". */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const secondsMs = ms % 60_000;
  const seconds = secondsMs % 1000 === 0 ? `${secondsMs / 1000}` : `${Math.floor(secondsMs / 1000)}.${String(secondsMs % 1000).padStart(3, '0').replace(/0+$/, '')}`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

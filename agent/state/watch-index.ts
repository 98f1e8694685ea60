// Blocking-query support: what index to report for a read, and whom to wake
// when a write lands.
//
//   const index = stateMachine.indexFor(Scope.kvKey('web/config'));   // X-Consul-Index
//   if (index <= clientIndex) stateMachine.watches.wait(Scope.kvKey('web/config'), wake);
//   // ... apply of a write to 'web/config' calls wake(newIndex) once; a write to 'web/other' does not
//
// A scope names what a read depends on: one KV key, a KV prefix (recurse,
// keys), one service, one node, a list (nodes, services, checks, sessions).
// Scopes are short strings so that they cost one Map slot and can be compared
// for free: identical blocking queries share one waiter entry.
//
// Two structures, with different lives:
// - ScopeIndexes is replicated state (it goes into snapshots): for catalog and
//   session scopes, the Raft index of the last change. KV scopes are not in it:
//   a key's index is its ModifyIndex or its tombstone, a prefix's is the largest
//   of those under it (see kv-store.ts).
// - WatchRegistry is local and volatile: the callbacks of blocked requests. It
//   never sets timers; the HTTP layer owns the wait timeout and cancels.

/** What a read depends on. Build with the Scope helpers; the string form is an implementation detail. */
export type Scope = string & { readonly __scope: true };

/** Scope constructors. The family is the text before the first ':' (or the whole string for lists). */
export const Scope = {
  /** One KV key: GET /v1/kv/:key. */
  kvKey: (key: string) => `k:${key}` as Scope,
  /** Every key under a prefix: GET /v1/kv/:prefix?recurse and ?keys. */
  kvPrefix: (prefix: string) => `p:${prefix}` as Scope,
  /** One service's instances, their nodes and checks: /v1/catalog/service/:name, /v1/health/service/:name, /v1/health/checks/:name. */
  service: (name: string) => `s:${name}` as Scope,
  /** One node, its services and checks: /v1/catalog/node/:node, /v1/health/node/:node. */
  node: (name: string) => `n:${name}` as Scope,
  /** One session: /v1/session/info/:id. */
  session: (id: string) => `i:${id}` as Scope,
  /** The sessions of one node: /v1/session/node/:node. */
  nodeSessions: (node: string) => `o:${node}` as Scope,
  /** The node list: /v1/catalog/nodes. */
  nodes: 'nodes' as Scope,
  /** The service list with tags: /v1/catalog/services. */
  services: 'services' as Scope,
  /** Every check: /v1/health/state/:state. */
  checks: 'checks' as Scope,
  /** Every session: /v1/session/list. */
  sessions: 'sessions' as Scope,
} as const;

export function scopeFamily(scope: Scope): string {
  const colon = scope.indexOf(':');
  return colon < 0 ? scope : scope.slice(0, colon);
}

/** Whether `scope` is a KV scope, whose index the KV store computes. */
export function isKvScope(scope: Scope): boolean {
  return scope.startsWith('k:') || scope.startsWith('p:');
}

/**
 * How the stores report what an apply changed: `touch` records that the scope
 * changed at `index` (the state machine updates ScopeIndexes and, once the
 * apply is complete, wakes the scope's waiters); `forget` drops a scope whose
 * subject no longer exists (after touching it).
 */
export interface ChangeSink {
  readonly index: number;
  touch(scope: Scope): void;
  forget(scope: Scope): void;
}

/**
 * Last-change indexes of catalog and session scopes. Entries for things that
 * are gone (a destroyed session, a service with no instances left) are dropped
 * so that memory follows the live state; the family's floor then rises to the
 * dropped index, so no scope's index ever goes backwards.
 */
export class ScopeIndexes {
  private readonly indexes = new Map<Scope, number>();
  private readonly floors = new Map<string, number>();

  get(scope: Scope): number {
    return Math.max(this.indexes.get(scope) ?? 0, this.floors.get(scopeFamily(scope)) ?? 0);
  }

  touch(scope: Scope, index: number): void {
    this.indexes.set(scope, index);
  }

  /** Drop a scope whose subject is gone, keeping its family's indexes monotonic. */
  forget(scope: Scope): void {
    const index = this.indexes.get(scope);
    if (index === undefined) return;
    this.indexes.delete(scope);
    const family = scopeFamily(scope);
    if (index > (this.floors.get(family) ?? 0)) this.floors.set(family, index);
  }

  clear(): void {
    this.indexes.clear();
    this.floors.clear();
  }

  /** For snapshots: every entry and floor, in a deterministic order. */
  entries(): { indexes: [Scope, number][]; floors: [string, number][] } {
    const byKey = (left: [string, number], right: [string, number]) => (left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0);
    return { indexes: [...this.indexes].sort(byKey), floors: [...this.floors].sort(byKey) };
  }

  load(indexes: Iterable<[Scope, number]>, floors: Iterable<[string, number]>): void {
    this.clear();
    for (const [scope, index] of indexes) this.indexes.set(scope, index);
    for (const [family, index] of floors) this.floors.set(family, index);
  }

  get size(): number {
    return this.indexes.size;
  }
}

/** Called once, with the index of the write that touched the scope. */
export type Wake = (index: number) => void;

/**
 * Blocked readers, keyed by scope. One entry per distinct scope however many
 * requests wait on it; one waiter costs a Map slot and its callback (no array
 * or Set until a second waiter shares the scope). A wake is one-shot: the entry
 * is removed before its callbacks run, and a callback that waits again
 * registers for the next change.
 */
export class WatchRegistry {
  private readonly waiters = new Map<Scope, Wake | Set<Wake>>();
  /** Lengths of the KV prefixes being waited on, with how many scopes have each: a key write probes only these. */
  private readonly prefixLengths = new Map<number, number>();
  private callbackCount = 0;

  /** Wake `wake` at the next change of `scope`. The caller must not register the same function twice for one scope. */
  wait(scope: Scope, wake: Wake): void {
    const existing = this.waiters.get(scope);
    if (existing === undefined) {
      this.waiters.set(scope, wake);
      if (scope.startsWith('p:')) this.prefixLengths.set(scope.length - 2, (this.prefixLengths.get(scope.length - 2) ?? 0) + 1);
    } else if (typeof existing === 'function') {
      this.waiters.set(scope, new Set([existing, wake]));
    } else {
      existing.add(wake);
    }
    this.callbackCount++;
  }

  /** Stop waiting (the request timed out or the client went away). Unknown pairs are ignored. */
  cancel(scope: Scope, wake: Wake): void {
    const existing = this.waiters.get(scope);
    if (existing === undefined) return;
    if (existing === wake) {
      this.removeScope(scope);
      this.callbackCount--;
    } else if (typeof existing !== 'function' && existing.delete(wake)) {
      this.callbackCount--;
      if (existing.size === 0) this.removeScope(scope);
    }
  }

  /** Wake the waiters of `scope`. */
  notify(scope: Scope, index: number): void {
    const existing = this.waiters.get(scope);
    if (existing === undefined) return;
    this.removeScope(scope);
    if (typeof existing === 'function') {
      this.callbackCount--;
      call(existing, index);
      return;
    }
    this.callbackCount -= existing.size;
    for (const wake of existing) call(wake, index);
  }

  /** A KV key changed: wake the waiters of that key and of every waited prefix of it, nobody else. */
  notifyKvKey(key: string, index: number): void {
    if (this.waiters.size === 0) return;
    this.notify(Scope.kvKey(key), index);
    for (const length of this.prefixLengths.keys()) {
      if (length <= key.length) this.notify(Scope.kvPrefix(key.slice(0, length)), index);
    }
  }

  /** Wake everyone (the whole state was replaced by a snapshot). */
  notifyAll(index: number): void {
    for (const scope of [...this.waiters.keys()]) this.notify(scope, index);
  }

  /** Distinct scopes with at least one waiter. */
  get scopeCount(): number {
    return this.waiters.size;
  }

  /** Registered callbacks, over all scopes. */
  get waiterCount(): number {
    return this.callbackCount;
  }

  private removeScope(scope: Scope): void {
    this.waiters.delete(scope);
    if (!scope.startsWith('p:')) return;
    const length = scope.length - 2;
    const remaining = (this.prefixLengths.get(length) ?? 1) - 1;
    if (remaining === 0) this.prefixLengths.delete(length);
    else this.prefixLengths.set(length, remaining);
  }
}

/**
 * Run a waiter's callback. A throwing callback is the HTTP layer's bug; it must
 * neither stop the other wakes nor interrupt the apply that is notifying, so
 * it is rethrown on a later turn, where it surfaces as an uncaught exception.
 */
function call(wake: Wake, index: number): void {
  try {
    wake(index);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

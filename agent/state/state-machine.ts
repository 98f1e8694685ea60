// The replicated state machine: the catalog, KV and sessions that the Raft
// log drives. Every replica applies the same committed entries in the same
// order and ends in the same state, byte for byte (see snapshot()).
//
//   const state = new StateMachine();
//   const runtime = await RaftRuntime.start({ ..., stateMachine: state });
//   const ok = await runtime.propose(encodeStateCommand({ type: 'kvSet', nowMs, key, value, flags: 0 }));  // true
//   const { index, entry } = state.kvGet('web/config');          // X-Consul-Index and the entry
//   state.watches.wait(Scope.kvKey('web/config'), (next) => ...); // blocking query: woken by a write to that key only
//
// apply() never throws for a committed entry, whatever its bytes: a command
// that does not decode or that the state refuses is answered with a Rejection
// and changes nothing (but the applied index). It never reads a clock or a
// random source and never does I/O: time comes inside commands (`nowMs`), and
// the state keeps the largest time seen (`clockMs`) so that a leader with a
// slower clock cannot shorten a lock-delay.
//
// Read methods answer from this replica's state, with the index to report as
// X-Consul-Index: the last change of what the read depends on (per key, per
// prefix, per service, per node), never 0. Returned records are shared with the
// state: callers must not mutate them.

import type { ReplicatedStateMachine } from '../consensus/raft-runtime.ts';
import { DecodeError } from '../../protocol/errors.ts';
import { EntryType } from '../../protocol/raft.ts';
import type { Entry } from '../../protocol/raft.ts';
import { DEFAULT_STATE_COMMAND_LIMITS, decodeStateCommand, isRejection, isWriteVerb, rejection } from '../../protocol/state-commands.ts';
import type {
  CatalogRegister, Rejection, SessionCreate, StateCommand, StateCommandLimits, TxnOp,
} from '../../protocol/state-commands.ts';
import { Catalog, consulCheck, consulNode, consulNodeService, consulServiceNode } from './catalog.ts';
import type { CheckEffects, CheckRecord, HealthState } from './catalog.ts';
import { casEntry, deleteCasEntry, deleteTree, KvStore, lockEntry, setEntry, unlockEntry } from './kv-store.ts';
import type { KvEntry, KvStoreOptions } from './kv-store.ts';
import { consulSession, invalidateSession, invalidateSessions, sessionExpiry, Sessions } from './sessions.ts';
import type { ConsulSession, InvalidationContext, SessionRecord } from './sessions.ts';
import { decodeSnapshot, encodeSnapshot } from './snapshot.ts';
import type { DecodedSnapshot } from './snapshot.ts';
import { runTxn } from './txn.ts';
import type { TxnContext, TxnOutcome } from './txn.ts';
import { isKvScope, Scope, ScopeIndexes, scopeFamily, WatchRegistry } from './watch-index.ts';
import type { ChangeSink } from './watch-index.ts';

/**
 * What apply() returns to the proposer, per command (see protocol/state-commands.ts):
 * `true`/`false` for KV writes and nodeHealth, a TxnOutcome for txn, `{ ID }`
 * for sessionCreate, the renewed SessionRecord for sessionRenew, a Rejection
 * when the command was refused, `null` for entries without a command (leader
 * no-ops, membership changes).
 */
export type ApplyResult = boolean | TxnOutcome | { ID: string } | SessionRecord | Rejection | null;

export type StateMachineOptions = {
  /** Codec bounds; every replica must use the same. */
  limits?: StateCommandLimits;
  kv?: KvStoreOptions;
};

/** Every scope family the Scope helpers build: a stateRestore raises all their floors. */
const SCOPE_FAMILIES: readonly string[] = Object.values(Scope).map((make) => scopeFamily(typeof make === 'function' ? make('') : make));

/** A read's answer: the data and the X-Consul-Index to report with it. */
export type Indexed<T> = { index: number } & T;

export class StateMachine implements ReplicatedStateMachine {
  /** Blocked readers. Local to this replica, not replicated; woken precisely by apply(). */
  readonly watches = new WatchRegistry();
  private readonly limits: StateCommandLimits;
  private readonly kv: KvStore;
  private readonly sessions = new Sessions();
  private readonly catalog = new Catalog();
  private readonly scopes = new ScopeIndexes();
  private appliedIndex = 0;
  private clockMs = 0;
  /** Scopes touched by the apply in progress, woken when it is complete. */
  private touchedScopes: Scope[] = [];

  constructor(options: StateMachineOptions = {}) {
    this.limits = options.limits ?? DEFAULT_STATE_COMMAND_LIMITS;
    this.kv = new KvStore(options.kv);
  }

  // ---------------------------------------------------------------- ReplicatedStateMachine

  apply(entry: Entry): ApplyResult {
    if (entry.type !== EntryType.Normal || entry.data.length === 0) {
      this.advance(entry.index);
      return null;
    }
    let command: StateCommand;
    try {
      command = decodeStateCommand(entry.data, this.limits);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.advance(entry.index);
      return rejection('invalid-command', error.message);
    }
    return this.applyCommand(command, entry.index);
  }

  /** Apply a decoded command at `index` (apply() after decoding; tests and the simulator may call it directly). */
  applyCommand(command: StateCommand, index: number): ApplyResult {
    this.advance(index);
    const nowMs = Math.max(this.clockMs, command.nowMs);
    const changes = this.changeSink(index);
    const result = this.dispatch(command, changes, nowMs);
    const touchedKeys = this.kv.drainTouched();
    const touchedScopes = this.touchedScopes;
    this.touchedScopes = [];
    if (isRejection(result)) {
      // A refused command must have been refused before it changed anything.
      if (touchedKeys.length > 0 || touchedScopes.length > 0) throw new Error(`state machine bug: ${command.type} was rejected after changing state`);
      return result;
    }
    this.clockMs = nowMs;
    this.wake(touchedKeys, touchedScopes, index);
    return result;
  }

  snapshot(): Uint8Array {
    const scopes = this.scopes.entries();
    return encodeSnapshot({
      appliedIndex: this.appliedIndex,
      clockMs: this.clockMs,
      kvEntries: this.kv.allEntries(),
      tombstones: this.kv.allTombstones(),
      kvFloors: this.kv.floorEntries(),
      sessions: this.sessions.list(),
      lockDelays: this.sessions.lockDelayEntries(),
      catalog: this.catalog.dump(),
      scopeIndexes: scopes.indexes,
      scopeFloors: scopes.floors,
    });
  }

  /** Replace the whole state; empty data means the empty state (a node that never had a snapshot). Wakes every waiter. */
  restore(data: Uint8Array, index: number): void {
    if (data.length === 0) {
      this.kv.clear();
      this.sessions.clear();
      this.catalog.clear();
      this.scopes.clear();
      this.clockMs = 0;
    } else {
      const decoded = decodeSnapshot(data);
      this.kv.load(decoded.kvEntries, decoded.tombstones, decoded.kvFloors);
      this.sessions.clear();
      for (const session of decoded.sessions) this.sessions.add(session);
      this.sessions.loadLockDelays(decoded.lockDelays);
      this.catalog.load(decoded.catalog);
      this.scopes.load(decoded.scopeIndexes, decoded.scopeFloors);
      this.clockMs = decoded.clockMs;
    }
    this.appliedIndex = index;
    this.touchedScopes = [];
    this.watches.notifyAll(index);
  }

  // ---------------------------------------------------------------- applying

  private advance(index: number): void {
    if (!Number.isSafeInteger(index) || index <= this.appliedIndex) {
      throw new Error(`entries must be applied in increasing index order: ${index} after ${this.appliedIndex}`);
    }
    this.appliedIndex = index;
  }

  private changeSink(index: number): ChangeSink {
    return {
      index,
      touch: (scope) => {
        this.scopes.touch(scope, index);
        this.touchedScopes.push(scope);
      },
      forget: (scope) => this.scopes.forget(scope),
    };
  }

  private wake(keys: string[], scopes: Scope[], index: number): void {
    if (this.watches.scopeCount === 0) return;
    for (const key of keys) this.watches.notifyKvKey(key, index);
    for (const scope of scopes) this.watches.notify(scope, index);
  }

  private dispatch(command: StateCommand, changes: ChangeSink, nowMs: number): ApplyResult {
    const index = changes.index;
    const kv = this.kv;
    switch (command.type) {
      case 'kvSet':
        setEntry(kv, index, command.key, command.value, command.flags);
        return true;
      case 'kvCas':
        return casEntry(kv, index, command.key, command.value, command.flags, command.casIndex) !== null;
      case 'kvDelete':
        kv.remove(command.key, index);
        return true;
      case 'kvDeleteTree':
        deleteTree(kv, index, command.prefix);
        return true;
      case 'kvDeleteCas':
        return deleteCasEntry(kv, index, command.key, command.casIndex);
      case 'kvLock':
        if (this.sessions.get(command.session) === undefined) return rejection('invalid-session', `invalid session ${JSON.stringify(command.session)}`);
        if (this.sessions.lockDelayUntil(command.key) > nowMs) return false;
        return lockEntry(kv, index, command.key, command.value, command.flags, command.session) !== null;
      case 'kvUnlock':
        return unlockEntry(kv, index, command.key, command.value, command.flags, command.session) !== null;
      case 'txn':
        return runTxn(command.ops, this.txnContext(index, nowMs));
      case 'catalogRegister':
        return this.register(command, changes, nowMs);
      case 'catalogDeregister':
        this.invalidateFor(command.node, this.catalog.deregister(command, changes), changes, nowMs);
        return true;
      case 'nodeHealth': {
        const outcome = this.catalog.nodeHealth(command, changes);
        if (isRejection(outcome)) return outcome;
        this.invalidateFor(command.node, outcome, changes, nowMs);
        return outcome.changed;
      }
      case 'sessionCreate':
        return this.createSession(command, changes, nowMs);
      case 'sessionDestroy':
        invalidateSession(this.invalidation(changes, nowMs), command.id);
        return true;
      case 'sessionRenew': {
        const session = this.sessions.get(command.id);
        if (session === undefined) return rejection('unknown-session', `Session id '${command.id}' not found`);
        if (session.ttlMs === 0) return session;
        const renewed: SessionRecord = { ...session, expiresAtMs: sessionExpiry(session.ttlMs, nowMs) };
        this.sessions.replace(renewed);
        return renewed;
      }
      case 'sessionExpire': {
        const session = this.sessions.get(command.id);
        if (session === undefined || session.expiresAtMs === 0 || session.expiresAtMs > nowMs) return false;
        return invalidateSession(this.invalidation(changes, nowMs), command.id);
      }
      case 'stateRestore':
        return this.restoreFromCommand(command.snapshot, index);
    }
  }

  /**
   * stateRestore: the whole state becomes the snapshot's, as if this one entry
   * had written all of it (protocol/state-commands.ts): every Raft index in it
   * becomes `index`, tombstones fold into a KV floor at `index`, and every scope
   * family's floor is `index`, so that every read reports `index` until its
   * subject changes again and every blocked reader wakes. Nothing changes
   * unless the snapshot decodes.
   */
  private restoreFromCommand(data: Uint8Array, index: number): ApplyResult {
    let decoded: DecodedSnapshot;
    try {
      decoded = decodeSnapshot(data);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      return rejection('invalid-command', `the snapshot does not decode: ${error.message}`);
    }
    const at = <T extends { createIndex: number; modifyIndex: number }>(record: T): T => ({ ...record, createIndex: index, modifyIndex: index });
    this.kv.load(decoded.kvEntries.map(at), [], { global: index, segments: [] });
    this.sessions.clear();
    for (const session of decoded.sessions) this.sessions.add(at(session));
    this.sessions.loadLockDelays(decoded.lockDelays);
    this.catalog.load(decoded.catalog.map(({ node, services, checks }) => ({ node: at(node), services: services.map(at), checks: checks.map(at) })));
    const families = new Set([...SCOPE_FAMILIES, ...decoded.scopeFloors.map(([family]) => family), ...decoded.scopeIndexes.map(([scope]) => scopeFamily(scope))]);
    this.scopes.load([], [...families].sort().map((family): [string, number] => [family, index]));
    this.watches.notifyAll(index);
    return true;
  }

  private register(command: CatalogRegister, changes: ChangeSink, nowMs: number): ApplyResult {
    const outcome = this.catalog.register(command, changes);
    if (isRejection(outcome)) return outcome;
    this.invalidateFor(command.node.node, outcome, changes, nowMs);
    return true;
  }

  private createSession(command: SessionCreate, changes: ChangeSink, nowMs: number): ApplyResult {
    if (this.sessions.get(command.id) !== undefined) return rejection('duplicate-session', `Session id '${command.id}' already exists`);
    if (this.catalog.node(command.node) === undefined) return rejection('missing-node', 'Missing node registration');
    for (const checkId of [...command.nodeChecks, ...command.serviceChecks]) {
      const check = this.catalog.checkOf(command.node, checkId);
      if (check === undefined) return rejection('missing-check', `Missing check '${checkId}' registration`);
      if (check.status === 'critical') return rejection('critical-check', `Check '${checkId}' is in critical state`);
    }
    this.sessions.add({
      id: command.id,
      name: command.name,
      node: command.node,
      ttlMs: command.ttlMs,
      lockDelayMs: command.lockDelayMs,
      behavior: command.behavior,
      nodeChecks: command.nodeChecks,
      serviceChecks: command.serviceChecks,
      createIndex: changes.index,
      modifyIndex: changes.index,
      expiresAtMs: sessionExpiry(command.ttlMs, nowMs),
    });
    changes.touch(Scope.sessions);
    changes.touch(Scope.session(command.id));
    changes.touch(Scope.nodeSessions(command.node));
    return { ID: command.id };
  }

  /** Sessions die with their node and with any bound check that failed or went away. */
  private invalidateFor(node: string, effects: CheckEffects, changes: ChangeSink, nowMs: number): void {
    const ids = effects.nodeRemoved
      ? this.sessions.ofNode(node).map((session) => session.id)
      : effects.failedChecks.flatMap((checkId) => this.sessions.boundTo(node, checkId));
    if (ids.length > 0) invalidateSessions(this.invalidation(changes, nowMs), ids);
  }

  private invalidation(changes: ChangeSink, nowMs: number): InvalidationContext {
    return { kv: this.kv, sessions: this.sessions, changes, nowMs };
  }

  private txnContext(index: number, nowMs: number): TxnContext {
    return {
      kv: this.kv,
      index,
      nowMs,
      sessionExists: (id) => this.sessions.get(id) !== undefined,
      lockDelayUntil: (key) => this.sessions.lockDelayUntil(key),
    };
  }

  // ---------------------------------------------------------------- reads: indexes and time

  /** The last applied Raft index. */
  get index(): number {
    return this.appliedIndex;
  }

  /** The largest command time applied (Unix ms): the state's notion of now. */
  get clock(): number {
    return this.clockMs;
  }

  /** X-Consul-Index for a read depending on `scope`: its last change, at least 1 (a 0 would make clients spin, so Consul never reports it). */
  indexFor(scope: Scope): number {
    let index: number;
    if (scope.startsWith('k:')) index = this.kv.indexOfKey(scope.slice(2));
    else if (scope.startsWith('p:')) index = this.kv.indexOfPrefix(scope.slice(2));
    else index = this.scopes.get(scope);
    return Math.max(1, index);
  }

  // ---------------------------------------------------------------- reads: KV

  /** GET /v1/kv/:key. */
  kvGet(key: string): Indexed<{ entry: KvEntry | null }> {
    return { index: this.indexFor(Scope.kvKey(key)), entry: this.kv.get(key) ?? null };
  }

  /** GET /v1/kv/:prefix?recurse. */
  kvList(prefix: string): Indexed<{ entries: KvEntry[] }> {
    return { index: this.indexFor(Scope.kvPrefix(prefix)), entries: this.kv.list(prefix) };
  }

  /** GET /v1/kv/:prefix?keys&separator=. */
  kvKeys(prefix: string, separator: string): Indexed<{ keys: string[] }> {
    return { index: this.indexFor(Scope.kvPrefix(prefix)), keys: this.kv.keys(prefix, separator) };
  }

  /**
   * PUT /v1/txn when no operation writes: served from this replica without
   * Raft, as Consul does. A rejection if some operation writes (propose it instead).
   */
  txnRead(ops: readonly TxnOp[]): Indexed<{ outcome: TxnOutcome }> | Rejection {
    const writer = ops.find((op) => isWriteVerb(op.verb));
    if (writer) return rejection('invalid-command', `operation ${writer.verb} writes: the transaction must go through Raft`);
    return { index: Math.max(1, this.appliedIndex), outcome: runTxn(ops, this.txnContext(this.appliedIndex, this.clockMs)) };
  }

  /** Unix ms until which `key` cannot be acquired (0 if it can). */
  lockDelayUntil(key: string): number {
    return this.sessions.lockDelayUntil(key);
  }

  // ---------------------------------------------------------------- reads: catalog and health (Consul's JSON)

  /** GET /v1/catalog/nodes. */
  catalogNodes() {
    return { index: this.indexFor(Scope.nodes), nodes: this.catalog.allNodes().map(consulNode) };
  }

  /** GET /v1/catalog/services: service name → tags. */
  catalogServices(): Indexed<{ services: Record<string, string[]> }> {
    const services: Record<string, string[]> = {};
    for (const [name, tags] of this.catalog.serviceNames()) {
      Object.defineProperty(services, name, { value: tags, enumerable: true, writable: true, configurable: true });
    }
    return { index: this.indexFor(Scope.services), services };
  }

  /** GET /v1/catalog/service/:name (?tag, repeatable). */
  catalogService(name: string, tags: readonly string[] = []) {
    const rows = this.catalog.instancesOf(name, tags).map((service) => consulServiceNode(this.catalog.node(service.node)!, service));
    return { index: this.indexFor(Scope.service(name)), nodes: rows };
  }

  /** GET /v1/catalog/node/:node: null when unknown (Consul answers `null` with 200). */
  catalogNode(name: string) {
    const node = this.catalog.node(name);
    const index = this.indexFor(Scope.node(name));
    if (node === undefined) return { index, node: null };
    const services: Record<string, ReturnType<typeof consulNodeService>> = {};
    for (const service of this.catalog.servicesOfNode(name)) {
      Object.defineProperty(services, service.id, { value: consulNodeService(service), enumerable: true, writable: true, configurable: true });
    }
    return { index, node: { Node: consulNode(node), Services: services } };
  }

  /** GET /v1/health/service/:name (?passing, ?tag). */
  healthService(name: string, options: { passing?: boolean; tags?: readonly string[] } = {}) {
    const entries = this.catalog.healthService(name, options).map((instance) => ({
      Node: consulNode(instance.node),
      Service: consulNodeService(instance.service),
      Checks: instance.checks.map((check) => this.consulCheck(check)),
    }));
    return { index: this.indexFor(Scope.service(name)), entries };
  }

  /** GET /v1/health/checks/:service. */
  healthChecks(service: string) {
    return { index: this.indexFor(Scope.service(service)), checks: this.catalog.checksOfService(service).map((check) => this.consulCheck(check)) };
  }

  /** GET /v1/health/node/:node. */
  healthNode(node: string) {
    return { index: this.indexFor(Scope.node(node)), checks: this.catalog.checksOfNode(node).map((check) => this.consulCheck(check)) };
  }

  /** GET /v1/health/state/:state (passing, warning, critical, any). */
  healthState(state: HealthState) {
    return { index: this.indexFor(Scope.checks), checks: this.catalog.checksInState(state).map((check) => this.consulCheck(check)) };
  }

  /** The catalog itself, for readers that want records rather than JSON (DNS, the agent's anti-entropy). */
  get catalogView(): Pick<Catalog, 'node' | 'allNodes' | 'servicesOfNode' | 'checksOfNode' | 'instancesOf' | 'healthService' | 'checkOf'> {
    return this.catalog;
  }

  private consulCheck(check: CheckRecord) {
    return consulCheck(check, this.catalog.serviceOfCheck(check));
  }

  // ---------------------------------------------------------------- reads: sessions

  /** GET /v1/session/info/:id: a list of zero or one session, as Consul. */
  sessionInfo(id: string): Indexed<{ sessions: ConsulSession[] }> {
    const session = this.sessions.get(id);
    return { index: this.indexFor(Scope.session(id)), sessions: session ? [consulSession(session)] : [] };
  }

  /** GET /v1/session/list. */
  sessionList(): Indexed<{ sessions: ConsulSession[] }> {
    return { index: this.indexFor(Scope.sessions), sessions: this.sessions.list().map(consulSession) };
  }

  /** GET /v1/session/node/:node. */
  sessionsOfNode(node: string): Indexed<{ sessions: ConsulSession[] }> {
    return { index: this.indexFor(Scope.nodeSessions(node)), sessions: this.sessions.ofNode(node).map(consulSession) };
  }

  /** The raw record (the HTTP layer formats a renewal's answer with consulSession). */
  session(id: string): SessionRecord | undefined {
    return this.sessions.get(id);
  }

  /** The leader's TTL reaper: sessions whose expiry is at or before `nowMs` (propose sessionExpire for each). */
  sessionsToExpire(nowMs: number): string[] {
    return this.sessions.expiredBy(nowMs);
  }

  /** The leader's TTL reaper: when to look again (Unix ms), or null when no session has a TTL. */
  nextSessionExpiryMs(): number | null {
    return this.sessions.nextExpiryMs();
  }
}

export { isKvScope, Scope };

// Anti-entropy: the agent is authoritative for its own node, and this keeps
// the catalog's copy of it (node record, services, checks) equal to the
// agent's local state, as Consul's agent/ae and local.State do.
//
//   const ae = new AntiEntropy({ state, node, reader, apply, leaderId, log });
//   ae.start();            // full sync now, then every syncIntervalMs
//   state.on('change', …)  // → a partial sync of what changed (wired by start())
//
// Two kinds of sync:
//   partial  writes what the local state marks out of sync (a registration,
//            a check's new status) and removes what was deregistered locally;
//            no read: the local state knows what it changed.
//   full     first reads the catalog's view of this node and marks every
//            difference — an entry changed or removed by someone else through
//            /v1/catalog/register, an entry this agent does not know (removed,
//            except serfHealth, which is the leader's), a node record that
//            drifted — then does a partial sync. Runs at start, every
//            syncIntervalMs (plus a random stagger, so that a thousand agents
//            restarted together do not write together), whenever the Raft
//            leader changes (a new leader may have lost nothing, but the cost
//            of looking is one read), and after any failure, with backoff.
//
// One sync runs at a time; requests made meanwhile are merged into the next.

import type { CatalogNode, StateCommand } from '../../protocol/state-commands.ts';
import { isRejection, SERF_HEALTH_CHECK_ID } from '../../protocol/state-commands.ts';
import type { CatalogNodeReader } from './catalog-reader.ts';
import { catalogCheck } from './definitions.ts';
import type { LocalCheck, LocalState } from './local-state.ts';

export type AntiEntropyOptions = {
  state: LocalState;
  /** This agent's node record as it should be in the catalog. */
  node(): CatalogNode;
  reader: CatalogNodeReader;
  /** Replicate a command through the leader; resolves with the state machine's result. */
  apply(command: StateCommand): Promise<unknown>;
  /** The Raft leader's id as this agent knows it ('' for none): a change triggers a full sync. */
  leaderId(): string;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Between full syncs (Consul: 1 minute, scaled up in large clusters). */
  syncIntervalMs?: number;
  /** How often the leader is looked at. */
  leaderPollMs?: number;
  /** Backoff after a failed sync: from the minimum, doubling, up to the maximum. */
  retryMinMs?: number;
  retryMaxMs?: number;
  random?: () => number;
};

export const SYNC_INTERVAL_MS_DEFAULT = 60_000;
const LEADER_POLL_MS_DEFAULT = 1_000;
const RETRY_MIN_MS_DEFAULT = 500;
const RETRY_MAX_MS_DEFAULT = 30_000;
/** How long stop() waits for a sync in flight. */
const STOP_WAIT_MS = 1_000;
/** The catalog's limit of checks per registration (protocol/state-commands.ts maxChecksPerRegister). */
const CHECKS_PER_REGISTER_MAX = 64;

export class AntiEntropy {
  private readonly options: AntiEntropyOptions;
  private readonly state: LocalState;
  private wantFull = false;
  private wantPartial = false;
  private running: Promise<void> | null = null;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private periodicTimer: NodeJS.Timeout | null = null;
  private leaderTimer: NodeJS.Timeout | null = null;
  private lastLeader = '';
  private stopped = false;
  private readonly onChange = () => this.requestPartial();
  /** Syncs completed without error, and the time of the last one: for tests and `info`. */
  syncs = 0;
  lastSyncMs = 0;

  constructor(options: AntiEntropyOptions) {
    this.options = options;
    this.state = options.state;
  }

  start(): void {
    this.state.on('change', this.onChange);
    this.lastLeader = this.options.leaderId();
    this.leaderTimer = setInterval(() => {
      const leader = this.options.leaderId();
      if (leader !== this.lastLeader) {
        this.lastLeader = leader;
        if (leader !== '') {
          this.options.log('debug', `anti-entropy: leader changed to ${leader}; full sync`);
          this.requestFull();
        }
      }
    }, this.options.leaderPollMs ?? LEADER_POLL_MS_DEFAULT);
    this.leaderTimer.unref?.();
    this.schedulePeriodic();
    this.requestFull();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.state.off('change', this.onChange);
    for (const timer of [this.retryTimer, this.periodicTimer]) if (timer) clearTimeout(timer);
    if (this.leaderTimer) clearInterval(this.leaderTimer);
    // A sync in flight may be waiting for a quorum that is gone; it ends on its own (its result no longer matters).
    await Promise.race([this.running, new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
  }

  requestPartial(): void {
    this.wantPartial = true;
    this.kick();
  }

  requestFull(): void {
    this.wantFull = true;
    this.kick();
  }

  /** Resolves when no sync is running or wanted (tests). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private schedulePeriodic(): void {
    const interval = this.options.syncIntervalMs ?? SYNC_INTERVAL_MS_DEFAULT;
    const stagger = Math.floor((this.options.random ?? Math.random)() * interval / 4);
    this.periodicTimer = setTimeout(() => {
      this.requestFull();
      this.schedulePeriodic();
    }, interval + stagger);
    this.periodicTimer.unref?.();
  }

  private kick(): void {
    if (this.stopped || this.running || this.retryTimer) return;
    if (!this.wantFull && !this.wantPartial) return;
    this.running = this.run().finally(() => {
      this.running = null;
      this.kick();
    });
  }

  private async run(): Promise<void> {
    while ((this.wantFull || this.wantPartial) && !this.stopped) {
      const full = this.wantFull;
      this.wantFull = false;
      this.wantPartial = false;
      try {
        if (full) await this.syncFull();
        const problems = await this.syncChanges();
        if (problems > 0) throw new Error(`${problems} catalog writes refused`);
        this.failures = 0;
        this.syncs++;
        this.lastSyncMs = Date.now();
      } catch (error) {
        this.failures++;
        this.wantFull = true;
        const minMs = this.options.retryMinMs ?? RETRY_MIN_MS_DEFAULT;
        const delayMs = Math.min(this.options.retryMaxMs ?? RETRY_MAX_MS_DEFAULT, minMs * 2 ** Math.min(this.failures - 1, 16));
        this.options.log(this.failures > 3 ? 'warn' : 'debug', `anti-entropy: sync failed (${(error as Error).message}); retrying in ${delayMs} ms`);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.kick();
        }, delayMs);
        this.retryTimer.unref?.();
        return;
      }
    }
  }

  /** Compare with the catalog and mark every difference. */
  private async syncFull(): Promise<void> {
    const state = this.state;
    const node = this.options.node();
    const remote = await this.options.reader.read(node.node);
    state.nodeInSync = remote.node !== null && canonical(remote.node) === canonical(node);

    const remoteServices = new Map(remote.services.map((service) => [service.id, service]));
    for (const service of remote.services) {
      const local = state.service(service.id);
      if (local === undefined) state.markServiceForRemoval(service.id);
      else if (local.service.enableTagOverride) state.adoptTags(service.id, service.tags);
    }
    for (const local of state.allServices()) {
      const found = remoteServices.get(local.service.id);
      if (found === undefined || canonical(found) !== canonical(local.service)) state.markServiceOutOfSync(local.service.id);
    }
    for (const id of state.removedServiceIds()) if (!remoteServices.has(id)) state.forgetRemovedService(id);

    const remoteChecks = new Map(remote.checks.map((check) => [check.checkId, check]));
    for (const check of remote.checks) {
      if (check.checkId === SERF_HEALTH_CHECK_ID) continue; // the leader's, from gossip
      if (state.check(check.checkId) === undefined) state.markCheckForRemoval(check.checkId);
    }
    for (const local of state.allChecks()) {
      const found = remoteChecks.get(local.definition.checkId);
      const wanted = catalogCheck(local.definition, local.status, local.output);
      if (found === undefined || canonicalCheck(found) !== canonicalCheck(wanted)) state.markCheckOutOfSync(local.definition.checkId);
    }
    for (const id of state.removedCheckIds()) if (!remoteChecks.has(id)) state.forgetRemovedCheck(id);
  }

  /** Write what is out of sync. Returns how many writes the state machine refused (the rest went on). */
  private async syncChanges(): Promise<number> {
    const state = this.state;
    const apply = this.options.apply;
    let refused = 0;
    const write = async (command: StateCommand, what: string): Promise<boolean> => {
      const result = await apply(command);
      if (!isRejection(result)) return true;
      refused++;
      this.options.log('warn', `anti-entropy: ${what} refused: ${result.message}`);
      return false;
    };
    const nowMs = () => Date.now();
    const nodeName = this.options.node().node;

    for (const id of state.removedServiceIds()) {
      if (state.service(id) !== undefined) continue;
      if (await write({ type: 'catalogDeregister', nowMs: nowMs(), node: nodeName, serviceId: id, checkId: '' }, `deregistering service ${id}`)) {
        state.forgetRemovedService(id);
        this.options.log('debug', `anti-entropy: deregistered service ${id}`);
      }
    }
    for (const id of state.removedCheckIds()) {
      if (state.check(id) !== undefined) continue;
      if (await write({ type: 'catalogDeregister', nowMs: nowMs(), node: nodeName, serviceId: '', checkId: id }, `deregistering check ${id}`)) {
        state.forgetRemovedCheck(id);
      }
    }

    for (const local of state.allServices()) {
      const checks = state.checksOfService(local.service.id);
      if (local.version === local.syncedVersion && checks.every(inSync)) continue;
      const serviceVersion = local.version;
      const checkVersions = checks.map((check) => check.version);
      const ok = await write({
        type: 'catalogRegister', nowMs: nowMs(), node: this.options.node(), skipNodeUpdate: false,
        service: local.service, checks: checks.map(wantedCheck),
      }, `registering service ${local.service.id}`);
      if (!ok) continue;
      local.syncedVersion = serviceVersion;
      checks.forEach((check, i) => (check.syncedVersion = checkVersions[i]!));
      state.nodeInSync = true;
      this.options.log('debug', `anti-entropy: synced service ${local.service.id}`);
    }

    const nodeChecks = state.allChecks().filter((check) => check.definition.serviceId === '' && !inSync(check));
    for (let start = 0; start < nodeChecks.length; start += CHECKS_PER_REGISTER_MAX) {
      const batch = nodeChecks.slice(start, start + CHECKS_PER_REGISTER_MAX);
      const versions = batch.map((check) => check.version);
      const ok = await write({
        type: 'catalogRegister', nowMs: nowMs(), node: this.options.node(), skipNodeUpdate: false, service: null, checks: batch.map(wantedCheck),
      }, `registering node checks ${batch.map((check) => check.definition.checkId).join(', ')}`);
      if (!ok) continue;
      batch.forEach((check, i) => (check.syncedVersion = versions[i]!));
      state.nodeInSync = true;
    }

    if (!state.nodeInSync) {
      if (await write({ type: 'catalogRegister', nowMs: nowMs(), node: this.options.node(), skipNodeUpdate: false, service: null, checks: [] }, 'registering the node')) {
        state.nodeInSync = true;
      }
    }
    return refused;
  }
}

function inSync(check: LocalCheck): boolean {
  return check.version === check.syncedVersion;
}

function wantedCheck(check: LocalCheck) {
  return catalogCheck(check.definition, check.status, check.output);
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    Object.defineProperty(sorted, key, { value: sortKeys((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  }
  return sorted;
}

/** A check compared field by field, its Definition as a value (the catalog may reorder its keys). */
function canonicalCheck(check: { definition: string } & Record<string, unknown>): string {
  let definition: unknown = {};
  try {
    definition = check.definition === '' ? {} : JSON.parse(check.definition);
  } catch {
    definition = check.definition;
  }
  return canonical({ ...check, definition });
}


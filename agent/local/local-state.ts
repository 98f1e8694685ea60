// The agent's own services and checks: what this agent is authoritative for.
// The catalog entries of this node are a copy that anti-entropy
// (anti-entropy.ts) keeps in line with this, as Consul's agent/local.State.
//
//   state.addService(definition.service);
//   state.addCheck(check, 'critical', '');
//   state.updateCheck('service:web', 'passing', 'HTTP GET …: 200 OK');
//   state.on('change', () => antiEntropy.syncChanges());
//
// Every entry carries a version, bumped on each change, and the version last
// written to the catalog: an entry is in sync when the two are equal. A sync
// reads the version before it writes and records it after, so a change that
// lands while the write is in flight leaves the entry out of sync, and the
// next sync carries it. Removals leave a tombstone until the catalog has
// dropped the entry too.
//
// Output-only changes (a check that keeps passing with a new timestamp in
// its output) are not urgent: they are marked out of sync only after
// `outputUpdateIntervalMs`, as Consul's check_update_interval, so that a
// hundred checks do not turn into a hundred Raft writes every interval.

import { EventEmitter } from 'node:events';
import type { CatalogService, CheckStatus } from '../../protocol/state-commands.ts';
import type { LocalCheckDefinition } from './definitions.ts';

export type LocalService = {
  service: CatalogService;
  version: number;
  syncedVersion: number;
};

export type LocalCheck = {
  definition: LocalCheckDefinition;
  status: CheckStatus;
  output: string;
  /** Unix ms when the check last became critical, or 0 while it is not. */
  criticalSinceMs: number;
  version: number;
  syncedVersion: number;
  /** An output-only change is waiting to be marked out of sync. */
  deferredOutput: NodeJS.Timeout | null;
};

export type LocalStateEvents = { change: [] };

export type LocalStateOptions = {
  /** How long an output-only change may wait before it is written (Consul's check_update_interval: 5 minutes). */
  outputUpdateIntervalMs?: number;
  now?: () => number;
};

export const OUTPUT_UPDATE_INTERVAL_MS_DEFAULT = 5 * 60_000;

export class LocalState extends EventEmitter<LocalStateEvents> {
  private readonly services = new Map<string, LocalService>();
  private readonly checks = new Map<string, LocalCheck>();
  /** Ids removed locally that may still be in the catalog. */
  private readonly removedServices = new Set<string>();
  /** Check id → the service id it belonged to ('' for a node check). */
  private readonly removedChecks = new Map<string, string>();
  /** The node record itself must be written (start-up, or the catalog's copy differs). */
  nodeInSync = false;
  private readonly outputUpdateIntervalMs: number;
  private readonly now: () => number;

  constructor(options: LocalStateOptions = {}) {
    super();
    this.outputUpdateIntervalMs = options.outputUpdateIntervalMs ?? OUTPUT_UPDATE_INTERVAL_MS_DEFAULT;
    this.now = options.now ?? Date.now;
  }

  // ------------------------------------------------------------- services

  service(id: string): LocalService | undefined {
    return this.services.get(id);
  }

  allServices(): LocalService[] {
    return [...this.services.values()];
  }

  addService(service: CatalogService): void {
    const existing = this.services.get(service.id);
    this.services.set(service.id, { service, version: (existing?.version ?? 0) + 1, syncedVersion: existing?.syncedVersion ?? 0 });
    this.removedServices.delete(service.id);
    this.changed();
  }

  /** Removes the service and its checks; false if there was none. */
  removeService(id: string): boolean {
    if (!this.services.delete(id)) return false;
    this.removedServices.add(id);
    // The catalog drops a service's checks with it; the tombstones cover a
    // service removed and registered again before the removal was written.
    for (const check of [...this.checks.values()]) if (check.definition.serviceId === id) this.dropCheck(check.definition.checkId);
    this.changed();
    return true;
  }

  /** Tags adopted from the catalog for a service with EnableTagOverride (someone else owns its tags there). */
  adoptTags(id: string, tags: string[]): void {
    const local = this.services.get(id);
    if (local === undefined) return;
    local.service = { ...local.service, tags: [...tags] };
  }

  // ------------------------------------------------------------- checks

  check(id: string): LocalCheck | undefined {
    return this.checks.get(id);
  }

  allChecks(): LocalCheck[] {
    return [...this.checks.values()];
  }

  checksOfService(serviceId: string): LocalCheck[] {
    return this.allChecks().filter((check) => check.definition.serviceId === serviceId);
  }

  addCheck(definition: LocalCheckDefinition, status: CheckStatus, output: string): void {
    const existing = this.checks.get(definition.checkId);
    if (existing?.deferredOutput) clearTimeout(existing.deferredOutput);
    const criticalSinceMs = status !== 'critical' ? 0 : existing?.status === 'critical' && existing.criticalSinceMs > 0 ? existing.criticalSinceMs : this.now();
    this.checks.set(definition.checkId, {
      definition,
      status,
      output,
      criticalSinceMs,
      version: (existing?.version ?? 0) + 1,
      syncedVersion: existing?.syncedVersion ?? 0,
      deferredOutput: null,
    });
    this.removedChecks.delete(definition.checkId);
    this.changed();
  }

  removeCheck(id: string): boolean {
    if (!this.dropCheck(id)) return false;
    this.changed();
    return true;
  }

  private dropCheck(id: string): boolean {
    const check = this.checks.get(id);
    if (check === undefined) return false;
    if (check.deferredOutput) clearTimeout(check.deferredOutput);
    this.checks.delete(id);
    this.removedChecks.set(id, check.definition.serviceId);
    return true;
  }

  /** A check's new result. Returns whether the status changed. */
  updateCheck(id: string, status: CheckStatus, output: string): boolean {
    const check = this.checks.get(id);
    if (check === undefined) return false;
    if (check.status === status) {
      if (check.output === output) return false;
      check.output = output;
      this.deferOutput(check);
      return false;
    }
    check.status = status;
    check.output = output;
    check.criticalSinceMs = status === 'critical' ? this.now() : 0;
    check.version++;
    if (check.deferredOutput) {
      clearTimeout(check.deferredOutput);
      check.deferredOutput = null;
    }
    this.changed();
    return true;
  }

  private deferOutput(check: LocalCheck): void {
    if (check.deferredOutput || check.version !== check.syncedVersion) return; // already pending either way
    check.deferredOutput = setTimeout(() => {
      check.deferredOutput = null;
      if (this.checks.get(check.definition.checkId) !== check) return;
      check.version++;
      this.changed();
    }, this.outputUpdateIntervalMs);
    check.deferredOutput.unref?.();
  }

  // ------------------------------------------------------------- sync bookkeeping

  removedServiceIds(): string[] {
    return [...this.removedServices];
  }

  removedCheckIds(): string[] {
    return [...this.removedChecks.keys()];
  }

  /** The catalog no longer has the service (or never had it), nor, with it, its checks. */
  forgetRemovedService(id: string): void {
    this.removedServices.delete(id);
    for (const [checkId, serviceId] of this.removedChecks) if (serviceId === id && !this.checks.has(checkId)) this.removedChecks.delete(checkId);
  }

  forgetRemovedCheck(id: string): void {
    this.removedChecks.delete(id);
  }

  /** Mark an id the catalog has but this agent does not: it will be removed there. */
  markServiceForRemoval(id: string): void {
    if (!this.services.has(id)) this.removedServices.add(id);
  }

  markCheckForRemoval(id: string): void {
    if (!this.checks.has(id)) this.removedChecks.set(id, '');
  }

  /** Whether anything waits to be written. */
  hasChanges(): boolean {
    if (!this.nodeInSync || this.removedServices.size > 0 || this.removedChecks.size > 0) return true;
    for (const service of this.services.values()) if (service.version !== service.syncedVersion) return true;
    for (const check of this.checks.values()) if (check.version !== check.syncedVersion) return true;
    return false;
  }

  /** Force a rewrite of everything (the catalog's copy was found to differ). */
  markServiceOutOfSync(id: string): void {
    const service = this.services.get(id);
    if (service && service.syncedVersion === service.version) service.syncedVersion = service.version - 1;
  }

  markCheckOutOfSync(id: string): void {
    const check = this.checks.get(id);
    if (check && check.syncedVersion === check.version) check.syncedVersion = check.version - 1;
  }

  /** Tell listeners (anti-entropy) that something changed. */
  private changed(): void {
    this.emit('change');
  }

  /** Cancel pending timers (the agent is stopping). */
  close(): void {
    for (const check of this.checks.values()) {
      if (check.deferredOutput) clearTimeout(check.deferredOutput);
      check.deferredOutput = null;
    }
  }
}

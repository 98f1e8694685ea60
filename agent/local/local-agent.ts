// The local agent: this node's services and checks (from config files and
// /v1/agent/*), the runners of its checks, anti-entropy into the catalog,
// and the reaper of services whose check stayed critical too long.
//
//   const local = new LocalAgent({ nodeName, node, enableScriptChecks, reader, apply, leaderId, log });
//   await local.start(config.services, config.checks);   // a bad definition fails the start, naming it
//   local.registerService(body);                          // PUT /v1/agent/service/register
//   local.updateTtl('service:web', 'passing', 'ok');      // PUT /v1/agent/check/pass/service:web
//   await local.stop();
//
// Every registration is validated whole before anything changes (the
// definition, then the catalog command it will become against the state's
// codec limits): a DefinitionError leaves the local state as it was.

import type { CatalogNode, CatalogRegister, CheckStatus, StateCommand } from '../../protocol/state-commands.ts';
import type { CheckDefinition, ServiceDefinition } from '../config/agent-config.ts';
import { startCheckRunner } from '../checks/runner.ts';
import type { CheckRunner, RunnerOptions } from '../checks/runner.ts';
import { AntiEntropy } from './anti-entropy.ts';
import type { CatalogNodeReader } from './catalog-reader.ts';
import { catalogCheck, checkEncodable, parseCheckDefinition, parseServiceDefinition } from './definitions.ts';
import type { DefinitionOptions, LocalCheckDefinition, LocalServiceDefinition } from './definitions.ts';
import { DefinitionError } from './json-fields.ts';
import { LocalState } from './local-state.ts';
import type { LocalCheck } from './local-state.ts';

/** A request about a check or service this agent does not have: the HTTP layer answers 404. */
export class UnknownEntryError extends Error {
  override name = 'UnknownEntryError';
}

export type LocalAgentOptions = {
  nodeName: string;
  /** This agent's catalog node record (agent/local/node-identity.ts). */
  node(): CatalogNode;
  datacenter: string;
  enableScriptChecks: boolean;
  reader: CatalogNodeReader;
  apply(command: StateCommand): Promise<unknown>;
  leaderId(): string;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Shortest check interval accepted (Consul: 1 s); tests lower it. */
  minCheckIntervalMs?: number;
  /** Shortest DeregisterCriticalServiceAfter (Consul: 1 minute); tests lower it. */
  minDeregisterCriticalServiceAfterMs?: number;
  /** How often services with a long-critical check are looked for (Consul's check_reap_interval: 30 s). */
  reapIntervalMs?: number;
  /** Anti-entropy's full-sync interval. */
  syncIntervalMs?: number;
  /** How long an output-only check change may wait before it is written (Consul's check_update_interval). */
  outputUpdateIntervalMs?: number;
  runner?: RunnerOptions;
};

export const REAP_INTERVAL_MS_DEFAULT = 30_000;

export class LocalAgent {
  readonly state: LocalState;
  readonly antiEntropy: AntiEntropy;
  private readonly options: LocalAgentOptions;
  private readonly runners = new Map<string, CheckRunner>();
  private reapTimer: NodeJS.Timeout | null = null;

  constructor(options: LocalAgentOptions) {
    this.options = options;
    this.state = new LocalState({ outputUpdateIntervalMs: options.outputUpdateIntervalMs });
    this.antiEntropy = new AntiEntropy({
      state: this.state,
      node: options.node,
      reader: options.reader,
      apply: options.apply,
      leaderId: options.leaderId,
      log: options.log,
      syncIntervalMs: options.syncIntervalMs,
    });
  }

  private get definitionOptions(): DefinitionOptions {
    return {
      enableScriptChecks: this.options.enableScriptChecks,
      minCheckIntervalMs: this.options.minCheckIntervalMs,
      minDeregisterCriticalServiceAfterMs: this.options.minDeregisterCriticalServiceAfterMs,
    };
  }

  /** Register the config files' services and checks, then start syncing. Throws a DefinitionError naming the bad definition. */
  async start(services: readonly ServiceDefinition[] = [], checks: readonly CheckDefinition[] = []): Promise<void> {
    services.forEach((definition, index) => {
      try {
        this.registerService(definition);
      } catch (error) {
        if (error instanceof DefinitionError) throw new DefinitionError(`service #${index + 1} in the config files: ${error.message}`);
        throw error;
      }
    });
    checks.forEach((definition, index) => {
      try {
        this.registerCheck(definition);
      } catch (error) {
        if (error instanceof DefinitionError) throw new DefinitionError(`check #${index + 1} in the config files: ${error.message}`);
        throw error;
      }
    });
    this.antiEntropy.start();
    const reapMs = this.options.reapIntervalMs ?? REAP_INTERVAL_MS_DEFAULT;
    this.reapTimer = setInterval(() => this.reapCriticalServices(), reapMs);
    this.reapTimer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.reapTimer) clearInterval(this.reapTimer);
    for (const runner of this.runners.values()) runner.stop();
    this.runners.clear();
    await this.antiEntropy.stop();
    this.state.close();
  }

  // ------------------------------------------------------------- services

  /**
   * PUT /v1/agent/service/register. Replaces a service with the same ID.
   * Checks of that service not in the new definition are kept unless
   * `replaceExistingChecks` (Consul's ?replace-existing-checks).
   */
  registerService(raw: unknown, replaceExistingChecks = false): LocalServiceDefinition {
    const parsed = parseServiceDefinition(raw, this.definitionOptions);
    const { service } = parsed;
    for (const check of parsed.checks) this.assertCheckIdFree(check, service.id);
    const kept = replaceExistingChecks ? [] : this.state.checksOfService(service.id)
      .filter((check) => !parsed.checks.some((next) => next.checkId === check.definition.checkId));
    const catalogChecks = [
      ...kept.map((check) => catalogCheck(check.definition, check.status, check.output)),
      ...parsed.checks.map((check) => catalogCheck(check, check.initialStatus, '')),
    ];
    this.assertEncodable({ type: 'catalogRegister', nowMs: 0, node: this.options.node(), skipNodeUpdate: false, service, checks: catalogChecks });

    const stale = replaceExistingChecks ? this.state.checksOfService(service.id) : [];
    for (const check of stale) if (!parsed.checks.some((next) => next.checkId === check.definition.checkId)) this.removeCheck(check.definition.checkId);
    this.state.addService(service);
    for (const check of parsed.checks) this.addCheck(check);
    this.options.log('debug', `local: registered service ${service.id} (${service.service}) with ${parsed.checks.length} checks`);
    return parsed;
  }

  /** PUT /v1/agent/service/deregister/:id. */
  deregisterService(id: string): void {
    if (this.state.service(id) === undefined) throw new UnknownEntryError(`Unknown service ID ${JSON.stringify(id)}. Ensure that the service ID is passed, not the service name.`);
    for (const check of this.state.checksOfService(id)) this.stopRunner(check.definition.checkId);
    this.state.removeService(id);
    this.options.log('debug', `local: deregistered service ${id}`);
  }

  // ------------------------------------------------------------- checks

  /** PUT /v1/agent/check/register. */
  registerCheck(raw: unknown): LocalCheckDefinition {
    const check = parseCheckDefinition(raw, this.definitionOptions);
    let command: CatalogRegister;
    if (check.serviceId !== '') {
      const local = this.state.service(check.serviceId);
      if (local === undefined) throw new DefinitionError(`ServiceID ${JSON.stringify(check.serviceId)} does not exist`);
      const others = this.state.checksOfService(check.serviceId).filter((existing) => existing.definition.checkId !== check.checkId);
      command = {
        type: 'catalogRegister', nowMs: 0, node: this.options.node(), skipNodeUpdate: false, service: local.service,
        checks: [...others.map((other) => catalogCheck(other.definition, other.status, other.output)), catalogCheck(check, check.initialStatus, '')],
      };
    } else {
      command = { type: 'catalogRegister', nowMs: 0, node: this.options.node(), skipNodeUpdate: false, service: null, checks: [catalogCheck(check, check.initialStatus, '')] };
    }
    this.assertCheckIdFree(check, check.serviceId);
    this.assertEncodable(command);
    this.addCheck(check);
    return check;
  }

  /** PUT /v1/agent/check/deregister/:id. */
  deregisterCheck(id: string): void {
    if (this.state.check(id) === undefined) throw new UnknownEntryError(`Unknown check ID ${JSON.stringify(id)}. Ensure that the check ID is passed, not the check name.`);
    this.removeCheck(id);
  }

  /** PUT /v1/agent/check/pass|warn|fail/:id and /update/:id: a TTL check's report. */
  updateTtl(id: string, status: CheckStatus, output: string): void {
    const check = this.state.check(id);
    if (check === undefined) throw new UnknownEntryError(`Unknown check ID ${JSON.stringify(id)}. Ensure that the check ID is passed, not the check name.`);
    const ttl = this.runners.get(id)?.ttl;
    if (!ttl) throw new DefinitionError(`CheckID ${JSON.stringify(id)} does not have associated TTL`);
    ttl.update(status, output);
  }

  private addCheck(definition: LocalCheckDefinition): void {
    const existing = this.state.check(definition.checkId);
    // Re-registering keeps the check's current result unless a Status is given (so a re-register does not flap health).
    const keep = existing !== undefined && !definition.statusGiven;
    const status = keep ? existing.status : definition.initialStatus;
    const output = keep ? existing.output : '';
    this.stopRunner(definition.checkId);
    this.state.addCheck(definition, status, output);
    const id = definition.checkId;
    const runner = startCheckRunner(definition, (next, text) => {
      if (this.runners.get(id) !== runner) return; // a replaced or removed check's last result
      if (this.state.updateCheck(id, next, text)) this.options.log('debug', `local: check ${id} is now ${next}`);
    }, this.options.runner);
    this.runners.set(id, runner);
  }

  private removeCheck(id: string): void {
    this.stopRunner(id);
    this.state.removeCheck(id);
  }

  private stopRunner(id: string): void {
    this.runners.get(id)?.stop();
    this.runners.delete(id);
  }

  /** A check ID names one check: a service may not take over another service's (or the node's) check. */
  private assertCheckIdFree(check: LocalCheckDefinition, serviceId: string): void {
    const existing = this.state.check(check.checkId);
    if (existing !== undefined && existing.definition.serviceId !== serviceId) {
      const owner = existing.definition.serviceId === '' ? 'the node' : `service ${JSON.stringify(existing.definition.serviceId)}`;
      throw new DefinitionError(`Check ID ${JSON.stringify(check.checkId)} is already registered for ${owner}`);
    }
  }

  private assertEncodable(command: CatalogRegister): void {
    checkEncodable(command);
  }

  // ------------------------------------------------------------- deregister_critical_service_after

  /** Deregister every service with a check critical for longer than its DeregisterCriticalServiceAfter. */
  reapCriticalServices(nowMs: number = Date.now()): string[] {
    const reaped: string[] = [];
    for (const check of this.state.allChecks()) {
      if (!isOverdue(check, nowMs)) continue;
      const serviceId = check.definition.serviceId;
      if (serviceId === '' || this.state.service(serviceId) === undefined || reaped.includes(serviceId)) continue;
      this.options.log('info', `local: check ${check.definition.checkId} has been critical for longer than ${check.definition.deregisterCriticalServiceAfterMs} ms; deregistering service ${serviceId}`);
      this.deregisterService(serviceId);
      reaped.push(serviceId);
    }
    return reaped;
  }

  // ------------------------------------------------------------- views for /v1/agent/services and /v1/agent/checks

  /** GET /v1/agent/services: ID → Consul's AgentService. */
  services(): Record<string, ReturnType<typeof agentService>> {
    const result: Record<string, ReturnType<typeof agentService>> = {};
    for (const local of this.state.allServices().sort((a, b) => compare(a.service.id, b.service.id))) {
      Object.defineProperty(result, local.service.id, { value: agentService(local.service, this.options.datacenter), enumerable: true, writable: true, configurable: true });
    }
    return result;
  }

  /** GET /v1/agent/service/:id, or undefined. */
  service(id: string): ReturnType<typeof agentService> | undefined {
    const local = this.state.service(id);
    return local === undefined ? undefined : agentService(local.service, this.options.datacenter);
  }

  /** GET /v1/agent/checks: ID → Consul's HealthCheck. */
  checks(): Record<string, ReturnType<LocalAgent['agentCheck']>> {
    const result: Record<string, ReturnType<LocalAgent['agentCheck']>> = {};
    for (const check of this.state.allChecks().sort((a, b) => compare(a.definition.checkId, b.definition.checkId))) {
      Object.defineProperty(result, check.definition.checkId, { value: this.agentCheck(check), enumerable: true, writable: true, configurable: true });
    }
    return result;
  }

  private agentCheck(check: LocalCheck) {
    const definition = check.definition;
    const service = definition.serviceId === '' ? undefined : this.state.service(definition.serviceId)?.service;
    return {
      Node: this.options.nodeName,
      CheckID: definition.checkId,
      Name: definition.name,
      Status: check.status,
      Notes: definition.notes,
      Output: check.output,
      ServiceID: definition.serviceId,
      ServiceName: service?.service ?? '',
      ServiceTags: service ? [...service.tags] : [],
      Type: definition.kind,
      Interval: definition.intervalMs > 0 ? JSON.parse(definition.definition).Interval as string : '',
      Timeout: definition.intervalMs > 0 ? JSON.parse(definition.definition).Timeout as string : '',
      Definition: JSON.parse(definition.definition) as Record<string, unknown>,
      CreateIndex: 0,
      ModifyIndex: 0,
    };
  }
}

function isOverdue(check: LocalCheck, nowMs: number): boolean {
  const after = check.definition.deregisterCriticalServiceAfterMs;
  return after > 0 && check.status === 'critical' && check.criticalSinceMs > 0 && nowMs - check.criticalSinceMs >= after;
}

/** Consul's AgentService (GET /v1/agent/services). TaggedAddresses is left out when empty, as Consul's omitempty does. */
function agentService(service: LocalServiceDefinition['service'], datacenter: string) {
  const taggedAddresses: Record<string, { Address: string; Port: number }> = {};
  for (const [key, value] of Object.entries(service.taggedAddresses)) {
    Object.defineProperty(taggedAddresses, key, { value: { Address: value.address, Port: value.port }, enumerable: true, writable: true, configurable: true });
  }
  return {
    ID: service.id,
    Service: service.service,
    Tags: [...service.tags],
    Meta: { ...service.meta },
    Port: service.port,
    Address: service.address,
    ...(Object.keys(taggedAddresses).length > 0 ? { TaggedAddresses: taggedAddresses } : {}),
    Weights: { Passing: service.weights.passing, Warning: service.weights.warning },
    EnableTagOverride: service.enableTagOverride,
    Datacenter: datacenter,
  };
}

function compare(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

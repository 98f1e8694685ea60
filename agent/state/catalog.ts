// The catalog: nodes, the service instances on them and their health checks,
// with the health views Consul's /v1/health endpoints serve.
//
//   catalog.register(command, changes);                       // catalogRegister applied
//   catalog.healthService('web', { passing: true, tags: ['v2'] })   // instances whose every check passes
//   catalog.checksInState('critical')
//
// Records are immutable (a change stores a new object), so reads hand them out
// without copying. A check's ServiceName and ServiceTags are not stored: they
// are read from the service when shown, so they can never be stale.
//
// Index bookkeeping: every change touches the scopes whose reads it alters,
// and only those. A node's own record and its node-level checks appear in
// every /v1/health/service answer for its services, so they touch those
// services; a service check touches only its service.

import { rejection, SERF_HEALTH_CHECK_ID } from '../../protocol/state-commands.ts';
import type { CatalogCheck, CatalogDeregister, CatalogNode, CatalogRegister, CatalogService, CheckStatus, NodeHealth, Rejection } from '../../protocol/state-commands.ts';
import { compareKeys } from './sorted-keys.ts';
import { Scope } from './watch-index.ts';
import type { ChangeSink } from './watch-index.ts';

export type NodeRecord = Readonly<CatalogNode> & { readonly createIndex: number; readonly modifyIndex: number };
export type ServiceRecord = Readonly<CatalogService> & { readonly node: string; readonly createIndex: number; readonly modifyIndex: number };
export type CheckRecord = Readonly<CatalogCheck> & { readonly node: string; readonly createIndex: number; readonly modifyIndex: number };

/** Consul's health states for /v1/health/state/:state ('any' = every check). */
export type HealthState = CheckStatus | 'any';
/** A service instance's combined health: the worst of its node's checks and its own; maintenance wins. */
export type AggregatedStatus = CheckStatus | 'maintenance';

/** One answer row of /v1/health/service/:name: the node, the instance and the checks that decide its health. */
export type ServiceInstance = { node: NodeRecord; service: ServiceRecord; checks: CheckRecord[]; status: AggregatedStatus };

/** The check ids Consul's maintenance mode uses; an instance with one is in maintenance whatever its status. */
export const NODE_MAINTENANCE_CHECK_ID = '_node_maintenance';
export const SERVICE_MAINTENANCE_CHECK_PREFIX = '_service_maintenance:';

type NodeState = {
  record: NodeRecord;
  services: Map<string, ServiceRecord>;
  checks: Map<string, CheckRecord>;
};

/** What a change did to checks that sessions may be bound to. */
export type CheckEffects = {
  /** Check ids (on the command's node) now critical or removed: their sessions must be invalidated. */
  failedChecks: string[];
  /** The whole node went away: all its sessions must be invalidated. */
  nodeRemoved: boolean;
};

export class Catalog {
  private readonly nodes = new Map<string, NodeState>();
  /** Service name → node → instance ids. */
  private readonly instances = new Map<string, Map<string, Set<string>>>();
  /** Lower-cased node ID → node name: two nodes may not share an ID. */
  private readonly nodeIds = new Map<string, string>();

  get nodeCount(): number {
    return this.nodes.size;
  }

  // ---------------------------------------------------------------- writes

  /** catalogRegister: all or nothing. See the command's documentation in protocol/state-commands.ts. */
  register(command: CatalogRegister, changes: ChangeSink): Rejection | CheckEffects {
    const problem = this.registerProblem(command);
    if (problem) return problem;
    const name = command.node.node;
    let state = this.nodes.get(name);
    if (state === undefined || !command.skipNodeUpdate) state = this.upsertNode(command.node, state, changes);
    if (command.service) this.upsertService(state, command.service, changes);
    const failedChecks: string[] = [];
    for (const check of command.checks) {
      this.upsertCheck(state, check, changes);
      if (check.status === 'critical') failedChecks.push(check.checkId);
    }
    return { failedChecks, nodeRemoved: false };
  }

  /** catalogDeregister: the service, else the check, else the node. Absent things are not an error. */
  deregister(command: CatalogDeregister, changes: ChangeSink): CheckEffects {
    const state = this.nodes.get(command.node);
    if (state === undefined) return { failedChecks: [], nodeRemoved: false };
    if (command.serviceId !== '') return { failedChecks: this.removeService(state, command.serviceId, changes), nodeRemoved: false };
    if (command.checkId !== '') {
      const removed = this.removeCheck(state, command.checkId, changes);
      return { failedChecks: removed ? [command.checkId] : [], nodeRemoved: false };
    }
    return { failedChecks: this.removeNode(state, changes), nodeRemoved: true };
  }

  /** nodeHealth: the node's serfHealth check. `changed` false when it already had this status and output. */
  nodeHealth(command: NodeHealth, changes: ChangeSink): Rejection | (CheckEffects & { changed: boolean }) {
    const state = this.nodes.get(command.node);
    if (state === undefined) return rejection('missing-node', 'Missing node registration');
    const check: CatalogCheck = {
      checkId: SERF_HEALTH_CHECK_ID,
      name: 'Serf Health Status',
      status: command.status,
      notes: '',
      output: command.output,
      serviceId: '',
      type: '',
      definition: '',
    };
    const changed = this.upsertCheck(state, check, changes);
    return { changed, failedChecks: command.status === 'critical' ? [SERF_HEALTH_CHECK_ID] : [], nodeRemoved: false };
  }

  private registerProblem(command: CatalogRegister): Rejection | null {
    const name = command.node.node;
    const state = this.nodes.get(name);
    const nodeWillBeWritten = state === undefined || !command.skipNodeUpdate;
    if (nodeWillBeWritten && command.node.id !== '') {
      const owner = this.nodeIds.get(command.node.id.toLowerCase());
      if (owner !== undefined && owner !== name) {
        return rejection('node-id-conflict', `Failed inserting node: node ID ${JSON.stringify(command.node.id)} for node ${JSON.stringify(name)} aliases existing node ${JSON.stringify(owner)}`);
      }
    }
    for (const check of command.checks) {
      if (check.serviceId === '') continue;
      const inRequest = command.service?.id === check.serviceId;
      if (!inRequest && !state?.services.has(check.serviceId)) return rejection('missing-service', 'Missing service registration');
    }
    return null;
  }

  private upsertNode(node: CatalogNode, state: NodeState | undefined, changes: ChangeSink): NodeState {
    if (state !== undefined && sameNode(state.record, node)) return state;
    const record: NodeRecord = { ...node, createIndex: state?.record.createIndex ?? changes.index, modifyIndex: changes.index };
    if (state === undefined) {
      state = { record, services: new Map(), checks: new Map() };
      this.nodes.set(node.node, state);
    } else {
      if (state.record.id !== '') this.nodeIds.delete(state.record.id.toLowerCase());
      state.record = record;
    }
    if (node.id !== '') this.nodeIds.set(node.id.toLowerCase(), node.node);
    changes.touch(Scope.nodes);
    changes.touch(Scope.node(node.node));
    this.touchServicesOf(state, changes);
    return state;
  }

  private upsertService(state: NodeState, service: CatalogService, changes: ChangeSink): void {
    const nodeName = state.record.node;
    const existing = state.services.get(service.id);
    if (existing !== undefined && sameService(existing, service)) return;
    const record: ServiceRecord = { ...service, node: nodeName, createIndex: existing?.createIndex ?? changes.index, modifyIndex: changes.index };
    if (existing !== undefined && existing.service !== service.service) this.unindexInstance(existing, changes);
    state.services.set(service.id, record);
    this.indexInstance(record);
    changes.touch(Scope.service(service.service));
    changes.touch(Scope.services);
    changes.touch(Scope.node(nodeName));
    if (this.hasChecksFor(state, service.id)) changes.touch(Scope.checks);
  }

  /** Returns whether anything changed. */
  private upsertCheck(state: NodeState, check: CatalogCheck, changes: ChangeSink): boolean {
    const existing = state.checks.get(check.checkId);
    if (existing !== undefined && sameCheck(existing, check)) return false;
    const record: CheckRecord = { ...check, node: state.record.node, createIndex: existing?.createIndex ?? changes.index, modifyIndex: changes.index };
    state.checks.set(check.checkId, record);
    // A check that moved from one service to another (or to the node) changes both.
    if (existing !== undefined && existing.serviceId !== check.serviceId) this.touchCheckOwner(state, existing, changes);
    this.touchCheckOwner(state, record, changes);
    changes.touch(Scope.checks);
    changes.touch(Scope.node(state.record.node));
    return true;
  }

  /** Removes a service and its checks; returns the removed check ids. */
  private removeService(state: NodeState, serviceId: string, changes: ChangeSink): string[] {
    const service = state.services.get(serviceId);
    if (service === undefined) return [];
    const removedChecks: string[] = [];
    for (const check of state.checks.values()) if (check.serviceId === serviceId) removedChecks.push(check.checkId);
    removedChecks.sort(compareKeys);
    for (const checkId of removedChecks) state.checks.delete(checkId);
    if (removedChecks.length > 0) changes.touch(Scope.checks);
    state.services.delete(serviceId);
    this.unindexInstance(service, changes);
    changes.touch(Scope.services);
    changes.touch(Scope.node(state.record.node));
    return removedChecks;
  }

  private removeCheck(state: NodeState, checkId: string, changes: ChangeSink): boolean {
    const check = state.checks.get(checkId);
    if (check === undefined) return false;
    state.checks.delete(checkId);
    this.touchCheckOwner(state, check, changes);
    changes.touch(Scope.checks);
    changes.touch(Scope.node(state.record.node));
    return true;
  }

  /** Removes a node with everything on it; returns its check ids. */
  private removeNode(state: NodeState, changes: ChangeSink): string[] {
    const name = state.record.node;
    const checkIds = [...state.checks.keys()].sort(compareKeys);
    if (checkIds.length > 0) changes.touch(Scope.checks);
    for (const service of state.services.values()) this.unindexInstance(service, changes);
    if (state.services.size > 0) changes.touch(Scope.services);
    if (state.record.id !== '') this.nodeIds.delete(state.record.id.toLowerCase());
    this.nodes.delete(name);
    changes.touch(Scope.nodes);
    changes.touch(Scope.node(name));
    changes.forget(Scope.node(name));
    return checkIds;
  }

  private indexInstance(service: ServiceRecord): void {
    let byNode = this.instances.get(service.service);
    if (byNode === undefined) this.instances.set(service.service, (byNode = new Map()));
    let ids = byNode.get(service.node);
    if (ids === undefined) byNode.set(service.node, (ids = new Set()));
    ids.add(service.id);
  }

  private unindexInstance(service: ServiceRecord, changes: ChangeSink): void {
    const byNode = this.instances.get(service.service);
    changes.touch(Scope.service(service.service));
    if (byNode === undefined) return;
    const ids = byNode.get(service.node);
    ids?.delete(service.id);
    if (ids?.size === 0) byNode.delete(service.node);
    if (byNode.size === 0) {
      this.instances.delete(service.service);
      changes.forget(Scope.service(service.service));
    }
  }

  private touchServicesOf(state: NodeState, changes: ChangeSink): void {
    for (const service of state.services.values()) changes.touch(Scope.service(service.service));
  }

  private touchCheckOwner(state: NodeState, check: CheckRecord, changes: ChangeSink): void {
    if (check.serviceId === '') {
      this.touchServicesOf(state, changes);
      return;
    }
    const service = state.services.get(check.serviceId);
    if (service !== undefined) changes.touch(Scope.service(service.service));
  }

  private hasChecksFor(state: NodeState, serviceId: string): boolean {
    for (const check of state.checks.values()) if (check.serviceId === serviceId) return true;
    return false;
  }

  // ---------------------------------------------------------------- reads

  node(name: string): NodeRecord | undefined {
    return this.nodes.get(name)?.record;
  }

  checkOf(node: string, checkId: string): CheckRecord | undefined {
    return this.nodes.get(node)?.checks.get(checkId);
  }

  /** Every node, by name. */
  allNodes(): NodeRecord[] {
    return [...this.nodes.values()].map((state) => state.record).sort(byNodeName);
  }

  /** The services of one node, by id. */
  servicesOfNode(node: string): ServiceRecord[] {
    const state = this.nodes.get(node);
    return state === undefined ? [] : [...state.services.values()].sort(byServiceId);
  }

  /** The checks of one node (node and service checks), by id. */
  checksOfNode(node: string): CheckRecord[] {
    const state = this.nodes.get(node);
    return state === undefined ? [] : [...state.checks.values()].sort(byCheckId);
  }

  /** Service name → the union of its instances' tags, names in order, tags sorted (GET /v1/catalog/services). */
  serviceNames(): Map<string, string[]> {
    const names = [...this.instances.keys()].sort(compareKeys);
    const summary = new Map<string, string[]>();
    for (const name of names) {
      const tags = new Set<string>();
      for (const service of this.instancesOf(name)) for (const tag of service.tags) tags.add(tag);
      summary.set(name, [...tags].sort(compareKeys));
    }
    return summary;
  }

  /** The instances of a service, by node then id; with `tags`, only those carrying every tag (case-insensitive, as Consul). */
  instancesOf(name: string, tags: readonly string[] = []): ServiceRecord[] {
    const byNode = this.instances.get(name);
    if (byNode === undefined) return [];
    const found: ServiceRecord[] = [];
    for (const node of [...byNode.keys()].sort(compareKeys)) {
      const state = this.nodes.get(node)!;
      for (const id of [...byNode.get(node)!].sort(compareKeys)) {
        const service = state.services.get(id)!;
        if (hasTags(service, tags)) found.push(service);
      }
    }
    return found;
  }

  /** GET /v1/health/service/:name: each instance with its node's checks and its own; `passing` keeps only instances whose every check passes. */
  healthService(name: string, options: { passing?: boolean; tags?: readonly string[] } = {}): ServiceInstance[] {
    const found: ServiceInstance[] = [];
    for (const service of this.instancesOf(name, options.tags)) {
      const state = this.nodes.get(service.node)!;
      const checks = [...state.checks.values()].filter((check) => check.serviceId === '' || check.serviceId === service.id).sort(byCheckId);
      if (options.passing && checks.some((check) => check.status !== 'passing')) continue;
      found.push({ node: state.record, service, checks, status: aggregateStatus(checks) });
    }
    return found;
  }

  /** GET /v1/health/checks/:service: the checks of every instance of the service (service checks only, as Consul). */
  checksOfService(name: string): CheckRecord[] {
    const found: CheckRecord[] = [];
    for (const service of this.instancesOf(name)) {
      const state = this.nodes.get(service.node)!;
      for (const check of [...state.checks.values()].sort(byCheckId)) if (check.serviceId === service.id) found.push(check);
    }
    return found;
  }

  /** GET /v1/health/state/:state, by node then check id. */
  checksInState(state: HealthState): CheckRecord[] {
    const found: CheckRecord[] = [];
    for (const node of this.allNodes()) {
      for (const check of this.checksOfNode(node.node)) if (state === 'any' || check.status === state) found.push(check);
    }
    return found;
  }

  /** The service a check belongs to, for its ServiceName and ServiceTags. */
  serviceOfCheck(check: CheckRecord): ServiceRecord | undefined {
    return check.serviceId === '' ? undefined : this.nodes.get(check.node)?.services.get(check.serviceId);
  }

  clear(): void {
    this.nodes.clear();
    this.instances.clear();
    this.nodeIds.clear();
  }

  // ---------------------------------------------------------------- snapshots

  /** Every node with its services and checks, all in a deterministic order. */
  dump(): { node: NodeRecord; services: ServiceRecord[]; checks: CheckRecord[] }[] {
    return this.allNodes().map((node) => ({ node, services: this.servicesOfNode(node.node), checks: this.checksOfNode(node.node) }));
  }

  load(dump: Iterable<{ node: NodeRecord; services: ServiceRecord[]; checks: CheckRecord[] }>): void {
    this.clear();
    for (const { node, services, checks } of dump) {
      const state: NodeState = { record: node, services: new Map(), checks: new Map() };
      this.nodes.set(node.node, state);
      if (node.id !== '') this.nodeIds.set(node.id.toLowerCase(), node.node);
      for (const service of services) {
        state.services.set(service.id, service);
        this.indexInstance(service);
      }
      for (const check of checks) state.checks.set(check.checkId, check);
    }
  }
}

/** Consul's AggregatedStatus: maintenance, else the worst status; no checks is passing. */
export function aggregateStatus(checks: readonly CheckRecord[]): AggregatedStatus {
  let warning = false;
  let critical = false;
  for (const check of checks) {
    if (check.checkId === NODE_MAINTENANCE_CHECK_ID || check.checkId.startsWith(SERVICE_MAINTENANCE_CHECK_PREFIX)) return 'maintenance';
    if (check.status === 'critical') critical = true;
    else if (check.status === 'warning') warning = true;
  }
  return critical ? 'critical' : warning ? 'warning' : 'passing';
}

function hasTags(service: ServiceRecord, tags: readonly string[]): boolean {
  if (tags.length === 0) return true;
  const own = service.tags.map((tag) => tag.toLowerCase());
  return tags.every((tag) => own.includes(tag.toLowerCase()));
}

function byNodeName(left: NodeRecord, right: NodeRecord): number {
  return compareKeys(left.node, right.node);
}

function byServiceId(left: ServiceRecord, right: ServiceRecord): number {
  return compareKeys(left.id, right.id);
}

function byCheckId(left: CheckRecord, right: CheckRecord): number {
  return compareKeys(left.checkId, right.checkId);
}

function sameNode(record: NodeRecord, node: CatalogNode): boolean {
  return record.id === node.id && record.address === node.address && record.datacenter === node.datacenter &&
    sameStringMap(record.taggedAddresses, node.taggedAddresses) && sameStringMap(record.meta, node.meta);
}

function sameService(record: ServiceRecord, service: CatalogService): boolean {
  return record.service === service.service && record.address === service.address && record.port === service.port &&
    record.enableTagOverride === service.enableTagOverride && record.weights.passing === service.weights.passing &&
    record.weights.warning === service.weights.warning && sameList(record.tags, service.tags) &&
    sameStringMap(record.meta, service.meta) && sameServiceAddresses(record.taggedAddresses, service.taggedAddresses);
}

function sameCheck(record: CheckRecord, check: CatalogCheck): boolean {
  return record.name === check.name && record.status === check.status && record.notes === check.notes &&
    record.output === check.output && record.serviceId === check.serviceId && record.type === check.type &&
    record.definition === check.definition;
}

function sameList(left: readonly string[], right: readonly string[]): boolean {
  return left.length === right.length && left.every((value, i) => value === right[i]);
}

function sameStringMap(left: Readonly<Record<string, string>>, right: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  return keys.every((key) => Object.hasOwn(right, key) && right[key] === left[key]);
}

function sameServiceAddresses(left: CatalogService['taggedAddresses'], right: CatalogService['taggedAddresses']): boolean {
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  return keys.every((key) => Object.hasOwn(right, key) && right[key]!.address === left[key]!.address && right[key]!.port === left[key]!.port);
}

// ---------------------------------------------------------------- Consul's JSON

export function consulNode(node: NodeRecord) {
  return {
    ID: node.id,
    Node: node.node,
    Address: node.address,
    Datacenter: node.datacenter,
    TaggedAddresses: { ...node.taggedAddresses },
    Meta: { ...node.meta },
    CreateIndex: node.createIndex,
    ModifyIndex: node.modifyIndex,
  };
}

/** A service as /v1/health/service and /v1/catalog/node show it (Consul's NodeService). */
export function consulNodeService(service: ServiceRecord) {
  return {
    ID: service.id,
    Service: service.service,
    Tags: [...service.tags],
    Address: service.address,
    TaggedAddresses: consulServiceAddresses(service),
    Meta: { ...service.meta },
    Port: service.port,
    Weights: { Passing: service.weights.passing, Warning: service.weights.warning },
    EnableTagOverride: service.enableTagOverride,
    CreateIndex: service.createIndex,
    ModifyIndex: service.modifyIndex,
  };
}

/** A row of /v1/catalog/service/:name (Consul's ServiceNode: the node's fields, then the service's, prefixed). */
export function consulServiceNode(node: NodeRecord, service: ServiceRecord) {
  return {
    ID: node.id,
    Node: node.node,
    Address: node.address,
    Datacenter: node.datacenter,
    TaggedAddresses: { ...node.taggedAddresses },
    NodeMeta: { ...node.meta },
    ServiceID: service.id,
    ServiceName: service.service,
    ServiceTags: [...service.tags],
    ServiceAddress: service.address,
    ServiceTaggedAddresses: consulServiceAddresses(service),
    ServiceWeights: { Passing: service.weights.passing, Warning: service.weights.warning },
    ServiceMeta: { ...service.meta },
    ServicePort: service.port,
    ServiceEnableTagOverride: service.enableTagOverride,
    CreateIndex: service.createIndex,
    ModifyIndex: service.modifyIndex,
  };
}

/** A check as Consul's HealthCheck; `service` supplies ServiceName and ServiceTags. */
export function consulCheck(check: CheckRecord, service: ServiceRecord | undefined) {
  return {
    Node: check.node,
    CheckID: check.checkId,
    Name: check.name,
    Status: check.status,
    Notes: check.notes,
    Output: check.output,
    ServiceID: check.serviceId,
    ServiceName: service?.service ?? '',
    ServiceTags: service ? [...service.tags] : [],
    Type: check.type,
    Definition: check.definition === '' ? {} : (JSON.parse(check.definition) as Record<string, unknown>),
    CreateIndex: check.createIndex,
    ModifyIndex: check.modifyIndex,
  };
}

function consulServiceAddresses(service: ServiceRecord): Record<string, { Address: string; Port: number }> {
  const addresses: Record<string, { Address: string; Port: number }> = {};
  for (const name of Object.keys(service.taggedAddresses).sort()) {
    const entry = service.taggedAddresses[name]!;
    Object.defineProperty(addresses, name, { value: { Address: entry.address, Port: entry.port }, enumerable: true, writable: true, configurable: true });
  }
  return addresses;
}

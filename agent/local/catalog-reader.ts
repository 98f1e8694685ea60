// What the catalog holds for one node, as anti-entropy needs it to compare
// with the agent's own view: read from the local replica when this agent has
// one (after a default-mode barrier, so that it is the leader's view), or
// asked of a Raft member over the same forwarded HTTP requests any client
// would send (/v1/catalog/node/:node and /v1/health/node/:node).
//
//   const reader = stateCatalogReader(agent);
//   const { node, services, checks } = await reader.read('agent-3');

import type { CatalogCheck, CatalogNode, CatalogService, CheckStatus, ServiceAddress } from '../../protocol/state-commands.ts';
import type { HttpForwarder } from '../http/forwarding.ts';
import type { ApiRequest } from '../http/router.ts';
import type { StateApi } from '../http/state-api.ts';
import { defineEntry, isPlainObject } from './json-fields.ts';

export type RemoteNodeState = { node: CatalogNode | null; services: CatalogService[]; checks: CatalogCheck[] };

export interface CatalogNodeReader {
  read(nodeName: string): Promise<RemoteNodeState>;
}

const FORWARDED_READ_TIMEOUT_MS = 30_000;

export function stateCatalogReader(api: Pick<StateApi, 'state' | 'readBarrier'> & HttpForwarder): CatalogNodeReader {
  return {
    async read(nodeName) {
      if (api.hasReplica()) {
        await api.readBarrier('default');
        return fromReplica(api.state.catalogView, nodeName);
      }
      const encoded = encodeURIComponent(nodeName);
      const nodeReply = await api.forward(getRequest(`/v1/catalog/node/${encoded}`));
      const checksReply = await api.forward(getRequest(`/v1/health/node/${encoded}`));
      return fromConsulJson(nodeReply.json, checksReply.json);
    },
  };
}

function fromReplica(catalog: StateApi['state']['catalogView'], nodeName: string): RemoteNodeState {
  const record = catalog.node(nodeName);
  if (record === undefined) return { node: null, services: [], checks: [] };
  const node: CatalogNode = {
    id: record.id, node: record.node, address: record.address, datacenter: record.datacenter,
    taggedAddresses: { ...record.taggedAddresses }, meta: { ...record.meta },
  };
  const services = catalog.servicesOfNode(nodeName).map((service): CatalogService => ({
    id: service.id, service: service.service, tags: [...service.tags], address: service.address,
    taggedAddresses: { ...service.taggedAddresses }, meta: { ...service.meta }, port: service.port,
    weights: { ...service.weights }, enableTagOverride: service.enableTagOverride,
  }));
  const checks = catalog.checksOfNode(nodeName).map((check): CatalogCheck => ({
    checkId: check.checkId, name: check.name, status: check.status, notes: check.notes, output: check.output,
    serviceId: check.serviceId, type: check.type, definition: check.definition,
  }));
  return { node, services, checks };
}

function getRequest(path: string): ApiRequest {
  return {
    method: 'GET',
    path,
    params: {},
    query: new URLSearchParams(),
    headers: {},
    token: undefined,
    body: Buffer.alloc(0),
    json: () => null,
    signal: AbortSignal.timeout(FORWARDED_READ_TIMEOUT_MS),
    remoteAddress: '',
  };
}

/** The Consul JSON of /v1/catalog/node/:node and /v1/health/node/:node back into catalog records. */
export function fromConsulJson(nodeJson: unknown, checksJson: unknown): RemoteNodeState {
  if (!isPlainObject(nodeJson) || !isPlainObject(nodeJson.Node)) return { node: null, services: [], checks: [] };
  const n = nodeJson.Node;
  const node: CatalogNode = {
    id: str(n.ID), node: str(n.Node), address: str(n.Address), datacenter: str(n.Datacenter),
    taggedAddresses: stringMap(n.TaggedAddresses), meta: stringMap(n.Meta),
  };
  const services: CatalogService[] = [];
  if (isPlainObject(nodeJson.Services)) {
    for (const s of Object.values(nodeJson.Services)) {
      if (!isPlainObject(s)) continue;
      const weights = isPlainObject(s.Weights) ? s.Weights : {};
      services.push({
        id: str(s.ID), service: str(s.Service), tags: Array.isArray(s.Tags) ? s.Tags.map(str) : [], address: str(s.Address),
        taggedAddresses: serviceAddresses(s.TaggedAddresses), meta: stringMap(s.Meta), port: num(s.Port),
        weights: { passing: num(weights.Passing), warning: num(weights.Warning) }, enableTagOverride: s.EnableTagOverride === true,
      });
    }
  }
  const checks: CatalogCheck[] = [];
  if (Array.isArray(checksJson)) {
    for (const c of checksJson) {
      if (!isPlainObject(c)) continue;
      const definition = isPlainObject(c.Definition) && Object.keys(c.Definition).length > 0 ? JSON.stringify(c.Definition) : '';
      checks.push({
        checkId: str(c.CheckID), name: str(c.Name), status: str(c.Status) as CheckStatus, notes: str(c.Notes), output: str(c.Output),
        serviceId: str(c.ServiceID), type: str(c.Type), definition,
      });
    }
  }
  return { node, services, checks };
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

function stringMap(value: unknown): Record<string, string> {
  const map: Record<string, string> = {};
  if (isPlainObject(value)) for (const [key, inner] of Object.entries(value)) defineEntry(map, key, str(inner));
  return map;
}

function serviceAddresses(value: unknown): Record<string, ServiceAddress> {
  const map: Record<string, ServiceAddress> = {};
  if (isPlainObject(value)) {
    for (const [key, inner] of Object.entries(value)) {
      if (isPlainObject(inner)) defineEntry(map, key, { address: str(inner.Address), port: num(inner.Port) });
    }
  }
  return map;
}

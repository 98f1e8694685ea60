// Catalog endpoints in Consul's paths and JSON shapes:
//
//   PUT /v1/catalog/register        {Node, Address, ID, Datacenter, TaggedAddresses, NodeMeta, Service, Check, Checks, SkipNodeUpdate} → true
//   PUT /v1/catalog/deregister      {Node, ServiceID, CheckID, Datacenter} → true
//   GET /v1/catalog/datacenters     ["dc1"]
//   GET /v1/catalog/nodes           [Node]                      ?node-meta=k:v
//   GET /v1/catalog/services        {name: [tags]}              ?node-meta=k:v
//   GET /v1/catalog/service/:name   [ServiceNode]               ?tag (repeatable), ?node-meta
//   GET /v1/catalog/node/:node      {Node, Services} or null
//
// Every GET is a blocking query (?index, ?wait) on the scope its answer
// depends on — a service's instances, the node list, one node — so a write
// elsewhere in the catalog wakes nobody here; and honours ?stale,
// ?consistent and the default mode through StateApi.readBarrier. A
// registration is parsed and checked whole against the state's limits before
// it is proposed: a bad one is a 400 saying what is wrong, and nothing is stored.

import { isRejection } from '../../protocol/state-commands.ts';
import type { CatalogCheck, CatalogDeregister, CatalogRegister, CheckStatus } from '../../protocol/state-commands.ts';
import { CHECK_STATUSES } from '../../protocol/state-commands.ts';
import { checkEncodable, serviceFromFields } from '../local/definitions.ts';
import { DefinitionError, isPlainObject, JsonFields, showValue, validateMeta } from '../local/json-fields.ts';
import { Scope } from '../state/state-machine.ts';
import { parseBlockingQuery, parseConsistencyMode, waitForIndex } from './blocking.ts';
import { HttpError, jsonReply } from './router.ts';
import type { ApiRequest, Reply, Router } from './router.ts';
import type { StateApi } from './state-api.ts';
import { scopeWatch } from './state-watch.ts';

export function registerCatalogEndpoints(router: Router, api: StateApi, datacenter: string): void {
  router.put('/v1/catalog/register', async (request) => {
    checkDatacenterParameter(request, datacenter);
    const command = asBadRequest(() => parseCatalogRegister(request.json(), datacenter));
    const result = await api.apply(command);
    if (isRejection(result)) throw new HttpError(400, result.message);
    return jsonReply(true);
  });

  router.put('/v1/catalog/deregister', async (request) => {
    checkDatacenterParameter(request, datacenter);
    const command = asBadRequest(() => parseCatalogDeregister(request.json(), datacenter));
    const result = await api.apply(command);
    if (isRejection(result)) throw new HttpError(400, result.message);
    return jsonReply(true);
  });

  router.get('/v1/catalog/datacenters', () => jsonReply([datacenter]));

  router.get('/v1/catalog/nodes', (request) => blockingRead(request, api, datacenter, Scope.nodes, () => {
    const { index, nodes } = api.state.catalogNodes();
    const filter = nodeMetaFilter(request);
    return { index, value: filter ? nodes.filter((node) => filter(node.Meta)) : nodes };
  }));

  router.get('/v1/catalog/services', (request) => blockingRead(request, api, datacenter, Scope.services, () => {
    const filter = nodeMetaFilter(request);
    if (!filter) {
      const { index, services } = api.state.catalogServices();
      return { index, value: services };
    }
    // With ?node-meta: only the instances on matching nodes count (names and their tags).
    const { index } = api.state.catalogServices();
    const services: Record<string, string[]> = {};
    for (const node of api.state.catalogNodes().nodes) {
      if (!filter(node.Meta)) continue;
      const found = api.state.catalogNode(node.Node).node;
      for (const service of Object.values(found?.Services ?? {})) {
        const tags = new Set(Object.hasOwn(services, service.Service) ? services[service.Service] : []);
        for (const tag of service.Tags) tags.add(tag);
        Object.defineProperty(services, service.Service, { value: [...tags].sort(), enumerable: true, writable: true, configurable: true });
      }
    }
    return { index, value: sortedObject(services) };
  }));

  router.get('/v1/catalog/service/:name', (request) => {
    const name = requiredParam(request, 'name', 'Missing service name');
    return blockingRead(request, api, datacenter, Scope.service(name), () => {
      const { index, nodes } = api.state.catalogService(name, request.query.getAll('tag'));
      const filter = nodeMetaFilter(request);
      return { index, value: filter ? nodes.filter((row) => filter(row.NodeMeta)) : nodes };
    });
  });

  router.get('/v1/catalog/node/:node', (request) => {
    const node = requiredParam(request, 'node', 'Missing node name');
    return blockingRead(request, api, datacenter, Scope.node(node), () => {
      const { index, node: found } = api.state.catalogNode(node);
      return { index, value: found };
    });
  });
}

// ---------------------------------------------------------------- shared by the read endpoints (health-endpoints.ts too)

/**
 * A read in Consul's manner: the consistency barrier, then (for ?index) a
 * wait until `scope` moves past the index, then `read` from the local
 * replica, answered with the index the read reports.
 */
export async function blockingRead(
  request: ApiRequest,
  api: StateApi,
  datacenter: string,
  scope: Scope,
  read: () => { index: number; value: unknown },
): Promise<Reply> {
  checkDatacenterParameter(request, datacenter);
  const mode = parseConsistencyMode(request.query);
  const blocking = parseBlockingQuery(request.query);
  const meta = await api.readBarrier(mode);
  await waitForIndex(blocking, scopeWatch(api.state, scope), request.signal);
  const { index, value } = read();
  return jsonReply(value, { ...meta, index: Math.max(1, index) });
}

/** `?dc=` naming another datacenter: there is no path to it yet (one datacenter per cluster). */
export function checkDatacenterParameter(request: ApiRequest, datacenter: string): void {
  const dc = request.query.get('dc');
  if (dc !== null && dc !== '' && dc !== datacenter) throw new HttpError(400, `No path to datacenter ${JSON.stringify(dc.slice(0, 64))}`);
}

export function requiredParam(request: ApiRequest, name: string, message: string): string {
  const value = request.params[name] ?? '';
  if (value === '') throw new HttpError(400, message);
  return value;
}

/** `?node-meta=key:value` (repeatable, all must match), or undefined without one. */
export function nodeMetaFilter(request: ApiRequest): ((meta: Record<string, string>) => boolean) | undefined {
  const pairs = request.query.getAll('node-meta');
  if (pairs.length === 0) return undefined;
  const wanted = pairs.map((pair) => {
    const separator = pair.indexOf(':');
    return separator < 0 ? [pair, ''] as const : [pair.slice(0, separator), pair.slice(separator + 1)] as const;
  });
  return (meta) => wanted.every(([key, value]) => Object.hasOwn(meta, key) && meta[key] === value);
}

/** Turn a DefinitionError (a bad body) into a 400 with its message. */
export function asBadRequest<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof DefinitionError) throw new HttpError(400, error.message);
    throw error;
  }
}

function sortedObject<T>(object: Record<string, T>): Record<string, T> {
  const sorted: Record<string, T> = {};
  for (const key of Object.keys(object).sort()) Object.defineProperty(sorted, key, { value: object[key], enumerable: true, writable: true, configurable: true });
  return sorted;
}

// ---------------------------------------------------------------- bodies

/** PUT /v1/catalog/register's body (Consul's structs.RegisterRequest) as a command, checked against the codec's limits. */
export function parseCatalogRegister(body: unknown, datacenter: string): CatalogRegister {
  const fields = new JsonFields(body, 'registration');
  const node = fields.string('Node');
  if (node === '') throw new DefinitionError('Missing node name');
  const skipNodeUpdate = fields.boolean('SkipNodeUpdate');
  const address = fields.string('Address');
  if (address === '' && !skipNodeUpdate) throw new DefinitionError('Missing node address');
  checkDatacenterField(fields, datacenter);
  const meta = fields.stringMap('NodeMeta');
  validateMeta(meta, 'NodeMeta');
  const serviceFields = fields.object('Service');
  const service = serviceFields === undefined ? null : serviceFromFields(serviceFields, 'Must provide service name with ID');
  const checkFields: JsonFields[] = [];
  const single = fields.object('Check');
  if (single !== undefined) checkFields.push(single);
  checkFields.push(...fields.objectList('Checks'));
  const checks = checkFields.map((check) => parseCatalogCheck(check, node));
  const seen = new Set<string>();
  for (const check of checks) {
    if (seen.has(check.checkId)) throw new DefinitionError(`Check ID ${showValue(check.checkId)} is given twice`);
    seen.add(check.checkId);
  }
  const command: CatalogRegister = {
    type: 'catalogRegister',
    nowMs: Date.now(),
    node: { id: fields.string('ID'), node, address, datacenter, taggedAddresses: fields.stringMap('TaggedAddresses'), meta },
    skipNodeUpdate,
    service,
    checks,
  };
  checkEncodable(command);
  return command;
}

function parseCatalogCheck(fields: JsonFields, node: string): CatalogCheck {
  const checkNode = fields.string('Node');
  if (checkNode !== '' && checkNode !== node) throw new DefinitionError(`${fields.where}: a check's Node must be the registration's node (${showValue(node)}), got ${showValue(checkNode)}`);
  const name = fields.string('Name');
  const checkId = fields.string('CheckID', 'ID') || name;
  if (checkId === '') throw new DefinitionError(`${fields.where}: a check needs a CheckID or a Name`);
  const status = fields.string('Status') || 'critical';
  if (!(CHECK_STATUSES as readonly string[]).includes(status)) fields.fail('Status', `must be passing, warning or critical, got ${showValue(status)}`);
  const definition = fields.get('Definition');
  if (definition !== undefined && !isPlainObject(definition)) fields.fail('Definition', `must be an object, got ${showValue(definition)}`);
  return {
    checkId,
    name,
    status: status as CheckStatus,
    notes: fields.string('Notes'),
    output: fields.string('Output'),
    serviceId: fields.string('ServiceID'),
    type: fields.string('Type'),
    definition: definition === undefined || Object.keys(definition).length === 0 ? '' : JSON.stringify(definition),
  };
}

/** PUT /v1/catalog/deregister's body (Consul's structs.DeregisterRequest). */
export function parseCatalogDeregister(body: unknown, datacenter: string): CatalogDeregister {
  const fields = new JsonFields(body, 'deregistration');
  const node = fields.string('Node');
  if (node === '') throw new DefinitionError('Missing node name');
  checkDatacenterField(fields, datacenter);
  const command: CatalogDeregister = { type: 'catalogDeregister', nowMs: Date.now(), node, serviceId: fields.string('ServiceID'), checkId: fields.string('CheckID') };
  checkEncodable(command);
  return command;
}

function checkDatacenterField(fields: JsonFields, datacenter: string): void {
  const dc = fields.string('Datacenter');
  if (dc !== '' && dc !== datacenter) throw new DefinitionError(`No path to datacenter ${showValue(dc)}`);
}

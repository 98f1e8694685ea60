// `tribune catalog services|nodes|datacenters` and `tribune services
// register|deregister`, with Consul's flags and output:
//
//   tribune catalog services               one service name per line
//   tribune catalog services -tags         name and its tags, comma-separated
//   tribune catalog services -node=web-1   the services of one node
//   tribune catalog nodes                  Node  ID (8 chars)  Address  DC
//   tribune catalog nodes -detailed        full IDs, tagged addresses and meta
//   tribune catalog nodes -service=web     the nodes providing a service
//   tribune services register web.hcl      every `service` in the file (HCL or JSON), or flags: -name -id -port -address -tag -meta
//   tribune services deregister web.hcl    the services of the file, by ID (or name); or -id=ID
//
// Registration goes to the local agent (/v1/agent/service/register), which
// owns it and syncs it into the catalog, as `consul services register`.

import { boolFlag, listFlag, readConfigFile, stringFlag } from '../config/flags.ts';
import type { FlagSpec, ParsedFlags } from '../config/flags.ts';
import { AgentConnectionError } from './http-client.ts';
import type { AgentHttpClient } from './http-client.ts';
import type { CliIo } from './main.ts';

/** What these commands get from the dispatcher in main.ts. */
export type CatalogCommandContext = { flags: ParsedFlags; args: string[]; io: CliIo; client: AgentHttpClient };

const EXIT_OK = 0;
const EXIT_ERROR = 1;

const CONSISTENCY_FLAGS: readonly FlagSpec[] = [
  { name: 'stale', kind: 'bool', usage: 'Permit any agent with a replica to answer, even without a leader. Faster and more available, possibly out of date.' },
];

const NODE_META_FLAG: FlagSpec = {
  name: 'node-meta', kind: 'list', placeholder: 'key=value',
  usage: 'Metadata to filter nodes with the given key=value pairs. Can be specified multiple times; all must match.',
};

// ---------------------------------------------------------------- output helpers

/** Columns separated by two spaces, left aligned, no trailing blanks (ryanuber/columnize, as Consul). */
function columns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function failure(io: CliIo, context: string, error: unknown): number {
  if (error instanceof AgentConnectionError) io.err(error.message);
  else io.err(`${context}: ${(error as Error).message}`);
  return EXIT_ERROR;
}

function noArguments(context: CatalogCommandContext): boolean {
  if (context.args.length === 0) return true;
  context.io.err(`This command takes no arguments, got "${context.args.join(' ')}".`);
  return false;
}

/** -node-meta key=value flags as Consul's `?node-meta=key:value` parameters; undefined and a message when one is malformed. */
function nodeMetaQuery(context: CatalogCommandContext): string[] | undefined {
  const pairs: string[] = [];
  for (const pair of listFlag(context.flags, 'node-meta')) {
    const separator = pair.indexOf('=');
    if (separator <= 0) {
      context.io.err(`Error parsing -node-meta ${JSON.stringify(pair)}: expected key=value`);
      return undefined;
    }
    pairs.push(`${pair.slice(0, separator)}:${pair.slice(separator + 1)}`);
  }
  return pairs;
}

function queryString(context: CatalogCommandContext, extra: [string, string][] = []): string {
  const query = new URLSearchParams(extra);
  if (boolFlag(context.flags, 'stale')) query.set('stale', '');
  const text = query.toString().replace(/=(&|$)/g, '$1');
  return text === '' ? '' : `?${text}`;
}

function keyValues(map: Record<string, string> | null | undefined): string {
  return Object.keys(map ?? {}).sort().map((key) => `${key}=${map![key]}`).join(', ');
}

// ---------------------------------------------------------------- catalog services

type CatalogNodeJson = { ID: string; Node: string; Address: string; Datacenter: string; TaggedAddresses: Record<string, string> | null; Meta: Record<string, string> | null };

export async function runCatalogServices(context: CatalogCommandContext): Promise<number> {
  if (!noArguments(context)) return EXIT_ERROR;
  const meta = nodeMetaQuery(context);
  if (meta === undefined) return EXIT_ERROR;
  const node = stringFlag(context.flags, 'node');
  let services: Record<string, string[]>;
  try {
    if (node !== undefined && node !== '') {
      const found = await context.client.getJson<{ Services: Record<string, { Service: string; Tags: string[] | null }> } | null>(
        `/v1/catalog/node/${encodeURIComponent(node)}${queryString(context)}`);
      services = {};
      for (const service of Object.values(found?.Services ?? {})) {
        const tags = new Set([...(services[service.Service] ?? []), ...(service.Tags ?? [])]);
        services[service.Service] = [...tags].sort();
      }
    } else {
      services = await context.client.getJson<Record<string, string[]>>(`/v1/catalog/services${queryString(context, meta.map((pair) => ['node-meta', pair]))}`);
    }
  } catch (error) {
    return failure(context.io, 'Error listing services', error);
  }
  const names = Object.keys(services).sort();
  if (names.length === 0) {
    context.io.err('No services match the given query - try expanding your search.');
    return EXIT_OK;
  }
  if (boolFlag(context.flags, 'tags')) {
    context.io.out(columns(names.map((name) => [name, [...(services[name] ?? [])].sort().join(',')])));
  } else {
    context.io.out(names.join('\n'));
  }
  return EXIT_OK;
}

// ---------------------------------------------------------------- catalog nodes

export async function runCatalogNodes(context: CatalogCommandContext): Promise<number> {
  if (!noArguments(context)) return EXIT_ERROR;
  const meta = nodeMetaQuery(context);
  if (meta === undefined) return EXIT_ERROR;
  const service = stringFlag(context.flags, 'service');
  const metaQuery = meta.map((pair): [string, string] => ['node-meta', pair]);
  let nodes: CatalogNodeJson[];
  try {
    if (service !== undefined && service !== '') {
      const rows = await context.client.getJson<(CatalogNodeJson & { NodeMeta: Record<string, string> | null })[]>(
        `/v1/catalog/service/${encodeURIComponent(service)}${queryString(context, metaQuery)}`);
      const byName = new Map<string, CatalogNodeJson>();
      for (const row of rows) byName.set(row.Node, { ...row, Meta: row.NodeMeta });
      nodes = [...byName.values()];
    } else {
      nodes = await context.client.getJson<CatalogNodeJson[]>(`/v1/catalog/nodes${queryString(context, metaQuery)}`);
    }
  } catch (error) {
    return failure(context.io, 'Error listing nodes', error);
  }
  if (nodes.length === 0) {
    context.io.err('No nodes match the given query - try expanding your search.');
    return EXIT_OK;
  }
  nodes.sort((a, b) => (a.Node < b.Node ? -1 : a.Node > b.Node ? 1 : 0));
  context.io.out(formatCatalogNodes(nodes, boolFlag(context.flags, 'detailed')));
  return EXIT_OK;
}

/** Consul's `catalog nodes` table: IDs cut to 8 characters unless detailed, which adds tagged addresses and meta. */
export function formatCatalogNodes(nodes: readonly CatalogNodeJson[], detailed: boolean): string {
  if (detailed) {
    return columns([['Node', 'ID', 'Address', 'DC', 'TaggedAddresses', 'Meta'],
      ...nodes.map((node) => [node.Node, node.ID, node.Address, node.Datacenter, keyValues(node.TaggedAddresses), keyValues(node.Meta)])]);
  }
  return columns([['Node', 'ID', 'Address', 'DC'], ...nodes.map((node) => [node.Node, node.ID.slice(0, 8), node.Address, node.Datacenter])]);
}

export async function runCatalogDatacenters(context: CatalogCommandContext): Promise<number> {
  if (!noArguments(context)) return EXIT_ERROR;
  try {
    const datacenters = await context.client.getJson<string[]>('/v1/catalog/datacenters');
    context.io.out(datacenters.join('\n'));
    return EXIT_OK;
  } catch (error) {
    return failure(context.io, 'Error listing datacenters', error);
  }
}

// ---------------------------------------------------------------- services register / deregister

/** The service definitions of a file: its `service`/`services` entries, or the file itself when it is one definition. */
export async function serviceDefinitionsOf(path: string): Promise<{ definitions: Record<string, unknown>[] } | { error: string }> {
  const read = await readConfigFile(path);
  if ('error' in read) return read;
  const object = read.object;
  const definitions: Record<string, unknown>[] = [];
  let wrapped = false;
  for (const [key, value] of Object.entries(object)) {
    if (key !== 'service' && key !== 'services') continue;
    wrapped = true;
    for (const entry of Array.isArray(value) ? value : [value]) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return { error: `${path}: ${key} must hold service definitions (objects)` };
      definitions.push(entry as Record<string, unknown>);
    }
  }
  if (!wrapped) {
    const hasName = Object.keys(object).some((key) => key.toLowerCase() === 'name');
    if (!hasName) return { error: `${path}: no service definition found (expected a "service" block or a definition with a name)` };
    definitions.push(object);
  }
  if (definitions.length === 0) return { error: `${path}: no service definition found` };
  return { definitions };
}

/** A definition from -name, -id, -port, -address, -tag, -meta; undefined (and a message) on a bad flag. */
function definitionFromFlags(context: CatalogCommandContext): Record<string, unknown> | undefined {
  const definition: Record<string, unknown> = { Name: stringFlag(context.flags, 'name') };
  const id = stringFlag(context.flags, 'id');
  if (id) definition.ID = id;
  const address = stringFlag(context.flags, 'address');
  if (address) definition.Address = address;
  const port = stringFlag(context.flags, 'port');
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65_535) {
      context.io.err(`Invalid -port ${JSON.stringify(port)}: expected a port number`);
      return undefined;
    }
    definition.Port = Number(port);
  }
  const tags = listFlag(context.flags, 'tag');
  if (tags.length > 0) definition.Tags = tags;
  const meta: Record<string, string> = {};
  for (const pair of listFlag(context.flags, 'meta')) {
    const separator = pair.indexOf('=');
    if (separator <= 0) {
      context.io.err(`Invalid -meta ${JSON.stringify(pair)}: expected key=value`);
      return undefined;
    }
    meta[pair.slice(0, separator)] = pair.slice(separator + 1);
  }
  if (Object.keys(meta).length > 0) definition.Meta = meta;
  return definition;
}

export async function runServicesRegister(context: CatalogCommandContext): Promise<number> {
  const { io, client } = context;
  let definitions: Record<string, unknown>[];
  if (context.args.length > 0) {
    if (stringFlag(context.flags, 'name') !== undefined) {
      io.err('Give a service definition file or -name flags, not both.');
      return EXIT_ERROR;
    }
    definitions = [];
    for (const path of context.args) {
      const found = await serviceDefinitionsOf(path);
      if ('error' in found) { io.err(`Error: ${found.error}`); return EXIT_ERROR; }
      definitions.push(...found.definitions);
    }
  } else {
    if (stringFlag(context.flags, 'name') === undefined) {
      io.err('Missing service definition: give a FILE (HCL or JSON) or at least -name.');
      return EXIT_ERROR;
    }
    const definition = definitionFromFlags(context);
    if (definition === undefined) return EXIT_ERROR;
    definitions = [definition];
  }
  for (const definition of definitions) {
    try {
      await client.request('PUT', '/v1/agent/service/register', { body: JSON.stringify(definition) });
    } catch (error) {
      return failure(io, 'Error registering service', error);
    }
    io.out(`Registered service: ${serviceName(definition)}`);
  }
  return EXIT_OK;
}

export async function runServicesDeregister(context: CatalogCommandContext): Promise<number> {
  const { io, client } = context;
  const flagId = stringFlag(context.flags, 'id');
  let ids: string[];
  if (flagId !== undefined) {
    if (context.args.length > 0) {
      io.err('Give a service definition file or -id, not both.');
      return EXIT_ERROR;
    }
    if (flagId === '') { io.err('-id must not be empty.'); return EXIT_ERROR; }
    ids = [flagId];
  } else if (context.args.length > 0) {
    ids = [];
    for (const path of context.args) {
      const found = await serviceDefinitionsOf(path);
      if ('error' in found) { io.err(`Error: ${found.error}`); return EXIT_ERROR; }
      for (const definition of found.definitions) {
        const id = fieldOf(definition, 'id') || serviceName(definition);
        if (id === '') { io.err(`Error: ${path}: a service definition has neither an ID nor a name`); return EXIT_ERROR; }
        ids.push(id);
      }
    }
  } else {
    io.err('Missing service: give a service definition FILE or -id.');
    return EXIT_ERROR;
  }
  for (const id of ids) {
    try {
      await client.request('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`);
    } catch (error) {
      return failure(io, 'Error deregistering service', error);
    }
    io.out(`Deregistered service: ${id}`);
  }
  return EXIT_OK;
}

function fieldOf(definition: Record<string, unknown>, name: string): string {
  for (const [key, value] of Object.entries(definition)) if (key.replace(/_/g, '').toLowerCase() === name && typeof value === 'string') return value;
  return '';
}

function serviceName(definition: Record<string, unknown>): string {
  return fieldOf(definition, 'name') || fieldOf(definition, 'service');
}

// ---------------------------------------------------------------- the commands, for main.ts

export const CATALOG_COMMANDS = [
  {
    name: 'catalog',
    synopsis: 'Interact with the catalog',
    usage: 'tribune catalog <subcommand> [options] [args]',
    description: 'Queries the catalog: the datacenters, nodes and services the cluster knows about, ' +
      'as registered by the agents (and through /v1/catalog/register).',
  },
  {
    name: 'catalog services',
    synopsis: 'Lists all registered services in a datacenter',
    usage: 'tribune catalog services [options]',
    description: 'Lists the services registered in the catalog, one per line, sorted. With -tags, each ' +
      'service is followed by the union of its instances\' tags.',
    http: true,
    flags: [
      ...CONSISTENCY_FLAGS,
      { name: 'node', kind: 'string', placeholder: 'node', usage: 'List only the services of this node.' },
      NODE_META_FLAG,
      { name: 'tags', kind: 'bool', usage: 'Display each service\'s tags as a comma-separated list.' },
    ],
    run: runCatalogServices,
  },
  {
    name: 'catalog nodes',
    synopsis: 'Lists all nodes in the given datacenter',
    usage: 'tribune catalog nodes [options]',
    description: 'Lists the nodes in the catalog: name, ID (first 8 characters), address and datacenter. ' +
      'With -detailed, the full ID, tagged addresses and metadata.',
    http: true,
    flags: [
      ...CONSISTENCY_FLAGS,
      { name: 'detailed', kind: 'bool', usage: 'Output detailed information about the nodes: full IDs, tagged addresses and metadata.' },
      NODE_META_FLAG,
      { name: 'service', kind: 'string', placeholder: 'name', usage: 'List only the nodes providing this service.' },
    ],
    run: runCatalogNodes,
  },
  {
    name: 'catalog datacenters',
    synopsis: 'Lists all known datacenters',
    usage: 'tribune catalog datacenters [options]',
    description: 'Lists the datacenters this agent knows of.',
    http: true,
    run: runCatalogDatacenters,
  },
  {
    name: 'services',
    synopsis: 'Interact with services',
    usage: 'tribune services <subcommand> [options] [args]',
    description: 'Registers and deregisters services with the local agent, which keeps them in the catalog ' +
      'for as long as it runs (anti-entropy).',
  },
  {
    name: 'services register',
    synopsis: 'Register services and service instances',
    usage: 'tribune services register [options] [FILE...]',
    description: 'Registers the services defined in each FILE (HCL or JSON, the format of a config file\'s ' +
      '`service` blocks, checks included) with the local agent. Without a file, registers one service from ' +
      'the flags. Registering a service ID that exists replaces it.',
    http: true,
    flags: [
      { name: 'name', kind: 'string', placeholder: 'name', usage: 'The service name, when no FILE is given.' },
      { name: 'id', kind: 'string', placeholder: 'id', usage: 'The service ID; defaults to the name.' },
      { name: 'address', kind: 'string', placeholder: 'address', usage: 'The service address; defaults to the node\'s.' },
      { name: 'port', kind: 'string', placeholder: 'port', usage: 'The service port.' },
      { name: 'tag', kind: 'list', placeholder: 'tag', usage: 'A tag for the service. Can be specified multiple times.' },
      { name: 'meta', kind: 'list', placeholder: 'key=value', usage: 'Metadata for the service. Can be specified multiple times.' },
    ],
    run: runServicesRegister,
  },
  {
    name: 'services deregister',
    synopsis: 'Deregister services',
    usage: 'tribune services deregister [options] [FILE...]',
    description: 'Deregisters the services defined in each FILE (by ID, or name when there is no ID) from ' +
      'the local agent, or the one given with -id.',
    http: true,
    flags: [{ name: 'id', kind: 'string', placeholder: 'id', usage: 'The ID of the service to deregister.' }],
    run: runServicesDeregister,
  },
] as const;

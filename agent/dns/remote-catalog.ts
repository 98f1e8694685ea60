// The DNS view for an agent that holds no replica of the state (not a Raft
// voter or learner): a small local copy of what DNS was asked about, kept
// fresh by one blocking query per name through the HTTP forwarding path.
//
//   const catalog = new RemoteCatalog({ fetch: (path, index, signal) => ..., log });
//   await catalog.prepare(lookup);          // first question about `web`: one round trip to a Raft member
//   catalog.serviceInstances('web', '')     // from then on: local, refreshed by `?index=N&stale` in the background
//
// Why this and not a fetch per query: DNS must not wait on the network on
// its hot path (DESIGN.md's DNS path). Only the first query for a name
// waits; later ones are answered from the copy, which a blocking query
// updates as soon as the catalog changes. A name nobody has asked about for
// `idleMs` stops being watched; at most `watchesMax` names are watched, the
// least recently asked one goes first. Names are asked in lower case: a
// service registered with capitals is found only by an agent with a replica.

import { Scope } from '../state/watch-index.ts';
import type { DnsCatalog, DnsInstance, DnsNode } from './answers.ts';
import type { Lookup } from './names.ts';

/** GET `path` from a Raft member (`?stale`, and `?index=` when `index` > 0 to block); the body as JSON and its X-Consul-Index. */
export type RemoteFetch = (path: string, index: number, signal: AbortSignal) => Promise<{ index: number; json: unknown }>;

export type RemoteCatalogOptions = {
  fetch: RemoteFetch;
  log: (level: 'debug' | 'warn', message: string) => void;
  /** Stop watching a name nobody asked about for this long. Default 10 minutes. */
  idleMs?: number;
  /** At most this many names watched at once. Default 256. */
  watchesMax?: number;
  /** Pause after a failed fetch before the next. Default 1 s. */
  retryMs?: number;
  now?: () => number;
};

type Watch<T> = {
  path: string;
  index: number;
  data: T | undefined;
  lastUsedMs: number;
  ready: Promise<void>;
  resolveReady: () => void;
  abort: AbortController;
};

type ServiceData = DnsInstance[];

export class RemoteCatalog implements DnsCatalog {
  readonly servicesScope = Scope.services;
  readonly nodesScope = Scope.nodes;
  private readonly options: Required<RemoteCatalogOptions>;
  private readonly watches = new Map<string, Watch<unknown>>();
  private closed = false;

  constructor(options: RemoteCatalogOptions) {
    this.options = { idleMs: 10 * 60_000, watchesMax: 256, retryMs: 1_000, now: Date.now, ...options };
  }

  /** Null when the data for `lookup` is here; else a promise that settles once it arrived (or the first fetch failed). */
  prepare(lookup: Lookup): Promise<void> | null {
    const path = pathOf(lookup);
    if (path === null) return null;
    const watch = this.watch(path);
    return watch.data === undefined ? watch.ready : null;
  }

  indexOf(scope: Scope): number {
    const watch = this.watches.get(scopePath(scope));
    if (watch === undefined) return 0;
    watch.lastUsedMs = this.options.now();
    return watch.index;
  }

  serviceInstances(name: string, tag: string): { service: string; scope: Scope; instances: DnsInstance[] } | null {
    const service = name.toLowerCase();
    const data = this.watches.get(servicePath(service))?.data as ServiceData | undefined;
    if (data === undefined || data.length === 0) return data === undefined ? null : { service, scope: Scope.service(service), instances: [] };
    const wanted = tag.toLowerCase();
    const instances = wanted === '' ? data : data.filter((instance) => (instance as DnsInstance & { tags: string[] }).tags.includes(wanted));
    return { service, scope: Scope.service(service), instances };
  }

  node(name: string): { node: DnsNode; scope: Scope } | null {
    const lower = name.toLowerCase();
    const data = this.watches.get(nodePath(lower))?.data as DnsNode | null | undefined;
    return data ? { node: data, scope: Scope.node(lower) } : null;
  }

  nodesWithAddress(address: string): DnsNode[] {
    const data = this.watches.get(NODES_PATH)?.data as DnsNode[] | undefined;
    return (data ?? []).filter((node) => node.address === address);
  }

  /** Stop every watch. */
  close(): void {
    this.closed = true;
    for (const watch of this.watches.values()) {
      watch.abort.abort();
      watch.resolveReady();
    }
    this.watches.clear();
  }

  get watchCount(): number {
    return this.watches.size;
  }

  private watch(path: string): Watch<unknown> {
    let watch = this.watches.get(path);
    if (watch !== undefined) {
      watch.lastUsedMs = this.options.now();
      // Keep the Map in least-recently-asked order.
      this.watches.delete(path);
      this.watches.set(path, watch);
      return watch;
    }
    if (this.watches.size >= this.options.watchesMax) {
      const [oldestPath, oldest] = this.watches.entries().next().value!;
      oldest.abort.abort();
      oldest.resolveReady();
      this.watches.delete(oldestPath);
    }
    let resolve!: () => void;
    const promise = new Promise<void>((settle) => { resolve = settle; });
    watch = { path, index: 0, data: undefined, lastUsedMs: this.options.now(), ready: promise, resolveReady: resolve, abort: new AbortController() };
    this.watches.set(path, watch);
    void this.run(watch);
    return watch;
  }

  /** One watch's loop: a plain fetch, then blocking fetches; ends when the name goes idle or the watch is dropped. */
  private async run(watch: Watch<unknown>): Promise<void> {
    const { fetch, idleMs, retryMs, now, log } = this.options;
    while (!this.closed && !watch.abort.signal.aborted && now() - watch.lastUsedMs < idleMs) {
      try {
        const answer = await fetch(watch.path, watch.index, watch.abort.signal);
        const unchanged = answer.index === watch.index;
        watch.data = convert(watch.path, answer.json);
        // An index that went backwards (a restored snapshot, another replica) restarts from scratch, as Consul's clients do.
        watch.index = answer.index < watch.index ? 0 : Math.max(1, answer.index);
        watch.resolveReady();
        // A blocking query that came back without a change (its wait ran out, or the member does not block): pause, never spin.
        if (unchanged) await new Promise((resolve) => setTimeout(resolve, retryMs));
      } catch (error) {
        if (watch.abort.signal.aborted) break;
        log('debug', `DNS: fetching ${watch.path} from a Raft member failed: ${(error as Error).message}`);
        watch.resolveReady();
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    }
    if (this.watches.get(watch.path) === watch) this.watches.delete(watch.path);
    watch.resolveReady();
  }
}

const NODES_PATH = '/v1/catalog/nodes';

function servicePath(lowerName: string): string {
  return `/v1/health/service/${encodeURIComponent(lowerName)}`;
}

function nodePath(lowerName: string): string {
  return `/v1/catalog/node/${encodeURIComponent(lowerName)}`;
}

function pathOf(lookup: Lookup): string | null {
  if (lookup.kind === 'service') return servicePath(lookup.service);
  if (lookup.kind === 'node') return nodePath(lookup.node);
  if (lookup.kind === 'ptr') return NODES_PATH;
  return null;
}

function scopePath(scope: Scope): string {
  if (scope.startsWith('s:')) return servicePath(scope.slice(2));
  if (scope.startsWith('n:')) return nodePath(scope.slice(2));
  return NODES_PATH;
}

type JsonNode = { Node?: unknown; Address?: unknown; Datacenter?: unknown; Meta?: unknown };

function toNode(json: JsonNode | undefined): DnsNode | null {
  if (json === null || typeof json !== 'object' || typeof json.Node !== 'string' || typeof json.Address !== 'string') return null;
  const meta: Record<string, string> = {};
  if (json.Meta !== null && typeof json.Meta === 'object') {
    for (const [key, value] of Object.entries(json.Meta)) if (typeof value === 'string') Object.defineProperty(meta, key, { value, enumerable: true });
  }
  return { name: json.Node, address: json.Address, datacenter: typeof json.Datacenter === 'string' ? json.Datacenter : '', meta };
}

/** Consul's JSON to what DNS needs; anything malformed is left out. */
function convert(path: string, json: unknown): unknown {
  if (path === NODES_PATH) return Array.isArray(json) ? json.map((row) => toNode(row as JsonNode)).filter((node) => node !== null) : [];
  if (path.startsWith('/v1/catalog/node/')) return toNode((json as { Node?: JsonNode } | null)?.Node);
  if (!Array.isArray(json)) return [];
  const instances: (DnsInstance & { tags: string[] })[] = [];
  for (const row of json as { Node?: JsonNode; Service?: Record<string, unknown>; Checks?: { CheckID?: unknown; Status?: unknown }[] }[]) {
    const node = toNode(row?.Node);
    const service = row?.Service;
    if (node === null || service === null || typeof service !== 'object' || typeof service.Port !== 'number') continue;
    const weights = (service.Weights ?? {}) as { Passing?: unknown; Warning?: unknown };
    instances.push({
      node,
      address: typeof service.Address === 'string' ? service.Address : '',
      port: service.Port,
      status: status(Array.isArray(row.Checks) ? row.Checks : []),
      weights: { passing: typeof weights.Passing === 'number' ? weights.Passing : 1, warning: typeof weights.Warning === 'number' ? weights.Warning : 1 },
      tags: Array.isArray(service.Tags) ? service.Tags.filter((tag): tag is string => typeof tag === 'string').map((tag) => tag.toLowerCase()) : [],
    });
  }
  return instances;
}

/** Consul's aggregated status: maintenance, else the worst check; no checks is passing. */
function status(checks: readonly { CheckID?: unknown; Status?: unknown }[]): DnsInstance['status'] {
  let worst: DnsInstance['status'] = 'passing';
  for (const check of checks) {
    const id = typeof check?.CheckID === 'string' ? check.CheckID : '';
    if (id === '_node_maintenance' || id.startsWith('_service_maintenance:')) return 'maintenance';
    if (check?.Status === 'critical') worst = 'critical';
    else if (check?.Status === 'warning' && worst === 'passing') worst = 'warning';
  }
  return worst;
}

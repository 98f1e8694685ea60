// From a parsed name and the catalog to the records of an answer, and from
// those records to bytes sized for the client.
//
//   const answer = buildAnswer('web.service.consul.', RecordType.SRV, lookup, catalog, options);
//   const bytes = encodeAnswer(questionBytes, 'web.service.consul.', answer, order, 512, false);  // TC set if records were left out
//
// An answer is a list of items, each the records of one instance or node
// that must travel together (an SRV record and the A record of its target):
// shuffling permutes the items, truncation drops whole items from the end,
// and the TC bit says that one was dropped. Consul trims UDP answers
// silently; we never do.

import type { Scope } from '../state/watch-index.ts';
import { addressLabel } from './names.ts';
import type { Lookup } from './names.ts';
import { Flag, MessageFull, MessageWriter, Rcode, RecordType, ipv4Bytes, ipv6Bytes, txtStrings } from './wire.ts';

/** A node as DNS needs it. */
export type DnsNode = {
  name: string;
  address: string;
  datacenter: string;
  meta: Readonly<Record<string, string>>;
};

/** One service instance with its combined health (the worst of its node's checks and its own). */
export type DnsInstance = {
  node: DnsNode;
  /** The instance's own address, or '' to use the node's. */
  address: string;
  port: number;
  status: 'passing' | 'warning' | 'critical' | 'maintenance';
  weights: { passing: number; warning: number };
};

/**
 * The catalog, read-only, as the DNS server sees it. The agent's replica
 * implements it directly (local-catalog.ts); an agent without a replica
 * implements it with data fetched from a Raft member (remote-catalog.ts).
 */
export interface DnsCatalog {
  /** The index of what a read of `scope` depends on; compared on every cache hit, so it must be cheap. */
  indexOf(scope: Scope): number;
  /** The instances of `name` (any case) carrying `tag` ('' for all), with the catalog's spelling of the name; null if there is no such service. */
  serviceInstances(name: string, tag: string): { service: string; scope: Scope; instances: DnsInstance[] } | null;
  /** The scope whose index changes when a service by a new name appears. */
  readonly servicesScope: Scope;
  /** A node by name (any case); null if unknown. */
  node(name: string): { node: DnsNode; scope: Scope } | null;
  /** The scope whose index changes when nodes come, go or change address. */
  readonly nodesScope: Scope;
  /** Nodes whose address is `address`, for PTR. */
  nodesWithAddress(address: string): DnsNode[];
  /** For a catalog that fetches: a promise while the data `lookup` needs is not here yet (the query waits for it), else null. */
  prepare?(lookup: Lookup): Promise<void> | null;
}

/** What the answer builder needs from the configuration. */
export type AnswerOptions = {
  datacenter: string;
  /** The primary domain (`consul.`): PTR answers name nodes under it. */
  domain: string;
  /** TTL of node records, seconds. */
  nodeTtlSeconds: number;
  /** TTL of a service's records, seconds, by lower-case service name; '*' for every other service. */
  serviceTtlSeconds: ReadonlyMap<string, number>;
  /** Return only instances whose every check passes (else warning ones too). Critical ones never. */
  onlyPassing: boolean;
  /** Whether we can forward names outside our domains. */
  recursors: boolean;
  /** SOA serial (Consul uses the time the agent started). */
  soaSerial: number;
};

/** One record: owner `null` means the question's name (a pointer to offset 12). */
export type Rr = { owner: string | null; type: number; ttlSeconds: number; write: (writer: MessageWriter) => void };

/** Records that travel together: an instance's answer records and their additional records. */
export type Item = { answers: Rr[]; additionals: Rr[] };

export type Answer = {
  rcode: number;
  /** Authoritative for our domain; not for REFUSED or forwarded names. */
  authoritative: boolean;
  items: Item[];
  /** SOA for negative answers (RFC 2308). */
  authority: Rr[];
  /** What the answer depends on: rebuilt when its index changes. */
  scope: Scope | null;
  /** Send the query to the recursors instead. */
  forward: boolean;
};

const NO_SCOPE = null;

export function buildAnswer(queryName: string, type: number, qclass: number, lookup: Lookup, catalog: DnsCatalog, options: AnswerOptions): Answer {
  if (lookup.kind === 'outside') {
    return { rcode: Rcode.REFUSED, authoritative: false, items: [], authority: [], scope: NO_SCOPE, forward: options.recursors };
  }
  if (qclass !== 1 && qclass !== 255) return { rcode: Rcode.REFUSED, authoritative: false, items: [], authority: [], scope: NO_SCOPE, forward: false };
  switch (lookup.kind) {
    case 'apex':
      return apexAnswer(type, lookup.domain, options);
    case 'unknown':
      return negative(Rcode.NXDOMAIN, lookup.domain, options, NO_SCOPE);
    case 'service':
      return serviceAnswer(queryName, type, lookup, catalog, options);
    case 'node':
      return nodeAnswer(type, lookup, catalog, options);
    case 'addr':
      return addrAnswer(type, lookup, options);
    case 'ptr':
      return ptrAnswer(type, lookup.address, catalog, options);
  }
}

function negative(rcode: number, domain: string, options: AnswerOptions, scope: Scope | null): Answer {
  return { rcode, authoritative: true, items: [], authority: [soa(domain, options)], scope, forward: false };
}

function soa(domain: string, options: AnswerOptions): Rr {
  return {
    owner: domain, type: RecordType.SOA, ttlSeconds: 0,
    write: (writer) => {
      writer.name(`ns.${domain}`);
      writer.name(`hostmaster.${domain}`);
      writer.u32(options.soaSerial);
      writer.u32(3600); // refresh
      writer.u32(600); // retry
      writer.u32(86400); // expire
      writer.u32(0); // minimum: the negative-caching TTL (RFC 2308), Consul's soa.min_ttl default
    },
  };
}

function apexAnswer(type: number, domain: string, options: AnswerOptions): Answer {
  if (type === RecordType.SOA || type === RecordType.ANY) {
    const record = soa(domain, options);
    return { rcode: Rcode.NOERROR, authoritative: true, items: [{ answers: [{ ...record, owner: null }], additionals: [] }], authority: [], scope: NO_SCOPE, forward: false };
  }
  return negative(Rcode.NOERROR, domain, options, NO_SCOPE);
}

/** Whether a name under our domain names another datacenter, which this agent cannot answer for yet. */
function foreignDatacenter(datacenter: string, options: AnswerOptions): boolean {
  return datacenter !== '' && datacenter !== options.datacenter;
}

function serviceAnswer(queryName: string, type: number, lookup: Extract<Lookup, { kind: 'service' }>, catalog: DnsCatalog, options: AnswerOptions): Answer {
  if (foreignDatacenter(lookup.datacenter, options)) return negative(Rcode.NXDOMAIN, lookup.domain, options, NO_SCOPE);
  const found = catalog.serviceInstances(lookup.service, lookup.tag);
  if (found === null) return negative(Rcode.NXDOMAIN, lookup.domain, options, catalog.servicesScope);
  const healthy = found.instances.filter((instance) => instance.status === 'passing' || (instance.status === 'warning' && !options.onlyPassing));
  // No healthy instance: the name has no records of any type (Consul answers NXDOMAIN too).
  if (healthy.length === 0) return negative(Rcode.NXDOMAIN, lookup.domain, options, found.scope);
  const ttlSeconds = options.serviceTtlSeconds.get(found.service.toLowerCase()) ?? options.serviceTtlSeconds.get('*') ?? 0;
  const datacenter = lookup.datacenter === '' ? options.datacenter : lookup.datacenter;
  const items: Item[] = [];
  if (type === RecordType.SRV || (type === RecordType.ANY && queryName.startsWith('_'))) {
    for (const instance of healthy) items.push(srvItem(instance, ttlSeconds, datacenter, lookup.domain));
  } else if (type === RecordType.A || type === RecordType.AAAA || type === RecordType.ANY) {
    const seen = new Set<string>();
    for (const instance of healthy) {
      const address = instance.address || instance.node.address;
      if (seen.has(address)) continue; // an RRset holds no duplicates (RFC 2181 §5)
      const record = addressRecord(null, address, type, ttlSeconds);
      if (record === null) continue;
      seen.add(address);
      items.push({ answers: [record], additionals: [] });
    }
  }
  if (items.length === 0) return negative(Rcode.NOERROR, lookup.domain, options, found.scope);
  return { rcode: Rcode.NOERROR, authoritative: true, items, authority: [], scope: found.scope, forward: false };
}

function srvItem(instance: DnsInstance, ttlSeconds: number, datacenter: string, domain: string): Item {
  const address = instance.address || instance.node.address;
  const v4 = ipv4Bytes(address);
  const v6 = v4 === null ? ipv6Bytes(address) : null;
  // The target is the node when the instance listens on the node's address; else an .addr. name for its own address (Consul's form).
  let target: string;
  if (instance.address === '' || instance.address === instance.node.address) target = `${instance.node.name}.node.${datacenter}.${domain}`;
  else if (v4 !== null || v6 !== null) target = `${addressLabel((v4 ?? v6)!)}.addr.${datacenter}.${domain}`;
  else target = instance.address.endsWith('.') ? instance.address : `${instance.address}.`;
  const weight = instance.status === 'warning' ? instance.weights.warning : instance.weights.passing;
  const srv: Rr = {
    owner: null, type: RecordType.SRV, ttlSeconds,
    write: (writer) => {
      writer.u16(1);
      writer.u16(Math.max(0, Math.min(0xffff, weight)));
      writer.u16(instance.port);
      writer.name(target);
    },
  };
  const additionals: Rr[] = [];
  const glue = v4 !== null || v6 !== null ? addressRecord(target, address, v4 !== null ? RecordType.A : RecordType.AAAA, ttlSeconds) : null;
  if (glue !== null) additionals.push(glue);
  return { answers: [srv], additionals };
}

/** An A or AAAA record for `address`, or null if the address is not of that family (ANY takes either). */
function addressRecord(owner: string | null, address: string, type: number, ttlSeconds: number): Rr | null {
  if (type === RecordType.A || type === RecordType.ANY) {
    const bytes = ipv4Bytes(address);
    if (bytes !== null) return { owner, type: RecordType.A, ttlSeconds, write: (writer) => writer.raw(bytes) };
  }
  if (type === RecordType.AAAA || type === RecordType.ANY) {
    const bytes = ipv6Bytes(address);
    if (bytes !== null) return { owner, type: RecordType.AAAA, ttlSeconds, write: (writer) => writer.raw(bytes) };
  }
  return null;
}

function nodeAnswer(type: number, lookup: Extract<Lookup, { kind: 'node' }>, catalog: DnsCatalog, options: AnswerOptions): Answer {
  if (foreignDatacenter(lookup.datacenter, options)) return negative(Rcode.NXDOMAIN, lookup.domain, options, NO_SCOPE);
  const found = catalog.node(lookup.node);
  if (found === null) return negative(Rcode.NXDOMAIN, lookup.domain, options, catalog.nodesScope);
  const ttlSeconds = options.nodeTtlSeconds;
  const meta = metaRecords(found.node, ttlSeconds);
  const address = addressRecord(null, found.node.address, type === RecordType.ANY ? RecordType.ANY : type, ttlSeconds);
  const item: Item = { answers: [], additionals: [] };
  if (type === RecordType.A || type === RecordType.AAAA || type === RecordType.ANY) {
    if (address !== null) item.answers.push(address);
    // With the address, the node's meta as TXT in the additional section (Consul's enable_additional_node_meta_txt).
    if (type === RecordType.ANY) item.answers.push(...meta);
    else if (address !== null) item.additionals.push(...meta);
  } else if (type === RecordType.TXT) {
    item.answers.push(...meta);
  }
  if (item.answers.length === 0) return negative(Rcode.NOERROR, lookup.domain, options, found.scope);
  return { rcode: Rcode.NOERROR, authoritative: true, items: [item], authority: [], scope: found.scope, forward: false };
}

function metaRecords(node: DnsNode, ttlSeconds: number): Rr[] {
  return Object.keys(node.meta).sort().map((key) => {
    const strings = txtStrings(`${key}=${node.meta[key]}`);
    return {
      owner: null, type: RecordType.TXT, ttlSeconds,
      write: (writer: MessageWriter) => {
        for (const text of strings) {
          writer.u8(text.length);
          writer.raw(text);
        }
      },
    };
  });
}

function addrAnswer(type: number, lookup: Extract<Lookup, { kind: 'addr' }>, options: AnswerOptions): Answer {
  if (foreignDatacenter(lookup.datacenter, options)) return negative(Rcode.NXDOMAIN, lookup.domain, options, NO_SCOPE);
  const record = addressRecord(null, lookup.address, type, options.nodeTtlSeconds);
  if (record === null) return negative(Rcode.NOERROR, lookup.domain, options, NO_SCOPE);
  return { rcode: Rcode.NOERROR, authoritative: true, items: [{ answers: [record], additionals: [] }], authority: [], scope: NO_SCOPE, forward: false };
}

function ptrAnswer(type: number, address: string, catalog: DnsCatalog, options: AnswerOptions): Answer {
  const nodes = catalog.nodesWithAddress(address);
  if (nodes.length === 0) {
    // Not ours: a recursor may know it; otherwise say so.
    if (options.recursors) return { rcode: Rcode.REFUSED, authoritative: false, items: [], authority: [], scope: catalog.nodesScope, forward: true };
    return { rcode: Rcode.NXDOMAIN, authoritative: true, items: [], authority: [], scope: catalog.nodesScope, forward: false };
  }
  if (type !== RecordType.PTR && type !== RecordType.ANY) return { rcode: Rcode.NOERROR, authoritative: true, items: [], authority: [], scope: catalog.nodesScope, forward: false };
  const items = nodes.map((node): Item => {
    const target = `${node.name}.node.${node.datacenter}.${options.domain}`;
    return { answers: [{ owner: null, type: RecordType.PTR, ttlSeconds: options.nodeTtlSeconds, write: (writer) => writer.name(target) }], additionals: [] };
  });
  return { rcode: Rcode.NOERROR, authoritative: true, items, authority: [], scope: catalog.nodesScope, forward: false };
}

// ---------------------------------------------------------------- encoding

/**
 * The whole answer message for one question, with items in `order`, at most
 * `limitBytes` long: as many whole items as fit (found by halving), TC set
 * when any was left out. Id 0 and RD clear: the server patches both per
 * query. `question` is the query's question section (name, type, class) as
 * received, so the answer echoes the client's spelling and every owner name
 * is a 2-byte pointer to it.
 */
export function encodeAnswer(question: Uint8Array, queryName: string, answer: Answer, order: readonly number[], limitBytes: number, edns: boolean, recursionAvailable: boolean): Uint8Array {
  const items = order.map((index) => answer.items[index]!);
  const full = tryEncode(question, queryName, answer, items, limitBytes, edns, recursionAvailable, false);
  if (full !== null) return full;
  let fitting: Uint8Array | null = null;
  let low = 0;
  let high = items.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const encoded = tryEncode(question, queryName, answer, items.slice(0, middle), limitBytes, edns, recursionAvailable, true);
    if (encoded !== null) {
      fitting = encoded;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  // Even no item fits (an enormous question in 512 bytes): header and question, TC set.
  return fitting ?? tryEncode(question, queryName, { ...answer, authority: [] }, [], Math.max(limitBytes, 12 + question.length + 11), edns, recursionAvailable, true)!;
}

function tryEncode(question: Uint8Array, queryName: string, answer: Answer, items: readonly Item[], limitBytes: number, edns: boolean, recursionAvailable: boolean, truncated: boolean): Uint8Array | null {
  const writer = new MessageWriter(limitBytes);
  try {
    const flags = Flag.QR | (answer.authoritative ? Flag.AA : 0) | (truncated ? Flag.TC : 0) | (recursionAvailable ? Flag.RA : 0) | answer.rcode;
    writer.u16(0);
    writer.u16(flags);
    writer.u16(1);
    writer.u16(0);
    writer.u16(0);
    writer.u16(0);
    writer.raw(question);
    writer.knowName(queryName, 12);
    let answers = 0;
    for (const item of items) for (const record of item.answers) { writeRecord(writer, record); answers++; }
    for (const record of answer.authority) writeRecord(writer, record);
    let additionals = 0;
    for (const item of items) for (const record of item.additionals) { writeRecord(writer, record); additionals++; }
    if (edns) { writer.opt(0); additionals++; }
    writer.patch16(6, answers);
    writer.patch16(8, answer.authority.length);
    writer.patch16(10, additionals);
    return writer.finish();
  } catch (error) {
    if (error instanceof MessageFull) return null;
    throw error;
  }
}

function writeRecord(writer: MessageWriter, record: Rr): void {
  writer.record(record.owner ?? 12, record.type, record.ttlSeconds, () => record.write(writer));
}

/**
 * Item orders to rotate through, one per query, so that answers are shuffled
 * without encoding per query: with n ≤ `count` items, the n rotations of one
 * random permutation (each item leads equally often, so truncated answers
 * still serve every instance); with more, `count` random permutations.
 */
export function itemOrders(itemCount: number, count: number, random: () => number = Math.random): number[][] {
  if (itemCount <= 1) return [Array.from({ length: itemCount }, (_, i) => i)];
  const shuffled = (): number[] => {
    const order = Array.from({ length: itemCount }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  };
  if (itemCount <= count) {
    const base = shuffled();
    return base.map((_, shift) => [...base.slice(shift), ...base.slice(0, shift)]);
  }
  return Array.from({ length: count }, shuffled);
}

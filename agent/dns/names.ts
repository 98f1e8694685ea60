// Consul's DNS name forms, parsed from the right as Consul does:
//
//   web.service.consul.              every healthy instance of `web`
//   web.service.dc1.consul.          the same, datacenter named
//   v2.web.service.consul.           instances tagged v2
//   _web._v2.service.consul.         RFC 2782 form (SRV), tag v2
//   _web._tcp.service.consul.        RFC 2782 form, any tag (the protocol label is not a tag)
//   agent-1.node.consul.             a node: A, and TXT from its meta
//   7f000051.addr.dc1.consul.        an address written in hex (SRV targets of services with their own address)
//   81.0.0.127.in-addr.arpa.         PTR: the nodes with that address
//
//   parseName('v2.web.service.consul.', ['consul.'])  // { kind: 'service', service: 'web', tag: 'v2', datacenter: '', domain: 'consul.' }
//
// Names are compared in lower case (DNS is case-insensitive); the catalog's
// own spelling is found by the answer builder.

export type Lookup =
  | { kind: 'service'; service: string; tag: string; datacenter: string; domain: string }
  | { kind: 'node'; node: string; datacenter: string; domain: string }
  | { kind: 'addr'; address: string; datacenter: string; domain: string }
  /** The domain itself (SOA, NS). */
  | { kind: 'apex'; domain: string }
  | { kind: 'ptr'; address: string }
  /** Under our domain but no form we know: NXDOMAIN. */
  | { kind: 'unknown'; domain: string }
  /** Not under our domain: recursors, or REFUSED. */
  | { kind: 'outside' };

const IN_ADDR_ARPA = '.in-addr.arpa.';

/** `domains`: lower-case, ending with a dot (the domain first, then the alternative domain). */
export function parseName(queryName: string, domains: readonly string[]): Lookup {
  const name = queryName.toLowerCase();
  if (name.endsWith(IN_ADDR_ARPA)) return parseReverse(name);
  for (const domain of domains) {
    if (name === domain) return { kind: 'apex', domain };
    if (name.length > domain.length && name.endsWith(domain) && name[name.length - domain.length - 1] === '.') {
      return parseInDomain(name.slice(0, -domain.length - 1), domain);
    }
  }
  return { kind: 'outside' };
}

const LOOKUP_TYPES = new Set(['service', 'node', 'addr']);

function parseInDomain(relative: string, domain: string): Lookup {
  const labels = relative.split('.');
  const unknown = { kind: 'unknown', domain } as const;
  // The last label is the lookup type, or a datacenter after it (Consul's rule).
  let typeIndex = labels.length - 1;
  let datacenter = '';
  if (!LOOKUP_TYPES.has(labels[typeIndex]!)) {
    datacenter = labels[typeIndex]!;
    typeIndex--;
  }
  const type = labels[typeIndex];
  if (type === undefined || !LOOKUP_TYPES.has(type)) return unknown;
  const prefix = labels.slice(0, typeIndex);
  if (prefix.some((label) => label === '')) return unknown;
  switch (type) {
    case 'service': {
      if (prefix.length === 2 && prefix[0]!.startsWith('_') && prefix[1]!.startsWith('_')) {
        const tag = prefix[1]!.slice(1);
        const service = prefix[0]!.slice(1);
        if (service === '') return unknown;
        return { kind: 'service', service, tag: tag === 'tcp' ? '' : tag, datacenter, domain };
      }
      if (prefix.length === 1) return { kind: 'service', service: prefix[0]!, tag: '', datacenter, domain };
      if (prefix.length === 2) return { kind: 'service', service: prefix[1]!, tag: prefix[0]!, datacenter, domain };
      return unknown;
    }
    case 'node':
      // Consul allows dots in node names only through the last label; we keep node names to one label.
      return prefix.length === 1 ? { kind: 'node', node: prefix[0]!, datacenter, domain } : unknown;
    case 'addr': {
      if (prefix.length !== 1) return unknown;
      const address = hexAddress(prefix[0]!);
      return address === null ? unknown : { kind: 'addr', address, datacenter, domain };
    }
  }
  return unknown;
}

function parseReverse(name: string): Lookup {
  const labels = name.slice(0, -IN_ADDR_ARPA.length).split('.');
  if (labels.length !== 4 || !labels.every((label) => /^\d{1,3}$/.test(label) && Number(label) <= 255)) return { kind: 'outside' };
  return { kind: 'ptr', address: labels.reverse().map(Number).join('.') };
}

/** `7f000051` → `127.0.0.81`; 32 hex digits → an IPv6 address; anything else null. */
export function hexAddress(label: string): string | null {
  if (/^[0-9a-f]{8}$/.test(label)) {
    return [0, 2, 4, 6].map((at) => parseInt(label.slice(at, at + 2), 16)).join('.');
  }
  if (/^[0-9a-f]{32}$/.test(label)) {
    const groups: string[] = [];
    for (let at = 0; at < 32; at += 4) groups.push(parseInt(label.slice(at, at + 4), 16).toString(16));
    return groups.join(':');
  }
  return null;
}

/** The `.addr.` label of an address: IPv4 as 8 hex digits, IPv6 as 32. */
export function addressLabel(bytes: Uint8Array): string {
  let label = '';
  for (const byte of bytes) label += byte.toString(16).padStart(2, '0');
  return label;
}

// Shared by the DNS tests: a catalog in a real StateMachine driven through
// the state harness, query packets built by hand, and answers read back with
// dns2's parser (an independent reader of what we write).

import dns2 from 'dns2';
import { Harness } from '../state/harness.ts';
import { LocalCatalog } from '../../../agent/dns/local-catalog.ts';
import { Responder } from '../../../agent/dns/responder.ts';
import type { AnswerOptions } from '../../../agent/dns/answers.ts';
import type { CheckStatus } from '../../../protocol/state-commands.ts';

export const { Packet } = dns2;

/** A record as dns2's parser reads it (fields depend on the type: address, target, port, data, domain...). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ParsedRecord = Record<string, any> & { name: string; type: number; ttl: number };
export type ParsedMessage = { header: Record<string, number>; answers: ParsedRecord[]; authorities: ParsedRecord[]; additionals: ParsedRecord[] };

export function answerOptions(overrides: Partial<AnswerOptions> = {}): AnswerOptions {
  return {
    datacenter: 'dc1', domain: 'consul.', nodeTtlSeconds: 0, serviceTtlSeconds: new Map(), onlyPassing: false,
    recursors: false, soaSerial: 1, ...overrides,
  };
}

export type InstanceSpec = { node: string; address: string; service: string; id?: string; port?: number; tags?: string[]; status?: CheckStatus; serviceAddress?: string; meta?: Record<string, string> };

/** A state machine with a catalog, and a responder over it. */
export class DnsFixture {
  readonly harness = new Harness();
  readonly responder: Responder;

  constructor(options: Partial<AnswerOptions> = {}, domains: string[] = ['consul.']) {
    this.responder = new Responder({ catalog: new LocalCatalog(this.harness.state), answers: answerOptions(options), domains });
  }

  register(spec: InstanceSpec): void {
    const id = spec.id ?? `${spec.service}-${spec.node}`;
    this.harness.apply({
      type: 'catalogRegister',
      node: { id: '', node: spec.node, address: spec.address, datacenter: 'dc1', taggedAddresses: {}, meta: spec.meta ?? {} },
      skipNodeUpdate: false,
      service: { id, service: spec.service, tags: spec.tags ?? [], address: spec.serviceAddress ?? '', taggedAddresses: {}, meta: {}, port: spec.port ?? 8080, weights: { passing: 1, warning: 1 }, enableTagOverride: false },
      checks: [{ checkId: `check-${id}`, name: 'check', status: spec.status ?? 'passing', notes: '', output: '', serviceId: id, type: 'ttl', definition: '' }],
    });
  }

  setStatus(node: string, id: string, status: CheckStatus): void {
    this.harness.apply({
      type: 'catalogRegister',
      node: { id: '', node, address: this.harness.state.catalogView.node(node)!.address, datacenter: 'dc1', taggedAddresses: {}, meta: { ...this.harness.state.catalogView.node(node)!.meta } },
      skipNodeUpdate: true, service: null,
      checks: [{ checkId: `check-${id}`, name: 'check', status, notes: '', output: '', serviceId: id, type: 'ttl', definition: '' }],
    });
  }

  /** Ask and parse; throws if the responder dropped the packet. */
  ask(name: string, type: keyof typeof Packet.TYPE = 'A', options: QueryOptions = {}, transport: 'udp' | 'tcp' = 'udp'): { bytes: Uint8Array; message: ParsedMessage } {
    const reply = this.responder.respond(query(name, type, options), transport);
    if (!(reply instanceof Uint8Array)) throw new Error(`no answer for ${name}: ${String(reply)}`);
    return { bytes: reply, message: Packet.parse(Buffer.from(reply)) as unknown as ParsedMessage };
  }
}

export type QueryOptions = { id?: number; ednsBytes?: number; recursionDesired?: boolean; qclass?: number };

/** A query packet: one question, optionally an EDNS0 OPT record with `ednsBytes`. */
export function query(name: string, type: keyof typeof Packet.TYPE | number = 'A', options: QueryOptions = {}): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const parts: number[] = [];
  const id = options.id ?? 0x1234;
  parts.push(id >> 8, id & 0xff, options.recursionDesired === false ? 0 : 1, 0, 0, 1, 0, 0, 0, 0, 0, options.ednsBytes ? 1 : 0);
  for (const label of labels) parts.push(label.length, ...Buffer.from(label, 'latin1'));
  parts.push(0);
  const code = typeof type === 'number' ? type : (Packet.TYPE[type] as number);
  const qclass = options.qclass ?? 1;
  parts.push(code >> 8, code & 0xff, qclass >> 8, qclass & 0xff);
  if (options.ednsBytes) parts.push(0, 0, 41, options.ednsBytes >> 8, options.ednsBytes & 0xff, 0, 0, 0, 0, 0, 0);
  return Buffer.from(parts);
}

/** Header fields of an answer, read directly. */
export function header(bytes: Uint8Array) {
  const flags = (bytes[2]! << 8) | bytes[3]!;
  return {
    id: (bytes[0]! << 8) | bytes[1]!,
    qr: (flags & 0x8000) !== 0,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    rcode: flags & 0x0f,
    answers: (bytes[6]! << 8) | bytes[7]!,
    authorities: (bytes[8]! << 8) | bytes[9]!,
    additionals: (bytes[10]! << 8) | bytes[11]!,
  };
}

// The DNS query path without sockets: a packet in, the answer's bytes out.
// The socket code (server.ts) and the tests drive the same object.
//
//   const responder = new Responder({ catalog: new LocalCatalog(state), answers: options, domains: ['consul.'] });
//   const reply = responder.respond(packet, 'udp');   // Uint8Array to send, 'forward', or null (drop)
//
// Hot path: the cache is keyed by the question's raw bytes (name as sent,
// type, class). A hit compares the catalog index of what the answer depends
// on, picks the next precomputed order of the records (shuffling without
// encoding), copies the encoded message and patches the query id and RD bit.
// A miss or a stale entry parses the name, reads the catalog and encodes.
// Answers are sized per variant: UDP without EDNS0 (512 bytes), UDP with the
// client's EDNS0 buffer size, TCP (everything).

import type { Scope } from '../state/watch-index.ts';
import { buildAnswer, encodeAnswer, itemOrders } from './answers.ts';
import type { Answer, AnswerOptions, DnsCatalog } from './answers.ts';
import { parseName } from './names.ts';
import { Flag, MessageWriter, Rcode, UDP_PAYLOAD_BYTES_DEFAULT, errorResponse, parseQuery, questionName } from './wire.ts';

export type Transport = 'udp' | 'tcp';

/** Precomputed orders per cached answer: each order is encoded once, at its first use. */
const ORDERS_MAX = 16;
/** Cached questions; past this the oldest goes (a resolver randomising case, RFC draft 0x20, makes one per spelling). */
const CACHE_ENTRIES_MAX = 10_000;
/** Encoded sizes kept per cached question (UDP buffer sizes and TCP). */
const VARIANTS_MAX = 8;
/** A TCP answer may use the whole 16-bit length. */
const TCP_LIMIT_BYTES = 65_535;

export type ResponderOptions = {
  catalog: DnsCatalog;
  answers: AnswerOptions;
  /** Lower-case, with the final dot: the domain first, then the alternative domain. */
  domains: readonly string[];
  /** False when answers must not be given now (allow_stale off and no known leader): SERVFAIL. */
  answerable?: () => boolean;
};

type CacheEntry = {
  /** The question's bytes (name, type, class) as the client sent them. */
  question: Uint8Array;
  queryName: string;
  scope: Scope | null;
  index: number;
  answer: Answer;
  orders: number[][];
  next: number;
  /** Variant key (see variantKey) → encoded message per order. */
  variants: Map<number, (Uint8Array | undefined)[]>;
};

export type ResponderCounters = {
  queries: number;
  cacheHits: number;
  encodings: number;
  truncated: number;
  formatErrors: number;
  dropped: number;
  forwarded: number;
};

export class Responder {
  readonly counters: ResponderCounters = { queries: 0, cacheHits: 0, encodings: 0, truncated: 0, formatErrors: 0, dropped: 0, forwarded: 0 };
  private readonly options: ResponderOptions;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly answerable: () => boolean;

  constructor(options: ResponderOptions) {
    this.options = options;
    this.answerable = options.answerable ?? (() => true);
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  /** Forget every cached answer (configuration changed, tests). */
  clear(): void {
    this.cache.clear();
  }

  /**
   * The answer to `packet`, null to drop it, 'forward' when it must go to
   * the recursors as it is, or a promise when the catalog must fetch first
   * (an agent without a replica): ask again once it settles. Never throws on
   * any input.
   */
  respond(packet: Uint8Array, transport: Transport): Uint8Array | 'forward' | null | Promise<void> {
    this.counters.queries++;
    const parsed = parseQuery(packet);
    const recursionAvailable = this.options.answers.recursors;
    if (parsed.kind === 'drop') {
      this.counters.dropped++;
      return null;
    }
    if (parsed.kind === 'error') {
      if (parsed.rcode === Rcode.FORMERR) this.counters.formatErrors++;
      return errorResponse(parsed.id, parsed.rcode, parsed.recursionDesired, recursionAvailable);
    }
    if (!this.answerable()) return errorResponse(parsed.id, Rcode.SERVFAIL, parsed.recursionDesired, recursionAvailable);
    if (parsed.ednsVersion > 0) return badVersion(packet, parsed.id, parsed.questionEnd, parsed.recursionDesired, recursionAvailable);

    const key = latin1(packet, 12, parsed.questionEnd);
    let entry = this.cache.get(key);
    if (entry !== undefined && entry.scope !== null && this.options.catalog.indexOf(entry.scope) !== entry.index) entry = undefined;
    if (entry === undefined) {
      const filled = this.fill(key, packet, parsed.questionEnd, parsed.type, parsed.qclass);
      if (filled instanceof Promise) return filled;
      entry = filled;
    } else {
      this.counters.cacheHits++;
    }
    if (entry.answer.forward) {
      this.counters.forwarded++;
      return 'forward';
    }

    const edns = parsed.udpPayloadBytes > 0;
    const limit = transport === 'tcp' ? TCP_LIMIT_BYTES : edns ? parsed.udpPayloadBytes : UDP_PAYLOAD_BYTES_DEFAULT;
    const variant = transport === 'tcp' ? (edns ? -2 : -1) : limit;
    let encoded = entry.variants.get(variant);
    if (encoded === undefined) {
      // Clients use a handful of buffer sizes (512, 1232, 4096); one that varies its size per query must not grow the entry.
      if (entry.variants.size >= VARIANTS_MAX) entry.variants.clear();
      entry.variants.set(variant, (encoded = new Array<Uint8Array | undefined>(entry.orders.length)));
    }
    const slot = entry.next;
    entry.next = slot + 1 === entry.orders.length ? 0 : slot + 1;
    let message = encoded[slot];
    if (message === undefined) {
      message = encodeAnswer(entry.question, entry.queryName, entry.answer, entry.orders[slot]!, limit, edns, recursionAvailable);
      encoded[slot] = message;
      this.counters.encodings++;
    }
    if ((message[2]! & 0x02) !== 0) this.counters.truncated++;
    const reply = Buffer.allocUnsafe(message.length);
    reply.set(message);
    reply[0] = parsed.id >> 8;
    reply[1] = parsed.id & 0xff;
    if (parsed.recursionDesired) reply[2] = reply[2]! | (Flag.RD >> 8);
    return reply;
  }

  private fill(key: string, packet: Uint8Array, questionEnd: number, type: number, qclass: number): CacheEntry | Promise<void> {
    const queryName = questionName(packet, questionEnd);
    const lookup = parseName(queryName, this.options.domains);
    const catalog = this.options.catalog;
    const pending = catalog.prepare?.(lookup) ?? null;
    if (pending !== null) return pending;
    const answer = buildAnswer(queryName, type, qclass, lookup, catalog, this.options.answers);
    const entry: CacheEntry = {
      question: packet.slice(12, questionEnd),
      queryName,
      scope: answer.scope,
      index: answer.scope === null ? 0 : catalog.indexOf(answer.scope),
      answer,
      orders: itemOrders(answer.items.length, ORDERS_MAX),
      next: 0,
      variants: new Map(),
    };
    this.cache.delete(key);
    if (this.cache.size >= CACHE_ENTRIES_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, entry);
    return entry;
  }
}

/** EDNS version above 0: BADVERS (extended rcode 16: 1 in the OPT record, 0 in the header), question echoed, nothing else (RFC 6891 §6.1.3). */
function badVersion(packet: Uint8Array, id: number, questionEnd: number, recursionDesired: boolean, recursionAvailable: boolean): Uint8Array {
  const writer = new MessageWriter(questionEnd + 11);
  writer.u16(id);
  writer.u16(Flag.QR | (recursionDesired ? Flag.RD : 0) | (recursionAvailable ? Flag.RA : 0));
  writer.u16(1);
  writer.u16(0);
  writer.u16(0);
  writer.u16(1);
  writer.raw(packet.subarray(12, questionEnd));
  writer.opt(1);
  return writer.finish();
}

function latin1(packet: Uint8Array, start: number, end: number): string {
  return Buffer.isBuffer(packet) ? packet.toString('latin1', start, end) : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength).toString('latin1', start, end);
}

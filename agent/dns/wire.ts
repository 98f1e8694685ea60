// The DNS wire format, as much of it as an authoritative server for a few
// record types needs: reading a query (header, one question, an EDNS0 OPT
// record) and writing answers with name compression.
//
//   const query = parseQuery(packet);                 // never throws; bounded by the packet's length
//   if (query.kind === 'query') ... query.name, query.type, query.udpPayloadBytes
//   const writer = new MessageWriter(4096);
//   writer.header(id, flags, counts); writer.question(name, type); writer.a(name, ttl, '10.0.0.1');
//
// Why our own and not dns2's Packet: the query path runs for every packet
// and must neither allocate much nor trust its input. parseQuery touches the
// 12 header bytes, walks the question's labels once (no compression pointer
// is legal there, so none is followed: no pointer loop is possible) and looks
// at the one additional record EDNS0 allows. Every loop is bounded by the
// packet's length. dns2 remains the client in tests and the library ceiling in
// the benchmark.

/** Record types we answer (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 6891). */
export const RecordType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const ClassIn = 1;

/** Response codes (RFC 1035 §4.1.1). */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** Without EDNS0 a UDP answer may not exceed 512 bytes (RFC 1035 §4.2.1). */
export const UDP_PAYLOAD_BYTES_DEFAULT = 512;
/** The largest UDP payload we honour from a client's EDNS0 record; above it, fragmentation makes answers unreliable (DNS flag day 2020 recommends 1232; 4096 is the common ceiling). */
export const UDP_PAYLOAD_BYTES_MAX = 4096;
/** What we advertise in our own OPT record. */
export const UDP_PAYLOAD_BYTES_ADVERTISED = 4096;
/** A DNS name is at most 255 bytes on the wire (RFC 1035 §2.3.4). */
export const NAME_BYTES_MAX = 255;
const LABEL_BYTES_MAX = 63;
const HEADER_BYTES = 12;

/** Header flag bits (second and third byte as one 16-bit word). */
export const Flag = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
} as const;

export type ParsedQuery = {
  kind: 'query';
  id: number;
  /** The query's RD bit, echoed in the answer. */
  recursionDesired: boolean;
  /** Offset just past the question (qname, qtype, qclass); the name is `questionName(packet, questionEnd)`. */
  questionEnd: number;
  type: number;
  qclass: number;
  /** The client's EDNS0 buffer size clamped to [512, 4096], or 0 when the query had no OPT record. */
  udpPayloadBytes: number;
  /** EDNS version the client asked for (only 0 exists); -1 without EDNS. */
  ednsVersion: number;
};

/**
 * What to do with a packet: answer a well-formed query, answer FORMERR or
 * NOTIMP (with the id, so the client stops retrying), or drop it silently
 * (too short to carry an id, or a response: answering responses lets two
 * servers bounce packets between them forever).
 */
export type QueryParse =
  | ParsedQuery
  | { kind: 'error'; id: number; rcode: number; recursionDesired: boolean }
  | { kind: 'drop'; reason: string };

/** Reads a query. Never throws; every loop is bounded by `packet.length`. */
export function parseQuery(packet: Uint8Array): QueryParse {
  const length = packet.length;
  if (length < HEADER_BYTES) return { kind: 'drop', reason: 'shorter than a header' };
  const id = (packet[0]! << 8) | packet[1]!;
  const flags = (packet[2]! << 8) | packet[3]!;
  if ((flags & Flag.QR) !== 0) return { kind: 'drop', reason: 'a response, not a query' };
  const recursionDesired = (flags & Flag.RD) !== 0;
  const opcode = (flags >> 11) & 0x0f;
  if (opcode !== 0) return { kind: 'error', id, rcode: Rcode.NOTIMP, recursionDesired };
  const questions = (packet[4]! << 8) | packet[5]!;
  const answers = (packet[6]! << 8) | packet[7]!;
  const authorities = (packet[8]! << 8) | packet[9]!;
  const additionals = (packet[10]! << 8) | packet[11]!;
  const formatError = { kind: 'error', id, rcode: Rcode.FORMERR, recursionDesired } as const;
  if (questions !== 1 || answers !== 0 || authorities !== 0 || additionals > 1) return formatError;

  const nameEnd = scanName(packet, HEADER_BYTES);
  if (nameEnd < 0 || nameEnd + 4 > length) return formatError;
  const type = (packet[nameEnd]! << 8) | packet[nameEnd + 1]!;
  const qclass = (packet[nameEnd + 2]! << 8) | packet[nameEnd + 3]!;
  const questionEnd = nameEnd + 4;

  let udpPayloadBytes = 0;
  let ednsVersion = -1;
  if (additionals === 1) {
    // The one additional record a query may carry is EDNS0's OPT: root name, type 41 (RFC 6891 §6.1.2).
    const at = questionEnd;
    if (at + 11 > length || packet[at] !== 0) return formatError;
    const optType = (packet[at + 1]! << 8) | packet[at + 2]!;
    if (optType !== RecordType.OPT) return formatError;
    const requested = (packet[at + 3]! << 8) | packet[at + 4]!;
    ednsVersion = packet[at + 6]!;
    const dataLength = (packet[at + 9]! << 8) | packet[at + 10]!;
    if (at + 11 + dataLength > length) return formatError;
    udpPayloadBytes = Math.min(UDP_PAYLOAD_BYTES_MAX, Math.max(UDP_PAYLOAD_BYTES_DEFAULT, requested));
  }
  return {
    kind: 'query', id, recursionDesired, questionEnd, type, qclass, udpPayloadBytes, ednsVersion,
  };
}

/**
 * Walks an uncompressed name starting at `offset`; returns the offset just
 * past its root label, or -1 if it is malformed: a compression pointer (not
 * allowed in a question, and the only way to build a loop), a reserved label
 * type, a label over 63 bytes, a name over 255 bytes, or the packet's end.
 */
export function scanName(packet: Uint8Array, offset: number): number {
  const length = packet.length;
  let at = offset;
  while (at < length) {
    const labelLength = packet[at]!;
    if (labelLength === 0) return at + 1 - offset > NAME_BYTES_MAX ? -1 : at + 1;
    if (labelLength > LABEL_BYTES_MAX) return -1;
    at += 1 + labelLength;
    if (at - offset >= NAME_BYTES_MAX) return -1;
  }
  return -1;
}

/**
 * The question's name as sent (case kept), dotted, with the final dot
 * (`web.service.consul.`; the root is "."), for a query parseQuery accepted.
 * Bytes outside printable ASCII are kept as latin1 characters: such names
 * match nothing.
 */
export function questionName(packet: Uint8Array, questionEnd: number): string {
  const end = questionEnd - 4;
  if (end - HEADER_BYTES === 1) return '.';
  let text = '';
  let at = HEADER_BYTES;
  while (at < end - 1) {
    const labelLength = packet[at]!;
    for (let i = at + 1; i <= at + labelLength; i++) text += String.fromCharCode(packet[i]!);
    text += '.';
    at += 1 + labelLength;
  }
  return text;
}

/** An error answer: the header only (no question: it may be what was wrong), RCODE set. */
export function errorResponse(id: number, rcode: number, recursionDesired: boolean, recursionAvailable: boolean): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  bytes[0] = id >> 8;
  bytes[1] = id & 0xff;
  const flags = Flag.QR | (recursionDesired ? Flag.RD : 0) | (recursionAvailable ? Flag.RA : 0) | rcode;
  bytes[2] = flags >> 8;
  bytes[3] = flags & 0xff;
  return bytes;
}

// ---------------------------------------------------------------- writing

/** Thrown by MessageWriter when a record does not fit; the caller rewinds to the last record boundary. */
export class MessageFull extends Error {
  constructor() {
    super('message full');
  }
}

/**
 * Writes one DNS message into a fixed buffer, compressing names (RFC 1035
 * §4.1.4) against every name and suffix already written. Writing past
 * `limitBytes` throws MessageFull; `mark()` and `rewind()` let the caller
 * drop the record that did not fit and keep the rest.
 */
export class MessageWriter {
  readonly limitBytes: number;
  private readonly bytes: Uint8Array;
  private at = 0;
  /** Lower-cased name suffix → offset where it was written (only offsets < 0x4000 can be pointed to). */
  private suffixes = new Map<string, number>();
  private suffixLog: string[] = [];

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
    this.bytes = new Uint8Array(limitBytes);
  }

  get length(): number {
    return this.at;
  }

  /** A position to rewind to: the byte offset and how many suffixes were known. */
  mark(): { at: number; suffixes: number } {
    return { at: this.at, suffixes: this.suffixLog.length };
  }

  rewind(mark: { at: number; suffixes: number }): void {
    this.at = mark.at;
    while (this.suffixLog.length > mark.suffixes) this.suffixes.delete(this.suffixLog.pop()!);
  }

  /** The message so far (a copy). */
  finish(): Uint8Array {
    return this.bytes.slice(0, this.at);
  }

  u8(value: number): void {
    if (this.at + 1 > this.limitBytes) throw new MessageFull();
    this.bytes[this.at++] = value;
  }

  u16(value: number): void {
    if (this.at + 2 > this.limitBytes) throw new MessageFull();
    this.bytes[this.at++] = (value >> 8) & 0xff;
    this.bytes[this.at++] = value & 0xff;
  }

  u32(value: number): void {
    this.u16(Math.floor(value / 0x10000) & 0xffff);
    this.u16(value & 0xffff);
  }

  raw(data: Uint8Array): void {
    if (this.at + data.length > this.limitBytes) throw new MessageFull();
    this.bytes.set(data, this.at);
    this.at += data.length;
  }

  /** Overwrite a 16-bit word already written (header counts). */
  patch16(offset: number, value: number): void {
    this.bytes[offset] = (value >> 8) & 0xff;
    this.bytes[offset + 1] = value & 0xff;
  }

  /**
   * Register the name at `offset` (already in the buffer, such as a question
   * copied from the query) for compression, so later records point at it.
   */
  knowName(name: string, offset: number): void {
    const labels = splitName(name);
    let at = offset;
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      if (at < 0x4000 && !this.suffixes.has(suffix)) this.remember(suffix, at);
      at += 1 + byteLength(labels[i]!);
    }
  }

  /** Write a name (dotted, final dot optional), pointing at the longest suffix already written. */
  name(name: string): void {
    const labels = splitName(name);
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const pointer = this.suffixes.get(suffix);
      if (pointer !== undefined) {
        this.u16(0xc000 | pointer);
        return;
      }
      if (this.at < 0x4000) this.remember(suffix, this.at);
      const label = encodeLabel(labels[i]!);
      this.u8(label.length);
      this.raw(label);
    }
    this.u8(0);
  }

  private remember(suffix: string, offset: number): void {
    this.suffixes.set(suffix, offset);
    this.suffixLog.push(suffix);
  }

  /** A resource record: owner name, type, class IN, TTL, then `data` writes the RDATA whose length is filled in. */
  record(owner: string | number, type: number, ttlSeconds: number, data: () => void): void {
    if (typeof owner === 'number') this.u16(0xc000 | owner);
    else this.name(owner);
    this.u16(type);
    this.u16(ClassIn);
    this.u32(ttlSeconds);
    const lengthAt = this.at;
    this.u16(0);
    data();
    this.patch16(lengthAt, this.at - lengthAt - 2);
  }

  /** EDNS0 OPT pseudo-record (RFC 6891 §6.1.2): our buffer size, extended rcode, version 0, no options. */
  opt(extendedRcode: number): void {
    this.u8(0);
    this.u16(RecordType.OPT);
    this.u16(UDP_PAYLOAD_BYTES_ADVERTISED);
    this.u8(extendedRcode);
    this.u8(0);
    this.u16(0);
    this.u16(0);
  }
}

/** The bytes of the RDATA of an A record, or null if `address` is not a dotted IPv4 address. */
export function ipv4Bytes(address: string): Uint8Array | null {
  const parts = address.split('.');
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    bytes[i] = value;
  }
  return bytes;
}

/** The 16 bytes of an IPv6 address (with `::` and an embedded IPv4 tail), or null. */
export function ipv6Bytes(address: string): Uint8Array | null {
  if (!address.includes(':') || address.length > 45) return null;
  let text = address;
  let tail: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = ipv4Bytes(text.slice(lastColon + 1));
    if (tail === null) return null;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (half: string) => (half === '' ? [] : half.split(':'));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const groups = halves.length === 2 ? [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest] : head;
  if (groups.length !== 8 || (halves.length === 2 && head.length + rest.length > 7)) return null;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const group = groups[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null;
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  }
  if (tail) bytes.set(tail, 12);
  return bytes;
}

/** Character-strings of a TXT record: each at most 255 bytes (RFC 1035 §3.3.14); longer text is split. */
export function txtStrings(text: string): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const strings: Uint8Array[] = [];
  for (let at = 0; at < bytes.length || strings.length === 0; at += 255) strings.push(bytes.subarray(at, at + 255));
  return strings;
}

function splitName(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed === '' ? [] : trimmed.split('.');
}

function encodeLabel(label: string): Uint8Array {
  const bytes = new TextEncoder().encode(label);
  if (bytes.length === 0 || bytes.length > LABEL_BYTES_MAX) throw new RangeError(`DNS label of ${bytes.length} bytes: ${JSON.stringify(label)}`);
  return bytes;
}

function byteLength(label: string): number {
  return new TextEncoder().encode(label).length;
}

// User events (`tribune event`, Consul's /v1/event/fire) on the datacenter's
// gossip topic `tribune/<dc>/events/1`. One message is one event:
//
//   byte     codec version (1)
//   16 bytes ID (a UUID, raw)
//   varint   LTime (the sender's Lamport time for events)
//   string   Name           (varint length + UTF-8; 1..EVENT_NAME_MAX_BYTES)
//   bytes    Payload        (varint length; ≤ EVENT_PAYLOAD_MAX_BYTES)
//   string   NodeFilter     (regex source, may be empty)
//   string   ServiceFilter
//   string   TagFilter
//
// Varints are unsigned LEB128, canonical, at most 2^53 - 1. The decoder
// accepts exactly what the encoder produces and throws DecodeError on
// anything else (filters are checked to compile as regexes on receipt, not
// here: a bad regex is the receiver's decision to drop, as Consul does).
//
//   const bytes = encodeUserEvent(event);
//   const back = decodeUserEvent(bytes);   // DecodeError on bad input

import { DecodeError, EncodeError } from './errors.ts';

export const EVENT_CODEC_VERSION = 1;
/** Consul's default (and our) payload limit in bytes. */
export const EVENT_PAYLOAD_MAX_BYTES = 512;
export const EVENT_NAME_MAX_BYTES = 256;
export const EVENT_FILTER_MAX_BYTES = 1024;
/** Largest encoded event: version + id + varint + 4 strings + payload with their lengths. */
export const EVENT_MESSAGE_MAX_BYTES = 1 + 16 + 8 + EVENT_NAME_MAX_BYTES + EVENT_PAYLOAD_MAX_BYTES + 3 * EVENT_FILTER_MAX_BYTES + 5 * 3;

export type UserEvent = {
  /** UUID, lower-case with dashes. */
  id: string;
  name: string;
  payload: Uint8Array;
  nodeFilter: string;
  serviceFilter: string;
  tagFilter: string;
  ltime: number;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WHAT = 'user event';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The topic user events travel on in a datacenter. */
export function eventTopic(datacenter: string): string {
  return `tribune/${datacenter}/events/1`;
}

export function encodeUserEvent(event: UserEvent): Uint8Array {
  if (!UUID.test(event.id)) throw new EncodeError('invalid-value', 'id', 'not a lower-case UUID');
  if (!Number.isSafeInteger(event.ltime) || event.ltime < 0) throw new EncodeError('invalid-number', 'ltime', `${event.ltime}`);
  const name = utf8(event.name, 'name', EVENT_NAME_MAX_BYTES);
  if (name.length === 0) throw new EncodeError('invalid-value', 'name', 'empty');
  if (event.payload.length > EVENT_PAYLOAD_MAX_BYTES) throw new EncodeError('too-large', 'payload', `${event.payload.length} bytes > ${EVENT_PAYLOAD_MAX_BYTES}`);
  const filters = [
    utf8(event.nodeFilter, 'nodeFilter', EVENT_FILTER_MAX_BYTES),
    utf8(event.serviceFilter, 'serviceFilter', EVENT_FILTER_MAX_BYTES),
    utf8(event.tagFilter, 'tagFilter', EVENT_FILTER_MAX_BYTES),
  ];
  const parts: number[] = [EVENT_CODEC_VERSION];
  const id = Buffer.from(event.id.replaceAll('-', ''), 'hex');
  parts.push(...id);
  pushVarint(parts, event.ltime);
  pushBytes(parts, name);
  pushBytes(parts, event.payload);
  for (const filter of filters) pushBytes(parts, filter);
  return Uint8Array.from(parts);
}

export function decodeUserEvent(bytes: Uint8Array): UserEvent {
  if (bytes.length > EVENT_MESSAGE_MAX_BYTES) throw new DecodeError('too-large', WHAT, `${bytes.length} bytes > ${EVENT_MESSAGE_MAX_BYTES}`, 0);
  const reader = new Reader(bytes);
  const version = reader.byte();
  if (version !== EVENT_CODEC_VERSION) throw new DecodeError('unknown-version', WHAT, `version ${version}`, 0);
  const idBytes = reader.take(16, 'id');
  const hex = Buffer.from(idBytes).toString('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const ltime = reader.varint();
  const name = reader.string('name', EVENT_NAME_MAX_BYTES);
  if (name.length === 0) throw new DecodeError('invalid-value', WHAT, 'empty name', reader.offset);
  const payload = reader.bytes('payload', EVENT_PAYLOAD_MAX_BYTES);
  const nodeFilter = reader.string('nodeFilter', EVENT_FILTER_MAX_BYTES);
  const serviceFilter = reader.string('serviceFilter', EVENT_FILTER_MAX_BYTES);
  const tagFilter = reader.string('tagFilter', EVENT_FILTER_MAX_BYTES);
  if (reader.offset !== bytes.length) throw new DecodeError('trailing-bytes', WHAT, `${bytes.length - reader.offset} bytes left`, reader.offset);
  return { id, name, payload: Uint8Array.from(payload), nodeFilter, serviceFilter, tagFilter, ltime };
}

function utf8(value: string, field: string, max: number): Uint8Array {
  if (LONE_SURROGATE.test(value)) throw new EncodeError('invalid-string', field, 'lone surrogate');
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > max) throw new EncodeError('too-large', field, `${bytes.length} bytes > ${max}`);
  return bytes;
}

function pushVarint(out: number[], value: number): void {
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

function pushBytes(out: number[], bytes: Uint8Array): void {
  pushVarint(out, bytes.length);
  for (const byte of bytes) out.push(byte);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // keep a leading U+FEFF: it is part of the name

class Reader {
  offset = 0;
  private readonly input: Uint8Array;
  constructor(input: Uint8Array) {
    this.input = input;
  }

  byte(): number {
    if (this.offset >= this.input.length) throw new DecodeError('truncated', WHAT, 'input ended', this.offset);
    return this.input[this.offset++]!;
  }

  take(length: number, field: string): Uint8Array {
    if (this.offset + length > this.input.length) {
      throw new DecodeError(length === 16 && field === 'id' ? 'truncated' : 'length-out-of-bounds', WHAT, `${field}: ${length} bytes past the end`, this.offset);
    }
    const slice = this.input.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  varint(): number {
    const start = this.offset;
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if (value > Number.MAX_SAFE_INTEGER || i >= 8) throw new DecodeError('unsafe-integer', WHAT, 'varint above 2^53 - 1', start);
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new DecodeError('non-canonical', WHAT, 'varint with a trailing zero group', start);
        return value;
      }
      scale *= 0x80;
    }
  }

  bytes(field: string, max: number): Uint8Array {
    const at = this.offset;
    const length = this.varint();
    if (length > max) throw new DecodeError('too-large', WHAT, `${field}: ${length} bytes > ${max}`, at);
    return this.take(length, field);
  }

  string(field: string, max: number): string {
    const at = this.offset;
    const bytes = this.bytes(field, max);
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw new DecodeError('invalid-utf8', WHAT, `${field} is not UTF-8`, at);
    }
  }
}

// Reading Consul's JSON objects as Consul does: field names match whatever
// their case and with or without underscores (`EnableTagOverride`,
// `enableTagOverride`, `enable_tag_override` are one field), because Go's JSON
// decoder ignores case and Consul translates the snake_case spellings of its
// config files. Values are checked strictly: a field of the wrong type is an
// error naming the field, never a silent default. Unknown fields are ignored,
// as Consul's decoder ignores them. Map keys (Meta, Header, TaggedAddresses)
// are data and are kept exactly as written.
//
//   const fields = new JsonFields(body, 'service');
//   const name = fields.string('Name');                 // '' when absent
//   const port = fields.integer('Port', { min: 0, max: 65_535 });
//
// Every problem is a DefinitionError whose message says where and what:
// `service.Port: must be an integer from 0 to 65535, got "80"`.

import { DurationError, parseDurationMs } from '../http/duration.ts';

/** A definition (service, check, catalog registration) that cannot be accepted; the HTTP layer answers 400 with the message. */
export class DefinitionError extends Error {
  override name = 'DefinitionError';
}

export function normalizeFieldName(name: string): string {
  return name.replace(/_/g, '').toLowerCase();
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short rendering of a value for messages: never the whole of a large value. */
export function showValue(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export class JsonFields {
  readonly where: string;
  private readonly values = new Map<string, { key: string; value: unknown }>();

  constructor(object: unknown, where: string) {
    this.where = where;
    if (!isPlainObject(object)) throw new DefinitionError(`${where}: must be a JSON object, got ${showValue(object)}`);
    for (const [key, value] of Object.entries(object)) {
      const normalized = normalizeFieldName(key);
      const previous = this.values.get(normalized);
      if (previous !== undefined) throw new DefinitionError(`${where}: ${previous.key} and ${key} are the same field, given twice`);
      this.values.set(normalized, { key, value });
    }
  }

  /** The raw value of the first of `names` present (null counts as absent, as Go decodes it). */
  get(...names: string[]): unknown {
    for (const name of names) {
      const found = this.values.get(normalizeFieldName(name));
      if (found !== undefined && found.value !== null) return found.value;
    }
    return undefined;
  }

  has(...names: string[]): boolean {
    return this.get(...names) !== undefined;
  }

  /** `service.Port` for messages. */
  path(name: string): string {
    return `${this.where}.${name}`;
  }

  fail(name: string, problem: string): never {
    throw new DefinitionError(`${this.path(name)}: ${problem}`);
  }

  string(name: string, ...aliases: string[]): string {
    const value = this.get(name, ...aliases);
    if (value === undefined) return '';
    if (typeof value !== 'string') this.fail(name, `must be a string, got ${showValue(value)}`);
    return value;
  }

  boolean(name: string, ...aliases: string[]): boolean {
    const value = this.get(name, ...aliases);
    if (value === undefined) return false;
    if (typeof value !== 'boolean') this.fail(name, `must be true or false, got ${showValue(value)}`);
    return value;
  }

  /** An integer within bounds; `fallback` when absent. */
  integer(name: string, bounds: { min: number; max: number; fallback?: number }, ...aliases: string[]): number {
    const value = this.get(name, ...aliases);
    if (value === undefined) return bounds.fallback ?? 0;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds.min || value > bounds.max) {
      this.fail(name, `must be an integer from ${bounds.min} to ${bounds.max}, got ${showValue(value)}`);
    }
    return value;
  }

  /** A Go duration string (`"10s"`, `"1m30s"`) in milliseconds; 0 when absent or empty. Negative is an error. */
  duration(name: string, ...aliases: string[]): number {
    const value = this.get(name, ...aliases);
    if (value === undefined || value === '') return 0;
    if (typeof value !== 'string') this.fail(name, `must be a duration string such as "10s", got ${showValue(value)}`);
    let ms: number;
    try {
      ms = parseDurationMs(value);
    } catch (error) {
      if (error instanceof DurationError) this.fail(name, error.message);
      throw error;
    }
    if (ms < 0) this.fail(name, `must not be negative, got ${showValue(value)}`);
    return ms;
  }

  stringList(name: string, ...aliases: string[]): string[] {
    const value = this.get(name, ...aliases);
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) this.fail(name, `must be a list of strings, got ${showValue(value)}`);
    return [...value] as string[];
  }

  /** A JSON object of string values, keys kept as written. */
  stringMap(name: string, ...aliases: string[]): Record<string, string> {
    const value = this.get(name, ...aliases);
    if (value === undefined) return {};
    if (!isPlainObject(value)) this.fail(name, `must be an object of strings, got ${showValue(value)}`);
    const map: Record<string, string> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (typeof inner !== 'string') this.fail(`${name}.${key}`, `must be a string, got ${showValue(inner)}`);
      defineEntry(map, key, inner);
    }
    return map;
  }

  /** A nested object's fields, or undefined when absent. */
  object(name: string, ...aliases: string[]): JsonFields | undefined {
    const value = this.get(name, ...aliases);
    if (value === undefined) return undefined;
    return new JsonFields(value, this.path(name));
  }

  /** A list of objects, each as fields. */
  objectList(name: string, ...aliases: string[]): JsonFields[] {
    const value = this.get(name, ...aliases);
    if (value === undefined) return [];
    if (!Array.isArray(value)) this.fail(name, `must be a list of objects, got ${showValue(value)}`);
    return value.map((item, index) => new JsonFields(item, `${this.path(name)}[${index}]`));
  }
}

/** Sets a key as plain data, so that a key named "__proto__" stays a key. */
export function defineEntry<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const META_KEY = /^[A-Za-z0-9_-]+$/;
/** Consul's metaMaxKeyPairs, metaKeyMaxLength, metaValueMaxLength. */
const META_PAIRS_MAX = 64;
const META_KEY_MAX_CHARS = 128;
const META_VALUE_MAX_CHARS = 512;

/** Consul's rules for node and service meta (structs.ValidateMetadata): keys of letters, digits, _ and -, none reserved. */
export function validateMeta(meta: Record<string, string>, where: string): void {
  const keys = Object.keys(meta);
  if (keys.length > META_PAIRS_MAX) throw new DefinitionError(`${where}: at most ${META_PAIRS_MAX} meta pairs are allowed, got ${keys.length}`);
  for (const key of keys) {
    if (key === '') throw new DefinitionError(`${where}: a meta key is empty`);
    if (key.length > META_KEY_MAX_CHARS) throw new DefinitionError(`${where}: meta key ${showValue(key)} is longer than ${META_KEY_MAX_CHARS} characters`);
    if (!META_KEY.test(key)) throw new DefinitionError(`${where}: meta key ${showValue(key)} may only contain letters, digits, "_" and "-"`);
    if (key.startsWith('consul-')) throw new DefinitionError(`${where}: meta key ${showValue(key)} uses the reserved prefix "consul-"`);
    if (meta[key]!.length > META_VALUE_MAX_CHARS) throw new DefinitionError(`${where}: the value of meta key ${showValue(key)} is longer than ${META_VALUE_MAX_CHARS} characters`);
  }
}

// Consul's service and check definitions, as the HTTP API
// (/v1/agent/service/register, /v1/agent/check/register) and the agent's
// config files (`service { … }`, `check { … }`) give them, turned into what
// the local agent runs and what the catalog stores.
//
//   const parsed = parseServiceDefinition(body, { enableScriptChecks: false });
//   parsed.service   // CatalogService: ID defaulted to the name, weights to {1, 1}
//   parsed.checks    // LocalCheckDefinition[]: IDs `service:web`, `service:web:2`, …
//
// Field names match in any case and with underscores (json-fields.ts). A
// definition that is wrong in any way is a DefinitionError saying what is
// wrong; nothing partial is ever returned. Limits shared with the replicated
// state (name lengths, meta sizes, check text) are checked again, exactly,
// when the agent encodes its catalog command (checkEncodable).

import { EncodeError } from '../../protocol/errors.ts';
import { CHECK_STATUSES, encodeStateCommand } from '../../protocol/state-commands.ts';
import type { CatalogCheck, CatalogService, CheckStatus, ServiceAddress, StateCommand } from '../../protocol/state-commands.ts';
import { formatDuration } from '../http/duration.ts';
import { defineEntry, DefinitionError, isPlainObject, JsonFields, showValue, validateMeta } from './json-fields.ts';

export type CheckKind = 'http' | 'tcp' | 'ttl' | 'script';

export type HttpCheckTarget = {
  url: string;
  method: string;
  headers: Record<string, string[]>;
  body: string;
  tlsSkipVerify: boolean;
  disableRedirects: boolean;
};

/** A check the local agent runs (or, for TTL, waits on), with its catalog identity. */
export type LocalCheckDefinition = {
  checkId: string;
  name: string;
  /** The local service it belongs to, or '' for a node check. */
  serviceId: string;
  notes: string;
  kind: CheckKind;
  /** The status before the first result; Consul's default is critical. */
  initialStatus: CheckStatus;
  /** Whether `Status` was given: a re-registration without it keeps the current status. */
  statusGiven: boolean;
  /** Interval checks (http, tcp, script): time between the end of one run and the start of the next. */
  intervalMs: number;
  /** How long one run may take before it counts as critical. */
  timeoutMs: number;
  /** TTL checks: critical if no update arrives within this. */
  ttlMs: number;
  http: HttpCheckTarget | null;
  /** TCP checks: `host:port`. */
  tcp: string;
  /** Script checks: the command and its arguments (a `Script` becomes `sh -c SCRIPT`). */
  args: string[];
  /** Consecutive successes needed before passing is reported (Consul's SuccessBeforePassing). */
  successBeforePassing: number;
  /** Consecutive failures before critical is reported (FailuresBeforeCritical); warning before that from failuresBeforeWarning. */
  failuresBeforeCritical: number;
  failuresBeforeWarning: number;
  /** 0, or: deregister the check's service once the check has been critical this long. */
  deregisterCriticalServiceAfterMs: number;
  /** Consul's catalog `Definition` object, as JSON text. */
  definition: string;
};

export type LocalServiceDefinition = {
  service: CatalogService;
  checks: LocalCheckDefinition[];
};

export type DefinitionOptions = {
  /** Whether script (Args/Script) checks may be registered (-enable-script-checks). */
  enableScriptChecks: boolean;
  /** Shortest interval: shorter ones are raised to it, as Consul raises them to 1 s. */
  minCheckIntervalMs?: number;
  /** Shortest DeregisterCriticalServiceAfter: shorter ones are raised to it (Consul: 1 minute). */
  minDeregisterCriticalServiceAfterMs?: number;
};

/** Consul's checks.MinInterval. */
export const CHECK_INTERVAL_MS_MIN = 1_000;
/** Consul's default check timeout. */
export const CHECK_TIMEOUT_MS_DEFAULT = 10_000;
/** Consul raises DeregisterCriticalServiceAfter to at least a minute. */
export const DEREGISTER_CRITICAL_MS_MIN = 60_000;

/** Consul's message, word for word: clients and runbooks look for it. */
export const SCRIPT_CHECKS_DISABLED_MESSAGE = "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' to true";

const UNSUPPORTED_CHECK_FIELDS: readonly [string, string][] = [
  ['GRPC', 'gRPC'], ['H2PING', 'H2PING'], ['UDP', 'UDP'], ['DockerContainerID', 'Docker'], ['AliasNode', 'alias'],
  ['AliasService', 'alias'], ['OSService', 'OS service'],
];

// ---------------------------------------------------------------- services

/** A service definition (HTTP body or config-file block) with its embedded Check/Checks. */
export function parseServiceDefinition(raw: unknown, options: DefinitionOptions, where = 'service'): LocalServiceDefinition {
  const fields = new JsonFields(raw, where);
  const service = serviceFromFields(fields, 'Missing service name');
  const { id, service: name } = service;
  const checkFields: JsonFields[] = [];
  const single = fields.object('Check');
  if (single !== undefined) checkFields.push(single);
  checkFields.push(...fields.objectList('Checks'));
  const checks = checkFields.map((check, index) => parseCheck(check, options, {
    serviceId: id,
    defaultId: checkFields.length > 1 ? `service:${id}:${index + 1}` : `service:${id}`,
    defaultName: `Service '${name}' check`,
  }));
  const seen = new Set<string>();
  for (const check of checks) {
    if (seen.has(check.checkId)) throw new DefinitionError(`${where}: check ID ${showValue(check.checkId)} is used twice`);
    seen.add(check.checkId);
  }
  return { service, checks };
}

/**
 * The service part of a definition: `Name` (or `Service`, as the catalog
 * spells it), `ID` defaulting to the name, tags, address, tagged addresses,
 * meta (Consul's rules), port, weights (default 1/1), EnableTagOverride.
 * `missingName` is the message when there is no name.
 */
export function serviceFromFields(fields: JsonFields, missingName: string): CatalogService {
  const name = fields.string('Name', 'Service');
  if (name === '') throw new DefinitionError(missingName);
  const meta = fields.stringMap('Meta');
  validateMeta(meta, fields.path('Meta'));
  return {
    id: fields.string('ID') || name,
    service: name,
    tags: fields.stringList('Tags'),
    address: fields.string('Address'),
    taggedAddresses: serviceTaggedAddresses(fields),
    meta,
    port: fields.integer('Port', { min: 0, max: 65_535 }),
    weights: weights(fields),
    enableTagOverride: fields.boolean('EnableTagOverride'),
  };
}

function serviceTaggedAddresses(fields: JsonFields): Record<string, ServiceAddress> {
  const value = fields.get('TaggedAddresses');
  if (value === undefined) return {};
  if (!isPlainObject(value)) fields.fail('TaggedAddresses', `must be an object of {Address, Port}, got ${showValue(value)}`);
  const addresses: Record<string, ServiceAddress> = {};
  for (const [key, inner] of Object.entries(value)) {
    const entry = new JsonFields(inner, fields.path(`TaggedAddresses.${key}`));
    defineEntry(addresses, key, { address: entry.string('Address'), port: entry.integer('Port', { min: 0, max: 65_535 }) });
  }
  return addresses;
}

function weights(fields: JsonFields): { passing: number; warning: number } {
  const value = fields.object('Weights');
  if (value === undefined) return { passing: 1, warning: 1 };
  return {
    passing: value.integer('Passing', { min: 1, max: 65_535, fallback: 1 }),
    warning: value.integer('Warning', { min: 0, max: 65_535, fallback: 1 }),
  };
}

// ---------------------------------------------------------------- checks

/**
 * A standalone check (PUT /v1/agent/check/register, a config-file `check`
 * block). `Name` is required; the ID defaults to it. A `ServiceID` is
 * checked against the agent's services by the caller.
 */
export function parseCheckDefinition(raw: unknown, options: DefinitionOptions, where = 'check'): LocalCheckDefinition {
  const fields = new JsonFields(raw, where);
  const name = fields.string('Name');
  if (name === '') throw new DefinitionError('Missing check name');
  return parseCheck(fields, options, { serviceId: fields.string('ServiceID', 'service_id'), defaultId: name, defaultName: name });
}

function parseCheck(fields: JsonFields, options: DefinitionOptions, defaults: { serviceId: string; defaultId: string; defaultName: string }): LocalCheckDefinition {
  for (const [field, what] of UNSUPPORTED_CHECK_FIELDS) {
    if (fields.has(field)) throw new DefinitionError(`${fields.path(field)}: ${what} checks are not supported by this agent (use HTTP, TCP, TTL or Args)`);
  }
  const checkId = fields.string('CheckID', 'ID') || defaults.defaultId;
  const name = fields.string('Name') || defaults.defaultName;
  const statusText = fields.string('Status');
  if (statusText !== '' && !(CHECK_STATUSES as readonly string[]).includes(statusText)) {
    fields.fail('Status', `must be passing, warning or critical, got ${showValue(statusText)}`);
  }
  const kinds: CheckKind[] = [];
  const httpUrl = fields.string('HTTP');
  const tcp = fields.string('TCP');
  const ttlMs = fields.duration('TTL');
  const script = fields.string('Script');
  let args = fields.stringList('Args', 'ScriptArgs');
  if (httpUrl !== '') kinds.push('http');
  if (tcp !== '') kinds.push('tcp');
  if (ttlMs > 0) kinds.push('ttl');
  if (args.length > 0 || script !== '') kinds.push('script');
  if (kinds.length === 0) {
    throw new DefinitionError(`${fields.where}: a check needs one of HTTP, TCP or Args/Script with an Interval, or a TTL`);
  }
  if (kinds.length > 1) throw new DefinitionError(`${fields.where}: a check runs one of HTTP, TCP, TTL or Args/Script, not ${kinds.join(' and ')}`);
  const kind = kinds[0]!;
  if (kind === 'script') {
    if (!options.enableScriptChecks) throw new DefinitionError(SCRIPT_CHECKS_DISABLED_MESSAGE);
    if (args.length === 0) args = ['/bin/sh', '-c', script];
    else if (script !== '') fields.fail('Script', 'give Args or Script, not both');
    if (args[0] === '') fields.fail('Args', 'the command (first argument) is empty');
  }
  const intervalRaw = fields.duration('Interval');
  let intervalMs = 0;
  if (kind === 'ttl') {
    if (intervalRaw > 0) throw new DefinitionError(`${fields.where}: Interval and TTL cannot both be specified`);
  } else {
    if (intervalRaw <= 0) throw new DefinitionError(`${fields.where}: Interval must be > 0 for script, HTTP and TCP checks`);
    intervalMs = Math.max(intervalRaw, options.minCheckIntervalMs ?? CHECK_INTERVAL_MS_MIN);
  }
  const timeoutRaw = fields.duration('Timeout');
  const timeoutMs = timeoutRaw > 0 ? timeoutRaw : CHECK_TIMEOUT_MS_DEFAULT;
  const http = kind === 'http' ? httpTarget(fields, httpUrl) : null;
  if (kind === 'tcp') tcpTarget(fields, tcp);
  const failuresBeforeCritical = fields.integer('FailuresBeforeCritical', { min: 0, max: 1_000_000 });
  const check: LocalCheckDefinition = {
    checkId,
    name,
    serviceId: defaults.serviceId,
    notes: fields.string('Notes'),
    kind,
    initialStatus: (statusText || 'critical') as CheckStatus,
    statusGiven: statusText !== '',
    intervalMs,
    timeoutMs,
    ttlMs,
    http,
    tcp: kind === 'tcp' ? tcp : '',
    args: kind === 'script' ? args : [],
    successBeforePassing: fields.integer('SuccessBeforePassing', { min: 0, max: 1_000_000 }),
    failuresBeforeCritical,
    failuresBeforeWarning: fields.integer('FailuresBeforeWarning', { min: 0, max: 1_000_000, fallback: failuresBeforeCritical }),
    deregisterCriticalServiceAfterMs: deregisterAfter(fields, options),
    definition: '',
  };
  check.definition = catalogDefinition(check);
  return check;
}

function deregisterAfter(fields: JsonFields, options: DefinitionOptions): number {
  const ms = fields.duration('DeregisterCriticalServiceAfter');
  return ms === 0 ? 0 : Math.max(ms, options.minDeregisterCriticalServiceAfterMs ?? DEREGISTER_CRITICAL_MS_MIN);
}

function httpTarget(fields: JsonFields, url: string): HttpCheckTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fields.fail('HTTP', `must be an http:// or https:// URL, got ${showValue(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fields.fail('HTTP', `must be an http:// or https:// URL, got ${showValue(url)}`);
  const method = fields.string('Method') || 'GET';
  if (!/^[A-Za-z]+$/.test(method)) fields.fail('Method', `must be an HTTP method such as GET, got ${showValue(method)}`);
  return {
    url,
    method: method.toUpperCase(),
    headers: headers(fields),
    body: fields.string('Body'),
    tlsSkipVerify: fields.boolean('TLSSkipVerify'),
    disableRedirects: fields.boolean('DisableRedirects'),
  };
}

/** Consul's Header is map[string][]string; a single string per name is accepted too. */
function headers(fields: JsonFields): Record<string, string[]> {
  const value = fields.get('Header');
  if (value === undefined) return {};
  if (!isPlainObject(value)) fields.fail('Header', `must be an object of header name to a list of values, got ${showValue(value)}`);
  const result: Record<string, string[]> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key)) fields.fail('Header', `${showValue(key)} is not a valid header name`);
    const values = typeof inner === 'string' ? [inner] : inner;
    if (!Array.isArray(values) || !values.every((item) => typeof item === 'string' && !/[\r\n\0]/.test(item))) {
      fields.fail(`Header.${key}`, `must be a list of strings without line breaks, got ${showValue(inner)}`);
    }
    defineEntry(result, key, [...values] as string[]);
  }
  return result;
}

function tcpTarget(fields: JsonFields, target: string): void {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(target);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65_535) fields.fail('TCP', `must be host:port, got ${showValue(target)}`);
}

/** Consul's HealthCheckDefinition for the catalog: what runs the check, durations as Go strings. Fixed key order. */
function catalogDefinition(check: LocalCheckDefinition): string {
  const definition: Record<string, unknown> = {};
  if (check.http) {
    definition.HTTP = check.http.url;
    if (check.http.method !== 'GET') definition.Method = check.http.method;
    if (Object.keys(check.http.headers).length > 0) definition.Header = check.http.headers;
    if (check.http.body !== '') definition.Body = check.http.body;
    if (check.http.tlsSkipVerify) definition.TLSSkipVerify = true;
    if (check.http.disableRedirects) definition.DisableRedirects = true;
  }
  if (check.tcp !== '') definition.TCP = check.tcp;
  if (check.args.length > 0) definition.ScriptArgs = check.args;
  if (check.kind === 'ttl') definition.TTL = formatDuration(check.ttlMs);
  if (check.intervalMs > 0) {
    definition.Interval = formatDuration(check.intervalMs);
    definition.Timeout = formatDuration(check.timeoutMs);
  }
  if (check.deregisterCriticalServiceAfterMs > 0) definition.DeregisterCriticalServiceAfter = formatDuration(check.deregisterCriticalServiceAfterMs);
  return JSON.stringify(definition);
}

/** The catalog form of a local check with its current status and output. */
export function catalogCheck(check: LocalCheckDefinition, status: CheckStatus, output: string): CatalogCheck {
  return {
    checkId: check.checkId,
    name: check.name,
    status,
    notes: check.notes,
    output,
    serviceId: check.serviceId,
    type: check.kind,
    definition: check.definition,
  };
}

/**
 * Whether `command` fits the replicated state's limits (name and text
 * lengths, counts): the exact rules the leader's codec applies, checked
 * before anything is stored so that a bad registration is a 400 and never a
 * write that fails later. Throws DefinitionError with the codec's reason.
 */
export function checkEncodable(command: StateCommand): void {
  try {
    encodeStateCommand(command);
  } catch (error) {
    if (error instanceof EncodeError) {
      const detail = error.message.replace(/^cannot encode /, '').replace(/ \([a-z-]+\)$/, '');
      throw new DefinitionError(`Invalid registration: ${detail}`);
    }
    throw error;
  }
}

/** Check output is cut to this many UTF-8 bytes (Consul's default OutputMaxSize, and the catalog's limit). */
export const CHECK_OUTPUT_MAX_BYTES = 4_096;

/** `text` cut to at most `maxBytes` of UTF-8, never inside a character. */
export function truncateUtf8(text: string, maxBytes: number = CHECK_OUTPUT_MAX_BYTES): string {
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back to a character start
  return bytes.subarray(0, end).toString('utf8');
}

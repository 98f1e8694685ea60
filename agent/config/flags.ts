// Command-line flags the Consul way, and the agent's config files.
//
//   const loaded = await loadAgentConfig(['-data-dir', 'data', '-retry-join=127.0.0.12', '-config-dir', 'conf']);
//   if (loaded.errors.length > 0) { for (const e of loaded.errors) console.error(e); }
//   else start(loaded.config);
//
// Flags follow Go's `flag` package, which Consul users' fingers know: one or
// two dashes (`-join`, `--join`), the value after `=` or as the next
// argument, booleans as bare flags (`-dev`, or `-dev=false`), flag parsing
// ends at the first non-flag argument or at `--`. `parseFlags` is generic
// (every CLI command uses it); the rest of this file builds an `AgentConfig`
// from, lowest precedence first: the profile (`-dev` or not), config files in
// command-line order (`-config-dir` contributes its *.json and *.hcl files in
// sorted order), then flags. A later scalar replaces an earlier one; lists
// (join, retry_join, services, checks) accumulate, as in Consul.

import { readFile, readdir } from 'node:fs/promises';
import { resolve, join as joinPath } from 'node:path';
import { hostname } from 'node:os';
import { defaultAgentConfig, devAgentConfig, validate } from './agent-config.ts';
import type { AgentConfig, ConfigField, FieldOrigin, LogLevel } from './agent-config.ts';

// ---------------------------------------------------------------------------
// Generic flag parsing

export type FlagKind = 'string' | 'bool' | 'list';

export type FlagSpec = {
  /** Without dashes: `retry-join`. */
  name: string;
  /** `string`: one value, the last one wins; `list`: repeatable; `bool`: no value needed. */
  kind: FlagKind;
  /** One paragraph for `-h`. */
  usage: string;
  /** What the value is, for `-h`: `-data-dir=<path>`. Default `value`. */
  placeholder?: string;
};

export type FlagOccurrence = { name: string; value: string | boolean };

export type ParsedFlags = {
  /** Every flag as given, in command-line order (a repeated flag appears once per use). */
  occurrences: FlagOccurrence[];
  /** The arguments after the flags. */
  positionals: string[];
  /** One message per bad flag; parsing goes on after an error so that all are reported. */
  errors: string[];
  /** `-h`, `-help` or `--help` was given. */
  help: boolean;
};

const HELP_FLAGS = new Set(['h', 'help']);

export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const parsed: ParsedFlags = { occurrences: [], positionals: [], errors: [], help: false };
  let index = 0;
  while (index < argv.length) {
    const token = argv[index]!;
    if (token === '--') { index++; break; }
    if (!token.startsWith('-') || token === '-') break;
    index++;
    const body = token.startsWith('--') ? token.slice(2) : token.slice(1);
    const equals = body.indexOf('=');
    const name = equals === -1 ? body : body.slice(0, equals);
    const inline = equals === -1 ? undefined : body.slice(equals + 1);
    if (name.length === 0 || name.startsWith('-') || name.startsWith('=')) {
      parsed.errors.push(`bad flag syntax: ${token}`);
      continue;
    }
    if (HELP_FLAGS.has(name)) { parsed.help = true; continue; }
    const spec = byName.get(name);
    if (spec === undefined) {
      parsed.errors.push(unknownFlagMessage(name, specs));
      // Skip what is most likely its value, so that it is not taken for the first argument.
      if (inline === undefined && index < argv.length && !argv[index]!.startsWith('-')) index++;
      continue;
    }
    if (spec.kind === 'bool') {
      if (inline === undefined) { parsed.occurrences.push({ name, value: true }); continue; }
      const value = parseBoolean(inline);
      if (value === undefined) parsed.errors.push(`invalid boolean value "${inline}" for -${name}: use -${name} or -${name}=false`);
      else parsed.occurrences.push({ name, value });
      continue;
    }
    if (inline !== undefined) { parsed.occurrences.push({ name, value: inline }); continue; }
    const next = argv[index];
    if (next === undefined || looksLikeKnownFlag(next, byName)) {
      parsed.errors.push(`flag needs an argument: -${name}`);
      continue;
    }
    parsed.occurrences.push({ name, value: next });
    index++;
  }
  parsed.positionals.push(...argv.slice(index));
  return parsed;
}

/** The last value given for a string flag. */
export function stringFlag(parsed: ParsedFlags, name: string): string | undefined {
  const found = parsed.occurrences.findLast((occurrence) => occurrence.name === name);
  return typeof found?.value === 'string' ? found.value : undefined;
}

/** Every value given for a repeatable flag, in order. */
export function listFlag(parsed: ParsedFlags, name: string): string[] {
  return parsed.occurrences.filter((o) => o.name === name && typeof o.value === 'string').map((o) => o.value as string);
}

export function boolFlag(parsed: ParsedFlags, name: string): boolean {
  const found = parsed.occurrences.findLast((occurrence) => occurrence.name === name);
  return found?.value === true;
}

/** `-name=<value>` lines with wrapped, indented usage, as Consul's `-h` prints them. */
export function formatFlagsHelp(specs: readonly FlagSpec[]): string {
  return [...specs].sort((a, b) => a.name.localeCompare(b.name)).map((spec) => {
    const head = spec.kind === 'bool' ? `  -${spec.name}` : `  -${spec.name}=<${spec.placeholder ?? 'value'}>`;
    return `${head}\n${wrap(spec.usage, 72, '     ')}`;
  }).join('\n\n');
}

export function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length > 0 && indent.length + line.length + 1 + word.length > width) { lines.push(indent + line); line = word; }
    else line = line.length > 0 ? `${line} ${word}` : word;
  }
  if (line.length > 0) lines.push(indent + line);
  return lines.join('\n');
}

function unknownFlagMessage(name: string, specs: readonly FlagSpec[]): string {
  const suggestion = closestMatch(name, specs.map((spec) => spec.name));
  return `unknown flag -${name}` + (suggestion === undefined ? '' : ` (did you mean -${suggestion}?)`);
}

function looksLikeKnownFlag(token: string, byName: ReadonlyMap<string, FlagSpec>): boolean {
  if (!token.startsWith('-') || token === '-') return false;
  const name = token.replace(/^--?/, '').split('=')[0]!;
  return byName.has(name) || HELP_FLAGS.has(name);
}

function parseBoolean(text: string): boolean | undefined {
  // strconv.ParseBool's spellings.
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(text)) return false;
  return undefined;
}

/**
 * The candidate a user most likely meant by `word`, or undefined if none is
 * close: within an edit distance of about a third of the word (at least 2),
 * or one a prefix of the other (`-bootstrap` for `-bootstrap-expect`).
 * `-`, `_` and case are not told apart, so `-data_dir` finds `-data-dir`.
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const normal = (text: string) => text.toLowerCase().replaceAll('_', '-');
  const target = normal(word);
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const other = normal(candidate);
    const distance = editDistance(target, other);
    const shorter = Math.min(target.length, other.length);
    const prefix = shorter >= 3 && (other.startsWith(target) || target.startsWith(other));
    const close = distance <= Math.max(2, Math.floor(target.length / 3));
    if (!close && !prefix) continue;
    if (best === undefined || distance < best.distance) best = { candidate, distance };
  }
  return best?.candidate;
}

/** Levenshtein distance, two rows of memory. */
export function editDistance(source: string, target: string): number {
  let previous = Array.from({ length: target.length + 1 }, (_, i) => i);
  for (let i = 1; i <= source.length; i++) {
    const current = [i];
    for (let j = 1; j <= target.length; j++) {
      const substitution = previous[j - 1]! + (source[i - 1] === target[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[target.length]!;
}

// ---------------------------------------------------------------------------
// Durations, Go style: "30s", "500ms", "1m30s", "1.5h".

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Milliseconds in a Go duration string, or undefined if it is not one. "0" is 0. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (!/^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(amount) * DURATION_UNITS_MS[unit!]!;
  return Math.round(total);
}

/** The shortest Go-style spelling of a whole number of milliseconds: 1500 -> "1.5s", 90000 -> "1m30s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1_000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1_000;
  return `${hours > 0 ? `${hours}h` : ''}${minutes > 0 ? `${minutes}m` : ''}${seconds > 0 ? `${seconds}s` : ''}`;
}

// ---------------------------------------------------------------------------
// Values: one converter per kind of setting, shared by flags and files.

type Converted = { ok: true; value: unknown } | { ok: false; problem: string };

type ValueKind =
  | { kind: 'text' }
  | { kind: 'lowercase' }
  | { kind: 'integer'; expect: string }
  | { kind: 'bool' }
  | { kind: 'duration' }
  | { kind: 'durationMap' }
  | { kind: 'list' }
  | { kind: 'logLevel' }
  | { kind: 'voters' }
  | { kind: 'domain' };

const TEXT: ValueKind = { kind: 'text' };
const POSITIVE_INTEGER: ValueKind = { kind: 'integer', expect: 'a positive integer' };
const NON_NEGATIVE_INTEGER: ValueKind = { kind: 'integer', expect: 'a non-negative integer' };
const PORT: ValueKind = { kind: 'integer', expect: 'a port number (1-65535)' };
const PORT_OR_DISABLED: ValueKind = { kind: 'integer', expect: 'a port number (1-65535) or -1 to disable' };
const LOG_LEVEL_ALIASES: Record<string, LogLevel> = {
  trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', err: 'error', error: 'error',
};

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function convert(kind: ValueKind, value: unknown): Converted {
  switch (kind.kind) {
    case 'text':
      return typeof value === 'string' ? { ok: true, value } : { ok: false, problem: `must be a string, got ${show(value)}` };
    case 'lowercase':
      return typeof value === 'string' ? { ok: true, value: value.toLowerCase() } : { ok: false, problem: `must be a string, got ${show(value)}` };
    case 'integer': {
      const number = typeof value === 'number' ? value : typeof value === 'string' && /^[+-]?\d+$/.test(value.trim()) ? Number(value) : NaN;
      return Number.isSafeInteger(number) ? { ok: true, value: number } : { ok: false, problem: `must be ${kind.expect}, got ${show(value)}` };
    }
    case 'bool': {
      const bool = typeof value === 'boolean' ? value : typeof value === 'string' ? parseBoolean(value) : undefined;
      return bool === undefined ? { ok: false, problem: `must be true or false, got ${show(value)}` } : { ok: true, value: bool };
    }
    case 'duration': {
      const ms = typeof value === 'string' ? parseDuration(value.trim()) : undefined;
      return ms === undefined ? { ok: false, problem: `must be a duration such as "30s" or "500ms", got ${show(value)}` } : { ok: true, value: ms };
    }
    case 'durationMap': {
      // Consul's service_ttl: { "*" = "5s", web = "30s" }.
      if (!isPlainObject(value)) return { ok: false, problem: `must be a block of name = duration, got ${show(value)}` };
      const map: Record<string, number> = {};
      for (const [name, text] of Object.entries(value)) {
        const ms = typeof text === 'string' ? parseDuration(text.trim()) : undefined;
        if (ms === undefined) return { ok: false, problem: `"${name}" must be a duration such as "30s" or "500ms", got ${show(text)}` };
        Object.defineProperty(map, name, { value: ms, enumerable: true, writable: true, configurable: true });
      }
      return { ok: true, value: map };
    }
    case 'list': {
      const list = typeof value === 'string' ? [value] : value;
      if (Array.isArray(list) && list.every((item) => typeof item === 'string')) return { ok: true, value: list };
      return { ok: false, problem: `must be a list of strings, got ${show(value)}` };
    }
    case 'logLevel': {
      const level = typeof value === 'string' ? LOG_LEVEL_ALIASES[value.trim().toLowerCase()] : undefined;
      return level === undefined ? { ok: false, problem: `must be one of trace, debug, info, warn, error, got ${show(value)}` } : { ok: true, value: level };
    }
    case 'voters': {
      if (value === 'auto') return { ok: true, value };
      const number = convert(POSITIVE_INTEGER, value);
      return number.ok ? number : { ok: false, problem: `must be "auto" or a positive integer, got ${show(value)}` };
    }
    case 'domain': {
      if (typeof value !== 'string') return { ok: false, problem: `must be a string, got ${show(value)}` };
      const domain = value.trim().toLowerCase();
      return { ok: true, value: domain.endsWith('.') ? domain : `${domain}.` };
    }
  }
}

/** Writes a converted value into the config: lists accumulate, everything else replaces. */
function assign(config: AgentConfig, field: ConfigField, value: unknown): void {
  if (field.startsWith('membership.')) {
    const key = field.slice('membership.'.length) as keyof AgentConfig['membership'];
    config.membership[key] = value as number;
    return;
  }
  if (field.startsWith('dnsConfig.')) {
    const key = field.slice('dnsConfig.'.length) as keyof AgentConfig['dnsConfig'];
    (config.dnsConfig as Record<string, unknown>)[key] = value;
    return;
  }
  const target = config as Record<string, unknown>;
  if (field === 'join' || field === 'retryJoin' || field === 'recursors') target[field] = [...config[field], ...(value as string[])];
  else target[field] = value;
}

// ---------------------------------------------------------------------------
// The agent's flags

type AgentFlag = FlagSpec & { field?: ConfigField; value?: ValueKind };

/** Every flag of `tribune agent`. Flags without a field are handled by the loader itself. */
export const AGENT_FLAGS: readonly AgentFlag[] = [
  { name: 'alt-domain', kind: 'string', placeholder: 'domain', field: 'altDomain', value: { kind: 'domain' },
    usage: 'A second DNS domain answered like -domain. Defaults to none.' },
  { name: 'advertise', kind: 'string', placeholder: 'address', field: 'advertiseAddr', value: TEXT,
    usage: 'The address other agents are told to reach this one at. Defaults to the bind address, or the only private IPv4 address when bound to 0.0.0.0.' },
  { name: 'bind', kind: 'string', placeholder: 'address', field: 'bindAddr', value: TEXT,
    usage: 'The address the mesh listens on and dials from. Defaults to 0.0.0.0 (127.0.0.1 with -dev). Give each agent on one machine its own address.' },
  { name: 'bootstrap-expect', kind: 'string', placeholder: 'n', field: 'bootstrapExpect', value: POSITIVE_INTEGER,
    usage: 'Wait for this many members, then choose the Raft voters and bootstrap the cluster. Give every agent of a new cluster the same value.' },
  { name: 'client', kind: 'string', placeholder: 'address', field: 'clientAddr', value: TEXT,
    usage: 'The address the HTTP API and DNS listen on. Defaults to 127.0.0.1.' },
  { name: 'config-dir', kind: 'list', placeholder: 'path',
    usage: 'Read every *.json and *.hcl file in this directory, in sorted order. Can be specified multiple times.' },
  { name: 'config-file', kind: 'list', placeholder: 'path',
    usage: 'Read an agent config file (HCL or JSON, Consul\'s keys). Can be specified multiple times; later files override earlier ones and flags override files.' },
  { name: 'data-dir', kind: 'string', placeholder: 'path', field: 'dataDir', value: TEXT,
    usage: 'Where the agent keeps its identity key and its Raft state. Required unless -dev.' },
  { name: 'datacenter', kind: 'string', placeholder: 'name', field: 'datacenter', value: { kind: 'lowercase' },
    usage: 'The datacenter this agent belongs to. Defaults to dc1.' },
  { name: 'dev', kind: 'bool',
    usage: 'Development mode: a single agent on 127.0.0.1 with in-memory storage that bootstraps itself at once. Nothing is kept.' },
  { name: 'dns-port', kind: 'string', placeholder: 'port', field: 'dnsPort', value: PORT_OR_DISABLED,
    usage: 'DNS port (UDP and TCP). Defaults to 8600; -1 disables DNS.' },
  { name: 'domain', kind: 'string', placeholder: 'domain', field: 'domain', value: { kind: 'domain' },
    usage: 'The DNS domain to answer for. Defaults to consul.' },
  { name: 'enable-script-checks', kind: 'bool', field: 'enableScriptChecks', value: { kind: 'bool' },
    usage: 'Allow health checks that run commands. Off by default: anyone who can register a check could run code on this machine.' },
  { name: 'encrypt', kind: 'string', placeholder: 'key', field: 'encrypt', value: TEXT,
    usage: 'The cluster key (from `tribune keygen`). Agents without it cannot connect to this one.' },
  { name: 'http-port', kind: 'string', placeholder: 'port', field: 'httpPort', value: PORT_OR_DISABLED,
    usage: 'HTTP API port. Defaults to 8500; -1 disables the HTTP API.' },
  { name: 'join', kind: 'list', placeholder: 'address', field: 'join', value: { kind: 'list' },
    usage: 'Join this agent (host, host:port or multiaddr) at startup; fail if none answers. Can be specified multiple times.' },
  { name: 'log-level', kind: 'string', placeholder: 'level', field: 'logLevel', value: { kind: 'logLevel' },
    usage: 'One of trace, debug, info, warn, error. Defaults to info (debug with -dev).' },
  { name: 'node', kind: 'string', placeholder: 'name', field: 'nodeName', value: TEXT,
    usage: 'This agent\'s name, unique in the datacenter. Defaults to the hostname.' },
  { name: 'port', kind: 'string', placeholder: 'port', field: 'meshPort', value: PORT,
    usage: 'Mesh (gossip, Raft, RPC) TCP port. Defaults to 8301.' },
  { name: 'raft-voters', kind: 'string', placeholder: 'n', field: 'raftVoters', value: { kind: 'voters' },
    usage: 'How many Raft voters to keep: "auto" (3, or 5 from 5 members up) or a number.' },
  { name: 'recursor', kind: 'list', placeholder: 'address', field: 'recursors', value: { kind: 'list' },
    usage: 'An upstream DNS server (IP or IP:port) for names outside the DNS domain. Can be specified multiple times, tried in order. Without one, such names are refused.' },
  { name: 'retry-interval', kind: 'string', placeholder: 'duration', field: 'retryIntervalMs', value: { kind: 'duration' },
    usage: 'Time to wait between -retry-join attempts. Defaults to 30s.' },
  { name: 'retry-join', kind: 'list', placeholder: 'address', field: 'retryJoin', value: { kind: 'list' },
    usage: 'Join this agent (host, host:port or multiaddr), retrying until it answers. Can be specified multiple times.' },
  { name: 'serf-lan-port', kind: 'string', placeholder: 'port', field: 'meshPort', value: PORT,
    usage: 'Consul\'s name for -port.' },
  { name: 'server', kind: 'bool',
    usage: 'Accepted for Consul compatibility and ignored: every tribune agent is equal and the agents choose the Raft voters.' },
];

const SERVER_NOTE = 'every tribune agent is equal; the agents choose the Raft voters themselves (see -raft-voters)';

// ---------------------------------------------------------------------------
// Config files

type FileKey = { field: ConfigField; value: ValueKind };

/** Top-level config-file keys that set one field. */
const FILE_KEYS: Record<string, FileKey> = {
  node_name: { field: 'nodeName', value: TEXT },
  datacenter: { field: 'datacenter', value: { kind: 'lowercase' } },
  data_dir: { field: 'dataDir', value: TEXT },
  bind_addr: { field: 'bindAddr', value: TEXT },
  advertise_addr: { field: 'advertiseAddr', value: TEXT },
  client_addr: { field: 'clientAddr', value: TEXT },
  start_join: { field: 'join', value: { kind: 'list' } },
  retry_join: { field: 'retryJoin', value: { kind: 'list' } },
  retry_interval: { field: 'retryIntervalMs', value: { kind: 'duration' } },
  bootstrap_expect: { field: 'bootstrapExpect', value: POSITIVE_INTEGER },
  raft_voters: { field: 'raftVoters', value: { kind: 'voters' } },
  encrypt: { field: 'encrypt', value: TEXT },
  log_level: { field: 'logLevel', value: { kind: 'logLevel' } },
  enable_script_checks: { field: 'enableScriptChecks', value: { kind: 'bool' } },
  domain: { field: 'domain', value: { kind: 'domain' } },
  alt_domain: { field: 'altDomain', value: { kind: 'domain' } },
  recursors: { field: 'recursors', value: { kind: 'list' } },
};

/** Keys of nested blocks (`ports { http = 8501 }`). */
const BLOCK_KEYS: Record<string, Record<string, FileKey>> = {
  ports: {
    http: { field: 'httpPort', value: PORT_OR_DISABLED },
    dns: { field: 'dnsPort', value: PORT_OR_DISABLED },
    serf_lan: { field: 'meshPort', value: PORT },
  },
  dns_config: {
    node_ttl: { field: 'dnsConfig.nodeTtlMs', value: { kind: 'duration' } },
    service_ttl: { field: 'dnsConfig.serviceTtlMs', value: { kind: 'durationMap' } },
    only_passing: { field: 'dnsConfig.onlyPassing', value: { kind: 'bool' } },
    allow_stale: { field: 'dnsConfig.allowStale', value: { kind: 'bool' } },
  },
  gossip_lan: {
    probe_interval: { field: 'membership.probeIntervalMs', value: { kind: 'duration' } },
    probe_timeout: { field: 'membership.probeTimeoutMs', value: { kind: 'duration' } },
    indirect_checks: { field: 'membership.indirectChecks', value: NON_NEGATIVE_INTEGER },
    suspicion_mult: { field: 'membership.suspicionMultiplier', value: POSITIVE_INTEGER },
    suspicion_max_timeout_mult: { field: 'membership.suspicionMaxTimeoutMultiplier', value: POSITIVE_INTEGER },
    awareness_max_mult: { field: 'membership.awarenessMaxMultiplier', value: POSITIVE_INTEGER },
    push_pull_interval: { field: 'membership.pushPullIntervalMs', value: { kind: 'duration' } },
  },
};

/** Consul settings a ported config may carry that tribune does not implement: noted, not fatal. */
const IGNORED_CONSUL_KEYS = new Set([
  'acl', 'addresses', 'auto_config', 'auto_encrypt', 'bootstrap', 'ca_file', 'cert_file', 'connect',
  'disable_update_check', 'enable_debug', 'enable_local_script_checks', 'key_file',
  'leave_on_terminate', 'limits', 'log_file', 'log_json', 'node_meta', 'performance', 'primary_datacenter',
  'skip_leave_on_interrupt', 'telemetry', 'tls', 'ui', 'ui_config', 'verify_incoming',
  'verify_outgoing', 'verify_server_hostname',
]);
const IGNORED_CONSUL_BLOCK_KEYS: Record<string, Set<string>> = {
  ports: new Set(['https', 'grpc', 'grpc_tls', 'serf_wan', 'server', 'sidecar_min_port', 'sidecar_max_port', 'expose_min_port', 'expose_max_port']),
  gossip_lan: new Set(['gossip_nodes', 'gossip_interval', 'retransmit_mult']),
  dns_config: new Set(['max_stale', 'enable_truncate', 'udp_answer_limit', 'a_record_limit', 'recursor_timeout', 'recursor_strategy',
    'disable_compression', 'enable_additional_node_meta_txt', 'soa', 'use_cache', 'cache_max_age', 'prefer_namespace']),
};
const DEFINITION_KEYS = ['service', 'services', 'check', 'checks'];

/** Keys whose HCL blocks stay lists even when there is one (Consul's slice-valued keys). */
const HCL_LIST_KEYS = new Set(['services', 'checks', 'upstreams', 'paths']);

function allFileKeys(): string[] {
  const nested = Object.entries(BLOCK_KEYS).flatMap(([block, keys]) => Object.keys(keys).map((key) => `${block}.${key}`));
  return [...Object.keys(FILE_KEYS), ...Object.keys(BLOCK_KEYS), ...nested, ...DEFINITION_KEYS, 'server'];
}

/**
 * Reads one config file into a plain object: JSON for *.json, HCL for
 * *.hcl (through @cdktn/hcl2json, loaded only when needed; its blocks
 * arrive as one-element arrays and are unwrapped here). `shownPath` is
 * how messages name the file.
 */
export async function readConfigFile(path: string, shownPath: string = path): Promise<{ object: Record<string, unknown> } | { error: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return { error: `${shownPath}: cannot read config file: ${describeFsError(error)}` };
  }
  let parsed: unknown;
  if (path.endsWith('.json')) {
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return { error: `${shownPath}: invalid JSON: ${(error as Error).message}` };
    }
  } else if (path.endsWith('.hcl')) {
    try {
      const { parse } = await import('@cdktn/hcl2json');
      parsed = unwrapHclBlocks(await parse(shownPath, text));
    } catch (error) {
      return { error: `${shownPath}: invalid HCL: ${cleanHclError((error as Error).message)}` };
    }
  } else {
    return { error: `${shownPath}: unknown config format: name the file *.json or *.hcl` };
  }
  if (!isPlainObject(parsed)) return { error: `${shownPath}: a config file must hold an object of settings, got ${show(parsed)}` };
  return { object: parsed };
}

/** The *.json and *.hcl files of a directory, sorted by name (as Consul reads -config-dir). */
export async function configDirFiles(dir: string, cwd: string): Promise<{ files: string[] } | { error: string }> {
  try {
    const entries = await readdir(resolve(cwd, dir), { withFileTypes: true });
    const names = entries.filter((entry) => !entry.isDirectory() && /\.(json|hcl)$/.test(entry.name)).map((entry) => entry.name).sort();
    return { files: names.map((name) => joinPath(dir, name)) };
  } catch (error) {
    return { error: `${dir}: cannot read config directory: ${describeFsError(error)}` };
  }
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'ENOTDIR') return 'not a directory';
  if (code === 'EISDIR') return 'is a directory';
  return (error as Error).message;
}

function cleanHclError(message: string): string {
  // "parse config: [FILE:1,13-13: Missing expression; Expected ...]" -> "1,13-13: Missing expression; Expected ..."
  const inner = /^parse config: \[(.*)\]$/s.exec(message.trim())?.[1] ?? message;
  return inner.replace(/^[^:]*\.hcl:(\d+),(\d+)(?:-\d+(?:,\d+)?)?:/, 'line $1, column $2:');
}

/**
 * HCL blocks arrive as arrays (`ports { }` becomes `ports: [{ }]`): a single
 * block becomes its object, except under keys that are lists in Consul's
 * format (`services`, `checks`, ...) and the top-level `service`/`check`,
 * which may repeat and are collected into lists anyway. A `check` block
 * inside a service is one object, as in Consul's JSON.
 */
function unwrapHclBlocks(root: unknown): unknown {
  if (!isPlainObject(root)) return root;
  return Object.fromEntries(Object.entries(root).map(([key, value]) => [key, unwrapHclEntry(key, value, true)]));
}

function unwrapHclEntry(key: string, value: unknown, topLevel: boolean): unknown {
  const keepList = HCL_LIST_KEYS.has(key) || (topLevel && DEFINITION_KEYS.includes(key));
  if (!keepList && Array.isArray(value) && value.length === 1 && isPlainObject(value[0])) return unwrapHclValue(value[0]);
  return unwrapHclValue(value);
}

function unwrapHclValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapHclValue);
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, unwrapHclEntry(key, inner, false)]));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------
// Loading: profile < files < flags

export type LoadedAgentConfig = {
  config: AgentConfig;
  /** Where each field's value came from (fields left at their default are absent). */
  origins: Map<ConfigField, FieldOrigin>;
  /** The config files read, in the order applied. */
  configFiles: string[];
  /** Everything that stops the agent from starting, flags, files and validation together. */
  errors: string[];
  /** Printed, not fatal: ignored settings, risky values. */
  warnings: string[];
  /** `-h` was given: print usage and do nothing else. */
  help: boolean;
};

export type LoadOptions = {
  /** Default node name (tests pin it); defaults to the hostname. */
  nodeName?: string;
  /** Directory relative config paths are resolved from; defaults to process.cwd(). */
  cwd?: string;
};

export async function loadAgentConfig(argv: readonly string[], options: LoadOptions = {}): Promise<LoadedAgentConfig> {
  const cwd = options.cwd ?? process.cwd();
  const flags = parseFlags(argv, AGENT_FLAGS);
  const dev = boolFlag(flags, 'dev');
  const config = dev ? devAgentConfig(options.nodeName ?? hostname()) : defaultAgentConfig(options.nodeName ?? hostname());
  const loaded: LoadedAgentConfig = { config, origins: new Map(), configFiles: [], errors: [...flags.errors], warnings: [], help: flags.help };
  if (flags.help) return loaded;
  for (const positional of flags.positionals) loaded.errors.push(`unexpected argument "${positional}": tribune agent takes only flags`);

  for (const path of await configFilesInOrder(flags, cwd, loaded.errors)) {
    const read = await readConfigFile(resolve(cwd, path), path);
    if ('error' in read) { loaded.errors.push(read.error); continue; }
    loaded.configFiles.push(path);
    applyFile(loaded, read.object, path);
  }
  applyFlags(loaded, flags);

  const result = validate(loaded.config, loaded.origins);
  loaded.errors.push(...result.errors);
  loaded.warnings.push(...result.warnings);
  return loaded;
}

async function configFilesInOrder(flags: ParsedFlags, cwd: string, errors: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const occurrence of flags.occurrences) {
    if (occurrence.name === 'config-file') files.push(occurrence.value as string);
    if (occurrence.name !== 'config-dir') continue;
    const listed = await configDirFiles(occurrence.value as string, cwd);
    if ('error' in listed) errors.push(listed.error);
    else files.push(...listed.files);
  }
  return files;
}

function applyFlags(loaded: LoadedAgentConfig, flags: ParsedFlags): void {
  const byName = new Map(AGENT_FLAGS.map((flag) => [flag.name, flag]));
  for (const occurrence of flags.occurrences) {
    const flag = byName.get(occurrence.name)!;
    if (flag.name === 'server') { loaded.warnings.push(`-server is ignored: ${SERVER_NOTE}`); continue; }
    if (flag.field === undefined || flag.value === undefined) continue;
    const converted = convert(flag.value, flag.kind === 'list' ? [occurrence.value] : occurrence.value);
    if (!converted.ok) { loaded.errors.push(`-${flag.name} ${converted.problem}`); continue; }
    assign(loaded.config, flag.field, converted.value);
    loaded.origins.set(flag.field, { source: 'flag', flag: flag.name });
  }
}

function applyFile(loaded: LoadedAgentConfig, object: Record<string, unknown>, file: string): void {
  const fail = (key: string, problem: string) => loaded.errors.push(`${file}: ${key} ${problem}`);
  const set = (key: string, spec: FileKey, value: unknown) => {
    const converted = convert(spec.value, value);
    if (!converted.ok) { fail(key, converted.problem); return; }
    assign(loaded.config, spec.field, converted.value);
    loaded.origins.set(spec.field, { source: 'file', file, key });
  };
  for (const [key, value] of Object.entries(object)) {
    const direct = FILE_KEYS[key];
    if (direct !== undefined) { set(key, direct, value); continue; }
    const block = BLOCK_KEYS[key];
    if (block !== undefined) {
      if (Array.isArray(value) && value.every(isPlainObject)) { fail(key, 'may appear only once'); continue; }
      if (!isPlainObject(value)) { fail(key, `must be a block of settings, got ${show(value)}`); continue; }
      for (const [inner, innerValue] of Object.entries(value)) {
        const path = `${key}.${inner}`;
        const spec = block[inner];
        if (spec !== undefined) set(path, spec, innerValue);
        else if (IGNORED_CONSUL_BLOCK_KEYS[key]?.has(inner)) loaded.warnings.push(`${file}: ${path} is not supported by tribune and is ignored`);
        else loaded.errors.push(unknownKeyMessage(file, path));
      }
      continue;
    }
    if (DEFINITION_KEYS.includes(key)) { addDefinitions(loaded, file, key, value); continue; }
    if (key === 'server') { loaded.warnings.push(`${file}: server is ignored: ${SERVER_NOTE}`); continue; }
    if (key === 'dev') { loaded.errors.push(`${file}: dev cannot be set in a config file; use the -dev flag`); continue; }
    if (IGNORED_CONSUL_KEYS.has(key)) { loaded.warnings.push(`${file}: ${key} is not supported by tribune and is ignored`); continue; }
    loaded.errors.push(unknownKeyMessage(file, key));
  }
}

function unknownKeyMessage(file: string, key: string): string {
  const suggestion = closestMatch(key, allFileKeys());
  return `${file}: unknown key "${key}"` + (suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`);
}

function addDefinitions(loaded: LoadedAgentConfig, file: string, key: string, value: unknown): void {
  // `service`/`check` hold one definition (or several HCL blocks), `services`/`checks` a list.
  const list = Array.isArray(value) ? value : [value];
  const target = key.startsWith('service') ? loaded.config.services : loaded.config.checks;
  for (const [index, definition] of list.entries()) {
    if (!isPlainObject(definition)) {
      loaded.errors.push(`${file}: ${key}${list.length > 1 ? `[${index}]` : ''} must be a ${key.startsWith('service') ? 'service' : 'check'} definition (an object), got ${show(definition)}`);
      continue;
    }
    target.push(definition);
  }
}

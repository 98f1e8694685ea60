// The agent's configuration: one typed object, its defaults in named
// profiles, and one `validate()` that checks every field and every rule
// between fields in one pass, so that a user sees all of their mistakes at
// once instead of one per restart.
//
//   import { defaultAgentConfig, validate } from './agent-config.ts';
//   const config = { ...defaultAgentConfig(), dataDir: 'data', bindAddr: '127.0.0.11' };
//   const { errors, warnings } = validate(config);
//
// The command line and config files are turned into an `AgentConfig` by
// `flags.ts`; the runtime (`agent/runtime/agent.ts`) receives the validated
// object through `StartAgent` and never parses anything itself.

import { Buffer } from 'node:buffer';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { NetworkInterfaceInfo } from 'node:os';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** Log levels from the most to the least verbose. */
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

/**
 * SWIM + Lifeguard failure-detection timings (hashicorp/memberlist's names in
 * brackets). With N members, a member that stops answering is suspected
 * after about one probe interval and declared dead after the suspicion
 * timeout, which starts at
 *   suspicionMaxTimeoutMultiplier × suspicionMultiplier × max(1, log10 N) × probeIntervalMs
 * and shrinks towards
 *   suspicionMultiplier × max(1, log10 N) × probeIntervalMs
 * as independent confirmations of the suspicion arrive. Under local
 * overload (Lifeguard's "awareness" score, 0..awarenessMaxMultiplier-1) an
 * agent stretches its own probe interval and timeout by (1 + score), so that
 * a slow agent stops accusing healthy ones.
 */
export type MembershipTimings = {
  /** How often an agent probes one random member [ProbeInterval]. Shorter detects failures
   *  sooner; each agent sends one probe per interval whatever the cluster size, so the cost
   *  is per agent, not per cluster. */
  probeIntervalMs: number;
  /** How long to wait for a direct probe's ack before asking others to probe indirectly
   *  [ProbeTimeout]. Set it near the 99th percentile round trip: lower gives faster suspicion
   *  and more indirect probes on a slow network. Must be below probeIntervalMs. */
  probeTimeoutMs: number;
  /** How many other members are asked to probe a member that missed its direct probe
   *  [IndirectChecks]. More makes a false suspicion from one bad link less likely, at k extra
   *  messages per failed probe. 0 turns indirect probes off. */
  indirectChecks: number;
  /** Scales the suspicion timeout [SuspicionMult]. Higher gives a suspected member more time
   *  to refute (fewer false deaths under load) and makes true failures take longer to declare. */
  suspicionMultiplier: number;
  /** The suspicion timeout starts this many times above its minimum and shrinks with each
   *  independent confirmation [SuspicionMaxTimeoutMult]. Higher tolerates more local slowness
   *  when a single member is the only accuser. */
  suspicionMaxTimeoutMultiplier: number;
  /** Upper bound of Lifeguard's local health score [AwarenessMaxMultiplier]: an overloaded
   *  agent stretches its own timeouts by up to this factor. 1 disables the stretching. */
  awarenessMaxMultiplier: number;
  /** How often an agent exchanges its full membership table with one random member
   *  [PushPullInterval]. This is what heals partitions and catches missed gossip; shorter heals
   *  faster and costs one full-table exchange per interval per agent. 0 turns it off. */
  pushPullIntervalMs: number;
};

/** memberlist's DefaultLANConfig: one datacenter on a local network. */
export const MEMBERSHIP_LAN: Readonly<MembershipTimings> = Object.freeze({
  probeIntervalMs: 1_000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMultiplier: 4,
  suspicionMaxTimeoutMultiplier: 6,
  awarenessMaxMultiplier: 8,
  pushPullIntervalMs: 30_000,
});

/** memberlist's DefaultWANConfig: links between datacenters, higher and more variable latency. */
export const MEMBERSHIP_WAN: Readonly<MembershipTimings> = Object.freeze({
  probeIntervalMs: 5_000,
  probeTimeoutMs: 3_000,
  indirectChecks: 3,
  suspicionMultiplier: 6,
  suspicionMaxTimeoutMultiplier: 6,
  awarenessMaxMultiplier: 8,
  pushPullIntervalMs: 60_000,
});

/** memberlist's DefaultLocalConfig: every agent on one machine (loopback), round trips are tiny. */
export const MEMBERSHIP_LOCAL: Readonly<MembershipTimings> = Object.freeze({
  probeIntervalMs: 1_000,
  probeTimeoutMs: 200,
  indirectChecks: 1,
  suspicionMultiplier: 3,
  suspicionMaxTimeoutMultiplier: 6,
  awarenessMaxMultiplier: 8,
  pushPullIntervalMs: 15_000,
});

/**
 * How the DNS interface answers (Consul's `dns_config`). Every TTL is a
 * trade: longer lets resolvers cache more and spares the agent, shorter makes
 * a failed instance disappear from clients sooner.
 */
export type DnsConfig = {
  /** TTL of node answers (`NAME.node.consul`) [node_ttl]. Default 0: never cached downstream. */
  nodeTtlMs: number;
  /** TTL of service answers by service name, `*` for every other service [service_ttl].
   *  Default none: 0. */
  serviceTtlMs: Record<string, number>;
  /** Answer only instances whose every check passes [only_passing]. Off: warning instances are
   *  answered too (critical ones never are). */
  onlyPassing: boolean;
  /** Answer from this agent's replica whatever its lag [allow_stale]. Off: answer SERVFAIL while
   *  no leader is known, at the price of DNS failing during an election. Default on. */
  allowStale: boolean;
};

/** A `service` block from a config file, kept as written (keys as in Consul's service
 *  definition); the catalog decides what it means. */
export type ServiceDefinition = Record<string, unknown>;
/** A `check` block from a config file, kept as written (keys as in Consul's check definition). */
export type CheckDefinition = Record<string, unknown>;

export type AgentConfig = {
  /** This agent's name in the cluster and in DNS (`NAME.node.consul`). Must be unique in the
   *  datacenter: two agents with one name fight over the catalog entry. Default: the hostname. */
  nodeName: string;
  /** The datacenter (one gossip topic, one Raft group) this agent belongs to. Agents only
   *  gossip and replicate within their datacenter. Default `dc1`. */
  datacenter: string;
  /** Where the agent keeps its identity (the Ed25519 key that is its peer id), its Raft log and
   *  snapshots. Required unless `dev`: without it the agent cannot rejoin under the same
   *  identity after a restart. */
  dataDir: string | undefined;
  /** Development mode: one agent, in-memory storage, bootstraps a cluster of itself at once.
   *  Loses everything on exit. Command line only (`-dev`), as in Consul. */
  dev: boolean;
  /** The address the mesh listens on and, being the libp2p listen address, the address it
   *  dials FROM: with several agents on one machine (127.0.0.11, .12, ...) each must bind its
   *  own address or every connection appears to come from the first. 0.0.0.0 listens on every
   *  interface and lets the kernel pick the source address. Default 0.0.0.0 (127.0.0.1 with `dev`). */
  bindAddr: string;
  /** The address other agents are told to reach this one at. Needed when the bind address is
   *  0.0.0.0 on a machine with several private addresses, or behind NAT. Default: the bind
   *  address, or the machine's only private IPv4 address when bound to 0.0.0.0. */
  advertiseAddr: string | undefined;
  /** TCP port of the mesh (libp2p: membership probes, gossip, Raft, agent RPC). Consul's serf
   *  LAN port. A join address without a port means this default. Default 8301. */
  meshPort: number;
  /** Agents to join at startup (host, host:port or multiaddr). Startup fails if none of them
   *  answers: use `retryJoin` when the others may not be up yet. */
  join: string[];
  /** Agents to join, retried every `retryIntervalMs` until one answers. The usual choice for
   *  clusters whose members start in any order. */
  retryJoin: string[];
  /** Pause between rounds of `retryJoin` attempts. Shorter joins sooner after the others come
   *  up, at the cost of more failed dials while they are down. Default 30 s (Consul's). */
  retryIntervalMs: number;
  /** Wait until this many members are alive, then choose the Raft voters and bootstrap the
   *  cluster's one Raft group. Every agent of a new cluster should carry the same value; an
   *  agent joining a running cluster never bootstraps. Undefined: never bootstrap (join only). */
  bootstrapExpect: number | undefined;
  /** How many Raft voters the agents keep. 'auto': 3, or 5 once there are 5 or more members.
   *  More voters tolerate more failures ((voters - 1) / 2) and make every write wait for more
   *  acknowledgements; an even count tolerates no more failures than one fewer. */
  raftVoters: number | 'auto';
  /** Cluster key (base64 of 32 bytes, from `tribune keygen`): turns on libp2p's private network
   *  so that a machine without the key cannot complete a handshake. All agents need the same
   *  key; a wrong key simply fails to connect. Undefined: open network (Noise still encrypts). */
  encrypt: string | undefined;
  /** The address the HTTP API and DNS listen on. Keep it on loopback unless other machines
   *  must query this agent: the HTTP API has no authentication yet. Default 127.0.0.1. */
  clientAddr: string;
  /** TCP port of the HTTP API (`/v1/...`, used by the CLI). -1 disables it. Default 8500. */
  httpPort: number;
  /** UDP and TCP port of the DNS interface. -1 disables it. Default 8600 (unprivileged; forward
   *  port 53 to it rather than running the agent as root). */
  dnsPort: number;
  /** The DNS domain the agent answers for (`web.service.consul.`). Always ends with a dot.
   *  Default `consul.` so that existing Consul resolvers and habits work unchanged. */
  domain: string;
  /** A second domain answered like `domain` (`-alt-domain`), e.g. to migrate names. Undefined: none. */
  altDomain: string | undefined;
  /** Upstream resolvers (IP or IP:port) for names outside the domains; tried in order. Empty
   *  (the default): such names are REFUSED, so the agent is never an open resolver by accident. */
  recursors: string[];
  /** DNS answer settings. */
  dnsConfig: DnsConfig;
  /** The least severe log level written. `debug` and `trace` are for following a problem and
   *  are loud at scale (trace logs every probe). Default `info` (`debug` with `dev`). */
  logLevel: LogLevel;
  /** Allow health checks that run arbitrary commands (`args`/`script`). Off by default because
   *  anyone who can register a check through the HTTP API could then run code on this machine. */
  enableScriptChecks: boolean;
  /** Failure-detection timings; start from a named profile (MEMBERSHIP_LAN by default). */
  membership: MembershipTimings;
  /** Services declared in config files (`service`/`services`), registered by the catalog at
   *  startup. Kept as written. */
  services: ServiceDefinition[];
  /** Checks declared in config files (`check`/`checks`), kept as written. */
  checks: CheckDefinition[];
};

/** What the agent command expects from `agent/runtime/agent.ts`'s `startAgent(config)`. */
export type RunningAgent = {
  /** Gracefully leave: announce `left` to the cluster so that no one waits for a failure
   *  timeout, hand off Raft leadership if held. */
  leave(): Promise<void>;
  /** Close listeners, the mesh and storage. After a leave, or alone for a crash-like stop
   *  (the others will detect a failure). */
  stop(): Promise<void>;
  /** Settles when the agent has stopped for any reason (a `leave` through the HTTP API, a
   *  fatal error); rejects with that error. */
  done: Promise<void>;
};

export type StartAgent = (config: AgentConfig) => Promise<RunningAgent>;

/** The production profile: what `tribune agent` starts from before config files and flags. */
export function defaultAgentConfig(nodeName: string = hostname()): AgentConfig {
  return {
    nodeName,
    datacenter: 'dc1',
    dataDir: undefined,
    dev: false,
    bindAddr: '0.0.0.0',
    advertiseAddr: undefined,
    meshPort: 8301,
    join: [],
    retryJoin: [],
    retryIntervalMs: 30_000,
    bootstrapExpect: undefined,
    raftVoters: 'auto',
    encrypt: undefined,
    clientAddr: '127.0.0.1',
    httpPort: 8500,
    dnsPort: 8600,
    domain: 'consul.',
    altDomain: undefined,
    recursors: [],
    dnsConfig: { nodeTtlMs: 0, serviceTtlMs: {}, onlyPassing: false, allowStale: true },
    logLevel: 'info',
    enableScriptChecks: false,
    membership: { ...MEMBERSHIP_LAN },
    services: [],
    checks: [],
  };
}

/** The `-dev` profile: loopback only, in memory, verbose. */
export function devAgentConfig(nodeName: string = hostname()): AgentConfig {
  return { ...defaultAgentConfig(nodeName), dev: true, bindAddr: '127.0.0.1', logLevel: 'debug' };
}

/** Every scalar setting, by name: the unit of provenance and of error messages. */
export type ConfigField =
  | Exclude<keyof AgentConfig, 'membership' | 'services' | 'checks' | 'dnsConfig'>
  | `membership.${keyof MembershipTimings}`
  | `dnsConfig.${keyof DnsConfig}`;

/** How a user spells each field: its command-line flag (if it has one) and its config-file key. */
export const FIELD_NAMES: Readonly<Record<ConfigField, { flag?: string; key: string }>> = {
  nodeName: { flag: 'node', key: 'node_name' },
  datacenter: { flag: 'datacenter', key: 'datacenter' },
  dataDir: { flag: 'data-dir', key: 'data_dir' },
  dev: { flag: 'dev', key: 'dev' },
  bindAddr: { flag: 'bind', key: 'bind_addr' },
  advertiseAddr: { flag: 'advertise', key: 'advertise_addr' },
  meshPort: { flag: 'port', key: 'ports.serf_lan' },
  join: { flag: 'join', key: 'start_join' },
  retryJoin: { flag: 'retry-join', key: 'retry_join' },
  retryIntervalMs: { flag: 'retry-interval', key: 'retry_interval' },
  bootstrapExpect: { flag: 'bootstrap-expect', key: 'bootstrap_expect' },
  raftVoters: { flag: 'raft-voters', key: 'raft_voters' },
  encrypt: { flag: 'encrypt', key: 'encrypt' },
  clientAddr: { flag: 'client', key: 'client_addr' },
  httpPort: { flag: 'http-port', key: 'ports.http' },
  dnsPort: { flag: 'dns-port', key: 'ports.dns' },
  domain: { flag: 'domain', key: 'domain' },
  altDomain: { flag: 'alt-domain', key: 'alt_domain' },
  recursors: { flag: 'recursor', key: 'recursors' },
  'dnsConfig.nodeTtlMs': { key: 'dns_config.node_ttl' },
  'dnsConfig.serviceTtlMs': { key: 'dns_config.service_ttl' },
  'dnsConfig.onlyPassing': { key: 'dns_config.only_passing' },
  'dnsConfig.allowStale': { key: 'dns_config.allow_stale' },
  logLevel: { flag: 'log-level', key: 'log_level' },
  enableScriptChecks: { flag: 'enable-script-checks', key: 'enable_script_checks' },
  'membership.probeIntervalMs': { key: 'gossip_lan.probe_interval' },
  'membership.probeTimeoutMs': { key: 'gossip_lan.probe_timeout' },
  'membership.indirectChecks': { key: 'gossip_lan.indirect_checks' },
  'membership.suspicionMultiplier': { key: 'gossip_lan.suspicion_mult' },
  'membership.suspicionMaxTimeoutMultiplier': { key: 'gossip_lan.suspicion_max_timeout_mult' },
  'membership.awarenessMaxMultiplier': { key: 'gossip_lan.awareness_max_mult' },
  'membership.pushPullIntervalMs': { key: 'gossip_lan.push_pull_interval' },
};

/** Where a field's value came from, so that a message can point at the line to fix. */
export type FieldOrigin =
  | { source: 'default' }
  | { source: 'flag'; flag: string }
  | { source: 'file'; file: string; key: string };

export type FieldOrigins = ReadonlyMap<ConfigField, FieldOrigin>;

/** The name of a field as its origin spells it: `-bootstrap-expect`, or the file's key. */
export function fieldMention(field: ConfigField, origins?: FieldOrigins): string {
  const origin = origins?.get(field);
  if (origin?.source === 'file') return `${origin.key} (in ${origin.file})`;
  if (origin?.source === 'flag') return `-${origin.flag}`;
  const names = FIELD_NAMES[field];
  return names.flag ? `-${names.flag}` : names.key;
}

/** The start of a message about one field's value: `-bootstrap-expect` or `FILE: bootstrap_expect`. */
export function fieldSubject(field: ConfigField, origins?: FieldOrigins): string {
  const origin = origins?.get(field);
  if (origin?.source === 'file') return `${origin.file}: ${origin.key}`;
  return fieldMention(field, origins);
}

export type ValidationResult = { errors: string[]; warnings: string[] };

/**
 * Checks every field and every rule between fields, and returns all the
 * problems at once. Errors stop the agent; warnings are printed and the
 * agent starts. `origins` (from the loader) makes messages name the flag or
 * the file and key that set the offending value; without it, flags are named.
 */
export function validate(config: AgentConfig, origins?: FieldOrigins): ValidationResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const subject = (field: ConfigField) => fieldSubject(field, origins);
  const mention = (field: ConfigField) => fieldMention(field, origins);
  const fail = (field: ConfigField, text: string) => errors.push(`${subject(field)} ${text}`);

  if (config.nodeName.length === 0) fail('nodeName', 'must not be empty');
  else if (!isDnsLabel(config.nodeName)) {
    warnings.push(`${subject('nodeName')} "${config.nodeName}" is not a valid DNS label ` +
      '(letters, digits and "-", at most 63 characters): the node will not be discoverable through DNS');
  }
  if (!/^[a-z0-9_-]+$/.test(config.datacenter)) {
    fail('datacenter', `may only contain lowercase letters, digits, "-" and "_", got "${config.datacenter}"`);
  }

  if (config.dev) {
    if (config.bootstrapExpect !== undefined) {
      errors.push(`-dev cannot be combined with ${mention('bootstrapExpect')}: a dev agent bootstraps a cluster of itself at once`);
    }
    if (config.join.length > 0 || config.retryJoin.length > 0) {
      const field = config.join.length > 0 ? 'join' : 'retryJoin';
      errors.push(`-dev cannot be combined with ${mention(field)}: a dev agent is a cluster of its own ` +
        'and joining it to another would make two Raft groups');
    }
    if (config.dataDir !== undefined) warnings.push(`${mention('dataDir')} is ignored with -dev: a dev agent keeps everything in memory`);
  } else if (config.dataDir === undefined || config.dataDir.length === 0) {
    errors.push(`${mention('dataDir')} is required (or use -dev for a throwaway in-memory agent)`);
  }

  checkAddress('bindAddr', config.bindAddr);
  checkAddress('clientAddr', config.clientAddr);
  if (config.advertiseAddr !== undefined && checkAddress('advertiseAddr', config.advertiseAddr) && isUnspecified(config.advertiseAddr)) {
    fail('advertiseAddr', `must be an address other agents can reach, got ${config.advertiseAddr}`);
  }

  if (!isPort(config.meshPort)) fail('meshPort', `must be a port number (1-65535), got ${config.meshPort}`);
  if (!isPort(config.httpPort) && config.httpPort !== -1) fail('httpPort', `must be a port number (1-65535) or -1 to disable, got ${config.httpPort}`);
  if (!isPort(config.dnsPort) && config.dnsPort !== -1) fail('dnsPort', `must be a port number (1-65535) or -1 to disable, got ${config.dnsPort}`);
  checkPortCollisions();

  for (const field of ['join', 'retryJoin'] as const) {
    for (const address of config[field]) {
      if (address.length === 0 || /\s/.test(address)) fail(field, `must be a host, host:port or multiaddr, got "${address}"`);
    }
  }
  if (!isPositiveInteger(config.retryIntervalMs)) fail('retryIntervalMs', `must be a positive duration, got ${config.retryIntervalMs} ms`);

  if (config.bootstrapExpect !== undefined) {
    if (!isPositiveInteger(config.bootstrapExpect)) fail('bootstrapExpect', `must be a positive integer, got ${config.bootstrapExpect}`);
    else if (config.bootstrapExpect % 2 === 0) {
      warnings.push(`${subject('bootstrapExpect')} is ${config.bootstrapExpect}: an even number of initial members ` +
        'tolerates no more failures than one fewer');
    }
  }
  if (config.raftVoters !== 'auto') {
    if (!isPositiveInteger(config.raftVoters)) fail('raftVoters', `must be "auto" or a positive integer, got ${config.raftVoters}`);
    else if (config.raftVoters % 2 === 0) {
      warnings.push(`${subject('raftVoters')} is ${config.raftVoters}: an even number of voters tolerates no more failures than ${config.raftVoters - 1}`);
    }
  }

  if (config.encrypt !== undefined) {
    const problem = encryptKeyProblem(config.encrypt);
    if (problem !== undefined) fail('encrypt', problem);
  }

  if (!isDomain(config.domain)) fail('domain', `must be a DNS name ending with ".", such as "consul.", got "${config.domain}"`);
  if (config.altDomain !== undefined) {
    if (!isDomain(config.altDomain)) fail('altDomain', `must be a DNS name ending with ".", such as "tribune.", got "${config.altDomain}"`);
    else if (config.altDomain === config.domain) fail('altDomain', `must differ from ${mention('domain')} (both are "${config.domain}")`);
  }
  for (const recursor of config.recursors) {
    if (!isRecursorAddress(recursor)) fail('recursors', `must be an IP address with an optional port (1.2.3.4, 1.2.3.4:53, [::1]:53), got "${recursor}"`);
  }
  if (!Number.isInteger(config.dnsConfig.nodeTtlMs) || config.dnsConfig.nodeTtlMs < 0) fail('dnsConfig.nodeTtlMs', `must be a duration (0 or more), got ${config.dnsConfig.nodeTtlMs} ms`);
  for (const [service, ttlMs] of Object.entries(config.dnsConfig.serviceTtlMs)) {
    if (!Number.isInteger(ttlMs) || ttlMs < 0) fail('dnsConfig.serviceTtlMs', `"${service}" must be a duration (0 or more), got ${ttlMs} ms`);
  }
  if (!LOG_LEVELS.includes(config.logLevel)) fail('logLevel', `must be one of ${LOG_LEVELS.join(', ')}, got "${config.logLevel}"`);

  checkMembership();
  for (const [index, service] of config.services.entries()) {
    if (!isPlainObject(service)) errors.push(`service #${index + 1} must be an object`);
  }
  for (const [index, check] of config.checks.entries()) {
    if (!isPlainObject(check)) errors.push(`check #${index + 1} must be an object`);
  }
  return { errors, warnings };

  function checkAddress(field: ConfigField, address: string): boolean {
    if (isIP(address) !== 0) return true;
    fail(field, `must be an IP address, got "${address}"`);
    return false;
  }

  function checkPortCollisions(): void {
    // The mesh, HTTP and DNS all listen on TCP: two on one port and overlapping addresses
    // means the second fails to start, which is better said now.
    const listeners: { field: ConfigField; port: number; address: string }[] = [
      { field: 'meshPort', port: config.meshPort, address: config.bindAddr },
      { field: 'httpPort', port: config.httpPort, address: config.clientAddr },
      { field: 'dnsPort', port: config.dnsPort, address: config.clientAddr },
    ];
    for (let i = 0; i < listeners.length; i++) {
      for (let j = i + 1; j < listeners.length; j++) {
        const first = listeners[i]!;
        const second = listeners[j]!;
        if (first.port !== second.port || first.port === -1) continue;
        if (first.address !== second.address && !isUnspecified(first.address) && !isUnspecified(second.address)) continue;
        errors.push(`${mention(second.field)} ${second.port} collides with ${mention(first.field)} ${first.port}: both would listen on TCP port ${first.port}`);
      }
    }
  }

  function checkMembership(): void {
    const timings = config.membership;
    if (!isPositiveInteger(timings.probeIntervalMs)) fail('membership.probeIntervalMs', `must be a positive duration, got ${timings.probeIntervalMs} ms`);
    if (!isPositiveInteger(timings.probeTimeoutMs)) fail('membership.probeTimeoutMs', `must be a positive duration, got ${timings.probeTimeoutMs} ms`);
    else if (timings.probeTimeoutMs >= timings.probeIntervalMs) {
      fail('membership.probeTimeoutMs', `(${timings.probeTimeoutMs} ms) must be shorter than ` +
        `${mention('membership.probeIntervalMs')} (${timings.probeIntervalMs} ms): a probe must end before the next begins`);
    }
    if (!Number.isInteger(timings.indirectChecks) || timings.indirectChecks < 0) fail('membership.indirectChecks', `must be a non-negative integer, got ${timings.indirectChecks}`);
    if (!isPositiveInteger(timings.suspicionMultiplier)) fail('membership.suspicionMultiplier', `must be a positive integer, got ${timings.suspicionMultiplier}`);
    if (!isPositiveInteger(timings.suspicionMaxTimeoutMultiplier)) fail('membership.suspicionMaxTimeoutMultiplier', `must be a positive integer, got ${timings.suspicionMaxTimeoutMultiplier}`);
    if (!isPositiveInteger(timings.awarenessMaxMultiplier)) fail('membership.awarenessMaxMultiplier', `must be a positive integer, got ${timings.awarenessMaxMultiplier}`);
    if (!Number.isInteger(timings.pushPullIntervalMs) || timings.pushPullIntervalMs < 0) fail('membership.pushPullIntervalMs', `must be a duration (0 disables), got ${timings.pushPullIntervalMs} ms`);
    else if (timings.pushPullIntervalMs === 0) warnings.push(`${subject('membership.pushPullIntervalMs')} is 0: without push-pull exchanges, partitions only heal through gossip`);
  }
}

/** Why `key` is not a usable cluster key, or undefined if it is. Never echoes the key. */
export function encryptKeyProblem(key: string): string | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(key) || key.length % 4 !== 0) {
    return 'must be a base64-encoded 32-byte key (make one with `tribune keygen`), but it is not valid base64';
  }
  const length = Buffer.from(key, 'base64').length;
  if (length !== 32) return `must be a base64-encoded 32-byte key (make one with \`tribune keygen\`), but it decodes to ${length} bytes`;
  return undefined;
}

/** How many Raft voters the agents keep with `aliveMembers` alive members: the configured count,
 *  or for 'auto' 3 below 5 members and 5 from 5 up; never more than there are members. */
export function targetVoterCount(raftVoters: AgentConfig['raftVoters'], aliveMembers: number): number {
  const wanted = raftVoters === 'auto' ? (aliveMembers >= 5 ? 5 : 3) : raftVoters;
  return Math.max(0, Math.min(wanted, aliveMembers));
}

/**
 * The address this agent tells others to reach it at: `advertiseAddr`, else
 * the bind address, else (bound to 0.0.0.0) the one private IPv4 address of
 * the machine, as Consul does. Fails rather than guess among several.
 */
export function resolveAdvertiseAddr(
  config: Pick<AgentConfig, 'advertiseAddr' | 'bindAddr'>,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): { address: string } | { error: string } {
  if (config.advertiseAddr !== undefined) return { address: config.advertiseAddr };
  if (!isUnspecified(config.bindAddr)) return { address: config.bindAddr };
  const candidates = Object.values(interfaces).flat()
    .filter((info): info is NetworkInterfaceInfo => info !== undefined && info.family === 'IPv4' && !info.internal)
    .map((info) => info.address)
    .filter(isPrivateIPv4);
  const unique = [...new Set(candidates)];
  if (unique.length === 1) return { address: unique[0]! };
  if (unique.length === 0) return { error: 'no private IPv4 address found to advertise; set -advertise or -bind' };
  return { error: `several private IPv4 addresses found (${unique.join(', ')}); choose one with -advertise or -bind` };
}

function isPrivateIPv4(address: string): boolean {
  const [a, b] = address.split('.').map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
}

function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

function isPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

function isPositiveInteger(value: number): boolean {
  return Number.isInteger(value) && value > 0;
}

function isDnsLabel(name: string): boolean {
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(name);
}

function isDomain(domain: string): boolean {
  if (!domain.endsWith('.') || domain.length > 254) return false;
  return domain.slice(0, -1).split('.').every(isDnsLabel);
}

function isRecursorAddress(text: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return isIP(bracketed[1]!) === 6 && (bracketed[2] === undefined || isPort(Number(bracketed[2])));
  if (isIP(text) !== 0) return true;
  const colon = text.lastIndexOf(':');
  return colon > 0 && isIP(text.slice(0, colon)) === 4 && /^\d+$/.test(text.slice(colon + 1)) && isPort(Number(text.slice(colon + 1)));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

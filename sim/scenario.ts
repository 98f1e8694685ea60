// Scenarios: what to simulate, as data. A scenario names the cluster (nodes,
// zones, links, membership and gossip profiles, an optional Raft group with
// client workloads), a timeline of faults, and what the checkers must find.
// Files are JSON or HCL with snake_case keys; built-in scenarios live as
// files in sim/scenarios/ and are found by name.
//
//   const scenario = await loadScenario('single-failure', { nodes: 500 });
//   const scenario = await loadScenario('./my-test.hcl');
//
// A minimal file (everything else has a default):
//
//   name  = "two-crashes"
//   nodes = 50
//   event {
//     at_ms  = 5000
//     action = "crash"
//     nodes  = "random:2:non-voters"
//   }
//
// Node selectors (in `nodes`, `seeds`, `from`): "all"; "random:K" or
// "random:K:BASE" (K random nodes that are up, among BASE); "percent:P[:BASE]";
// "zone:NAME"; "range:A-B" (node numbers, 1-based, inclusive); "leader" (the
// Raft leader when the event fires); "leader-zone"; "voters"; "non-voters";
// "lock-holder" (the agent whose contender holds the lock when it fires);
// "n7" (one node); or a list of node numbers [1, 2, 3]. Times are relative
// to the start of the timeline, which begins after `settle_ms`.

import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MEMBERSHIP_PROFILES, validateMembershipConfig } from '../agent/membership/config.ts';
import type { MembershipConfig, MembershipProfile } from '../agent/membership/config.ts';
import type { Distribution } from './distributions.ts';
import { validateDistribution } from './distributions.ts';
import { GOSSIPSUB_DEFAULTS, GOSSIPSUB_TRIBUNE_LAN, validateGossipsubProfile } from './gossipsub.ts';
import type { GossipsubProfile } from './gossipsub.ts';
import type { SendFeedback } from './membership-layer.ts';
import { DEFAULT_LINK } from './network.ts';
import type { LinkProfile } from './network.ts';

export type Selector = string | number[];

export type TimelineEvent =
  | { atMs: number; action: 'crash'; nodes: Selector }
  | { atMs: number; action: 'restart'; nodes: Selector; dataKept: boolean }
  | { atMs: number; action: 'join'; nodes: Selector; seeds: Selector; spreadMs: number }
  | { atMs: number; action: 'leave'; nodes: Selector }
  | { atMs: number; action: 'partition'; nodes: Selector; from: Selector | null; oneWay: boolean; durationMs: number }
  | { atMs: number; action: 'heal' }
  | { atMs: number; action: 'loss'; rate: number; nodes: Selector | null; durationMs: number }
  | { atMs: number; action: 'overload'; nodes: Selector; stallMs: Distribution; durationMs: number }
  | { atMs: number; action: 'rolling-restart'; nodes: Selector; intervalMs: number; downMs: number; dataKept: boolean };

export type KvWorkload = {
  clients: number;
  keys: number;
  /** Pause between one client's operations (after the previous one finished). */
  thinkMs: Distribution;
  /** Fractions of reads and compare-and-swaps; the rest are writes. */
  readFraction: number;
  casFraction: number;
  /**
   * Reads: 'consistent' (ReadIndex with a quorum round), 'default' (the
   * leader's lease), or 'stale' (Consul's ?stale: any voter answers from its
   * own replica; not linearizable, which is what the checker's own tests use).
   */
  readMode: 'consistent' | 'default' | 'stale';
  /** A client gives up on an operation after this long (its outcome is then unknown). */
  timeoutMs: number;
};

export type LockWorkload = {
  contenders: number;
  key: string;
  /** Session TTL: a holder that cannot renew for this long gives the lock up on its own side. */
  sessionTtlMs: number;
  lockDelayMs: number;
  holdMs: Distribution;
  /** How often a holder renews its session. */
  renewEveryMs: number;
};

export type RaftSettings = {
  voters: number;
  /** Put the voters in different zones. */
  spreadVoters: boolean;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** The leader proposes nodeHealth critical/passing when its membership view says a node failed/came back (Consul's serfHealth). */
  reconcile: boolean;
};

export type Scenario = {
  name: string;
  description: string;
  nodes: number;
  start: 'warm' | 'cold';
  settleMs: number;
  durationMs: number;
  quietMs: number;
  membership: { profile: MembershipProfile; overrides: Partial<MembershipConfig> };
  gossip: { profile: 'default' | 'tribune-lan'; overrides: Partial<GossipsubProfile>; warmPeers: number };
  network: {
    zones: { name: string; weight: number }[];
    /** Link profiles by 'default', 'ZONE' (within a zone) or 'FROM->TO'. */
    links: Record<string, Partial<LinkProfile>>;
    uplinkBytesPerSecond: number;
    probeTransport: 'datagram' | 'stream';
    feedback: SendFeedback;
    /** Each node's clock runs fast or slow by up to this many parts per million. */
    clockDriftPpm: number;
    /** Each node's monotonic clock (what the membership core and Raft ticks see) starts up to this far from virtual time. */
    clockOffsetMs: number;
    /**
     * Each node's wall clock (what the Raft leader stamps on commands: session
     * TTLs, lock-delay) is off by up to this much either way. NTP keeps it to
     * milliseconds; seconds of skew between successive leaders shorten lock-delays.
     */
    wallClockSkewMs: number;
    streamRtoMs: number;
    /** Time to set up a stream connection before its first message (libp2p: TCP, Noise, Yamux, identify); null for none. */
    connectSetupMs: Distribution | null;
    /** Chance that a connection set-up fails (its messages are lost; the next send dials again). Needs connect_setup_ms. */
    connectFailRate: number;
  };
  fidelity: {
    /** Round-trip every membership message through the real codec. */
    codec: boolean;
    /** How many nodes run the real membership core ('all', or a number: the rest run the compact model). */
    coreNodes: 'all' | number;
  };
  raft: RaftSettings | null;
  workload: { kv: KvWorkload | null; locks: LockWorkload | null };
  timeline: TimelineEvent[];
  expect: {
    /** Healthy members declared dead (by anyone) tolerated. */
    maxFalseDeaths: number;
    /** After the quiet period every view must be exact. */
    accurateAtEnd: boolean;
    /** Every crashed member must be known dead by every live node within this (null: no bound). */
    maxDetectionMs: number | null;
  };
};

const DEFAULTS: Omit<Scenario, 'name' | 'timeline'> = {
  description: '',
  nodes: 50,
  start: 'warm',
  settleMs: 5_000,
  durationMs: 60_000,
  quietMs: 30_000,
  membership: { profile: 'lan', overrides: {} },
  gossip: { profile: 'default', overrides: {}, warmPeers: 20 },
  network: {
    zones: [{ name: 'default', weight: 1 }],
    links: {},
    uplinkBytesPerSecond: 0,
    probeTransport: 'datagram',
    feedback: 'refused',
    clockDriftPpm: 0,
    clockOffsetMs: 0,
    wallClockSkewMs: 0,
    streamRtoMs: 200,
    connectSetupMs: null,
    connectFailRate: 0,
  },
  fidelity: { codec: false, coreNodes: 'all' },
  raft: null,
  workload: { kv: null, locks: null },
  expect: { maxFalseDeaths: 0, accurateAtEnd: true, maxDetectionMs: null },
};

const RAFT_DEFAULTS: RaftSettings = { voters: 3, spreadVoters: true, tickMs: 100, electionTicks: 10, heartbeatTicks: 1, reconcile: true };
const KV_DEFAULTS: KvWorkload = {
  clients: 4, keys: 3, thinkMs: { dist: 'exponential', mean: 50 }, readFraction: 0.45, casFraction: 0.2, readMode: 'consistent', timeoutMs: 2_000,
};
const LOCK_DEFAULTS: LockWorkload = {
  contenders: 3, key: 'locks/leader', sessionTtlMs: 10_000, lockDelayMs: 15_000, holdMs: { dist: 'uniform', min: 500, max: 3_000 }, renewEveryMs: 2_000,
};

export const BUILTIN_SCENARIOS = ['join-storm', 'single-failure', 'mass-failure', 'lossy', 'overloaded-node', 'leader-partition', 'rolling-restart'] as const;

const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');

export class ScenarioError extends Error {
  override name = 'ScenarioError';
}

/** Loads a built-in scenario by name, or a file by path (*.json, *.hcl); `overrides.nodes` rescales it. */
export async function loadScenario(nameOrPath: string, overrides: { nodes?: number } = {}): Promise<Scenario> {
  const builtin = (BUILTIN_SCENARIOS as readonly string[]).includes(nameOrPath);
  let path = nameOrPath;
  if (builtin) {
    const hcl = join(SCENARIO_DIR, `${nameOrPath}.hcl`);
    path = await exists(hcl) ? hcl : join(SCENARIO_DIR, `${nameOrPath}.json`);
  } else if (!/\.(json|hcl)$/.test(nameOrPath)) {
    throw new ScenarioError(`unknown scenario "${nameOrPath}": built-in ones are ${BUILTIN_SCENARIOS.join(', ')}; files end in .json or .hcl`);
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ScenarioError(`${nameOrPath}: cannot read: ${(error as Error).message}`);
  }
  let raw: unknown;
  if (path.endsWith('.json')) {
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new ScenarioError(`${nameOrPath}: invalid JSON: ${(error as Error).message}`);
    }
  } else {
    const { parse } = await import('@cdktn/hcl2json');
    try {
      raw = unwrapHcl(await parse(path, text));
    } catch (error) {
      throw new ScenarioError(`${nameOrPath}: invalid HCL: ${(error as Error).message}`);
    }
  }
  return parseScenario(raw, nameOrPath, overrides);
}

/** Validates a scenario object (snake_case keys, as in files) and fills in the defaults. */
export function parseScenario(raw: unknown, where: string, overrides: { nodes?: number } = {}): Scenario {
  if (!isObject(raw)) throw new ScenarioError(`${where}: a scenario is an object`);
  const input = camelize(raw) as Record<string, unknown>;
  const fail = (problem: string): never => {
    throw new ScenarioError(`${where}: ${problem}`);
  };
  const known = new Set(['name', 'description', 'nodes', 'start', 'settleMs', 'durationMs', 'quietMs', 'membership', 'gossip', 'network', 'fidelity', 'raft', 'workload', 'timeline', 'event', 'expect']);
  for (const key of Object.keys(input)) if (!known.has(key)) fail(`unknown setting "${key}"`);
  const scenario: Scenario = {
    ...structuredClone(DEFAULTS),
    name: typeof input.name === 'string' ? input.name : where,
    timeline: [],
  };
  if (input.description !== undefined) scenario.description = String(input.description);
  scenario.nodes = integer(overrides.nodes ?? input.nodes ?? scenario.nodes, 'nodes', 2, 1_000_000, fail);
  if (input.start !== undefined) {
    if (input.start !== 'warm' && input.start !== 'cold') fail('start must be "warm" or "cold"');
    scenario.start = input.start as 'warm' | 'cold';
  }
  scenario.settleMs = integer(input.settleMs ?? scenario.settleMs, 'settle_ms', 0, 3_600_000, fail);
  scenario.durationMs = integer(input.durationMs ?? scenario.durationMs, 'duration_ms', 1, 86_400_000, fail);
  scenario.quietMs = integer(input.quietMs ?? scenario.quietMs, 'quiet_ms', 0, 3_600_000, fail);

  if (input.membership !== undefined) {
    const membership = objectOf(input.membership, 'membership', fail);
    const { profile, ...overridesOf } = membership;
    if (profile !== undefined) {
      if (!(typeof profile === 'string' && profile in MEMBERSHIP_PROFILES)) fail(`membership.profile must be one of ${Object.keys(MEMBERSHIP_PROFILES).join(', ')}`);
      scenario.membership.profile = profile as MembershipProfile;
    }
    for (const key of Object.keys(overridesOf)) if (!(key in MEMBERSHIP_PROFILES.lan)) fail(`membership: unknown setting "${key}"`);
    scenario.membership.overrides = overridesOf as Partial<MembershipConfig>;
    try {
      validateMembershipConfig({ ...MEMBERSHIP_PROFILES[scenario.membership.profile], ...scenario.membership.overrides });
    } catch (error) {
      fail((error as Error).message);
    }
  }
  if (input.gossip !== undefined) {
    const gossip = objectOf(input.gossip, 'gossip', fail);
    const { profile, warmPeers, ...rest } = gossip;
    if (profile !== undefined) {
      if (profile !== 'default' && profile !== 'tribune-lan') fail('gossip.profile must be "default" or "tribune-lan"');
      scenario.gossip.profile = profile as 'default' | 'tribune-lan';
    }
    if (warmPeers !== undefined) scenario.gossip.warmPeers = integer(warmPeers, 'gossip.warm_peers', 1, 10_000, fail);
    // The spec's degree names in snake_case files: d, d_lo, d_hi, d_lazy.
    const degreeNames: Record<string, string> = { d: 'D', dLo: 'Dlo', dHi: 'Dhi', dLazy: 'Dlazy' };
    const overridesOf: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(rest)) {
      const name = degreeNames[key] ?? key;
      if (!(name in GOSSIPSUB_DEFAULTS)) fail(`gossip: unknown setting "${key}"`);
      overridesOf[name] = value;
    }
    scenario.gossip.overrides = overridesOf as Partial<GossipsubProfile>;
    try {
      validateGossipsubProfile(gossipProfileOf(scenario));
    } catch (error) {
      fail((error as Error).message);
    }
  }
  if (input.network !== undefined) parseNetwork(objectOf(input.network, 'network', fail), scenario, fail);
  if (input.fidelity !== undefined) {
    const fidelity = objectOf(input.fidelity, 'fidelity', fail);
    if (fidelity.codec !== undefined) scenario.fidelity.codec = fidelity.codec === true;
    if (fidelity.coreNodes !== undefined) {
      scenario.fidelity.coreNodes = fidelity.coreNodes === 'all' ? 'all' : integer(fidelity.coreNodes, 'fidelity.core_nodes', 0, 1_000_000, fail);
    }
  }
  if (input.raft !== undefined && input.raft !== null && input.raft !== false) {
    const raft = input.raft === true ? {} : objectOf(input.raft, 'raft', fail);
    scenario.raft = { ...RAFT_DEFAULTS };
    for (const [key, value] of Object.entries(raft)) {
      if (!(key in RAFT_DEFAULTS)) fail(`raft: unknown setting "${key}"`);
      (scenario.raft as Record<string, unknown>)[key] = value;
    }
    scenario.raft.voters = integer(scenario.raft.voters, 'raft.voters', 1, 9, fail);
    if (scenario.raft.voters > scenario.nodes) fail(`raft.voters (${scenario.raft.voters}) exceeds nodes (${scenario.nodes})`);
    scenario.raft.tickMs = integer(scenario.raft.tickMs, 'raft.tick_ms', 1, 10_000, fail);
    scenario.raft.electionTicks = integer(scenario.raft.electionTicks, 'raft.election_ticks', 2, 1_000, fail);
    scenario.raft.heartbeatTicks = integer(scenario.raft.heartbeatTicks, 'raft.heartbeat_ticks', 1, scenario.raft.electionTicks - 1, fail);
  }
  if (input.workload !== undefined) {
    const workload = objectOf(input.workload, 'workload', fail);
    if (workload.kv !== undefined && workload.kv !== null) {
      const kv = { ...KV_DEFAULTS, ...objectOf(workload.kv, 'workload.kv', fail) } as KvWorkload;
      kv.clients = integer(kv.clients, 'workload.kv.clients', 1, 1_000, fail);
      kv.keys = integer(kv.keys, 'workload.kv.keys', 1, 1_000, fail);
      checkDistribution(kv.thinkMs, 'workload.kv.think_ms', fail);
      if (!['consistent', 'default', 'stale'].includes(kv.readMode)) fail('workload.kv.read_mode must be "consistent", "default" or "stale"');
      scenario.workload.kv = kv;
    }
    if (workload.locks !== undefined && workload.locks !== null) {
      const locks = { ...LOCK_DEFAULTS, ...objectOf(workload.locks, 'workload.locks', fail) } as LockWorkload;
      locks.contenders = integer(locks.contenders, 'workload.locks.contenders', 1, 1_000, fail);
      checkDistribution(locks.holdMs, 'workload.locks.hold_ms', fail);
      scenario.workload.locks = locks;
    }
    if ((scenario.workload.kv !== null || scenario.workload.locks !== null) && scenario.raft === null) scenario.raft = { ...RAFT_DEFAULTS };
  }
  const events = input.timeline ?? input.event ?? [];
  if (!Array.isArray(events)) fail('timeline must be a list of events');
  scenario.timeline = (events as unknown[]).map((event, i) => parseEvent(event, `timeline[${i}]`, scenario, fail));
  scenario.timeline.sort((a, b) => a.atMs - b.atMs);
  if (input.expect !== undefined) {
    const expect = objectOf(input.expect, 'expect', fail);
    if (expect.maxFalseDeaths !== undefined) scenario.expect.maxFalseDeaths = integer(expect.maxFalseDeaths, 'expect.max_false_deaths', 0, 1e12, fail);
    if (expect.accurateAtEnd !== undefined) scenario.expect.accurateAtEnd = expect.accurateAtEnd === true;
    if (expect.maxDetectionMs !== undefined) scenario.expect.maxDetectionMs = expect.maxDetectionMs === null ? null : integer(expect.maxDetectionMs, 'expect.max_detection_ms', 1, 1e9, fail);
  }
  if (scenario.start === 'cold' && !scenario.timeline.some((event) => event.action === 'join')) {
    fail('a cold start needs a "join" event (who starts, and through which seeds)');
  }
  if (scenario.fidelity.coreNodes !== 'all' && scenario.start === 'cold') fail('the compact model only supports warm starts: set fidelity.core_nodes = "all"');
  return scenario;
}

/** The gossipsub profile a scenario runs with. */
export function gossipProfileOf(scenario: Scenario): GossipsubProfile {
  const base = scenario.gossip.profile === 'tribune-lan' ? GOSSIPSUB_TRIBUNE_LAN : GOSSIPSUB_DEFAULTS;
  return { ...base, ...scenario.gossip.overrides };
}

/** The membership configuration a scenario runs with. */
export function membershipConfigOf(scenario: Scenario): MembershipConfig {
  return { ...MEMBERSHIP_PROFILES[scenario.membership.profile], ...scenario.membership.overrides };
}

/** The link profile for one zone pair. */
export function linkOf(scenario: Scenario, fromZone: string, toZone: string): LinkProfile {
  const links = scenario.network.links;
  return {
    ...DEFAULT_LINK,
    ...(links.default ?? {}),
    ...(fromZone === toZone ? links[fromZone] ?? {} : {}),
    ...(links[`${fromZone}->${toZone}`] ?? {}),
  };
}

// ---------------------------------------------------------------- pieces

function parseNetwork(network: Record<string, unknown>, scenario: Scenario, fail: (problem: string) => never): void {
  const target = scenario.network;
  for (const key of Object.keys(network)) if (!(key in target) && key !== 'link') fail(`network: unknown setting "${key}"`);
  if (network.zones !== undefined) {
    if (typeof network.zones === 'number') {
      const count = integer(network.zones, 'network.zones', 1, 1_000, fail);
      target.zones = Array.from({ length: count }, (_, i) => ({ name: `z${i + 1}`, weight: 1 }));
    } else if (Array.isArray(network.zones)) {
      target.zones = network.zones.map((zone, i) => {
        if (typeof zone === 'string') return { name: zone, weight: 1 };
        const z = objectOf(zone, `network.zones[${i}]`, fail);
        if (typeof z.name !== 'string' || z.name === '') fail(`network.zones[${i}].name must be a string`);
        const weight = z.weight === undefined ? 1 : Number(z.weight);
        if (!(weight > 0)) fail(`network.zones[${i}].weight must be positive`);
        return { name: z.name as string, weight };
      });
    } else fail('network.zones must be a number or a list');
    if (target.zones.length === 0) fail('network.zones is empty');
  }
  const links = network.links ?? network.link;
  if (links !== undefined) {
    const zoneNames = new Set(target.zones.map((zone) => zone.name));
    for (const [name, value] of Object.entries(objectOf(links, 'network.links', fail))) {
      const pair = /^(.+)->(.+)$/.exec(name);
      if (name !== 'default' && !(pair ? zoneNames.has(pair[1]!) && zoneNames.has(pair[2]!) : zoneNames.has(name))) {
        fail(`network.links: "${name}" is not "default", a zone or "zone->zone" (zones: ${[...zoneNames].join(', ')})`);
      }
      const link = objectOf(Array.isArray(value) && value.length === 1 ? value[0] : value, `network.links.${name}`, fail) as Partial<LinkProfile>;
      for (const key of Object.keys(link)) if (!(key in DEFAULT_LINK)) fail(`network.links.${name}: unknown setting "${key}"`);
      if (link.latencyMs !== undefined) checkDistribution(link.latencyMs, `network.links.${name}.latency_ms`, fail);
      if (link.reorderDelayMs !== undefined) checkDistribution(link.reorderDelayMs, `network.links.${name}.reorder_delay_ms`, fail);
      for (const rate of ['lossRate', 'duplicateRate', 'reorderRate'] as const) {
        if (link[rate] !== undefined && !(typeof link[rate] === 'number' && link[rate]! >= 0 && link[rate]! <= 1)) fail(`network.links.${name}.${rate}: a probability in [0, 1]`);
      }
      target.links[name] = link;
    }
  }
  if (network.uplinkBytesPerSecond !== undefined) target.uplinkBytesPerSecond = integer(network.uplinkBytesPerSecond, 'network.uplink_bytes_per_second', 0, 1e12, fail);
  if (network.probeTransport !== undefined) {
    if (network.probeTransport !== 'datagram' && network.probeTransport !== 'stream') fail('network.probe_transport must be "datagram" or "stream"');
    target.probeTransport = network.probeTransport as 'datagram' | 'stream';
  }
  if (network.feedback !== undefined) {
    if (!['none', 'refused', 'stream'].includes(network.feedback as string)) fail('network.feedback must be "none", "refused" or "stream"');
    target.feedback = network.feedback as SendFeedback;
  }
  if (network.clockDriftPpm !== undefined) target.clockDriftPpm = integer(network.clockDriftPpm, 'network.clock_drift_ppm', 0, 100_000, fail);
  if (network.clockOffsetMs !== undefined) target.clockOffsetMs = integer(network.clockOffsetMs, 'network.clock_offset_ms', 0, 86_400_000, fail);
  if (network.wallClockSkewMs !== undefined) target.wallClockSkewMs = integer(network.wallClockSkewMs, 'network.wall_clock_skew_ms', 0, 86_400_000, fail);
  if (network.streamRtoMs !== undefined) target.streamRtoMs = integer(network.streamRtoMs, 'network.stream_rto_ms', 1, 60_000, fail);
  if (network.connectSetupMs !== undefined && network.connectSetupMs !== null) {
    checkDistribution(network.connectSetupMs, 'network.connect_setup_ms', fail);
    target.connectSetupMs = network.connectSetupMs as Distribution;
  }
  if (network.connectFailRate !== undefined) {
    const rate = Number(network.connectFailRate);
    if (!(rate >= 0 && rate < 1)) fail('network.connect_fail_rate: a probability in [0, 1)');
    if (target.connectSetupMs === null) fail('network.connect_fail_rate needs network.connect_setup_ms');
    target.connectFailRate = rate;
  }
}

function parseEvent(raw: unknown, where: string, scenario: Scenario, fail: (problem: string) => never): TimelineEvent {
  const event = objectOf(raw, where, fail);
  const atMs = integer(event.atMs ?? 0, `${where}.at_ms`, 0, 86_400_000, fail);
  const selector = (value: unknown, field: string): Selector => {
    if (typeof value === 'string') {
      checkSelector(value, `${where}.${field}`, scenario, fail);
      return value;
    }
    if (Array.isArray(value) && value.every((n) => Number.isInteger(n) && n >= 1 && n <= scenario.nodes)) return value as number[];
    return fail(`${where}.${field}: a selector string or a list of node numbers 1..${scenario.nodes}`);
  };
  const duration = (field = 'durationMs') => integer(event[field] ?? 0, `${where}.${snake(field)}`, 0, 86_400_000, fail);
  switch (event.action) {
    case 'crash':
      return { atMs, action: 'crash', nodes: selector(event.nodes, 'nodes') };
    case 'restart':
      return { atMs, action: 'restart', nodes: selector(event.nodes, 'nodes'), dataKept: event.dataKept !== false };
    case 'join':
      return { atMs, action: 'join', nodes: selector(event.nodes ?? 'all', 'nodes'), seeds: selector(event.seeds ?? [1], 'seeds'), spreadMs: duration('spreadMs') };
    case 'leave':
      return { atMs, action: 'leave', nodes: selector(event.nodes, 'nodes') };
    case 'partition':
      return {
        atMs, action: 'partition', nodes: selector(event.nodes, 'nodes'), from: event.from === undefined ? null : selector(event.from, 'from'),
        oneWay: event.oneWay === true, durationMs: duration(),
      };
    case 'heal':
      return { atMs, action: 'heal' };
    case 'loss': {
      const rate = Number(event.rate);
      if (!(rate >= 0 && rate <= 1)) fail(`${where}.rate: a probability in [0, 1]`);
      return { atMs, action: 'loss', rate, nodes: event.nodes === undefined ? null : selector(event.nodes, 'nodes'), durationMs: duration() };
    }
    case 'overload': {
      const stallMs = event.stallMs ?? { dist: 'exponential', mean: 500 };
      checkDistribution(stallMs, `${where}.stall_ms`, fail);
      return { atMs, action: 'overload', nodes: selector(event.nodes, 'nodes'), stallMs: stallMs as Distribution, durationMs: duration() };
    }
    case 'rolling-restart':
      return {
        atMs, action: 'rolling-restart', nodes: selector(event.nodes ?? 'all', 'nodes'),
        intervalMs: integer(event.intervalMs ?? 10_000, `${where}.interval_ms`, 1, 86_400_000, fail),
        downMs: integer(event.downMs ?? 2_000, `${where}.down_ms`, 0, 86_400_000, fail), dataKept: event.dataKept !== false,
      };
    default:
      return fail(`${where}.action must be one of crash, restart, join, leave, partition, heal, loss, overload, rolling-restart`);
  }
}

function checkSelector(value: string, where: string, scenario: Scenario, fail: (problem: string) => never): void {
  const base = /^(?:random|percent):[0-9.]+(?::(.+))?$/.exec(value);
  if (base !== null) {
    if (base[1] !== undefined) checkSelector(base[1], where, scenario, fail);
    return;
  }
  if (['all', 'leader', 'leader-zone', 'voters', 'non-voters', 'lock-holder'].includes(value)) return;
  if (/^n[1-9][0-9]*$/.test(value) && Number(value.slice(1)) <= scenario.nodes) return;
  if (/^range:[1-9][0-9]*-[1-9][0-9]*$/.test(value)) return;
  const zone = /^zone:(.+)$/.exec(value);
  if (zone !== null && scenario.network.zones.some((z) => z.name === zone[1])) return;
  fail(`${where}: "${value}" is not a node selector (all, random:K[:BASE], percent:P[:BASE], zone:NAME, range:A-B, leader, leader-zone, voters, non-voters, lock-holder, nK)`);
}

function checkDistribution(value: unknown, where: string, fail: (problem: string) => never): void {
  try {
    validateDistribution(value, where);
  } catch (error) {
    fail((error as Error).message);
  }
}

function integer(value: unknown, field: string, min: number, max: number, fail: (problem: string) => never): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return fail(`${field} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

function objectOf(value: unknown, field: string, fail: (problem: string) => never): Record<string, unknown> {
  if (!isObject(value)) return fail(`${field} must be an object`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** snake_case keys to camelCase, recursively; keys of `links`/`link` (zone names) are left alone. */
function camelize(value: unknown, keepKeys = false): unknown {
  if (Array.isArray(value)) return value.map((item) => camelize(item));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const name = keepKeys ? key : key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    out[name] = camelize(inner, !keepKeys && (name === 'links' || name === 'link'));
  }
  return out;
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** HCL blocks arrive as one-element arrays: unwrap them, except the repeatable `event` block. */
function unwrapHcl(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) {
    if (key !== 'event' && value.length === 1 && isObject(value[0])) return unwrapHcl(value[0]);
    return value.map((item) => unwrapHcl(item));
  }
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapHcl(v, k)]));
}

async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}

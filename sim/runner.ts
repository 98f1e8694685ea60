// One simulated run: builds the cluster a scenario describes, plays its
// timeline of faults, and returns what happened (metrics, checker verdicts,
// the event-log hash). A run is a pure function of (scenario, seed).
//
//   const scenario = await loadScenario('single-failure', { nodes: 200 });
//   const result = runScenario(scenario, { seed: 7 });
//   if (!result.ok) console.log(result.checks.filter((check) => !check.ok));
//
// Phases: the cluster starts (warm: every node already knows every node;
// cold: nobody runs until the timeline's join events), runs `settle_ms` so
// timers desynchronise, then the timeline (`duration_ms`); at its end every
// partition heals, extra loss and overload stop, and the cluster runs
// `quiet_ms` more before the final checks. Crashed nodes stay down unless
// the timeline restarts them. Measurements (bandwidth, false deaths) count
// from the end of the settle phase.

import { suspicionTimeoutMs } from '../agent/membership/suspicion.ts';
import { MemberState } from '../protocol/membership.ts';
import type { SeededPrng } from '../raft/prng.ts';
import { Simulation } from './engine.ts';
import { GossipOverlay } from './gossipsub.ts';
import { MembershipLayer } from './membership-layer.ts';
import { CHANNEL_NAMES, Network, Transport } from './network.ts';
import type { Channel } from './network.ts';
import { RaftLayer } from './raft-layer.ts';
import type { RaftSummary } from './raft-layer.ts';
import { Recorder } from './recorder.ts';
import type { TrackedChange } from './recorder.ts';
import { gossipProfileOf, linkOf, membershipConfigOf } from './scenario.ts';
import type { Scenario, Selector, TimelineEvent } from './scenario.ts';
import { SwimModel } from './swim-model.ts';

export type RunOptions = {
  seed: number;
  /** Keep a line per event (replays). */
  trace?: boolean;
  traceLinesMax?: number;
  /** Called now and then with the simulated time reached and the total. */
  onProgress?: (simulatedMs: number, totalMs: number) => void;
  /** Alive-fraction sampling period; 0 turns it off (default: 500 ms for cold starts, off otherwise). */
  sampleEveryMs?: number;
  /** Observers checked for accuracy at the end at most (sampled evenly beyond it). */
  accuracyObserversMax?: number;
};

export type CheckVerdict = { name: string; ok: boolean; detail: string };

export type ChangeSummary = {
  label: string;
  subject: string;
  expect: TrackedChange['expect'];
  /** When it happened, ms from the start of the timeline. */
  atMs: number;
  observers: number;
  learned: number;
  /** ms after the change until the first observer, half, 99%, 99.9% and all of them knew (null: never). */
  firstMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  allMs: number | null;
  /** Per-observer learning times, sorted (ms; observers that never learned are left out). */
  learnTimesMs: number[];
  /** With the compact model: the 99.9% time among the real cores' observers and among the model's, apart. */
  byKind: { coreP999Ms: number | null; modelP999Ms: number | null; coreAllMs: number | null } | null;
};

export type BandwidthSummary = {
  /** Per node (up through the whole measurement), bytes per second sent, all channels. */
  perNodeSentBytesPerSecond: number[];
  perNodeReceivedBytesPerSecond: number[];
  byChannel: Record<string, { meanSentBytesPerSecond: number; maxSentBytesPerSecond: number }>;
  meanSentBytesPerSecond: number;
  p99SentBytesPerSecond: number;
  maxSentBytesPerSecond: number;
  messagesPerNodePerSecond: number;
};

export type RunResult = {
  scenario: string;
  seed: number;
  nodes: number;
  coreNodes: number;
  ok: boolean;
  checks: CheckVerdict[];
  eventLogHash: string;
  events: number;
  eventsByKind: Record<string, number>;
  simulatedMs: number;
  wallMs: number;
  /** Of wallMs, the time spent building the cluster before the first event (warm views, overlay). */
  setupWallMs: number;
  peakQueuedEvents: number;
  timelineStartMs: number;
  membership: {
    changes: ChangeSummary[];
    falseDeaths: number;
    falseDeathSamples: { observer: string; subject: string; atMs: number }[];
    degradedDeaths: number;
    echoedDeaths: number;
    justifiedDeaths: number;
    falseSuspicions: number;
    eventCounts: Record<string, number>;
    /** [ms from timeline start, fraction of (observer, subject) pairs seen alive]. */
    aliveFraction: [number, number][];
    /** Alive-fraction 1.0 reached at (ms from timeline start), for join storms. */
    fullyConvergedAtMs: number | null;
    accuracy: { observersChecked: number; wrongPairs: number; samples: string[] };
    coreStats: Record<string, number>;
  };
  gossip: Record<string, number>;
  network: Record<string, number>;
  bandwidth: BandwidthSummary;
  raft: RaftSummary | null;
  trace: string[] | null;
};

export function runScenario(scenario: Scenario, options: RunOptions): RunResult {
  const started = performance.now();
  const sim = new Simulation({ seed: options.seed, trace: options.trace ?? false, traceLinesMax: options.traceLinesMax ?? 200_000 });
  const nodes = scenario.nodes;
  const zoneNames = scenario.network.zones.map((zone) => zone.name);
  const zoneOf = assignZones(scenario, nodes);
  const links = [];
  for (const from of zoneNames) for (const to of zoneNames) links.push(linkOf(scenario, from, to));
  const network = new Network(sim, {
    nodes, zoneOf, zones: zoneNames.length, links,
    uplinkBytesPerSecond: scenario.network.uplinkBytesPerSecond,
    refusedWhenDown: scenario.network.feedback !== 'none',
    streamRtoMs: scenario.network.streamRtoMs,
    streamRetriesMax: 6,
    connectSetupMs: scenario.network.connectSetupMs,
    connectFailRate: scenario.network.connectFailRate,
  });
  const config = membershipConfigOf(scenario);
  const minSuspicionMs = suspicionTimeoutMs(config.suspicionMultiplier, nodes, config.probeIntervalMs);
  const justifyWindowMs = config.suspicionMaxTimeoutMultiplier * minSuspicionMs + 10 * config.probeIntervalMs * config.awarenessMaxMultiplier;
  const recorder = new Recorder(sim, { nodes, justifyWindowMs, sampleEveryMs: 0 });
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  const addresses = ids.map((_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8301`);
  const layer = new MembershipLayer(sim, network, recorder, {
    ids, addresses, tags: {}, config,
    probeTransport: scenario.network.probeTransport === 'stream' ? Transport.Stream : Transport.Datagram,
    feedback: scenario.network.feedback,
    codec: scenario.fidelity.codec,
    joinRetryMs: 2_000,
    leavePropagationMs: 1_000,
  });
  const overlay = new GossipOverlay(sim, network, {
    nodes, profile: gossipProfileOf(scenario), deliver: (node, publisher, payload) => layer.deliverGossip(node, publisher, payload),
  });
  layer.attachOverlay(overlay);
  const coreCount = scenario.fidelity.coreNodes === 'all' ? nodes : Math.min(nodes, scenario.fidelity.coreNodes);
  if (coreCount < nodes) {
    if (scenario.raft !== null) throw new Error('a Raft group needs every node on the real membership core (fidelity.core_nodes = "all")');
    const mask = new Uint8Array(nodes);
    // Spread the real cores evenly over the node numbers (and so over the zones).
    for (let k = 0; k < coreCount; k++) mask[Math.floor((k * nodes) / coreCount)] = 1;
    layer.attachModel(new SwimModel(sim, layer.sink(), { ids, addresses, config, isCore: mask, tags: {} }), mask);
  }
  if (scenario.network.clockDriftPpm > 0 || scenario.network.clockOffsetMs > 0) {
    const clocks = sim.fork(0xc10c);
    for (let i = 0; i < nodes; i++) {
      sim.setClock(i, {
        rate: 1 + (clocks.nextFloat() * 2 - 1) * scenario.network.clockDriftPpm * 1e-6,
        offsetMs: Math.floor(clocks.nextFloat() * scenario.network.clockOffsetMs),
      });
    }
  }
  const wallClockSkewMs = new Float64Array(nodes);
  if (scenario.network.wallClockSkewMs > 0) {
    const skews = sim.fork(0x5e3);
    for (let i = 0; i < nodes; i++) wallClockSkewMs[i] = (skews.nextFloat() * 2 - 1) * scenario.network.wallClockSkewMs;
  }
  const raft = scenario.raft === null ? null : new RaftLayer(sim, network, layer, {
    settings: scenario.raft, kv: scenario.workload.kv, locks: scenario.workload.locks, zoneOf, zones: zoneNames.length, wallClockSkewMs,
    workloadFromMs: scenario.settleMs, workloadUntilMs: scenario.settleMs + scenario.durationMs,
  });
  const faults = sim.fork(0xfa17);
  const timelineStartMs = scenario.settleMs;
  const timelineEndMs = timelineStartMs + scenario.durationMs;
  const endMs = timelineEndMs + scenario.quietMs;
  recorder.measureFromMs = timelineStartMs;
  network.countingFromMs = timelineStartMs;
  const currentState = (subject: number) => (observer: number) => layer.stateSeenBy(observer, subject);

  // ---------------------------------------------------------------- node selection

  const select = (selector: Selector, upOnly: boolean): number[] => {
    const pool = (base: string): number[] => {
      const all = Array.from({ length: nodes }, (_, i) => i);
      const up = (list: number[]) => (upOnly ? list.filter((i) => network.up[i] === 1) : list);
      if (base === 'all') return up(all);
      if (base === 'voters') return up(raft?.voters.slice() ?? []);
      if (base === 'non-voters') return up(all.filter((i) => !(raft?.isVoter(i) ?? false)));
      if (base === 'leader') {
        const leader = raft?.leader() ?? -1;
        if (raft === null) throw new Error('selector "leader" needs a Raft group in the scenario');
        return leader < 0 ? [] : [leader];
      }
      if (base === 'lock-holder') {
        if (raft === null) throw new Error('selector "lock-holder" needs a Raft group with lock contenders');
        const holder = raft.lockHolder();
        return holder < 0 ? [] : [holder];
      }
      if (base === 'leader-zone') {
        const leader = raft?.leader() ?? -1;
        if (raft === null) throw new Error('selector "leader-zone" needs a Raft group in the scenario');
        return leader < 0 ? [] : up(all.filter((i) => zoneOf[i] === zoneOf[leader]));
      }
      const zone = /^zone:(.+)$/.exec(base);
      if (zone !== null) return up(all.filter((i) => zoneNames[zoneOf[i]!] === zone[1]));
      const range = /^range:(\d+)-(\d+)$/.exec(base);
      if (range !== null) return up(all.filter((i) => i + 1 >= Number(range[1]) && i + 1 <= Number(range[2])));
      if (/^n\d+$/.test(base)) return up([Number(base.slice(1)) - 1]);
      throw new Error(`unknown selector ${base}`);
    };
    if (Array.isArray(selector)) return selector.map((n) => n - 1).filter((i) => !upOnly || network.up[i] === 1);
    const random = /^(random|percent):([0-9.]+)(?::(.+))?$/.exec(selector);
    if (random === null) return pool(selector);
    const candidates = pool(random[3] ?? 'all');
    const count = random[1] === 'random' ? Number(random[2]) : Math.round((Number(random[2]) / 100) * nodes);
    return pick(candidates, Math.min(count, candidates.length), faults);
  };

  // ---------------------------------------------------------------- the timeline

  const crash = (node: number) => {
    if (network.up[node] === 0) return;
    layer.crash(node);
    raft?.crash(node);
    recorder.track(node, 'failed', `crash ${ids[node]}`, currentState(node));
  };
  const restart = (node: number, dataKept: boolean) => {
    if (network.up[node] === 1) return;
    const seeds = pick(Array.from({ length: nodes }, (_, i) => i).filter((i) => i !== node && network.up[i] === 1), 3, faults);
    layer.restart(node, dataKept, seeds);
    raft?.restart(node, dataKept);
    recorder.track(node, 'alive', `restart ${ids[node]}`, currentState(node));
  };
  const openPartitions: number[] = [];
  const overloaded = new Set<number>();
  // A fault with a duration ends through an undo closure; a later fault of the same kind replaces the
  // earlier one's undo, so an end never reverts a newer setting.
  const undos = new Map<number, () => void>();
  const latestUndo = new Map<string, number>();
  let nextUndo = 1;
  const endFault = sim.defineEvent('fault-end', (_target, _source, aux) => {
    const undo = undos.get(aux);
    undos.delete(aux);
    undo?.();
  });
  const later = (delayMs: number, slot: string, undo: () => void) => {
    const token = nextUndo++;
    const previous = latestUndo.get(slot);
    if (previous !== undefined) undos.delete(previous);
    latestUndo.set(slot, token);
    undos.set(token, undo);
    sim.schedule(sim.nowMs + delayMs, endFault, -1, -1, token);
  };
  const rolling = sim.defineEvent('rolling-step', (target, _source, aux) => {
    if (aux < 0) crash(target);
    else restart(target, aux === 1);
  });
  const startNode = sim.defineEvent('start-node', (target, _source, _aux, ref) => {
    layer.startCold(target, ref as number[]);
    raft?.restart(target, true);
  });
  const runEvent = (event: TimelineEvent): void => {
    sim.note(300, timelineStartMs, 0, `timeline: ${JSON.stringify(event)}`);
    switch (event.action) {
      case 'crash':
        for (const node of select(event.nodes, true)) crash(node);
        return;
      case 'restart':
        for (const node of select(event.nodes, false)) restart(node, event.dataKept);
        return;
      case 'join': {
        const seeds = select(event.seeds, false);
        const joiners = select(event.nodes, false);
        for (const node of joiners) {
          const delay = event.spreadMs > 0 ? faults.nextInt(event.spreadMs) : 0;
          sim.schedule(sim.nowMs + delay, startNode, node, -1, 0, seeds);
        }
        return;
      }
      case 'leave':
        for (const node of select(event.nodes, true)) {
          layer.leave(node);
          raft?.leave(node, 1_000);
          recorder.track(node, 'left', `leave ${ids[node]}`, currentState(node));
        }
        return;
      case 'partition': {
        const sideA = select(event.nodes, false);
        const sideB = event.from === null ? null : select(event.from, false);
        const id = network.partition(sideA, sideB, event.oneWay);
        recorder.partitionStarted(id, sideA, sideB, event.oneWay);
        openPartitions.push(id);
        if (event.durationMs > 0) {
          later(event.durationMs, `partition ${id}`, () => {
            if (!openPartitions.includes(id)) return;
            openPartitions.splice(openPartitions.indexOf(id), 1);
            network.heal(id);
            recorder.partitionHealed(id);
          });
        }
        return;
      }
      case 'heal':
        for (const id of openPartitions.splice(0)) {
          network.heal(id);
          recorder.partitionHealed(id);
        }
        return;
      case 'loss':
        if (event.nodes === null) {
          network.globalLossRate = event.rate;
          if (event.durationMs > 0) later(event.durationMs, 'loss', () => { network.globalLossRate = 0; });
        } else {
          for (const node of select(event.nodes, false)) {
            network.nodeLossRate[node] = event.rate;
            if (event.durationMs > 0) later(event.durationMs, `loss ${node}`, () => { network.nodeLossRate[node] = 0; });
          }
        }
        return;
      case 'overload':
        for (const node of select(event.nodes, true)) {
          sim.setOverload(node, event.stallMs);
          if (!overloaded.has(node)) recorder.overloadStarted(node);
          overloaded.add(node);
          if (event.durationMs > 0) {
            later(event.durationMs, `overload ${node}`, () => {
              sim.setOverload(node, null);
              overloaded.delete(node);
              recorder.overloadEnded(node);
            });
          }
        }
        return;
      case 'rolling-restart': {
        const chosen = select(event.nodes, true);
        chosen.forEach((node, k) => {
          sim.schedule(sim.nowMs + k * event.intervalMs, rolling, node, -1, -1);
          sim.schedule(sim.nowMs + k * event.intervalMs + event.downMs, rolling, node, -1, event.dataKept ? 1 : 0);
        });
        return;
      }
    }
  };
  const TIMELINE = sim.defineEvent('timeline', (_target, _source, _aux, ref) => runEvent(ref as TimelineEvent));
  const FAULTS_OFF = sim.defineEvent('faults-off', () => {
    for (const id of openPartitions.splice(0)) {
      network.heal(id);
      recorder.partitionHealed(id);
    }
    network.globalLossRate = 0;
    network.nodeLossRate.fill(0);
    for (const node of overloaded) {
      sim.setOverload(node, null);
      recorder.overloadEnded(node);
    }
    overloaded.clear();
    sim.note(301, 0, 0, 'faults off');
  });

  // ---------------------------------------------------------------- start

  if (scenario.start === 'warm') {
    layer.startWarm();
    overlay.connectRandom(scenario.gossip.warmPeers);
    raft?.start();
  } else {
    raft?.prepareCold();
  }
  for (const event of scenario.timeline) sim.schedule(timelineStartMs + event.atMs, TIMELINE, -1, -1, 0, event);
  sim.schedule(timelineEndMs, FAULTS_OFF, -1);
  const sampleEveryMs = options.sampleEveryMs ?? (scenario.start === 'cold' ? 500 : 0);
  if (sampleEveryMs > 0) {
    const SAMPLE = sim.defineEvent('sample', () => {
      let seen = 0;
      let up = 0;
      for (let i = 0; i < nodes; i++) {
        if (network.up[i] === 0) continue;
        up++;
        seen += layer.aliveSeenBy(i);
      }
      recorder.sampleAlive(seen, up);
      if (sim.nowMs + sampleEveryMs <= endMs) sim.schedule(sim.nowMs + sampleEveryMs, SAMPLE, -1);
    });
    sim.schedule(Math.min(timelineStartMs, sampleEveryMs), SAMPLE, -1);
  }
  const onProgress = options.onProgress;
  const setupWallMs = performance.now() - started;
  sim.run(endMs, onProgress === undefined ? null : (now) => onProgress(now, endMs), 100_000);
  onProgress?.(endMs, endMs);

  // ---------------------------------------------------------------- results

  const checks: CheckVerdict[] = [];
  const changes = recorder.changes.map((change) => summarizeChange(change, network, ids, timelineStartMs, coreCount < nodes ? layer.isCore : null));
  const falseDeaths = recorder.falseDeaths.length;
  checks.push({
    name: 'no unexpected false deaths',
    ok: falseDeaths <= scenario.expect.maxFalseDeaths,
    detail: `${falseDeaths} healthy members declared dead (allowed ${scenario.expect.maxFalseDeaths}); ` +
      `${recorder.degradedDeaths.length} deaths of overloaded members, ${recorder.echoedDeaths.length} echoes of a partition's verdicts`,
  });
  const accuracy = checkAccuracy(layer, network, nodes, ids, options.accuracyObserversMax ?? 2_000);
  if (scenario.expect.accurateAtEnd) {
    checks.push({
      name: 'membership eventually accurate',
      ok: accuracy.wrongPairs === 0,
      detail: accuracy.wrongPairs === 0
        ? `after ${scenario.quietMs} ms quiet, ${accuracy.observersChecked} observers see every live member alive and every stopped one failed or left`
        : `${accuracy.wrongPairs} wrong views, e.g. ${accuracy.samples.slice(0, 3).join('; ')}`,
    });
  }
  if (scenario.expect.maxDetectionMs !== null) {
    const bound = scenario.expect.maxDetectionMs;
    const slow = changes.filter((change) => change.expect !== 'alive' && (change.allMs === null || change.allMs > bound));
    checks.push({
      name: 'failures detected in time',
      ok: slow.length === 0,
      detail: slow.length === 0 ? `every crash known to every live node within ${bound} ms` : `${slow.map((c) => `${c.label}: ${c.allMs ?? 'never'}`).join(', ')} (bound ${bound} ms)`,
    });
  }
  const raftSummary = raft?.finish(checks) ?? null;
  const aliveFraction = recorder.aliveFraction.map(([ms, fraction]) => [ms - timelineStartMs, fraction] as [number, number]);
  const converged = aliveFraction.find(([ms, fraction]) => ms >= 0 && fraction >= 1);
  const eventCounts: Record<string, number> = {};
  for (const [name, code] of Object.entries({ joined: 1, alive: 2, suspect: 3, failed: 4, left: 5, updated: 6, reaped: 7 })) eventCounts[name] = recorder.eventCounts[code]!;
  return {
    scenario: scenario.name,
    seed: options.seed,
    nodes,
    coreNodes: coreCount,
    ok: checks.every((check) => check.ok),
    checks,
    eventLogHash: sim.eventLogHash(),
    events: sim.eventsDispatched,
    eventsByKind: sim.eventCounts(),
    simulatedMs: endMs,
    wallMs: performance.now() - started,
    setupWallMs,
    peakQueuedEvents: sim.queue.peakSize,
    timelineStartMs,
    membership: {
      changes,
      falseDeaths,
      falseDeathSamples: recorder.falseDeaths.slice(0, 20).map((d) => ({ observer: ids[d.observer]!, subject: ids[d.subject]!, atMs: d.atMs - timelineStartMs })),
      degradedDeaths: recorder.degradedDeaths.length,
      echoedDeaths: recorder.echoedDeaths.length,
      justifiedDeaths: recorder.justifiedDeaths.length,
      falseSuspicions: recorder.falseSuspicions,
      eventCounts,
      aliveFraction,
      fullyConvergedAtMs: converged === undefined ? null : converged[0],
      accuracy,
      coreStats: layer.coreStats(),
    },
    gossip: { ...overlay.stats },
    network: { ...network.stats },
    bandwidth: summarizeBandwidth(network, recorder, nodes, timelineStartMs, endMs),
    raft: raftSummary,
    trace: options.trace === true ? sim.traceLines() : null,
  };
}

// ---------------------------------------------------------------- helpers

function assignZones(scenario: Scenario, nodes: number): Int32Array {
  const zoneOf = new Int32Array(nodes);
  const zones = scenario.network.zones;
  const total = zones.reduce((sum, zone) => sum + zone.weight, 0);
  let boundary = 0;
  let start = 0;
  zones.forEach((zone, z) => {
    boundary += zone.weight;
    const end = z === zones.length - 1 ? nodes : Math.round((boundary / total) * nodes);
    for (let i = start; i < end; i++) zoneOf[i] = z;
    start = end;
  });
  return zoneOf;
}

/** `count` distinct elements of `from`, chosen with `prng` (order of choice). */
export function pick(from: readonly number[], count: number, prng: SeededPrng): number[] {
  const pool = from.slice();
  const take = Math.min(count, pool.length);
  for (let i = 0; i < take; i++) {
    const j = i + prng.nextInt(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, take);
}

function quantileMs(sorted: readonly number[], total: number, q: number): number | null {
  const rank = Math.max(1, Math.ceil(q * total));
  return rank <= sorted.length ? sorted[rank - 1]! : null;
}

function summarizeChange(change: TrackedChange, network: Network, ids: readonly string[], timelineStartMs: number, isCore: Uint8Array | null): ChangeSummary {
  const times: number[] = [];
  const coreTimes: number[] = [];
  const modelTimes: number[] = [];
  let observers = 0;
  let coreObservers = 0;
  for (let observer = 0; observer < network.nodes; observer++) {
    if (observer === change.subject || network.up[observer] === 0) continue;
    observers++;
    if (isCore?.[observer] === 1) coreObservers++;
    const learned = change.learnedAfterMs[observer]!;
    if (Number.isNaN(learned)) continue;
    times.push(learned);
    if (isCore !== null) (isCore[observer] === 1 ? coreTimes : modelTimes).push(learned);
  }
  times.sort((a, b) => a - b);
  coreTimes.sort((a, b) => a - b);
  modelTimes.sort((a, b) => a - b);
  return {
    label: change.label,
    subject: ids[change.subject]!,
    expect: change.expect,
    atMs: change.atMs - timelineStartMs,
    observers,
    learned: times.length,
    firstMs: times[0] ?? null,
    p50Ms: quantileMs(times, observers, 0.5),
    p99Ms: quantileMs(times, observers, 0.99),
    p999Ms: quantileMs(times, observers, 0.999),
    allMs: times.length === observers && observers > 0 ? times.at(-1)! : observers === 0 ? 0 : null,
    learnTimesMs: times,
    byKind: isCore === null ? null : {
      coreP999Ms: quantileMs(coreTimes, coreObservers, 0.999),
      modelP999Ms: quantileMs(modelTimes, observers - coreObservers, 0.999),
      coreAllMs: coreTimes.length === coreObservers ? coreTimes.at(-1) ?? null : null,
    },
  };
}

function checkAccuracy(layer: MembershipLayer, network: Network, nodes: number, ids: readonly string[], observersMax: number): RunResult['membership']['accuracy'] {
  const observers: number[] = [];
  const step = Math.max(1, nodes / observersMax);
  for (let k = 0; k < nodes; k = Math.floor(k + step) === k ? k + 1 : Math.floor(k + step)) {
    if (network.up[k] === 1) observers.push(k);
    if (observers.length >= observersMax) break;
  }
  let wrongPairs = 0;
  const samples: string[] = [];
  for (const observer of observers) {
    for (let subject = 0; subject < nodes; subject++) {
      if (subject === observer) continue;
      const state = layer.stateSeenBy(observer, subject);
      const up = network.up[subject] === 1;
      const right = up
        ? state === MemberState.Alive || state === MemberState.Suspect
        : state === undefined || state === MemberState.Dead || state === MemberState.Left;
      if (right) continue;
      wrongPairs++;
      if (samples.length < 10) samples.push(`${ids[observer]} sees ${ids[subject]} (${up ? 'up' : 'down'}) as ${state === undefined ? 'unknown' : ['alive', 'suspect', 'failed', 'left'][state]}`);
    }
  }
  return { observersChecked: observers.length, wrongPairs, samples };
}

function summarizeBandwidth(network: Network, recorder: Recorder, nodes: number, fromMs: number, toMs: number): BandwidthSummary {
  const seconds = Math.max(1e-3, (toMs - fromMs) / 1000);
  const sent: number[] = [];
  const received: number[] = [];
  const byChannel: BandwidthSummary['byChannel'] = {};
  const channelTotals = CHANNEL_NAMES.map(() => ({ sum: 0, max: 0 }));
  let messages = 0;
  let counted = 0;
  for (let node = 0; node < nodes; node++) {
    if (recorder.wasDown(node, fromMs, toMs)) continue;
    counted++;
    sent.push(network.bytesSentBy(node) / seconds);
    received.push(network.bytesReceivedBy(node) / seconds);
    messages += network.messagesSentBy(node) / seconds;
    CHANNEL_NAMES.forEach((_, c) => {
      const rate = network.bytesSentBy(node, c as Channel) / seconds;
      channelTotals[c]!.sum += rate;
      channelTotals[c]!.max = Math.max(channelTotals[c]!.max, rate);
    });
  }
  CHANNEL_NAMES.forEach((name, c) => {
    byChannel[name] = { meanSentBytesPerSecond: counted === 0 ? 0 : channelTotals[c]!.sum / counted, maxSentBytesPerSecond: channelTotals[c]!.max };
  });
  const sorted = sent.slice().sort((a, b) => a - b);
  return {
    perNodeSentBytesPerSecond: sent,
    perNodeReceivedBytesPerSecond: received,
    byChannel,
    meanSentBytesPerSecond: counted === 0 ? 0 : sent.reduce((a, b) => a + b, 0) / counted,
    p99SentBytesPerSecond: sorted[Math.max(0, Math.ceil(0.99 * sorted.length) - 1)] ?? 0,
    maxSentBytesPerSecond: sorted.at(-1) ?? 0,
    messagesPerNodePerSecond: counted === 0 ? 0 : messages / counted,
  };
}

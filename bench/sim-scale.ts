// 10,000 agents, one crash: how long until 99.9% of the live agents know,
// at 0%, 10% and 50% packet loss, against Serf's convergence model and
// memberlist's suspicion-timeout bound (issue 7).
//
//   npm run bench:sim                               (speed, this, calibration)
//   node bench/sim-scale.ts                         10,000 nodes, 100 real cores, loss 0 / 0.1 / 0.5, seeds 1-3
//   node bench/sim-scale.ts --nodes 2000 --cores all --loss 0 --seeds 1
//   node bench/sim-scale.ts --probe-transport datagram --loss 0.1 --seeds 1
//   node bench/sim-scale.ts --json out.json
//
// The cluster: warm (everyone knows everyone), LAN membership profile (probe
// 1 s, probe timeout 500 ms, suspicion multiplier 4), gossipsub with the
// library's defaults (D 6), connections to 20 random peers plus whoever a
// node probes. Everything travels as Tribune sends it, over TCP: a lost
// packet is retransmitted after 200 ms, doubling, and a request left
// unanswered fails after max(probe timeout, 500 ms). With
// `--probe-transport datagram` probes are memberlist's UDP instead (a lost
// probe is gone), which is what Serf's and memberlist's figures assume. `--cores K` nodes run the real MembershipCore; the rest the
// compact model (sim/swim-model.ts), because 10,000 real cores would hold
// 10^8 member records (about 29 GB). The real cores' own detection times
// are printed beside the model's, as a check of the model at this scale.
//
// Two comparisons:
// - Serf's convergence simulator (serf.io/docs/internals/simulator) is an
//   analytic epidemic: each round (200 ms) every informed node tells 3
//   random nodes, each message lost with probability p. It gives the time
//   for a message to reach 99.9% once it exists, about 2.6 s at 10,000
//   nodes without loss; computed here for each loss rate. We compare our
//   dissemination (first agent knows -> 99.9% know).
// - memberlist's suspicion timeout: a crash is declared at the earliest
//   after min = suspicionMultiplier x log10(N) x probeInterval (16 s at
//   10,000 nodes, 1 s probes), after a failed probe. We compare our
//   detection (crash -> 99.9% know) with that bound plus one probe period.
//
// Each run is a child process (clean heap, its own peak RSS).

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { suspicionTimeoutMs } from '../agent/membership/suspicion.ts';
import { runScenario } from '../sim/runner.ts';
import { parseScenario } from '../sim/scenario.ts';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '10000' },
    cores: { type: 'string', default: '100' },
    loss: { type: 'string', default: '0,0.1,0.5' },
    seeds: { type: 'string', default: '1,2,3' },
    'probe-transport': { type: 'string', default: 'stream' },
    'duration-s': { type: 'string', default: '45' },
    json: { type: 'string' },
    child: { type: 'string' },
  },
});

const PROBE_TRANSPORT = args['probe-transport'];
if (PROBE_TRANSPORT !== 'stream' && PROBE_TRANSPORT !== 'datagram') throw new Error('--probe-transport: stream or datagram');
const DURATION_MS = Number(args['duration-s']) * 1000;

type ChildResult = {
  nodes: number; cores: number; loss: number; seed: number;
  firstMs: number | null; p999Ms: number | null; allMs: number | null; p999SpreadMs: number | null;
  coreP999Ms: number | null; modelP999Ms: number | null;
  falseDeaths: number; falseSuspicions: number; deadPublishes: number; gossipDeliveries: number;
  wallMs: number; simulatedMs: number; events: number; peakRssBytes: number;
};

if (args.child !== undefined) {
  const [nodes, cores, loss, seed] = args.child.split(':').map(Number) as [number, number, number, number];
  // The parent passes its transport and duration on through the same flags.
  process.stdout.write(JSON.stringify(runChild(nodes, cores, loss, seed)) + '\n');
} else {
  await main();
}

function scenarioFor(nodes: number, cores: number, loss: number) {
  return parseScenario({
    name: `scale-${nodes}-loss-${loss}`,
    nodes,
    start: 'warm',
    settle_ms: 5_000,
    duration_ms: DURATION_MS,
    quiet_ms: 5_000,
    network: { probe_transport: PROBE_TRANSPORT, feedback: PROBE_TRANSPORT === 'stream' ? 'stream' : 'refused', links: { default: { latency_ms: { dist: 'lognormal', median_ms: 1, sigma: 0.5, max: 50 }, loss_rate: loss } } },
    gossip: { profile: 'default', warm_peers: 20 },
    fidelity: { core_nodes: cores >= nodes ? 'all' : cores },
    timeline: [{ at_ms: 2_000, action: 'crash', nodes: 'random:1' }],
    expect: { max_false_deaths: 1_000_000, accurate_at_end: false },
  }, 'sim-scale');
}

function runChild(nodes: number, cores: number, loss: number, seed: number): ChildResult {
  const scenario = scenarioFor(nodes, cores, loss);
  const result = runScenario(scenario, { seed, accuracyObserversMax: 0 });
  const change = result.membership.changes[0]!;
  return {
    nodes, cores: result.coreNodes, loss, seed,
    firstMs: change.firstMs, p999Ms: change.p999Ms, allMs: change.allMs,
    p999SpreadMs: change.p999Ms === null || change.firstMs === null ? null : change.p999Ms - change.firstMs,
    coreP999Ms: change.byKind?.coreP999Ms ?? null, modelP999Ms: change.byKind?.modelP999Ms ?? null,
    falseDeaths: result.membership.falseDeaths, falseSuspicions: result.membership.falseSuspicions,
    deadPublishes: result.gossip.published ?? 0, gossipDeliveries: result.gossip.delivered ?? 0,
    wallMs: result.wallMs, simulatedMs: result.simulatedMs, events: result.events, peakRssBytes: peakRss(),
  };
}

function peakRss(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/**
 * Serf's convergence model (the analytic curve of its website's simulator):
 * the informed fraction after x gossip rounds is the logistic
 * 1 / (1 + (N + 1) e^(-c N x)) with c = (fanout / N) (1 - loss) / 2, one
 * round every 200 ms, fanout 3. Returns the first whole round's time (s) at
 * which the fraction reaches `target`.
 */
export function serfConvergenceSeconds(nodes: number, loss: number, target = 0.999, fanout = 3, roundMs = 200): number {
  const contact = (fanout / nodes) * (1 - loss) * 0.5;
  for (let round = 0; round < 10_000; round++) {
    const informed = 1 / (1 + (nodes + 1) * Math.exp(-contact * nodes * round));
    if (informed >= target) return (round * roundMs) / 1000;
  }
  return Infinity;
}

async function main(): Promise<void> {
  const nodes = Number(args.nodes);
  const cores = args.cores === 'all' ? nodes : Number(args.cores);
  const losses = args.loss.split(',').map(Number);
  const seeds = args.seeds.split(',').map(Number);
  console.log(`# sim-scale: ${nodes} nodes (${cores >= nodes ? 'all' : cores} real cores), one crash, loss ${losses.join(' / ')}, probes as ${PROBE_TRANSPORT}s, seeds ${seeds.join(', ')}`);
  console.log(`# machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const minSuspicionMs = suspicionTimeoutMs(4, nodes, 1_000);
  const results: ChildResult[] = [];
  for (const loss of losses) {
    for (const seed of seeds) {
      const child = spawnSync(process.execPath, [
        '--max-old-space-size=14000', new URL(import.meta.url).pathname, '--child', `${nodes}:${cores}:${loss}:${seed}`,
        '--probe-transport', PROBE_TRANSPORT, '--duration-s', String(DURATION_MS / 1000),
      ], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (child.status !== 0) {
        console.log(`loss ${loss} seed ${seed}: child failed (${child.status ?? child.signal}): ${child.stderr.slice(-2000)}`);
        continue;
      }
      const result = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as ChildResult;
      results.push(result);
      console.log(`loss ${loss} seed ${seed}: crash -> first knew ${s(result.firstMs)}, 99.9% ${s(result.p999Ms)}, all ${s(result.allMs)}; first -> 99.9% ${s(result.p999SpreadMs)}; ` +
        `real cores' 99.9% ${s(result.coreP999Ms)}, model's ${s(result.modelP999Ms)}; ${result.deadPublishes} gossip publishes, ${result.falseDeaths} false deaths, ${result.falseSuspicions} suspicions of healthy members; ` +
        `${(result.wallMs / 1000).toFixed(0)} s wall for ${(result.simulatedMs / 1000).toFixed(0)} s simulated, ${(result.events / 1e6).toFixed(1)} M events, peak RSS ${(result.peakRssBytes / 2 ** 30).toFixed(2)} GiB`);
    }
  }
  console.log('\n| loss | crash -> 99.9% know (median of seeds) | memberlist bound: min suspicion + 1 probe period | first -> 99.9% (dissemination) | Serf model, 99.9% / 99.99% | false deaths |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const loss of losses) {
    const rows = results.filter((r) => r.loss === loss);
    const detection = median(rows.map((r) => r.p999Ms ?? Infinity));
    const spread = median(rows.map((r) => r.p999SpreadMs ?? Infinity));
    console.log(`| ${(loss * 100).toFixed(0)}% | ${s(detection)} | ${s(minSuspicionMs + 1_000)} | ${spread < 1000 ? `${spread} ms` : s(spread)} | ${serfConvergenceSeconds(nodes, loss).toFixed(1)} s / ${serfConvergenceSeconds(nodes, loss, 0.9999).toFixed(1)} s | ${rows.reduce((sum, r) => sum + r.falseDeaths, 0)} |`);
  }
  if (args.json !== undefined) writeFileSync(args.json, JSON.stringify({ nodes, cores, results }, null, 1));
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
}

function s(ms: number | null): string {
  return ms === null || !Number.isFinite(ms) ? 'never' : `${(ms / 1000).toFixed(2)} s`;
}

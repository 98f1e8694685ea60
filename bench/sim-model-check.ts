// The compact membership model (sim/swim-model.ts) against the real
// MembershipCore, where both fit in memory: the same scenarios and seeds,
// once with every node on the real core and once with every node on the
// model. The 10,000- and 100,000-node figures rest on the model, so its
// detection times, false positives and message rates must match the core's.
//
//   node bench/sim-model-check.ts                     1,000 nodes, 5 seeds, 0% and 10% loss
//   node bench/sim-model-check.ts --nodes 500 --seeds 10 --loss 0,0.1,0.3

import { parseArgs } from 'node:util';
import { runScenario } from '../sim/runner.ts';
import type { RunResult } from '../sim/runner.ts';
import { parseScenario } from '../sim/scenario.ts';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    seeds: { type: 'string', default: '5' },
    loss: { type: 'string', default: '0,0.1' },
  },
});

const NODES = Number(args.nodes);
const SEEDS = Number(args.seeds);

function scenario(cores: 'all' | number, loss: number) {
  return parseScenario({
    name: `model-check-${cores}-${loss}`, nodes: NODES, start: 'warm',
    // Long enough for the real cores' warm-start piggyback queues (every member's alive) to drain mostly.
    settle_ms: 120_000, duration_ms: 60_000, quiet_ms: 10_000,
    network: { probe_transport: 'datagram', links: { default: { latency_ms: { dist: 'lognormal', median_ms: 1, sigma: 0.5, max: 50 }, loss_rate: loss } } },
    fidelity: { core_nodes: cores },
    timeline: [{ at_ms: 5_000, action: 'crash', nodes: 'random:1' }, { at_ms: 30_000, action: 'crash', nodes: 'random:1' }],
    expect: { max_false_deaths: 1_000_000, accurate_at_end: false },
  }, 'sim-model-check');
}

type Row = { detectionMs: number[]; falseDeaths: number; falseSuspicions: number; probesPerNodeSecond: number; refutations: number; wallMs: number };

function collect(results: RunResult[]): Row {
  return {
    detectionMs: results.flatMap((result) => result.membership.changes.map((change) => change.p999Ms ?? Infinity)),
    falseDeaths: results.reduce((sum, result) => sum + result.membership.falseDeaths, 0),
    falseSuspicions: results.reduce((sum, result) => sum + result.membership.falseSuspicions, 0),
    probesPerNodeSecond: results.reduce((sum, result) => sum + result.bandwidth.byChannel.probe!.meanSentBytesPerSecond, 0) / results.length,
    refutations: results.reduce((sum, result) => sum + (result.membership.coreStats.refutations ?? 0), 0),
    wallMs: results.reduce((sum, result) => sum + result.wallMs, 0),
  };
}

console.log(`# sim-model-check: ${NODES} nodes, ${SEEDS} seeds, two crashes per run; the real core on every node vs the model on every node`);
console.log('\n| loss | nodes on | crash -> 99.9% know: median (min-max) | false deaths | suspicions of healthy members | probe bytes/s per node | wall |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const loss of args.loss.split(',').map(Number)) {
  for (const cores of ['all', 0] as const) {
    const results: RunResult[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) results.push(runScenario(scenario(cores, loss), { seed, accuracyObserversMax: 0 }));
    const row = collect(results);
    const sorted = row.detectionMs.slice().sort((a, b) => a - b);
    console.log(`| ${(loss * 100).toFixed(0)}% | ${cores === 'all' ? 'real core' : 'model'} | ${s(sorted[Math.floor((sorted.length - 1) / 2)]!)} (${s(sorted[0]!)}-${s(sorted.at(-1)!)}) | ${row.falseDeaths} | ${row.falseSuspicions} | ${row.probesPerNodeSecond.toFixed(0)} | ${(row.wallMs / 1000).toFixed(0)} s |`);
  }
}

function s(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'never';
}

// Seeded runs of whole Raft clusters through message loss, reordering,
// duplication, delay, partitions, crash-restarts, snapshots, membership
// changes and leadership transfers. Every run must keep Raft's safety
// properties and produce a linearizable client history. A failure prints the
// seed: `npm run sim:raft -- --seed N --trace` replays it exactly.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runRaftScenario, scenarioForSeed } from '../../sim/raft-cluster.ts';

function runSeeds(nodes: number, seeds: number[]): void {
  const failures: string[] = [];
  let committed = 0;
  let completed = 0;
  for (const seed of seeds) {
    const result = runRaftScenario(scenarioForSeed(seed, { nodes }));
    committed += result.stats.committed;
    completed += result.stats.operationsCompleted;
    if (result.violation) failures.push(`seed ${seed} (${nodes} nodes): ${result.violation.split('\n')[0]}`);
    else assert.is(result.linearizability?.result, 'ok', `seed ${seed}: the linearizability check must finish`);
  }
  assert.equal(failures, [], failures.join('\n'));
  // The runs must do real work, not idle safely.
  assert.ok(committed > seeds.length * 200, `only ${committed} entries committed over ${seeds.length} runs`);
  assert.ok(completed > seeds.length * 300, `only ${completed} client operations completed over ${seeds.length} runs`);
}

test('3-node clusters stay safe and linearizable under faults (40 seeds)', () => {
  runSeeds(3, Array.from({ length: 40 }, (_, i) => 1000 + i));
});

test('5-node clusters stay safe and linearizable under faults (20 seeds)', () => {
  runSeeds(5, Array.from({ length: 20 }, (_, i) => 5000 + i));
});

test('a run is a pure function of its seed: the same seed replays the same history', () => {
  const first = runRaftScenario(scenarioForSeed(77, { nodes: 3, trace: true }));
  const second = runRaftScenario(scenarioForSeed(77, { nodes: 3, trace: true }));
  assert.equal(first.stats, second.stats);
  assert.equal(first.trace, second.trace);
  const other = runRaftScenario(scenarioForSeed(78, { nodes: 3 }));
  assert.not.equal(first.stats, other.stats);
});

test.run();

// Runs many seeded Raft cluster scenarios and prints every failing seed, so a
// failure found once replays exactly.
//
//   node sim/raft-check.ts --seeds 5000             seeds 1..5000, 3 and 5 nodes
//   node sim/raft-check.ts --from 7000 --seeds 100 --nodes 5
//   node sim/raft-check.ts --seed 1234 --nodes 3 --trace   replay one, with its event trace
//
// (npm run sim:raft -- …)

import { parseArgs } from 'node:util';
import { runRaftScenario, scenarioForSeed } from './raft-cluster.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    from: { type: 'string', default: '1' },
    seed: { type: 'string' },
    nodes: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
});

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name} must be a non-negative integer, got "${text}"`);
    process.exit(2);
  }
  return value;
}

const nodeCounts = values.nodes ? [positiveInteger('nodes', values.nodes)] : [3, 5];
if (values.seed !== undefined) {
  const seed = positiveInteger('seed', values.seed);
  for (const nodes of nodeCounts) {
    const result = runRaftScenario(scenarioForSeed(seed, { nodes, trace: values.trace }));
    if (values.trace) console.log(result.trace.join('\n'));
    console.log(`seed ${seed}, ${nodes} nodes: ${result.violation ?? 'ok'}`);
    console.log(JSON.stringify(result.stats));
    if (result.violation) process.exitCode = 1;
  }
} else {
  const from = positiveInteger('from', values.from);
  const count = positiveInteger('seeds', values.seeds);
  const failing: string[] = [];
  const started = performance.now();
  for (let seed = from; seed < from + count; seed++) {
    for (const nodes of nodeCounts) {
      const result = runRaftScenario(scenarioForSeed(seed, { nodes }));
      if (result.violation) {
        failing.push(`--seed ${seed} --nodes ${nodes}`);
        console.log(`FAIL seed ${seed}, ${nodes} nodes: ${result.violation.split('\n')[0]}`);
      }
    }
    if ((seed - from + 1) % 100 === 0) console.log(`${seed - from + 1}/${count} seeds, ${failing.length} failing, ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  console.log(`${count * nodeCounts.length} runs, ${failing.length} failing`);
  for (const args of failing) console.log(`replay: node sim/raft-check.ts ${args} --trace`);
  if (failing.length > 0) process.exitCode = 1;
}

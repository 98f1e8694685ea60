// A run is a pure function of (scenario, seed): the same seed twice gives
// identical event logs, line for line, and the same hash; another seed does not.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../sim/runner.ts';
import { loadScenario } from '../../sim/scenario.ts';
import { swarmScenario } from '../../sim/swarm.ts';

test('the same seed twice gives identical event logs (membership, gossip, Raft, clients, faults)', async () => {
  const scenario = await loadScenario('leader-partition', { nodes: 12 });
  const first = runScenario(scenario, { seed: 42, trace: true, traceLinesMax: 2_000_000 });
  const second = runScenario(scenario, { seed: 42, trace: true, traceLinesMax: 2_000_000 });
  assert.ok(first.trace!.length > 10_000, `only ${first.trace!.length} trace lines`);
  assert.is(first.trace!.length, second.trace!.length);
  const firstDifference = first.trace!.findIndex((line, i) => line !== second.trace![i]);
  assert.is(firstDifference, -1, `logs differ at line ${firstDifference}: ${first.trace![firstDifference]} / ${second.trace![firstDifference]}`);
  assert.is(first.eventLogHash, second.eventLogHash);
  const { wallMs: _a, setupWallMs: _e, trace: _b, ...firstRest } = first;
  const { wallMs: _c, setupWallMs: _f, trace: _d, ...secondRest } = second;
  assert.equal(firstRest, secondRest);
  const other = runScenario(scenario, { seed: 43 });
  assert.is.not(other.eventLogHash, first.eventLogHash);
});

test('tracing does not change the run, and swarm seeds name their scenario exactly', () => {
  const scenario = swarmScenario(7);
  assert.equal(swarmScenario(7), scenario);
  const traced = runScenario(scenario, { seed: 7, trace: true });
  const plain = runScenario(scenario, { seed: 7 });
  assert.is(traced.eventLogHash, plain.eventLogHash);
  assert.is(traced.events, plain.events);
});

test.run();

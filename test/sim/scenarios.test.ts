// Twenty short seeded simulations with every checker on: the built-in
// scenarios at small sizes, the real codec and the compact model once each,
// and ten swarm seeds (random fault mixes). A failure names the command that
// replays it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../sim/runner.ts';
import type { RunResult } from '../../sim/runner.ts';
import { loadScenario } from '../../sim/scenario.ts';
import type { Scenario } from '../../sim/scenario.ts';
import { swarmScenario } from '../../sim/swarm.ts';

function expectOk(result: RunResult, replay: string): void {
  const failed = result.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`);
  assert.equal(failed, [], `${failed.join('\n')}\nreplay: ${replay}`);
}

async function builtin(name: string, nodes: number, seed: number, adjust: (scenario: Scenario) => void = () => {}): Promise<RunResult> {
  const scenario = await loadScenario(name, { nodes });
  adjust(scenario);
  const result = runScenario(scenario, { seed });
  expectOk(result, `tribune sim replay ${seed} -scenario ${name} -nodes ${nodes}`);
  return result;
}

test('join-storm: 40 agents joining through three seeds all see each other alive', async () => {
  const result = await builtin('join-storm', 40, 1);
  assert.ok(result.membership.fullyConvergedAtMs !== null && result.membership.fullyConvergedAtMs < 40_000, `converged at ${result.membership.fullyConvergedAtMs} ms`);
});

test('single-failure: every live agent learns of the crash, no healthy agent dies (two seeds)', async () => {
  for (const seed of [1, 2]) {
    const result = await builtin('single-failure', 40, seed);
    const [crash] = result.membership.changes;
    assert.ok(crash !== undefined && crash.allMs !== null, 'everyone learned');
    // Suspicion at 40 members: 4 x log10(40) x 1 s = 6.4 s minimum; a probe finds the crash within a few periods.
    assert.ok(crash!.allMs! > 6_000 && crash!.allMs! < 20_000, `took ${crash!.allMs} ms`);
  }
});

test('mass-failure: a tenth of 50 agents die at once and all of them are detected', async () => {
  const result = await builtin('mass-failure', 50, 1);
  assert.is(result.membership.changes.length, 5);
  for (const change of result.membership.changes) assert.ok(change.allMs !== null, `${change.label} was not detected by everyone`);
});

test('lossy: up to 50% loss on 30 agents, crashes still detected, views accurate afterwards', async () => {
  const result = await builtin('lossy', 30, 1);
  assert.ok(result.membership.changes.filter((change) => change.allMs !== null).length >= 4);
});

test('overloaded-node: Lifeguard keeps a starved agent from getting healthy agents declared dead', async () => {
  const result = await builtin('overloaded-node', 30, 1);
  assert.ok(result.membership.falseSuspicions > 0, 'the slow agent did suspect healthy ones');
  assert.is(result.membership.falseDeaths, 0);
});

test('leader-partition: KV linearizable and lock safe while the leader\'s rack is cut off (two seeds)', async () => {
  for (const seed of [1, 2]) {
    const result = await builtin('leader-partition', 15, seed);
    assert.ok(result.raft!.leaderChanges >= 2, 'a new leader was elected');
    assert.ok(result.raft!.unavailableTotalMs > 0 && result.raft!.unavailableTotalMs < 10_000, `unavailable ${result.raft!.unavailableTotalMs} ms`);
  }
});

test('rolling-restart: every agent restarted in turn, voters included, with clients writing (two seeds)', async () => {
  for (const seed of [1, 2]) {
    const result = await builtin('rolling-restart', seed === 1 ? 9 : 12, seed);
    assert.ok(result.raft!.kv!.completed > 1_000);
  }
});

test('single-failure with every message through the real codec', async () => {
  await builtin('single-failure', 25, 3, (scenario) => { scenario.fidelity.codec = true; });
});

test('single-failure with 10 real cores among 60 agents on the compact model', async () => {
  const result = await builtin('single-failure', 60, 4, (scenario) => { scenario.fidelity.coreNodes = 10; });
  assert.ok(result.membership.changes[0]!.allMs !== null);
});

test('ten swarm seeds: random fault mixes keep every checker green', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const result = runScenario(swarmScenario(seed), { seed });
    expectOk(result, `tribune sim replay ${seed}`);
  }
});

test.run();

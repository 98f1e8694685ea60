// The checkers have teeth: each one fails on a run built to break what it
// protects, and the death classifier sorts deaths by their cause.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Simulation } from '../../sim/engine.ts';
import { Recorder } from '../../sim/recorder.ts';
import { runScenario } from '../../sim/runner.ts';
import { parseScenario } from '../../sim/scenario.ts';

function failedChecks(raw: Record<string, unknown>, seed: number): string[] {
  const result = runScenario(parseScenario(raw, String(raw.name)), { seed });
  return result.checks.filter((check) => !check.ok).map((check) => check.name);
}

test('stale reads from a cut-off leader are caught by the linearizability checker', () => {
  const raw = {
    name: 'stale-reads', nodes: 9, network: { zones: 3 }, raft: { voters: 3 },
    workload: { kv: { clients: 4, keys: 2, read_mode: 'stale' } },
    settle_ms: 5_000, duration_ms: 30_000, quiet_ms: 10_000,
    timeline: [{ at_ms: 5_000, action: 'partition', nodes: 'leader-zone', duration_ms: 15_000 }],
  };
  assert.equal(failedChecks(raw, 1), ['KV linearizable']);
  // The same run with consistent reads is linearizable.
  assert.equal(failedChecks({ ...raw, workload: { kv: { clients: 4, keys: 2, read_mode: 'consistent' } } }, 1), []);
});

test('without lock-delay, a partitioned lock holder and its successor overlap: the lock checker says so', () => {
  const raw = (lockDelayMs: number) => ({
    name: `lock-delay-${lockDelayMs}`, nodes: 9, raft: { voters: 3 },
    workload: { locks: { contenders: 3, lock_delay_ms: lockDelayMs, hold_ms: 30_000 } },
    settle_ms: 5_000, duration_ms: 60_000, quiet_ms: 10_000,
    timeline: [{ at_ms: 10_000, action: 'partition', nodes: 'lock-holder', duration_ms: 40_000 }],
  });
  assert.equal(failedChecks(raw(0), 1), ['lock safety']);
  assert.equal(failedChecks(raw(15_000), 1), []);
});

test('without push-pull and reconnects a healed partition stays split: the accuracy checker says so', () => {
  const raw = {
    name: 'split', nodes: 20, membership: { reconnect_interval_ms: 0, push_pull_interval_ms: 0 },
    settle_ms: 5_000, duration_ms: 40_000, quiet_ms: 30_000,
    timeline: [{ at_ms: 0, action: 'partition', nodes: 'range:1-10', duration_ms: 30_000 }],
  };
  assert.equal(failedChecks(raw, 1), ['membership eventually accurate']);
  assert.equal(failedChecks({ ...raw, membership: {} }, 1), []);
});

test('deaths are classified by cause: crash, partition, echo of a partition, overload, or false', () => {
  const sim = new Simulation({ seed: 1 });
  const recorder = new Recorder(sim, { nodes: 6, justifyWindowMs: 10_000, sampleEveryMs: 0 });
  const at = (ms: number, action: () => void) => sim.schedule(ms, sim.defineEvent(`at-${ms}`, action), -1);
  at(1_000, () => recorder.nodeDown(1));
  at(2_000, () => recorder.memberEvent(0, 1, 'failed'));            // 1 crashed: justified
  at(3_000, () => recorder.partitionStarted(7, [2], null, false));
  at(4_000, () => recorder.memberEvent(0, 2, 'failed'));            // 0 and 2 separated: justified
  at(4_500, () => recorder.memberEvent(2, 3, 'failed'));            // 2 cut off from 3: justified
  at(5_000, () => recorder.partitionHealed(7));
  at(6_000, () => recorder.memberEvent(4, 3, 'failed'));            // 3 reachable by 4, but 2 judged it: an echo
  at(6_500, () => recorder.overloadStarted(5));
  at(7_000, () => recorder.memberEvent(0, 5, 'failed'));            // 5 is overloaded: degraded
  at(30_000, () => recorder.memberEvent(0, 4, 'failed'));           // 4 was always fine: false
  at(30_500, () => recorder.memberEvent(3, 4, 'suspect'));          // and suspected although fine
  sim.run(40_000);
  const pairs = (records: { observer: number; subject: number }[]) => records.map((r) => `${r.observer}->${r.subject}`);
  assert.equal(pairs(recorder.justifiedDeaths), ['0->1', '0->2', '2->3']);
  assert.equal(pairs(recorder.echoedDeaths), ['4->3']);
  assert.equal(pairs(recorder.degradedDeaths), ['0->5']);
  assert.equal(pairs(recorder.falseDeaths), ['0->4']);
  assert.is(recorder.falseSuspicions, 1);
});

test.run();

// The engine's node-local time: drifting clocks convert both ways without
// waking a node early, and an overloaded node runs its events late but in
// the order they arrived.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Simulation } from '../../sim/engine.ts';

test('a drifting clock: the virtual instant found for a local deadline is the first that reaches it', () => {
  const sim = new Simulation({ seed: 1 });
  sim.setClock(0, { rate: 1.0001, offsetMs: 12_345 });
  sim.setClock(1, { rate: 0.995, offsetMs: 0 });
  for (const node of [0, 1]) {
    for (const local of [12_345, 20_000, 1_000_003, 86_400_000]) {
      const at = sim.virtualAtLocal(node, local);
      const LOCAL = sim.defineEvent(`probe-${node}-${local}`, () => {
        assert.ok(sim.localNowMs(node) >= local, `node ${node} woke at local ${sim.localNowMs(node)} for ${local}`);
      });
      sim.schedule(at, LOCAL, node);
    }
  }
  sim.run(100_000_000);
});

test('an overloaded node runs its events late, in arrival order; others are not delayed', () => {
  const sim = new Simulation({ seed: 3 });
  const ran: [number, number, number][] = [];
  const EVENT = sim.defineEvent('work', (target, _source, aux) => ran.push([target, aux, sim.nowMs]), { node: true });
  sim.setOverload(1, { dist: 'exponential', mean: 300 });
  for (let i = 0; i < 50; i++) {
    sim.schedule(i * 10, EVENT, 0, -1, i);
    sim.schedule(i * 10, EVENT, 1, -1, i);
  }
  sim.run(1_000_000);
  const healthy = ran.filter(([node]) => node === 0);
  const slow = ran.filter(([node]) => node === 1);
  assert.equal(healthy.map(([, i, at]) => at - i * 10), new Array(50).fill(0));
  assert.equal(slow.map(([, i]) => i), Array.from({ length: 50 }, (_, i) => i), 'in arrival order');
  const lateness = slow.map(([, i, at]) => at - i * 10);
  assert.ok(Math.min(...lateness) >= 0);
  assert.ok(lateness.reduce((a, b) => a + b, 0) / lateness.length > 100, 'late on average');
  // Stalls delay; they do not pile up into an ever-growing backlog.
  assert.ok(Math.max(...lateness) < 5_000, `worst ${Math.max(...lateness)} ms`);
});

test.run();

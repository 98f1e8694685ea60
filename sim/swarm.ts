// The swarm: many small runs, each with a fault mix drawn from its seed, so
// that a seed alone names a whole scenario and `tribune sim replay SEED`
// reproduces any failure the swarm prints.
//
//   const scenario = swarmScenario(1234);        // the same object for the same seed, always
//   const result = runScenario(scenario, { seed: 1234 });
//
// What varies: cluster size (8-30), latency and its tail, loss, duplication
// and reordering, probe transport and send-failure feedback, clock drift,
// the gossip profile; with or without a Raft group, KV clients and lock
// contenders; and a timeline of one to five faults: crashes (some
// restarted, with or without their data), partitions (total or one-way,
// of random nodes, of a zone, or of the Raft leader's zone), bursts of
// loss, overloaded nodes, graceful leaves. Every checker runs; false
// deaths are tolerated only where the mix makes them legitimate (loss or
// overload), never a safety violation.

import { SeededPrng } from '../raft/prng.ts';
import { parseScenario } from './scenario.ts';
import type { Scenario } from './scenario.ts';

export function swarmScenario(seed: number, overrides: { nodes?: number } = {}): Scenario {
  const prng = new SeededPrng((seed ^ 0x2545f491) >>> 0);
  const pick = <T>(values: readonly T[]): T => values[prng.nextInt(values.length)]!;
  const chance = (p: number) => prng.nextFloat() < p;
  const nodes = overrides.nodes ?? pick([8, 12, 20, 30]);
  const zones = pick([1, 2, 3]);
  const withRaft = chance(0.5) && nodes >= 5;
  const loss = pick([0, 0, 0.01, 0.05, 0.1]);
  const durationMs = pick([30_000, 45_000, 60_000]);
  const events: Record<string, unknown>[] = [];
  let degrades = loss > 0;
  const faults = 1 + prng.nextInt(5);
  for (let k = 0; k < faults; k++) {
    const atMs = 1_000 + prng.nextInt(durationMs - 10_000);
    const kind = pick(['crash', 'crash', 'partition', 'partition', 'loss', 'overload', 'leave', 'clock']);
    switch (kind) {
      case 'crash': {
        const nodesSelector = withRaft && chance(0.3) ? pick(['leader', 'random:1:voters']) : 'random:1';
        events.push({ at_ms: atMs, action: 'crash', nodes: nodesSelector });
        if (chance(0.6)) events.push({ at_ms: Math.min(durationMs - 1, atMs + 1_000 + prng.nextInt(20_000)), action: 'restart', nodes: 'all', data_kept: chance(0.8) });
        break;
      }
      case 'partition': {
        const selector = zones > 1 && chance(0.4) ? (withRaft && chance(0.5) ? 'leader-zone' : `zone:z${1 + prng.nextInt(zones)}`) : `random:${1 + prng.nextInt(Math.max(1, Math.floor(nodes / 2)))}`;
        events.push({ at_ms: atMs, action: 'partition', nodes: selector, one_way: chance(0.2), duration_ms: 1_000 + prng.nextInt(25_000) });
        break;
      }
      case 'loss':
        degrades = true;
        events.push({ at_ms: atMs, action: 'loss', rate: pick([0.05, 0.1, 0.25]), duration_ms: 2_000 + prng.nextInt(15_000) });
        break;
      case 'overload':
        degrades = true;
        events.push({ at_ms: atMs, action: 'overload', nodes: 'random:1', stall_ms: { dist: 'exponential', mean: pick([200, 800, 2_000]), max: 10_000 }, duration_ms: 2_000 + prng.nextInt(20_000) });
        break;
      case 'leave':
        events.push({ at_ms: atMs, action: 'leave', nodes: withRaft ? 'random:1:non-voters' : 'random:1' });
        break;
      case 'clock':
        // Nothing on the timeline: the clocks of every node drift (below).
        break;
    }
  }
  const raw: Record<string, unknown> = {
    name: `swarm-${seed}`,
    description: `A fault mix drawn from seed ${seed}.`,
    nodes,
    start: 'warm',
    settle_ms: 5_000,
    duration_ms: durationMs,
    quiet_ms: 90_000,
    membership: { profile: 'lan' },
    gossip: { profile: pick(['default', 'tribune-lan']) },
    network: {
      zones,
      links: {
        default: {
          latency_ms: { dist: 'lognormal', median_ms: pick([0.5, 1, 3, 10]), sigma: pick([0.2, 0.5, 1]), max: 400 },
          loss_rate: loss,
          duplicate_rate: pick([0, 0, 0.01, 0.05]),
          reorder_rate: pick([0, 0.02, 0.1]),
        },
      },
      probe_transport: pick(['datagram', 'stream']),
      feedback: pick(['none', 'refused', 'stream']),
      clock_drift_ppm: pick([0, 100, 5_000]),
      clock_offset_ms: pick([0, 50_000]),
      // NTP-like skews only: seconds of skew between leaders shorten lock-delay by design (see test/sim/checkers.test.ts).
      wall_clock_skew_ms: pick([0, 0, 50, 500]),
    },
    fidelity: { codec: chance(0.25) },
    timeline: events,
    expect: { max_false_deaths: degrades ? 1_000_000 : 0, accurate_at_end: true },
  };
  if (withRaft) {
    raw.raft = { voters: pick([3, 3, 5]) > nodes ? 3 : pick([3, 5]), spread_voters: true };
    raw.workload = {
      kv: { clients: pick([2, 3, 5]), keys: pick([1, 3]), read_mode: pick(['consistent', 'default']) },
      locks: chance(0.6) ? { contenders: pick([2, 3]), lock_delay_ms: 15_000, session_ttl_ms: 10_000 } : null,
    };
  }
  return parseScenario(raw, `swarm seed ${seed}`);
}

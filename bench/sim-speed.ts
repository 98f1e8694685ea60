// How fast the simulator runs and how much memory it needs, by cluster size
// (issue 7): simulated node-seconds per wall-clock second and peak resident
// memory, for a steady cluster (no faults) over 60 simulated seconds.
//
//   node bench/sim-speed.ts                          the default plan below
//   node bench/sim-speed.ts --plan 1000:all,10000:100,100000:10
//   node bench/sim-speed.ts --simulated-s 30 --json out.json
//
// A plan entry is NODES:CORES: how many nodes, and how many of them run the
// real MembershipCore ('all', or a number: the rest run the compact model).
// The default plan measures the real cores alone at 1,000 to 3,000 nodes
// (their memory grows with N^2: each holds every member), then 10,000 and
// 100,000 nodes on the model with a sample of real cores. Targets on this
// 2-core machine: 10,000 nodes at least as fast as real time, 100,000
// nodes within 16 GiB.
//
// Each entry runs in its own child process, so its peak RSS (VmHWM) is its
// own. Set-up (building every node's view) is timed apart from the run.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { runScenario } from '../sim/runner.ts';
import { parseScenario } from '../sim/scenario.ts';

const { values: args } = parseArgs({
  options: {
    plan: { type: 'string', default: '1000:all,2000:all,3000:all,10000:100,10000:0,100000:10' },
    'simulated-s': { type: 'string', default: '60' },
    json: { type: 'string' },
    child: { type: 'string' },
  },
});

type SpeedResult = {
  nodes: number; cores: number; simulatedS: number;
  setupWallS: number; runWallS: number; nodeSecondsPerWallSecond: number; realTimeFactor: number;
  events: number; eventsPerWallSecond: number; peakRssBytes: number; heapUsedBytes: number; peakQueuedEvents: number;
  messagesPerNodePerSecond: number; bytesPerNodePerSecond: number;
};

if (args.child !== undefined) {
  const [nodes, coresText, simulatedText] = args.child.split(':') as [string, string, string];
  process.stdout.write(JSON.stringify(runChild(Number(nodes), coresText === 'all' ? 'all' : Number(coresText), Number(simulatedText))) + '\n');
} else {
  main();
}

function runChild(nodes: number, cores: 'all' | number, simulatedS: number): SpeedResult {
  const scenario = parseScenario({
    name: `speed-${nodes}`, nodes, start: 'warm', settle_ms: 0, duration_ms: simulatedS * 1000, quiet_ms: 0,
    gossip: { warm_peers: 20 },
    fidelity: { core_nodes: cores === 'all' || cores >= nodes ? 'all' : cores },
    timeline: [],
    expect: { accurate_at_end: false },
  }, 'sim-speed');
  const result = runScenario(scenario, { seed: 1, accuracyObserversMax: 0 });
  const totalWallS = result.wallMs / 1000;
  const setupWallS = result.setupWallMs / 1000;
  const runWallS = totalWallS - setupWallS;
  return {
    nodes, cores: result.coreNodes, simulatedS,
    setupWallS, runWallS,
    nodeSecondsPerWallSecond: (nodes * simulatedS) / runWallS,
    realTimeFactor: simulatedS / runWallS,
    events: result.events, eventsPerWallSecond: result.events / runWallS,
    peakRssBytes: peakRss(), heapUsedBytes: process.memoryUsage().heapUsed, peakQueuedEvents: result.peakQueuedEvents,
    messagesPerNodePerSecond: result.bandwidth.messagesPerNodePerSecond, bytesPerNodePerSecond: result.bandwidth.meanSentBytesPerSecond,
  };
}

function peakRss(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

function main(): void {
  const simulatedS = Number(args['simulated-s']);
  const plan = args.plan.split(',').map((entry) => entry.split(':') as [string, string]);
  console.log(`# sim-speed: steady cluster, ${simulatedS} s simulated per entry`);
  console.log(`# machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const results: SpeedResult[] = [];
  for (const [nodes, cores] of plan) {
    const child = spawnSync(process.execPath, ['--max-old-space-size=15000', new URL(import.meta.url).pathname, '--child', `${nodes}:${cores}:${simulatedS}`], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (child.status !== 0) {
      console.log(`${nodes} nodes (${cores} cores): child failed (${child.status ?? child.signal}): ${child.stderr.slice(-1500)}`);
      continue;
    }
    const result = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as SpeedResult;
    results.push(result);
    console.log(`${nodes} nodes, ${result.cores === result.nodes ? 'all' : result.cores} real cores: set-up ${result.setupWallS.toFixed(1)} s, run ${result.runWallS.toFixed(1)} s for ${simulatedS} s ` +
      `(${result.realTimeFactor.toFixed(2)}x real time, ${fmt(result.nodeSecondsPerWallSecond)} node-s/s, ${fmt(result.eventsPerWallSecond)} events/s), peak RSS ${(result.peakRssBytes / 2 ** 30).toFixed(2)} GiB; ` +
      `load ${loadavg()[0]!.toFixed(1)}`);
  }
  console.log('\n| nodes | real cores | set-up | simulated node-seconds per wall second | x real time | events per second | peak RSS |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(`| ${r.nodes.toLocaleString('en')} | ${r.cores === r.nodes ? 'all' : r.cores} | ${r.setupWallS.toFixed(1)} s | ${fmt(r.nodeSecondsPerWallSecond)} | ${r.realTimeFactor.toFixed(2)} | ${fmt(r.eventsPerWallSecond)} | ${(r.peakRssBytes / 2 ** 30).toFixed(2)} GiB |`);
  }
  if (args.json !== undefined) writeFileSync(args.json, JSON.stringify(results, null, 1));
}

function fmt(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(1);
}

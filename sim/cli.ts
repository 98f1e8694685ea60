// `tribune sim`: run scenarios, replay seeds, run the swarm.
//
//   tribune sim run single-failure -nodes 1000 -seed 7 -out report/
//   tribune sim run ./my-scenario.hcl -seeds 20
//   tribune sim replay 1234                           # a swarm seed: the seed is the whole scenario
//   tribune sim replay 7 -scenario lossy -nodes 200 -out replay/
//   tribune sim swarm -seeds 500                      # random fault mixes; prints failing seeds
//   tribune sim list
//
// Exit status: 0 when every checker passed, 1 when one failed, 2 on a
// usage error. The progress bar goes to standard error when it is a
// terminal; results and summaries to standard output.

import { runScenario } from './runner.ts';
import type { RunResult } from './runner.ts';
import { aggregateText, summaryText, writeReport } from './report.ts';
import { BUILTIN_SCENARIOS, loadScenario, ScenarioError } from './scenario.ts';
import type { Scenario } from './scenario.ts';
import { swarmScenario } from './swarm.ts';

/** What the CLI writes to (the `tribune` CLI's io, structurally). */
export type SimIo = { out(text: string): void; err(text: string): void };

const USAGE = `Usage: tribune sim <subcommand> [options]

  Runs the agents' real membership, Raft and state-machine cores on a virtual
  clock and a simulated network: thousands of agents in one process, any run
  replayable from its seed.

Subcommands:
    run SCENARIO     Run a built-in scenario (${BUILTIN_SCENARIOS.join(', ')})
                     or a scenario file (*.json, *.hcl)
    replay SEED      Run one seed again with a full event trace
    swarm            Run many seeds with random fault mixes; print the failing ones
    list             List the built-in scenarios

Options for run:
    -nodes N         Cluster size (default: the scenario's)
    -seed S          First seed (default 1)
    -seeds K         Run K seeds: S, S+1, ... (default 1)
    -out DIR         Write result.json, summary.txt, SVG charts and index.html
    -codec           Round-trip every membership message through the real codec
    -core-nodes K    Run K nodes on the real membership core, the rest on the compact model
    -trace           Keep the event trace (written to DIR/trace.txt with -out)
    -json            Print the result as JSON instead of the summary

Options for replay:
    -scenario NAME   The scenario the seed ran (default: the swarm's, drawn from the seed)
    -nodes N, -out DIR, -codec, -core-nodes K as for run
    -trace-lines N   Trace lines to print at the end (default 200)

Options for swarm:
    -seeds K         How many seeds (default 100)
    -from S          First seed (default 1)
    -nodes N         Cluster size for every seed (default: drawn from each seed)
`;

type Flags = { positionals: string[]; values: Map<string, string>; bools: Set<string> };

const VALUE_FLAGS = new Set(['nodes', 'seed', 'seeds', 'out', 'core-nodes', 'scenario', 'trace-lines', 'from']);
const BOOL_FLAGS = new Set(['codec', 'trace', 'json']);

export async function runSimCli(argv: readonly string[], io: SimIo): Promise<number> {
  const [subcommand, ...rest] = argv;
  if (subcommand === undefined || ['-h', '-help', '--help', 'help'].includes(subcommand)) {
    io.out(USAGE);
    return subcommand === undefined ? 2 : 0;
  }
  let flags: Flags;
  try {
    flags = parseFlags(rest);
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  try {
    switch (subcommand) {
      case 'run': return await runCommand(flags, io);
      case 'replay': return await replayCommand(flags, io);
      case 'swarm': return swarmCommand(flags, io);
      case 'list': {
        for (const name of BUILTIN_SCENARIOS) {
          const scenario = await loadScenario(name);
          io.out(`${name.padEnd(18)} ${String(scenario.nodes).padStart(5)} nodes  ${scenario.description}`);
        }
        return 0;
      }
      default:
        io.err(`Unknown subcommand "${subcommand}" for "tribune sim".\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ScenarioError || error instanceof UsageError) {
      io.err(error.message);
      return 2;
    }
    throw error;
  }
}

class UsageError extends Error {}

async function runCommand(flags: Flags, io: SimIo): Promise<number> {
  const name = flags.positionals[0];
  if (name === undefined) throw new UsageError('tribune sim run: which scenario? (tribune sim list)');
  const scenario = await loadScenario(name, nodesOverride(flags));
  applyFidelity(scenario, flags);
  const first = integerFlag(flags, 'seed', 1);
  const count = integerFlag(flags, 'seeds', 1);
  if (count < 1) throw new UsageError('-seeds must be at least 1');
  const results: RunResult[] = [];
  const progress = new ProgressBar(scenario, count);
  for (let k = 0; k < count; k++) {
    const seed = first + k;
    const result = runScenario(scenario, { seed, trace: flags.bools.has('trace'), onProgress: (now, total) => progress.update(k, seed, now, total) });
    progress.done(k);
    results.push(result);
    if (count > 1 && !result.ok) io.err(`seed ${seed} FAILED: replay with ${replayCommand_(name, scenario, result)}`);
  }
  progress.clear();
  const replay = (result: RunResult) => replayCommand_(name, scenario, result);
  if (flags.values.has('out')) {
    const written = writeReport(flags.values.get('out')!, scenario, results, replay);
    io.err(`wrote ${written.length} files to ${flags.values.get('out')}`);
  }
  if (flags.bools.has('json')) io.out(JSON.stringify(results.length === 1 ? stripTrace(results[0]!) : results.map(stripTrace), null, 1));
  else io.out(aggregateText(results, replay));
  return results.every((result) => result.ok) ? 0 : 1;
}

async function replayCommand(flags: Flags, io: SimIo): Promise<number> {
  const seedText = flags.positionals[0];
  if (seedText === undefined || !/^\d+$/.test(seedText)) throw new UsageError('tribune sim replay: give the seed to replay (a non-negative integer)');
  const seed = Number(seedText);
  const scenarioName = flags.values.get('scenario');
  const scenario = scenarioName === undefined ? swarmScenario(seed, nodesOverride(flags)) : await loadScenario(scenarioName, nodesOverride(flags));
  applyFidelity(scenario, flags);
  const progress = new ProgressBar(scenario, 1);
  const result = runScenario(scenario, { seed, trace: true, onProgress: (now, total) => progress.update(0, seed, now, total) });
  progress.clear();
  const lines = integerFlag(flags, 'trace-lines', 200);
  const trace = result.trace ?? [];
  if (lines > 0) {
    io.out(`--- the last ${Math.min(lines, trace.length)} of ${trace.length} trace lines ---`);
    io.out(trace.slice(-lines).join('\n'));
    io.out('---');
  }
  if (flags.values.has('out')) {
    const written = writeReport(flags.values.get('out')!, scenario, [result], (r) => replayCommand_(scenarioName ?? null, scenario, r));
    io.err(`wrote ${written.length} files to ${flags.values.get('out')}`);
  }
  io.out(summaryText(result));
  io.out(`event log hash ${result.eventLogHash}`);
  return result.ok ? 0 : 1;
}

function swarmCommand(flags: Flags, io: SimIo): number {
  const from = integerFlag(flags, 'from', 1);
  const count = integerFlag(flags, 'seeds', 100);
  const nodes = nodesOverride(flags);
  const failing: number[] = [];
  const started = performance.now();
  for (let seed = from; seed < from + count; seed++) {
    const scenario = swarmScenario(seed, nodes);
    const result = runScenario(scenario, { seed });
    if (!result.ok) {
      failing.push(seed);
      io.out(`FAIL seed ${seed} (${scenario.nodes} nodes): ${result.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`).join('; ').slice(0, 400)}`);
    }
    const done = seed - from + 1;
    if (done % 10 === 0 || done === count) {
      const line = `${done}/${count} seeds, ${failing.length} failing, ${((performance.now() - started) / 1000).toFixed(0)} s`;
      if (process.stderr.isTTY) process.stderr.write(`\r${line}   `);
      else if (done % 50 === 0 || done === count) io.err(line);
    }
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  io.out(`${count} seeds, ${failing.length} failing`);
  for (const seed of failing) io.out(`replay: tribune sim replay ${seed}${nodes.nodes !== undefined ? ` -nodes ${nodes.nodes}` : ''}`);
  return failing.length === 0 ? 0 : 1;
}

// ---------------------------------------------------------------- helpers

/** A one-line progress bar on standard error, redrawn at most ten times a second; silent when stderr is not a terminal. */
class ProgressBar {
  private readonly scenario: Scenario;
  private readonly runs: number;
  private readonly started = performance.now();
  private lastDrawMs = 0;
  private readonly enabled = process.stderr.isTTY === true;

  constructor(scenario: Scenario, runs: number) {
    this.scenario = scenario;
    this.runs = runs;
  }

  update(run: number, seed: number, simulatedMs: number, totalMs: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDrawMs < 100 && simulatedMs < totalMs) return;
    this.lastDrawMs = now;
    const fraction = (run + simulatedMs / totalMs) / this.runs;
    const width = 30;
    const filled = Math.round(fraction * width);
    const wall = (now - this.started) / 1000;
    const speed = (run * totalMs + simulatedMs) / 1000 / Math.max(1e-3, wall);
    const eta = fraction > 0 ? wall / fraction - wall : 0;
    const seeds = this.runs > 1 ? ` seed ${seed} (${run + 1}/${this.runs})` : '';
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${this.scenario.name}${seeds}  ${(simulatedMs / 1000).toFixed(0)}/${(totalMs / 1000).toFixed(0)} s simulated  ${speed.toFixed(1)}x  eta ${eta.toFixed(0)} s   `);
  }

  done(_run: number): void {}

  clear(): void {
    if (this.enabled) process.stderr.write(`\r${' '.repeat(110)}\r`);
  }
}

function replayCommand_(name: string | null, scenario: Scenario, result: RunResult): string {
  const parts = [`tribune sim replay ${result.seed}`];
  if (name !== null) parts.push(`-scenario ${name}`, `-nodes ${scenario.nodes}`);
  if (scenario.fidelity.codec) parts.push('-codec');
  if (scenario.fidelity.coreNodes !== 'all') parts.push(`-core-nodes ${scenario.fidelity.coreNodes}`);
  return parts.join(' ');
}

function applyFidelity(scenario: Scenario, flags: Flags): void {
  if (flags.bools.has('codec')) scenario.fidelity.codec = true;
  if (flags.values.has('core-nodes')) {
    scenario.fidelity.coreNodes = integerFlag(flags, 'core-nodes', 0);
    if (scenario.start === 'cold' || scenario.raft !== null) throw new UsageError('-core-nodes: the compact model runs warm-started clusters without a Raft group only');
  }
}

function nodesOverride(flags: Flags): { nodes?: number } {
  return flags.values.has('nodes') ? { nodes: integerFlag(flags, 'nodes', 0) } : {};
}

function integerFlag(flags: Flags, name: string, fallback: number): number {
  const text = flags.values.get(name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new UsageError(`-${name} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

function parseFlags(args: readonly string[]): Flags {
  const flags: Flags = { positionals: [], values: new Map(), bools: new Set() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      flags.positionals.push(arg);
      continue;
    }
    const [rawName, inline] = arg.replace(/^--?/, '').split('=', 2) as [string, string | undefined];
    if (BOOL_FLAGS.has(rawName)) {
      flags.bools.add(rawName);
    } else if (VALUE_FLAGS.has(rawName)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`flag -${rawName} needs a value`);
      flags.values.set(rawName, value);
    } else {
      throw new UsageError(`unknown flag ${arg}`);
    }
  }
  return flags;
}

function stripTrace(result: RunResult): Omit<RunResult, 'trace'> {
  const { trace: _trace, ...rest } = result;
  return rest;
}

// `node sim/cli.ts run single-failure` (the npm script `sim`) as well as `tribune sim ...`.
if (import.meta.main) {
  const code = await runSimCli(process.argv.slice(2), { out: (text) => process.stdout.write(`${text}\n`), err: (text) => process.stderr.write(`${text}\n`) });
  process.exitCode = code;
}

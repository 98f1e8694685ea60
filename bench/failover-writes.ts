// Leader fail-over as a client sees it (issue 3): five agents as separate
// processes on 127.0.5.1-5 (-bootstrap-expect 5, so all five are Raft voters,
// data on disk, the LAN gossip profile), a writer sending PUT /v1/kv/bench
// through one agent that is not the leader every 50 ms, and a SIGKILL of the
// leader.
//
//   npm run bench:failover                      5 runs (~2 min)
//   npm run bench:failover -- --runs 10
//
// Per run it measures, from the kill:
//   new leader     until the first surviving agent's GET /v1/status/leader names
//                  another agent, and until all four survivors name the same one
//   first write    until the first successful PUT among those issued after the
//                  kill completes (a PUT issued before the kill may have been
//                  committed by the old leader just before it died, so those do
//                  not count), and the gap between the last successful PUT
//                  completed before the kill and the first one after it
// The writer starts 2 s before the kill and issues a PUT every --interval-ms
// whether or not earlier ones have answered (each PUT has its own 10 s timeout),
// so a request stuck on the dead leader does not hide when the cluster
// recovers. Between runs the killed agent is restarted with the same data dir
// and the cluster must be stable again: all five alive in every view, one
// leader named by all, five voters, a write through every agent.
//
// Every loop is bounded by a count and a deadline; the agents are killed on the
// way out, also on failure or Ctrl-C.

import { cpus, loadavg, release, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { TestCluster, eventually, sleep } from '../test/cluster/harness.ts';
import type { AgentProcess } from '../test/cluster/harness.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'interval-ms': { type: 'string', default: '50' },
    'http-port': { type: 'string', default: '19801' },
    json: { type: 'string' },
  },
});

const RUNS = Number(args.runs);
const INTERVAL_MS = Number(args['interval-ms']);
const HTTP_PORT_BASE = Number(args['http-port']);
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 100) throw new Error('--runs must be an integer from 1 to 100');
if (!(INTERVAL_MS >= 5)) throw new Error('--interval-ms must be at least 5');
if (!(HTTP_PORT_BASE >= 1024 && HTTP_PORT_BASE < 65_000)) throw new Error('--http-port must be a port number');

const AGENTS = 5;
const WRITES_BEFORE_KILL_MS = 2_000;
const PUT_TIMEOUT_MS = 10_000;
const RECOVERY_DEADLINE_MS = 30_000;
const STABLE_DEADLINE_MS = 90_000;
const SETTLE_MS = 3_000;

const LAN_HCL = `gossip_lan {
  probe_interval = "1s"
  probe_timeout = "500ms"
  suspicion_mult = 4
  push_pull_interval = "30s"
}
`;

const now = () => performance.now();
const log = (message: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);

const cluster = new TestCluster({ subnet: 5, first: 1, count: AGENTS, httpPortBase: HTTP_PORT_BASE, bootstrapExpect: AGENTS, configHcl: LAN_HCL });

function killAll(): void {
  for (const agent of cluster.agents) agent.child?.kill('SIGKILL');
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

type Member = { Name: string; Status: number };

async function leaderOf(agent: AgentProcess): Promise<string> {
  const response = await fetch(cluster.url(agent, '/v1/status/leader'), { signal: AbortSignal.timeout(2_000) });
  if (!response.ok) throw new Error(`status/leader: ${response.status}`);
  return (await response.json()) as string;
}

function agentAt(address: string): AgentProcess | undefined {
  const host = address.slice(0, address.lastIndexOf(':'));
  return cluster.agents.find((agent) => agent.ip === host);
}

async function put(agent: AgentProcess, value: string, timeoutMs = PUT_TIMEOUT_MS): Promise<{ ok: boolean; status: number | string }> {
  try {
    const response = await fetch(cluster.url(agent, '/v1/kv/bench'), { method: 'PUT', body: value, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    const ok = response.status === 200 && text.trim() === 'true';
    return { ok, status: ok ? 200 : `${response.status} ${text.trim().replace(/12D3Koo\w+/g, 'PEER').slice(0, 100)}` };
  } catch (error) {
    return { ok: false, status: (error as Error).name === 'TimeoutError' ? 'timeout' : (error as Error).message };
  }
}

/** All five alive in every view, one leader named by all, five voters, a write through every agent. */
async function waitStable(): Promise<{ leader: AgentProcess; voters: number }> {
  const leader = await eventually(async () => {
    for (const agent of cluster.agents) {
      const members = await cluster.get<Member[]>(agent, '/v1/agent/members');
      if (members.filter((member) => member.Status === 1).length !== AGENTS) return false;
    }
    const views = await Promise.all(cluster.agents.map(leaderOf));
    if (views[0] === '' || !views.every((view) => view === views[0])) return false;
    return agentAt(views[0]!);
  }, STABLE_DEADLINE_MS, () => cluster.agents.map((agent) => `${agent.name}:\n${cluster.logs(agent, 8)}`).join('\n'));
  let voters = -1;
  await eventually(async () => {
    const configuration = await cluster.get<{ Servers: { Voter: boolean }[] }>(leader, '/v1/operator/raft/configuration');
    voters = configuration.Servers.filter((server) => server.Voter).length;
    return voters === AGENTS;
  }, 30_000, () => 'not five voters').catch(() => log(`only ${voters} voters after 30 s; going on`));
  for (const agent of cluster.agents) {
    await eventually(async () => (await put(agent, `stable-${agent.name}`, 5_000)).ok, 30_000, () => `no write through ${agent.name}\n${cluster.logs(agent, 10)}`);
  }
  return { leader, voters };
}

type Write = { seq: number; issuedAt: number; doneAt: number; ok: boolean; status: number | string };

type RunResult = {
  killed: string;
  writer: string;
  votersBefore: number;
  firstLeaderMs: number;
  allAgreeMs: number;
  newLeader: string;
  firstWriteMs: number;
  gapMs: number;
  writesIssued: number;
  writesFailed: number;
  failureKinds: Record<string, number>;
  putLatencyBeforeKillP50Ms: number;
  /** How long the failed PUTs took to fail: median and maximum. */
  failedPutMsP50: number;
  failedPutMsMax: number;
};

async function oneRun(run: number): Promise<RunResult> {
  const { leader, voters } = await waitStable();
  await sleep(SETTLE_MS);
  const survivors = cluster.agents.filter((agent) => agent !== leader);
  const writer = survivors[0]!;
  const oldLeaderAddress = await leaderOf(writer);
  log(`run ${run}: leader ${leader.name} (${oldLeaderAddress}), writer ${writer.name}, ${voters} voters`);

  const writes: Write[] = [];
  const inFlight = new Set<Promise<void>>();
  let killedAt = Infinity;
  let stopWriter = false;
  const writerLoop = (async () => {
    const started = now();
    const maxWrites = Math.ceil((WRITES_BEFORE_KILL_MS + RECOVERY_DEADLINE_MS) / INTERVAL_MS) + 1;
    for (let seq = 0; seq < maxWrites && !stopWriter; seq++) {
      const issuedAt = now();
      const request = put(writer, `run${run}-${seq}`).then((result) => {
        writes.push({ seq, issuedAt, doneAt: now(), ...result });
      });
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      await sleep(Math.max(0, started + (seq + 1) * INTERVAL_MS - now()));
    }
  })();

  await sleep(WRITES_BEFORE_KILL_MS);
  killedAt = now();
  cluster.kill(leader);

  let firstLeaderAt: number | undefined;
  let allAgreeAt: number | undefined;
  let newLeader = '';
  const deadline = killedAt + RECOVERY_DEADLINE_MS;
  const firstWriteAfterKill = () => writes.filter((write) => write.ok && write.issuedAt >= killedAt).reduce((min, write) => Math.min(min, write.doneAt), Infinity);
  while (now() < deadline && (allAgreeAt === undefined || firstWriteAfterKill() === Infinity)) {
    const polledAt = now();
    const views = await Promise.all(survivors.map((agent) => leaderOf(agent).catch(() => '')));
    const fresh = views.filter((view) => view !== '' && view !== oldLeaderAddress);
    if (firstLeaderAt === undefined && fresh.length > 0) firstLeaderAt = polledAt;
    if (allAgreeAt === undefined && fresh.length === survivors.length && fresh.every((view) => view === fresh[0])) {
      allAgreeAt = polledAt;
      newLeader = agentAt(fresh[0]!)?.name ?? fresh[0]!;
    }
    await sleep(Math.max(0, INTERVAL_MS - (now() - polledAt)));
  }
  stopWriter = true;
  await writerLoop;
  await Promise.all([...inFlight]);

  const firstWriteAt = firstWriteAfterKill();
  if (firstLeaderAt === undefined || allAgreeAt === undefined || firstWriteAt === Infinity) {
    throw new Error(`run ${run}: no recovery within ${RECOVERY_DEADLINE_MS} ms (leader seen: ${firstLeaderAt !== undefined}, agreed: ${allAgreeAt !== undefined}, write: ${firstWriteAt !== Infinity})\n` +
      survivors.map((agent) => `${agent.name}:\n${cluster.logs(agent, 15)}`).join('\n'));
  }
  const lastBefore = writes.filter((write) => write.ok && write.doneAt < killedAt).reduce((max, write) => Math.max(max, write.doneAt), -Infinity);
  const failed = writes.filter((write) => !write.ok);
  const failureKinds: Record<string, number> = {};
  for (const write of failed) failureKinds[String(write.status)] = (failureKinds[String(write.status)] ?? 0) + 1;
  const latencies = writes.filter((write) => write.ok && write.doneAt < killedAt).map((write) => write.doneAt - write.issuedAt);

  // Restart the killed agent with the same data dir, for the next run.
  cluster.start(leader);
  return {
    killed: leader.name,
    writer: writer.name,
    votersBefore: voters,
    firstLeaderMs: firstLeaderAt - killedAt,
    allAgreeMs: allAgreeAt - killedAt,
    newLeader,
    firstWriteMs: firstWriteAt - killedAt,
    gapMs: firstWriteAt - lastBefore,
    writesIssued: writes.length,
    writesFailed: failed.length,
    failureKinds,
    putLatencyBeforeKillP50Ms: latencies.length ? median(latencies) : NaN,
    failedPutMsP50: failed.length ? median(failed.map((write) => write.doneAt - write.issuedAt)) : NaN,
    failedPutMsMax: failed.length ? Math.max(...failed.map((write) => write.doneAt - write.issuedAt)) : NaN,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<void> {
  console.log(`failover-writes: ${AGENTS} agents, ${RUNS} runs, a PUT every ${INTERVAL_MS} ms; ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const results: RunResult[] = [];
  try {
    cluster.startAll();
    for (let run = 1; run <= RUNS; run++) {
      const result = await oneRun(run);
      results.push(result);
      log(`run ${run}: killed ${result.killed}; new leader ${result.newLeader} first seen after ${result.firstLeaderMs.toFixed(0)} ms, named by all survivors after ${result.allAgreeMs.toFixed(0)} ms; ` +
        `first write accepted ${result.firstWriteMs.toFixed(0)} ms after the kill (gap ${result.gapMs.toFixed(0)} ms); ${result.writesFailed}/${result.writesIssued} PUTs failed ${JSON.stringify(result.failureKinds)}`);
    }
    await waitStable();
  } finally {
    await cluster.cleanup();
  }

  const ms = (value: number) => value.toFixed(0);
  const rows: [string, (r: RunResult) => number][] = [
    ['kill → a survivor names a new leader (ms)', (r) => r.firstLeaderMs],
    ['kill → all survivors name it (ms)', (r) => r.allAgreeMs],
    ['kill → first PUT issued after the kill succeeds (ms)', (r) => r.firstWriteMs],
    ['write gap: last success before → first success after (ms)', (r) => r.gapMs],
    ['PUT latency before the kill, p50 (ms)', (r) => r.putLatencyBeforeKillP50Ms],
    ['failed PUTs: time to fail, p50 (ms)', (r) => r.failedPutMsP50],
    ['failed PUTs: time to fail, max (ms)', (r) => r.failedPutMsMax],
  ];
  const lines = [`| | median | min | max | per run |`, `| --- | ---: | ---: | ---: | --- |`];
  for (const [label, pick] of rows) {
    const values = results.map(pick);
    lines.push(`| ${label} | ${ms(median(values))} | ${ms(Math.min(...values))} | ${ms(Math.max(...values))} | ${values.map(ms).join(' / ')} |`);
  }
  console.log(lines.join('\n'));
  console.log(`\nfailed PUTs per run: ${results.map((r) => `${r.writesFailed}/${r.writesIssued} ${JSON.stringify(r.failureKinds)}`).join('; ')}`);
  console.log(`voters before each kill: ${results.map((r) => r.votersBefore).join(', ')}; killed: ${results.map((r) => r.killed).join(', ')}`);
  if (args.json) (await import('node:fs')).writeFileSync(args.json, JSON.stringify(results, null, 2));
}

await main();

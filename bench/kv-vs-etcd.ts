// KV throughput and latency, Tribune against etcd, side by side in one run
// (issue 4, "What to measure"):
//
//   npm run bench:kv                                  one round (~4 min), etcd if installed
//   npm run bench:kv -- --rounds 3                    alternate the systems' order over 3 rounds
//   npm run bench:kv -- --profile                     Tribune only: CPU profile of the leader under 64-client writes
//   npm run bench:kv -- --profile --profile-phase consistent      … under 64-client ?consistent reads
//   npm run bench:kv -- --phase-seconds 5 --no-etcd   quicker, Tribune only
//
// What runs, all on loopback, data on this machine's disk, fsync on:
//   Tribune  three agents as processes (bin/tribune.js agent, -bootstrap-expect 3) on
//            127.0.3.1-3, HTTP on 18501-18503, data in the run's temporary directory
//   etcd     three members (`etcd` from the Debian package etcd-server) on 127.0.3.11-13,
//            client port 23791, peer port 23801, through its HTTP JSON gateway
//            (POST /v3/kv/put and /v3/kv/range with base64 keys and values)
// and one load generator, this process: N clients, each a bounded loop of one
// request at a time over a keep-alive http.Agent (maxSockets N), for
// --phase-seconds each (default 10). Values are 256 random bytes; keys cycle
// through KEY_SPACE names. Before the measured phases each system gets
// KEY_SPACE keys written (the reads then always find their key) and a warm-up.
//
// Phases, per system, in this order:
//   write c=1, write c=64                              PUT /v1/kv/K          | /v3/kv/put
//   read c=64: Tribune default, consistent, stale      GET /v1/kv/K[?mode]   | /v3/kv/range (linearizable), serializable
// Tribune's load goes to the leader's HTTP port, then the same phases to a
// follower's (forwarded writes; reads from its own replica after the barrier).
// Latency is per request, from sending to the last byte of the answer. CPU is
// per phase: the load generator (process.cpuUsage) and the servers'
// processes (/proc/PID/stat), in cores (CPU seconds / wall seconds).
//
// --profile runs Tribune alone with every agent under `node --cpu-prof`, the
// 64-client write phase on the leader, stops the agents gracefully (profiles
// are written at exit) and prints the leader's hottest functions and files.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '1' },
    'phase-seconds': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '64' },
    'no-etcd': { type: 'boolean', default: false },
    'no-follower': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    /** What the profiled phase does: 64-client writes (the issue's ask) or consistent reads. */
    'profile-phase': { type: 'string', default: 'write' },
    'keep-dir': { type: 'boolean', default: false },
  },
});

const ROUNDS = positiveInteger('rounds');
const PHASE_MS = positiveInteger('phase-seconds') * 1000;
const CONCURRENCY = positiveInteger('concurrency');
const VALUE_BYTES = 256;
/** Distinct keys written and read; the populate step writes each once. */
const KEY_SPACE = 10_000;
/** Hard bound on requests in one phase, whatever the speed (also the latency array's size). */
const PHASE_REQUESTS_MAX = 2_000_000;
const WARMUP_MS = 3_000;

const REPO = new URL('..', import.meta.url).pathname;
const TRIBUNE_BIN = new URL('../bin/tribune.js', import.meta.url).pathname;
const TRIBUNE_HOSTS = ['127.0.3.1', '127.0.3.2', '127.0.3.3'];
const TRIBUNE_HTTP_PORT_BASE = 18501;
const ETCD_HOSTS = ['127.0.3.11', '127.0.3.12', '127.0.3.13'];
const ETCD_CLIENT_PORT = 23791;
const ETCD_PEER_PORT = 23801;

function positiveInteger(name: keyof typeof args): number {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer, got ${String(args[name])}`);
  return value;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- one HTTP request

type Target = { host: string; port: number };
type Call = { method: 'GET' | 'PUT' | 'POST'; path: string; body?: Buffer | string };

/** One request over `agent`; resolves with the status once the whole answer is read. */
function send(agent: Agent, target: Target, call: Call): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      agent, host: target.host, port: target.port, method: call.method, path: call.path,
      headers: call.body === undefined ? {} : { 'content-length': Buffer.byteLength(call.body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(call.body);
  });
}

// ---------------------------------------------------------------- a phase of load

type PhaseResult = {
  requests: number;
  errors: number;
  firstError: string;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Cores used by the load generator and by the servers' processes. */
  clientCores: number;
  serverCores: number;
};

/**
 * `concurrency` clients, each a loop of one request at a time until `durationMs`
 * has passed (or PHASE_REQUESTS_MAX requests in all). `call(client, sequence)` says what to send.
 */
async function phase(target: Target, concurrency: number, durationMs: number, servers: ChildProcess[], call: (client: number, sequence: number) => Call): Promise<PhaseResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = new Float64Array(PHASE_REQUESTS_MAX);
  let count = 0;
  let errors = 0;
  let firstError = '';
  const clientCpuBefore = process.cpuUsage();
  const serverCpuBefore = processesCpuSeconds(servers);
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(Array.from({ length: concurrency }, async (_, client) => {
    for (let sequence = 0; performance.now() < deadline && count + errors < PHASE_REQUESTS_MAX; sequence++) {
      const sent = performance.now();
      try {
        const answer = await send(agent, target, call(client, sequence));
        if (answer.status >= 200 && answer.status < 300) latencies[count++] = performance.now() - sent;
        else {
          errors++;
          firstError ||= `${answer.status} ${answer.body.slice(0, 120)}`;
        }
      } catch (error) {
        errors++;
        firstError ||= (error as Error).message;
        await sleep(10);
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const serverCores = (processesCpuSeconds(servers) - serverCpuBefore) / seconds;
  agent.destroy();
  const sorted = latencies.subarray(0, count).sort();
  const quantile = (q: number) => (count === 0 ? NaN : sorted[Math.min(count - 1, Math.floor(q * count))]!);
  return {
    requests: count, errors, firstError, seconds, perSecond: count / seconds,
    p50Ms: quantile(0.5), p99Ms: quantile(0.99), maxMs: count === 0 ? NaN : sorted[count - 1]!,
    clientCores: (clientCpu.user + clientCpu.system) / 1e6 / seconds, serverCores,
  };
}

function processesCpuSeconds(processes: ChildProcess[]): number {
  let ticks = 0;
  for (const child of processes) {
    try {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return NaN;
    }
  }
  return ticks / 100; // USER_HZ
}

// ---------------------------------------------------------------- the systems under test

/** What the phases need from one system: how to write and to read a key, in each mode. */
type System = {
  name: string;
  processes: ChildProcess[];
  write(key: string, value: Buffer): Call;
  read(key: string, mode: string): Call;
};

const keyOf = (n: number) => `bench/key-${String(n % KEY_SPACE).padStart(5, '0')}`;

function tribuneSystem(processes: ChildProcess[]): System {
  return {
    name: 'tribune',
    processes,
    write: (key, value) => ({ method: 'PUT', path: `/v1/kv/${key}`, body: value }),
    read: (key, mode) => ({ method: 'GET', path: `/v1/kv/${key}${mode === 'default' ? '' : `?${mode}`}` }),
  };
}

function etcdSystem(processes: ChildProcess[]): System {
  return {
    name: 'etcd',
    processes,
    write: (key, value) => ({ method: 'POST', path: '/v3/kv/put', body: `{"key":"${Buffer.from(key).toString('base64')}","value":"${value.toString('base64')}"}` }),
    read: (key, mode) => ({
      method: 'POST',
      path: '/v3/kv/range',
      body: `{"key":"${Buffer.from(key).toString('base64')}"${mode === 'serializable' ? ',"serializable":true' : ''}}`,
    }),
  };
}

type Cluster = { processes: ChildProcess[]; dir: string };

async function startTribune(dir: string, profile: boolean): Promise<Cluster> {
  const processes: ChildProcess[] = [];
  for (const [i, host] of TRIBUNE_HOSTS.entries()) {
    const dataDir = join(dir, `tribune-${i + 1}`);
    mkdirSync(dataDir, { recursive: true });
    const logFd = openSync(join(dir, `tribune-${i + 1}.log`), 'w');
    const nodeArgs = profile ? ['--cpu-prof', '--cpu-prof-dir', join(dir, `profile-${i + 1}`)] : [];
    processes.push(spawn(process.execPath, [...nodeArgs, TRIBUNE_BIN, 'agent',
      '-node', `bench-${i + 1}`, '-bind', host, '-data-dir', dataDir, '-client', host,
      '-http-port', String(TRIBUNE_HTTP_PORT_BASE + i), '-dns-port', '-1', '-bootstrap-expect', '3', '-log-level', 'warn',
      '-retry-interval', '1s', ...TRIBUNE_HOSTS.filter((other) => other !== host).flatMap((other) => ['-retry-join', other]),
    ], { stdio: ['ignore', logFd, logFd] }));
    closeSync(logFd);
  }
  return { processes, dir };
}

/** The index of the Tribune leader among TRIBUNE_HOSTS, once all three agree and a write commits. */
async function tribuneLeader(cluster: Cluster): Promise<number> {
  const agent = new Agent({ keepAlive: false });
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    try {
      const answers = await Promise.all(TRIBUNE_HOSTS.map((host, i) => send(agent, { host, port: TRIBUNE_HTTP_PORT_BASE + i }, { method: 'GET', path: '/v1/status/leader' })));
      const leaders = answers.map((answer) => JSON.parse(answer.body) as string);
      const index = TRIBUNE_HOSTS.findIndex((host) => leaders[0]!.startsWith(`${host}:`));
      if (index >= 0 && leaders.every((leader) => leader === leaders[0])) {
        const write = await send(agent, { host: TRIBUNE_HOSTS[index]!, port: TRIBUNE_HTTP_PORT_BASE + index }, { method: 'PUT', path: '/v1/kv/bench/ready', body: 'yes' });
        if (write.status === 200) return index;
      }
    } catch {
      // not up yet
    }
    await sleep(250);
  }
  throw new Error(`Tribune did not elect a leader within 60 s (logs in ${cluster.dir})`);
}

function etcdVersion(): string | null {
  const result = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) return null;
  return /etcd Version: (\S+)/.exec(result.stdout)?.[1] ?? 'unknown';
}

async function startEtcd(dir: string): Promise<Cluster> {
  const names = ETCD_HOSTS.map((_, i) => `m${i + 1}`);
  const initialCluster = names.map((name, i) => `${name}=http://${ETCD_HOSTS[i]}:${ETCD_PEER_PORT}`).join(',');
  const processes: ChildProcess[] = [];
  for (const [i, host] of ETCD_HOSTS.entries()) {
    const dataDir = join(dir, `etcd-${names[i]}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const logFd = openSync(join(dir, `etcd-${names[i]}.log`), 'w');
    processes.push(spawn('etcd', [
      '--name', names[i]!, '--data-dir', dataDir,
      '--listen-client-urls', `http://${host}:${ETCD_CLIENT_PORT}`, '--advertise-client-urls', `http://${host}:${ETCD_CLIENT_PORT}`,
      '--listen-peer-urls', `http://${host}:${ETCD_PEER_PORT}`, '--initial-advertise-peer-urls', `http://${host}:${ETCD_PEER_PORT}`,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', `tribune-bench-kv-${process.pid}`,
      '--logger', 'zap', '--log-level', 'warn',
    ], { stdio: ['ignore', logFd, logFd] }));
    closeSync(logFd);
  }
  return { processes, dir };
}

async function etcdLeader(cluster: Cluster): Promise<number> {
  const agent = new Agent({ keepAlive: false });
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    for (const [i, host] of ETCD_HOSTS.entries()) {
      try {
        const answer = await send(agent, { host, port: ETCD_CLIENT_PORT }, { method: 'POST', path: '/v3/maintenance/status', body: '{}' });
        const status = JSON.parse(answer.body) as { header?: { member_id?: string }; leader?: string };
        if (status.leader && status.leader !== '0' && status.leader === status.header?.member_id) return i;
      } catch {
        // not up yet
      }
    }
    await sleep(200);
  }
  throw new Error(`etcd did not elect a leader within 30 s (logs in ${cluster.dir})`);
}

async function stop(processes: ChildProcess[], graceMs: number): Promise<void> {
  await Promise.all(processes.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  })));
}

// ---------------------------------------------------------------- the measurement

type Row = { round: number; system: string; target: string; phase: string; result: PhaseResult };

async function populate(system: System, target: Target): Promise<void> {
  const value = randomBytes(VALUE_BYTES);
  // Every key once, then a warm-up of mixed writes and reads.
  const perClient = Math.ceil(KEY_SPACE / CONCURRENCY);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, client) => {
    for (let i = client * perClient; i < Math.min(KEY_SPACE, (client + 1) * perClient); i++) {
      const answer = await send(agent, target, system.write(keyOf(i), value));
      if (answer.status !== 200) throw new Error(`${system.name}: populate ${keyOf(i)}: ${answer.status} ${answer.body}`);
    }
  }));
  agent.destroy();
  await phase(target, CONCURRENCY, WARMUP_MS, [], (client, sequence) => (sequence % 2 === 0 ? system.write(keyOf(client * 7919 + sequence), value) : system.read(keyOf(client * 104_729 + sequence), 'default')));
}

async function measure(round: number, system: System, target: Target, label: string, readModes: string[]): Promise<Row[]> {
  const rows: Row[] = [];
  const value = randomBytes(VALUE_BYTES);
  const record = (phaseName: string, result: PhaseResult) => {
    rows.push({ round, system: system.name, target: label, phase: phaseName, result });
    console.error(`  ${system.name} ${label} ${phaseName}: ${result.perSecond.toFixed(0)}/s p50 ${result.p50Ms.toFixed(2)} ms p99 ${result.p99Ms.toFixed(2)} ms` +
      ` errors ${result.errors}${result.firstError ? ` (${result.firstError})` : ''} cpu client ${result.clientCores.toFixed(2)} servers ${result.serverCores.toFixed(2)}`);
  };
  record('write c=1', await phase(target, 1, PHASE_MS, system.processes, (_, sequence) => system.write(keyOf(sequence), value)));
  record(`write c=${CONCURRENCY}`, await phase(target, CONCURRENCY, PHASE_MS, system.processes, (client, sequence) => system.write(keyOf(client * 157 + sequence), value)));
  for (const mode of readModes) {
    record(`read ${mode} c=${CONCURRENCY}`, await phase(target, CONCURRENCY, PHASE_MS, system.processes, (client, sequence) => system.read(keyOf(client * 157 + sequence * 13), mode)));
  }
  return rows;
}

// ---------------------------------------------------------------- CPU profile analysis

type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number };
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

/** Self time by function and by file or package, from a .cpuprofile. */
function summarizeProfile(path: string, top: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const totalUs = [...selfUs.values()].reduce((sum, us) => sum + us, 0);
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const place = placeOf(frame.url, frame.functionName);
    const name = `${frame.functionName || '(anonymous)'} ${frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : ''}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byPlace.set(place, (byPlace.get(place) ?? 0) + us);
  }
  const idleUs = byPlace.get('(idle)') ?? 0;
  const busyUs = totalUs - idleUs;
  const lines = [`profile ${relative(process.cwd(), path)}: ${(totalUs / 1e6).toFixed(1)} s sampled, ${(busyUs / 1e6).toFixed(1)} s busy (${(100 * busyUs / totalUs).toFixed(0)}%)`, '', 'self time by file or package (% of busy):'];
  for (const [place, us] of [...byPlace].filter(([place]) => place !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${(100 * us / busyUs).toFixed(1).padStart(5)}%  ${place}`);
  lines.push('', 'self time by function (% of busy):');
  for (const [name, us] of [...byFunction].filter(([name]) => !name.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${(100 * us / busyUs).toFixed(1).padStart(5)}%  ${name}`);
  return lines.join('\n');
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\//, '').replace(REPO, '');
}

function placeOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return url.split('/')[0]!.replace(/^node:internal$/, 'node:internal');
  const path = shortUrl(url);
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return pkg ? pkg[1]! : path;
}

// ---------------------------------------------------------------- main

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}`;
}

function table(rows: Row[]): string {
  const lines = ['| round | system | sent to | phase | req/s | p50 ms | p99 ms | max ms | errors | cores: servers / client |', '| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const { round, system, target, phase: name, result } of rows) {
    lines.push(`| ${round} | ${system} | ${target} | ${name} | ${result.perSecond.toFixed(0)} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${result.maxMs.toFixed(1)} | ${result.errors} | ${result.serverCores.toFixed(2)} / ${result.clientCores.toFixed(2)} |`);
  }
  return lines.join('\n');
}

function ratios(rows: Row[]): string {
  const find = (system: string, target: string, name: string) => rows.filter((row) => row.system === system && row.target === target && row.phase === name);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  const pairs: [string, string, string][] = [
    ['write c=1', 'write c=1', 'writes, 1 client'],
    [`write c=${CONCURRENCY}`, `write c=${CONCURRENCY}`, `writes, ${CONCURRENCY} clients`],
    [`read default c=${CONCURRENCY}`, `read linearizable c=${CONCURRENCY}`, 'Tribune default vs etcd linearizable reads'],
    [`read consistent c=${CONCURRENCY}`, `read linearizable c=${CONCURRENCY}`, 'Tribune consistent vs etcd linearizable reads'],
    [`read stale c=${CONCURRENCY}`, `read serializable c=${CONCURRENCY}`, 'Tribune stale vs etcd serializable reads'],
  ];
  const lines = ['| comparison | throughput Tribune/etcd | p99 Tribune/etcd |', '| --- | ---: | ---: |'];
  for (const [tribunePhase, etcdPhase, label] of pairs) {
    const tribune = find('tribune', 'leader', tribunePhase);
    const etcd = find('etcd', 'leader', etcdPhase);
    if (tribune.length === 0 || etcd.length === 0) continue;
    const throughput = median(tribune.map((row) => row.result.perSecond)) / median(etcd.map((row) => row.result.perSecond));
    const p99 = median(tribune.map((row) => row.result.p99Ms)) / median(etcd.map((row) => row.result.p99Ms));
    lines.push(`| ${label} | ${throughput.toFixed(2)} | ${p99.toFixed(2)} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tribune-bench-kv-'));
  const version = args['no-etcd'] || args.profile ? null : etcdVersion();
  if (!args['no-etcd'] && !args.profile && version === null) console.error('etcd is not installed (apt-get install -y etcd-server etcd-client): Tribune only');
  console.error(`kv-vs-etcd: ${machine()}; etcd ${version ?? 'not run'}; ${PHASE_MS / 1000} s phases, ${CONCURRENCY} clients, ${VALUE_BYTES}-byte values; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; dir ${dir}`);
  const clusters: Cluster[] = [];
  try {
    const tribune = await startTribune(dir, args.profile);
    clusters.push(tribune);
    const etcd = version ? await startEtcd(dir) : null;
    if (etcd) clusters.push(etcd);
    const tribuneLeaderIndex = await tribuneLeader(tribune);
    const tribuneTarget = (i: number): Target => ({ host: TRIBUNE_HOSTS[i]!, port: TRIBUNE_HTTP_PORT_BASE + i });
    const followerIndex = (tribuneLeaderIndex + 1) % TRIBUNE_HOSTS.length;
    const tribuneSys = tribuneSystem(tribune.processes);
    await populate(tribuneSys, tribuneTarget(tribuneLeaderIndex));

    if (args.profile) {
      const value = randomBytes(VALUE_BYTES);
      const reads = args['profile-phase'] === 'consistent';
      const result = await phase(tribuneTarget(tribuneLeaderIndex), CONCURRENCY, PHASE_MS, tribune.processes, (client, sequence) => (reads ? tribuneSys.read(keyOf(client * 157 + sequence), 'consistent') : tribuneSys.write(keyOf(client * 157 + sequence), value)));
      console.error(`profiled phase: ${reads ? 'consistent read' : 'write'} c=${CONCURRENCY} on the leader: ${result.perSecond.toFixed(0)}/s p50 ${result.p50Ms.toFixed(2)} p99 ${result.p99Ms.toFixed(2)} ms, servers ${result.serverCores.toFixed(2)} cores`);
      await stop(tribune.processes, 20_000);
      const profileDir = join(dir, `profile-${tribuneLeaderIndex + 1}`);
      const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no profile written in ${profileDir}`);
      console.log(summarizeProfile(join(profileDir, file), 25));
      console.log(`\n(profile kept in ${profileDir})`);
      args['keep-dir'] = true;
      return;
    }

    const etcdSys = etcd ? etcdSystem(etcd.processes) : null;
    let etcdTarget: Target | null = null;
    if (etcd && etcdSys) {
      etcdTarget = { host: ETCD_HOSTS[await etcdLeader(etcd)]!, port: ETCD_CLIENT_PORT };
      await populate(etcdSys, etcdTarget);
    }
    const rows: Row[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      console.error(`round ${round + 1} of ${ROUNDS} (load average ${loadavg()[0]!.toFixed(2)})`);
      const tribuneFirst = round % 2 === 0;
      const runTribune = async () => {
        rows.push(...await measure(round + 1, tribuneSys, tribuneTarget(tribuneLeaderIndex), 'leader', ['default', 'consistent', 'stale']));
        if (!args['no-follower']) rows.push(...await measure(round + 1, tribuneSys, tribuneTarget(followerIndex), 'follower', ['default', 'consistent', 'stale']));
      };
      const runEtcd = async () => {
        if (etcdSys && etcdTarget) rows.push(...await measure(round + 1, etcdSys, etcdTarget, 'leader', ['linearizable', 'serializable']));
      };
      if (tribuneFirst) {
        await runTribune();
        await runEtcd();
      } else {
        await runEtcd();
        await runTribune();
      }
    }
    console.log(`\n${machine()}; etcd ${version ?? 'not run'}; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    console.log(table(rows));
    console.log('');
    console.log(ratios(rows));
  } finally {
    await Promise.all(clusters.map((cluster) => stop(cluster.processes, 20_000)));
    if (!args['keep-dir']) await rm(dir, { recursive: true, force: true });
    else console.error(`kept ${dir}`);
  }
}

await main();

// Raft write throughput on real disks (issue 2): three voters in one process
// over the in-memory transport, each on its own LevelStorage (sync on), and,
// in the same run, the disk's physical limits and optionally a 3-member etcd.
//
//   npm run bench:raft                                    3 rounds, etcd if installed
//   npm run bench:raft -- --rounds 1 --no-etcd            one quick round
//   node --cpu-prof --cpu-prof-dir=prof bench/raft-throughput.ts --rounds 1 --no-etcd
//
// Each round measures, in one temporary directory on the same disk:
//   fsync ceiling     write 4 KiB + fsync in a loop (~2 s): the disk's own sync rate
//   level ceilings    `level` synced batches of 100 entries (the batched
//                     ceiling) and of 1 entry, written directly, no Raft
//   raft              committed writes/s with 1 and with 64 concurrent proposers on
//                     the leader, p50/p99 commit latency (propose() resolves after
//                     commit and apply on the leader), and entries per fsync on the
//                     leader and on the followers (every LevelStorage save with sync
//                     on is one synced LevelDB batch: one fsync of its log)
//   etcd (optional)   the same two concurrencies as PUTs over etcd's JSON gateway
//                     (POST /v3/kv/put) to the leader of a 3-member cluster on
//                     127.0.0.21-23, fsync on
// Then it prints the median over rounds with min and max. Every loop is bounded
// by a count and a time; the temporary directory is removed at the end.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Level } from 'level';
import { InMemoryRaftNetwork, RaftRuntime } from '../agent/consensus/raft-runtime.ts';
import type { ReplicatedStateMachine } from '../agent/consensus/raft-runtime.ts';
import type { Entry } from '../protocol/raft.ts';
import { LevelStorage } from '../raft/level-storage.ts';
import { RaftNode } from '../raft/raft-core.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    /** Writes per phase at 1 proposer and at 64 proposers; each phase also stops at its time bound. */
    'writes-single': { type: 'string', default: '2000' },
    'writes-concurrent': { type: 'string', default: '30000' },
    'phase-seconds': { type: 'string', default: '15' },
    'ceiling-seconds': { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '64' },
    'no-etcd': { type: 'boolean', default: false },
  },
});

const ROUNDS = positiveInteger('rounds');
const WRITES_SINGLE = positiveInteger('writes-single');
const WRITES_CONCURRENT = positiveInteger('writes-concurrent');
const PHASE_MS_MAX = positiveInteger('phase-seconds') * 1000;
const CEILING_MS = positiveInteger('ceiling-seconds') * 1000;
const CONCURRENCY = positiveInteger('concurrency');
const PAYLOAD_BYTES = 100;
/** Warm-up writes before the measured phases: JIT, LevelDB's first memtable, the leader's first snapshot far away. */
const WARMUP_WRITES = 500;
/** Hard bound on the fsync and level loops whatever the disk's speed. */
const CEILING_ITERATIONS_MAX = 1_000_000;

function positiveInteger(name: keyof typeof args): number {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer, got ${String(args[name])}`);
  return value;
}

// ---------------------------------------------------------------- results

type PhaseResult = {
  writes: number;
  seconds: number;
  writesPerSecond: number;
  latencyMsP50: number;
  latencyMsP99: number;
  latencyMsMax: number;
  /** Process CPU time (user + system, all threads) over wall time: near 1 per busy core. */
  cpuBusyFraction: number;
};

type RaftPhaseResult = PhaseResult & {
  leaderEntriesPerFsync: number;
  followerEntriesPerFsync: number;
  /** All fsyncs on all three nodes, per committed write: what the shared disk pays per write. */
  fsyncsPerWrite: number;
  /** Saves that carried no entry (only a changed commit index): fsyncs that Raft does not need. */
  commitOnlyFsyncShare: number;
};

type RoundResult = {
  fsyncsPerSecond: number;
  levelBatch100EntriesPerSecond: number;
  levelBatch1WritesPerSecond: number;
  raftSingle: RaftPhaseResult;
  raftConcurrent: RaftPhaseResult;
  /** The same 64-proposer load with sync off: what the code costs without the disk (a diagnostic, not a safe mode). */
  raftConcurrentUnsynced: RaftPhaseResult;
  etcdSingle: EtcdPhaseResult | null;
  etcdConcurrent: EtcdPhaseResult | null;
};

// ---------------------------------------------------------------- physical limits

function measureFsync(dir: string): number {
  const path = join(dir, 'fsync-probe');
  const block = Buffer.alloc(4096, 0xa5);
  const fd = openSync(path, 'w');
  try {
    // Appending, as a write-ahead log does; reset every 16 MiB so the file stays small.
    const started = performance.now();
    let count = 0;
    let position = 0;
    while (count < CEILING_ITERATIONS_MAX && performance.now() - started < CEILING_MS) {
      writeSync(fd, block, 0, block.length, position);
      fsyncSync(fd);
      position = position >= 16 * 1024 * 1024 ? 0 : position + block.length;
      count++;
    }
    return count / ((performance.now() - started) / 1000);
  } finally {
    closeSync(fd);
  }
}

/** Synced `level` batches of `batchSize` entries shaped like Raft's (9-byte key, 4-byte CRC + payload): entries per second. */
async function measureLevelBatches(dir: string, batchSize: number, durationMs: number): Promise<number> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    const value = new Uint8Array(PAYLOAD_BYTES + 4 + 16).fill(0x5a);
    let index = 0;
    const started = performance.now();
    let batches = 0;
    while (batches * batchSize < CEILING_ITERATIONS_MAX && performance.now() - started < durationMs) {
      const operations = [];
      for (let i = 0; i < batchSize; i++) operations.push({ type: 'put' as const, key: entryKey(++index), value });
      await db.batch(operations, { sync: true });
      batches++;
    }
    return (batches * batchSize) / ((performance.now() - started) / 1000);
  } finally {
    await db.close();
  }
}

function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = 0x10;
  new DataView(key.buffer).setUint32(5, index >>> 0);
  return key;
}

// ---------------------------------------------------------------- the Raft cluster

type PersistCounter = { saves: number; entries: number; entrySaves: number };

type BenchCluster = {
  runtimes: RaftRuntime[];
  storages: LevelStorage[];
  counters: Map<string, PersistCounter>;
  leader: RaftRuntime;
};

/** Counts applied entries; its snapshot is just that count. */
class CountingStateMachine implements ReplicatedStateMachine {
  applied = 0;
  apply(_entry: Entry): unknown {
    this.applied++;
    return undefined;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.applied));
  }
  restore(data: Uint8Array): void {
    this.applied = data.length === 0 ? 0 : Number(new TextDecoder().decode(data));
  }
}

async function startCluster(dir: string, sync: boolean): Promise<BenchCluster> {
  const ids = ['n1', 'n2', 'n3'];
  const boot = RaftNode.bootstrapState(ids);
  const network = new InMemoryRaftNetwork();
  const counters = new Map<string, PersistCounter>();
  const storages: LevelStorage[] = [];
  const runtimes: RaftRuntime[] = [];
  for (const id of ids) {
    const durable = await LevelStorage.open(join(dir, id), { sync });
    await durable.save({ hardState: boot.hardState, entries: [], snapshot: boot.snapshot });
    storages.push(durable);
    const counter: PersistCounter = { saves: 0, entries: 0, entrySaves: 0 };
    counters.set(id, counter);
    runtimes.push(await RaftRuntime.start({
      id,
      durable,
      transport: network.transport(id),
      stateMachine: new CountingStateMachine(),
      tickMs: 100,
      onPersist: (entries) => {
        counter.saves++;
        counter.entries += entries;
        if (entries > 0) counter.entrySaves++;
      },
      onFatalError: (error) => {
        console.error(`raft ${id} stopped:`, error);
        process.exitCode = 1;
      },
    }));
  }
  runtimes[0]!.campaign();
  const deadline = performance.now() + 10_000;
  for (;;) {
    const leader = runtimes.find((runtime) => runtime.isLeader());
    if (leader) return { runtimes, storages, counters, leader };
    if (performance.now() > deadline) throw new Error('no leader within 10 s');
    await sleep(10);
  }
}

async function stopCluster(cluster: BenchCluster): Promise<void> {
  for (const runtime of cluster.runtimes) await runtime.stop();
  for (const storage of cluster.storages) await storage.close();
}

/** `concurrency` loops call `write` back to back until `count` writes started or `timeMsMax` passed. */
async function runLoad(concurrency: number, count: number, timeMsMax: number, write: () => Promise<unknown>): Promise<PhaseResult> {
  const latenciesMs = new Float64Array(count);
  let started = 0;
  let completed = 0;
  const cpuBefore = process.cpuUsage();
  const phaseStarted = performance.now();
  const deadline = phaseStarted + timeMsMax;
  async function loop(): Promise<void> {
    while (started < count && performance.now() < deadline) {
      started++;
      const before = performance.now();
      await write();
      latenciesMs[completed++] = performance.now() - before;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - phaseStarted) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = latenciesMs.subarray(0, completed).sort();
  return {
    writes: completed,
    seconds,
    writesPerSecond: completed / seconds,
    latencyMsP50: percentile(sorted, 0.5),
    latencyMsP99: percentile(sorted, 0.99),
    latencyMsMax: sorted[sorted.length - 1] ?? NaN,
    cpuBusyFraction: (cpu.user + cpu.system) / 1e6 / seconds,
  };
}

async function raftPhase(cluster: BenchCluster, concurrency: number, count: number): Promise<RaftPhaseResult> {
  for (const counter of cluster.counters.values()) Object.assign(counter, { saves: 0, entries: 0, entrySaves: 0 });
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(0x42);
  const load = await runLoad(concurrency, count, PHASE_MS_MAX, () => cluster.leader.propose(payload));
  // Followers may still be writing the last entries: let them finish so their counts are complete.
  for (const runtime of cluster.runtimes) await runtime.idle();
  const leaderCounter = cluster.counters.get(cluster.leader.id)!;
  let followerEntries = 0;
  let followerSaves = 0;
  let allSaves = 0;
  let commitOnlySaves = 0;
  for (const [id, counter] of cluster.counters) {
    allSaves += counter.saves;
    commitOnlySaves += counter.saves - counter.entrySaves;
    if (id === cluster.leader.id) continue;
    followerEntries += counter.entries;
    followerSaves += counter.saves;
  }
  return {
    ...load,
    leaderEntriesPerFsync: leaderCounter.entries / leaderCounter.saves,
    followerEntriesPerFsync: followerEntries / followerSaves,
    fsyncsPerWrite: allSaves / load.writes,
    commitOnlyFsyncShare: commitOnlySaves / allSaves,
  };
}

// ---------------------------------------------------------------- etcd (optional)

type EtcdCluster = { processes: ChildProcess[]; leaderUrl: string; version: string };

const ETCD_HOSTS = ['127.0.0.21', '127.0.0.22', '127.0.0.23'];
const ETCD_CLIENT_PORT = 23790;
const ETCD_PEER_PORT = 23800;

function etcdAvailable(): string | null {
  const result = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return null;
  return /etcd Version: (\S+)/.exec(result.stdout)?.[1] ?? 'unknown';
}

async function startEtcd(dir: string, version: string): Promise<EtcdCluster> {
  const names = ETCD_HOSTS.map((_, i) => `m${i + 1}`);
  const initialCluster = names.map((name, i) => `${name}=http://${ETCD_HOSTS[i]}:${ETCD_PEER_PORT}`).join(',');
  const processes: ChildProcess[] = [];
  const cluster: EtcdCluster = { processes, leaderUrl: '', version };
  try {
    for (const [i, host] of ETCD_HOSTS.entries()) {
      const dataDir = join(dir, `etcd-${names[i]}`);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const logFd = openSync(join(dir, `etcd-${names[i]}.log`), 'w');
      processes.push(spawn('etcd', [
        '--name', names[i]!,
        '--data-dir', dataDir,
        '--listen-client-urls', `http://${host}:${ETCD_CLIENT_PORT}`,
        '--advertise-client-urls', `http://${host}:${ETCD_CLIENT_PORT}`,
        '--listen-peer-urls', `http://${host}:${ETCD_PEER_PORT}`,
        '--initial-advertise-peer-urls', `http://${host}:${ETCD_PEER_PORT}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', `tribune-bench-${process.pid}`,
        '--logger', 'zap',
        '--log-level', 'warn',
      ], { stdio: ['ignore', logFd, logFd] }));
      closeSync(logFd);
    }
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline) {
      const leaderUrl = await findEtcdLeader();
      if (leaderUrl) {
        cluster.leaderUrl = leaderUrl;
        return cluster;
      }
      await sleep(200);
    }
    throw new Error(`etcd did not elect a leader within 30 s (logs in ${dir})`);
  } catch (error) {
    await stopEtcd(cluster);
    throw error;
  }
}

async function findEtcdLeader(): Promise<string | null> {
  for (const host of ETCD_HOSTS) {
    const url = `http://${host}:${ETCD_CLIENT_PORT}`;
    try {
      const status = JSON.parse(await post(url, '/v3/maintenance/status', '{}', null)) as { header?: { member_id?: string }; leader?: string };
      if (status.leader && status.leader !== '0' && status.leader === status.header?.member_id) return url;
    } catch {
      // Not up yet.
    }
  }
  return null;
}

async function stopEtcd(cluster: EtcdCluster): Promise<void> {
  await Promise.all(cluster.processes.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  })));
}

function post(baseUrl: string, path: string, body: string, agent: Agent | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, {
      method: 'POST',
      agent: agent ?? undefined,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      timeout: 10_000,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${path}: HTTP ${res.statusCode}: ${text}`));
        else resolve(text);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

type EtcdPhaseResult = PhaseResult & { etcdCpuBusyFraction: number };

async function etcdPhase(cluster: EtcdCluster, concurrency: number, count: number, round: number): Promise<EtcdPhaseResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const value = Buffer.alloc(PAYLOAD_BYTES, 0x42).toString('base64');
  let sequence = 0;
  const etcdCpuBefore = processesCpuSeconds(cluster.processes);
  try {
    const load = await runLoad(concurrency, count, PHASE_MS_MAX, () => {
      // Distinct keys, so etcd's index grows as a log would; the same 100-byte value as the Raft phases.
      const key = Buffer.from(`bench/${round}/${concurrency}/${++sequence}`).toString('base64');
      return post(cluster.leaderUrl, '/v3/kv/put', JSON.stringify({ key, value }), agent);
    });
    return { ...load, etcdCpuBusyFraction: (processesCpuSeconds(cluster.processes) - etcdCpuBefore) / load.seconds };
  } finally {
    agent.destroy();
  }
}

/** User + system CPU seconds of these processes so far, from /proc (NaN where that cannot be read). */
function processesCpuSeconds(processes: ChildProcess[]): number {
  let ticks = 0;
  for (const child of processes) {
    try {
      // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return NaN;
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

// ---------------------------------------------------------------- one round

async function runRound(round: number, dir: string, etcd: EtcdCluster | null): Promise<RoundResult> {
  const fsyncsPerSecond = measureFsync(dir);
  const levelBatch100EntriesPerSecond = await measureLevelBatches(join(dir, 'level-batch-100'), 100, CEILING_MS);
  const levelBatch1WritesPerSecond = await measureLevelBatches(join(dir, 'level-batch-1'), 1, CEILING_MS);

  const cluster = await startCluster(join(dir, 'raft'), true);
  let raftSingle: RaftPhaseResult;
  let raftConcurrent: RaftPhaseResult;
  try {
    await raftPhase(cluster, CONCURRENCY, WARMUP_WRITES);
    raftSingle = await raftPhase(cluster, 1, WRITES_SINGLE);
    raftConcurrent = await raftPhase(cluster, CONCURRENCY, WRITES_CONCURRENT);
  } finally {
    await stopCluster(cluster);
  }
  const unsyncedCluster = await startCluster(join(dir, 'raft-unsynced'), false);
  let raftConcurrentUnsynced: RaftPhaseResult;
  try {
    await raftPhase(unsyncedCluster, CONCURRENCY, WARMUP_WRITES);
    raftConcurrentUnsynced = await raftPhase(unsyncedCluster, CONCURRENCY, WRITES_CONCURRENT);
  } finally {
    await stopCluster(unsyncedCluster);
  }

  let etcdSingle: EtcdPhaseResult | null = null;
  let etcdConcurrent: EtcdPhaseResult | null = null;
  if (etcd) {
    await etcdPhase(etcd, CONCURRENCY, WARMUP_WRITES, round);
    etcdSingle = await etcdPhase(etcd, 1, WRITES_SINGLE, round);
    etcdConcurrent = await etcdPhase(etcd, CONCURRENCY, WRITES_CONCURRENT, round);
  }
  return { fsyncsPerSecond, levelBatch100EntriesPerSecond, levelBatch1WritesPerSecond, raftSingle, raftConcurrent, raftConcurrentUnsynced, etcdSingle, etcdConcurrent };
}

// ---------------------------------------------------------------- reporting

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function format(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

type Row = { name: string; digits: number; pick: (round: RoundResult) => number | null };

function rows(concurrency: number): Row[] {
  const c = concurrency;
  return [
    { name: 'disk fsync (4 KiB write + fsync)/s', digits: 0, pick: (r) => r.fsyncsPerSecond },
    { name: 'level synced batch of 100, entries/s', digits: 0, pick: (r) => r.levelBatch100EntriesPerSecond },
    { name: 'level synced batch of 1, writes/s', digits: 0, pick: (r) => r.levelBatch1WritesPerSecond },
    { name: 'raft 1 proposer, writes/s', digits: 0, pick: (r) => r.raftSingle.writesPerSecond },
    { name: 'raft 1 proposer, p50 ms', digits: 2, pick: (r) => r.raftSingle.latencyMsP50 },
    { name: 'raft 1 proposer, p99 ms', digits: 2, pick: (r) => r.raftSingle.latencyMsP99 },
    { name: 'raft 1 proposer, cpu busy (cores)', digits: 2, pick: (r) => r.raftSingle.cpuBusyFraction },
    { name: 'raft 1 proposer, leader entries/fsync', digits: 2, pick: (r) => r.raftSingle.leaderEntriesPerFsync },
    { name: 'raft 1 proposer, follower entries/fsync', digits: 2, pick: (r) => r.raftSingle.followerEntriesPerFsync },
    { name: 'raft 1 proposer, fsyncs (3 nodes)/write', digits: 2, pick: (r) => r.raftSingle.fsyncsPerWrite },
    { name: 'raft 1 proposer, commit-only fsync share', digits: 2, pick: (r) => r.raftSingle.commitOnlyFsyncShare },
    { name: `raft ${c} proposers, writes/s`, digits: 0, pick: (r) => r.raftConcurrent.writesPerSecond },
    { name: `raft ${c} proposers, p50 ms`, digits: 2, pick: (r) => r.raftConcurrent.latencyMsP50 },
    { name: `raft ${c} proposers, p99 ms`, digits: 2, pick: (r) => r.raftConcurrent.latencyMsP99 },
    { name: `raft ${c} proposers, cpu busy (cores)`, digits: 2, pick: (r) => r.raftConcurrent.cpuBusyFraction },
    { name: `raft ${c} proposers, leader entries/fsync`, digits: 2, pick: (r) => r.raftConcurrent.leaderEntriesPerFsync },
    { name: `raft ${c} proposers, follower entries/fsync`, digits: 2, pick: (r) => r.raftConcurrent.followerEntriesPerFsync },
    { name: `raft ${c} proposers, fsyncs (3 nodes)/write`, digits: 3, pick: (r) => r.raftConcurrent.fsyncsPerWrite },
    { name: `raft ${c} proposers, commit-only fsync share`, digits: 2, pick: (r) => r.raftConcurrent.commitOnlyFsyncShare },
    { name: `raft ${c} proposers SYNC OFF, writes/s`, digits: 0, pick: (r) => r.raftConcurrentUnsynced.writesPerSecond },
    { name: `raft ${c} proposers SYNC OFF, p99 ms`, digits: 2, pick: (r) => r.raftConcurrentUnsynced.latencyMsP99 },
    { name: `raft ${c} proposers SYNC OFF, cpu busy`, digits: 2, pick: (r) => r.raftConcurrentUnsynced.cpuBusyFraction },
    { name: `ceiling / raft ${c} proposers (goal <= 2)`, digits: 2, pick: (r) => r.levelBatch100EntriesPerSecond / r.raftConcurrent.writesPerSecond },
    { name: 'etcd 1 client, puts/s', digits: 0, pick: (r) => r.etcdSingle?.writesPerSecond ?? null },
    { name: 'etcd 1 client, p50 ms', digits: 2, pick: (r) => r.etcdSingle?.latencyMsP50 ?? null },
    { name: 'etcd 1 client, p99 ms', digits: 2, pick: (r) => r.etcdSingle?.latencyMsP99 ?? null },
    { name: 'etcd 1 client, cpu busy etcd', digits: 2, pick: (r) => r.etcdSingle?.etcdCpuBusyFraction ?? null },
    { name: 'etcd 1 client, cpu busy node client', digits: 2, pick: (r) => r.etcdSingle?.cpuBusyFraction ?? null },
    { name: `etcd ${c} clients, puts/s`, digits: 0, pick: (r) => r.etcdConcurrent?.writesPerSecond ?? null },
    { name: `etcd ${c} clients, p50 ms`, digits: 2, pick: (r) => r.etcdConcurrent?.latencyMsP50 ?? null },
    { name: `etcd ${c} clients, p99 ms`, digits: 2, pick: (r) => r.etcdConcurrent?.latencyMsP99 ?? null },
    { name: `etcd ${c} clients, cpu busy etcd`, digits: 2, pick: (r) => r.etcdConcurrent?.etcdCpuBusyFraction ?? null },
    { name: `etcd ${c} clients, cpu busy node client`, digits: 2, pick: (r) => r.etcdConcurrent?.cpuBusyFraction ?? null },
    { name: 'raft / etcd, 1 proposer', digits: 2, pick: (r) => (r.etcdSingle ? r.raftSingle.writesPerSecond / r.etcdSingle.writesPerSecond : null) },
    { name: `raft / etcd, ${c} proposers`, digits: 2, pick: (r) => (r.etcdConcurrent ? r.raftConcurrent.writesPerSecond / r.etcdConcurrent.writesPerSecond : null) },
  ];
}

function printTable(results: RoundResult[]): void {
  const table = rows(CONCURRENCY)
    .map((row) => ({ row, values: results.map(row.pick).filter((v): v is number => v !== null) }))
    .filter(({ values }) => values.length > 0);
  const nameWidth = Math.max(...table.map(({ row }) => row.name.length));
  const roundHeaders = results.map((_, i) => `round ${i + 1}`);
  const header = ['median', 'min', 'max', ...roundHeaders];
  const cells = table.map(({ row, values }) => [
    format(median(values), row.digits), format(Math.min(...values), row.digits), format(Math.max(...values), row.digits),
    ...values.map((v) => format(v, row.digits)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]?.length ?? 0)));
  const line = (name: string, columns: string[]) => `${name.padEnd(nameWidth)}  ${columns.map((c, i) => c.padStart(widths[i]!)).join('  ')}`;
  console.log(line('', header));
  for (const [i, { row }] of table.entries()) console.log(line(row.name, cells[i]!));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tribune-bench-raft-'));
  const etcdVersion = args['no-etcd'] ? null : etcdAvailable();
  console.log(`raft throughput: ${ROUNDS} round(s), ${PAYLOAD_BYTES}-byte payloads, 1 and ${CONCURRENCY} proposers, ` +
    `${WRITES_SINGLE} / ${WRITES_CONCURRENT} writes or ${PHASE_MS_MAX / 1000} s per phase`);
  console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), ` +
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB memory (${(freemem() / 2 ** 30).toFixed(1)} free), kernel ${release()}, data in ${tmpdir()}, ` +
    `load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} (other work on the machine skews every figure)`);
  if (args['no-etcd']) console.log('etcd: skipped (--no-etcd)');
  else if (!etcdVersion) console.log('etcd: skipped (no `etcd` on PATH; on Debian: apt-get install etcd-server)');

  let etcd: EtcdCluster | null = null;
  const onSignal = () => {
    if (etcd) for (const child of etcd.processes) child.kill('SIGKILL');
    void rm(dir, { recursive: true, force: true }).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (etcdVersion) {
      etcd = await startEtcd(dir, etcdVersion);
      console.log(`etcd ${etcdVersion}: 3 members on ${ETCD_HOSTS.join(', ')}, fsync on, leader ${etcd.leaderUrl}, puts over POST /v3/kv/put`);
    }
    const results: RoundResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const roundDir = join(dir, `round-${round}`);
      mkdirSync(roundDir);
      const result = await runRound(round, roundDir, etcd);
      results.push(result);
      console.log(`round ${round}: raft ${format(result.raftSingle.writesPerSecond, 0)} / ${format(result.raftConcurrent.writesPerSecond, 0)} writes/s` +
        (result.etcdConcurrent ? `, etcd ${format(result.etcdSingle!.writesPerSecond, 0)} / ${format(result.etcdConcurrent.writesPerSecond, 0)} puts/s` : '') +
        ` (1 / ${CONCURRENCY} proposers)`);
      await rm(roundDir, { recursive: true, force: true });
    }
    console.log('');
    printTable(results);
    const ceiling = median(results.map((r) => r.levelBatch100EntriesPerSecond));
    const concurrent = median(results.map((r) => r.raftConcurrent.writesPerSecond));
    console.log('');
    console.log(`batched ceiling / raft with ${CONCURRENCY} proposers (medians): ${format(ceiling / concurrent, 2)}x (issue 2 goal: within 2x)`);
    console.log(`load average at the end: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (etcd) await stopEtcd(etcd);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

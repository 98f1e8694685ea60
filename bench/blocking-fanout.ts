// Blocking-query fan-out (issue 4, "What to measure"): 10,000 concurrent
// blocking watchers on distinct keys against one agent; one write to one key
// must wake exactly its own watcher; and what each waiting watcher costs the
// agent in memory.
//
//   npm run bench:fanout                       10,000 watchers (~1 min)
//   npm run bench:fanout -- --watchers 2000    fewer
//
// Needs about watchers + 100 file descriptors in this process and in the
// agent (one socket each side per watcher). Check `ulimit -n` first; raise it
// in the shell that runs the bench if needed (`ulimit -n 65536`): the agent,
// a child of this process, inherits the limit.
//
// Steps, against one agent process (`tribune agent -dev`, 127.0.3.21, HTTP 18521):
//   1. write the keys fanout/key-00000 … (one per watcher), read their ModifyIndex
//   2. agent RSS (VmRSS of its process) after a settling pause: "before"
//   3. open one `GET /v1/kv/fanout/key-i?index=<its ModifyIndex>&wait=60s` per key,
//      each on its own socket (http.Agent with maxSockets: Infinity), wait until
//      all are sent and settled; none may answer (they all block)
//   4. agent RSS again: "after"; (after - before) / watchers is the memory per watcher
//   5. one PUT to one key (chosen at random): exactly its watcher must answer, with
//      the write's index, and no other within WAKE_GRACE_MS
//   6. a contrast: as many watchers again, all on ONE key (identical queries share
//      one waiter entry): memory per watcher, and how long after one write the last
//      of them has its answer
// Every loop is bounded; the agent is stopped at the end whatever happens.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import type { ClientRequest } from 'node:http';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    watchers: { type: 'string', default: '10000' },
    'keep-dir': { type: 'boolean', default: false },
  },
});

const WATCHERS = Number(args.watchers);
if (!Number.isInteger(WATCHERS) || WATCHERS < 1 || WATCHERS > 50_000) throw new Error('--watchers must be 1..50000');
const HOST = '127.0.3.21';
const HTTP_PORT = 18521;
const MESH_PORT = 18621;
const TRIBUNE_BIN = new URL('../bin/tribune.js', import.meta.url).pathname;
/** Watchers opened at a time while setting up (sockets being connected and requests sent). */
const OPEN_BATCH = 500;
/** After the write, how long other watchers have to (wrongly) answer before we call it precise. */
const WAKE_GRACE_MS = 2_000;
const SETTLE_MS = 3_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function fileDescriptorLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const line = limits.split('\n').find((text) => text.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? NaN);
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  return kib * 1024;
}

function call(agent: Agent, method: string, path: string, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: HOST, port: HTTP_PORT, method, path, headers: body === undefined ? {} : { 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

type Watcher = { key: string; request: ClientRequest | null; answeredAtMs: number | null; status: number; index: number; error: string };

/** Open one blocking GET per entry; resolves once every request is written to its socket. */
async function openWatchers(agent: Agent, targets: { key: string; index: number }[]): Promise<Watcher[]> {
  const watchers: Watcher[] = targets.map(({ key }) => ({ key, request: null, answeredAtMs: null, status: 0, index: 0, error: '' }));
  for (let start = 0; start < targets.length; start += OPEN_BATCH) {
    const batch = targets.slice(start, start + OPEN_BATCH);
    await Promise.all(batch.map(({ key, index }, offset) => new Promise<void>((resolve) => {
      const watcher = watchers[start + offset]!;
      const req = request({ agent, host: HOST, port: HTTP_PORT, method: 'GET', path: `/v1/kv/${key}?index=${index}&wait=60s` }, (res) => {
        res.resume();
        res.on('end', () => {
          watcher.answeredAtMs = performance.now();
          watcher.status = res.statusCode ?? 0;
          watcher.index = Number(res.headers['x-consul-index']);
        });
      });
      req.on('error', (error) => {
        watcher.error = error.message;
        resolve();
      });
      req.on('finish', () => resolve()); // written to the socket
      watcher.request = req;
      req.end();
    })));
  }
  return watchers;
}

function closeWatchers(watchers: Watcher[]): void {
  for (const watcher of watchers) watcher.request?.destroy();
}

async function waitForSettled(watchers: Watcher[], ms: number): Promise<void> {
  await sleep(ms);
  const failed = watchers.filter((watcher) => watcher.error !== '');
  if (failed.length > 0) throw new Error(`${failed.length} watchers failed to open, first: ${failed[0]!.error} (file descriptors? ulimit -n is ${fileDescriptorLimit()})`);
}

async function main(): Promise<void> {
  const limit = fileDescriptorLimit();
  const needed = WATCHERS + 200;
  console.error(`blocking-fanout: ${WATCHERS} watchers; ulimit -n ${limit}; ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (!(limit >= needed)) throw new Error(`ulimit -n is ${limit}; ${needed} are needed here and in the agent: run \`ulimit -n 65536\` in this shell first`);

  const dir = await mkdtemp(join(tmpdir(), 'tribune-bench-fanout-'));
  const logFd = openSync(join(dir, 'agent.log'), 'w');
  const child: ChildProcess = spawn(process.execPath, [TRIBUNE_BIN, 'agent', '-dev', '-node', 'fanout', '-bind', HOST, '-port', String(MESH_PORT), '-client', HOST, '-http-port', String(HTTP_PORT), '-dns-port', '-1', '-log-level', 'warn'], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  let watchers: Watcher[] = [];
  try {
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline) {
      try {
        if ((await call(agent, 'PUT', '/v1/kv/fanout-ready', 'yes')).status === 200) break;
      } catch {
        // not up yet
      }
      await sleep(200);
    }
    // 1. the keys
    const keys = Array.from({ length: WATCHERS }, (_, i) => `fanout/key-${String(i).padStart(5, '0')}`);
    const writer = new Agent({ keepAlive: true, maxSockets: 64 });
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const answer = await call(writer, 'PUT', `/v1/kv/${key}`, 'initial');
        if (answer.status !== 200) throw new Error(`write ${key}: ${answer.status} ${answer.body}`);
      }
    }));
    writer.destroy();
    const listing = JSON.parse((await call(agent, 'GET', '/v1/kv/fanout/?recurse')).body) as { Key: string; ModifyIndex: number }[];
    const indexOf = new Map(listing.map((entry) => [entry.Key, entry.ModifyIndex]));
    if (indexOf.size !== WATCHERS) throw new Error(`expected ${WATCHERS} keys, found ${indexOf.size}`);

    // 2. before
    await sleep(SETTLE_MS);
    const rssBefore = rssBytes(child.pid!);

    // 3. the watchers, on distinct keys
    const openStarted = performance.now();
    watchers = await openWatchers(agent, keys.map((key) => ({ key, index: indexOf.get(key)! })));
    const openSeconds = (performance.now() - openStarted) / 1000;
    await waitForSettled(watchers, SETTLE_MS);
    const earlyAnswers = watchers.filter((watcher) => watcher.answeredAtMs !== null).length;

    // 4. after
    const rssAfter = rssBytes(child.pid!);

    // 5. one write wakes one watcher
    const chosen = Math.floor(Math.random() * WATCHERS);
    const writeStarted = performance.now();
    const write = await call(agent, 'PUT', `/v1/kv/${keys[chosen]}`, 'changed');
    const writeDone = performance.now();
    if (write.status !== 200) throw new Error(`the write failed: ${write.status} ${write.body}`);
    await sleep(WAKE_GRACE_MS);
    const answered = watchers.filter((watcher) => watcher.answeredAtMs !== null);
    const own = watchers[chosen]!;
    const ownIndex = indexOf.get(keys[chosen]!)!;
    const wakeMs = own.answeredAtMs === null ? NaN : own.answeredAtMs - writeStarted;
    const precise = earlyAnswers === 0 && answered.length === 1 && answered[0] === own && own.status === 200 && own.index > ownIndex;
    closeWatchers(watchers);
    watchers = [];
    await sleep(1_000);

    // 6. contrast: every watcher on one key
    const sharedKey = keys[0]!;
    const sharedIndex = Number((await call(agent, 'GET', `/v1/kv/${sharedKey}`)).headers['x-consul-index']);
    const rssSharedBefore = rssBytes(child.pid!);
    watchers = await openWatchers(agent, Array.from({ length: WATCHERS }, () => ({ key: sharedKey, index: sharedIndex })));
    await waitForSettled(watchers, SETTLE_MS);
    const sharedEarly = watchers.filter((watcher) => watcher.answeredAtMs !== null).length;
    const rssSharedAfter = rssBytes(child.pid!);
    const sharedWriteStarted = performance.now();
    await call(agent, 'PUT', `/v1/kv/${sharedKey}`, 'changed again');
    const sharedDeadline = performance.now() + 30_000;
    while (performance.now() < sharedDeadline && watchers.some((watcher) => watcher.answeredAtMs === null)) await sleep(20);
    const sharedAnswered = watchers.filter((watcher) => watcher.answeredAtMs !== null);
    const sharedLastMs = Math.max(...sharedAnswered.map((watcher) => watcher.answeredAtMs! - sharedWriteStarted));
    const sharedFirstMs = Math.min(...sharedAnswered.map((watcher) => watcher.answeredAtMs! - sharedWriteStarted));
    closeWatchers(watchers);
    watchers = [];

    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    console.log(`\nload average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    console.log('| | value |');
    console.log('| --- | ---: |');
    console.log(`| watchers on distinct keys | ${WATCHERS} |`);
    console.log(`| time to open them (${OPEN_BATCH} at a time) | ${openSeconds.toFixed(2)} s |`);
    console.log(`| answered before any write (must be 0) | ${earlyAnswers} |`);
    console.log(`| agent RSS before / with the watchers | ${mib(rssBefore)} / ${mib(rssAfter)} MiB |`);
    console.log(`| **memory per waiting watcher** | **${((rssAfter - rssBefore) / WATCHERS / 1024).toFixed(1)} KiB** |`);
    console.log(`| one write: watchers answered within ${WAKE_GRACE_MS} ms (must be exactly 1, its own) | ${answered.length}${answered.length === 1 && answered[0] === own ? ' (its own)' : ''} |`);
    console.log(`| the write's own latency / its watcher's answer after the write was sent | ${(writeDone - writeStarted).toFixed(1)} / ${wakeMs.toFixed(1)} ms |`);
    console.log(`| precise wake (exactly one, the right one, with a larger index) | ${precise ? 'yes' : 'NO'} |`);
    console.log(`| contrast: ${WATCHERS} watchers on ONE key, answered before the write (must be 0) | ${sharedEarly} |`);
    console.log(`| contrast: agent RSS before / with them | ${mib(rssSharedBefore)} / ${mib(rssSharedAfter)} MiB (${((rssSharedAfter - rssSharedBefore) / WATCHERS / 1024).toFixed(1)} KiB each) |`);
    console.log(`| contrast: one write, watchers answered / first / last answer after the write | ${sharedAnswered.length} / ${sharedFirstMs.toFixed(0)} / ${sharedLastMs.toFixed(0)} ms |`);
    if (!precise) process.exitCode = 1;
  } finally {
    closeWatchers(watchers);
    agent.destroy();
    child.kill('SIGTERM');
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(10_000).then(() => child.kill('SIGKILL'))]);
    if (!args['keep-dir']) await rm(dir, { recursive: true, force: true });
  }
}

await main();

// Issue 4: restore a snapshot into a fresh cluster and read every key back.
// Cluster A (127.0.0.71-73) takes 500 keys and is saved with `tribune
// snapshot save`; it is then killed, and a fresh cluster B (127.0.0.74-76),
// with keys of its own, gets the file with `tribune snapshot restore`
// through a follower (so the file is uploaded to the leader over agent RPC).
// Every agent of B must then serve every key of A, and none of its own.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectSnapshotFile } from '../../agent/http/snapshot-endpoints.ts';
import { TestCluster, eventually } from './harness.ts';
import type { AgentProcess } from './harness.ts';

const BIN = new URL('../../bin/tribune.js', import.meta.url).pathname;
const KEY_COUNT = 500;

const source = new TestCluster({ subnet: 0, first: 71, count: 3, httpPortBase: 19571, bootstrapExpect: 3 });
const target = new TestCluster({ subnet: 0, first: 74, count: 3, httpPortBase: 19574, bootstrapExpect: 3 });
const snapshotPath = join(target.root, 'cluster-a.snap'); // source.root goes with cluster A

test.after(async () => {
  await source.cleanup();
  await target.cleanup();
});

function keyName(i: number): string {
  return `snap/${String(i % 10)}/key-${String(i).padStart(4, '0')}`;
}

function valueOf(i: number): string {
  return `value ${i} ${'·'.repeat(i % 97)}`;
}

function tribune(agent: AgentProcess, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args.slice(0, 2), '-http-addr', `${agent.ip}:${agent.httpPort}`, ...args.slice(2)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The agent that leads, once every agent agrees there is a leader and a write goes through. */
async function leaderOf(cluster: TestCluster): Promise<AgentProcess> {
  return eventually(async () => {
    const leaders = await Promise.all(cluster.agents.map((agent) => cluster.get<string>(agent, '/v1/status/leader')));
    if (leaders.some((leader) => leader === '') || new Set(leaders).size !== 1) return false;
    const leader = cluster.agents.find((agent) => leaders[0]!.startsWith(`${agent.ip}:`));
    if (!leader) return false;
    const write = await cluster.put(leader, '/v1/kv/ready', 'yes');
    return write.status === 200 && leader;
  }, 60_000, () => cluster.agents.map((agent) => `${agent.name}:\n${cluster.logs(agent, 15)}`).join('\n'));
}

/** Run `work` on 0..count-1, `width` at a time. */
async function inParallel(count: number, width: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await work(next++);
  }));
}

test('500 keys saved from one cluster are restored into a fresh one and read back from every agent', async () => {
  source.startAll();
  const sourceLeader = await leaderOf(source);
  await inParallel(KEY_COUNT, 16, async (i) => {
    const response = await source.put(sourceLeader, `/v1/kv/${keyName(i)}`, valueOf(i));
    assert.is(response.status, 200, await response.clone().text());
  });
  const sourceFollower = source.agents.find((agent) => agent !== sourceLeader)!;
  const saved = await tribune(sourceFollower, ['snapshot', 'save', snapshotPath]);
  assert.is(saved.code, 0, saved.stderr);
  assert.match(saved.stdout, /^Saved and verified snapshot to index \d+/);
  const summary = inspectSnapshotFile(readFileSync(snapshotPath));
  assert.is(summary.counts.kvEntries, KEY_COUNT + 1); // and `ready`
  await source.cleanup();

  target.startAll();
  const targetLeader = await leaderOf(target);
  assert.is((await target.put(targetLeader, '/v1/kv/only-in-b', 'b')).status, 200);
  const before = await fetch(target.url(targetLeader, '/v1/kv/only-in-b'));
  const indexBefore = Number(before.headers.get('x-consul-index'));
  const targetFollower = target.agents.find((agent) => agent !== targetLeader)!;
  const restored = await tribune(targetFollower, ['snapshot', 'restore', snapshotPath]);
  assert.is(restored.code, 0, `${restored.stderr}\n${target.logs(targetFollower)}`);
  assert.is(restored.stdout.trim(), 'Restored snapshot');

  for (const agent of target.agents) {
    // Each agent's own replica (?stale), once it has applied the restore.
    await eventually(async () => {
      const response = await fetch(target.url(agent, '/v1/kv/only-in-b?stale'));
      return response.status === 404;
    }, 20_000, () => target.logs(agent));
    const failures: string[] = [];
    await inParallel(KEY_COUNT, 8, async (i) => {
      const response = await fetch(target.url(agent, `/v1/kv/${keyName(i)}?raw&stale`));
      const body = await response.text();
      if (response.status !== 200 || body !== valueOf(i)) failures.push(`${keyName(i)}: ${response.status} ${body.slice(0, 40)}`);
    });
    assert.equal(failures, [], `${agent.name} serves every key`);
    const listed = await target.get<{ Key: string }[]>(agent, '/v1/kv/snap/?recurse');
    assert.is(listed.length, KEY_COUNT, `${agent.name} lists every key in the default mode`);
  }
  const after = await fetch(target.url(targetLeader, `/v1/kv/${keyName(7)}`));
  assert.ok(Number(after.headers.get('x-consul-index')) > indexBefore, 'indexes moved forward');
  const write = await target.put(targetFollower, '/v1/kv/after-restore', 'ok');
  assert.is(write.status, 200, 'the cluster takes writes after the restore');
});

test.run();

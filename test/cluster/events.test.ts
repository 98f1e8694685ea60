// Five agents as processes on 127.0.0.91–95: an event fired on one agent
// reaches all five (each keeps it once, with the same ID and LTime); node,
// service and tag filters select the right subset, decided by each receiver
// against its own registrations; the CLI prints Consul's `Event ID: …`; a
// blocking list wakes on the next event; `tribune watch -type event` on each
// agent runs its handler once for the event, and not again when other events
// bump the index without changing the watched content.
//
// Services: agent-2 web [v1], agent-3 web [v1], agent-4 web [v2], agent-5 db.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, TestCluster } from './harness.ts';
import type { AgentProcess } from './harness.ts';

type Member = { Name: string; Status: number };
type Event = { ID: string; Name: string; Payload: string | null; LTime: number; NodeFilter: string; ServiceFilter: string; TagFilter: string; Version: number };

const test = suite('user events across five agents');
const cluster = new TestCluster({ subnet: 0, first: 91, count: 5, httpPortBase: 19591, bootstrapExpect: 3 });
const agents = cluster.agents as AgentProcess[];
const [a1, a2, a3, a4, a5] = agents as [AgentProcess, AgentProcess, AgentProcess, AgentProcess, AgentProcess];
const cli = new URL('../../bin/tribune.js', import.meta.url).pathname;

/** Propagation bound: gossipsub pushes at once; this is slack for a loaded machine. */
const PROPAGATION_MS = 5_000;

async function events(agent: AgentProcess, name: string): Promise<Event[]> {
  return cluster.get<Event[]>(agent, `/v1/event/list?name=${encodeURIComponent(name)}`);
}

async function fire(agent: AgentProcess, name: string, query = '', payload?: string): Promise<Event> {
  const response = await cluster.put(agent, `/v1/event/fire/${name}${query}`, payload);
  assert.is(response.status, 200, await response.clone().text());
  return (await response.json()) as Event;
}

/** Wait until exactly `expected` agents hold the event, and give the others the same time to (wrongly) receive it. */
async function holders(name: string, id: string, expected: readonly AgentProcess[]): Promise<string[]> {
  await eventually(async () => {
    for (const agent of expected) if (!(await events(agent, name)).some((event) => event.ID === id)) return false;
    return true;
  }, PROPAGATION_MS, async () => `waiting for ${name} on ${expected.map((agent) => agent.name).join(', ')}\n${cluster.logs(a1, 20)}`);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const result: string[] = [];
  for (const agent of agents) {
    const found = (await events(agent, name)).filter((event) => event.ID === id);
    assert.ok(found.length <= 1, `${agent.name} holds ${name} ${found.length} times`);
    if (found.length === 1) result.push(agent.name);
  }
  return result;
}

test.before(async () => {
  cluster.startAll();
  await eventually(async () => {
    for (const agent of agents) {
      const members = await cluster.get<Member[]>(agent, '/v1/agent/members');
      if (members.filter((member) => member.Status === 1).length !== 5) return false;
    }
    return (await cluster.get<string>(a1, '/v1/status/leader')) !== '';
  }, 60_000, () => cluster.logs(a1));
  const services: [AgentProcess, object][] = [
    [a2, { ID: 'web-2', Name: 'web', Tags: ['v1'], Port: 80 }],
    [a3, { ID: 'web-3', Name: 'web', Tags: ['v1'], Port: 80 }],
    [a4, { ID: 'web-4', Name: 'web', Tags: ['v2'], Port: 80 }],
    [a5, { ID: 'db-5', Name: 'db', Tags: ['primary'], Port: 5432 }],
  ];
  for (const [agent, service] of services) {
    const response = await cluster.put(agent, '/v1/agent/service/register', JSON.stringify(service));
    assert.is(response.status, 200, `${agent.name}: ${await response.text()}`);
  }
});

test.after(async () => {
  await cluster.cleanup();
});

test('an event fired on agent 1 reaches all five, once each, with the same ID, payload and LTime', async () => {
  const fired = await fire(a1, 'deploy', '', '6DF7FE');
  assert.is(fired.Name, 'deploy');
  assert.is(fired.Version, 1);
  assert.is(Buffer.from(fired.Payload ?? '', 'base64').toString(), '6DF7FE');
  assert.equal(await holders('deploy', fired.ID, agents), agents.map((agent) => agent.name));
  for (const agent of agents) {
    const [event] = (await events(agent, 'deploy')).filter((candidate) => candidate.ID === fired.ID);
    assert.equal(event, fired, agent.name);
  }
  // Everyone witnessed the first event's LTime: one fired later elsewhere is later.
  const second = await fire(a4, 'deploy-2');
  assert.ok(second.LTime > fired.LTime, `${second.LTime} > ${fired.LTime}`);
  await holders('deploy-2', second.ID, agents);
});

test('filters select the subset: service, service + tag, node', async () => {
  const web = await fire(a1, 'restart-web', '?service=web');
  assert.equal(await holders('restart-web', web.ID, [a2, a3, a4]), ['agent-2', 'agent-3', 'agent-4']);
  const v1 = await fire(a5, 'restart-v1', '?service=%5Eweb%24&tag=v1');
  assert.equal(await holders('restart-v1', v1.ID, [a2, a3]), ['agent-2', 'agent-3']);
  const nodes = await fire(a3, 'restart-nodes', '?node=agent-%5B15%5D');
  assert.equal(await holders('restart-nodes', nodes.ID, [a1, a5]), ['agent-1', 'agent-5']);
  const none = await fire(a2, 'nobody', '?service=cache');
  assert.equal(await holders('nobody', none.ID, []), []);
});

test('reserved names and oversized payloads are refused with a message', async () => {
  let response = await cluster.put(a1, '/v1/event/fire/_internal');
  assert.is(response.status, 400);
  assert.match(await response.text(), /cannot start with _/);
  response = await cluster.put(a1, '/v1/event/fire/big', 'x'.repeat(513));
  assert.is(response.status, 413);
  assert.match(await response.text(), /limit is 512 bytes/);
});

test('tribune event prints the event ID; a blocking list on another agent wakes with it', async () => {
  const before = await fetch(cluster.url(a5, '/v1/event/list?name=cli'));
  const index = Number(before.headers.get('x-consul-index'));
  assert.ok(index >= 1);
  const blocked = fetch(cluster.url(a5, `/v1/event/list?name=cli&index=${index}&wait=10s`));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const run = spawnSync(process.execPath, [cli, 'event', '-http-addr', `${a2.ip}:${a2.httpPort}`, '-name', 'cli', '-node', 'agent-5', 'hello'], { encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  const match = /^Event ID: ([0-9a-f-]{36})\n$/.exec(run.stdout);
  assert.ok(match, run.stdout);
  const response = await blocked;
  assert.ok(Number(response.headers.get('x-consul-index')) > index);
  const list = (await response.json()) as Event[];
  assert.equal(list.map((event) => event.ID), [match![1]]);
  assert.is(Buffer.from(list[0]!.Payload!, 'base64').toString(), 'hello');
});

test('tribune watch -type event on each agent runs its handler once for the event, not on unrelated index bumps', async () => {
  const watchers = agents.map((agent) => {
    const dir = join(cluster.root, `watch-${agent.name}`);
    mkdirSync(dir);
    const child = spawn(process.execPath, [
      cli, 'watch', '-http-addr', `${agent.ip}:${agent.httpPort}`, '-type', 'event', '-name', 'deploy-w',
      `cat > "${dir}/run-$CONSUL_INDEX-$$.json"`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const runs = () => readdirSync(dir).map((file) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as Event[]);
    return { agent, child, runs, output };
  });
  try {
    // The first answer ([], nothing yet) is handed over once, as consul watch does.
    await eventually(() => watchers.every((watcher) => watcher.runs().length === 1), 10_000, () => watchers.map((w) => w.output.join('')).join('\n'));
    const fired = await fire(a3, 'deploy-w', '', 'v42');
    await eventually(() => watchers.every((watcher) => watcher.runs().length === 2), PROPAGATION_MS, () => watchers.map((w) => `${w.agent.name}: ${w.runs().length}`).join(', '));
    // Other events move every agent's index; the watched list does not change.
    await fire(a1, 'unrelated');
    await fire(a2, 'unrelated');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const watcher of watchers) {
      const runs = watcher.runs();
      assert.is(runs.length, 2, `${watcher.agent.name} ran its handler ${runs.length} times`);
      assert.is(runs.filter((run) => run.some((event) => event.ID === fired.ID)).length, 1, watcher.agent.name);
    }
  } finally {
    for (const watcher of watchers) watcher.child.kill('SIGTERM');
  }
});

test.run();

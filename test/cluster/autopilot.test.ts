// Roles without servers: with -raft-voters 3, five agents keep three voters.
// Kill a voter and autopilot removes it once it has been failed for a stable
// interval, adds an alive agent as a learner, promotes it, and writes go on.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestCluster, eventually } from './harness.ts';
import type { AgentProcess } from './harness.ts';

type Configuration = { Servers: { Node: string; Voter: boolean; Leader: boolean }[] };

const cluster = new TestCluster({
  subnet: 0, first: 31, count: 5, httpPortBase: 19531, bootstrapExpect: 5,
  extraArgs: ['-raft-voters', '3'],
  env: { TRIBUNE_AUTOPILOT_DEAD_MS: '2000' },
});

test.after(async () => {
  await cluster.cleanup();
});

async function voters(viewer: AgentProcess): Promise<string[]> {
  const configuration = await cluster.get<Configuration>(viewer, '/v1/operator/raft/configuration');
  return configuration.Servers.filter((server) => server.Voter).map((server) => server.Node).sort();
}

test('an agent that holds no replica answers KV writes and reads in every mode by forwarding to a Raft member', async () => {
  cluster.startAll();
  const first = cluster.agents[0]!;
  const members = await eventually(async () => {
    const list = await voters(first);
    return list.length === 3 && list;
  }, 40_000, () => cluster.logs(first));
  const client = cluster.agents.find((agent) => !members.includes(agent.name))!;
  const write = await cluster.put(client, '/v1/kv/forwarded', 'from-a-client');
  assert.is(write.status, 200, await write.clone().text());
  for (const mode of ['', '&stale', '&consistent']) {
    const read = await fetch(cluster.url(client, `/v1/kv/forwarded?raw${mode}`));
    assert.is(read.status, 200);
    assert.is(await read.text(), 'from-a-client');
    assert.ok(Number(read.headers.get('x-consul-index')) > 1);
  }
});

test('a dead voter is replaced: the cluster keeps three voters and accepts writes', async () => {
  const first = cluster.agents[0]!;
  const initial = await eventually(async () => {
    const list = await voters(first);
    return list.length === 3 && list;
  }, 40_000, () => cluster.logs(first));
  // Kill a voter that is not the one we query.
  const victim = cluster.agents.find((agent) => initial.includes(agent.name) && agent !== first) ?? cluster.agents.find((agent) => initial.includes(agent.name))!;
  const observer = cluster.agents.find((agent) => agent !== victim && initial.includes(agent.name))!;
  cluster.kill(victim);
  const replaced = await eventually(async () => {
    const list = await voters(observer);
    return list.length === 3 && !list.includes(victim.name) && list;
  }, 40_000, () => cluster.logs(observer, 30));
  assert.is(replaced.length, 3);
  assert.ok(replaced.some((name) => !initial.includes(name)), 'a new agent was promoted');
  const write = await cluster.put(observer, '/v1/kv/after-replacement', 'ok');
  assert.is(write.status, 200, await write.clone().text());
});

test.run();

// Five agents as separate processes on 127.0.0.11–15, data on disk: they
// find each other, found one Raft group, detect a SIGKILL, see a restart
// and a leave, and survive a partition made with iptables.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TestCluster, eventually, iptablesAvailable } from './harness.ts';
import type { AgentProcess } from './harness.ts';

type Member = { Name: string; Status: number; Tags: Record<string, string> };

const test = suite('five agents');
const cluster = new TestCluster({ subnet: 0, first: 11, count: 5, httpPortBase: 19501, bootstrapExpect: 5 });
const [a1, a2, a3, a4, a5] = cluster.agents as [AgentProcess, AgentProcess, AgentProcess, AgentProcess, AgentProcess];

async function statusOf(viewer: AgentProcess, name: string): Promise<number | undefined> {
  const members = await cluster.get<Member[]>(viewer, '/v1/agent/members');
  return members.find((member) => member.Name === name)?.Status;
}

async function everyoneSees(viewers: AgentProcess[], name: string, status: number, timeoutMs: number): Promise<void> {
  await eventually(async () => {
    for (const viewer of viewers) if ((await statusOf(viewer, name)) !== status) return false;
    return true;
  }, timeoutMs, async () => {
    const views = await Promise.all(viewers.map(async (viewer) => `${viewer.name} sees ${name} as ${await statusOf(viewer, name).catch((error) => (error as Error).message)}`));
    return `${views.join('; ')}\n${cluster.logs(viewers[0]!, 20)}`;
  });
}

async function leaderAddress(viewer: AgentProcess): Promise<string> {
  return cluster.get<string>(viewer, '/v1/status/leader');
}

async function put(agent: AgentProcess, key: string, value: string): Promise<Response> {
  return cluster.put(agent, `/v1/kv/${key}`, value);
}

test.before(() => {
  cluster.startAll();
});

test.after(async () => {
  await cluster.cleanup();
});

test('five agents started at once all see five alive and agree on one leader and five voters', async () => {
  for (const agent of cluster.agents) {
    await eventually(async () => (await cluster.get<Member[]>(agent, '/v1/agent/members')).filter((m) => m.Status === 1).length === 5, 30_000, () => cluster.logs(agent));
  }
  const leader = await eventually(async () => {
    const views = await Promise.all(cluster.agents.map(leaderAddress));
    return views[0] !== '' && views.every((view) => view === views[0]) && views[0];
  }, 30_000, () => cluster.agents.map((agent) => `${agent.name}:\n${cluster.logs(agent, 10)}`).join('\n'));
  assert.match(leader, /^127\.0\.0\.1[1-5]:8301$/);
  const configuration = await cluster.get<{ Servers: { Voter: boolean; Leader: boolean }[] }>(a1, '/v1/operator/raft/configuration');
  assert.is(configuration.Servers.filter((server) => server.Voter).length, 5);
  assert.is(configuration.Servers.filter((server) => server.Leader).length, 1);
});

test('a write through any agent is readable from every agent', async () => {
  const response = await put(a3, 'greeting', 'hello');
  assert.is(response.status, 200, await response.clone().text());
  assert.is(await response.text(), 'true');
  for (const agent of cluster.agents) {
    const value = await eventually(async () => {
      const answer = await fetch(cluster.url(agent, '/v1/kv/greeting?raw'));
      return answer.status === 200 && answer.text();
    }, 10_000, () => cluster.logs(agent));
    assert.is(value, 'hello');
  }
});

test('an agent killed with SIGKILL is marked failed by every other, and alive again after a restart', async () => {
  cluster.kill(a5);
  await everyoneSees([a1, a2, a3, a4], 'agent-5', 4, 20_000);
  cluster.start(a5);
  await everyoneSees([a1, a2, a3, a4], 'agent-5', 1, 30_000);
  // Same data dir, same identity: it is still one of the five voters, not a sixth member.
  const members = await cluster.get<Member[]>(a1, '/v1/agent/members');
  assert.is(members.length, 5);
});

test('an agent cut off by iptables is declared dead, with no false death elsewhere; only the majority accepts writes; after healing all agree', async () => {
  if (!iptablesAvailable()) {
    if (process.env.CI === 'true') assert.unreachable('iptables is required under CI');
    console.log('SKIP partition test: iptables is not available (install iptables and run as root)');
    return;
  }
  // Cut off the leader, so the majority must elect a new one.
  const leader = await leaderAddress(a1);
  const isolated = cluster.agents.find((agent) => leader.startsWith(`${agent.ip}:`))!;
  const majority = cluster.agents.filter((agent) => agent !== isolated);
  cluster.isolate(isolated, majority);
  try {
    await everyoneSees(majority, isolated.name, 4, 20_000);
    for (const viewer of majority) {
      const members = await cluster.get<Member[]>(viewer, '/v1/agent/members');
      const falseDeaths = members.filter((m) => m.Name !== isolated.name && m.Status !== 1);
      assert.equal(falseDeaths.map((m) => m.Name), [], `${viewer.name} reports a false death`);
    }
    const newLeader = await eventually(async () => {
      const address = await leaderAddress(majority[0]!);
      return address !== '' && address !== leader && address;
    }, 20_000, () => cluster.logs(majority[0]!));
    assert.ok(newLeader);
    const accepted = await put(majority[1]!, 'during-partition', 'majority');
    assert.is(accepted.status, 200, await accepted.clone().text());
    const refused = await put(isolated, 'during-partition', 'minority');
    assert.not.equal(refused.status, 200, 'the cut-off agent must not accept a write');
  } finally {
    cluster.heal();
  }
  await everyoneSees(cluster.agents, isolated.name, 1, 30_000);
  const value = await eventually(async () => {
    const answer = await fetch(cluster.url(isolated, '/v1/kv/during-partition?raw'));
    return answer.status === 200 && answer.text();
  }, 15_000, () => cluster.logs(isolated));
  assert.is(value, 'majority');
  const leaders = await Promise.all(cluster.agents.map(leaderAddress));
  assert.is(new Set(leaders).size, 1, `all agree on the leader: ${leaders.join(', ')}`);
});

test('an agent that leaves is shown as left, not failed', async () => {
  const response = await cluster.put(a4, '/v1/agent/leave');
  assert.is(response.status, 200);
  await everyoneSees([a1, a2, a3, a5], 'agent-4', 3, 20_000);
});

test.run();

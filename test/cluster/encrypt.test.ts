// With -encrypt the agents form a libp2p private network: an agent holding a
// different key cannot complete a connection, so it never becomes a member.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { TestCluster, eventually, sleep } from './harness.ts';

type Member = { Name: string; Status: number };

const key = randomBytes(32).toString('base64');
const wrongKey = randomBytes(32).toString('base64');
const cluster = new TestCluster({ subnet: 0, first: 21, count: 3, httpPortBase: 19521, bootstrapExpect: 3, encrypt: key });
const intruder = cluster.agents[2]!;

test.after(async () => {
  await cluster.cleanup();
});

test('agents sharing a cluster key join; an agent with a wrong key cannot', async () => {
  intruder.args = intruder.args.map((arg) => (arg === key ? wrongKey : arg));
  cluster.startAll();
  const [first, second] = cluster.agents as [typeof intruder, typeof intruder];
  await eventually(async () => (await cluster.get<Member[]>(first, '/v1/agent/members')).filter((m) => m.Status === 1).length === 2, 30_000, () => cluster.logs(first));
  // Give the intruder's retry-join several rounds.
  await sleep(4_000);
  for (const agent of [first, second]) {
    const members = await cluster.get<Member[]>(agent, '/v1/agent/members');
    assert.equal(members.map((m) => m.Name).sort(), ['agent-1', 'agent-2'], `${agent.name} must not see the intruder`);
  }
  const intruderView = await cluster.get<Member[]>(intruder, '/v1/agent/members');
  assert.equal(intruderView.map((m) => m.Name), ['agent-3']);
});

test.run();

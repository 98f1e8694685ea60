// KV and sessions across three agents as processes (127.0.0.51–53): any agent
// answers, blocking reads on a follower wake for writes made elsewhere, a TTL
// session expires on time although the leader that saw it created is killed,
// and a lock held by a session bound to an agent's node is freed after that
// agent is SIGKILLed — only once the session's lock-delay has run, never
// before.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { httpCall } from '../agent/http/kv-helpers.ts';
import type { Answer } from '../agent/http/kv-helpers.ts';
import { TestCluster, eventually, sleep } from './harness.ts';
import type { AgentProcess } from './harness.ts';

// Autopilot must not replace the voter killed in the TTL test while it is down: when it
// comes back the three agents are three voters again, so the lock test can lose one.
const cluster = new TestCluster({
  subnet: 0, first: 51, count: 3, httpPortBase: 19551, bootstrapExpect: 3,
  env: { TRIBUNE_AUTOPILOT_DEAD_MS: '600000' },
});

test.after(async () => {
  await cluster.cleanup();
});

function call(agent: AgentProcess, method: string, path: string, body?: string): Promise<Answer> {
  return httpCall(agent.ip, agent.httpPort, method, path, { body, timeoutMs: 20_000 });
}

async function leaderOf(viewer: AgentProcess): Promise<AgentProcess | undefined> {
  const answer = await call(viewer, 'GET', '/v1/status/leader');
  const address = JSON.parse(answer.text) as string;
  return cluster.agents.find((agent) => address.startsWith(`${agent.ip}:`));
}

async function createSession(agent: AgentProcess, body: Record<string, unknown>): Promise<string> {
  const answer = await call(agent, 'PUT', '/v1/session/create', JSON.stringify(body));
  if (answer.status !== 200) throw new Error(`session create on ${agent.name}: ${answer.status} ${answer.text}`);
  return (JSON.parse(answer.text) as { ID: string }).ID;
}

/** Every running agent agrees on a leader and can create a session on its own node (its serfHealth is passing). */
async function settled(agents: AgentProcess[]): Promise<AgentProcess> {
  return eventually(async () => {
    const leaders = await Promise.all(agents.map((agent) => leaderOf(agent)));
    const leader = leaders[0];
    if (!leader || leaders.some((other) => other !== leader)) return undefined;
    const configuration = JSON.parse((await call(leader, 'GET', '/v1/operator/raft/configuration')).text) as { Servers: { Voter: boolean }[] };
    if (configuration.Servers.filter((server) => server.Voter).length !== agents.length) return undefined;
    for (const agent of agents) {
      const id = await createSession(agent, { Name: 'probe' });
      await call(agent, 'PUT', `/v1/session/destroy/${id}`);
    }
    return leader;
  }, 60_000, () => agents.map((agent) => `${agent.name}:\n${cluster.logs(agent, 15)}`).join('\n'));
}

type Entry = { Key: string; Value: string | null; Session?: string; LockIndex: number };

test('any agent answers KV, txn and sessions; a blocking read on one agent wakes for a write on another', async () => {
  cluster.startAll();
  const leader = await settled(cluster.agents);
  const [a, b, c] = cluster.agents as [AgentProcess, AgentProcess, AgentProcess];
  assert.is((await call(a, 'PUT', '/v1/kv/cluster/k', 'one')).text, 'true');
  assert.is((await call(b, 'GET', '/v1/kv/cluster/k?raw')).text, 'one');
  await eventually(async () => (await call(c, 'GET', '/v1/kv/cluster/k?raw&stale')).text === 'one', 5_000, () => 'stale read on c');
  const txn = await call(c, 'PUT', '/v1/txn', JSON.stringify([{ KV: { Verb: 'cas', Key: 'cluster/t', Value: Buffer.from('t').toString('base64'), Index: 0 } }]));
  assert.is(txn.status, 200, txn.text);

  const follower = cluster.agents.find((agent) => agent !== leader)!;
  const writer = cluster.agents.find((agent) => agent !== follower)!;
  const index = Number((await call(follower, 'GET', '/v1/kv/cluster/k')).headers['x-consul-index']);
  let answeredAt = 0;
  const blocked = call(follower, 'GET', `/v1/kv/cluster/k?index=${index}&wait=15s`).then((answer) => {
    answeredAt = Date.now();
    return answer;
  });
  await sleep(300);
  await call(writer, 'PUT', '/v1/kv/cluster/other', 'x');
  await sleep(500);
  assert.is(answeredAt, 0, 'a write to another key woke the watcher');
  await call(writer, 'PUT', '/v1/kv/cluster/k', 'two');
  const answer = await blocked;
  assert.is(Buffer.from((JSON.parse(answer.text) as Entry[])[0]!.Value!, 'base64').toString(), 'two');
  assert.ok(Number(answer.headers['x-consul-index']) > index);
});

test('a TTL session expires at 2 × TTL even though the leader that saw it created was killed', async () => {
  const leader = await settled(cluster.agents);
  const follower = cluster.agents.find((agent) => agent !== leader)!;
  const createdAt = Date.now();
  const id = await createSession(follower, { TTL: '10s', LockDelay: '0s' });
  assert.is((await call(follower, 'PUT', `/v1/kv/cluster/ttl-lock?acquire=${id}`, 'x')).text, 'true');
  cluster.kill(leader);
  const survivors = cluster.agents.filter((agent) => agent !== leader);
  const newLeader = await eventually(async () => {
    const found = await leaderOf(follower);
    return found && found !== leader && found;
  }, 20_000, () => cluster.logs(follower, 20));
  assert.ok(survivors.includes(newLeader));
  const expiredAt = await eventually(async () => {
    const answer = await call(follower, 'GET', `/v1/session/info/${id}`);
    return answer.status === 200 && answer.text === '[]' && Date.now();
  }, 40_000, () => cluster.logs(newLeader, 20));
  const afterMs = expiredAt - createdAt;
  assert.ok(afterMs >= 19_500, `expired ${afterMs} ms after creation, before 2 × TTL`);
  assert.ok(afterMs <= 25_000, `expired ${afterMs} ms after creation`);
  const lock = (JSON.parse((await call(follower, 'GET', '/v1/kv/cluster/ttl-lock')).text) as Entry[])[0]!;
  assert.is(lock.Session, undefined, 'the expired session released its lock');

  // Bring the killed agent back for the next test.
  cluster.start(leader);
  await settled(cluster.agents);
});

test('SIGKILL the agent whose node holds a lock: the lock is free after lock-delay, never before', async () => {
  const LOCK_DELAY_MS = 5_000;
  const leader = await settled(cluster.agents);
  const holder = cluster.agents.find((agent) => agent !== leader)!;
  const observer = cluster.agents.find((agent) => agent !== holder && agent !== leader)!;
  const holderSession = await createSession(holder, { Name: 'holder', LockDelay: `${LOCK_DELAY_MS / 1000}s` });
  const info = JSON.parse((await call(observer, 'GET', `/v1/session/info/${holderSession}`)).text) as { Node: string }[];
  assert.is(info[0]!.Node, holder.name, 'the session is bound to the holder agent\'s node');
  const contender = await createSession(observer, { Name: 'contender', LockDelay: '0s' });
  assert.is((await call(holder, 'PUT', `/v1/kv/cluster/leader-lock?acquire=${holderSession}`, holder.name)).text, 'true');
  assert.is((await call(observer, 'PUT', `/v1/kv/cluster/leader-lock?acquire=${contender}`, observer.name)).text, 'false');

  const killedAt = Date.now();
  cluster.kill(holder);
  let lastHeldReadStartedAt = killedAt;
  let releaseSeenAt = 0;
  let acquiredAttemptStartedAt = 0;
  const attempts: { startedAt: number; acquired: boolean }[] = [];
  const deadline = killedAt + 60_000;
  while (Date.now() < deadline && acquiredAttemptStartedAt === 0) {
    if (releaseSeenAt === 0) {
      const readStartedAt = Date.now();
      const read = await call(observer, 'GET', '/v1/kv/cluster/leader-lock');
      assert.is(read.status, 200, read.text);
      const entry = (JSON.parse(read.text) as Entry[])[0]!;
      if (entry.Session === holderSession) lastHeldReadStartedAt = readStartedAt;
      else releaseSeenAt = Date.now();
    }
    const startedAt = Date.now();
    const attempt = await call(observer, 'PUT', `/v1/kv/cluster/leader-lock?acquire=${contender}`, observer.name);
    assert.is(attempt.status, 200, attempt.text);
    const acquired = attempt.text === 'true';
    attempts.push({ startedAt, acquired });
    if (acquired) acquiredAttemptStartedAt = startedAt;
    else await sleep(100);
  }
  assert.ok(releaseSeenAt > 0, `the holder's session was never invalidated\n${cluster.logs(observer, 30)}`);
  assert.ok(acquiredAttemptStartedAt > 0, 'the lock was never acquired by the contender');
  // The invalidation was committed after the last read that still saw the holder; the
  // lock-delay runs from its time (stamped just before, when the leader proposed it).
  const earliestFreeAt = lastHeldReadStartedAt + LOCK_DELAY_MS - 500;
  const early = attempts.filter((attempt) => attempt.acquired && attempt.startedAt < earliestFreeAt);
  assert.equal(early, [], `acquired before the lock-delay ran out (release seen ${releaseSeenAt - killedAt} ms after the kill)`);
  assert.ok(acquiredAttemptStartedAt - releaseSeenAt <= LOCK_DELAY_MS + 3_000, `free ${acquiredAttemptStartedAt - releaseSeenAt} ms after the release was seen`);
  assert.ok(attempts.some((attempt) => !attempt.acquired && attempt.startedAt >= releaseSeenAt), 'no attempt fell inside the lock-delay');
  const entry = (JSON.parse((await call(observer, 'GET', '/v1/kv/cluster/leader-lock')).text) as Entry[])[0]!;
  assert.equal([entry.Session, entry.LockIndex], [contender, 2]);
  const sessionsOfHolder = JSON.parse((await call(observer, 'GET', `/v1/session/node/${holder.name}`)).text) as unknown[];
  assert.equal(sessionsOfHolder, [], 'the dead node\'s sessions are gone');
  console.log(`lock: session invalidated ${releaseSeenAt - killedAt} ms after SIGKILL; acquired by the contender ${acquiredAttemptStartedAt - releaseSeenAt} ms after that (lock-delay ${LOCK_DELAY_MS} ms)`);
});

test.run();

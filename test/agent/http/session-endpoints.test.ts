// The session endpoints against a real dev agent: Consul's defaults, shapes
// and messages, renew and destroy, blocking reads, and TTL expiry by the
// leader's reaper (2 × TTL, as Consul) that releases the session's locks.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { sleep, startDevAgent } from './kv-helpers.ts';
import type { DevAgent } from './kv-helpers.ts';

let agent: DevAgent;

test.before(async () => {
  agent = await startDevAgent({ ip: '127.0.0.56', node: 'session-endpoints' });
});
test.after(async () => {
  await agent?.stop();
});

type Session = {
  ID: string; Name: string; Node: string; LockDelay: number; Behavior: string; TTL: string;
  NodeChecks: string[]; ServiceChecks: { ID: string }[] | null; CreateIndex: number; ModifyIndex: number;
};

async function info(id: string): Promise<Session | undefined> {
  return (await agent.json<Session[]>('GET', `/v1/session/info/${id}`))[0];
}

test('create with no body: this agent\'s node, serfHealth, 15 s lock-delay, release, no TTL', async () => {
  const answer = await agent.request('PUT', '/v1/session/create');
  assert.is(answer.status, 200);
  const body = JSON.parse(answer.text) as { ID: string };
  assert.equal(Object.keys(body), ['ID']);
  assert.match(body.ID, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const session = (await info(body.ID))!;
  assert.equal(Object.keys(session), ['ID', 'Name', 'Node', 'LockDelay', 'Behavior', 'TTL', 'NodeChecks', 'ServiceChecks', 'CreateIndex', 'ModifyIndex']);
  assert.equal({ ...session, CreateIndex: 0, ModifyIndex: 0 }, {
    ID: body.ID, Name: '', Node: 'session-endpoints', LockDelay: 15_000_000_000, Behavior: 'release', TTL: '',
    NodeChecks: ['serfHealth'], ServiceChecks: null, CreateIndex: 0, ModifyIndex: 0,
  });
  await agent.request('PUT', `/v1/session/destroy/${body.ID}`);
});

test('create reads Name, TTL, Behavior and LockDelay as Consul does (small numbers are seconds; at most 60 s)', async () => {
  const cases: [Record<string, unknown>, Partial<Session>][] = [
    [{ Name: 'web-lock', TTL: '15s', Behavior: 'delete', LockDelay: '5s' }, { Name: 'web-lock', TTL: '15s', Behavior: 'delete', LockDelay: 5e9 }],
    [{ LockDelay: 7 }, { LockDelay: 7e9 }],
    [{ LockDelay: 2_000_000_000 }, { LockDelay: 2e9 }],
    [{ LockDelay: '0s' }, { LockDelay: 0 }],
    [{ LockDelay: '90s' }, { LockDelay: 60e9 }],
    [{ TTL: '1h30m' }, { TTL: '1h30m0s' }],
    [{ TTL: '0s' }, { TTL: '' }],
    [{ name: 'lower-case keys', ttl: '10s' }, { Name: 'lower-case keys', TTL: '10s' }],
    [{ Checks: [] }, { NodeChecks: [] }],
    [{ NodeChecks: ['serfHealth', 'serfHealth'] }, { NodeChecks: ['serfHealth'] }],
    [{ Checks: ['serfHealth'], NodeChecks: null }, { NodeChecks: ['serfHealth'] }],
    [{ ID: 'ignored', Unknown: { any: 1 } }, { NodeChecks: ['serfHealth'] }],
  ];
  for (const [body, expected] of cases) {
    const id = await agent.createSession(body);
    assert.ok(id !== 'ignored');
    const session = (await info(id))!;
    for (const [field, value] of Object.entries(expected)) assert.equal(session[field as keyof Session], value, `${JSON.stringify(body)}: ${field}`);
    await agent.request('PUT', `/v1/session/destroy/${id}`);
  }
});

test('bad create bodies are 400 with Consul\'s message, and no session is created', async () => {
  const before = (await agent.json<Session[]>('GET', '/v1/session/list')).map((s) => s.ID);
  const cases: [string, RegExp][] = [
    ['{"TTL":"5s"}', /^Invalid Session TTL '5000000000', must be between \[10s=24h0m0s\]$/],
    ['{"TTL":"25h"}', /^Invalid Session TTL '90000000000000', must be between \[10s=24h0m0s\]$/],
    ['{"TTL":"soon"}', /^Session TTL 'soon' invalid: time: invalid duration "soon"$/],
    ['{"TTL":15}', /^Request decode failed: TTL must be a string, got number$/],
    ['{"Behavior":"explode"}', /^Invalid Behavior setting 'explode'$/],
    ['{"LockDelay":"soon"}', /^Request decode failed: time: invalid duration "soon"$/],
    ['{"LockDelay":true}', /^Request decode failed: LockDelay must be a duration string or a number/],
    ['{"LockDelay":-5}', /must not be negative/],
    ['{"Node":""}', /^Must provide Node$/],
    ['{"Node":"no-such-node"}', /^Missing node registration$/],
    ['{"Checks":["no-such-check"]}', /^Missing check 'no-such-check' registration$/],
    ['{"ServiceChecks":[{"ID":"nope"}]}', /^Missing check 'nope' registration$/],
    ['{"ServiceChecks":[{"Name":"x"}]}', /ServiceChecks\[0\]\.ID must be a string/],
    ['{"Checks":"serfHealth"}', /Checks must be a list of check IDs, got string/],
    ['{"Checks":[1]}', /Checks\[0\] must be a string, got number/],
    ['{"Checks":[""]}', /a check ID is empty/],
    [JSON.stringify({ Checks: Array.from({ length: 33 }, (_, i) => `c${i}`) }), /33 checks exceed the limit of 32/],
    [JSON.stringify({ Name: 'n'.repeat(300) }), /Name is 300 bytes; the limit is 256/],
    ['{"Name":5}', /^Request decode failed: Name must be a string, got number$/],
    ['[]', /^Request decode failed: expected a JSON object, got array$/],
    ['"x"', /^Request decode failed: expected a JSON object, got string$/],
    ['{"Name":', /^Request decode failed: /],
  ];
  for (const [body, message] of cases) {
    const answer = await agent.request('PUT', '/v1/session/create', { body });
    assert.is(answer.status, 400, `${body}: ${answer.status} ${answer.text}`);
    assert.match(answer.text, message, body);
  }
  assert.equal((await agent.json<Session[]>('GET', '/v1/session/list')).map((s) => s.ID), before);
});

test('renew answers the session in a list; an unknown session is 404 with Consul\'s message', async () => {
  const id = await agent.createSession({ TTL: '20s' });
  const renewed = await agent.request('PUT', `/v1/session/renew/${id}`);
  assert.is(renewed.status, 200);
  const [session] = JSON.parse(renewed.text) as Session[];
  assert.equal([session!.ID, session!.TTL], [id, '20s']);
  const unknown = randomUUID();
  const missing = await agent.request('PUT', `/v1/session/renew/${unknown}`);
  assert.equal([missing.status, missing.text], [404, `Session id '${unknown}' not found`]);
  const garbage = await agent.request('PUT', '/v1/session/renew/garbage');
  assert.equal([garbage.status, garbage.text], [404, 'Session id \'garbage\' not found']);
  assert.equal([(await agent.request('PUT', '/v1/session/renew/')).status, (await agent.request('PUT', '/v1/session/renew/')).text], [400, 'Missing session']);
  await agent.request('PUT', `/v1/session/destroy/${id}`);
});

test('destroy answers true (also for an unknown session); info then answers []', async () => {
  const id = await agent.createSession();
  assert.ok(await info(id));
  const destroyed = await agent.request('PUT', `/v1/session/destroy/${id}`);
  assert.equal([destroyed.status, destroyed.text], [200, 'true']);
  const after = await agent.request('GET', `/v1/session/info/${id}`);
  assert.equal([after.status, after.text], [200, '[]']);
  assert.ok(Number(after.headers['x-consul-index']) >= 1);
  assert.is((await agent.request('PUT', `/v1/session/destroy/${randomUUID()}`)).text, 'true');
  assert.is((await agent.request('PUT', '/v1/session/destroy/garbage')).text, 'true');
  assert.equal([(await agent.request('GET', '/v1/session/info/')).status], [400]);
  assert.is((await agent.request('GET', '/v1/session/create')).status, 405);
});

test('node and list: the sessions of a node, every session, [] for a node without any', async () => {
  const a = await agent.createSession({ Name: 'a' });
  const b = await agent.createSession({ Name: 'b' });
  const ofNode = await agent.json<Session[]>('GET', '/v1/session/node/session-endpoints');
  assert.ok([a, b].every((id) => ofNode.some((s) => s.ID === id)));
  const all = await agent.json<Session[]>('GET', '/v1/session/list');
  assert.ok([a, b].every((id) => all.some((s) => s.ID === id)));
  assert.equal(all.map((s) => s.ID), [...all.map((s) => s.ID)].sort(), 'listed by ID');
  assert.equal(await agent.json('GET', '/v1/session/node/nobody'), []);
  for (const id of [a, b]) await agent.request('PUT', `/v1/session/destroy/${id}`);
});

test('blocking reads: info wakes when its session goes, list when one is created, not for another session', async () => {
  const watched = await agent.createSession({ Name: 'watched' });
  const infoIndex = Number((await agent.request('GET', `/v1/session/info/${watched}`)).headers['x-consul-index']);
  let infoAnsweredAt = 0;
  const infoWait = agent.request('GET', `/v1/session/info/${watched}?index=${infoIndex}&wait=10s`).then((answer) => {
    infoAnsweredAt = Date.now();
    return answer;
  });
  const listIndex = Number((await agent.request('GET', '/v1/session/list')).headers['x-consul-index']);
  const listWait = agent.request('GET', `/v1/session/list?index=${listIndex}&wait=10s`);
  await sleep(200);
  const unrelated = await agent.createSession({ Name: 'unrelated' });
  const list = await listWait;
  assert.ok((JSON.parse(list.text) as Session[]).some((s) => s.ID === unrelated));
  await sleep(300);
  assert.is(infoAnsweredAt, 0, 'another session\'s creation woke the info watcher');
  await agent.request('PUT', `/v1/session/destroy/${watched}`);
  const gone = await infoWait;
  assert.is(gone.text, '[]');
  assert.ok(Number(gone.headers['x-consul-index']) > infoIndex);
  await agent.request('PUT', `/v1/session/destroy/${unrelated}`);
});

test('a TTL session expires after twice its TTL without renewal and releases its lock; a renewed one lives on', async () => {
  const lapsing = await agent.createSession({ TTL: '10s', LockDelay: '0s' });
  const renewed = await agent.createSession({ TTL: '10s', LockDelay: '0s' });
  const createdAt = Date.now();
  assert.is((await agent.request('PUT', `/v1/kv/ttl/lock?acquire=${lapsing}`, { body: 'x' })).text, 'true');
  let lapsedAt = 0;
  let lastRenewal = createdAt;
  while (Date.now() - createdAt < 26_000) {
    if (Date.now() - lastRenewal > 4_000) {
      assert.is((await agent.request('PUT', `/v1/session/renew/${renewed}`)).status, 200);
      lastRenewal = Date.now();
    }
    if (lapsedAt === 0 && (await info(lapsing)) === undefined) lapsedAt = Date.now();
    if (lapsedAt !== 0) break;
    await sleep(250);
  }
  assert.ok(lapsedAt > 0, 'the lapsing session never expired');
  const afterMs = lapsedAt - createdAt;
  assert.ok(afterMs >= 19_500, `expired after ${afterMs} ms, before 2 × TTL`);
  assert.ok(afterMs <= 23_000, `expired after ${afterMs} ms, long after 2 × TTL`);
  const lock = (await agent.json<{ Session?: string }[]>('GET', '/v1/kv/ttl/lock'))[0]!;
  assert.is(lock.Session, undefined, 'the expired session\'s lock is released');
  assert.ok(await info(renewed), 'the renewed session is alive');
  await agent.request('PUT', `/v1/session/destroy/${renewed}`);
});

test.run();

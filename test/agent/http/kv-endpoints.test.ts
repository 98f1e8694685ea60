// The KV endpoints against a real dev agent: Consul's shapes, statuses and
// messages, locks with lock-delay, blocking queries that wake only for their
// own key or prefix, and bad input that changes nothing.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { sleep, startDevAgent } from './kv-helpers.ts';
import type { DevAgent } from './kv-helpers.ts';

let agent: DevAgent;

test.before(async () => {
  agent = await startDevAgent({ ip: '127.0.0.54', node: 'kv-endpoints' });
});
test.after(async () => {
  await agent?.stop();
});

type Entry = { LockIndex: number; Key: string; Flags: number; Value: string | null; Session?: string; CreateIndex: number; ModifyIndex: number };

async function entry(key: string): Promise<Entry | undefined> {
  const answer = await agent.request('GET', `/v1/kv/${key}`);
  if (answer.status === 404) return undefined;
  assert.is(answer.status, 200, answer.text);
  return (JSON.parse(answer.text) as Entry[])[0];
}

/** Everything stored, with the indexes: what "nothing changed" compares. */
async function everything(): Promise<string> {
  const answer = await agent.request('GET', '/v1/kv/?recurse');
  return answer.status === 404 ? '[]' : answer.text;
}

test('PUT then GET answers Consul\'s entry, field for field, with X-Consul-Index at its ModifyIndex', async () => {
  const put = await agent.request('PUT', '/v1/kv/shape/config', { body: 'hello' });
  assert.is(put.status, 200);
  assert.is(put.text, 'true');
  assert.is(put.headers['content-type'], 'application/json');
  const get = await agent.request('GET', '/v1/kv/shape/config');
  assert.is(get.status, 200);
  const [found] = JSON.parse(get.text) as Entry[];
  assert.equal(Object.keys(found!), ['LockIndex', 'Key', 'Flags', 'Value', 'CreateIndex', 'ModifyIndex']);
  assert.equal({ ...found!, CreateIndex: 0, ModifyIndex: 0 }, { LockIndex: 0, Key: 'shape/config', Flags: 0, Value: Buffer.from('hello').toString('base64'), CreateIndex: 0, ModifyIndex: 0 });
  assert.is(get.headers['x-consul-index'], String(found!.ModifyIndex));
  assert.is(get.headers['x-consul-knownleader'], 'true');
  assert.ok(get.headers['x-consul-lastcontact'] !== undefined);
  // An empty value is null, as Go marshals a nil []byte.
  await agent.request('PUT', '/v1/kv/shape/empty');
  assert.is((await entry('shape/empty'))!.Value, null);
});

test('a missing key is 404 with an empty body and an index', async () => {
  const answer = await agent.request('GET', '/v1/kv/missing/key');
  assert.is(answer.status, 404);
  assert.is(answer.text, '');
  assert.ok(Number(answer.headers['x-consul-index']) >= 1);
});

test('?raw answers the bytes as text/plain with nosniff and a sandbox', async () => {
  const bytes = Buffer.from([0, 1, 2, 250, 255, 10, 13]);
  await agent.request('PUT', '/v1/kv/raw/binary', { body: bytes });
  const answer = await agent.request('GET', '/v1/kv/raw/binary?raw');
  assert.is(answer.status, 200);
  assert.equal([...answer.body], [...bytes]);
  assert.is(answer.headers['content-type'], 'text/plain');
  assert.is(answer.headers['x-content-type-options'], 'nosniff');
  assert.is(answer.headers['content-security-policy'], 'sandbox');
  assert.is((await agent.request('GET', '/v1/kv/raw/missing?raw')).status, 404);
});

test('?recurse lists a prefix in key order; ?keys with and without a separator', async () => {
  for (const key of ['tree/b', 'tree/a/1', 'tree/a/2', 'tree/c/x/y', 'treeless']) await agent.request('PUT', `/v1/kv/${key}`, { body: key });
  const listed = JSON.parse((await agent.request('GET', '/v1/kv/tree/?recurse')).text) as Entry[];
  assert.equal(listed.map((e) => e.Key), ['tree/a/1', 'tree/a/2', 'tree/b', 'tree/c/x/y']);
  assert.equal(listed.map((e) => Buffer.from(e.Value!, 'base64').toString()), ['tree/a/1', 'tree/a/2', 'tree/b', 'tree/c/x/y']);
  assert.equal(JSON.parse((await agent.request('GET', '/v1/kv/tree?keys')).text), ['tree/a/1', 'tree/a/2', 'tree/b', 'tree/c/x/y', 'treeless']);
  assert.equal(JSON.parse((await agent.request('GET', '/v1/kv/tree/?keys&separator=/')).text), ['tree/a/', 'tree/b', 'tree/c/']);
  // Consul's historic misspelling still works.
  assert.equal(JSON.parse((await agent.request('GET', '/v1/kv/tree/?keys&seperator=/')).text), ['tree/a/', 'tree/b', 'tree/c/']);
  assert.is((await agent.request('GET', '/v1/kv/nothing/here/?keys')).status, 404);
  assert.is((await agent.request('GET', '/v1/kv/nothing/here/?recurse')).status, 404);
  const root = await agent.request('GET', '/v1/kv/?keys&separator=/');
  assert.is(root.status, 200);
  assert.ok((JSON.parse(root.text) as string[]).includes('tree/'));
});

test('?flags is stored; ?cas=0 creates only; ?cas=N writes only at that ModifyIndex', async () => {
  assert.is((await agent.request('PUT', '/v1/kv/cas/k?flags=42', { body: 'one' })).text, 'true');
  const first = (await entry('cas/k'))!;
  assert.is(first.Flags, 42);
  assert.is((await agent.request('PUT', '/v1/kv/cas/k?cas=0', { body: 'nope' })).text, 'false');
  assert.is((await agent.request('PUT', `/v1/kv/cas/k?cas=${first.ModifyIndex + 1000}`, { body: 'nope' })).text, 'false');
  assert.is((await entry('cas/k'))!.ModifyIndex, first.ModifyIndex);
  assert.is((await agent.request('PUT', `/v1/kv/cas/k?cas=${first.ModifyIndex}`, { body: 'two' })).text, 'true');
  const second = (await entry('cas/k'))!;
  assert.is(Buffer.from(second.Value!, 'base64').toString(), 'two');
  assert.is(second.CreateIndex, first.CreateIndex);
  assert.is(second.Flags, 0, 'a write without ?flags sets flags 0, as Consul');
  assert.is((await agent.request('PUT', '/v1/kv/cas/new?cas=0', { body: 'created' })).text, 'true');
});

test('DELETE: a key, a prefix with ?recurse, and ?cas that answers whether it deleted', async () => {
  for (const key of ['del/a', 'del/b/c', 'del/b/d', 'delx']) await agent.request('PUT', `/v1/kv/${key}`, { body: 'v' });
  assert.is((await agent.request('DELETE', '/v1/kv/del/a')).text, 'true');
  assert.is(await entry('del/a'), undefined);
  assert.is((await agent.request('DELETE', '/v1/kv/del/a')).text, 'true', 'deleting a missing key succeeds');
  assert.is((await agent.request('DELETE', '/v1/kv/del/b?recurse')).text, 'true');
  assert.is((await agent.request('GET', '/v1/kv/del/?recurse')).status, 404);
  const kept = (await entry('delx'))!;
  assert.is((await agent.request('DELETE', `/v1/kv/delx?cas=${kept.ModifyIndex + 1}`)).text, 'false');
  assert.ok(await entry('delx'));
  assert.is((await agent.request('DELETE', `/v1/kv/delx?cas=${kept.ModifyIndex}`)).text, 'true');
  assert.is(await entry('delx'), undefined);
});

test('values: 512 KiB is accepted, one byte more is 413 with a message and stores nothing', async () => {
  const limit = 512 * 1024;
  assert.is((await agent.request('PUT', '/v1/kv/big/ok', { body: Buffer.alloc(limit, 0x61) })).text, 'true');
  assert.is((await agent.request('GET', '/v1/kv/big/ok?raw')).body.length, limit);
  const tooBig = await agent.request('PUT', '/v1/kv/big/no', { body: Buffer.alloc(limit + 1, 0x61) });
  assert.is(tooBig.status, 413);
  assert.match(tooBig.text, /too large.*524288/);
  assert.is(await entry('big/no'), undefined);
  await agent.request('DELETE', '/v1/kv/big?recurse');
});

test('bad input is 400 with a message and changes nothing stored', async () => {
  await agent.request('PUT', '/v1/kv/guard/k', { body: 'v' });
  const before = await everything();
  const session = await agent.createSession({ LockDelay: '0s' });
  const cases: [string, string, RegExp][] = [
    ['PUT', '/v1/kv/', /^Missing key name$/],
    ['GET', '/v1/kv/', /^Missing key name$/],
    ['DELETE', '/v1/kv/', /^Missing key name$/],
    ['PUT', '/v1/kv//leading', /must not begin with a '\/'/],
    ['GET', '/v1/kv//leading?recurse', /must not begin with a '\/'/],
    ['DELETE', '/v1/kv//leading', /must not begin with a '\/'/],
    ['PUT', `/v1/kv/${'k'.repeat(513)}`, /513 bytes, the limit is 512/],
    ['PUT', '/v1/kv/guard/k?flags=x', /Invalid \?flags/],
    ['PUT', '/v1/kv/guard/k?flags=-1', /Invalid \?flags/],
    ['PUT', '/v1/kv/guard/k?cas=1.5', /Invalid \?cas/],
    ['PUT', '/v1/kv/guard/k?cas=0&acquire=' + session, /^Conflicting flags: acquire=.*&cas=0$/],
    ['PUT', `/v1/kv/guard/k?acquire=${session}&release=${session}`, /^Conflicting flags/],
    ['DELETE', '/v1/kv/guard/k?recurse&cas=3', /^Conflicting flags: cas=3&recurse=$/],
    ['DELETE', '/v1/kv/guard/k?cas=abc', /Invalid \?cas/],
    ['PUT', '/v1/kv/guard/k?acquire=', /Missing session/],
    ['PUT', '/v1/kv/guard/k?acquire=not-a-session', /^invalid session "not-a-session"$/],
    ['PUT', `/v1/kv/guard/k?acquire=${randomUUID()}`, /^invalid session "/],
    ['GET', '/v1/kv/guard/k?stale&consistent', /Cannot specify \?stale with \?consistent/],
    ['GET', '/v1/kv/guard/k?index=1&wait=forever', /Invalid wait time/],
    ['GET', '/v1/kv/guard/%E0%A4%A', /malformed percent-encoding/],
  ];
  for (const [method, path, message] of cases) {
    const answer = await agent.request(method, path, method === 'PUT' ? { body: 'changed' } : {});
    assert.is(answer.status, 400, `${method} ${path}: ${answer.status} ${answer.text}`);
    assert.match(answer.text, message, `${method} ${path}`);
  }
  assert.is(await everything(), before);
  await agent.request('PUT', `/v1/session/destroy/${session}`);
});

test('acquire and release: one holder at a time, LockIndex counts holders, release frees at once', async () => {
  const first = await agent.createSession({ Name: 'first', LockDelay: '0s' });
  const second = await agent.createSession({ Name: 'second', LockDelay: '0s' });
  assert.is((await agent.request('PUT', `/v1/kv/locks/a?acquire=${first}`, { body: 'mine' })).text, 'true');
  let held = (await entry('locks/a'))!;
  assert.equal([held.Session, held.LockIndex], [first, 1]);
  assert.equal(Object.keys(held), ['LockIndex', 'Key', 'Flags', 'Value', 'Session', 'CreateIndex', 'ModifyIndex']);
  assert.is((await agent.request('PUT', `/v1/kv/locks/a?acquire=${second}`, { body: 'theirs' })).text, 'false');
  assert.is((await agent.request('PUT', `/v1/kv/locks/a?acquire=${first}&flags=7`, { body: 'again' })).text, 'true', 'the holder may acquire again');
  held = (await entry('locks/a'))!;
  assert.equal([held.LockIndex, held.Flags, Buffer.from(held.Value!, 'base64').toString()], [1, 7, 'again']);
  assert.is((await agent.request('PUT', `/v1/kv/locks/a?release=${second}`)).text, 'false');
  assert.is((await agent.request('PUT', '/v1/kv/locks/a?release=not-a-session')).text, 'false');
  assert.is((await agent.request('PUT', `/v1/kv/locks/a?release=${first}`, { body: 'released' })).text, 'true');
  held = (await entry('locks/a'))!;
  assert.is(held.Session, undefined);
  assert.is(Buffer.from(held.Value!, 'base64').toString(), 'released');
  assert.is((await agent.request('PUT', `/v1/kv/locks/a?acquire=${second}`)).text, 'true', 'a voluntary release has no lock-delay');
  assert.is((await entry('locks/a'))!.LockIndex, 2);
  for (const id of [first, second]) await agent.request('PUT', `/v1/session/destroy/${id}`);
});

test('a destroyed session releases its locks, which then stay in lock-delay for its LockDelay', async () => {
  const holder = await agent.createSession({ LockDelay: '2s' });
  const other = await agent.createSession({ LockDelay: '0s' });
  assert.is((await agent.request('PUT', `/v1/kv/locks/delayed?acquire=${holder}`, { body: 'x' })).text, 'true');
  assert.is((await agent.request('PUT', `/v1/session/destroy/${holder}`)).text, 'true');
  const destroyedAt = Date.now();
  const released = (await entry('locks/delayed'))!;
  assert.is(released.Session, undefined, 'behavior release keeps the key and clears the holder');
  let acquiredAt = 0;
  while (Date.now() - destroyedAt < 5_000) {
    const attemptStarted = Date.now();
    const answer = await agent.request('PUT', `/v1/kv/locks/delayed?acquire=${other}`, { body: 'y' });
    if (answer.text === 'true') {
      acquiredAt = attemptStarted;
      break;
    }
    assert.is(answer.text, 'false');
    await sleep(50);
  }
  assert.ok(acquiredAt > 0, 'acquired after the lock-delay');
  assert.ok(Date.now() - destroyedAt >= 1_900, `acquired ${Date.now() - destroyedAt} ms after the destroy, before the 2 s lock-delay`);
  await agent.request('PUT', `/v1/session/destroy/${other}`);
});

test('a session with behavior delete takes its locked keys with it', async () => {
  const holder = await agent.createSession({ Behavior: 'delete', LockDelay: '0s' });
  assert.is((await agent.request('PUT', `/v1/kv/locks/ephemeral?acquire=${holder}`, { body: 'x' })).text, 'true');
  await agent.request('PUT', `/v1/session/destroy/${holder}`);
  assert.is(await entry('locks/ephemeral'), undefined);
});

test('a blocking GET waits for its own key: a write elsewhere does not wake it, a write to it does', async () => {
  await agent.request('PUT', '/v1/kv/watch/mine', { body: '1' });
  const index = Number((await agent.request('GET', '/v1/kv/watch/mine')).headers['x-consul-index']);
  const started = Date.now();
  let answeredAt = 0;
  const blocked = agent.request('GET', `/v1/kv/watch/mine?index=${index}&wait=10s`).then((answer) => {
    answeredAt = Date.now();
    return answer;
  });
  await sleep(200);
  await agent.request('PUT', '/v1/kv/watch/other', { body: 'x' });
  await agent.request('PUT', '/v1/kv/watch/minex', { body: 'x' });
  await sleep(500);
  assert.is(answeredAt, 0, 'a write to another key woke the watcher');
  await agent.request('PUT', '/v1/kv/watch/mine', { body: '2' });
  const answer = await blocked;
  assert.ok(answeredAt - started >= 650);
  assert.ok(Number(answer.headers['x-consul-index']) > index);
  assert.is(Buffer.from((JSON.parse(answer.text) as Entry[])[0]!.Value!, 'base64').toString(), '2');
});

test('a blocking ?recurse wakes for a write under its prefix, not outside it; a wait runs out with the same index', async () => {
  await agent.request('PUT', '/v1/kv/wp/a', { body: '1' });
  const index = Number((await agent.request('GET', '/v1/kv/wp/?recurse')).headers['x-consul-index']);
  let answeredAt = 0;
  const blocked = agent.request('GET', `/v1/kv/wp/?recurse&index=${index}&wait=10s`).then((answer) => {
    answeredAt = Date.now();
    return answer;
  });
  await sleep(200);
  await agent.request('PUT', '/v1/kv/wq/a', { body: 'x' });
  await sleep(400);
  assert.is(answeredAt, 0);
  await agent.request('PUT', '/v1/kv/wp/b/c', { body: 'x' });
  const answer = await blocked;
  assert.equal((JSON.parse(answer.text) as Entry[]).map((e) => e.Key), ['wp/a', 'wp/b/c']);
  const current = Number(answer.headers['x-consul-index']);
  assert.ok(current > index);
  const started = Date.now();
  const timedOut = await agent.request('GET', `/v1/kv/wp/?keys&index=${current}&wait=300ms`);
  assert.ok(Date.now() - started >= 280, 'waited for the wait');
  assert.is(timedOut.status, 200);
  assert.is(Number(timedOut.headers['x-consul-index']), current);
  // A deleted key's watcher wakes too, and sees 404 with a newer index.
  const keyIndex = Number((await agent.request('GET', '/v1/kv/wp/a')).headers['x-consul-index']);
  const gone = agent.request('GET', `/v1/kv/wp/a?index=${keyIndex}&wait=10s`);
  await sleep(100);
  await agent.request('DELETE', '/v1/kv/wp/a');
  const goneAnswer = await gone;
  assert.is(goneAnswer.status, 404);
  assert.ok(Number(goneAnswer.headers['x-consul-index']) > keyIndex);
});

test('?stale and ?consistent reads answer the same data', async () => {
  await agent.request('PUT', '/v1/kv/modes/k', { body: 'v' });
  const stale = await agent.request('GET', '/v1/kv/modes/k?stale');
  const consistent = await agent.request('GET', '/v1/kv/modes/k?consistent');
  assert.is(stale.status, 200);
  assert.is(stale.text, consistent.text);
});

test.run();

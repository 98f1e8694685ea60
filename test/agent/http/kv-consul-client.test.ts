// The real third-party `consul` npm client (v2) against a dev agent: KV
// get/set/keys/delete/cas, sessions create/info/renew/destroy, a lock taken
// and handed over with Consul's lock recipe, and a blocking watch that fires
// when its key changes and not when another key is written.
//
// consul@2 dropped v1's `consul.lock` helper, so the lock here is Consul's
// documented recipe (the one api/lock.go implements) written with the
// client's own calls: a session, `kv.set({ acquire })`, a blocking `kv.get`
// until the holder is gone, `kv.set({ release })`.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Consul from 'consul';
import { sleep, startDevAgent } from './kv-helpers.ts';
import type { DevAgent } from './kv-helpers.ts';

let agent: DevAgent;
let consul: Consul;

test.before(async () => {
  agent = await startDevAgent({ ip: '127.0.0.57', node: 'consul-client' });
  consul = new Consul({ host: agent.ip, port: agent.httpPort });
});
test.after(async () => {
  consul?.destroy();
  await agent?.stop();
});

type KvPair = { Key: string; Value: string | null; Flags: number; Session?: string; LockIndex: number; ModifyIndex: number; CreateIndex: number };

test('kv: set, get, keys, flags, cas and delete', async () => {
  assert.is(await consul.kv.set('client/app/name', 'tribune'), true);
  assert.is(await consul.kv.set({ key: 'client/app/port', value: '8500', flags: 12 }), true);
  assert.is(await consul.kv.set('client/other', 'x'), true);
  const name = await consul.kv.get('client/app/name') as KvPair;
  assert.is(name.Value, 'tribune');
  assert.is((await consul.kv.get('client/app/port') as KvPair).Flags, 12);
  assert.is(await consul.kv.get('client/missing'), undefined);
  const all = await consul.kv.get({ key: 'client/', recurse: true }) as KvPair[];
  assert.equal(all.map((pair) => pair.Key), ['client/app/name', 'client/app/port', 'client/other']);
  assert.equal(await consul.kv.keys('client/'), ['client/app/name', 'client/app/port', 'client/other']);
  assert.equal(await consul.kv.keys({ key: 'client/', separator: '/' }), ['client/app/', 'client/other']);
  assert.is((await consul.kv.get({ key: 'client/app/name', raw: true }) as unknown as Buffer).toString(), 'tribune');

  // The agent answers `false`; consul@2 hands a false body back as undefined, so test for "not true".
  assert.is.not(await consul.kv.set({ key: 'client/app/name', value: 'stale', cas: name.ModifyIndex + 50 }), true);
  assert.is(await consul.kv.set({ key: 'client/app/name', value: 'fresh', cas: name.ModifyIndex }), true);
  assert.is((await consul.kv.get('client/app/name') as KvPair).Value, 'fresh');
  assert.is(await consul.kv.set({ key: 'client/created', value: 'once', cas: 0 }), true);
  assert.is.not(await consul.kv.set({ key: 'client/created', value: 'twice', cas: 0 }), true);

  const other = await consul.kv.get('client/other') as KvPair;
  assert.is.not(await consul.kv.del({ key: 'client/other', cas: other.ModifyIndex + 1 }), true);
  assert.ok(await consul.kv.get('client/other'));
  assert.is(await consul.kv.del({ key: 'client/other', cas: other.ModifyIndex }), true);
  assert.is(await consul.kv.del('client/created'), true);
  assert.is(await consul.kv.del({ key: 'client/app', recurse: true }), true);
  assert.is(await consul.kv.get({ key: 'client/', recurse: true }), undefined);
});

test('kv: the client surfaces a 400 and a 413 as errors with the agent\'s message', async () => {
  let error: Error | undefined;
  try {
    await consul.kv.set({ key: 'client/bad', value: 'x', flags: 'nope' as unknown as number });
  } catch (caught) {
    error = caught as Error;
  }
  assert.match(error?.message ?? '', /Invalid \?flags/);
  error = undefined;
  try {
    await consul.kv.set('client/huge', 'x'.repeat(512 * 1024 + 1));
  } catch (caught) {
    error = caught as Error;
  }
  assert.ok(error, 'a value over 512 KiB is refused');
  assert.is(await consul.kv.get('client/huge'), undefined);
});

test('sessions: create, info, node, list, renew, destroy', async () => {
  const { ID: id } = await consul.session.create({ name: 'client-session', ttl: '30s', lockdelay: '1s', behavior: 'release' }) as { ID: string };
  const info = await consul.session.info(id) as { ID: string; Name: string; Node: string; TTL: string; LockDelay: number; Behavior: string };
  assert.equal([info.ID, info.Name, info.Node, info.TTL, info.LockDelay, info.Behavior], [id, 'client-session', 'consul-client', '30s', 1e9, 'release']);
  assert.ok((await consul.session.node('consul-client') as { ID: string }[]).some((s) => s.ID === id));
  assert.ok((await consul.session.list() as { ID: string }[]).some((s) => s.ID === id));
  const renewed = await consul.session.renew(id) as { ID: string }[];
  assert.is(renewed[0]!.ID, id);
  await consul.session.destroy(id);
  assert.is(await consul.session.info(id), undefined);
  let error: (Error & { statusCode?: number }) | undefined;
  try {
    await consul.session.renew(id);
  } catch (caught) {
    error = caught as typeof error;
  }
  assert.match(error?.message ?? '', /not found/);
});

/** Consul's lock recipe with the client's calls: a session, acquire, wait on the key while someone holds it. */
class ClientLock {
  readonly key: string;
  session = '';
  constructor(key: string) {
    this.key = key;
  }
  async acquire(timeoutMs: number): Promise<void> {
    this.session = (await consul.session.create({ name: `lock ${this.key}`, ttl: '15s', lockdelay: '1s' }) as { ID: string }).ID;
    const deadline = Date.now() + timeoutMs;
    let index = '0';
    while (Date.now() < deadline) {
      if (await consul.kv.set({ key: this.key, value: this.session, acquire: this.session }) === true) return;
      // Held (or in lock-delay): block until the key changes, then try again.
      // index and wait are common options the client's typings leave out of kv.get.
      const blocking = { key: this.key, index, wait: '2s' } as unknown as string;
      const result = await consul.kv.get(blocking) as KvPair | undefined;
      if (result !== undefined && result.Session === undefined && index !== '0') await sleep(100); // released: lock-delay may still run
      index = String(result?.ModifyIndex ?? index);
    }
    throw new Error(`could not acquire ${this.key} in ${timeoutMs} ms`);
  }
  async release(): Promise<void> {
    assert.is(await consul.kv.set({ key: this.key, value: '', release: this.session }), true);
    await consul.session.destroy(this.session);
  }
}

test('a lock: one holder at a time, handed over on release', async () => {
  const key = 'client/locks/leader';
  const events: string[] = [];
  let holders = 0;
  const contender = async (name: string, holdMs: number) => {
    const lock = new ClientLock(key);
    await lock.acquire(15_000);
    holders++;
    assert.is(holders, 1, 'two holders at once');
    events.push(`${name} acquired`);
    const entry = await consul.kv.get(key) as KvPair;
    assert.is(entry.Session, lock.session);
    await sleep(holdMs);
    holders--;
    events.push(`${name} released`);
    await lock.release();
  };
  const first = contender('first', 600);
  await sleep(150);
  await Promise.all([first, contender('second', 100)]);
  assert.equal(events, ['first acquired', 'first released', 'second acquired', 'second released']);
  assert.is((await consul.kv.get(key) as KvPair).LockIndex, 2);
});

test('a watch on kv.get fires when its key changes, not when another key is written', async () => {
  await consul.kv.set('client/watched', 'v1');
  const changes: (string | null | undefined)[] = [];
  const errors: Error[] = [];
  const watch = consul.watch({ method: consul.kv.get, options: { key: 'client/watched', wait: '5s' } });
  watch.on('change', (data: KvPair | undefined) => changes.push(data?.Value));
  watch.on('error', (error: Error) => errors.push(error));
  try {
    const until = async (count: number) => {
      for (let i = 0; i < 100 && changes.length < count; i++) await sleep(50);
    };
    await until(1);
    assert.equal(changes, ['v1'], 'the first answer fires a change');
    await consul.kv.set('client/unwatched', 'noise');
    await consul.kv.set('client/watchedx', 'noise');
    await sleep(600);
    assert.equal(changes, ['v1'], 'a write to another key fired the watch');
    await consul.kv.set('client/watched', 'v2');
    await until(2);
    assert.equal(changes, ['v1', 'v2']);
    await consul.kv.del('client/watched');
    await until(3);
    assert.equal(changes, ['v1', 'v2', undefined], 'a delete fires with no data');
    assert.equal(errors, []);
  } finally {
    watch.end();
  }
});

test.run();

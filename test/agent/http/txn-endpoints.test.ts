// PUT /v1/txn against a real dev agent: Consul's body and answer shapes, all
// or nothing with per-operation errors, read-only transactions served without
// Raft, and malformed bodies refused with a message before anything is stored.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startDevAgent } from './kv-helpers.ts';
import type { DevAgent } from './kv-helpers.ts';

let agent: DevAgent;

test.before(async () => {
  agent = await startDevAgent({ ip: '127.0.0.55', node: 'txn-endpoints' });
});
test.after(async () => {
  await agent?.stop();
});

type KvResult = { LockIndex: number; Key: string; Flags: number; Value: string | null; Session?: string; CreateIndex: number; ModifyIndex: number };
type TxnAnswer = { Results: { KV: KvResult }[] | null; Errors: { OpIndex: number; What: string }[] | null };

const b64 = (text: string) => Buffer.from(text).toString('base64');

async function txn(ops: unknown, query = ''): Promise<{ status: number; body: TxnAnswer; headers: Record<string, unknown> }> {
  const answer = await agent.request('PUT', `/v1/txn${query}`, { body: typeof ops === 'string' ? ops : JSON.stringify(ops) });
  assert.ok(answer.status === 200 || answer.status === 409, `${answer.status} ${answer.text}`);
  return { status: answer.status, body: JSON.parse(answer.text) as TxnAnswer, headers: answer.headers };
}

async function everything(): Promise<string> {
  const answer = await agent.request('GET', '/v1/kv/?recurse');
  return answer.status === 404 ? '[]' : answer.text;
}

test('a write transaction answers 200 with a result per operation, values only for reads', async () => {
  const { status, body } = await txn([
    { KV: { Verb: 'set', Key: 't/a', Value: b64('one'), Flags: 3 } },
    { KV: { Verb: 'set', Key: 't/b', Value: b64('two') } },
    { KV: { Verb: 'get', Key: 't/a' } },
    { KV: { Verb: 'delete', Key: 't/nothing' } },
  ]);
  assert.is(status, 200);
  assert.is(body.Errors, null);
  const results = body.Results!;
  assert.is(results.length, 3, 'delete has no result');
  assert.equal(results.map((r) => r.KV.Key), ['t/a', 't/b', 't/a']);
  assert.is(results[0]!.KV.Value, null, 'a set answers without the value');
  assert.is(results[0]!.KV.Flags, 3);
  assert.is(results[2]!.KV.Value, b64('one'), 'a get answers with the value');
  const index = results[0]!.KV.ModifyIndex;
  assert.is(results[1]!.KV.ModifyIndex, index, 'one Raft entry, one index');
  assert.equal(Object.keys(results[0]!.KV), ['LockIndex', 'Key', 'Flags', 'Value', 'CreateIndex', 'ModifyIndex']);
  const stored = JSON.parse((await agent.request('GET', '/v1/kv/t/a')).text) as KvResult[];
  assert.is(stored[0]!.Value, b64('one'));
});

test('any failure rolls everything back: 409 with Results null and every error with its OpIndex', async () => {
  const before = await everything();
  const aIndex = (JSON.parse((await agent.request('GET', '/v1/kv/t/a')).text) as KvResult[])[0]!.ModifyIndex;
  const { status, body } = await txn([
    { KV: { Verb: 'set', Key: 't/new', Value: b64('x') } },
    { KV: { Verb: 'cas', Key: 't/a', Value: b64('y'), Index: aIndex + 100 } },
    { KV: { Verb: 'delete', Key: 't/b' } },
    { KV: { Verb: 'get', Key: 't/absent' } },
    { KV: { Verb: 'check-index', Key: 't/a', Index: 1 } },
  ]);
  assert.is(status, 409);
  assert.equal(body, {
    Results: null,
    Errors: [
      { OpIndex: 1, What: 'failed to set key "t/a", index is stale' },
      { OpIndex: 3, What: 'key "t/absent" doesn\'t exist' },
      { OpIndex: 4, What: `failed index check for key "t/a", current modify index ${aIndex} != 1` },
    ],
  });
  assert.is(await everything(), before);
});

test('a read-only transaction is served without Raft: no new index, KnownLeader and LastContact reported', async () => {
  const index = Number((await agent.request('GET', '/v1/kv/t/a')).headers['x-consul-index']);
  const lastIndex = async () => Number((await agent.json<{ Stats: { raft: { applied_index: string } } }>('GET', '/v1/agent/self')).Stats.raft.applied_index);
  const appliedBefore = await lastIndex();
  const { status, body, headers } = await txn([
    { KV: { Verb: 'get-tree', Key: 't/' } },
    { KV: { Verb: 'check-index', Key: 't/a', Index: index } },
    { KV: { Verb: 'check-session', Key: 't/a' } },
  ], '?stale');
  assert.is(status, 200);
  assert.equal(body.Results!.map((r) => [r.KV.Key, r.KV.Value !== null]), [['t/a', true], ['t/b', true], ['t/a', false], ['t/a', false]]);
  assert.is(headers['x-consul-knownleader'], 'true');
  assert.ok(headers['x-consul-lastcontact'] !== undefined);
  assert.is(await lastIndex(), appliedBefore, 'a read-only transaction wrote no Raft entry');
  const failed = await txn([{ KV: { Verb: 'get', Key: 't/none' } }], '?consistent');
  assert.is(failed.status, 409);
  assert.equal(failed.body.Errors, [{ OpIndex: 0, What: 'key "t/none" doesn\'t exist' }]);
});

test('locks in a transaction: lock, check-session, unlock; lock-delay and held locks fail with Consul\'s words', async () => {
  const session = await agent.createSession({ LockDelay: '10s' });
  const other = await agent.createSession({ LockDelay: '0s' });
  const locked = await txn([
    { KV: { Verb: 'lock', Key: 't/lock', Value: b64('held'), Session: session } },
    { KV: { Verb: 'check-session', Key: 't/lock', Session: session } },
  ]);
  assert.is(locked.status, 200);
  assert.is(locked.body.Results![0]!.KV.Session, session);
  assert.is(locked.body.Results![0]!.KV.LockIndex, 1);
  const contended = await txn([{ KV: { Verb: 'lock', Key: 't/lock', Session: other } }]);
  assert.equal(contended.body.Errors, [{ OpIndex: 0, What: 'failed to lock key "t/lock", lock is already held' }]);
  const wrongUnlock = await txn([{ KV: { Verb: 'unlock', Key: 't/lock', Session: other } }]);
  assert.equal(wrongUnlock.body.Errors, [{ OpIndex: 0, What: 'failed to unlock key "t/lock", lock isn\'t held, or is held by another session' }]);
  await agent.request('PUT', `/v1/session/destroy/${session}`);
  const delayed = await txn([{ KV: { Verb: 'lock', Key: 't/lock', Session: other } }]);
  assert.equal(delayed.body.Errors, [{ OpIndex: 0, What: 'failed to lock key "t/lock", lock-delay is in effect' }]);
  const unknown = await txn([{ KV: { Verb: 'lock', Key: 't/other', Session: session } }]);
  assert.equal(unknown.body.Errors, [{ OpIndex: 0, What: `invalid session "${session}"` }]);
  await agent.request('PUT', `/v1/session/destroy/${other}`);
});

test('delete-tree, delete-cas and cas inside one transaction', async () => {
  await txn([
    { KV: { Verb: 'set', Key: 'dt/a', Value: b64('1') } },
    { KV: { Verb: 'set', Key: 'dt/b', Value: b64('2') } },
    { KV: { Verb: 'set', Key: 'dc/x', Value: b64('3') } },
  ]);
  const x = (JSON.parse((await agent.request('GET', '/v1/kv/dc/x')).text) as KvResult[])[0]!;
  const { status, body } = await txn([
    { KV: { Verb: 'delete-tree', Key: 'dt/' } },
    { KV: { Verb: 'delete-cas', Key: 'dc/x', Index: x.ModifyIndex } },
    { KV: { Verb: 'cas', Key: 'dc/y', Value: b64('new'), Index: 0 } },
  ]);
  assert.is(status, 200);
  assert.equal(body.Results!.map((r) => r.KV.Key), ['dc/y']);
  assert.is((await agent.request('GET', '/v1/kv/dt/?recurse')).status, 404);
  assert.is((await agent.request('GET', '/v1/kv/dc/x')).status, 404);
  // Every result empty: Results is null, as Go marshals a nil slice.
  const deletes = await txn([{ KV: { Verb: 'delete', Key: 'dc/y' } }]);
  assert.equal(deletes.body, { Results: null, Errors: null });
  assert.equal((await txn([])).body, { Results: null, Errors: null });
});

test('field names match case-insensitively and unknown fields are ignored, as Go decodes JSON', async () => {
  const { status, body } = await txn([{ kv: { verb: 'set', key: 't/case', value: b64('v'), flags: 9, Extra: { any: 1 } }, Other: true }]);
  assert.is(status, 200);
  assert.is(body.Results![0]!.KV.Flags, 9);
});

test('operations that cannot succeed are the 409 rollback answer with their OpIndex; nothing is stored', async () => {
  const before = await everything();
  const { status, body } = await txn([
    { KV: { Verb: 'set', Key: 't/fine', Value: b64('x') } },
    { KV: { Verb: 'frobnicate', Key: 't/a' } },
    { KV: { Verb: 'set', Key: '' } },
    { KV: { Verb: 'set', Key: '/lead' } },
    { KV: { Verb: 'lock', Key: 't/l' } },
    { KV: { Verb: 'lock', Key: 't/l', Session: 'nope' } },
    { KV: { Verb: 'set', Key: 'k'.repeat(600) } },
  ]);
  assert.is(status, 409);
  assert.equal(body.Errors!.map((e) => e.OpIndex), [1, 2, 3, 4, 5, 6]);
  assert.equal(body.Errors!.slice(0, 2).map((e) => e.What), ['unknown KV verb "frobnicate"', 'Must provide key']);
  assert.is(body.Errors![3]!.What, 'missing session');
  assert.is(body.Errors![4]!.What, 'invalid session "nope"');
  assert.match(body.Errors![5]!.What, /key is 600 bytes, over the limit of 512/);
  assert.is(await everything(), before);
});

test('malformed bodies are 400 naming the problem; too many operations or too large a value is 413', async () => {
  const before = await everything();
  const cases: [string, number, RegExp][] = [
    ['', 400, /^Failed to parse body: the body is empty/],
    ['{"KV":{}}', 400, /expected a JSON array of operations, got object/],
    ['[{"KV":', 400, /^Failed to parse body: /],
    ['[1]', 400, /operation 0: expected an object/],
    ['[{}]', 400, /operation 0: missing "KV"/],
    ['[{"Node":{"Verb":"set"}}]', 400, /Node operations are not supported/],
    ['[{"KV":[]}]', 400, /"KV" must be an object, got array/],
    ['[{"KV":{"Verb":1,"Key":"a"}}]', 400, /operation 0: KV.Verb must be a string, got number/],
    ['[{"KV":{"Verb":"set","Key":"a","Flags":-1}}]', 400, /KV.Flags must be an unsigned integer/],
    ['[{"KV":{"Verb":"set","Key":"a","Flags":"3"}}]', 400, /KV.Flags must be an unsigned integer/],
    ['[{"KV":{"Verb":"cas","Key":"a","Index":1.5}}]', 400, /KV.Index must be an unsigned integer/],
    ['[{"KV":{"Verb":"cas","Key":"a","Index":18446744073709551615}}]', 400, /KV.Index must be an unsigned integer below 2\^53/],
    ['[{"KV":{"Verb":"set","Key":"a","Value":"not base64!"}}]', 400, /KV.Value is not valid base64/],
    ['[{"KV":{"Verb":"set","Key":"a","Value":"YQ"}}]', 400, /KV.Value is not valid base64/],
    ['[{"KV":{"Verb":"set","Key":"a","Value":42}}]', 400, /KV.Value must be a base64 string/],
    ['[{"KV":{"Verb":"set","Key":{"a":1}}}]', 400, /KV.Key must be a string, got object/],
    [JSON.stringify(Array.from({ length: 129 }, (_, i) => ({ KV: { Verb: 'get', Key: `k${i}` } }))), 413, /^Transaction contains too many operations \(129 > 128\)$/],
    [JSON.stringify([{ KV: { Verb: 'set', Key: 'big', Value: Buffer.alloc(400 * 1024).toString('base64') } }]), 413, /too large/],
  ];
  for (const [body, expected, message] of cases) {
    const answer = await agent.request('PUT', '/v1/txn', { body });
    assert.is(answer.status, expected, `${body.slice(0, 80)}: ${answer.status} ${answer.text}`);
    assert.match(answer.text, message, body.slice(0, 80));
  }
  const ok = await txn(Array.from({ length: 128 }, (_, i) => ({ KV: { Verb: 'set', Key: `many/${i}`, Value: b64(String(i)) } })));
  assert.is(ok.status, 200, '128 operations are allowed');
  assert.is(ok.body.Results!.length, 128);
  await agent.request('DELETE', '/v1/kv/many?recurse');
  assert.is(await everything(), before);
});

test('the consul client\'s Transaction.create speaks the same shape', async () => {
  const { default: Consul } = await import('consul');
  const consul = new Consul({ host: agent.ip, port: agent.httpPort });
  // At run time create(operations) takes Consul's body as is; the typings only describe create({ operations }).
  const create = (operations: unknown[]) => (consul.transaction.create as unknown as (ops: unknown[]) => Promise<TxnAnswer>).call(consul.transaction, operations);
  try {
    const result = await create([
      { KV: { Verb: 'set', Key: 'client/txn', Value: b64('from-client') } },
      { KV: { Verb: 'get', Key: 'client/txn' } },
    ]);
    assert.is(result.Errors, null);
    assert.is(Buffer.from(result.Results![1]!.KV.Value!, 'base64').toString(), 'from-client');
    let conflict: { statusCode?: number; response?: { statusCode?: number } } | undefined;
    try {
      await create([{ KV: { Verb: 'get', Key: 'client/absent' } }]);
    } catch (error) {
      conflict = error as typeof conflict;
    }
    assert.ok(conflict, 'a rolled-back transaction is an error to the client');
    assert.is(conflict!.response?.statusCode ?? conflict!.statusCode, 409);
  } finally {
    consul.destroy();
  }
});

test.run();

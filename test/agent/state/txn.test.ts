// PUT /v1/txn: all or nothing, every failure listed with its operation index
// and Consul's message, later operations seeing earlier ones.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consulTxnResponse } from '../../../agent/state/txn.ts';
import type { TxnOutcome } from '../../../agent/state/txn.ts';
import type { TxnOp, TxnVerb } from '../../../protocol/state-commands.ts';
import { bytes, Harness, text, uuid } from './harness.ts';

function op(verb: TxnVerb, key: string, fields: Partial<Omit<TxnOp, 'verb' | 'key'>> = {}): TxnOp {
  return { verb, key, value: new Uint8Array(0), flags: 0, index: 0, session: '', ...fields };
}

function txn(h: Harness, ...ops: TxnOp[]): TxnOutcome {
  return h.apply({ type: 'txn', ops }) as TxnOutcome;
}

test('a successful txn applies every operation at one index and answers Consul-shaped results', () => {
  const h = new Harness();
  h.set('existing', 'old'); // 1
  const outcome = txn(h,
    op('set', 'a', { value: bytes('1'), flags: 7 }),
    op('cas', 'existing', { value: bytes('new'), index: 1 }),
    op('get', 'a'),
    op('delete', 'nothing'),
  ); // 2
  assert.is(outcome.Errors, null);
  const response = consulTxnResponse(outcome);
  assert.equal(response.Results, [
    { KV: { LockIndex: 0, Key: 'a', Flags: 7, Value: null, CreateIndex: 2, ModifyIndex: 2 } },
    { KV: { LockIndex: 0, Key: 'existing', Flags: 0, Value: null, CreateIndex: 1, ModifyIndex: 2 } },
    { KV: { LockIndex: 0, Key: 'a', Flags: 7, Value: 'MQ==', CreateIndex: 2, ModifyIndex: 2 } },
  ]);
  assert.is(text(h.state.kvGet('existing').entry!.value), 'new');
});

test('one failing operation rolls back all of them and every failure is reported with its index', () => {
  const h = new Harness();
  h.set('k', 'v'); // 1
  const outcome = txn(h,
    op('set', 'new-key', { value: bytes('x') }),
    op('cas', 'k', { value: bytes('y'), index: 99 }),
    op('delete', 'k'),
    op('get', 'missing'),
    op('check-index', 'k', { index: 5 }),
  );
  assert.equal(outcome, {
    Results: null,
    Errors: [
      { OpIndex: 1, What: 'failed to set key "k", index is stale' },
      { OpIndex: 3, What: 'key "missing" doesn\'t exist' },
      { OpIndex: 4, What: 'failed to check index, key "k" doesn\'t exist' },
    ],
  });
  assert.is(h.state.kvGet('new-key').entry, null, 'the set was rolled back');
  assert.is(text(h.state.kvGet('k').entry!.value), 'v', 'the delete was rolled back');
  assert.is(h.state.kvGet('k').index, 1);
});

test('later operations see earlier ones: set then cas at the new index, delete then check-not-exists', () => {
  const h = new Harness();
  h.set('k', 'v'); // 1
  const outcome = txn(h,
    op('set', 'k', { value: bytes('two') }),
    op('cas', 'k', { value: bytes('three'), index: 2 }),
    op('check-index', 'k', { index: 2 }),
    op('delete', 'other'),
    op('set', 'tmp', { value: bytes('t') }),
    op('delete', 'tmp'),
    op('check-not-exists', 'tmp'),
  ); // 2
  assert.is(outcome.Errors, null);
  assert.is(text(h.state.kvGet('k').entry!.value), 'three');
  assert.is(h.state.kvGet('tmp').entry, null);
});

test('get-tree sees the txn\'s own writes merged in key order; delete-tree removes them too', () => {
  const h = new Harness();
  h.set('d/b', 'B'); // 1
  h.set('d/d', 'D'); // 2
  const outcome = txn(h, op('set', 'd/a', { value: bytes('A') }), op('delete', 'd/d'), op('set', 'd/c', { value: bytes('C') }), op('get-tree', 'd/'));
  assert.is(outcome.Errors, null);
  const tree = outcome.Results!.slice(2).map((result) => [result.entry.key, text(result.entry.value)]);
  assert.equal(tree, [['d/a', 'A'], ['d/b', 'B'], ['d/c', 'C']]);
  txn(h, op('set', 'd/e', { value: bytes('E') }), op('delete-tree', 'd/'), op('set', 'd/z', { value: bytes('Z') }));
  assert.equal(h.state.kvKeys('', '').keys, ['d/z']);
});

test('lock, unlock and check-session in a txn, with Consul\'s messages', () => {
  const h = new Harness();
  h.registerNode('n1');
  h.createSession(uuid(1), 'n1');
  h.createSession(uuid(2), 'n1');
  assert.is(txn(h, op('lock', 'l', { session: uuid(1), value: bytes('held') }), op('check-session', 'l', { session: uuid(1) })).Errors, null);
  assert.equal(txn(h, op('lock', 'l', { session: uuid(2) })).Errors, [{ OpIndex: 0, What: 'failed to lock key "l", lock is already held' }]);
  assert.equal(txn(h, op('unlock', 'l', { session: uuid(2) })).Errors, [{ OpIndex: 0, What: 'failed to unlock key "l", lock isn\'t held, or is held by another session' }]);
  assert.equal(txn(h, op('check-session', 'l', { session: uuid(2) })).Errors, [
    { OpIndex: 0, What: `failed session check for key "l", current session "${uuid(1)}" != "${uuid(2)}"` },
  ]);
  assert.equal(txn(h, op('lock', 'x', { session: uuid(7) })).Errors, [{ OpIndex: 0, What: `invalid session "${uuid(7)}"` }]);
  assert.is(txn(h, op('unlock', 'l', { session: uuid(1) }), op('check-session', 'l')).Errors, null, 'an empty session checks "not locked"');
  assert.is(h.state.kvGet('l').entry!.session, '');
});

test('delete-cas in a txn: stale index is an error', () => {
  const h = new Harness();
  h.set('k', 'v');
  assert.equal(txn(h, op('delete-cas', 'k', { index: 3 })).Errors, [{ OpIndex: 0, What: 'failed to delete key "k", index is stale' }]);
  assert.is(txn(h, op('delete-cas', 'k', { index: 1 })).Errors, null);
  assert.is(h.state.kvGet('k').entry, null);
});

test('a read-only txn is served locally, and one that writes is refused there', () => {
  const h = new Harness();
  h.set('k', 'v');
  const read = h.state.txnRead([op('get', 'k'), op('get-or-empty', 'nope')]);
  assert.ok(!('rejected' in read));
  if (!('rejected' in read)) {
    assert.is(read.outcome.Errors, null);
    assert.equal(read.outcome.Results!.map((result) => result.entry.key), ['k', 'nope']);
  }
  const refused = h.state.txnRead([op('set', 'k')]);
  assert.ok('rejected' in refused);
});

test.run();

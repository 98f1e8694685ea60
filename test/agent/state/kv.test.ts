// KV semantics as Consul's state store has them (agent/consul/state/kvs.go),
// through the whole path: encoded command → apply() → reads.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consulKvEntry } from '../../../agent/state/kv-store.ts';
import { bytes, Harness, text, uuid } from './harness.ts';

test('a set creates the key with CreateIndex = ModifyIndex = its index, and an update moves only ModifyIndex', () => {
  const h = new Harness();
  assert.is(h.set('foo', 'bar'), true);
  let entry = h.state.kvGet('foo').entry!;
  assert.equal([entry.createIndex, entry.modifyIndex, entry.lockIndex, entry.session, entry.flags], [1, 1, 0, '', 0]);
  assert.is(text(entry.value), 'bar');
  h.set('foo', 'baz', 42);
  entry = h.state.kvGet('foo').entry!;
  assert.equal([entry.createIndex, entry.modifyIndex, entry.flags], [1, 2, 42]);
  assert.is(h.state.kvGet('foo').index, 2);
});

test('rewriting an identical entry keeps its ModifyIndex (Consul skips unchanged writes)', () => {
  const h = new Harness();
  h.set('foo', 'bar', 3);
  h.set('foo', 'bar', 3);
  assert.is(h.state.kvGet('foo').entry!.modifyIndex, 1);
  h.set('foo', 'bar', 4);
  assert.is(h.state.kvGet('foo').entry!.modifyIndex, 3);
});

test('flags are stored as given, up to 2^53 - 1', () => {
  const h = new Harness();
  h.set('f', '', Number.MAX_SAFE_INTEGER);
  assert.is(h.state.kvGet('f').entry!.flags, Number.MAX_SAFE_INTEGER);
});

test('cas=0 creates only if absent; cas=N writes only at ModifyIndex N', () => {
  const h = new Harness();
  assert.is(h.apply({ type: 'kvCas', key: 'k', value: bytes('1'), flags: 0, casIndex: 0 }), true);
  assert.is(h.apply({ type: 'kvCas', key: 'k', value: bytes('2'), flags: 0, casIndex: 0 }), false, 'cas=0 on an existing key fails');
  assert.is(h.apply({ type: 'kvCas', key: 'k', value: bytes('3'), flags: 0, casIndex: 99 }), false, 'mismatched index fails');
  assert.is(text(h.state.kvGet('k').entry!.value), '1');
  assert.is(h.apply({ type: 'kvCas', key: 'k', value: bytes('4'), flags: 0, casIndex: 1 }), true);
  assert.is(text(h.state.kvGet('k').entry!.value), '4');
  assert.is(h.apply({ type: 'kvCas', key: 'absent', value: bytes('x'), flags: 0, casIndex: 5 }), false, 'cas=N on an absent key fails');
  assert.is(h.state.kvGet('absent').entry, null);
});

test('delete removes one key; delete-tree removes a prefix and nothing else', () => {
  const h = new Harness();
  for (const key of ['a', 'a/b', 'a/b/c', 'ab', 'b']) h.set(key, key);
  assert.is(h.apply({ type: 'kvDelete', key: 'a' }), true);
  assert.is(h.apply({ type: 'kvDelete', key: 'never' }), true, 'deleting an absent key succeeds');
  assert.equal(h.state.kvKeys('', '').keys, ['a/b', 'a/b/c', 'ab', 'b']);
  assert.is(h.apply({ type: 'kvDeleteTree', prefix: 'a/' }), true);
  assert.equal(h.state.kvKeys('', '').keys, ['ab', 'b']);
  h.apply({ type: 'kvDeleteTree', prefix: '' });
  assert.equal(h.state.kvKeys('', '').keys, []);
});

test('delete with cas deletes only at the given ModifyIndex, and succeeds on an absent key (as Consul)', () => {
  const h = new Harness();
  h.set('k', 'v');
  assert.is(h.apply({ type: 'kvDeleteCas', key: 'k', casIndex: 7 }), false);
  assert.ok(h.state.kvGet('k').entry);
  assert.is(h.apply({ type: 'kvDeleteCas', key: 'k', casIndex: 1 }), true);
  assert.is(h.state.kvGet('k').entry, null);
  assert.is(h.apply({ type: 'kvDeleteCas', key: 'k', casIndex: 1 }), true);
});

test('acquire: LockIndex grows only when the holder changes; re-acquire by the holder updates the value', () => {
  const h = new Harness();
  h.registerNode('n1');
  const [s1, s2] = [uuid(1), uuid(2)];
  h.createSession(s1, 'n1');
  h.createSession(s2, 'n1');
  assert.is(h.lock('lock', s1, 'first'), true);
  let entry = h.state.kvGet('lock').entry!;
  assert.equal([entry.lockIndex, entry.session, text(entry.value)], [1, s1, 'first']);
  assert.is(h.lock('lock', s1, 'again'), true);
  entry = h.state.kvGet('lock').entry!;
  assert.equal([entry.lockIndex, text(entry.value)], [1, 'again'], 'same holder: LockIndex unchanged');
  assert.is(h.lock('lock', s2), false, 'held by another session');
  assert.is(h.unlock('lock', s1, 'released'), true);
  entry = h.state.kvGet('lock').entry!;
  assert.equal([entry.lockIndex, entry.session, text(entry.value)], [1, '', 'released']);
  assert.is(h.lock('lock', s2), true);
  assert.is(h.state.kvGet('lock').entry!.lockIndex, 2, 'new holder: LockIndex + 1');
});

test('acquiring an existing unlocked key keeps its CreateIndex and starts its LockIndex at 1', () => {
  const h = new Harness();
  h.set('k', 'v');
  h.registerNode('n1');
  h.createSession(uuid(1), 'n1');
  h.lock('k', uuid(1));
  const entry = h.state.kvGet('k').entry!;
  assert.equal([entry.createIndex, entry.lockIndex, entry.modifyIndex], [1, 1, 4]);
});

test('release by a non-holder, or of an unlocked or absent key, fails and changes nothing', () => {
  const h = new Harness();
  h.registerNode('n1');
  h.createSession(uuid(1), 'n1');
  h.createSession(uuid(2), 'n1');
  h.lock('k', uuid(1), 'v');
  const before = h.state.kvGet('k').entry;
  assert.is(h.unlock('k', uuid(2), 'stolen'), false);
  assert.is(h.state.kvGet('k').entry, before);
  assert.is(h.unlock('absent', uuid(1)), false);
  h.set('plain', 'p');
  assert.is(h.unlock('plain', uuid(1)), false);
});

test('acquire with a session that does not exist is rejected ("invalid session") and changes nothing', () => {
  const h = new Harness();
  const result = h.lock('k', uuid(9));
  assert.equal(result, { rejected: true, code: 'invalid-session', message: `invalid session "${uuid(9)}"` });
  assert.is(h.state.kvGet('k').entry, null);
});

test('a plain set on a locked key changes the value but keeps the holder and LockIndex', () => {
  const h = new Harness();
  h.registerNode('n1');
  h.createSession(uuid(1), 'n1');
  h.lock('k', uuid(1), 'locked');
  h.set('k', 'stoleit');
  const entry = h.state.kvGet('k').entry!;
  assert.equal([text(entry.value), entry.session, entry.lockIndex], ['stoleit', uuid(1), 1]);
});

test('list and keys return UTF-8 byte order; keys with a separator lists one level', () => {
  const h = new Harness();
  for (const key of ['foo', 'foo/bar', 'foo/bar/baz', 'foo/bar/zip', 'foo/bar/zip/zam', 'foo/bar/zip/zorp', 'some/other/prefix']) h.set(key, 'x');
  assert.equal(h.state.kvKeys('foo/bar/', '/').keys, ['foo/bar/baz', 'foo/bar/zip', 'foo/bar/zip/']);
  assert.equal(h.state.kvKeys('', '/').keys, ['foo', 'foo/', 'some/']);
  assert.equal(h.state.kvKeys('foo', '').keys, ['foo', 'foo/bar', 'foo/bar/baz', 'foo/bar/zip', 'foo/bar/zip/zam', 'foo/bar/zip/zorp']);
  assert.equal(h.state.kvList('foo/bar/zip').entries.map((entry) => entry.key), ['foo/bar/zip', 'foo/bar/zip/zam', 'foo/bar/zip/zorp']);
  // U+FF01 (3 UTF-8 bytes, EF BC 81) sorts before U+1F600 (4 bytes, F0 9F 98 80), unlike UTF-16 order.
  h.set('u/\u{1F600}', 'emoji');
  h.set('u/\uFF01', 'fullwidth');
  assert.equal(h.state.kvKeys('u/', '').keys, ['u/\uFF01', 'u/\u{1F600}']);
});

test('the index of a key is its ModifyIndex, or its deletion; a prefix reports the largest under it, tombstones included', () => {
  const h = new Harness();
  h.set('foo', 'foo'); // 1
  h.set('foo/bar', 'bar'); // 2
  h.set('foo/bar/baz', 'baz'); // 3
  h.set('other', 'x'); // 4
  assert.is(h.state.kvGet('foo').index, 1);
  assert.is(h.state.kvList('foo/').index, 3);
  h.apply({ type: 'kvDelete', key: 'foo/bar/baz' }); // 5
  assert.is(h.state.kvList('foo/').index, 5, 'the tombstone keeps the prefix index from going back');
  assert.is(h.state.kvGet('foo/bar/baz').index, 5);
  h.set('elsewhere', 'y'); // 6
  assert.is(h.state.kvList('foo/').index, 5, 'a write elsewhere does not move it');
  assert.is(h.state.kvGet('never-written').index, 1, 'never 0');
});

test('reaped tombstones raise only their own top-level segment, so indexes never go backwards', () => {
  const h = new Harness({ kv: { maxTombstones: 2 } });
  h.set('a/1', 'x'); // 1
  h.set('a/2', 'x'); // 2
  h.set('b/1', 'x'); // 3
  h.set('b/2', 'x'); // 4
  h.apply({ type: 'kvDelete', key: 'a/1' }); // 5
  h.apply({ type: 'kvDelete', key: 'b/1' }); // 6
  h.apply({ type: 'kvDelete', key: 'b/2' }); // 7: reaps a/1's tombstone
  assert.is(h.state.kvList('a/').index, 5, 'a/ keeps the reaped deletion as its floor');
  assert.is(h.state.kvGet('a/1').index, 5);
  assert.is(h.state.kvList('b/').index, 7);
  h.apply({ type: 'kvDelete', key: 'a/2' }); // 8: reaps b/1
  h.set('c/1', 'x'); // 9
  h.apply({ type: 'kvDelete', key: 'c/1' }); // 10: reaps b/2
  assert.is(h.state.kvList('b/').index, 7);
  assert.is(h.state.kvList('c/').index, 10);
  assert.is(h.state.kvList('').index, 10);
  assert.is(h.state.kvList('b').index, 7, 'a prefix without a slash takes the floors of the segments it covers');
});

test('Consul JSON: base64 Value, null when empty, Session only when held', () => {
  const h = new Harness();
  h.set('k', 'bar', 5);
  assert.equal(consulKvEntry(h.state.kvGet('k').entry!), { LockIndex: 0, Key: 'k', Flags: 5, Value: 'YmFy', CreateIndex: 1, ModifyIndex: 1 });
  h.set('empty', '');
  assert.is(consulKvEntry(h.state.kvGet('empty').entry!).Value, null);
  h.registerNode('n1');
  h.createSession(uuid(1), 'n1');
  h.lock('k', uuid(1), 'bar');
  assert.equal(Object.keys(consulKvEntry(h.state.kvGet('k').entry!)), ['LockIndex', 'Key', 'Flags', 'Value', 'Session', 'CreateIndex', 'ModifyIndex']);
});

test.run();

// The ordered key set under the KV store, checked against a plain sorted array.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareKeys, SortedKeys } from '../../../agent/state/sorted-keys.ts';
import { SeededPrng } from '../../../raft/prng.ts';

const utf8 = new TextEncoder();

function byteOrder(left: string, right: string): number {
  return Buffer.compare(utf8.encode(left), utf8.encode(right));
}

test('compareKeys is UTF-8 byte order, where UTF-16 order disagrees', () => {
  const samples = ['', 'a', 'a/', 'a/b', 'ab', 'é', '\uFF01', '\u{1F600}', '\uE000', '\uD7FF', 'z', '\u0000', '\u{10FFFF}'];
  for (const left of samples) {
    for (const right of samples) assert.is(Math.sign(compareKeys(left, right)), Math.sign(byteOrder(left, right)), `${JSON.stringify(left)} vs ${JSON.stringify(right)}`);
  }
  assert.ok('\u{1F600}' < '\uFF01', 'JavaScript alone would put the emoji first');
  assert.ok(compareKeys('\u{1F600}', '\uFF01') > 0);
});

test('20,000 random inserts and deletes match a sorted array, across chunk splits and merges', () => {
  const prng = new SeededPrng(11);
  const keys = new SortedKeys();
  const model = new Set<string>();
  const alphabet = ['a', 'b', '/', 'é', '\u{1F600}', '\uFF01', 'z'];
  const randomKey = () => Array.from({ length: 1 + prng.nextInt(6) }, () => alphabet[prng.nextInt(alphabet.length)]).join('');
  for (let i = 0; i < 20_000; i++) {
    const key = randomKey();
    if (prng.nextInt(3) === 0) assert.is(keys.delete(key), model.delete(key));
    else {
      assert.is(keys.insert(key), !model.has(key));
      model.add(key);
    }
  }
  const expected = [...model].sort(byteOrder);
  assert.is(keys.size, expected.length);
  assert.equal([...keys], expected);
  for (const prefix of ['', 'a', 'a/', 'é', '\u{1F600}', 'zz', 'b/a']) {
    const scanned: string[] = [];
    keys.scanPrefix(prefix, (key) => {
      scanned.push(key);
    });
    assert.equal(scanned, expected.filter((key) => key.startsWith(prefix)), `prefix ${JSON.stringify(prefix)}`);
  }
  for (const key of expected) assert.ok(keys.has(key));
});

test('a scan can skip a whole subtree in one step', () => {
  const keys = new SortedKeys();
  for (let i = 0; i < 5_000; i++) keys.insert(`big/${String(i).padStart(5, '0')}`);
  keys.insert('a');
  keys.insert('big0');
  keys.insert('c/x');
  const visited: string[] = [];
  keys.scanPrefix('', (key) => {
    visited.push(key);
    const slash = key.indexOf('/');
    return slash < 0 ? undefined : key.slice(0, slash + 1);
  });
  assert.equal(visited, ['a', 'big/00000', 'big0', 'c/x']);
});

test('deleting everything leaves an empty, reusable set', () => {
  const keys = new SortedKeys();
  for (let i = 0; i < 2_000; i++) keys.insert(`k${i}`);
  for (let i = 0; i < 2_000; i++) assert.ok(keys.delete(`k${i}`));
  assert.equal([keys.size, [...keys]], [0, []]);
  keys.insert('again');
  assert.equal([...keys], ['again']);
});

test.run();

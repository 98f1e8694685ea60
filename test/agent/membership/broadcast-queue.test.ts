import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BroadcastQueue, retransmitLimit } from '../../../agent/membership/broadcast-queue.ts';

test('the retransmit limit is multiplier * ceil(log10(n + 1))', () => {
  assert.is(retransmitLimit(3, 0), 0);
  assert.is(retransmitLimit(3, 1), 3);
  assert.is(retransmitLimit(3, 99), 6);
  assert.is(retransmitLimit(4, 9), 4);
  assert.is(retransmitLimit(4, 10), 8);
  assert.is(retransmitLimit(4, 1_000), 16);
});

test('each update is sent exactly retransmit-limit times, then leaves the queue', () => {
  const queue = new BroadcastQueue<string>(4);
  queue.queue('n1', 'alive n1', 10);
  let sent = 0;
  for (let i = 0; i < 20; i++) sent += queue.take(1_000, 50, 100).length;
  assert.is(sent, retransmitLimit(4, 50));
  assert.is(queue.size(), 0);
});

test('a newer update about a node replaces the queued one and starts its count again', () => {
  const queue = new BroadcastQueue<string>(1);
  queue.queue('n1', 'suspect n1', 10);
  queue.queue('n2', 'alive n2', 10);
  assert.equal(queue.take(1_000, 5, 1), ['suspect n1']);
  queue.queue('n1', 'alive n1 (refuted)', 10);
  assert.is(queue.size(), 2);
  assert.is(queue.transmitsOf('n1'), 0);
  assert.equal(queue.take(1_000, 5, 10), ['alive n2', 'alive n1 (refuted)']);
  assert.is(queue.size(), 0, 'limit 1 for n = 5');
});

test('least-transmitted updates go first, oldest first among equals', () => {
  const queue = new BroadcastQueue<string>(3);
  queue.queue('a', 'a', 10);
  queue.queue('b', 'b', 10);
  assert.equal(queue.take(1_000, 5, 1), ['a']);
  queue.queue('c', 'c', 10);
  assert.equal(queue.take(1_000, 5, 3), ['b', 'c', 'a']);
});

test('a take stays within its byte budget and item count, and never repeats an update', () => {
  const queue = new BroadcastQueue<string>(10);
  for (let i = 0; i < 50; i++) queue.queue(`n${i}`, `n${i}`, 100);
  const taken = queue.take(1_050, 50, 100);
  assert.is(taken.length, 10);
  assert.is(new Set(taken).size, taken.length);
  assert.is(queue.take(10_000, 50, 7).length, 7);
  // An update bigger than the budget is skipped, not blocking smaller ones.
  const mixed = new BroadcastQueue<string>(1);
  mixed.queue('big', 'big', 500);
  mixed.queue('small', 'small', 50);
  assert.equal(mixed.take(100, 5, 10), ['small']);
  assert.is(mixed.size(), 1);
});

test('the queue holds at most one entry per node', () => {
  const queue = new BroadcastQueue<number>(2);
  for (let i = 0; i < 1_000; i++) queue.queue(`n${i % 10}`, i, 5);
  assert.is(queue.size(), 10);
  queue.remove('n3');
  assert.not.ok(queue.has('n3'));
  assert.is(queue.size(), 9);
});

test.run();

// The calendar queue must give exactly the order of a reference priority
// queue on (time, push order), across the ring's horizon and back.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventQueue, RING_MS } from '../../sim/event-queue.ts';
import { SeededPrng } from '../../raft/prng.ts';

test('events come out in (time, push order), near and far beyond the ring, interleaved with pushes', () => {
  const prng = new SeededPrng(5);
  const queue = new EventQueue(4);
  const reference: { at: number; order: number }[] = [];
  let order = 0;
  let now = 0;
  const popped: number[] = [];
  const expected: number[] = [];
  for (let step = 0; step < 20_000; step++) {
    if (prng.nextFloat() < 0.55 || reference.length === 0) {
      const far = prng.nextFloat() < 0.1;
      const at = now + (far ? RING_MS + prng.nextInt(3 * RING_MS) : prng.nextInt(50));
      queue.push(at, 1, order, -1, at, { order });
      reference.push({ at, order });
      order++;
    } else {
      reference.sort((a, b) => a.at - b.at || a.order - b.order);
      const next = reference.shift()!;
      expected.push(next.order);
      const slot = queue.pop(Infinity);
      assert.ok(slot >= 0);
      assert.is(queue.time[slot], next.at);
      now = queue.nowMs;
      popped.push((queue.refOf(slot) as { order: number }).order);
      queue.release(slot);
    }
  }
  assert.equal(popped, expected);
  assert.is(queue.size, reference.length);
});

test('pop stops at the horizon asked for and leaves the clock there', () => {
  const queue = new EventQueue();
  queue.push(10, 1, 0, -1, 0, null);
  queue.push(200_000, 1, 1, -1, 0, null);
  assert.is(queue.pop(5), -1);
  assert.is(queue.nowMs, 5);
  const first = queue.pop(100);
  assert.is(queue.target[first], 0);
  queue.release(first);
  assert.is(queue.pop(150_000), -1);
  assert.is(queue.nowMs, 150_000);
  const second = queue.pop(Infinity);
  assert.is(queue.target[second], 1);
  assert.is(queue.nowMs, 200_000);
  assert.throws(() => queue.push(199_999, 1, 0, -1, 0, null), /not a whole millisecond at or after/);
});

test.run();

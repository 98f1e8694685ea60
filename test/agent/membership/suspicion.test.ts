import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { remainingSuspicionMs, Suspicion, suspicionTimeoutAfterMs, suspicionTimeoutMs } from '../../../agent/membership/suspicion.ts';

test('the minimum timeout is multiplier * max(1, log10 n) * interval, flat up to 10 members', () => {
  assert.is(suspicionTimeoutMs(4, 1, 1_000), 4_000);
  assert.is(suspicionTimeoutMs(4, 5, 1_000), 4_000);
  assert.is(suspicionTimeoutMs(4, 10, 1_000), 4_000);
  assert.is(suspicionTimeoutMs(4, 100, 1_000), 8_000);
  assert.is(suspicionTimeoutMs(4, 1_000, 1_000), 12_000);
  // log10(50) = 1.69897: three decimals kept, as memberlist does.
  assert.is(suspicionTimeoutMs(3, 50, 1_000), 5_094);
  assert.is(suspicionTimeoutMs(3, 500, 1_000), 8_094);
  assert.is(suspicionTimeoutMs(4, 0, 1_000), 4_000, 'an empty cluster counts as one member');
});

test('with no confirmations the timeout is max; with k it is min; in between it falls like log(c + 1) / log(k + 1)', () => {
  const minMs = 2_000;
  const maxMs = 30_000;
  assert.is(suspicionTimeoutAfterMs(0, 3, minMs, maxMs), 30_000);
  // log 2 / log 4 = 1/2 of the way down.
  assert.is(suspicionTimeoutAfterMs(1, 3, minMs, maxMs), 16_000);
  assert.is(suspicionTimeoutAfterMs(2, 3, minMs, maxMs), Math.floor(30_000 - (Math.log(3) / Math.log(4)) * 28_000));
  assert.is(suspicionTimeoutAfterMs(3, 3, minMs, maxMs), 2_000);
  assert.is(suspicionTimeoutAfterMs(9, 3, minMs, maxMs), 2_000, 'never below min');
  assert.is(suspicionTimeoutAfterMs(0, 0, minMs, maxMs), 2_000, 'k = 0: nobody can confirm, start at min');
});

test('remaining time subtracts the elapsed time and goes negative when overdue', () => {
  assert.is(remainingSuspicionMs(0, 3, 0, 2_000, 30_000), 30_000);
  assert.is(remainingSuspicionMs(1, 3, 2_000, 2_000, 30_000), 14_000);
  assert.is(remainingSuspicionMs(3, 3, 4_000, 2_000, 30_000), -2_000);
});

test('confirmations count once per member, not from the originator, and stop at k', () => {
  const suspicion = new Suspicion('a', 2, 4_000, 24_000, 1_000);
  assert.is(suspicion.deadlineMs(), 25_000);
  assert.not.ok(suspicion.confirm('a'), 'the originator is not a confirmation');
  assert.ok(suspicion.confirm('b'));
  assert.not.ok(suspicion.confirm('b'), 'a repeat is not a confirmation');
  const afterOne = suspicion.deadlineMs();
  assert.ok(afterOne < 25_000 && afterOne > 5_000, `one confirmation shortens the timer: ${afterOne}`);
  assert.ok(suspicion.confirm('c'));
  assert.is(suspicion.deadlineMs(), 5_000, 'k confirmations: min');
  assert.not.ok(suspicion.confirm('d'), 'beyond k nothing more is counted or re-gossiped');
  assert.is(suspicion.confirmationCount(), 2);
});

test('a suspicion nobody can confirm runs for min', () => {
  const suspicion = new Suspicion('a', 0, 4_000, 24_000, 0);
  assert.is(suspicion.deadlineMs(), 4_000);
  assert.not.ok(suspicion.confirm('b'));
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DurationError, formatDuration, parseDurationMs } from '../../../agent/http/duration.ts';

test('Consul wait strings parse to milliseconds', () => {
  assert.is(parseDurationMs('10s'), 10_000);
  assert.is(parseDurationMs('5m'), 300_000);
  assert.is(parseDurationMs('100ms'), 100);
  assert.is(parseDurationMs('1h'), 3_600_000);
  assert.is(parseDurationMs('0'), 0);
  assert.is(parseDurationMs('0s'), 0);
});

test('Go grammar: several components, fractions, sign, micro units', () => {
  assert.is(parseDurationMs('1m30s'), 90_000);
  assert.is(parseDurationMs('1h2m3s4ms'), 3_723_004);
  assert.is(parseDurationMs('1.5s'), 1_500);
  assert.is(parseDurationMs('.5s'), 500);
  assert.is(parseDurationMs('1.s'), 1_000);
  assert.is(parseDurationMs('+2s'), 2_000);
  assert.is(parseDurationMs('-2s'), -2_000);
  assert.is(parseDurationMs('1500us'), 1.5);
  assert.is(parseDurationMs('1500µs'), 1.5);
  assert.is(parseDurationMs('1500μs'), 1.5);
  assert.is(parseDurationMs('2000000ns'), 2);
});

test('bad durations fail with Go\'s messages', () => {
  const message = (text: string) => {
    try {
      parseDurationMs(text);
    } catch (error) {
      assert.instance(error, DurationError);
      return (error as Error).message;
    }
    assert.unreachable(`${JSON.stringify(text)} parsed`);
  };
  assert.is(message(''), 'time: invalid duration ""');
  assert.is(message('abc'), 'time: invalid duration "abc"');
  assert.is(message('5'), 'time: missing unit in duration "5"');
  assert.is(message('5x'), 'time: unknown unit "x" in duration "5x"');
  assert.is(message('1.5.s'), 'time: missing unit in duration "1.5.s"');
  assert.is(message('.s'), 'time: invalid duration ".s"');
  assert.is(message('-'), 'time: invalid duration "-"');
  assert.is(message('10 s'), 'time: unknown unit " s" in duration "10 s"');
  assert.is(message('s10'), 'time: invalid duration "s10"');
  assert.is(message('9999999999h'), 'time: invalid duration "9999999999h"'); // past int64 nanoseconds
});

test('formatDuration prints Go\'s Duration.String()', () => {
  assert.is(formatDuration(0), '0s');
  assert.is(formatDuration(15_000), '15s');
  assert.is(formatDuration(90_000), '1m30s');
  assert.is(formatDuration(3_600_000), '1h0m0s');
  assert.is(formatDuration(1.5), '1.5ms');
  assert.is(formatDuration(0.25), '250µs');
  assert.is(formatDuration(1_500), '1.5s');
  assert.is(formatDuration(-2_000), '-2s');
  assert.is(formatDuration(0.000_001), '1ns');
});

test('formatDuration and parseDurationMs round-trip', () => {
  for (const ms of [1, 999, 1_000, 1_001, 59_999, 60_000, 86_400_000, 0.5, 123_456_789]) {
    assert.is(parseDurationMs(formatDuration(ms)), ms, `round trip of ${ms}`);
  }
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BLOCKING_WAIT_DEFAULT_MS, BLOCKING_WAIT_MAX_MS, blockingWaitMs, parseBlockingQuery, parseConsistencyMode, queryMeta, waitForIndex,
} from '../../../agent/http/blocking.ts';
import type { BlockingTimers, IndexWatch } from '../../../agent/http/blocking.ts';
import { HttpError } from '../../../agent/http/router.ts';

const NO_JITTER = () => 0;
const query = (text: string) => new URLSearchParams(text);

function httpError(run: () => unknown): HttpError {
  try {
    run();
  } catch (error) {
    assert.instance(error, HttpError);
    return error as HttpError;
  }
  throw new Error('expected an HttpError');
}

// --- parsing -----------------------------------------------------------------

test('?index=N&wait=D parses to the minimum index and the wait in ms', () => {
  assert.equal(parseBlockingQuery(query('index=12&wait=10s'), NO_JITTER), { minIndex: 12, waitMs: 10_000 });
  assert.equal(parseBlockingQuery(query('index=12&wait=100ms'), NO_JITTER), { minIndex: 12, waitMs: 100 });
});

test('no index, or index 0, does not block (but a bad wait is still a 400)', () => {
  assert.is(parseBlockingQuery(query('')), undefined);
  assert.is(parseBlockingQuery(query('wait=10s')), undefined);
  assert.is(parseBlockingQuery(query('index=0&wait=10s')), undefined);
  assert.is(httpError(() => parseBlockingQuery(query('wait=ten'))).status, 400);
});

test('the wait defaults to 5 minutes, is capped at 10, and zero or negative means the default', () => {
  assert.is(parseBlockingQuery(query('index=3'), NO_JITTER)!.waitMs, BLOCKING_WAIT_DEFAULT_MS);
  assert.is(parseBlockingQuery(query('index=3&wait=0s'), NO_JITTER)!.waitMs, BLOCKING_WAIT_DEFAULT_MS);
  assert.is(parseBlockingQuery(query('index=3&wait=-5s'), NO_JITTER)!.waitMs, BLOCKING_WAIT_DEFAULT_MS);
  assert.is(parseBlockingQuery(query('index=3&wait=1h'), NO_JITTER)!.waitMs, BLOCKING_WAIT_MAX_MS);
  assert.is(BLOCKING_WAIT_DEFAULT_MS, 300_000);
  assert.is(BLOCKING_WAIT_MAX_MS, 600_000);
});

test('jitter adds up to wait/16, never more, as Consul does', () => {
  assert.is(blockingWaitMs(16_000, () => 0), 16_000);
  assert.is(blockingWaitMs(16_000, () => 0.5), 16_500);
  assert.is(blockingWaitMs(16_000, () => 0.999_999), 16_999);
  assert.is(blockingWaitMs(3_600_000, () => 0.999_999), BLOCKING_WAIT_MAX_MS + BLOCKING_WAIT_MAX_MS / 16 - 1);
  for (let i = 0; i < 1000; i++) {
    const waitMs = blockingWaitMs(10_000);
    assert.ok(waitMs >= 10_000 && waitMs < 10_625, `jittered wait ${waitMs}`);
  }
});

test('a bad wait is 400 naming the duration problem; a bad index is 400 too', () => {
  const wait = httpError(() => parseBlockingQuery(query('index=1&wait=5x')));
  assert.is(wait.status, 400);
  assert.is(wait.message, 'Invalid wait time: time: unknown unit "x" in duration "5x"');
  assert.is(httpError(() => parseBlockingQuery(query('index=1&wait=5'))).message, 'Invalid wait time: time: missing unit in duration "5"');
  for (const index of ['-1', 'abc', '1.5', '0x10', '123456789012345678901']) {
    const error = httpError(() => parseBlockingQuery(query(`index=${encodeURIComponent(index)}`)));
    assert.is(error.status, 400);
    assert.match(error.message, /^Invalid index/);
  }
});

test('consistency: default, ?stale, ?consistent (any value), ?leader, ?max_stale', () => {
  assert.is(parseConsistencyMode(query('')), 'default');
  assert.is(parseConsistencyMode(query('stale')), 'stale');
  assert.is(parseConsistencyMode(query('stale=1')), 'stale');
  assert.is(parseConsistencyMode(query('consistent')), 'consistent');
  assert.is(parseConsistencyMode(query('consistent=1')), 'consistent');
  assert.is(parseConsistencyMode(query('leader')), 'default');
  assert.is(parseConsistencyMode(query('max_stale=5s')), 'stale');
  assert.is(parseConsistencyMode(query('max_stale=0s')), 'default');
  const conflict = httpError(() => parseConsistencyMode(query('stale&consistent')));
  assert.is(conflict.status, 400);
  assert.is(conflict.message, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
  assert.is(httpError(() => parseConsistencyMode(query('max_stale=soon'))).message, 'Invalid max_stale value "soon"');
});

test('queryMeta reads the agent\'s index, leader and lag; an explicit index wins', () => {
  const api = { lastIndex: () => 40, knownLeader: () => true, lastContactMs: () => 12 };
  assert.equal(queryMeta(api), { index: 40, knownLeader: true, lastContactMs: 12 });
  assert.equal(queryMeta(api, 7), { index: 7, knownLeader: true, lastContactMs: 12 });
});

// --- waiting -------------------------------------------------------------------

/** A manual clock: timers fire only when the test advances it. */
class FakeTimers implements BlockingTimers {
  now = 0;
  #timers = new Map<number, { at: number; callback: () => void }>();
  #next = 1;
  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.now + ms, callback });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  get pending(): number {
    return this.#timers.size;
  }
  advance(ms: number): void {
    this.now += ms;
    for (const [id, timer] of [...this.#timers]) {
      if (timer.at <= this.now) {
        this.#timers.delete(id);
        timer.callback();
      }
    }
  }
}

/** A watched index the test moves; waiters wake on every move (and on `wakeSpuriously`). */
class FakeWatch implements IndexWatch {
  index: number;
  waits = 0;
  signals: AbortSignal[] = [];
  #waiters = new Set<() => void>();
  constructor(index: number) {
    this.index = index;
  }
  currentIndex(): number {
    return this.index;
  }
  waitForChange(_index: number, signal: AbortSignal): Promise<void> {
    this.waits++;
    this.signals.push(signal);
    return new Promise((resolve, reject) => {
      const wake = () => {
        this.#waiters.delete(wake);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#waiters.delete(wake);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(wake);
    });
  }
  get waiting(): number {
    return this.#waiters.size;
  }
  set(index: number): void {
    this.index = index;
    this.wakeSpuriously();
  }
  wakeSpuriously(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test('answers at once when the request does not block or the index is already past N', async () => {
  const watch = new FakeWatch(10);
  const timers = new FakeTimers();
  assert.is(await waitForIndex(undefined, watch, new AbortController().signal, timers), 'changed');
  assert.is(await waitForIndex({ minIndex: 9, waitMs: 1000 }, watch, new AbortController().signal, timers), 'changed');
  assert.is(watch.waits, 0);
  assert.is(timers.pending, 0);
});

test('blocks while the index is at or below N and answers when it moves past', async () => {
  const watch = new FakeWatch(10);
  const timers = new FakeTimers();
  let outcome: string | undefined;
  void waitForIndex({ minIndex: 10, waitMs: 60_000 }, watch, new AbortController().signal, timers).then((o) => (outcome = o));
  await settle();
  assert.is(outcome, undefined);
  assert.is(watch.waiting, 1);
  watch.set(11);
  await settle();
  assert.is(outcome, 'changed');
  assert.is(timers.pending, 0, 'the timeout timer is cleared');
  assert.ok(watch.signals[0]!.aborted, 'the wait signal is released once answered');
});

test('a spurious wake (index unchanged) waits again; so does an index that went below N', async () => {
  const watch = new FakeWatch(10);
  const timers = new FakeTimers();
  let outcome: string | undefined;
  void waitForIndex({ minIndex: 10, waitMs: 60_000 }, watch, new AbortController().signal, timers).then((o) => (outcome = o));
  await settle();
  watch.wakeSpuriously();
  await settle();
  await settle();
  assert.is(outcome, undefined);
  watch.set(8);
  await settle();
  await settle();
  assert.is(outcome, undefined);
  assert.is(watch.waits, 3);
  watch.set(12);
  await settle();
  assert.is(outcome, 'changed');
});

test('the wait ends after waitMs with "timeout", and the watch is released', async () => {
  const watch = new FakeWatch(10);
  const timers = new FakeTimers();
  let outcome: string | undefined;
  void waitForIndex({ minIndex: 10, waitMs: 5_000 }, watch, new AbortController().signal, timers).then((o) => (outcome = o));
  await settle();
  timers.advance(4_999);
  await settle();
  assert.is(outcome, undefined);
  timers.advance(1);
  await settle();
  assert.is(outcome, 'timeout');
  assert.is(watch.waiting, 0);
});

test('a client disconnect aborts the wait at once and releases the watch', async () => {
  const watch = new FakeWatch(10);
  const timers = new FakeTimers();
  const client = new AbortController();
  let outcome: string | undefined;
  void waitForIndex({ minIndex: 10, waitMs: 60_000 }, watch, client.signal, timers).then((o) => (outcome = o));
  await settle();
  client.abort(new Error('client disconnected'));
  await settle();
  assert.is(outcome, 'aborted');
  assert.is(watch.waiting, 0);
  assert.is(timers.pending, 0);
  assert.is(await waitForIndex({ minIndex: 10, waitMs: 1 }, watch, client.signal, timers), 'aborted', 'an already aborted client does not wait');
});

test('an error from the watch (not its abort) propagates', async () => {
  const timers = new FakeTimers();
  const broken: IndexWatch = { currentIndex: () => 1, waitForChange: () => Promise.reject(new Error('state machine gone')) };
  try {
    await waitForIndex({ minIndex: 1, waitMs: 1_000 }, broken, new AbortController().signal, timers);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.is((error as Error).message, 'state machine gone');
  }
  assert.is(timers.pending, 0);
});

test('a watch that always wakes at once cannot starve the real timeout', async () => {
  const eager: IndexWatch = { currentIndex: () => 5, waitForChange: () => Promise.resolve() };
  const started = performance.now();
  const outcome = await waitForIndex({ minIndex: 5, waitMs: 30 }, eager, new AbortController().signal);
  assert.is(outcome, 'timeout');
  assert.ok(performance.now() - started < 1_000);
});

test.run();

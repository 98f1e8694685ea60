// Consul's query options for read endpoints: blocking queries (`?index=N&wait=D`),
// consistency modes (`?stale`, `?consistent`, default) and the X-Consul-* meta.
//
//   router.get('/v1/catalog/services', async (request) => {
//     const mode = parseConsistencyMode(request.query);         // 400 on ?stale&consistent
//     const blocking = parseBlockingQuery(request.query);       // 400 on a bad wait or index
//     await waitForIndex(blocking, catalog.servicesWatch(), request.signal);
//     return jsonReply(catalog.services(mode), queryMeta(api, catalog.servicesIndex()));
//   });
//
// A blocking query answers at once when the index the answer carries is
// already past N; otherwise it waits until it is, or until the wait (default
// 5 min, at most 10 min, plus up to wait/16 of jitter so that watchers started
// together do not all come back together) runs out, then answers whatever is
// current. Consul's own numbers (agent/consul/rpc.go): defaultQueryTime 300 s,
// maxQueryTime 600 s, jitterFraction 16. The `consul` npm client's watch gives
// each request wait + max(wait/10, 500 ms) before it gives up, so the jitter
// must stay below a tenth of the wait — 1/16 does.

import type { AgentApi } from './agent-api.ts';
import { DurationError, parseDurationMs } from './duration.ts';
import { HttpError } from './router.ts';
import type { QueryMeta } from './router.ts';

/** Wait when `?wait` is absent, zero or negative (Consul's defaultQueryTime). */
export const BLOCKING_WAIT_DEFAULT_MS = 5 * 60_000;
/** Longest wait a client may ask for (Consul's maxQueryTime); longer asks are cut to this. */
export const BLOCKING_WAIT_MAX_MS = 10 * 60_000;
/** Jitter added to a wait is uniform in [0, wait / this). */
export const BLOCKING_JITTER_FRACTION = 16;

/**
 * Where a read is served: `default` by the leader without a quorum round
 * (leader lease), `consistent` after a ReadIndex round with a quorum, `stale`
 * by any replica, even with no leader, reporting its lag in X-Consul-LastContact.
 */
export type ConsistencyMode = 'default' | 'consistent' | 'stale';

/** A parsed `?index=N&wait=D`: answer when the index moves past `minIndex`, or after `waitMs` (jitter included). */
export type BlockingQuery = { minIndex: number; waitMs: number };

/**
 * `?index=N&wait=D`, or undefined when the request does not block (no index,
 * or index 0, which Consul never blocks on). A bad `wait` or `index` is
 * HttpError 400 even without the other, as Consul answers.
 */
export function parseBlockingQuery(query: URLSearchParams, random: () => number = Math.random): BlockingQuery | undefined {
  const waitText = query.get('wait');
  let waitMs = 0;
  if (waitText !== null && waitText !== '') {
    try {
      waitMs = parseDurationMs(waitText);
    } catch (error) {
      if (error instanceof DurationError) throw new HttpError(400, `Invalid wait time: ${error.message}`);
      throw error;
    }
  }
  const indexText = query.get('index');
  let minIndex = 0;
  if (indexText !== null && indexText !== '') {
    // Consul's index is a uint64; beyond 2^53 a Number is inexact but still
    // compares as "in the future", which is all a wait needs.
    if (!/^\d{1,20}$/.test(indexText)) throw new HttpError(400, `Invalid index: ${JSON.stringify(indexText.slice(0, 40))}`);
    minIndex = Number(indexText);
  }
  if (minIndex === 0) return undefined;
  return { minIndex, waitMs: blockingWaitMs(waitMs, random) };
}

/** The wait a blocking query gets for a requested one: default for ≤ 0, capped at the maximum, plus jitter. */
export function blockingWaitMs(requestedMs: number, random: () => number = Math.random): number {
  const baseMs = requestedMs <= 0 ? BLOCKING_WAIT_DEFAULT_MS : Math.min(requestedMs, BLOCKING_WAIT_MAX_MS);
  return baseMs + Math.floor(random() * (baseMs / BLOCKING_JITTER_FRACTION));
}

/**
 * `?stale`, `?consistent` or neither (bare flags; any value counts, as in
 * Consul). `?leader` asks for the default explicitly. `?max_stale=D` with a
 * positive duration allows stale reads too. Both `?stale` and `?consistent`
 * is HttpError 400 with Consul's message.
 */
export function parseConsistencyMode(query: URLSearchParams): ConsistencyMode {
  let stale = query.has('stale');
  const consistent = query.has('consistent');
  const maxStale = query.get('max_stale');
  if (maxStale !== null && maxStale !== '') {
    let maxStaleMs: number;
    try {
      maxStaleMs = parseDurationMs(maxStale);
    } catch (error) {
      if (error instanceof DurationError) throw new HttpError(400, `Invalid max_stale value ${JSON.stringify(maxStale.slice(0, 40))}`);
      throw error;
    }
    if (maxStaleMs > 0) stale = true;
  }
  if (stale && consistent) throw new HttpError(400, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
  return consistent ? 'consistent' : stale ? 'stale' : 'default';
}

/** The X-Consul-* headers from the agent's view: its applied index (or the query's own), leader, lag. */
export function queryMeta(api: Pick<AgentApi, 'lastIndex' | 'knownLeader' | 'lastContactMs'>, index: number = api.lastIndex()): QueryMeta {
  return { index, knownLeader: api.knownLeader(), lastContactMs: api.lastContactMs() };
}

/** What a blocking endpoint waits on: the index its answer would carry, and a way to wait for it to move. */
export interface IndexWatch {
  /** The index the answer would carry now (per key prefix or service, where the state keeps one). */
  currentIndex(): number;
  /**
   * Resolve when currentIndex() may have moved past `index` (a spurious wake
   * is fine: the caller checks again). Must resolve or reject soon after
   * `signal` aborts, and drop its listener then, so that a thousand timed-out
   * watchers leave nothing behind.
   */
  waitForChange(index: number, signal: AbortSignal): Promise<void>;
}

/** Why a wait ended: the index moved past N (or the request did not block), the wait ran out, or the client left. */
export type WaitOutcome = 'changed' | 'timeout' | 'aborted';

/** The timer functions waitForIndex uses; tests pass a fake clock. */
export type BlockingTimers = {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
};

const realTimers: BlockingTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Reason given to waitForChange's signal when the wait ran out (never seen by clients). */
export class BlockingTimeout extends Error {
  override name = 'BlockingTimeout';
}

/**
 * Wait until `watch.currentIndex()` is past `query.minIndex`, the wait runs
 * out, or `signal` (the client's) aborts. Returns at once for a request that
 * does not block. Errors of waitForChange other than its abort propagate.
 */
export async function waitForIndex(
  query: BlockingQuery | undefined,
  watch: IndexWatch,
  signal: AbortSignal,
  timers: BlockingTimers = realTimers,
): Promise<WaitOutcome> {
  if (signal.aborted) return 'aborted';
  if (query === undefined || watch.currentIndex() > query.minIndex) return 'changed';
  const wait = new AbortController();
  const onClientAbort = () => wait.abort(signal.reason);
  signal.addEventListener('abort', onClientAbort, { once: true });
  let timedOut = false;
  const timer = timers.setTimeout(() => {
    timedOut = true;
    wait.abort(new BlockingTimeout(`blocking query waited ${query.waitMs} ms`));
  }, query.waitMs);
  try {
    while (true) {
      try {
        await watch.waitForChange(query.minIndex, wait.signal);
      } catch (error) {
        if (!wait.signal.aborted) throw error;
      }
      if (signal.aborted) return 'aborted';
      if (watch.currentIndex() > query.minIndex) return 'changed';
      if (timedOut) return 'timeout';
      // A spurious wake: let timers and I/O run before waiting again, so a
      // watch that resolves at once cannot starve the timer that ends this.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    timers.clearTimeout(timer);
    signal.removeEventListener('abort', onClientAbort);
    // Release whatever waitForChange still holds (listeners, queue slots).
    if (!wait.signal.aborted) wait.abort(new BlockingTimeout('blocking query answered'));
  }
}

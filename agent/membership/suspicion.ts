// Lifeguard's suspicion timer (memberlist's suspicion.go, without the clock):
// a suspected member is declared dead when the timer runs out, and the timer
// starts long and shrinks as independent members confirm the suspicion. A
// member that only one prober could not reach (the prober's own link is bad)
// gets the full `max` to refute; a crash seen by k probers is declared after
// about `min`. Time is passed in, so the timer is a deadline, not a callback.

/**
 * The minimum suspicion timeout: multiplier * max(1, log10(n)) * interval.
 * Grows with log n because an update takes O(log n) rounds to reach everyone,
 * and the suspect must hear of the suspicion to refute it.
 */
export function suspicionTimeoutMs(suspicionMultiplier: number, clusterSize: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, clusterSize)));
  // memberlist keeps three decimals of the scale before multiplying; so do we, to land on the same milliseconds.
  return Math.floor((suspicionMultiplier * Math.floor(nodeScale * 1000) * probeIntervalMs) / 1000);
}

/**
 * The whole timeout after `confirmations` of the `expected` k: it falls
 * logarithmically from max (none) to min (k or more),
 * max - (max - min) * log(confirmations + 1) / log(k + 1), never below min.
 */
export function suspicionTimeoutAfterMs(confirmations: number, expected: number, minMs: number, maxMs: number): number {
  if (expected < 1) return minMs;
  const fraction = Math.log(confirmations + 1) / Math.log(expected + 1);
  const raw = maxMs - fraction * (maxMs - minMs);
  return Math.max(minMs, Math.floor(raw));
}

/** Time left at `elapsedMs` after the suspicion started: memberlist's remainingSuspicionTime. May be negative (overdue). */
export function remainingSuspicionMs(confirmations: number, expected: number, elapsedMs: number, minMs: number, maxMs: number): number {
  return suspicionTimeoutAfterMs(confirmations, expected, minMs, maxMs) - elapsedMs;
}

/** One member's suspicion: who raised it, who confirmed it, when it runs out. */
export class Suspicion {
  readonly startedMs: number;
  /** k: confirmations that bring the timeout down to `minMs`. 0: start at min. */
  readonly expected: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Members that suspected independently, the originator included: each counts once. */
  private readonly confirmedBy = new Set<string>();
  private confirmations = 0;

  constructor(from: string, expected: number, minMs: number, maxMs: number, startedMs: number) {
    if (!(minMs > 0 && maxMs >= minMs)) throw new RangeError(`suspicion timeouts must satisfy 0 < min <= max, got ${minMs}, ${maxMs}`);
    this.startedMs = startedMs;
    this.expected = expected < 1 ? 0 : expected;
    this.minMs = minMs;
    this.maxMs = this.expected === 0 ? minMs : maxMs;
    this.confirmedBy.add(from);
  }

  /**
   * Records an independent suspicion from `from`. True if it was new and counted
   * (the caller re-gossips it so more members learn it); false for the
   * originator, a repeat, or once k confirmations are in.
   */
  confirm(from: string): boolean {
    if (this.confirmations >= this.expected) return false;
    if (this.confirmedBy.has(from)) return false;
    this.confirmedBy.add(from);
    this.confirmations++;
    return true;
  }

  confirmationCount(): number {
    return this.confirmations;
  }

  /** When the member is to be declared dead, given the confirmations so far. */
  deadlineMs(): number {
    return this.startedMs + suspicionTimeoutAfterMs(this.confirmations, this.expected, this.minMs, this.maxMs);
  }
}

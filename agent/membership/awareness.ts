// Lifeguard's local health awareness (memberlist's awareness.go). A member
// whose own probes keep failing without nacks from healthy peers, or that has
// to refute suspicions of itself, is probably the one in trouble (overloaded,
// starved of CPU, bad link). It raises its score and stretches its probe period
// and timeout, so it accuses others more slowly; successful probes lower it.
//
// The deltas, as in memberlist:
//   probe acked (directly or through an intermediary)   -1
//   probe failed, k nacks expected, j received         +(k - j)
//   probe failed, no nack expected (nobody to ask)      +1
//   had to refute a suspicion or death of itself        +1

export class Awareness {
  /** Scores run from 0 (healthy) to maxMultiplier - 1. */
  readonly maxMultiplier: number;
  private score = 0;

  constructor(maxMultiplier: number) {
    if (!Number.isSafeInteger(maxMultiplier) || maxMultiplier < 1) throw new RangeError(`awareness max multiplier must be a positive integer, got ${maxMultiplier}`);
    this.maxMultiplier = maxMultiplier;
  }

  /** Adds `delta` to the score, clamped to [0, maxMultiplier - 1]. */
  applyDelta(delta: number): void {
    this.score = Math.min(this.maxMultiplier - 1, Math.max(0, this.score + delta));
  }

  healthScore(): number {
    return this.score;
  }

  /** `timeoutMs * (score + 1)`: the probe period and timeout at the current health. */
  scaleTimeout(timeoutMs: number): number {
    return timeoutMs * (this.score + 1);
  }
}

// Randomness as an input. The Raft core and the membership core never call
// Math.random: they take a Prng. The simulator seeds one per node from the run's
// seed so any run replays exactly; the agent seeds from crypto at start-up.

export interface Prng {
  /** A uniformly distributed integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
  /** A uniformly distributed float in [0, 1). */
  nextFloat(): number;
}

/** SplitMix32-style generator (Mulberry32): tiny, fast, good enough for timeouts and test schedules. Not for keys. */
export class SeededPrng implements Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextFloat(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let mixed = this.state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  }

  nextInt(maxExclusive: number): number {
    return Math.floor(this.nextFloat() * maxExclusive);
  }

  /** A child generator whose sequence depends on this one's seed and `salt`, so nodes get independent streams. */
  fork(salt: number): SeededPrng {
    return new SeededPrng((this.nextInt(0x7fffffff) ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0);
  }
}

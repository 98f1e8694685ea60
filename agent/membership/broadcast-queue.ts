// The transmit-limited queue of updates to piggyback (memberlist's queue.go).
// Every member that learns an update piggybacks it on its next probe messages
// a limited number of times, retransmitMultiplier * ceil(log10(n + 1)): enough
// for an epidemic to reach all n members with high probability, few enough that
// the bytes per probe stay bounded. Updates transmitted fewer times go first;
// a newer update about a node replaces the queued one (only the latest state
// of a node is worth spreading), so the queue holds at most one entry per node.

/** How many times each member piggybacks an update in a cluster of `clusterSize`. */
export function retransmitLimit(retransmitMultiplier: number, clusterSize: number): number {
  return retransmitMultiplier * Math.ceil(Math.log10(clusterSize + 1));
}

/** Consecutive updates too big for what is left of a message's budget before `take` stops looking. */
const MISFITS_MAX = 16;

type Queued<T> = { key: string; item: T; sizeBytes: number; transmits: number };

export class BroadcastQueue<T> {
  readonly multiplier: number;
  private readonly byKey = new Map<string, Queued<T>>();
  /** buckets[t]: entries sent t times so far, oldest first (Map keeps insertion order). */
  private readonly buckets: Map<string, Queued<T>>[] = [];

  constructor(retransmitMultiplier: number) {
    if (!(Number.isSafeInteger(retransmitMultiplier) && retransmitMultiplier >= 1)) throw new RangeError(`retransmit multiplier must be a positive integer, got ${retransmitMultiplier}`);
    this.multiplier = retransmitMultiplier;
  }

  /** Queues `item` about `key`, replacing (invalidating) whatever was queued about it. */
  queue(key: string, item: T, sizeBytes: number): void {
    if (!(Number.isSafeInteger(sizeBytes) && sizeBytes > 0)) throw new RangeError(`broadcast size must be a positive integer, got ${sizeBytes}`);
    this.remove(key);
    const entry: Queued<T> = { key, item, sizeBytes, transmits: 0 };
    this.byKey.set(key, entry);
    this.bucket(0).set(key, entry);
  }

  /** Drops whatever is queued about `key`. */
  remove(key: string): void {
    const entry = this.byKey.get(key);
    if (entry === undefined) return;
    this.byKey.delete(key);
    this.buckets[entry.transmits]!.delete(key);
  }

  /**
   * Takes the updates for one outgoing message: least-transmitted first, as many
   * as fit in `budgetBytes` (at most `maxItems`). Each taken update counts one
   * transmission and leaves the queue at the limit for `clusterSize`.
   */
  take(budgetBytes: number, clusterSize: number, maxItems: number): T[] {
    const limit = Math.max(1, retransmitLimit(this.multiplier, clusterSize));
    const taken: Queued<T>[] = [];
    let remaining = budgetBytes;
    // Bounded work per message: once this many updates in a row did not fit, the budget is as good as full.
    let misfits = 0;
    scan: for (let transmits = 0; transmits < this.buckets.length; transmits++) {
      for (const entry of this.buckets[transmits]!.values()) {
        if (taken.length >= maxItems || remaining <= 0 || misfits >= MISFITS_MAX) break scan;
        if (entry.sizeBytes > remaining) {
          misfits++;
          continue;
        }
        misfits = 0;
        taken.push(entry);
        remaining -= entry.sizeBytes;
      }
    }
    // Move after choosing, so an entry cannot be picked twice for one message.
    for (const entry of taken) {
      this.buckets[entry.transmits]!.delete(entry.key);
      entry.transmits++;
      if (entry.transmits >= limit) this.byKey.delete(entry.key);
      else this.bucket(entry.transmits).set(entry.key, entry);
    }
    return taken.map((entry) => entry.item);
  }

  /** Updates still to send. */
  size(): number {
    return this.byKey.size;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** How many times the update about `key` has been sent, or -1 if none is queued. */
  transmitsOf(key: string): number {
    return this.byKey.get(key)?.transmits ?? -1;
  }

  private bucket(transmits: number): Map<string, Queued<T>> {
    while (this.buckets.length <= transmits) this.buckets.push(new Map());
    return this.buckets[transmits]!;
  }
}

// What the leader knows about each follower's log, and the flow control that
// lets it pipeline Append messages (etcd-io/raft's tracker/). A follower is in
// one of three states:
//   probe     — the leader does not know where the logs match; it sends one
//               Append and waits for the answer (or the next heartbeat).
//   replicate — logs match up to `match`; the leader streams Appends
//               optimistically, at most `maxInflightMsgs` unacknowledged.
//   snapshot  — the follower needs entries that were compacted; the leader
//               sends the snapshot chunk by chunk and sends no Appends.

import type { Snapshot } from '../protocol/raft.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A ring buffer of the last index of each in-flight Append. */
export class Inflights {
  readonly capacity: number;
  private readonly buffer: number[];
  private start = 0;
  count = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.buffer = new Array<number>(capacity).fill(0);
  }

  add(lastIndex: number): void {
    if (this.full()) throw new Error('inflights: add to a full window');
    this.buffer[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Free every in-flight message whose last index is at or below `index` (acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

/** An outgoing snapshot transfer: which snapshot and the next byte offset to send. */
export type SnapshotTransfer = {
  snapshot: Snapshot;
  offset: number;
  /** Tick of the last chunk sent or acknowledged, to resend after a loss without flooding. */
  lastActivityTick: number;
};

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an Append is outstanding; wait for its answer or a heartbeat response. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  snapshotTransfer: SnapshotTransfer | null = null;
  /** Heard from since the last check-quorum. */
  recentActive = true;
  isLearner: boolean;
  /** Leader tick of the newest heartbeat this follower acknowledged (lease reads). */
  leaseAckTick = -Infinity;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTransfer = null;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** An acknowledgement up to `index`. Returns whether `match` moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** Entries up to `lastIndex` were sent (replicate state): the next Append starts after them. */
  optimisticUpdate(lastIndex: number): void {
    this.next = lastIndex + 1;
  }

  /**
   * The follower rejected an Append at `rejected`; `matchHint` is its guess of
   * the highest index that might match. Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}

// Linearizable reads without a log write (Raft thesis §6.4). A read request
// records the commit index at the time it arrives; the leader confirms it is
// still leader by a heartbeat round that carries the request's context; once a
// quorum acknowledges, every request up to that one may be served at its
// recorded index. Requests are answered in arrival order.

import type { Message } from '../protocol/raft.ts';

export type ReadIndexStatus = {
  /** The request: its context and who asked (the leader itself or a follower). */
  request: Message;
  /** The commit index when the request arrived: serve the read once applied ≥ index. */
  index: number;
  acks: Set<string>;
};

/** A key for a context byte string that a Map can use. */
export function contextKey(context: Uint8Array): string {
  let key = '';
  for (let i = 0; i < context.length; i++) key += String.fromCharCode(context[i]!);
  return key;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  addRequest(index: number, request: Message): void {
    const key = contextKey(request.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { request, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Record a heartbeat acknowledgement; returns the acks so far, or undefined for an unknown context. */
  recvAck(from: string, context: Uint8Array): Set<string> | undefined {
    const status = this.pending.get(contextKey(context));
    if (!status) return undefined;
    status.acks.add(from);
    return status.acks;
  }

  /** Release every request queued up to and including `context`. */
  advance(context: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(context);
    const position = this.queue.indexOf(key);
    if (position < 0) return [];
    const released = this.queue.slice(0, position + 1);
    this.queue = this.queue.slice(position + 1);
    const statuses: ReadIndexStatus[] = [];
    for (const releasedKey of released) {
      const status = this.pending.get(releasedKey);
      if (status) statuses.push(status);
      this.pending.delete(releasedKey);
    }
    return statuses;
  }

  lastPendingContext(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1]!)!.request.context;
  }

  pendingCount(): number {
    return this.queue.length;
  }

  /** Drop every pending request (leadership lost); returns them so the caller can fail them. */
  reset(): ReadIndexStatus[] {
    const dropped = this.queue.map((key) => this.pending.get(key)!);
    this.pending.clear();
    this.queue = [];
    return dropped;
  }
}

// The discrete-event engine: virtual time, one seeded PRNG from which every
// random choice derives, and the event loop that runs what the subsystems
// (network, gossip overlay, membership, Raft, clients, faults) schedule.
//
//   const sim = new Simulation({ seed: 42 });
//   const TICK = sim.defineEvent('tick', (target, source, aux, ref) => { ... sim.schedule(sim.nowMs + 100, TICK, target); });
//   sim.schedule(0, TICK, 0);
//   sim.run(60_000);
//
// Determinism. Nothing here reads a clock or Math.random. Every subsystem
// takes its generator from `sim.fork(salt)`, once, at construction, in a
// fixed order, so a seed names a whole run bit for bit. Events due in the
// same millisecond run in the order they were scheduled (see event-queue.ts).
// `eventLogHash` folds every dispatched event and every recorded fact into
// a 64-bit hash (two FNV-1a lanes): two runs with equal hashes took the same
// path, and the determinism test compares them.
//
// Node-local time. Each node may have a clock that drifts (rate and offset
// against virtual time): `localNowMs` and `virtualAtLocal` are how the
// drivers see and schedule a node's time. A node may also be overloaded
// (`setOverload`): every event addressed to it (kinds defined with
// `{ node: true }`) runs late by a random stall, in the order the events
// arrived, as work waits on a starved CPU: its timers fire late and its
// messages sit in the socket buffer. (Stalls delay, they do not add up: a
// queue that grew without bound would be a dead node, not a slow one.)

import { SeededPrng } from '../raft/prng.ts';
import { EventQueue } from './event-queue.ts';
import type { Distribution } from './distributions.ts';
import { sample } from './distributions.ts';

export type EventHandler = (target: number, source: number, aux: number, ref: unknown) => void;

export type SimulationOptions = {
  seed: number;
  /** Keep a text line per dispatched event and per `note` (for replay and small determinism tests). */
  trace?: boolean;
  /** Bound on trace lines kept (the oldest are dropped beyond it). */
  traceLinesMax?: number;
};

/** Per node: clock rate and offset against virtual time, and the overload model. */
export type NodeClock = {
  /** Local ms per virtual ms: 1.0001 runs 100 ppm fast. */
  rate: number;
  /** Local clock at virtual 0. */
  offsetMs: number;
};

const FNV_PRIME = 0x01000193;
/** Added to an event's kind once an overloaded node has deferred it (so it is not deferred twice). */
const DEFERRED = 128;

export class Simulation {
  readonly seed: number;
  readonly queue = new EventQueue();
  /** The root generator. Subsystems fork their own from it (`fork`), never draw from it directly during the run. */
  private readonly root: SeededPrng;
  private readonly handlers: EventHandler[] = [];
  private readonly eventNames: string[] = [];
  /** Per kind: whether `target` is a node (subject to its overload). */
  private readonly nodeEvents: boolean[] = [];
  private hashLow = 0x811c9dc5;
  private hashHigh = 0x050c5d1f;
  /** Events dispatched so far, and by kind. */
  eventsDispatched = 0;
  readonly eventsByKind = new Float64Array(256);
  readonly trace: string[] | null;
  private readonly traceLinesMax: number;
  private traceDropped = 0;
  private clocks: NodeClock[] = [];
  /** Overloaded nodes: the distribution of extra delay per event, and when each is next free. */
  private readonly overload = new Map<number, { stallMs: Distribution; busyUntilMs: number; prng: SeededPrng }>();
  private stopRequested = false;

  constructor(options: SimulationOptions) {
    if (!Number.isSafeInteger(options.seed)) throw new RangeError(`seed must be an integer, got ${options.seed}`);
    this.seed = options.seed;
    this.root = new SeededPrng(options.seed);
    this.trace = options.trace === true ? [] : null;
    this.traceLinesMax = options.traceLinesMax ?? 200_000;
  }

  get nowMs(): number {
    return this.queue.nowMs;
  }

  /** An independent generator for one subsystem or node. Call in a fixed order at set-up. */
  fork(salt: number): SeededPrng {
    return this.root.fork(salt);
  }

  /** Registers an event kind and returns its code. `node`: the target is a node, whose overload delays it. At most 127 kinds. */
  defineEvent(name: string, handler: EventHandler, options: { node?: boolean } = {}): number {
    if (this.handlers.length >= DEFERRED) throw new RangeError('too many event kinds');
    this.handlers.push(handler);
    this.eventNames.push(name);
    this.nodeEvents.push(options.node === true);
    return this.handlers.length - 1;
  }

  /** Schedules an event at virtual time `atMs` (rounded up to a whole millisecond, never before now). */
  schedule(atMs: number, kind: number, target: number, source = -1, aux = 0, ref: unknown = undefined): void {
    const at = Math.max(this.queue.nowMs, Math.ceil(atMs));
    this.queue.push(at, kind, target, source, aux, ref);
  }

  /**
   * Runs events until virtual time `untilMs` (inclusive) or until `stop()`.
   * `onProgress` is called about every `progressEveryEvents` events.
   */
  run(untilMs: number, onProgress: ((nowMs: number) => void) | null = null, progressEveryEvents = 200_000): void {
    const queue = this.queue;
    let sinceProgress = 0;
    this.stopRequested = false;
    while (!this.stopRequested) {
      const slot = queue.pop(untilMs);
      if (slot < 0) break;
      let kind = queue.kind[slot]!;
      const target = queue.target[slot]!;
      const source = queue.source[slot]!;
      const aux = queue.aux[slot]!;
      const ref = queue.refOf(slot);
      queue.release(slot);
      if (kind >= DEFERRED) {
        kind -= DEFERRED;
      } else if (this.overload.size > 0 && this.nodeEvents[kind] === true && this.overload.has(target)) {
        // An overloaded node takes this event up late, by a random stall, and never before what arrived earlier.
        const overload = this.overload.get(target)!;
        const runsAt = Math.max(overload.busyUntilMs, Math.ceil(queue.nowMs + sample(overload.stallMs, overload.prng)));
        overload.busyUntilMs = runsAt;
        queue.push(runsAt, kind + DEFERRED, target, source, aux, ref);
        continue;
      }
      this.eventsDispatched++;
      this.eventsByKind[kind]!++;
      this.mix(kind, target, queue.nowMs);
      if (this.trace !== null) this.traceLine(`${queue.nowMs} ${this.eventNames[kind]} ${target}${source >= 0 ? ` <${source}` : ''}`);
      this.handlers[kind]!(target, source, aux, ref);
      if (onProgress !== null && ++sinceProgress >= progressEveryEvents) {
        sinceProgress = 0;
        onProgress(queue.nowMs);
      }
    }
  }

  /** Dispatch counts by event name. */
  eventCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    this.eventNames.forEach((name, kind) => {
      if (this.eventsByKind[kind]! > 0) counts[name] = this.eventsByKind[kind]!;
    });
    return counts;
  }

  /** Ends `run` after the current event. */
  stop(): void {
    this.stopRequested = true;
  }

  /** Folds a fact into the event-log hash (and the trace): what happened, to whom, when. */
  note(code: number, a: number, b: number, text: string | null = null): void {
    this.mix(code, a, b);
    if (this.trace !== null && text !== null) this.traceLine(`${this.nowMs} ${text}`);
  }

  /** The event log's 64-bit hash as 16 hex digits. */
  eventLogHash(): string {
    return (this.hashHigh >>> 0).toString(16).padStart(8, '0') + (this.hashLow >>> 0).toString(16).padStart(8, '0');
  }

  traceDroppedLines(): number {
    return this.traceDropped;
  }

  // ---------------------------------------------------------------- node-local time

  /** Sets node `node`'s clock (default: exact). */
  setClock(node: number, clock: NodeClock): void {
    if (!(clock.rate > 0)) throw new RangeError(`clock rate must be positive, got ${clock.rate}`);
    this.clocks[node] = clock;
  }

  /** Node `node`'s clock now, in whole local milliseconds (monotonic). */
  localNowMs(node: number): number {
    const clock = this.clocks[node];
    if (clock === undefined) return this.nowMs;
    return Math.floor(clock.offsetMs + clock.rate * this.nowMs);
  }

  /** The earliest virtual millisecond at which node `node`'s clock reads at least `localMs`. */
  virtualAtLocal(node: number, localMs: number): number {
    const clock = this.clocks[node];
    if (clock === undefined) return Math.ceil(localMs);
    let at = Math.ceil((localMs - clock.offsetMs) / clock.rate);
    // Guard the float division: step until the local clock really reads localMs.
    while (Math.floor(clock.offsetMs + clock.rate * at) < localMs) at++;
    return Math.max(at, this.nowMs);
  }

  /** Marks node `node` overloaded: each of its events runs `stallMs` late, in arrival order. Null ends it. */
  setOverload(node: number, stallMs: Distribution | null): void {
    if (stallMs === null) this.overload.delete(node);
    else this.overload.set(node, { stallMs, busyUntilMs: this.nowMs, prng: this.fork(0x0f10ad + node) });
  }

  isOverloaded(node: number): boolean {
    return this.overload.has(node);
  }


  // ---------------------------------------------------------------- plumbing

  private mix(a: number, b: number, c: number): void {
    let low = this.hashLow;
    let high = this.hashHigh;
    low = Math.imul(low ^ (a & 0xffff), FNV_PRIME);
    low = Math.imul(low ^ ((a >>> 16) & 0xffff), FNV_PRIME);
    low = Math.imul(low ^ (b & 0xffff), FNV_PRIME);
    low = Math.imul(low ^ ((b >>> 16) & 0xffff), FNV_PRIME);
    const cLow = c % 4294967296;
    const cHigh = (c - cLow) / 4294967296;
    high = Math.imul(high ^ (cLow & 0xffff) ^ (low >>> 9), FNV_PRIME);
    high = Math.imul(high ^ (cLow >>> 16) ^ (cHigh & 0xffff), FNV_PRIME);
    this.hashLow = low;
    this.hashHigh = high;
  }

  private traceLine(line: string): void {
    const trace = this.trace!;
    if (trace.length < this.traceLinesMax) {
      trace.push(line);
      return;
    }
    // A ring of the last lines: a failing run's end is what a replay needs.
    trace[this.traceDropped % this.traceLinesMax] = line;
    this.traceDropped++;
  }

  /** The trace in order (the ring unrolled). */
  traceLines(): string[] {
    const trace = this.trace ?? [];
    if (this.traceDropped === 0) return trace.slice();
    const start = this.traceDropped % this.traceLinesMax;
    return [...trace.slice(start), ...trace.slice(0, start)];
  }
}

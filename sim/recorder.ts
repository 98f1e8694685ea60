// What happened in a run, as the checkers and reports need it: the ground
// truth (which nodes were down, partitioned, overloaded, and when) and what
// each node believed (the membership events its core emitted). From the two
// it derives, cheaply enough for 10,000 nodes:
//
// - per tracked change (a crash, a restart, a leave), when each observer
//   learned it: the convergence curve and the detection-time histogram;
// - every death of a member that was up and reachable, classified as false
//   (a healthy member declared dead) or degraded (the member was overloaded);
// - suspicions of healthy members (refuted ones included);
// - a time series of how many members each node sees alive (join storms).
//
// "Justified" deaths: a member declared dead by an observer at time t is
// justified if, within the window [t - justifyWindowMs, t], it was down, or
// a partition separated it from that observer. The window must exceed the
// longest suspicion timeout plus dissemination; the runner sets it from the
// membership configuration.

import type { MemberEventType } from '../agent/membership/membership-core.ts';
import { MemberState } from '../protocol/membership.ts';
import type { Simulation } from './engine.ts';

export const EVENT_CODES: Readonly<Record<MemberEventType, number>> = Object.freeze({
  joined: 1, alive: 2, suspect: 3, failed: 4, left: 5, updated: 6, reaped: 7,
});

/** The state an event leaves the subject in, from the observer's side; -1 for no change. */
const STATE_AFTER: Record<MemberEventType, number> = {
  joined: MemberState.Alive, alive: MemberState.Alive, updated: MemberState.Alive,
  suspect: MemberState.Suspect, failed: MemberState.Dead, left: MemberState.Left, reaped: -1,
};
const UNKNOWN = 255;

/** A change whose spread is measured: `subject` crashed (expect failed), left (expect left) or came back (expect alive) at `atMs`. */
export type TrackedChange = {
  id: number;
  subject: number;
  expect: 'failed' | 'left' | 'alive';
  atMs: number;
  label: string;
  /** Per observer: ms after `atMs` at which it learned, or NaN. */
  learnedAfterMs: Float64Array;
};

export type DeathRecord = { observer: number; subject: number; atMs: number };

type Interval = { startMs: number; endMs: number };
type PartitionRecord = { side: Uint8Array; oneWay: boolean; startMs: number; endMs: number };

export type RecorderOptions = {
  nodes: number;
  justifyWindowMs: number;
  /** Record the alive-count time series every this many ms (0: off). */
  sampleEveryMs: number;
};

export class Recorder {
  readonly nodes: number;
  readonly justifyWindowMs: number;
  private readonly sim: Simulation;
  private readonly downIntervals: Interval[][];
  private readonly overloadIntervals: Interval[][];
  private readonly partitions: PartitionRecord[] = [];
  private readonly openPartitions = new Map<number, PartitionRecord>();
  /** For watched subjects: each observer's current state of it. */
  private readonly views = new Map<number, Uint8Array>();
  readonly changes: TrackedChange[] = [];
  private readonly openChanges = new Map<number, TrackedChange[]>();
  readonly falseDeaths: DeathRecord[] = [];
  readonly degradedDeaths: DeathRecord[] = [];
  readonly justifiedDeaths: DeathRecord[] = [];
  /**
   * Deaths of members that this observer could reach but someone else could
   * not (a partition): SWIM's rules let a death at the current incarnation
   * spread to everyone until the member refutes it, so when a partition
   * heals each side briefly adopts the other side's verdicts about its own
   * members. Expected, reported apart.
   */
  readonly echoedDeaths: DeathRecord[] = [];
  /** Suspicions of members that were up, reachable and not overloaded. */
  falseSuspicions = 0;
  /** Counts of every event type, by code. */
  readonly eventCounts = new Float64Array(8);
  /** Time series: [ms, fraction of (observer, subject) pairs among up nodes seen alive]. */
  readonly aliveFraction: [number, number][] = [];
  /** Measurement starts here (after warm-up); events before only update views. */
  measureFromMs = 0;

  constructor(sim: Simulation, options: RecorderOptions) {
    this.sim = sim;
    this.nodes = options.nodes;
    this.justifyWindowMs = options.justifyWindowMs;
    this.downIntervals = Array.from({ length: options.nodes }, () => []);
    this.overloadIntervals = Array.from({ length: options.nodes }, () => []);
  }

  // ---------------------------------------------------------------- ground truth

  nodeDown(node: number): void {
    this.downIntervals[node]!.push({ startMs: this.sim.nowMs, endMs: Infinity });
    this.sim.note(200, node, 0, `node ${node} down`);
  }

  nodeUp(node: number): void {
    const last = this.downIntervals[node]!.at(-1);
    if (last !== undefined && last.endMs === Infinity) last.endMs = this.sim.nowMs;
    this.sim.note(201, node, 0, `node ${node} up`);
  }

  overloadStarted(node: number): void {
    this.overloadIntervals[node]!.push({ startMs: this.sim.nowMs, endMs: Infinity });
  }

  overloadEnded(node: number): void {
    const last = this.overloadIntervals[node]!.at(-1);
    if (last !== undefined && last.endMs === Infinity) last.endMs = this.sim.nowMs;
  }

  partitionStarted(ruleId: number, sideA: readonly number[], sideB: readonly number[] | null, oneWay: boolean): void {
    const side = new Uint8Array(this.nodes);
    if (sideB === null) side.fill(2);
    else for (const node of sideB) side[node] = 2;
    for (const node of sideA) side[node] = 1;
    const record: PartitionRecord = { side, oneWay, startMs: this.sim.nowMs, endMs: Infinity };
    this.partitions.push(record);
    this.openPartitions.set(ruleId, record);
    this.sim.note(202, ruleId, sideA.length, `partition ${ruleId}: ${sideA.length} nodes cut off${oneWay ? ' (one way)' : ''}`);
  }

  partitionHealed(ruleId: number): void {
    const record = this.openPartitions.get(ruleId);
    if (record === undefined) return;
    record.endMs = this.sim.nowMs;
    this.openPartitions.delete(ruleId);
    this.sim.note(203, ruleId, 0, `partition ${ruleId} healed`);
  }

  /** Whether `node` was down at any time in [fromMs, toMs]. */
  wasDown(node: number, fromMs: number, toMs: number): boolean {
    return overlaps(this.downIntervals[node]!, fromMs, toMs);
  }

  isDownNow(node: number): boolean {
    const last = this.downIntervals[node]!.at(-1);
    return last !== undefined && last.endMs === Infinity;
  }

  wasOverloaded(node: number, fromMs: number, toMs: number): boolean {
    return overlaps(this.overloadIntervals[node]!, fromMs, toMs);
  }

  /** Whether a partition separated `a` and `b` (either way) at any time in [fromMs, toMs]. */
  wereSeparated(a: number, b: number, fromMs: number, toMs: number): boolean {
    for (const record of this.partitions) {
      if (record.endMs < fromMs || record.startMs > toMs) continue;
      const sa = record.side[a]!;
      const sb = record.side[b]!;
      if (sa !== 0 && sb !== 0 && sa !== sb) return true;
    }
    return false;
  }

  /** Down intervals of a node (for reports). */
  downtimes(node: number): readonly Interval[] {
    return this.downIntervals[node]!;
  }

  // ---------------------------------------------------------------- observations

  /**
   * Follows every observer's view of `subject` from now on, starting from
   * `current(observer)` (the state it holds now, undefined if none).
   */
  watch(subject: number, current: (observer: number) => number | undefined): void {
    if (this.views.has(subject)) return;
    const view = new Uint8Array(this.nodes).fill(UNKNOWN);
    for (let observer = 0; observer < this.nodes; observer++) view[observer] = current(observer) ?? UNKNOWN;
    this.views.set(subject, view);
  }

  /** Measures how `subject`'s change (at now) spreads. Call after the fault is applied; `current` as for `watch`. */
  track(subject: number, expect: TrackedChange['expect'], label: string, current: (observer: number) => number | undefined): TrackedChange {
    this.watch(subject, current);
    const change: TrackedChange = {
      id: this.changes.length, subject, expect, atMs: this.sim.nowMs, label, learnedAfterMs: new Float64Array(this.nodes).fill(NaN),
    };
    // Observers already in the expected state know it from the start (a restart nobody noticed).
    const view = this.views.get(subject)!;
    for (let observer = 0; observer < this.nodes; observer++) {
      if (matches(view[observer]!, expect)) change.learnedAfterMs[observer] = 0;
    }
    this.changes.push(change);
    // A new change about the subject supersedes the earlier ones.
    this.openChanges.set(subject, [change]);
    return change;
  }

  memberEvent(observer: number, subject: number, type: MemberEventType): void {
    const now = this.sim.nowMs;
    const code = EVENT_CODES[type];
    this.sim.note(100 + code, observer, subject, this.sim.trace === null ? null : `n${observer + 1} sees n${subject + 1} ${type}`);
    const measuring = now >= this.measureFromMs;
    if (measuring) this.eventCounts[code]!++;
    const view = this.views.get(subject);
    const after = STATE_AFTER[type];
    if (view !== undefined && after >= 0) view[observer] = after;
    if (observer === subject) return;
    const open = this.openChanges.get(subject);
    if (open !== undefined && after >= 0) {
      for (const change of open) {
        if (Number.isNaN(change.learnedAfterMs[observer]!) && matches(after, change.expect)) change.learnedAfterMs[observer] = now - change.atMs;
      }
    }
    if (!measuring) return;
    if (type === 'failed') this.classifyDeath(observer, subject, now);
    else if (type === 'suspect' && !this.explained(observer, subject, now)) this.falseSuspicions++;
  }

  /** One point of the alive-fraction series: `aliveSeen` is the sum over up observers of the up members they see alive. */
  sampleAlive(aliveSeen: number, upCount: number): void {
    this.aliveFraction.push([this.sim.nowMs, upCount === 0 ? 1 : aliveSeen / (upCount * upCount)]);
  }

  private classifyDeath(observer: number, subject: number, now: number): void {
    const record: DeathRecord = { observer, subject, atMs: now };
    const from = now - this.justifyWindowMs;
    if (this.wasDown(subject, from, now) || this.wereSeparated(observer, subject, from, now)) {
      this.justifiedDeaths.push(record);
    } else if (this.wasOverloaded(subject, from, now)) {
      this.degradedDeaths.push(record);
    } else if (this.wasPartitioned(subject, from, now)) {
      this.echoedDeaths.push(record);
    } else {
      this.falseDeaths.push(record);
      this.sim.note(210, observer, subject, `FALSE DEATH: ${observer} declared ${subject} dead`);
    }
  }

  private explained(observer: number, subject: number, now: number): boolean {
    const from = now - this.justifyWindowMs;
    return this.wasDown(subject, from, now) || this.wasPartitioned(subject, from, now) || this.wasOverloaded(subject, from, now);
  }

  /** Whether some partition cut `node` off from some other nodes at any time in [fromMs, toMs]. */
  wasPartitioned(node: number, fromMs: number, toMs: number): boolean {
    for (const record of this.partitions) {
      if (record.endMs < fromMs || record.startMs > toMs) continue;
      if (record.side[node] !== 0) return true;
    }
    return false;
  }
}

function matches(state: number, expect: TrackedChange['expect']): boolean {
  switch (expect) {
    case 'failed': return state === MemberState.Dead || state === MemberState.Left;
    case 'left': return state === MemberState.Left;
    case 'alive': return state === MemberState.Alive;
  }
}

function overlaps(intervals: readonly Interval[], fromMs: number, toMs: number): boolean {
  for (let i = intervals.length - 1; i >= 0; i--) {
    const interval = intervals[i]!;
    if (interval.startMs <= toMs && interval.endMs >= fromMs) return true;
    if (interval.endMs < fromMs) return false;
  }
  return false;
}

// A linearizability checker for recorded client histories (Wing & Gong's
// search, with Lowe's cache of visited configurations, as implemented by
// Porcupine: anishathalye/porcupine, checker.go).
//
// Given a sequential specification (a `Model`) and a history of operations,
// each with the logical time at which it was invoked and the time at which it
// returned, the checker searches for a total order of the operations that
// (1) respects real time: if A returned before B was invoked, A comes first,
// and (2) is legal for the model: each operation's output is what the model
// produces from the state left by the operations before it. If it finds one,
// the history is linearizable.
//
//   const recorder = new HistoryRecorder<KvInput, KvOutput>();
//   const put = recorder.invoke('client-1', kv.put('a', '1'), now);
//   recorder.complete(put, null, now + 3);
//   const get = recorder.invoke('client-2', kv.get('a'), now + 4);
//   recorder.complete(get, '1', now + 5);
//   const verdict = checkLinearizability(kvModel, recorder.history());
//   if (verdict.result === 'illegal') throw new Error(verdict.explanation);
//
// How the search works (why it is fast enough for thousands of operations):
// - The history becomes a doubly linked list of call and return entries in
//   time order. Any call that appears before the first remaining return entry
//   may be linearized next (it was invoked before the earliest pending
//   operation returned). Linearizing an operation lifts its call and return
//   entries out of the list; backtracking puts them back (dancing links).
// - Hitting a return entry means the operation that returned there cannot be
//   postponed any further: the search backtracks to the last choice.
// - A cache of (set of linearized operations, model state) prunes
//   configurations already explored: two paths that linearized the same set of
//   operations and reached the same state have the same future.
// - P-compositionality: linearizability is local, so a history over many
//   independent objects (keys) is linearizable iff each object's sub-history
//   is. `Model.partition` splits the history, and each part is searched alone:
//   exponential in the concurrency of one key, not of the whole history.
// - Reads go first (beyond Porcupine). An operation the model declares
//   read-only (`Model.readOnly`) that is legal in the current state can be
//   linearized right away without losing any valid order (the argument is at
//   the backtracking step below). So each configuration first looks for such
//   a read and, if it finds one, takes it as its only move; only if there is
//   none are the writes tried, one by one. Reads then never multiply the
//   branches: on histories with about ten operations in flight per key this
//   cuts the search from millions of steps to tens of thousands, and on a
//   non-linearizable history (where the search must be exhaustive) by more.
//
// Operations that never returned (the client crashed or timed out) may or may
// not have taken effect. They are recorded with `return: Infinity` and output
// `unknownOutput`, which the model's `step` must accept from any state in which
// the input is applicable. Their return entry sorts last, so the search may
// linearize them anywhere after their call, including after everything else,
// which is how "it never took effect" is explained.
//
// Timestamps that are equal count as concurrent: a call at time t and a return
// at time t are ordered call first (as Porcupine does), so an operation invoked
// at the same tick another returned may be linearized before it. A checker must
// never call a correct history illegal, so ambiguity is resolved towards
// acceptance. `HistoryRecorder` avoids the ambiguity: it stamps events with a
// strictly increasing sequence number in the order it saw them.
//
// The search is exponential in the worst case, so it runs under a budget: a
// number of search steps (deterministic, what the simulator should use so that a
// replayed seed gives the same verdict) and optionally a wall-clock timeout.
// When the budget runs out the verdict is 'unknown', never a guess.

import { inspect } from 'node:util';

// ---------------------------------------------------------------------------
// Histories

/** The output of an operation whose response was never seen. A model's `step` receives it and must decide what the operation could have done. */
export const unknownOutput: unique symbol = Symbol('linearizability.unknownOutput');
export type UnknownOutput = typeof unknownOutput;

export type ClientId = number | string;

/**
 * One client operation. `call` and `return` are logical timestamps (a virtual
 * clock or a global counter; only their order matters). An operation that never
 * returned has `return: Infinity` and `output: unknownOutput`.
 */
export type Operation<Input, Output> = {
  readonly clientId: ClientId;
  readonly input: Input;
  readonly output: Output | UnknownOutput;
  readonly call: number;
  readonly return: number;
  /** Virtual time of the invocation, when recorded by `HistoryRecorder`; for explanations only. */
  readonly invokedAt?: number;
  /** Virtual time of the response, when recorded by `HistoryRecorder`; for explanations only. */
  readonly completedAt?: number;
};

export function isUnknownOutput(output: unknown): output is UnknownOutput {
  return output === unknownOutput;
}

// ---------------------------------------------------------------------------
// Models

export type StepResult<State> = {
  /** Whether `output` is a possible result of applying `input` to the state. */
  ok: boolean;
  /** The state after the operation; ignored when `ok` is false. */
  next: State;
};

/**
 * A sequential specification. States are values: `step` must not mutate the
 * state it is given (the search keeps old states to backtrack to and to cache).
 */
export interface Model<State, Input, Output> {
  /** The state before any operation. */
  init(): State;
  /**
   * Applies one operation. With a known output, answers whether the model can
   * produce it and the next state. With `unknownOutput` (an operation that may or
   * may not have happened, linearized here on the "it happened" branch), returns
   * ok and the state the operation leads to; ok false only if the input cannot
   * apply at all. Must be deterministic.
   */
  step(state: State, input: Input, output: Output | UnknownOutput): StepResult<State>;
  /**
   * Splits the history into independent sub-histories (one per key, typically),
   * each checked alone. Must return every operation exactly once (the same
   * objects, not copies). Omit it for a model whose operations all touch one
   * object.
   */
  partition?(history: readonly Operation<Input, Output>[]): Operation<Input, Output>[][];
  /**
   * A canonical encoding: equal strings if and only if the states are equal.
   * The fastest option: states are interned by it, and the cache compares
   * integers. When present, `equal` is not used.
   */
  hash?(state: State): string;
  /** State equality for the cache when there is no `hash`. Default `Object.is`: correct, but then the cache only prunes configurations that reached the very same state object. */
  equal?(a: State, b: State): boolean;
  /**
   * True if the operation, with this output, leaves every state it is legal in
   * unchanged: a read, or a compare-and-swap that reported failure. Must hold for
   * every state, not just some (a put of the current value does not qualify).
   * Two uses: an unreturned read-only operation constrains nothing and is dropped
   * before the search; and a read-only operation that is legal now may be
   * linearized first without losing any order, so its alternatives are not
   * searched. Omitting it is always correct, only slower.
   */
  readOnly?(input: Input, output: Output | UnknownOutput): boolean;
  /** One operation, for explanations, e.g. `get("a") -> "1"`. */
  describeOperation?(input: Input, output: Output | UnknownOutput): string;
  /** One state, for explanations. */
  describeState?(state: State): string;
}

/** A `Model.partition` that groups operations by a key, in order of first appearance. */
export function partitionBy<Input, Output>(
  keyOf: (input: Input) => string,
): (history: readonly Operation<Input, Output>[]) => Operation<Input, Output>[][] {
  return (history) => {
    const groups = new Map<string, Operation<Input, Output>[]>();
    for (const operation of history) {
      const key = keyOf(operation.input);
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = []));
      group.push(operation);
    }
    return [...groups.values()];
  };
}

// ---------------------------------------------------------------------------
// Verdicts

export type CheckOptions = {
  /**
   * Search steps allowed across all partitions (one step = one list entry
   * visited). Deterministic, unlike a timeout. With `kvModel` a step costs 100
   * to 200 ns (more as the cache of visited configurations grows), so the
   * default of 20 million is a few seconds at most. The cache holds at most one
   * entry per step: memory grows with the steps spent.
   */
  maxSteps?: number;
  /** Wall-clock budget in milliseconds. Default: none (only `maxSteps`). Makes the verdict depend on the machine. */
  timeoutMs?: number;
  /** The clock `timeoutMs` is measured with. Default `performance.now`. */
  now?: () => number;
};

/** Why a history is not linearizable: the deepest the search got in the partition that failed. */
export type IllegalDetail<State> = {
  /** Index of the failing partition, in the order `Model.partition` returned them. */
  partition: number;
  partitions: number;
  /** History indices of the operations of the failing partition. */
  partitionOperations: number[];
  /** History indices of the longest linearizable prefix found, in linearization order. */
  prefix: number[];
  /** Model state after `prefix`. */
  state: State;
  /** History index of the operation that could not be placed after `prefix`: it returned before any remaining operation could be linearized. */
  blocking: number;
  /** History indices of the operations that were candidates to go next after `prefix` (invoked before `blocking` returned), with whether the model accepted each from `state`. */
  candidates: { operation: number; accepted: boolean }[];
};

type VerdictCommon = {
  /** Search steps spent. */
  steps: number;
  /** Number of independent sub-histories. */
  partitions: number;
  /** Operations searched (unreturned read-only operations are dropped first). */
  operations: number;
};

export type CheckResult<State> =
  | (VerdictCommon & {
      result: 'ok';
      /** For each partition, a linearization: history indices in order. */
      linearizations: number[][];
    })
  | (VerdictCommon & {
      result: 'illegal';
      illegal: IllegalDetail<State>;
      /** A readable account of `illegal`. */
      explanation: string;
    })
  | (VerdictCommon & {
      result: 'unknown';
      /** Which budget ran out, and where. */
      explanation: string;
    });

// ---------------------------------------------------------------------------
// The checker

const defaultMaxSteps = 20_000_000;
/** How many steps between two reads of the clock when `timeoutMs` is set. */
const stepsPerClockRead = 4096;
/** Lines of prefix and of candidates shown in an explanation; the full lists are in `IllegalDetail`. */
const explanationLinesMax = 10;

type Budget = {
  stepsLeft: number;
  deadline: number;
  now: () => number;
  exhausted: 'steps' | 'time' | null;
};

/** Checks that `history` is linearizable with respect to `model`. Never throws for an illegal history; throws for a malformed one (bad timestamps, a partition that loses operations). */
export function checkLinearizability<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): CheckResult<State> {
  const maxSteps = options.maxSteps ?? defaultMaxSteps;
  if (!(maxSteps >= 0)) throw new RangeError(`maxSteps must be a non-negative number, got ${maxSteps}`);
  const now = options.now ?? (() => performance.now());
  const budget: Budget = {
    stepsLeft: maxSteps,
    deadline: options.timeoutMs === undefined ? Infinity : now() + options.timeoutMs,
    now,
    exhausted: null,
  };

  const indexOf = new Map<Operation<Input, Output>, number>();
  const searched: Operation<Input, Output>[] = [];
  history.forEach((operation, index) => {
    validateOperation(operation, index);
    if (indexOf.has(operation)) throw new Error(`operation #${index} is the same object as #${indexOf.get(operation)}; record each operation once`);
    indexOf.set(operation, index);
    const droppable = operation.output === unknownOutput && model.readOnly?.(operation.input, unknownOutput) === true;
    if (!droppable) searched.push(operation);
  });

  const parts = model.partition ? model.partition(searched) : [searched.slice()];
  const partIndices = parts.map((part) => part.map((operation) => indexOf.get(operation)));
  assertIsPartition(partIndices, searched.length, history.length);
  const indicesOf = partIndices as number[][];

  // Smallest partitions first: an illegal key is usually found before a large one eats the budget.
  const order = parts.map((_, index) => index).sort((a, b) => parts[a]!.length - parts[b]!.length || a - b);
  const common = { partitions: parts.length, operations: searched.length };
  const linearizations: number[][] = new Array(parts.length);
  for (let checked = 0; checked < order.length; checked++) {
    const partIndex = order[checked]!;
    const operations = parts[partIndex]!;
    const indices = indicesOf[partIndex]!;
    const outcome = searchPartition(model, operations, budget);
    if (outcome.kind === 'ok') {
      linearizations[partIndex] = outcome.order.map((local) => indices[local]!);
      continue;
    }
    const steps = maxSteps - budget.stepsLeft;
    if (outcome.kind === 'unknown') {
      const spent = budget.exhausted === 'time' ? `time budget of ${options.timeoutMs} ms` : `step budget of ${maxSteps} steps`;
      const explanation = `linearizability unknown: the ${spent} ran out in a partition of ${operations.length} operations ` +
        `after ${checked} of ${parts.length} partitions were found linearizable`;
      return { result: 'unknown', steps, ...common, explanation };
    }
    const local = outcome.deepest;
    const prefixSet = new Set(local.prefix);
    const blockingReturnRank = outcome.returnRank[local.blocking]!;
    const candidates: { operation: number; accepted: boolean }[] = [];
    for (let op = 0; op < operations.length; op++) {
      if (prefixSet.has(op) || outcome.callRank[op]! > blockingReturnRank) continue;
      const operation = operations[op]!;
      candidates.push({ operation: indices[op]!, accepted: model.step(local.state, operation.input, operation.output).ok });
    }
    const illegal: IllegalDetail<State> = {
      partition: partIndex,
      partitions: parts.length,
      partitionOperations: indices.slice(),
      prefix: local.prefix.map((op) => indices[op]!),
      state: local.state,
      blocking: indices[local.blocking]!,
      candidates,
    };
    return { result: 'illegal', steps, ...common, illegal, explanation: explainIllegal(model, history, illegal) };
  }
  return { result: 'ok', steps: maxSteps - budget.stepsLeft, ...common, linearizations };
}

function validateOperation(operation: Operation<unknown, unknown>, index: number): void {
  const { call } = operation;
  const ret = operation.return;
  if (typeof call !== 'number' || !Number.isFinite(call)) throw new Error(`operation #${index}: call must be a finite number, got ${call}`);
  if (typeof ret !== 'number' || Number.isNaN(ret) || ret === -Infinity) throw new Error(`operation #${index}: return must be a number or Infinity, got ${ret}`);
  if (ret < call) throw new Error(`operation #${index}: returned at ${ret}, before its call at ${call}`);
}

function assertIsPartition(parts: (number | undefined)[][], searchedCount: number, historyCount: number): void {
  const seen = new Uint8Array(historyCount);
  let total = 0;
  for (const part of parts) {
    for (const index of part) {
      if (index === undefined) throw new Error('Model.partition returned an operation that is not in the history');
      if (seen[index]) throw new Error(`Model.partition returned operation #${index} twice`);
      seen[index] = 1;
      total++;
    }
  }
  if (total !== searchedCount) throw new Error(`Model.partition returned ${total} operations of ${searchedCount}; it must return each exactly once`);
}

type Deepest<State> = { prefix: number[]; state: State; blocking: number };

type PartitionOutcome<State> =
  | { kind: 'ok'; order: number[] }
  | { kind: 'illegal'; deepest: Deepest<State>; callRank: Int32Array; returnRank: Int32Array }
  | { kind: 'unknown' };

/** A 32-bit pseudo-random value per operation, XORed together into the linearized set's hash (Zobrist hashing), so that linearizing or undoing one operation updates the hash in O(1). */
function zobrist(op: number): number {
  let mixed = Math.imul(op + 1, 0x9e3779b1) >>> 0;
  mixed = Math.imul(mixed ^ (mixed >>> 16), 0x85ebca6b);
  mixed = Math.imul(mixed ^ (mixed >>> 13), 0xc2b2ae35);
  return (mixed ^ (mixed >>> 16)) >>> 0;
}

/**
 * The configurations already explored: (set of linearized operations, state).
 * A chained hash table in typed arrays, because a hard search visits millions
 * of configurations and one object per configuration would leave the
 * collector most of the work. Entry e's set lives at bits[e * words ...].
 * States are compared by interned id when the model has `hash`, else by
 * `equal` (or `Object.is`) on the stored state.
 */
class VisitedSet<State> {
  size = 0;
  private readonly words: number;
  private readonly equal: (a: State, b: State) => boolean;
  private heads = new Int32Array(1024).fill(-1);
  private entryHash = new Uint32Array(1024);
  private entryNext = new Int32Array(1024);
  private entryStateId = new Int32Array(1024);
  private entryState: State[] = [];
  private bits: Uint32Array;

  constructor(words: number, equal: (a: State, b: State) => boolean) {
    this.words = words;
    this.equal = equal;
    this.bits = new Uint32Array(1024 * words);
  }

  /** Adds a configuration; false if it was already there. `stateId` is -1 when states are not interned. */
  add(linearized: Uint32Array, setHash: number, stateId: number, state: State): boolean {
    const words = this.words;
    const hash = (setHash ^ Math.imul(stateId + 2, 0x9e3779b1)) >>> 0;
    const bucket = hash & (this.heads.length - 1);
    for (let entry = this.heads[bucket]!; entry !== -1; entry = this.entryNext[entry]!) {
      if (this.entryHash[entry] !== hash || this.entryStateId[entry] !== stateId) continue;
      if (!sameWords(this.bits, entry * words, linearized, words)) continue;
      if (stateId !== -1 || this.equal(this.entryState[entry]!, state)) return false;
    }
    if (this.size === this.entryHash.length) this.grow();
    const entry = this.size++;
    this.entryHash[entry] = hash;
    this.entryStateId[entry] = stateId;
    if (stateId === -1) this.entryState[entry] = state;
    this.bits.set(linearized, entry * words);
    const head = hash & (this.heads.length - 1);
    this.entryNext[entry] = this.heads[head]!;
    this.heads[head] = entry;
    return true;
  }

  private grow(): void {
    const capacity = this.entryHash.length * 2;
    this.entryHash = resized(this.entryHash, capacity);
    this.entryNext = resized(this.entryNext, capacity);
    this.entryStateId = resized(this.entryStateId, capacity);
    this.bits = resized(this.bits, capacity * this.words);
    // Keep the load factor at most one: rehash into twice as many buckets.
    this.heads = new Int32Array(capacity).fill(-1);
    const mask = capacity - 1;
    for (let entry = 0; entry < this.size; entry++) {
      const head = this.entryHash[entry]! & mask;
      this.entryNext[entry] = this.heads[head]!;
      this.heads[head] = entry;
    }
  }
}

function resized<T extends Uint32Array | Int32Array>(array: T, length: number): T {
  const copy = new (array.constructor as new (length: number) => T)(length);
  copy.set(array);
  return copy;
}

function sameWords(arena: Uint32Array, offset: number, words: Uint32Array, count: number): boolean {
  for (let word = 0; word < count; word++) if (arena[offset + word] !== words[word]) return false;
  return true;
}

/** The depth-first search over one partition (Porcupine's checkSingle). Local op indices are positions in `operations`. */
function searchPartition<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  budget: Budget,
): PartitionOutcome<State> {
  const count = operations.length;
  const entryCount = 2 * count;

  // Entries in time order; entry = op * 2 + (1 if return). Calls before returns at equal times.
  const entries = Array.from({ length: entryCount }, (_, entry) => entry);
  const timeOf = (entry: number) => (entry & 1 ? operations[entry >> 1]!.return : operations[entry >> 1]!.call);
  entries.sort((a, b) => timeOf(a) - timeOf(b) || (a & 1) - (b & 1) || (a >> 1) - (b >> 1));

  // The linked list: node 0 is the head; node p + 1 is entries[p]. -1 is null.
  const next = new Int32Array(entryCount + 1);
  const prev = new Int32Array(entryCount + 1);
  const returnNodeOf = new Int32Array(entryCount + 1).fill(-1); // for call nodes, their return node; -1 for return nodes
  const opOf = new Int32Array(entryCount + 1).fill(-1);
  const callRank = new Int32Array(count);
  const returnRank = new Int32Array(count);
  const returnNodeOfOp = new Int32Array(count);
  for (let position = 0; position < entryCount; position++) {
    const entry = entries[position]!;
    const node = position + 1;
    opOf[node] = entry >> 1;
    if (entry & 1) {
      returnRank[entry >> 1] = position;
      returnNodeOfOp[entry >> 1] = node;
    } else {
      callRank[entry >> 1] = position;
    }
  }
  for (let node = 0; node <= entryCount; node++) {
    next[node] = node === entryCount ? -1 : node + 1;
    prev[node] = node - 1;
    if (node > 0 && (entries[node - 1]! & 1) === 0) returnNodeOf[node] = returnNodeOfOp[opOf[node]!]!;
  }

  const zobristOf = new Uint32Array(count);
  for (let op = 0; op < count; op++) zobristOf[op] = zobrist(op);

  const linearized = new Uint32Array(Math.ceil(count / 32));
  let linearizedHash = 0;
  const hash = model.hash;
  const visited = new VisitedSet<State>(linearized.length, model.equal ?? Object.is);
  // With `hash`, states are interned: equal states share an id and one object.
  const internedIds = new Map<string, number>();
  const internedStates: State[] = [];

  // The stack of choices: the call node linearized at each depth and the state before it.
  const stackNodes = new Int32Array(count);
  const stackStates: State[] = new Array(count);
  const stackStateIds = new Int32Array(count);
  // 1 where the operation linearized at that depth is read-only; see the backtracking below.
  const stackReadOnly = new Uint8Array(count);
  const readOnlyOf = new Uint8Array(count);
  if (model.readOnly) {
    for (let op = 0; op < count; op++) readOnlyOf[op] = model.readOnly(operations[op]!.input, operations[op]!.output) ? 1 : 0;
  }
  let depth = 0;
  let deepest: Deepest<State> | null = null;

  let state = model.init();
  let stateIdNow = -1; // the interned id of `state`, when the model has `hash`
  if (hash) {
    internedIds.set(hash(state), (stateIdNow = 0));
    internedStates.push(state);
  }
  let node = next[0]!;
  let backtracking = false; // set to backtrack again instead of trying the next sibling
  // Each configuration is scanned twice: first for a legal read-only operation
  // (taken alone, see the backtracking below), then, if there is none, for the
  // other operations. The second scan skips read-only ones: none was legal here.
  const hasReadOnly = model.readOnly !== undefined;
  let scanningReads = hasReadOnly;
  let stepsLeft = budget.stepsLeft;
  const timed = budget.deadline !== Infinity;
  let untilClockRead = stepsPerClockRead;

  while (next[0] !== -1) {
    if (stepsLeft <= 0) {
      budget.stepsLeft = 0;
      budget.exhausted = 'steps';
      return { kind: 'unknown' };
    }
    stepsLeft--;
    if (timed && --untilClockRead === 0) {
      untilClockRead = stepsPerClockRead;
      if (budget.now() >= budget.deadline) {
        budget.stepsLeft = stepsLeft;
        budget.exhausted = 'time';
        return { kind: 'unknown' };
      }
    }

    const forced = backtracking;
    backtracking = false;
    const returnNode = forced ? -1 : returnNodeOf[node]!;
    if (returnNode !== -1) {
      // A call entry: try to linearize its operation now.
      const op = opOf[node]!;
      if (readOnlyOf[op] !== (scanningReads ? 1 : 0)) {
        node = next[node]!;
        continue;
      }
      const operation = operations[op]!;
      const stepped = model.step(state, operation.input, operation.output);
      if (!stepped.ok) {
        node = next[node]!;
        continue;
      }
      const word = op >>> 5;
      const bit = 1 << (op & 31);
      linearized[word]! |= bit;
      const candidateHash = (linearizedHash ^ zobristOf[op]!) >>> 0;
      // Reads return the very state they were given: same id, nothing to hash.
      let nextState = stepped.next;
      let stateId = stateIdNow;
      if (hash && nextState !== state) {
        const stateHash = hash(nextState);
        stateId = internedIds.get(stateHash) ?? -1;
        if (stateId === -1) {
          internedIds.set(stateHash, (stateId = internedStates.length));
          internedStates.push(nextState);
        }
        nextState = internedStates[stateId]!;
      }
      if (!visited.add(linearized, candidateHash, stateId, nextState)) {
        linearized[word]! &= ~bit;
        node = next[node]!;
        // A legal read-only move into a configuration known to fail: this one fails too.
        backtracking = scanningReads;
        continue;
      }
      stackNodes[depth] = node;
      stackStates[depth] = state;
      stackStateIds[depth] = stateIdNow;
      stackReadOnly[depth] = readOnlyOf[op]!;
      depth++;
      linearizedHash = candidateHash;
      state = nextState;
      stateIdNow = stateId;
      lift(next, prev, node, returnNode);
      node = next[0]!;
      scanningReads = hasReadOnly;
      continue;
    }

    if (scanningReads && !forced) {
      // No legal read-only operation here: scan again for the others.
      scanningReads = false;
      node = next[0]!;
      continue;
    }

    // A return entry: its operation cannot wait any longer. Backtrack.
    // (Or a forced backtrack, which proves failure without reaching a return entry.)
    if (!forced && (deepest === null || depth > deepest.prefix.length)) {
      const prefix: number[] = new Array(depth);
      for (let level = 0; level < depth; level++) prefix[level] = opOf[stackNodes[level]!]!;
      deepest = { prefix, state, blocking: opOf[node]! };
    }
    if (depth === 0) {
      budget.stepsLeft = stepsLeft;
      // A forced backtrack only happens after some branch reached a return entry.
      if (deepest === null) throw new Error('linearizability: search failed without reaching a return entry');
      return { kind: 'illegal', deepest, callRank, returnRank };
    }
    depth--;
    const undone = stackNodes[depth]!;
    state = stackStates[depth]!;
    stateIdNow = stackStateIds[depth]!;
    stackStates[depth] = undefined as State; // no reference kept beyond its depth
    const op = opOf[undone]!;
    linearized[op >>> 5]! &= ~(1 << (op & 31));
    linearizedHash = (linearizedHash ^ zobristOf[op]!) >>> 0;
    unlift(next, prev, undone, returnNodeOf[undone]!);
    node = next[undone]!;
    // A read-only operation legal here loses nothing by going first. Take any
    // valid order of the remaining operations that places it later, and move it
    // here: every operation that had to precede it is already linearized (it is
    // a candidate), it is legal in this state, and it changes no state, so every
    // other operation still sees the states it saw. So if the search failed after
    // it, this whole configuration fails: its other moves need not be tried.
    backtracking = stackReadOnly[depth] === 1;
    // Back at the parent, which had found no legal read-only move: resume its second scan.
    scanningReads = false;
  }

  budget.stepsLeft = stepsLeft;
  const order: number[] = new Array(depth);
  for (let level = 0; level < depth; level++) order[level] = opOf[stackNodes[level]!]!;
  return { kind: 'ok', order };
}

/** Removes a call node and its return node from the list. A call always has a successor (at least its own return). */
function lift(next: Int32Array, prev: Int32Array, call: number, ret: number): void {
  next[prev[call]!] = next[call]!;
  prev[next[call]!] = prev[call]!;
  next[prev[ret]!] = next[ret]!;
  if (next[ret] !== -1) prev[next[ret]!] = prev[ret]!;
}

/** Exactly undoes `lift`, in reverse order. */
function unlift(next: Int32Array, prev: Int32Array, call: number, ret: number): void {
  next[prev[ret]!] = ret;
  if (next[ret] !== -1) prev[next[ret]!] = ret;
  next[prev[call]!] = call;
  prev[next[call]!] = call;
}

// ---------------------------------------------------------------------------
// Explanations

function defaultDescribeValue(value: unknown): string {
  if (value === unknownOutput) return '?';
  return inspect(value, { breakLength: Infinity, depth: 4, compact: true });
}

/** One operation as a line: `#12 client 3: put("a", "1") -> null  [call 17, return 23]`. */
export function describeOperation<State, Input, Output>(
  model: Model<State, Input, Output>,
  operation: Operation<Input, Output>,
  index: number,
): string {
  const body = model.describeOperation
    ? model.describeOperation(operation.input, operation.output)
    : `${defaultDescribeValue(operation.input)} -> ${defaultDescribeValue(operation.output)}`;
  const returned = operation.return === Infinity ? 'never returned' : `return ${operation.return}`;
  let times = `[call ${operation.call}, ${returned}]`;
  if (operation.invokedAt !== undefined) {
    times += ` (t=${operation.invokedAt}..${operation.completedAt ?? '?'})`;
  }
  return `#${index} client ${operation.clientId}: ${body}  ${times}`;
}

function explainIllegal<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  illegal: IllegalDetail<State>,
): string {
  const line = (index: number) => describeOperation(model, history[index]!, index);
  const describeState = model.describeState ?? defaultDescribeValue;
  const lines: string[] = [];
  lines.push(`not linearizable: partition ${illegal.partition + 1} of ${illegal.partitions} ` +
    `(${illegal.partitionOperations.length} operations) has no valid order`);
  lines.push(`longest linearizable prefix: ${illegal.prefix.length} operation${illegal.prefix.length === 1 ? '' : 's'}`);
  const hidden = Math.max(0, illegal.prefix.length - explanationLinesMax);
  if (hidden > 0) lines.push(`  ... ${hidden} earlier operation${hidden === 1 ? '' : 's'}`);
  for (const index of illegal.prefix.slice(hidden)) lines.push(`  ${line(index)}`);
  lines.push(`state after the prefix: ${describeState(illegal.state)}`);
  lines.push(`could not place: ${line(illegal.blocking)}`);
  lines.push('  it had returned before any of the remaining operations could be placed; the operations that could go next were:');
  for (const candidate of illegal.candidates.slice(0, explanationLinesMax)) {
    const verdict = candidate.accepted ? 'legal here, but every order continuing from it fails' : 'the model rejects it in this state';
    lines.push(`  ${line(candidate.operation)}  -- ${verdict}`);
  }
  const more = illegal.candidates.length - explanationLinesMax;
  if (more > 0) lines.push(`  ... ${more} more`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Recording

/** Refers to one recorded operation; returned by `HistoryRecorder.invoke`. */
export type OperationHandle = number & { readonly __operationHandle: true };

type RecordedOperation<Input, Output> = {
  clientId: ClientId;
  input: Input;
  output: Output | UnknownOutput;
  call: number;
  return: number;
  invokedAt: number;
  completedAt: number | undefined;
  status: 'pending' | 'completed' | 'failed';
};

/**
 * Records a history as clients see it. Call and return timestamps are a
 * sequence number in the order the recorder saw the events, so that an
 * operation invoked after another completed is ordered after it even when the
 * virtual clock had not moved; the `now` values are kept for explanations.
 *
 * Three outcomes, as in Jepsen: `complete` (the response was seen), `fail` (it
 * definitely did not take effect, e.g. rejected before proposing: dropped from
 * the history), or nothing (timed out, crashed: it may or may not have taken
 * effect; it appears as never returned with an unknown output).
 */
export class HistoryRecorder<Input, Output> {
  private readonly records: RecordedOperation<Input, Output>[] = [];
  private sequence = 0;
  private lastNow = -Infinity;

  /** Records that `clientId` sent `input` at virtual time `now`. */
  invoke(clientId: ClientId, input: Input, now: number): OperationHandle {
    this.advance(now);
    const handle = this.records.length as OperationHandle;
    this.records.push({
      clientId, input, output: unknownOutput, call: this.sequence++, return: Infinity,
      invokedAt: now, completedAt: undefined, status: 'pending',
    });
    return handle;
  }

  /** Records the response to `handle`, seen at virtual time `now`. */
  complete(handle: OperationHandle, output: Output | UnknownOutput, now: number): void {
    const record = this.pendingRecord(handle, 'complete');
    this.advance(now);
    record.output = output;
    record.return = this.sequence++;
    record.completedAt = now;
    record.status = 'completed';
  }

  /** Records that `handle` definitely had no effect; it is left out of the history. */
  fail(handle: OperationHandle): void {
    this.pendingRecord(handle, 'fail').status = 'failed';
  }

  /** Operations invoked and neither completed nor failed. */
  get pendingCount(): number {
    return this.records.reduce((sum, record) => sum + (record.status === 'pending' ? 1 : 0), 0);
  }

  /** The history so far, in invocation order. Pending operations appear as never returned, with an unknown output. */
  history(): Operation<Input, Output>[] {
    const operations: Operation<Input, Output>[] = [];
    for (const record of this.records) {
      if (record.status === 'failed') continue;
      const { clientId, input, output, call, invokedAt, completedAt } = record;
      operations.push(record.status === 'completed'
        ? { clientId, input, output, call, return: record.return, invokedAt, completedAt }
        : { clientId, input, output: unknownOutput, call, return: Infinity, invokedAt });
    }
    return operations;
  }

  private advance(now: number): void {
    if (!Number.isFinite(now)) throw new Error(`HistoryRecorder: now must be finite, got ${now}`);
    if (now < this.lastNow) throw new Error(`HistoryRecorder: time went backwards (${now} after ${this.lastNow})`);
    this.lastNow = now;
  }

  private pendingRecord(handle: OperationHandle, action: string): RecordedOperation<Input, Output> {
    const record = this.records[handle];
    if (record === undefined) throw new Error(`HistoryRecorder.${action}: unknown handle ${handle}`);
    if (record.status !== 'pending') throw new Error(`HistoryRecorder.${action}: operation ${handle} is already ${record.status}`);
    return record;
  }
}

// ---------------------------------------------------------------------------
// A key/value register map

export type KvInput =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  /** Swaps in `value` if the current value is `expected`; `expected: null` means "only if absent". */
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string }
  | { readonly op: 'delete'; readonly key: string };

/** get: the value read, null if absent. cas: whether it swapped. put and delete: any acknowledgement (null by convention); it is not checked. */
export type KvOutput = string | null | boolean;

/** The map's contents. Immutable: steps return a new map when they change it. */
export type KvState = ReadonlyMap<string, string>;

/** Input constructors: `kv.put('a', '1')`. */
export const kv = {
  get: (key: string): KvInput => ({ op: 'get', key }),
  put: (key: string, value: string): KvInput => ({ op: 'put', key, value }),
  cas: (key: string, expected: string | null, value: string): KvInput => ({ op: 'cas', key, expected, value }),
  delete: (key: string): KvInput => ({ op: 'delete', key }),
};

const emptyKvState: KvState = new Map();

function kvWith(state: KvState, key: string, value: string): KvState {
  if (state.get(key) === value) return state;
  const next = new Map(state);
  next.set(key, value);
  return next;
}

function kvWithout(state: KvState, key: string): KvState {
  if (!state.has(key)) return state;
  const next = new Map(state);
  next.delete(key);
  return next;
}

/** Canonical: entries sorted by key, JSON-quoted so that no key or value can forge a separator. */
function kvStateHash(state: KvState): string {
  if (state.size === 0) return '';
  if (state.size === 1) {
    for (const [key, value] of state) return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  }
  return [...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',');
}

function kvStatesEqual(a: KvState, b: KvState): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

const quote = (value: string | null) => (value === null ? 'null' : JSON.stringify(value));

function describeKvOutput(output: KvOutput): string {
  return typeof output === 'boolean' ? String(output) : quote(output);
}

function describeKvInput(input: KvInput): string {
  switch (input.op) {
    case 'get': return `get(${quote(input.key)})`;
    case 'put': return `put(${quote(input.key)}, ${quote(input.value)})`;
    case 'delete': return `delete(${quote(input.key)})`;
    case 'cas': return `cas(${quote(input.key)}, ${quote(input.expected)} => ${quote(input.value)})`;
  }
}

/**
 * Linearizable key/value registers: get, put, compare-and-swap, delete.
 * Partitioned by key, so each key's sub-history is searched alone; the state
 * is the whole map so that the model is also correct unpartitioned.
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => emptyKvState,

  step(state, input, output) {
    switch (input.op) {
      case 'get':
        return { ok: output === unknownOutput || output === (state.get(input.key) ?? null), next: state };
      case 'put':
        return { ok: true, next: kvWith(state, input.key, input.value) };
      case 'delete':
        return { ok: true, next: kvWithout(state, input.key) };
      case 'cas': {
        const swaps = (state.get(input.key) ?? null) === input.expected;
        const next = swaps ? kvWith(state, input.key, input.value) : state;
        if (output === unknownOutput) return { ok: true, next };
        return { ok: output === swaps, next };
      }
    }
  },

  partition: partitionBy((input: KvInput) => input.key),
  hash: kvStateHash,
  // Unused while `hash` is present; there for variants that drop `hash`.
  equal: kvStatesEqual,
  readOnly: (input, output) => input.op === 'get' || (input.op === 'cas' && output === false),

  describeOperation(input, output) {
    const call = describeKvInput(input);
    if (output === unknownOutput) return `${call} -> ? (no response)`;
    return input.op === 'get' || input.op === 'cas' ? `${call} -> ${describeKvOutput(output)}` : call;
  },

  describeState(state) {
    if (state.size === 0) return '{} (empty)';
    return `{ ${[...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => `${quote(key)}: ${quote(value)}`).join(', ')} }`;
  },
};

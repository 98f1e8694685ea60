import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../raft/prng.ts';
import type { KvInput, KvOutput, Model, Operation, UnknownOutput } from '../../sim/linearizability.ts';
import { HistoryRecorder, checkLinearizability, kv, kvModel, unknownOutput } from '../../sim/linearizability.ts';

type KvOperation = Operation<KvInput, KvOutput>;

/** A hand-written operation: `op(client, input, output, call, return)`. */
function op(clientId: number, input: KvInput, output: KvOutput | UnknownOutput, call: number, ret: number): KvOperation {
  return { clientId, input, output, call, return: ret };
}

/** An operation that never returned. */
function lost(clientId: number, input: KvInput, call: number): KvOperation {
  return { clientId, input, output: unknownOutput, call, return: Infinity };
}

function verdict(history: KvOperation[]) {
  return checkLinearizability(kvModel, history).result;
}

const kvModelUnpartitioned: Model<ReadonlyMap<string, string>, KvInput, KvOutput> = { ...kvModel, partition: undefined };

// ---------------------------------------------------------------------------
// Classic small cases

test('a sequential history is linearizable', () => {
  const history = [
    op(1, kv.put('a', '1'), null, 0, 1),
    op(1, kv.get('a'), '1', 2, 3),
    op(2, kv.put('a', '2'), null, 4, 5),
    op(2, kv.get('a'), '2', 6, 7),
    op(1, kv.delete('a'), null, 8, 9),
    op(1, kv.get('a'), null, 10, 11),
  ];
  const result = checkLinearizability(kvModel, history);
  assert.is(result.result, 'ok');
  if (result.result !== 'ok') return;
  assert.equal(result.linearizations, [[0, 1, 2, 3, 4, 5]]);
});

test('an empty history is linearizable', () => {
  assert.is(verdict([]), 'ok');
});

test('a read overlapping a write may see the value before or after it', () => {
  const write = op(1, kv.put('a', '1'), null, 0, 10);
  assert.is(verdict([write, op(2, kv.get('a'), null, 2, 5)]), 'ok');
  assert.is(verdict([write, op(2, kv.get('a'), '1', 2, 5)]), 'ok');
});

test('two overlapping writes may take effect in either order', () => {
  const writes = [op(1, kv.put('a', '1'), null, 0, 10), op(2, kv.put('a', '2'), null, 1, 9)];
  assert.is(verdict([...writes, op(3, kv.get('a'), '1', 11, 12)]), 'ok');
  assert.is(verdict([...writes, op(3, kv.get('a'), '2', 11, 12)]), 'ok');
  // But a later read cannot see the first value after another read saw the second settle.
  assert.is(verdict([...writes, op(3, kv.get('a'), '1', 11, 12), op(3, kv.get('a'), '2', 13, 14)]), 'illegal');
});

test('a stale read after a completed write is illegal, and the explanation names it', () => {
  const history = [
    op(1, kv.put('a', '1'), null, 0, 1),
    op(1, kv.put('a', '2'), null, 2, 3),
    op(2, kv.get('a'), '1', 4, 5),
  ];
  const result = checkLinearizability(kvModel, history);
  assert.is(result.result, 'illegal');
  if (result.result !== 'illegal') return;
  assert.is(result.illegal.blocking, 2);
  assert.equal(result.illegal.prefix, [0, 1]);
  assert.equal([...result.illegal.state], [['a', '2']]);
  assert.equal(result.illegal.candidates, [{ operation: 2, accepted: false }]);
  assert.match(result.explanation, 'longest linearizable prefix: 2 operations');
  assert.match(result.explanation, 'state after the prefix: { "a": "2" }');
  assert.match(result.explanation, 'could not place: #2 client 2: get("a") -> "1"  [call 4, return 5]');
  assert.match(result.explanation, 'the model rejects it in this state');
});

test('a read of a value that was never written is illegal', () => {
  assert.is(verdict([op(1, kv.get('a'), 'ghost', 0, 1)]), 'illegal');
  assert.is(verdict([op(1, kv.put('a', '1'), null, 0, 1), op(2, kv.get('a'), 'ghost', 0, 5)]), 'illegal');
});

test('two readers that disagree on the order of two concurrent writes are illegal', () => {
  const history = [
    op(1, kv.put('a', '1'), null, 0, 100),
    op(2, kv.put('a', '2'), null, 0, 100),
    op(3, kv.get('a'), '1', 10, 20),
    op(3, kv.get('a'), '2', 30, 40),
    op(4, kv.get('a'), '2', 10, 20),
    op(4, kv.get('a'), '1', 30, 40),
  ];
  assert.is(verdict(history), 'illegal');
  // Either reader alone is fine.
  assert.is(verdict(history.slice(0, 4)), 'ok');
});

test('a read that returns before a write is invoked cannot see it', () => {
  assert.is(verdict([op(1, kv.get('a'), '1', 0, 1), op(2, kv.put('a', '1'), null, 2, 3)]), 'illegal');
});

// ---------------------------------------------------------------------------
// Operations that never returned

test('an unreturned put that may have taken effect explains a later read of its value', () => {
  assert.is(verdict([lost(1, kv.put('a', '1'), 0), op(2, kv.get('a'), '1', 5, 6)]), 'ok');
});

test('an unreturned put also explains a later read that does not see it', () => {
  assert.is(verdict([lost(1, kv.put('a', '1'), 0), op(2, kv.get('a'), null, 5, 6)]), 'ok');
  // It may take effect after a while, between two reads.
  assert.is(verdict([lost(1, kv.put('a', '1'), 0), op(2, kv.get('a'), null, 5, 6), op(2, kv.get('a'), '1', 7, 8)]), 'ok');
});

test('an unreturned put cannot take effect and then be undone', () => {
  const history = [lost(1, kv.put('a', '1'), 0), op(2, kv.get('a'), '1', 5, 6), op(2, kv.get('a'), null, 7, 8)];
  const result = checkLinearizability(kvModel, history);
  assert.is(result.result, 'illegal');
  if (result.result !== 'illegal') return;
  assert.match(result.explanation, 'put("a", "1") -> ? (no response)  [call 0, never returned]');
});

test('an unreturned put cannot take effect before it was invoked', () => {
  assert.is(verdict([op(2, kv.get('a'), '1', 0, 1), lost(1, kv.put('a', '1'), 2)]), 'illegal');
});

test('an unreturned read constrains nothing and is dropped before the search', () => {
  const history = [op(1, kv.put('a', '1'), null, 0, 1), lost(2, kv.get('a'), 2), op(1, kv.get('a'), '1', 3, 4)];
  const result = checkLinearizability(kvModel, history);
  assert.is(result.result, 'ok');
  assert.is(result.operations, 2);
});

test('a returned operation whose output was lost is placed within its interval', () => {
  const history = [op(1, kv.put('a', '1'), unknownOutput, 0, 1), op(2, kv.get('a'), null, 2, 3)];
  assert.is(verdict(history), 'illegal');
});

// ---------------------------------------------------------------------------
// Compare-and-swap and delete

test('cas swaps only when the current value is the expected one', () => {
  assert.is(verdict([
    op(1, kv.put('a', '1'), null, 0, 1),
    op(1, kv.cas('a', '1', '2'), true, 2, 3),
    op(1, kv.cas('a', '1', '3'), false, 4, 5),
    op(1, kv.get('a'), '2', 6, 7),
  ]), 'ok');
  assert.is(verdict([op(1, kv.put('a', '1'), null, 0, 1), op(1, kv.cas('a', '2', '3'), true, 2, 3)]), 'illegal');
  assert.is(verdict([op(1, kv.put('a', '1'), null, 0, 1), op(1, kv.cas('a', '1', '3'), false, 2, 3)]), 'illegal');
  // A failed cas leaves the value alone.
  assert.is(verdict([op(1, kv.cas('a', 'x', '3'), false, 0, 1), op(1, kv.get('a'), '3', 2, 3)]), 'illegal');
});

test('cas with expected null creates a key only if it is absent', () => {
  assert.is(verdict([
    op(1, kv.cas('a', null, '1'), true, 0, 1),
    op(2, kv.cas('a', null, '2'), false, 2, 3),
    op(2, kv.get('a'), '1', 4, 5),
  ]), 'ok');
  // Two concurrent creators: exactly one may win.
  assert.is(verdict([op(1, kv.cas('a', null, '1'), true, 0, 5), op(2, kv.cas('a', null, '2'), true, 0, 5)]), 'illegal');
  assert.is(verdict([op(1, kv.cas('a', null, '1'), true, 0, 5), op(2, kv.cas('a', null, '2'), false, 0, 5)]), 'ok');
});

test('an unreturned cas takes effect only if its expectation held where it is placed', () => {
  const put = op(1, kv.put('a', '1'), null, 0, 1);
  assert.is(verdict([put, lost(2, kv.cas('a', '1', '2'), 2), op(1, kv.get('a'), '2', 5, 6)]), 'ok');
  assert.is(verdict([put, lost(2, kv.cas('a', 'x', '2'), 2), op(1, kv.get('a'), '2', 5, 6)]), 'illegal');
});

test('delete removes the key and concurrent reads may see either side', () => {
  assert.is(verdict([op(1, kv.put('a', '1'), null, 0, 1), op(1, kv.delete('a'), null, 2, 3), op(1, kv.get('a'), null, 4, 5)]), 'ok');
  assert.is(verdict([op(1, kv.put('a', '1'), null, 0, 1), op(1, kv.delete('a'), null, 2, 3), op(1, kv.get('a'), '1', 4, 5)]), 'illegal');
  assert.is(verdict([op(1, kv.put('a', '1'), null, 0, 1), op(1, kv.delete('a'), null, 2, 6), op(2, kv.get('a'), '1', 4, 5)]), 'ok');
});

test('equal timestamps count as concurrent', () => {
  // The read is invoked at the tick the write returned: either order is allowed.
  assert.is(verdict([op(1, kv.put('a', '1'), null, 0, 5), op(2, kv.get('a'), null, 5, 6)]), 'ok');
  assert.is(verdict([op(1, kv.put('a', '1'), null, 0, 5), op(2, kv.get('a'), null, 6, 7)]), 'illegal');
});

// ---------------------------------------------------------------------------
// Partitions, budgets, malformed input

test('keys are checked independently and the failing key is reported', () => {
  const history = [
    op(1, kv.put('a', '1'), null, 0, 1),
    op(1, kv.put('b', '1'), null, 2, 3),
    op(2, kv.get('b'), null, 4, 5), // stale
    op(2, kv.get('a'), '1', 6, 7),
  ];
  const result = checkLinearizability(kvModel, history);
  assert.is(result.result, 'illegal');
  if (result.result !== 'illegal') return;
  assert.is(result.partitions, 2);
  assert.is(result.illegal.partition, 1);
  assert.equal(result.illegal.partitionOperations, [1, 2]);
  assert.is(result.illegal.blocking, 2);
  assert.match(result.explanation, 'partition 2 of 2 (2 operations)');
});

test('the model also works unpartitioned, with the whole map as one state', () => {
  const history = [
    op(1, kv.put('a', '1'), null, 0, 10),
    op(2, kv.put('b', '2'), null, 0, 10),
    op(3, kv.get('a'), '1', 11, 12),
    op(3, kv.get('b'), '2', 11, 12),
  ];
  assert.is(checkLinearizability(kvModelUnpartitioned, history).result, 'ok');
  const stale = [...history, op(3, kv.get('b'), null, 13, 14)];
  assert.is(checkLinearizability(kvModelUnpartitioned, stale).result, 'illegal');
});

test('a budget that runs out gives unknown, never a guess', () => {
  const { history } = generateHistory(7, largeOptions);
  const complete = checkLinearizability(kvModel, history);
  assert.is(complete.result, 'ok');
  assert.ok(complete.steps > 10_000);

  const bySteps = checkLinearizability(kvModel, history, { maxSteps: 10_000 });
  assert.is(bySteps.result, 'unknown');
  assert.is(bySteps.steps, 10_000);
  if (bySteps.result === 'unknown') assert.match(bySteps.explanation, 'step budget of 10000 steps ran out');

  // A clock that jumps a millisecond per reading: the budget runs out at the first reading.
  let fakeNow = 0;
  const byTime = checkLinearizability(kvModel, history, { timeoutMs: 1, now: () => (fakeNow += 1) });
  assert.is(byTime.result, 'unknown');
  if (byTime.result === 'unknown') assert.match(byTime.explanation, 'time budget of 1 ms ran out');

  // Steps are deterministic: the same history costs the same.
  assert.is(checkLinearizability(kvModel, history).steps, complete.steps);
});

test('malformed histories are rejected loudly', () => {
  assert.throws(() => checkLinearizability(kvModel, [op(1, kv.get('a'), null, 5, 4)]), /before its call/);
  assert.throws(() => checkLinearizability(kvModel, [op(1, kv.get('a'), null, Infinity, Infinity)]), /finite/);
  const once = op(1, kv.get('a'), null, 0, 1);
  assert.throws(() => checkLinearizability(kvModel, [once, once]), /same object/);
  const lossy: Model<ReadonlyMap<string, string>, KvInput, KvOutput> = { ...kvModel, partition: (ops) => [ops.slice(1)] };
  assert.throws(() => checkLinearizability(lossy, [once, op(1, kv.get('a'), null, 2, 3)]), /exactly once/);
});

// ---------------------------------------------------------------------------
// A model of another shape: a FIFO queue, one object, state hashed

type QueueInput = { op: 'enqueue'; value: number } | { op: 'dequeue' };
const queueModel: Model<readonly number[], QueueInput, number | null> = {
  init: () => [],
  step(state, input, output) {
    if (input.op === 'enqueue') return { ok: true, next: [...state, input.value] };
    const head = state.length > 0 ? state[0]! : null;
    const next = state.length > 0 ? state.slice(1) : state;
    return { ok: output === unknownOutput || output === head, next };
  },
  hash: (state) => state.join(','),
  describeOperation: (input, output) => (input.op === 'enqueue' ? `enqueue(${input.value})` : `dequeue() -> ${String(output)}`),
};

test('a custom model with a hashed state: a FIFO queue', () => {
  const enqueue = (client: number, value: number, call: number, ret: number): Operation<QueueInput, number | null> =>
    ({ clientId: client, input: { op: 'enqueue', value }, output: null, call, return: ret });
  const dequeue = (client: number, value: number | null, call: number, ret: number): Operation<QueueInput, number | null> =>
    ({ clientId: client, input: { op: 'dequeue' }, output: value, call, return: ret });
  assert.is(checkLinearizability(queueModel, [enqueue(1, 1, 0, 10), enqueue(2, 2, 0, 10), dequeue(3, 2, 11, 12), dequeue(3, 1, 13, 14)]).result, 'ok');
  const result = checkLinearizability(queueModel, [enqueue(1, 1, 0, 1), enqueue(2, 2, 2, 3), dequeue(3, 2, 4, 5)]);
  assert.is(result.result, 'illegal');
  if (result.result === 'illegal') assert.match(result.explanation, 'could not place: #2 client 3: dequeue() -> 2');
});

// ---------------------------------------------------------------------------
// The recorder

test('the recorder orders events as it saw them, drops failures and leaves lost operations open', () => {
  const recorder = new HistoryRecorder<KvInput, KvOutput>();
  const put = recorder.invoke(1, kv.put('a', '1'), 100);
  recorder.complete(put, null, 105);
  const read = recorder.invoke(2, kv.get('a'), 105); // same virtual tick, but after the put's response
  const rejected = recorder.invoke(3, kv.put('a', 'x'), 106);
  recorder.fail(rejected);
  const timedOut = recorder.invoke(4, kv.put('a', '2'), 107);
  recorder.complete(read, '1', 108);
  assert.is(recorder.pendingCount, 1);
  assert.equal(recorder.history(), [
    { clientId: 1, input: kv.put('a', '1'), output: null, call: 0, return: 1, invokedAt: 100, completedAt: 105 },
    { clientId: 2, input: kv.get('a'), output: '1', call: 2, return: 5, invokedAt: 105, completedAt: 108 },
    { clientId: 4, input: kv.put('a', '2'), output: unknownOutput, call: 4, return: Infinity, invokedAt: 107 },
  ]);
  assert.is(checkLinearizability(kvModel, recorder.history()).result, 'ok');
  assert.throws(() => recorder.complete(put, null, 109), /already completed/);
  assert.throws(() => recorder.complete(timedOut, null, 1), /backwards/);

  // The sequence stamps make a stale read in the same tick as the write's response illegal.
  const sameTick = new HistoryRecorder<KvInput, KvOutput>();
  const write = sameTick.invoke(1, kv.put('a', '1'), 0);
  sameTick.complete(write, null, 5);
  sameTick.complete(sameTick.invoke(2, kv.get('a'), 5), null, 5);
  const result = checkLinearizability(kvModel, sameTick.history());
  assert.is(result.result, 'illegal');
  if (result.result === 'illegal') assert.match(result.explanation, '(t=5..5)');
});

// ---------------------------------------------------------------------------
// Cross-check against brute force

/**
 * The definition, executed: tries every order of the operations that respects
 * real time (an operation may go once every operation that returned strictly
 * before its call has gone). Operations that never returned may also be left
 * out. Uses nothing but `init` and `step`.
 */
function bruteForceLinearizable(history: KvOperation[]): boolean {
  const placed = new Array<boolean>(history.length).fill(false);
  const mustPlace = history.filter((operation) => operation.return !== Infinity).length;
  const search = (state: ReadonlyMap<string, string>, placedFinite: number): boolean => {
    if (placedFinite === mustPlace) return true;
    for (let index = 0; index < history.length; index++) {
      if (placed[index]) continue;
      const operation = history[index]!;
      const blocked = history.some((other, j) => !placed[j] && j !== index && other.return < operation.call);
      if (blocked) continue;
      const stepped = kvModel.step(state, operation.input, operation.output);
      if (!stepped.ok) continue;
      placed[index] = true;
      const found = search(stepped.next, placedFinite + (operation.return === Infinity ? 0 : 1));
      placed[index] = false;
      if (found) return true;
    }
    return false;
  };
  return search(kvModel.init(), 0);
}

function randomSmallHistory(prng: SeededPrng): KvOperation[] {
  const count = 1 + prng.nextInt(7);
  const value = () => `v${prng.nextInt(2)}`;
  const maybeValue = () => (prng.nextInt(3) === 0 ? null : value());
  return Array.from({ length: count }, (_, clientId): KvOperation => {
    const key = `k${prng.nextInt(2)}`;
    const roll = prng.nextInt(4);
    const input = roll === 0 ? kv.get(key) : roll === 1 ? kv.put(key, value()) : roll === 2 ? kv.cas(key, maybeValue(), value()) : kv.delete(key);
    const output = input.op === 'get' ? maybeValue() : input.op === 'cas' ? prng.nextInt(2) === 0 : null;
    const call = prng.nextInt(10);
    const lostRoll = prng.nextInt(8);
    if (lostRoll === 0) return lost(clientId, input, call);
    return op(clientId, input, lostRoll === 1 ? unknownOutput : output, call, call + prng.nextInt(6));
  });
}

test('agrees with brute force on 3,000 random small histories, with and without the optimisations', () => {
  const prng = new SeededPrng(99);
  const plainModel: Model<ReadonlyMap<string, string>, KvInput, KvOutput> = { init: kvModel.init, step: kvModel.step, equal: kvModel.equal };
  let linearizable = 0;
  for (let round = 0; round < 3000; round++) {
    const history = randomSmallHistory(prng);
    const expected = bruteForceLinearizable(history) ? 'ok' : 'illegal';
    if (expected === 'ok') linearizable++;
    const context = () => JSON.stringify(history, (_, value) => (value === unknownOutput ? '?' : value === Infinity ? 'never' : value));
    assert.is(checkLinearizability(kvModel, history).result, expected, context());
    assert.is(checkLinearizability(kvModelUnpartitioned, history).result, expected, context());
    assert.is(checkLinearizability(plainModel, history).result, expected, context());
  }
  // Both verdicts must be well represented for the comparison to mean anything.
  assert.ok(linearizable > 600 && linearizable < 2400, `${linearizable} of 3000 linearizable`);
});

// ---------------------------------------------------------------------------
// Large random histories of a real atomic register map

type GeneratorOptions = { clients: number; opsPerClient: number; keys: number; values: number; lostRate: number };

/**
 * Simulates clients of a truly atomic map: each operation takes effect at a
 * random instant inside its [call, return] interval, so the history is
 * linearizable by construction. A lost operation never returns; half of them
 * take effect anyway. Small value domains make reads ambiguous, which is what
 * makes the search work.
 */
function generateHistory(seed: number, options: GeneratorOptions): { history: KvOperation[] } {
  const prng = new SeededPrng(seed);
  type Draft = { clientId: number; input: KvInput; call: number; return: number; effectAt: number; takesEffect: boolean; lost: boolean; output: KvOutput | UnknownOutput };
  const drafts: Draft[] = [];
  const value = () => `v${prng.nextInt(options.values)}`;
  for (let clientId = 0; clientId < options.clients; clientId++) {
    let now = prng.nextInt(10);
    for (let i = 0; i < options.opsPerClient; i++) {
      const call = now + prng.nextInt(5);
      const duration = 1 + prng.nextInt(100);
      const key = `k${prng.nextInt(options.keys)}`;
      const roll = prng.nextFloat();
      const input = roll < 0.45 ? kv.get(key)
        : roll < 0.75 ? kv.put(key, value())
        : roll < 0.9 ? kv.cas(key, prng.nextInt(options.values + 1) === 0 ? null : value(), value())
        : kv.delete(key);
      const lost = prng.nextFloat() < options.lostRate;
      drafts.push({
        clientId, input, call, return: call + duration, effectAt: call + prng.nextFloat() * duration,
        takesEffect: !lost || prng.nextFloat() < 0.5, lost, output: null,
      });
      now = call + duration;
    }
  }
  const state = new Map<string, string>();
  for (const draft of [...drafts].sort((a, b) => a.effectAt - b.effectAt)) {
    if (!draft.takesEffect) continue;
    const input = draft.input;
    const current = state.get(input.key) ?? null;
    if (input.op === 'get') draft.output = current;
    else if (input.op === 'put') state.set(input.key, input.value);
    else if (input.op === 'delete') state.delete(input.key);
    else {
      draft.output = current === input.expected;
      if (draft.output) state.set(input.key, input.value);
    }
  }
  const history = drafts.map((draft): KvOperation => draft.lost
    ? { clientId: draft.clientId, input: draft.input, output: unknownOutput, call: draft.call, return: Infinity }
    : { clientId: draft.clientId, input: draft.input, output: draft.output, call: draft.call, return: draft.return });
  return { history };
}

function timed<T>(run: () => T): { value: T; ms: number } {
  const started = performance.now();
  const value = run();
  return { value, ms: performance.now() - started };
}

/** A read in the middle of the history whose output is replaced by a value nobody wrote. */
function corruptOneRead(history: KvOperation[]): { corrupted: KvOperation[]; index: number } {
  const reads = history
    .map((operation, index) => ({ operation, index }))
    .filter(({ operation }) => operation.input.op === 'get' && operation.output !== unknownOutput)
    .sort((a, b) => a.operation.call - b.operation.call);
  const { index } = reads[Math.floor(reads.length / 2)]!;
  const corrupted = history.slice();
  corrupted[index] = { ...history[index]!, output: 'never-written' };
  return { corrupted, index };
}

/** 100 clients, each with 20 operations lasting up to 100 ticks: about 10 operations in flight per key at any time. */
const largeOptions: GeneratorOptions = { clients: 100, opsPerClient: 20, keys: 10, values: 4, lostRate: 0 };

test('2,000 random concurrent operations over 10 keys check ok quickly; one corrupted read makes them illegal', () => {
  const { history } = generateHistory(2026, largeOptions);
  assert.is(history.length, 2000);
  const valid = timed(() => checkLinearizability(kvModel, history));
  assert.is(valid.value.result, 'ok', valid.value.result === 'illegal' ? valid.value.explanation : '');
  assert.is(valid.value.partitions, 10);
  assert.ok(valid.ms < 5_000, `checking took ${valid.ms.toFixed(0)} ms`);

  const { corrupted, index } = corruptOneRead(history);
  const broken = timed(() => checkLinearizability(kvModel, corrupted));
  assert.is(broken.value.result, 'illegal');
  assert.ok(broken.ms < 5_000, `checking took ${broken.ms.toFixed(0)} ms`);
  if (broken.value.result === 'illegal') {
    if (process.env.SHOW_EXPLANATION) console.log(broken.value.explanation);
    assert.is(broken.value.illegal.blocking, index);
    assert.match(broken.value.explanation, `could not place: #${index} `);
  }
  console.log(`  2,000 ops / 10 keys: ok in ${valid.ms.toFixed(1)} ms (${valid.value.steps} steps); ` +
    `corrupted read: illegal in ${broken.ms.toFixed(1)} ms (${broken.value.steps} steps)`);
});

test('random histories with lost operations check ok across seeds, and corrupted ones do not', () => {
  let okMs = 0;
  let illegalMs = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const { history } = generateHistory(seed, { ...largeOptions, lostRate: 0.01 });
    const valid = timed(() => checkLinearizability(kvModel, history));
    assert.is(valid.value.result, 'ok', `seed ${seed}: ${valid.value.result === 'illegal' ? valid.value.explanation : valid.value.result}`);
    const { corrupted } = corruptOneRead(history);
    const broken = timed(() => checkLinearizability(kvModel, corrupted));
    assert.is(broken.value.result, 'illegal', `seed ${seed}`);
    okMs += valid.ms;
    illegalMs += broken.ms;
  }
  assert.ok(okMs + illegalMs < 30_000);
  console.log(`  10 seeds x 2,000 ops with 1% lost: ok in ${(okMs / 10).toFixed(1)} ms, corrupted illegal in ${(illegalMs / 10).toFixed(1)} ms (mean)`);
});

test.run();

// Snapshots and determinism: the same commands give the same bytes on every
// replica; a snapshot restores to a state that behaves identically from then
// on; a command the state refuses changes nothing but the applied index.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError } from '../../../protocol/errors.ts';
import { EntryType } from '../../../protocol/raft.ts';
import { encodeStateCommand } from '../../../protocol/state-commands.ts';
import { StateMachine } from '../../../agent/state/state-machine.ts';
import { Scope } from '../../../agent/state/watch-index.ts';
import { SeededPrng } from '../../../raft/prng.ts';
import { Harness, uuid } from './harness.ts';
import { CommandGenerator } from './random-commands.ts';

/** Run `count` generated commands on `harnesses` in lockstep; results must agree. */
function drive(harnesses: Harness[], generator: CommandGenerator, count: number): void {
  for (let i = 0; i < count; i++) {
    const { command, advanceMs } = generator.next(harnesses[0]!.index);
    const results = harnesses.map((h) => {
      h.advance(advanceMs);
      return h.apply(command);
    });
    for (const result of results.slice(1)) assert.equal(result, results[0], `command ${i} (${command.type}) answered differently`);
  }
}

/** Everything a client could read, for comparing two states. */
function reads(state: StateMachine) {
  const scopes = [Scope.kvPrefix(''), Scope.kvPrefix('a/'), Scope.kvKey('a'), Scope.kvKey('never'), Scope.nodes, Scope.services, Scope.checks, Scope.sessions,
    Scope.service('web'), Scope.service('db'), Scope.node('n1'), Scope.nodeSessions('n2'), Scope.session(uuid(3))];
  return {
    index: state.index,
    clock: state.clock,
    kv: state.kvList(''),
    keys: state.kvKeys('', '/'),
    nodes: state.catalogNodes(),
    services: state.catalogServices(),
    health: ['web', 'db', 'cache'].map((name) => state.healthService(name)),
    checks: state.healthState('any'),
    sessions: state.sessionList(),
    lockDelays: ['a', 'lock/1', 'q/1'].map((key) => state.lockDelayUntil(key)),
    nextExpiry: state.nextSessionExpiryMs(),
    indexes: scopes.map((scope) => state.indexFor(scope)),
  };
}

test('determinism: the same 3,000 commands give identical snapshot bytes on two replicas, at every checkpoint', () => {
  for (const seed of [1, 2, 3]) {
    const replicas = [new Harness({ kv: { maxTombstones: 8 } }), new Harness({ kv: { maxTombstones: 8 } })];
    const generator = new CommandGenerator(seed);
    for (let checkpoint = 0; checkpoint < 6; checkpoint++) {
      drive(replicas, generator, 500);
      assert.equal(replicas[0]!.state.snapshot(), replicas[1]!.state.snapshot(), `seed ${seed}, checkpoint ${checkpoint}`);
    }
  }
});

test('snapshot → restore at a random state: same reads, same bytes, and the same behaviour afterwards', () => {
  const prng = new SeededPrng(77);
  for (let round = 0; round < 8; round++) {
    const seed = 100 + round;
    const original = new Harness({ kv: { maxTombstones: 6 } });
    const generator = new CommandGenerator(seed);
    drive([original], generator, 200 + prng.nextInt(1_500));
    const bytes = original.state.snapshot();

    const restored = new Harness({ kv: { maxTombstones: 6 } });
    restored.state.restore(bytes, original.index);
    restored.index = original.index;
    restored.nowMs = original.nowMs;
    assert.equal(reads(restored.state), reads(original.state), `round ${round}: reads after restore`);
    assert.equal(restored.state.snapshot(), bytes, `round ${round}: re-snapshot gives the same bytes`);

    drive([original, restored], generator, 500);
    assert.equal(restored.state.snapshot(), original.state.snapshot(), `round ${round}: diverged after restore`);
  }
});

test('an empty snapshot restores the empty state', () => {
  const h = new Harness();
  h.set('k', 'v');
  h.state.restore(new Uint8Array(0), 5);
  assert.equal([h.state.index, h.state.kvList('').entries.length, h.state.clock], [5, 0, 0]);
});

test('a command that fails validation or is refused changes nothing but the applied index', () => {
  const generator = new CommandGenerator(9);
  const h = new Harness();
  drive([h], generator, 800);
  const refused = [
    new Uint8Array([1, 1, 0, 0]), // kvSet whose key is empty
    new Uint8Array([9, 1, 0]), // unknown codec version
    new Uint8Array([1, 99, 0]), // unknown command type
    encodeStateCommand({ type: 'kvSet', nowMs: h.nowMs + 1_000_000, key: 'x', value: new Uint8Array(0), flags: 0 }).subarray(0, 5), // truncated
    encodeStateCommand({ type: 'kvLock', nowMs: h.nowMs + 1_000_000, key: 'a', value: new Uint8Array(0), flags: 0, session: uuid(999_999) }),
    encodeStateCommand({ type: 'sessionCreate', nowMs: h.nowMs + 1_000_000, id: uuid(999_998), node: 'ghost', name: '', ttlMs: 0, lockDelayMs: 0, behavior: 'release', nodeChecks: [], serviceChecks: [] }),
    encodeStateCommand({ type: 'nodeHealth', nowMs: h.nowMs + 1_000_000, node: 'ghost', status: 'critical', output: '' }),
    encodeStateCommand({ type: 'sessionRenew', nowMs: h.nowMs + 1_000_000, id: uuid(999_997) }),
  ];
  for (const data of refused) {
    const before = h.state.snapshot();
    const result = h.applyBytes(data) as { rejected?: boolean };
    assert.is(result.rejected, true);
    const expected = new StateMachine();
    expected.restore(before, h.index);
    assert.equal(h.state.snapshot(), expected.snapshot());
  }
});

test('leader no-ops and membership changes only advance the index', () => {
  const h = new Harness();
  h.set('k', 'v');
  const before = reads(h.state);
  assert.is(h.state.apply({ term: 2, index: 2, type: EntryType.Normal, data: new Uint8Array(0) }), null);
  assert.is(h.state.apply({ term: 2, index: 3, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) }), null);
  assert.equal({ ...reads(h.state), index: 1 }, before);
  assert.throws(() => h.state.apply({ term: 2, index: 3, type: EntryType.Normal, data: new Uint8Array(0) }), /increasing index/);
});

test('a corrupt snapshot is refused with DecodeError and leaves the state alone', () => {
  const h = new Harness();
  drive([h], new CommandGenerator(5), 300);
  const bytes = h.state.snapshot();
  const before = h.state.snapshot();
  const prng = new SeededPrng(3);
  let refused = 0;
  for (let i = 0; i < 300; i++) {
    const corrupt = bytes.slice(0, prng.nextInt(2) === 0 ? bytes.length : prng.nextInt(bytes.length));
    if (corrupt.length > 0) corrupt[prng.nextInt(corrupt.length)]! ^= 1 << prng.nextInt(8);
    try {
      new StateMachine().restore(corrupt, 10);
    } catch (error) {
      assert.instance(error, DecodeError, String(error));
      refused++;
    }
  }
  assert.ok(refused > 250, `${refused} of 300 corruptions refused`);
  assert.throws(() => h.state.restore(new Uint8Array([2, 0]), 5), (error: unknown) => error instanceof DecodeError && error.reason === 'unknown-version');
  assert.equal(h.state.snapshot(), before);
});

test.run();

// The state-command codec (protocol/state-commands.ts): round trips, bounds,
// and fuzzing — any bytes decode to a valid command that re-encodes to the
// same bytes, or throw DecodeError, nothing else.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError, EncodeError } from '../../../protocol/errors.ts';
import type { DecodeReason, EncodeReason } from '../../../protocol/errors.ts';
import {
  decodeStateCommand, DEFAULT_STATE_COMMAND_LIMITS, encodeStateCommand, STATE_COMMAND_CODEC_VERSION, STATE_COMMAND_TYPES,
} from '../../../protocol/state-commands.ts';
import type { StateCommand, TxnOp } from '../../../protocol/state-commands.ts';
import { SeededPrng } from '../../../raft/prng.ts';
import { bytes, check_, service, uuid } from './harness.ts';
import { CommandGenerator } from './random-commands.ts';

const NOW = 1_700_000_000_000;

function roundTrip(command: StateCommand): Uint8Array {
  const encoded = encodeStateCommand(command);
  const decoded = decodeStateCommand(encoded);
  assert.equal(decoded, command);
  assert.equal(encodeStateCommand(decoded), encoded, 're-encoding gives the same bytes');
  return encoded;
}

function decodeFails(data: Uint8Array, reason: DecodeReason): void {
  try {
    decodeStateCommand(data);
  } catch (error) {
    assert.instance(error, DecodeError, `expected DecodeError, got ${String(error)}`);
    assert.is((error as DecodeError).reason, reason, (error as DecodeError).message);
    return;
  }
  assert.unreachable(`decoding succeeded; expected ${reason}`);
}

function encodeFails(command: unknown, reason: EncodeReason): void {
  try {
    encodeStateCommand(command as StateCommand);
  } catch (error) {
    assert.instance(error, EncodeError, `expected EncodeError, got ${String(error)}`);
    assert.is((error as EncodeError).reason, reason, (error as EncodeError).message);
    return;
  }
  assert.unreachable(`encoding succeeded; expected ${reason}`);
}

const op = (fields: Partial<TxnOp>): TxnOp => ({ verb: 'set', key: 'k', value: new Uint8Array(0), flags: 0, index: 0, session: '', ...fields });

test('every command type round-trips and re-encodes to the same bytes', () => {
  const seen = new Set<string>();
  const commands: StateCommand[] = [
    { type: 'kvSet', nowMs: NOW, key: 'web/config', value: bytes('{"a":1}'), flags: 42 },
    { type: 'kvCas', nowMs: 0, key: 'k', value: new Uint8Array(0), flags: Number.MAX_SAFE_INTEGER, casIndex: 0 },
    { type: 'kvDelete', nowMs: NOW, key: 'é/🛰' },
    { type: 'kvDeleteTree', nowMs: NOW, prefix: '' },
    { type: 'kvDeleteCas', nowMs: NOW, key: 'k', casIndex: 2 ** 40 },
    { type: 'kvLock', nowMs: NOW, key: 'leader', value: bytes('me'), flags: 0, session: uuid(1) },
    { type: 'kvUnlock', nowMs: NOW, key: 'leader', value: bytes(''), flags: 0, session: uuid(1) },
    { type: 'txn', nowMs: NOW, ops: [op({ verb: 'lock', session: uuid(2) }), op({ verb: 'get-tree', key: '' }), op({ verb: 'check-session', session: '' })] },
    {
      type: 'catalogRegister', nowMs: NOW, skipNodeUpdate: false,
      node: { id: '40E4A748-2192-161A-0510-9BF59FE950B5', node: 'n1', address: '10.0.0.1', datacenter: 'dc1', taggedAddresses: { lan: '10.0.0.1', wan: '1.2.3.4' }, meta: { rack: 'r1' } },
      service: { ...service('redis1', 'redis', ['primary', 'v1'], 6379), taggedAddresses: { lan: { address: '10.0.0.1', port: 6379 } }, meta: { version: '7' }, enableTagOverride: true },
      checks: [check_('serfHealth'), { ...check_('redis-tcp', 'critical', 'redis1'), type: 'tcp', definition: '{"TCP":"10.0.0.1:6379","Interval":"10s"}' }],
    },
    { type: 'catalogRegister', nowMs: NOW, skipNodeUpdate: true, node: { id: '', node: 'n1', address: '', datacenter: '', taggedAddresses: {}, meta: {} }, service: null, checks: [] },
    { type: 'catalogDeregister', nowMs: NOW, node: 'n1', serviceId: 'redis1', checkId: '' },
    { type: 'nodeHealth', nowMs: NOW, node: 'n1', status: 'critical', output: 'Agent not live or unreachable' },
    { type: 'sessionCreate', nowMs: NOW, id: uuid(3), node: 'n1', name: 'lock', ttlMs: 86_400_000, lockDelayMs: 60_000, behavior: 'delete', nodeChecks: ['serfHealth'], serviceChecks: ['redis-tcp'] },
    { type: 'sessionDestroy', nowMs: NOW, id: uuid(3) },
    { type: 'sessionRenew', nowMs: NOW, id: uuid(3) },
    { type: 'sessionExpire', nowMs: NOW, id: uuid(3) },
    { type: 'stateRestore', nowMs: NOW, snapshot: bytes('not decoded by the codec: the state machine decodes it') },
  ];
  for (const command of commands) {
    roundTrip(command);
    seen.add(command.type);
  }
  assert.equal([...seen].sort(), [...STATE_COMMAND_TYPES].sort(), 'every type covered');
});

test('a "__proto__" meta key survives as data', () => {
  const meta = Object.defineProperty({}, '__proto__', { value: 'x', enumerable: true }) as Record<string, string>;
  const command: StateCommand = { type: 'catalogRegister', nowMs: NOW, skipNodeUpdate: false, node: { id: '', node: 'n', address: 'a', datacenter: '', taggedAddresses: {}, meta }, service: null, checks: [] };
  const decoded = decodeStateCommand(encodeStateCommand(command)) as typeof command;
  assert.is(Object.getPrototypeOf(decoded.node.meta), Object.prototype);
  assert.is(decoded.node.meta['__proto__'], 'x');
});

test('bounds: key 512 bytes, value 512 KiB, txn 128 operations and 512 KiB of values', () => {
  const limits = DEFAULT_STATE_COMMAND_LIMITS;
  roundTrip({ type: 'kvSet', nowMs: NOW, key: 'k'.repeat(limits.maxKeyBytes), value: new Uint8Array(limits.maxValueBytes), flags: 0 });
  encodeFails({ type: 'kvSet', nowMs: NOW, key: 'k'.repeat(limits.maxKeyBytes + 1), value: new Uint8Array(0), flags: 0 }, 'too-large');
  encodeFails({ type: 'kvSet', nowMs: NOW, key: 'é'.repeat(257), value: new Uint8Array(0), flags: 0 }, 'too-large'); // 514 UTF-8 bytes
  encodeFails({ type: 'kvSet', nowMs: NOW, key: 'k', value: new Uint8Array(limits.maxValueBytes + 1), flags: 0 }, 'too-large');
  roundTrip({ type: 'txn', nowMs: NOW, ops: Array.from({ length: 128 }, (_, i) => op({ key: `k${i}` })) });
  encodeFails({ type: 'txn', nowMs: NOW, ops: Array.from({ length: 129 }, () => op({})) }, 'too-large');
  encodeFails({ type: 'txn', nowMs: NOW, ops: [] }, 'invalid-value');
  encodeFails({ type: 'txn', nowMs: NOW, ops: [op({ value: new Uint8Array(300_000) }), op({ value: new Uint8Array(300_000) })] }, 'too-large');

  // The decoder enforces the same limits on hand-made bytes.
  const oversizeKey = encodeStateCommand({ type: 'kvDelete', nowMs: 0, key: 'k'.repeat(600) }, { ...limits, maxKeyBytes: 1000 });
  decodeFails(oversizeKey, 'too-large');
  decodeStateCommand(oversizeKey, { ...limits, maxKeyBytes: 600 });
  const txn129 = encodeStateCommand({ type: 'txn', nowMs: 0, ops: Array.from({ length: 129 }, () => op({})) }, { ...limits, maxTxnOps: 200 });
  decodeFails(txn129, 'count-out-of-bounds');
});

test('invalid fields: empty key, leading slash, non-UUID sessions, TTL and lock-delay ranges, warning from nodeHealth', () => {
  encodeFails({ type: 'kvSet', nowMs: NOW, key: '', value: new Uint8Array(0), flags: 0 }, 'invalid-value');
  encodeFails({ type: 'kvDelete', nowMs: NOW, key: '/abs' }, 'invalid-value');
  encodeFails({ type: 'kvDeleteTree', nowMs: NOW, prefix: '/abs' }, 'invalid-value');
  encodeFails({ type: 'kvLock', nowMs: NOW, key: 'k', value: new Uint8Array(0), flags: 0, session: 'not-a-uuid' }, 'invalid-value');
  encodeFails({ type: 'kvLock', nowMs: NOW, key: 'k', value: new Uint8Array(0), flags: 0, session: '' }, 'invalid-value');
  encodeFails({ type: 'txn', nowMs: NOW, ops: [op({ verb: 'unlock', session: '' })] }, 'invalid-value');
  encodeFails({ type: 'sessionDestroy', nowMs: NOW, id: 'ABCDEF00-0000-4000-8000-000000000001' }, 'invalid-value');
  const session = { type: 'sessionCreate', nowMs: NOW, id: uuid(1), node: 'n', name: '', ttlMs: 0, lockDelayMs: 0, behavior: 'release', nodeChecks: [], serviceChecks: [] };
  encodeFails({ ...session, ttlMs: 9_999 }, 'invalid-value');
  encodeFails({ ...session, ttlMs: 86_400_001 }, 'invalid-value');
  encodeFails({ ...session, lockDelayMs: 60_001 }, 'too-large');
  encodeFails({ ...session, behavior: 'keep' }, 'invalid-value');
  encodeFails({ ...session, nodeChecks: ['a', 'a'] }, 'invalid-value');
  encodeFails({ type: 'nodeHealth', nowMs: NOW, node: 'n', status: 'warning', output: '' }, 'invalid-value');
  encodeFails({ type: 'kvSet', nowMs: -1, key: 'k', value: new Uint8Array(0), flags: 0 }, 'invalid-number');
  encodeFails({ type: 'kvSet', nowMs: NOW, key: 'k\uD800', value: new Uint8Array(0), flags: 0 }, 'invalid-string');
  encodeFails({ type: 'kvSet', nowMs: NOW, key: 'k', value: 'text', flags: 0 }, 'invalid-value');
  encodeFails({ type: 'nope', nowMs: NOW }, 'invalid-value');
  const register = { type: 'catalogRegister', nowMs: NOW, skipNodeUpdate: false, node: { id: '', node: 'n', address: 'a', datacenter: '', taggedAddresses: {}, meta: {} }, service: null, checks: [] };
  encodeFails({ ...register, node: { ...register.node, address: '' } }, 'invalid-value');
  encodeFails({ ...register, node: { ...register.node, id: 'not-a-uuid' } }, 'invalid-value');
  encodeFails({ ...register, checks: [check_('a'), check_('a')] }, 'invalid-value');
  encodeFails({ ...register, checks: [{ ...check_('a'), definition: '[1]' }] }, 'invalid-value');
  encodeFails({ ...register, service: { ...service('s'), port: 70_000 } }, 'too-large');
  encodeFails({ ...register, service: { ...service('s'), weights: { passing: 0, warning: 1 } } }, 'invalid-value');
});

test('malformed bytes: version, type, truncation, trailing bytes, non-canonical varints, unknown flag bits', () => {
  const good = encodeStateCommand({ type: 'kvDelete', nowMs: 5, key: 'k' });
  assert.is(good[0], STATE_COMMAND_CODEC_VERSION);
  decodeFails(new Uint8Array(0), 'truncated');
  decodeFails(Uint8Array.of(2, ...good.subarray(1)), 'unknown-version');
  decodeFails(Uint8Array.of(1, 0, 5), 'unknown-message-type');
  decodeFails(Uint8Array.of(1, 200, 5), 'unknown-message-type');
  decodeFails(good.subarray(0, 2), 'truncated');
  decodeFails(good.subarray(0, good.length - 1), 'length-out-of-bounds');
  decodeFails(Uint8Array.of(...good, 0), 'trailing-bytes');
  decodeFails(Uint8Array.of(1, 3, 0x85, 0x00, 1, 0x6b), 'non-canonical');
  decodeFails(Uint8Array.of(1, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 0x6b), 'unsafe-integer');
  decodeFails(Uint8Array.of(1, 3, 5, 2, 0xc3, 0x28), 'invalid-utf8');
  decodeFails(Uint8Array.of(1, 3, 5, 50, 0x6b), 'length-out-of-bounds');
  const register = encodeStateCommand({ type: 'catalogRegister', nowMs: 0, skipNodeUpdate: false, node: { id: '', node: 'n', address: 'a', datacenter: '', taggedAddresses: {}, meta: {} }, service: null, checks: [] });
  const badFlags = register.slice();
  badFlags[3] = 0x04;
  decodeFails(badFlags, 'invalid-value');
  const small = { ...DEFAULT_STATE_COMMAND_LIMITS, maxCommandBytes: 10 };
  const eleven = encodeStateCommand({ type: 'kvSet', nowMs: 0, key: 'k', value: new Uint8Array(4), flags: 0 });
  assert.is(eleven.length, 11);
  assert.throws(() => decodeStateCommand(eleven, small), (error: unknown) => error instanceof DecodeError && error.reason === 'too-large');
  assert.throws(() => encodeStateCommand({ type: 'kvSet', nowMs: 0, key: 'k', value: new Uint8Array(4), flags: 0 }, small), (error: unknown) => error instanceof EncodeError && error.reason === 'too-large');
});

// ---------------------------------------------------------------- fuzzing

const prng = new SeededPrng(0x73746174);

function decodeOrDecodeError(data: Uint8Array): 'ok' | 'refused' {
  let command: StateCommand;
  try {
    command = decodeStateCommand(data);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw new Error(`decoder threw ${String(error)} for ${Buffer.from(data).toString('hex')}`);
    return 'refused';
  }
  // Accepted: it must be a valid command, and canonical.
  assert.equal(encodeStateCommand(command), data, 'an accepted input re-encodes to the same bytes');
  return 'ok';
}

function mutate(data: Uint8Array): Uint8Array {
  const out = Array.from(data);
  for (let edits = 1 + prng.nextInt(3); edits > 0; edits--) {
    const at = prng.nextInt(out.length + 1);
    switch (prng.nextInt(5)) {
      case 0: if (out.length > 0) out[at % out.length] = prng.nextInt(256); break;
      case 1: if (out.length > 0) out[at % out.length]! ^= 1 << prng.nextInt(8); break;
      case 2: out.splice(at, 0, prng.nextInt(256)); break;
      case 3: out.splice(at, 1 + prng.nextInt(3)); break;
      default: out.length = Math.min(out.length, at); break;
    }
  }
  return Uint8Array.from(out);
}

test('fuzz: 6,000 random inputs decode or throw DecodeError', () => {
  for (let i = 0; i < 6_000; i++) {
    const data = new Uint8Array(prng.nextInt(64));
    for (let j = 0; j < data.length; j++) data[j] = prng.nextInt(256);
    // Most start like a real command, so the fuzzing gets past the first two bytes.
    if (data.length > 1 && prng.nextInt(4) !== 0) {
      data[0] = STATE_COMMAND_CODEC_VERSION;
      data[1] = 1 + prng.nextInt(STATE_COMMAND_TYPES.length);
    }
    decodeOrDecodeError(data);
  }
});

test('fuzz: 6,000 generated commands round-trip, and 12,000 mutations of them decode or throw DecodeError', () => {
  const generator = new CommandGenerator(0xf022);
  let accepted = 0;
  for (let i = 0; i < 6_000; i++) {
    const { command } = generator.next(prng.nextInt(10_000));
    const stamped = { nowMs: prng.nextInt(2) ? NOW + i : prng.nextInt(300), ...command } as StateCommand;
    const encoded = roundTrip(stamped);
    if (decodeOrDecodeError(mutate(encoded)) === 'ok') accepted++;
    if (decodeOrDecodeError(mutate(mutate(encoded))) === 'ok') accepted++;
  }
  // Some mutations land in free-form bytes (a value, a string's content) and stay valid; most do not.
  assert.ok(accepted > 100 && accepted < 10_000, `${accepted} of 12,000 mutations accepted`);
});

test.run();

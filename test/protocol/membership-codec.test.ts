import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError, EncodeError } from '../../protocol/errors.ts';
import type { DecodeReason, EncodeReason } from '../../protocol/errors.ts';
import {
  decodeMembershipMessage,
  DEFAULT_MEMBERSHIP_LIMITS,
  encodedUpdateSize,
  encodeMembershipMessage,
  MEMBERSHIP_CODEC_VERSION,
  MembershipMessageType,
  MemberState,
} from '../../protocol/membership.ts';
import type { MemberRecord, MembershipMessage, MembershipUpdate, Tags } from '../../protocol/membership.ts';
import { SeededPrng } from '../../raft/prng.ts';

const T = MembershipMessageType;

function decodeFails(bytes: Uint8Array, reason: DecodeReason, limits = DEFAULT_MEMBERSHIP_LIMITS): void {
  try {
    decodeMembershipMessage(bytes, limits);
  } catch (error) {
    assert.instance(error, DecodeError, `expected DecodeError, got ${String(error)}`);
    assert.is((error as DecodeError).reason, reason, (error as DecodeError).message);
    return;
  }
  assert.unreachable(`decoding succeeded; expected ${reason}`);
}

function encodeFails(message: MembershipMessage, reason: EncodeReason): void {
  try {
    encodeMembershipMessage(message);
  } catch (error) {
    assert.instance(error, EncodeError, `expected EncodeError, got ${String(error)}`);
    assert.is((error as EncodeError).reason, reason, (error as EncodeError).message);
    return;
  }
  assert.unreachable(`encoding succeeded; expected ${reason}`);
}

function roundTrip(message: MembershipMessage): Uint8Array {
  const bytes = encodeMembershipMessage(message);
  const decoded = decodeMembershipMessage(bytes);
  assert.equal(decoded, message);
  assert.equal(encodeMembershipMessage(decoded), bytes, 're-encoding gives the same bytes');
  return bytes;
}

const alive: MembershipUpdate = { type: T.Alive, node: 'n1', incarnation: 3, address: '/ip4/127.0.0.11/tcp/8301', tags: { dc: 'dc1', role: 'voter' } };
const suspect: MembershipUpdate = { type: T.Suspect, node: 'n2', incarnation: 7, from: 'n1' };
const dead: MembershipUpdate = { type: T.Dead, node: 'n3', incarnation: 2 ** 40, from: 'n3' };

// ---------------------------------------------------------------- round trips

test('every message type round-trips and re-encodes to the same bytes', () => {
  roundTrip({ type: T.Ping, seq: 0, target: 'n2', updates: [] });
  roundTrip({ type: T.Ping, seq: Number.MAX_SAFE_INTEGER, target: 'n2', updates: [alive, suspect, dead] });
  roundTrip({ type: T.Ack, seq: 17, nack: false, updates: [suspect] });
  roundTrip({ type: T.Ack, seq: 17, nack: true, updates: [] });
  roundTrip({ type: T.PingReq, seq: 9, target: 'n4', targetAddress: '10.0.0.4:8301', requester: 'n1', nack: true, timeoutMs: 500, updates: [dead] });
  roundTrip(alive);
  roundTrip({ ...alive, tags: {} });
  roundTrip(suspect);
  roundTrip(dead);
  const members: MemberRecord[] = [
    { node: 'n1', address: 'a', incarnation: 1, state: MemberState.Alive, tags: { role: 'voter' } },
    { node: 'n2', address: '', incarnation: 0, state: MemberState.Suspect, tags: {} },
    { node: 'n3', address: 'c', incarnation: 5, state: MemberState.Dead, tags: {} },
    { node: 'n4', address: 'd', incarnation: 6, state: MemberState.Left, tags: {} },
  ];
  roundTrip({ type: T.PushPull, join: true, reply: false, members });
  roundTrip({ type: T.PushPull, join: false, reply: true, members: [] });
});

test('non-ASCII ids and tags, and a "__proto__" tag key, survive as data', () => {
  const tags: Tags = Object.defineProperty({ zone: 'zürich' }, '__proto__', { value: 'x', enumerable: true }) as Tags;
  const bytes = roundTrip({ type: T.Alive, node: 'nœud-🛰', incarnation: 1, address: '', tags });
  const decoded = decodeMembershipMessage(bytes) as { tags: Tags };
  assert.is(Object.getPrototypeOf(decoded.tags), Object.prototype);
  assert.is(decoded.tags['__proto__'], 'x');
});

test('tags are written sorted whatever their insertion order', () => {
  const a = encodeMembershipMessage({ ...alive, tags: { b: '2', a: '1', '10': 'x' } });
  const b = encodeMembershipMessage({ ...alive, tags: { '10': 'x', a: '1', b: '2' } });
  assert.equal(a, b);
});

test('encodedUpdateSize is the size of the update inside a piggyback list', () => {
  const ping = encodeMembershipMessage({ type: T.Ping, seq: 1, target: 'x', updates: [] });
  const withOne = encodeMembershipMessage({ type: T.Ping, seq: 1, target: 'x', updates: [alive] });
  assert.is(withOne.length - ping.length, encodedUpdateSize(alive));
});

// ---------------------------------------------------------------- validation

test('the decoder refuses what the protocol cannot mean', () => {
  const ping = encodeMembershipMessage({ type: T.Ping, seq: 1, target: 'n2', updates: [] });
  decodeFails(new Uint8Array(0), 'truncated');
  decodeFails(Uint8Array.of(2, T.Ping), 'unknown-version');
  decodeFails(Uint8Array.of(MEMBERSHIP_CODEC_VERSION, 99), 'unknown-message-type');
  decodeFails(ping.subarray(0, ping.length - 1), 'truncated');
  decodeFails(Uint8Array.of(...ping, 0), 'trailing-bytes');
  // Empty target id.
  decodeFails(Uint8Array.of(1, T.Ping, 1, 0, 0), 'invalid-value');
  // A Ping piggybacking a Ping.
  decodeFails(Uint8Array.of(1, T.Ping, 1, 1, 0x78, 1, T.Ping, 1, 1, 0x78, 0, 0), 'unknown-message-type');
  // Ack flags with an unknown bit.
  decodeFails(Uint8Array.of(1, T.Ack, 1, 2, 0), 'invalid-value');
  // Non-minimal varint seq.
  decodeFails(Uint8Array.of(1, T.Ack, 0x81, 0x00, 0, 0), 'non-canonical');
  // Invalid UTF-8 in a node id.
  decodeFails(Uint8Array.of(1, T.Suspect, 1, 0xff, 1, 1, 0x61), 'invalid-utf8');
});

test('push-pull records: unknown states, duplicates and oversize counts are refused', () => {
  const record = (node: number, state: number) => [1, node, 0, 1, state, 0];
  decodeFails(Uint8Array.of(1, T.PushPull, 0, 1, ...record(0x61, 4)), 'invalid-value');
  decodeFails(Uint8Array.of(1, T.PushPull, 0, 2, ...record(0x61, 0), ...record(0x61, 0)), 'invalid-value');
  decodeFails(Uint8Array.of(1, T.PushPull, 4, 0), 'invalid-value');
  decodeFails(Uint8Array.of(1, T.PushPull, 0, 0xff, 0x7f), 'count-out-of-bounds');
  const limits = { ...DEFAULT_MEMBERSHIP_LIMITS, maxMembersPerPushPull: 1 };
  decodeFails(Uint8Array.of(1, T.PushPull, 0, 2, ...record(0x61, 0), ...record(0x62, 0)), 'count-out-of-bounds', limits);
});

test('tags must be sorted, with non-empty keys, and within the size bound', () => {
  // Alive n=a inc=1 address='' tags: b=, a=  (descending)
  decodeFails(Uint8Array.of(1, T.Alive, 1, 0x61, 1, 0, 2, 1, 0x62, 0, 1, 0x61, 0), 'non-canonical');
  decodeFails(Uint8Array.of(1, T.Alive, 1, 0x61, 1, 0, 1, 0, 0, 0), 'invalid-value');
  encodeFails({ ...alive, tags: { big: 'x'.repeat(600) } }, 'too-large');
  encodeFails({ ...alive, tags: { '': 'x' } }, 'invalid-value');
});

test('the encoder refuses values that would not decode', () => {
  encodeFails({ type: T.Ping, seq: -1, target: 'n2', updates: [] }, 'invalid-number');
  encodeFails({ type: T.Ping, seq: 1.5, target: 'n2', updates: [] }, 'invalid-number');
  encodeFails({ type: T.Ping, seq: 1, target: '', updates: [] }, 'invalid-value');
  encodeFails({ type: T.Ping, seq: 1, target: 'x'.repeat(257), updates: [] }, 'too-large');
  encodeFails({ type: T.Ping, seq: 1, target: '\ud800', updates: [] }, 'invalid-string');
  encodeFails({ type: T.Ping, seq: 1, target: 'n2', updates: [{ type: T.Ping } as unknown as MembershipUpdate] }, 'invalid-value');
  encodeFails({ type: T.PingReq, seq: 1, target: 'n2', targetAddress: '', requester: 'n1', nack: true, timeoutMs: 10 ** 9, updates: [] }, 'too-large');
  encodeFails({ type: T.PushPull, join: false, reply: false, members: [{ node: 'a', address: '', incarnation: 0, state: 9 as MemberState, tags: {} }] }, 'invalid-value');
  const twice: MemberRecord = { node: 'a', address: '', incarnation: 0, state: MemberState.Alive, tags: {} };
  encodeFails({ type: T.PushPull, join: false, reply: false, members: [twice, twice] }, 'invalid-value');
  encodeFails({ type: T.Ping, seq: 1, target: 'n2', updates: Array.from({ length: 257 }, () => suspect) }, 'too-large');
});

test('a message over maxMessageBytes is refused before it is parsed', () => {
  const limits = { ...DEFAULT_MEMBERSHIP_LIMITS, maxMessageBytes: 8 };
  decodeFails(encodeMembershipMessage(alive), 'too-large', limits);
});

// ---------------------------------------------------------------- fuzzing

const prng = new SeededPrng(0x6d656d62);

function randomString(maxLength: number): string {
  const alphabet = ['a', 'b', 'n', '1', '2', '/', ':', '.', 'é', '🛰', '\u0000', 'Z'];
  const length = prng.nextInt(maxLength + 1);
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[prng.nextInt(alphabet.length)]!;
  return text;
}

function randomId(): string {
  return `n${randomString(6)}`;
}

function randomNumber(): number {
  const edges = [0, 1, 127, 128, 16_383, 16_384, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
  return prng.nextFloat() < 0.3 ? edges[prng.nextInt(edges.length)]! : prng.nextInt(100_000);
}

function randomTags(): Tags {
  const tags: Record<string, string> = {};
  const count = prng.nextInt(4);
  for (let i = 0; i < count; i++) tags[`k${randomString(4)}`] = randomString(10);
  return tags;
}

function randomUpdate(): MembershipUpdate {
  switch (prng.nextInt(3)) {
    case 0: return { type: T.Alive, node: randomId(), incarnation: randomNumber(), address: randomString(20), tags: randomTags() };
    case 1: return { type: T.Suspect, node: randomId(), incarnation: randomNumber(), from: randomId() };
    default: return { type: T.Dead, node: randomId(), incarnation: randomNumber(), from: randomId() };
  }
}

function randomUpdates(): MembershipUpdate[] {
  return Array.from({ length: prng.nextInt(5) }, randomUpdate);
}

function randomMessage(): MembershipMessage {
  switch (prng.nextInt(5)) {
    case 0: return { type: T.Ping, seq: randomNumber(), target: randomId(), updates: randomUpdates() };
    case 1: return { type: T.Ack, seq: randomNumber(), nack: prng.nextInt(2) === 1, updates: randomUpdates() };
    case 2: return { type: T.PingReq, seq: randomNumber(), target: randomId(), targetAddress: randomString(20), requester: randomId(), nack: prng.nextInt(2) === 1, timeoutMs: prng.nextInt(600_001), updates: randomUpdates() };
    case 3: return randomUpdate();
    default: {
      const members: MemberRecord[] = [];
      const seen = new Set<string>();
      for (let i = prng.nextInt(8); i > 0; i--) {
        const node = randomId();
        if (seen.has(node)) continue;
        seen.add(node);
        members.push({ node, address: randomString(20), incarnation: randomNumber(), state: prng.nextInt(4) as MemberState, tags: randomTags() });
      }
      return { type: T.PushPull, join: prng.nextInt(2) === 1, reply: prng.nextInt(2) === 1, members };
    }
  }
}

function mutate(bytes: Uint8Array): Uint8Array {
  const out = [...bytes];
  for (let edits = 1 + prng.nextInt(3); edits > 0; edits--) {
    const at = prng.nextInt(out.length + 1);
    switch (prng.nextInt(6)) {
      case 0: if (out.length > 0) out[at % out.length] = prng.nextInt(256); break;
      case 1: if (out.length > 0) out[at % out.length]! ^= 1 << prng.nextInt(8); break;
      case 2: out.splice(at, 0, prng.nextInt(256)); break;
      case 3: out.splice(at, 1); break;
      case 4: out.length = at; break;
      default: if (out.length > 0) out[at % out.length] = [0, 0x7f, 0x80, 0xff][prng.nextInt(4)]!; break;
    }
  }
  return Uint8Array.from(out);
}

/** Decoding either yields a message that re-encodes to the same bytes, or throws DecodeError; nothing else. */
function decodeOrDecodeError(bytes: Uint8Array): 'ok' | 'error' {
  let decoded: MembershipMessage;
  try {
    decoded = decodeMembershipMessage(bytes);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw new Error(`input ${Buffer.from(bytes).toString('hex')} threw ${String(error)}`);
    return 'error';
  }
  const again = encodeMembershipMessage(decoded);
  if (Buffer.compare(Buffer.from(again), Buffer.from(bytes)) !== 0) {
    throw new Error(`input ${Buffer.from(bytes).toString('hex')} decoded but re-encoded differently`);
  }
  return 'ok';
}

test('fuzz: 6,000 random inputs decode or throw DecodeError', () => {
  let ok = 0;
  for (let i = 0; i < 6_000; i++) {
    const length = prng.nextInt(64);
    const bytes = new Uint8Array(length);
    for (let j = 0; j < length; j++) bytes[j] = prng.nextInt(256);
    // Half of them start like a real message, so the fuzzing gets past the first two bytes.
    if (length >= 2 && i % 2 === 0) {
      bytes[0] = MEMBERSHIP_CODEC_VERSION;
      bytes[1] = 1 + prng.nextInt(7);
    }
    if (decodeOrDecodeError(bytes) === 'ok') ok++;
  }
  assert.ok(ok < 6_000);
});

test('fuzz: 6,000 random valid messages round-trip, and 6,000 mutations of them decode or throw DecodeError', () => {
  let accepted = 0;
  for (let i = 0; i < 6_000; i++) {
    const message = randomMessage();
    const bytes = encodeMembershipMessage(message);
    assert.equal(decodeMembershipMessage(bytes), message);
    if (decodeOrDecodeError(mutate(bytes)) === 'ok') accepted++;
  }
  // Some mutations land on free-form bytes (a string's content) and stay valid; most do not.
  assert.ok(accepted > 0 && accepted < 6_000, `accepted ${accepted}`);
});

test.run();

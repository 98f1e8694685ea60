// The user event codec (protocol/events.ts): round trips, bounds, and fuzzing:
// any bytes either decode to an event that re-encodes to the same bytes, or
// throw DecodeError, nothing else.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError, EncodeError } from '../../../protocol/errors.ts';
import {
  decodeUserEvent, encodeUserEvent, EVENT_CODEC_VERSION, EVENT_MESSAGE_MAX_BYTES, EVENT_PAYLOAD_MAX_BYTES, eventTopic,
} from '../../../protocol/events.ts';
import type { UserEvent } from '../../../protocol/events.ts';
import { SeededPrng } from '../../../raft/prng.ts';

const base: UserEvent = {
  id: '0f8c3a51-6b2e-4d7f-9a10-2b3c4d5e6f70', name: 'deploy', payload: new Uint8Array([1, 2, 3]),
  nodeFilter: '^web-', serviceFilter: 'web', tagFilter: 'v1', ltime: 300,
};

function decodeReason(bytes: Uint8Array): string {
  try {
    decodeUserEvent(bytes);
  } catch (error) {
    assert.instance(error, DecodeError);
    return (error as DecodeError).reason;
  }
  return 'ok';
}

test('round trip, with an empty payload, unicode and large ltime', () => {
  for (const event of [
    base,
    { ...base, payload: new Uint8Array(0), nodeFilter: '', serviceFilter: '', tagFilter: '', ltime: 0 },
    { ...base, name: 'déploiement-🚀', ltime: Number.MAX_SAFE_INTEGER },
    { ...base, payload: new Uint8Array(EVENT_PAYLOAD_MAX_BYTES).fill(0xff) },
  ]) {
    const bytes = encodeUserEvent(event);
    assert.is(bytes[0], EVENT_CODEC_VERSION);
    assert.ok(bytes.length <= EVENT_MESSAGE_MAX_BYTES);
    assert.equal(decodeUserEvent(bytes), event);
  }
  assert.is(eventTopic('dc1'), 'tribune/dc1/events/1');
});

test('a name starting with U+FEFF keeps it (no byte-order mark is stripped)', () => {
  const event = { ...base, name: '\ufeffdeploy' };
  assert.is(decodeUserEvent(encodeUserEvent(event)).name, '\ufeffdeploy');
});

test('the encoder refuses what would not decode back', () => {
  const reasons = (event: UserEvent) => {
    try {
      encodeUserEvent(event);
      return 'ok';
    } catch (error) {
      assert.instance(error, EncodeError);
      return `${(error as EncodeError).reason}:${(error as EncodeError).field}`;
    }
  };
  assert.is(reasons({ ...base, id: 'not-a-uuid' }), 'invalid-value:id');
  assert.is(reasons({ ...base, id: base.id.toUpperCase() }), 'invalid-value:id');
  assert.is(reasons({ ...base, name: '' }), 'invalid-value:name');
  assert.is(reasons({ ...base, ltime: -1 }), 'invalid-number:ltime');
  assert.is(reasons({ ...base, ltime: 1.5 }), 'invalid-number:ltime');
  assert.is(reasons({ ...base, payload: new Uint8Array(EVENT_PAYLOAD_MAX_BYTES + 1) }), 'too-large:payload');
  assert.is(reasons({ ...base, name: 'x'.repeat(257) }), 'too-large:name');
  assert.is(reasons({ ...base, tagFilter: '\uD800' }), 'invalid-string:tagFilter');
});

test('bad input is DecodeError with its reason', () => {
  const good = encodeUserEvent(base);
  assert.is(decodeReason(new Uint8Array(0)), 'truncated');
  assert.is(decodeReason(Uint8Array.from([2, ...good.subarray(1)])), 'unknown-version');
  assert.is(decodeReason(good.subarray(0, 10)), 'truncated');
  assert.is(decodeReason(good.subarray(0, good.length - 1)), 'length-out-of-bounds');
  assert.is(decodeReason(Uint8Array.from([...good, 0])), 'trailing-bytes');
  assert.is(decodeReason(new Uint8Array(EVENT_MESSAGE_MAX_BYTES + 1).fill(1)), 'too-large');
  // ltime 0 written as two bytes (0x80 0x00): non-canonical.
  const header = good.subarray(0, 17);
  assert.is(decodeReason(Uint8Array.from([...header, 0x80, 0x00, 1, 0x61, 0, 0, 0, 0])), 'non-canonical');
  assert.is(decodeReason(Uint8Array.from([...header, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), 'unsafe-integer');
  assert.is(decodeReason(Uint8Array.from([...header, 0, 0, 0, 0, 0, 0])), 'invalid-value'); // empty name
  assert.is(decodeReason(Uint8Array.from([...header, 0, 1, 0xff, 0, 0, 0, 0])), 'invalid-utf8');
  assert.is(decodeReason(Uint8Array.from([...header, 0, 1, 0x61, 0x81, 0x04])), 'too-large'); // payload 513
});

test('fuzz: random and mutated bytes decode to a re-encodable event or throw DecodeError', () => {
  const prng = new SeededPrng(6);
  const good = encodeUserEvent(base);
  let decoded = 0;
  for (let round = 0; round < 20_000; round++) {
    let bytes: Uint8Array;
    if (round % 2 === 0) {
      bytes = Uint8Array.from(good);
      const flips = 1 + prng.nextInt(4);
      for (let i = 0; i < flips; i++) bytes[prng.nextInt(bytes.length)] = prng.nextInt(256);
      if (prng.nextInt(4) === 0) bytes = bytes.subarray(0, prng.nextInt(bytes.length + 1));
    } else {
      bytes = new Uint8Array(prng.nextInt(64));
      for (let i = 0; i < bytes.length; i++) bytes[i] = prng.nextInt(256);
      if (bytes.length > 0 && prng.nextInt(2) === 0) bytes[0] = EVENT_CODEC_VERSION;
    }
    let event: UserEvent;
    try {
      event = decodeUserEvent(bytes);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      continue;
    }
    decoded++;
    assert.equal(encodeUserEvent(event), Uint8Array.from(bytes));
  }
  assert.ok(decoded > 100, `only ${decoded} inputs decoded`);
});

test.run();

// The agent RPC decoder refuses anything malformed with a DecodeError, never
// anything else, so a hostile or buggy peer cannot crash an agent.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError } from '../../protocol/errors.ts';
import { decodeRpcRequest, decodeRpcResponse, encodeRpc } from '../../protocol/rpc.ts';
import type { RpcRequest } from '../../protocol/rpc.ts';
import { SeededPrng } from '../../raft/prng.ts';

const valid: RpcRequest[] = [
  { method: 'bootstrapPrepare', clusterId: 'dc1-abc', voters: ['p1', 'p2', 'p3'] },
  { method: 'bootstrapCommit', clusterId: 'dc1-abc', voters: ['p1'] },
  { method: 'bootstrapAbort', clusterId: 'dc1-abc' },
  { method: 'raftJoin', clusterId: 'dc1-abc' },
  { method: 'propose', data: 'AAEC' },
  { method: 'readIndex', mode: 'lease' },
];

test('every request kind round-trips', () => {
  for (const request of valid) assert.equal(decodeRpcRequest(encodeRpc(request)), request);
});

test('byte arrays in a response survive the trip (state-machine results hold values as bytes)', () => {
  const response = decodeRpcResponse(encodeRpc({ ok: true, result: { value: new Uint8Array([0, 1, 255]), nested: [{ key: 'a', value: new Uint8Array(0) }] } }));
  assert.equal(response, { ok: true, result: { value: new Uint8Array([0, 1, 255]), nested: [{ key: 'a', value: new Uint8Array(0) }] } });
});

test('malformed requests are refused with a message naming the problem', () => {
  const cases: [unknown, RegExp][] = [
    [{ method: 'dropTables' }, /unknown method/],
    [{ method: 'bootstrapPrepare', clusterId: 'x', voters: [] }, /voters/],
    [{ method: 'bootstrapPrepare', clusterId: 'x', voters: ['a', 'a'] }, /duplicates/],
    [{ method: 'readIndex', mode: 'fast' }, /mode/],
    [{ method: 'raftJoin', clusterId: '' }, /clusterId/],
    [[1, 2], /object/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(() => decodeRpcRequest(new TextEncoder().encode(JSON.stringify(value))), (error: unknown) => error instanceof DecodeError && pattern.test((error as Error).message));
  }
  assert.throws(() => decodeRpcRequest(new Uint8Array([0xff, 0xfe, 0x00])), (error: unknown) => error instanceof DecodeError);
  assert.throws(() => decodeRpcResponse(new TextEncoder().encode('{"ok":false}')), (error: unknown) => error instanceof DecodeError);
});

test('5,000 random and 5,000 mutated inputs decode or throw DecodeError, nothing else', () => {
  const prng = new SeededPrng(20261125);
  const encoded = valid.map((request) => encodeRpc(request));
  for (let i = 0; i < 10_000; i++) {
    let bytes: Uint8Array;
    if (i < 5_000) {
      bytes = new Uint8Array(prng.nextInt(64));
      for (let j = 0; j < bytes.length; j++) bytes[j] = prng.nextInt(256);
    } else {
      const base = encoded[prng.nextInt(encoded.length)]!;
      bytes = base.slice(0, Math.max(0, base.length - prng.nextInt(4)));
      for (let flips = 1 + prng.nextInt(3); flips > 0 && bytes.length > 0; flips--) bytes[prng.nextInt(bytes.length)] = 32 + prng.nextInt(95);
    }
    try {
      const request = decodeRpcRequest(bytes);
      assert.equal(decodeRpcRequest(encodeRpc(request)), request);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw new Error(`input ${i} threw ${String(error)}`);
    }
  }
});

test.run();

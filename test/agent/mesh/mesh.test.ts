// Three meshes on 127.0.0.21-23 (free ports), joined by bare host:port as an operator would.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { multiaddr } from '@multiformats/multiaddr';
import { createMesh } from '../../../agent/mesh/mesh.ts';
import type { Mesh } from '../../../agent/mesh/mesh.ts';
import {
  MeshAddressError, MeshListenError, MeshMessageTooLargeError, MeshProtocolRefusedError, MeshRemoteError, MeshStoppedError,
  MeshTimeoutError, MeshUnreachableError,
} from '../../../agent/mesh/errors.ts';
import { FaultSwitch } from '../../../agent/mesh/faults.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const faults = new FaultSwitch();
let a: Mesh;
let b: Mesh;
let c: Mesh;

async function eventually(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

function hostOf(address: string): string {
  return multiaddr(address).toOptions().host;
}

test.before(async () => {
  const small = { maxMessageBytes: 64 * 1024, requestTimeoutMs: 3_000 };
  [a, b, c] = await Promise.all([
    createMesh({ bind: '127.0.0.21', port: 0, ...small }),
    createMesh({ bind: '127.0.0.22', port: 0, ...small }),
    createMesh({ bind: '127.0.0.23', port: 0, ...small, faults }),
  ]);
});

test.after(async () => {
  await Promise.all([a, b, c].map((mesh) => mesh?.stop()));
});

test('agents join by bare host:port and learn each other\'s peer ids', async () => {
  assert.is(await b.dial(`127.0.0.21:${a.port}`), a.peerId);
  assert.is(await c.dial(`127.0.0.21:${a.port}`), a.peerId);
  assert.is(await c.dial(`127.0.0.22:${b.port}`), b.peerId);
  await eventually('everyone is connected to everyone', () =>
    a.connectedPeers().length === 2 && b.connectedPeers().length === 2 && c.connectedPeers().length === 2);
  assert.equal(new Set(a.connectedPeers()), new Set([b.peerId, c.peerId]));
});

test('a full multiaddr with /p2p/ works too, and redialling a connected peer is harmless', async () => {
  assert.is(await b.dial(a.addresses[0]!), a.peerId);
  assert.is(await b.dial(`127.0.0.21:${a.port}`), a.peerId);
});

test('the listener sees the dialer\'s bind address as the source address', async () => {
  // Without localAddress, Linux would pick 127.0.0.1 as the source of a loopback connection.
  await eventually('a has its inbound connections', () => a.connections().filter((x) => x.direction === 'inbound').length === 2);
  const inbound = a.connections().filter((connection) => connection.direction === 'inbound');
  const fromB = inbound.find((connection) => connection.peerId === b.peerId)!;
  const fromC = inbound.find((connection) => connection.peerId === c.peerId)!;
  assert.is(hostOf(fromB.remoteAddress), '127.0.0.22', fromB.remoteAddress);
  assert.is(hostOf(fromC.remoteAddress), '127.0.0.23', fromC.remoteAddress);
  const atB = b.connections().find((connection) => connection.peerId === c.peerId && connection.direction === 'inbound')!;
  assert.is(hostOf(atB.remoteAddress), '127.0.0.23', atB.remoteAddress);
});

test('a gossip message reaches every subscriber, signed by its origin', async () => {
  const topic = 'tribune/test/members';
  const received = new Map<string, { from: string; text: string; at: number }>();
  const unsubscribers = [a, b, c].map((mesh) => mesh.subscribe(topic, (from, data) => {
    received.set(mesh.peerId, { from, text: decoder.decode(data), at: performance.now() });
  }));
  await eventually('subscriptions have propagated', () =>
    [a, b, c].every((mesh) => mesh.topicPeers(topic).length === 2));
  const sentAt = performance.now();
  const recipients = await a.publish(topic, encoder.encode('alive a 1'));
  assert.ok(recipients >= 1);
  await eventually('b and c received the message', () => received.has(b.peerId) && received.has(c.peerId));
  assert.not.ok(received.has(a.peerId), 'no echo to the publisher');
  for (const peer of [b.peerId, c.peerId]) {
    assert.equal({ from: received.get(peer)!.from, text: received.get(peer)!.text }, { from: a.peerId, text: 'alive a 1' });
  }
  console.log(`  gossip latency, 3 nodes: ${Math.max(...[b, c].map((m) => received.get(m.peerId)!.at - sentAt)).toFixed(1)} ms`);
  for (const unsubscribe of unsubscribers) unsubscribe();
});

test('a lone publisher on a topic nobody subscribes to does not throw', async () => {
  assert.is(await a.publish('tribune/test/nobody', encoder.encode('x')), 0);
});

test('an inbound gossip message over our limit is rejected and counted, not delivered', async () => {
  const topic = 'tribune/test/oversized';
  const loose = await createMesh({ bind: '127.0.0.29', port: 0, gossip: { maxMessageBytes: 1024 * 1024 } });
  try {
    const atA: number[] = [];
    a.subscribe(topic, (_from, data) => atA.push(data.length));
    loose.subscribe(topic, () => {});
    await loose.dial(`127.0.0.21:${a.port}`);
    await eventually('a and loose see each other on the topic', () =>
      a.topicPeers(topic).includes(loose.peerId) && loose.topicPeers(topic).includes(a.peerId));
    await loose.publish(topic, new Uint8Array(300 * 1024));
    await loose.publish(topic, new Uint8Array(10));
    await eventually('the small one arrives', () => atA.length === 1);
    assert.equal(atA, [10]);
    assert.is(a.counters.gossipMessagesTooLarge, 1);
  } finally {
    await loose.stop();
  }
});

test('request and response round trip, with the requester\'s peer id given to the handler', async () => {
  await b.handle('/tribune/test/echo/1.0.0', (request, context) =>
    encoder.encode(`${context.peerId}:${decoder.decode(request)}`));
  const response = await a.request(b.peerId, '/tribune/test/echo/1.0.0', encoder.encode('ping'));
  assert.is(decoder.decode(response), `${a.peerId}:ping`);
  const empty = await c.request(b.peerId, '/tribune/test/echo/1.0.0', new Uint8Array(0));
  assert.is(decoder.decode(empty), `${c.peerId}:`);
  assert.ok(b.counters.requestsServed >= 2);
});

test('many concurrent requests over one connection all get their own answer', async () => {
  const answers = await Promise.all(Array.from({ length: 100 }, (_, index) =>
    a.request(b.peerId, '/tribune/test/echo/1.0.0', encoder.encode(String(index)))));
  answers.forEach((answer, index) => assert.is(decoder.decode(answer), `${a.peerId}:${index}`));
});

test('a message over the limit is refused before it is sent, with a clear error', async () => {
  const big = new Uint8Array(64 * 1024 + 1);
  const err = await rejection(a.request(b.peerId, '/tribune/test/echo/1.0.0', big));
  assert.instance(err, MeshMessageTooLargeError);
  assert.is((err as MeshMessageTooLargeError).code, 'MESSAGE_TOO_LARGE');
  assert.match(err.message, /request of 65537 bytes exceeds the 65536-byte limit of \/tribune\/test\/echo\/1.0.0/);
  const gossipErr = await rejection(a.publish('tribune/test/members', new Uint8Array(300 * 1024)));
  assert.instance(gossipErr, MeshMessageTooLargeError);
});

test('a request over the receiver\'s smaller limit is refused by the receiver, with a clear error', async () => {
  await b.handle('/tribune/test/small/1.0.0', () => new Uint8Array(0), { maxMessageBytes: 1024 });
  const err = await rejection(a.request(b.peerId, '/tribune/test/small/1.0.0', new Uint8Array(2048)));
  assert.instance(err, MeshMessageTooLargeError);
  assert.match(err.message, /exceeds the 1024-byte limit of \/tribune\/test\/small\/1.0.0/);
  assert.ok(b.counters.requestsRejectedTooLarge >= 1);
});

test('a response over the limit is refused, not truncated', async () => {
  await b.handle('/tribune/test/huge-answer/1.0.0', () => new Uint8Array(100 * 1024));
  const err = await rejection(a.request(b.peerId, '/tribune/test/huge-answer/1.0.0', new Uint8Array(1)));
  assert.instance(err, MeshMessageTooLargeError);
  assert.match(err.message, /response of 102400 bytes exceeds/);
});

test('a handler that never answers gives the requester a timeout error', async () => {
  await b.handle('/tribune/test/silent/1.0.0', () => new Promise<Uint8Array>(() => {}));
  const started = performance.now();
  const err = await rejection(a.request(b.peerId, '/tribune/test/silent/1.0.0', new Uint8Array(1), { timeoutMs: 300 }));
  const elapsed = performance.now() - started;
  assert.instance(err, MeshTimeoutError);
  assert.is((err as MeshTimeoutError).code, 'TIMEOUT');
  assert.match(err.message, /no answer within 300 ms/);
  assert.ok(elapsed >= 290 && elapsed < 1_500, `took ${elapsed} ms`);
});

test('a handler with a shorter deadline than the requester reports its own timeout', async () => {
  await b.handle('/tribune/test/slow/1.0.0', () => new Promise<Uint8Array>(() => {}), { timeoutMs: 200 });
  const err = await rejection(a.request(b.peerId, '/tribune/test/slow/1.0.0', new Uint8Array(1), { timeoutMs: 2_000 }));
  assert.instance(err, MeshTimeoutError);
  assert.match(err.message, /did not answer within 200 ms/);
});

test('a handler that throws surfaces as a remote error with its message', async () => {
  await b.handle('/tribune/test/broken/1.0.0', () => { throw new Error('no such key'); });
  const err = await rejection(a.request(b.peerId, '/tribune/test/broken/1.0.0', new Uint8Array(1)));
  assert.instance(err, MeshRemoteError);
  assert.match(err.message, /no such key/);
});

test('a protocol the peer does not handle is refused', async () => {
  const err = await rejection(a.request(b.peerId, '/tribune/test/unknown/1.0.0', new Uint8Array(1)));
  assert.instance(err, MeshProtocolRefusedError);
  assert.is((err as MeshProtocolRefusedError).code, 'PROTOCOL_REFUSED');
});

test('an address where nobody listens is unreachable; a bad address is a typed error', async () => {
  const refused = await rejection(a.dial('127.0.0.29:9'));
  assert.instance(refused, MeshUnreachableError);
  assert.match(refused.message, /ECONNREFUSED/);
  assert.instance(await rejection(a.dial('127.0.0.1:99999')), MeshAddressError);
  assert.instance(await rejection(a.request('not-a-peer-id', '/x', new Uint8Array(0))), MeshAddressError);
});

test('a request to a peer id nobody knows an address for is unreachable', async () => {
  const stranger = await createMesh({ bind: '127.0.0.25', port: 0 });
  await stranger.stop();
  const err = await rejection(a.request(stranger.peerId, '/tribune/test/echo/1.0.0', new Uint8Array(1)));
  assert.instance(err, MeshUnreachableError);
});

test('a port already in use is a typed listen error naming the address', async () => {
  const err = await rejection(createMesh({ bind: '127.0.0.21', port: a.port }));
  assert.instance(err, MeshListenError);
  assert.is((err as MeshListenError).code, 'LISTEN_FAILED');
  assert.match(err.message, new RegExp(`cannot listen on /ip4/127.0.0.21/tcp/${a.port}: .*EADDRINUSE`));
});

test('the advertise address replaces the bind address in what peers learn', async () => {
  const hidden = await createMesh({ bind: '127.0.0.26', port: 0, advertise: '127.0.0.126' });
  const fixed = await createMesh({ bind: '127.0.0.27', port: 0, advertise: '127.0.0.127:7301' });
  const zero = await createMesh({ bind: '127.0.0.30', port: 0, advertise: '127.0.0.30:0' });
  try {
    assert.equal(hidden.addresses, [`/ip4/127.0.0.126/tcp/${hidden.port}/p2p/${hidden.peerId}`]);
    assert.equal(fixed.addresses, [`/ip4/127.0.0.127/tcp/7301/p2p/${fixed.peerId}`]);
    assert.equal(zero.addresses, [`/ip4/127.0.0.30/tcp/${zero.port}/p2p/${zero.peerId}`]);
    assert.ok(zero.port > 0);
  } finally {
    await Promise.all([hidden.stop(), fixed.stop(), zero.stop()]);
  }
});

test('a long-lived stream carries frames both ways, in order', async () => {
  await b.handleStream('/tribune/test/raft/1.0.0', async (stream) => {
    for await (const frame of stream) await stream.send(encoder.encode(`ack ${decoder.decode(frame)}`));
    await stream.close();
  });
  const stream = await a.openStream(b.peerId, '/tribune/test/raft/1.0.0');
  assert.is(stream.direction, 'outbound');
  assert.is(stream.peerId, b.peerId);
  const replies: string[] = [];
  const reading = (async () => { for await (const frame of stream) replies.push(decoder.decode(frame)); })();
  for (let index = 0; index < 50; index++) await stream.send(encoder.encode(String(index)));
  await eventually('all acks arrived', () => replies.length === 50);
  assert.equal(replies, Array.from({ length: 50 }, (_, index) => `ack ${index}`));
  const tooBig = await rejection(stream.send(new Uint8Array(64 * 1024 + 1)));
  assert.instance(tooBig, MeshMessageTooLargeError);
  await stream.close();
  await reading;
});

test('the fault switch drops requests, stream frames and gossip to and from a peer, until cleared', async () => {
  // Only c consults the switch; what c blocks is cut off from c in both directions.
  const topic = 'tribune/test/partition';
  const atC: string[] = [];
  const atB: string[] = [];
  c.subscribe(topic, (_from, data) => atC.push(decoder.decode(data)));
  b.subscribe(topic, (_from, data) => atB.push(decoder.decode(data)));
  a.subscribe(topic, () => {});
  await eventually('everyone knows the topic peers', () => [a, b, c].every((mesh) => mesh.topicPeers(topic).length === 2));
  await c.handle('/tribune/test/echo/1.0.0', (request) => request);
  await c.handleStream('/tribune/test/sink/1.0.0', async (stream) => { for await (const frame of stream) atC.push(`stream ${decoder.decode(frame)}`); });
  const stream = await a.openStream(c.peerId, '/tribune/test/sink/1.0.0');

  faults.block(a.peerId, b.peerId);
  const outbound = await rejection(c.request(a.peerId, '/tribune/test/echo/1.0.0', new Uint8Array(1), { timeoutMs: 200 }));
  assert.instance(outbound, MeshTimeoutError);
  const inbound = await rejection(a.request(c.peerId, '/tribune/test/echo/1.0.0', new Uint8Array(1), { timeoutMs: 300 }));
  assert.instance(inbound, MeshTimeoutError);
  await stream.send(encoder.encode('lost'));
  await a.publish(topic, encoder.encode('during the partition'));
  await eventually('b received the gossip', () => atB.length === 1);
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // more than a gossip heartbeat
  assert.equal(atC, [], 'c heard nothing from a or b');
  assert.ok(c.counters.faultDrops > 0);

  faults.clear();
  const healed = await a.request(c.peerId, '/tribune/test/echo/1.0.0', encoder.encode('ok'));
  assert.is(decoder.decode(healed), 'ok');
  await stream.send(encoder.encode('delivered'));
  await a.publish(topic, encoder.encode('after healing'));
  await eventually('c hears again', () => atC.includes('after healing') && atC.includes('stream delivered'));
  assert.not.ok(atC.includes('stream lost'), 'a dropped frame stays dropped');
  await stream.close();
});

test('stopping a mesh fails its requests in flight with MeshStoppedError', async () => {
  const e = await createMesh({ bind: '127.0.0.28', port: 0 });
  await e.dial(`127.0.0.22:${b.port}`);
  const pending = rejection(e.request(b.peerId, '/tribune/test/silent/1.0.0', new Uint8Array(1), { timeoutMs: 5_000 }));
  await new Promise((resolve) => setTimeout(resolve, 100));
  await e.stop();
  assert.instance(await pending, MeshStoppedError);
});

test('peer connect and disconnect events fire', async () => {
  const d = await createMesh({ bind: '127.0.0.24', port: 0 });
  const connected = new Promise<string>((resolve) => a.once('peer:connect', resolve));
  const disconnected = new Promise<string>((resolve) => a.on('peer:disconnect', (peerId) => { if (peerId === d.peerId) resolve(peerId); }));
  await d.dial(`127.0.0.21:${a.port}`);
  assert.is(await connected, d.peerId);
  await d.stop();
  assert.is(await disconnected, d.peerId);
  assert.instance(await rejection(d.request(a.peerId, '/x', new Uint8Array(0))), MeshStoppedError);
});

test.run();

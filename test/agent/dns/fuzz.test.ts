// Bad input never crashes or stalls the DNS server: 20,000 random and
// mutated packets through the responder (every answer a well-formed reply
// to the packet's id, within 512 bytes unless EDNS0 allowed more), then
// garbage over real UDP and TCP sockets, after which the server still answers.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dns2 from 'dns2';
import { startDnsServer } from '../../../agent/dns/server.ts';
import { parseQuery } from '../../../agent/dns/wire.ts';
import { DnsFixture, header, query } from './helpers.ts';

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.DNS_FUZZ_SEED ?? 5);

function fixture(): DnsFixture {
  const fixture = new DnsFixture({}, ['consul.']);
  for (let i = 0; i < 40; i++) fixture.register({ node: `node-${i}`, address: `10.2.0.${i + 1}`, service: 'big', meta: { i: String(i) } });
  fixture.register({ node: 'solo', address: '10.3.0.1', service: 'web', tags: ['v1'] });
  return fixture;
}

const SEEDS = ['web.service.consul', 'big.service.consul', '_web._v1.service.consul', 'node-1.node.consul', '1.0.3.10.in-addr.arpa', 'example.com', 'consul'];
const TYPES = [1, 28, 33, 16, 12, 255, 6, 15];

function mutate(random: () => number): Buffer {
  const base = query(SEEDS[Math.floor(random() * SEEDS.length)]!, TYPES[Math.floor(random() * TYPES.length)]!, random() < 0.5 ? { ednsBytes: Math.floor(random() * 5000) } : {});
  const packet = Buffer.from(base);
  switch (Math.floor(random() * 7)) {
    case 0: { // flip bits
      const flips = 1 + Math.floor(random() * 4);
      for (let i = 0; i < flips; i++) packet[Math.floor(random() * packet.length)]! ^= 1 << Math.floor(random() * 8);
      return packet;
    }
    case 1: // truncate
      return packet.subarray(0, Math.floor(random() * packet.length));
    case 2: { // a compression pointer in the name, pointing at itself or before
      const at = 12 + Math.floor(random() * (packet.length - 16));
      packet[at] = 0xc0;
      packet[at + 1] = random() < 0.5 ? at : 12;
      return packet;
    }
    case 3: // oversize: garbage after the question
      return Buffer.concat([packet, Buffer.alloc(Math.floor(random() * 70_000) % 65_000, 0xc0)]);
    case 4: { // counts that lie
      packet[5] = Math.floor(random() * 256);
      packet[7] = Math.floor(random() * 3);
      packet[11] = Math.floor(random() * 3);
      return packet;
    }
    case 5: { // label lengths that run past the end
      packet[12] = 63 + Math.floor(random() * 193);
      return packet;
    }
    default: // random bytes with a plausible header
      return Buffer.concat([packet.subarray(0, 12), Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)))]);
  }
}

function randomPacket(random: () => number): Buffer {
  return Buffer.from(Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256)));
}

test(`20,000 random and mutated packets: no throw, every reply well-formed for its packet (seed ${SEED})`, () => {
  const subject = fixture();
  const random = prng(SEED);
  const started = performance.now();
  let replies = 0;
  for (let i = 0; i < 20_000; i++) {
    const packet = i % 2 === 0 ? mutate(random) : randomPacket(random);
    const transport = random() < 0.2 ? 'tcp' : 'udp';
    let reply: unknown;
    try {
      reply = subject.responder.respond(packet, transport);
    } catch (error) {
      assert.unreachable(`packet ${i} (${packet.toString('hex')}) threw: ${(error as Error).stack}`);
    }
    if (reply === null || reply === 'forward') continue;
    assert.instance(reply, Uint8Array, `packet ${i}`);
    const bytes = reply as Uint8Array;
    const parsed = parseQuery(packet);
    assert.ok(parsed.kind !== 'drop', `packet ${i} was answered though it should be dropped`);
    const flags = header(bytes);
    assert.ok(flags.qr, `packet ${i}: reply without QR`);
    assert.is(flags.id, packet.readUInt16BE(0), `packet ${i}: id`);
    const limit = transport === 'tcp' ? 65_535 : parsed.kind === 'query' && parsed.udpPayloadBytes > 0 ? parsed.udpPayloadBytes : 512;
    assert.ok(bytes.length <= limit, `packet ${i}: ${bytes.length} bytes over ${limit}`);
    replies++;
  }
  const elapsedMs = performance.now() - started;
  assert.ok(replies > 1_000, `${replies} replies`);
  assert.ok(subject.responder.cacheSize <= 10_000);
  assert.ok(elapsedMs < 20_000, `took ${elapsedMs.toFixed(0)} ms`);
  assert.is(subject.ask('web.service.consul').message.answers[0]!.address, '10.3.0.1', 'still answers');
});

test('garbage over real UDP and TCP does not stop the server: it keeps answering and counts no internal error', async () => {
  const subject = fixture();
  const server = await startDnsServer({ host: '127.0.0.1', port: 0, responder: subject.responder, recursors: [], log: () => {} });
  try {
    const random = prng(SEED + 1);
    const udp = createSocket('udp4');
    for (let i = 0; i < 2_000; i++) udp.send(i % 2 === 0 ? mutate(random).subarray(0, 60_000) : randomPacket(random), server.port, '127.0.0.1');
    // TCP: a stream of random frames, a half frame left hanging, and a connection that just closes.
    await new Promise<void>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () => {
        for (let i = 0; i < 500; i++) {
          const packet = mutate(random).subarray(0, 1000);
          const frame = Buffer.alloc(2 + packet.length);
          frame.writeUInt16BE(packet.length, 0);
          packet.copy(frame, 2);
          socket.write(frame);
        }
        socket.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
        setTimeout(() => { socket.destroy(); resolve(); }, 200);
      });
      socket.on('error', () => resolve());
      socket.on('data', () => {});
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    udp.close();
    const ask = dns2.UDPClient({ dns: '127.0.0.1', port: server.port, retryOverTCP: false, timeout: 2_000 } as never);
    const answer = await ask('web.service.consul');
    assert.is((answer.answers[0] as unknown as { address: string }).address, '10.3.0.1');
    const askTcp = dns2.TCPClient({ dns: '127.0.0.1', port: server.port });
    assert.is(((await askTcp('web.service.consul')).answers[0] as unknown as { address: string }).address, '10.3.0.1');
    assert.is(server.internalErrors, 0);
  } finally {
    await server.close();
  }
});

test.run();

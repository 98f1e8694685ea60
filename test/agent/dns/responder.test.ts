// Answers from the catalog: what each name form returns, health filtering,
// shuffling, truncation to the client's buffer with TC, TTLs, negative
// answers, and the cache that must follow the catalog index.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DnsFixture, Packet, header, query } from './helpers.ts';
import type { ParsedRecord } from './helpers.ts';

function webFixture(options: ConstructorParameters<typeof DnsFixture>[0] = {}): DnsFixture {
  const fixture = new DnsFixture(options, ['consul.', 'alt.']);
  fixture.register({ node: 'node-a', address: '10.0.0.1', service: 'web', tags: ['v1', 'primary'], meta: { rack: 'r1', zone: 'z' } });
  fixture.register({ node: 'node-b', address: '10.0.0.2', service: 'web', tags: ['v2'], port: 8081 });
  fixture.register({ node: 'node-c', address: '10.0.0.3', service: 'web', tags: ['v2'], status: 'warning' });
  fixture.register({ node: 'node-d', address: '10.0.0.4', service: 'web', tags: ['v1'], status: 'critical' });
  return fixture;
}

const addresses = (records: ParsedRecord[]) => records.map((record) => String(record.address)).sort();

test('NAME.service A returns passing and warning instances, never critical ones', () => {
  const { bytes, message } = webFixture().ask('web.service.consul');
  const flags = header(bytes);
  assert.is(flags.rcode, 0);
  assert.ok(flags.aa && flags.qr && flags.rd);
  assert.is(flags.id, 0x1234);
  assert.equal(addresses(message.answers), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  assert.ok(message.answers.every((record) => record.name === 'web.service.consul' && record.ttl === 0));
});

test('only_passing leaves warning instances out', () => {
  const { message } = webFixture({ onlyPassing: true }).ask('web.service.consul');
  assert.equal(addresses(message.answers), ['10.0.0.1', '10.0.0.2']);
});

test('SRV answers carry port and node target, with the targets\' A records as additional records', () => {
  const { message } = webFixture().ask('web.service.consul', 'SRV');
  const srv = message.answers.map((record) => `${record.target}:${record.port}`).sort();
  assert.equal(srv, ['node-a.node.dc1.consul:8080', 'node-b.node.dc1.consul:8081', 'node-c.node.dc1.consul:8080']);
  const glue = message.additionals.filter((record) => record.type === Packet.TYPE.A).map((record) => `${record.name}=${record.address}`).sort();
  assert.equal(glue, ['node-a.node.dc1.consul=10.0.0.1', 'node-b.node.dc1.consul=10.0.0.2', 'node-c.node.dc1.consul=10.0.0.3']);
});

test('an instance with its own address gets an .addr. target that resolves to it', () => {
  const fixture = new DnsFixture();
  fixture.register({ node: 'node-a', address: '10.0.0.1', service: 'db', serviceAddress: '192.0.2.7', port: 5432 });
  const { message } = fixture.ask('db.service.consul', 'SRV');
  assert.is(message.answers[0]!.target, 'c0000207.addr.dc1.consul');
  assert.is(message.additionals[0]!.address, '192.0.2.7');
  assert.equal(addresses(fixture.ask('c0000207.addr.dc1.consul').message.answers), ['192.0.2.7']);
  assert.equal(addresses(fixture.ask('db.service.consul').message.answers), ['192.0.2.7']);
});

test('TAG.NAME.service and RFC 2782 _NAME._TAG.service filter by tag; _NAME._tcp does not', () => {
  const fixture = webFixture();
  assert.equal(addresses(fixture.ask('v2.web.service.consul').message.answers), ['10.0.0.2', '10.0.0.3']);
  assert.equal(addresses(fixture.ask('PRIMARY.web.service.consul').message.answers), ['10.0.0.1']);
  assert.equal(fixture.ask('_web._v1.service.consul', 'SRV').message.answers.map((record) => record.target), ['node-a.node.dc1.consul']);
  assert.is(fixture.ask('_web._tcp.service.dc1.consul', 'SRV').message.answers.length, 3);
  assert.is(header(fixture.ask('v9.web.service.consul').bytes).rcode, 3);
});

test('the datacenter-qualified form and the alternative domain answer the same, targets in the domain asked', () => {
  const fixture = webFixture();
  assert.is(fixture.ask('web.service.dc1.consul').message.answers.length, 3);
  const alt = fixture.ask('web.service.alt', 'SRV').message;
  assert.ok(alt.answers.every((record) => String(record.target).endsWith('.node.dc1.alt')), JSON.stringify(alt.answers));
  assert.is(header(fixture.ask('web.service.dc9.consul').bytes).rcode, 3, 'another datacenter is not known here');
});

test('NODE.node answers A with the node meta as TXT; TXT alone on request', () => {
  const fixture = webFixture();
  const { message } = fixture.ask('node-a.node.consul');
  assert.equal(addresses(message.answers), ['10.0.0.1']);
  const txt = message.additionals.filter((record) => record.type === Packet.TYPE.TXT).map((record) => record.data).flat();
  assert.equal(txt.sort(), ['rack=r1', 'zone=z']);
  const onlyTxt = fixture.ask('NODE-A.node.dc1.consul', 'TXT').message;
  assert.equal(onlyTxt.answers.map((record) => record.data).flat().sort(), ['rack=r1', 'zone=z']);
});

test('PTR under in-addr.arpa names the node with that address', () => {
  const { message } = webFixture().ask('2.0.0.10.in-addr.arpa', 'PTR');
  assert.equal(message.answers.map((record) => record.domain), ['node-b.node.dc1.consul']);
});

test('an unknown name is NXDOMAIN with the SOA in authority; a known name of another type is NOERROR and empty', () => {
  const fixture = webFixture();
  for (const name of ['nope.service.consul', 'nope.node.consul', 'x.y.z.web.service.consul', 'web.weird.consul']) {
    const { bytes, message } = fixture.ask(name);
    assert.is(header(bytes).rcode, 3, name);
    assert.is(message.authorities[0]!.type, Packet.TYPE.SOA, name);
    assert.is(message.authorities[0]!.primary, 'ns.consul', name);
  }
  for (const [name, type] of [['web.service.consul', 'MX'], ['web.service.consul', 'AAAA'], ['node-a.node.consul', 'AAAA']] as const) {
    const { bytes, message } = fixture.ask(name, type);
    assert.is(header(bytes).rcode, 0, `${name} ${type}`);
    assert.is(message.answers.length, 0, `${name} ${type}`);
    assert.is(message.authorities[0]!.type, Packet.TYPE.SOA);
  }
});

test('a service whose every instance is critical has no records: NXDOMAIN', () => {
  const fixture = new DnsFixture();
  fixture.register({ node: 'node-a', address: '10.0.0.1', service: 'down', status: 'critical' });
  assert.is(header(fixture.ask('down.service.consul').bytes).rcode, 3);
});

test('names outside the domain are REFUSED without recursors, and not authoritative', () => {
  const flags = header(webFixture().ask('example.com').bytes);
  assert.is(flags.rcode, 5);
  assert.not.ok(flags.aa);
});

test('with recursors, names outside the domain are handed to the server to forward', () => {
  const fixture = webFixture({ recursors: true });
  assert.is(fixture.responder.respond(query('example.com'), 'udp'), 'forward');
  assert.ok(header(fixture.ask('web.service.consul').bytes).rcode === 0);
});

test('TTLs: node_ttl for nodes, service_ttl by name with * for the rest', () => {
  const fixture = webFixture({ nodeTtlSeconds: 30, serviceTtlSeconds: new Map([['web', 5], ['*', 9]]) });
  fixture.register({ node: 'node-e', address: '10.0.0.5', service: 'api' });
  assert.ok(fixture.ask('web.service.consul').message.answers.every((record) => record.ttl === 5));
  assert.ok(fixture.ask('api.service.consul').message.answers.every((record) => record.ttl === 9));
  assert.ok(fixture.ask('node-a.node.consul').message.answers.every((record) => record.ttl === 30));
});

function manyInstances(count: number): DnsFixture {
  const fixture = new DnsFixture();
  for (let i = 0; i < count; i++) fixture.register({ node: `node-${String(i).padStart(2, '0')}`, address: `10.1.0.${i + 1}`, service: 'big' });
  return fixture;
}

test('UDP without EDNS0: at most 512 bytes, TC set when records were left out; TCP returns all', () => {
  const fixture = manyInstances(40);
  const udp = fixture.ask('big.service.consul', 'SRV');
  assert.ok(udp.bytes.length <= 512, `${udp.bytes.length} bytes`);
  assert.ok(header(udp.bytes).tc);
  assert.ok(udp.message.answers.length > 0 && udp.message.answers.length < 40);
  // Every SRV that is sent comes with its target's address.
  assert.is(udp.message.additionals.length, udp.message.answers.length);
  const tcp = fixture.ask('big.service.consul', 'SRV', {}, 'tcp');
  assert.not.ok(header(tcp.bytes).tc);
  assert.is(tcp.message.answers.length, 40);
  assert.is(tcp.message.additionals.length, 40);
  const a = fixture.ask('big.service.consul', 'A');
  assert.ok(a.bytes.length <= 512);
  assert.is(a.message.answers.length, 29, '12 header + 24 question bytes leave room for 29 A records of 16 bytes');
  assert.ok(header(a.bytes).tc);
});

test('UDP with EDNS0: sized to the client\'s buffer, OPT echoed; no TC when all fit', () => {
  const fixture = manyInstances(40);
  const large = fixture.ask('big.service.consul', 'SRV', { ednsBytes: 4096 });
  assert.not.ok(header(large.bytes).tc);
  assert.is(large.message.answers.length, 40);
  assert.ok(large.message.additionals.some((record) => record.type === Packet.TYPE.EDNS));
  const medium = fixture.ask('big.service.consul', 'SRV', { ednsBytes: 1232 });
  assert.ok(medium.bytes.length <= 1232 && medium.bytes.length > 900, `${medium.bytes.length} bytes`);
  assert.ok(header(medium.bytes).tc);
  const small = fixture.ask('big.service.consul', 'SRV', { ednsBytes: 100 });
  assert.ok(small.bytes.length <= 512, 'a buffer below 512 counts as 512');
});

test('answers are shuffled per query: every instance comes first in turn, truncated answers too', () => {
  const fixture = manyInstances(10);
  const first = new Set<string>();
  for (let i = 0; i < 10; i++) first.add(fixture.ask('big.service.consul').message.answers[0]!.address);
  assert.is(first.size, 10);
  const big = manyInstances(40);
  const seen = new Set<string>();
  for (let i = 0; i < 64; i++) for (const record of big.ask('big.service.consul').message.answers) seen.add(record.address);
  assert.is(seen.size, 40, 'over queries, truncated UDP answers cover every instance');
});

test('the cache serves repeated questions without encoding and follows the catalog index', () => {
  const fixture = webFixture();
  fixture.ask('web.service.consul');
  const encodings = fixture.responder.counters.encodings;
  for (let i = 0; i < 50; i++) fixture.ask('web.service.consul', 'A', { id: i });
  assert.ok(fixture.responder.counters.encodings - encodings <= 16, 'at most one encoding per precomputed order');
  assert.ok(fixture.responder.counters.cacheHits >= 50);
  assert.is(header(fixture.ask('web.service.consul', 'A', { id: 77 }).bytes).id, 77);
  fixture.setStatus('node-a', 'web-node-a', 'critical');
  assert.equal(addresses(fixture.ask('web.service.consul').message.answers), ['10.0.0.2', '10.0.0.3']);
  fixture.register({ node: 'node-z', address: '10.0.0.26', service: 'web' });
  assert.equal(addresses(fixture.ask('web.service.consul').message.answers), ['10.0.0.2', '10.0.0.26', '10.0.0.3']);
  // A service that did not exist appears as soon as it is registered.
  assert.is(header(fixture.ask('late.service.consul').bytes).rcode, 3);
  fixture.register({ node: 'node-z', address: '10.0.0.26', service: 'late' });
  assert.equal(addresses(fixture.ask('late.service.consul').message.answers), ['10.0.0.26']);
});

test('the question is echoed as sent (case kept) and the RD bit as asked', () => {
  const fixture = webFixture();
  const { bytes, message } = fixture.ask('WeB.SeRvIcE.cOnSuL', 'A', { recursionDesired: false });
  assert.not.ok(header(bytes).rd);
  assert.is((message as unknown as { questions: { name: string }[] }).questions[0]!.name, 'WeB.SeRvIcE.cOnSuL');
  assert.is(message.answers.length, 3);
});

test('malformed queries are answered FORMERR or dropped; other opcodes NOTIMP; EDNS version 1 BADVERS', () => {
  const fixture = webFixture();
  const good = query('web.service.consul');
  assert.is(fixture.responder.respond(good.subarray(0, 5), 'udp'), null, 'shorter than a header: dropped');
  const response = Buffer.from(good);
  response[2] = response[2]! | 0x80;
  assert.is(fixture.responder.respond(response, 'udp'), null, 'a response is dropped');
  assert.is(header(fixture.responder.respond(good.subarray(0, good.length - 2), 'udp') as Uint8Array).rcode, 1, 'truncated question: FORMERR');
  const twoQuestions = Buffer.from(good);
  twoQuestions[5] = 2;
  assert.is(header(fixture.responder.respond(twoQuestions, 'udp') as Uint8Array).rcode, 1);
  const pointer = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
  assert.is(header(fixture.responder.respond(pointer, 'udp') as Uint8Array).rcode, 1, 'a compression pointer in the question: FORMERR');
  const update = Buffer.from(good);
  update[2] = (5 << 3) | 1;
  assert.is(header(fixture.responder.respond(update, 'udp') as Uint8Array).rcode, 4, 'UPDATE: NOTIMP');
  const badVersion = query('web.service.consul', 'A', { ednsBytes: 1232 });
  badVersion[badVersion.length - 5] = 1;
  const reply = fixture.responder.respond(badVersion, 'udp') as Uint8Array;
  assert.is(header(reply).rcode, 0);
  assert.is(reply[reply.length - 11 + 5], 1, 'extended rcode 1 (BADVERS = 16) in the OPT record');
});

test.run();

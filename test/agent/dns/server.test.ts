// The DNS server on real sockets, the recursor relay, and the catalog of
// an agent without a replica (a copy kept by blocking queries).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dns2 from 'dns2';
import { startDnsServer } from '../../../agent/dns/server.ts';
import { Responder } from '../../../agent/dns/responder.ts';
import { RemoteCatalog } from '../../../agent/dns/remote-catalog.ts';
import { parseName } from '../../../agent/dns/names.ts';
import { DnsFixture, answerOptions, header, query } from './helpers.ts';

type Address = { address: string };

/** Poll `condition` every 10 ms for up to 5 s (a loaded machine delays timers); false if it never held. */
async function within(condition: () => boolean): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return condition();
}

test('UDP and TCP on one port: the dns2 client reads the same answers; TC over UDP, everything over TCP', async () => {
  const fixture = new DnsFixture();
  for (let i = 0; i < 40; i++) fixture.register({ node: `node-${i}`, address: `10.4.0.${i + 1}`, service: 'big' });
  const server = await startDnsServer({ host: '127.0.0.1', port: 0, responder: fixture.responder, recursors: [], log: () => {} });
  try {
    const udp = dns2.UDPClient({ dns: '127.0.0.1', port: server.port, retryOverTCP: false, timeout: 2_000 } as never);
    const truncated = await udp('big.service.consul', 'SRV');
    assert.is((truncated.header as unknown as { tc: number }).tc, 1);
    assert.ok(truncated.answers.length < 40);
    const retrying = dns2.UDPClient({ dns: '127.0.0.1', port: server.port, timeout: 2_000 } as never);
    assert.is((await retrying('big.service.consul', 'SRV')).answers.length, 40, 'the client retries over TCP on TC and gets all');
    const tcp = dns2.TCPClient({ dns: '127.0.0.1', port: server.port });
    const all = await tcp('big.service.consul', 'A');
    assert.is(all.answers.length, 40);
    assert.is(new Set((all.answers as unknown as Address[]).map((record) => record.address)).size, 40);
  } finally {
    await server.close();
  }
});

test('with recursors, names outside the domain are relayed upstream and the answer returned as is', async () => {
  const upstream = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = dns2.Packet.createResponseFromRequest(request);
      response.answers.push({ name: request.questions[0]!.name, type: dns2.Packet.TYPE.A, class: dns2.Packet.CLASS.IN, ttl: 60, address: '192.0.2.53' } as never);
      void send(response);
    },
  });
  await upstream.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const upstreamPort = (upstream.addresses().udp as { port: number }).port;
  const fixture = new DnsFixture({ recursors: true });
  fixture.register({ node: 'node-a', address: '10.5.0.1', service: 'web' });
  // Started inside try: if it failed, the upstream must still be closed or its socket keeps the test process alive.
  let server: Awaited<ReturnType<typeof startDnsServer>> | undefined;
  try {
    server = await startDnsServer({ host: '127.0.0.1', port: 0, responder: fixture.responder, recursors: [`127.0.0.1:${upstreamPort}`], log: () => {} });
    const udp = dns2.UDPClient({ dns: '127.0.0.1', port: server.port, timeout: 3_000 } as never);
    const outside = await udp('example.org');
    assert.is((outside.answers[0] as unknown as Address).address, '192.0.2.53');
    assert.is((outside.answers[0] as unknown as { ttl: number }).ttl, 60);
    const inside = await udp('web.service.consul');
    assert.is((inside.answers[0] as unknown as Address).address, '10.5.0.1');
  } finally {
    await server?.close();
    await upstream.close();
  }
});

test('an agent without a replica: the first query waits for one fetch, later ones are answered from the watched copy', async () => {
  const fetched: string[] = [];
  let index = 10;
  let rows: unknown[] = [{ Node: { Node: 'n1', Address: '10.6.0.1', Datacenter: 'dc1', Meta: {} }, Service: { Address: '', Port: 80, Tags: ['v1'], Weights: { Passing: 1, Warning: 1 } }, Checks: [{ CheckID: 'c', Status: 'passing' }] }];
  let wake: (() => void) | null = null;
  const catalog = new RemoteCatalog({
    fetch: async (path, since, signal) => {
      fetched.push(`${path}@${since}`);
      if (since >= index) {
        // A blocking query: wait for a change (or the watch's end).
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener('abort', () => resolve());
        });
      }
      return { index, json: path.startsWith('/v1/health/service/') ? rows : null };
    },
    log: () => {},
    retryMs: 10,
  });
  const responder = new Responder({ catalog, answers: answerOptions(), domains: ['consul.'] });
  try {
    const first = responder.respond(query('web.service.consul'), 'udp');
    assert.instance(first, Promise, 'the first query waits for the fetch');
    await first;
    const answer = responder.respond(query('web.service.consul'), 'udp') as Uint8Array;
    assert.is(header(answer).answers, 1);
    assert.equal(fetched, ['/v1/health/service/web@0', '/v1/health/service/web@10']);
    // The catalog changes: the blocking query returns, the next answer has both instances.
    rows = [...rows, { Node: { Node: 'n2', Address: '10.6.0.2', Datacenter: 'dc1', Meta: {} }, Service: { Address: '', Port: 80, Tags: [], Weights: { Passing: 1, Warning: 1 } }, Checks: [{ CheckID: 'c', Status: 'warning' }] },
      { Node: { Node: 'n3', Address: '10.6.0.3', Datacenter: 'dc1', Meta: {} }, Service: { Address: '', Port: 80, Tags: [], Weights: { Passing: 1, Warning: 1 } }, Checks: [{ CheckID: 'serfHealth', Status: 'critical' }] }];
    index = 11;
    (wake as (() => void) | null)?.();
    assert.ok(await within(() => header(responder.respond(query('web.service.consul'), 'udp') as Uint8Array).answers === 2), 'passing and warning, not critical');
    assert.is(header(responder.respond(query('v1.web.service.consul'), 'udp') as Uint8Array).answers, 1, 'tags are filtered locally');
    assert.is(catalog.prepare(parseName('web.service.consul.', ['consul.'])), null, 'no further wait');
  } finally {
    catalog.close();
  }
});

test('the remote copy watches a bounded number of names and forgets idle ones', async () => {
  let now = 0;
  const catalog = new RemoteCatalog({
    fetch: async (_path, since, signal) => {
      if (since > 0) await new Promise<void>((resolve) => { signal.addEventListener('abort', () => resolve()); setTimeout(resolve, 5); });
      return { index: 1, json: [] };
    },
    log: () => {}, watchesMax: 3, idleMs: 1_000, retryMs: 5, now: () => now,
  });
  try {
    for (const name of ['a', 'b', 'c', 'd', 'e']) await catalog.prepare(parseName(`${name}.service.consul.`, ['consul.']));
    assert.is(catalog.watchCount, 3);
    now = 5_000;
    assert.ok(await within(() => catalog.watchCount === 0), 'idle names stop being watched');
  } finally {
    catalog.close();
  }
});

test.run();

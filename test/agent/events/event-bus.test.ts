// EventBus (agent/events/event-bus.ts) over an in-memory gossip hub, and the
// HTTP endpoints (agent/http/event-endpoints.ts) through the router.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consulUserEvent, EVENT_BUFFER_SIZE, EventBus, EventValidationError, eventMatches } from '../../../agent/events/event-bus.ts';
import type { EventMesh, LocalServiceView } from '../../../agent/events/event-bus.ts';
import { registerEventEndpoints } from '../../../agent/http/event-endpoints.ts';
import { HttpError, Router } from '../../../agent/http/router.ts';
import type { ApiRequest, Reply } from '../../../agent/http/router.ts';
import { encodeUserEvent } from '../../../protocol/events.ts';

/** Delivers each publish to every other subscriber (as gossipsub: not back to the sender). */
class Hub {
  private readonly listeners = new Map<string, Set<{ peer: string; listener: (from: string, data: Uint8Array) => void }>>();
  delivered = 0;
  mesh(peer: string): EventMesh {
    return {
      publish: async (topic, data) => {
        for (const entry of this.listeners.get(topic) ?? []) {
          if (entry.peer === peer) continue;
          this.delivered++;
          entry.listener(peer, data);
        }
        return 0;
      },
      subscribe: (topic, listener) => {
        const set = this.listeners.get(topic) ?? new Set();
        this.listeners.set(topic, set);
        const entry = { peer, listener };
        set.add(entry);
        return () => set.delete(entry);
      },
    };
  }
}

function bus(hub: Hub, nodeName: string, services: LocalServiceView[] = []): EventBus {
  const events = new EventBus({ mesh: hub.mesh(nodeName), datacenter: 'dc1', nodeName, localServices: () => services, log: () => {} });
  events.start();
  return events;
}

const fireRequest = { name: 'deploy', payload: new Uint8Array(0), nodeFilter: '', serviceFilter: '', tagFilter: '' };

test('an event reaches every agent, the sender included, with a Lamport time', async () => {
  const hub = new Hub();
  const agents = ['a', 'b', 'c'].map((name) => bus(hub, name));
  const first = await agents[0]!.fire(fireRequest);
  assert.is(first.ltime, 0);
  for (const agent of agents) assert.equal(agent.list().map((event) => event.id), [first.id]);
  // Every receiver witnessed ltime 0: the next event from anyone is later.
  const second = await agents[2]!.fire({ ...fireRequest, name: 'restart' });
  assert.is(second.ltime, 1);
  assert.equal(agents[1]!.list('restart').map((event) => event.id), [second.id]);
  assert.equal(agents[1]!.list('deploy').map((event) => event.id), [first.id]);
  assert.is(agents[1]!.list().length, 2);
});

test('duplicates are kept once; undecodable bytes are counted and dropped', () => {
  const hub = new Hub();
  const events = bus(hub, 'a');
  const event = { ...fireRequest, id: '0f8c3a51-6b2e-4d7f-9a10-2b3c4d5e6f70', ltime: 7 };
  const bytes = encodeUserEvent(event);
  events.receiveBytes('x', bytes);
  events.receiveBytes('y', bytes);
  events.receiveBytes('y', Uint8Array.from([9, 9, 9]));
  assert.is(events.list().length, 1);
  assert.is(events.counters.duplicates, 1);
  assert.is(events.counters.undecodable, 1);
  assert.is(events.time(), 8);
});

test('filters: node name, service name, and tag of that service', () => {
  const services = [{ service: 'web', tags: ['v1', 'blue'] }, { service: 'db', tags: ['primary'] }];
  const match = (nodeFilter: string, serviceFilter: string, tagFilter: string) => eventMatches({ nodeFilter, serviceFilter, tagFilter }, 'web-1', services);
  assert.ok(match('', '', ''));
  assert.ok(match('^web-', '', ''));
  assert.not.ok(match('^db-', '', ''));
  assert.ok(match('', 'we', ''));
  assert.not.ok(match('', 'cache', ''));
  assert.ok(match('', 'web', 'blu'));
  assert.not.ok(match('', 'web', 'primary')); // the tag must belong to a matching service
  assert.ok(match('', 'db|web', 'primary'));
  assert.not.ok(match('^web-', 'cache', ''));
  assert.not.ok(eventMatches({ nodeFilter: '', serviceFilter: 'web', tagFilter: '' }, 'n', []));
});

test('filtered events are not buffered; a bad filter from the wire is dropped', () => {
  const hub = new Hub();
  const web = bus(hub, 'web-1', [{ service: 'web', tags: [] }]);
  const db = bus(hub, 'db-1', [{ service: 'db', tags: [] }]);
  web.receiveBytes('x', encodeUserEvent({ ...fireRequest, serviceFilter: 'web', id: '00000000-0000-4000-8000-000000000001', ltime: 1 }));
  db.receiveBytes('x', encodeUserEvent({ ...fireRequest, serviceFilter: 'web', id: '00000000-0000-4000-8000-000000000001', ltime: 1 }));
  db.receiveBytes('x', encodeUserEvent({ ...fireRequest, nodeFilter: '(', id: '00000000-0000-4000-8000-000000000002', ltime: 2 }));
  assert.is(web.list().length, 1);
  assert.is(db.list().length, 0);
  assert.is(db.counters.filtered, 2);
});

test('fire validates: reserved names, bad regexes, tag without service, oversize names and filters', async () => {
  const events = bus(new Hub(), 'a');
  for (const [request, message] of [
    [{ ...fireRequest, name: '_internal' }, /cannot start with _/],
    [{ ...fireRequest, name: '' }, /cannot be empty/],
    [{ ...fireRequest, nodeFilter: '(' }, /Invalid node filter/],
    [{ ...fireRequest, serviceFilter: '[' }, /Invalid service filter/],
    [{ ...fireRequest, tagFilter: 'v1' }, /tag filter without service filter/],
    [{ ...fireRequest, name: 'n'.repeat(257) }, /257 bytes; the limit is 256/],
    [{ ...fireRequest, nodeFilter: 'x'.repeat(1025) }, /node filter is 1025 bytes/],
  ] as const) {
    try {
      await events.fire(request);
      assert.unreachable(`${JSON.stringify(request)} was fired`);
    } catch (error) {
      assert.instance(error, EventValidationError);
      assert.match((error as Error).message, message);
    }
  }
  assert.is(events.list().length, 0);
});

test('the ring keeps the last 256, oldest first; the index counts from 1', async () => {
  const events = bus(new Hub(), 'a');
  assert.is(events.index(), 1);
  const ids: string[] = [];
  for (let i = 0; i < EVENT_BUFFER_SIZE + 10; i++) ids.push((await events.fire({ ...fireRequest, name: `e${i % 3}` })).id);
  assert.is(events.index(), EVENT_BUFFER_SIZE + 11);
  assert.equal(events.list().map((event) => event.id), ids.slice(10));
  const kept = events.list();
  assert.equal(events.list('e1').map((event) => event.id), kept.filter((event) => event.name === 'e1').map((event) => event.id));
  assert.ok(events.list('e1').length > 80);
});

test('consulUserEvent: Consul\'s JSON shape, Payload null when empty', () => {
  const event = { ...fireRequest, id: '00000000-0000-4000-8000-000000000001', ltime: 4 };
  assert.equal(consulUserEvent(event), {
    ID: event.id, Name: 'deploy', Payload: null, NodeFilter: '', ServiceFilter: '', TagFilter: '', Version: 1, LTime: 4,
  });
  assert.is(consulUserEvent({ ...event, payload: Buffer.from('hi') }).Payload, 'aGk=');
});

// ------------------------------------------------------------- HTTP

function endpoints() {
  const events = bus(new Hub(), 'web-1', [{ service: 'web', tags: ['v1'] }]);
  const router = new Router();
  registerEventEndpoints(router, { events, meta: (index) => ({ index, knownLeader: true, lastContactMs: 0 }) });
  const call = async (method: string, path: string, body = '', signal = new AbortController().signal): Promise<Reply> => {
    const url = new URL(path, 'http://x');
    const match = router.match(method, url.pathname);
    if (match.kind !== 'found') throw new Error(`${method} ${path}: ${match.kind}`);
    const request = { method, path: url.pathname, params: match.params, query: url.searchParams, headers: {}, token: undefined, body: Buffer.from(body), json: () => JSON.parse(body), signal, remoteAddress: '127.0.0.1' } satisfies ApiRequest;
    return match.handler(request);
  };
  return { events, call };
}

async function status(promise: Promise<unknown>): Promise<[number, string]> {
  try {
    await promise;
    return [200, ''];
  } catch (error) {
    assert.instance(error, HttpError);
    return [(error as HttpError).status, (error as Error).message];
  }
}

test('PUT /v1/event/fire/:name answers the event; limits and reserved names', async () => {
  const { call } = endpoints();
  const reply = await call('PUT', '/v1/event/fire/deploy?service=web&tag=v1', 'abc');
  const json = reply.json as Record<string, unknown>;
  assert.is(json.Name, 'deploy');
  assert.is(json.Payload, Buffer.from('abc').toString('base64'));
  assert.is(json.ServiceFilter, 'web');
  assert.is(json.TagFilter, 'v1');
  assert.is(json.Version, 1);
  assert.match(json.ID as string, /^[0-9a-f-]{36}$/);
  assert.equal(await status(call('PUT', '/v1/event/fire/deploy', 'x'.repeat(512))), [200, '']);
  const [code, message] = await status(call('PUT', '/v1/event/fire/deploy', 'x'.repeat(513)));
  assert.is(code, 413);
  assert.match(message, /513 bytes, the limit is 512/);
  assert.equal((await status(call('PUT', '/v1/event/fire/_x')))[0], 400);
  assert.equal((await status(call('PUT', '/v1/event/fire/x?node=(')))[0], 400);
});

test('GET /v1/event/list filters by name and blocks on ?index', async () => {
  const { call } = endpoints();
  await call('PUT', '/v1/event/fire/a');
  await call('PUT', '/v1/event/fire/b');
  const all = await call('GET', '/v1/event/list');
  assert.equal((all.json as { Name: string }[]).map((event) => event.Name), ['a', 'b']);
  assert.is(all.meta?.index, 3);
  assert.equal(((await call('GET', '/v1/event/list?name=b')).json as { Name: string }[]).map((event) => event.Name), ['b']);
  const started = Date.now();
  const blocked = call('GET', '/v1/event/list?name=c&index=3&wait=5s');
  setTimeout(() => void call('PUT', '/v1/event/fire/c'), 100);
  const reply = await blocked;
  assert.ok(Date.now() - started >= 90);
  assert.equal((reply.json as { Name: string }[]).map((event) => event.Name), ['c']);
  assert.is(reply.meta?.index, 4);
  // A wait that runs out answers the same index.
  const timedOut = await call('GET', '/v1/event/list?index=4&wait=100ms');
  assert.is(timedOut.meta?.index, 4);
});

test.run();

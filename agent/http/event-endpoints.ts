// User event endpoints in Consul's shapes (agent/event_endpoint.go):
//   PUT /v1/event/fire/:name?node=&service=&tag=   body = payload → the event JSON
//   GET /v1/event/list?name=                        → [event, ...] oldest first, blocking on ?index
// The event is fired by this agent (never forwarded: events do not go through
// Raft) and gossiped to the datacenter; see agent/events/event-bus.ts for the
// filters, the Lamport time and the index (a counter per agent, not Consul's
// XOR of IDs).
//
//   registerEventEndpoints(router, { events: agent.events, meta: (index) => queryMeta(agent, index) });

import { EVENT_PAYLOAD_MAX_BYTES } from '../../protocol/events.ts';
import { consulUserEvent, EventValidationError } from '../events/event-bus.ts';
import type { EventBus } from '../events/event-bus.ts';
import { parseBlockingQuery, waitForIndex } from './blocking.ts';
import { HttpError, jsonReply } from './router.ts';
import type { QueryMeta, Router } from './router.ts';

/** Bodies up to this are read, so that a payload over the event limit gets our message, not the server's. */
const FIRE_BODY_READ_MAX_BYTES = 64 * 1024;

export type EventEndpointOptions = {
  events: Pick<EventBus, 'fire' | 'list' | 'index' | 'waitForChange'>;
  meta: (index: number) => QueryMeta;
  /** Payload limit in bytes; EVENT_PAYLOAD_MAX_BYTES (Consul's 512) by default. */
  payloadMaxBytes?: number;
};

export function registerEventEndpoints(router: Router, options: EventEndpointOptions): void {
  const payloadMax = Math.min(options.payloadMaxBytes ?? EVENT_PAYLOAD_MAX_BYTES, EVENT_PAYLOAD_MAX_BYTES);

  router.put('/v1/event/fire/:name', async (request) => {
    const name = request.params.name ?? '';
    if (name === '') throw new HttpError(400, 'Missing name');
    if (request.body.length > payloadMax) {
      throw new HttpError(413, `User event payload is ${request.body.length} bytes, the limit is ${payloadMax} bytes`);
    }
    try {
      const event = await options.events.fire({
        name,
        payload: Uint8Array.from(request.body),
        nodeFilter: request.query.get('node') ?? '',
        serviceFilter: request.query.get('service') ?? '',
        tagFilter: request.query.get('tag') ?? '',
      });
      return jsonReply(consulUserEvent(event));
    } catch (error) {
      if (error instanceof EventValidationError) throw new HttpError(400, error.message);
      throw error;
    }
  }, { maxBodyBytes: FIRE_BODY_READ_MAX_BYTES });

  router.get('/v1/event/list', async (request) => {
    const blocking = parseBlockingQuery(request.query);
    const name = request.query.get('name') ?? '';
    await waitForIndex(blocking, { currentIndex: () => options.events.index(), waitForChange: (index, signal) => options.events.waitForChange(index, signal) }, request.signal);
    const index = options.events.index();
    return jsonReply(options.events.list(name).map(consulUserEvent), options.meta(index));
  });
}

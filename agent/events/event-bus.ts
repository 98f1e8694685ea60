// User events (Consul's `consul event`): fire on one agent, gossip to all in
// the datacenter, each agent keeps the ones meant for it.
//
//   const events = new EventBus({ mesh, datacenter: 'dc1', nodeName: 'web-1', localServices: () => […], log });
//   await events.start();
//   const event = await events.fire({ name: 'deploy', payload, nodeFilter: '', serviceFilter: 'web', tagFilter: '' });
//   events.list('deploy');           // the buffered events, oldest first
//
// - Lamport time: the firing agent stamps its clock (then ticks it); every
//   receiver witnesses the stamp (clock = max(clock, ltime + 1)), so the LTime
//   of events fired after seeing one is larger, as with serf's event clock.
// - Deduplicated by ID (the last DEDUP_IDS_MAX IDs remembered): a message
//   gossiped twice, or echoed back, is kept once.
// - Filters are applied by each receiver, against its own node name and the
//   services registered on it (Consul's shouldProcessUserEvent): NodeFilter
//   must match the node name; ServiceFilter must match the name of one local
//   service and, with TagFilter, one of that service's tags. Regexes are
//   unanchored (Go's MatchString, JavaScript's test). An event with a filter
//   that does not compile here is dropped.
// - The firing agent handles its own event as any receiver (gossipsub does not
//   deliver our own messages back).
// - The last EVENT_BUFFER_SIZE (256) accepted events are kept in a ring.
//
// Index for blocking `GET /v1/event/list?index=`: a counter per agent, the
// number of events this agent has accepted since it started, plus one (so 1
// with none: Consul never blocks on index 0, and a watcher must be able to wait
// for the first event).
// Consul uses an XOR of the IDs' last 8 bytes instead, which can repeat and
// go backwards; our counter only grows, so `index > N` means "something new".
// Indexes are not comparable between agents, as in Consul.

import { randomUUID } from 'node:crypto';
import { DecodeError } from '../../protocol/errors.ts';
import { decodeUserEvent, encodeUserEvent, eventTopic, EVENT_FILTER_MAX_BYTES, EVENT_NAME_MAX_BYTES } from '../../protocol/events.ts';
import type { UserEvent } from '../../protocol/events.ts';

export const EVENT_BUFFER_SIZE = 256;
export const DEDUP_IDS_MAX = 4096;

/** What the bus needs of the mesh (a structural subset of Mesh). */
export type EventMesh = {
  publish(topic: string, data: Uint8Array): Promise<unknown>;
  subscribe(topic: string, listener: (from: string, data: Uint8Array) => void): () => void;
};

export type LocalServiceView = { service: string; tags: readonly string[] };

export type EventBusOptions = {
  mesh: EventMesh;
  datacenter: string;
  nodeName: string;
  localServices: () => readonly LocalServiceView[];
  log: (level: 'debug' | 'info' | 'warn', message: string) => void;
};

export type FireRequest = Omit<UserEvent, 'id' | 'ltime'>;

export type EventBusCounters = { fired: number; received: number; accepted: number; duplicates: number; filtered: number; undecodable: number };

/** Why an event cannot be fired: the HTTP layer turns it into 400. */
export class EventValidationError extends Error {
  override name = 'EventValidationError';
}

/** Consul's validateUserEvent, before anything is sent. */
export function validateFireRequest(request: FireRequest): void {
  if (request.name === '') throw new EventValidationError('User event name cannot be empty');
  if (request.name.startsWith('_')) throw new EventValidationError('User event name cannot start with _ (reserved)');
  const nameBytes = Buffer.byteLength(request.name);
  if (nameBytes > EVENT_NAME_MAX_BYTES) throw new EventValidationError(`User event name is ${nameBytes} bytes; the limit is ${EVENT_NAME_MAX_BYTES}`);
  for (const [field, value] of [['node', request.nodeFilter], ['service', request.serviceFilter], ['tag', request.tagFilter]] as const) {
    if (value === '') continue;
    const valueBytes = Buffer.byteLength(value);
    if (valueBytes > EVENT_FILTER_MAX_BYTES) throw new EventValidationError(`The ${field} filter is ${valueBytes} bytes; the limit is ${EVENT_FILTER_MAX_BYTES}`);
    try {
      new RegExp(value);
    } catch (error) {
      throw new EventValidationError(`Invalid ${field} filter: ${(error as Error).message}`);
    }
  }
  if (request.tagFilter !== '' && request.serviceFilter === '') throw new EventValidationError('Cannot provide tag filter without service filter');
}

/** Consul's shouldProcessUserEvent. Throws SyntaxError for a filter that does not compile. */
export function eventMatches(event: Pick<UserEvent, 'nodeFilter' | 'serviceFilter' | 'tagFilter'>, nodeName: string, services: readonly LocalServiceView[]): boolean {
  if (event.nodeFilter !== '' && !new RegExp(event.nodeFilter).test(nodeName)) return false;
  if (event.serviceFilter === '') return true;
  const serviceRe = new RegExp(event.serviceFilter);
  const tagRe = event.tagFilter === '' ? null : new RegExp(event.tagFilter);
  for (const service of services) {
    if (!serviceRe.test(service.service)) continue;
    if (tagRe === null || service.tags.some((tag) => tagRe.test(tag))) return true;
  }
  return false;
}

/** Consul's UserEvent JSON (api/event.go). Payload is base64, null when empty. */
export type ConsulUserEvent = {
  ID: string; Name: string; Payload: string | null; NodeFilter: string; ServiceFilter: string; TagFilter: string; Version: number; LTime: number;
};

export function consulUserEvent(event: UserEvent): ConsulUserEvent {
  return {
    ID: event.id,
    Name: event.name,
    Payload: event.payload.length === 0 ? null : Buffer.from(event.payload).toString('base64'),
    NodeFilter: event.nodeFilter,
    ServiceFilter: event.serviceFilter,
    TagFilter: event.tagFilter,
    Version: 1,
    LTime: event.ltime,
  };
}

export class EventBus {
  readonly topic: string;
  readonly counters: EventBusCounters = { fired: 0, received: 0, accepted: 0, duplicates: 0, filtered: 0, undecodable: 0 };
  private readonly options: EventBusOptions;
  private clock = 0;
  private readonly ring: (UserEvent | undefined)[] = new Array(EVENT_BUFFER_SIZE);
  private next = 0;
  private count = 0;
  private accepted = 0;
  private readonly seen = new Set<string>();
  private readonly seenOrder: string[] = [];
  private waiters = new Set<() => void>();
  private unsubscribe: (() => void) | null = null;

  constructor(options: EventBusOptions) {
    this.options = options;
    this.topic = eventTopic(options.datacenter);
  }

  start(): void {
    this.unsubscribe = this.options.mesh.subscribe(this.topic, (from, data) => this.receiveBytes(from, data));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  /** The Lamport time the next fired event will carry. */
  time(): number {
    return this.clock;
  }

  /** Validates, stamps, handles locally and publishes. Throws EventValidationError. */
  async fire(request: FireRequest): Promise<UserEvent> {
    validateFireRequest(request);
    const event: UserEvent = { ...request, id: randomUUID(), ltime: this.clock };
    this.clock++;
    const bytes = encodeUserEvent(event);
    this.counters.fired++;
    this.handle(event);
    try {
      await this.options.mesh.publish(this.topic, bytes);
    } catch (error) {
      this.options.log('warn', `event ${event.name} (${event.id}): publish failed: ${(error as Error).message}`);
      throw error;
    }
    return event;
  }

  /** A gossip message from `from`: decode and handle; bad input is counted and dropped. */
  receiveBytes(from: string, data: Uint8Array): void {
    this.counters.received++;
    let event: UserEvent;
    try {
      event = decodeUserEvent(data);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.counters.undecodable++;
      this.options.log('debug', `event from ${from} dropped: ${error.message}`);
      return;
    }
    this.handle(event);
  }

  /** Witness, deduplicate, filter, buffer. True when the event was accepted. */
  handle(event: UserEvent): boolean {
    if (event.ltime >= this.clock) this.clock = event.ltime + 1;
    if (this.seen.has(event.id)) {
      this.counters.duplicates++;
      return false;
    }
    this.remember(event.id);
    let matches: boolean;
    try {
      matches = eventMatches(event, this.options.nodeName, this.options.localServices());
    } catch (error) {
      this.options.log('warn', `event ${event.name} (${event.id}) dropped: bad filter: ${(error as Error).message}`);
      matches = false;
    }
    if (!matches) {
      this.counters.filtered++;
      return false;
    }
    this.ring[this.next] = event;
    this.next = (this.next + 1) % EVENT_BUFFER_SIZE;
    this.count = Math.min(this.count + 1, EVENT_BUFFER_SIZE);
    this.accepted++;
    this.counters.accepted++;
    this.options.log('debug', `event ${event.name} (${event.id}, ltime ${event.ltime}) accepted`);
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
    return true;
  }

  /** Buffered events, oldest first; only those named `name` when given. */
  list(name?: string): UserEvent[] {
    const result: UserEvent[] = [];
    const start = (this.next - this.count + EVENT_BUFFER_SIZE) % EVENT_BUFFER_SIZE;
    for (let i = 0; i < this.count; i++) {
      const event = this.ring[(start + i) % EVENT_BUFFER_SIZE]!;
      if (name === undefined || name === '' || event.name === name) result.push(event);
    }
    return result;
  }

  /** The blocking index: events accepted so far (see the top of the file). */
  index(): number {
    return this.accepted + 1;
  }

  /** Resolves when an event is accepted or `signal` aborts. */
  waitForChange(_index: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private remember(id: string): void {
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > DEDUP_IDS_MAX) this.seen.delete(this.seenOrder.shift()!);
  }
}

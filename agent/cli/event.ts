// `tribune event`, as `consul event` (command/event/event.go):
//
//   tribune event -name deploy 6DF7FE               fire to every agent in the datacenter
//   tribune event -name deploy -service web -tag v1 only agents with a matching service (and tag)
//   tribune event -name restart -node '^web-'      only nodes whose name matches
//
// Prints `Event ID: <uuid>` on success. The payload (at most 512 bytes) is the
// single argument, taken as is; without one the event has no payload.
// Filters are regular expressions, unanchored, matched by each receiving agent.

import { stringFlag } from '../config/flags.ts';
import type { FlagSpec, ParsedFlags } from '../config/flags.ts';
import { AgentConnectionError, AgentResponseError } from './http-client.ts';
import type { AgentHttpClient } from './http-client.ts';
import type { CliIo } from './main.ts';

export type EventCommandContext = { flags: ParsedFlags; args: string[]; io: CliIo; client: AgentHttpClient };

const EXIT_OK = 0;
const EXIT_ERROR = 1;

export const EVENT_FLAGS: readonly FlagSpec[] = [
  { name: 'name', kind: 'string', placeholder: 'string', usage: 'Name of the event.' },
  { name: 'node', kind: 'string', placeholder: 'string', usage: 'Regular expression to filter on node names.' },
  { name: 'service', kind: 'string', placeholder: 'string', usage: 'Regular expression to filter on service instances.' },
  { name: 'tag', kind: 'string', placeholder: 'string', usage: 'Regular expression to filter on service tags. Must be used with -service.' },
];

export async function runEvent(context: EventCommandContext): Promise<number> {
  const { flags, args, io, client } = context;
  const name = stringFlag(flags, 'name') ?? '';
  const node = stringFlag(flags, 'node') ?? '';
  const service = stringFlag(flags, 'service') ?? '';
  const tag = stringFlag(flags, 'tag') ?? '';
  if (name === '') {
    io.err('Event name must be specified');
    return EXIT_ERROR;
  }
  if (tag !== '' && service === '') {
    io.err('Cannot provide tag filter without service filter.');
    return EXIT_ERROR;
  }
  for (const [what, value] of [['node', node], ['service', service], ['tag', tag]] as const) {
    if (value === '') continue;
    try {
      new RegExp(value);
    } catch (error) {
      io.err(`Failed to compile ${what} filter regexp: ${(error as Error).message}`);
      return EXIT_ERROR;
    }
  }
  if (args.length > 1) {
    io.err('Too many command line arguments.');
    return EXIT_ERROR;
  }
  const payload = args[0] ?? '';
  try {
    const response = await client.request('PUT', `/v1/event/fire/${encodeURIComponent(name)}`, {
      query: { node: node || undefined, service: service || undefined, tag: tag || undefined },
      body: payload === '' ? undefined : payload,
    });
    const event = JSON.parse(response.body) as { ID: string };
    io.out(`Event ID: ${event.ID}`);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof AgentConnectionError) io.err(error.message);
    else if (error instanceof AgentResponseError) io.err(`Error firing event: ${error.message}`);
    else io.err(`Error firing event: ${(error as Error).message}`);
    return EXIT_ERROR;
  }
}

export const EVENT_COMMANDS = [
  {
    name: 'event',
    synopsis: 'Fire a new event',
    usage: 'tribune event [options] [payload]',
    description: 'Dispatches a custom user event across the datacenter. An event has a name and an optional ' +
      'payload of at most 512 bytes; names starting with "_" are reserved. Filters on node name, service and ' +
      'tag (regular expressions) restrict which agents keep it; each agent decides for itself. Agents keep ' +
      'their last 256 events: read them with GET /v1/event/list or "tribune watch -type event".',
    http: true,
    flags: EVENT_FLAGS,
    run: runEvent,
  },
];

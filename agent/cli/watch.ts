// `tribune watch`, as `consul watch` (command/watch, api/watch):
//
//   tribune watch -type key -key app/config ./on-change.sh
//   tribune watch -type keyprefix -prefix app/ cat
//   tribune watch -type services | nodes
//   tribune watch -type service -service web [-tag v1] [-passingonly] ./reload.sh
//   tribune watch -type checks [-state critical | -service web]
//   tribune watch -type event -name deploy /usr/bin/deploy.sh
//   tribune watch -type event -name deploy -http-handler http://127.0.0.1:9000/hook
//
// Blocking queries against the local agent's HTTP API (`?index=` from the
// last X-Consul-Index; an index that goes backwards starts over at 0, as
// Consul's watch does). The handler (run with `sh -c`) gets the JSON result
// on standard input and the index in CONSUL_INDEX and TRIBUNE_INDEX; with
// -http-handler the JSON is POSTed to that URL instead, the index in the
// X-Consul-Index header. Better than Consul: the handler runs only when the
// content changed (compared as JSON text), not on every index bump. Without a
// handler, the first result is printed and the command exits, as Consul's.
//
// Results, as consul watch hands them: key → the KV pair object or null;
// keyprefix → [pairs] ([] when none); services → {name: [tags]}; nodes →
// [nodes]; service → [health entries]; checks → [checks]; event → [events].

import { spawn } from 'node:child_process';
import { boolFlag, stringFlag } from '../config/flags.ts';
import type { FlagSpec, ParsedFlags } from '../config/flags.ts';
import { AgentConnectionError, AgentResponseError } from './http-client.ts';
import type { AgentHttpClient } from './http-client.ts';
import type { CliIo } from './main.ts';

export type WatchCommandContext = { flags: ParsedFlags; args: string[]; io: CliIo; client: AgentHttpClient };

const EXIT_OK = 0;
const EXIT_ERROR = 1;
/** Pause after a failed query before the next (the agent may be restarting). */
const RETRY_MS = 1_000;

export const WATCH_TYPES = ['key', 'keyprefix', 'services', 'nodes', 'service', 'checks', 'event'] as const;
export type WatchType = typeof WATCH_TYPES[number];

export const WATCH_FLAGS: readonly FlagSpec[] = [
  { name: 'type', kind: 'string', placeholder: 'string', usage: `Specifies the watch type. One of ${WATCH_TYPES.join(', ')}.` },
  { name: 'key', kind: 'string', placeholder: 'string', usage: 'Specifies the key to watch. Only for \'key\' type.' },
  { name: 'prefix', kind: 'string', placeholder: 'string', usage: 'Specifies the key prefix to watch. Only for \'keyprefix\' type.' },
  { name: 'service', kind: 'string', placeholder: 'string', usage: 'Specifies the service to watch. Required for \'service\' type, optional for \'checks\' type.' },
  { name: 'tag', kind: 'string', placeholder: 'string', usage: 'Specifies the service tag to filter on. Optional for \'service\' type.' },
  { name: 'passingonly', kind: 'bool', usage: 'Specifies if only hosts passing all checks are displayed. Optional for \'service\' type, defaults false.' },
  { name: 'state', kind: 'string', placeholder: 'string', usage: 'Specifies the states to watch. Optional for \'checks\' type.' },
  { name: 'name', kind: 'string', placeholder: 'string', usage: 'Specifies an event name to watch. Only for \'event\' type.' },
  { name: 'http-handler', kind: 'string', placeholder: 'url', usage: 'An HTTP(S) URL that receives the result as a POST instead of running a handler command.' },
];

/** What to query for a watch: path, query, and how a 404 reads. */
export type WatchPlan = { type: WatchType; path: string; query: Record<string, string | boolean | undefined>; notFound: unknown };

export type WatchParams = { type: string; key?: string; prefix?: string; service?: string; tag?: string; passingonly?: boolean; state?: string; name?: string };

/** The query for the parameters, or an error message worded as Consul's. */
export function planWatch(params: WatchParams): WatchPlan | { error: string } {
  const type = params.type as WatchType;
  if (params.type === '') return { error: 'Watch type must be specified' };
  if (!WATCH_TYPES.includes(type)) return { error: `Unsupported watch type: ${params.type}` };
  const allowed: Record<WatchType, (keyof WatchParams)[]> = {
    key: ['key'], keyprefix: ['prefix'], services: [], nodes: [], service: ['service', 'tag', 'passingonly'],
    checks: ['service', 'state'], event: ['name'],
  };
  for (const field of ['key', 'prefix', 'service', 'tag', 'passingonly', 'state', 'name'] as const) {
    const value = params[field];
    if (value !== undefined && value !== '' && value !== false && !allowed[type].includes(field)) {
      return { error: `Failed to parse watch: Invalid parameter for ${type} watch: ${field}` };
    }
  }
  const path = (segment: string) => segment.split('/').map(encodeURIComponent).join('/');
  switch (type) {
    case 'key':
      if (!params.key) return { error: 'Failed to parse watch: Must specify a single key to watch' };
      return { type, path: `/v1/kv/${path(params.key.replace(/^\//, ''))}`, query: {}, notFound: null };
    case 'keyprefix':
      if (params.prefix === undefined) return { error: 'Failed to parse watch: Must specify a single prefix to watch' };
      return { type, path: `/v1/kv/${path(params.prefix.replace(/^\//, ''))}`, query: { recurse: true }, notFound: [] };
    case 'services':
      return { type, path: '/v1/catalog/services', query: {}, notFound: {} };
    case 'nodes':
      return { type, path: '/v1/catalog/nodes', query: {}, notFound: [] };
    case 'service':
      if (!params.service) return { error: 'Failed to parse watch: Must specify a single service to watch' };
      return { type, path: `/v1/health/service/${encodeURIComponent(params.service)}`, query: { tag: params.tag || undefined, passing: params.passingonly === true }, notFound: [] };
    case 'checks':
      if (params.service && params.state) return { error: 'Failed to parse watch: Cannot specify service and state' };
      if (params.service) return { type, path: `/v1/health/checks/${encodeURIComponent(params.service)}`, query: {}, notFound: [] };
      return { type, path: `/v1/health/state/${encodeURIComponent(params.state || 'any')}`, query: {}, notFound: [] };
    case 'event':
      return { type, path: '/v1/event/list', query: { name: params.name || undefined }, notFound: [] };
  }
}

/** One blocking query's answer: the index it carried and the result as consul watch hands it. */
export type WatchResult = { index: number; value: unknown };

/** Runs one query: `index` 0 does not block. */
export async function queryWatch(client: AgentHttpClient, plan: WatchPlan, index: number): Promise<WatchResult> {
  const response = await client.request('GET', plan.path, { query: { ...plan.query, index: index > 0 ? index : undefined }, acceptStatuses: [404] });
  const header = response.headers['x-consul-index'];
  const newIndex = Number(Array.isArray(header) ? header[0] : header);
  let value: unknown = plan.notFound;
  if (response.status !== 404) value = JSON.parse(response.body);
  // consul watch hands a key watch the pair itself, not a one-element list.
  if (plan.type === 'key' && Array.isArray(value)) value = value[0] ?? null;
  return { index: Number.isFinite(newIndex) && newIndex > 0 ? newIndex : 0, value };
}

export type WatchLoopOptions = {
  query: (index: number) => Promise<WatchResult>;
  /** Called with the result whenever its content differs from the last one handed over (and for the first). */
  onChange: (result: WatchResult, json: string) => Promise<void>;
  onError: (error: unknown) => void;
  signal: AbortSignal;
  retryMs?: number;
};

/** The watch loop: block, compare, hand over what changed; until `signal` aborts. */
export async function watchLoop(options: WatchLoopOptions): Promise<void> {
  let index = 0;
  let last: string | undefined;
  // A blocking query can take minutes: stop waiting for it when the signal aborts.
  const aborted = new Promise<never>((_resolve, reject) => {
    options.signal.addEventListener('abort', () => reject(new Error('watch stopped')), { once: true });
  });
  aborted.catch(() => {});
  while (!options.signal.aborted) {
    let result: WatchResult;
    try {
      result = await Promise.race([options.query(index), aborted]);
    } catch (error) {
      if (options.signal.aborted) return;
      options.onError(error);
      await sleep(options.retryMs ?? RETRY_MS, options.signal);
      index = 0; // the agent may have restarted: its indexes start over
      continue;
    }
    if (options.signal.aborted) return;
    // An index that went backwards (agent restart, snapshot restore): start over.
    index = result.index < index ? 0 : result.index;
    const json = JSON.stringify(result.value, null, 4);
    if (json === last) continue;
    last = json;
    await options.onChange(result, json);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs `command` with `sh -c`, the JSON on stdin, the index in the environment; resolves with its exit code. */
export function runHandler(command: string, json: string, index: number, io: CliIo): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      env: { ...io.env, CONSUL_INDEX: String(index), TRIBUNE_INDEX: String(index) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => io.out(chunk.toString('utf8').replace(/\n$/, '')));
    child.stderr.on('data', (chunk: Buffer) => io.err(chunk.toString('utf8').replace(/\n$/, '')));
    child.stdin.on('error', () => {}); // a handler that does not read its input
    child.stdin.end(json + '\n');
    child.on('error', (error) => {
      io.err(`Failed to run handler: ${error.message}`);
      resolve(-1);
    });
    child.on('close', (code) => resolve(code ?? -1));
  });
}

async function postHandler(url: string, json: string, index: number, io: CliIo): Promise<void> {
  try {
    const response = await fetch(url, {
      method: 'POST', body: json, headers: { 'content-type': 'application/json', 'x-consul-index': String(index) },
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) io.err(`http handler ${url}: ${response.status} ${(await response.text()).slice(0, 200)}`);
  } catch (error) {
    io.err(`http handler ${url}: ${(error as Error).message}`);
  }
}

export async function runWatch(context: WatchCommandContext, signal?: AbortSignal): Promise<number> {
  const { flags, args, io, client } = context;
  const plan = planWatch({
    type: stringFlag(flags, 'type') ?? '',
    key: stringFlag(flags, 'key'),
    prefix: stringFlag(flags, 'prefix'),
    service: stringFlag(flags, 'service'),
    tag: stringFlag(flags, 'tag'),
    passingonly: boolFlag(flags, 'passingonly'),
    state: stringFlag(flags, 'state'),
    name: stringFlag(flags, 'name'),
  });
  if ('error' in plan) {
    io.err(plan.error);
    return EXIT_ERROR;
  }
  const httpHandler = stringFlag(flags, 'http-handler');
  const command = args.join(' ');
  if (httpHandler !== undefined && command !== '') {
    io.err('Cannot specify both a handler command and -http-handler');
    return EXIT_ERROR;
  }
  if (httpHandler === undefined && command === '') {
    // No handler: print the current result and exit, as consul watch does.
    try {
      const result = await queryWatch(client, plan, 0);
      io.out(JSON.stringify(result.value, null, 4));
      return EXIT_OK;
    } catch (error) {
      io.err(error instanceof AgentConnectionError || error instanceof AgentResponseError ? error.message : `Error querying: ${(error as Error).message}`);
      return EXIT_ERROR;
    }
  }
  const stop = new AbortController();
  signal?.addEventListener('abort', () => stop.abort(), { once: true });
  let stoppedBySignal = false;
  const onSignal = () => {
    stoppedBySignal = true;
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await watchLoop({
      query: (index) => queryWatch(client, plan, index),
      onChange: async (result, json) => {
        if (httpHandler !== undefined) return postHandler(httpHandler, json, result.index, io);
        const code = await runHandler(command, json, result.index, io);
        if (code !== 0) io.err(`Handler exited with code ${code}`);
      },
      onError: (error) => io.err(`Error querying the agent: ${(error as Error).message}`),
      signal: stop.signal,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  // Stopped by SIGINT/SIGTERM: the abandoned blocking request's socket would keep
  // the process alive until the agent answers it. Exit once main is done.
  if (stoppedBySignal) setTimeout(() => process.exit(EXIT_OK), 200).unref();
  return EXIT_OK;
}

export const WATCH_COMMANDS = [
  {
    name: 'watch',
    synopsis: 'Watch for changes in Tribune',
    usage: 'tribune watch [options] [child...]',
    description: 'Watches a view of the data (a key, a key prefix, the services, the nodes, a service\'s ' +
      'instances, health checks or user events) with blocking queries against the local agent, and runs ' +
      'the handler command with the JSON result on standard input (CONSUL_INDEX and TRIBUNE_INDEX hold the ' +
      'index) each time the content changes: not on index bumps that change nothing. With -http-handler, ' +
      'the result is POSTed to that URL instead. Without a handler, prints the result once and exits.',
    http: true,
    flags: WATCH_FLAGS,
    run: (context: WatchCommandContext) => runWatch(context),
  },
];

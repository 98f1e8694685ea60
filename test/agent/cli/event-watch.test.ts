// tribune watch (agent/cli/watch.ts): the query each type makes, the loop
// that hands over only changed content, and the handler's stdin and env.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseFlags } from '../../../agent/config/flags.ts';
import { AgentHttpClient } from '../../../agent/cli/http-client.ts';
import { planWatch, runHandler, runWatch, WATCH_FLAGS, watchLoop } from '../../../agent/cli/watch.ts';
import type { WatchResult } from '../../../agent/cli/watch.ts';
import type { CliIo } from '../../../agent/cli/main.ts';

test('planWatch: path and query per type, Consul\'s errors', () => {
  const plan = (params: Parameters<typeof planWatch>[0]) => {
    const result = planWatch(params);
    return 'error' in result ? result.error : `${result.path}?${JSON.stringify(result.query)}`;
  };
  assert.is(plan({ type: 'key', key: '/app/config' }), '/v1/kv/app/config?{}');
  assert.is(plan({ type: 'keyprefix', prefix: 'app/' }), '/v1/kv/app/?{"recurse":true}');
  assert.is(plan({ type: 'services' }), '/v1/catalog/services?{}');
  assert.is(plan({ type: 'nodes' }), '/v1/catalog/nodes?{}');
  assert.is(plan({ type: 'service', service: 'web', tag: 'v1', passingonly: true }), '/v1/health/service/web?{"tag":"v1","passing":true}');
  assert.is(plan({ type: 'checks' }), '/v1/health/state/any?{}');
  assert.is(plan({ type: 'checks', state: 'critical' }), '/v1/health/state/critical?{}');
  assert.is(plan({ type: 'checks', service: 'web' }), '/v1/health/checks/web?{}');
  assert.is(plan({ type: 'event', name: 'deploy' }), '/v1/event/list?{"name":"deploy"}');
  assert.is(plan({ type: '' }), 'Watch type must be specified');
  assert.is(plan({ type: 'bogus' }), 'Unsupported watch type: bogus');
  assert.match(plan({ type: 'key' }), /Must specify a single key/);
  assert.match(plan({ type: 'service' }), /Must specify a single service/);
  assert.match(plan({ type: 'nodes', name: 'x' }), /Invalid parameter for nodes watch: name/);
  assert.match(plan({ type: 'checks', service: 'a', state: 'passing' }), /Cannot specify service and state/);
});

test('watchLoop: blocks on the last index, hands over only changed content, starts over when the index goes back', async () => {
  const answers: (WatchResult | Error)[] = [
    { index: 5, value: [] },
    { index: 6, value: [] },          // index bump, same content: no handler
    { index: 7, value: ['a'] },
    new Error('connection refused'),
    { index: 2, value: ['a'] },       // restarted agent, same content
    { index: 3, value: ['a', 'b'] },
    { index: 1, value: ['a', 'b'] },  // the index went back: ask from 0 again
  ];
  const asked: number[] = [];
  const changes: string[] = [];
  const errors: string[] = [];
  const stop = new AbortController();
  await watchLoop({
    query: async (index) => {
      asked.push(index);
      const answer = answers.shift();
      if (answer === undefined) {
        stop.abort();
        return { index, value: null };
      }
      if (answer instanceof Error) throw answer;
      return answer;
    },
    onChange: async (result, json) => { changes.push(`${result.index}:${JSON.stringify(JSON.parse(json))}`); },
    onError: (error) => errors.push((error as Error).message),
    signal: stop.signal,
    retryMs: 1,
  });
  assert.equal(asked, [0, 5, 6, 7, 0, 2, 3, 0]);
  assert.equal(changes, ['5:[]', '7:["a"]', '3:["a","b"]']);
  assert.equal(errors, ['connection refused']);
});

test('runHandler: JSON on stdin, the index in CONSUL_INDEX and TRIBUNE_INDEX, output passed through, exit code', async () => {
  const out: string[] = [];
  const io: CliIo = { out: (text) => out.push(text), err: (text) => out.push(`err:${text}`), env: { PATH: process.env.PATH }, readStdin: async () => Buffer.alloc(0) };
  const code = await runHandler('read line; echo "$CONSUL_INDEX $TRIBUNE_INDEX $line"; exit 3', '[{"ID":"x"}]', 42, io);
  assert.is(code, 3);
  assert.equal(out, ['42 42 [{"ID":"x"}]']);
  // A handler that ignores its input is fine.
  assert.is(await runHandler('true', 'x'.repeat(1 << 20), 1, io), 0);
});

test('runWatch -http-handler: each changed result is POSTed with X-Consul-Index', async () => {
  // A fake agent: index 5 with [], then index 6 with one event, then blocks forever.
  const answers = [{ index: 5, body: '[]' }, { index: 6, body: '[{"ID":"e1"}]' }];
  const agent = createServer((request, response) => {
    const answer = answers.shift();
    if (answer === undefined) return; // block
    response.setHeader('x-consul-index', String(answer.index));
    response.end(answer.body);
  });
  const posts: [string, string][] = [];
  const stop = new AbortController();
  const hook = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    request.on('end', () => {
      posts.push([String(request.headers['x-consul-index']), JSON.stringify(JSON.parse(body))]);
      response.end();
      if (posts.length === 2) stop.abort();
    });
  });
  await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  try {
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const flags = parseFlags(['-type', 'event', '-name', 'deploy', '-http-handler', hookUrl], WATCH_FLAGS);
    assert.equal(flags.errors, []);
    const io: CliIo = { out: () => {}, err: (text) => { throw new Error(text); }, env: {}, readStdin: async () => Buffer.alloc(0) };
    const client = new AgentHttpClient(new URL(`http://127.0.0.1:${(agent.address() as AddressInfo).port}`));
    assert.is(await runWatch({ flags, args: flags.positionals, io, client }, stop.signal), 0);
    assert.equal(posts, [['5', '[]'], ['6', '[{"ID":"e1"}]']]);
  } finally {
    agent.closeAllConnections();
    agent.close();
    hook.close();
  }
});

test.run();

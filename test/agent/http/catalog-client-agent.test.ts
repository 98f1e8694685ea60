// An agent without a replica of the state (a client: the cluster keeps one
// Raft voter) serves the catalog and health endpoints by forwarding them to
// the leader, and its anti-entropy reads its node's catalog entries through
// the same forwarded requests: its config-file and API services reach the
// catalog, entries it does not know are removed, blocking queries work.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultAgentConfig } from '../../../agent/config/agent-config.ts';
import type { AgentConfig } from '../../../agent/config/agent-config.ts';
import { startAgent } from '../../../agent/runtime/agent.ts';
import type { Agent } from '../../../agent/runtime/agent.ts';
import { call, eventually, freePort } from './catalog-agent.ts';

const test = suite('a client agent');
const root = mkdtempSync(join(tmpdir(), 'tribune-client-agent-'));
let server: Agent;
let client: Agent;
let base = '';

async function config(name: string, ip: string, extra: Partial<AgentConfig>): Promise<AgentConfig> {
  return {
    ...defaultAgentConfig(name), dataDir: join(root, name), bindAddr: ip, clientAddr: ip, meshPort: await freePort(ip),
    httpPort: await freePort(ip), dnsPort: -1, logLevel: (process.env.TRIBUNE_TEST_LOG_LEVEL as AgentConfig['logLevel'] | undefined) ?? 'error', raftVoters: 1, ...extra,
  };
}

test.before(async () => {
  const serverConfig = await config('server-1', '127.0.0.77', { bootstrapExpect: 1 });
  server = (await startAgent(serverConfig)) as Agent;
  // Let the server found its one-voter group alone: with the client already in sight, the voter is the
  // member with the smallest peer id, which could be the client.
  await eventually(() => server.knownLeader() && server.hasReplica(), 'the server leading its group', 20_000);
  const clientConfig = await config('client-1', '127.0.0.78', {
    join: [`127.0.0.77:${serverConfig.meshPort}`],
    services: [{ name: 'edge', port: 443, check: { ttl: '1h', status: 'passing' } }],
  });
  client = (await startAgent(clientConfig)) as Agent;
  base = `http://127.0.0.78:${clientConfig.httpPort}`;
});

test.after(async () => {
  await client?.stop();
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('the client holds no replica; its config-file service is in the catalog, read through the client', async () => {
  await eventually(async () => ((await call(base, 'GET', '/v1/health/service/edge?passing')).json as unknown[] | undefined)?.length === 1, 'edge passing, through the client', 20_000);
  assert.is(client.hasReplica(), false);
  const nodes = (await call(base, 'GET', '/v1/catalog/nodes')).json as { Node: string }[];
  assert.equal(nodes.map((node) => node.Node), ['client-1', 'server-1']);
  const serf = (await call(base, 'GET', '/v1/health/node/client-1')).json as { CheckID: string; Status: string }[];
  assert.ok(serf.some((check) => check.CheckID === 'serfHealth' && check.Status === 'passing'));
});

test('a service registered on the client reaches the catalog; a blocking query through the client wakes on its check', async () => {
  assert.is((await call(base, 'PUT', '/v1/agent/service/register', { Name: 'late', Check: { TTL: '1h' } })).status, 200);
  await eventually(async () => ((await call(base, 'GET', '/v1/health/service/late')).json as unknown[] | undefined)?.length === 1, 'late in the catalog', 20_000);
  const index = Number((await call(base, 'GET', '/v1/health/service/late')).headers.get('x-consul-index'));
  const pending = call(base, 'GET', `/v1/health/service/late?passing&index=${index}&wait=10s`);
  await call(base, 'PUT', '/v1/agent/check/pass/service:late');
  const answer = await pending;
  assert.ok(Number(answer.headers.get('x-consul-index')) > index);
  await eventually(async () => ((await call(base, 'GET', '/v1/health/service/late?passing')).json as unknown[]).length === 1, 'late passing');
});

test('the client\'s anti-entropy, reading through the leader, removes what others registered on its node', async () => {
  const put = await call(base, 'PUT', '/v1/catalog/register', { Node: 'client-1', Address: '127.0.0.78', Service: { Service: 'intruder' } });
  assert.is(put.status, 200, put.text);
  assert.ok(((await call(base, 'GET', '/v1/catalog/services')).json as Record<string, unknown>).intruder);
  client.local!.antiEntropy.requestFull();
  await eventually(async () => !((await call(base, 'GET', '/v1/catalog/services')).json as Record<string, unknown>).intruder, 'the intruder removed', 20_000);
  assert.ok(((await call(base, 'GET', '/v1/catalog/services')).json as Record<string, unknown>).edge, 'its own services stay');
});

test.run();

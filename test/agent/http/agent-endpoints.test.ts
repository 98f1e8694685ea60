// The agent endpoints of issue 3 over a fake AgentApi: status, headers and
// JSON shape of each, then the same calls through two real clients: the
// project's CLI client and the third-party `consul` npm package.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventEmitter } from 'node:events';
import Consul from 'consul';
import { AgentHttpClient } from '../../../agent/cli/http-client.ts';
import { startHttpServer } from '../../../agent/http/server.ts';
import type { HttpServer } from '../../../agent/http/server.ts';
import { fakeAgentApi, MEMBERS, RAFT_CONFIGURATION, SELF, send } from './helpers.ts';
import type { FakeAgentApi } from './helpers.ts';

const CONSUL_MEMBER_KEYS = ['Addr', 'DelegateCur', 'DelegateMax', 'DelegateMin', 'Name', 'Port', 'ProtocolCur', 'ProtocolMax', 'ProtocolMin', 'Status', 'Tags'];

async function withServer(run: (server: HttpServer, api: FakeAgentApi) => Promise<void>): Promise<void> {
  const api = fakeAgentApi();
  const server = await startHttpServer({ api, host: '127.0.0.1', port: 0 });
  try {
    await run(server, api);
  } finally {
    await server.close();
  }
}

/** Consul's plain JSON answer: 200, application/json, and no query meta (these are not blocking endpoints). */
function assertPlainJson(answer: { status: number; headers: Record<string, unknown>; body: string }): unknown {
  assert.is(answer.status, 200);
  assert.is(answer.headers['content-type'], 'application/json');
  assert.is(answer.headers['x-consul-index'], undefined, 'not a blocking endpoint: no X-Consul-Index');
  assert.is(Number(answer.headers['content-length']), Buffer.byteLength(answer.body));
  return JSON.parse(answer.body);
}

// --- over raw HTTP --------------------------------------------------------------------

test('GET /v1/agent/members: Consul\'s member objects with serf status codes; ?wan and ?segment accepted', async () => {
  await withServer(async (server) => {
    const members = assertPlainJson(await send(server.port, 'GET', '/v1/agent/members')) as Record<string, unknown>[];
    assert.equal(members, MEMBERS);
    for (const member of members) assert.equal(Object.keys(member).sort(), CONSUL_MEMBER_KEYS);
    assert.equal(members.map((m) => m.Status), [1, 1, 4]);
    assert.equal(assertPlainJson(await send(server.port, 'GET', '/v1/agent/members?wan=1')), MEMBERS);
    assert.equal(assertPlainJson(await send(server.port, 'GET', '/v1/agent/members?segment=alpha')), MEMBERS);
  });
});

test('GET /v1/agent/self: Config, Member and Stats', async () => {
  await withServer(async (server) => {
    const self = assertPlainJson(await send(server.port, 'GET', '/v1/agent/self')) as typeof SELF;
    assert.equal(self, SELF);
    assert.is(self.Config.NodeName, 'node-a');
    assert.is(self.Member.Name, 'node-a');
  });
});

test('GET /v1/status/leader: a JSON string, or "" when there is no leader', async () => {
  await withServer(async (server, api) => {
    const answer = await send(server.port, 'GET', '/v1/status/leader');
    assert.is(answer.body, '"127.0.0.11:8301"');
    assertPlainJson(answer);
    api.hasLeader = false;
    const none = await send(server.port, 'GET', '/v1/status/leader');
    assert.is(none.body, '""');
  });
});

test('GET /v1/status/peers: a JSON array of host:port strings', async () => {
  await withServer(async (server) => {
    const peers = assertPlainJson(await send(server.port, 'GET', '/v1/status/peers'));
    assert.equal(peers, ['127.0.0.11:8301', '127.0.0.12:8301', '127.0.0.13:8301']);
  });
});

test('PUT /v1/agent/join/:address: 200 with an empty body; multiaddrs encoded or not; ?wan accepted', async () => {
  await withServer(async (server, api) => {
    const answer = await send(server.port, 'PUT', '/v1/agent/join/127.0.0.12');
    assert.is(answer.status, 200);
    assert.is(answer.body, '');
    assert.is(answer.headers['content-type'], undefined);
    assert.is(answer.headers['content-length'], '0');
    assert.is((await send(server.port, 'PUT', '/v1/agent/join/127.0.0.12:8302?wan=1')).status, 200);
    assert.is((await send(server.port, 'PUT', '/v1/agent/join/%2Fip4%2F127.0.0.13%2Ftcp%2F8301')).status, 200);
    assert.is((await send(server.port, 'PUT', '/v1/agent/join//ip4/127.0.0.14/tcp/8301')).status, 200);
    assert.equal(api.calls, ['join 127.0.0.12', 'join 127.0.0.12:8302', 'join /ip4/127.0.0.13/tcp/8301', 'join /ip4/127.0.0.14/tcp/8301']);
  });
});

test('PUT /v1/agent/join: a failed join is 500 with the reason; a missing address is 400', async () => {
  await withServer(async (server) => {
    const failed = await send(server.port, 'PUT', '/v1/agent/join/unreachable-host');
    assert.is(failed.status, 500);
    assert.is(failed.body, 'dial unreachable-host: connection refused');
    const missing = await send(server.port, 'PUT', '/v1/agent/join/');
    assert.is(missing.status, 400);
    assert.is(missing.body, 'Missing address to join');
  });
});

test('PUT /v1/agent/leave: 200 with an empty body after the agent left', async () => {
  await withServer(async (server, api) => {
    const answer = await send(server.port, 'PUT', '/v1/agent/leave');
    assert.is(answer.status, 200);
    assert.is(answer.body, '');
    assert.equal(api.calls, ['leave']);
  });
});

test('PUT /v1/agent/force-leave/:node: ?prune passed on; unknown node is the API\'s 404; missing name 400', async () => {
  await withServer(async (server, api) => {
    assert.is((await send(server.port, 'PUT', '/v1/agent/force-leave/node-c')).status, 200);
    assert.is((await send(server.port, 'PUT', '/v1/agent/force-leave/node-c?prune')).status, 200);
    assert.is((await send(server.port, 'PUT', '/v1/agent/force-leave/node-c?prune=1&wan=1')).status, 200);
    const unknown = await send(server.port, 'PUT', '/v1/agent/force-leave/ghost');
    assert.is(unknown.status, 404);
    assert.is(unknown.body, 'No node found with name "ghost"');
    const missing = await send(server.port, 'PUT', '/v1/agent/force-leave/');
    assert.is(missing.status, 400);
    assert.is(missing.body, 'Missing node name');
    assert.equal(api.calls, ['force-leave node-c prune=false', 'force-leave node-c prune=true', 'force-leave node-c prune=true', 'force-leave ghost prune=false']);
  });
});

test('GET /v1/operator/raft/configuration: Servers and Index; no leader is 500 unless ?stale', async () => {
  await withServer(async (server, api) => {
    const configuration = assertPlainJson(await send(server.port, 'GET', '/v1/operator/raft/configuration')) as typeof RAFT_CONFIGURATION;
    assert.equal(configuration, RAFT_CONFIGURATION);
    assert.equal(Object.keys(configuration.Servers[0]!).sort(), ['Address', 'ID', 'Leader', 'Node', 'ProtocolVersion', 'Voter']);
    api.hasLeader = false;
    const noLeader = await send(server.port, 'GET', '/v1/operator/raft/configuration');
    assert.is(noLeader.status, 500);
    assert.is(noLeader.body, 'No cluster leader');
    assert.equal(assertPlainJson(await send(server.port, 'GET', '/v1/operator/raft/configuration?stale')), RAFT_CONFIGURATION);
    const conflict = await send(server.port, 'GET', '/v1/operator/raft/configuration?stale&consistent');
    assert.is(conflict.status, 400);
  });
});

test('GET on the PUT endpoints and PUT on the GET endpoints are 405', async () => {
  await withServer(async (server) => {
    for (const path of ['/v1/agent/join/x', '/v1/agent/leave', '/v1/agent/force-leave/x']) {
      assert.is((await send(server.port, 'GET', path)).status, 405, `GET ${path}`);
    }
    for (const path of ['/v1/agent/members', '/v1/agent/self', '/v1/status/leader', '/v1/status/peers', '/v1/operator/raft/configuration']) {
      assert.is((await send(server.port, 'PUT', path)).status, 405, `PUT ${path}`);
      assert.is((await send(server.port, 'DELETE', path)).status, 405, `DELETE ${path}`);
    }
  });
});

// --- through the project's CLI client ------------------------------------------------

test('the tribune CLI\'s HTTP client reads and writes these endpoints', async () => {
  await withServer(async (server, api) => {
    const client = new AgentHttpClient(new URL(`http://127.0.0.1:${server.port}`));
    assert.equal(await client.getJson('/v1/agent/members'), MEMBERS);
    assert.equal(await client.getJson('/v1/operator/raft/configuration', { stale: true }), RAFT_CONFIGURATION);
    await client.request('PUT', `/v1/agent/join/${encodeURIComponent('/ip4/127.0.0.13/tcp/8301')}`);
    await client.request('PUT', '/v1/agent/force-leave/node-c', { query: { prune: true } });
    try {
      await client.request('PUT', '/v1/agent/join/unreachable-host');
      assert.unreachable('join should fail');
    } catch (error) {
      assert.is((error as Error).message, 'Unexpected response code: 500 (dial unreachable-host: connection refused)');
    }
    assert.equal(api.calls, ['join /ip4/127.0.0.13/tcp/8301', 'force-leave node-c prune=true', 'join unreachable-host']);
  });
});

// --- through the third-party `consul` npm client (v2) -----------------------------------

test('the consul npm client: agent.members, agent.self, status.leader, status.peers', async () => {
  await withServer(async (server) => {
    const consul = new Consul({ host: '127.0.0.1', port: server.port });
    try {
      assert.equal(await consul.agent.members(), MEMBERS);
      assert.equal(await consul.agent.members({ wan: true }), MEMBERS);
      assert.equal(await consul.agent.self(), SELF);
      assert.is(await consul.status.leader(), '127.0.0.11:8301');
      assert.equal(await consul.status.peers(), ['127.0.0.11:8301', '127.0.0.12:8301', '127.0.0.13:8301']);
      assert.equal(await consul.agent.members({ token: 'ignored', segment: 'alpha' }), MEMBERS);
    } finally {
      consul.destroy();
    }
  });
});

test('the consul npm client: join, forceLeave, and errors carrying our status and plain-text message', async () => {
  await withServer(async (server, api) => {
    const consul = new Consul({ host: '127.0.0.1', port: server.port });
    try {
      assert.is(await consul.agent.join('127.0.0.12'), undefined);
      await consul.agent.join({ address: '/ip4/127.0.0.13/tcp/8301' });
      await consul.agent.forceLeave('node-c');
      assert.equal(api.calls, ['join 127.0.0.12', 'join /ip4/127.0.0.13/tcp/8301', 'force-leave node-c prune=false']);
      for (const [call, status, message] of [
        [() => consul.agent.forceLeave('ghost'), 404, 'No node found with name "ghost"'],
        [() => consul.agent.join('unreachable-host'), 500, 'dial unreachable-host: connection refused'],
      ] as const) {
        try {
          await call();
          assert.unreachable('should have failed');
        } catch (error) {
          assert.is((error as Error & { statusCode: number }).statusCode, status);
          assert.is((error as Error).message, message);
        }
      }
      // With no leader the answer is `""`, as Consul's; the client turns an
      // empty decoded body into undefined (a client quirk, the same against Consul).
      api.hasLeader = false;
      assert.is(await consul.status.leader(), undefined);
    } finally {
      consul.destroy();
    }
  });
});

test('the consul npm client sees Consul\'s headers, and its watch refuses endpoints without X-Consul-Index', async () => {
  await withServer(async (server) => {
    const consul = new Consul({ host: '127.0.0.1', port: server.port });
    try {
      const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
      const [response, members] = await consul.agent.members({ ctx } as never) as unknown as [{ headers: Record<string, string> }, unknown];
      assert.equal(members, MEMBERS);
      assert.is(response.headers['content-type'], 'application/json');
      const error = await new Promise<Error>((resolve) => {
        const watch = consul.watch({ method: consul.agent.members, options: { wait: '1s' } });
        watch.on('error', (watchError: Error) => {
          watch.end();
          resolve(watchError);
        });
      });
      assert.is(error.message, 'Watch not supported');
    } finally {
      consul.destroy();
    }
  });
});

test.run();

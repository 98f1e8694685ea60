// The `tribune` CLI as a user runs it: bin/tribune.js as a child process,
// against a small fake agent HTTP API that answers in Consul's JSON shapes.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const BIN = new URL('../../../bin/tribune.js', import.meta.url).pathname;

type CliResult = { code: number | null; stdout: string; stderr: string };

/** Runs `tribune ARGS` under this Node, with a clean environment for the HTTP address. */
function tribune(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!('CONSUL_HTTP_ADDR' in env)) delete childEnv.CONSUL_HTTP_ADDR;
  delete childEnv.CONSUL_HTTP_SSL;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

type Recorded = { method: string; url: string };

/** A fake agent: answers GETs from `routes` (path with query -> JSON), 200 "true" to PUT and DELETE. */
async function fakeAgent(routes: Record<string, unknown>): Promise<{ address: string; requests: Recorded[]; server: Server }> {
  const requests: Recorded[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    requests.push({ method: req.method!, url: req.url! });
    if (req.method === 'PUT' || req.method === 'DELETE') {
      if (req.url!.startsWith('/v1/agent/join/bad')) { res.writeHead(500); res.end('dial failed'); return; }
      res.end('true');
      return;
    }
    const body = routes[req.url!] ?? routes[req.url!.split('?')[0]!];
    if (body === undefined) { res.writeHead(404); res.end('not found'); return; }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const MEMBERS = [
  { Name: 'node-b', Addr: '127.0.0.12', Port: 8301, Tags: { role: 'voter', dc: 'dc1', build: '0.1.0:abc', vsn: '1' }, Status: 4 },
  { Name: 'node-a', Addr: '127.0.0.11', Port: 8301, Tags: { role: 'voter', dc: 'dc1', build: '0.1.0:abc', vsn: '1' }, Status: 1 },
  { Name: 'node-c', Addr: '::1', Port: 8301, Tags: { dc: 'dc1' }, Status: 3 },
];

// --- help and dispatch ----------------------------------------------------------------

test('tribune help lists the commands like consul, exit 0', async () => {
  const result = await tribune(['help']);
  assert.is(result.code, 0, result.stderr);
  assert.ok(result.stdout.startsWith('Usage: tribune [--version] [--help] <command> [<args>]\n\nAvailable commands are:\n'), result.stdout);
  for (const name of ['agent', 'members', 'join', 'leave', 'force-leave', 'info', 'operator', 'keygen', 'kv', 'version']) {
    assert.match(result.stdout, new RegExp(`^    ${name} +\\S`, 'm'), name);
  }
  assert.is((await tribune(['--help'])).stdout, result.stdout);
});

test('an unknown command suggests the closest one and exits 127, as consul does', async () => {
  const result = await tribune(['membrs']);
  assert.is(result.code, 127);
  assert.ok(result.stderr.startsWith('Unknown command "membrs". Did you mean "members"?'), result.stderr);
  assert.ok(result.stderr.includes('Available commands are:'), result.stderr);
});

test('COMMAND -h prints its usage with the HTTP and command options, exit 0', async () => {
  const result = await tribune(['members', '-h']);
  assert.is(result.code, 0, result.stderr);
  assert.ok(result.stdout.startsWith('Usage: tribune members [options]\n'), result.stdout);
  assert.ok(result.stdout.includes('HTTP API Options\n\n  -http-addr=<address>\n'), result.stdout);
  assert.ok(result.stdout.includes('Command Options\n\n  -detailed\n'), result.stdout);
  const nested = await tribune(['operator', 'raft', 'list-peers', '--help']);
  assert.is(nested.code, 0);
  assert.ok(nested.stdout.startsWith('Usage: tribune operator raft list-peers [options]'), nested.stdout);
  const agent = await tribune(['agent', '-h']);
  assert.is(agent.code, 0);
  assert.ok(agent.stdout.includes('  -retry-join=<address>\n'), agent.stdout);
  assert.ok(agent.stdout.includes('  -dev\n'), agent.stdout);
});

test('a command group without a subcommand shows its subcommands and exits 1', async () => {
  const result = await tribune(['operator', 'raft']);
  assert.is(result.code, 1);
  assert.ok(result.stderr.includes('Subcommands:\n    list-peers    Display the current Raft peer configuration'), result.stderr);
  const typo = await tribune(['operator', 'raft', 'list-peer']);
  assert.is(typo.code, 1);
  assert.ok(typo.stderr.startsWith('Unknown subcommand "list-peer" for "tribune operator raft". Did you mean "list-peers"?'), typo.stderr);
});

test('an unknown flag of a command is named with a suggestion, exit 1', async () => {
  const result = await tribune(['members', '-detialed']);
  assert.is(result.code, 1);
  assert.ok(result.stderr.includes('unknown flag -detialed (did you mean -detailed?)'), result.stderr);
});

test('version prints the package version', async () => {
  const result = await tribune(['version']);
  assert.is(result.code, 0);
  assert.match(result.stdout, /^Tribune v\d+\.\d+\.\d+\n/);
});

// --- keygen -----------------------------------------------------------------------------

test('keygen prints a 44-character base64 key of 32 random bytes', async () => {
  const [first, second] = await Promise.all([tribune(['keygen']), tribune(['keygen'])]);
  for (const result of [first, second]) {
    assert.is(result.code, 0, result.stderr);
    const key = result.stdout.trim();
    assert.is(key.length, 44);
    assert.match(key, /^[A-Za-z0-9+/]{43}=$/);
    assert.is(Buffer.from(key, 'base64').length, 32);
  }
  assert.is.not(first.stdout, second.stdout);
});

// --- commands against an agent ---------------------------------------------------------------

test('members prints the table of nodes sorted by name, with Consul status names', async () => {
  const agent = await fakeAgent({ '/v1/agent/members': MEMBERS });
  try {
    const result = await tribune(['members', '-http-addr', agent.address]);
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout,
      'Node    Address          Status  Type   Build  Protocol  DC\n' +
      'node-a  127.0.0.11:8301  alive   voter  0.1.0  1         dc1\n' +
      'node-b  127.0.0.12:8301  failed  voter  0.1.0  1         dc1\n' +
      'node-c  [::1]:8301       left    agent                   dc1\n');
    assert.equal(agent.requests, [{ method: 'GET', url: '/v1/agent/members' }]);
  } finally {
    agent.server.close();
  }
});

test('members -detailed shows every tag; -status filters by status', async () => {
  const agent = await fakeAgent({ '/v1/agent/members': MEMBERS });
  try {
    const detailed = await tribune(['members', '-detailed', '-http-addr', agent.address]);
    assert.is(detailed.code, 0, detailed.stderr);
    assert.is(detailed.stdout,
      'Node    Address          Status  Tags\n' +
      'node-a  127.0.0.11:8301  alive   build=0.1.0:abc,dc=dc1,role=voter,vsn=1\n' +
      'node-b  127.0.0.12:8301  failed  build=0.1.0:abc,dc=dc1,role=voter,vsn=1\n' +
      'node-c  [::1]:8301       left    dc=dc1\n');
    const failed = await tribune(['members', '-status=failed', '-http-addr', agent.address]);
    assert.is(failed.stdout.trim().split('\n').length, 2);
    assert.ok(failed.stdout.includes('node-b'));
    const none = await tribune(['members', '-status', 'leaving', '-http-addr', agent.address]);
    assert.is(none.code, 2, 'consul exits 2 when no member matches');
  } finally {
    agent.server.close();
  }
});

test('members with nothing listening says so and exits 1', async () => {
  const port = await closedPort();
  const result = await tribune(['members', '-http-addr', `127.0.0.1:${port}`]);
  assert.is(result.code, 1);
  assert.is(result.stdout, '');
  assert.is(result.stderr, `Error connecting to agent at http://127.0.0.1:${port}: is the agent running?\n`);
});

test('with no address given, the CLI looks for the agent at 127.0.0.1:8500', async () => {
  const result = await tribune(['members']);
  // Whatever is on 8500 on this machine, the message (if any) names the default address.
  if (result.code !== 0) assert.ok(result.stderr.includes('http://127.0.0.1:8500'), result.stderr);
});

test('CONSUL_HTTP_ADDR is honoured as host:port and as http://host:port; -http-addr wins over it', async () => {
  const agent = await fakeAgent({ '/v1/agent/members': MEMBERS });
  const port = await closedPort();
  try {
    const bare = await tribune(['members'], { CONSUL_HTTP_ADDR: agent.address });
    assert.is(bare.code, 0, bare.stderr);
    assert.ok(bare.stdout.includes('node-a'));
    const url = await tribune(['members'], { CONSUL_HTTP_ADDR: `http://${agent.address}` });
    assert.is(url.code, 0, url.stderr);
    const flagWins = await tribune(['members', '-http-addr', agent.address], { CONSUL_HTTP_ADDR: `127.0.0.1:${port}` });
    assert.is(flagWins.code, 0, flagWins.stderr);
    const envUsed = await tribune(['members'], { CONSUL_HTTP_ADDR: `127.0.0.1:${port}` });
    assert.is(envUsed.code, 1);
    assert.ok(envUsed.stderr.includes(`http://127.0.0.1:${port}`), envUsed.stderr);
    const unix = await tribune(['members'], { CONSUL_HTTP_ADDR: 'unix:///tmp/agent.sock' });
    assert.is(unix.code, 1);
    assert.is(unix.stderr, 'invalid CONSUL_HTTP_ADDR "unix:///tmp/agent.sock": unix sockets are not supported; use host:port\n');
  } finally {
    agent.server.close();
  }
});

test('an error answer from the agent is shown with its status and body', async () => {
  const agent = await fakeAgent({});
  try {
    const result = await tribune(['members', '-http-addr', agent.address]);
    assert.is(result.code, 1);
    assert.is(result.stderr, 'Error retrieving members: Unexpected response code: 404 (not found)\n');
  } finally {
    agent.server.close();
  }
});

test('join, leave and force-leave send Consul\'s requests', async () => {
  const agent = await fakeAgent({});
  try {
    const joined = await tribune(['join', '-http-addr', agent.address, '127.0.0.12', '/ip4/127.0.0.13/tcp/8301']);
    assert.is(joined.code, 0, joined.stderr);
    assert.is(joined.stdout, 'Successfully joined cluster by contacting 2 nodes.\n');
    const partly = await tribune(['join', '-http-addr', agent.address, 'bad-host', '127.0.0.12']);
    assert.is(partly.code, 0);
    assert.is(partly.stderr, "Error joining address 'bad-host': Unexpected response code: 500 (dial failed)\n");
    const none = await tribune(['join', '-http-addr', agent.address]);
    assert.is(none.code, 1);
    assert.ok(none.stderr.startsWith('At least one address to join must be specified.'), none.stderr);
    const left = await tribune(['leave', '-http-addr', agent.address]);
    assert.is(left.stdout, 'Graceful leave complete\n');
    const forced = await tribune(['force-leave', '-http-addr', agent.address, '-prune', 'node-b']);
    assert.is(forced.code, 0, forced.stderr);
    const noName = await tribune(['force-leave', '-http-addr', agent.address]);
    assert.is(noName.code, 1);
    assert.ok(noName.stderr.startsWith('A node name must be specified to force leave.'), noName.stderr);
    assert.equal(agent.requests, [
      { method: 'PUT', url: '/v1/agent/join/127.0.0.12' },
      { method: 'PUT', url: '/v1/agent/join/%2Fip4%2F127.0.0.13%2Ftcp%2F8301' },
      { method: 'PUT', url: '/v1/agent/join/bad-host' },
      { method: 'PUT', url: '/v1/agent/join/127.0.0.12' },
      { method: 'PUT', url: '/v1/agent/leave' },
      { method: 'PUT', url: '/v1/agent/force-leave/node-b?prune' },
    ]);
  } finally {
    agent.server.close();
  }
});

test('info prints /v1/agent/self\'s stats in sorted sections of key = value', async () => {
  const agent = await fakeAgent({
    '/v1/agent/self': { Config: {}, Stats: { raft: { state: 'Leader', commit_index: '12' }, agent: { dropped_messages: '0' } } },
  });
  try {
    const result = await tribune(['info', '-http-addr', agent.address]);
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout, 'agent:\n\tdropped_messages = 0\nraft:\n\tcommit_index = 12\n\tstate = Leader\n');
  } finally {
    agent.server.close();
  }
});

test('operator raft list-peers prints node, id, address, state and voter', async () => {
  const agent = await fakeAgent({
    '/v1/operator/raft/configuration': {
      Index: 9,
      Servers: [
        { ID: '12D3KooWA', Node: 'node-a', Address: '127.0.0.11:8301', Leader: true, Voter: true },
        { ID: '12D3KooWB', Node: 'node-b', Address: '127.0.0.12:8301', Leader: false, Voter: true },
        { ID: '12D3KooWC', Node: 'node-c', Address: '127.0.0.13:8301', Leader: false, Voter: false },
      ],
    },
  });
  try {
    const result = await tribune(['operator', 'raft', 'list-peers', '-http-addr', agent.address]);
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout,
      'Node    ID         Address          State     Voter\n' +
      'node-a  12D3KooWA  127.0.0.11:8301  leader    true\n' +
      'node-b  12D3KooWB  127.0.0.12:8301  follower  true\n' +
      'node-c  12D3KooWC  127.0.0.13:8301  learner   false\n');
  } finally {
    agent.server.close();
  }
});

test('kv get decodes the value; a missing key is an error', async () => {
  const agent = await fakeAgent({
    '/v1/kv/app/config': [{ Key: 'app/config', Value: Buffer.from('hello').toString('base64'), Flags: 0, CreateIndex: 5, ModifyIndex: 6, LockIndex: 0 }],
  });
  try {
    const found = await tribune(['kv', 'get', '-http-addr', agent.address, 'app/config']);
    assert.is(found.stdout, 'hello\n');
    const missing = await tribune(['kv', 'get', '-http-addr', agent.address, 'app/nothing']);
    assert.is(missing.code, 1);
    assert.is(missing.stderr, 'Error! No key exists at: app/nothing\n');
    const put = await tribune(['kv', 'put', '-http-addr', agent.address, 'app/config', 'world']);
    assert.is(put.stdout, 'Success! Data written to: app/config\n');
  } finally {
    agent.server.close();
  }
});

// --- the agent command ------------------------------------------------------------------------------

test('agent with a bad configuration lists every problem and exits 1 before starting anything', async () => {
  const result = await tribune(['agent', '-bootstrap-expect', 'x', '-retryjoin', '10.0.0.1', '-encrypt', 'short']);
  assert.is(result.code, 1);
  assert.is(result.stderr,
    '==> Invalid agent configuration:\n' +
    '    unknown flag -retryjoin (did you mean -retry-join?)\n' +
    '    -bootstrap-expect must be a positive integer, got "x"\n' +
    '    -data-dir is required (or use -dev for a throwaway in-memory agent)\n' +
    '    -encrypt must be a base64-encoded 32-byte key (make one with `tribune keygen`), but it is not valid base64\n');
  assert.is(result.stdout, '');
});

test.run();

// Snapshots (issue 4): the file format refuses anything damaged; a restore
// replaces the state at one index with every index moving forward; the HTTP
// endpoints round-trip on a real dev agent, refuse corrupt and truncated files
// with 400 and change nothing; agents without a replica, or that are not the
// leader, move snapshots in chunks that fit the agent RPC.

import { createHash } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { devAgentConfig } from '../../../agent/config/agent-config.ts';
import type { RunningAgent } from '../../../agent/config/agent-config.ts';
import { forwardedRequest, replyFromForwarded, serveForwarded } from '../../../agent/http/forwarding.ts';
import { Router } from '../../../agent/http/router.ts';
import { startHttpServer } from '../../../agent/http/server.ts';
import type { HttpServer } from '../../../agent/http/server.ts';
import {
  decodeSnapshotFile, encodeSnapshotFile, inspectSnapshotFile, registerSnapshotEndpoints, SNAPSHOT_HEADER_BYTES, SnapshotFileError,
  verifySnapshotForRestore,
} from '../../../agent/http/snapshot-endpoints.ts';
import type { StateApi } from '../../../agent/http/state-api.ts';
import { startAgent } from '../../../agent/runtime/agent.ts';
import { decodeSnapshot, encodeSnapshot } from '../../../agent/state/snapshot.ts';
import { StateMachine } from '../../../agent/state/state-machine.ts';
import { Scope } from '../../../agent/state/watch-index.ts';
import { EntryType } from '../../../protocol/raft.ts';
import { encodeStateCommand, isRejection, STATE_RESTORE_COMMAND_BYTES_MAX } from '../../../protocol/state-commands.ts';
import { encodeMessage } from '../../../protocol/raft-codec.ts';
import { message, MessageType } from '../../../protocol/raft.ts';
import { RPC_MAX_BYTES } from '../../../protocol/rpc.ts';
import { fakeAgentApi } from './helpers.ts';
import { bytes, Harness, service, text, uuid } from '../state/harness.ts';

// ---------------------------------------------------------------- the file

/** A state with KV, a lock held by a session, catalog entries and a tombstone. */
function populated(): Harness {
  const h = new Harness();
  h.registerNode('n1', [{ checkId: 'serfHealth', status: 'passing' }], service('web'));
  h.createSession(uuid(1), 'n1');
  for (let i = 0; i < 20; i++) h.set(`app/key-${i}`, `value-${i}`);
  h.lock('app/leader', uuid(1), 'me');
  h.apply({ type: 'kvDelete', key: 'app/key-3' });
  return h;
}

function fileOf(h: Harness, term = 2): Buffer {
  return encodeSnapshotFile({ index: h.state.index, term, createdAtMs: 1_764_000_000_000, body: h.state.snapshot() });
}

test('a snapshot file carries its index, term, time and checksum, and decodes back to the state', () => {
  const h = populated();
  const file = fileOf(h, 7);
  const { header, body } = decodeSnapshotFile(file);
  assert.is(header.index, h.state.index);
  assert.is(header.term, 7);
  assert.is(header.createdAtMs, 1_764_000_000_000);
  assert.is(header.bodyBytes, file.length - SNAPSHOT_HEADER_BYTES);
  assert.match(header.sha256, /^[0-9a-f]{64}$/);
  assert.equal(Buffer.from(body), Buffer.from(h.state.snapshot()));
  const summary = inspectSnapshotFile(file);
  assert.equal(summary.counts, { kvEntries: 20, kvBytes: summary.counts.kvBytes, tombstones: 1, sessions: 1, lockDelays: 0, nodes: 1, services: 1, checks: 1 });
  assert.ok(summary.counts.kvBytes > 20 * 10);
});

test('every flipped byte, every truncation and any trailing byte is refused with a message', () => {
  const file = fileOf(populated());
  for (let position = 0; position < file.length; position++) {
    const damaged = Buffer.from(file);
    damaged[position] ^= 0x10;
    assert.throws(() => verifySnapshotForRestore(damaged), (error: unknown) => error instanceof SnapshotFileError, `flip at ${position}`);
  }
  for (let length = 0; length < file.length; length++) {
    assert.throws(() => verifySnapshotForRestore(file.subarray(0, length)), (error: unknown) => error instanceof SnapshotFileError, `truncated to ${length}`);
  }
  assert.throws(() => verifySnapshotForRestore(Buffer.concat([file, Buffer.from([0])])), /unexpected bytes after the end/);
  assert.throws(() => verifySnapshotForRestore(Buffer.from('{"not":"a snapshot"}')), /does not start with "TRIBSNAP"/);
  assert.throws(() => verifySnapshotForRestore(file.subarray(0, 200)), /truncated: the header announces \d+ bytes of state, the file holds 120/);
});

test('an intact file that no agent could have written is refused: keys out of order, a header index the state does not hold', () => {
  const h = populated();
  const { body } = decodeSnapshotFile(fileOf(h));
  const parts = decodeSnapshot(body);
  const shuffled = encodeSnapshot({ ...parts, kvEntries: [...parts.kvEntries].reverse() });
  const outOfOrder = encodeSnapshotFile({ index: h.state.index, term: 2, createdAtMs: 1, body: shuffled });
  assert.ok(inspectSnapshotFile(outOfOrder), 'it decodes');
  assert.throws(() => verifySnapshotForRestore(outOfOrder), /not in canonical form/);
  const mislabelled = encodeSnapshotFile({ index: h.state.index + 5, term: 2, createdAtMs: 1, body });
  assert.throws(() => verifySnapshotForRestore(mislabelled), /index \d+, the state says \d+/);
});

// ---------------------------------------------------------------- the restore command

test('a restore replaces the whole state at its index: every index becomes that index, waiters wake, later writes go on from there', () => {
  const source = populated();
  const body = source.state.snapshot();
  const target = new Harness();
  for (let i = 0; i < 40; i++) target.set(`other/${i}`, 'x'); // a longer history than the source's... or not: indexes are rebased either way
  target.registerNode('n9');
  const woken: string[] = [];
  target.state.watches.wait(Scope.kvKey('other/1'), (index) => woken.push(`other/1@${index}`));
  target.state.watches.wait(Scope.kvKey('app/key-1'), (index) => woken.push(`app/key-1@${index}`));
  target.state.watches.wait(Scope.nodes, (index) => woken.push(`nodes@${index}`));
  const result = target.apply({ type: 'stateRestore', snapshot: body });
  const at = target.index;
  assert.is(result, true);
  assert.equal(woken.sort(), [`app/key-1@${at}`, `nodes@${at}`, `other/1@${at}`]);
  assert.is(target.state.kvGet('other/1').entry, null, 'keys the snapshot does not hold are gone');
  assert.is(target.state.kvGet('other/1').index, at, 'a key gone by the restore reports the restore index');
  const entry = target.state.kvGet('app/key-1');
  assert.is(text(entry.entry?.value), 'value-1');
  assert.is(entry.index, at);
  assert.is(entry.entry?.createIndex, at);
  assert.is(entry.entry?.modifyIndex, at);
  const lock = target.state.kvGet('app/leader').entry!;
  assert.is(lock.session, uuid(1), 'lock holders survive');
  assert.is(lock.lockIndex, 1, 'LockIndex is a counter, not a Raft index: kept');
  for (const scope of [Scope.kvPrefix(''), Scope.kvKey('app/key-3'), Scope.nodes, Scope.services, Scope.service('web'), Scope.service('gone'), Scope.node('n9'), Scope.sessions, Scope.session(uuid(1))]) {
    assert.is(target.state.indexFor(scope), at, scope);
  }
  assert.equal(target.state.catalogNodes().nodes.map((node) => node.Node), ['n1']);
  assert.is(target.state.sessionInfo(uuid(1)).sessions[0]?.CreateIndex, at);
  // A CAS with an index from before the restore cannot succeed.
  assert.is(target.apply({ type: 'kvCas', key: 'app/key-1', value: bytes('late'), flags: 0, casIndex: source.state.kvGet('app/key-1').entry!.modifyIndex }), false);
  target.set('app/key-1', 'after');
  assert.is(target.state.kvGet('app/key-1').index, at + 2);
  assert.is(target.state.kvGet('app/key-2').index, at, 'untouched keys keep the restore index');
});

test('every replica that applies the same restore ends byte for byte the same', () => {
  const body = populated().state.snapshot();
  const left = new Harness();
  const right = new Harness();
  for (let i = 0; i < 5; i++) left.set(`l/${i}`, 'x');
  for (let i = 0; i < 5; i++) right.set(`r/${i}`, 'y'); // diverged local histories of the same length
  left.apply({ type: 'stateRestore', snapshot: body });
  right.apply({ type: 'stateRestore', snapshot: body });
  assert.equal(Buffer.from(left.state.snapshot()), Buffer.from(right.state.snapshot()));
});

test('a restore whose snapshot does not decode is refused and changes nothing but the applied index', () => {
  const h = populated();
  const before = Buffer.from(h.state.snapshot());
  const result = h.apply({ type: 'stateRestore', snapshot: new Uint8Array([1, 2, 3, 4]) });
  assert.ok(isRejection(result));
  assert.match((result as { message: string }).message, /does not decode/);
  const after = new StateMachine();
  after.restore(before, h.index);
  assert.equal(Buffer.from(h.state.snapshot()), Buffer.from(after.snapshot()));
});

test('restore commands may be large (one Raft entry, alone in one Append of the Raft transport); others keep the 1 MiB bound', () => {
  const large = new Uint8Array(3 * 1024 * 1024).fill(7);
  const encoded = encodeStateCommand({ type: 'stateRestore', nowMs: 1, snapshot: large });
  assert.ok(encoded.length > 3 * 1024 * 1024);
  assert.throws(() => encodeStateCommand({ type: 'stateRestore', nowMs: 1, snapshot: new Uint8Array(STATE_RESTORE_COMMAND_BYTES_MAX) }), /exceed the limit/);
  assert.throws(() => encodeStateCommand({ type: 'kvSet', nowMs: 1, key: 'k', value: new Uint8Array(2 * 1024 * 1024), flags: 0 }), /exceed the limit/);
  // The largest restore, in an Append between two peer ids, within the transport's 8 MiB frames (mesh-raft-transport.ts).
  const largest = encodeStateCommand({ type: 'stateRestore', nowMs: Date.now(), snapshot: new Uint8Array(STATE_RESTORE_COMMAND_BYTES_MAX - 16) });
  const peer = `12D3KooW${'x'.repeat(44)}`;
  const append = encodeMessage(message({
    type: MessageType.Append, from: peer, to: peer, term: 2 ** 40, logTerm: 2 ** 40, index: 2 ** 45, commit: 2 ** 45,
    entries: [{ term: 2 ** 40, index: 2 ** 45, type: EntryType.Normal, data: largest }],
  }));
  assert.ok(1 + 255 + append.length <= 8 * 1024 * 1024, `${append.length} bytes`);
});

// ---------------------------------------------------------------- on a dev agent

const HOST = '127.0.0.77';
let base = '';

/** A port nobody listens on at HOST right now (the kernel's pick), so parallel runs of the suite do not collide. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
let agent: RunningAgent | null = null;

async function devAgent(): Promise<RunningAgent> {
  if (agent) return agent;
  const httpPort = await freePort();
  agent = await startAgent({ ...devAgentConfig('snapshot-test'), bindAddr: HOST, meshPort: await freePort(), clientAddr: HOST, httpPort, dnsPort: -1, logLevel: 'error' });
  base = `http://${HOST}:${httpPort}`;
  return agent;
}

test.after(async () => {
  await agent?.stop();
});

async function put(path: string, body: string | Buffer): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'PUT', body: typeof body === 'string' ? body : new Uint8Array(body), signal: AbortSignal.timeout(10_000) });
}

async function allKeys(): Promise<Record<string, string>> {
  const response = await fetch(`${base}/v1/kv/?recurse`);
  if (response.status === 404) return {};
  const entries = await response.json() as { Key: string; Value: string | null }[];
  return Object.fromEntries(entries.map((entry) => [entry.Key, Buffer.from(entry.Value ?? '', 'base64').toString()]));
}

test('GET /v1/snapshot then PUT it back: the state returns to the snapshot, indexes move forward, blocked queries wake', async () => {
  await devAgent();
  for (let i = 0; i < 30; i++) assert.is((await put(`/v1/kv/round/${i}`, `v${i}`)).status, 200);
  const saved = await fetch(`${base}/v1/snapshot`);
  assert.is(saved.status, 200);
  assert.is(saved.headers.get('content-type'), 'application/octet-stream');
  const file = Buffer.from(await saved.arrayBuffer());
  const { header } = decodeSnapshotFile(file);
  assert.is(Number(saved.headers.get('x-consul-index')), header.index);
  assert.ok(header.term >= 1);
  const expected = await allKeys();
  assert.is(Object.keys(expected).length, 30);

  assert.is((await fetch(`${base}/v1/kv/round/0`, { method: 'DELETE' })).status, 200);
  assert.is((await put('/v1/kv/round/late', 'x')).status, 200);
  const watched = await fetch(`${base}/v1/kv/round/5`);
  const watchedIndex = Number(watched.headers.get('x-consul-index'));
  const latest = Number((await fetch(`${base}/v1/kv/round/late`)).headers.get('x-consul-index'));
  const blocked = fetch(`${base}/v1/kv/round/5?index=${watchedIndex}&wait=30s`);

  const restored = await put('/v1/snapshot', file);
  assert.is(restored.status, 200, await restored.clone().text());
  const woke = await blocked;
  const wokeIndex = Number(woke.headers.get('x-consul-index'));
  assert.ok(wokeIndex > latest, `the blocked query woke with ${wokeIndex}, after ${latest}`);
  assert.equal(await allKeys(), expected);
  const gone = await fetch(`${base}/v1/kv/round/late`);
  assert.is(gone.status, 404);
  assert.is(Number(gone.headers.get('x-consul-index')), wokeIndex, 'a key removed by the restore reports the restore index');

  // The stale mode works without a barrier and gives an equivalent file.
  const stale = await fetch(`${base}/v1/snapshot?stale`);
  assert.is(stale.status, 200);
  assert.is(inspectSnapshotFile(Buffer.from(await stale.arrayBuffer())).counts.kvEntries, 30);
});

test('corrupt, truncated, foreign and empty files are 400 with a message, and nothing stored changes', async () => {
  await devAgent();
  assert.is((await put('/v1/kv/guard', 'before')).status, 200);
  const file = Buffer.from(await (await fetch(`${base}/v1/snapshot`)).arrayBuffer());
  assert.is((await put('/v1/kv/guard', 'after')).status, 200);
  const keysBefore = await allKeys();
  const indexBefore = Number((await fetch(`${base}/v1/kv/?recurse`)).headers.get('x-consul-index'));
  const flipped = Buffer.from(file);
  flipped[file.length - 3] ^= 0x01;
  const cases: [string, Buffer, RegExp][] = [
    ['a flipped byte', flipped, /checksum mismatch/],
    ['a truncated file', file.subarray(0, file.length - 10), /truncated/],
    ['a header only', file.subarray(0, SNAPSHOT_HEADER_BYTES), /truncated/],
    ['a foreign file', Buffer.from('PK\u0003\u0004 a zip file, not a snapshot'), /not a Tribune snapshot/],
    ['an empty body', Buffer.alloc(0), /empty/],
  ];
  for (const [what, body, message] of cases) {
    const response = await put('/v1/snapshot', body);
    assert.is(response.status, 400, what);
    assert.match(await response.text(), message, what);
  }
  assert.equal(await allKeys(), keysBefore);
  assert.is(Number((await fetch(`${base}/v1/kv/?recurse`)).headers.get('x-consul-index')), indexBefore, 'no entry was written');
  const unknown = await put('/v1/snapshot?upload=zz&offset=0&size=10', 'x');
  assert.is(unknown.status, 400);
});

// ---------------------------------------------------------------- between agents, in chunks

type Replica = { state: StateMachine; api: StateApi; applied: string[] };

/** A replica whose writes apply at once through the real codec (a leader of a cluster of one). */
function replica(): Replica {
  const state = new StateMachine();
  const applied: string[] = [];
  const meta = () => ({ index: Math.max(1, state.index), knownLeader: true, lastContactMs: 0 });
  const api: StateApi = {
    state,
    readBarrier: async () => meta(),
    apply: async (command) => {
      applied.push(command.type);
      return state.apply({ term: 1, index: state.index + 1, type: EntryType.Normal, data: encodeStateCommand(command) });
    },
    queryMeta: meta,
  };
  return { state, api, applied };
}

/** A leader (a router, reached through the real forwarding encoding) and an agent in front of it with its own HTTP server. */
async function pair(options: { agentHasReplica: boolean; chunkBytes: number }): Promise<{ leader: Replica; local: Replica; server: HttpServer; forwarded: string[] }> {
  const leader = replica();
  const leaderRouter = new Router();
  registerSnapshotEndpoints(leaderRouter, {
    state: leader.api,
    forwarder: { hasReplica: () => true, forward: () => Promise.reject(new Error('the leader never forwards')) },
    isLeader: () => true,
    raftTerm: () => 4,
    chunkBytes: options.chunkBytes,
  });
  const local = replica();
  const forwarded: string[] = [];
  const server = await startHttpServer({
    api: fakeAgentApi(),
    host: '127.0.0.1',
    port: 0,
    routes: [(router) => registerSnapshotEndpoints(router, {
      state: local.api,
      forwarder: {
        hasReplica: () => options.agentHasReplica,
        forward: async (request) => {
          const message = forwardedRequest(request);
          assert.ok(Buffer.byteLength(JSON.stringify(message)) < RPC_MAX_BYTES);
          forwarded.push(`${message.httpMethod} ${message.path.replace(/upload=[0-9a-f]+/, 'upload=ID').replace(/download=[0-9a-f]+/, 'download=ID')}`);
          return replyFromForwarded(await serveForwarded(leaderRouter, message, 'peer', 10_000));
        },
      },
      isLeader: () => false,
      raftTerm: () => 4,
      chunkBytes: options.chunkBytes,
    })],
  });
  return { leader, local, server, forwarded };
}

function fill(state: Replica, count: number, prefix: string): void {
  for (let i = 0; i < count; i++) {
    state.state.apply({ term: 1, index: state.state.index + 1, type: EntryType.Normal, data: encodeStateCommand({ type: 'kvSet', nowMs: 1, key: `${prefix}/${i}`, value: new Uint8Array(createHash('sha256').update(`${prefix}${i}`).digest()), flags: 0 }) });
  }
}

test('an agent without a replica saves the leader\'s snapshot, fetched in chunks that each fit one agent RPC', async () => {
  const { leader, server, forwarded } = await pair({ agentHasReplica: false, chunkBytes: 1000 });
  try {
    fill(leader, 200, 'from-leader');
    const response = await fetch(`http://127.0.0.1:${server.port}/v1/snapshot`);
    assert.is(response.status, 200);
    const file = Buffer.from(await response.arrayBuffer());
    const summary = inspectSnapshotFile(file);
    assert.is(summary.counts.kvEntries, 200);
    assert.is(summary.header.term, 4);
    assert.is(Number(response.headers.get('x-consul-index')), leader.state.index);
    const chunks = Math.ceil(file.length / 1000);
    assert.ok(chunks > 3, `${file.length} bytes`);
    assert.is(forwarded.length, chunks);
    assert.is(forwarded[0], 'GET /v1/snapshot?download=');
    assert.is(forwarded[1], 'GET /v1/snapshot?download=ID&offset=1000');
  } finally {
    await server.close();
  }
});

test('a restore through an agent that is not the leader is verified there, uploaded in chunks, verified again and applied by the leader', async () => {
  const { leader, local, server, forwarded } = await pair({ agentHasReplica: true, chunkBytes: 1000 });
  try {
    const source = replica();
    fill(source, 150, 'restored');
    const file = encodeSnapshotFile({ index: source.state.index, term: 9, createdAtMs: 1, body: source.state.snapshot() });
    fill(leader, 10, 'overwritten');
    const url = `http://127.0.0.1:${server.port}/v1/snapshot`;

    const damaged = Buffer.from(file);
    damaged[file.length - 1] ^= 0xff;
    const refused = await fetch(url, { method: 'PUT', body: new Uint8Array(damaged) });
    assert.is(refused.status, 400);
    assert.is(forwarded.length, 0, 'a damaged file never leaves the agent');

    const response = await fetch(url, { method: 'PUT', body: new Uint8Array(file) });
    assert.is(response.status, 200, await response.clone().text());
    assert.is(forwarded.length, Math.ceil(file.length / 1000));
    assert.ok(forwarded.every((line) => line.startsWith('PUT /v1/snapshot?upload=ID&offset=')));
    assert.equal(leader.applied, ['stateRestore']);
    assert.equal(local.applied, [], 'the local agent proposes nothing itself');
    assert.is(leader.state.kvList('').entries.length, 150);
    assert.is(leader.state.kvGet('overwritten/1').entry, null);
  } finally {
    await server.close();
  }
});

test('a file over 1 MiB is verified on a worker thread: a good one restores, a damaged one is 400 with the reason', async () => {
  const leader = replica();
  const router = new Router();
  registerSnapshotEndpoints(router, {
    state: leader.api,
    forwarder: { hasReplica: () => true, forward: () => Promise.reject(new Error('unused')) },
    isLeader: () => true,
    raftTerm: () => 1,
  });
  const source = replica();
  fill(source, 30_000, 'large');
  const file = encodeSnapshotFile({ index: source.state.index, term: 1, createdAtMs: 1, body: source.state.snapshot() });
  assert.ok(file.length > 1024 * 1024, `${file.length} bytes`);
  const put = (body: Buffer) => serveForwarded(router, { method: 'http', httpMethod: 'PUT', path: '/v1/snapshot', body: body.toString('base64') }, 'peer', 60_000);
  const outOfOrder = encodeSnapshotFile({ index: source.state.index, term: 1, createdAtMs: 1, body: encodeSnapshot({ ...decodeSnapshot(source.state.snapshot()), kvEntries: source.state.kvList('').entries.toReversed() }) });
  const refused = await put(outOfOrder);
  assert.is(refused.status, 400);
  assert.match(refused.error ?? '', /Invalid snapshot: the state is not in canonical form/);
  assert.equal(leader.applied, []);
  const restored = await put(file);
  assert.is(restored.status, 200, restored.error);
  assert.equal(leader.applied, ['stateRestore']);
  assert.is(leader.state.kvList('large/').entries.length, 30_000);
});

test('the leader refuses chunks out of order and a second upload while one is in progress', async () => {
  const leader = replica();
  const router = new Router();
  registerSnapshotEndpoints(router, {
    state: leader.api,
    forwarder: { hasReplica: () => true, forward: () => Promise.reject(new Error('unused')) },
    isLeader: () => true,
    raftTerm: () => 1,
    chunkBytes: 100,
  });
  const send = async (query: string, body: Buffer) => {
    const answer = await serveForwarded(router, { method: 'http', httpMethod: 'PUT', path: `/v1/snapshot?${query}`, body: body.toString('base64') }, 'peer', 5_000);
    return answer.status;
  };
  const chunk = Buffer.alloc(100, 1);
  assert.is(await send('upload=0000000000000001&offset=0&size=1000', chunk), 202);
  assert.is(await send('upload=0000000000000002&offset=0&size=1000', chunk), 409);
  assert.is(await send('upload=0000000000000001&offset=300&size=1000', chunk), 400);
  assert.is(await send('upload=0000000000000001&offset=100&size=1000', chunk), 409, 'the out-of-order chunk dropped the upload');
  assert.is(await send('upload=0000000000000002&offset=0&size=1000', chunk), 202, 'so another may start');
  assert.is(await send('upload=0000000000000003&offset=0&size=999999999', chunk), 413);
  assert.equal(leader.applied, []);
});

test.run();

// The cluster key makes the mesh a private network: without the same key, no connection.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMesh } from '../../../agent/mesh/mesh.ts';
import type { Mesh } from '../../../agent/mesh/mesh.ts';
import { generateClusterKey } from '../../../agent/mesh/cluster-key.ts';
import { MeshError, MeshUnreachableError } from '../../../agent/mesh/errors.ts';

const clusterKey = generateClusterKey();
const started: Mesh[] = [];

async function mesh(bind: string, key: string | undefined): Promise<Mesh> {
  const created = await createMesh({ bind, port: 0, clusterKey: key, requestTimeoutMs: 1_500 });
  started.push(created);
  return created;
}

async function dialError(from: Mesh, to: Mesh): Promise<Error> {
  try {
    await from.dial(`${to.addresses[0]!.split('/')[2]}:${to.port}`);
  } catch (err) {
    return err as Error;
  }
  throw new Error('the dial succeeded');
}

test.after(async () => {
  await Promise.all(started.map((node) => node.stop()));
});

test('nodes with the same cluster key connect and talk', async () => {
  const one = await mesh('127.0.0.31', clusterKey);
  const two = await mesh('127.0.0.32', clusterKey);
  assert.is(await two.dial(`127.0.0.31:${one.port}`), one.peerId);
  await one.handle('/tribune/test/echo/1.0.0', (request) => request);
  const answer = await two.request(one.peerId, '/tribune/test/echo/1.0.0', new TextEncoder().encode('private'));
  assert.is(new TextDecoder().decode(answer), 'private');
});

test('a node with a different cluster key cannot connect, either way, and is told why at once', async () => {
  const member = await mesh('127.0.0.33', clusterKey);
  const stranger = await mesh('127.0.0.34', generateClusterKey());
  for (const [from, to] of [[stranger, member], [member, stranger]] as const) {
    const started = performance.now();
    const err = await dialError(from, to);
    assert.instance(err, MeshUnreachableError);
    assert.match(err.message, /uses a different cluster key/);
    assert.ok(performance.now() - started < 1_000, 'fails at the handshake, not by a timeout');
  }
  assert.equal(member.connectedPeers(), []);
  assert.equal(stranger.connectedPeers(), []);
});

test('a node without a key cannot connect to a private network, nor the reverse', async () => {
  const member = await mesh('127.0.0.35', clusterKey);
  const open = await mesh('127.0.0.36', undefined);
  // The keyless side speaks plain multistream-select and reads pnet's bytes as noise (and pnet
  // reads its multistream header as a nonce): depending on those random bytes the handshake
  // breaks at once or stalls until the dial deadline. Either way, no connection.
  for (const [from, to] of [[open, member], [member, open]] as const) {
    const err = await dialError(from, to);
    assert.instance(err, MeshError);
    assert.ok(['UNREACHABLE', 'TIMEOUT'].includes((err as MeshError).code), err.message);
  }
  assert.equal(member.connectedPeers(), []);
  assert.equal(open.connectedPeers(), []);
});

test('an invalid cluster key is refused before anything starts', async () => {
  try {
    await createMesh({ bind: '127.0.0.37', port: 0, clusterKey: 'too-short' });
    assert.unreachable('accepted a bad key');
  } catch (err) {
    assert.is((err as Error).name, 'ClusterKeyError');
  }
});

test.run();

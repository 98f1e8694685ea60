import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { IDENTITY_KEY_FILE, IdentityKeyError, loadIdentity } from '../../../agent/mesh/identity.ts';
import { createMesh } from '../../../agent/mesh/mesh.ts';

let dataDir = '';

test.before.each(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'tribune-identity-'));
});

test.after.each(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

test('the first start creates node-id.key with mode 0600; the next start loads the same peer id', async () => {
  const first = await loadIdentity({ dataDir });
  assert.ok(first.created);
  assert.is(first.keyPath, join(dataDir, IDENTITY_KEY_FILE));
  assert.match(first.peerId, /^12D3KooW/, 'an Ed25519 peer id');
  assert.is((await stat(first.keyPath!)).mode & 0o777, 0o600);

  const second = await loadIdentity({ dataDir });
  assert.not.ok(second.created);
  assert.is(second.peerId, first.peerId);
});

test('a missing data dir is created', async () => {
  const nested = join(dataDir, 'a', 'b');
  const identity = await loadIdentity({ dataDir: nested });
  assert.ok(identity.created);
  assert.ok((await stat(join(nested, IDENTITY_KEY_FILE))).isFile());
});

test('concurrent first starts agree on one identity and leave no temporary file', async () => {
  const identities = await Promise.all([loadIdentity({ dataDir }), loadIdentity({ dataDir }), loadIdentity({ dataDir })]);
  assert.is(new Set(identities.map((identity) => identity.peerId)).size, 1);
  const { readdir } = await import('node:fs/promises');
  assert.equal(await readdir(dataDir), [IDENTITY_KEY_FILE]);
});

test('dev mode (no data dir) gets a fresh in-memory key every time', async () => {
  const one = await loadIdentity();
  const two = await loadIdentity({});
  assert.is(one.keyPath, undefined);
  assert.ok(one.created);
  assert.is.not(one.peerId, two.peerId);
});

async function expectKeyError(reason: RegExp): Promise<void> {
  try {
    await loadIdentity({ dataDir });
  } catch (err) {
    assert.instance(err, IdentityKeyError);
    const keyPath = join(dataDir, IDENTITY_KEY_FILE);
    assert.is((err as IdentityKeyError).path, keyPath);
    assert.ok((err as Error).message.includes(keyPath), 'the message names the file');
    assert.match((err as Error).message, reason);
    assert.match((err as Error).message, /remove the file/);
    return;
  }
  assert.unreachable('a bad key file was accepted');
}

test('a corrupt key file is a typed error naming the file, and is left untouched', async () => {
  const garbage = new TextEncoder().encode('this is not a protobuf key');
  await writeFile(join(dataDir, IDENTITY_KEY_FILE), garbage);
  await expectKeyError(/is corrupt/);
  assert.equal(new Uint8Array(await readFile(join(dataDir, IDENTITY_KEY_FILE))), garbage);
});

test('an empty key file is a typed error', async () => {
  await writeFile(join(dataDir, IDENTITY_KEY_FILE), '');
  await expectKeyError(/is empty/);
});

test('a truncated key file is a typed error', async () => {
  const identity = await loadIdentity({ dataDir });
  const bytes = await readFile(identity.keyPath!);
  await writeFile(identity.keyPath!, bytes.subarray(0, bytes.length - 10));
  await expectKeyError(/is corrupt/);
});

test('a key of another type is refused: identities are Ed25519', async () => {
  const secp = await generateKeyPair('secp256k1');
  await writeFile(join(dataDir, IDENTITY_KEY_FILE), privateKeyToProtobuf(secp));
  await expectKeyError(/secp256k1 key/);
});

test('a mesh restarted on the same data dir has the same peer id', async () => {
  const first = await createMesh({ privateKey: (await loadIdentity({ dataDir })).privateKey, bind: '127.0.0.41', port: 0 });
  const peerId = first.peerId;
  await first.stop();
  const second = await createMesh({ privateKey: (await loadIdentity({ dataDir })).privateKey, bind: '127.0.0.41', port: 0 });
  try {
    assert.is(second.peerId, peerId);
    assert.ok(second.addresses[0]!.endsWith(`/p2p/${peerId}`));
  } finally {
    await second.stop();
  }
});

test.run();

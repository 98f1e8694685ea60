import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterKeyError, clusterKeyToSwarmKey, generateClusterKey, parseClusterKey, CLUSTER_KEY_BYTES } from '../../../agent/mesh/cluster-key.ts';

test('keygen prints one copy-pasteable line of base64 that decodes to 32 bytes', () => {
  const key = generateClusterKey();
  assert.match(key, /^[A-Za-z0-9+/]{43}=$/);
  assert.not.match(key, /\s/);
  assert.is(parseClusterKey(key).length, CLUSTER_KEY_BYTES);
  assert.is(Buffer.from(parseClusterKey(key)).toString('base64'), key, 'round trip');
});

test('two generated keys differ', () => {
  assert.is.not(generateClusterKey(), generateClusterKey());
});

test('a key read from a file with its trailing newline is accepted', () => {
  const key = generateClusterKey();
  assert.equal(parseClusterKey(`  ${key}\n`), parseClusterKey(key));
});

test('the swarm key is the pnet v1 text with the key in lowercase hex', () => {
  const key = generateClusterKey();
  const swarm = new TextDecoder().decode(clusterKeyToSwarmKey(key));
  const hex = Buffer.from(key, 'base64').toString('hex');
  assert.is(swarm, `/key/swarm/psk/1.0.0/\n/base16/\n${hex}`);
  assert.equal(clusterKeyToSwarmKey(parseClusterKey(key)), clusterKeyToSwarmKey(key), 'bytes and text agree');
});

function rejects(input: string, messagePart: RegExp): void {
  try {
    parseClusterKey(input);
  } catch (err) {
    assert.instance(err, ClusterKeyError);
    assert.is((err as ClusterKeyError).code, 'INVALID_CLUSTER_KEY');
    assert.match((err as Error).message, messagePart);
    assert.not.ok((err as Error).message.includes(input.trim()) && input.trim().length > 8, 'the key is a secret: not echoed');
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(input)}`);
}

test('an empty key is rejected', () => rejects('   ', /empty/));
test('a key that is not base64 is rejected', () => rejects('this is not base64 at all!!', /not valid base64/));
test('url-safe base64 is rejected', () => rejects(Buffer.alloc(32, 0xfb).toString('base64url') + '=', /not valid base64/));
test('base64 without its padding is rejected', () => rejects(generateClusterKey().slice(0, 43), /not valid base64/));
test('a 16-byte key is rejected with both lengths in the message', () => rejects(Buffer.alloc(16, 7).toString('base64'), /16 bytes, expected 32/));
test('a 64-byte key is rejected', () => rejects(Buffer.alloc(64, 7).toString('base64'), /64 bytes, expected 32/));
test('raw bytes of the wrong length are rejected', () => {
  assert.throws(() => clusterKeyToSwarmKey(new Uint8Array(31)), (err: unknown) => err instanceof ClusterKeyError);
});

test.run();

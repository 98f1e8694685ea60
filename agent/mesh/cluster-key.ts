// The cluster key: `tribune keygen` prints one, `tribune agent -encrypt KEY` uses it.
//
// A cluster key is 32 random bytes, printed as one line of standard base64 (44 characters,
// one `=` of padding), exactly like `consul keygen`, so that it can be pasted into a flag or a
// config file. With a key, the mesh becomes a libp2p private network (@libp2p/pnet): every TCP
// connection is wrapped in XSalsa20 keyed by the PSK before Noise even starts, so a machine
// without the key cannot complete a handshake, let alone join the gossip.
//
//   const key = generateClusterKey();        // 'kT0v…Q='  (print this)
//   const swarm = clusterKeyToSwarmKey(key); // bytes for preSharedKey({ psk: swarm })

import { randomBytes } from 'node:crypto';

/** Length in bytes of a cluster key: the PSK size @libp2p/pnet requires. */
export const CLUSTER_KEY_BYTES = 32;

/** Header of the swarm-key text format that @libp2p/pnet's `preSharedKey({ psk })` parses. */
const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n';

/** Standard base64 (RFC 4648 §4) with mandatory padding: what `consul keygen` prints. */
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A cluster key that is not base64 or does not decode to exactly 32 bytes. */
export class ClusterKeyError extends Error {
  override readonly name = 'ClusterKeyError';
  readonly code = 'INVALID_CLUSTER_KEY';
}

/** A fresh cluster key: base64 of 32 bytes from the OS CSPRNG, one line, no newline. */
export function generateClusterKey(): string {
  return randomBytes(CLUSTER_KEY_BYTES).toString('base64');
}

/**
 * Decodes a cluster key as printed by `generateClusterKey` (surrounding whitespace, such as
 * the newline of a key file, is ignored) into its 32 bytes. Throws ClusterKeyError, whose
 * message says what is wrong without echoing the key itself (it may be almost right, and it
 * is a secret).
 */
export function parseClusterKey(text: string): Uint8Array {
  const trimmed = text.trim();
  if (trimmed.length === 0) throw new ClusterKeyError('cluster key is empty; generate one with `tribune keygen`');
  if (!BASE64_PATTERN.test(trimmed)) {
    throw new ClusterKeyError(
      `cluster key is not valid base64 (${trimmed.length} characters); ` +
      'expected the single line printed by `tribune keygen`');
  }
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length !== CLUSTER_KEY_BYTES) {
    throw new ClusterKeyError(
      `cluster key decodes to ${bytes.length} bytes, expected ${CLUSTER_KEY_BYTES}; ` +
      'generate one with `tribune keygen`');
  }
  return new Uint8Array(bytes);
}

/**
 * The swarm-key bytes that `preSharedKey({ psk })` expects:
 * `/key/swarm/psk/1.0.0/\n/base16/\n<64 lowercase hex digits>`.
 * Accepts the base64 text form or the 32 raw bytes.
 */
export function clusterKeyToSwarmKey(key: string | Uint8Array): Uint8Array {
  const bytes = typeof key === 'string' ? parseClusterKey(key) : key;
  if (bytes.length !== CLUSTER_KEY_BYTES) {
    throw new ClusterKeyError(`cluster key is ${bytes.length} bytes, expected ${CLUSTER_KEY_BYTES}`);
  }
  return new TextEncoder().encode(SWARM_KEY_HEADER + Buffer.from(bytes).toString('hex'));
}

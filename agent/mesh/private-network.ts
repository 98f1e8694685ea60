// The private network: @libp2p/pnet keyed by the cluster key, plus a key check.
//
// pnet exchanges nonces and then XORs everything with an XSalsa20 stream keyed by the PSK.
// It never verifies that both sides hold the same key: with different keys each side reads
// noise, multistream-select waits for a length prefix that makes sense, and the dial only ends
// at its timeout, saying nothing about keys. Consul users expect `join` with the wrong
// `-encrypt` key to fail at once and say so. So, right after pnet's nonce exchange, each side
// sends a fixed 32-byte check through the encrypted channel and reads the peer's: the same
// plaintext arrives only if the keys match. On a mismatch the connection is dropped with a
// ClusterKeyMismatchError, one round trip after the TCP connect.
//
// The check adds nothing to security (Noise authenticates the peer, the PSK keeps outsiders
// out) and reveals nothing: multistream-select sends known plaintext at the same point anyway.

import { preSharedKey } from '@libp2p/pnet';
import type { ProtectorComponents } from '@libp2p/pnet';
import type { AbortOptions, ConnectionProtector, MultiaddrConnection } from '@libp2p/interface';
import { clusterKeyToSwarmKey } from './cluster-key.ts';

/** The plaintext both sides send first; 32 bytes. Changing it is a wire-protocol change. */
const KEY_CHECK = new TextEncoder().encode('tribune/cluster-key-check/1.0.0\n');

/** Deadline for pnet's nonce exchange and for the key check, each. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;

/** The peer's cluster key differs from ours (or it has none). */
export class ClusterKeyMismatchError extends Error {
  override readonly name = 'ClusterKeyMismatchError';
}

export interface PrivateNetworkInit {
  /** The cluster key: base64 text from `tribune keygen`, or its 32 bytes. */
  clusterKey: string | Uint8Array;
  handshakeTimeoutMs?: number;
}

/** A libp2p `connectionProtector` for the cluster key. */
export function privateNetwork(init: PrivateNetworkInit): (components: ProtectorComponents) => ConnectionProtector {
  const timeoutMs = init.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const createInner = preSharedKey({ psk: clusterKeyToSwarmKey(init.clusterKey), timeout: timeoutMs });
  return (components) => {
    const inner = createInner(components);
    return {
      async protect(connection: MultiaddrConnection, options?: AbortOptions): Promise<MultiaddrConnection> {
        const encrypted = await inner.protect(connection, options);
        return await checkKey(encrypted, timeoutMs, options?.signal);
      },
    };
  };
}

type Chunk = Uint8Array | { subarray(): Uint8Array };
type ChunkSource = AsyncIterable<Chunk> | Iterable<Chunk>;

async function checkKey(connection: MultiaddrConnection, timeoutMs: number, signal: AbortSignal | undefined): Promise<MultiaddrConnection> {
  // Outbound: the check first, then whatever the upgrader sinks once we hand the connection on.
  let resolveLater: (source: ChunkSource) => void = () => {};
  const later = { promise: new Promise<ChunkSource>((resolve) => (resolveLater = resolve)), resolve: (source: ChunkSource) => resolveLater(source) };
  const sink = connection.sink as (source: AsyncIterable<Chunk>) => Promise<void>;
  const sinking = Promise.resolve(sink((async function* () {
    yield KEY_CHECK;
    yield* await later.promise;
  })())).catch(() => undefined); // a broken socket surfaces on the read side and in the upgrader

  // Inbound: exactly KEY_CHECK.length bytes, keeping anything that came with them.
  const deadline = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal === undefined ? [] : [signal])]);
  const incoming = connection.source[Symbol.asyncIterator]();
  let received: Uint8Array = new Uint8Array(0);
  try {
    while (received.length < KEY_CHECK.length) {
      const next = await raceDeadline(incoming.next(), deadline);
      if (next.done === true) throw new ClusterKeyMismatchError(`${connection.remoteAddr} closed the connection during the cluster key check: it probably has a different cluster key`);
      received = concat(received, next.value.subarray());
    }
    if (!equal(received.subarray(0, KEY_CHECK.length), KEY_CHECK)) {
      throw new ClusterKeyMismatchError(`${connection.remoteAddr} uses a different cluster key (-encrypt), or none`);
    }
  } catch (err) {
    later.resolve([]);
    const reason = deadline.aborted && !(err instanceof ClusterKeyMismatchError)
      ? new ClusterKeyMismatchError(`${connection.remoteAddr} did not complete the cluster key check within ${timeoutMs} ms: it probably has no cluster key or a different one`)
      : err as Error;
    connection.abort(reason);
    throw reason;
  }
  const rest = received.subarray(KEY_CHECK.length);
  const release = () => later.resolve([]);
  return {
    ...connection,
    source: (async function* () {
      if (rest.length > 0) yield rest;
      for (;;) {
        const next = await incoming.next();
        if (next.done === true) return;
        yield next.value;
      }
    })(),
    sink: async (source) => {
      later.resolve(source);
      await sinking;
    },
    close: async (options) => {
      release();
      await connection.close(options);
    },
    abort: (err) => {
      release();
      connection.abort(err);
    },
  };
}

function raceDeadline<T>(work: Promise<T>, deadline: AbortSignal): Promise<T> {
  if (deadline.aborted) return Promise.reject(deadline.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(deadline.reason);
    deadline.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => deadline.removeEventListener('abort', onAbort));
  });
}

function concat(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head, 0);
  joined.set(tail, head.length);
  return joined;
}

function equal(left: Uint8Array, right: Uint8Array): boolean {
  return left.length === right.length && left.every((byte, index) => byte === right[index]);
}

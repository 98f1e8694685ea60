// The node's identity: an Ed25519 key whose public half is its libp2p peer id.
//
// With a data dir the key lives in `<dataDir>/node-id.key` (the protobuf form of
// @libp2p/crypto's privateKeyToProtobuf, mode 0600), so an agent restarted on the same data
// dir comes back as the same peer and can refute its own death. In dev mode (no data dir) a
// fresh key lives in memory only.
//
//   const identity = await loadIdentity({ dataDir: 'data' });
//   const mesh = await createMesh({ privateKey: identity.privateKey, bind: '127.0.0.1' });

import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as keys from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';

/** File name of the identity key inside the data dir. */
export const IDENTITY_KEY_FILE = 'node-id.key';

export interface Identity {
  privateKey: PrivateKey;
  /** The peer id derived from the key, in its string form (`12D3KooW…`). */
  peerId: string;
  /** Where the key is stored; undefined for an in-memory (dev) identity. */
  keyPath: string | undefined;
  /** True when this call generated the key (first start, or dev mode). */
  created: boolean;
}

export interface IdentityOptions {
  /** The agent's data dir; undefined in dev mode, which gets a fresh in-memory key. */
  dataDir?: string | undefined;
}

/** The key file exists but cannot be used: unreadable, corrupt, or not an Ed25519 key. */
export class IdentityKeyError extends Error {
  override readonly name = 'IdentityKeyError';
  readonly code = 'INVALID_IDENTITY_KEY';
  readonly path: string;

  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super(`node identity key ${path} ${problem}; ` +
      'remove the file to generate a new identity (the node will then have a new peer id)', options);
    this.path = path;
  }
}

// @libp2p/crypto 5.1.23, the version the lockfile resolves for the whole libp2p 2.x stack,
// declares its key types against @libp2p/interface 3 (a nested copy) while libp2p 2.x,
// peer-id 5 and gossipsub 14 use @libp2p/interface 2. The runtime objects are the same
// classes; only the declarations differ, so the types are converted here, once.
type CryptoPrivateKey = Parameters<typeof keys.privateKeyToProtobuf>[0];

/** A new Ed25519 key, typed for the libp2p 2.x stack. */
export async function generateEd25519Key(): Promise<PrivateKey> {
  return await keys.generateKeyPair('Ed25519') as unknown as PrivateKey;
}

function privateKeyToProtobuf(privateKey: PrivateKey): Uint8Array {
  return keys.privateKeyToProtobuf(privateKey as unknown as CryptoPrivateKey);
}

function privateKeyFromProtobuf(bytes: Uint8Array): PrivateKey {
  return keys.privateKeyFromProtobuf(bytes) as unknown as PrivateKey;
}

/** Loads the identity from the data dir, creating the key on first start; dev mode: in memory. */
export async function loadIdentity(options: IdentityOptions = {}): Promise<Identity> {
  if (options.dataDir === undefined) {
    const privateKey = await generateEd25519Key();
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), keyPath: undefined, created: true };
  }
  const keyPath = join(options.dataDir, IDENTITY_KEY_FILE);
  const existing = await readKeyFile(keyPath);
  if (existing !== undefined) return identityFrom(keyPath, existing, false);

  const privateKey = await generateEd25519Key();
  const winner = await createKeyFile(options.dataDir, keyPath, privateKeyToProtobuf(privateKey));
  // Another process created the file between our read and our link: its key is the identity.
  if (winner !== undefined) return identityFrom(keyPath, winner, false);
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), keyPath, created: true };
}

async function readKeyFile(keyPath: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(keyPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new IdentityKeyError(keyPath, `cannot be read (${(err as Error).message})`, { cause: err });
  }
}

function identityFrom(keyPath: string, bytes: Uint8Array, created: boolean): Identity {
  if (bytes.length === 0) throw new IdentityKeyError(keyPath, 'is empty');
  let privateKey: PrivateKey;
  try {
    privateKey = privateKeyFromProtobuf(bytes);
  } catch (err) {
    throw new IdentityKeyError(keyPath,
      `is corrupt: not a protobuf-encoded libp2p private key (${(err as Error).message})`, { cause: err });
  }
  if (privateKey.type !== 'Ed25519') {
    throw new IdentityKeyError(keyPath, `holds a ${privateKey.type} key, but Tribune identities are Ed25519`);
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), keyPath, created };
}

/**
 * Writes the key atomically and without overwriting: the bytes go to a private temporary
 * file (0600 from the start, never readable by others even for a moment), which is then
 * hard-linked to the final name. link() fails with EEXIST if the key already exists, so a
 * crash never leaves a half-written key and a racing second process never replaces the first
 * one's identity. Returns the other process's key bytes if it won the race.
 */
async function createKeyFile(dataDir: string, keyPath: string, bytes: Uint8Array): Promise<Uint8Array | undefined> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const temporaryPath = `${keyPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporaryPath, bytes, { mode: 0o600, flush: true });
  try {
    await link(temporaryPath, keyPath);
    return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return await readFile(keyPath);
  } finally {
    await unlink(temporaryPath).catch(() => undefined);
  }
}

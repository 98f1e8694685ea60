// How an agent's node appears in the catalog. Two writers describe the same
// node — the agent itself (anti-entropy, agent/local/anti-entropy.ts) and the
// Raft leader's serfHealth reconciler (agent/runtime/health-reconciler.ts) —
// so both build the record here, from what both know: the node name, the
// agent's peer id and its mesh address. Were they to disagree on a field,
// each would rewrite the other's record for ever.
//
//   agentCatalogNode({ name: 'agent-1', peerId, meshAddress: '127.0.0.61:8301', datacenter: 'dc1' })
//   // { id: '5d7c…-…', node: 'agent-1', address: '127.0.0.61', datacenter: 'dc1', taggedAddresses: {lan: …, wan: …}, meta: {} }

import { createHash } from 'node:crypto';
import type { CatalogNode } from '../../protocol/state-commands.ts';

/**
 * A node ID (Consul's is a UUID) derived from the agent's libp2p peer id:
 * the first 16 bytes of its SHA-256, shaped as an RFC 9562 version 8 UUID.
 * Stable across restarts (the peer id lives in the data directory), the same
 * on every agent that computes it, and unique as long as peer ids are.
 */
export function nodeIdFromPeerId(peerId: string): string {
  const bytes = createHash('sha256').update(peerId).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80; // version 8: custom
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant 10
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The host of a `host:port` mesh address (`[::1]:8301` → `::1`); the input when it has no port. */
export function hostOfAddress(address: string): string {
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    return end > 0 ? address.slice(1, end) : address;
  }
  const separator = address.lastIndexOf(':');
  return separator > 0 && address.indexOf(':') === separator ? address.slice(0, separator) : address;
}

export type AgentNodeFacts = {
  name: string;
  peerId: string;
  /** The agent's advertised mesh address, `host:port`. */
  meshAddress: string;
  datacenter: string;
};

/** The catalog record of an agent's own node: Consul's shape, with lan/wan tagged addresses as a Consul agent registers them. */
export function agentCatalogNode(facts: AgentNodeFacts): CatalogNode {
  const address = hostOfAddress(facts.meshAddress);
  const ipv4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(address);
  const taggedAddresses: Record<string, string> = ipv4
    ? { lan: address, lan_ipv4: address, wan: address, wan_ipv4: address }
    : { lan: address, lan_ipv6: address, wan: address, wan_ipv6: address };
  return { id: nodeIdFromPeerId(facts.peerId), node: facts.name, address, datacenter: facts.datacenter, taggedAddresses, meta: {} };
}

// The mesh: Tribune's transport, and the only module that knows libp2p.
//
// One libp2p 2.x node per agent: TCP (listening on the bind address and dialling *from* it, so
// that iptables rules on a source address partition an agent completely), an optional
// private-network PSK (the cluster key), Noise, Yamux, identify, ping and gossipsub 14
// (StrictSign). No mDNS, DHT, relays, UPnP or AutoNAT: members are found by joining an
// address, and membership (agent/membership) decides who is alive.
//
// On top sits a small typed API that membership, Raft and RPC plug into:
//
//   const mesh = await createMesh({ privateKey, bind: '127.0.0.21', port: 8301 });
//   const remotePeerId = await mesh.dial('127.0.0.22');          // host, host:port, or multiaddr
//   mesh.handle('/tribune/probe/1.0.0', async (request, { peerId }) => reply);
//   const reply = await mesh.request(remotePeerId, '/tribune/probe/1.0.0', bytes, { timeoutMs: 500 });
//   const stream = await mesh.openStream(remotePeerId, '/tribune/raft/1.0.0');   // long-lived frames
//   const unsubscribe = mesh.subscribe('tribune/dc1/members', (fromPeerId, bytes) => {});
//   await mesh.publish('tribune/dc1/members', bytes);
//   mesh.on('peer:disconnect', (peerId) => {});
//   await mesh.stop();
//
// Request/response wire format, one fresh stream per request: the requester writes one
// length-prefixed frame (the request) and closes its writing side; the responder writes one
// length-prefixed frame, a status byte then the payload: 0 OK (payload = response), 1 ERROR,
// 2 TOO_LARGE, 3 TIMEOUT (payload = UTF-8 reason), and closes.

import { EventEmitter } from 'node:events';
import { createLibp2p } from 'libp2p';
import type { Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import type { TCPSocketOptions } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import type { Identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import type { Ping } from '@libp2p/ping';
import { gossipsub } from '@chainsafe/libp2p-gossipsub';
import type { GossipSub, GossipsubEvents, GossipsubOpts } from '@chainsafe/libp2p-gossipsub';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { Multiaddr } from '@multiformats/multiaddr';
import { TopicValidatorResult } from '@libp2p/interface';
import type { Connection, Message, PeerId, PrivateKey, PubSub, Stream } from '@libp2p/interface';
import { advertisedMultiaddr, isUnspecifiedAddress, listenMultiaddr, parseAdvertiseAddress, parseDialAddress, DEFAULT_MESH_PORT } from './address.ts';
import type { AdvertiseAddress } from './address.ts';
import { parseClusterKey } from './cluster-key.ts';
import { privateNetwork } from './private-network.ts';
import { generateEd25519Key } from './identity.ts';
import {
  MeshAddressError, MeshError, MeshListenError, MeshMessageTooLargeError, MeshOverloadedError, MeshProtocolRefusedError, MeshRemoteError,
  MeshStoppedError, MeshTimeoutError, MeshUnreachableError,
} from './errors.ts';
import type { MeshFaults } from './faults.ts';
import { FramedStream, readSingleFrame, tooLarge, writeSingleFrame } from './stream.ts';
import type { MeshStream } from './stream.ts';

export { DEFAULT_MESH_PORT } from './address.ts';
export type { MeshStream } from './stream.ts';
export type { MeshFaults } from './faults.ts';

// ---------------------------------------------------------------------------------------------
// Configuration: one typed object, defaults in named profiles.

/** Gossipsub tuning. Every field trades dissemination speed and redundancy against bandwidth. */
export interface GossipProfile {
  /**
   * Target mesh degree: each node forwards every message to about D peers, so delivery takes
   * about log_D(N) hops and costs each node D copies per message, whatever N is. libp2p's
   * default (6) is tuned for thousands of untrusted peers; a datacenter of tens to a few
   * hundred trusted agents needs less redundancy.
   */
  D: number;
  /** Below this many mesh peers the heartbeat grafts more. Must be <= D. */
  Dlo: number;
  /** Above this many mesh peers the heartbeat prunes back to D. Must be >= D. */
  Dhi: number;
  /** Peers kept by score when pruning; <= D. */
  Dscore: number;
  /** Outbound-connection quota in the mesh (anti-eclipse); < Dlo and <= D/2. */
  Dout: number;
  /** Peers outside the mesh told per heartbeat which messages we have (IHAVE): repairs gaps. */
  Dlazy: number;
  /** Mesh maintenance and lazy-gossip period. Shorter repairs faster and costs more control traffic. */
  heartbeatIntervalMs: number;
  /**
   * Send our own messages to every subscribed peer instead of D mesh peers. Faster first hop
   * and robust against a bad mesh, but an O(N) cost for the publisher; off so that the
   * per-agent cost stays constant in cluster size.
   */
  floodPublish: boolean;
  /** How long message ids are remembered to drop duplicates. Must outlast the slowest path. */
  seenTtlMs: number;
  /** Largest gossip message accepted or published, in bytes. Membership messages are small. */
  maxMessageBytes: number;
}

/** Connection limits. Sized for a datacenter of up to a few hundred agents. */
export interface ConnectionProfile {
  /**
   * Connections kept before libp2p starts pruning the least valuable. Probes and RPCs may touch
   * every member over time, so this is above the largest expected datacenter; each idle
   * connection costs a socket and a Yamux keep-alive every 30 s.
   */
  maxConnections: number;
  /** Dials in flight at once (a join storm, a retry-join list). */
  maxParallelDials: number;
  /** Inbound connections still in their handshake at once; beyond, new ones are refused. */
  maxIncomingPendingConnections: number;
  /** Inbound connections per second accepted from one host (libp2p's default of 5 is for the open internet). */
  inboundConnectionsPerHostPerSecond: number;
  /** Deadline for one dial: TCP connect, PSK, Noise and Yamux negotiation. */
  dialTimeoutMs: number;
  /** Deadline for an inbound connection's handshake. */
  inboundUpgradeTimeoutMs: number;
}

/** LAN profile: a datacenter on one network, memberlist-LAN-like latencies. */
export const GOSSIP_PROFILE_LAN: GossipProfile = {
  D: 4,
  Dlo: 3,
  Dhi: 8,
  Dscore: 2,
  Dout: 1,
  Dlazy: 4,
  heartbeatIntervalMs: 1000,
  floodPublish: false,
  seenTtlMs: 120_000,
  maxMessageBytes: 256 * 1024,
};

export const CONNECTION_PROFILE_LAN: ConnectionProfile = {
  maxConnections: 600,
  maxParallelDials: 64,
  maxIncomingPendingConnections: 64,
  inboundConnectionsPerHostPerSecond: 50,
  dialTimeoutMs: 5_000,
  inboundUpgradeTimeoutMs: 5_000,
};

export interface MeshOptions {
  /** The node's identity (see identity.ts); a fresh in-memory Ed25519 key if absent (dev mode). */
  privateKey?: PrivateKey | undefined;
  /** IP address to listen on and to dial from; 0.0.0.0 or :: listens everywhere and dials from any. */
  bind: string;
  /** TCP port; 8301 by default, 0 for any free port (read it back from `mesh.port`). */
  port?: number | undefined;
  /**
   * `host`, `host:port` or a TCP multiaddr announced to peers instead of the bind address (NAT,
   * containers); without a port (or with port 0) the port the mesh listens on is announced.
   */
  advertise?: string | undefined;
  /** Cluster key (base64 text from `tribune keygen`, or its 32 bytes): turns on the private network. */
  clusterKey?: string | Uint8Array | undefined;
  /** Default size limit of a request, response or stream frame, in bytes. */
  maxMessageBytes?: number | undefined;
  /** Default deadline of `request`, `openStream`, `dial` and `ping`, and of a request handler. */
  requestTimeoutMs?: number | undefined;
  /** Bound of each long-lived stream's send queue, in bytes. */
  maxStreamQueuedBytes?: number | undefined;
  /**
   * Streams of one protocol open at once to one peer, in each direction (libp2p's default is
   * 32 inbound, 64 outbound). Requests beyond it fail with MeshOverloadedError rather than
   * queue without bound.
   */
  maxConcurrentStreams?: number | undefined;
  gossip?: Partial<GossipProfile> | undefined;
  connections?: Partial<ConnectionProfile> | undefined;
  /** Test-only fault switch (see faults.ts), consulted before every send and after every receive. */
  faults?: MeshFaults | undefined;
  /** Sent to peers by identify, e.g. 'tribune/0.1.0'. */
  agentVersion?: string | undefined;
}

const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_STREAM_QUEUED_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_CONCURRENT_STREAMS = 128;
/** An error reason carried back to a requester is cut to this many bytes. */
const MAX_REASON_BYTES = 1024;
const STREAM_CLOSE_TIMEOUT_MS = 2_000;

/** Gossipsub's own default bound on an RPC frame (it-length-prefixed's 4 MiB). */
const GOSSIP_RPC_MIN_FRAME_BYTES = 4 * 1024 * 1024;

const STATUS_OK = 0;
const STATUS_ERROR = 1;
const STATUS_TOO_LARGE = 2;
const STATUS_TIMEOUT = 3;

// ---------------------------------------------------------------------------------------------
// Public types.

export interface RequestContext {
  /** The requesting peer. */
  peerId: string;
  protocol: string;
  /** Aborted when the handler's deadline passes or the mesh stops. */
  signal: AbortSignal;
}

/** Answers one request. A thrown error is sent back and surfaces as MeshRemoteError. */
export type RequestHandler = (request: Uint8Array, context: RequestContext) => Uint8Array | Promise<Uint8Array>;

/** Takes ownership of one inbound long-lived stream. */
export type StreamHandler = (stream: MeshStream) => void | Promise<void>;

export interface HandleOptions {
  /** Largest request accepted and response sent, in bytes. */
  maxMessageBytes?: number | undefined;
  /** The handler must answer within this; the requester then gets MeshTimeoutError. */
  timeoutMs?: number | undefined;
  /** Concurrent inbound streams of this protocol per peer (default: the mesh's maxConcurrentStreams). */
  maxConcurrentStreams?: number | undefined;
}

export interface RequestOptions {
  /** Whole exchange: dial if needed, open, send, receive. */
  timeoutMs?: number | undefined;
  /** Largest request sent and response accepted, in bytes. */
  maxMessageBytes?: number | undefined;
}

export interface OpenStreamOptions {
  /** Deadline for dialling and protocol negotiation. */
  timeoutMs?: number | undefined;
  maxMessageBytes?: number | undefined;
}

export interface MeshConnection {
  peerId: string;
  /** The peer's address as this node sees it: for inbound connections, its source address. */
  remoteAddress: string;
  direction: 'inbound' | 'outbound';
}

/** Dropped or refused traffic, for `tribune info`. Counts only go up. */
export interface MeshCounters {
  requestsServed: number;
  requestsRejectedTooLarge: number;
  requestHandlerErrors: number;
  requestHandlerTimeouts: number;
  gossipMessagesTooLarge: number;
  subscriberErrors: number;
  faultDrops: number;
}

export interface MeshEvents {
  /** First connection to a peer opened. */
  'peer:connect': [peerId: string];
  /** Last connection to a peer closed. */
  'peer:disconnect': [peerId: string];
  /** A subscribe() listener threw; the message was still delivered to the others. */
  'subscriber:error': [topic: string, error: unknown];
}

export type GossipListener = (fromPeerId: string, data: Uint8Array) => void;

// ---------------------------------------------------------------------------------------------

interface ResolvedOptions {
  privateKey: PrivateKey;
  bind: string;
  port: number;
  advertise: AdvertiseAddress | undefined;
  clusterKey: Uint8Array | undefined;
  maxMessageBytes: number;
  requestTimeoutMs: number;
  maxStreamQueuedBytes: number;
  maxConcurrentStreams: number;
  gossip: GossipProfile;
  connections: ConnectionProfile;
  faults: MeshFaults | undefined;
  agentVersion: string;
}

type Services = { identify: Identify; ping: Ping; pubsub: PubSub<GossipsubEvents> };

/** Creates and starts a mesh node; resolves once it is listening. */
export async function createMesh(options: MeshOptions): Promise<Mesh> {
  const resolved = await resolveOptions(options);
  const listen = listenMultiaddr(resolved.bind, resolved.port);
  // @libp2p/tcp spreads `dialOpts` into net.connect() for every outbound socket. Its type
  // exposes only a subset of net.connect's options, but the object is passed through whole, so
  // `localAddress` pins the source address of every dial to the bind address.
  const dialOpts = isUnspecifiedAddress(resolved.bind) ? {} : { localAddress: resolved.bind };
  const node = await createLibp2p<Services>({
    start: false,
    privateKey: resolved.privateKey,
    nodeInfo: { userAgent: resolved.agentVersion },
    addresses: {
      listen: [listen],
      ...(resolved.advertise === undefined ? {} : { announceFilter: advertiseFilter(resolved.advertise) }),
    },
    transports: [tcp({ dialOpts: dialOpts as TCPSocketOptions })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(resolved.clusterKey === undefined ? {} : {
      connectionProtector: privateNetwork({ clusterKey: resolved.clusterKey, handshakeTimeoutMs: resolved.connections.dialTimeoutMs }),
    }),
    connectionManager: {
      maxConnections: resolved.connections.maxConnections,
      maxParallelDials: resolved.connections.maxParallelDials,
      maxIncomingPendingConnections: resolved.connections.maxIncomingPendingConnections,
      inboundConnectionThreshold: resolved.connections.inboundConnectionsPerHostPerSecond,
      dialTimeout: resolved.connections.dialTimeoutMs,
      inboundUpgradeTimeout: resolved.connections.inboundUpgradeTimeoutMs,
    },
    // The connection monitor pings every open connection every 10 s over a new stream: with a
    // connection to most members that is all-to-all heartbeating, which SWIM exists to avoid.
    // Failure detection is membership's job; Yamux keep-alives keep idle sockets open.
    connectionMonitor: { enabled: false },
    services: {
      identify: identify({ agentVersion: resolved.agentVersion }),
      ping: ping(),
      pubsub: gossipsub(gossipsubOptions(resolved.gossip)),
    },
  });
  const mesh = new Mesh(node, resolved); // before start: no event may be missed
  try {
    await node.start();
  } catch (err) {
    await Promise.resolve(node.stop()).catch(() => undefined);
    // libp2p's message lists each failed address with a stack trace; keep the system error.
    const reason = /Error: ([^\n]+)/.exec(describeError(err))?.[1] ?? describeError(err);
    throw new MeshListenError(`cannot listen on ${listen}: ${reason}`, { cause: err });
  }
  return mesh;
}

export class Mesh extends EventEmitter<MeshEvents> {
  /** This node's peer id (`12D3KooW…`). */
  readonly peerId: string;
  readonly counters: MeshCounters = {
    requestsServed: 0, requestsRejectedTooLarge: 0, requestHandlerErrors: 0, requestHandlerTimeouts: 0,
    gossipMessagesTooLarge: 0, subscriberErrors: 0, faultDrops: 0,
  };
  private readonly node: Libp2p<Services>;
  private readonly options: ResolvedOptions;
  private readonly stopController = new AbortController();
  private readonly topicListeners = new Map<string, Set<GossipListener>>();
  private stopping: Promise<void> | undefined;
  private listeningPort: number;

  /** Use createMesh(). */
  constructor(node: Libp2p<Services>, options: ResolvedOptions) {
    super();
    this.node = node;
    this.options = options;
    this.listeningPort = options.port;
    this.peerId = node.peerId.toString();
    node.addEventListener('transport:listening', (event) => {
      for (const address of event.detail.getAddrs()) this.listeningPort = address.toOptions().port;
    });
    node.addEventListener('peer:connect', (event) => this.emit('peer:connect', event.detail.toString()));
    node.addEventListener('peer:disconnect', (event) => this.emit('peer:disconnect', event.detail.toString()));
    node.services.pubsub.addEventListener('message', (event) => this.deliverGossip(event.detail));
    if (options.faults !== undefined) installGossipFaults(node.services.pubsub, options.faults, this.counters);
  }

  /** The TCP port the mesh listens on (the real one when 0 was asked for). */
  get port(): number {
    return this.listeningPort;
  }

  /** The multiaddrs peers can reach this node at, each ending in /p2p/<peerId>. */
  get addresses(): string[] {
    return this.node.getMultiaddrs().map((address) => address.toString());
  }

  /** Peers with at least one open connection. */
  connectedPeers(): string[] {
    return this.node.getPeers().map((peer) => peer.toString());
  }

  /** Open connections, with the address each peer is seen at (for inbound ones, its source address). */
  connections(): MeshConnection[] {
    return this.node.getConnections().map((connection) => ({
      peerId: connection.remotePeer.toString(),
      remoteAddress: connection.remoteAddr.toString(),
      direction: connection.direction,
    }));
  }

  /**
   * Connects to a peer by address and returns its peer id. Accepts `host` (port 8301),
   * `host:port`, `[ipv6]:port`, or a multiaddr with or without /p2p/<peerId>: without one, the
   * id is learnt from the Noise handshake.
   */
  async dial(address: string, options: { timeoutMs?: number } = {}): Promise<string> {
    this.assertRunning();
    const target = parseDialAddress(address);
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    const what = `dial ${address}`;
    const knownPeerId = target.getPeerId();
    if (knownPeerId !== null && this.dropsTrafficWith(knownPeerId)) return this.blackHole(timeoutMs, what);
    const deadline = this.deadline(timeoutMs);
    let connection: Connection;
    try {
      connection = await this.node.dial(target, { signal: deadline });
    } catch (err) {
      const error = this.classify(err, deadline, what, timeoutMs, undefined);
      const handshakeBroke = ['EncryptionFailedError', 'UnexpectedEOFError', 'InvalidCryptoExchangeError'].includes((err as Error).name);
      if (handshakeBroke && this.options.clusterKey === undefined) {
        error.message += ' (if that cluster uses a cluster key, -encrypt must be given the same key here)';
      }
      throw error;
    }
    return connection.remotePeer.toString();
  }

  /** Closes every connection to a peer. */
  async hangUp(peerId: string): Promise<void> {
    this.assertRunning();
    await this.node.hangUp(parsePeerId(peerId));
  }

  /** Round-trip time to a peer over libp2p ping, in milliseconds. */
  async ping(peerId: string, options: { timeoutMs?: number } = {}): Promise<number> {
    this.assertRunning();
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    if (this.dropsTrafficWith(peerId)) return this.blackHole(timeoutMs, `ping ${peerId}`);
    const deadline = this.deadline(timeoutMs);
    try {
      return await this.node.services.ping.ping(parsePeerId(peerId), { signal: deadline });
    } catch (err) {
      throw this.classify(err, deadline, `ping ${peerId}`, timeoutMs, undefined);
    }
  }

  /** Serves request/response on `protocol`. A protocol has one handler: unhandle() before replacing it. */
  async handle(protocol: string, handler: RequestHandler, options: HandleOptions = {}): Promise<void> {
    this.assertRunning();
    const limits = {
      maxMessageBytes: options.maxMessageBytes ?? this.options.maxMessageBytes,
      timeoutMs: options.timeoutMs ?? this.options.requestTimeoutMs,
    };
    const maxConcurrentStreams = options.maxConcurrentStreams ?? this.options.maxConcurrentStreams;
    await this.node.handle(protocol, ({ stream, connection }) => {
      void this.serveRequest(stream, connection.remotePeer.toString(), protocol, handler, limits);
    }, { maxInboundStreams: maxConcurrentStreams, maxOutboundStreams: maxConcurrentStreams });
  }

  /** Accepts long-lived streams on `protocol` (the handler owns each stream). */
  async handleStream(protocol: string, handler: StreamHandler, options: { maxMessageBytes?: number; maxConcurrentStreams?: number } = {}): Promise<void> {
    this.assertRunning();
    const maxMessageBytes = options.maxMessageBytes ?? this.options.maxMessageBytes;
    const maxConcurrentStreams = options.maxConcurrentStreams ?? this.options.maxConcurrentStreams;
    await this.node.handle(protocol, ({ stream, connection }) => {
      const framed = this.frame(stream, connection.remotePeer.toString(), protocol, maxMessageBytes);
      Promise.resolve()
        .then(() => handler(framed))
        .catch((err: unknown) => framed.abort(err instanceof Error ? err : new Error(String(err))));
    }, { maxInboundStreams: maxConcurrentStreams, maxOutboundStreams: maxConcurrentStreams });
  }

  /** Stops serving `protocol` (request or stream handler). */
  async unhandle(protocol: string): Promise<void> {
    if (this.stopping !== undefined) return;
    await this.node.unhandle(protocol);
  }

  /**
   * One request, one response, over a fresh stream. Errors: MeshUnreachableError,
   * MeshTimeoutError, MeshProtocolRefusedError, MeshMessageTooLargeError (either side's
   * limit), MeshRemoteError (the handler threw), MeshStoppedError, MeshAddressError.
   */
  async request(peerId: string, protocol: string, request: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    this.assertRunning();
    const target = parsePeerId(peerId);
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    const maxMessageBytes = options.maxMessageBytes ?? this.options.maxMessageBytes;
    const what = `request ${protocol} to ${peerId}`;
    if (request.length > maxMessageBytes) throw tooLarge('request', request.length, maxMessageBytes, protocol);
    if (this.dropsTrafficWith(peerId)) return this.blackHole(timeoutMs, what);

    const deadline = this.deadline(timeoutMs);
    let stream: Stream;
    try {
      stream = await this.node.dialProtocol(target, protocol, { signal: deadline, maxOutboundStreams: this.options.maxConcurrentStreams });
    } catch (err) {
      throw this.classify(err, deadline, what, timeoutMs, protocol);
    }
    const onDeadline = () => stream.abort(new MeshTimeoutError(`${what}: no answer within ${timeoutMs} ms`));
    deadline.addEventListener('abort', onDeadline, { once: true });
    try {
      await writeSingleFrame(stream, request);
      const frame = await readSingleFrame(stream, envelopeLimit(maxMessageBytes), protocol, peerId);
      if (frame === undefined) throw new MeshUnreachableError(`${what}: the peer closed the stream without answering`);
      if (this.dropsTrafficWith(peerId)) {
        await waitForAbort(deadline); // the answer arrived, but the fault switch loses it
        throw new MeshTimeoutError(`${what}: no answer within ${timeoutMs} ms`);
      }
      return openEnvelope(frame, what, timeoutMs);
    } catch (err) {
      throw this.classify(err, deadline, what, timeoutMs, protocol);
    } finally {
      deadline.removeEventListener('abort', onDeadline);
      closeQuietly(stream);
    }
  }

  /** Opens a long-lived length-prefixed stream (see stream.ts). */
  async openStream(peerId: string, protocol: string, options: OpenStreamOptions = {}): Promise<MeshStream> {
    this.assertRunning();
    const target = parsePeerId(peerId);
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    const what = `open ${protocol} stream to ${peerId}`;
    if (this.dropsTrafficWith(peerId)) return this.blackHole(timeoutMs, what);
    const deadline = this.deadline(timeoutMs);
    try {
      const stream = await this.node.dialProtocol(target, protocol, { signal: deadline, maxOutboundStreams: this.options.maxConcurrentStreams });
      return this.frame(stream, peerId, protocol, options.maxMessageBytes ?? this.options.maxMessageBytes);
    } catch (err) {
      throw this.classify(err, deadline, what, timeoutMs, protocol);
    }
  }

  /**
   * Delivers every gossip message on `topic` from other nodes (not our own) to the listener,
   * with the originating peer id (signed: StrictSign). Returns the unsubscribe function.
   */
  subscribe(topic: string, listener: GossipListener): () => void {
    this.assertRunning();
    let listeners = this.topicListeners.get(topic);
    if (listeners === undefined) {
      listeners = new Set();
      this.topicListeners.set(topic, listeners);
      this.node.services.pubsub.topicValidators.set(topic, (_peer, message) => this.validateGossip(message));
      this.node.services.pubsub.subscribe(topic);
    }
    listeners.add(listener);
    return () => {
      const current = this.topicListeners.get(topic);
      if (current === undefined || !current.delete(listener) || current.size > 0) return;
      this.topicListeners.delete(topic);
      if (this.stopping !== undefined) return;
      this.node.services.pubsub.unsubscribe(topic);
      this.node.services.pubsub.topicValidators.delete(topic);
    };
  }

  /**
   * Publishes on a gossip topic; resolves with the number of peers it was sent to directly
   * (0 is fine: a lone node does not throw). Subscribing is not needed to publish.
   */
  async publish(topic: string, data: Uint8Array): Promise<number> {
    this.assertRunning();
    const maxBytes = this.options.gossip.maxMessageBytes;
    if (data.length > maxBytes) throw tooLarge('gossip message', data.length, maxBytes, `topic ${topic}`);
    const result = await this.node.services.pubsub.publish(topic, data);
    return result.recipients.length;
  }

  /** Peers known to be subscribed to a topic (learnt from their subscription announcements). */
  topicPeers(topic: string): string[] {
    return this.node.services.pubsub.getSubscribers(topic).map((peer) => peer.toString());
  }

  /** Closes every connection and stops listening. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping === undefined) {
      this.stopController.abort(new MeshStoppedError('the mesh is stopped'));
      this.topicListeners.clear();
      this.stopping = Promise.resolve(this.node.stop());
    }
    return this.stopping;
  }

  // -------------------------------------------------------------------------------------------

  private async serveRequest(stream: Stream, peerId: string, protocol: string, handler: RequestHandler,
    limits: { maxMessageBytes: number; timeoutMs: number }): Promise<void> {
    const deadline = this.deadline(limits.timeoutMs);
    try {
      if (this.dropsTrafficWith(peerId)) {
        // Silently ignore it, as if it never arrived; the requester times out.
        this.counters.faultDrops++;
        await waitForAbort(deadline);
        stream.abort(new MeshTimeoutError('dropped by the fault switch'));
        return;
      }
      let request: Uint8Array | undefined;
      try {
        request = await raceAbort(readSingleFrame(stream, limits.maxMessageBytes, protocol, peerId), deadline);
      } catch (err) {
        if (!(err instanceof MeshMessageTooLargeError)) throw err;
        this.counters.requestsRejectedTooLarge++;
        await writeSingleFrame(stream, envelope(STATUS_TOO_LARGE, `request exceeds the ${limits.maxMessageBytes}-byte limit of ${protocol} at ${this.peerId}`));
        await stream.close({ signal: deadline });
        return;
      }
      if (request === undefined) {
        stream.abort(new MeshUnreachableError('the requester closed the stream without a request'));
        return;
      }
      const reply = await this.runHandler(handler, request, { peerId, protocol, signal: deadline }, limits);
      await writeSingleFrame(stream, reply);
      await stream.close({ signal: deadline });
      this.counters.requestsServed++;
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Runs a handler within its deadline and turns the outcome into a response envelope. */
  private async runHandler(handler: RequestHandler, request: Uint8Array, context: RequestContext,
    limits: { maxMessageBytes: number; timeoutMs: number }): Promise<Uint8Array> {
    let response: Uint8Array;
    try {
      response = await raceAbort(Promise.resolve().then(() => handler(request, context)), context.signal);
    } catch (err) {
      if (context.signal.aborted && this.stopping === undefined) {
        this.counters.requestHandlerTimeouts++;
        return envelope(STATUS_TIMEOUT, `the ${context.protocol} handler at ${this.peerId} did not answer within ${limits.timeoutMs} ms`);
      }
      this.counters.requestHandlerErrors++;
      return envelope(STATUS_ERROR, `the ${context.protocol} handler at ${this.peerId} failed: ${describeError(err)}`);
    }
    if (!(response instanceof Uint8Array)) {
      this.counters.requestHandlerErrors++;
      return envelope(STATUS_ERROR, `the ${context.protocol} handler at ${this.peerId} returned no bytes`);
    }
    if (response.length > limits.maxMessageBytes) {
      this.counters.requestsRejectedTooLarge++;
      return envelope(STATUS_TOO_LARGE,
        `response of ${response.length} bytes exceeds the ${limits.maxMessageBytes}-byte limit of ${context.protocol} at ${this.peerId}`);
    }
    const framed = new Uint8Array(response.length + 1);
    framed[0] = STATUS_OK;
    framed.set(response, 1);
    return framed;
  }

  private frame(stream: Stream, peerId: string, protocol: string, maxMessageBytes: number): FramedStream {
    return new FramedStream(stream, {
      peerId,
      protocol,
      maxMessageBytes,
      maxQueuedBytes: this.options.maxStreamQueuedBytes,
      closeTimeoutMs: STREAM_CLOSE_TIMEOUT_MS,
      dropsTraffic: () => this.dropsTrafficWith(peerId),
    });
  }

  /** Oversized messages are rejected: not delivered, not forwarded, and their sender's score drops. */
  private validateGossip(message: Message): TopicValidatorResult {
    if (message.data.length <= this.options.gossip.maxMessageBytes) return TopicValidatorResult.Accept;
    this.counters.gossipMessagesTooLarge++;
    return TopicValidatorResult.Reject;
  }

  private deliverGossip(message: Message): void {
    const listeners = this.topicListeners.get(message.topic);
    if (listeners === undefined || message.type !== 'signed') return;
    const fromPeerId = message.from.toString();
    for (const listener of listeners) {
      try {
        listener(fromPeerId, message.data);
      } catch (err) {
        this.counters.subscriberErrors++;
        this.emit('subscriber:error', message.topic, err);
      }
    }
  }

  private dropsTrafficWith(peerId: string): boolean {
    const drops = this.options.faults?.dropsTrafficWith(peerId) ?? false;
    if (drops) this.counters.faultDrops++;
    return drops;
  }

  /** What a black hole looks like from here: nothing, then a timeout. */
  private async blackHole(timeoutMs: number, what: string): Promise<never> {
    await waitForAbort(this.deadline(timeoutMs));
    this.assertRunning();
    throw new MeshTimeoutError(`${what}: no answer within ${timeoutMs} ms`);
  }

  private deadline(timeoutMs: number): AbortSignal {
    return AbortSignal.any([AbortSignal.timeout(timeoutMs), this.stopController.signal]);
  }

  private assertRunning(): void {
    if (this.stopping !== undefined) throw new MeshStoppedError('the mesh is stopped');
  }

  /** Maps whatever libp2p threw to one of the mesh's typed errors. */
  private classify(err: unknown, deadline: AbortSignal, what: string, timeoutMs: number, protocol: string | undefined): MeshError {
    if (err instanceof MeshError && !(err instanceof MeshTimeoutError && this.stopping !== undefined)) return err;
    if (this.stopping !== undefined) return new MeshStoppedError(`${what}: the mesh is stopped`, { cause: err });
    const name = (err as Error | undefined)?.name;
    if (name === 'UnsupportedProtocolError') {
      return new MeshProtocolRefusedError(`${what}: the peer does not handle ${protocol ?? 'the protocol'}`, { cause: err });
    }
    if (name === 'TooManyOutboundProtocolStreamsError' || name === 'TooManyInboundProtocolStreamsError') {
      return new MeshOverloadedError(`${what}: ${describeError(err)} (maxConcurrentStreams)`, { cause: err });
    }
    if (deadline.aborted || name === 'TimeoutError' || name === 'AbortError') {
      return new MeshTimeoutError(`${what}: no answer within ${timeoutMs} ms`, { cause: err });
    }
    return new MeshUnreachableError(`${what}: ${describeError(err)}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

async function resolveOptions(options: MeshOptions): Promise<ResolvedOptions> {
  const gossip = { ...GOSSIP_PROFILE_LAN, ...options.gossip };
  const connections = { ...CONNECTION_PROFILE_LAN, ...options.connections };
  const resolved: ResolvedOptions = {
    privateKey: options.privateKey ?? await generateEd25519Key(),
    bind: options.bind,
    port: options.port ?? DEFAULT_MESH_PORT,
    advertise: options.advertise === undefined ? undefined : parseAdvertiseAddress(options.advertise),
    clusterKey: typeof options.clusterKey === 'string' ? parseClusterKey(options.clusterKey) : options.clusterKey,
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    maxStreamQueuedBytes: options.maxStreamQueuedBytes ?? DEFAULT_MAX_STREAM_QUEUED_BYTES,
    maxConcurrentStreams: options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    gossip,
    connections,
    faults: options.faults,
    agentVersion: options.agentVersion ?? 'tribune',
  };
  validateOptions(resolved);
  return resolved;
}

/** Every constraint between fields, checked in one place. */
function validateOptions(options: ResolvedOptions): void {
  const problems: string[] = [];
  listenMultiaddr(options.bind, options.port); // throws MeshAddressError on a bad bind or port
  const positive = {
    maxMessageBytes: options.maxMessageBytes, requestTimeoutMs: options.requestTimeoutMs,
    maxStreamQueuedBytes: options.maxStreamQueuedBytes, 'gossip.heartbeatIntervalMs': options.gossip.heartbeatIntervalMs,
    'gossip.seenTtlMs': options.gossip.seenTtlMs, 'gossip.maxMessageBytes': options.gossip.maxMessageBytes,
    maxConcurrentStreams: options.maxConcurrentStreams,
    'gossip.D': options.gossip.D, 'connections.maxConnections': options.connections.maxConnections,
    'connections.dialTimeoutMs': options.connections.dialTimeoutMs,
  };
  for (const [name, value] of Object.entries(positive)) {
    if (!Number.isFinite(value) || value <= 0) problems.push(`${name} must be a positive number, got ${value}`);
  }
  const { D, Dlo, Dhi, Dscore, Dout } = options.gossip;
  if (!(Dlo <= D && D <= Dhi)) problems.push(`gossip degrees need Dlo <= D <= Dhi, got ${Dlo}, ${D}, ${Dhi}`);
  if (Dscore > D) problems.push(`gossip Dscore (${Dscore}) must not exceed D (${D})`);
  if (!(Dout < Dlo && Dout <= D / 2)) problems.push(`gossip Dout (${Dout}) must be < Dlo (${Dlo}) and <= D/2`);
  if (options.maxStreamQueuedBytes < options.maxMessageBytes) {
    problems.push(`maxStreamQueuedBytes (${options.maxStreamQueuedBytes}) must hold at least one frame of maxMessageBytes (${options.maxMessageBytes})`);
  }
  if (problems.length > 0) throw new RangeError(`invalid mesh options: ${problems.join('; ')}`);
}

function gossipsubOptions(profile: GossipProfile): Partial<GossipsubOpts> {
  return {
    globalSignaturePolicy: 'StrictSign',
    // A lone node (dev mode, the first agent of a cluster) must be able to publish.
    allowPublishToZeroTopicPeers: true,
    // Only Tribune agents speak on this network: no floodsub fallback, no peer exchange.
    fallbackToFloodsub: false,
    doPX: false,
    emitSelf: false,
    D: profile.D,
    Dlo: profile.Dlo,
    Dhi: profile.Dhi,
    Dscore: profile.Dscore,
    Dout: profile.Dout,
    Dlazy: profile.Dlazy,
    heartbeatInterval: profile.heartbeatIntervalMs,
    floodPublish: profile.floodPublish,
    seenTTL: profile.seenTtlMs,
    // Bounds on whole RPC frames, which carry several messages (an IWANT answer) plus control
    // lists: a frame over the inbound bound kills that peer's gossip stream, so it is generous;
    // the per-message limit is enforced by publish() and the topic validator instead.
    maxInboundDataLength: Math.max(GOSSIP_RPC_MIN_FRAME_BYTES, 4 * profile.maxMessageBytes),
    // What may queue for one slow peer before further RPCs to it are dropped (default: unbounded).
    maxOutboundBufferSize: Math.max(GOSSIP_RPC_MIN_FRAME_BYTES, 16 * profile.maxMessageBytes),
    // Peer scoring penalises more than 10 peers behind one IP, the anti-Sybil rule of an open
    // network. Here every peer holds the cluster key, and tests run many agents per address.
    scoreParams: { IPColocationFactorWeight: 0 },
  };
}

/** Rewrites the announced addresses to the advertise host (and port, when one is given). */
function advertiseFilter(advertise: AdvertiseAddress): (addresses: Multiaddr[]) => Multiaddr[] {
  return (addresses) => {
    const rewritten = new Map<string, Multiaddr>();
    for (const address of addresses) {
      const peerId = address.getPeerId();
      const announced = multiaddr(advertisedMultiaddr(advertise, address.toOptions().port) + (peerId === null ? '' : `/p2p/${peerId}`));
      rewritten.set(announced.toString(), announced);
    }
    return [...rewritten.values()];
  };
}

/**
 * Applies the fault switch to gossip: RPCs (messages and control) to a blocked peer are not
 * sent and RPCs from it are ignored. This wraps two methods of the GossipSub instance
 * (`sendRpc` is private in its types), which is acceptable for a test-only hook and is
 * installed only when a fault switch is given.
 */
function installGossipFaults(pubsub: PubSub<GossipsubEvents>, faults: MeshFaults, counters: MeshCounters): void {
  type Rpc = Parameters<GossipSub['handleReceivedRpc']>[1];
  const internals = pubsub as unknown as {
    sendRpc(id: string, rpc: Rpc): boolean;
    handleReceivedRpc(from: PeerId, rpc: Rpc): Promise<void>;
  };
  const sendRpc = internals.sendRpc.bind(internals);
  const handleReceivedRpc = internals.handleReceivedRpc.bind(internals);
  internals.sendRpc = (id, rpc) => {
    if (!faults.dropsTrafficWith(id)) return sendRpc(id, rpc);
    counters.faultDrops++;
    return true;
  };
  internals.handleReceivedRpc = async (from, rpc) => {
    if (!faults.dropsTrafficWith(from.toString())) return handleReceivedRpc(from, rpc);
    counters.faultDrops++;
  };
}

function parsePeerId(peerId: string): PeerId {
  try {
    return peerIdFromString(peerId);
  } catch (err) {
    throw new MeshAddressError(`invalid peer id ${JSON.stringify(peerId)}: ${describeError(err)}`, { cause: err });
  }
}

function envelope(status: number, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason).subarray(0, MAX_REASON_BYTES);
  const framed = new Uint8Array(text.length + 1);
  framed[0] = status;
  framed.set(text, 1);
  return framed;
}

/** A response frame holds a status byte plus the payload, or a reason of at most MAX_REASON_BYTES. */
function envelopeLimit(maxMessageBytes: number): number {
  return Math.max(maxMessageBytes, MAX_REASON_BYTES) + 1;
}

function openEnvelope(frame: Uint8Array, what: string, timeoutMs: number): Uint8Array {
  const payload = frame.subarray(1);
  const reason = () => new TextDecoder().decode(payload);
  switch (frame[0]) {
    case STATUS_OK: return payload;
    case STATUS_ERROR: throw new MeshRemoteError(`${what}: ${reason()}`);
    case STATUS_TOO_LARGE: throw new MeshMessageTooLargeError(`${what}: ${reason()}`);
    case STATUS_TIMEOUT: throw new MeshTimeoutError(`${what}: ${reason()} (our deadline ${timeoutMs} ms)`);
    default: throw new MeshRemoteError(`${what}: unknown response status ${frame[0]}`);
  }
}

function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function closeQuietly(stream: Stream): void {
  stream.close({ signal: AbortSignal.timeout(STREAM_CLOSE_TIMEOUT_MS) })
    .catch((err: Error) => stream.abort(err));
}

function describeError(err: unknown): string {
  if (err instanceof AggregateError) return err.errors.map(describeError).join('; ');
  if (err instanceof Error) return err.message;
  return String(err);
}

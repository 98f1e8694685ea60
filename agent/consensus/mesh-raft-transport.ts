// Raft messages over the mesh: one long-lived outbound stream per peer on
// `/tribune/raft/1.0.0`, length-prefixed frames (the mesh's FramedStream).
// Snapshots travel as the core's chunked Snapshot messages, so no frame is
// ever larger than a chunk plus headers.
//
// Frame: [cluster id length: u8][cluster id: UTF-8][raft message: protocol/raft-codec]
// The cluster id names one Raft group (datacenter + bootstrap); a frame from
// another group is dropped and counted, so two groups that formed by mistake
// can never mix their logs.
//
// Sending never blocks the Raft loop: each peer has a bounded queue; when it
// is full, or the peer cannot be reached, messages are dropped and the core is
// told the peer is unreachable (Raft retransmits what matters).

import type { Message } from '../../protocol/raft.ts';
import { decodeMessage, encodeMessage } from '../../protocol/raft-codec.ts';
import type { Mesh, MeshStream } from '../mesh/mesh.ts';
import type { RaftTransport } from './raft-runtime.ts';

export const RAFT_PROTOCOL = '/tribune/raft/1.0.0';

export type MeshRaftTransportOptions = {
  mesh: Mesh;
  /** Which Raft group this node belongs to; frames of another group are dropped. */
  clusterId: () => string;
  /** An address (host:port or multiaddr) to dial a peer that is not connected; from membership. */
  resolveAddress: (peerId: string) => string | undefined;
  /** Frames queued per peer before new ones are dropped. */
  maxQueuedFramesPerPeer?: number;
  /** Largest frame: a snapshot chunk (512 KiB by default) plus headers fits with room. */
  maxFrameBytes?: number;
  log?: (level: 'debug' | 'warn', message: string) => void;
};

export type RaftTransportCounters = {
  framesSent: number;
  framesReceived: number;
  framesDroppedQueueFull: number;
  framesDroppedUnreachable: number;
  framesRejectedUndecodable: number;
  framesRejectedOtherCluster: number;
};

type PeerChannel = {
  stream: MeshStream | null;
  opening: Promise<MeshStream | null> | null;
  queue: Uint8Array[];
  draining: boolean;
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class MeshRaftTransport implements RaftTransport {
  readonly counters: RaftTransportCounters = {
    framesSent: 0, framesReceived: 0, framesDroppedQueueFull: 0, framesDroppedUnreachable: 0,
    framesRejectedUndecodable: 0, framesRejectedOtherCluster: 0,
  };
  private readonly options: MeshRaftTransportOptions;
  private readonly channels = new Map<string, PeerChannel>();
  private handler: ((message: Message) => void) | null = null;
  private unreachableHandler: ((peer: string) => void) | null = null;
  private stopped = false;
  private readonly maxQueued: number;
  private readonly maxFrameBytes: number;

  constructor(options: MeshRaftTransportOptions) {
    this.options = options;
    this.maxQueued = options.maxQueuedFramesPerPeer ?? 4096;
    this.maxFrameBytes = options.maxFrameBytes ?? 8 * 1024 * 1024;
  }

  /** Accept inbound Raft streams. Call once after the mesh started. */
  async listen(): Promise<void> {
    await this.options.mesh.handleStream(RAFT_PROTOCOL, (stream) => this.readStream(stream), { maxMessageBytes: this.maxFrameBytes });
  }

  setHandler(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  setUnreachableHandler(handler: (peer: string) => void): void {
    this.unreachableHandler = handler;
  }

  send(messages: Message[]): void {
    if (this.stopped) return;
    const clusterId = encoder.encode(this.options.clusterId());
    for (const message of messages) {
      const body = encodeMessage(message);
      const frame = new Uint8Array(1 + clusterId.length + body.length);
      frame[0] = clusterId.length;
      frame.set(clusterId, 1);
      frame.set(body, 1 + clusterId.length);
      this.enqueue(message.to, frame);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const channel of this.channels.values()) {
      channel.queue = [];
      channel.stream?.abort();
    }
    this.channels.clear();
  }

  private enqueue(peer: string, frame: Uint8Array): void {
    let channel = this.channels.get(peer);
    if (!channel) {
      channel = { stream: null, opening: null, queue: [], draining: false };
      this.channels.set(peer, channel);
    }
    if (channel.queue.length >= this.maxQueued) {
      this.counters.framesDroppedQueueFull++;
      return;
    }
    channel.queue.push(frame);
    if (!channel.draining) void this.drain(peer, channel);
  }

  private async drain(peer: string, channel: PeerChannel): Promise<void> {
    channel.draining = true;
    try {
      while (channel.queue.length > 0 && !this.stopped) {
        const stream = await this.streamTo(peer, channel);
        if (!stream) {
          this.counters.framesDroppedUnreachable += channel.queue.length;
          channel.queue = [];
          this.unreachableHandler?.(peer);
          return;
        }
        const frame = channel.queue.shift()!;
        try {
          await stream.send(frame);
          this.counters.framesSent++;
        } catch (error) {
          this.options.log?.('debug', `raft stream to ${peer} failed: ${(error as Error).message}`);
          channel.stream = null;
          this.counters.framesDroppedUnreachable++;
          this.unreachableHandler?.(peer);
        }
      }
    } finally {
      channel.draining = false;
    }
  }

  private async streamTo(peer: string, channel: PeerChannel): Promise<MeshStream | null> {
    if (channel.stream) return channel.stream;
    if (!channel.opening) {
      channel.opening = (async () => {
        try {
          const mesh = this.options.mesh;
          if (!mesh.connectedPeers().includes(peer)) {
            const address = this.options.resolveAddress(peer);
            if (!address) return null;
            await mesh.dial(address, { timeoutMs: 2_000 });
          }
          const stream = await mesh.openStream(peer, RAFT_PROTOCOL, { timeoutMs: 2_000, maxMessageBytes: this.maxFrameBytes });
          channel.stream = stream;
          // Nothing is expected back on an outbound stream; reading notices its end.
          void (async () => {
            try {
              for await (const _ of stream) { /* ignore */ }
            } catch { /* closed */ }
            if (channel.stream === stream) channel.stream = null;
          })();
          return stream;
        } catch (error) {
          this.options.log?.('debug', `cannot open raft stream to ${peer}: ${(error as Error).message}`);
          return null;
        } finally {
          channel.opening = null;
        }
      })();
    }
    return channel.opening;
  }

  private async readStream(stream: MeshStream): Promise<void> {
    try {
      for await (const frame of stream) {
        this.receive(frame, stream.peerId);
      }
    } catch (error) {
      this.options.log?.('debug', `raft stream from ${stream.peerId} ended: ${(error as Error).message}`);
    }
  }

  private receive(frame: Uint8Array, fromPeer: string): void {
    if (frame.length < 1 || frame.length < 1 + frame[0]!) {
      this.counters.framesRejectedUndecodable++;
      return;
    }
    const clusterIdLength = frame[0]!;
    const clusterId = decoder.decode(frame.subarray(1, 1 + clusterIdLength));
    if (clusterId !== this.options.clusterId()) {
      this.counters.framesRejectedOtherCluster++;
      return;
    }
    let message: Message;
    try {
      // Copy: decoded byte fields are views into the frame, and the stream may reuse its buffer.
      message = decodeMessage(frame.slice(1 + clusterIdLength));
    } catch {
      this.counters.framesRejectedUndecodable++;
      return;
    }
    // The sender's authenticated peer id must be the message's claimed sender.
    if (message.from !== fromPeer) {
      this.counters.framesRejectedUndecodable++;
      return;
    }
    this.counters.framesReceived++;
    this.handler?.(message);
  }
}

// Length-prefixed framing over one libp2p stream: unsigned-varint length, then the bytes
// (it-length-prefixed). Two shapes are built on it:
//
// - FramedStream: a long-lived duplex of frames (Raft's AppendEntries pipeline, snapshot
//   chunks). `send` resolves once the frame is handed to the muxer, so awaiting it gives
//   backpressure; iterating the stream yields the peer's frames until it closes its side.
// - readSingleFrame / writeSingleFrame: one frame each way, for request/response.
//
// Every frame is bounded by maxMessageBytes on both sides: a sender refuses to send a larger
// one, and a receiver stops reading as soon as a length prefix announces one.

import * as lengthPrefixed from 'it-length-prefixed';
import type { Stream } from '@libp2p/interface';
import { MeshError, MeshMessageTooLargeError, MeshOverloadedError, MeshStreamClosedError } from './errors.ts';

/** A long-lived, length-prefixed, bidirectional stream to one peer. */
export interface MeshStream extends AsyncIterable<Uint8Array> {
  /** The peer at the other end. */
  readonly peerId: string;
  readonly protocol: string;
  /** 'outbound' if this side opened it. */
  readonly direction: 'inbound' | 'outbound';
  /**
   * Queues one frame. Resolves when the frame has been handed to the connection; rejects with
   * MeshMessageTooLargeError, MeshStreamClosedError, or MeshOverloadedError when the send
   * queue is over its bound (the peer is not reading: await sends to avoid that).
   */
  send(frame: Uint8Array): Promise<void>;
  /** Finishes sending what is queued, then closes both directions. */
  close(): Promise<void>;
  /** Closes at once (a reset for the peer); queued frames are dropped. */
  abort(reason?: Error): void;
}

export interface FramedStreamOptions {
  peerId: string;
  protocol: string;
  /** Frames over this size are refused when sending and end the stream when received. */
  maxMessageBytes: number;
  /** Bound of the send queue in bytes: a producer that never awaits cannot grow it forever. */
  maxQueuedBytes: number;
  /** The fault switch for this peer (tests): true means drop every frame, both ways. */
  dropsTraffic: () => boolean;
  /** How long `close` waits for the peer to acknowledge before resetting the stream. */
  closeTimeoutMs: number;
}

interface QueuedFrame {
  frame: Uint8Array;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class FramedStream implements MeshStream {
  readonly peerId: string;
  readonly protocol: string;
  readonly direction: 'inbound' | 'outbound';
  private readonly raw: Stream;
  private readonly options: FramedStreamOptions;
  private readonly queue: QueuedFrame[] = [];
  private queuedBytes = 0;
  private wakeWriter: (() => void) | undefined;
  private ending = false;
  private closedReason: Error | undefined;
  private iterated = false;

  constructor(raw: Stream, options: FramedStreamOptions) {
    this.raw = raw;
    this.options = options;
    this.peerId = options.peerId;
    this.protocol = options.protocol;
    this.direction = raw.direction;
    raw.sink(this.outgoingFrames()).catch((err: Error) => this.fail(err));
  }

  send(frame: Uint8Array): Promise<void> {
    if (this.closedReason !== undefined || this.ending) {
      return Promise.reject(new MeshStreamClosedError(`stream ${this.protocol} to ${this.peerId} is closed`,
        { cause: this.closedReason }));
    }
    if (frame.length > this.options.maxMessageBytes) {
      return Promise.reject(tooLarge('frame', frame.length, this.options.maxMessageBytes, this.protocol));
    }
    if (this.options.dropsTraffic()) return Promise.resolve(); // silently lost, like a cut cable
    if (this.queuedBytes + frame.length > this.options.maxQueuedBytes) {
      return Promise.reject(new MeshOverloadedError(
        `send queue of stream ${this.protocol} to ${this.peerId} is full ` +
        `(${this.queuedBytes} bytes queued, bound ${this.options.maxQueuedBytes}): await send() for backpressure`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ frame, resolve, reject });
      this.queuedBytes += frame.length;
      this.wake();
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new Error(`stream ${this.protocol} to ${this.peerId} can be iterated only once`);
    this.iterated = true;
    try {
      for await (const chunk of lengthPrefixed.decode(this.raw.source, { maxDataLength: this.options.maxMessageBytes })) {
        if (this.options.dropsTraffic()) continue;
        yield chunk.subarray();
      }
    } catch (err) {
      const mapped = mapReadError(err as Error, this.protocol, this.peerId, this.options.maxMessageBytes);
      this.abort(mapped);
      throw mapped;
    }
  }

  async close(): Promise<void> {
    if (this.closedReason !== undefined) return;
    this.ending = true;
    this.wake();
    try {
      await this.raw.close({ signal: AbortSignal.timeout(this.options.closeTimeoutMs) });
    } catch (err) {
      this.raw.abort(err as Error);
    }
    this.fail(new MeshStreamClosedError(`stream ${this.protocol} to ${this.peerId} was closed`));
  }

  abort(reason?: Error): void {
    const error = reason ?? new MeshStreamClosedError(`stream ${this.protocol} to ${this.peerId} was aborted`);
    this.fail(error);
    this.raw.abort(error);
  }

  private fail(reason: Error): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.ending = true;
    for (const queued of this.queue.splice(0)) queued.reject(new MeshStreamClosedError(
      `stream ${this.protocol} to ${this.peerId} closed before the frame was sent`, { cause: reason }));
    this.queuedBytes = 0;
    this.wake();
  }

  private wake(): void {
    const wakeWriter = this.wakeWriter;
    this.wakeWriter = undefined;
    wakeWriter?.();
  }

  /** The sink's source: frames in send order; ends after `close` once the queue is drained. */
  private async *outgoingFrames(): AsyncGenerator<Uint8Array> {
    while (this.closedReason === undefined) {
      const next = this.queue.shift();
      if (next === undefined) {
        if (this.ending) return;
        await new Promise<void>((resolve) => (this.wakeWriter = resolve));
        continue;
      }
      this.queuedBytes -= next.frame.length;
      yield lengthPrefixed.encode.single(next.frame).subarray();
      next.resolve(); // the sink asked for the next frame: this one is with the muxer
    }
  }
}

/** Writes one frame and closes the writing side. */
export async function writeSingleFrame(stream: Stream, frame: Uint8Array): Promise<void> {
  await stream.sink([lengthPrefixed.encode.single(frame)]);
}

/**
 * Reads exactly one frame; undefined if the peer closed without sending one. A length prefix
 * over maxMessageBytes throws MeshMessageTooLargeError before the body is read.
 */
export async function readSingleFrame(stream: Stream, maxMessageBytes: number, protocol: string, peerId: string): Promise<Uint8Array | undefined> {
  try {
    for await (const chunk of lengthPrefixed.decode(stream.source, { maxDataLength: maxMessageBytes })) {
      return chunk.subarray();
    }
    return undefined;
  } catch (err) {
    throw mapReadError(err as Error, protocol, peerId, maxMessageBytes);
  }
}

export function tooLarge(what: string, bytes: number, maxBytes: number, protocol: string): MeshMessageTooLargeError {
  return new MeshMessageTooLargeError(
    `${what} of ${bytes} bytes exceeds the ${maxBytes}-byte limit of ${protocol}`);
}

function mapReadError(err: Error, protocol: string, peerId: string, maxMessageBytes: number): Error {
  if (err instanceof MeshError) return err;
  if (err.name === 'InvalidDataLengthError') {
    return new MeshMessageTooLargeError(
      `peer ${peerId} sent a frame over the ${maxMessageBytes}-byte limit of ${protocol}`, { cause: err });
  }
  return new MeshStreamClosedError(`stream ${protocol} to ${peerId} broke: ${err.message}`, { cause: err });
}

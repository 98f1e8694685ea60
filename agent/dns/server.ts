// The agent's DNS interface: UDP and TCP on the client address, answering
// from the responder, forwarding names outside our domains to the recursors
// when there are any.
//
//   const dns = await startDnsServer({ host: '127.0.0.1', port: 8600, responder, recursors: [], log });
//   dig @127.0.0.1 -p 8600 web.service.consul SRV
//   await dns.close();
//
// Bounds, so that no client can make the server stall or grow: a TCP
// connection may hold at most one partial message (64 KiB) and 1 MiB of
// answers its client has not read, and idles out after 10 s; at most 256 TCP connections and 256 forwarded queries are open
// at once (more are refused or answered SERVFAIL). A packet that throws
// anywhere is counted and dropped, never allowed to reach the event loop.

import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';
import type { Server, Socket as TcpSocket } from 'node:net';
import type { Responder, Transport } from './responder.ts';
import { Rcode, errorResponse, parseQuery } from './wire.ts';

const TCP_IDLE_MS = 10_000;
const TCP_CONNECTIONS_MAX = 256;
const TCP_UNREAD_BYTES_MAX = 1024 * 1024;
const FORWARDS_IN_FLIGHT_MAX = 256;
const FORWARD_TIMEOUT_MS = 2_000;

export type DnsServerOptions = {
  host: string;
  /** 0 picks a free port (tests); the same port is used for UDP and TCP. */
  port: number;
  responder: Responder;
  /** `host` or `host:port` of upstream resolvers, tried in order. Empty: names outside our domains are REFUSED. */
  recursors: readonly string[];
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
};

export type DnsServer = {
  readonly port: number;
  /** Packets whose handling threw (a bug, logged once per kind); the server went on. */
  readonly internalErrors: number;
  close(): Promise<void>;
};

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const family = isIPv6(options.host) ? 'udp6' : 'udp4';
  let udp = createSocket({ type: family, recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
  const recursors = options.recursors.map(parseRecursor);
  const state = { internalErrors: 0, forwards: 0, closed: false };
  const loggedErrors = new Set<string>();
  const internalError = (error: unknown) => {
    state.internalErrors++;
    const message = (error as Error)?.stack ?? String(error);
    if (loggedErrors.size < 16 && !loggedErrors.has(message)) {
      loggedErrors.add(message);
      options.log('error', `DNS query handling failed (the query was dropped): ${message}`);
    }
  };

  const answer = (packet: Buffer, transport: Transport, send: (reply: Uint8Array) => void, waited = false): void => {
    let reply: Uint8Array | 'forward' | null | Promise<void>;
    try {
      reply = options.responder.respond(packet, transport);
    } catch (error) {
      internalError(error);
      return;
    }
    if (reply === null) return;
    if (reply instanceof Promise) {
      // The catalog is fetching what this name needs (an agent without a replica): answer once it has, SERVFAIL if it cannot.
      if (waited || state.forwards >= FORWARDS_IN_FLIGHT_MAX) {
        send(failure(packet, Rcode.SERVFAIL));
        return;
      }
      state.forwards++;
      const copy = Buffer.from(packet);
      withTimeout(reply, FORWARD_TIMEOUT_MS).then(() => answer(copy, transport, send, true), (error) => internalError(error)).finally(() => state.forwards--);
      return;
    }
    if (reply !== 'forward') {
      send(reply);
      return;
    }
    if (state.forwards >= FORWARDS_IN_FLIGHT_MAX || recursors.length === 0) {
      send(failure(packet, Rcode.SERVFAIL));
      return;
    }
    state.forwards++;
    forward(packet, recursors, family).then(
      (upstream) => send(upstream ?? failure(packet, Rcode.SERVFAIL)),
      (error) => internalError(error),
    ).finally(() => state.forwards--);
  };

  const listenUdp = () => udp.on('message', (packet: Buffer, remote: RemoteInfo) => {
    // The hot path: a cached answer goes straight back, without the closure the slower cases need.
    let reply: Uint8Array | 'forward' | null | Promise<void>;
    try {
      reply = options.responder.respond(packet, 'udp');
    } catch (error) {
      internalError(error);
      return;
    }
    if (reply instanceof Uint8Array) udp.send(reply, remote.port, remote.address);
    else if (reply !== null) answer(packet, 'udp', (later) => udp.send(later, remote.port, remote.address));
  }).on('error', (error) => options.log('warn', `DNS UDP socket: ${error.message}`));
  listenUdp();

  const connections = new Set<TcpSocket>();
  const tcp: Server = createServer({ allowHalfOpen: false, noDelay: true }, (socket) => {
    if (connections.size >= TCP_CONNECTIONS_MAX || state.closed) {
      socket.destroy();
      return;
    }
    connections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    readFrames(socket, (message) => answer(message, 'tcp', (reply) => {
      if (socket.destroyed) return;
      // A client that pipelines queries and never reads would make us buffer without end.
      if (socket.writableLength > TCP_UNREAD_BYTES_MAX) {
        socket.destroy();
        return;
      }
      const frame = Buffer.allocUnsafe(2 + reply.length);
      frame.writeUInt16BE(reply.length, 0);
      frame.set(reply, 2);
      socket.write(frame);
    }));
  });
  tcp.on('error', (error) => options.log('warn', `DNS TCP listener: ${error.message}`));

  // With port 0 the kernel picks a free UDP port, which TCP may have in use: pick again (a few times).
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(options.port, options.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    port = udp.address().port;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, options.host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      break;
    } catch (error) {
      const retry = options.port === 0 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10;
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (!retry) throw error;
      udp = createSocket({ type: family, recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
      listenUdp();
    }
  }

  return {
    port,
    get internalErrors() {
      return state.internalErrors;
    },
    async close() {
      if (state.closed) return;
      state.closed = true;
      for (const socket of connections) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}

function withTimeout(promise: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Length-prefixed messages (RFC 1035 §4.2.2) from a TCP stream, pipelined.
 * At most one partial message is buffered: the 2-byte length bounds it.
 */
function readFrames(socket: TcpSocket, onMessage: (message: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    // Each turn consumes at least 2 bytes, so this ends within pending.length / 2 turns.
    while (pending.length - at >= 2) {
      const length = pending.readUInt16BE(at);
      if (pending.length - at - 2 < length) break;
      const message = pending.subarray(at + 2, at + 2 + length);
      at += 2 + length;
      if (length === 0) continue;
      onMessage(message);
      if (socket.destroyed) return;
    }
    pending = at === 0 ? pending : Buffer.from(pending.subarray(at));
  });
}

/** SERVFAIL (or another rcode) for a packet, or nothing if it cannot carry an id. */
function failure(packet: Buffer, rcode: number): Uint8Array {
  const parsed = parseQuery(packet);
  const id = parsed.kind === 'drop' ? 0 : parsed.id;
  const recursionDesired = parsed.kind !== 'drop' && parsed.recursionDesired;
  return errorResponse(id, rcode, recursionDesired, true);
}

type Recursor = { host: string; port: number };

function parseRecursor(text: string): Recursor {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { host: bracketed[1]!, port: Number(bracketed[2] ?? 53) };
  const colon = text.lastIndexOf(':');
  if (colon > 0 && text.indexOf(':') === colon) return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
  return { host: text, port: 53 };
}

/**
 * Relay the query as it is to each recursor in turn, over UDP from a fresh
 * socket (so the source port is unpredictable), until one answers with the
 * same id; null if none does in time.
 */
async function forward(packet: Buffer, recursors: readonly Recursor[], family: 'udp4' | 'udp6'): Promise<Uint8Array | null> {
  const id = packet.readUInt16BE(0);
  for (const recursor of recursors) {
    const answer = await new Promise<Uint8Array | null>((resolve) => {
      const socket: Socket = createSocket(isIPv6(recursor.host) ? 'udp6' : family);
      let settled = false;
      const done = (value: Uint8Array | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.close();
        resolve(value);
      };
      const timer = setTimeout(() => done(null), FORWARD_TIMEOUT_MS);
      socket.on('error', () => done(null));
      socket.on('message', (message: Buffer, remote: RemoteInfo) => {
        if (remote.port !== recursor.port || message.length < 12 || message.readUInt16BE(0) !== id) return;
        done(message);
      });
      socket.send(packet, recursor.port, recursor.host, (error) => {
        if (error) done(null);
      });
    });
    if (answer !== null) return answer;
  }
  return null;
}

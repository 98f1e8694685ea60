// Typed errors of the mesh. Callers branch on the class (or on `code`, the same fact as a
// string literal): membership counts UNREACHABLE and TIMEOUT as a failed probe, the RPC
// client retries another server on UNREACHABLE, nobody retries MESSAGE_TOO_LARGE.

export type MeshErrorCode =
  | 'BAD_ADDRESS'        // a join address, multiaddr or peer id that cannot be parsed
  | 'UNREACHABLE'        // no connection could be made, or it broke mid-exchange
  | 'TIMEOUT'            // no answer within the deadline (a silent drop looks like this)
  | 'PROTOCOL_REFUSED'   // the peer is reachable but has no handler for the protocol
  | 'MESSAGE_TOO_LARGE'  // a frame over the size limit, ours or the peer's
  | 'REMOTE_ERROR'       // the peer's handler threw; its message is carried over
  | 'STREAM_CLOSED'      // a send on a stream that is closed or was aborted
  | 'OVERLOADED'         // a stream's send queue is full: the peer reads slower than we write
  | 'LISTEN_FAILED'      // the mesh could not listen on its bind address and port
  | 'STOPPED';           // the mesh was stopped

export class MeshError extends Error {
  override readonly name: string = 'MeshError';
  readonly code: MeshErrorCode;

  constructor(code: MeshErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export class MeshAddressError extends MeshError {
  override readonly name = 'MeshAddressError';
  constructor(message: string, options?: { cause?: unknown }) { super('BAD_ADDRESS', message, options); }
}

export class MeshUnreachableError extends MeshError {
  override readonly name = 'MeshUnreachableError';
  constructor(message: string, options?: { cause?: unknown }) { super('UNREACHABLE', message, options); }
}

export class MeshTimeoutError extends MeshError {
  override readonly name = 'MeshTimeoutError';
  constructor(message: string, options?: { cause?: unknown }) { super('TIMEOUT', message, options); }
}

export class MeshProtocolRefusedError extends MeshError {
  override readonly name = 'MeshProtocolRefusedError';
  constructor(message: string, options?: { cause?: unknown }) { super('PROTOCOL_REFUSED', message, options); }
}

export class MeshMessageTooLargeError extends MeshError {
  override readonly name = 'MeshMessageTooLargeError';
  constructor(message: string, options?: { cause?: unknown }) { super('MESSAGE_TOO_LARGE', message, options); }
}

export class MeshRemoteError extends MeshError {
  override readonly name = 'MeshRemoteError';
  constructor(message: string, options?: { cause?: unknown }) { super('REMOTE_ERROR', message, options); }
}

export class MeshStreamClosedError extends MeshError {
  override readonly name = 'MeshStreamClosedError';
  constructor(message: string, options?: { cause?: unknown }) { super('STREAM_CLOSED', message, options); }
}

export class MeshOverloadedError extends MeshError {
  override readonly name = 'MeshOverloadedError';
  constructor(message: string, options?: { cause?: unknown }) { super('OVERLOADED', message, options); }
}

export class MeshListenError extends MeshError {
  override readonly name = 'MeshListenError';
  constructor(message: string, options?: { cause?: unknown }) { super('LISTEN_FAILED', message, options); }
}

export class MeshStoppedError extends MeshError {
  override readonly name = 'MeshStoppedError';
  constructor(message: string, options?: { cause?: unknown }) { super('STOPPED', message, options); }
}

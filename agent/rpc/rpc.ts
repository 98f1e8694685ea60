// Agent-to-agent RPC over the mesh (`/tribune/rpc/1.0.0`). Requests and
// responses are defined in protocol/rpc.ts; handlers register per method.

import { DecodeError } from '../../protocol/errors.ts';
import { RPC_MAX_BYTES, RPC_PROTOCOL, decodeRpcRequest, decodeRpcResponse, encodeRpc } from '../../protocol/rpc.ts';
import type { RpcRequest, RpcResponse } from '../../protocol/rpc.ts';
import type { Mesh } from '../mesh/mesh.ts';

export type RpcMethod = RpcRequest['method'];
export type RpcHandler<M extends RpcMethod> = (request: Extract<RpcRequest, { method: M }>, fromPeer: string) => Promise<RpcResponse>;

/** An RPC the remote side answered with an error; `leaderHint` names where to retry. */
export class RpcError extends Error {
  override name = 'RpcError';
  readonly leaderHint: string | undefined;
  constructor(message: string, leaderHint?: string) {
    super(message);
    this.leaderHint = leaderHint;
  }
}

export class RpcServer {
  private readonly handlers = new Map<RpcMethod, (request: RpcRequest, from: string) => Promise<RpcResponse>>();
  /** Requests refused as undecodable, for `tribune info`. */
  rejected = 0;

  register<M extends RpcMethod>(method: M, handler: RpcHandler<M>): void {
    this.handlers.set(method, handler as (request: RpcRequest, from: string) => Promise<RpcResponse>);
  }

  async listen(mesh: Mesh): Promise<void> {
    await mesh.handle(RPC_PROTOCOL, async (bytes, context) => encodeRpc(await this.dispatch(bytes, context.peerId)), {
      maxMessageBytes: RPC_MAX_BYTES,
      timeoutMs: 30_000,
    });
  }

  private async dispatch(bytes: Uint8Array, from: string): Promise<RpcResponse> {
    let request: RpcRequest;
    try {
      request = decodeRpcRequest(bytes);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.rejected++;
      return { ok: false, error: error.message };
    }
    const handler = this.handlers.get(request.method);
    if (!handler) return { ok: false, error: `method ${request.method} is not served by this agent` };
    try {
      return await handler(request, from);
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  }
}

/** Call `peer`; resolves with the result or rejects with RpcError (remote refusal) or a MeshError (transport). */
export async function rpcCall(mesh: Mesh, peer: string, request: RpcRequest, timeoutMs = 10_000): Promise<unknown> {
  const bytes = await mesh.request(peer, RPC_PROTOCOL, encodeRpc(request), { timeoutMs, maxMessageBytes: RPC_MAX_BYTES });
  const response = decodeRpcResponse(bytes);
  if (!response.ok) throw new RpcError(response.error, response.leaderHint);
  return response.result;
}

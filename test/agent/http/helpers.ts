// Shared by the HTTP API tests: a fake AgentApi with a small three-node
// cluster in Consul's shapes, and a raw HTTP request helper that never throws
// for an HTTP answer (it reports status, headers and body).

import { request as httpRequest } from 'node:http';
import type { Agent, IncomingHttpHeaders } from 'node:http';
import { AgentApiError, MemberStatus } from '../../../agent/http/agent-api.ts';
import type { AgentApi, AgentSelf, ConsulMember, RaftConfiguration } from '../../../agent/http/agent-api.ts';

export function member(name: string, address: string, role: string, status: ConsulMember['Status'] = MemberStatus.Alive): ConsulMember {
  return {
    Name: name,
    Addr: address,
    Port: 8301,
    Tags: { role, dc: 'dc1', id: `12D3KooW${name}`, build: '0.1.0' },
    Status: status,
    ProtocolMin: 1,
    ProtocolMax: 1,
    ProtocolCur: 1,
    DelegateMin: 1,
    DelegateMax: 1,
    DelegateCur: 1,
  };
}

export const MEMBERS: ConsulMember[] = [
  member('node-a', '127.0.0.11', 'leader'),
  member('node-b', '127.0.0.12', 'voter'),
  member('node-c', '127.0.0.13', 'voter', MemberStatus.Failed),
];

export const RAFT_CONFIGURATION: RaftConfiguration = {
  Servers: [
    { ID: '12D3KooWnode-a', Node: 'node-a', Address: '127.0.0.11:8301', Leader: true, Voter: true, ProtocolVersion: '3' },
    { ID: '12D3KooWnode-b', Node: 'node-b', Address: '127.0.0.12:8301', Leader: false, Voter: true, ProtocolVersion: '3' },
    { ID: '12D3KooWnode-c', Node: 'node-c', Address: '127.0.0.13:8301', Leader: false, Voter: true, ProtocolVersion: '3' },
  ],
  Index: 7,
};

export const SELF: AgentSelf = {
  Config: { Datacenter: 'dc1', NodeName: 'node-a', NodeID: '12D3KooWnode-a', Server: true, Revision: 'abc123', Version: '0.1.0' },
  Member: MEMBERS[0]!,
  Stats: { agent: { dropped_messages: '0' }, raft: { state: 'Leader', commit_index: '42' } },
};

export type FakeAgentApi = AgentApi & {
  /** Every mutating call, in order: `join 127.0.0.12`, `leave`, `force-leave node-c prune=true`. */
  calls: string[];
  leaderAddress: string;
  hasLeader: boolean;
  index: number;
};

/** A fake agent: node-a leading three voters; join fails for `unreachable…`, force-leave for unknown nodes. */
export function fakeAgentApi(): FakeAgentApi {
  const api: FakeAgentApi = {
    calls: [],
    leaderAddress: '127.0.0.11:8301',
    hasLeader: true,
    index: 42,
    self: () => SELF,
    members: () => MEMBERS,
    async join(address) {
      api.calls.push(`join ${address}`);
      if (address.startsWith('unreachable')) throw new Error(`dial ${address}: connection refused`);
    },
    async leave() {
      api.calls.push('leave');
    },
    async forceLeave(node, prune) {
      api.calls.push(`force-leave ${node} prune=${prune}`);
      if (!MEMBERS.some((m) => m.Name === node)) throw new AgentApiError(404, `No node found with name "${node}"`);
    },
    leader: () => (api.hasLeader ? api.leaderAddress : ''),
    peers: () => RAFT_CONFIGURATION.Servers.filter((s) => s.Voter).map((s) => s.Address),
    raftConfiguration: () => RAFT_CONFIGURATION,
    lastIndex: () => api.index,
    knownLeader: () => api.hasLeader,
    lastContactMs: () => (api.hasLeader ? 0 : 1500),
  };
  return api;
}

export type HttpAnswer = { status: number; headers: IncomingHttpHeaders; body: string };

export type RequestOptions = {
  body?: string | Buffer;
  headers?: Record<string, string | number>;
  agent?: Agent | false;
  /** Send the body chunked (no Content-Length). */
  chunked?: boolean;
};

/** One request to 127.0.0.1:port; resolves with the answer, rejects only when none came. */
export function send(port: number, method: string, path: string, options: RequestOptions = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    // Node frames a body chunked by default only for methods that usually have one; say it for GET and the rest.
    if (options.body !== undefined) {
      if (options.chunked) headers['Transfer-Encoding'] = 'chunked';
      else headers['Content-Length'] = Buffer.byteLength(options.body);
    }
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

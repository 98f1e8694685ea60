// What the HTTP API needs from the running agent, in Consul's JSON shapes.
// The agent runtime (agent/runtime/agent.ts) implements it; tests may fake it.
// Each method answers from local state; the implementation forwards to the
// Raft leader where a request needs it.

/** Consul's member Status codes (serf): 1 alive, 2 leaving, 3 left, 4 failed. */
export const MemberStatus = { None: 0, Alive: 1, Leaving: 2, Left: 3, Failed: 4 } as const;
export type MemberStatus = (typeof MemberStatus)[keyof typeof MemberStatus];

/** One member as `GET /v1/agent/members` returns it (Consul's shape). */
export type ConsulMember = {
  Name: string;
  Addr: string;
  Port: number;
  /** role ('voter' | 'leader' | 'learner' | 'client'), dc, id (peer id), build, … */
  Tags: Record<string, string>;
  Status: MemberStatus;
  ProtocolMin: number;
  ProtocolMax: number;
  ProtocolCur: number;
  DelegateMin: number;
  DelegateMax: number;
  DelegateCur: number;
};

/** `GET /v1/operator/raft/configuration` (Consul's shape). */
export type RaftConfiguration = {
  Servers: { ID: string; Node: string; Address: string; Leader: boolean; Voter: boolean; ProtocolVersion: string }[];
  Index: number;
};

export type AgentSelf = {
  Config: { Datacenter: string; NodeName: string; NodeID: string; Server: boolean; Revision: string; Version: string };
  Member: ConsulMember;
  /** Sections of string values, printed by `tribune info`: agent, raft, membership, mesh, runtime. */
  Stats: Record<string, Record<string, string>>;
};

/** Thrown by AgentApi methods for a request that cannot be served; the HTTP layer maps it to a status. */
export class AgentApiError extends Error {
  override name = 'AgentApiError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface AgentApi {
  self(): AgentSelf;
  /** `?wan=1` is accepted and answers the same (one datacenter for now). */
  members(): ConsulMember[];
  /** Join through an address: host, host:port or multiaddr. Rejects with a message if unreachable. */
  join(address: string): Promise<void>;
  /** Leave gracefully, then the agent stops. */
  leave(): Promise<void>;
  /** Mark a failed member left (`prune`: forget it at once). */
  forceLeave(node: string, prune: boolean): Promise<void>;
  /** `host:port` of the Raft leader's mesh address, or '' when there is none. */
  leader(): string;
  /** `host:port` of every Raft voter. */
  peers(): string[];
  /** May be asynchronous: an agent that is not a Raft member asks one. */
  raftConfiguration(): RaftConfiguration | Promise<RaftConfiguration>;
  /** The Raft index the local replica has applied (X-Consul-Index). */
  lastIndex(): number;
  /** Whether a leader is known (X-Consul-KnownLeader). */
  knownLeader(): boolean;
  /** Milliseconds since the local replica last heard from the leader (X-Consul-LastContact); 0 on the leader. */
  lastContactMs(): number;
}

// The agent's DNS interface, assembled from its configuration: which
// catalog answers (the local replica, or a watched copy fetched from a Raft
// member on an agent without one), the answer options, the responder and the
// UDP/TCP server.
//
//   const dns = await startAgentDns({ config, state: agent.stateMachine, agent, log: log.named('dns') });
//   dns.port; await dns.close();

import type { AgentConfig } from '../config/agent-config.ts';
import type { ApiRequest, Reply } from '../http/router.ts';
import type { StateMachine } from '../state/state-machine.ts';
import type { Scope } from '../state/watch-index.ts';
import type { AnswerOptions, DnsCatalog } from './answers.ts';
import { LocalCatalog } from './local-catalog.ts';
import type { Lookup } from './names.ts';
import { RemoteCatalog } from './remote-catalog.ts';
import { Responder } from './responder.ts';
import { startDnsServer } from './server.ts';
import type { DnsServer } from './server.ts';

/** What DNS needs from the running agent. */
export type DnsAgent = {
  /** True when this agent holds a replica of the state (a Raft voter or learner). */
  hasReplica(): boolean;
  knownLeader(): boolean;
  /** Send an HTTP API request to a Raft member (agent/http/forwarding.ts). */
  forward(request: ApiRequest): Promise<Reply>;
};

export type AgentDns = DnsServer & { readonly responder: Responder };

export async function startAgentDns(input: {
  config: AgentConfig;
  state: Pick<StateMachine, 'indexFor' | 'catalogView' | 'catalogServices'>;
  agent: DnsAgent;
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}): Promise<AgentDns> {
  const { config, agent, log } = input;
  const local = new LocalCatalog(input.state);
  const remote = new RemoteCatalog({ fetch: (path, index, signal) => fetchFromMember(agent, path, index, signal), log });
  const catalog = new ReplicaOrRemote(local, remote, () => agent.hasReplica());
  const responder = new Responder({
    catalog,
    answers: answerOptions(config),
    domains: [config.domain, ...(config.altDomain ? [config.altDomain] : [])],
    answerable: config.dnsConfig.allowStale ? undefined : () => agent.knownLeader(),
  });
  let server: DnsServer;
  try {
    server = await startDnsServer({ host: config.clientAddr, port: config.dnsPort, responder, recursors: config.recursors, log });
  } catch (error) {
    remote.close();
    throw error;
  }
  return {
    responder,
    get port() {
      return server.port;
    },
    get internalErrors() {
      return server.internalErrors;
    },
    async close() {
      remote.close();
      await server.close();
    },
  };
}

export function answerOptions(config: AgentConfig): AnswerOptions {
  const serviceTtlSeconds = new Map<string, number>();
  for (const [name, ttlMs] of Object.entries(config.dnsConfig.serviceTtlMs)) serviceTtlSeconds.set(name.toLowerCase(), Math.floor(ttlMs / 1000));
  return {
    datacenter: config.datacenter,
    domain: config.domain,
    nodeTtlSeconds: Math.floor(config.dnsConfig.nodeTtlMs / 1000),
    serviceTtlSeconds,
    onlyPassing: config.dnsConfig.onlyPassing,
    recursors: config.recursors.length > 0,
    soaSerial: Math.floor(Date.now() / 1000),
  };
}

/** The local replica when this agent has one; otherwise the watched remote copy. Checked per call: an agent may become a learner while running. */
class ReplicaOrRemote implements DnsCatalog {
  readonly servicesScope: Scope;
  readonly nodesScope: Scope;
  private readonly local: LocalCatalog;
  private readonly remote: RemoteCatalog;
  private readonly hasReplica: () => boolean;

  constructor(local: LocalCatalog, remote: RemoteCatalog, hasReplica: () => boolean) {
    this.local = local;
    this.remote = remote;
    this.hasReplica = hasReplica;
    this.servicesScope = local.servicesScope;
    this.nodesScope = local.nodesScope;
  }

  private get current(): DnsCatalog {
    return this.hasReplica() ? this.local : this.remote;
  }

  indexOf(scope: Scope) {
    return this.current.indexOf(scope);
  }

  serviceInstances(name: string, tag: string) {
    return this.current.serviceInstances(name, tag);
  }

  node(name: string) {
    return this.current.node(name);
  }

  nodesWithAddress(address: string) {
    return this.current.nodesWithAddress(address);
  }

  prepare(lookup: Lookup) {
    return this.hasReplica() ? null : this.remote.prepare(lookup);
  }
}

async function fetchFromMember(agent: DnsAgent, path: string, index: number, signal: AbortSignal): Promise<{ index: number; json: unknown }> {
  const query = new URLSearchParams('stale');
  if (index > 0) {
    query.set('index', String(index));
    query.set('wait', '60s');
  }
  const request: ApiRequest = {
    method: 'GET', path, params: {}, query, headers: {}, token: undefined, body: Buffer.alloc(0),
    json: () => null, signal, remoteAddress: 'dns',
  };
  const reply = await agent.forward(request);
  if ((reply.status ?? 200) !== 200) throw new Error(`${path}: status ${reply.status}`);
  return { index: reply.meta?.index ?? 0, json: reply.json ?? null };
}

// `tribune agent`: wires identity, the mesh, membership, consensus, RPC, the
// replicated state and the HTTP API into one running agent.
//
//   const agent = await startAgent(config);   // config from agent/config/flags.ts
//   await agent.leave(); await agent.stop();
//
// Start-up order matters: the mesh must listen before membership announces
// us, RPC handlers must exist before anyone can ask us to bootstrap, and the
// HTTP API opens last, when every answer it gives is real.

import { mkdir } from 'node:fs/promises';
import { MemberState } from '../../protocol/membership.ts';
import type { Tags } from '../../protocol/membership.ts';
import type { AgentConfig, RunningAgent } from '../config/agent-config.ts';
import { Consensus } from '../consensus/consensus.ts';
import { AgentApiError, MemberStatus } from '../http/agent-api.ts';
import type { AgentApi, AgentSelf, ConsulMember, RaftConfiguration } from '../http/agent-api.ts';
import { startHttpServer } from '../http/server.ts';
import { registerAgentEndpoints } from '../http/agent-endpoints.ts';
import { registerKvEndpoints } from '../http/kv-endpoints.ts';
import { registerSnapshotEndpoints } from '../http/snapshot-endpoints.ts';
import { registerTxnEndpoints } from '../http/txn-endpoints.ts';
import { registerSessionEndpoints } from '../http/session-endpoints.ts';
import { registerEventEndpoints } from '../http/event-endpoints.ts';
import { EventBus } from '../events/event-bus.ts';
import { startAgentDns } from '../dns/dns.ts';
import type { AgentDns } from '../dns/dns.ts';
import { forwardedRequest, forwardingRouter, replyFromForwarded, serveForwarded } from '../http/forwarding.ts';
import type { HttpForwarder } from '../http/forwarding.ts';
import type { ForwardedHttpReply } from '../../protocol/rpc.ts';
import type { ApiRequest, Reply, Router } from '../http/router.ts';
import type { StateApi } from '../http/state-api.ts';
import type { ConsistencyMode } from '../http/blocking.ts';
import type { QueryMeta } from '../http/router.ts';
import { encodeStateCommand } from '../../protocol/state-commands.ts';
import type { StateCommand } from '../../protocol/state-commands.ts';
import { NotLeaderError, RaftError } from '../../raft/errors.ts';
import { MeshError } from '../mesh/errors.ts';
import { RpcError } from '../rpc/rpc.ts';
import { membershipConfig } from '../membership/config.ts';
import { MembershipAdapter } from '../membership/membership-adapter.ts';
import type { MemberView } from '../membership/membership-core.ts';
import { loadIdentity } from '../mesh/identity.ts';
import { createMesh } from '../mesh/mesh.ts';
import type { Mesh } from '../mesh/mesh.ts';
import { FaultSwitch } from '../mesh/faults.ts';
import { RpcServer, rpcCall } from '../rpc/rpc.ts';
import { StateMachine } from '../state/state-machine.ts';
import { createLogger } from './logger.ts';
import { HealthReconciler } from './health-reconciler.ts';
import { registerCatalogEndpoints } from '../http/catalog-endpoints.ts';
import { registerHealthEndpoints } from '../http/health-endpoints.ts';
import { registerAgentServiceEndpoints } from '../http/agent-service-endpoints.ts';
import { LocalAgent } from '../local/local-agent.ts';
import { stateCatalogReader } from '../local/catalog-reader.ts';
import { agentCatalogNode } from '../local/node-identity.ts';
import { SessionReaper } from './session-reaper.ts';
import type { Logger } from './logger.ts';

export const VERSION = '0.1.0';

/** Milliseconds per Raft tick: 10 election ticks make a 1–2 s election timeout. */
const RAFT_TICK_MS = 100;

export async function startAgent(config: AgentConfig): Promise<RunningAgent> {
  const agent = new Agent(config);
  await agent.start();
  return agent;
}

/** How long a write or a read barrier may wait for a quorum before the request fails. */
const QUORUM_WAIT_MS = 10_000;

/** A forwarded blocking query may wait up to Consul's 10 minute maximum, plus slack. */
const FORWARDED_BLOCKING_TIMEOUT_MS = 11 * 60_000;
const FORWARDED_TIMEOUT_MS = 30_000;

export class Agent implements RunningAgent, AgentApi, StateApi, HttpForwarder {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly done: Promise<void>;
  readonly faults = new FaultSwitch();
  private resolveDone!: () => void;
  private rejectDone!: (error: Error) => void;
  private mesh!: Mesh;
  private membership!: MembershipAdapter;
  private consensus!: Consensus;
  private readonly rpc = new RpcServer();
  readonly stateMachine: StateMachine;
  private http: { port: number; router: Router; close(): Promise<void> } | null = null;
  private dns: AgentDns | null = null;
  private peerId = '';
  private address = '';
  private leaving = false;
  private stopping: Promise<void> | null = null;
  private retryJoinTimer: NodeJS.Timeout | null = null;
  private healthReconciler: HealthReconciler | null = null;
  /** This agent's own services and checks, kept in the catalog by anti-entropy. */
  local: LocalAgent | null = null;
  private sessionReaper: SessionReaper | null = null;
  /** User events (`tribune event`): gossiped, filtered here, the last 256 kept. */
  events: EventBus | null = null;
  private readonly startedAt = Date.now();

  constructor(config: AgentConfig) {
    this.config = config;
    this.log = createLogger(config.logLevel);
    this.stateMachine = new StateMachine();
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // `done` may never be awaited by a test; do not turn a fatal error into an unhandled rejection.
    this.done.catch(() => {});
  }

  async start(): Promise<void> {
    const config = this.config;
    if (config.dataDir) await mkdir(config.dataDir, { recursive: true });
    const identity = await loadIdentity({ dataDir: config.dev ? undefined : config.dataDir });
    this.peerId = identity.peerId;
    const advertise = config.advertiseAddr ?? (config.bindAddr === '0.0.0.0' ? '127.0.0.1' : config.bindAddr);
    this.log('info', `starting ${config.nodeName} (peer id ${identity.peerId}${identity.created ? ', new identity' : ''}) in ${config.datacenter}`);

    this.mesh = await createMesh({
      privateKey: identity.privateKey,
      bind: config.bindAddr,
      port: config.meshPort,
      advertise: `${advertise}:${config.meshPort}`,
      clusterKey: config.encrypt,
      faults: process.env.TRIBUNE_TEST_FAULT_SWITCH === '1' ? this.faults : undefined,
      agentVersion: `tribune/${VERSION}`,
    });
    this.address = `${advertise}:${this.mesh.port}`;
    this.log('info', `mesh listening on ${this.mesh.addresses.join(', ')}`);

    this.membership = new MembershipAdapter({
      mesh: this.mesh,
      node: this.peerId,
      address: this.address,
      tags: this.tags(),
      config: membershipConfig('lan', config.membership),
      datacenter: config.datacenter,
      log: this.log.named('membership'),
    });
    this.membership.on('event', (event) => {
      const name = event.member.tags.name ?? event.member.node;
      const level = event.type === 'failed' || event.type === 'suspect' ? 'warn' : 'info';
      if (event.member.node !== this.peerId && event.type !== 'updated') this.log(level, `member ${name} (${event.member.address}) ${event.type}`);
    });

    this.consensus = new Consensus({
      mesh: this.mesh,
      membership: this.membership,
      rpc: this.rpc,
      selfId: this.peerId,
      datacenter: config.datacenter,
      dataDir: config.dev ? undefined : config.dataDir,
      bootstrapSelf: config.dev,
      bootstrapExpect: config.bootstrapExpect,
      raftVoters: config.raftVoters,
      stateMachine: this.stateMachine,
      tickMs: RAFT_TICK_MS,
      deadVoterStableMs: Number(process.env.TRIBUNE_AUTOPILOT_DEAD_MS ?? 10_000),
      log: this.log.named('raft'),
      onRoleChange: () => this.membership?.updateTags(this.tags()),
    });
    this.rpc.register('http', async (request, fromPeer) => {
      if (!this.http || !this.hasReplica()) return { ok: false, error: 'this agent cannot answer forwarded requests (no replica of the state)' };
      const timeoutMs = request.path.includes('index=') ? FORWARDED_BLOCKING_TIMEOUT_MS : FORWARDED_TIMEOUT_MS;
      return { ok: true, result: await serveForwarded(this.http.router, request, fromPeer, timeoutMs) };
    });
    await this.rpc.listen(this.mesh);
    await this.membership.start();
    await this.consensus.start();
    this.healthReconciler = new HealthReconciler({
      datacenter: config.datacenter,
      isLeader: () => this.consensus.runtime?.isLeader() ?? false,
      members: () => this.membership.members(),
      catalog: this.stateMachine.catalogView,
      apply: (command) => this.apply(command),
      barrier: () => this.readBarrier('consistent'),
      subscribe: (listener) => {
        const onEvent = (event: { type: string }) => { if (event.type !== 'suspect') listener(); };
        this.membership.on('event', onEvent);
        return () => this.membership.off('event', onEvent);
      },
      log: this.log.named('serf-health'),
    });
    this.healthReconciler.start();
    this.local = new LocalAgent({
      nodeName: config.nodeName,
      node: () => agentCatalogNode({ name: config.nodeName, peerId: this.peerId, meshAddress: this.address, datacenter: config.datacenter }),
      datacenter: config.datacenter,
      enableScriptChecks: config.enableScriptChecks,
      reader: stateCatalogReader(this),
      apply: (command) => this.apply(command),
      leaderId: () => this.consensus.leaderId(),
      log: this.log.named('local'),
    });
    await this.local.start(config.services, config.checks).catch(async (error: unknown) => {
      await this.stop();
      throw error;
    });
    const local = this.local;
    this.events = new EventBus({
      mesh: this.mesh,
      datacenter: config.datacenter,
      nodeName: config.nodeName,
      localServices: () => Object.values(local.services()).map((service) => ({ service: service.Service, tags: service.Tags ?? [] })),
      log: this.log.named('events'),
    });
    this.events.start();
    this.sessionReaper = new SessionReaper({
      state: this.stateMachine,
      isLeader: () => this.consensus.runtime?.isLeader() ?? false,
      propose: (command) => this.apply(command),
      now: Date.now,
      log: this.log.named('session-reaper'),
    });
    this.sessionReaper.start();

    if (config.join.length > 0) {
      const answered = await this.membership.join(config.join);
      if (answered === 0) {
        await this.stop();
        throw new Error(`could not join any of ${config.join.join(', ')}: none answered (use -retry-join if they are still starting)`);
      }
      this.log('info', `joined ${answered} of ${config.join.length} addresses`);
    }
    if (config.retryJoin.length > 0) this.retryJoin();

    if (config.httpPort >= 0) {
      this.http = await startHttpServer({
        api: this,
        host: config.clientAddr,
        port: config.httpPort,
        log: this.log.named('http'),
        routes: [
          registerAgentEndpoints,
          (router) => registerKvEndpoints(forwardingRouter(router, this), this),
          (router) => registerCatalogEndpoints(forwardingRouter(router, this), this, config.datacenter),
          (router) => registerHealthEndpoints(forwardingRouter(router, this), this, config.datacenter),
          (router) => registerAgentServiceEndpoints(router, this.local!),
          // Not through forwardingRouter: snapshots are larger than one agent RPC and forward in chunks.
          (router) => registerSnapshotEndpoints(router, {
            state: this,
            forwarder: this,
            isLeader: () => this.consensus.runtime?.isLeader() ?? false,
            raftTerm: () => this.consensus.runtime?.status().term ?? 0,
          }),
          (router) => registerTxnEndpoints(forwardingRouter(router, this), this),
          (router) => registerSessionEndpoints(router, this, { nodeName: this.config.nodeName, forwarder: this }),
          (router) => registerEventEndpoints(router, { events: this.events!, meta: (index) => ({ ...this.queryMeta(), index }) }),
        ],
      });
      this.log('info', `HTTP API on http://${config.clientAddr}:${this.http.port}`);
    }
    if (config.dnsPort >= 0) {
      this.dns = await startAgentDns({ config, state: this.stateMachine, agent: this, log: this.log.named('dns') });
      this.log('info', `DNS on ${config.clientAddr}:${this.dns.port} (UDP and TCP)`);
    }
    this.log('info', 'agent started');
  }

  private retryJoin(): void {
    const attempt = async () => {
      if (this.stopping) return;
      const answered = await this.membership.join(this.config.retryJoin);
      if (answered > 0) {
        this.log('info', `retry-join: joined through ${answered} of ${this.config.retryJoin.length} addresses`);
        return;
      }
      this.log('debug', `retry-join: no answer from ${this.config.retryJoin.join(', ')}; retrying in ${this.config.retryIntervalMs} ms`);
      this.retryJoinTimer = setTimeout(() => void attempt(), this.config.retryIntervalMs);
    };
    void attempt();
  }

  private tags(): Tags {
    const tags: Record<string, string> = {
      name: this.config.nodeName,
      dc: this.config.datacenter,
      role: this.consensus ? this.consensus.role() : 'client',
      vsn: '1',
      build: VERSION,
    };
    if (this.consensus?.clusterId) tags.raft = this.consensus.clusterId;
    return tags;
  }

  // ------------------------------------------------------------- lifecycle

  async leave(): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    this.log('info', 'leaving the cluster');
    try {
      await this.consensus.leave();
      await this.membership.leave(1_000);
    } catch (error) {
      this.log('warn', `leave: ${(error as Error).message}`);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.retryJoinTimer) clearTimeout(this.retryJoinTimer);
      try {
        await this.dns?.close();
        await this.http?.close();
        await this.healthReconciler?.stop();
        await this.local?.stop();
        this.sessionReaper?.stop();
        this.events?.stop();
        await this.consensus?.stop();
        await this.membership?.stop();
        await this.mesh?.stop();
        this.log('info', 'agent stopped');
        this.resolveDone();
      } catch (error) {
        this.rejectDone(error as Error);
        throw error;
      }
    })();
    return this.stopping;
  }

  // ------------------------------------------------------------- AgentApi

  self(): AgentSelf {
    const raft = this.consensus.runtime?.status();
    const members = this.membership.members();
    const count = (state: number) => members.filter((m) => m.state === state).length;
    return {
      Config: {
        Datacenter: this.config.datacenter,
        NodeName: this.config.nodeName,
        NodeID: this.peerId,
        Server: this.consensus.role() !== 'client',
        Revision: '',
        Version: VERSION,
      },
      Member: this.toConsulMember(this.membership.member(this.peerId)!),
      Stats: {
        agent: {
          node_name: this.config.nodeName,
          peer_id: this.peerId,
          datacenter: this.config.datacenter,
          uptime_seconds: String(Math.round((Date.now() - this.startedAt) / 1000)),
        },
        raft: {
          role: this.consensus.role(),
          cluster_id: this.consensus.clusterId ?? '',
          state: raft?.role ?? 'none',
          term: String(raft?.term ?? 0),
          leader: this.leader(),
          commit_index: String(raft?.commit ?? 0),
          applied_index: String(raft?.applied ?? 0),
          last_log_index: String(raft?.lastIndex ?? 0),
          num_voters: String(raft?.conf.voters.length ?? 0),
          frames_rejected_other_cluster: String(this.consensus.transport.counters.framesRejectedOtherCluster),
          frames_rejected_undecodable: String(this.consensus.transport.counters.framesRejectedUndecodable),
        },
        membership: {
          members: String(members.length),
          alive: String(count(MemberState.Alive)),
          suspect: String(count(MemberState.Suspect)),
          failed: String(count(MemberState.Dead)),
          left: String(count(MemberState.Left)),
          health_score: String(this.membership.core.healthScore()),
          incarnation: String(this.membership.core.incarnation()),
          messages_undecodable: String(this.membership.counters.messagesUndecodable),
          sends_failed: String(this.membership.counters.sendsFailed),
        },
        rpc: { requests_rejected: String(this.rpc.rejected) },
        runtime: {
          node_version: process.version,
          rss_bytes: String(process.memoryUsage().rss),
        },
      },
    };
  }

  members(): ConsulMember[] {
    return this.membership.members().map((member) => this.toConsulMember(member));
  }

  private toConsulMember(member: MemberView): ConsulMember {
    const separator = member.address.lastIndexOf(':');
    const host = separator > 0 ? member.address.slice(0, separator) : member.address;
    const port = separator > 0 ? Number(member.address.slice(separator + 1)) : this.config.meshPort;
    let status: MemberStatus;
    if (member.node === this.peerId && this.leaving) status = MemberStatus.Leaving;
    else if (member.state === MemberState.Alive || member.state === MemberState.Suspect) status = MemberStatus.Alive;
    else if (member.state === MemberState.Left) status = MemberStatus.Left;
    else status = MemberStatus.Failed;
    return {
      Name: member.tags.name ?? member.node,
      Addr: host,
      Port: port,
      Tags: { ...member.tags, id: member.node },
      Status: status,
      ProtocolMin: 1,
      ProtocolMax: 1,
      ProtocolCur: 1,
      DelegateMin: 1,
      DelegateMax: 1,
      DelegateCur: 1,
    };
  }

  async join(address: string): Promise<void> {
    const answered = await this.membership.join([address]);
    if (answered === 0) throw new AgentApiError(500, `Failed to join ${address}: no agent answered there`);
  }

  async forceLeave(node: string, _prune: boolean): Promise<void> {
    const member = this.membership.members().find((m) => m.node === node || m.tags.name === node);
    if (!member) throw new AgentApiError(404, `No node named ${node}`);
    if (member.state === MemberState.Alive || member.state === MemberState.Suspect) {
      throw new AgentApiError(400, `${node} is alive; force-leave only removes a failed node (ask it to leave instead)`);
    }
    this.membership.forceLeave(member.node);
  }

  leader(): string {
    const leaderId = this.consensus.leaderId();
    if (!leaderId) return '';
    return leaderId === this.peerId ? this.address : (this.membership.member(leaderId)?.address ?? '');
  }

  peers(): string[] {
    const voters = this.consensus.runtime?.status().conf.voters
      ?? this.membership.aliveMembers().filter((m) => m.tags.role === 'voter' || m.tags.role === 'leader').map((m) => m.node);
    return voters.map((id) => (id === this.peerId ? this.address : (this.membership.member(id)?.address ?? ''))).filter(Boolean);
  }

  async raftConfiguration(): Promise<RaftConfiguration> {
    const status = this.consensus.runtime?.status();
    if (!status) {
      // Not a Raft member: ask the leader, as a Consul client agent asks a server.
      const request = { method: 'GET', path: '/v1/operator/raft/configuration', query: new URLSearchParams(), body: Buffer.alloc(0) } as ApiRequest;
      return (await this.forward(request)).json as RaftConfiguration;
    }
    const leaderId = this.consensus.leaderId();
    const server = (id: string, voter: boolean) => {
      const member = id === this.peerId ? undefined : this.membership.member(id);
      return {
        ID: id,
        Node: id === this.peerId ? this.config.nodeName : (member?.tags.name ?? id),
        Address: id === this.peerId ? this.address : (member?.address ?? ''),
        Leader: id === leaderId,
        Voter: voter,
        ProtocolVersion: '3',
      };
    };
    return {
      Servers: [...status.conf.voters.map((id) => server(id, true)), ...status.conf.learners.map((id) => server(id, false))],
      Index: status.applied,
    };
  }

  lastIndex(): number {
    return this.consensus.runtime?.applied ?? 0;
  }

  knownLeader(): boolean {
    return this.consensus.leaderId() !== '';
  }

  lastContactMs(): number {
    return 0;
  }

  // ------------------------------------------------------------- forwarding

  hasReplica(): boolean {
    return this.consensus.runtime !== null;
  }

  async forward(request: ApiRequest): Promise<Reply> {
    // ?stale may be answered by any replica, spreading reads; everything else by the leader.
    const replicas = this.membership.aliveMembers().filter((m) => m.tags.role === 'voter' || m.tags.role === 'leader' || m.tags.role === 'learner');
    const target = request.query.has('stale') && replicas.length > 0
      ? replicas[Math.floor(Math.random() * replicas.length)]!.node
      : this.consensus.leaderId();
    if (!target) throw new AgentApiError(500, 'No cluster leader');
    const timeoutMs = request.query.has('index') ? FORWARDED_BLOCKING_TIMEOUT_MS : FORWARDED_TIMEOUT_MS;
    try {
      const answer = await rpcCall(this.mesh, target, forwardedRequest(request), timeoutMs) as ForwardedHttpReply;
      return replyFromForwarded(answer);
    } catch (error) {
      if (error instanceof RpcError || error instanceof MeshError) throw new AgentApiError(500, `Cannot forward to the Raft leader: ${error.message}`);
      throw error;
    }
  }

  // ------------------------------------------------------------- StateApi

  get state(): StateMachine {
    return this.stateMachine;
  }

  queryMeta(): QueryMeta {
    return { index: Math.max(1, this.lastIndex()), knownLeader: this.knownLeader(), lastContactMs: this.lastContactMs() };
  }

  async readBarrier(mode: ConsistencyMode): Promise<QueryMeta> {
    if (mode !== 'stale') {
      const runtime = this.consensus.runtime;
      if (!runtime) throw new AgentApiError(500, 'This agent holds no replica of the state yet; retry with ?stale or ask a Raft member');
      await this.withQuorumDeadline(runtime.read(mode === 'consistent' ? 'safe' : 'lease'), 'confirm the read');
    }
    return this.queryMeta();
  }

  async apply(command: StateCommand): Promise<unknown> {
    return this.withQuorumDeadline(this.consensus.propose(encodeStateCommand(command)), 'commit the write');
  }

  /** Map consensus failures to what an HTTP client should see: 500 with the reason, as Consul. */
  private async withQuorumDeadline<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AgentApiError(500, `Timed out after ${QUORUM_WAIT_MS} ms waiting to ${what}: is a majority of Raft voters reachable?`)), QUORUM_WAIT_MS);
    });
    try {
      return await Promise.race([work, deadline]);
    } catch (error) {
      if (error instanceof NotLeaderError) throw new AgentApiError(500, 'No cluster leader');
      if (error instanceof RaftError || error instanceof RpcError || error instanceof MeshError) throw new AgentApiError(500, `Cannot ${what}: ${error.message}`);
      throw error;
    } finally {
      clearTimeout(timer);
      work.catch(() => {});
    }
  }
}

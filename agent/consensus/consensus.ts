// Roles without servers: which agents run the datacenter's Raft group, how
// the group is founded exactly once, and how it keeps its voter count.
//
// Founding (`-bootstrap-expect N`). Once an agent sees N alive members and no
// member tagged as belonging to a Raft group, it computes the voters: the K
// alive members with the smallest peer ids (K = 3, or 5 from 5 members on,
// or -raft-voters). Only the smallest of them coordinates: it asks each voter
// to promise (bootstrapPrepare), and only when all promised does it tell them
// to found the group (bootstrapCommit). A voter promises one group at a time,
// so agents that briefly saw different member lists cannot found two groups;
// the loser aborts and retries with a fresher view. Every founder writes the
// same founding state (RaftNode.bootstrapState), so no log needs reconciling.
//
// Joining. An agent that sees a member tagged `raft=<cluster id>` never founds
// anything: it waits, and the leader's autopilot adds it when needed.
//
// Autopilot (on the leader, every second): a voter that membership reports
// failed or left for `deadVoterStableMs` is removed; while there are fewer
// voters than the target, a caught-up learner is promoted, or else the alive
// non-member with the smallest peer id is asked to start an empty Raft node
// (raftJoin) and is added as a learner. One membership change at a time.

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfChangeType, EMPTY_BYTES } from '../../protocol/raft.ts';
import { MemberState } from '../../protocol/membership.ts';
import type { RpcResponse } from '../../protocol/rpc.ts';
import { ProposalDroppedError } from '../../raft/errors.ts';
import { LevelStorage } from '../../raft/level-storage.ts';
import { RaftNode } from '../../raft/raft-core.ts';
import { InMemoryDurableStorage } from '../../raft/storage.ts';
import type { DurableStorage } from '../../raft/storage.ts';
import type { Mesh } from '../mesh/mesh.ts';
import type { MembershipAdapter } from '../membership/membership-adapter.ts';
import { RpcError, rpcCall } from '../rpc/rpc.ts';
import type { RpcServer } from '../rpc/rpc.ts';
import { MeshRaftTransport } from './mesh-raft-transport.ts';
import { RaftRuntime } from './raft-runtime.ts';
import type { ReplicatedStateMachine } from './raft-runtime.ts';

export type RaftRole = 'leader' | 'voter' | 'learner' | 'client';

export type ConsensusOptions = {
  mesh: Mesh;
  membership: MembershipAdapter;
  rpc: RpcServer;
  selfId: string;
  datacenter: string;
  /** Undefined in dev mode: in-memory Raft storage. */
  dataDir: string | undefined;
  /** Found a one-voter group at once (dev mode). */
  bootstrapSelf: boolean;
  bootstrapExpect: number | undefined;
  raftVoters: number | 'auto';
  stateMachine: ReplicatedStateMachine;
  /** Milliseconds per Raft tick. */
  tickMs: number;
  /** How long a voter must stay failed before autopilot replaces it. */
  deadVoterStableMs: number;
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
  /** Called when this agent's Raft role or the cluster id changes, to refresh its gossip tags. */
  onRoleChange: () => void;
};

const CLUSTER_FILE = 'raft-cluster.json';
/** How long a bootstrap promise binds a voter. */
const PROMISE_MS = 15_000;

export class Consensus {
  runtime: RaftRuntime | null = null;
  clusterId: string | null = null;
  readonly transport: MeshRaftTransport;
  private readonly options: ConsensusOptions;
  private durable: DurableStorage | null = null;
  private promise: { clusterId: string; expiresAtMs: number } | null = null;
  private bootstrapping = false;
  private starting: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private autopilotBusy = false;
  private lastRole: RaftRole = 'client';
  private stopped = false;
  /** Peer ids of members and their mesh addresses, from membership: how Raft dials a peer. */
  private addressOf: (peerId: string) => string | undefined;

  constructor(options: ConsensusOptions) {
    this.options = options;
    this.addressOf = (peerId) => options.membership.member(peerId)?.address;
    this.transport = new MeshRaftTransport({
      mesh: options.mesh,
      clusterId: () => this.clusterId ?? '',
      resolveAddress: (peerId) => this.addressOf(peerId),
      log: (level, message) => options.log(level, message),
    });
    const rpc = options.rpc;
    rpc.register('bootstrapPrepare', async (request) => this.onBootstrapPrepare(request.clusterId));
    rpc.register('bootstrapCommit', async (request) => this.onBootstrapCommit(request.clusterId, request.voters));
    rpc.register('bootstrapAbort', async (request) => {
      if (this.promise?.clusterId === request.clusterId) this.promise = null;
      return { ok: true, result: null };
    });
    rpc.register('raftJoin', async (request) => this.onRaftJoin(request.clusterId));
    rpc.register('propose', async (request) => {
      const runtime = this.runtime;
      if (!runtime || !runtime.isLeader()) return { ok: false, error: 'not the leader', leaderHint: this.leaderId() };
      const result = await runtime.propose(Buffer.from(request.data, 'base64'));
      return { ok: true, result: result ?? null };
    });
    rpc.register('readIndex', async (request) => {
      const runtime = this.runtime;
      if (!runtime || !runtime.isLeader()) return { ok: false, error: 'not the leader', leaderHint: this.leaderId() };
      return { ok: true, result: await runtime.read(request.mode) };
    });
  }

  async start(): Promise<void> {
    await this.transport.listen();
    const saved = await this.readClusterFile();
    if (saved) {
      this.options.log('info', `rejoining raft group ${saved.clusterId} from ${this.options.dataDir}`);
      await this.startRuntime(saved.clusterId, null);
    } else if (this.options.bootstrapSelf) {
      const clusterId = `${this.options.datacenter}-${this.options.selfId.slice(-12)}`;
      await this.startRuntime(clusterId, [this.options.selfId]);
      this.runtime?.campaign();
    }
    this.timer = setInterval(() => void this.periodic(), 500);
    this.timer.unref?.();
  }

  role(): RaftRole {
    const runtime = this.runtime;
    if (!runtime) return 'client';
    const status = runtime.status();
    if (status.role === 'leader') return 'leader';
    if (status.conf.voters.includes(this.options.selfId)) return 'voter';
    if (status.conf.learners.includes(this.options.selfId)) return 'learner';
    return 'client';
  }

  /** The leader's peer id as far as this agent knows: its own Raft state, else gossip tags. */
  leaderId(): string {
    const status = this.runtime?.status();
    if (status?.leader) return status.leader;
    for (const member of this.options.membership.aliveMembers()) if (member.tags.role === 'leader') return member.node;
    return '';
  }

  /** Replicate a state command: locally when leader, else forwarded to the leader. */
  async propose(data: Uint8Array): Promise<unknown> {
    const runtime = this.runtime;
    if (runtime?.isLeader()) return runtime.propose(data);
    const leader = this.leaderId();
    if (!leader) throw new ProposalDroppedError('no Raft leader is known (is a majority of voters reachable?)');
    return rpcCall(this.options.mesh, leader, { method: 'propose', data: Buffer.from(data).toString('base64') });
  }

  async leave(): Promise<void> {
    const runtime = this.runtime;
    if (!runtime?.isLeader()) return;
    // Hand leadership to another voter so writes do not wait for an election timeout.
    const other = runtime.status().conf.voters.find((id) => id !== this.options.selfId && this.isAlive(id));
    if (!other) return;
    runtime.transferLeadership(other);
    for (let i = 0; i < 20 && runtime.isLeader(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.starting;
    await this.runtime?.stop();
    await this.transport.stop();
    await this.durable?.close();
  }

  // ------------------------------------------------------------- founding

  private async periodic(): Promise<void> {
    if (this.stopped) return;
    try {
      this.refreshRole();
      if (!this.runtime) await this.maybeBootstrap();
      else if (this.runtime.isLeader()) await this.autopilot();
    } catch (error) {
      this.options.log('warn', `consensus: ${(error as Error).message}`);
    }
  }

  private refreshRole(): void {
    const role = this.role();
    if (role !== this.lastRole) {
      this.lastRole = role;
      this.options.onRoleChange();
    }
  }

  voterTarget(members: number): number {
    const configured = this.options.raftVoters;
    const target = configured === 'auto' ? (members >= 5 ? 5 : 3) : configured;
    return Math.max(1, Math.min(target, members));
  }

  private async maybeBootstrap(): Promise<void> {
    const expect = this.options.bootstrapExpect;
    if (expect === undefined || this.bootstrapping) return;
    const alive = this.options.membership.aliveMembers();
    if (alive.some((member) => member.tags.raft)) return; // a group exists: wait to be added
    if (alive.length < expect) return;
    const voters = alive.map((member) => member.node).sort().slice(0, this.voterTarget(alive.length));
    if (voters[0] !== this.options.selfId) return;
    const clusterId = `${this.options.datacenter}-${createHash('sha256').update(voters.join(',')).digest('hex').slice(0, 16)}`;
    this.bootstrapping = true;
    try {
      this.options.log('info', `bootstrapping raft group ${clusterId} with voters ${voters.join(', ')}`);
      const local = this.onBootstrapPrepare(clusterId);
      if (!local.ok) return;
      const others = voters.filter((id) => id !== this.options.selfId);
      const answers = await Promise.allSettled(others.map((peer) => rpcCall(this.options.mesh, peer, { method: 'bootstrapPrepare', clusterId, voters }, 3_000)));
      const refused = answers.flatMap((answer, i) => (answer.status === 'rejected' ? [`${others[i]}: ${(answer.reason as Error).message}`] : []));
      if (refused.length > 0) {
        this.options.log('info', `bootstrap of ${clusterId} aborted: ${refused.join('; ')}`);
        this.promise = null;
        await Promise.allSettled(others.map((peer) => rpcCall(this.options.mesh, peer, { method: 'bootstrapAbort', clusterId }, 3_000)));
        // Back off a random moment so two coordinators do not collide again.
        await new Promise((resolve) => setTimeout(resolve, 500 + Math.floor(Math.random() * 1_500)));
        return;
      }
      await Promise.allSettled(others.map((peer) => this.commitWithRetries(peer, clusterId, voters)));
      await this.onBootstrapCommit(clusterId, voters);
      this.runtime?.campaign();
    } finally {
      this.bootstrapping = false;
    }
  }

  private async commitWithRetries(peer: string, clusterId: string, voters: string[]): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await rpcCall(this.options.mesh, peer, { method: 'bootstrapCommit', clusterId, voters }, 3_000);
        return;
      } catch (error) {
        this.options.log('warn', `bootstrap commit to ${peer}: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private onBootstrapPrepare(clusterId: string): RpcResponse {
    if (this.runtime || this.starting) {
      return this.clusterId === clusterId ? { ok: true, result: null } : { ok: false, error: `already in raft group ${this.clusterId}` };
    }
    const now = Date.now();
    if (this.promise && this.promise.clusterId !== clusterId && this.promise.expiresAtMs > now) {
      return { ok: false, error: `promised to found raft group ${this.promise.clusterId}` };
    }
    this.promise = { clusterId, expiresAtMs: now + PROMISE_MS };
    return { ok: true, result: null };
  }

  private async onBootstrapCommit(clusterId: string, voters: string[]): Promise<RpcResponse> {
    if (this.clusterId === clusterId) return { ok: true, result: null };
    if (this.runtime || this.starting) return { ok: false, error: `already in raft group ${this.clusterId}` };
    if (this.promise?.clusterId !== clusterId) return { ok: false, error: `no promise for raft group ${clusterId}` };
    this.promise = null;
    await this.startRuntime(clusterId, voters);
    return { ok: true, result: null };
  }

  private async onRaftJoin(clusterId: string): Promise<RpcResponse> {
    if (this.clusterId === clusterId) return { ok: true, result: null };
    if (this.runtime || this.starting) return { ok: false, error: `already in raft group ${this.clusterId}` };
    this.options.log('info', `joining raft group ${clusterId} as a learner`);
    await this.startRuntime(clusterId, null);
    return { ok: true, result: null };
  }

  /** Open storage, write the founding state when founding, and start Raft. */
  private async startRuntime(clusterId: string, foundingVoters: string[] | null): Promise<void> {
    const work = (async () => {
      const durable = this.options.dataDir ? await LevelStorage.open(join(this.options.dataDir, 'raft')) : new InMemoryDurableStorage();
      if (foundingVoters) {
        const founding = RaftNode.bootstrapState(foundingVoters);
        const current = await durable.load();
        if (current.snapshot.metadata.index === 0 && current.entries.length === 0) {
          await durable.save({ hardState: founding.hardState, entries: [], snapshot: founding.snapshot });
        }
      }
      await this.writeClusterFile(clusterId);
      this.durable = durable;
      this.clusterId = clusterId;
      this.runtime = await RaftRuntime.start({
        id: this.options.selfId,
        durable,
        transport: this.transport,
        stateMachine: this.options.stateMachine,
        tickMs: this.options.tickMs,
        onSoftState: (leader, role) => {
          this.options.log('info', `raft: ${role}${leader ? `, leader ${leader}` : ', no leader'}`);
          this.refreshRole();
        },
        onFatalError: (error) => this.options.log('error', `raft stopped: ${error.message}`),
      });
      this.options.onRoleChange();
    })();
    this.starting = work;
    try {
      await work;
    } finally {
      this.starting = null;
    }
  }

  private async readClusterFile(): Promise<{ clusterId: string } | null> {
    if (!this.options.dataDir) return null;
    let text: string;
    try {
      text = await readFile(join(this.options.dataDir, CLUSTER_FILE), 'utf8');
    } catch {
      return null;
    }
    try {
      const value = JSON.parse(text) as { clusterId?: unknown; datacenter?: unknown };
      if (typeof value.clusterId !== 'string' || value.clusterId === '') throw new Error('no clusterId');
      if (value.datacenter !== this.options.datacenter) {
        throw new Error(`it belongs to datacenter ${String(value.datacenter)}, not ${this.options.datacenter}`);
      }
      return { clusterId: value.clusterId };
    } catch (error) {
      throw new Error(`${join(this.options.dataDir, CLUSTER_FILE)} is unusable: ${(error as Error).message}; move the data dir aside to start this agent afresh`);
    }
  }

  private async writeClusterFile(clusterId: string): Promise<void> {
    if (!this.options.dataDir) return;
    await mkdir(this.options.dataDir, { recursive: true });
    const path = join(this.options.dataDir, CLUSTER_FILE);
    await writeFile(`${path}.tmp`, JSON.stringify({ clusterId, datacenter: this.options.datacenter }) + '\n');
    await rename(`${path}.tmp`, path);
  }

  // ------------------------------------------------------------- autopilot

  private isAlive(peerId: string): boolean {
    if (peerId === this.options.selfId) return true;
    const member = this.options.membership.member(peerId);
    return member !== undefined && (member.state === MemberState.Alive || member.state === MemberState.Suspect);
  }

  private deadLongEnough(peerId: string): boolean {
    const member = this.options.membership.member(peerId);
    if (!member) return true;
    if (member.state !== MemberState.Dead && member.state !== MemberState.Left) return false;
    return this.options.membership.now() - member.stateChangedMs >= this.options.deadVoterStableMs;
  }

  private async autopilot(): Promise<void> {
    const runtime = this.runtime;
    if (!runtime || this.autopilotBusy || !this.clusterId) return;
    this.autopilotBusy = true;
    try {
      const status = runtime.status();
      const { voters, learners } = status.conf;
      const dead = [...voters, ...learners].find((id) => id !== this.options.selfId && this.deadLongEnough(id));
      if (dead) {
        this.options.log('info', `autopilot: removing ${dead}, failed for ${this.options.deadVoterStableMs} ms`);
        await this.change(ConfChangeType.RemoveNode, dead);
        return;
      }
      const aliveCount = this.options.membership.aliveMembers().length;
      const target = this.voterTarget(aliveCount);
      if (voters.length >= target) return;
      const caughtUp = learners.find((id) => this.isAlive(id) && (status.progress.get(id)?.match ?? 0) >= status.commit - 16);
      if (caughtUp) {
        this.options.log('info', `autopilot: promoting learner ${caughtUp} to voter (${voters.length} of ${target} voters)`);
        await this.change(ConfChangeType.AddVoter, caughtUp);
        return;
      }
      if (learners.some((id) => this.isAlive(id))) return; // a learner is still catching up
      const candidate = this.options.membership.aliveMembers()
        .map((member) => member.node)
        .filter((id) => !voters.includes(id) && !learners.includes(id))
        .sort()[0];
      if (!candidate) return;
      try {
        await rpcCall(this.options.mesh, candidate, { method: 'raftJoin', clusterId: this.clusterId }, 5_000);
      } catch (error) {
        this.options.log('debug', `autopilot: ${candidate} cannot join: ${(error as Error).message}`);
        return;
      }
      this.options.log('info', `autopilot: adding ${candidate} as a learner`);
      await this.change(ConfChangeType.AddLearner, candidate);
    } finally {
      this.autopilotBusy = false;
    }
  }

  private async change(type: ConfChangeType, nodeId: string): Promise<void> {
    try {
      await this.runtime?.proposeConfChange({ type, nodeId, context: EMPTY_BYTES });
    } catch (error) {
      if (error instanceof ProposalDroppedError || error instanceof RpcError) {
        this.options.log('debug', `autopilot: ${error.message}`);
        return;
      }
      throw error;
    }
  }
}

// The leader's serfHealth reconciler: gossip's view of every agent, written
// into the catalog as each node's `serfHealth` check, as Consul's leader
// does (agent/consul/leader.go: reconcileMember and reconcileReaped).
//
//   const reconciler = new HealthReconciler({ datacenter, isLeader, members, catalog, apply, subscribe, log });
//   reconciler.start();   // acts only while this agent is the Raft leader
//   await reconciler.stop();
//
// What a member's state becomes in the catalog:
//   alive, suspect  → its node registered, serfHealth passing "Agent alive and reachable"
//   failed          → serfHealth critical "Agent not live or unreachable" (nodeHealth: the
//                     state machine invalidates the node's sessions, locks go after lock-delay)
//   left            → its node deregistered with everything on it
//   gone (reaped)   → a catalog node that has a serfHealth check but no member any more is
//                     deregistered once it has been missing for `reapGraceMs`
//
// Nothing is remembered between passes: each pass compares the whole member
// list with the catalog and proposes only the differences, and every command
// sets a value rather than flipping one, so a pass may be repeated or
// interrupted at any point. That is what makes a change of leader safe: the
// new leader's first pass (after a read barrier, so that it sees everything
// committed) finds whatever transition the old leader did not get to write.
// A pass runs when this agent becomes leader, right after every membership
// event, every `reconcileIntervalMs`, and `retryMs` after a failed proposal.
//
// planReconcile() is the whole decision, a pure function of the member list
// and the catalog; the class only schedules it.

import { MemberState } from '../../protocol/membership.ts';
import { isRejection, SERF_HEALTH_CHECK_ID } from '../../protocol/state-commands.ts';
import type { CatalogCheck, StateCommand } from '../../protocol/state-commands.ts';
import type { MemberView } from '../membership/membership-core.ts';
import type { CheckRecord, NodeRecord } from '../state/catalog.ts';
import { agentCatalogNode, hostOfAddress } from '../local/node-identity.ts';

/** Consul's serfHealth check name and outputs, word for word (clients and UIs match on them). */
export const SERF_HEALTH_CHECK_NAME = 'Serf Health Status';
export const SERF_HEALTH_ALIVE_OUTPUT = 'Agent alive and reachable';
export const SERF_HEALTH_FAILED_OUTPUT = 'Agent not live or unreachable';

/** What the reconciler reads of the catalog (the leader's replica). */
export type ReconcilerCatalog = {
  node(name: string): NodeRecord | undefined;
  allNodes(): NodeRecord[];
  checkOf(node: string, checkId: string): CheckRecord | undefined;
};

export type MemberHealth = 'alive' | 'failed' | 'left';

/** One node name's membership, after merging members that share a name (an agent restarted with a new identity). */
export type ReconcileMember = { name: string; peerId: string; meshAddress: string; health: MemberHealth };

export type ReconcilePlan = {
  /** Commands that bring the catalog in line with the members, at most one per node. */
  commands: StateCommand[];
  /** Catalog nodes with a serfHealth check and no member: candidates for reaping (the caller applies the grace). */
  absent: string[];
};

/**
 * The members of `datacenter` by node name. Members without a name tag are
 * skipped (they cannot be named in the catalog). When several members share
 * a name, alive wins over failed over left: a restarted agent with a fresh
 * identity must not be marked failed because of its old tombstone.
 */
export function membersByName(members: readonly MemberView[], datacenter: string): Map<string, ReconcileMember> {
  const byName = new Map<string, ReconcileMember>();
  const rank: Record<MemberHealth, number> = { alive: 2, failed: 1, left: 0 };
  for (const member of members) {
    const name = member.tags.name;
    if (name === undefined || name === '') continue;
    if (member.tags.dc !== undefined && member.tags.dc !== datacenter) continue;
    const health: MemberHealth = member.state === MemberState.Alive || member.state === MemberState.Suspect ? 'alive'
      : member.state === MemberState.Dead ? 'failed' : 'left';
    const current = byName.get(name);
    if (current !== undefined && rank[current.health] >= rank[health]) continue;
    byName.set(name, { name, peerId: member.node, meshAddress: member.address, health });
  }
  return byName;
}

/** The differences between the members and the catalog, as commands. Pure: no clock but `nowMs`, no I/O. */
export function planReconcile(members: ReadonlyMap<string, ReconcileMember>, catalog: ReconcilerCatalog, datacenter: string, nowMs: number): ReconcilePlan {
  const commands: StateCommand[] = [];
  for (const member of members.values()) {
    const command = reconcileMember(member, catalog, datacenter, nowMs);
    if (command !== null) commands.push(command);
  }
  const absent: string[] = [];
  for (const node of catalog.allNodes()) {
    if (members.has(node.node)) continue;
    if (catalog.checkOf(node.node, SERF_HEALTH_CHECK_ID) !== undefined) absent.push(node.node);
  }
  return { commands, absent };
}

function reconcileMember(member: ReconcileMember, catalog: ReconcilerCatalog, datacenter: string, nowMs: number): StateCommand | null {
  const existing = catalog.node(member.name);
  if (member.health === 'left') {
    return existing === undefined ? null : { type: 'catalogDeregister', nowMs, node: member.name, serviceId: '', checkId: '' };
  }
  const status = member.health === 'alive' ? 'passing' : 'critical';
  const output = status === 'passing' ? SERF_HEALTH_ALIVE_OUTPUT : SERF_HEALTH_FAILED_OUTPUT;
  const address = hostOfAddress(member.meshAddress);
  // A failed member keeps whatever address the catalog has: the tombstone's may be older.
  const needsRegistration = existing === undefined || (member.health === 'alive' && existing.address !== address);
  if (needsRegistration) {
    const node = agentCatalogNode({ name: member.name, peerId: member.peerId, meshAddress: member.meshAddress, datacenter });
    return { type: 'catalogRegister', nowMs, node, skipNodeUpdate: false, service: null, checks: [serfHealthCheck(status, output)] };
  }
  const check = catalog.checkOf(member.name, SERF_HEALTH_CHECK_ID);
  if (check !== undefined && check.status === status && check.output === output) return null;
  return { type: 'nodeHealth', nowMs, node: member.name, status, output };
}

/** The serfHealth check exactly as the state machine's nodeHealth writes it, so that the two never differ. */
function serfHealthCheck(status: 'passing' | 'critical', output: string): CatalogCheck {
  return { checkId: SERF_HEALTH_CHECK_ID, name: SERF_HEALTH_CHECK_NAME, status, notes: '', output, serviceId: '', type: '', definition: '' };
}

export type HealthReconcilerOptions = {
  datacenter: string;
  /** Whether this agent is the Raft leader now. */
  isLeader(): boolean;
  /** Every member, tombstones (failed, left) included. */
  members(): readonly MemberView[];
  /** The local replica's catalog (the leader's is authoritative). */
  catalog: ReconcilerCatalog;
  /** Replicate a command; resolves with the state machine's result. */
  apply(command: StateCommand): Promise<unknown>;
  /** Resolves when the local replica has applied everything committed (a consistent read barrier). */
  barrier(): Promise<unknown>;
  /** Calls `listener` on every membership event; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** How often leadership is looked at. A new leader starts its first pass within this. */
  leaderPollMs?: number;
  /** A full pass even without events: catches anything an event missed. Cheap (a diff of two lists). */
  reconcileIntervalMs?: number;
  /**
   * How long a catalog node with a serfHealth check may have no member
   * before it is deregistered. Protects against a fresh leader whose member
   * list is still filling in through push-pull.
   */
  reapGraceMs?: number;
  /** Pause before the next pass after a failed proposal (no quorum, leadership lost). */
  retryMs?: number;
  /** Most proposals of one pass in flight at once. */
  maxInFlight?: number;
  now?: () => number;
};

const LEADER_POLL_MS_DEFAULT = 250;
const RECONCILE_INTERVAL_MS_DEFAULT = 30_000;
const REAP_GRACE_MS_DEFAULT = 60_000;
const RETRY_MS_DEFAULT = 1_000;
const MAX_IN_FLIGHT_DEFAULT = 128;
/** How long stop() waits for a pass in flight. */
const STOP_WAIT_MS = 1_000;

export class HealthReconciler {
  private readonly options: HealthReconcilerOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private wasLeader = false;
  /** A pass is wanted (an event, a retry, leadership gained). */
  private dirty = false;
  private running: Promise<void> | null = null;
  private nextFullPassMs = 0;
  private retryAtMs = 0;
  /** Node name → when it was first seen in the catalog without a member. */
  private readonly absentSinceMs = new Map<string, number>();
  private stopped = false;
  /** Passes run, for tests and `info`. */
  passes = 0;

  constructor(options: HealthReconcilerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.unsubscribe = this.options.subscribe(() => this.poke());
    this.timer = setInterval(() => this.tick(), this.options.leaderPollMs ?? LEADER_POLL_MS_DEFAULT);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    // A pass in flight may be waiting for a quorum that is gone; it ends on its own.
    await Promise.race([this.running, new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
  }

  /** Ask for a pass as soon as possible (a membership event). */
  poke(): void {
    this.dirty = true;
    if (this.options.isLeader()) setImmediate(() => this.tick());
  }

  private tick(): void {
    if (this.stopped) return;
    const leader = this.options.isLeader();
    if (!leader) {
      if (this.wasLeader) this.options.log('debug', 'serfHealth reconciler: no longer the leader');
      this.wasLeader = false;
      this.absentSinceMs.clear();
      return;
    }
    const nowMs = this.now();
    if (!this.wasLeader) {
      this.wasLeader = true;
      this.dirty = true;
      this.options.log('debug', 'serfHealth reconciler: leader now, reconciling every member');
    }
    if (nowMs >= this.nextFullPassMs) this.dirty = true;
    if (!this.dirty || this.running || nowMs < this.retryAtMs) return;
    this.dirty = false;
    this.running = this.pass().finally(() => {
      this.running = null;
      if (this.dirty && !this.stopped) setImmediate(() => this.tick());
    });
  }

  private async pass(): Promise<void> {
    const options = this.options;
    this.passes++;
    try {
      await options.barrier();
    } catch (error) {
      this.failed(`read barrier: ${(error as Error).message}`);
      return;
    }
    if (this.stopped || !options.isLeader()) return;
    const nowMs = this.now();
    this.nextFullPassMs = nowMs + (options.reconcileIntervalMs ?? RECONCILE_INTERVAL_MS_DEFAULT);
    const members = membersByName(options.members(), options.datacenter);
    const plan = planReconcile(members, options.catalog, options.datacenter, nowMs);
    const commands = [...plan.commands, ...this.reapable(plan.absent, nowMs)];
    if (commands.length === 0) return;
    let failures = 0;
    let next = 0;
    const worker = async () => {
      while (next < commands.length && !this.stopped) {
        const command = commands[next++]!;
        try {
          const result = await options.apply(command);
          if (isRejection(result)) {
            failures++;
            options.log('warn', `serfHealth reconciler: ${describe(command)} refused: ${result.message}`);
          } else {
            options.log(command.type === 'nodeHealth' && command.status === 'critical' ? 'info' : 'debug', `serfHealth reconciler: ${describe(command)}`);
          }
        } catch (error) {
          failures++;
          options.log('warn', `serfHealth reconciler: ${describe(command)} failed: ${(error as Error).message}`);
        }
      }
    };
    const workers = Math.min(commands.length, options.maxInFlight ?? MAX_IN_FLIGHT_DEFAULT);
    await Promise.all(Array.from({ length: workers }, worker));
    if (failures > 0) this.failed(`${failures} of ${commands.length} changes not applied`);
  }

  /** Deregistrations for nodes missing from the member list for longer than the grace. */
  private reapable(absent: readonly string[], nowMs: number): StateCommand[] {
    const grace = this.options.reapGraceMs ?? REAP_GRACE_MS_DEFAULT;
    const stillAbsent = new Set(absent);
    for (const name of this.absentSinceMs.keys()) if (!stillAbsent.has(name)) this.absentSinceMs.delete(name);
    const commands: StateCommand[] = [];
    for (const name of absent) {
      const since = this.absentSinceMs.get(name);
      if (since === undefined) {
        this.absentSinceMs.set(name, nowMs);
        // Come back when the grace is over, even if nothing else happens.
        this.nextFullPassMs = Math.min(this.nextFullPassMs, nowMs + grace);
      } else if (nowMs - since >= grace) {
        commands.push({ type: 'catalogDeregister', nowMs, node: name, serviceId: '', checkId: '' });
      }
    }
    return commands;
  }

  private failed(reason: string): void {
    this.options.log('warn', `serfHealth reconciler: ${reason}; retrying`);
    this.dirty = true;
    const retryMs = this.options.retryMs ?? RETRY_MS_DEFAULT;
    this.retryAtMs = this.now() + retryMs;
    setTimeout(() => this.tick(), retryMs + 1).unref?.();
  }
}

function describe(command: StateCommand): string {
  switch (command.type) {
    case 'catalogRegister': return `register ${command.node.node} (${command.node.address}), serfHealth ${command.checks[0]?.status}`;
    case 'catalogDeregister': return `deregister ${command.node}`;
    case 'nodeHealth': return `${command.node} serfHealth ${command.status}`;
    default: return command.type;
  }
}

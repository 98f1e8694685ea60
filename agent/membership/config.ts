// Knobs of the membership core, with memberlist's named profiles. Every field
// says what it trades and how it enters the arithmetic; `validateMembershipConfig`
// checks them together, once, before a core starts.
//
//   const config = membershipConfig('lan', { probeIntervalMs: 500, probeTimeoutMs: 200 });

import { DEFAULT_MEMBERSHIP_LIMITS } from '../../protocol/membership.ts';

export type MembershipConfig = {
  /**
   * One protocol period: each member probes one other member per period, so
   * each member is probed about once a period and steady-state traffic is two
   * messages per member per period, whatever the cluster size. Shorter detects
   * failures sooner and costs proportionally more. Stretched by local health:
   * period = probeIntervalMs * (awareness score + 1).
   */
  probeIntervalMs: number;
  /**
   * How long to wait for a direct ack before asking `indirectChecks` others to
   * probe. Should be above the 99th-percentile round trip; too low causes
   * needless indirect probes, too high leaves less of the period for them.
   * Stretched like the period; must be below `probeIntervalMs`.
   */
  probeTimeoutMs: number;
  /**
   * k, how many members are asked for an indirect probe when the direct one
   * times out. More rides out more lossy paths (a healthy member is suspected
   * only if the direct path and all k indirect paths fail) at k PingReqs, k
   * pings and up to 2k acks per failed probe. 0 disables indirect probes.
   */
  indirectChecks: number;
  /**
   * Scales the suspicion timeout: min = suspicionMultiplier * max(1, log10(n)) *
   * probeIntervalMs. Higher gives a suspect more time to refute (fewer false
   * deaths under loss) and detects real failures later. Also sets how many
   * independent confirmations shrink the timer to its minimum:
   * k = suspicionMultiplier - 2 (0 when n - 2 < k).
   */
  suspicionMultiplier: number;
  /**
   * The suspicion timeout starts at max = suspicionMaxTimeoutMultiplier * min and
   * shrinks toward min as confirmations arrive (Lifeguard). Higher protects a
   * member that only one prober could not reach; a crash seen by k probers is
   * declared after about min either way.
   */
  suspicionMaxTimeoutMultiplier: number;
  /**
   * How many times each member holding a suspicion pings the suspect directly
   * before the minimum timeout (our addition to memberlist). The ping carries
   * the suspicion and the answer carries the suspect's current alive, so a
   * member that missed a refutation learns it before its timer declares a
   * healthy member dead. Checks stop once the refutation arrives, so a false
   * suspicion costs almost nothing; a real failure costs each member this many
   * pings to the dead member. 0 gives memberlist's behaviour.
   */
  suspicionChecks: number;
  /**
   * Full state exchange with one random member, for anti-entropy (repairs what
   * gossip lost). Scaled with cluster size: interval * (ceil(log2(n) - log2(32)) + 1)
   * above 32 members, so its cost per member stays flat. 0 disables it.
   */
  pushPullIntervalMs: number;
  /**
   * How many times each update is piggybacked by each member that learns it:
   * retransmitMultiplier * ceil(log10(n + 1)). Higher survives more loss at more
   * bytes per probe; the count of messages does not change.
   */
  retransmitMultiplier: number;
  /**
   * Lifeguard local health: the awareness score runs from 0 to this minus 1 and
   * multiplies the probe period and timeout by (score + 1). A member that misses
   * acks and nacks itself (overloaded, bad link) slows down instead of accusing
   * healthy members. 1 disables it.
   */
  awarenessMaxMultiplier: number;
  /**
   * How often to try one push-pull with a failed (not left) member, with
   * probability failed/alive, as serf does: this is what heals a partition once
   * the network is whole again (each side declared the other dead, so neither
   * probes the other). Expected cost per member: failed/alive exchanges per
   * interval. 0 disables it.
   */
  reconnectIntervalMs: number;
  /**
   * A dead member may come back under the same id at another address after
   * this long (a left member at once); before that a conflicting address is
   * ignored. Consul uses 30 s.
   */
  deadNodeReclaimMs: number;
  /**
   * How long a failed member stays as a tombstone (listed as failed, reconnect
   * attempts) before it is reaped. Serf's reconnect timeout, 72 h by default.
   * Longer keeps stale alives from resurrecting it and keeps it in `members`.
   */
  failedMemberRetentionMs: number;
  /** How long a left member stays as a tombstone before it is reaped (serf's tombstone timeout, 24 h). */
  leftMemberRetentionMs: number;
  /**
   * Bytes of updates piggybacked on each Ping, Ack and PingReq. More spreads
   * bursts (joins, mass failures) faster at larger probe messages.
   */
  piggybackBytesMax: number;
  /** Most members (tombstones included) this member tracks; a new member beyond it is ignored. Bounded by what one PushPull can carry. */
  maxMembers: number;
  /** Most indirect probes this member runs at once on others' behalf; further PingReqs are dropped. */
  maxIndirectProbes: number;
};

const HOUR_MS = 60 * 60 * 1000;

/** memberlist's DefaultLANConfig: a data centre network, round trips well under 100 ms. */
export const LAN_PROFILE: Readonly<MembershipConfig> = Object.freeze({
  probeIntervalMs: 1_000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMultiplier: 4,
  suspicionMaxTimeoutMultiplier: 6,
  suspicionChecks: 2,
  pushPullIntervalMs: 30_000,
  retransmitMultiplier: 4,
  awarenessMaxMultiplier: 8,
  reconnectIntervalMs: 30_000,
  deadNodeReclaimMs: 30_000,
  failedMemberRetentionMs: 72 * HOUR_MS,
  leftMemberRetentionMs: 24 * HOUR_MS,
  piggybackBytesMax: 1_200,
  maxMembers: 16_384,
  maxIndirectProbes: 256,
});

/** memberlist's DefaultWANConfig: between data centres, higher and more variable latency. */
export const WAN_PROFILE: Readonly<MembershipConfig> = Object.freeze({
  ...LAN_PROFILE,
  probeIntervalMs: 5_000,
  probeTimeoutMs: 3_000,
  suspicionMultiplier: 6,
  pushPullIntervalMs: 60_000,
});

/** memberlist's DefaultLocalConfig: loopback or one host, tight timeouts. */
export const LOCAL_PROFILE: Readonly<MembershipConfig> = Object.freeze({
  ...LAN_PROFILE,
  probeTimeoutMs: 200,
  indirectChecks: 1,
  retransmitMultiplier: 2,
  suspicionMultiplier: 3,
  pushPullIntervalMs: 15_000,
});

export const MEMBERSHIP_PROFILES = Object.freeze({ lan: LAN_PROFILE, wan: WAN_PROFILE, local: LOCAL_PROFILE });
export type MembershipProfile = keyof typeof MEMBERSHIP_PROFILES;

/** A configuration that cannot work; the message names the field. */
export class MembershipConfigError extends Error {
  override name = 'MembershipConfigError';
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`membership config ${field}: ${problem}`);
    this.field = field;
  }
}

/** A profile with some fields replaced, validated. */
export function membershipConfig(profile: MembershipProfile = 'lan', overrides: Partial<MembershipConfig> = {}): MembershipConfig {
  const config = { ...MEMBERSHIP_PROFILES[profile], ...overrides };
  validateMembershipConfig(config);
  return config;
}

/** Throws MembershipConfigError for the first field that cannot work. */
export function validateMembershipConfig(config: MembershipConfig): void {
  const atLeast = (field: keyof MembershipConfig, minimum: number): void => {
    const value = config[field];
    if (!Number.isSafeInteger(value)) throw new MembershipConfigError(field, `${value} is not an integer`);
    if (value < minimum) throw new MembershipConfigError(field, `${value} is below the minimum of ${minimum}`);
  };
  atLeast('probeIntervalMs', 1);
  atLeast('probeTimeoutMs', 1);
  atLeast('indirectChecks', 0);
  atLeast('suspicionMultiplier', 1);
  atLeast('suspicionMaxTimeoutMultiplier', 1);
  atLeast('suspicionChecks', 0);
  atLeast('pushPullIntervalMs', 0);
  atLeast('retransmitMultiplier', 1);
  atLeast('awarenessMaxMultiplier', 1);
  atLeast('reconnectIntervalMs', 0);
  atLeast('deadNodeReclaimMs', 0);
  atLeast('failedMemberRetentionMs', 0);
  atLeast('leftMemberRetentionMs', 0);
  atLeast('piggybackBytesMax', 0);
  atLeast('maxMembers', 1);
  atLeast('maxIndirectProbes', 0);
  if (config.probeTimeoutMs >= config.probeIntervalMs) {
    throw new MembershipConfigError('probeTimeoutMs', `${config.probeTimeoutMs} must be below probeIntervalMs (${config.probeIntervalMs}) to leave time for indirect probes`);
  }
  if (config.maxMembers > DEFAULT_MEMBERSHIP_LIMITS.maxMembersPerPushPull) {
    throw new MembershipConfigError('maxMembers', `${config.maxMembers} exceeds the ${DEFAULT_MEMBERSHIP_LIMITS.maxMembersPerPushPull} members one PushPull can carry`);
  }
  if (config.probeIntervalMs * config.awarenessMaxMultiplier > DEFAULT_MEMBERSHIP_LIMITS.maxTimeoutMs) {
    throw new MembershipConfigError('probeIntervalMs', `a fully stretched period (${config.probeIntervalMs} * ${config.awarenessMaxMultiplier} ms) exceeds the ${DEFAULT_MEMBERSHIP_LIMITS.maxTimeoutMs} ms a PingReq can carry`);
  }
}

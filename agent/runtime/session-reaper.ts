// The leader's TTL reaper: invalidates sessions whose TTL ran out.
//
//   const reaper = new SessionReaper({ state, isLeader, propose, now: Date.now, log });
//   reaper.start();   // every second: on the Raft leader only, propose sessionExpire for each expired session
//   reaper.stop();
//
// Why this survives a change of leader: a session's deadline is replicated
// state (`expiresAtMs` = the create or renew command's time + 2 × TTL, Consul's
// grace multiplier), not a timer in one leader's memory. Whichever agent leads
// reads the deadlines from its replica and compares them with its own wall
// clock. The state machine re-checks the deadline against the proposal's
// time, so a renewal committed in between wins, and a proposal from a leader
// whose clock runs ahead by less than the grace cannot cut a session short by
// more than that. A session is reaped within about one interval of its
// deadline on the leader's clock.

import type { SessionExpire } from '../../protocol/state-commands.ts';
import type { StateMachine } from '../state/state-machine.ts';

/** How often the leader looks for expired sessions: the reaper's precision. */
export const SESSION_REAP_INTERVAL_MS = 1_000;
/** Most expirations proposed per tick: a burst of thousands of expired sessions is spread over ticks. */
export const SESSION_REAP_BATCH_MAX = 256;

export type SessionReaperOptions = {
  state: Pick<StateMachine, 'sessionsToExpire'>;
  /** True while this agent is the Raft leader. */
  isLeader: () => boolean;
  /** Replicate a command (resolves with the state machine's result). */
  propose: (command: SessionExpire) => Promise<unknown>;
  /** The leader's wall clock, Unix ms. */
  now: () => number;
  log: (level: 'debug' | 'info' | 'warn', message: string) => void;
  intervalMs?: number;
};

export class SessionReaper {
  private readonly options: SessionReaperOptions;
  private timer: NodeJS.Timeout | null = null;
  /** Expirations proposed and not yet answered: not proposed again meanwhile. */
  private readonly inFlight = new Set<string>();

  constructor(options: SessionReaperOptions) {
    this.options = options;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? SESSION_REAP_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look: propose sessionExpire for each session past its deadline. Returns how many were proposed. */
  tick(): number {
    const { state, isLeader, propose, now, log } = this.options;
    if (!isLeader()) return 0;
    const nowMs = now();
    let proposed = 0;
    for (const id of state.sessionsToExpire(nowMs)) {
      if (proposed >= SESSION_REAP_BATCH_MAX) break;
      if (this.inFlight.has(id)) continue;
      this.inFlight.add(id);
      proposed++;
      propose({ type: 'sessionExpire', nowMs, id }).then(
        (result) => {
          if (result === true) log('info', `session ${id} expired (TTL ran out without renewal)`);
        },
        (error: unknown) => log('debug', `session reaper: expiring ${id}: ${(error as Error).message}`),
      ).finally(() => this.inFlight.delete(id));
    }
    return proposed;
  }
}

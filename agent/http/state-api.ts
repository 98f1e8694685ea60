// What the endpoints of the replicated state (KV, txn, catalog, health,
// sessions) need from the agent: the local replica for reads, a barrier that
// makes a read as fresh as its consistency mode demands, and a way to
// replicate a command. The agent runtime implements it.

import type { StateCommand } from '../../protocol/state-commands.ts';
import type { StateMachine } from '../state/state-machine.ts';
import type { ConsistencyMode } from './blocking.ts';
import type { QueryMeta } from './router.ts';

export interface StateApi {
  /** The local replica: read it only after `readBarrier` resolved. */
  readonly state: StateMachine;
  /**
   * Resolves when the local replica may answer a read in `mode`:
   * `stale` at once (any replica, even without a leader), `default` after a
   * leader-lease read index, `consistent` after a quorum-confirmed read index.
   * Rejects with AgentApiError 500 "No cluster leader" when none is known.
   */
  readBarrier(mode: ConsistencyMode): Promise<QueryMeta>;
  /** Replicate `command` through the leader; resolves with the state machine's result. */
  apply(command: StateCommand): Promise<unknown>;
  /** Query metadata as of now (for answers that need no barrier). */
  queryMeta(): QueryMeta;
}

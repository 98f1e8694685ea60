// Blocking queries over the replicated state: an IndexWatch (blocking.ts) for
// one Scope of the state machine. A write wakes only the watchers of the
// scopes it touched (watch-index.ts), and identical queries share one waiter.
//
//   const watch = scopeWatch(state.state, Scope.kvKey(key));
//   await waitForIndex(parseBlockingQuery(request.query), watch, request.signal);

import type { StateMachine } from '../state/state-machine.ts';
import type { Scope } from '../state/watch-index.ts';
import type { IndexWatch } from './blocking.ts';

export function scopeWatch(state: StateMachine, scope: Scope): IndexWatch {
  return {
    currentIndex: () => state.indexFor(scope),
    waitForChange: (index, signal) => new Promise<void>((resolve) => {
      if (state.indexFor(scope) > index || signal.aborted) {
        resolve();
        return;
      }
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        state.watches.cancel(scope, wake);
        resolve();
      };
      state.watches.wait(scope, wake);
      signal.addEventListener('abort', onAbort, { once: true });
    }),
  };
}

// A deterministic driver for the state machine in tests: commands go through
// the real codec and apply() as Raft entries with increasing indexes; time is a
// number the test moves.

import { EntryType } from '../../../protocol/raft.ts';
import { encodeStateCommand } from '../../../protocol/state-commands.ts';
import type { CatalogCheck, CatalogService, SessionBehavior, StateCommand } from '../../../protocol/state-commands.ts';
import { StateMachine } from '../../../agent/state/state-machine.ts';
import type { ApplyResult, StateMachineOptions } from '../../../agent/state/state-machine.ts';

/** A command without its time: the harness stamps `nowMs`. */
export type Unstamped<T = StateCommand> = T extends StateCommand ? Omit<T, 'nowMs'> & { nowMs?: number } : never;

export const T0_MS = 1_700_000_000_000;

export class Harness {
  readonly state: StateMachine;
  index = 0;
  nowMs = T0_MS;

  constructor(options: StateMachineOptions = {}) {
    this.state = new StateMachine(options);
  }

  apply(command: Unstamped): ApplyResult {
    const stamped = { nowMs: this.nowMs, ...command } as StateCommand;
    return this.applyBytes(encodeStateCommand(stamped));
  }

  applyBytes(data: Uint8Array): ApplyResult {
    return this.state.apply({ term: 1, index: ++this.index, type: EntryType.Normal, data });
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  set(key: string, value: string, flags = 0): ApplyResult {
    return this.apply({ type: 'kvSet', key, value: bytes(value), flags });
  }

  registerNode(node: string, checks: Partial<CatalogCheck>[] = [{ checkId: 'serfHealth', status: 'passing' }], service: CatalogService | null = null): ApplyResult {
    return this.apply({
      type: 'catalogRegister',
      node: { id: '', node, address: `10.0.0.${node.length}`, datacenter: 'dc1', taggedAddresses: {}, meta: {} },
      skipNodeUpdate: false,
      service,
      checks: checks.map((check) => ({ ...check_(check.checkId ?? 'serfHealth'), ...check })),
    });
  }

  createSession(id: string, node: string, options: { behavior?: SessionBehavior; lockDelayMs?: number; ttlMs?: number; nodeChecks?: string[]; serviceChecks?: string[] } = {}): ApplyResult {
    return this.apply({
      type: 'sessionCreate',
      id,
      node,
      name: 'test',
      ttlMs: options.ttlMs ?? 0,
      lockDelayMs: options.lockDelayMs ?? 15_000,
      behavior: options.behavior ?? 'release',
      nodeChecks: options.nodeChecks ?? ['serfHealth'],
      serviceChecks: options.serviceChecks ?? [],
    });
  }

  lock(key: string, session: string, value = ''): ApplyResult {
    return this.apply({ type: 'kvLock', key, value: bytes(value), flags: 0, session });
  }

  unlock(key: string, session: string, value = ''): ApplyResult {
    return this.apply({ type: 'kvUnlock', key, value: bytes(value), flags: 0, session });
  }
}

export function check_(checkId: string, status: CatalogCheck['status'] = 'passing', serviceId = ''): CatalogCheck {
  return { checkId, name: checkId, status, notes: '', output: '', serviceId, type: '', definition: '' };
}

export function service(id: string, name = id, tags: string[] = [], port = 80): CatalogService {
  return { id, service: name, tags, address: '', taggedAddresses: {}, meta: {}, port, weights: { passing: 1, warning: 1 }, enableTagOverride: false };
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : new TextDecoder().decode(value);
}

/** A deterministic lowercase UUID for test session ids. */
export function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

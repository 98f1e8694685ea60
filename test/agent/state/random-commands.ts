// A seeded generator of plausible command sequences over a small key, node and
// session space, so that random runs collide: cas hits and misses, locks
// contend, sessions die holding keys, tombstones get reaped.

import type { TxnOp, TxnVerb } from '../../../protocol/state-commands.ts';
import { TXN_VERBS } from '../../../protocol/state-commands.ts';
import { SeededPrng } from '../../../raft/prng.ts';
import { check_, service, uuid } from './harness.ts';
import type { Unstamped } from './harness.ts';

export type TimedCommand = { command: Unstamped; advanceMs: number };

const KEYS = ['a', 'a/b', 'a/b/c', 'a/c', 'b', 'b/x', 'lock/1', 'lock/2', 'q/1', 'q/2', 'é/ü', 'z\u{1F600}'];
const NODES = ['n1', 'n2', 'n3'];
const SERVICES = ['web', 'db', 'cache'];

export class CommandGenerator {
  private readonly prng: SeededPrng;
  private sessionCounter = 0;
  private currentIndex = 0;

  constructor(seed: number) {
    this.prng = new SeededPrng(seed);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.prng.nextInt(items.length)]!;
  }

  private value(): Uint8Array {
    const bytes = new Uint8Array(this.prng.nextInt(6));
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.prng.nextInt(256);
    return bytes;
  }

  private session(): string {
    // Mostly one of the last few sessions created, sometimes an old (likely dead) one or one that never existed.
    if (this.prng.nextInt(4) === 0) return uuid(this.prng.nextInt(this.sessionCounter + 2));
    return uuid(Math.max(0, this.sessionCounter - this.prng.nextInt(3)));
  }

  /** A cas index: 0 (create only), or one of the last few Raft indexes, so that some hit. */
  private index(): number {
    return this.prng.nextInt(5) === 0 ? 0 : Math.max(0, this.currentIndex - this.prng.nextInt(12));
  }

  private txnOp(): TxnOp {
    const verb: TxnVerb = this.pick(TXN_VERBS);
    const treeVerb = verb === 'get-tree' || verb === 'delete-tree';
    const sessionVerb = verb === 'lock' || verb === 'unlock' || verb === 'check-session';
    return {
      verb,
      key: treeVerb ? this.pick(['', 'a/', 'b', 'q/']) : this.pick(KEYS),
      value: this.value(),
      flags: this.prng.nextInt(3),
      index: this.index(),
      session: sessionVerb || this.prng.nextInt(4) === 0 ? this.session() : '',
    };
  }

  /** The next command; `currentIndex` is the last applied index, for cas indexes that can hit. */
  next(currentIndex = 0): TimedCommand {
    this.currentIndex = currentIndex;
    return { command: this.command(), advanceMs: this.prng.nextInt(4) === 0 ? this.prng.nextInt(30_000) : this.prng.nextInt(50) };
  }

  private command(): Unstamped {
    const p = this.prng;
    switch (p.nextInt(17)) {
      case 0: case 1: case 2:
        return { type: 'kvSet', key: this.pick(KEYS), value: this.value(), flags: p.nextInt(3) };
      case 3:
        return { type: 'kvCas', key: this.pick(KEYS), value: this.value(), flags: 0, casIndex: this.index() };
      case 4:
        return { type: 'kvDelete', key: this.pick(KEYS) };
      case 5:
        return { type: 'kvDeleteTree', prefix: this.pick(['a/', 'q/', 'b', 'zz']) };
      case 6:
        return { type: 'kvDeleteCas', key: this.pick(KEYS), casIndex: this.index() };
      case 7: case 8:
        return { type: 'kvLock', key: this.pick(KEYS), value: this.value(), flags: 0, session: this.session() };
      case 9:
        return { type: 'kvUnlock', key: this.pick(KEYS), value: this.value(), flags: 0, session: this.session() };
      case 10:
        return { type: 'txn', ops: Array.from({ length: 1 + p.nextInt(4) }, () => this.txnOp()) };
      case 11: {
        const withService = p.nextInt(2) === 0;
        const svc = withService ? service(`${this.pick(SERVICES)}-${p.nextInt(2)}`, this.pick(SERVICES), p.nextInt(2) ? ['v1'] : ['v2', 'x'], 80 + p.nextInt(3)) : null;
        const checks = [check_('serfHealth', this.pick(['passing', 'passing', 'passing', 'critical'] as const))];
        if (svc) checks.push(check_(`${svc.id}-check`, this.pick(['passing', 'warning', 'critical'] as const), svc.id));
        return {
          type: 'catalogRegister',
          node: { id: '', node: this.pick(NODES), address: `10.0.0.${p.nextInt(3)}`, datacenter: 'dc1', taggedAddresses: p.nextInt(2) ? { lan: '10.0.0.1' } : {}, meta: {} },
          skipNodeUpdate: p.nextInt(4) === 0,
          service: svc,
          checks,
        };
      }
      case 12: {
        const node = this.pick(NODES);
        const kind = p.nextInt(6);
        // Mostly services; a check or the whole node now and then.
        return { type: 'catalogDeregister', node, serviceId: kind < 4 ? `${this.pick(SERVICES)}-${p.nextInt(2)}` : '', checkId: kind === 4 ? 'serfHealth' : '' };
      }
      case 13:
        return { type: 'nodeHealth', node: this.pick(NODES), status: this.pick(['passing', 'passing', 'critical'] as const), output: '' };
      case 14:
        return {
          type: 'sessionCreate',
          id: uuid(++this.sessionCounter),
          node: this.pick(NODES),
          name: 'random',
          ttlMs: p.nextInt(2) ? 0 : 10_000 + p.nextInt(20_000),
          lockDelayMs: this.pick([0, 1_000, 15_000]),
          behavior: this.pick(['release', 'delete'] as const),
          nodeChecks: p.nextInt(3) ? ['serfHealth'] : [],
          serviceChecks: [],
        };
      case 15:
        return { type: this.pick(['sessionDestroy', 'sessionRenew'] as const), id: this.session() };
      default:
        return { type: 'sessionExpire', id: this.session() };
    }
  }
}

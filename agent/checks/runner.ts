// The timers of the local agent's health checks: one runner per check. A
// runner only produces results; it never writes the catalog. Results go to
// `report`, which updates the local state, and anti-entropy carries status
// changes to the catalog (agent/local/).
//
//   const runner = startCheckRunner(definition, (status, output) => state.updateCheck(id, status, output));
//   runner.ttl?.update('passing', 'all good');   // TTL checks only: resets the TTL
//   runner.stop();
//
// Interval checks (HTTP, TCP, script) first run after a random part of the
// interval, so that checks registered together do not run together (Consul
// does the same), then `intervalMs` after each run ends: a slow target is
// never probed by two runs at once. Each raw result passes through the
// thresholds (status-handler.ts) before it is reported.
//
// TTL checks run nothing: the service reports through /v1/agent/check/pass,
// warn, fail or update, and the check turns critical with "TTL expired" when
// no report arrives within the TTL.

import type { CheckStatus } from '../../protocol/state-commands.ts';
import type { LocalCheckDefinition } from '../local/definitions.ts';
import { truncateUtf8 } from '../local/definitions.ts';
import { probeHttp, probeScript, probeTcp } from './probes.ts';
import type { ProbeResult } from './probes.ts';
import { StatusHandler } from './status-handler.ts';

export type CheckReport = (status: CheckStatus, output: string) => void;

export type CheckRunner = {
  /** For TTL checks: where pass/warn/fail/update go. */
  ttl: TtlCheck | null;
  stop(): void;
};

export type RunnerOptions = {
  /** Random source for the first run's stagger (tests pass one that answers 0). */
  random?: () => number;
  /** The probes, replaceable in tests. */
  probe?: (definition: LocalCheckDefinition) => Promise<ProbeResult>;
};

export function startCheckRunner(definition: LocalCheckDefinition, report: CheckReport, options: RunnerOptions = {}): CheckRunner {
  if (definition.kind === 'ttl') {
    const ttl = new TtlCheck(definition.ttlMs, report);
    ttl.start();
    return { ttl, stop: () => ttl.stop() };
  }
  const runner = new IntervalCheck(definition, report, options);
  runner.start();
  return { ttl: null, stop: () => runner.stop() };
}

/** The probe a definition asks for. */
export function probeFor(definition: LocalCheckDefinition): Promise<ProbeResult> {
  switch (definition.kind) {
    case 'http': return probeHttp(definition.http!, definition.timeoutMs);
    case 'tcp': return probeTcp(definition.tcp, definition.timeoutMs);
    case 'script': return probeScript(definition.args, definition.timeoutMs);
    case 'ttl': throw new Error('TTL checks are not probed');
  }
}

export class IntervalCheck {
  private readonly definition: LocalCheckDefinition;
  private readonly report: CheckReport;
  private readonly options: RunnerOptions;
  private readonly thresholds: StatusHandler;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Runs completed, for tests. */
  runs = 0;

  constructor(definition: LocalCheckDefinition, report: CheckReport, options: RunnerOptions = {}) {
    if (!(definition.intervalMs > 0)) throw new Error(`check ${definition.checkId}: an interval check needs an interval`);
    this.definition = definition;
    this.report = report;
    this.options = options;
    this.thresholds = new StatusHandler(definition);
  }

  start(): void {
    const stagger = Math.floor((this.options.random ?? Math.random)() * this.definition.intervalMs);
    this.schedule(stagger);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), delayMs);
    this.timer.unref?.();
  }

  private async run(): Promise<void> {
    let result: ProbeResult;
    try {
      result = await (this.options.probe ?? probeFor)(this.definition);
    } catch (error) {
      result = { status: 'critical', output: `check failed: ${(error as Error).message}` };
    }
    this.runs++;
    if (this.stopped) return;
    const status = this.thresholds.next(result.status);
    if (status !== null) this.report(status, truncateUtf8(result.output));
    this.schedule(this.definition.intervalMs);
  }
}

/** Consul's output for a TTL that ran out. */
export const TTL_EXPIRED_OUTPUT = 'TTL expired';

export class TtlCheck {
  private readonly ttlMs: number;
  private readonly report: CheckReport;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(ttlMs: number, report: CheckReport) {
    this.ttlMs = ttlMs;
    this.report = report;
  }

  /** Start the TTL clock (a new check starts in its initial status and must be updated within the TTL). */
  start(): void {
    this.reset();
  }

  /** A report from the service: set the status and restart the TTL clock. */
  update(status: CheckStatus, output: string): void {
    if (this.stopped) return;
    this.reset();
    this.report(status, truncateUtf8(output));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private reset(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.report('critical', TTL_EXPIRED_OUTPUT);
    }, this.ttlMs);
    this.timer.unref?.();
  }
}

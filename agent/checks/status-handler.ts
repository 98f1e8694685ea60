// Consecutive-result thresholds between a check's raw results and the status
// the agent reports, as Consul's checks.StatusHandler:
//
//   success_before_passing = N    a passing (or warning) result is reported
//                                 only after N of them in a row
//   failures_before_critical = N  a critical result is reported only after N
//                                 in a row; before that, from
//   failures_before_warning = M   M failures in a row on, warning is reported
//                                 (M defaults to N)
//
// 0 and 1 both mean "at once". Pure arithmetic: no clock, no I/O.
//
//   const handler = new StatusHandler({ successBeforePassing: 2, failuresBeforeCritical: 3, failuresBeforeWarning: 3 });
//   handler.next('critical')   // null: hold the current status
//   handler.next('critical')   // null
//   handler.next('critical')   // 'critical'

import type { CheckStatus } from '../../protocol/state-commands.ts';

export type StatusThresholds = {
  successBeforePassing: number;
  failuresBeforeCritical: number;
  failuresBeforeWarning: number;
};

export class StatusHandler {
  private readonly thresholds: StatusThresholds;
  private successes = 0;
  private failures = 0;

  constructor(thresholds: StatusThresholds) {
    this.thresholds = thresholds;
  }

  /** The status to report for a new raw result, or null to keep the current one. */
  next(result: CheckStatus): CheckStatus | null {
    if (result === 'passing' || result === 'warning') {
      this.successes++;
      this.failures = 0;
      return this.successes >= this.thresholds.successBeforePassing ? result : null;
    }
    this.failures++;
    this.successes = 0;
    if (this.failures >= this.thresholds.failuresBeforeCritical) return 'critical';
    if (this.failures >= this.thresholds.failuresBeforeWarning) return 'warning';
    return null;
  }
}

// Go's duration strings, as Consul reads and writes them: `?wait=10s`,
// `?max_stale=5m`, a session's `TTL: "15s"`, a check's `Interval: "1m30s"`.
//
//   parseDurationMs('1m30s')   // 90000
//   parseDurationMs('100ms')   // 100
//   parseDurationMs('5x')      // throws DurationError: time: unknown unit "x" in duration "5x"
//   formatDuration(90_000)     // '1m30s'
//
// The grammar is Go's time.ParseDuration: an optional sign, then one or more
// decimal numbers (fraction allowed, `1.5h`, `.5s`), each followed by a unit
// (ns, us, µs, μs, ms, s, m, h). A bare `0` needs no unit. The error messages
// are Go's, so that a Consul user sees the words they already know.

/** A string that is not a Go duration; the message is Go's (`time: invalid duration "x"`). */
export class DurationError extends Error {
  override name = 'DurationError';
}

const NANOSECONDS_PER_UNIT: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC Greek small letter mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's Duration is an int64 of nanoseconds; anything longer (about 292 years) is invalid. */
const NANOSECONDS_MAX = 2 ** 63 - 1;

/** The duration in milliseconds (fractional below a millisecond), or DurationError. */
export function parseDurationMs(text: string): number {
  return parseDurationNs(text) / 1e6;
}

/** The duration in nanoseconds (a float: exact below 2^53 ns, about 104 days), or DurationError. */
export function parseDurationNs(text: string): number {
  const invalid = () => new DurationError(`time: invalid duration ${quote(text)}`);
  let rest = text;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid();
  let totalNs = 0;
  while (rest !== '') {
    const number = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    const [matched, whole = '', fraction = ''] = number;
    if (whole === '' && fraction === '') throw invalid(); // no digits at all: "s", ".s", "-"
    rest = rest.slice(matched.length);
    const unitLength = /^[^\d.]*/.exec(rest)![0].length;
    if (unitLength === 0) throw new DurationError(`time: missing unit in duration ${quote(text)}`);
    const unit = rest.slice(0, unitLength);
    rest = rest.slice(unitLength);
    const scale = NANOSECONDS_PER_UNIT[unit];
    if (scale === undefined) throw new DurationError(`time: unknown unit ${quote(unit)} in duration ${quote(text)}`);
    // Whole part exactly as long as it fits; the fraction only refines it.
    const value = Number(whole === '' ? 0 : whole) * scale + (fraction === '' ? 0 : Number(`0.${fraction}`) * scale);
    totalNs += value;
    if (!Number.isFinite(totalNs) || totalNs > NANOSECONDS_MAX) throw invalid();
  }
  return negative ? -totalNs : totalNs;
}

/** Go's Duration.String(): `0s`, `1.5ms`, `250µs`, `15s`, `1m30s`, `1h0m0s`. Input in milliseconds. */
export function formatDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  ns = Math.abs(ns);
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${decimal(ns, 1e3)}µs`;
  if (ns < 1e9) return `${sign}${decimal(ns, 1e6)}ms`;
  const hours = Math.floor(ns / 3600e9);
  const minutes = Math.floor((ns % 3600e9) / 60e9);
  const seconds = decimal(ns % 60e9, 1e9);
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}

/** `value / unit` printed without trailing zeros, from integers so that no float noise shows. */
function decimal(value: number, unit: number): string {
  const whole = Math.floor(value / unit);
  const remainder = value % unit;
  if (remainder === 0) return String(whole);
  const digits = String(unit).length - 1;
  return `${whole}.${String(remainder).padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Go's %q for the strings we quote (printable ASCII in practice; others JSON-escaped). */
function quote(text: string): string {
  return JSON.stringify(text);
}

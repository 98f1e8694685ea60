// Small, dependency-free SVG charts for the simulator's reports: line charts,
// histograms, sorted bar profiles and interval timelines, with titled axes,
// round-number ticks and a legend. Text is escaped; sizes are fixed so that
// the files look the same in a browser, an image viewer or a PR.
//
//   const svg = lineChart({ title: 'Who knows', xLabel: 's', yLabel: 'fraction', series: [{ name: 'crash n7', points }] });

export type Point = [number, number];
export type Series = { name: string; points: Point[]; color?: string; dashed?: boolean; step?: boolean };

const WIDTH = 760;
const HEIGHT = 420;
const MARGIN = { left: 72, right: 24, top: 48, bottom: 64 };
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

export type AxisOptions = {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  xMin?: number;
  xMax?: number;
  yMin?: number;
  yMax?: number;
  /** Format of tick labels. */
  xFormat?: (value: number) => string;
  yFormat?: (value: number) => string;
  /** Log scale on y (values must be positive). */
  yLog?: boolean;
};

/** Lines (or steps) over a shared x axis. */
export function lineChart(options: AxisOptions & { series: Series[]; markers?: { x: number; label: string }[] }): string {
  const all = options.series.flatMap((series) => series.points);
  const frame = makeFrame(options, all);
  const parts: string[] = [frame.svg];
  for (const marker of options.markers ?? []) {
    if (marker.x < frame.xMin || marker.x > frame.xMax) continue;
    const x = frame.x(marker.x);
    // Labels sit low, clear of the legend; left of the line when it is near the right edge.
    const right = x > WIDTH - MARGIN.right - 120;
    parts.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${HEIGHT - MARGIN.bottom}" stroke="#999" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${right ? x - 4 : x + 4}" y="${HEIGHT - MARGIN.bottom - 8}" text-anchor="${right ? 'end' : 'start'}" font-size="11" fill="#555" ${FONT}>${escape(marker.label)}</text>`);
  }
  options.series.forEach((series, i) => {
    if (series.points.length === 0) return;
    const color = series.color ?? PALETTE[i % PALETTE.length]!;
    const coords: string[] = [];
    let previous: Point | null = null;
    for (const point of series.points) {
      if (series.step === true && previous !== null) coords.push(`${frame.x(point[0])},${frame.y(previous[1])}`);
      coords.push(`${frame.x(point[0])},${frame.y(point[1])}`);
      previous = point;
    }
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="${options.series.length > 12 ? 1 : 2}" ${series.dashed === true ? 'stroke-dasharray="6 4"' : ''} points="${coords.join(' ')}"/>`);
  });
  parts.push(legend(options.series.slice(0, 10).map((series, i) => ({ name: series.name, color: series.color ?? PALETTE[i % PALETTE.length]! })), options.series.length));
  return wrap(parts.join('\n'));
}

/** A histogram of `values` in `bins` equal-width bins (or given edges). */
export function histogram(options: AxisOptions & { values: number[]; bins?: number; color?: string; note?: string }): string {
  const values = options.values.filter(Number.isFinite);
  if (values.length === 0) return emptyChart(options.title, 'no values');
  const lo = options.xMin ?? Math.min(...values);
  let hi = options.xMax ?? Math.max(...values);
  if (hi <= lo) hi = lo + 1;
  const bins = options.bins ?? Math.min(40, Math.max(5, Math.ceil(Math.sqrt(values.length))));
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const value of values) counts[Math.min(bins - 1, Math.max(0, Math.floor((value - lo) / width)))]!++;
  const frame = makeFrame({ ...options, xMin: lo, xMax: hi, yMin: 0 }, counts.map((count, i) => [lo + i * width, count] as Point));
  const parts: string[] = [frame.svg];
  counts.forEach((count, i) => {
    if (count === 0) return;
    const x0 = frame.x(lo + i * width);
    const x1 = frame.x(lo + (i + 1) * width);
    const y = frame.y(count);
    parts.push(`<rect x="${x0 + 0.5}" y="${y}" width="${Math.max(1, x1 - x0 - 1)}" height="${HEIGHT - MARGIN.bottom - y}" fill="${options.color ?? PALETTE[0]}"><title>${escape(`${fmt(lo + i * width)}–${fmt(lo + (i + 1) * width)}: ${count}`)}</title></rect>`);
  });
  if (options.note !== undefined) parts.push(`<text x="${WIDTH - MARGIN.right}" y="${MARGIN.top + 14}" text-anchor="end" font-size="12" fill="#333" ${FONT}>${escape(options.note)}</text>`);
  return wrap(parts.join('\n'));
}

/** Labelled bars (counts by category). */
export function barChart(options: { title: string; subtitle?: string; yLabel: string; bars: { label: string; value: number; color?: string }[] }): string {
  const max = Math.max(1, ...options.bars.map((bar) => bar.value));
  const frame = makeFrame({ title: options.title, subtitle: options.subtitle, xLabel: '', yLabel: options.yLabel, xMin: 0, xMax: options.bars.length, yMin: 0, yMax: niceCeil(max), xFormat: () => '' }, []);
  const parts: string[] = [frame.svg];
  const slot = (WIDTH - MARGIN.left - MARGIN.right) / Math.max(1, options.bars.length);
  options.bars.forEach((bar, i) => {
    const x = MARGIN.left + i * slot + slot * 0.15;
    const y = frame.y(bar.value);
    parts.push(`<rect x="${x}" y="${y}" width="${slot * 0.7}" height="${HEIGHT - MARGIN.bottom - y}" fill="${bar.color ?? PALETTE[i % PALETTE.length]}"/>`);
    parts.push(`<text x="${x + slot * 0.35}" y="${y - 6}" text-anchor="middle" font-size="13" ${FONT}>${escape(fmt(bar.value))}</text>`);
    parts.push(`<text x="${x + slot * 0.35}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle" font-size="12" ${FONT}>${escape(bar.label)}</text>`);
  });
  return wrap(parts.join('\n'));
}

/** Horizontal intervals on rows over time (unavailability windows, lock holders). */
export function timeline(options: { title: string; subtitle?: string; xLabel: string; xMin: number; xMax: number; rows: { label: string; intervals: { from: number; to: number; color?: string; title?: string }[] }[]; markers?: { x: number; label: string }[] }): string {
  const rowHeight = 26;
  const height = Math.max(200, MARGIN.top + MARGIN.bottom + options.rows.length * rowHeight + 10);
  const plotWidth = WIDTH - 160 - MARGIN.right;
  const span = Math.max(1e-9, options.xMax - options.xMin);
  const x = (value: number) => 160 + ((value - options.xMin) / span) * plotWidth;
  const parts: string[] = [header(options.title, options.subtitle)];
  const bottom = MARGIN.top + options.rows.length * rowHeight;
  for (const tick of ticks(options.xMin, options.xMax, 8)) {
    parts.push(`<line x1="${x(tick)}" y1="${MARGIN.top}" x2="${x(tick)}" y2="${bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${x(tick)}" y="${bottom + 18}" text-anchor="middle" font-size="12" ${FONT}>${escape(fmt(tick))}</text>`);
  }
  parts.push(`<text x="${160 + plotWidth / 2}" y="${bottom + 42}" text-anchor="middle" font-size="13" ${FONT}>${escape(options.xLabel)}</text>`);
  options.rows.forEach((row, r) => {
    const y = MARGIN.top + r * rowHeight;
    parts.push(`<text x="152" y="${y + 17}" text-anchor="end" font-size="12" ${FONT}>${escape(row.label)}</text>`);
    parts.push(`<line x1="160" y1="${y + rowHeight - 1}" x2="${160 + plotWidth}" y2="${y + rowHeight - 1}" stroke="#f2f2f2"/>`);
    for (const interval of row.intervals) {
      const x0 = x(Math.max(options.xMin, interval.from));
      const x1 = x(Math.min(options.xMax, interval.to));
      parts.push(`<rect x="${x0}" y="${y + 4}" width="${Math.max(1.5, x1 - x0)}" height="${rowHeight - 9}" fill="${interval.color ?? PALETTE[1]}">${interval.title === undefined ? '' : `<title>${escape(interval.title)}</title>`}</rect>`);
    }
  });
  for (const marker of options.markers ?? []) {
    parts.push(`<line x1="${x(marker.x)}" y1="${MARGIN.top - 6}" x2="${x(marker.x)}" y2="${bottom}" stroke="#555" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${x(marker.x) + 3}" y="${MARGIN.top - 9}" font-size="11" fill="#555" ${FONT}>${escape(marker.label)}</text>`);
  }
  return wrap(parts.join('\n'), height);
}

export function emptyChart(title: string, message: string): string {
  return wrap(`${header(title)}\n<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" font-size="16" fill="#777" ${FONT}>${escape(message)}</text>`);
}

// ---------------------------------------------------------------- frame, ticks, text

type Frame = { svg: string; x: (value: number) => number; y: (value: number) => number; xMin: number; xMax: number };

function makeFrame(options: AxisOptions, points: readonly Point[]): Frame {
  const xs = points.map((p) => p[0]).filter(Number.isFinite);
  const ys = points.map((p) => p[1]).filter(Number.isFinite);
  let xMin = options.xMin ?? (xs.length > 0 ? Math.min(...xs) : 0);
  let xMax = options.xMax ?? (xs.length > 0 ? Math.max(...xs) : 1);
  if (xMax <= xMin) xMax = xMin + 1;
  const log = options.yLog === true;
  let yMin = options.yMin ?? (log ? Math.max(1e-9, Math.min(...ys.filter((y) => y > 0), 1)) : Math.min(0, ...ys));
  let yMax = options.yMax ?? (ys.length > 0 ? niceCeil(Math.max(...ys)) : 1);
  if (yMax <= yMin) yMax = yMin + 1;
  if (log) {
    yMin = Math.pow(10, Math.floor(Math.log10(yMin)));
    yMax = Math.pow(10, Math.ceil(Math.log10(yMax)));
  }
  xMin = Number(xMin);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (value: number) => round(MARGIN.left + ((value - xMin) / (xMax - xMin)) * plotWidth);
  const y = log
    ? (value: number) => round(MARGIN.top + plotHeight - ((Math.log10(Math.max(value, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotHeight)
    : (value: number) => round(MARGIN.top + plotHeight - ((value - yMin) / (yMax - yMin)) * plotHeight);
  const xFormat = options.xFormat ?? stepFormat(xMin, xMax, 8);
  const yFormat = options.yFormat ?? stepFormat(yMin, yMax, 6);
  const parts: string[] = [header(options.title, options.subtitle)];
  const yTicks = log ? logTicks(yMin, yMax) : ticks(yMin, yMax, 6);
  for (const tick of yTicks) {
    parts.push(`<line x1="${MARGIN.left}" y1="${y(tick)}" x2="${WIDTH - MARGIN.right}" y2="${y(tick)}" stroke="#e6e6e6"/>`);
    parts.push(`<text x="${MARGIN.left - 8}" y="${y(tick) + 4}" text-anchor="end" font-size="12" ${FONT}>${escape(yFormat(tick))}</text>`);
  }
  for (const tick of ticks(xMin, xMax, 8)) {
    parts.push(`<line x1="${x(tick)}" y1="${HEIGHT - MARGIN.bottom}" x2="${x(tick)}" y2="${HEIGHT - MARGIN.bottom + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x(tick)}" y="${HEIGHT - MARGIN.bottom + 20}" text-anchor="middle" font-size="12" ${FONT}>${escape(xFormat(tick))}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 18}" text-anchor="middle" font-size="13" ${FONT}>${escape(options.xLabel)}</text>`);
  parts.push(`<text transform="translate(18 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle" font-size="13" ${FONT}>${escape(options.yLabel)}</text>`);
  return { svg: parts.join('\n'), x, y, xMin, xMax };
}

function header(title: string, subtitle?: string): string {
  return `<text x="${MARGIN.left}" y="24" font-size="17" font-weight="bold" ${FONT}>${escape(title)}</text>` +
    (subtitle === undefined ? '' : `\n<text x="${MARGIN.left}" y="40" font-size="12" fill="#555" ${FONT}>${escape(subtitle)}</text>`);
}

function legend(entries: { name: string; color: string }[], total: number): string {
  if (entries.length === 0) return '';
  const lines = entries.map((entry, i) => {
    const y = MARGIN.top + 14 + i * 16;
    return `<rect x="${WIDTH - MARGIN.right - 190}" y="${y - 9}" width="14" height="4" fill="${entry.color}"/>` +
      `<text x="${WIDTH - MARGIN.right - 170}" y="${y - 3}" font-size="11" ${FONT}>${escape(truncate(entry.name, 30))}</text>`;
  });
  if (total > entries.length) lines.push(`<text x="${WIDTH - MARGIN.right - 170}" y="${MARGIN.top + 14 + entries.length * 16 - 3}" font-size="11" fill="#555" ${FONT}>… and ${total - entries.length} more</text>`);
  const height = 8 + Math.min(total, entries.length + 1) * 16;
  return `<rect x="${WIDTH - MARGIN.right - 196}" y="${MARGIN.top + 2}" width="190" height="${height}" fill="white" fill-opacity="0.85" stroke="#ccc"/>\n${lines.join('\n')}`;
}

function wrap(body: string, height = HEIGHT): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}

/** About `count` round-numbered ticks covering [lo, hi]. */
export function ticks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((candidate) => span / candidate <= count) ?? 10 * magnitude;
  const out: number[] = [];
  for (let value = Math.ceil(lo / step) * step; value <= hi + step * 1e-9; value += step) out.push(Number(value.toPrecision(12)));
  return out;
}

/** A tick formatter with as many decimals as the tick step needs (10.25, 10.3, ... not 10.3, 10.3). */
function stepFormat(lo: number, hi: number, count: number): (value: number) => string {
  const values = ticks(lo, hi, count);
  const step = values.length > 1 ? values[1]! - values[0]! : 1;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  if (decimals === 0 || Math.max(Math.abs(lo), Math.abs(hi)) >= 1e4) return fmt;
  return (value) => value.toFixed(Math.min(6, decimals));
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(Math.pow(10, e));
  return out;
}

export function niceCeil(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = Math.pow(10, Math.floor(Math.log10(value)));
  for (const factor of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (factor * magnitude >= value) return factor * magnitude;
  return 10 * magnitude;
}

/** Short numbers: 1.5k, 12, 0.25. */
export function fmt(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${trim(value / 1e9)}G`;
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e4) return `${trim(value / 1e3)}k`;
  if (abs >= 100 || Number.isInteger(value)) return String(Math.round(value));
  if (abs >= 1) return trim(value);
  return value.toPrecision(2).replace(/\.?0+$/, '');
}

function trim(value: number): string {
  return value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2).replace(/\.?0+$/, '');
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// Reports of simulated runs: the JSON result, SVG charts a person can read
// at a glance, a short text summary, and an index.html that shows them
// together.
//
//   writeReport('out/', scenario, [result]);   // result.json, summary.txt, *.svg, index.html
//   console.log(summaryText(result));
//
// Charts (one run; with several seeds, the first run's, and the summary
// aggregates all of them):
//   convergence.svg      fraction of live nodes that know of each change, over time
//                        since it happened (join storms: fraction of pairs seen alive)
//   detection.svg        histogram of per-node detection times of the crashes
//   false-positives.svg  healthy members declared dead, echoes, suspicions, refutations
//   bandwidth.svg        bytes per second sent by each node, busiest first, by channel
//   raft.svg             Raft unavailability windows, client write gaps, lock holders

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from './runner.ts';
import type { Scenario } from './scenario.ts';
import { barChart, emptyChart, fmt, histogram, lineChart, timeline } from './svg.ts';
import type { Point, Series } from './svg.ts';

const seconds = (ms: number | null): string => (ms === null ? 'never' : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);
const bytes = (value: number): string => (value >= 1024 * 1024 ? `${(value / 1048576).toFixed(1)} MiB` : value >= 1024 ? `${(value / 1024).toFixed(1)} KiB` : `${Math.round(value)} B`);

/** A few lines a person reads at the end of a run. */
export function summaryText(result: RunResult): string {
  const lines: string[] = [];
  const speed = result.simulatedMs / Math.max(1, result.wallMs);
  lines.push(`${result.scenario} · ${result.nodes} nodes${result.coreNodes < result.nodes ? ` (${result.coreNodes} real cores, ${result.nodes - result.coreNodes} on the compact model)` : ''} · seed ${result.seed}`);
  lines.push(`  ${seconds(result.simulatedMs)} simulated in ${seconds(result.wallMs)} (${speed.toFixed(1)}x real time, ${fmt(result.events)} events, ${fmt((result.nodes * result.simulatedMs) / Math.max(1, result.wallMs))} node-seconds per second)`);
  const failures = result.membership.changes.filter((change) => change.expect !== 'alive');
  const returns = result.membership.changes.filter((change) => change.expect === 'alive');
  for (const change of failures.slice(0, 8)) {
    lines.push(`  ${change.label} at ${seconds(change.atMs)}: first knew after ${seconds(change.firstMs)}, half ${seconds(change.p50Ms)}, 99.9% ${seconds(change.p999Ms)}, all ${change.observers} ${change.allMs === null ? `never (${change.learned} did)` : `after ${seconds(change.allMs)}`}`);
  }
  if (failures.length > 8) {
    const all = failures.map((change) => change.allMs ?? Infinity).sort((a, b) => a - b);
    lines.push(`  … ${failures.length} failures in all: everyone knew after ${seconds(all[0]!)} to ${Number.isFinite(all.at(-1)!) ? seconds(all.at(-1)!) : 'never (some)'} (median ${seconds(all[Math.floor(all.length / 2)]!)})`);
  }
  if (returns.length > 0) {
    const all = returns.map((change) => change.allMs ?? Infinity).sort((a, b) => a - b);
    lines.push(`  ${returns.length} restart${returns.length > 1 ? 's' : ''}: seen alive again by all after ${seconds(all[0]!)} to ${Number.isFinite(all.at(-1)!) ? seconds(all.at(-1)!) : 'never (some)'}`);
  }
  if (result.membership.aliveFraction.length > 0) {
    lines.push(`  every node saw every other alive ${result.membership.fullyConvergedAtMs === null ? 'never' : `after ${seconds(result.membership.fullyConvergedAtMs)}`}`);
  }
  const m = result.membership;
  lines.push(`  false deaths ${m.falseDeaths} · echoes of partitions ${m.echoedDeaths} · deaths of overloaded nodes ${m.degradedDeaths} · suspicions of healthy members ${m.falseSuspicions} · refutations ${m.coreStats.refutations ?? 0}`);
  const bw = result.bandwidth;
  const channels = Object.entries(bw.byChannel).filter(([, c]) => c.meanSentBytesPerSecond > 0).map(([name, c]) => `${name} ${bytes(c.meanSentBytesPerSecond)}`).join(', ');
  lines.push(`  per node: ${bytes(bw.meanSentBytesPerSecond)}/s sent on average (${channels}), p99 ${bytes(bw.p99SentBytesPerSecond)}/s, max ${bytes(bw.maxSentBytesPerSecond)}/s; ${bw.messagesPerNodePerSecond.toFixed(1)} messages/s`);
  lines.push(`  gossip: ${result.gossip.published} published, ${fmt(result.gossip.delivered ?? 0)} delivered, ${fmt(result.gossip.duplicates ?? 0)} duplicates, ${result.gossip.recoveredByIwant} recovered by IWANT`);
  if (result.raft !== null) {
    const raft = result.raft;
    lines.push(`  raft (voters ${raft.voters.join(', ')}): ${raft.committed} entries, ${raft.leaderChanges} leader changes, no leader for ${seconds(raft.unavailableTotalMs)} in ${raft.unavailable.length} window${raft.unavailable.length === 1 ? '' : 's'}${raft.unavailable.length > 0 ? ` (longest ${seconds(Math.max(...raft.unavailable.map((w) => w.durationMs)))})` : ''}; longest gap between client writes ${seconds(raft.writeGaps.length === 0 ? 0 : Math.max(...raft.writeGaps.map((g) => g.durationMs)))}`);
    if (raft.kv !== null) lines.push(`  kv: ${raft.kv.completed} operations completed, ${raft.kv.failed} refused, ${raft.kv.unknown} unknown; linearizability ${raft.kv.linearizability.slice(0, 200)}`);
    if (raft.locks !== null) lines.push(`  locks: ${raft.locks.acquisitions} acquisitions, at most ${raft.locks.maxConcurrentHolders} holder${raft.locks.maxConcurrentHolders === 1 ? '' : 's'} at once`);
  }
  for (const check of result.checks) lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  return lines.join('\n');
}

/** Across seeds: the spread of detection times and which seeds failed. */
export function aggregateText(results: RunResult[], replay: (result: RunResult) => string): string {
  if (results.length === 1) return summaryText(results[0]!);
  const lines = [`${results[0]!.scenario} · ${results[0]!.nodes} nodes · ${results.length} seeds`];
  const all = results.flatMap((result) => result.membership.changes.filter((change) => change.expect === 'failed').map((change) => change.allMs ?? Infinity)).sort((a, b) => a - b);
  if (all.length > 0) {
    const at = (q: number) => all[Math.min(all.length - 1, Math.ceil(q * all.length) - 1)]!;
    lines.push(`  crashes known to everyone after: median ${seconds(at(0.5))}, p90 ${seconds(at(0.9))}, worst ${Number.isFinite(all.at(-1)!) ? seconds(all.at(-1)!) : 'never'} (${all.length} crashes)`);
  }
  const falseDeaths = results.reduce((sum, result) => sum + result.membership.falseDeaths, 0);
  lines.push(`  false deaths ${falseDeaths} over all seeds; wall time ${seconds(results.reduce((sum, r) => sum + r.wallMs, 0))}`);
  const failing = results.filter((result) => !result.ok);
  lines.push(`  ${results.length - failing.length} of ${results.length} seeds passed every check`);
  for (const result of failing) {
    lines.push(`  FAIL seed ${result.seed}: ${result.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`).join('; ').slice(0, 300)}`);
    lines.push(`       replay: ${replay(result)}`);
  }
  return lines.join('\n');
}

/** The charts of one run, by file name. */
export function charts(result: RunResult, scenario: Scenario | null): Record<string, string> {
  const out: Record<string, string> = {};
  const subtitle = `${result.scenario}, ${result.nodes} nodes, seed ${result.seed}`;
  out['convergence.svg'] = convergenceChart(result, subtitle);
  const detections = result.membership.changes.filter((change) => change.expect === 'failed').flatMap((change) => change.learnTimesMs.map((ms) => ms / 1000));
  out['detection.svg'] = detections.length === 0
    ? emptyChart('Detection time', 'no crash in this scenario')
    : histogram({
      title: 'Detection time: crash to "failed" in each node\'s view', subtitle, xLabel: 'seconds after the crash', yLabel: 'nodes',
      values: detections, note: `${detections.length} observations; median ${(median(detections)).toFixed(2)} s`,
    });
  const m = result.membership;
  out['false-positives.svg'] = barChart({
    title: 'False positives', subtitle: `${subtitle} (counts of (observer, member) events)`, yLabel: 'events',
    bars: [
      { label: 'false deaths', value: m.falseDeaths, color: '#d62728' },
      { label: 'partition echoes', value: m.echoedDeaths, color: '#ff7f0e' },
      { label: 'overloaded dead', value: m.degradedDeaths, color: '#9467bd' },
      { label: 'healthy suspected', value: m.falseSuspicions, color: '#1f77b4' },
      { label: 'refutations', value: m.coreStats.refutations ?? 0, color: '#2ca02c' },
    ],
  });
  const sent = result.bandwidth.perNodeSentBytesPerSecond.slice().sort((a, b) => b - a);
  const received = result.bandwidth.perNodeReceivedBytesPerSecond.slice().sort((a, b) => b - a);
  out['bandwidth.svg'] = sent.length === 0 ? emptyChart('Bandwidth per node', 'no node was up throughout') : lineChart({
    title: 'Bandwidth per node (busiest first)',
    subtitle: `${subtitle}; mean sent ${bytes(result.bandwidth.meanSentBytesPerSecond)}/s (${Object.entries(result.bandwidth.byChannel).filter(([, c]) => c.meanSentBytesPerSecond > 0).map(([name, c]) => `${name} ${bytes(c.meanSentBytesPerSecond)}`).join(', ')})`,
    xLabel: 'nodes, ranked', yLabel: 'bytes per second', yMin: 0,
    series: [
      { name: 'sent', points: sent.map((value, i) => [i + 1, value] as Point), step: true },
      { name: 'received', points: received.map((value, i) => [i + 1, value] as Point), step: true, dashed: true },
    ],
  });
  if (result.raft !== null) out['raft.svg'] = raftChart(result, subtitle, scenario);
  return out;
}

function convergenceChart(result: RunResult, subtitle: string): string {
  const changes = result.membership.changes;
  if (changes.length === 0) {
    const points = result.membership.aliveFraction.filter(([ms]) => ms >= 0).map(([ms, fraction]) => [ms / 1000, fraction] as Point);
    if (points.length === 0) return emptyChart('Convergence', 'nothing changed in this scenario');
    return lineChart({
      title: 'Convergence: fraction of (observer, member) pairs seen alive', subtitle, xLabel: 'seconds since the timeline started', yLabel: 'fraction seen alive',
      yMin: 0, yMax: 1, series: [{ name: 'pairs seen alive', points }],
      markers: result.membership.fullyConvergedAtMs === null ? [] : [{ x: result.membership.fullyConvergedAtMs / 1000, label: `all: ${(result.membership.fullyConvergedAtMs / 1000).toFixed(1)} s` }],
    });
  }
  // After the first node knows, how fast the news reaches the rest (the dissemination curve that
  // Serf's convergence simulator draws); how long the first one took is the detection chart's job.
  const series: Series[] = changes.slice(0, 40).map((change) => {
    const first = change.learnTimesMs[0] ?? 0;
    const points: Point[] = [[0, 0]];
    change.learnTimesMs.forEach((ms, i) => points.push([(ms - first) / 1000, (i + 1) / Math.max(1, change.observers)]));
    return { name: `${change.label}: first at ${(first / 1000).toFixed(1)} s`, points, step: true, dashed: change.expect === 'alive' };
  });
  const spreads = changes.map((change) => (change.allMs ?? change.learnTimesMs.at(-1) ?? 0) - (change.learnTimesMs[0] ?? 0));
  const inMs = Math.max(...spreads) < 2_000;
  const unit = inMs ? 1 : 1000;
  for (const item of series) item.points = item.points.map(([x, y]) => [(x * 1000) / unit, y] as Point);
  const xMax = Math.max(inMs ? 10 : 0.01, ...spreads.map((ms) => ms / unit)) * 1.15;
  const first = changes[0]!;
  const p999 = first.p999Ms === null || first.firstMs === null ? null : first.p999Ms - first.firstMs;
  return lineChart({
    title: 'Convergence: spread of each change once the first node knew', subtitle,
    xLabel: `${inMs ? 'milliseconds' : 'seconds'} since the first node knew`, yLabel: 'fraction of live nodes that know',
    yMin: 0, yMax: 1, xMin: 0, xMax, series,
    markers: p999 === null ? [] : [{ x: p999 / unit, label: `99.9% after ${p999 < 1000 ? `${p999} ms` : `${(p999 / 1000).toFixed(2)} s`}` }],
  });
}

function raftChart(result: RunResult, subtitle: string, scenario: Scenario | null): string {
  const raft = result.raft!;
  const end = (result.simulatedMs - result.timelineStartMs) / 1000;
  const rows = [
    { label: 'no leader', intervals: raft.unavailable.map((w) => ({ from: w.fromMs / 1000, to: w.toMs / 1000, color: '#d62728', title: `${w.durationMs} ms` })) },
    { label: 'write gaps > 1 s', intervals: raft.writeGaps.map((w) => ({ from: w.fromMs / 1000, to: w.toMs / 1000, color: '#ff7f0e', title: `${w.durationMs} ms` })) },
  ];
  if (raft.locks !== null) {
    const contenders = [...new Set(raft.locks.holders.map((h) => h.contender))].sort((a, b) => a - b);
    for (const contender of contenders) {
      rows.push({ label: `lock holder c${contender}`, intervals: raft.locks.holders.filter((h) => h.contender === contender).map((h) => ({ from: h.fromMs / 1000, to: h.toMs / 1000, color: '#2ca02c', title: `${h.toMs - h.fromMs} ms` })) });
    }
  }
  // The faults as a row of their own, so each window can be read against what caused it.
  const faults = (scenario?.timeline ?? []).flatMap((event): { from: number; to: number; color: string; title: string }[] => {
    const from = event.atMs / 1000;
    switch (event.action) {
      case 'partition': case 'loss': case 'overload':
        return [{ from, to: (event.atMs + (event.durationMs > 0 ? event.durationMs : (scenario?.durationMs ?? 0) - event.atMs)) / 1000, color: '#7f7f7f', title: event.action }];
      case 'crash': case 'restart': case 'leave': case 'rolling-restart':
        return [{ from, to: from + 0.4, color: '#000000', title: event.action }];
      default:
        return [];
    }
  });
  if (faults.length > 0) rows.unshift({ label: 'faults', intervals: faults });
  return timeline({ title: 'Raft: unavailability and lock holders', subtitle, xLabel: 'seconds since the timeline started', xMin: 0, xMax: Math.max(1, end), rows });
}

/** Writes result(s), charts, summary and index.html into `dir`. */
export function writeReport(dir: string, scenario: Scenario, results: RunResult[], replay: (result: RunResult) => string): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    written.push(join(dir, name));
  };
  for (const result of results) {
    const { trace, ...rest } = result;
    write(results.length === 1 ? 'result.json' : `result-seed-${result.seed}.json`, JSON.stringify(rest, null, 1) + '\n');
    if (trace !== null) write(results.length === 1 ? 'trace.txt' : `trace-seed-${result.seed}.txt`, trace.join('\n') + '\n');
  }
  const summary = aggregateText(results, replay);
  write('summary.txt', summary + '\n');
  const first = results[0]!;
  const svgs = charts(first, scenario);
  for (const [name, svg] of Object.entries(svgs)) write(name, svg);
  const html = `<!doctype html><meta charset="utf-8"><title>${escapeHtml(first.scenario)} simulation</title>
<style>body{font-family:sans-serif;max-width:1560px;margin:24px auto;padding:0 16px}pre{background:#f6f6f6;padding:12px;overflow-x:auto}img{margin:8px;border:1px solid #ddd}</style>
<h1>${escapeHtml(first.scenario)}</h1><p>${escapeHtml(scenario.description)}</p>
<pre>${escapeHtml(summary)}</pre>
${Object.keys(svgs).map((name) => `<img src="${name}" alt="${name}">`).join('\n')}
`;
  write('index.html', html);
  return written;
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// Random distributions for latencies, stalls and workloads, drawn from an
// injected Prng so that runs replay. Written in scenario files as
// `{ "dist": "lognormal", "medianMs": 2, "sigma": 0.5 }` or a bare number
// (a constant).
//
//   constant     value
//   uniform      min .. max
//   normal       mean, stddev           (clamped at min, default 0)
//   lognormal    medianMs, sigma        (a long right tail: real network latency)
//   exponential  mean                   (memoryless: stalls, inter-arrival times)
//   pareto       scale, shape           (heavy tail: the occasional very slow packet)
// Every kind accepts `min` and `max` clamps.

import type { Prng } from '../raft/prng.ts';

export type Distribution =
  | number
  | { dist: 'constant'; value: number }
  | { dist: 'uniform'; min: number; max: number }
  | { dist: 'normal'; mean: number; stddev: number; min?: number; max?: number }
  | { dist: 'lognormal'; medianMs: number; sigma: number; min?: number; max?: number }
  | { dist: 'exponential'; mean: number; min?: number; max?: number }
  | { dist: 'pareto'; scale: number; shape: number; min?: number; max?: number };

/** Draws one value. */
export function sample(distribution: Distribution, prng: Prng): number {
  if (typeof distribution === 'number') return distribution;
  let value: number;
  switch (distribution.dist) {
    case 'constant':
      return distribution.value;
    case 'uniform':
      return distribution.min + prng.nextFloat() * (distribution.max - distribution.min);
    case 'normal':
      value = distribution.mean + distribution.stddev * standardNormal(prng);
      return clamp(value, distribution.min ?? 0, distribution.max);
    case 'lognormal':
      value = distribution.medianMs * Math.exp(distribution.sigma * standardNormal(prng));
      return clamp(value, distribution.min ?? 0, distribution.max);
    case 'exponential':
      value = -distribution.mean * Math.log(1 - prng.nextFloat());
      return clamp(value, distribution.min ?? 0, distribution.max);
    case 'pareto':
      value = distribution.scale / Math.pow(1 - prng.nextFloat(), 1 / distribution.shape);
      return clamp(value, distribution.min ?? 0, distribution.max);
  }
}

/** The distribution's mean (analytic; clamps ignored). For reports and sanity checks. */
export function meanOf(distribution: Distribution): number {
  if (typeof distribution === 'number') return distribution;
  switch (distribution.dist) {
    case 'constant': return distribution.value;
    case 'uniform': return (distribution.min + distribution.max) / 2;
    case 'normal': return distribution.mean;
    case 'lognormal': return distribution.medianMs * Math.exp((distribution.sigma * distribution.sigma) / 2);
    case 'exponential': return distribution.mean;
    case 'pareto': return distribution.shape > 1 ? (distribution.shape * distribution.scale) / (distribution.shape - 1) : Infinity;
  }
}

/** Throws a RangeError naming `where` if the distribution cannot be sampled. */
export function validateDistribution(distribution: unknown, where: string): asserts distribution is Distribution {
  const fail = (problem: string): never => {
    throw new RangeError(`${where}: ${problem}`);
  };
  if (typeof distribution === 'number') {
    if (!(Number.isFinite(distribution) && distribution >= 0)) fail(`${distribution} is not a non-negative number`);
    return;
  }
  if (typeof distribution !== 'object' || distribution === null) return fail('expected a number or { dist: ... }');
  const d = distribution as Record<string, unknown>;
  const number = (field: string, positive = false): number => {
    const value = d[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (positive && value === 0)) {
      return fail(`${field} must be a ${positive ? 'positive' : 'non-negative'} number, got ${JSON.stringify(value)}`);
    }
    return value;
  };
  for (const clampField of ['min', 'max']) if (d[clampField] !== undefined) number(clampField);
  switch (d.dist) {
    case 'constant': number('value'); return;
    case 'uniform': if (number('max') < number('min')) fail('max is below min'); return;
    case 'normal': number('mean'); number('stddev'); return;
    case 'lognormal': number('medianMs', true); number('sigma'); return;
    case 'exponential': number('mean', true); return;
    case 'pareto': number('scale', true); number('shape', true); return;
    default: fail(`unknown dist ${JSON.stringify(d.dist)} (constant, uniform, normal, lognormal, exponential, pareto)`);
  }
}

function clamp(value: number, min: number, max: number | undefined): number {
  if (value < min) return min;
  if (max !== undefined && value > max) return max;
  return value;
}

/** Box-Muller, one value per call (the second is dropped: simpler to keep deterministic). */
function standardNormal(prng: Prng): number {
  const u = 1 - prng.nextFloat();
  const v = prng.nextFloat();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Statistics over seeds, for tables of many runs (`ssmis collect`) and the experiment script: mean and sample
 * standard deviation, Student-t quantiles, the mean paired difference of two settings with its 95 % confidence
 * interval, and the smallest difference a design of n seeds can detect. Pure functions, no I/O, no TF.js.
 */
import { argumentError, requireArray, requireNumber, requireOneOf } from '../util/args.js';

/**
 * Arithmetic mean.
 * @param values - The numbers.
 * @returns The mean, or null for an empty list.
 */
export function mean(values: readonly number[]): number | null {
  requireArray('mean', 'values', values, 'an array of numbers');
  if (values.length === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * Sample standard deviation (n − 1 in the denominator): the spread of a setting over a few seeds is an estimate
 * from a small sample, so the unbiased-variance form is the honest one.
 * @param values - The numbers.
 * @returns The standard deviation; 0 for one value, null for none.
 */
export function sampleStd(values: readonly number[]): number | null {
  const m = mean(values);
  if (m === null) return null;
  if (values.length === 1) return 0;
  let ss = 0;
  for (const v of values) ss += (v - m) * (v - m);
  return Math.sqrt(ss / (values.length - 1));
}

/**
 * Student-t quantiles t_{p, df} for p ∈ {0.8, 0.975} (one-sided), df = 1..30, from the standard tables rounded
 * to 4 digits; beyond df = 30 the normal limit. A table because these two quantiles are all the tables need (95 %
 * two-sided interval, 80 % power) and no statistics package is a dependency.
 */
const T_TABLE = {
  0.975: [
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.306, 2.2622, 2.2281, 2.201, 2.1788, 2.1604,
    2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.093, 2.086, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555,
    2.0518, 2.0484, 2.0452, 2.0423,
  ],
  0.8: [
    1.3764, 1.0607, 0.9785, 0.941, 0.9195, 0.9057, 0.896, 0.8889, 0.8834, 0.8791, 0.8755, 0.8726, 0.8702,
    0.8681, 0.8662, 0.8647, 0.8633, 0.862, 0.861, 0.86, 0.8591, 0.8583, 0.8575, 0.8569, 0.8562, 0.8557,
    0.8551, 0.8546, 0.8542, 0.8538,
  ],
} as const;
const NORMAL = { 0.975: 1.96, 0.8: 0.8416 } as const;

/** The one-sided probabilities {@link tQuantile} knows. */
export type TQuantileLevel = 0.8 | 0.975;

/**
 * One-sided Student-t quantile.
 * @param p - 0.975 (the 95 % two-sided interval) or 0.8 (80 % power).
 * @param df - Degrees of freedom, a positive integer.
 * @returns t_{p, df}; the normal quantile beyond df = 30.
 * @throws InputError when `p` is not 0.8 or 0.975 or `df` is not a positive integer.
 * @example
 * tQuantile(0.975, 4); // 2.7764: the 95 % interval of 5 seeds is mean ± 2.7764·s/√5
 */
export function tQuantile(p: TQuantileLevel, df: number): number {
  requireOneOf('tQuantile', 'p', p, [0.8, 0.975] as const);
  if (typeof df !== 'number' || !Number.isSafeInteger(df) || df < 1) {
    throw argumentError('tQuantile', 'df', 'a positive integer (degrees of freedom)', df);
  }
  const table = T_TABLE[p];
  return df <= table.length ? table[df - 1] : NORMAL[p];
}

/** The result of {@link pairedDifference}. */
export interface PairedDifference {
  /** Seeds both sides have a finite value for. */
  n: number;
  /** Mean of the per-seed differences a − b; null without pairs. */
  mean: number | null;
  /** Sample standard deviation of the differences; null below two pairs. */
  std: number | null;
  /** Lower end of the 95 % confidence interval; null below two pairs. */
  low: number | null;
  /** Upper end of the 95 % confidence interval; null below two pairs. */
  high: number | null;
  /** t_{0.975, n−1}·s/√n; null below two pairs. */
  halfWidth: number | null;
  /** Smallest true difference these seeds detect with 80 % power at the 5 % level; null below two pairs. */
  detectable: number | null;
  /** The paired seeds, ascending. */
  seeds: number[];
  /** a − b per paired seed, in the order of `seeds`. */
  differences: number[];
}

/** A value per seed: a Map, or an object keyed by the seed. */
export type PerSeed = ReadonlyMap<number, number> | Readonly<Record<number, number>>;

function perSeedMap(fn: string, name: string, value: PerSeed): ReadonlyMap<number, number> {
  if (value instanceof Map) return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw argumentError(fn, name, 'a Map or an object from seed to value', value);
  }
  return new Map(Object.entries(value).map(([k, v]) => [Number(k), v as number]));
}

/**
 * Mean of the per-seed differences a − b over the seeds both have, with a two-sided 95 % t interval
 * (mean ± t_{0.975, n−1}·s/√n, s the sample std of the differences) and `detectable`: the smallest true
 * difference this many seeds detect with 80 % power at the 5 % level, (t_{0.975, n−1} + t_{0.8, n−1})·s/√n,
 * with the observed s as the planning value. Pairing by seed removes what two runs of one seed share (the data
 * order, the initial weights, a shared stage-1 model). Seeds without a finite value on both sides are left out.
 * @param a - Value per seed of the setting compared.
 * @param b - Value per seed of the baseline.
 * @returns The paired difference; below two pairs the interval and `detectable` are null.
 * @throws InputError when `a` or `b` is not a Map or an object from seed to value.
 * @example
 * pairedDifference(new Map([[1, 0.81], [2, 0.84]]), new Map([[1, 0.78], [2, 0.80]])).mean; // 0.035
 */
export function pairedDifference(a: PerSeed, b: PerSeed): PairedDifference {
  const ma = perSeedMap('pairedDifference', 'a', a);
  const mb = perSeedMap('pairedDifference', 'b', b);
  const finite = (m: ReadonlyMap<number, number>, s: number) => Number.isFinite(m.get(s));
  const seeds = [...ma.keys()].filter((s) => finite(ma, s) && finite(mb, s)).sort((x, y) => x - y);
  const differences = seeds.map((s) => (ma.get(s) as number) - (mb.get(s) as number));
  const n = differences.length;
  const m = mean(differences);
  const std = sampleStd(differences);
  if (n < 2 || m === null || std === null) {
    const none = { low: null, high: null, halfWidth: null, detectable: null };
    return { n, mean: m, std: n < 2 ? null : std, ...none, seeds, differences };
  }
  const se = std / Math.sqrt(n);
  const t = tQuantile(0.975, n - 1);
  const halfWidth = t * se;
  return {
    n,
    mean: m,
    std,
    low: m - halfWidth,
    high: m + halfWidth,
    halfWidth,
    detectable: (t + tQuantile(0.8, n - 1)) * se,
    seeds,
    differences,
  };
}

/**
 * Seeds needed so that the 80 %-power detectable difference is at most `target`, for a per-seed difference
 * spread `std`: the smallest n ≥ 2 with (t_{0.975,n−1} + t_{0.8,n−1})·std/√n ≤ target.
 * @param std - Standard deviation of the per-seed differences (≥ 0).
 * @param target - The difference to detect (> 0).
 * @returns The number of seeds, or null when more than 200 would be needed.
 * @throws InputError when `std` is negative or `target` not positive.
 * @example
 * seedsToDetect(0.02, 0.03); // 6
 */
export function seedsToDetect(std: number, target: number): number | null {
  requireNumber('seedsToDetect', 'std', std, { min: 0 });
  requireNumber('seedsToDetect', 'target', target);
  if (!(target > 0)) throw argumentError('seedsToDetect', 'target', 'a number > 0', target);
  for (let n = 2; n <= 200; n++) {
    if ((tQuantile(0.975, n - 1) + tQuantile(0.8, n - 1)) * (std / Math.sqrt(n)) <= target) return n;
  }
  return null;
}

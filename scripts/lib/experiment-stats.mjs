/**
 * Paired statistics over seeds for `scripts/experiment.mjs`: Student-t quantiles, the mean paired difference of
 * two methods with its 95 % confidence interval, and the smallest difference a design of n seeds can detect.
 * Pure functions (no I/O), tested in `tests/scripts/experiment-stats.test.ts`.
 */
import { mean, sampleStd } from './stats.mjs';

/**
 * Student-t quantile t_{p, df} for p ∈ {0.8, 0.975} (one-sided), df = 1..30, and the normal limit beyond.
 * Values from the standard tables (rounded to 4 digits); a table because no statistics package is a
 * dependency and these two quantiles are all the report needs (95 % two-sided interval, 80 % power).
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
};
const NORMAL = { 0.975: 1.96, 0.8: 0.8416 };

/**
 * One-sided Student-t quantile.
 * @param {0.8 | 0.975} p
 * @param {number} df degrees of freedom, a positive integer
 * @returns {number}
 */
export function tQuantile(p, df) {
  const table = T_TABLE[p];
  if (table === undefined) throw new Error(`tQuantile: p must be 0.8 or 0.975, got ${p}`);
  if (!Number.isInteger(df) || df < 1) throw new Error(`tQuantile: df must be a positive integer, got ${df}`);
  return df <= table.length ? table[df - 1] : NORMAL[p];
}

/**
 * @typedef {{ n: number, mean: number | null, std: number | null, low: number | null, high: number | null,
 *   halfWidth: number | null, detectable: number | null, seeds: number[], differences: number[] }} PairedDifference
 */

/**
 * Mean of the per-seed differences a − b over the seeds both have, with a two-sided 95 % t interval
 * (mean ± t_{0.975, n−1}·s/√n, s the sample std of the differences) and `detectable`: the smallest true
 * difference this many seeds detect with 80 % power at the 5 % level, (t_{0.975, n−1} + t_{0.8, n−1})·s/√n,
 * using the observed s as the planning value. Pairing by seed removes what two runs of one seed share (the
 * stage-1 model, the sampling order, the initial weights). With fewer than two pairs the interval is null.
 * @param {ReadonlyMap<number, number> | Record<number, number>} a value per seed
 * @param {ReadonlyMap<number, number> | Record<number, number>} b value per seed
 * @returns {PairedDifference}
 */
export function pairedDifference(a, b) {
  const toMap = (x) => (x instanceof Map ? x : new Map(Object.entries(x).map(([k, v]) => [Number(k), v])));
  const ma = toMap(a);
  const mb = toMap(b);
  const seeds = [...ma.keys()]
    .filter((s) => mb.has(s) && Number.isFinite(ma.get(s)) && Number.isFinite(mb.get(s)))
    .sort((x, y) => x - y);
  const differences = seeds.map((s) => ma.get(s) - mb.get(s));
  const n = differences.length;
  const m = mean(differences);
  const std = sampleStd(differences);
  if (n < 2 || m === null || std === null) {
    return {
      n,
      mean: m,
      std: n < 2 ? null : std,
      low: null,
      high: null,
      halfWidth: null,
      detectable: null,
      seeds,
      differences,
    };
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
 * spread `std` (smallest n ≥ 2 with (t_{0.975,n−1} + t_{0.8,n−1})·std/√n ≤ target; null above 200 seeds).
 * @param {number} std
 * @param {number} target
 * @returns {number | null}
 */
export function seedsToDetect(std, target) {
  if (!(std >= 0) || !(target > 0)) throw new Error('seedsToDetect: expected std ≥ 0 and target > 0');
  for (let n = 2; n <= 200; n++) {
    if ((tQuantile(0.975, n - 1) + tQuantile(0.8, n - 1)) * (std / Math.sqrt(n)) <= target) return n;
  }
  return null;
}

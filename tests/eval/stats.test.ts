import { describe, expect, it } from 'vitest';
import { mean, pairedDifference, sampleStd, seedsToDetect, tQuantile } from '../../src/eval/stats.js';

/** Student-t CDF by Simpson integration of the density: an oracle independent of the quantile table. */
function tCdf(x: number, df: number): number {
  const lgamma = (z: number): number => {
    // Lanczos approximation (g = 7, n = 9).
    const c = [
      0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
      12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];
    if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lgamma(1 - z);
    const zz = z - 1;
    let a = c[0];
    for (let i = 1; i < 9; i++) a += c[i] / (zz + i);
    const t = zz + 7.5;
    return 0.5 * Math.log(2 * Math.PI) + (zz + 0.5) * Math.log(t) - t + Math.log(a);
  };
  const k = Math.exp(lgamma((df + 1) / 2) - lgamma(df / 2)) / Math.sqrt(df * Math.PI);
  const f = (t: number) => k * (1 + (t * t) / df) ** (-(df + 1) / 2);
  const n = 20000;
  const h = x / n;
  let s = f(0) + f(x);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * f(i * h);
  return 0.5 + (s * h) / 3;
}

describe('tQuantile', () => {
  it('matches the Student-t CDF for every tabulated df', () => {
    for (const p of [0.8, 0.975] as const) {
      for (let df = 1; df <= 30; df++) expect(tCdf(tQuantile(p, df), df)).toBeCloseTo(p, 4);
    }
  });
  it('uses the normal limit beyond the table and refuses other arguments', () => {
    expect(tQuantile(0.975, 200)).toBe(1.96);
    expect(() => tQuantile(0.975, 0)).toThrow(/df/);
    expect(() => tQuantile(0.9 as 0.8, 3)).toThrow(/tQuantile: argument 'p' must be one of 0.8, 0.975/);
    expect(() => tQuantile(0.975, 2.5)).toThrow(/argument 'df'/);
  });
});

describe('pairedDifference', () => {
  it('pairs by seed, ignores unpaired seeds, and gives the t interval and the detectable difference', () => {
    const a = new Map([
      [1, 0.7],
      [2, 0.8],
      [3, 0.9],
      [4, 0.5],
    ]);
    const b = new Map([
      [1, 0.69],
      [2, 0.78],
      [3, 0.87],
    ]);
    const d = pairedDifference(a, b);
    expect(d.seeds).toEqual([1, 2, 3]);
    expect(d.n).toBe(3);
    expect(d.mean).toBeCloseTo(0.02, 12);
    expect(d.std).toBeCloseTo(0.01, 12);
    const half = (4.3027 * 0.01) / Math.sqrt(3);
    expect(d.low).toBeCloseTo(0.02 - half, 12);
    expect(d.high).toBeCloseTo(0.02 + half, 12);
    expect(d.detectable).toBeCloseTo(((4.3027 + 1.0607) * 0.01) / Math.sqrt(3), 12);
  });
  it('leaves out seeds without a finite value on both sides, and refuses what is not per-seed values', () => {
    const d = pairedDifference({ 1: 0.5, 2: Number.NaN, 3: 0.7 }, { 1: 0.4, 2: 0.3, 3: 0.5 });
    expect(d.seeds).toEqual([1, 3]);
    expect(d.differences.map((x) => Number(x.toFixed(12)))).toEqual([0.1, 0.2]);
    expect(() => pairedDifference([0.1, 0.2] as unknown as Record<number, number>, {})).toThrow(
      /pairedDifference: argument 'a'/,
    );
  });
  it('has no interval below two pairs, and accepts plain objects', () => {
    const d = pairedDifference({ 1: 0.5 }, { 1: 0.4, 2: 0.3 });
    expect(d.n).toBe(1);
    expect(d.mean).toBeCloseTo(0.1, 12);
    expect(d.low).toBeNull();
    expect(d.detectable).toBeNull();
  });
});

describe('mean and sampleStd', () => {
  it('mean, and the sample std with n − 1', () => {
    expect(mean([])).toBeNull();
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    // Σ(x − 2.5)² = 5, / 3
    expect(sampleStd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(sampleStd([5])).toBe(0);
    expect(sampleStd([])).toBeNull();
    expect(() => mean('1,2' as unknown as number[])).toThrow(/mean: argument 'values'/);
  });
});

describe('seedsToDetect', () => {
  it('finds the smallest n whose 80 %-power detectable difference is within the target', () => {
    const n = seedsToDetect(0.03, 0.03);
    expect(n).not.toBeNull();
    const det = (m: number) => ((tQuantile(0.975, m - 1) + tQuantile(0.8, m - 1)) * 0.03) / Math.sqrt(m);
    expect(det(n as number)).toBeLessThanOrEqual(0.03);
    expect(det((n as number) - 1)).toBeGreaterThan(0.03);
    expect(seedsToDetect(0, 0.03)).toBe(2);
    expect(seedsToDetect(10, 0.001)).toBeNull();
    expect(() => seedsToDetect(-1, 0.03)).toThrow(/argument 'std'/);
    expect(() => seedsToDetect(0.01, 0)).toThrow(/argument 'target'/);
  });
});

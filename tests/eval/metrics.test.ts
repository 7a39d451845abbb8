import { describe, expect, it } from 'vitest';
import { computeMetrics, percentileLinear, surfaceBorder } from '../../src/eval/metrics.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

// ---- Independent brute force (no EDT, no selection, no pairwise sums) ----

function coordsOf(index: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  let rest = index;
  for (let a = shape.length - 1; a >= 0; a--) {
    c[a] = rest % shape[a];
    rest = Math.floor(rest / shape[a]);
  }
  return c;
}

function indexOf(c: readonly number[], shape: readonly number[]): number {
  let p = 0;
  for (let a = 0; a < shape.length; a++) p = p * shape[a] + c[a];
  return p;
}

/** Border voxels by an explicit face-neighbour check (outside the array = background), in row-major order. */
function bruteBorder(mask: Uint8Array, shape: readonly number[]): number[][] {
  const out: number[][] = [];
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    const c = coordsOf(p, shape);
    let border = false;
    for (let a = 0; a < shape.length && !border; a++) {
      for (const delta of [-1, 1]) {
        const n = [...c];
        n[a] += delta;
        if (n[a] < 0 || n[a] >= shape[a] || !mask[indexOf(n, shape)]) border = true;
      }
    }
    if (border) out.push(c);
  }
  return out;
}

function bruteDirected(from: number[][], to: number[][], spacing: readonly number[]): number[] {
  return from.map((a) => {
    let best = Number.POSITIVE_INFINITY;
    for (const b of to) {
      let s = 0;
      for (let k = 0; k < a.length; k++) s += ((a[k] - b[k]) * spacing[k]) ** 2;
      best = Math.min(best, Math.sqrt(s));
    }
    return best;
  });
}

function brutePercentile(values: number[], q: number): number {
  const s = [...values].sort((x, y) => x - y);
  const pos = ((s.length - 1) * q) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

function bruteMetrics(a: Uint8Array, b: Uint8Array, shape: number[], spacing = shape.map(() => 1)) {
  let inter = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i];
    nb += b[i];
    inter += a[i] & b[i];
  }
  const ab = bruteDirected(bruteBorder(a, shape), bruteBorder(b, shape), spacing);
  const ba = bruteDirected(bruteBorder(b, shape), bruteBorder(a, shape), spacing);
  return {
    dice: (2 * inter) / (na + nb),
    jaccard: inter / (na + nb - inter),
    hd95: brutePercentile([...ab, ...ba], 95),
    hd: Math.max(...ab, ...ba),
    asd: mean(ab),
    // medpy 0.5: the mean of both directions' distances pooled (prediction → label first).
    assd: mean([...ab, ...ba]),
  };
}

function randomMask(rng: Rng, n: number, density: number): Uint8Array {
  const m = new Uint8Array(n);
  for (let i = 0; i < n; i++) m[i] = rng.random() < density ? 1 : 0;
  return m;
}

/** A random blob: voxels within a random radius of a random centre (some touch the edges). */
function blob(rng: Rng, shape: number[]): Uint8Array {
  const centre = shape.map((s) => rng.uniform(-1, s));
  const radius = rng.uniform(0.8, Math.max(...shape) / 1.5);
  const m = new Uint8Array(shape.reduce((x, y) => x * y, 1));
  for (let p = 0; p < m.length; p++) {
    const c = coordsOf(p, shape);
    const d2 = c.reduce((s, v, k) => s + (v - centre[k]) ** 2, 0);
    m[p] = d2 <= radius * radius ? 1 : 0;
  }
  return m;
}

function expectMetricsClose(
  actual: ReturnType<typeof computeMetrics>,
  expected: ReturnType<typeof bruteMetrics>,
) {
  for (const key of ['dice', 'jaccard', 'hd95', 'hd', 'asd', 'assd'] as const) {
    const value = actual[key];
    expect(value, key).not.toBeNull();
    expect(Math.abs((value as number) - expected[key]), key).toBeLessThanOrEqual(1e-9 * (1 + expected[key]));
  }
}

describe('computeMetrics vs brute force', () => {
  const rng = new Rng(20240601);
  it('random 3-D volumes, several densities, unit and anisotropic spacing', () => {
    let checked = 0;
    for (let t = 0; t < 60; t++) {
      const shape = [rng.randint(1, 8), rng.randint(1, 8), rng.randint(1, 8)];
      const n = shape[0] * shape[1] * shape[2];
      const useBlob = t % 3 === 0;
      const a = useBlob ? blob(rng, shape) : randomMask(rng, n, [0.05, 0.2, 0.5, 0.9][t % 4]);
      const b = useBlob ? blob(rng, shape) : randomMask(rng, n, [0.1, 0.3, 0.7][t % 3]);
      if (!a.some((v) => v) || !b.some((v) => v)) continue;
      const spacing =
        t % 2 === 0 ? undefined : [rng.uniform(0.3, 3), rng.uniform(0.3, 3), rng.uniform(0.3, 3)];
      expectMetricsClose(computeMetrics(a, b, shape, { spacing }), bruteMetrics(a, b, shape, spacing));
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('random 2-D images, several densities, unit and anisotropic spacing', () => {
    let checked = 0;
    for (let t = 0; t < 60; t++) {
      const shape = [rng.randint(1, 20), rng.randint(1, 20)];
      const n = shape[0] * shape[1];
      const useBlob = t % 3 === 0;
      const a = useBlob ? blob(rng, shape) : randomMask(rng, n, [0.05, 0.2, 0.5, 0.9][t % 4]);
      const b = useBlob ? blob(rng, shape) : randomMask(rng, n, [0.1, 0.3, 0.7][t % 3]);
      if (!a.some((v) => v) || !b.some((v) => v)) continue;
      const spacing = t % 2 === 0 ? undefined : [rng.uniform(0.3, 3), rng.uniform(0.3, 3)];
      expectMetricsClose(computeMetrics(a, b, shape, { spacing }), bruteMetrics(a, b, shape, spacing));
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('surfaceBorder equals the explicit neighbour check', () => {
    for (let t = 0; t < 20; t++) {
      const shape = [rng.randint(1, 7), rng.randint(1, 7), rng.randint(1, 7)];
      const m = randomMask(rng, shape[0] * shape[1] * shape[2], 0.6);
      const border = surfaceBorder(m, shape);
      const expected = new Uint8Array(m.length);
      for (const c of bruteBorder(m, shape)) expected[indexOf(c, shape)] = 1;
      expect(Array.from(border)).toEqual(Array.from(expected));
    }
  });
});

describe('ASSD is medpy 0.5’s pooled mean, not medpy 0.4’s mean of the two directed means', () => {
  // Oracle: every border voxel of either mask, its nearest border voxel of the other by exhaustive search, in mm
  // of an anisotropic spacing; the plain mean of all those distances.
  const rng = new Rng(16016);

  it('random 3-D masks of unequal size with anisotropic spacing', () => {
    let checked = 0;
    let separated = 0;
    for (let t = 0; t < 40; t++) {
      const shape = [rng.randint(3, 9), rng.randint(3, 9), rng.randint(2, 7)];
      const n = shape[0] * shape[1] * shape[2];
      // Unequal densities and a blob against noise: border counts and directed means differ between directions.
      const a = t % 2 === 0 ? blob(rng, shape) : randomMask(rng, n, 0.15);
      const b = randomMask(rng, n, [0.4, 0.6, 0.8][t % 3]);
      if (!a.some((v) => v) || !b.some((v) => v)) continue;
      const spacing = [rng.uniform(0.4, 2.5), rng.uniform(0.4, 2.5), rng.uniform(0.4, 2.5)];
      const ab = bruteDirected(bruteBorder(a, shape), bruteBorder(b, shape), spacing);
      const ba = bruteDirected(bruteBorder(b, shape), bruteBorder(a, shape), spacing);
      const pooled = mean([...ab, ...ba]);
      const medpy04 = (mean(ab) + mean(ba)) / 2;
      const m = computeMetrics(a, b, shape, { spacing });
      expect(Math.abs((m.assd as number) - pooled)).toBeLessThanOrEqual(1e-12 * (1 + pooled));
      // The reverse order pools the same distances: ASSD stays symmetric.
      expect(
        Math.abs((computeMetrics(b, a, shape, { spacing }).assd as number) - pooled),
      ).toBeLessThanOrEqual(1e-12 * (1 + pooled));
      if (Math.abs(pooled - medpy04) > 1e-6 * (1 + pooled)) separated++;
      checked++;
    }
    expect(checked).toBeGreaterThan(30);
    // The masks tell the two definitions apart (a test on symmetric shapes could not).
    expect(separated).toBeGreaterThan(checked / 2);
  });
});

describe('computeMetrics hand-computed cases', () => {
  it('single-voxel masks two voxels apart', () => {
    const shape = [5, 5, 5];
    const a = new Uint8Array(125);
    const b = new Uint8Array(125);
    a[indexOf([1, 1, 1], shape)] = 1;
    b[indexOf([1, 1, 3], shape)] = 1;
    expect(computeMetrics(a, b, shape)).toEqual({ dice: 0, jaccard: 0, hd95: 2, hd: 2, asd: 2, assd: 2 });
    // 0.625 mm along the last axis.
    const mm = computeMetrics(a, b, shape, { spacing: [1, 1, 0.625] });
    expect(mm.hd95).toBeCloseTo(1.25, 12);
    expect(mm.asd).toBeCloseTo(1.25, 12);
  });

  it('identical masks: Dice 1 and every distance 0', () => {
    const shape = [6, 5, 4];
    const m = new Uint8Array(120);
    for (let i = 1; i < 5; i++)
      for (let j = 0; j < 3; j++) for (let k = 1; k < 4; k++) m[indexOf([i, j, k], shape)] = 1;
    expect(computeMetrics(m, m, shape, { spacing: [0.5, 2, 3] })).toEqual({
      dice: 1,
      jaccard: 1,
      hd95: 0,
      hd: 0,
      asd: 0,
      assd: 0,
    });
  });

  function cube(shape: number[], lo: number[], hi: number[]): Uint8Array {
    const m = new Uint8Array(shape[0] * shape[1] * shape[2]);
    for (let i = lo[0]; i <= hi[0]; i++) {
      for (let j = lo[1]; j <= hi[1]; j++)
        for (let k = lo[2]; k <= hi[2]; k++) m[indexOf([i, j, k], shape)] = 1;
    }
    return m;
  }

  it('3×3×3 cube shifted by one voxel along x', () => {
    // Each border (26 voxels) has 10 voxels at distance 1 (the far face and the centre of the near face)
    // and 16 at 0; pooled 52 values = 32 zeros + 20 ones → hd95 index 48.45 → 1.
    const shape = [9, 9, 9];
    const a = cube(shape, [2, 2, 2], [4, 4, 4]);
    const b = cube(shape, [3, 2, 2], [5, 4, 4]);
    const m = computeMetrics(a, b, shape);
    expect(m.dice).toBeCloseTo(2 / 3, 15);
    expect(m.jaccard).toBeCloseTo(0.5, 15);
    expect(m.hd95).toBe(1);
    expect(m.hd).toBe(1);
    expect(m.asd).toBeCloseTo(10 / 26, 15);
    expect(m.assd).toBeCloseTo(10 / 26, 15);
    // Spacing 2 along x: the 9 far-face voxels move to 2, the near-face centre stays at 1 (its y neighbour).
    const s = computeMetrics(a, b, shape, { spacing: [2, 1, 1] });
    expect(s.hd95).toBe(2);
    expect(s.hd).toBe(2);
    expect(s.asd).toBeCloseTo(19 / 26, 15);
    expect(s.assd).toBeCloseTo(19 / 26, 15);
  });

  it('array-edge voxels are border (erosion pads with background)', () => {
    // Full 3×3 image vs its centre pixel: the 8 ring pixels are border (they touch the edge), the centre is not.
    const shape = [3, 3];
    const a = new Uint8Array(9).fill(1);
    const b = new Uint8Array(9);
    b[4] = 1;
    const m = computeMetrics(a, b, shape);
    expect(m.dice).toBeCloseTo(0.2, 15);
    expect(m.jaccard).toBeCloseTo(1 / 9, 15);
    // pooled: 4×1 and 4×√2 (ring → centre), 1 (centre → ring); index 0.95·8 = 7.6 in [1,1,1,1,1,√2,√2,√2,√2].
    expect(m.hd95).toBeCloseTo(Math.SQRT2, 15);
    expect(m.hd).toBeCloseTo(Math.SQRT2, 15);
    expect(m.asd).toBeCloseTo((1 + Math.SQRT2) / 2, 15);
    // Pooled: the 8 ring distances and the centre's 1 (medpy 0.4's mean of means was ((1 + √2)/2 + 1)/2).
    expect(m.assd).toBeCloseTo((5 + 4 * Math.SQRT2) / 9, 15);
  });

  it('percentile interpolates linearly between pooled distances; ASD is directed', () => {
    // 1×10 image: pred = columns 0,1 (all border: one row), label = column 5.
    const shape = [1, 10];
    const a = new Uint8Array(10);
    const b = new Uint8Array(10);
    a[0] = 1;
    a[1] = 1;
    b[5] = 1;
    const m = computeMetrics(a, b, shape);
    // sd(a→b) = [5, 4], sd(b→a) = [4]; pooled sorted [4, 4, 5], index 1.9 → 4.9.
    expect(m.hd95).toBeCloseTo(4.9, 14);
    expect(m.hd).toBe(5);
    expect(m.asd).toBe(4.5);
    // Pooled [5, 4, 4] → 13/3 (medpy 0.4: (4.5 + 4)/2 = 4.25).
    expect(m.assd).toBeCloseTo(13 / 3, 15);
    const reverse = computeMetrics(b, a, shape);
    expect(reverse.asd).toBe(4);
    expect(reverse.hd95).toBeCloseTo(4.9, 14);
    const half = computeMetrics(a, b, shape, { spacing: [1, 0.5] });
    expect(half.hd95).toBeCloseTo(2.45, 14);
  });

  it('an axis of size 1 in a 3-D array is an axis of the structure (every voxel is border)', () => {
    // [3, 3, 1]: the centre voxel has out-of-array neighbours along the last axis, so it is border too.
    const shape = [3, 3, 1];
    const a = new Uint8Array(9).fill(1);
    const b = new Uint8Array(9);
    b[4] = 1;
    const m = computeMetrics(a, b, shape);
    expect(m.hd).toBeCloseTo(Math.SQRT2, 15);
    // a→b: centre 0, 4×1, 4×√2; b→a: the centre is a border voxel of a → 0. Pooled: 10 distances.
    expect(m.assd).toBeCloseTo((4 + 4 * Math.SQRT2) / 10, 15);
  });

  it('empty prediction, empty label, both empty: distances null', () => {
    const shape = [4, 4, 4];
    const empty = new Uint8Array(64);
    const some = new Uint8Array(64);
    some[21] = 1;
    expect(computeMetrics(empty, some, shape)).toEqual({
      dice: 0,
      jaccard: 0,
      hd95: null,
      hd: null,
      asd: null,
      assd: null,
    });
    expect(computeMetrics(some, empty, shape)).toEqual({
      dice: 0,
      jaccard: 0,
      hd95: null,
      hd: null,
      asd: null,
      assd: null,
    });
    expect(computeMetrics(empty, empty, shape)).toEqual({
      dice: 1,
      jaccard: 1,
      hd95: null,
      hd: null,
      asd: null,
      assd: null,
    });
  });

  it('non-zero values of any size count as foreground', () => {
    const shape = [2, 3];
    const a = Int16Array.from([0, 7, 0, -1, 0, 0]);
    const b = Float32Array.from([0, 1, 0, 0, 0, 0.5]);
    const m = computeMetrics(a, b, shape);
    expect(m.dice).toBeCloseTo(0.5, 15);
  });

  it('rejects mismatched sizes, spacing and shapes with InputError', () => {
    const m = new Uint8Array(8);
    expect(() => computeMetrics(m, new Uint8Array(7), [2, 2, 2])).toThrow(InputError);
    expect(() => computeMetrics(m, m, [2, 2, 2], { spacing: [1, 1] })).toThrow(/spacing/);
    expect(() => computeMetrics(m, m, [2, 2, 2], { spacing: [1, 0, 1] })).toThrow(InputError);
    expect(() => computeMetrics(m, m, [2, 2, 2, 1])).toThrow(/1-D, 2-D or 3-D/);
  });
});

describe('percentileLinear', () => {
  it('matches numpy values', () => {
    // numpy.percentile([1, 2, 3, 4], 95) = 3.85; ([0, 10], 50) = 5; ([7], 95) = 7.
    expect(percentileLinear([4, 1, 3, 2], 95)).toBeCloseTo(3.85, 14);
    expect(percentileLinear([10, 0], 50)).toBe(5);
    expect(percentileLinear([7], 95)).toBe(7);
    expect(percentileLinear([3, 3, 3, 1, 9], 100)).toBe(9);
    expect(percentileLinear([3, 3, 3, 1, 9], 0)).toBe(1);
  });

  it('equals the sort-based percentile on random data with many ties', () => {
    const rng = new Rng(7);
    for (let t = 0; t < 50; t++) {
      const n = rng.randint(1, 300);
      const v = Array.from({ length: n }, () => Math.sqrt(rng.randint(0, 30)));
      const q = [95, 50, 5, 99.9][t % 4];
      expect(percentileLinear(v, q)).toBeCloseTo(brutePercentile(v, q), 12);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { euclideanDistanceTransform } from '../../src/eval/distance-transform.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

/** All-pairs brute force: distance from every voxel to the nearest non-zero voxel. */
function bruteEdt(features: Uint8Array, shape: number[], spacing: number[]): Float64Array {
  const coords = (p: number) => {
    const c: number[] = [];
    let rest = p;
    for (let a = shape.length - 1; a >= 0; a--) {
      c[a] = rest % shape[a];
      rest = Math.floor(rest / shape[a]);
    }
    return c;
  };
  const fs: number[][] = [];
  for (let p = 0; p < features.length; p++) if (features[p]) fs.push(coords(p));
  const out = new Float64Array(features.length);
  for (let p = 0; p < features.length; p++) {
    const c = coords(p);
    let best = Number.POSITIVE_INFINITY;
    for (const f of fs) {
      let s = 0;
      for (let a = 0; a < shape.length; a++) s += ((c[a] - f[a]) * spacing[a]) ** 2;
      best = Math.min(best, s);
    }
    out[p] = Math.sqrt(best);
  }
  return out;
}

describe('euclideanDistanceTransform', () => {
  const rng = new Rng(99);

  it('equals all-pairs brute force on random 1-D, 2-D and 3-D arrays with anisotropic spacing', () => {
    for (let t = 0; t < 60; t++) {
      const ndim = 1 + (t % 3);
      const shape = Array.from({ length: ndim }, () => rng.randint(1, ndim === 3 ? 9 : 25));
      const n = shape.reduce((a, b) => a * b, 1);
      const density = [0.01, 0.05, 0.2, 0.6][t % 4];
      const f = new Uint8Array(n);
      for (let i = 0; i < n; i++) f[i] = rng.random() < density ? 1 : 0;
      if (!f.some((v) => v)) f[rng.randint(0, n)] = 1;
      const spacing = t % 2 === 0 ? shape.map(() => 1) : shape.map(() => rng.uniform(0.2, 4));
      const got = euclideanDistanceTransform(f, shape, { spacing });
      const want = bruteEdt(f, shape, spacing);
      for (let i = 0; i < n; i++)
        expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-12 * (1 + want[i]));
    }
  });

  it('unit spacing gives exact square roots of integers', () => {
    const shape = [3, 4, 5];
    const f = new Uint8Array(60);
    f[0] = 1; // voxel (0,0,0)
    const d = euclideanDistanceTransform(f, shape);
    expect(d[(2 * 4 + 3) * 5 + 4]).toBe(Math.sqrt(4 + 9 + 16));
    expect(d[(1 * 4 + 0) * 5 + 0]).toBe(1);
    expect(euclideanDistanceTransform(f, shape, { squared: true })[(2 * 4 + 3) * 5 + 4]).toBe(29);
  });

  it('no feature voxel: every distance is infinite', () => {
    const d = euclideanDistanceTransform(new Uint8Array(24), [2, 3, 4]);
    expect(Array.from(d).every((v) => v === Number.POSITIVE_INFINITY)).toBe(true);
  });

  it('a feature reachable along one axis only still propagates through the others', () => {
    // 2-D [4, 6], single feature at (3, 5) with spacing [2, 0.5].
    const f = new Uint8Array(24);
    f[3 * 6 + 5] = 1;
    const d = euclideanDistanceTransform(f, [4, 6], { spacing: [2, 0.5] });
    expect(d[0]).toBeCloseTo(Math.hypot(3 * 2, 5 * 0.5), 14);
  });

  it('rejects a wrong length or spacing with InputError', () => {
    expect(() => euclideanDistanceTransform(new Uint8Array(5), [2, 3])).toThrow(InputError);
    expect(() => euclideanDistanceTransform(new Uint8Array(6), [2, 3], { spacing: [1] })).toThrow(/spacing/);
    expect(() => euclideanDistanceTransform(new Uint8Array(6), [2, 3], { spacing: [1, -1] })).toThrow(
      InputError,
    );
  });
});

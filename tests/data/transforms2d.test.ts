import { describe, expect, it } from 'vitest';
import { flip, rot90 } from '../../src/data/augment.js';
import {
  acdcRandomGenerator,
  cosdg,
  rotateNearest,
  sindg,
  zoomNearest,
  zoomSourceIndices,
} from '../../src/data/transforms2d.js';
import { Rng } from '../../src/util/rng.js';
import { refusal } from '../helpers/files.js';

/** 5×7 array of 1..35 (row-major), as `np.arange(1, 36).reshape(5, 7)`. */
const A57 = Float32Array.from({ length: 35 }, (_, v) => v + 1);

function rows(data: ArrayLike<number>, n1: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < data.length / n1; i++) out.push(Array.from(data).slice(i * n1, (i + 1) * n1));
  return out;
}

describe('rotateNearest (scipy.ndimage.rotate, order 0, reshape False)', () => {
  it('0° is the identity', () => {
    expect(Array.from(rotateNearest(A57, [5, 7], 0))).toEqual(Array.from(A57));
  });

  it('90° equals np.rot90 (k = 1) and 180° equals k = 2 on square arrays', () => {
    for (const n of [4, 5]) {
      const a = Float32Array.from({ length: n * n }, (_, v) => v + 1);
      expect(Array.from(rotateNearest(a, [n, n], 90))).toEqual(Array.from(rot90(a, [n, n], 1).data));
      expect(Array.from(rotateNearest(a, [n, n], 180))).toEqual(Array.from(rot90(a, [n, n], 2).data));
      expect(Array.from(rotateNearest(a, [n, n], -90))).toEqual(Array.from(rot90(a, [n, n], 3).data));
    }
  });

  it('±45° on 3×3, hand-computed from input = R·(o − c) + c, nearest floor(x + 0.5), outside → 0', () => {
    // a = [[1,2,3],[8,9,10],[15,16,17]]; at +45°, x0 = 0.7071(o0+o1) − 0.4142, x1 = 0.7071(o1−o0) + 1:
    // (0,1) → (0.29, 1.71) → a[0,2]; (1,0) → a[0,0]; (1,1) → a[1,1]; (1,2) → a[2,2]; (2,1) → a[2,0];
    // corners fall outside [0, 2].
    const a = Float32Array.from([1, 2, 3, 8, 9, 10, 15, 16, 17]);
    expect(rows(rotateNearest(a, [3, 3], 45), 3)).toEqual([
      [0, 3, 0],
      [1, 9, 17],
      [0, 15, 0],
    ]);
    expect(rows(rotateNearest(a, [3, 3], -45), 3)).toEqual([
      [0, 1, 0],
      [15, 9, 3],
      [0, 17, 0],
    ]);
  });

  it('matches golden values produced by SciPy 1.17 for small angles on a non-square array', () => {
    expect(rows(rotateNearest(A57, [5, 7], 10), 7)).toEqual([
      [0, 0, 0, 4, 5, 6, 0],
      [1, 9, 10, 11, 12, 13, 0],
      [8, 16, 17, 18, 19, 20, 28],
      [0, 23, 24, 25, 26, 27, 35],
      [0, 30, 31, 32, 0, 0, 0],
    ]);
    expect(rows(rotateNearest(A57, [5, 7], -17), 7)).toEqual([
      [0, 9, 2, 3, 0, 0, 0],
      [0, 16, 10, 11, 12, 6, 7],
      [22, 23, 17, 18, 19, 13, 14],
      [29, 30, 24, 25, 26, 20, 0],
      [0, 0, 0, 33, 34, 27, 0],
    ]);
    expect(rows(rotateNearest(A57, [5, 7], 19), 7)).toEqual([
      [0, 0, 0, 5, 6, 14, 0],
      [1, 2, 10, 11, 12, 20, 0],
      [8, 9, 17, 18, 19, 27, 28],
      [0, 16, 24, 25, 26, 34, 35],
      [0, 22, 30, 31, 0, 0, 0],
    ]);
  });

  it('rotates every channel with the same map', () => {
    const img = new Float32Array(70);
    for (let v = 0; v < 35; v++) {
      img[2 * v] = v + 1;
      img[2 * v + 1] = -(v + 1);
    }
    const r = rotateNearest(img, [5, 7], 13);
    const single = rotateNearest(A57, [5, 7], 13);
    for (let v = 0; v < 35; v++) {
      expect(r[2 * v]).toBe(single[v]);
      expect(r[2 * v + 1]).toBe(single[v] === 0 ? 0 : -single[v]);
    }
  });

  it('sindg/cosdg are exact at right angles and agree with sin/cos elsewhere', () => {
    expect([sindg(90), cosdg(90), sindg(180), cosdg(180), sindg(-90), cosdg(270)]).toEqual([
      1, -0, -0, -1, -1, 0,
    ]);
    // cephes' sindg(45) rounds up where Math.sin(π/4) rounds down (0.7071067811865476 vs ...475).
    expect(sindg(45)).toBe(Math.SQRT1_2); // 0.7071067811865476
    expect(cosdg(45)).toBe(0.7071067811865475);
    for (let d = -20; d < 20; d++) {
      expect(Math.abs(sindg(d) - Math.sin((d * Math.PI) / 180))).toBeLessThan(1e-15);
      expect(Math.abs(cosdg(d) - Math.cos((d * Math.PI) / 180))).toBeLessThan(1e-15);
    }
  });
});

describe('zoomNearest (scipy.ndimage.zoom, order 0)', () => {
  it('samples x = o·(n_in − 1)/(n_out − 1), nearest floor(x + 0.5)', () => {
    // 3 → 5: x = 0, 0.5, 1, 1.5, 2 → 0, 1, 1, 2, 2.  5 → 3: x = 0, 2, 4.  4 → 6: x = 0, .6, 1.2, 1.8, 2.4, 3.
    expect(Array.from(zoomSourceIndices(3, 5))).toEqual([0, 1, 1, 2, 2]);
    expect(Array.from(zoomSourceIndices(5, 3))).toEqual([0, 2, 4]);
    expect(Array.from(zoomSourceIndices(4, 6))).toEqual([0, 1, 1, 2, 2, 3]);
    expect(Array.from(zoomSourceIndices(7, 1))).toEqual([0]);
  });

  it('zooms a 2×3 slice to 5×4 (SciPy 1.17 golden)', () => {
    const b = Int32Array.from([1, 2, 3, 4, 5, 6]);
    expect(rows(zoomNearest(b, [2, 3], [5, 4]), 4)).toEqual([
      [1, 2, 2, 3],
      [1, 2, 2, 3],
      [4, 5, 5, 6],
      [4, 5, 5, 6],
      [4, 5, 5, 6],
    ]);
    expect(rows(zoomNearest(A57, [5, 7], [3, 3]), 3)).toEqual([
      [1, 4, 7],
      [15, 18, 21],
      [29, 32, 35],
    ]);
  });

  it('reproduces SciPy constant mode when o·z rounds above n_in − 1 (14 → 384 zeroes the last row)', () => {
    const idx = zoomSourceIndices(14, 384);
    expect(Array.from(idx.slice(-3))).toEqual([13, 13, -1]);
    const z = zoomNearest(
      Float32Array.from({ length: 14 }, (_, v) => v + 1),
      [14, 1],
      [384, 1],
    );
    expect(Array.from(z.slice(-3))).toEqual([14, 14, 0]);
    // The ACDC output size 256 never hits this.
    for (let n = 2; n <= 600; n++) expect(zoomSourceIndices(n, 256)[255]).toBe(n - 1);
  });
});

describe('acdcRandomGenerator (BCP RandomGenerator)', () => {
  const shape = [6, 4];
  const n = 24;
  const image = Float32Array.from({ length: n }, (_, v) => v + 1);
  const label = Uint8Array.from({ length: n }, (_, v) => v + 1);

  it('draws u1, then (k, axis) or u2 then angle, in that order, and composes rot/flip or rotate with zoom', () => {
    const rng = new Rng(5);
    for (let t = 0; t < 300; t++) {
      const probe = rng.clone();
      const r = acdcRandomGenerator(image, label, shape, rng, { outputSize: [8, 8] });
      let expImg: Float32Array;
      let cur = shape;
      const u1 = probe.random();
      const u2 = u1 > 0.5 ? 0 : probe.random();
      if (u1 > 0.5) {
        const k = probe.randint(0, 4);
        const axis = probe.randint(0, 2);
        expect([r.branch, r.k, r.axis]).toEqual(['rotflip', k, axis]);
        const rr = rot90(image, shape, k);
        expImg = flip(rr.data, rr.shape, axis).data;
        cur = rr.shape;
      } else if (u2 > 0.5) {
        const angle = probe.randint(-20, 20);
        expect([r.branch, r.angle]).toEqual(['rotate', angle]);
        expImg = rotateNearest(image, shape, angle);
      } else {
        expect(r.branch).toBe('none');
        expImg = image;
      }
      expect(rng.getState()).toEqual(probe.getState());
      expect(r.shape).toEqual([8, 8]);
      expect(Array.from(r.image)).toEqual(Array.from(zoomNearest(expImg, cur, [8, 8])));
      // Image and label take the same geometric path (values were equal before).
      expect(Array.from(r.label)).toEqual(Array.from(r.image));
      expect(r.label).toBeInstanceOf(Uint8Array);
    }
  });

  it('splits 0.5 / 0.25 / 0.25 between rot-flip, rotate and none; angles cover −20..19', () => {
    const rng = new Rng(2024);
    const counts = { rotflip: 0, rotate: 0, none: 0 };
    let minAngle = Infinity;
    let maxAngle = -Infinity;
    const draws = 4000;
    for (let t = 0; t < draws; t++) {
      const r = acdcRandomGenerator(image, label, shape, rng, { outputSize: [6, 4] });
      counts[r.branch]++;
      if (r.angle !== undefined) {
        minAngle = Math.min(minAngle, r.angle);
        maxAngle = Math.max(maxAngle, r.angle);
      }
    }
    expect(Math.abs(counts.rotflip / draws - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(counts.rotate / draws - 0.25)).toBeLessThan(0.03);
    expect(Math.abs(counts.none / draws - 0.25)).toBeLessThan(0.03);
    expect([minAngle, maxAngle]).toEqual([-20, 19]);
  });

  it('takes the angle range and output size as parameters (default 256×256)', () => {
    const rng = new Rng(9);
    for (let t = 0; t < 200; t++) {
      const r = acdcRandomGenerator(image, label, shape, rng, { angleRange: [5, 7], outputSize: [3, 5] });
      if (r.angle !== undefined) expect([5, 6]).toContain(r.angle);
      expect(r.image.length).toBe(15);
    }
    const d = acdcRandomGenerator(image, label, shape, new Rng(1));
    expect(d.shape).toEqual([256, 256]);
    expect(d.label.length).toBe(256 * 256);
  });
});

describe('bad slices and arguments are InputErrors (exit code 2) with one line naming the function', () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      'rotateNearest shape',
      () => rotateNearest(A57, [5, 7, 1], 10),
      /^rotateNearest: slice shape must be \[n0, n1\], got \[5, 7, 1\]$/,
    ],
    [
      'zoomNearest length',
      () => zoomNearest(new Float32Array(36), [5, 7], [4, 4]),
      /^zoomNearest: data length 36 is not a whole number of \[5, 7\] slices$/,
    ],
    [
      'zoomSourceIndices',
      () => zoomSourceIndices(0, 3),
      /^zoomSourceIndices: sizes must be positive integers, got 0 → 3$/,
    ],
    [
      'acdcRandomGenerator label',
      () => acdcRandomGenerator(A57, new Uint8Array(70), [5, 7], new Rng(1)),
      /^acdcRandomGenerator: label must be one \[5, 7\] slice, got 2 slices$/,
    ],
    [
      'acdcRandomGenerator image',
      () => acdcRandomGenerator(new Float32Array(3), new Uint8Array(35), [5, 7], new Rng(1)),
      /^acdcRandomGenerator image: data length 3 is not a whole number of \[5, 7\] slices$/,
    ],
  ];
  for (const [what, call, message] of cases) {
    it(what, async () => {
      expect(await refusal(Promise.resolve().then(call))).toMatch(message);
    });
  }
});

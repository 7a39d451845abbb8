import { describe, expect, it } from 'vitest';
import {
  type Connectivity,
  labelComponents,
  largestConnectedComponent,
} from '../../src/method/connected-components.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

/**
 * Independent brute force: union-find over every pair of foreground voxels, adjacency decided from coordinates
 * (Chebyshev distance 1 and number of differing axes ≤ the connectivity's order). Components numbered by their
 * smallest raster index.
 */
function bruteForceLabels(mask: Uint8Array, shape: number[], connectivity: Connectivity): Int32Array {
  const order = { 4: 1, 8: 2, 6: 1, 18: 2, 26: 3 }[connectivity];
  const coords = (v: number): number[] => {
    const c: number[] = [];
    for (let a = shape.length - 1; a >= 0; a--) {
      c.unshift(v % shape[a]);
      v = Math.floor(v / shape[a]);
    }
    return c;
  };
  const fg = [...mask.keys()].filter((v) => mask[v] !== 0);
  const parent = new Map<number, number>(fg.map((v) => [v, v]));
  const find = (v: number): number => (parent.get(v) === v ? v : find(parent.get(v) as number));
  for (const a of fg)
    for (const b of fg) {
      if (b <= a) continue;
      const ca = coords(a);
      const cb = coords(b);
      const diffs = ca.map((x, i) => Math.abs(x - cb[i]));
      if (Math.max(...diffs) === 1 && diffs.filter((d) => d === 1).length <= order) {
        const ra = find(a);
        const rb = find(b);
        if (ra !== rb) parent.set(Math.max(ra, rb), Math.min(ra, rb));
      }
    }
  const labels = new Int32Array(mask.length);
  const ids = new Map<number, number>();
  for (const v of fg) {
    const r = find(v);
    if (!ids.has(r)) ids.set(r, ids.size + 1);
    labels[v] = ids.get(r) as number;
  }
  return labels;
}

function bruteForceLargest(mask: Uint8Array, shape: number[], connectivity: Connectivity): Uint8Array {
  const labels = bruteForceLabels(mask, shape, connectivity);
  const counts = new Map<number, number>();
  for (const l of labels) if (l > 0) counts.set(l, (counts.get(l) ?? 0) + 1);
  let best = 0;
  let bestCount = 0;
  for (const [l, c] of [...counts.entries()].sort((a, b) => a[0] - b[0]))
    if (c > bestCount) {
      best = l;
      bestCount = c;
    }
  return Uint8Array.from(labels, (l) => (l === best && best > 0 ? 1 : 0));
}

function randomMask(rng: Rng, size: number, p: number): Uint8Array {
  return Uint8Array.from({ length: size }, () => (rng.random() < p ? 1 : 0));
}

describe('labelComponents / largestConnectedComponent against brute force', () => {
  const cases: [number[], Connectivity][] = [
    [[4, 5, 6], 6],
    [[4, 5, 6], 18],
    [[4, 5, 6], 26],
    [[9, 11], 4],
    [[9, 11], 8],
  ];
  for (const [shape, connectivity] of cases) {
    it(`${shape.length}-D connectivity ${connectivity} on random volumes`, () => {
      const rng = new Rng(connectivity * 31);
      const size = shape.reduce((a, b) => a * b, 1);
      for (let trial = 0; trial < 12; trial++) {
        const mask = randomMask(rng, size, [0.15, 0.3, 0.45][trial % 3]);
        const got = labelComponents(mask, shape, connectivity);
        const expected = bruteForceLabels(mask, shape, connectivity);
        expect(Array.from(got.labels)).toEqual(Array.from(expected));
        expect(got.count).toBe(Math.max(0, ...expected));
        expect(got.sizes.reduce((a, b) => a + b, 0)).toBe(mask.reduce((a, b) => a + b, 0));
        expect(Array.from(largestConnectedComponent(mask, shape, connectivity))).toEqual(
          Array.from(bruteForceLargest(mask, shape, connectivity)),
        );
      }
    });
  }
});

describe('largestConnectedComponent rules', () => {
  it('breaks ties in favour of the component met first in raster order', () => {
    // 1-D-like 2-D row: components {0,1} and {3,4}, equal size.
    const mask = Uint8Array.from([1, 1, 0, 1, 1]);
    expect(Array.from(largestConnectedComponent(mask, [1, 5], 4))).toEqual([1, 1, 0, 0, 0]);
  });

  it('returns all zeros for an empty mask and keeps a full mask', () => {
    expect(Array.from(largestConnectedComponent(new Uint8Array(8), [2, 2, 2], 26))).toEqual(
      new Array(8).fill(0),
    );
    expect(Array.from(largestConnectedComponent(new Uint8Array(8).fill(1), [2, 2, 2], 6))).toEqual(
      new Array(8).fill(1),
    );
  });

  it('distinguishes corner contact: one component at 26, two at 18 and 6', () => {
    const mask = new Uint8Array(8);
    mask[0] = 1; // (0,0,0)
    mask[7] = 1; // (1,1,1)
    expect(labelComponents(mask, [2, 2, 2], 26).count).toBe(1);
    expect(labelComponents(mask, [2, 2, 2], 18).count).toBe(2);
    expect(labelComponents(mask, [2, 2, 2], 6).count).toBe(2);
  });

  it('rejects a wrong length, a wrong connectivity for the rank, and a 4-D shape', () => {
    expect(() => labelComponents(new Uint8Array(7), [2, 2, 2], 26)).toThrow(/7 elements/);
    expect(() => labelComponents(new Uint8Array(4), [2, 2], 26)).toThrow(InputError);
    expect(() => labelComponents(new Uint8Array(8), [2, 2, 2], 8)).toThrow(/3-D connectivity/);
    expect(() => labelComponents(new Uint8Array(16), [2, 2, 2, 2], 26)).toThrow(/2 or 3 axes/);
  });
});

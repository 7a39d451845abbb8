import { describe, expect, it } from 'vitest';
import {
  assertFiniteVoxels,
  firstNonFinite,
  isLabelValue,
  numeric,
  voxelOf,
} from '../../src/data/voxel-values.js';
import { normalizeForPreset } from '../../src/eval/predict.js';
import { InputError } from '../../src/util/errors.js';

describe('voxel-values: the one finite-intensity rule of prepare, the loader and predict', () => {
  it('firstNonFinite: the first NaN or ±Infinity, else −1', () => {
    const cases: [ArrayLike<number>, number][] = [
      [[], -1],
      [[0, 1, -2.5, 1e308], -1],
      [[0, Number.NaN, Number.POSITIVE_INFINITY], 1],
      [[1, 2, Number.NEGATIVE_INFINITY], 2],
      [Float32Array.from([1, 1e39]), 1], // beyond float32: Infinity once stored
    ];
    for (const [data, index] of cases) expect(firstNonFinite(data)).toBe(index);
  });

  it('voxelOf: row-major (x, y, z) of a flat index', () => {
    const shape = [2, 3, 4];
    const cases: [number, [number, number, number]][] = [
      [0, [0, 0, 0]],
      [3, [0, 0, 3]],
      [4, [0, 1, 0]],
      [12, [1, 0, 0]],
      [23, [1, 2, 3]],
    ];
    for (const [index, voxel] of cases) expect(voxelOf(index, shape)).toEqual(voxel);
  });

  it('numeric: BigInt arrays become Float64Array, other arrays are returned as they are', () => {
    const f = Float32Array.from([1, 2]);
    expect(numeric(f)).toBe(f);
    const big = numeric(BigInt64Array.from([3n, -4n]));
    expect(big).toBeInstanceOf(Float64Array);
    expect([...big]).toEqual([3, -4]);
    expect([...numeric(BigUint64Array.from([5n]))]).toEqual([5]);
  });

  it('assertFiniteVoxels: the caller words the line; the value and voxel are the first offending ones', () => {
    const data = new Float32Array(2 * 3 * 4);
    expect(() => assertFiniteVoxels(data, [2, 3, 4], () => 'never')).not.toThrow();
    data[23] = Number.NaN;
    data[13] = Number.POSITIVE_INFINITY;
    const refuse = () =>
      assertFiniteVoxels(data, [2, 3, 4], (v, voxel) => `f: ${v} at (${voxel.join(', ')})`);
    expect(refuse).toThrow(InputError);
    expect(refuse).toThrow(/^f: Infinity at \(1, 0, 1\)$/);
  });

  it("predict's normalizeForPreset names the channel and the voxel (not a flat index)", () => {
    const good = new Float32Array(8);
    const bad = new Float32Array(8);
    bad[5] = Number.NaN;
    expect(() => normalizeForPreset('custom', [good, bad], [2, 2, 2])).toThrow(
      /^channel 1: non-finite intensity NaN at voxel \[1, 0, 1\]$/,
    );
  });

  it('isLabelValue: the one label-value rule (exact integers, whatever the stored type; never rounded)', () => {
    const cases: [number, boolean][] = [
      [0, true],
      [1, true],
      [255, true],
      [-1, true], // the range is the caller's rule
      [Math.fround(3), true], // a float-stored integer
      [0.5, false],
      [Math.fround(0.9995), false], // within 1e-3 of 1: still refused
      [Math.fround(1.0001), false],
      [Number.NaN, false],
      [Number.POSITIVE_INFINITY, false],
    ];
    for (const [x, ok] of cases) expect([x, isLabelValue(x)]).toEqual([x, ok]);
  });
});

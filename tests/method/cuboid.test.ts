import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { configSchema } from '../../src/config/schema.js';
import { cuboidMask, drawCuboidStart } from '../../src/method/cuboid.js';
import { cuboidSize, REFERENCE_START_RANGES } from '../../src/method/cuboid-size.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

/** Observed [min, max] of each axis' start over many draws. */
function startRanges(
  shape: number[],
  ratio: number,
  options: Parameters<typeof drawCuboidStart>[3],
  draws = 4000,
): [number, number][] {
  const rng = new Rng(1234);
  const size = cuboidSize(shape, ratio);
  const ranges = shape.map(() => [Infinity, -Infinity] as [number, number]);
  for (let d = 0; d < draws; d++) {
    const s = drawCuboidStart(shape, size, rng, options);
    s.forEach((v, i) => {
      ranges[i][0] = Math.min(ranges[i][0], v);
      ranges[i][1] = Math.max(ranges[i][1], v);
    });
  }
  return ranges;
}

describe('cuboid sizes (E1) and reference start ranges: the one rule the config checks with', () => {
  // [patch, ratio, size]: truncation like Python int().
  const sizes: [number[], number, number[]][] = [
    [[112, 112, 80], 2 / 3, [74, 74, 53]],
    [[96, 96, 96], 2 / 3, [64, 64, 64]],
    [[256, 256], 2 / 3, [170, 170]],
    [[16, 16, 16], 0.05, [0, 0, 0]],
  ];
  it.each(sizes)('%o × %d → %o, and the config checks the same size', (patch, ratio, size) => {
    expect(cuboidSize(patch, ratio)).toEqual(size);
    const model = patch.length === 3 ? { name: 'vnet' as const } : { name: 'unet2d' as const };
    const parsed = configSchema.safeParse({
      run: { name: 'x' },
      data: { dataset: 'd', patchSize: patch },
      model,
      method: { maskRatio: ratio, startRange: 'valid' },
    });
    const messages = parsed.success ? [] : parsed.error.issues.map((issue) => issue.message);
    expect(messages.some((m) => m.includes('cuboid of at least 1 voxel'))).toBe(size.includes(0));
  });

  // [dims, the reference's hard-coded ranges]
  const ranges: [2 | 3, number[]][] = [
    [3, [112, 112, 80]],
    [2, [256, 256]],
  ];
  it.each(ranges)('%i-D: the config default and the draw default are %o', (dims, range) => {
    expect(REFERENCE_START_RANGES[dims]).toEqual(range);
    const model = dims === 3 ? { name: 'vnet' as const } : { name: 'unet2d' as const };
    const parsed = configSchema.parse({ run: { name: 'x' }, data: { dataset: 'd' }, model });
    expect(parsed.method.referenceStartRange).toEqual(range);
    const shape = dims === 3 ? [112, 112, 80] : [256, 256];
    const size = cuboidSize(shape, 2 / 3);
    const byDefault = drawCuboidStart(shape, size, new Rng(7));
    expect(drawCuboidStart(shape, size, new Rng(7), { referenceStartRange: range })).toEqual(byDefault);
  });
});

describe('cuboid start ranges (E2, Q1, Q2)', () => {
  it('LA reference: [0,37]×[0,37]×[0,26] (the last valid start 38/27 is never drawn)', () => {
    expect(startRanges([112, 112, 80], 2 / 3, { startRange: 'reference' })).toEqual([
      [0, 37],
      [0, 37],
      [0, 26],
    ]);
  });

  it('BraTS 96³ reference: the hard-coded 112/112/80 give [0,47]×[0,47]×[0,15]', () => {
    expect(startRanges([96, 96, 96], 2 / 3, {})).toEqual([
      [0, 47],
      [0, 47],
      [0, 15],
    ]);
  });

  it('pancreas: reference range 96³ gives [0,31]³ for the 64³ cube', () => {
    expect(startRanges([96, 96, 96], 2 / 3, { referenceStartRange: [96, 96, 96] })).toEqual([
      [0, 31],
      [0, 31],
      [0, 31],
    ]);
  });

  it('ACDC 2-D: 170×170 in 256², start in [0,85]² (reference default for 2-D)', () => {
    expect(startRanges([256, 256], 2 / 3, {})).toEqual([
      [0, 85],
      [0, 85],
    ]);
  });

  it('valid: every start that keeps the cuboid inside, including the last one', () => {
    expect(startRanges([112, 112, 80], 2 / 3, { startRange: 'valid' })).toEqual([
      [0, 38],
      [0, 38],
      [0, 27],
    ]);
    expect(startRanges([96, 96, 96], 2 / 3, { startRange: 'valid' })).toEqual([
      [0, 32],
      [0, 32],
      [0, 32],
    ]);
  });

  it('draws the axes in order from the given generator (same seed → same start as cuboidMask)', () => {
    const a = cuboidMask([112, 112, 80], 2 / 3, new Rng(7));
    const r = new Rng(7);
    expect(a.start).toEqual([r.randint(0, 38), r.randint(0, 38), r.randint(0, 27)]);
    a.mask.dispose();
  });

  it('rejects a reference range that leaves no start, and a bad startRange', () => {
    expect(() => cuboidMask([200, 200, 80], 2 / 3, new Rng(1))).toThrow(
      /reference start range 112 on axis 0/,
    );
    expect(() =>
      cuboidMask([8, 8, 8], 0.5, new Rng(1), { startRange: 'middle' as unknown as 'valid' }),
    ).toThrow(InputError);
  });
});

describe('cuboid mask content (E3)', () => {
  it('is 1 outside and 0 inside [start, start + size) for an injected start', () => {
    const shape = [5, 6, 7];
    const c = cuboidMask(shape, 0.5, [1, 2, 3]);
    expect(c.size).toEqual([2, 3, 3]);
    expect(c.clippedSize).toEqual([2, 3, 3]);
    expect(c.mask.shape).toEqual(shape);
    expect(c.mask.dtype).toBe('float32');
    const data = c.mask.dataSync();
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 6; j++)
        for (let k = 0; k < 7; k++) {
          const inside = i >= 1 && i < 3 && j >= 2 && j < 5 && k >= 3 && k < 6;
          expect(data[(i * 6 + j) * 7 + k]).toBe(inside ? 0 : 1);
        }
    c.mask.dispose();
  });

  it('truncates at the border like the reference slice (BraTS start 40 → 56 voxels)', () => {
    const c = cuboidMask([96, 96, 96], 2 / 3, [40, 32, 0]);
    expect(c.size).toEqual([64, 64, 64]);
    expect(c.clippedSize).toEqual([56, 64, 64]);
    const zeros = 96 * 96 * 96 - tf.tidy(() => tf.sum(c.mask).dataSync()[0]);
    expect(zeros).toBe(56 * 64 * 64);
    c.mask.dispose();
  });

  it('ratio 1 (valid) covers everything; ratio 0 covers nothing; 2-D works', () => {
    const full = cuboidMask([3, 4, 5], 1, new Rng(2), { startRange: 'valid' });
    expect(full.start).toEqual([0, 0, 0]);
    expect(Array.from(full.mask.dataSync()).every((v) => v === 0)).toBe(true);
    const none = cuboidMask([3, 4, 5], 0, new Rng(2), { startRange: 'valid' });
    expect(Array.from(none.mask.dataSync()).every((v) => v === 1)).toBe(true);
    const flat = cuboidMask([4, 4], 0.5, [2, 1]);
    expect(Array.from(flat.mask.dataSync())).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1]);
    tf.dispose([full.mask, none.mask, flat.mask]);
  });

  it('rejects bad input with the field named', () => {
    expect(() => cuboidMask([4, 4, 4], 1.5, [0, 0, 0])).toThrow(/ratio/);
    expect(() => cuboidMask([4, 4, 4], 0.5, [0, 0])).toThrow(/injected start/);
    expect(() => cuboidMask([4, 0, 4], 0.5, [0, 0, 0])).toThrow(/spatialShape/);
  });
});

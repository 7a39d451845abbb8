import { describe, expect, it } from 'vitest';
import {
  checkSameGrid,
  GEOMETRY_TOLERANCE_MM,
  maxAffineDiff,
  sameShape,
  spatialShape,
} from '../../src/io/geometry.js';
import type { Affine } from '../../src/io/volume.js';
import { InputError } from '../../src/util/errors.js';

const EYE: Affine = [
  [1, 0, 0, 0],
  [0, 1, 0, 0],
  [0, 0, 1, 0],
  [0, 0, 0, 1],
];
/** EYE with entry [r][c] moved by `by`. */
function moved(r: number, c: number, by: number): Affine {
  const a = EYE.map((row) => [...row]);
  a[r][c] += by;
  return a;
}

describe('the geometry rules of the dataset, prepare, evaluation and prediction', () => {
  it('tolerates 1e-3 mm', () => {
    expect(GEOMETRY_TOLERANCE_MM).toBe(1e-3);
  });

  // [file shape, spatial shape or null when refused]
  const shapes: [number[], [number, number, number] | null][] = [
    [
      [4, 3, 2],
      [4, 3, 2],
    ],
    [
      [4, 3, 2, 1],
      [4, 3, 2],
    ],
    [[4, 3, 2, 2], null],
    [[4, 3], null],
    [[4, 3, 2, 1, 1], null],
  ];
  it.each(shapes)('spatialShape(%o) → %o', (shape, expected) => {
    const message = (text: string) => `f.nii.gz: shape ${text}; expected a 3-D volume`;
    if (expected !== null) expect(spatialShape(shape, message)).toEqual(expected);
    else {
      expect(() => spatialShape(shape, message)).toThrow(InputError);
      expect(() => spatialShape(shape, message)).toThrow(
        `f.nii.gz: shape [${shape.join(', ')}]; expected a 3-D volume`,
      );
    }
  });

  // [shape, affine, message or null when on the grid of [4, 3, 2] with EYE]
  const grids: [number[], Affine, string | null][] = [
    [[4, 3, 2], EYE, null],
    [[4, 3, 2], moved(0, 3, 1e-3), null], // at the tolerance
    [[4, 3, 2], moved(3, 3, 5), null], // the last row is not compared
    [[4, 3, 2], moved(2, 1, 2e-3), 'affine 0.00200'],
    [[4, 3, 2], moved(1, 3, -0.5), 'affine 0.500'],
    [[4, 3, 3], moved(1, 3, -0.5), 'shape [4, 3, 3] vs [4, 3, 2]'], // the shape is checked first
    [[4, 3], EYE, 'shape [4, 3] vs [4, 3, 2]'],
  ];
  it.each(grids)('checkSameGrid(%o, %o) → %s', (shape, affine, message) => {
    const check = () =>
      checkSameGrid(
        { shape, affine },
        { shape: [4, 3, 2], affine: EYE },
        {
          shape: (found, expected) => `shape ${found} vs ${expected}`,
          affine: (diff) => `affine ${diff}`,
        },
      );
    if (message === null) expect(check).not.toThrow();
    else {
      expect(check).toThrow(InputError);
      expect(check).toThrow(message);
    }
    expect(sameShape(shape, [4, 3, 2])).toBe(message === null || message.startsWith('affine'));
  });

  it('maxAffineDiff is the largest difference of the first three rows', () => {
    expect(maxAffineDiff(EYE, moved(2, 0, -0.25))).toBe(0.25);
    expect(maxAffineDiff(EYE, moved(3, 0, 7))).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { sameShape as kernelSameShape } from '../../src/backend/kernels/conv-kernels.js';
import { sameShape as geometrySameShape, shapeText as geometryShapeText } from '../../src/io/geometry.js';
import { sameShape, shapeText } from '../../src/util/shape.js';

describe('util/shape: the one home of shapeText and sameShape', () => {
  it('shapeText table', () => {
    const cases: [number[], string][] = [
      [[], '[]'],
      [[7], '[7]'],
      [[2, 3, 4], '[2, 3, 4]'],
    ];
    for (const [shape, text] of cases) expect(shapeText(shape)).toBe(text);
  });

  it('sameShape table: same rank and extents', () => {
    const cases: [number[], number[], boolean][] = [
      [[], [], true],
      [[2, 3], [2, 3], true],
      [[2, 3], [3, 2], false],
      [[2, 3], [2, 3, 1], false],
      [[1], [], false],
    ];
    for (const [a, b, same] of cases) expect(sameShape(a, b)).toBe(same);
  });

  it('the io and kernel modules re-export the same functions (no copies)', () => {
    expect(geometrySameShape).toBe(sameShape);
    expect(kernelSameShape).toBe(sameShape);
    expect(geometryShapeText).toBe(shapeText);
  });
});

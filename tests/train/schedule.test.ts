import { describe, expect, it } from 'vitest';
import { learningRate } from '../../src/train/schedule.js';

describe('learningRate (docs/equations.md §3.3)', () => {
  it('poly: step 1 uses the base rate, then base·(1 − (i−1)/I)^0.9', () => {
    const poly = { name: 'poly', power: 0.9 } as const;
    expect(learningRate(poly, 0.01, 1, 15000)).toBe(0.01);
    expect(learningRate(poly, 0.01, 2, 15000)).toBeCloseTo(0.01 * (1 - 1 / 15000) ** 0.9, 15);
    expect(learningRate(poly, 0.01, 7501, 15000)).toBeCloseTo(0.01 * 0.5 ** 0.9, 15);
    expect(learningRate(poly, 0.01, 15000, 15000)).toBeCloseTo(0.01 * (1 / 15000) ** 0.9, 15);
  });

  it('step: ×0.1 every 2500 iterations, boundaries at 2500/2501', () => {
    const step = { name: 'step', gamma: 0.1, every: 2500 } as const;
    expect(learningRate(step, 0.01, 1, 15000)).toBe(0.01);
    expect(learningRate(step, 0.01, 2500, 15000)).toBe(0.01);
    expect(learningRate(step, 0.01, 2501, 15000)).toBeCloseTo(1e-3, 15);
    expect(learningRate(step, 0.01, 5001, 15000)).toBeCloseTo(1e-4, 15);
    expect(learningRate(step, 0.01, 7501, 15000)).toBeCloseTo(1e-5, 15);
  });

  it('constant and invalid iterations', () => {
    expect(learningRate({ name: 'constant' }, 0.01, 9999, 10)).toBe(0.01);
    expect(() => learningRate({ name: 'constant' }, 0.01, 0, 10)).toThrow(
      "learningRate: argument 'i' must be an integer ≥ 1, got number 0",
    );
  });
});

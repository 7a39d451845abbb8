import { describe, expect, it } from 'vitest';
import { sigmoidRampup } from '../../src/method/ramps.js';

describe('sigmoidRampup (§3.1)', () => {
  it('is exp(−5(1 − t/L)²) clipped to [0, L], and 1 when L = 0', () => {
    expect(sigmoidRampup(0, 40)).toBeCloseTo(Math.exp(-5), 12);
    expect(sigmoidRampup(20, 40)).toBeCloseTo(Math.exp(-1.25), 12);
    expect(sigmoidRampup(40, 40)).toBe(1);
    expect(sigmoidRampup(100, 40)).toBe(1);
    expect(sigmoidRampup(-3, 40)).toBeCloseTo(Math.exp(-5), 12);
    expect(sigmoidRampup(5, 0)).toBe(1);
  });
});

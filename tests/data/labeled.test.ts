import { describe, expect, it } from 'vitest';
import { labeledCaseCount } from '../../src/data/labeled.js';
import { InputError } from '../../src/util/errors.js';

describe('labeledCaseCount: the one labeled-amount rule of the config and the dataset', () => {
  // [amount, train units, unit, expected count]
  const counts: [Parameters<typeof labeledCaseCount>[0], number, 'case' | 'patient', number][] = [
    [{ percent: 5 }, 80, 'case', 4], // LA 5 %
    [{ percent: 10 }, 80, 'case', 8], // LA 10 %
    [{ percent: 10 }, 250, 'case', 25], // BraTS 10 %
    [{ percent: 20 }, 250, 'case', 50], // BraTS 20 %
    [{ percent: 5 }, 70, 'patient', 3], // ACDC 5 % (rounding would give 4)
    [{ percent: 10 }, 70, 'patient', 7], // ACDC 10 %
    [{ percent: 20 }, 70, 'patient', 14], // ACDC 20 %
    [{ percent: 10 }, 62, 'case', 6], // Pancreas 10 %
    [{ percent: 20 }, 62, 'case', 12], // Pancreas 20 %
    [{ percent: 7 }, 100, 'case', 7], // 7.000000000000001 means 7
    [{ percent: 10 }, 30, 'case', 3], // 2.9999999999999996 means 3
    [{ percent: 70 }, 3, 'case', 2], // 2.1 → 2
    [{ percent: 0.1 }, 10, 'case', 1], // floors to 0: at least one
    [{ percent: 10 }, 3, 'case', 1], // floors to 0: at least one
    [{ percent: 100 }, 10, 'case', 10],
    [{ count: 4 }, 80, 'case', 4],
    [{ count: 3 }, 3, 'patient', 3],
  ];
  it.each(counts)('%o of %i train %ss → %i', (amount, units, unit, expected) => {
    expect(labeledCaseCount(amount, units, unit)).toBe(expected);
  });

  // [amount, train units, unit, message]
  const refusals: [Parameters<typeof labeledCaseCount>[0], number, 'case' | 'patient', string][] = [
    [
      { count: 81 },
      80,
      'case',
      'data.labeled.count: expected at most 80 (the size of the train split), got 81',
    ],
    [
      { count: 4 },
      3,
      'patient',
      'data.labeled.count: expected at most 3 (the number of patients in the train split), got 4',
    ],
    [{ count: 0 }, 3, 'case', 'data.labeled.count: expected an integer ≥ 1, got 0'],
    [{ count: 1.5 }, 3, 'case', 'data.labeled.count: expected an integer ≥ 1, got 1.5'],
    [{ percent: 0 }, 3, 'case', 'data.labeled.percent: expected a number in (0, 100], got 0'],
    [{ percent: 101 }, 3, 'case', 'data.labeled.percent: expected a number in (0, 100], got 101'],
    [{ percent: 10 }, 0, 'case', 'data.labeled: expected a train split with at least one case, got none'],
  ];
  it.each(refusals)('%o of %i train %ss is refused', (amount, units, unit, message) => {
    expect(() => labeledCaseCount(amount, units, unit)).toThrow(InputError);
    expect(() => labeledCaseCount(amount, units, unit)).toThrow(message);
  });
});

/**
 * How many train units are labeled (`data.labeled`): the one rule both the config layer and the dataset use.
 * TF.js-free and free of file I/O, so the config layer can import it.
 */
import { requireInteger, requireObject } from '../util/args.js';
import { InputError } from '../util/errors.js';

/** The labeled amount of `data.labeled`: a count of train units, or a percentage of them. */
export type LabeledAmount = { count: number } | { percent: number };

/** What is counted: train cases, or patients when the dataset's `labeledUnit` is `patient` (ACDC). */
export type LabeledUnit = 'case' | 'patient';

/**
 * Number of labeled units out of the `trainUnits` of the train split: `count`, or floor(percent·N/100) with at
 * least one unit. Floor reproduces every reference setting (LA 5 %/10 % → 4/8 of 80, BraTS 10 %/20 % → 25/50 of
 * 250, ACDC 5 %/10 % → 3/7 of 70 patients, Pancreas 10 %/20 % → 6/12 of 62; rounding would give 4 ACDC patients
 * at 5 %), and "at least one" keeps a small percentage of a small split usable (0.1 % of 10 → 1) instead of
 * refusing it. Throws an InputError naming the key when the amount does not fit the split.
 */
export function labeledCaseCount(
  labeled: LabeledAmount,
  trainUnits: number,
  unit: LabeledUnit = 'case',
): number {
  requireObject('labeledCaseCount', 'labeled', labeled, 'a labeled amount ({ count } or { percent })');
  requireInteger('labeledCaseCount', 'trainUnits', trainUnits, { min: 0 });
  const units = unit === 'case' ? 'the size of the train split' : 'the number of patients in the train split';
  if (trainUnits === 0) {
    throw new InputError(`data.labeled: expected a train split with at least one ${unit}, got none`);
  }
  if ('count' in labeled) {
    const { count } = labeled;
    if (!Number.isInteger(count) || count < 1) {
      throw new InputError(`data.labeled.count: expected an integer ≥ 1, got ${count}`);
    }
    if (count > trainUnits) {
      throw new InputError(`data.labeled.count: expected at most ${trainUnits} (${units}), got ${count}`);
    }
    return count;
  }
  const { percent } = labeled;
  if (!(Number.isFinite(percent) && percent > 0 && percent <= 100)) {
    throw new InputError(`data.labeled.percent: expected a number in (0, 100], got ${percent}`);
  }
  // The epsilon keeps products such as 7 % of 100 = 7.000000000000001 or 0.1·30 = 2.9999999999999996 on the
  // integer they mean; percent ≤ 100 keeps the result at most trainUnits.
  return Math.max(1, Math.floor((percent * trainUnits) / 100 + 1e-9));
}

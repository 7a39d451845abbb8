import type { Dataset } from '../data/dataset.js';
import { inferCase } from '../infer/infer-case.js';
import type { InferenceModel } from '../infer/sliding-window.js';

export interface ValidationOptions {
  /** 3-D sliding-window patch and strides (ignored by 2-D models). */
  patch: number[];
  strides: number[];
  /** 2-D models: in-plane size each slice is resized to. */
  sliceResize?: readonly number[];
  batchWindows?: number;
  onCase?: (done: number, total: number) => void;
}

export interface ValidationResult {
  /** Mean over cases of the mean Dice over foreground classes. */
  meanDice: number;
  perCase: { id: string; dice: number }[];
}

/** Dice of one class; an empty prediction and an empty label together count as 0 (as the reference's dc-or-0). */
function classDice(pred: Uint8Array, label: Uint8Array, cls: number): number {
  let inter = 0;
  let p = 0;
  let l = 0;
  for (let i = 0; i < pred.length; i++) {
    const a = pred[i] === cls;
    const b = label[i] === cls;
    if (a) p++;
    if (b) l++;
    if (a && b) inter++;
  }
  return p + l === 0 ? 0 : (2 * inter) / (p + l);
}

/**
 * Validation during training (docs/equations.md §3.6, §5.5): the student in eval mode, sliding window (3-D) or
 * slice by slice (2-D), mean Dice over foreground classes per case, no post-processing; the selection value is
 * the mean over cases. A class absent from the prediction scores 0, as `val_2d` and `var_all_case` do.
 *
 * @param model The network to score (a `SegmentationModel`, or any `InferenceModel`).
 * @param dataset The dataset holding the cases.
 * @param ids The validation cases.
 * @param options Window size and strides (3-D), slice size (2-D), windows per batch, a per-case progress callback.
 * @returns The mean Dice over cases (0 for no case) and each case's Dice.
 * @throws InputError when a case cannot be read (the dataset names the file).
 * @example
 * const { meanDice } = await validateModel(model, dataset, ['case01'], { patch: [112, 112, 80], strides: [18, 18, 4] });
 */
export async function validateModel(
  model: InferenceModel,
  dataset: Dataset,
  ids: readonly string[],
  options: ValidationOptions,
): Promise<ValidationResult> {
  const perCase: { id: string; dice: number }[] = [];
  for (const [index, id] of ids.entries()) {
    const c = await dataset.loadCase(id);
    const result = await inferCase(model, c, {
      patch: options.patch,
      strides: options.strides,
      sliceResize: options.sliceResize,
      batchWindows: options.batchWindows,
      largestComponent: false,
    });
    let sum = 0;
    for (let cls = 1; cls < model.numClasses; cls++) sum += classDice(result.labels, c.label, cls);
    perCase.push({ id, dice: sum / (model.numClasses - 1) });
    options.onCase?.(index + 1, ids.length);
  }
  const meanDice = perCase.length > 0 ? perCase.reduce((s, c) => s + c.dice, 0) / perCase.length : 0;
  return { meanDice, perCase };
}

export type SelectionRule = 'strict' | 'reference-round4' | 'ratio95';

/**
 * Whether a validation Dice becomes the new best, and the value then recorded (quirks Q7, Q8).
 * `strict`: dice > best. `reference-round4`: dice > best, best := round(dice, 4) (LA scripts). `ratio95`:
 * dice > 0.95·best, best := dice (BraTS CPAM self-training; the "best" can drift down).
 *
 * @param rule The config's `train.validation.selection`.
 * @param best The recorded best so far (undefined before the first validation).
 * @param dice This validation's mean Dice.
 * @returns The value to record as the new best, or null when `dice` is not an improvement.
 * @example
 * selectBest('reference-round4', 0.9, 0.91234); // 0.9123
 */
export function selectBest(rule: SelectionRule, best: number | undefined, dice: number): number | null {
  const previous = best ?? Number.NEGATIVE_INFINITY;
  switch (rule) {
    case 'strict':
      return dice > previous ? dice : null;
    case 'reference-round4':
      return dice > previous ? Math.round(dice * 1e4) / 1e4 : null;
    case 'ratio95':
      return best === undefined || dice > 0.95 * best ? dice : null;
  }
}

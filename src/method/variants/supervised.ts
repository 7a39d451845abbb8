/**
 * `supervised`: labeled images only, no teacher, no mixing. Loss ½(CE + Dice) on the un-mixed labeled batch
 * (the E27 form without the cuboid mix; E28/E29 for `batch2d`). All N_l labeled images go through one forward.
 * Paper: none (the labeled-only lower bound every semi-supervised paper reports).
 */
import { tf } from '../../backend/tf.js';
import {
  checkStepArgs,
  preparedStep,
  resolveConfig,
  studentLogits,
  supervisedLoss,
  toNumbers,
  validateBatch,
} from './common.js';
import { stepNeeds } from './forwards.js';
import type { MethodVariant, StepLoss } from './types.js';

export const supervisedVariant: MethodVariant = {
  name: 'supervised',
  ...stepNeeds('supervised'),
  prepare(ctx, batch) {
    validateBatch(supervisedVariant, ctx, batch);
    return preparedStep({}, {});
  },
  loss(ctx, batch): StepLoss {
    checkStepArgs('supervised', ctx, { batch });
    const lossDice = resolveConfig(ctx).lossDice;
    let parts: Record<string, number> = {};
    const loss = tf.tidy(() => {
      const p = supervisedLoss(studentLogits(ctx, batch.labeledImages), batch.labeledLabels, lossDice);
      parts = toNumbers({ ...p });
      return p.total;
    });
    return { loss, parts, diagnostics: {} };
  },
};

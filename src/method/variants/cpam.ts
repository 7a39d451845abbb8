/**
 * `cpam`: CPAM without TRCM — the four mixes L-U, U-L, L-L, U-U (E8–E12), loss E26.
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026), CPAM.
 */
import { mixesLoss, mixesLoss2d } from '../cpam-loss.js';
import { copyPasteStepLoss, prepareCopyPaste, toNumbers } from './common.js';
import { stepNeeds } from './forwards.js';
import type { MethodVariant, StepLoss } from './types.js';

export const cpamVariant: MethodVariant = {
  name: 'cpam',
  ...stepNeeds('cpam'),
  prepare(ctx, batch) {
    return prepareCopyPaste(cpamVariant, ctx, batch);
  },
  loss(ctx, _batch, prep): StepLoss {
    // E12: the forwards on xl, xu, xll, xuu, as batch-norm groups of one forward (inside copyPasteLossInputs).
    return copyPasteStepLoss(
      ctx,
      prep,
      cpamVariant.name,
      { loss3d: mixesLoss, loss2d: mixesLoss2d },
      (r) => ({ parts: toNumbers({ ...r }) }),
    );
  },
};

/**
 * `bcp`: bidirectional copy-paste (BCP baseline) — the L-U and U-L mixes only, loss = first two terms of E26.
 * Paper: Bai et al., "Bidirectional Copy-Paste for Semi-Supervised Medical Image Segmentation" (CVPR 2023).
 */
import { mixesLoss, mixesLoss2d } from '../cpam-loss.js';
import { copyPasteStepLoss, prepareCopyPaste, toNumbers } from './common.js';
import { stepNeeds } from './forwards.js';
import type { MethodVariant, StepLoss } from './types.js';

export const bcpVariant: MethodVariant = {
  name: 'bcp',
  ...stepNeeds('bcp'),
  prepare(ctx, batch) {
    return prepareCopyPaste(bcpVariant, ctx, batch);
  },
  loss(ctx, _batch, prep): StepLoss {
    return copyPasteStepLoss(ctx, prep, bcpVariant.name, { loss3d: mixesLoss, loss2d: mixesLoss2d }, (r) => ({
      parts: toNumbers({ ...r }),
    }));
  },
};

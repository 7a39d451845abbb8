/**
 * Stage-1 pre-training loss on a mixed labeled pair X_mix = M⊙L_a + (1−M)⊙L_b (docs/equations.md §3.2, §3.8).
 * Paper: the copy-paste pre-training of BCP; Bai et al., "Bidirectional Copy-Paste for Semi-Supervised
 *   Medical Image Segmentation" (CVPR 2023).
 */
import { tf } from '../backend/tf.js';
import { requireTensor } from '../util/args.js';
import { complementMask, maskedCrossEntropy, maskedDiceLoss, mixLoss2d } from './losses.js';
import { mixLabels } from './mix.js';

/** Scalars owned by the caller. */
export interface PretrainLossParts {
  total: tf.Scalar;
  dice: tf.Scalar;
  ce: tf.Scalar;
}

/**
 * E27 (3-D): ½[CE_mean(O, Y_mix) + D(O, Y_mix)] with Y_mix = M⊙Y_a + (1−M)⊙Y_b, the **unmasked** Dice E17 and
 * the plain mean cross-entropy over all voxels.
 */
export function pretrainLoss(
  logits: tf.Tensor,
  labelA: tf.Tensor,
  labelB: tf.Tensor,
  mask: tf.Tensor,
): PretrainLossParts {
  requireTensor('pretrainLoss', 'logits', logits);
  requireTensor('pretrainLoss', 'labelA', labelA);
  requireTensor('pretrainLoss', 'labelB', labelB);
  requireTensor('pretrainLoss', 'mask', mask);
  return tf.tidy(() => {
    const mixed = mixLabels(labelA, labelB, mask);
    const ce = maskedCrossEntropy(logits, mixed);
    const dice = maskedDiceLoss(logits, mixed);
    return { total: tf.mul(tf.add(ce, dice), 0.5) as tf.Scalar, dice, ce };
  });
}

/**
 * 2-D pre-training as BCP ACDC (§3.8): ½(dice + ce) of E30 with Y_a on M, Y_b on 1 − M and both weights 1,
 * i.e. the masked E28 Dice and E18 CE of each region (not the unmasked form of E27).
 */
export function pretrainLoss2d(
  logits: tf.Tensor,
  labelA: tf.Tensor,
  labelB: tf.Tensor,
  mask: tf.Tensor,
): PretrainLossParts {
  requireTensor('pretrainLoss2d', 'logits', logits);
  requireTensor('pretrainLoss2d', 'labelA', labelA);
  requireTensor('pretrainLoss2d', 'labelB', labelB);
  requireTensor('pretrainLoss2d', 'mask', mask);
  return tf.tidy(() => {
    const { dice, ce } = mixLoss2d(logits, labelA, labelB, mask, complementMask(mask), 1, 1);
    return { total: tf.mul(tf.add(dice, ce), 0.5) as tf.Scalar, dice, ce };
  });
}

/**
 * Everything of `src/method/`, for `src/index.ts` to re-export.
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026), on top of BCP
 *   (Bai et al., CVPR 2023).
 */
export {
  type ComponentLabels,
  type Connectivity,
  labelComponents,
  largestConnectedComponent,
} from './connected-components.js';
export {
  type BcpLossInputs,
  type BcpLossParts,
  bcpLoss,
  bcpLoss2d,
  type CpamLossInputs,
  type CpamLossParts,
  cpamLoss,
  cpamLoss2d,
} from './cpam-loss.js';
export {
  type CpamTrcmLossInputs,
  type CpamTrcmLossParts,
  cpamTrcmLoss,
  cpamTrcmLoss2d,
} from './cpam-trcm-loss.js';
export {
  type CuboidMask,
  type CuboidOptions,
  cuboidMask,
  drawCuboidStart,
} from './cuboid.js';
export {
  CUBOID_START_RANGES,
  type CuboidStartRange,
  cuboidSize,
  REFERENCE_START_RANGES,
} from './cuboid-size.js';
export {
  CE_MASK_EPS,
  complementMask,
  DICE_SMOOTH_2D,
  DICE_SMOOTH_3D,
  diceLoss2d,
  type MixLoss2d,
  type MixTermLoss,
  maskedCrossEntropy,
  maskedDiceLoss,
  mixLoss,
  mixLoss2d,
  mixLoss2dTotal,
} from './losses.js';
export { type CpamMixedImages, cpamMixes, mix, mixImages, mixLabels } from './mix.js';
export { classEquality, hardPredictions } from './predictions.js';
export { type PretrainLossParts, pretrainLoss, pretrainLoss2d } from './pretrain-loss.js';
export { foregroundFraction, type PseudoLabelOptions, pseudoLabels } from './pseudo-labels.js';
export { sigmoidRampup } from './ramps.js';
export { type ReliableFraction, reliableFraction, type TrcmMasks, trcmMasks } from './trcm.js';
export * from './variants/index.js';

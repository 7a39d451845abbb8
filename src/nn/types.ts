import type { tf } from '../backend/tf.js';
import type { Rng } from '../util/rng.js';

/** Options of one forward pass. */
export interface ApplyOptions {
  /** Train mode: batch-statistics batch norm (and its running-stat update) and dropout. */
  training: boolean;
  /** Source of dropout seeds in train mode, so that runs are deterministic (design decision 5). */
  rng?: Rng;
}

/** What training, inference and evaluation need from a network (VNet or UNet2d). */
export interface SegmentationModel {
  readonly kind: 'vnet' | 'unet2d';
  /** 3 for `[N, X, Y, Z, C]` inputs, 2 for `[N, H, W, C]`. */
  readonly spatialDims: 2 | 3;
  readonly inChannels: number;
  readonly numClasses: number;
  /** Logits, channels last: `[N, X, Y, Z, K]` (3-D) or `[N, H, W, K]` (2-D). */
  apply(x: tf.Tensor, options: ApplyOptions): tf.Tensor;
  /** Number of trainable parameters (batch-norm running statistics excluded). */
  parameterCount(): number;
  /** Every variable under its reference state-dict key, trainable ones and batch-norm buffers. */
  namedWeights(): Map<string, tf.Variable>;
  /** The trainable variables, in a stable order (what the optimizer updates). */
  trainableWeights(): tf.Variable[];
  /** Frees every variable. */
  dispose(): void;
}

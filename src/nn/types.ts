import type { tf } from '../backend/tf.js';
import type { Rng } from '../util/rng.js';

/** Options of one forward pass. */
export interface ApplyOptions {
  /** Train mode: batch-statistics batch norm (and its running-stat update) and dropout. */
  training: boolean;
  /** Source of dropout seeds in train mode, so that runs are deterministic and resumable. */
  rng?: Rng;
  /**
   * Train mode only: assign the batch-norm running statistics during this forward (default true, as every
   * PyTorch train-mode forward does). False for extra forwards that must not count (finite differences).
   */
  updateStats?: boolean;
  /**
   * Train mode: the batch is this many equal consecutive groups that batch norm treats as separate batches (its
   * own statistics and running-statistics update per group, in group order), so one forward gives the
   * batch-norm results of as many separate forwards while the convolutions run on the whole batch at once.
   * Dropout masks are drawn for the whole batch at each layer, so their random numbers are laid out differently
   * from separate forwards (the same distribution). Default 1; must divide the batch size.
   */
  groups?: number;
}

/** Options of `SegmentationModel.clone`. */
export interface CloneOptions {
  /** Instance prefix of the clone's engine variable names (default: the original's base name, suffixed). */
  name?: string;
  /** False for an EMA teacher (its parameters are then invisible to `tf.variableGrads` / optimizers). */
  trainable?: boolean;
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
  /** The learnable parameters (conv weights/biases, BN γ/β) by state-dict key, whatever their trainable flag. */
  namedParameters(): Map<string, tf.Variable>;
  /** The batch-norm running statistics (`…running_mean`, `…running_var`) by state-dict key. */
  namedBuffers(): Map<string, tf.Variable>;
  /** The learnable parameters, in state-dict order (what the optimizer updates). */
  trainableWeights(): tf.Variable[];
  /** A new instance of the same architecture holding a copy of every variable (e.g. the EMA teacher). */
  clone(options?: CloneOptions): SegmentationModel;
  /** Frees every variable. */
  dispose(): void;
}

/**
 * The contract between a method variant and the training loop: every variant (`method.name`) turns one batch
 * into one step's loss through these two calls, so the loop in `src/train/train.ts` knows none of them.
 *
 * A step runs in two phases because TF.js has no stopGradient: what must not be differentiated is computed
 * before the gradient closure instead.
 * 1. `prepare(ctx, batch)` — OUTSIDE the gradient closure: validates the batch, runs the teacher, builds the
 *    pseudo-labels, draws the cuboid and builds the mixed inputs. Returns kept tensors; the caller disposes them
 *    with `prepared.dispose()` after the optimizer step (also when the step throws).
 * 2. `loss(ctx, batch, prepared)` — INSIDE the engine's `optimizer.step(lossFn, vars)` (`src/train/optimizer.ts`,
 *    gradients by `tf.variableGrads` with respect to `student.namedParameters()`): the student forwards and the
 *    loss. It runs in its own `tf.tidy` and returns the scalar to minimise, which `optimizer.step` disposes after
 *    taking the gradients and the loss value, plus the loss parts and diagnostics as plain numbers, which the
 *    caller captures through a closure variable:
 *
 * ```ts
 * const prepared = variant.prepare(ctx, batch);
 * let step: StepLoss | undefined;
 * let lossValue: number;
 * try {
 *   lossValue = optimizer.step(() => {
 *     step = variant.loss(ctx, batch, prepared);
 *     return step.loss;
 *   }, student.namedParameters());
 * } finally {
 *   prepared.dispose();
 * }
 * // then the EMA update of the teacher (`updateEma` in src/nn/ema.ts) and the next step's learning rate
 * ```
 * On the `webgpu` backend, which cannot read tensors synchronously, the host reads of both calls (label check,
 * pseudo-labels, loss parts) are queued: `await settleHostReads()` after `prepare` and after the step, with
 * `optimizer.stepAsync`, as the engine does (a no-op on the other backends).
 * Batch positions follow the reference's two-stream sampler (a labeled group then an unlabeled group, each made
 * of two sub-batches): labeled `[0:sub]` = a, `[sub:2·sub]` = b, unlabeled likewise.
 */
import type { tf } from '../../backend/tf.js';
import type { SegmentationModel } from '../../nn/types.js';
import type { Rng } from '../../util/rng.js';
import type { CuboidStartRange } from '../cuboid-size.js';
import type { PseudoLabelOptions } from '../pseudo-labels.js';
import type { LossDice, MixName, StepName, TeacherMode } from './names.js';

/** One training batch, channels last. */
export interface StepBatch {
  /** `[N_l, ...S, C]` float32; N_l = 2·sub for the copy-paste variants and pre-training. */
  labeledImages: tf.Tensor;
  /** `[N_l, ...S]` int32 class ids in [0, K−1]. */
  labeledLabels: tf.Tensor;
  /** `[N_u, ...S, C]` float32; required by mean-teacher (any N_u) and the copy-paste variants (N_u = N_l). */
  unlabeledImages?: tf.Tensor;
}

/**
 * Step settings, with the key names of the config's `method` section (so the engine takes `config.method` as it
 * is); a key left out takes its reference default (`DEFAULT_STEP_CONFIG` in names.ts).
 */
export interface StepConfig {
  /** Cuboid size ratio per axis (E1); default 2/3. */
  maskRatio?: number;
  /** Cuboid start draw (Q1); default `reference`. */
  startRange?: CuboidStartRange;
  /** Hard-coded ranges of `reference`; default `REFERENCE_START_RANGES` of the dimensionality. */
  referenceStartRange?: readonly number[];
  /** Weight u of the pseudo-label terms; default 0.5. */
  unlabeledWeight?: number;
  /** Teacher forward mode; default `train` (Q3: dropout and batch-statistics BN, as the reference). */
  teacher?: { mode?: TeacherMode };
  /** Pseudo-label rule; default largest component with full connectivity (E7). */
  pseudoLabel?: PseudoLabelOptions;
  /** Mean teacher: maximum weight (default 0.1, UA-MT's) and ramp-up length (default 6000 iterations). */
  consistency?: { weight?: number; rampupIterations?: number };
  /** `volume3d` = E17–E20/E27 (VNet scripts), `batch2d` = E28–E30 (BCP ACDC); default from the student's spatialDims (Q26). */
  lossDice?: LossDice;
  /**
   * The copy-paste mixes whose forwards and loss terms the step has (bcp, cpam, cpam-trcm; any order, run in E12
   * order); default the method's preset (`METHOD_MIXES` in names.ts). The loss is the plain sum of the present
   * terms. Refused by supervised and mean-teacher, and by cpam-trcm without lu, ul and ll.
   */
  mixes?: readonly MixName[];
}

export interface StepContext {
  student: SegmentationModel;
  /** Required by mean-teacher, bcp, cpam and cpam-trcm. */
  teacher?: SegmentationModel;
  /** Cuboid positions: its own seeded stream, so the draws are reproducible and part of the saved state. */
  rng: Rng;
  /** Dropout seeds of every teacher and student forward. */
  dropoutRng: Rng;
  /** 0-based iteration of the stage (mean-teacher ramp-up). */
  iteration: number;
  config: StepConfig;
}

/** Output of `prepare`: kept tensors for `loss`, plus numbers for the log. */
export interface PreparedStep {
  tensors: Record<string, tf.Tensor>;
  diagnostics: Record<string, number>;
  /** The cuboid of this step, when one was drawn. */
  cuboid?: { start: number[]; size: number[]; clippedSize: number[] };
  /** Frees every tensor in `tensors`. */
  dispose(): void;
}

/** Output of `loss`. */
export interface StepLoss {
  /** The scalar to minimise; `optimizer.step` takes its gradients and value, then disposes it. */
  loss: tf.Scalar;
  /** Loss terms as numbers (always includes `total`). */
  parts: Record<string, number>;
  /** e.g. `pseudoForegroundFraction`, `reliableFraction`, `consistencyWeight`. */
  diagnostics: Record<string, number>;
}

export interface MethodVariant {
  readonly name: StepName;
  /** From the step's `STEP_BATCHING` entry (forwards.ts): it has a teacher forward. */
  readonly needsTeacher: boolean;
  /** From the step's `STEP_BATCHING` entry (forwards.ts): it needs unlabeled images. */
  readonly needsUnlabeled: boolean;
  prepare(ctx: StepContext, batch: StepBatch): PreparedStep;
  loss(ctx: StepContext, batch: StepBatch, prepared: PreparedStep): StepLoss;
}

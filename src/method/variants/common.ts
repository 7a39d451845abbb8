/**
 * Papers: the copy-paste self-training of BCP (Bai et al., CVPR 2023), extended by CPAM of the TNNLS 2026
 *   paper (docs/equations.md, References).
 * Pieces shared by the method variants: defaults, batch validation, batch splitting (§2.6), teacher forwards,
 * the copy-paste preparation (E1–E11) and the supervised loss.
 */
import { tf } from '../../backend/tf.js';
import type { SegmentationModel } from '../../nn/types.js';
import { requireModel, requireObject, requireTensorFields } from '../../util/args.js';
import { InputError, SsmisError } from '../../util/errors.js';
import type { BcpLossInputs, CpamLossInputs } from '../cpam-loss.js';
import { cuboidMask } from '../cuboid.js';
import type { CuboidStartRange } from '../cuboid-size.js';
import { diceLoss2d, maskedCrossEntropy, maskedDiceLoss } from '../losses.js';
import { mixImages } from '../mix.js';
import type { PseudoLabelOptions } from '../pseudo-labels.js';
import { pseudoLabels } from '../pseudo-labels.js';
import { STEP_BATCHING } from './forwards.js';
import { DEFAULT_STEP_CONFIG, type LossDice, type TeacherMode } from './names.js';
import type { MethodVariant, PreparedStep, StepBatch, StepConfig, StepContext, StepLoss } from './types.js';

/** A {@link StepConfig} with every default filled (`referenceStartRange` stays optional: the cuboid's default). */
export interface ResolvedStepConfig {
  maskRatio: number;
  startRange: CuboidStartRange;
  referenceStartRange?: readonly number[];
  unlabeledWeight: number;
  teacher: { mode: TeacherMode };
  pseudoLabel: PseudoLabelOptions;
  consistency: { weight: number; rampupIterations: number };
  lossDice: LossDice;
}

/** The step's settings with the reference defaults ({@link DEFAULT_STEP_CONFIG}) for every key left out. */
export function resolveConfig(ctx: StepContext): ResolvedStepConfig {
  const c = ctx.config;
  const d = DEFAULT_STEP_CONFIG;
  return {
    maskRatio: c.maskRatio ?? d.maskRatio,
    startRange: c.startRange ?? d.startRange,
    referenceStartRange: c.referenceStartRange,
    unlabeledWeight: c.unlabeledWeight ?? d.unlabeledWeight,
    teacher: { mode: c.teacher?.mode ?? d.teacher.mode },
    pseudoLabel: c.pseudoLabel ?? {},
    consistency: {
      weight: c.consistency?.weight ?? d.consistency.weight,
      rampupIterations: c.consistency?.rampupIterations ?? d.consistency.rampupIterations,
    },
    lossDice: c.lossDice ?? (ctx.student.spatialDims === 3 ? 'volume3d' : 'batch2d'),
  };
}

function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

/**
 * The argument check of every variant's `prepare` and `loss`: `ctx` is a step context with a student model,
 * `batch` (when given) holds the labeled image and label tensors, `prepared` (when given) is an object.
 */
export function checkStepArgs(
  variant: string,
  ctx: unknown,
  args: { batch?: unknown; prepared?: unknown } = {},
): asserts ctx is StepContext {
  const where = `method variant '${variant}'`;
  requireObject(where, 'ctx', ctx, 'a step context ({ student, rng, dropoutRng, iteration, config })');
  requireModel(where, 'ctx.student', ctx.student);
  if ('batch' in args) requireTensorFields(where, 'batch', args.batch, ['labeledImages', 'labeledLabels']);
  if ('prepared' in args)
    requireObject(where, 'prepared', args.prepared, 'a prepared step (prepare(ctx, batch))');
}

/**
 * Checks shapes, dtypes, the sub-batch split and the label range (one host read of the labels, outside the
 * gradient closure, so the losses can trust their targets).
 */
export function validateBatch(variant: MethodVariant, ctx: StepContext, batch: StepBatch): void {
  checkStepArgs(variant.name, ctx, { batch });
  const what = `method variant '${variant.name}'`;
  const dims = ctx.student.spatialDims;
  const img = batch.labeledImages;
  if (img.rank !== dims + 2) {
    throw new InputError(
      `${what}: labeledImages must be [N, ...${dims} spatial, C], got ${shapeText(img.shape)}`,
    );
  }
  if (img.shape[img.rank - 1] !== ctx.student.inChannels) {
    throw new InputError(
      `${what}: labeledImages has ${img.shape[img.rank - 1]} channels, the student expects ${ctx.student.inChannels}`,
    );
  }
  const lab = batch.labeledLabels;
  const expected = img.shape.slice(0, -1);
  if (lab.dtype !== 'int32' || lab.rank !== expected.length || lab.shape.some((d, i) => d !== expected[i])) {
    throw new InputError(
      `${what}: labeledLabels must be int32 ${shapeText(expected)}, got ${lab.dtype} ${shapeText(lab.shape)}`,
    );
  }
  if (variant.needsTeacher && ctx.teacher === undefined) {
    throw new InputError(`${what}: needs a teacher model (ctx.teacher)`);
  }
  if (variant.needsUnlabeled) {
    const u = batch.unlabeledImages;
    if (u === undefined) throw new InputError(`${what}: needs unlabeledImages`);
    const sameAsLabeled = u.rank === img.rank && u.shape.every((d, i) => i === 0 || d === img.shape[i]);
    if (!sameAsLabeled) {
      throw new InputError(
        `${what}: unlabeledImages ${shapeText(u.shape)} must match labeledImages ${shapeText(img.shape)} ` +
          'except for the batch size',
      );
    }
  }
  const k = ctx.student.numClasses;
  const data = lab.dataSync();
  for (let i = 0; i < data.length; i++) {
    if (data[i] < 0 || data[i] >= k || !Number.isInteger(data[i])) {
      throw new InputError(`${what}: labeledLabels contains ${data[i]}, expected class ids in [0, ${k - 1}]`);
    }
  }
}

/**
 * Checks N_l = 2·sub, and N_u = N_l when the step's {@link STEP_BATCHING} entry needs as many unlabeled as
 * labeled images (the mixes pair a labeled with an unlabeled sub-batch); returns sub.
 */
export function subBatchSize(variant: MethodVariant, batch: StepBatch): number {
  const needsUnlabeled = STEP_BATCHING[variant.name].unlabeled === 'as many as labeled';
  const nl = batch.labeledImages.shape[0];
  if (nl < 2 || nl % 2 !== 0) {
    throw new InputError(
      `method variant '${variant.name}': the labeled batch must split into two equal sub-batches a and b, got ${nl} images`,
    );
  }
  const nu = batch.unlabeledImages?.shape[0];
  if (needsUnlabeled && nu !== nl) {
    throw new InputError(
      `method variant '${variant.name}': needs as many unlabeled as labeled images (${nl}), got ${nu}`,
    );
  }
  return nl / 2;
}

/** Rows [start, start + count) of the batch axis (tf.slice: differentiable, no stridedSlice). */
export function batchRows(t: tf.Tensor, start: number, count: number): tf.Tensor {
  const begin = new Array<number>(t.rank).fill(0);
  begin[0] = start;
  const size = new Array<number>(t.rank).fill(-1);
  size[0] = count;
  return tf.slice(t, begin, size);
}

/** Teacher logits (no gradient: only ever called in `prepare`). Q3: train mode by default. */
export function teacherLogits(ctx: StepContext, cfg: ResolvedStepConfig, x: tf.Tensor): tf.Tensor {
  const teacher = ctx.teacher as SegmentationModel;
  return teacher.apply(x, { training: cfg.teacher.mode === 'train', rng: ctx.dropoutRng });
}

/** Student logits in train mode (dropout seeds from the dropout stream). */
export function studentLogits(ctx: StepContext, x: tf.Tensor): tf.Tensor {
  return ctx.student.apply(x, { training: true, rng: ctx.dropoutRng });
}

/** Builds a PreparedStep whose `dispose` frees its tensors. */
export function preparedStep(
  tensors: Record<string, tf.Tensor>,
  diagnostics: Record<string, number>,
  cuboid?: PreparedStep['cuboid'],
): PreparedStep {
  return {
    tensors,
    diagnostics,
    cuboid,
    dispose: () => tf.dispose(Object.values(tensors)),
  };
}

/** A prepared tensor by name, with a clear error when `prepare` of another variant was passed in. */
export function prepared(p: PreparedStep, name: string, variant: string): tf.Tensor {
  const t = p.tensors[name];
  if (t === undefined || t.isDisposed) {
    throw new SsmisError(
      `method variant '${variant}': prepared tensor '${name}' is missing or disposed (was prepare() of this variant called for this step?)`,
    );
  }
  return t;
}

/**
 * The copy-paste preparation of bcp / cpam / cpam-trcm (docs/equations.md, training step §4.9, steps 2–4): two
 * separate teacher forwards on U_a and U_b (E5, BN statistics per call as the reference), pseudo-labels (E6–E7), one
 * cuboid (E1–E4, Q30) and the mixed inputs E8–E9 (and E10–E11 when `withPairs`). Tensors: mask (M, `[...S]`), labelA,
 * labelB, pseudoA, pseudoB, xl, xu (, xll, xuu).
 */
export function prepareCopyPaste(
  variant: MethodVariant,
  ctx: StepContext,
  batch: StepBatch,
  withPairs: boolean,
): PreparedStep {
  validateBatch(variant, ctx, batch);
  const sub = subBatchSize(variant, batch);
  const cfg = resolveConfig(ctx);
  const unlabeled = batch.unlabeledImages as tf.Tensor;
  const spatial = batch.labeledImages.shape.slice(1, -1);
  let cuboid: PreparedStep['cuboid'];
  let foreground = 0;
  const tensors = tf.tidy(() => {
    const la = batchRows(batch.labeledImages, 0, sub);
    const lb = batchRows(batch.labeledImages, sub, sub);
    const ua = batchRows(unlabeled, 0, sub);
    const ub = batchRows(unlabeled, sub, sub);
    const pseudoA = pseudoLabels(teacherLogits(ctx, cfg, ua), cfg.pseudoLabel);
    const pseudoB = pseudoLabels(teacherLogits(ctx, cfg, ub), cfg.pseudoLabel);
    const c = cuboidMask(spatial, cfg.maskRatio, ctx.rng, {
      startRange: cfg.startRange,
      referenceStartRange: cfg.referenceStartRange,
    });
    cuboid = { start: c.start, size: c.size, clippedSize: c.clippedSize };
    // The mean of the 0/1 foreground indicator in float32, counted on the host values pseudoLabels built.
    const a = pseudoA.dataSync();
    const b = pseudoB.dataSync();
    let nonzero = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== 0) nonzero++;
    for (let i = 0; i < b.length; i++) if (b[i] !== 0) nonzero++;
    foreground = Math.fround(nonzero / (a.length + b.length));
    const out: Record<string, tf.Tensor> = {
      mask: c.mask,
      labelA: batchRows(batch.labeledLabels, 0, sub),
      labelB: batchRows(batch.labeledLabels, sub, sub),
      pseudoA,
      pseudoB,
      xl: mixImages(la, ua, c.mask), // E8
      xu: mixImages(ub, lb, c.mask), // E9
    };
    if (withPairs) {
      out.xll = mixImages(la, lb, c.mask); // E10
      out.xuu = mixImages(ua, ub, c.mask); // E11
    }
    return out;
  });
  return preparedStep(tensors, { pseudoForegroundFraction: foreground }, cuboid);
}

/**
 * The inputs of the copy-paste losses (bcp / cpam / cpam-trcm) from a `prepareCopyPaste` step: the student
 * forwards on the mixes, then the prepared labels, pseudo-labels, mask and the unlabeled weight. E12: the forwards
 * run separately in the order xl, xu (, xll, xuu) — each draws its own dropout masks and BN batch statistics, so
 * the order is part of the result. Call inside the loss `tf.tidy`.
 */
export function copyPasteLossInputs(
  ctx: StepContext,
  prep: PreparedStep,
  variant: string,
  opts: { fourMixes: true },
): CpamLossInputs;
export function copyPasteLossInputs(
  ctx: StepContext,
  prep: PreparedStep,
  variant: string,
  opts: { fourMixes: false },
): BcpLossInputs;
export function copyPasteLossInputs(
  ctx: StepContext,
  prep: PreparedStep,
  variant: string,
  opts: { fourMixes: boolean },
): BcpLossInputs | CpamLossInputs {
  const cfg = resolveConfig(ctx);
  const t = (name: string) => prepared(prep, name, variant);
  const logitsL = studentLogits(ctx, t('xl'));
  const logitsU = studentLogits(ctx, t('xu'));
  const pairs = opts.fourMixes
    ? { logitsLL: studentLogits(ctx, t('xll')), logitsUU: studentLogits(ctx, t('xuu')) }
    : {};
  return {
    logitsL,
    logitsU,
    ...pairs,
    labelA: t('labelA'),
    labelB: t('labelB'),
    pseudoA: t('pseudoA'),
    pseudoB: t('pseudoB'),
    mask: t('mask'),
    unlabeledWeight: cfg.unlabeledWeight,
  };
}

/** The 3-D and 2-D forms of one copy-paste loss; `fourMixes` says whether it takes the L-L / U-U mixes too. */
export type CopyPasteLosses<P> =
  | { fourMixes: false; loss3d: (inputs: BcpLossInputs) => P; loss2d: (inputs: BcpLossInputs) => P }
  | { fourMixes: true; loss3d: (inputs: CpamLossInputs) => P; loss2d: (inputs: CpamLossInputs) => P };

/**
 * The `loss` of a copy-paste variant: builds the loss inputs, applies the loss of the configured family and
 * hands the result to `summarize` (inside the same tidy) for the host-side parts and any extra diagnostics,
 * which are added to the prepared step's diagnostics.
 */
export function copyPasteStepLoss<P extends { total: tf.Scalar }>(
  ctx: StepContext,
  prep: PreparedStep,
  variant: string,
  losses: CopyPasteLosses<P>,
  summarize: (
    result: P,
    inputs: BcpLossInputs,
  ) => { parts: Record<string, number>; diagnostics?: Record<string, number> },
): StepLoss {
  checkStepArgs(variant, ctx, { prepared: prep });
  const lossDice = resolveConfig(ctx).lossDice;
  let parts: Record<string, number> = {};
  let diagnostics: Record<string, number> = {};
  const loss = tf.tidy(() => {
    let result: P;
    let inputs: BcpLossInputs;
    if (losses.fourMixes) {
      const four = copyPasteLossInputs(ctx, prep, variant, { fourMixes: true });
      result = lossDice === 'volume3d' ? losses.loss3d(four) : losses.loss2d(four);
      inputs = four;
    } else {
      inputs = copyPasteLossInputs(ctx, prep, variant, { fourMixes: false });
      result = lossDice === 'volume3d' ? losses.loss3d(inputs) : losses.loss2d(inputs);
    }
    const summary = summarize(result, inputs);
    parts = summary.parts;
    diagnostics = { ...prep.diagnostics, ...summary.diagnostics };
    return result.total;
  });
  return { loss, parts, diagnostics };
}

/**
 * Supervised loss on un-mixed labeled images: ½(CE_mean + Dice) with the unmasked Dice (the E27 form without the
 * mix) for `volume3d`, ½(D₂ + CE_mean) (E28 unmasked, E29) for `batch2d`.
 */
export function supervisedLoss(
  logits: tf.Tensor,
  labels: tf.Tensor,
  lossDice: LossDice,
): { total: tf.Scalar; dice: tf.Scalar; ce: tf.Scalar } {
  return tf.tidy(() => {
    const ce = maskedCrossEntropy(logits, labels);
    const dice = lossDice === 'volume3d' ? maskedDiceLoss(logits, labels) : diceLoss2d(logits, labels);
    return { total: tf.mul(tf.add(ce, dice), 0.5) as tf.Scalar, dice, ce };
  });
}

/** Scalars to numbers (one host read each; the step is synchronous on every TF.js backend we use). */
export function toNumbers(scalars: Record<string, tf.Tensor>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(scalars)) out[k] = v.dataSync()[0];
  return out;
}

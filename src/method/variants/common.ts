/**
 * Papers: the copy-paste self-training of BCP (Bai et al., CVPR 2023), extended by CPAM of the TNNLS 2026
 *   paper (docs/equations.md, References).
 * Pieces shared by the method variants: defaults, batch validation, batch splitting (§2.6), teacher forwards,
 * the copy-paste preparation (E1–E11) and the supervised loss.
 */
import { afterHostReads, readOnHost, scalarsOnHost } from '../../backend/host-read.js';
import { tf } from '../../backend/tf.js';
import type { SegmentationModel } from '../../nn/types.js';
import { requireModel, requireObject, requireTensorFields } from '../../util/args.js';
import { InputError, SsmisError } from '../../util/errors.js';
import { shapeText } from '../../util/shape.js';
import { MIX_TERMS, type MixesLossInputs, orderedMixes } from '../cpam-loss.js';
import { cuboidMask } from '../cuboid.js';
import type { CuboidStartRange } from '../cuboid-size.js';
import { defaultLossDice } from '../dims-defaults.js';
import { diceLoss2d, maskedCrossEntropy, maskedDiceLoss } from '../losses.js';
import { mixImages } from '../mix.js';
import { hardPredictions } from '../predictions.js';
import type { PseudoLabelOptions } from '../pseudo-labels.js';
import { pseudoLabelValues } from '../pseudo-labels.js';
import { STEP_BATCHING } from './forwards.js';
import {
  DEFAULT_STEP_CONFIG,
  type LossDice,
  METHOD_MIXES,
  type MixName,
  mixesProblem,
  type StepName,
  type TeacherMode,
} from './names.js';
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
    lossDice: c.lossDice ?? defaultLossDice(ctx.student.spatialDims),
  };
}

/**
 * The mixes of a copy-paste step: `ctx.config.mixes`, else the method's preset ({@link METHOD_MIXES}), in E12
 * order. Refuses (as the config check does, naming `method.mixes`) a list the method does not accept, and any
 * list for a method without mixes.
 */
export function resolveMixes(method: StepName, ctx: StepContext): MixName[] {
  const mixes = ctx.config.mixes;
  if (mixes === undefined) return orderedMixes(METHOD_MIXES[method]?.default ?? []);
  const problem = Array.isArray(mixes)
    ? mixesProblem(method, mixes)
    : `an array of mix names, got ${JSON.stringify(mixes)}`;
  if (problem !== undefined)
    throw new InputError(`method variant '${method}': method.mixes: expected ${problem}`);
  return orderedMixes(mixes);
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
 * Checks shapes, dtypes, the sub-batch split, the label range (one host read of the labels, outside the
 * gradient closure, so the losses can trust their targets) and, for a stage-2 method, `method.mixes`.
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
  // The stage-2 methods check `mixes` (pre-training shares the method's config but has its one fixed mix).
  if (variant.name !== 'pretrain') resolveMixes(variant.name, ctx);
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
  readOnHost([lab], ([data]) => {
    for (let i = 0; i < data.length; i++) {
      if (data[i] < 0 || data[i] >= k || !Number.isInteger(data[i])) {
        throw new InputError(
          `${what}: labeledLabels contains ${data[i]}, expected class ids in [0, ${k - 1}]`,
        );
      }
    }
  });
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

/**
 * Teacher logits (no gradient: only ever called in `prepare`). Q3: train mode by default. `groups` > 1: the batch
 * is that many sub-batches with their own batch-norm statistics ({@link groupedLogits}).
 */
export function teacherLogits(
  ctx: StepContext,
  cfg: ResolvedStepConfig,
  x: tf.Tensor,
  groups = 1,
): tf.Tensor {
  const teacher = ctx.teacher as SegmentationModel;
  return teacher.apply(x, { training: cfg.teacher.mode === 'train', rng: ctx.dropoutRng, groups });
}

/** Student logits in train mode (dropout seeds from the dropout stream); `groups` as {@link teacherLogits}. */
export function studentLogits(ctx: StepContext, x: tf.Tensor, groups = 1): tf.Tensor {
  return ctx.student.apply(x, { training: true, rng: ctx.dropoutRng, groups });
}

/**
 * The logits of each of `inputs` (equal shapes) as separate forwards would give them (each input its own
 * batch-norm statistics and running-statistics update, in order) from ONE forward of the inputs stacked on the
 * batch axis with batch-norm groups: the convolutions then run on the whole stack at once, which costs less
 * than one call per input. Only the dropout masks' random numbers are laid out differently (drawn once per
 * layer for the stack).
 */
export function groupedLogits(
  inputs: readonly tf.Tensor[],
  forward: (x: tf.Tensor, groups: number) => tf.Tensor,
): tf.Tensor[] {
  if (inputs.length === 1) return [forward(inputs[0], 1)];
  return tf.split(forward(tf.concat([...inputs], 0), inputs.length), inputs.length, 0);
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

/** Each mix's mixed image (E8–E11): its name in the prepared tensors, the image kept outside and the one pasted in. */
const MIX_IMAGES: Readonly<
  Record<MixName, { name: string; outside: 'la' | 'ub' | 'ua'; inside: 'ua' | 'lb' | 'ub' }>
> = {
  lu: { name: 'xl', outside: 'la', inside: 'ua' }, // E8
  ul: { name: 'xu', outside: 'ub', inside: 'lb' }, // E9
  ll: { name: 'xll', outside: 'la', inside: 'lb' }, // E10
  uu: { name: 'xuu', outside: 'ua', inside: 'ub' }, // E11
};

/**
 * The step's one cuboid draw (E1–E4, Q30) from `ctx.rng` with the resolved config's ratio and start ranges: the
 * mask M `[...S]` (call inside the step's `tf.tidy`) and the position the prepared step records.
 */
export function drawStepCuboid(
  spatial: number[],
  cfg: ResolvedStepConfig,
  ctx: StepContext,
): { mask: tf.Tensor; cuboid: NonNullable<PreparedStep['cuboid']> } {
  const c = cuboidMask(spatial, cfg.maskRatio, ctx.rng, {
    startRange: cfg.startRange,
    referenceStartRange: cfg.referenceStartRange,
  });
  return { mask: c.mask, cuboid: { start: c.start, size: c.size, clippedSize: c.clippedSize } };
}

/** The labels of the labeled batch's two sub-batches of `sub` rows (call inside the step's `tf.tidy`). */
export function labeledHalves(batch: StepBatch, sub: number): { labelA: tf.Tensor; labelB: tf.Tensor } {
  return { labelA: batchRows(batch.labeledLabels, 0, sub), labelB: batchRows(batch.labeledLabels, sub, sub) };
}

/**
 * The copy-paste preparation of bcp / cpam / cpam-trcm (docs/equations.md, training step §4.9, steps 2–4): the
 * teacher on U_a and U_b (E5) as two batch-norm groups of one forward, so BN statistics are per sub-batch as in
 * the reference's two calls ({@link groupedLogits}; run whatever the mixes, so the dropout stream does not depend
 * on them), pseudo-labels (E6–E7), one cuboid (E1–E4, Q30) and the mixed
 * input of each of the step's mixes (E8–E11, {@link resolveMixes}). Tensors: mask (M, `[...S]`), labelA, labelB,
 * pseudoA, pseudoB and xl, xu, xll, xuu for the mixes present.
 */
export function prepareCopyPaste(variant: MethodVariant, ctx: StepContext, batch: StepBatch): PreparedStep {
  validateBatch(variant, ctx, batch);
  const sub = subBatchSize(variant, batch);
  const cfg = resolveConfig(ctx);
  const mixes = resolveMixes(variant.name, ctx);
  const unlabeled = batch.unlabeledImages as tf.Tensor;
  const spatial = batch.labeledImages.shape.slice(1, -1);
  let cuboid: PreparedStep['cuboid'];
  const diagnostics: Record<string, number> = { pseudoForegroundFraction: Number.NaN };
  const tensors = tf.tidy(() => {
    const images = {
      la: batchRows(batch.labeledImages, 0, sub),
      lb: batchRows(batch.labeledImages, sub, sub),
      ua: batchRows(unlabeled, 0, sub),
      ub: batchRows(unlabeled, sub, sub),
    };
    const [logitsA, logitsB] = groupedLogits([images.ua, images.ub], (x, groups) =>
      teacherLogits(ctx, cfg, x, groups),
    );
    const hardA = hardPredictions(logitsA);
    const hardB = hardPredictions(logitsB);
    const c = drawStepCuboid(spatial, cfg, ctx);
    cuboid = c.cuboid;
    const out: Record<string, tf.Tensor> = { mask: c.mask, ...labeledHalves(batch, sub) };
    // The component filter runs on the host: at once on the sync backends, at the step's settle on webgpu.
    readOnHost([hardA, hardB], ([ha, hb]) => {
      const k = logitsA.shape[logitsA.rank - 1];
      const a = pseudoLabelValues(ha as Int32Array, hardA.shape, k, cfg.pseudoLabel);
      const b = pseudoLabelValues(hb as Int32Array, hardB.shape, k, cfg.pseudoLabel);
      out.pseudoA = tf.keep(tf.tensor(a, hardA.shape, 'int32'));
      out.pseudoB = tf.keep(tf.tensor(b, hardB.shape, 'int32'));
      // The mean of the 0/1 foreground indicator in float32, counted on the pseudo-label values.
      let nonzero = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== 0) nonzero++;
      for (let i = 0; i < b.length; i++) if (b[i] !== 0) nonzero++;
      diagnostics.pseudoForegroundFraction = Math.fround(nonzero / (a.length + b.length));
    });
    for (const m of mixes) {
      const { name, outside, inside } = MIX_IMAGES[m];
      out[name] = mixImages(images[outside], images[inside], c.mask);
    }
    return out;
  });
  return preparedStep(tensors, diagnostics, cuboid);
}

/**
 * The inputs of the copy-paste losses (bcp / cpam / cpam-trcm) from a `prepareCopyPaste` step: the student
 * forwards on the mixes present, then the prepared labels, pseudo-labels, mask and the unlabeled weight. E12: the
 * reference's separate forwards in the order xl, xu, xll, xuu (those present), as one forward with a batch-norm
 * group per mix in that order ({@link groupedLogits}): each mix keeps its own BN batch statistics and the running
 * statistics are updated mix by mix in E12 order. Call inside the loss `tf.tidy`.
 */
export function copyPasteLossInputs(
  ctx: StepContext,
  prep: PreparedStep,
  variant: string,
  mixes: readonly MixName[],
): MixesLossInputs {
  const cfg = resolveConfig(ctx);
  const t = (name: string) => prepared(prep, name, variant);
  const logits: Partial<Record<'logitsL' | 'logitsU' | 'logitsLL' | 'logitsUU', tf.Tensor>> = {};
  const present = orderedMixes(mixes);
  const outputs = groupedLogits(
    present.map((m) => t(MIX_IMAGES[m].name)),
    (x, groups) => studentLogits(ctx, x, groups),
  );
  present.forEach((m, i) => {
    logits[MIX_TERMS[m].logits] = outputs[i];
  });
  return {
    ...logits,
    labelA: t('labelA'),
    labelB: t('labelB'),
    pseudoA: t('pseudoA'),
    pseudoB: t('pseudoB'),
    mask: t('mask'),
    unlabeledWeight: cfg.unlabeledWeight,
  };
}

/** The 3-D and 2-D forms of one copy-paste loss over a set of mixes. */
export interface CopyPasteLosses<P> {
  loss3d: (inputs: MixesLossInputs, mixes: readonly MixName[]) => P;
  loss2d: (inputs: MixesLossInputs, mixes: readonly MixName[]) => P;
}

/**
 * The `loss` of a copy-paste variant: builds the loss inputs of the step's mixes, applies the loss of the
 * configured family and hands the result to `summarize` (inside the same tidy) for the host-side parts and any
 * extra diagnostics, which are added to the prepared step's diagnostics.
 */
export function copyPasteStepLoss<P extends { total: tf.Scalar }>(
  ctx: StepContext,
  prep: PreparedStep,
  variant: StepName,
  losses: CopyPasteLosses<P>,
  summarize: (
    result: P,
    inputs: MixesLossInputs,
  ) => { parts: Record<string, number>; diagnostics?: Record<string, number> },
): StepLoss {
  checkStepArgs(variant, ctx, { prepared: prep });
  const lossDice = resolveConfig(ctx).lossDice;
  const mixes = resolveMixes(variant, ctx);
  let parts: Record<string, number> = {};
  const diagnostics: Record<string, number> = {};
  const loss = tf.tidy(() => {
    const inputs = copyPasteLossInputs(ctx, prep, variant, mixes);
    const result = lossDice === 'volume3d' ? losses.loss3d(inputs, mixes) : losses.loss2d(inputs, mixes);
    const summary = summarize(result, inputs);
    parts = summary.parts;
    // Merged once their numbers are read (at once on the sync backends, at the step's settle on webgpu).
    afterHostReads(() => Object.assign(diagnostics, prep.diagnostics, summary.diagnostics));
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

/**
 * Scalars to numbers (one host read each): filled at once on the sync backends, at the step's settle on webgpu,
 * so keep the record rather than copying its values.
 */
export function toNumbers(scalars: Record<string, tf.Tensor>): Record<string, number> {
  return scalarsOnHost(scalars);
}

/**
 * The method-variant registry, keyed by the config's `method.name`: each variant is a small module on shared
 * primitives, so ablations are config switches rather than code copies.
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026): `cpam-trcm`, `cpam`;
 *   the others are its baselines.
 */

import { requireString } from '../../util/args.js';
import { InputError } from '../../util/errors.js';
import { bcpVariant } from './bcp.js';
import { cpamVariant } from './cpam.js';
import { cpamTrcmVariant } from './cpam-trcm.js';
import { meanTeacherVariant } from './mean-teacher.js';
import { METHOD_NAMES, type MethodName } from './names.js';
import { supervisedVariant } from './supervised.js';
import type { MethodVariant } from './types.js';

/**
 * The method variants, keyed by the config's `method.name` ({@link METHOD_NAMES}): `supervised` (labeled data
 * only), `mean-teacher`, `bcp` (the L-U and U-L copy-paste mixes), `cpam` (adds the L-L and U-U mixes) and
 * `cpam-trcm` (the paper: CPAM with the TRCM reliability masks). Each turns one batch into one training step's
 * loss in two calls, `prepare(ctx, batch)` outside the gradient and `loss(ctx, batch, prepared)` inside it; this
 * is how `train` runs them, and how a custom training loop can.
 *
 * @param ctx (of each variant's `prepare` and `loss`) The step context: `student`, `teacher` (every variant but
 *   `supervised`), `rng` (cuboid draws), `dropoutRng`, `iteration` (0-based, for ramp-ups) and `config` (the
 *   config's `method` section as it is; a key left out takes its reference default).
 * @param batch (of `prepare` and `loss`) `labeledImages` `[N_l, ...S, C]` float32, `labeledLabels` `[N_l, ...S]`
 *   int32 and, for every variant but `supervised`, `unlabeledImages` (N_u = N_l for the copy-paste variants).
 * @param prepared (of `loss`) What `prepare` returned for this batch; the caller disposes it after `loss`.
 * @returns Each entry's `prepare` returns the prepared step (teacher outputs, masks and mixes, computed outside
 *   the gradient); its `loss` returns the scalar loss to minimise, its parts and diagnostics.
 * @throws InputError (from `prepare`/`loss`) when `ctx` lacks a student model (or a teacher the variant needs),
 *   when batch shapes, dtypes, channel counts or label values do not fit the student, when the labeled batch
 *   does not split into two equal sub-batches (copy-paste variants) or the unlabeled images are missing or of
 *   another size, when `config.mixes` names an unknown mix, or when `prepared` is not an object.
 * @example
 * import { createOptimizer, createTeacher, createVNet, methodVariants, Rng, tf, updateEma } from 'ssmis';
 *
 * const student = createVNet({ inChannels: 1, numClasses: 2, baseFilters: 4, seed: 1 });
 * const teacher = createTeacher(student);
 * const optimizer = createOptimizer({ name: 'sgd', lr: 0.01, momentum: 0.9 });
 * const batch = {
 *   labeledImages: tf.randomNormal([2, 16, 16, 16, 1]),
 *   labeledLabels: tf.zeros([2, 16, 16, 16], 'int32'),
 *   unlabeledImages: tf.randomNormal([2, 16, 16, 16, 1]),
 * };
 * const variant = methodVariants['cpam-trcm'];
 * const ctx = { student, teacher, rng: new Rng(1), dropoutRng: new Rng(2), iteration: 0, config: {} };
 * const prepared = variant.prepare(ctx, batch);
 * try {
 *   optimizer.step(() => variant.loss(ctx, batch, prepared).loss, student.namedParameters());
 * } finally {
 *   prepared.dispose();
 * }
 * updateEma(teacher, student, 0.99);
 */
export const methodVariants: Readonly<Record<MethodName, MethodVariant>> = {
  supervised: supervisedVariant,
  'mean-teacher': meanTeacherVariant,
  bcp: bcpVariant,
  cpam: cpamVariant,
  'cpam-trcm': cpamTrcmVariant,
};

/**
 * The variant of a method name, as {@link methodVariants} holds it.
 *
 * @param name - the config's `method.name`: `supervised`, `mean-teacher`, `bcp`, `cpam` or `cpam-trcm`.
 * @returns the variant, with its `prepare` and `loss` calls and whether it needs a teacher and unlabeled images.
 * @throws {@link InputError} when `name` is not a non-empty string or not a known method (listing the known ones).
 * @example
 * const variant = getMethodVariant(config.method.name);
 * const teacher = variant.needsTeacher ? createTeacher(student) : undefined;
 */
export function getMethodVariant(name: string): MethodVariant {
  requireString('getMethodVariant', 'name', name);
  if (!Object.hasOwn(methodVariants, name)) {
    throw new InputError(
      `method.name: unknown method variant '${name}', expected one of ${METHOD_NAMES.join(', ')}`,
    );
  }
  return methodVariants[name as MethodName];
}

export { type ForwardBatch, STEP_BATCHING, type StepBatching } from './forwards.js';
export {
  DEFAULT_STEP_CONFIG,
  LOSS_DICE_NAMES,
  type LossDice,
  METHOD_MIXES,
  METHOD_NAMES,
  type MethodName,
  MIX_NAMES,
  type MixName,
  type StepName,
  TEACHER_MODES,
  type TeacherMode,
} from './names.js';
export { pretrainStep } from './pretrain.js';
export type {
  MethodVariant,
  PreparedStep,
  StepBatch,
  StepConfig,
  StepContext,
  StepLoss,
} from './types.js';
export { bcpVariant, cpamTrcmVariant, cpamVariant, meanTeacherVariant, supervisedVariant };

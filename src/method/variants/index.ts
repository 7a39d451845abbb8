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
 * @example
 * const variant = methodVariants['cpam-trcm'];
 * const ctx = { student, teacher, rng: new Rng(1), dropoutRng: new Rng(2), iteration, config: config.method };
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

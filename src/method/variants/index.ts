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

/** The variant of each method name ({@link METHOD_NAMES}, the list the config's `method.name` accepts). */
export const methodVariants: Readonly<Record<MethodName, MethodVariant>> = {
  supervised: supervisedVariant,
  'mean-teacher': meanTeacherVariant,
  bcp: bcpVariant,
  cpam: cpamVariant,
  'cpam-trcm': cpamTrcmVariant,
};

/** The variant of `method.name`; an unknown name is an InputError listing the known ones. */
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
  METHOD_NAMES,
  type MethodName,
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

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
import { supervisedVariant } from './supervised.js';
import type { MethodVariant, MethodVariantName } from './types.js';

export const methodVariants: Readonly<Record<MethodVariantName, MethodVariant>> = {
  supervised: supervisedVariant,
  'mean-teacher': meanTeacherVariant,
  bcp: bcpVariant,
  cpam: cpamVariant,
  'cpam-trcm': cpamTrcmVariant,
};

export const METHOD_VARIANT_NAMES = Object.keys(methodVariants) as MethodVariantName[];

export function getMethodVariant(name: string): MethodVariant {
  requireString('getMethodVariant', 'name', name);
  if (!Object.hasOwn(methodVariants, name)) {
    throw new InputError(
      `method.name: unknown method variant '${name}', expected one of ${METHOD_VARIANT_NAMES.join(', ')}`,
    );
  }
  return methodVariants[name as MethodVariantName];
}

export { DEFAULT_STEP_CONFIG } from './common.js';
export { pretrainStep } from './pretrain.js';
export type {
  MethodVariant,
  MethodVariantName,
  PreparedStep,
  StepBatch,
  StepConfig,
  StepContext,
  StepLoss,
} from './types.js';
export { bcpVariant, cpamTrcmVariant, cpamVariant, meanTeacherVariant, supervisedVariant };

/**
 * The whole experiment config: the zod schema of every key (raw-schema.ts), the cross-key checks (checks.ts), then
 * the defaults that depend on other keys (resolve.ts), so a wrong key, type or value fails before any work, naming
 * the key, and the parsed `SsmisConfig` has every value set.
 */
import type { z } from 'zod';
import { crossCheck } from './checks.js';
import { rawConfigSchema } from './raw-schema.js';
import { resolveDefaults } from './resolve.js';

/** The labeled-count rule lives with the data (the dataset counts ACDC patients with it); the config layer shares it. */
export { type LabeledAmount, labeledCaseCount } from '../data/labeled.js';
export {
  type ConfigWarning,
  configWarnings,
  MAX_PATCH_EDGE,
  MAX_TYPED_ARRAY_LENGTH,
  type TrainModeForward,
  trainModeForwards,
} from './checks.js';
export { type KeyMeta, METHOD_NAMES, type MethodName, rawConfigSchema } from './raw-schema.js';
export { modelDims, type SsmisConfig } from './resolve.js';

/**
 * The whole experiment config: strict objects, cross-field checks, then defaults that depend on other keys.
 * Parse with `parseConfig` / `loadConfig` (they render errors); `configSchema.safeParse` works too.
 */
export const configSchema = rawConfigSchema
  .superRefine((raw, ctx) => {
    const reported = ctx.issues.map((issue) => issue.path ?? []);
    const blocked = (path: readonly (string | number)[]) =>
      reported.some((done) => path.length <= done.length && path.every((key, i) => key === done[i]));
    for (const issue of crossCheck(raw, blocked)) {
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    }
  })
  .transform(resolveDefaults);

/** What a config file or object may contain (most keys optional). */
export type SsmisConfigInput = z.input<typeof configSchema>;

/**
 * The method names (`method.name`) and the settings vocabulary the config and the training step share, without
 * TF.js so that the config layer can read them.
 */

/** The self-training methods, in the order the config reference and the registry list them. */
export const METHOD_NAMES = ['supervised', 'mean-teacher', 'bcp', 'cpam', 'cpam-trcm'] as const;

/** One of {@link METHOD_NAMES}. */
export type MethodName = (typeof METHOD_NAMES)[number];

/** A training step: stage 1's copy-paste pre-training, or a stage-2 method. */
export type StepName = 'pretrain' | MethodName;

/**
 * The copy-paste mixes (`method.mixes`), in the order the student forwards them (E12): `lu` = L-U (E8, labeled a
 * around, unlabeled a pasted in), `ul` = U-L (E9), `ll` = L-L (E10), `uu` = U-U (E11).
 */
export const MIX_NAMES = ['lu', 'ul', 'll', 'uu'] as const;

/** One of {@link MIX_NAMES}. */
export type MixName = (typeof MIX_NAMES)[number];

/**
 * The mixes of each copy-paste method: `default` when `method.mixes` is left out (a method name is a preset of
 * it), `required` the ones it cannot drop (TRCM's reliability masks read the student's L-U, U-L and L-L
 * predictions, E13–E16). Steps without copy-paste mixes of their own (supervised, mean-teacher, and pre-training,
 * whose one mix is fixed) have no entry.
 */
export const METHOD_MIXES: Readonly<
  Partial<Record<StepName, { default: readonly MixName[]; required: readonly MixName[] }>>
> = {
  bcp: { default: ['lu', 'ul'], required: [] },
  cpam: { default: MIX_NAMES, required: [] },
  'cpam-trcm': { default: MIX_NAMES, required: ['lu', 'ul', 'll'] },
};

/**
 * What is wrong with a `method.mixes` for a method, as the end of an "expected ..., got ..." sentence, or
 * `undefined` when it is accepted: supervised and mean-teacher take none; bcp and cpam any non-empty list of
 * distinct mix names (in any order); cpam-trcm such a list that holds lu, ul and ll. The one rule of the config
 * check and the method variants.
 */
export function mixesProblem(method: StepName, mixes: readonly string[]): string | undefined {
  const preset = METHOD_MIXES[method];
  const got = `[${mixes.join(', ')}]`;
  if (preset === undefined) return `no value for method '${method}' (it has no copy-paste mixes), got ${got}`;
  const unknown = mixes.find((m) => !(MIX_NAMES as readonly string[]).includes(m));
  if (unknown !== undefined) return `mixes among ${MIX_NAMES.join(', ')}, got '${unknown}' in ${got}`;
  if (mixes.length === 0) return `at least one mix for method '${method}', got []`;
  const twice = mixes.find((m, i) => mixes.indexOf(m) !== i);
  if (twice !== undefined) return `distinct mixes, got '${twice}' twice in ${got}`;
  const missing = preset.required.filter((m) => !mixes.includes(m));
  if (missing.length > 0) {
    return `${preset.required.join(', ')} among the mixes of method '${method}' (TRCM's reliability masks read the L-U, U-L and L-L predictions), got ${got}`;
  }
  return undefined;
}

/**
 * The Dice-loss formulas (`method.lossDice`, Q26): `volume3d` = per-sample per-class E17 (3-D scripts),
 * `batch2d` = whole-batch squared-denominator E28 (BCP ACDC).
 */
export const LOSS_DICE_NAMES = ['volume3d', 'batch2d'] as const;

/** One of {@link LOSS_DICE_NAMES}. */
export type LossDice = (typeof LOSS_DICE_NAMES)[number];

/** Teacher forward modes (`method.teacher.mode`, Q3): `train` = dropout and batch-statistics BN, as the reference. */
export const TEACHER_MODES = ['train', 'eval'] as const;

/** One of {@link TEACHER_MODES}. */
export type TeacherMode = (typeof TEACHER_MODES)[number];

/**
 * The reference values of the step settings that do not depend on the network (docs/equations.md §3.1, §4,
 * Appendix A): the config's defaults and the step's when a key is left out.
 */
export const DEFAULT_STEP_CONFIG = {
  /** E1: the cuboid edge is 2/3 of the patch edge. */
  maskRatio: 2 / 3,
  startRange: 'reference',
  /** u_weight of the pseudo-label terms. */
  unlabeledWeight: 0.5,
  teacher: { mode: 'train' },
  consistency: {
    /**
     * The mean-teacher baseline's maximum consistency weight: 0.1, the value of UA-MT (Yu et al., MICCAI 2019),
     * whose LA train script passes `--consistency 0.1` with a sigmoid ramp-up (the mean-teacher baseline the
     * LA literature reports).
     */
    weight: 0.1,
    /** Iterations of the sigmoid ramp-up: 40 × 150 of the reference's `iter // 150`. */
    rampupIterations: 6000,
  },
} as const;

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

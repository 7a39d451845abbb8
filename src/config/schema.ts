/**
 * The zod schema of a whole experiment config (so a wrong key, type or value fails before any work, naming the key).
 * Every object is `.strict()`; defaults are the LA reference values of docs/equations.md Appendix A unless a key's
 * description says otherwise. Some defaults depend on other keys (model dimensionality, data preset, eval protocol):
 * those keys are optional in the input and filled by `resolveDefaults` after the cross-field checks, so the parsed
 * `SsmisConfig` has every value set.
 */
import { z } from 'zod';
import type { LabeledAmount } from '../data/labeled.js';
import { augmentPreset, DATASET_PRESETS, DEFAULT_ROTATE_DEGREES } from '../data/presets.js';
import { CUBOID_START_RANGES, cuboidSize, REFERENCE_START_RANGES } from '../method/cuboid-size.js';
import { forwardSamples, pairsSubBatches, STEP_BATCHING } from '../method/variants/forwards.js';
import {
  DEFAULT_STEP_CONFIG,
  LOSS_DICE_NAMES,
  METHOD_NAMES,
  type MethodName,
  TEACHER_MODES,
  type TeacherMode,
} from '../method/variants/names.js';
import { fullResolutionChannels, inputSizeMultiple } from '../nn/downsampling.js';

/** The labeled-count rule lives with the data (the dataset counts ACDC patients with it); the config layer shares it. */
export { type LabeledAmount, labeledCaseCount } from '../data/labeled.js';

/** Extra metadata read by the reference table and the error renderer. */
export interface KeyMeta {
  /** Shown in the reference table and the README. Every key has one. */
  description: string;
  /** Replaces the type text derived from the schema (also the "expected ..." of a type error). */
  typeText?: string;
  /** Default shown in the reference table when it depends on other keys. */
  defaultText?: string;
}

function doc<T extends z.ZodType>(
  schema: T,
  description: string,
  extra: Omit<KeyMeta, 'description'> = {},
): T {
  return schema.meta({ description, ...extra });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Input of one option of a `namedUnion`: `name` may be left out. */
type NamedInput<T> = T extends z.ZodObject ? Omit<z.input<T>, 'name'> & { name?: z.input<T>['name'] } : never;

/**
 * A discriminated union whose discriminator `name` may be omitted (then `defaultName`) and which also accepts the
 * bare name as a string (`schedule: poly`), so `--set ...optimizer.lr=0.02` and `--set ...schedule=step` work.
 */
function namedUnion<T extends readonly [z.ZodObject, z.ZodObject, ...z.ZodObject[]]>(
  defaultName: string,
  options: T,
) {
  return z.preprocess(
    (value: NamedInput<T[number]> | z.input<T[number]>['name']): unknown => {
      if (typeof value === 'string') return { name: value };
      if (isPlainObject(value) && value.name === undefined) return { name: defaultName, ...value };
      return value;
    },
    z.discriminatedUnion('name', options),
  );
}

/** Accepts a number or a fraction string `a/b` (YAML reads `2/3` as a string); the exact ratio matters for E1. */
function fraction(inner: z.ZodNumber) {
  return z.preprocess((value: number | string): unknown => {
    if (typeof value !== 'string') return value;
    const match = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)\s*$/.exec(value);
    if (!match) return value;
    const den = Number(match[2]);
    return den === 0 ? value : Number(match[1]) / den;
  }, inner);
}

const positiveInt = () => z.int().min(1);
const sizeList = () => z.array(positiveInt()).min(2).max(3);
const connectivity = () => z.literal([4, 6, 8, 18, 26]);

// ---------------------------------------------------------------------------------------------------------------

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CASE_ID = /^(?!\.\.?$)[^\s/\\,]+$/;

const runSchema = z
  .object({
    name: doc(
      z.string().max(100).regex(SAFE_NAME),
      'Run name; the run folder is `<outputDir>/<name>`. Letters, digits, `.`, `_`, `-`; must not start with `.` or `-`.',
      {
        typeText:
          "a safe folder name (letters, digits, '.', '_', '-', not starting with '.' or '-', at most 100 characters)",
        defaultText: 'required',
      },
    ),
    outputDir: doc(
      z.string().min(1).default('runs'),
      "Folder holding the run folders, relative to the current working directory (not to the config file, so shipped configs write into the user's folder).",
    ),
    description: doc(
      z.string().optional(),
      "Free text kept in the run's resolved config.yaml, e.g. which paper table or reference script the config reproduces.",
    ),
  })
  .strict();

const backendSchema = z
  .object({
    name: doc(
      z.enum(['auto', 'tensorflow-gpu', 'tensorflow', 'cpu']).default('auto'),
      'TF.js backend. `auto` tries tensorflow-gpu, then tensorflow (native CPU), then the pure-JS cpu backend. The CLI flag `--backend` overrides it.',
    ),
    fastKernels: doc(
      z.boolean().default(true),
      'Use the optimised CPU kernels where available (pure-JS cpu backend only); false keeps the stock TF.js kernels.',
    ),
  })
  .strict();

const caseIdSchema = doc(z.string().regex(CASE_ID), 'A case id.', {
  typeText: "a case id (no whitespace, '/', '\\' or ',')",
});

const caseListSchema = doc(
  z
    .union([z.array(caseIdSchema).min(1), z.string().min(1)])
    .superRefine((value, ctx) => {
      if (typeof value === 'string' && !/\.(list|txt)$/i.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a list of case ids or a path to a .list or .txt file, got "${value}"`,
        });
      }
    })
    .optional(),
  "Overrides the dataset.json split: a list of case ids, or a path to a `.list`/`.txt` file with one case id per line (relative to the config file that sets it). Default: the dataset's own split.",
  {
    typeText: 'a list of case ids or a path to a .list/.txt file',
    defaultText: "dataset.json's split",
  },
);

const labeledSchema = z
  .object({
    count: doc(
      positiveInt().optional(),
      'Number of labeled training cases: the first `count` cases of the train split (preset `acdc`: patients, both frames together).',
    ),
    percent: doc(
      z.number().gt(0).lte(100).optional(),
      'Labeled fraction of the train split in percent; count = floor(percent × N / 100), at least 1 (LA 10 % → 8, BraTS 10 % → 25, ACDC 10 % → 7 patients, Pancreas 20 % → 12).',
      { defaultText: '10 (when count is not given)' },
    ),
  })
  .strict()
  .superRefine((value, ctx) => {
    const given = (value.count !== undefined ? 1 : 0) + (value.percent !== undefined ? 1 : 0);
    if (given !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          given === 0
            ? 'expected exactly one of count or percent, got neither'
            : 'expected exactly one of count or percent, got both (a child config or --set can remove the inherited one with null)',
      });
    }
  })
  .transform(
    (value): LabeledAmount =>
      value.count !== undefined ? { count: value.count } : { percent: value.percent as number },
  )
  .default(() => ({ percent: 10 }));

const augmentationSchema = z
  .object({
    rotFlip: doc(
      z.boolean().optional(),
      '3-D: RandomRotFlip (k·90° in the plane of axes 0–1, then a flip along axis 0 or 1). 2-D: the BCP RandomGenerator (rot/flip with p 0.5, else an integer rotation with p 0.5).',
      { defaultText: 'true (false for preset pancreas-nih)' },
    ),
    padMargin: doc(
      z.int().min(0).optional(),
      'Extra zero padding per side added by RandomCrop/CenterCrop when an axis is not larger than the patch (Q18: (patch − size) // 2 + margin on every axis).',
      { defaultText: '3 (1 for preset pancreas-nih)' },
    ),
    unlabeledCrop: doc(
      z.enum(['random', 'center']).optional(),
      'Crop of unlabeled training cases (the Pancreas pipeline centre-crops them).',
      { defaultText: "'random' ('center' for preset pancreas-nih)" },
    ),
    rotateDegrees: doc(
      z.int().min(0).max(180).default(DEFAULT_ROTATE_DEGREES),
      '2-D only: maximum rotation; the angle is an integer in [−d, d − 1] (numpy randint), nearest-neighbour, zero fill.',
    ),
  })
  .strict();

const dataSchema = z
  .object({
    dataset: doc(
      z.string().min(1),
      'Prepared canonical dataset folder (dataset.json, imagesTr/, labelsTr/), relative to the config file that sets it.',
      { typeText: 'a folder path', defaultText: 'required' },
    ),
    preset: doc(
      z.enum(DATASET_PRESETS).default('custom'),
      'Which benchmark the dataset is; selects dataset-specific behaviour (ACDC counts labeled patients, Pancreas augmentation defaults).',
    ),
    splits: doc(
      z
        .object({
          train: caseListSchema,
          val: caseListSchema,
          test: caseListSchema,
        })
        .strict()
        .prefault({}),
      'Split overrides.',
    ),
    labeled: doc(labeledSchema, 'Labeled amount: exactly one of `count` or `percent`.', {
      defaultText: '{ percent: 10 }',
    }),
    patchSize: doc(
      sizeList().optional(),
      'Training patch (network input) size: 3 integers for vnet, 2 for unet2d; multiples of 16 (four 2× down-samplings), at most 1024 each, and large enough that train-mode batch norm sees more than one value per channel at the 1/16 bottleneck.',
      { defaultText: '[112, 112, 80] (vnet); data.sliceResize (unet2d)' },
    ),
    channels: doc(
      z
        .array(z.int().min(0))
        .min(1)
        .default(() => [0]),
      'Image channels (modality files `_0000`, `_0001`, ...) fed to the network, in this order.',
    ),
    cacheSize: doc(
      z.int().min(0).default(32),
      'Number of preprocessed cases kept in memory (0: reload every time).',
    ),
    augmentation: doc(augmentationSchema.prefault({}), 'Training augmentation.'),
    sliceResize: doc(
      z.array(positiveInt()).length(2).optional(),
      '2-D only: every slice is resized to this size (nearest neighbour, Q27) and fed whole, so it equals data.patchSize.',
      { defaultText: '[256, 256] (unet2d only)' },
    ),
  })
  .strict();

const modelCommon = {
  inChannels: doc(positiveInt().optional(), 'Input channels; must equal the length of data.channels.', {
    defaultText: 'length of data.channels',
  }),
  numClasses: doc(z.int().min(2).default(2), 'Output classes including background.'),
  baseFilters: doc(positiveInt().default(16), 'Filters of the first level (doubled at every level).'),
};

const modelSchema = namedUnion('vnet', [
  z
    .object({
      name: doc(z.literal('vnet'), 'Network: `vnet` (3-D, docs/equations.md §1.2) or `unet2d` (2-D, §1.4).'),
      ...modelCommon,
      dropout: doc(
        z.number().min(0).lt(1).default(0.5),
        'Rate of the two Dropout3d layers (bottleneck and last features, Q17).',
      ),
    })
    .strict(),
  z
    .object({
      name: doc(
        z.literal('unet2d'),
        'Network: `vnet` (3-D, docs/equations.md §1.2) or `unet2d` (2-D, §1.4).',
      ),
      ...modelCommon,
      dropout: doc(
        z
          .array(z.number().min(0).lt(1))
          .length(5)
          .default(() => [0.05, 0.1, 0.2, 0.3, 0.5]),
        'Dropout rates of the five encoder levels (the decoder has none).',
      ),
    })
    .strict(),
]);

/** The method names are the variants registry's (src/method/variants/names.ts); the config re-exports them. */
export { METHOD_NAMES, type MethodName };

/** A range as the reference table shows it: `[112, 112, 80]`. */
const rangeText = (range: readonly number[]) => `[${range.join(', ')}]`;

const methodSchema = z
  .object({
    name: doc(
      z.enum(METHOD_NAMES).default('cpam-trcm'),
      'Self-training variant: `supervised` (labeled only), `mean-teacher`, `bcp` (L-U and U-L mixes), `cpam` (adds L-L and U-U, E26), `cpam-trcm` (the paper, E21–E25).',
    ),
    maskRatio: doc(
      fraction(z.number().gt(0).lt(1)).default(DEFAULT_STEP_CONFIG.maskRatio),
      'Cuboid edge as a fraction of the patch edge: size = floor(patch × ratio) per axis (E1).',
      { typeText: "a number in (0, 1) or a fraction like '2/3'", defaultText: '2/3' },
    ),
    startRange: doc(
      z.enum(CUBOID_START_RANGES).default(DEFAULT_STEP_CONFIG.startRange),
      'Cuboid start draw (Q1): `reference` = randint(0, referenceStartRange − size) as the reference code; `valid` = uniform over every start that keeps the cuboid inside the patch.',
    ),
    referenceStartRange: doc(
      sizeList().optional(),
      'The hard-coded extents of the reference draw (Q1; 112/112/80 in the 3-D scripts, 256 in 2-D); each must exceed the cuboid size.',
      {
        defaultText: `${rangeText(REFERENCE_START_RANGES[3])} (vnet); ${rangeText(REFERENCE_START_RANGES[2])} (unet2d)`,
      },
    ),
    unlabeledWeight: doc(
      z.number().min(0).default(DEFAULT_STEP_CONFIG.unlabeledWeight),
      'Weight of pseudo-label terms (u_weight, E19–E24); ground truth always has weight 1.',
    ),
    teacher: doc(
      z
        .object({
          mode: doc(
            z.enum(TEACHER_MODES).default(DEFAULT_STEP_CONFIG.teacher.mode),
            'Mode of the teacher forward: `train` (dropout and batch-statistics BN, the reference, Q3) or `eval`.',
          ),
          emaDecay: doc(z.number().min(0).max(1).default(0.99), 'EMA decay α: θ_T ← α·θ_T + (1 − α)·θ_S.'),
          includeBatchNormStats: doc(
            z.boolean().optional(),
            'Also average BatchNorm running statistics into the teacher (Q4: the 3-D scripts average parameters only, BCP 2-D the whole state).',
            { defaultText: 'false (vnet); true (unet2d)' },
          ),
        })
        .strict()
        .prefault({}),
      'Mean teacher.',
    ),
    pseudoLabel: doc(
      z
        .object({
          largestComponent: doc(
            z.boolean().default(true),
            "Keep only the largest connected component of the teacher's prediction (E7; 2-D: per class).",
          ),
          connectivity: doc(
            connectivity().optional(),
            'Neighbourhood of that component: 6, 18 or 26 in 3-D (Pancreas BCP uses 18), 4 or 8 in 2-D (Q15).',
            { defaultText: '26 (vnet); 8 (unet2d)' },
          ),
        })
        .strict()
        .prefault({}),
      'Teacher pseudo-labels (E5–E7).',
    ),
    consistency: doc(
      z
        .object({
          weight: doc(
            z.number().min(0).default(DEFAULT_STEP_CONFIG.consistency.weight),
            'mean-teacher only: maximum weight of the consistency loss.',
          ),
          rampupIterations: doc(
            z.int().min(0).default(DEFAULT_STEP_CONFIG.consistency.rampupIterations),
            'mean-teacher only: iterations of the sigmoid ramp-up exp(−5(1 − t/L)²) (6000 = the LA scripts’ 40 × 150).',
          ),
        })
        .strict()
        .prefault({}),
      'Mean-teacher consistency loss.',
    ),
    lossDice: doc(
      z.enum(LOSS_DICE_NAMES).optional(),
      'Dice loss formula (Q26): `volume3d` = per-sample per-class E17 (3-D scripts), `batch2d` = whole-batch squared-denominator E28 (BCP ACDC).',
      { defaultText: "'volume3d' (vnet); 'batch2d' (unet2d)" },
    ),
  })
  .strict();

const sgdSchema = z
  .object({
    name: doc(z.literal('sgd'), 'Optimizer: `sgd` (PyTorch 1.8 semantics) or `adam`.'),
    lr: doc(z.number().gt(0).default(0.01), 'Base learning rate.'),
    momentum: doc(z.number().min(0).lt(1).default(0.9), 'Momentum (dampening 0).'),
    weightDecay: doc(z.number().min(0).default(1e-4), 'L2 weight decay added to the gradient.'),
    nesterov: doc(z.boolean().default(false), 'Nesterov momentum.'),
  })
  .strict();

const adamSchema = z
  .object({
    name: doc(z.literal('adam'), 'Optimizer: `sgd` (PyTorch 1.8 semantics) or `adam`.'),
    lr: doc(z.number().gt(0).default(1e-3), 'Base learning rate (the Pancreas script: 1e-3).'),
    beta1: doc(z.number().min(0).lt(1).default(0.9), 'First-moment decay.'),
    beta2: doc(z.number().min(0).lt(1).default(0.999), 'Second-moment decay.'),
    eps: doc(z.number().gt(0).default(1e-8), 'Denominator epsilon.'),
    weightDecay: doc(z.number().min(0).default(0), 'L2 weight decay added to the gradient.'),
  })
  .strict();

const scheduleDescription =
  'Learning-rate schedule over the stage (docs/equations.md §3.3): `constant`, `poly` (lr·(1 − (i−1)/I)^power from iteration 2), `step` (lr·gamma^⌊(i−1)/every⌋).';
const constantSchema = z.object({ name: doc(z.literal('constant'), scheduleDescription) }).strict();
const polySchema = z
  .object({
    name: doc(z.literal('poly'), scheduleDescription),
    power: doc(z.number().gt(0).default(0.9), 'Exponent of the polynomial decay.'),
  })
  .strict();
const stepSchema = z
  .object({
    name: doc(z.literal('step'), scheduleDescription),
    gamma: doc(z.number().gt(0).lte(1).default(0.1), 'Factor applied every `every` iterations.'),
    every: doc(positiveInt().default(2500), 'Iterations between decays.'),
  })
  .strict();

function stageShape(stage: 'pretrain' | 'selftrain') {
  const pre = stage === 'pretrain';
  return {
    enabled: doc(z.boolean().default(true), 'Run this stage.'),
    iterations: doc(
      z
        .int()
        .min(0)
        .default(pre ? 2000 : 15000),
      pre ? 'Pre-training iterations (E27).' : 'Self-training iterations.',
    ),
    optimizer: doc(
      namedUnion('sgd', [sgdSchema, adamSchema]).prefault({ name: 'sgd' }),
      'Optimizer; `name` may be omitted (sgd) or the whole value given as a name.',
    ),
    schedule: doc(
      namedUnion(pre ? 'constant' : 'poly', [constantSchema, polySchema, stepSchema]).prefault({
        name: pre ? 'constant' : 'poly',
      }),
      'Learning-rate schedule; may be given as a bare name (`schedule: step`).',
    ),
  };
}

const pretrainSchema = z.object(stageShape('pretrain')).strict();

const selftrainSchema = z
  .object({
    ...stageShape('selftrain'),
    carryOptimizer: doc(
      z.boolean().default(false),
      "Start with pre-training's optimizer state (momentum or Adam moments) instead of a fresh optimizer (Q28: BCP ACDC carries it, the 3-D scripts do not).",
    ),
    initFrom: doc(
      z.enum(['best', 'last']).optional(),
      'Pre-training checkpoint that initialises student and teacher (the reference: best).',
      { defaultText: "'best' ('last' when train.validation.split is 'none')" },
    ),
  })
  .strict();

const trainSchema = z
  .object({
    seed: doc(
      z.int().min(0).max(0xffffffff).default(1337),
      'Seed of every random stream (sampling, augmentation, cuboids, dropout).',
    ),
    batch: doc(
      z
        .object({
          labeled: doc(
            positiveInt().default(4),
            'Labeled cases per iteration (labeled_bs); split into two sub-batches of labeled/2 for the mixes.',
          ),
          unlabeled: doc(
            z.int().min(0).default(4),
            'Unlabeled cases per iteration; the mixing methods need the same number as labeled.',
          ),
        })
        .strict()
        .prefault({}),
      'Batch composition.',
    ),
    stages: doc(
      z
        .object({
          pretrain: doc(pretrainSchema.prefault({}), 'Stage 1: copy-paste pre-training on labeled pairs.'),
          selftrain: doc(selftrainSchema.prefault({}), 'Stage 2: mean-teacher self-training.'),
        })
        .strict()
        .prefault({}),
      'Training stages.',
    ),
    validation: doc(
      z
        .object({
          interval: doc(positiveInt().default(200), 'Validate every this many iterations (both stages).'),
          split: doc(
            z.enum(['val', 'test', 'none']).default('val'),
            'Split used for model selection; the LA reference selects on `test` (Q9); `none` keeps the last weights.',
          ),
          selection: doc(
            z.enum(['strict', 'reference-round4', 'ratio95']).default('strict'),
            'Best-model rule: `strict` (Dice > best), `reference-round4` (best := round(Dice, 4), Q8), `ratio95` (Dice > 0.95·best, BraTS CPAM, Q7).',
          ),
          strides: doc(sizeList().optional(), 'Sliding-window strides used for validation.', {
            defaultText: 'eval.strides',
          }),
        })
        .strict()
        .prefault({}),
      'Validation during training (mean Dice, no post-processing).',
    ),
    checkpointInterval: doc(
      positiveInt().default(200),
      'Write the `last` checkpoint every this many iterations.',
    ),
    logInterval: doc(positiveInt().default(10), 'Write a log line every this many iterations.'),
  })
  .strict();

const evalSchema = z
  .object({
    patch: doc(sizeList().optional(), 'Sliding-window patch.', { defaultText: 'data.patchSize' }),
    strides: doc(
      sizeList().optional(),
      'Sliding-window strides per axis (docs/equations.md §5.1; the last window is end-aligned).',
      {
        defaultText: '[18, 18, 4], at most eval.patch per axis (vnet); eval.patch (unet2d)',
      },
    ),
    protocol: doc(
      z.enum(['strict', 'paper']).default('strict'),
      '`paper`: an empty prediction scores 0 for every metric, as the reference (Q12). `strict`: Dice 0 and distances reported missing and counted.',
    ),
    largestComponent: doc(
      z.boolean().optional(),
      'Keep only the largest connected component of each prediction (the reference test scripts do).',
      { defaultText: 'true for protocol paper, false for strict' },
    ),
    connectivity: doc(
      connectivity().optional(),
      'Neighbourhood of that component: 6, 18 or 26 in 3-D, 4 or 8 in 2-D.',
      {
        defaultText: '26 (vnet); 8 (unet2d)',
      },
    ),
    units: doc(
      z.enum(['voxel', 'mm']).optional(),
      'Units of HD95 and ASD: voxels (the reference, Q13) or millimetres from the header spacing.',
      { defaultText: "'mm' for protocol strict, 'voxel' for paper" },
    ),
    split: doc(
      z.enum(['test', 'val']).default('test'),
      'Split evaluated after training and by `ssmis eval`.',
    ),
    batchWindows: doc(positiveInt().default(1), 'Sliding windows per forward pass (memory vs speed).'),
    savePredictions: doc(z.boolean().default(true), 'Write each prediction as NIfTI in the input geometry.'),
    saveProbabilities: doc(
      z.boolean().default(false),
      'Also write the averaged foreground probabilities as NIfTI.',
    ),
  })
  .strict();

/** The config before defaults that depend on other keys are filled. */
export const rawConfigSchema = z
  .object({
    run: doc(runSchema, 'Run identity and output folder.'),
    backend: doc(backendSchema.prefault({}), 'Compute backend.'),
    data: doc(dataSchema, 'Dataset, splits, patches and augmentation.'),
    model: doc(modelSchema.prefault({ name: 'vnet' }), 'Network.'),
    method: doc(methodSchema.prefault({}), 'Semi-supervised method and its switches.'),
    train: doc(trainSchema.prefault({}), 'Training procedure.'),
    eval: doc(evalSchema.prefault({}), 'Evaluation.'),
  })
  .strict();

type RawConfig = z.output<typeof rawConfigSchema>;

// ---------------------------------------------------------------------------------------------------------------

export function modelDims(name: 'vnet' | 'unet2d'): 2 | 3 {
  return name === 'vnet' ? 3 : 2;
}

/** Fills every default that depends on other keys. Pure; runs after the cross-field checks. */
function resolveDefaults(raw: RawConfig) {
  const dims = modelDims(raw.model.name);
  const presetAugmentation = augmentPreset(raw.data.preset);
  const sliceResize = dims === 2 ? (raw.data.sliceResize ?? raw.data.patchSize ?? [256, 256]) : undefined;
  const patchSize = raw.data.patchSize ?? sliceResize ?? [112, 112, 80];
  const evalPatch = raw.eval.patch ?? patchSize;
  // The reference strides, but never larger than the patch (a larger stride would skip voxels between windows).
  const evalStrides =
    raw.eval.strides ?? (dims === 3 ? [18, 18, 4].map((s, i) => Math.min(s, evalPatch[i] ?? s)) : evalPatch);
  const defaultConnectivity = dims === 3 ? 26 : 8;
  const paper = raw.eval.protocol === 'paper';
  const aug = raw.data.augmentation;
  const selftrain = raw.train.stages.selftrain;
  return {
    run: raw.run,
    backend: raw.backend,
    data: {
      ...raw.data,
      patchSize,
      sliceResize,
      augmentation: {
        rotFlip: aug.rotFlip ?? presetAugmentation.rotFlip,
        padMargin: aug.padMargin ?? presetAugmentation.padMargin,
        unlabeledCrop: aug.unlabeledCrop ?? presetAugmentation.unlabeledCrop,
        rotateDegrees: aug.rotateDegrees,
      },
    },
    model: { ...raw.model, inChannels: raw.model.inChannels ?? raw.data.channels.length },
    method: {
      ...raw.method,
      referenceStartRange: raw.method.referenceStartRange ?? [...REFERENCE_START_RANGES[dims]],
      teacher: {
        ...raw.method.teacher,
        includeBatchNormStats: raw.method.teacher.includeBatchNormStats ?? dims === 2,
      },
      pseudoLabel: {
        ...raw.method.pseudoLabel,
        connectivity: raw.method.pseudoLabel.connectivity ?? defaultConnectivity,
      },
      lossDice: raw.method.lossDice ?? (dims === 3 ? 'volume3d' : 'batch2d'),
    },
    train: {
      ...raw.train,
      stages: {
        pretrain: raw.train.stages.pretrain,
        selftrain: {
          ...selftrain,
          initFrom: selftrain.initFrom ?? (raw.train.validation.split === 'none' ? 'last' : 'best'),
        },
      },
      validation: { ...raw.train.validation, strides: raw.train.validation.strides ?? evalStrides },
    },
    eval: {
      ...raw.eval,
      patch: evalPatch,
      strides: evalStrides,
      largestComponent: raw.eval.largestComponent ?? paper,
      connectivity: raw.eval.connectivity ?? defaultConnectivity,
      units: raw.eval.units ?? (paper ? 'voxel' : 'mm'),
    },
  };
}

type Issue = { path: (string | number)[]; message: string };

/**
 * Largest patch edge accepted (voxels per axis): far above every benchmark's (LA 112, ACDC slices 256), and a
 * 3-D patch of 1024³ already exceeds what one feature map can hold.
 */
export const MAX_PATCH_EDGE = 1024;
/** Most elements of one typed array in Node's V8 (2³²): a larger feature map fails with "Invalid typed array length". */
export const MAX_TYPED_ARRAY_LENGTH = 2 ** 32;

function product(values: readonly number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

/** What {@link trainModeForwards} reads: the same keys in the raw and in the resolved config. */
interface ForwardKeys {
  method: { name: MethodName; teacher: { mode: TeacherMode } };
  train: {
    batch: { labeled: number; unlabeled: number };
    stages: { pretrain: { enabled: boolean }; selftrain: { enabled: boolean } };
  };
}

/** One train-mode forward of an iteration: the samples its batch norm normalises over. */
export interface TrainModeForward {
  samples: number;
  /** The batch key that sets `samples`. */
  batchKey: 'labeled' | 'unlabeled';
  /** Which forward, as the start of a sentence ending in "<samples> sample(s)". */
  what: string;
}

/**
 * The train-mode forwards of a training iteration, read from the variants' {@link STEP_BATCHING}: pre-training's
 * student, then the method's student, then its teacher (in train mode unless method.teacher.mode is eval). The
 * copy-paste teachers' unlabeled/2 forwards are left out: they need as many unlabeled as labeled images, so those
 * forwards are as large as the student's labeled/2, which is reported already.
 */
export function trainModeForwards(config: ForwardKeys): TrainModeForward[] {
  const { batch, stages } = config.train;
  const method = config.method.name;
  const forwards: TrainModeForward[] = [];
  const steps = [
    ...(stages.pretrain.enabled ? [{ step: 'pretrain' as const, who: 'pre-training' }] : []),
    ...(stages.selftrain.enabled ? [{ step: method, who: `method '${method}'` }] : []),
  ];
  for (const { step, who } of steps) {
    const { student, teacher, unlabeled } = STEP_BATCHING[step];
    forwards.push({
      samples: forwardSamples(student, batch),
      batchKey: 'labeled',
      what: `${who} forwards ${student} =`,
    });
    if (teacher !== null && config.method.teacher.mode === 'train' && unlabeled !== 'as many as labeled') {
      forwards.push({
        samples: forwardSamples(teacher, batch),
        batchKey: 'unlabeled',
        what: `the teacher of ${who} forwards ${teacher} =`,
      });
    }
  }
  return forwards.filter((forward) => forward.samples > 0);
}

function show(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * Checks that span several keys. Each issue carries the path of the key the user should change. `blocked(path)`
 * says that a field check already reported that key (or something below it): a cross-field issue on it, or one
 * that depends on it, would only repeat the problem.
 */
function crossCheck(raw: RawConfig, blocked: (path: readonly (string | number)[]) => boolean): Issue[] {
  const issues: Issue[] = [];
  const add = (path: (string | number)[], message: string, dependsOn: (string | number)[][] = []) => {
    if (!blocked(path) && !dependsOn.some(blocked)) issues.push({ path, message });
  };
  const patchDeps = [
    ['data', 'patchSize'],
    ['data', 'sliceResize'],
  ];
  const r = resolveDefaults(raw);
  const modelName = raw.model.name;
  const dims = modelDims(modelName);
  const forModel = `for model.name '${modelName}'`;

  const multiple = inputSizeMultiple(modelName);
  /** Checks a network input size; true when it is usable (so that checks built on it may run). */
  const checkSizes = (key: (string | number)[], sizes: readonly number[]): boolean => {
    if (sizes.length !== dims) {
      add(key, `expected ${dims} sizes ${forModel}, got ${sizes.length} (${show(sizes)})`);
      return false;
    }
    let ok = !blocked(key);
    sizes.forEach((size, i) => {
      if (size > MAX_PATCH_EDGE) {
        add([...key, i], `expected at most ${MAX_PATCH_EDGE} (the largest patch edge accepted), got ${size}`);
        ok = false;
      } else if (size % multiple !== 0) {
        add([...key, i], `expected a multiple of ${multiple} ${forModel}, got ${size}`);
        ok = false;
      }
    });
    return ok;
  };

  // Patch sizes: every axis is halved at each down-sampling of the network.
  const patchKey =
    raw.data.patchSize === undefined && raw.data.sliceResize !== undefined ? 'sliceResize' : 'patchSize';
  const patchOk = checkSizes(['data', patchKey], r.data.patchSize);
  if (dims === 3 && raw.data.sliceResize !== undefined) {
    add(
      ['data', 'sliceResize'],
      `expected no value ${forModel} (2-D only), got ${show(raw.data.sliceResize)}`,
    );
  }
  if (
    dims === 2 &&
    raw.data.sliceResize !== undefined &&
    raw.data.patchSize !== undefined &&
    show(raw.data.sliceResize) !== show(raw.data.patchSize)
  ) {
    add(
      ['data', 'patchSize'],
      `expected the same size as data.sliceResize ${show(raw.data.sliceResize)} ${forModel} (slices are fed whole), got ${show(raw.data.patchSize)}`,
    );
  }
  const evalPatchOk = raw.eval.patch === undefined ? patchOk : checkSizes(['eval', 'patch'], raw.eval.patch);
  if (
    dims === 2 &&
    raw.eval.patch !== undefined &&
    evalPatchOk &&
    show(raw.eval.patch) !== show(r.data.sliceResize)
  ) {
    add(
      ['eval', 'patch'],
      `expected no value or data.sliceResize ${show(r.data.sliceResize)} ${forModel} (a 2-D model sees whole slices resized to data.sliceResize), got ${show(raw.eval.patch)}`,
      patchDeps,
    );
  }
  const checkStrides = (key: (string | number)[], strides: readonly number[]) => {
    if (strides.length !== dims) {
      add(key, `expected ${dims} sizes ${forModel}, got ${strides.length} (${show(strides)})`);
      return;
    }
    strides.forEach((stride, i) => {
      const patch = r.eval.patch[i];
      if (patch !== undefined && stride > patch) {
        add(
          [...key, i],
          `expected at most the eval patch size ${patch} (windows must overlap or touch), got ${stride}`,
          [['eval', 'patch'], ...patchDeps],
        );
      }
    });
  };
  if (raw.eval.strides !== undefined) checkStrides(['eval', 'strides'], raw.eval.strides);
  if (raw.train.validation.strides !== undefined) {
    checkStrides(['train', 'validation', 'strides'], raw.train.validation.strides);
  }

  // Channels.
  const channels = raw.data.channels;
  channels.forEach((channel, i) => {
    if (channels.indexOf(channel) !== i)
      add(['data', 'channels', i], `expected distinct channels, got ${channel} twice`);
  });
  if (raw.model.inChannels !== undefined && raw.model.inChannels !== channels.length) {
    add(
      ['model', 'inChannels'],
      `expected ${channels.length} (the number of data.channels ${show(channels)}), got ${raw.model.inChannels}`,
      [['data', 'channels']],
    );
  }

  // Batches, as the variants split them (STEP_BATCHING): pre-training (E27) and the copy-paste methods pair two
  // labeled sub-batches of labeled/2; the L-U/U-L mixes (E8, E9) paste unlabeled into labeled sub-batches voxel
  // by voxel, so both sub-batches are equal; mean teacher needs some unlabeled images.
  const { pretrain, selftrain } = raw.train.stages;
  const method = raw.method.name;
  const mixing = pairsSubBatches(method);
  const needsPairs = pretrain.enabled || (selftrain.enabled && mixing);
  const { labeled, unlabeled } = raw.train.batch;
  if (needsPairs && labeled % 2 !== 0) {
    const why = [
      pretrain.enabled ? 'pre-training' : '',
      selftrain.enabled && mixing ? `method '${method}'` : '',
    ]
      .filter(Boolean)
      .join(' and ');
    add(
      ['train', 'batch', 'labeled'],
      `expected an even number ≥ 2 (${why} mix two labeled sub-batches of labeled/2), got ${labeled}`,
    );
  }
  const unlabeledRule = STEP_BATCHING[method].unlabeled;
  if (selftrain.enabled && unlabeledRule === 'as many as labeled' && unlabeled !== labeled) {
    add(
      ['train', 'batch', 'unlabeled'],
      `expected ${labeled} (= train.batch.labeled: method '${method}' pastes unlabeled into labeled sub-batches), got ${unlabeled}`,
    );
  }
  if (selftrain.enabled && unlabeledRule === 'at least 1' && unlabeled < 1) {
    add(['train', 'batch', 'unlabeled'], `expected at least 1 for method '${method}', got ${unlabeled}`);
  }

  // Memory: the widest full-resolution feature map of one forward must fit one typed array.
  const width = fullResolutionChannels(modelName, raw.model.baseFilters);
  const forwards = trainModeForwards(raw);
  /** Reports a forward whose largest feature map cannot be allocated; true when it did. */
  const tooLarge = (key: (string | number)[], samples: number, patch: readonly number[], what: string) => {
    const elements = samples * product(patch) * width;
    if (elements <= MAX_TYPED_ARRAY_LENGTH) return false;
    add(
      key,
      `expected a size whose feature maps fit in memory, got ${show(patch)}: ${what} ${samples} sample(s) × ${product(patch)} voxels × ${width} channels = ${elements} values in one feature map, more than the ${MAX_TYPED_ARRAY_LENGTH} a typed array holds`,
    );
    return true;
  };
  let trainTooLarge = false;
  if (patchOk && forwards.length > 0) {
    const largest = forwards.reduce((a, b) => (b.samples > a.samples ? b : a));
    trainTooLarge = tooLarge(['data', patchKey], largest.samples, r.data.patchSize, largest.what);
  }
  const evalFromData = raw.eval.patch === undefined || dims === 2;
  if (evalPatchOk && !blocked(['eval', 'batchWindows']) && !(evalFromData && trainTooLarge)) {
    const evalKey = evalFromData ? ['data', patchKey] : ['eval', 'patch'];
    const evalSize = dims === 2 ? (r.data.sliceResize ?? r.data.patchSize) : r.eval.patch;
    tooLarge(evalKey, raw.eval.batchWindows, evalSize, 'evaluation forwards eval.batchWindows =');
  }

  // Train-mode batch norm needs more than one value per channel (it refuses one, as PyTorch does): the smallest
  // feature map is patch / 2^down-samplings per axis, times the samples of the forward.
  if (patchOk) {
    const bottleneck = r.data.patchSize.map((size) => size / multiple);
    for (const forward of forwards) {
      if (forward.samples * product(bottleneck) > 1) continue;
      add(
        ['train', 'batch', forward.batchKey],
        `expected a batch that gives train-mode batch norm more than 1 value per channel, got ${raw.train.batch[forward.batchKey]}: ${forward.what} ${forward.samples} sample(s), and the smallest feature map of patch ${show(r.data.patchSize)} is ${bottleneck.join('×')} (1/${multiple} per axis); use a larger batch or patch`,
        patchDeps,
      );
      break;
    }
  }

  // Stages.
  if (!pretrain.enabled && !selftrain.enabled) {
    add(['train', 'stages'], 'expected at least one of pretrain and selftrain enabled, got both disabled');
  }
  if (selftrain.carryOptimizer) {
    if (!pretrain.enabled) {
      add(
        ['train', 'stages', 'selftrain', 'carryOptimizer'],
        'expected false when train.stages.pretrain is disabled (there is no optimizer state to carry), got true',
      );
    } else if (pretrain.optimizer.name !== selftrain.optimizer.name) {
      add(
        ['train', 'stages', 'selftrain', 'carryOptimizer'],
        `expected false when the stages use different optimizers (${pretrain.optimizer.name} then ${selftrain.optimizer.name}), got true`,
      );
    }
  }
  if (selftrain.initFrom === 'best' && raw.train.validation.split === 'none') {
    add(
      ['train', 'stages', 'selftrain', 'initFrom'],
      "expected 'last' when train.validation.split is 'none' (no best checkpoint is selected), got 'best'",
    );
  }
  for (const stage of ['pretrain', 'selftrain'] as const) {
    const optimizer = raw.train.stages[stage].optimizer;
    if (optimizer.name === 'sgd' && optimizer.nesterov && optimizer.momentum === 0) {
      add(['train', 'stages', stage, 'optimizer', 'nesterov'], 'expected false when momentum is 0, got true');
    }
  }

  // Cuboid (E1, E2): numpy randint(0, R − size) needs R − size ≥ 1.
  const usesCuboid = pretrain.enabled || (selftrain.enabled && mixing);
  const sizes = cuboidSize(r.data.patchSize, raw.method.maskRatio);
  const emptyAxis = sizes.findIndex((size) => size < 1);
  if (usesCuboid && r.data.patchSize.length === dims && emptyAxis >= 0) {
    add(
      ['method', 'maskRatio'],
      `expected a ratio giving a cuboid of at least 1 voxel on axis ${emptyAxis} (patch ${r.data.patchSize[emptyAxis]}), got ${raw.method.maskRatio}`,
      patchDeps,
    );
  }
  if (raw.method.referenceStartRange !== undefined && raw.method.referenceStartRange.length !== dims) {
    const range = raw.method.referenceStartRange;
    add(
      ['method', 'referenceStartRange'],
      `expected ${dims} sizes ${forModel}, got ${range.length} (${show(range)})`,
    );
  } else if (usesCuboid && raw.method.startRange === 'reference' && r.data.patchSize.length === dims) {
    const range = r.method.referenceStartRange;
    const defaulted = raw.method.referenceStartRange === undefined;
    range.forEach((extent, i) => {
      const size = sizes[i] ?? 0;
      if (extent <= size) {
        add(
          ['method', 'referenceStartRange', i],
          `expected more than the cuboid size ${size} (floor(${r.data.patchSize[i]} × ${raw.method.maskRatio})) so that randint(0, range − size) has a value, got ${extent}` +
            (defaulted
              ? ' (the default; set method.startRange: valid or a larger method.referenceStartRange)'
              : ''),
          [['method', 'maskRatio'], ...patchDeps],
        );
      }
    });
  }

  // Connectivity per dimensionality (Q15).
  const allowed = dims === 3 ? [6, 18, 26] : [4, 8];
  const checkConnectivity = (key: string[], value: number | undefined) => {
    if (value !== undefined && !allowed.includes(value)) {
      add(key, `expected one of ${allowed.join(', ')} ${forModel}, got ${value}`);
    }
  };
  checkConnectivity(['method', 'pseudoLabel', 'connectivity'], raw.method.pseudoLabel.connectivity);
  checkConnectivity(['eval', 'connectivity'], raw.eval.connectivity);
  return issues;
}

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

/** The parsed config with every default filled. */
export type SsmisConfig = z.output<typeof configSchema>;

/** A setting that is valid but known to hurt: the key to change and why. */
export interface ConfigWarning {
  /** Key path such as `train.batch.labeled`. */
  path: string;
  message: string;
}

/**
 * Valid settings that are known to hurt training, for `ssmis validate` to print: a train-mode forward of a single
 * sample makes batch norm normalise each sample by its own statistics (the running statistics used at evaluation
 * then describe another distribution). A forward whose batch norm would see only one value is an error instead.
 */
export function configWarnings(config: SsmisConfig): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  for (const batchKey of ['labeled', 'unlabeled'] as const) {
    const single = trainModeForwards(config).filter((f) => f.batchKey === batchKey && f.samples === 1);
    if (single.length === 0) continue;
    warnings.push({
      path: `train.batch.${batchKey}`,
      message: `${single.map((f) => `${f.what} 1 sample`).join('; ')}: train-mode batch norm then normalises each sample by its own statistics, unlike the running statistics used at evaluation (use a larger batch)`,
    });
  }
  return warnings;
}
/** What a config file or object may contain (most keys optional). */
export type SsmisConfigInput = z.input<typeof configSchema>;

/**
 * The zod schema of every key of an experiment config, with the docs the reference table and the README show.
 * Every object is `.strict()`; defaults are the LA reference values of docs/equations.md Appendix A unless a key's
 * description says otherwise. Some defaults depend on other keys (model dimensionality, data preset, eval protocol):
 * those keys are optional here and filled by `resolveDefaults` (resolve.ts) after the cross-key checks (checks.ts);
 * schema.ts puts the three together as `configSchema`.
 */
import { z } from 'zod';
import type { LabeledAmount } from '../data/labeled.js';
import { DATASET_PRESETS, DEFAULT_ROTATE_DEGREES } from '../data/presets.js';
import { CUBOID_START_RANGES, REFERENCE_START_RANGES } from '../method/cuboid-size.js';
import {
  DEFAULT_STEP_CONFIG,
  LOSS_DICE_NAMES,
  METHOD_NAMES,
  type MethodName,
  MIX_NAMES,
  TEACHER_MODES,
} from '../method/variants/names.js';
import { isPlainObject } from '../util/args.js';

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
      z.enum(['auto', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'cpu']).default('auto'),
      'TF.js backend. `auto` tries tensorflow-gpu (CUDA), then webgpu on a hardware GPU (never a software adapter), then tensorflow (native CPU), then the pure-JS cpu backend. `webgpu` (packages `@tensorflow/tfjs-backend-webgpu` and `webgpu`) runs on any GPU with Vulkan, Metal or Direct3D 12, and takes a software adapter too when named explicitly (slow). The CLI flag `--backend` overrides it.',
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

const autoSplitSchema = z
  .object({
    seed: doc(z.int().min(0).default(0), 'Seed of the shuffle of the labeled imagesTr cases.'),
    val: doc(
      z.number().min(0).lt(1).default(0.2),
      'Fraction of the labeled imagesTr cases held out for validation (rounded).',
    ),
    test: doc(
      z.number().min(0).lt(1).default(0.2),
      'Fraction held out for testing (rounded); unused when the dataset has imagesTs/, whose labeled cases are the test split.',
    ),
    nnunetSplits: doc(
      z.string().min(1).optional(),
      "nnU-Net's splits_final.json: train and val come from its fold `fold` instead of the seeded split (test: the labeled imagesTs cases). Relative to the config file that sets it.",
      { typeText: 'a file path', defaultText: 'none (seeded split)' },
    ),
    fold: doc(z.int().min(0).default(0), 'The fold of nnunetSplits (0-based).'),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.val + value.test >= 1) {
      ctx.addIssue({
        code: 'custom',
        message: `val + test must be below 1 (some cases must be left for training), got ${value.val} + ${value.test}`,
      });
    }
  });

const dataSchema = z
  .object({
    dataset: doc(
      z.string().min(1),
      'Dataset folder, relative to the config file that sets it: an nnU-Net v2 raw folder as it is (dataset.json, imagesTr/, labelsTr/, optional imagesTs/ and labelsTs/), or one `ssmis prepare` wrote. Images in imagesTr without a label file are unlabeled training cases.',
      { typeText: 'a folder path', defaultText: 'required' },
    ),
    unlabeledDir: doc(
      z.string().min(1).optional(),
      'Extra folder of unlabeled images named like imagesTr (`<case>_0000.nii.gz`, ...), used as unlabeled training cases; relative to the config file that sets it.',
      { typeText: 'a folder path', defaultText: '<dataset>/imagesUnlabeled when that folder exists' },
    ),
    autoSplit: doc(
      autoSplitSchema.prefault({}),
      'How to split a dataset whose dataset.json lists no split (an nnU-Net v2 raw folder); the split is written to `<run>/splits.json`, which resume and evaluation of the run read back.',
    ),
    preset: doc(
      z.enum(DATASET_PRESETS).default('custom'),
      "Which benchmark the dataset is; selects dataset-specific behaviour (ACDC counts labeled patients, Pancreas augmentation defaults, the intensity normalisation `predict` gives new images). `custom` or the preset of the dataset's dataset.json: a folder `prepare` did not make (an nnU-Net raw folder) is read as stored and takes `custom` only.",
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
    mixes: doc(
      z.array(z.enum(MIX_NAMES)).optional(),
      'Copy-paste mixes of `bcp`, `cpam` and `cpam-trcm` (the ablation switch; the method name is a preset of it): `lu` = L-U (E8), `ul` = U-L (E9), `ll` = L-L (E10), `uu` = U-U (E11), distinct, in any order. A mix left out loses its forward and its loss term; the loss is the plain sum of the remaining terms, not rescaled. `cpam-trcm` needs lu, ul and ll (TRCM reads their predictions); supervised and mean-teacher take none.',
      {
        typeText: 'a list of lu, ul, ll, uu',
        defaultText: 'bcp: [lu, ul]; cpam, cpam-trcm: [lu, ul, ll, uu]',
      },
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

/** A config as {@link rawConfigSchema} parses it: defaults that depend on other keys not yet filled. */
export type RawConfig = z.output<typeof rawConfigSchema>;

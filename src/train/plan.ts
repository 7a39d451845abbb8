/**
 * Planning a training from its config, before any work: which stages run with which optimizer, schedule and step
 * (config → stage plans), which cases are labeled, unlabeled and validation (config → data plan), and each stage's
 * batch loader.
 */
import { labeledCaseCount, modelDims, type SsmisConfig } from '../config/index.js';
import { BatchLoader } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import { configSplitIds, openConfigDataset } from '../data/from-config.js';
import { valSplitHint } from '../data/prepare/splits.js';
import { getMethodVariant, pretrainStep } from '../method/variants/index.js';
import type { MethodVariant } from '../method/variants/types.js';
import { errorMessage, InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { OptimizerConfig } from './optimizer.js';
import type { ScheduleSpec } from './schedule.js';

/** The two training stages: copy-paste pre-training, then self-training with the method. */
export type StageName = 'pretrain' | 'selftrain';

/** One enabled stage as the config describes it. */
export interface StagePlan {
  name: StageName;
  iterations: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleSpec;
  variant: MethodVariant;
}

/** The enabled stages in the order they run: `pretrain` (E27's step), then `selftrain` (the method's step). */
export function stagePlans(config: SsmisConfig): StagePlan[] {
  const plans: StagePlan[] = [];
  const { pretrain, selftrain } = config.train.stages;
  if (pretrain.enabled) {
    plans.push({
      name: 'pretrain',
      iterations: pretrain.iterations,
      optimizer: pretrain.optimizer,
      schedule: pretrain.schedule,
      variant: pretrainStep,
    });
  }
  if (selftrain.enabled) {
    plans.push({
      name: 'selftrain',
      iterations: selftrain.iterations,
      optimizer: selftrain.optimizer,
      schedule: selftrain.schedule,
      variant: getMethodVariant(config.method.name),
    });
  }
  return plans;
}

/** The dataset and the cases a run reads. */
export interface DataPlan {
  dataset: Dataset;
  labeledIds: string[];
  unlabeledIds: string[];
  validationIds: string[];
}

/**
 * Opens the dataset and resolves labeled/unlabeled/validation cases, failing before any work on a mismatch.
 * `runDir`: a resumed run's folder, whose recorded split (`splits.json`) is reused.
 */
export async function planData(config: SsmisConfig, runDir?: string): Promise<DataPlan> {
  const dataset = await openConfigDataset(config, undefined, runDir);
  let labeledIds: string[];
  let unlabeledIds: string[];
  if (config.data.splits.train === undefined) {
    try {
      labeledIds = dataset.labeledIds(config.data.labeled);
    } catch (error) {
      throw new InputError(`${errorMessage(error)} (dataset ${config.data.dataset})`);
    }
    unlabeledIds = dataset.unlabeledIds(config.data.labeled);
  } else {
    const train = await configSplitIds(config, dataset, 'train');
    const count = labeledCaseCount(config.data.labeled, train.length);
    labeledIds = train.slice(0, count);
    // Images without a label file are unlabeled cases whichever list names the train split.
    unlabeledIds = [...train.slice(count), ...dataset.imageOnlyIds()];
  }
  const split = config.train.validation.split;
  const validationIds = split === 'none' ? [] : await configSplitIds(config, dataset, split);
  if (split !== 'none' && validationIds.length === 0) {
    const hint = split === 'val' ? valSplitHint(dataset.info.preset, dataset.dir) : "use 'val' or 'none'";
    throw new InputError(
      `train.validation.split: the dataset ${dataset.dir} has no '${split}' cases; ${hint}`,
    );
  }
  return { dataset, labeledIds, unlabeledIds, validationIds };
}

/** The stage's batch loader (also built once before the run folder exists, to check the data). */
export function createLoader(config: SsmisConfig, plan: StagePlan, data: DataPlan): Promise<BatchLoader> {
  const seed = config.train.seed;
  return BatchLoader.create({
    dataset: data.dataset,
    labeledIds: data.labeledIds,
    unlabeledIds: data.unlabeledIds,
    patch: config.data.patchSize,
    dims: modelDims(config.model.name),
    augment: config.data.augmentation,
    sampler: {
      labeledBatch: config.train.batch.labeled,
      unlabeledBatch: plan.variant.needsUnlabeled ? config.train.batch.unlabeled : 0,
      rng: Rng.stream(seed, `sampler-${plan.name}`),
    },
    rng: Rng.stream(seed, `augment-${plan.name}`),
  });
}

/**
 * Reads every case the run uses and builds each stage's loader, so a missing or corrupt image or label, or a
 * dataset too small for the batch, fails before the run folder is created.
 */
export async function checkTrainingData(
  config: SsmisConfig,
  plans: readonly StagePlan[],
  data: DataPlan,
): Promise<void> {
  const needsUnlabeled = plans.some((p) => p.variant.needsUnlabeled);
  const ids = new Set([
    ...data.labeledIds,
    ...(needsUnlabeled ? data.unlabeledIds : []),
    ...data.validationIds,
  ]);
  for (const id of ids) await data.dataset.loadCase(id);
  for (const plan of plans) await createLoader(config, plan, data);
}

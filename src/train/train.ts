/**
 * The training engine (docs/equations.md §3 and the training step §4.9): stage 1 copy-paste pre-training,
 * stage 2 self-training with the configured method variant, validation and best-model selection, atomic
 * checkpoints, bit-for-bit resume on the cpu backend, and the run folder.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { type BackendInfo, initBackend } from '../backend/init.js';
import { tf } from '../backend/tf.js';
import {
  configToYaml,
  labeledCaseCount,
  modelDims,
  requireConfig,
  type SsmisConfig,
} from '../config/index.js';
import { BatchLoader, disposeBatch } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import { configSplitIds, openConfigDataset } from '../data/from-config.js';
import { valSplitHint } from '../data/prepare/splits.js';
import { getMethodVariant, pretrainStep } from '../method/variants/index.js';
import type { MethodVariant, StepContext, StepLoss } from '../method/variants/types.js';
import { createModel } from '../nn/create.js';
import { copyWeights, createTeacher, updateEma } from '../nn/ema.js';
import type { SegmentationModel } from '../nn/types.js';
import { requireOptions } from '../util/args.js';
import { writeFileAtomic } from '../util/atomic.js';
import { errorMessage, InputError, SsmisError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { renderCurvesSvg } from './curves.js';
import { createOptimizer, type Optimizer, type OptimizerConfig } from './optimizer.js';
import {
  createRunDir,
  openRunDir,
  type ProtectedPath,
  type RunLock,
  type RunPaths,
  writeRunMarker,
} from './run-dir.js';
import { learningRate, type ScheduleSpec } from './schedule.js';
import {
  type BestRecord,
  checkLoaderState,
  checkpointFiles,
  checkStateAgainstStages,
  copyCheckpoint,
  type HistoryRow,
  loadCheckpointWeights,
  readTrainingState,
  type StageName,
  saveCheckpoint,
  syncStateCopy,
  type TrainingState,
} from './state.js';
import { selectBest, validateModel } from './validate.js';

/** What `train` reports while it runs (the CLI draws its progress bar from these). */
export type TrainEvent =
  | {
      type: 'start';
      runDir: string;
      backend: BackendInfo;
      labeled: number;
      unlabeled: number;
      resumed: boolean;
    }
  | { type: 'stage'; stage: StageName; iterations: number; startIteration: number }
  | {
      type: 'iteration';
      stage: StageName;
      iteration: number;
      iterations: number;
      loss: number;
      lr: number;
      best: number | null;
      msPerIteration: number;
    }
  | { type: 'validation'; stage: StageName; iteration: number; dice: number; improved: boolean }
  | { type: 'checkpoint'; stage: StageName; iteration: number; file: string }
  | { type: 'interrupted'; stage: StageName; iteration: number }
  /** Something the user should know that does not stop the run (a stale lock taken over, temp files removed). */
  | { type: 'warning'; message: string }
  | { type: 'done'; runDir: string };

export interface TrainOptions {
  /** Continue the run folder `<run.outputDir>/<run.name>` (or `runDir`) from its `last` checkpoint. */
  resume?: boolean;
  /** Run folder to use instead of `<run.outputDir>/<run.name>` (resume: the folder to continue). */
  runDir?: string;
  /**
   * Empty an existing run folder first: only one ssmis made (its `.ssmis-run` marker) that holds nothing training
   * does not write, and never one containing the dataset, a split file or `configFiles`.
   */
  force?: boolean;
  /** The config files the config was read from (`loadConfig(...).files`): `force` never deletes a folder holding one. */
  configFiles?: readonly string[];
  onEvent?: (event: TrainEvent) => void;
  /** Aborting writes `last` and returns with `interrupted: true` (SIGINT/SIGTERM in the CLI). */
  signal?: AbortSignal;
  /** Stop (as if interrupted) after this many iterations in this call; tests of resume use it. */
  stopAfterIterations?: number;
  /**
   * Runs after training with the selected model (the CLI passes the evaluation module's final test-split
   * evaluation, which writes `eval/`); kept as a hook so the engine does not depend on reporting.
   */
  finalEvaluation?: (context: FinalEvaluationContext) => Promise<void>;
}

export interface FinalEvaluationContext {
  config: SsmisConfig;
  model: SegmentationModel;
  dataset: Dataset;
  paths: RunPaths;
  /** Which checkpoint the model holds (`best` or `last`) and the selection split. */
  selected: { checkpoint: 'best' | 'last'; split: string; best: BestRecord | null };
}

export interface TrainResult {
  runDir: string;
  interrupted: boolean;
  best: Partial<Record<StageName, BestRecord>>;
  history: HistoryRow[];
  /** Checkpoint holding the final model (`best` or `last`). */
  finalCheckpoint: string;
}

interface StagePlan {
  name: StageName;
  iterations: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleSpec;
  variant: MethodVariant;
}

/**
 * The optimizer spec of a stage: the config's `name` is the optimizer's `type` (src/train/optimizer.ts keys its
 * specs and saved states by `type`).
 */
function optimizerConfig(o: SsmisConfig['train']['stages']['pretrain']['optimizer']): OptimizerConfig {
  if (o.name === 'sgd') {
    return { type: 'sgd', lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov };
  }
  return { type: 'adam', lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay };
}

function stagePlans(config: SsmisConfig): StagePlan[] {
  const plans: StagePlan[] = [];
  const { pretrain, selftrain } = config.train.stages;
  if (pretrain.enabled) {
    plans.push({
      name: 'pretrain',
      iterations: pretrain.iterations,
      optimizer: optimizerConfig(pretrain.optimizer),
      schedule: pretrain.schedule,
      variant: pretrainStep,
    });
  }
  if (selftrain.enabled) {
    plans.push({
      name: 'selftrain',
      iterations: selftrain.iterations,
      optimizer: optimizerConfig(selftrain.optimizer),
      schedule: selftrain.schedule,
      variant: getMethodVariant(config.method.name),
    });
  }
  return plans;
}

interface DataPlan {
  dataset: Dataset;
  labeledIds: string[];
  unlabeledIds: string[];
  validationIds: string[];
}

/** Opens the dataset and resolves labeled/unlabeled/validation cases, failing before any work on a mismatch. */
async function planData(config: SsmisConfig): Promise<DataPlan> {
  const dataset = await openConfigDataset(config);
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
    unlabeledIds = train.slice(count);
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

/** A numeric CSV cell: empty for missing values, full precision otherwise. */
function cell(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '' : String(value);
}

/** metrics.csv from the history: fixed columns, then every loss part and diagnostic seen in the run. */
export function historyToCsv(history: readonly HistoryRow[]): string {
  const partKeys = [...new Set(history.flatMap((r) => Object.keys(r.parts)))]
    .filter((k) => k !== 'total')
    .sort();
  const diagKeys = [...new Set(history.flatMap((r) => Object.keys(r.diagnostics)))].sort();
  const header = [
    'stage',
    'iteration',
    'lr',
    'loss',
    ...partKeys.map((k) => `loss_${k}`),
    ...diagKeys,
    'val_dice',
    'ms_per_iteration',
  ];
  const lines = [header.join(',')];
  for (const r of history) {
    lines.push(
      [
        r.stage,
        String(r.iteration),
        cell(r.lr),
        cell(r.loss),
        ...partKeys.map((k) => cell(r.parts[k])),
        ...diagKeys.map((k) => cell(r.diagnostics[k])),
        cell(r.valDice),
        cell(r.msPerIteration),
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** curves.svg: loss per stage and validation Dice against the global iteration. */
export function historyToSvg(
  history: readonly HistoryRow[],
  plans: readonly { name: StageName; iterations: number }[],
): string {
  const offset: Partial<Record<StageName, number>> = {};
  let sum = 0;
  for (const p of plans) {
    offset[p.name] = sum;
    sum += p.iterations;
  }
  const x = (r: HistoryRow) => (offset[r.stage] ?? 0) + r.iteration;
  const lossSeries = (['pretrain', 'selftrain'] as const).map((stage, i) => ({
    name: `${stage} loss`,
    color: i === 0 ? '#1f77b4' : '#d62728',
    points: history
      .filter((r) => r.stage === stage && Number.isFinite(r.loss))
      .map((r) => ({ x: x(r), y: r.loss })),
  }));
  const dice = history
    .filter((r) => r.valDice !== undefined)
    .map((r) => ({ x: x(r), y: r.valDice as number }));
  return renderCurvesSvg([
    { title: 'Training loss', series: lossSeries.filter((s) => s.points.length > 0) },
    {
      title: 'Validation Dice',
      series: [{ name: 'val Dice', color: '#2ca02c', points: dice }],
      yMin: 0,
      yMax: 1,
    },
  ]);
}

/**
 * Trains a model from a validated config (what `ssmis train` runs). Stage 1 pre-trains on copy-pasted labeled
 * pairs (E27) with its own optimizer; stage 2 starts student and teacher from stage 1's selected checkpoint
 * (the reference loads the best) and runs the method variant's step (§4.9): teacher targets outside the
 * gradient, student loss inside, optimizer step, EMA, learning rate for the next step, validation.
 */
export async function train(config: SsmisConfig, options: TrainOptions = {}): Promise<TrainResult> {
  config = requireConfig('train', 'config', config);
  requireOptions('train', 'options', options);
  const backend = await initBackend({
    backend: config.backend.name,
    fastKernels: config.backend.fastKernels,
  });
  const plans = stagePlans(config);
  const data = await planData(config);
  const dir = options.runDir ?? path.join(config.run.outputDir, config.run.name);
  const run = await openRun(config, plans, data, dir, options);
  try {
    return await trainInRun(config, options, backend, plans, data, run);
  } finally {
    run.lock.release();
  }
}

/** The stage's batch loader (also built once before the run folder exists, to check the data). */
function createLoader(config: SsmisConfig, plan: StagePlan, data: DataPlan): Promise<BatchLoader> {
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
async function checkTrainingData(config: SsmisConfig, plans: readonly StagePlan[], data: DataPlan) {
  const needsUnlabeled = plans.some((p) => p.variant.needsUnlabeled);
  const ids = new Set([
    ...data.labeledIds,
    ...(needsUnlabeled ? data.unlabeledIds : []),
    ...data.validationIds,
  ]);
  for (const id of ids) await data.dataset.loadCase(id);
  for (const plan of plans) await createLoader(config, plan, data);
}

/** What `--force` must never delete: the dataset, split list files and the config files. */
function protectedPaths(config: SsmisConfig, configFiles: readonly string[] = []): ProtectedPath[] {
  const out: ProtectedPath[] = [{ path: config.data.dataset, what: 'the dataset (data.dataset)' }];
  for (const split of ['train', 'val', 'test'] as const) {
    const list = config.data.splits[split];
    if (typeof list === 'string') out.push({ path: list, what: `the split file (data.splits.${split})` });
  }
  for (const file of configFiles) out.push({ path: file, what: 'the config file' });
  return out;
}

interface OpenedRun {
  paths: RunPaths;
  lock: RunLock;
  /** The `last` checkpoint's state, null for a run starting from iteration 0. */
  resumeState: TrainingState | null;
  /** Where `resumeState` was read from (for messages). */
  stateSource: string;
}

/**
 * Creates (or, resuming, opens) the run folder and locks it. A new run checks its data first; a resumed run's
 * state is checked against the config; a run folder without a checkpoint yet (it failed or was killed before the
 * first one) starts over from iteration 0.
 */
async function openRun(
  config: SsmisConfig,
  plans: readonly StagePlan[],
  data: DataPlan,
  dir: string,
  options: TrainOptions,
): Promise<OpenedRun> {
  const warn = (message: string) => options.onEvent?.({ type: 'warning', message });
  if (!options.resume) {
    await checkTrainingData(config, plans, data);
    const { paths, lock } = await createRunDir(dir, {
      force: options.force,
      runName: config.run.name,
      protectedPaths: protectedPaths(config, options.configFiles),
      onWarning: warn,
    });
    try {
      await writeFileAtomic(paths.config, configToYaml(config));
    } catch (error) {
      lock.release();
      throw error;
    }
    return { paths, lock, resumeState: null, stateSource: '' };
  }
  const { paths, lock, info } = await openRunDir(dir, { onWarning: warn });
  try {
    const stored = await readTrainingState(paths.checkpoints, 'last');
    if (stored) {
      checkStateAgainstStages(stored.state, plans, stored.source);
      await syncStateCopy(paths.checkpoints, 'last', stored.state);
    } else {
      await checkTrainingData(config, plans, data);
      if (!existsSync(paths.config)) await writeFileAtomic(paths.config, configToYaml(config));
      warn(`${paths.dir} has no checkpoint yet: starting the run from iteration 0`);
    }
    if (!info.marked) await writeRunMarker(paths, config.run.name);
    return { paths, lock, resumeState: stored?.state ?? null, stateSource: stored?.source ?? '' };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** The training itself, in an opened and locked run folder. */
async function trainInRun(
  config: SsmisConfig,
  options: TrainOptions,
  backend: BackendInfo,
  plans: readonly StagePlan[],
  data: DataPlan,
  run: OpenedRun,
): Promise<TrainResult> {
  const emit = options.onEvent ?? (() => {});
  const { paths, resumeState } = run;
  const log = pino(
    { base: null, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: paths.log, sync: true, append: true, mkdir: true }),
  );
  log.info({ event: 'start', backend: backend.active, resumed: resumeState !== null, run: config.run.name });
  emit({
    type: 'start',
    runDir: paths.dir,
    backend,
    labeled: data.labeledIds.length,
    unlabeled: data.unlabeledIds.length,
    resumed: resumeState !== null,
  });

  const seed = config.train.seed;
  const student = createModel(config, { name: 'student', rng: Rng.stream(seed, 'init') });
  let teacher: SegmentationModel | null = null;
  const cuboidRng = Rng.stream(seed, 'cuboid');
  const dropoutRng = Rng.stream(seed, 'dropout');
  const state: Omit<TrainingState, 'checkpointId' | 'loader'> = {
    formatVersion: 1,
    stage: plans[0]?.name ?? 'selftrain',
    iteration: 0,
    completedStages: [],
    rng: { cuboid: cuboidRng.getState(), dropout: dropoutRng.getState() },
    best: {},
    history: [],
    elapsedSeconds: 0,
  };
  if (resumeState) {
    Object.assign(state, {
      stage: resumeState.stage,
      iteration: resumeState.iteration,
      completedStages: resumeState.completedStages,
      best: resumeState.best,
      history: resumeState.history,
      elapsedSeconds: resumeState.elapsedSeconds,
    });
    cuboidRng.setState(resumeState.rng.cuboid);
    dropoutRng.setState(resumeState.rng.dropout);
  }

  const validationPatch = config.eval.patch;
  const validationStrides = config.train.validation.strides;
  let iterationsThisCall = 0;
  let interrupted = false;
  const stopRequested = () =>
    options.signal?.aborted === true ||
    (options.stopAfterIterations !== undefined && iterationsThisCall >= options.stopAfterIterations);
  let finalCheckpoint: 'best' | 'last' = 'last';
  const started = Date.now();
  const elapsedBefore = state.elapsedSeconds;

  const saveHistoryFiles = async () => {
    await writeFileAtomic(paths.metrics, historyToCsv(state.history));
    await writeFileAtomic(paths.curves, historyToSvg(state.history, plans));
  };

  try {
    for (const plan of plans) {
      if (state.completedStages.includes(plan.name)) continue;
      const resumingThisStage = resumeState !== null && resumeState.stage === plan.name;
      const startIteration = resumingThisStage ? state.iteration : 0;
      state.stage = plan.name;
      state.iteration = startIteration;
      const needsTeacher = plan.variant.needsTeacher;

      // Stage 2 starts from stage 1's selected checkpoint (unless resuming in the middle of stage 2).
      if (plan.name === 'selftrain' && !resumingThisStage && state.completedStages.includes('pretrain')) {
        const init =
          config.train.stages.selftrain.initFrom === 'best' && state.best.pretrain
            ? 'pretrain-best'
            : 'pretrain-last';
        await loadCheckpointWeights(paths.checkpoints, init, { student });
        log.info({ event: 'init', stage: plan.name, from: init });
      }
      if (needsTeacher && teacher === null) teacher = createTeacher(student);
      else if (needsTeacher && teacher && !resumingThisStage) copyWeights(teacher, student);

      const optimizer: Optimizer = createOptimizer(plan.optimizer);
      const loader = await createLoader(config, plan, data);
      const carry =
        plan.name === 'selftrain' && config.train.stages.selftrain.carryOptimizer && !resumingThisStage;
      if (resumingThisStage && resumeState) {
        const models: Record<string, SegmentationModel> = { student };
        if (teacher) models.teacher = teacher;
        await loadCheckpointWeights(paths.checkpoints, 'last', models, {
          optimizer,
          optimizerVars: student.namedParameters(),
          expectId: resumeState.checkpointId,
        });
        checkLoaderState(resumeState.loader, loader.unitCounts, run.stateSource);
        try {
          loader.setState(resumeState.loader);
        } catch (error) {
          if (error instanceof InputError) {
            throw new InputError(`cannot resume: ${run.stateSource}: ${error.message}`, { cause: error });
          }
          throw error;
        }
        log.info({ event: 'resume', stage: plan.name, iteration: startIteration });
      } else if (carry && existsSync(checkpointFiles(paths.checkpoints, 'pretrain-last').weights)) {
        const scratch = createModel(config, { name: 'scratch', rng: Rng.stream(seed, 'scratch') });
        try {
          await loadCheckpointWeights(
            paths.checkpoints,
            'pretrain-last',
            { student: scratch },
            {
              optimizer,
              optimizerVars: student.namedParameters(),
            },
          );
        } finally {
          scratch.dispose();
        }
      }

      emit({ type: 'stage', stage: plan.name, iterations: plan.iterations, startIteration });
      log.info({ event: 'stage', stage: plan.name, iterations: plan.iterations, startIteration });
      const ctxBase: Omit<StepContext, 'iteration'> = {
        student,
        teacher: teacher ?? undefined,
        rng: cuboidRng,
        dropoutRng,
        config: config.method,
      };
      const saveLast = async () => {
        const models: Record<string, SegmentationModel> = { student };
        if (teacher && needsTeacher) models.teacher = teacher;
        state.rng = { cuboid: cuboidRng.getState(), dropout: dropoutRng.getState() };
        state.elapsedSeconds = elapsedBefore + (Date.now() - started) / 1000;
        await saveCheckpoint(paths.checkpoints, 'last', models, {
          optimizer,
          state: { ...state, loader: loader.getState() },
        });
        await saveHistoryFiles();
        emit({ type: 'checkpoint', stage: plan.name, iteration: state.iteration, file: 'last' });
      };

      let windowMs = 0;
      let windowCount = 0;
      try {
        for (let i = startIteration + 1; i <= plan.iterations; i++) {
          // With a warm data cache an iteration never waits for I/O, so without this turn of the event loop a
          // SIGINT handler would only run at the next checkpoint write.
          await new Promise((resolve) => setImmediate(resolve));
          if (stopRequested()) {
            await saveLast();
            interrupted = true;
            log.info({ event: 'interrupted', stage: plan.name, iteration: i - 1 });
            emit({ type: 'interrupted', stage: plan.name, iteration: i - 1 });
            break;
          }
          const t0 = Date.now();
          optimizer.learningRate = learningRate(plan.schedule, plan.optimizer.lr, i, plan.iterations);
          const batch = await loader.next();
          const stepBatch = {
            labeledImages: batch.labeledImages,
            labeledLabels: batch.labeledLabels,
            unlabeledImages: batch.unlabeledImages ?? undefined,
          };
          const ctx: StepContext = { ...ctxBase, iteration: i - 1 };
          let step: StepLoss | undefined;
          let lossValue: number;
          const prepared = plan.variant.prepare(ctx, stepBatch);
          try {
            lossValue = optimizer.step(() => {
              step = plan.variant.loss(ctx, stepBatch, prepared);
              return step.loss;
            }, student.namedParameters());
          } finally {
            prepared.dispose();
            disposeBatch(batch);
          }
          if (!Number.isFinite(lossValue)) {
            throw new SsmisError(
              `the ${plan.name} loss became ${lossValue} at iteration ${i}; lower the learning rate (train.stages.${plan.name}.optimizer.lr) or check the data`,
            );
          }
          if (needsTeacher && teacher) {
            updateEma(teacher, student, config.method.teacher.emaDecay, {
              includeBatchNormStats: config.method.teacher.includeBatchNormStats,
            });
          }
          state.iteration = i;
          iterationsThisCall++;
          const ms = Date.now() - t0;
          windowMs += ms;
          windowCount++;
          const bestSoFar = state.best[plan.name]?.dice ?? null;
          emit({
            type: 'iteration',
            stage: plan.name,
            iteration: i,
            iterations: plan.iterations,
            loss: lossValue,
            lr: optimizer.learningRate,
            best: bestSoFar,
            msPerIteration: ms,
          });

          let valDice: number | undefined;
          // Every `interval` iterations, as the reference's `iter % 200 == 0`, when there is a selection split.
          const validate = data.validationIds.length > 0 && i % config.train.validation.interval === 0;
          if (validate) {
            const result = await validateModel(student, data.dataset, data.validationIds, {
              patch: validationPatch,
              strides: validationStrides,
              sliceSize: config.data.sliceResize,
              batchWindows: config.eval.batchWindows,
            });
            valDice = result.meanDice;
            const selected = selectBest(
              config.train.validation.selection,
              state.best[plan.name]?.dice,
              valDice,
            );
            const improved = selected !== null;
            if (improved) {
              state.best[plan.name] = { dice: selected, iteration: i };
              await saveCheckpoint(
                paths.checkpoints,
                plan.name === 'pretrain' ? 'pretrain-best' : 'best',
                { student },
                {
                  metadata: { stage: plan.name, iteration: String(i), dice: String(valDice) },
                },
              );
            }
            log.info({
              event: 'validation',
              stage: plan.name,
              iteration: i,
              dice: valDice,
              improved,
              perCase: result.perCase,
            });
            emit({ type: 'validation', stage: plan.name, iteration: i, dice: valDice, improved });
          }
          const logDue = i % config.train.logInterval === 0 || i === plan.iterations || valDice !== undefined;
          if (logDue && step) {
            const row: HistoryRow = {
              stage: plan.name,
              iteration: i,
              lr: optimizer.learningRate,
              loss: lossValue,
              parts: step.parts,
              diagnostics: step.diagnostics,
              msPerIteration: windowMs / windowCount,
              valDice,
            };
            state.history.push(row);
            log.info({
              event: 'iteration',
              ...row,
              numTensors: tf.memory().numTensors,
            });
            windowMs = 0;
            windowCount = 0;
          }
          if (i % config.train.checkpointInterval === 0 && i < plan.iterations) await saveLast();
        }
        if (interrupted) break;
        // The stage's final weights, for stage 2's initialisation when no best was selected.
        if (plan.name === 'pretrain') {
          await saveCheckpoint(paths.checkpoints, 'pretrain-last', { student }, { optimizer });
        }
        state.completedStages.push(plan.name);
        await saveLast();
      } finally {
        optimizer.dispose();
      }
    }
    if (!interrupted) {
      const lastStage = plans[plans.length - 1]?.name ?? 'selftrain';
      const bestName = lastStage === 'pretrain' ? 'pretrain-best' : 'best';
      const best = state.best[lastStage] ?? null;
      if (best && existsSync(checkpointFiles(paths.checkpoints, bestName).weights)) {
        await loadCheckpointWeights(paths.checkpoints, bestName, { student });
        finalCheckpoint = 'best';
      }
      if (bestName === 'pretrain-best' && finalCheckpoint === 'best') {
        // A pre-training-only run: its selected model is also the run's `best`.
        await copyCheckpoint(paths.checkpoints, bestName, 'best');
      }
      await saveHistoryFiles();
      if (options.finalEvaluation) {
        await options.finalEvaluation({
          config,
          model: student,
          dataset: data.dataset,
          paths,
          selected: { checkpoint: finalCheckpoint, split: config.train.validation.split, best },
        });
      }
      log.info({ event: 'done', finalCheckpoint, best: state.best });
      emit({ type: 'done', runDir: paths.dir });
    }
  } finally {
    student.dispose();
    teacher?.dispose();
    log.flush();
  }
  return {
    runDir: paths.dir,
    interrupted,
    best: state.best,
    history: state.history,
    finalCheckpoint: checkpointFiles(paths.checkpoints, finalCheckpoint).weights,
  };
}

/**
 * The training engine (docs/equations.md §3 and the training step §4.9): stage 1 copy-paste pre-training,
 * stage 2 self-training with the configured method variant, validation and best-model selection, atomic
 * checkpoints, bit-for-bit resume on the cpu backend, and the run folder.
 *
 * `train` runs, in order:
 * 1. plan (plan.ts): the config's stages (optimizer, schedule, step) and the cases each reads;
 * 2. open the run (`openRun`): check the data, create or resume the run folder under its lock;
 * 3. each stage not yet completed (`runStage`): initialise the models (`initStageModels`: stage 2 from stage 1's
 *    selected checkpoint, the teacher from the student), restore a resumed stage or carry the optimizer
 *    (`restoreStage`), then per iteration (`trainIteration`): load batch → prepare (outside the gradient) and
 *    optimizer step (`optimizerStep`) → EMA (`updateTeacher`) → progress event → validate and select
 *    (`validateAndSelect`) → history row and log line (`logIteration`, after validation so the row holds its
 *    Dice) → checkpoint (`saveLast`); a stop request saves `last` and ends the run interrupted;
 * 4. finish (`finishRun`): load the selected model, write the history files (history.ts), run the final
 *    evaluation hook.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { discardHostReads, settleHostReads } from '../backend/host-read.js';
import { type BackendInfo, initBackend } from '../backend/init.js';
import { tf } from '../backend/tf.js';
import { configToYaml, requireConfig, type SsmisConfig } from '../config/index.js';
import { type BatchLoader, disposeBatch, type TrainingBatch } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import { writeRunSplits } from '../data/nnunet.js';
import type { StepBatch, StepContext, StepLoss } from '../method/variants/types.js';
import { createModel } from '../nn/create.js';
import { copyWeights, createTeacher, updateEma } from '../nn/ema.js';
import type { SegmentationModel } from '../nn/types.js';
import { requireOptions } from '../util/args.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, SsmisError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { type HistoryRow, writeHistoryFiles } from './history.js';
import { createOptimizer, type Optimizer } from './optimizer.js';
import {
  checkTrainingData,
  createLoader,
  type DataPlan,
  planData,
  type StagePlan,
  stagePlans,
} from './plan.js';
import {
  createRunDir,
  openRunDir,
  type ProtectedPath,
  type RunLock,
  type RunPaths,
  writeRunMarker,
} from './run-dir.js';
import { learningRate } from './schedule.js';
import {
  type BestRecord,
  checkLoaderState,
  checkpointFiles,
  checkStateAgainstStages,
  copyCheckpoint,
  loadCheckpointWeights,
  readTrainingState,
  type StageName,
  saveCheckpoint,
  syncStateCopy,
  type TrainingState,
} from './state.js';
import { selectBest, validateModel } from './validate.js';

/** The history's files and row type live in history.ts; importable from here as before. */
export { type HistoryRow, historyToCsv, historyToSvg } from './history.js';

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

/**
 * Trains a model from a validated config (what `ssmis train` runs). Stage 1 pre-trains on copy-pasted labeled
 * pairs (E27) with its own optimizer; stage 2 starts student and teacher from stage 1's selected checkpoint
 * (the reference loads the best) and runs the method variant's step (§4.9): teacher targets outside the
 * gradient, student loss inside, optimizer step, EMA, learning rate for the next step, validation.
 *
 * @param config A parsed config (`loadConfig(...).config` or `parseConfig(...)`).
 * @param options Resume, run folder, `--force`, progress events, stop signal and the final-evaluation hook.
 * @returns The run folder, whether the run was interrupted, the best validation record per stage, the history
 *   and the checkpoint holding the final model.
 * @throws InputError when `config` or `options` is not what `train` takes, the dataset or a split does not match
 *   the config (missing or corrupt cases, too few for the batch, no validation cases), the run folder exists
 *   without `force` or `resume`, `force` meets a folder ssmis did not make, another training holds the folder's
 *   lock, or a resumed checkpoint does not fit the config.
 * @throws SsmisError when the loss becomes NaN or infinite.
 * @example
 * const { config, files } = await loadConfig('configs/la-10pct.yaml');
 * const result = await train(config, { configFiles: files, onEvent: (e) => console.log(e.type) });
 * console.log(result.finalCheckpoint);
 */
export async function train(config: SsmisConfig, options: TrainOptions = {}): Promise<TrainResult> {
  config = requireConfig('train', 'config', config);
  requireOptions('train', 'options', options);
  const backend = await initBackend({
    backend: config.backend.name,
    fastKernels: config.backend.fastKernels,
  });
  const plans = stagePlans(config);
  const dir = options.runDir ?? path.join(config.run.outputDir, config.run.name);
  const data = await planData(config, options.resume ? dir : undefined);
  const run = await openRun(config, plans, data, dir, options);
  try {
    // The split ssmis made for a dataset.json without one, so that resume and evaluation read it back.
    await writeRunSplits(run.paths.dir, data.dataset);
    return await trainInRun(config, options, backend, plans, data, run);
  } finally {
    run.lock.release();
  }
}

/** What `--force` must never delete: the dataset, split list files and the config files. */
function protectedPaths(config: SsmisConfig, configFiles: readonly string[] = []): ProtectedPath[] {
  const out: ProtectedPath[] = [{ path: config.data.dataset, what: 'the dataset (data.dataset)' }];
  const { unlabeledDir, autoSplit } = config.data;
  if (unlabeledDir !== undefined)
    out.push({ path: unlabeledDir, what: 'the unlabeled images (data.unlabeledDir)' });
  if (autoSplit.nnunetSplits !== undefined)
    out.push({ path: autoSplit.nnunetSplits, what: 'the nnU-Net splits file (data.autoSplit.nnunetSplits)' });
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

/** What every stage of one run shares: models, RNG streams, the state a checkpoint stores, the log. */
interface RunContext {
  config: SsmisConfig;
  options: TrainOptions;
  emit: (event: TrainEvent) => void;
  log: pino.Logger;
  plans: readonly StagePlan[];
  data: DataPlan;
  paths: RunPaths;
  run: OpenedRun;
  student: SegmentationModel;
  teacher: SegmentationModel | null;
  cuboidRng: Rng;
  dropoutRng: Rng;
  state: Omit<TrainingState, 'checkpointId' | 'loader'>;
  /** When this call started, and the training time of the calls before it (resume). */
  started: number;
  elapsedBefore: number;
  iterationsThisCall: number;
}

/** One stage while it runs: its plan, optimizer, loader and the timing window of the next history row. */
interface StageRun {
  plan: StagePlan;
  optimizer: Optimizer;
  loader: BatchLoader;
  step: Omit<StepContext, 'iteration'>;
  windowMs: number;
  windowCount: number;
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
  const ctx = createRunContext(config, options, emit, log, plans, data, run);
  let interrupted = false;
  let finalCheckpoint: 'best' | 'last' = 'last';
  try {
    for (const plan of plans) {
      if (ctx.state.completedStages.includes(plan.name)) continue;
      interrupted = await runStage(ctx, plan);
      if (interrupted) break;
    }
    if (!interrupted) finalCheckpoint = await finishRun(ctx);
  } finally {
    ctx.student.dispose();
    ctx.teacher?.dispose();
    log.flush();
  }
  return {
    runDir: paths.dir,
    interrupted,
    best: ctx.state.best,
    history: ctx.state.history,
    finalCheckpoint: checkpointFiles(paths.checkpoints, finalCheckpoint).weights,
  };
}

/** The student, the RNG streams and the run's state: fresh, or as the resumed checkpoint left them. */
function createRunContext(
  config: SsmisConfig,
  options: TrainOptions,
  emit: (event: TrainEvent) => void,
  log: pino.Logger,
  plans: readonly StagePlan[],
  data: DataPlan,
  run: OpenedRun,
): RunContext {
  const seed = config.train.seed;
  const student = createModel(config, { name: 'student', rng: Rng.stream(seed, 'init') });
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
  const resumeState = run.resumeState;
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
  return {
    config,
    options,
    emit,
    log,
    plans,
    data,
    paths: run.paths,
    run,
    student,
    teacher: null,
    cuboidRng,
    dropoutRng,
    state,
    started: Date.now(),
    elapsedBefore: state.elapsedSeconds,
    iterationsThisCall: 0,
  };
}

/** Whether the caller asked to stop (signal, or `stopAfterIterations` reached in this call). */
function stopRequested(ctx: RunContext): boolean {
  const { signal, stopAfterIterations } = ctx.options;
  return (
    signal?.aborted === true ||
    (stopAfterIterations !== undefined && ctx.iterationsThisCall >= stopAfterIterations)
  );
}

/** Runs one stage from its start (or resumed) iteration to its end; returns true when stopped before the end. */
async function runStage(ctx: RunContext, plan: StagePlan): Promise<boolean> {
  const { state, run } = ctx;
  const resuming = run.resumeState !== null && run.resumeState.stage === plan.name;
  const startIteration = resuming ? state.iteration : 0;
  state.stage = plan.name;
  state.iteration = startIteration;
  await initStageModels(ctx, plan, resuming);
  const optimizer = createOptimizer(plan.optimizer);
  try {
    const loader = await createLoader(ctx.config, plan, ctx.data);
    await restoreStage(ctx, plan, optimizer, loader, resuming, startIteration);
    ctx.emit({ type: 'stage', stage: plan.name, iterations: plan.iterations, startIteration });
    ctx.log.info({ event: 'stage', stage: plan.name, iterations: plan.iterations, startIteration });
    const stage: StageRun = {
      plan,
      optimizer,
      loader,
      step: {
        student: ctx.student,
        teacher: ctx.teacher ?? undefined,
        rng: ctx.cuboidRng,
        dropoutRng: ctx.dropoutRng,
        config: ctx.config.method,
      },
      windowMs: 0,
      windowCount: 0,
    };
    for (let i = startIteration + 1; i <= plan.iterations; i++) {
      // With a warm data cache an iteration never waits for I/O, so without this turn of the event loop a
      // SIGINT handler would only run at the next checkpoint write.
      await new Promise((resolve) => setImmediate(resolve));
      if (stopRequested(ctx)) {
        await saveLast(ctx, stage);
        ctx.log.info({ event: 'interrupted', stage: plan.name, iteration: i - 1 });
        ctx.emit({ type: 'interrupted', stage: plan.name, iteration: i - 1 });
        return true;
      }
      await trainIteration(ctx, stage, i);
    }
    // The stage's final weights, for stage 2's initialisation when no best was selected.
    if (plan.name === 'pretrain') {
      await saveCheckpoint(ctx.paths.checkpoints, 'pretrain-last', { student: ctx.student }, { optimizer });
    }
    state.completedStages.push(plan.name);
    await saveLast(ctx, stage);
    return false;
  } finally {
    optimizer.dispose();
  }
}

/**
 * Stage 2 starts from stage 1's selected checkpoint (unless resuming in the middle of stage 2); a stage whose step
 * needs a teacher gets one, a copy of the student at the stage's start.
 */
async function initStageModels(ctx: RunContext, plan: StagePlan, resuming: boolean): Promise<void> {
  const { state, student } = ctx;
  if (plan.name === 'selftrain' && !resuming && state.completedStages.includes('pretrain')) {
    const init =
      ctx.config.train.stages.selftrain.initFrom === 'best' && state.best.pretrain
        ? 'pretrain-best'
        : 'pretrain-last';
    await loadCheckpointWeights(ctx.paths.checkpoints, init, { student });
    ctx.log.info({ event: 'init', stage: plan.name, from: init });
  }
  const needsTeacher = plan.variant.needsTeacher;
  if (needsTeacher && ctx.teacher === null) ctx.teacher = createTeacher(student);
  else if (needsTeacher && ctx.teacher && !resuming) copyWeights(ctx.teacher, student);
}

/**
 * A resumed stage gets its weights, optimizer slots and loader position back from `last`; stage 2 with
 * `carryOptimizer` starts from stage 1's final optimizer slots.
 */
async function restoreStage(
  ctx: RunContext,
  plan: StagePlan,
  optimizer: Optimizer,
  loader: BatchLoader,
  resuming: boolean,
  startIteration: number,
): Promise<void> {
  const { paths, student, run } = ctx;
  const resumeState = run.resumeState;
  const carry = plan.name === 'selftrain' && ctx.config.train.stages.selftrain.carryOptimizer && !resuming;
  if (resuming && resumeState) {
    const models: Record<string, SegmentationModel> = { student };
    if (ctx.teacher) models.teacher = ctx.teacher;
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
    ctx.log.info({ event: 'resume', stage: plan.name, iteration: startIteration });
  } else if (carry && existsSync(checkpointFiles(paths.checkpoints, 'pretrain-last').weights)) {
    const scratch = createModel(ctx.config, {
      name: 'scratch',
      rng: Rng.stream(ctx.config.train.seed, 'scratch'),
    });
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
}

/**
 * Iteration `i` of a stage: load batch → prepare and optimizer step → EMA → progress event → validate/select →
 * history row and log line → checkpoint. The learning rate is the schedule's for this iteration.
 */
async function trainIteration(ctx: RunContext, stage: StageRun, i: number): Promise<void> {
  const { plan, optimizer } = stage;
  const t0 = Date.now();
  optimizer.learningRate = learningRate(plan.schedule, plan.optimizer.lr, i, plan.iterations);
  const batch = await stage.loader.next();
  const { loss, step } = await optimizerStep(ctx, stage, batch, i);
  updateTeacher(ctx, stage);
  ctx.state.iteration = i;
  ctx.iterationsThisCall++;
  const ms = Date.now() - t0;
  stage.windowMs += ms;
  stage.windowCount++;
  ctx.emit({
    type: 'iteration',
    stage: plan.name,
    iteration: i,
    iterations: plan.iterations,
    loss,
    lr: optimizer.learningRate,
    best: ctx.state.best[plan.name]?.dice ?? null,
    msPerIteration: ms,
  });
  const valDice = await validateAndSelect(ctx, stage, i);
  logIteration(ctx, stage, i, loss, step, valDice);
  if (i % ctx.config.train.checkpointInterval === 0 && i < plan.iterations) await saveLast(ctx, stage);
}

/**
 * The two phases of a step (§4.9): the variant's `prepare` outside any gradient (teacher targets, mixes), then
 * the optimizer step on the student's loss. Frees the batch; a non-finite loss stops the run. The host reads of
 * both phases are settled after each (at once on the sync backends, by `await` on `webgpu`).
 */
async function optimizerStep(
  ctx: RunContext,
  stage: StageRun,
  batch: TrainingBatch,
  i: number,
): Promise<{ loss: number; step: StepLoss | undefined }> {
  const { plan } = stage;
  const stepBatch: StepBatch = {
    labeledImages: batch.labeledImages,
    labeledLabels: batch.labeledLabels,
    unlabeledImages: batch.unlabeledImages ?? undefined,
  };
  const stepContext: StepContext = { ...stage.step, iteration: i - 1 };
  let step: StepLoss | undefined;
  let loss: number;
  let prepared: ReturnType<typeof plan.variant.prepare> | undefined;
  try {
    prepared = plan.variant.prepare(stepContext, stepBatch);
    await settleHostReads();
    const ready = prepared;
    loss = await stage.optimizer.stepAsync(() => {
      step = plan.variant.loss(stepContext, stepBatch, ready);
      return step.loss;
    }, ctx.student.namedParameters());
    await settleHostReads();
  } finally {
    discardHostReads();
    prepared?.dispose();
    disposeBatch(batch);
  }
  if (!Number.isFinite(loss)) {
    throw new SsmisError(
      `the ${plan.name} loss became ${loss} at iteration ${i}; lower the learning rate (train.stages.${plan.name}.optimizer.lr) or check the data`,
    );
  }
  return { loss, step };
}

/** The EMA update of the teacher from the student, for a step that has a teacher. */
function updateTeacher(ctx: RunContext, stage: StageRun): void {
  if (stage.plan.variant.needsTeacher && ctx.teacher) {
    const { teacher: teacherConfig } = ctx.config.method;
    updateEma(ctx.teacher, ctx.student, teacherConfig.emaDecay, {
      includeBatchNormStats: teacherConfig.includeBatchNormStats,
    });
  }
}

/**
 * Every `interval` iterations, as the reference's `iter % 200 == 0`, when there is a selection split: validates
 * the student and, when the selection rule says it improved, records it and saves it as the stage's best.
 * Returns the validation Dice, or undefined when this iteration does not validate.
 */
async function validateAndSelect(ctx: RunContext, stage: StageRun, i: number): Promise<number | undefined> {
  const { config, data, state } = ctx;
  const { plan } = stage;
  if (!(data.validationIds.length > 0 && i % config.train.validation.interval === 0)) return undefined;
  const result = await validateModel(ctx.student, data.dataset, data.validationIds, {
    patch: config.eval.patch,
    strides: config.train.validation.strides,
    sliceResize: config.data.sliceResize,
    batchWindows: config.eval.batchWindows,
  });
  const valDice = result.meanDice;
  const selected = selectBest(config.train.validation.selection, state.best[plan.name]?.dice, valDice);
  const improved = selected !== null;
  if (improved) {
    state.best[plan.name] = { dice: selected, iteration: i };
    await saveCheckpoint(
      ctx.paths.checkpoints,
      plan.name === 'pretrain' ? 'pretrain-best' : 'best',
      { student: ctx.student },
      {
        metadata: { stage: plan.name, iteration: String(i), dice: String(valDice) },
      },
    );
  }
  ctx.log.info({
    event: 'validation',
    stage: plan.name,
    iteration: i,
    dice: valDice,
    improved,
    perCase: result.perCase,
  });
  ctx.emit({ type: 'validation', stage: plan.name, iteration: i, dice: valDice, improved });
  return valDice;
}

/**
 * Every `logInterval` iterations, at the stage's last one and whenever it validated: a history row (its time is
 * the mean since the previous row) and a log line.
 */
function logIteration(
  ctx: RunContext,
  stage: StageRun,
  i: number,
  loss: number,
  step: StepLoss | undefined,
  valDice: number | undefined,
): void {
  const { plan } = stage;
  const logDue = i % ctx.config.train.logInterval === 0 || i === plan.iterations || valDice !== undefined;
  if (!logDue || !step) return;
  const row: HistoryRow = {
    stage: plan.name,
    iteration: i,
    lr: stage.optimizer.learningRate,
    loss,
    parts: step.parts,
    diagnostics: step.diagnostics,
    msPerIteration: stage.windowMs / stage.windowCount,
    valDice,
  };
  ctx.state.history.push(row);
  ctx.log.info({
    event: 'iteration',
    ...row,
    numTensors: tf.memory().numTensors,
  });
  stage.windowMs = 0;
  stage.windowCount = 0;
}

/** Writes `last` (weights, optimizer slots, RNG and loader state, history) and the history files. */
async function saveLast(ctx: RunContext, stage: StageRun): Promise<void> {
  const { state } = ctx;
  const models: Record<string, SegmentationModel> = { student: ctx.student };
  if (ctx.teacher && stage.plan.variant.needsTeacher) models.teacher = ctx.teacher;
  state.rng = { cuboid: ctx.cuboidRng.getState(), dropout: ctx.dropoutRng.getState() };
  state.elapsedSeconds = ctx.elapsedBefore + (Date.now() - ctx.started) / 1000;
  await saveCheckpoint(ctx.paths.checkpoints, 'last', models, {
    optimizer: stage.optimizer,
    state: { ...state, loader: stage.loader.getState() },
  });
  await writeHistoryFiles(ctx.paths, state.history, ctx.plans);
  ctx.emit({ type: 'checkpoint', stage: stage.plan.name, iteration: state.iteration, file: 'last' });
}

/**
 * After the last stage: the selected model (the last stage's best when it has one, else the final weights) is
 * loaded into the student, a pre-training-only run's best is also the run's `best`, the history files are
 * written and the final-evaluation hook runs. Returns which checkpoint holds the final model.
 */
async function finishRun(ctx: RunContext): Promise<'best' | 'last'> {
  const { config, paths, plans, state } = ctx;
  let finalCheckpoint: 'best' | 'last' = 'last';
  const lastStage = plans[plans.length - 1]?.name ?? 'selftrain';
  const bestName = lastStage === 'pretrain' ? 'pretrain-best' : 'best';
  const best = state.best[lastStage] ?? null;
  if (best && existsSync(checkpointFiles(paths.checkpoints, bestName).weights)) {
    await loadCheckpointWeights(paths.checkpoints, bestName, { student: ctx.student });
    finalCheckpoint = 'best';
  }
  if (bestName === 'pretrain-best' && finalCheckpoint === 'best') {
    // A pre-training-only run: its selected model is also the run's `best`.
    await copyCheckpoint(paths.checkpoints, bestName, 'best');
  }
  await writeHistoryFiles(paths, state.history, plans);
  if (ctx.options.finalEvaluation) {
    await ctx.options.finalEvaluation({
      config,
      model: ctx.student,
      dataset: ctx.data.dataset,
      paths,
      selected: { checkpoint: finalCheckpoint, split: config.train.validation.split, best },
    });
  }
  ctx.log.info({ event: 'done', finalCheckpoint, best: state.best });
  ctx.emit({ type: 'done', runDir: paths.dir });
  return finalCheckpoint;
}

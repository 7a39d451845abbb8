/**
 * Evaluation from a run folder: a checkpoint file → its model-selection record and its run's default report
 * folder (`<run>/eval`), the `evaluate` entry point behind `ssmis eval --config C --checkpoint CK`, and the
 * final-evaluation hook that training calls with its selected model.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../backend/init.js';
import type { SsmisConfig } from '../config/index.js';
import { requireConfig } from '../config/index.js';
import type { Dataset } from '../data/dataset.js';
import { configSplitIds, openConfigDataset } from '../data/from-config.js';
import { loadModelFromCheckpoint, runDirOfCheckpoint } from '../infer/model.js';
import type { FinalEvaluationContext } from '../train/train.js';
import { requireModel, requireObject, requireOptions, requireString } from '../util/args.js';
import { InputError } from '../util/errors.js';
import { type EvaluationProgress, type EvaluationResult, evaluateModel } from './evaluate-model.js';
import { prepareReportTarget } from './output-guard.js';
import type { SelectionInfo } from './report-stats.js';
import { formatReportHeader, formatReportNotes, formatSummaryTable } from './report-text.js';

/**
 * The model-selection record of a checkpoint file (reported so a number states how its model was chosen):
 * `best`/`pretrain-best` were selected on `train.validation.split`, `last`/`pretrain-last` are the last weights, any
 * other file is not recorded. The best value and iteration come from the run's `last.json` state when it is there.
 */
export async function selectionOfCheckpoint(checkpoint: string, config: SsmisConfig): Promise<SelectionInfo> {
  const base = path.basename(checkpoint).replace(/\.safetensors$/, '');
  const file = path.resolve(checkpoint);
  const valSplit = config.train.validation.split;
  if (base === 'last' || base === 'pretrain-last') return { split: 'last', checkpoint: file };
  if (base !== 'best' && base !== 'pretrain-best') return { split: null, checkpoint: file };
  const selection: SelectionInfo = { split: valSplit === 'none' ? 'last' : valSplit, checkpoint: file };
  try {
    const state = JSON.parse(await fs.readFile(path.join(path.dirname(file), 'last.json'), 'utf8')) as {
      best?: Record<string, { dice: number; iteration: number }>;
    };
    const best = base === 'best' ? (state.best?.selftrain ?? state.best?.pretrain) : state.best?.pretrain;
    if (best && typeof best.dice === 'number' && typeof best.iteration === 'number') {
      selection.best = { dice: best.dice, iteration: best.iteration };
    }
  } catch {
    // No state beside the weights (a copied checkpoint): the best value is simply not recorded.
  }
  return selection;
}

export interface EvaluateOptions {
  /** Weights file (`student.*` tensors), e.g. `runs/la/checkpoints/best.safetensors`. */
  checkpoint: string;
  /** Default `config.eval.split`. */
  split?: 'test' | 'val';
  /** Default `<run>/eval` when the checkpoint is in `<run>/checkpoints/`; required otherwise. */
  outDir?: string;
  /** Replace an earlier ssmis report in the output folder (never a folder holding anything else). */
  overwrite?: boolean;
  onProgress?: (progress: EvaluationProgress) => void;
}

/**
 * What `ssmis eval --config C --checkpoint CK` runs (public API): opens `config.data.dataset`, builds the
 * model, loads the checkpoint's student weights, evaluates the split and writes the eval folder.
 * @param config - A checked config (`loadConfig`): dataset, splits, network, backend and `eval` settings.
 * @param options - The checkpoint file, and optionally the split, the output folder, `overwrite` and a
 *   progress callback (see {@link EvaluateOptions}).
 * @returns The per-case metrics, the report summary and the folder written.
 * @throws InputError when `config` or `options` is malformed, the checkpoint is not in a run folder and no
 *   `outDir` is given, the checkpoint file does not exist or does not fit the config's network, the output
 *   folder may not be written (a file, a dataset data folder, a folder holding anything but an ssmis report, or
 *   an earlier report without `overwrite`), the dataset cannot be opened, the split has no case or lists one
 *   twice, or a case cannot be loaded.
 * @example
 * ```ts
 * const config = await loadConfig('configs/la.yaml');
 * const { summary, outDir } = await evaluate(config, { checkpoint: 'runs/la/checkpoints/best.safetensors' });
 * // outDir === 'runs/la/eval'
 * ```
 */
export async function evaluate(config: SsmisConfig, options: EvaluateOptions): Promise<EvaluationResult> {
  config = requireConfig('evaluate', 'config', config);
  requireObject('evaluate', 'options', options);
  requireString('evaluate', 'options.checkpoint', options.checkpoint);
  const runDir = runDirOfCheckpoint(options.checkpoint);
  const outDir = options.outDir ?? (runDir === null ? undefined : path.join(runDir, 'eval'));
  if (outDir === undefined) {
    throw new InputError(
      `${options.checkpoint} is not inside a run folder (<run>/checkpoints/); pass an output folder (--out DIR)`,
    );
  }
  const split = options.split ?? config.eval.split;
  if (!existsSync(options.checkpoint))
    throw new InputError(`${options.checkpoint}: checkpoint file not found`);
  // The output folder is checked before any work (evaluateModel checks it again when it opens it).
  await prepareReportTarget(outDir, {
    overwrite: options.overwrite,
    flag: options.outDir === undefined ? 'the default output folder' : '--out',
  });
  await initBackend({ backend: config.backend.name, fastKernels: config.backend.fastKernels });
  const dataset = await openConfigDataset(config, 0, runDir ?? undefined);
  const ids = await configSplitIds(config, dataset, split);
  if (ids.length === 0) {
    throw new InputError(`the dataset ${dataset.dir} has no '${split}' cases to evaluate (choose --split)`);
  }
  const selection = await selectionOfCheckpoint(options.checkpoint, config);
  const model = await loadModelFromCheckpoint(config, options.checkpoint);
  try {
    return await evaluateModel({
      model,
      dataset,
      ids,
      config,
      outDir: path.resolve(outDir),
      overwrite: options.overwrite,
      idsSource: splitSourceText(config, dataset, split),
      onProgress: options.onProgress,
      selection,
      split,
    });
  } finally {
    model.dispose();
  }
}

/** Where the case list of a split comes from, for messages: the config's list or list file, or dataset.json. */
function splitSourceText(config: SsmisConfig, dataset: Dataset, split: 'train' | 'val' | 'test'): string {
  const override = config.data.splits[split];
  if (override === undefined) {
    return dataset.info.ownSplits
      ? `${path.join(dataset.dir, 'dataset.json')} splits.${split}`
      : `${split} of the ${dataset.info.splitSource}`;
  }
  return typeof override === 'string' ? `data.splits.${split} file ${override}` : `data.splits.${split}`;
}

export interface FinalEvaluationOptions {
  /** Receives the header line and the table (the CLI prints them). */
  print?: (text: string) => void;
  onProgress?: (progress: EvaluationProgress) => void;
}

/**
 * The hook `train` calls with the selected model (TrainOptions.finalEvaluation): evaluates `config.eval.split`
 * into `<run>/eval`, recording the selection split and checkpoint. A dataset without cases in that split is
 * not an error after a finished training (choice): nothing is evaluated, `print` says so, null is returned.
 * @param context - What training hands over: config, model, dataset, run paths and the selected checkpoint.
 * @param options - Where to print the header, table and notes, and a progress callback.
 * @returns The evaluation, or null when the split has no case.
 * @throws InputError when `context` or `options` is malformed, the split lists a case twice, or a case cannot
 *   be loaded.
 * @example
 * ```ts
 * await train(config, {
 *   finalEvaluation: async (ctx) => {
 *     await finalEvaluation(ctx, { print: console.log });
 *   },
 * });
 * ```
 */
export async function finalEvaluation(
  context: FinalEvaluationContext,
  options: FinalEvaluationOptions = {},
): Promise<EvaluationResult | null> {
  requireObject('finalEvaluation', 'context', context);
  requireModel('finalEvaluation', 'context.model', context.model);
  requireObject('finalEvaluation', 'context.dataset', context.dataset, 'a dataset (openDataset)');
  context = { ...context, config: requireConfig('finalEvaluation', 'context.config', context.config) };
  requireOptions('finalEvaluation', 'options', options);
  const { config, model, dataset, paths, selected } = context;
  const split = config.eval.split;
  const ids = await configSplitIds(config, dataset, split);
  if (ids.length === 0) {
    options.print?.(`no '${split}' cases in ${dataset.dir}: final evaluation skipped`);
    return null;
  }
  const checkpoint = path.join(paths.checkpoints, `${selected.checkpoint}.safetensors`);
  const selection: SelectionInfo = {
    split: selected.checkpoint === 'last' || selected.split === 'none' ? 'last' : selected.split,
    checkpoint,
    best: selected.best === null ? null : { dice: selected.best.dice, iteration: selected.best.iteration },
  };
  const result = await evaluateModel({
    model,
    dataset,
    ids,
    config,
    outDir: paths.evalDir,
    // The run's own final report: training that finishes again (after a resume) replaces it.
    overwrite: true,
    idsSource: splitSourceText(config, dataset, split),
    onProgress: options.onProgress,
    selection,
    split,
  });
  options.print?.(
    [
      formatReportHeader(result.summary),
      formatSummaryTable(result.summary),
      ...formatReportNotes(result.summary),
      ...result.summary.warnings.map((w) => `warning: ${w}`),
    ].join('\n'),
  );
  return result;
}

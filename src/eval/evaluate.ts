/**
 * Evaluation of a model on a dataset split, and of NIfTI predictions against labels (docs/equations.md §5):
 * inference (3-D sliding window or 2-D slice by slice), optional largest-component post-processing, per-class metrics
 * under a protocol, and the `eval/` folder (cases.csv, summary.json, predictions, probabilities, report.html with
 * overlays).
 *
 * A report folder is written as one set (output-guard.ts): everything goes to a temp folder beside it that
 * replaces it at once when complete; an earlier report is replaced only with `overwrite`, and a folder that
 * holds anything else never.
 *
 * Memory is bounded by one case: cases are loaded one at a time (the dataset's cache is the caller's choice;
 * `evaluate` opens it without cache), inference keeps its tensors inside `tf.tidy` per window batch, and only
 * the metrics of finished cases are kept.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../backend/init.js';
import type { SsmisConfig } from '../config/index.js';
import { requireConfig } from '../config/index.js';
import { checkUniqueIds } from '../data/case-list.js';
import type { Dataset } from '../data/dataset.js';
import { configSplitIds, openConfigDataset } from '../data/from-config.js';
import { evalInferenceSettings, foregroundClasses, inferCase } from '../infer/infer-case.js';
import { loadModelFromCheckpoint, runDirOfCheckpoint } from '../infer/model.js';
import { keepLargestComponents } from '../infer/post-process.js';
import type { InferenceModel } from '../infer/sliding-window.js';
import { checkSameGrid, GEOMETRY_TOLERANCE_MM, spatialShape } from '../io/geometry.js';
import { readNifti, volumeFromArray, writeNifti } from '../io/nifti.js';
import type { Volume } from '../io/volume.js';
import type { Connectivity } from '../method/connected-components.js';
import type { FinalEvaluationContext } from '../train/train.js';
import {
  requireModel,
  requireObject,
  requireOptions,
  requireString,
  requireStringArray,
} from '../util/args.js';
import { InputError } from '../util/errors.js';
import { openReportFolder, prepareReportTarget, type ReportFolder, statInput } from './output-guard.js';
import {
  assertClassIds,
  type CaseEvaluation,
  type DistanceUnits,
  type EvaluationProtocol,
  evaluateCase,
} from './protocol.js';
import {
  buildReport,
  type EvaluationReport,
  type EvaluationSource,
  formatReportHeader,
  formatReportNotes,
  formatSummaryTable,
  type OverlayRef,
  type SelectionInfo,
  safeFileStem,
  writeCaseOverlays,
  writeReportFiles,
} from './report.js';

/** Progress of a long evaluation: cases done, and the windows (or slices) of the current case. */
export interface EvaluationProgress {
  /** `window`: a forward pass of the current case finished; `case`: the case is finished. */
  phase: 'window' | 'case';
  casesDone: number;
  cases: number;
  caseId: string;
  windowsDone: number;
  windows: number;
}

export interface EvaluationResult {
  cases: CaseEvaluation[];
  summary: EvaluationReport;
  /** The folder written, when there was one. */
  outDir?: string;
}

export interface EvaluateModelOptions {
  model: InferenceModel;
  dataset: Dataset;
  ids: readonly string[];
  /** `eval` settings (patch, strides, protocol, largestComponent, connectivity, units, batchWindows,
   * savePredictions, saveProbabilities) and, for 2-D models, `data.sliceResize`. */
  config: SsmisConfig;
  outDir?: string;
  /** Replace an earlier ssmis report in `outDir` (never a folder holding anything else). Default false. */
  overwrite?: boolean;
  /** Where `ids` came from, named when an id is listed twice (e.g. the split file). */
  idsSource?: string;
  onProgress?: (progress: EvaluationProgress) => void;
  /** How the model was selected (recorded in summary.json and the header). */
  selection?: SelectionInfo;
  /** Split name recorded as the source (when `ids` is a split). */
  split?: string | null;
  /** Fixed report date (tests). */
  createdAt?: string;
}

/**
 * Runs `write` on a report folder for `outDir` (see output-guard.ts: written in a temp folder beside it and
 * put in place as a whole), or on null without `outDir`.
 */
async function withReportFolder<T>(
  outDir: string | undefined,
  overwrite: boolean | undefined,
  write: (folder: ReportFolder | null) => Promise<T>,
): Promise<T> {
  if (outDir === undefined) return write(null);
  const folder = await openReportFolder(outDir, { overwrite });
  try {
    const result = await write(folder);
    await folder.commit();
    return result;
  } catch (error) {
    await folder.discard();
    throw error;
  }
}

/** Path of an id's file in a sub-folder of `outDir`, refusing ids that would leave it. */
function caseFile(outDir: string, folder: string, id: string, suffix: string): string {
  return path.join(outDir, folder, `${safeFileStem(id)}${suffix}`);
}

function classNamesOf(dataset: Dataset): Record<number, string> {
  const names: Record<number, string> = {};
  for (const [name, id] of Object.entries(dataset.info.labels)) names[id] = name;
  return names;
}

/**
 * Evaluates `model` on the cases `ids` of `dataset` with the config's `eval` settings. Classes are the
 * foreground classes 1..K−1 of the model. With `outDir`: predictions (uint8, in the case's exact geometry)
 * when `eval.savePredictions`, probabilities (float32; the foreground map for two classes, `[X, Y, Z, K]`
 * otherwise) when `eval.saveProbabilities`, overlays, cases.csv, summary.json and report.html.
 */
export async function evaluateModel(options: EvaluateModelOptions): Promise<EvaluationResult> {
  requireObject('evaluateModel', 'options', options);
  requireModel('evaluateModel', 'options.model', options.model);
  requireObject('evaluateModel', 'options.dataset', options.dataset, 'a dataset (openDataset)');
  requireStringArray('evaluateModel', 'options.ids', options.ids);
  options = { ...options, config: requireConfig('evaluateModel', 'options.config', options.config) };
  const { model, dataset, ids, config, outDir } = options;
  const ev = config.eval;
  if (ids.length === 0) throw new InputError('evaluateModel: no case to evaluate (empty case list)');
  // A case listed twice would be scored twice and weigh double in every mean.
  checkUniqueIds(ids, options.idsSource ?? 'evaluateModel: the case list');
  if (outDir !== undefined) for (const id of ids) safeFileStem(id);
  const classes = foregroundClasses(model);
  const settings = evalInferenceSettings(config);
  const lcc = settings.largestComponent;
  const cases: CaseEvaluation[] = [];
  const overlays = new Map<string, OverlayRef[]>();
  return withReportFolder(outDir, options.overwrite, async (folder) => {
    for (const [index, id] of ids.entries()) {
      const c = await dataset.loadCase(id);
      const report = (done: number, total: number) =>
        options.onProgress?.({
          phase: 'window',
          casesDone: index,
          cases: ids.length,
          caseId: id,
          windowsDone: done,
          windows: total,
        });
      const result = await inferCase(model, c, settings, report);
      const pred = result.labels;
      cases.push(
        evaluateCase(pred, c.label, c.shape, {
          protocol: ev.protocol,
          units: ev.units,
          spacing: c.spacing,
          classes,
          caseId: id,
        }),
      );
      if (folder !== null) {
        if (ev.savePredictions) {
          await writeNifti(
            caseFile(folder.dir, 'predictions', id, '.nii.gz'),
            volumeFromArray(pred, [...c.shape], { like: c.imageVolume }),
            { datatype: 'uint8', description: 'ssmis prediction' },
          );
        }
        if (ev.saveProbabilities) {
          await writeNifti(
            caseFile(folder.dir, 'probabilities', id, '.nii.gz'),
            volumeFromArray(result.probabilities, result.probabilityShape, { like: c.imageVolume }),
            { datatype: 'float32', description: 'ssmis probabilities' },
          );
        }
        overlays.set(
          id,
          await writeCaseOverlays(folder.dir, id, {
            image: c.image,
            channels: c.channels,
            label: c.label,
            pred,
            shape: c.shape,
          }),
        );
      }
      options.onProgress?.({
        phase: 'case',
        casesDone: index + 1,
        cases: ids.length,
        caseId: id,
        windowsDone: 1,
        windows: 1,
      });
    }
    const source: EvaluationSource = { mode: 'model', dataset: dataset.dir, split: options.split ?? null };
    const summary = buildReport(cases, {
      largestComponent: lcc,
      selection: options.selection,
      source,
      classNames: classNamesOf(dataset),
      createdAt: options.createdAt,
    });
    if (folder === null) return { cases, summary };
    await writeReportFiles(folder.dir, summary, cases, overlays);
    return { cases, summary, outDir: outDir as string };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Model from a checkpoint

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
  const dataset = await openConfigDataset(config, 0);
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
  if (override === undefined) return `${path.join(dataset.dir, 'dataset.json')} splits.${split}`;
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

// ---------------------------------------------------------------------------------------------------------
// Predictions against labels, no model

const NIFTI_RE = /\.nii(\.gz)?$/i;

/** The case name of a NIfTI file name: extension removed, and an nnU-Net `_0000` channel suffix. */
export function caseKeyOf(fileName: string): string {
  return fileName.replace(NIFTI_RE, '').replace(/_0000$/, '');
}

async function statKind(p: string, what: string): Promise<'file' | 'dir'> {
  return (await statInput(p, what)).isDirectory() ? 'dir' : 'file';
}

async function niftiFilesByCase(dir: string, what: string): Promise<Map<string, string>> {
  const names = (await fs.readdir(dir)).filter((n) => NIFTI_RE.test(n)).sort();
  const out = new Map<string, string>();
  for (const name of names) {
    // A broken link or a symlink loop is named now, before any file is read.
    await statInput(path.join(dir, name), what);
    const key = caseKeyOf(name);
    const before = out.get(key);
    if (before !== undefined) {
      throw new InputError(
        `${what} folder ${dir}: ${path.basename(before)} and ${name} are the same case "${key}"; keep one`,
      );
    }
    out.set(key, path.join(dir, name));
  }
  if (out.size === 0) throw new InputError(`${what} folder ${dir}: no .nii or .nii.gz file`);
  return out;
}

export interface FilePair {
  caseId: string;
  pred: string;
  label: string;
}

/** Pairs prediction and label files by case name (see {@link caseKeyOf}); a missing partner is an error. */
export async function matchPredictionFiles(pred: string, label: string): Promise<FilePair[]> {
  const kp = await statKind(pred, 'prediction');
  const kl = await statKind(label, 'label');
  if (kp !== kl) {
    throw new InputError(
      `--pred ${pred} is a ${kp === 'dir' ? 'folder' : 'file'} but --label ${label} is a ${kl === 'dir' ? 'folder' : 'file'}; give two files or two folders`,
    );
  }
  if (kp === 'file') return [{ caseId: caseKeyOf(path.basename(label)), pred, label }];
  const preds = await niftiFilesByCase(pred, 'prediction');
  const labels = await niftiFilesByCase(label, 'label');
  const noPred = [...labels.keys()].filter((k) => !preds.has(k));
  const noLabel = [...preds.keys()].filter((k) => !labels.has(k));
  if (noPred.length > 0 || noLabel.length > 0) {
    const list = (ids: string[]) =>
      `${ids.slice(0, 10).join(', ')}${ids.length > 10 ? `, … (${ids.length})` : ''}`;
    const parts: string[] = [];
    if (noPred.length > 0) parts.push(`no prediction in ${pred} for label case(s) ${list(noPred)}`);
    if (noLabel.length > 0) parts.push(`no label in ${label} for prediction case(s) ${list(noLabel)}`);
    throw new InputError(`cases do not match: ${parts.join('; ')}`);
  }
  return [...labels.keys()].map((k) => ({
    caseId: k,
    pred: preds.get(k) as string,
    label: labels.get(k) as string,
  }));
}

function spatialShapeOf(volume: Volume, file: string): [number, number, number] {
  return spatialShape(volume.shape, (shape) => `${file}: shape ${shape}; expected a 3-D label map`);
}

/** Label values as integers (float-stored labels within 1e-3 of an integer are rounded), else InputError. */
function integerValues(volume: Volume, file: string): Int32Array {
  const src = volume.data;
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = Number(src[i]);
    const r = Math.round(v);
    if (!(Math.abs(v - r) <= 1e-3) || r < -2147483648 || r > 2147483647) {
      throw new InputError(`${file}: value ${v} is not an integer label (expected integer class ids)`);
    }
    out[i] = r;
  }
  return out;
}

export interface EvaluateFilesOptions {
  /** A NIfTI file or a folder of them. */
  pred: string;
  /** A NIfTI file or a folder of them (matched to `pred` by case name). */
  label: string;
  /** Default `strict`. */
  protocol?: EvaluationProtocol;
  /** Default: `mm` under strict, `voxel` under paper. */
  units?: DistanceUnits;
  /** Default: every non-zero value found in the labels. */
  classes?: number[];
  /** Default off. */
  largestComponent?: Connectivity | false;
  outDir?: string;
  /** Replace an earlier ssmis report in `outDir` (never a folder holding anything else). Default false. */
  overwrite?: boolean;
  onProgress?: (progress: EvaluationProgress) => void;
  createdAt?: string;
}

/**
 * `ssmis eval --pred P --label L`: scores NIfTI predictions against labels without a model. Each pair must
 * have the same spatial shape and affines within {@link GEOMETRY_TOLERANCE_MM}; spacing (for mm) comes from
 * the label. Writes cases.csv, summary.json and report.html (no overlays: there is no image) to `outDir`.
 */
export async function evaluateFiles(options: EvaluateFilesOptions): Promise<EvaluationResult> {
  requireObject('evaluateFiles', 'options', options);
  requireString('evaluateFiles', 'options.pred', options.pred);
  requireString('evaluateFiles', 'options.label', options.label);
  const protocol = options.protocol ?? 'strict';
  const units = options.units ?? (protocol === 'paper' ? 'voxel' : 'mm');
  const lcc = options.largestComponent ?? false;
  if (options.classes !== undefined) assertClassIds(options.classes, 'classes');
  // The output folder is checked (and its temp folder made) before any file is read.
  return withReportFolder(options.outDir, options.overwrite, async (folder) => {
    const pairs = await matchPredictionFiles(options.pred, options.label);
    let classes = options.classes;
    if (classes === undefined) {
      const found = new Set<number>();
      for (const pair of pairs) {
        const values = integerValues(await readNifti(pair.label), pair.label);
        for (let i = 0; i < values.length; i++) if (values[i] !== 0) found.add(values[i]);
      }
      classes = [...found].sort((a, b) => a - b);
      if (classes.length === 0) {
        throw new InputError(
          `the labels in ${options.label} have no non-zero voxel; name the classes to score (--classes)`,
        );
      }
    }
    const cases: CaseEvaluation[] = [];
    for (const [index, pair] of pairs.entries()) {
      const labelVolume = await readNifti(pair.label);
      const predVolume = await readNifti(pair.pred);
      const shape = spatialShapeOf(labelVolume, pair.label);
      const predShape = spatialShapeOf(predVolume, pair.pred);
      checkSameGrid(
        { shape: predShape, affine: predVolume.affine },
        { shape, affine: labelVolume.affine },
        {
          shape: (found, expected) =>
            `${pair.pred} has shape ${found} but its label ${pair.label} has ${expected}`,
          affine: (diff) =>
            `${pair.pred} and its label ${pair.label} have different affines (max difference ${diff} mm > ${GEOMETRY_TOLERANCE_MM}); predictions must be in the label's geometry`,
        },
      );
      const label = integerValues(labelVolume, pair.label);
      let pred = integerValues(predVolume, pair.pred);
      if (lcc !== false) {
        const u8 = new Uint8Array(pred.length);
        for (let i = 0; i < pred.length; i++) u8[i] = pred[i] >= 0 && pred[i] <= 255 ? pred[i] : 0;
        const kept = keepLargestComponents(u8, shape, classes, lcc);
        // Only voxels of scored classes can be removed by the component step.
        pred = Int32Array.from(pred, (v, i) => (u8[i] !== kept[i] ? 0 : v));
      }
      cases.push(
        evaluateCase(pred, label, shape, {
          protocol,
          units,
          spacing: labelVolume.spacing.slice(0, 3),
          classes,
          caseId: pair.caseId,
        }),
      );
      options.onProgress?.({
        phase: 'case',
        casesDone: index + 1,
        cases: pairs.length,
        caseId: pair.caseId,
        windowsDone: 1,
        windows: 1,
      });
    }
    const summary = buildReport(cases, {
      largestComponent: lcc,
      source: { mode: 'files', pred: path.resolve(options.pred), label: path.resolve(options.label) },
      createdAt: options.createdAt,
    });
    if (folder === null) return { cases, summary };
    await writeReportFiles(folder.dir, summary, cases);
    return { cases, summary, outDir: options.outDir as string };
  });
}

/**
 * Evaluation of a model on cases of a dataset (docs/equations.md §5): inference (3-D sliding window or 2-D slice
 * by slice), optional largest-component post-processing, per-class metrics under a protocol, and the report
 * folder (cases.csv, summary.json, predictions, probabilities, report.html with overlays).
 *
 * Memory is bounded by one case: cases are loaded one at a time (the dataset's cache is the caller's choice),
 * inference keeps its tensors inside `tf.tidy` per window batch, and only the metrics of finished cases are kept.
 */
import path from 'node:path';
import type { SsmisConfig } from '../config/index.js';
import { requireConfig } from '../config/index.js';
import { checkUniqueIds } from '../data/case-list.js';
import type { Dataset } from '../data/dataset.js';
import { evalInferenceSettings, foregroundClasses, inferCase } from '../infer/infer-case.js';
import type { InferenceModel } from '../infer/sliding-window.js';
import { volumeFromArray, writeNifti } from '../io/nifti.js';
import { requireModel, requireObject, requireStringArray } from '../util/args.js';
import { InputError } from '../util/errors.js';
import { withReportFolder } from './output-guard.js';
import { type CaseEvaluation, evaluateCase } from './protocol.js';
import { writeReportFiles } from './report-files.js';
import { type OverlayRef, safeFileStem, writeCaseOverlays } from './report-overlays.js';
import {
  buildReport,
  type EvaluationReport,
  type EvaluationSource,
  type SelectionInfo,
} from './report-stats.js';

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
 * otherwise) when `eval.saveProbabilities`, overlays, cases.csv, summary.json and report.html, written as one
 * set (output-guard.ts).
 * @param options - The model, the dataset, the case ids, the config and where to write (see
 *   {@link EvaluateModelOptions}).
 * @returns The per-case metrics, the report summary, and the folder written when there was one.
 * @throws InputError when an argument is not what it should be (options, model, dataset, ids, config), the case
 *   list is empty or lists a case twice, a case id cannot be a file name (with `outDir`), `outDir` may not be
 *   written (a file, a dataset data folder, a folder holding anything but an ssmis report, or an earlier
 *   report without `overwrite`), or a case cannot be loaded (missing or malformed image or label).
 * @example
 * ```ts
 * const dataset = await openDataset('data/la', { cacheSize: 0 });
 * const { summary } = await evaluateModel({ model, dataset, ids: dataset.ids('test'), config });
 * console.log(formatSummaryTable(summary));
 * ```
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

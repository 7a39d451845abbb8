/**
 * Evaluation of prediction files against label files, no model (`ssmis eval --pred P --label L`): matching the
 * two by case name, reading them as integer label maps, checking that each pair shares a grid, and scoring them
 * under a protocol into a report folder (no overlays: there is no image).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isLabelValue } from '../data/voxel-values.js';
import { keepLargestComponents } from '../infer/post-process.js';
import { checkSameGrid, GEOMETRY_TOLERANCE_MM, spatialShape } from '../io/geometry.js';
import { readNifti } from '../io/nifti.js';
import type { Volume } from '../io/volume.js';
import type { Connectivity } from '../method/connected-components.js';
import { requireObject, requireString } from '../util/args.js';
import { InputError } from '../util/errors.js';
import type { EvaluationProgress, EvaluationResult } from './evaluate-model.js';
import { statInput, withReportFolder } from './output-guard.js';
import {
  assertClassIds,
  type CaseEvaluation,
  type DistanceUnits,
  type EvaluationProtocol,
  evaluateCase,
} from './protocol.js';
import { writeReportFiles } from './report-files.js';
import { buildReport } from './report-stats.js';

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

/** Label values as 32-bit integers (the one label-value rule, {@link isLabelValue}), else InputError. */
function integerValues(volume: Volume, file: string): Int32Array {
  const src = volume.data;
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = Number(src[i]);
    if (!isLabelValue(v) || v < -2147483648 || v > 2147483647) {
      throw new InputError(`${file}: value ${v} is not an integer label (expected integer class ids)`);
    }
    out[i] = v;
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
 * have the same spatial shape and affines within `GEOMETRY_TOLERANCE_MM`; spacing (for mm) comes from
 * the label. Writes cases.csv, summary.json and report.html (no overlays: there is no image) to `outDir`.
 * @param options - The prediction and label paths (two files or two folders), the protocol, units, classes,
 *   largest-component setting and where to write (see {@link EvaluateFilesOptions}).
 * @returns The per-case metrics, the report summary, and the folder written when there was one.
 * @throws InputError when `pred` or `label` is missing or unreadable, one is a file and the other a folder,
 *   a folder holds no NIfTI file or two files of one case, the cases of the two sides do not match, a file is
 *   not a 3-D map of integer labels, a pair differs in shape or affine, `classes` is not a list of distinct
 *   positive integers, the labels have no foreground and no `classes` are given, or `outDir` may not be written.
 * @example
 * ```ts
 * const { summary } = await evaluateFiles({ pred: 'out/pred', label: 'data/labelsTs', protocol: 'strict' });
 * console.log(formatSummaryTable(summary));
 * ```
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

/**
 * `ssmis prepare <dataset> --raw DIR --out DIR`: an official download (or `ssmis synth` phantoms in the same
 * layout) → the canonical dataset folder (README, "Datasets"), with the reference preprocessing of docs/equations.md
 * §2.1–2.4 and the official splits filtered to the cases present (for LA and Pancreas-NIH, which have no
 * official validation list, `val` holds out the last train cases as one). The caller exits non-zero when
 * `result.failed` is not empty; `result.absent` lists the split cases missing from `--raw`.
 */
import { promises as fs } from 'node:fs';
import { requireObject, requireString } from '../../util/args.js';
import { InputError } from '../../util/errors.js';
import { ACDC_META, acdcUnits } from './acdc.js';
import { BRATS_META, bratsUnits } from './brats2019.js';
import { indexRaw } from './common.js';
import { LA_META, laUnits } from './la.js';
import { PANCREAS_META, pancreasUnits } from './pancreas-nih.js';
import {
  type PrepareCaseEvent,
  type PrepareProgress,
  type PrepareResult,
  type PrepareUnit,
  runUnits,
} from './runner.js';
import { officialValList, PRESET_DATASETS, type PresetDataset, readSplitLists } from './splits.js';
import { perAxis, type Shape3 } from './steps.js';

export { parseInfoCfg } from './acdc.js';
export {
  buildDatasetJson,
  type CaseRecord,
  type DatasetMeta,
  type PrepareCaseEvent,
  type PreparedCase,
  type PrepareProgress,
  type PrepareResult,
} from './runner.js';
export {
  defaultSplitsDir,
  holdOutValidation,
  officialValList,
  PRESET_DATASETS,
  type PresetDataset,
  readSplitLists,
  type SplitLists,
} from './splits.js';
export {
  type BBox,
  boundingBox,
  brainCropBox,
  type CropBox,
  clip,
  clipUpper,
  cropAffine,
  cropArray,
  cropShape,
  cumulativeClipValue,
  type LaCropOptions,
  laCropBox,
  meanStd,
  minMaxNormalize,
  type PancreasCropOptions,
  pancreasCropBox,
  perAxis,
  type Shape3,
  zscore,
} from './steps.js';

export interface PrepareOptions {
  dataset: PresetDataset;
  /** The raw download folder. */
  raw: string;
  /** The canonical dataset folder to write. */
  out: string;
  /** Seed of the random crop margins (LA). Default 0. */
  seed?: number;
  /**
   * Prepare every case again, even when its outputs exist and its raw files are unchanged; also required to
   * rebuild an `out` that was prepared from another raw folder or dataset (the cases prepared there are
   * removed first). Without it such an `out` is refused. A folder prepare did not make is always refused.
   */
  force?: boolean;
  /**
   * LA: the padding-rule target (reference [112, 112, 80]); Pancreas: the minimum crop (reference [96, 96,
   * 96]). Small synthetic phantoms use e.g. [32, 32, 32]. A single number applies to every axis.
   */
  minSize?: number | number[];
  /** Pancreas: voxels added around the label bounding box (reference 25). */
  margin?: number;
  /**
   * LA and Pancreas-NIH (no official validation list): hold out this many cases of the train list as the
   * validation split, the last ones in list order among the cases present, so the first (labeled) cases stay
   * in train. 0: none. Absent: the number the existing `out` records (0 for a new one). Only dataset.json
   * changes when it changes: no case is prepared again. Refused when it leaves no train case, and (above 0)
   * for ACDC and BraTS2019, which have an official validation list.
   */
  val?: number;
  /** Official split lists folder (default: the package's `configs/splits`). */
  splitsDir?: string;
  onCase?: (event: PrepareCaseEvent) => void;
  onProgress?: (progress: PrepareProgress) => void;
}

function shape3(value: number | number[] | undefined, name: string): Shape3 | undefined {
  if (value === undefined) return undefined;
  const v = perAxis(value);
  if (v.length !== 3 || v.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new InputError(
      `prepare: ${name} must be a positive integer or three of them, got ${JSON.stringify(value)}`,
    );
  }
  return [v[0], v[1], v[2]];
}

/**
 * Prepares a raw download (or a `synthesize` output) into the canonical dataset folder that training, evaluation
 * and prediction read: one NIfTI image and label per case, cropped and normalised by the dataset's reference
 * rule, the official splits and a `dataset.json`. Cases whose outputs exist and whose raw files are unchanged are
 * skipped, so a second run resumes an interrupted one. Option errors and a raw folder without any listed case
 * are thrown before anything is written; a failing case is reported in `result.failed` and the others go on.
 *
 * @param options - `dataset` (`'la'`, `'acdc'`, `'brats2019'` or `'pancreas-nih'`), `raw` (the raw download
 *   folder), `out` (the dataset folder to write) and optional `seed`, `force`, `minSize`, `margin`, `val`,
 *   `splitsDir`, `onCase`, `onProgress` (see {@link PrepareOptions}).
 * @returns the cases prepared, skipped (already there), failed (with the reason) and absent from `raw`, the
 *   held-out validation cases, and the path of the written `dataset.json`.
 * @throws {@link InputError} when an option is missing or invalid (unknown dataset, `margin` or `minSize` for a
 *   dataset that has none, `val` for a dataset with an official validation list), when `raw` holds none of the
 *   listed cases, or when `out` is a file, a folder prepare did not make, or one prepared from another raw folder
 *   or dataset without `force`.
 * @example
 * const result = await prepareDataset({ dataset: 'la', raw: 'downloads/LA', out: 'data/la' });
 * console.log(result.failed.length === 0 ? 'ready' : result.failed);
 */
export async function prepareDataset(options: PrepareOptions): Promise<PrepareResult> {
  requireObject('prepareDataset', 'options', options);
  requireString('prepareDataset', 'options.raw', options.raw);
  requireString('prepareDataset', 'options.out', options.out);
  const { dataset, raw, out } = options;
  if (!PRESET_DATASETS.includes(dataset)) {
    throw new InputError(
      `prepare: unknown dataset ${JSON.stringify(dataset)} (expected ${PRESET_DATASETS.join(', ')})`,
    );
  }
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new InputError(`prepare: seed must be an integer, got ${seed}`);
  const minSize = shape3(options.minSize, 'minSize');
  const margin = options.margin;
  if (margin !== undefined && (!Number.isInteger(margin) || margin < 0)) {
    throw new InputError(`prepare: margin must be a non-negative integer, got ${margin}`);
  }
  if (margin !== undefined && dataset !== 'pancreas-nih') {
    throw new InputError(`prepare ${dataset}: margin applies to pancreas-nih only`);
  }
  if (minSize !== undefined && dataset !== 'la' && dataset !== 'pancreas-nih') {
    throw new InputError(`prepare ${dataset}: minSize applies to la and pancreas-nih only`);
  }
  const val = options.val;
  if (val !== undefined && (!Number.isInteger(val) || val < 0)) {
    throw new InputError(
      `prepare: val (--val) must be a non-negative integer (train cases to hold out for validation), got ${val}`,
    );
  }
  const officialVal = officialValList(dataset);
  if (val !== undefined && val > 0 && officialVal !== null) {
    throw new InputError(
      `prepare ${dataset}: val (--val) holds out validation cases for datasets without an official validation list (${PRESET_DATASETS.filter((d) => officialValList(d) === null).join(', ')}); ${dataset} has one (configs/splits/${dataset}/${officialVal}), drop --val`,
    );
  }
  const splits = await readSplitLists(dataset, options.splitsDir);
  const ids = [...splits.train, ...splits.val, ...splits.test];
  const index = await indexRaw(raw, 3);
  let found: { units: PrepareUnit[]; absent: string[] };
  let meta = LA_META;
  switch (dataset) {
    case 'la':
      found = laUnits(raw, index, ids, seed, { target: minSize });
      break;
    case 'acdc':
      meta = ACDC_META;
      found = acdcUnits(raw, index, ids);
      break;
    case 'brats2019':
      meta = BRATS_META;
      found = bratsUnits(raw, index, ids);
      break;
    case 'pancreas-nih':
      meta = PANCREAS_META;
      found = pancreasUnits(raw, index, ids, { minSize, margin });
      break;
  }
  if (found.units.length === 0) {
    throw new InputError(
      `${raw}: none of the ${ids.length} ${dataset} cases of the official splits was found (see the README for the expected layout)`,
    );
  }
  // Parameters that change the prepared volumes; a change re-prepares the cases (they are in the fingerprint).
  const params: Record<string, unknown> =
    dataset === 'la'
      ? { seed, minSize: minSize ?? null }
      : dataset === 'pancreas-nih'
        ? { minSize: minSize ?? null, margin: margin ?? null }
        : {};
  return runUnits(meta, splits, found.units, found.absent, {
    out,
    raw: await fs.realpath(raw),
    params,
    force: options.force,
    val,
    onCase: options.onCase,
    onProgress: options.onProgress,
  });
}

/**
 * Validation of a whole dataset folder (an nnU-Net v2 raw folder or one `ssmis prepare` wrote): every case of
 * every split and every unlabeled training case loaded and checked, all problems collected instead of stopping
 * at the first.
 */
import path from 'node:path';
import { requireOptions, requireString } from '../util/args.js';
import { errorMessage } from '../util/errors.js';
import { listCaseImages, type OpenDatasetOptions, openDataset } from './dataset-cases.js';

export interface ValidationProblem {
  /** The case, or null for dataset-level problems. */
  id: string | null;
  message: string;
}

export interface ValidationReport {
  dir: string;
  /** Cases checked (every case of every split, and the unlabeled training cases). */
  checked: number;
  problems: ValidationProblem[];
  /** Cases in imagesTr that no split lists (not an error; those without a label are unlabeled training cases). */
  unlisted: string[];
  /** Unlabeled training cases: images without a label file (`Dataset.imageOnlyIds`). */
  unlabeled: string[];
  /** The split, and where it comes from (dataset.json, or how it was made). */
  splits: { train: number; val: number; test: number; source: string };
  /** Things to know that are not problems (`Dataset.notes`, e.g. imagesTs cases without a label). */
  notes: string[];
  ok: boolean;
}

/**
 * Loads and checks every case of every split and every unlabeled training case, collecting all problems instead
 * of stopping at the first. Also compares `numTraining` with imagesTr (its images, or those with a label). Throws
 * only when the folder itself is unusable.
 * @param dir - The dataset folder.
 * @param options - How to open it (`openDataset` options: unlabeled folder, split of a dataset.json without
 *   splits); the cache is never used.
 * @returns The cases checked, one problem per failing case (or dataset-level mismatch), the cases of
 *   `imagesTr` that no split lists, the unlabeled cases, the split sizes and source, notes, and `ok` when there
 *   is no problem.
 * @throws InputError when `dir` is not a string, or the folder cannot be opened (see {@link openDataset}:
 *   `dataset.json` missing or invalid, a split case without image, `imagesTr` unreadable).
 * @example
 * ```ts
 * const report = await validateDataset('data/la');
 * for (const p of report.problems) console.error(`${p.id ?? 'dataset'}: ${p.message}`);
 * ```
 */
export async function validateDataset(
  dir: string,
  options: Omit<OpenDatasetOptions, 'cacheSize'> = {},
): Promise<ValidationReport> {
  requireString('validateDataset', 'dir', dir);
  requireOptions('validateDataset', 'options', options);
  const dataset = await openDataset(dir, { ...options, cacheSize: 0 });
  const problems: ValidationProblem[] = [];
  const { splits, json } = dataset.info;
  const unlabeled = dataset.imageOnlyIds();
  const all = [...splits.train, ...splits.val, ...splits.test, ...unlabeled];
  const known = await listCaseImages(path.join(dataset.dir, 'imagesTr'), dataset.info.fileEnding);
  const withLabel = known.filter((id) => dataset.hasLabel(id)).length;
  if (json.numTraining !== undefined && json.numTraining !== known.length && json.numTraining !== withLabel) {
    problems.push({
      id: null,
      message: `dataset.json: field "numTraining" is ${json.numTraining} but imagesTr holds ${known.length} cases${withLabel !== known.length ? ` (${withLabel} with a label)` : ''}`,
    });
  }
  for (const id of all) {
    try {
      await dataset.loadCase(id);
    } catch (error) {
      problems.push({ id, message: errorMessage(error) });
    }
  }
  const listed = new Set([...splits.train, ...splits.val, ...splits.test]);
  const unlisted = known.filter((id) => !listed.has(id));
  return {
    dir: dataset.dir,
    checked: all.length,
    problems,
    unlisted,
    unlabeled,
    splits: {
      train: splits.train.length,
      val: splits.val.length,
      test: splits.test.length,
      source: dataset.info.splitSource,
    },
    notes: [...dataset.notes],
    ok: problems.length === 0,
  };
}

/**
 * Validation of a whole canonical dataset folder (`ssmis prepare --verify`): every case of every split loaded
 * and checked, all problems collected instead of stopping at the first.
 */
import { requireString } from '../util/args.js';
import { errorMessage } from '../util/errors.js';
import { listImages, openDataset } from './dataset-cases.js';

export interface ValidationProblem {
  /** The case, or null for dataset-level problems. */
  id: string | null;
  message: string;
}

export interface ValidationReport {
  dir: string;
  /** Cases checked (every case of every split). */
  checked: number;
  problems: ValidationProblem[];
  /** Cases in imagesTr that no split lists (not an error). */
  unlisted: string[];
  ok: boolean;
}

/**
 * Loads and checks every case of every split (for `--verify`), collecting all problems instead of stopping at
 * the first. Also compares `numTraining` with imagesTr. Throws only when `dataset.json` itself is unusable.
 * @param dir - The dataset folder.
 * @returns The cases checked, one problem per failing case (or dataset-level mismatch), the cases of
 *   `imagesTr` that no split lists, and `ok` when there is no problem.
 * @throws InputError when `dir` is not a string, or the folder cannot be opened (see {@link openDataset}:
 *   `dataset.json` missing or invalid, a split case without image, `imagesTr` unreadable).
 * @example
 * ```ts
 * const report = await validateDataset('data/la');
 * for (const p of report.problems) console.error(`${p.id ?? 'dataset'}: ${p.message}`);
 * ```
 */
export async function validateDataset(dir: string): Promise<ValidationReport> {
  requireString('validateDataset', 'dir', dir);
  const dataset = await openDataset(dir, { cacheSize: 0 });
  const problems: ValidationProblem[] = [];
  const { splits, json } = dataset.info;
  const all = [...splits.train, ...splits.val, ...splits.test];
  const known = await listImages(dataset.dir, dataset.info.fileEnding);
  if (json.numTraining !== undefined && json.numTraining !== known.size) {
    problems.push({
      id: null,
      message: `dataset.json: field "numTraining" is ${json.numTraining} but imagesTr holds ${known.size} cases`,
    });
  }
  for (const id of all) {
    try {
      await dataset.loadCase(id);
    } catch (error) {
      problems.push({ id, message: errorMessage(error) });
    }
  }
  const listed = new Set(all);
  const unlisted = [...known].filter((id) => !listed.has(id)).sort();
  return { dir: dataset.dir, checked: all.length, problems, unlisted, ok: problems.length === 0 };
}

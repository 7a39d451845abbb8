/**
 * The official split lists shipped in `configs/splits/<dataset>/` (README, "Datasets"), read by `prepare`
 * (to name and order the cases) and by `synth` (phantoms carry official ids, train first, then val, then
 * test, so the real split path is exercised).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../util/errors.js';
import { readCaseList } from '../case-list.js';
import { DATASET_PRESETS, type DatasetPreset } from '../presets.js';

/** A benchmark with official splits and a `prepare` pipeline: every preset but `custom`. */
export type PresetDataset = Exclude<DatasetPreset, 'custom'>;

export const PRESET_DATASETS: readonly PresetDataset[] = DATASET_PRESETS.filter(
  (preset): preset is PresetDataset => preset !== 'custom',
);

export interface SplitLists {
  train: string[];
  val: string[];
  test: string[];
}

const FILES: Record<PresetDataset, Record<keyof SplitLists, string | null>> = {
  la: { train: 'train.list', val: null, test: 'test.list' },
  acdc: { train: 'train.list', val: 'val.list', test: 'test.list' },
  brats2019: { train: 'train.txt', val: 'val.txt', test: 'test.txt' },
  'pancreas-nih': { train: 'train.list', val: null, test: 'test.list' },
};

/**
 * The file name of a dataset's official validation list, or null when the literature has none (LA and
 * Pancreas-NIH: `prepare --val N` then holds out N train cases as the validation split).
 */
export function officialValList(dataset: PresetDataset): string | null {
  return FILES[dataset].val;
}

/** `configs/splits` of the package: `src/data/prepare` and `dist/data/prepare` are both three levels down. */
export function defaultSplitsDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../configs/splits');
}

/**
 * Reads a dataset's official lists. Lines are trimmed, empty lines dropped, and only the first
 * comma-separated field is kept (the SSL4MIS BraTS lists' convention, §2.2). An id listed twice, in one list
 * or in two, is an error naming the id and the files.
 */
export async function readSplitLists(
  dataset: PresetDataset,
  splitsDir = defaultSplitsDir(),
): Promise<SplitLists> {
  const out: SplitLists = { train: [], val: [], test: [] };
  const fileOf = new Map<string, string>();
  for (const key of ['train', 'val', 'test'] as const) {
    const name = FILES[dataset][key];
    if (name === null) continue;
    const file = path.join(splitsDir, dataset, name);
    out[key] = await readCaseList(file, `the ${key} split list of ${dataset}`);
    for (const id of out[key]) {
      const other = fileOf.get(id);
      if (other !== undefined) {
        throw new InputError(
          `${file}: case "${id}" is also listed in ${other} (a case belongs to one split)`,
        );
      }
      fileOf.set(id, file);
    }
  }
  return out;
}

/**
 * The splits a prepared folder lists when `count` train cases are held out for validation: the last `count`
 * cases of the train list, in list order, among `present` (the cases found in the raw folder or already prepared
 * in `--out`). The last ones, so the first cases of the train split, which `data.labeled` takes as labeled, stay
 * what they are; the choice depends only on the lists and on which cases are present, so a re-run makes the same
 * one. `count` 0 returns `splits` as they are. An InputError when `count` leaves no train case (`what` names the
 * option in the message).
 */
export function holdOutValidation(
  dataset: PresetDataset,
  splits: SplitLists,
  present: ReadonlySet<string>,
  count: number,
  what = `val (--val) ${count}`,
): SplitLists {
  if (count === 0) return splits;
  const train = splits.train.filter((id) => present.has(id));
  if (count >= train.length) {
    throw new InputError(
      `prepare ${dataset}: ${what} leaves no train case: ${train.length} case(s) of the train list are present; hold out at most ${Math.max(train.length - 1, 0)}`,
    );
  }
  const held = new Set(train.slice(train.length - count));
  return {
    train: splits.train.filter((id) => !held.has(id)),
    val: splits.train.filter((id) => held.has(id)),
    test: splits.test,
  };
}

/**
 * What to do about a dataset folder (of `preset`, at `datasetDir`) that has no validation case, for the message
 * of training that selects on `val`: `prepare --val` for a preset without an official validation list.
 */
export function valSplitHint(preset: string, datasetDir: string): string {
  const dataset = PRESET_DATASETS.find((d) => d === preset);
  if (dataset !== undefined && officialValList(dataset) === null) {
    return `hold some train cases out with \`ssmis prepare ${dataset} --raw <raw folder> --out ${datasetDir} --val <n>\` (only dataset.json is rewritten), or use 'none'`;
  }
  return "list validation cases in the splits of its dataset.json or in data.splits.val, or use 'none'";
}

/**
 * The official split lists shipped in `configs/splits/<dataset>/` (dataset-format.md), read by `prepare`
 * (to name and order the cases) and by `synth` (phantoms carry official ids, train first, then val, then
 * test, so the real split path is exercised).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../util/errors.js';
import { readCaseList } from '../case-list.js';

export type PresetDataset = 'la' | 'acdc' | 'brats2019' | 'pancreas-nih';

export const PRESET_DATASETS: readonly PresetDataset[] = ['la', 'acdc', 'brats2019', 'pancreas-nih'];

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

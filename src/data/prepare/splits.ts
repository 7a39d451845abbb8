/**
 * The official split lists shipped in `configs/splits/<dataset>/` (dataset-format.md), read by `prepare`
 * (to name and order the cases) and by `synth` (phantoms carry official ids, train first, then val, then
 * test, so the real split path is exercised).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, InputError } from '../../util/errors.js';

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
 * comma-separated field is kept (the SSL4MIS BraTS lists' convention, §2.2).
 */
export async function readSplitLists(
  dataset: PresetDataset,
  splitsDir = defaultSplitsDir(),
): Promise<SplitLists> {
  const out: SplitLists = { train: [], val: [], test: [] };
  for (const key of ['train', 'val', 'test'] as const) {
    const name = FILES[dataset][key];
    if (name === null) continue;
    const file = path.join(splitsDir, dataset, name);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      throw new InputError(
        `${file}: cannot read the ${key} split list of ${dataset} (${errorMessage(error)})`,
        {
          cause: error,
        },
      );
    }
    out[key] = text
      .split(/\r?\n/)
      .map((l) => l.split(',')[0].trim())
      .filter((l) => l !== '');
  }
  return out;
}

/**
 * The split of a dataset whose dataset.json lists none (an nnU-Net v2 raw folder): a seeded split of its
 * labeled `imagesTr` cases, or one fold of nnU-Net's `splits_final.json`; and the record of the split a run
 * used (`splits.json` in the run folder), which a resumed run and the evaluation of its checkpoints read back so
 * that they see the cases the run started with even if the folder gained cases since.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readInputText } from '../io/read-file.js';
import { writeFileAtomic } from '../util/atomic.js';
import { errorMessage, InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { SplitName } from './dataset-json.js';

/** A splits file lists case ids; anything larger is not one. */
const MAX_SPLITS_BYTES = 16 * 1024 * 1024;

/** The file name of a run's split record in its run folder. */
export const RUN_SPLITS_FILE = 'splits.json';

/** How to split a dataset whose dataset.json has no `splits` (config `data.autoSplit`). */
export interface AutoSplitOptions {
  /** Seed of the shuffle. */
  seed: number;
  /** Fraction of the labeled `imagesTr` cases held out for validation. */
  val: number;
  /** Fraction held out for testing; unused when the folder has `imagesTs/` (then that is the test split). */
  test: number;
  /** nnU-Net's `splits_final.json`: train and val come from its fold `fold` instead of the seeded split. */
  nnunetSplits?: string;
  /** The fold of `nnunetSplits` (0-based). */
  fold: number;
}

/** The default of {@link AutoSplitOptions}: seed 0, 20 % validation, 20 % test. */
export const DEFAULT_AUTO_SPLIT: AutoSplitOptions = { seed: 0, val: 0.2, test: 0.2, fold: 0 };

/** A split and a line saying where it comes from. */
export interface MadeSplit {
  splits: Record<SplitName, string[]>;
  source: string;
}

/**
 * A seeded split of `ids`: sorted, shuffled with `seed`, then `round(test·N)` test cases, `round(val·N)`
 * validation cases and the rest for training (in shuffled order, so the first N labeled cases are a seeded
 * random choice). The same ids, seed and fractions give the same split whatever order `ids` come in.
 * @throws InputError when no case is left for training.
 */
export function seededSplit(
  ids: readonly string[],
  options: { seed: number; val: number; test: number },
): Record<SplitName, string[]> {
  const sorted = [...ids].sort();
  const order = new Rng(options.seed).shuffle(sorted);
  const n = order.length;
  const nTest = Math.round(options.test * n);
  const nVal = Math.round(options.val * n);
  if (n - nTest - nVal < 1) {
    throw new InputError(
      `data.autoSplit: ${n} labeled case(s) leave none for training with val ${options.val} and test ${options.test}; lower the fractions or add labeled cases`,
    );
  }
  return {
    test: order.slice(0, nTest).sort(),
    val: order.slice(nTest, nTest + nVal).sort(),
    train: order.slice(nTest + nVal),
  };
}

function stringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== '');
}

async function readJson(file: string, what: string): Promise<unknown> {
  const text = await readInputText(file, what, {
    maxBytes: MAX_SPLITS_BYTES,
    failure: (error) =>
      new InputError(`${file}: cannot read ${what} (${errorMessage(error)})`, { cause: error }),
  });
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputError(`${file}: not valid JSON (${errorMessage(error)})`, { cause: error });
  }
}

/**
 * Fold `fold` of nnU-Net's `splits_final.json` (a list of `{"train": [...], "val": [...]}`, one per fold).
 * @throws InputError naming the file when it cannot be read, is not that list, or has no fold `fold`.
 */
export async function readNnunetFold(
  file: string,
  fold: number,
): Promise<{ train: string[]; val: string[] }> {
  const raw = await readJson(file, "nnU-Net's splits_final.json (data.autoSplit.nnunetSplits)");
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new InputError(
      `${file}: expected nnU-Net's splits_final.json, a list of folds {"train": [...], "val": [...]}`,
    );
  }
  if (fold >= raw.length) {
    throw new InputError(
      `data.autoSplit.fold: ${fold} is not a fold of ${file} (it has folds 0..${raw.length - 1})`,
    );
  }
  const entry = raw[fold] as { train?: unknown; val?: unknown } | null;
  if (entry === null || typeof entry !== 'object' || !stringList(entry.train) || !stringList(entry.val)) {
    throw new InputError(`${file}: fold ${fold}: expected {"train": [case ids], "val": [case ids]}`);
  }
  if (entry.train.length === 0) throw new InputError(`${file}: fold ${fold}: "train" lists no case`);
  return { train: [...entry.train], val: [...entry.val] };
}

/** The record `splits.json` of a run folder. */
interface RunSplitsRecord {
  source: string;
  dataset: string;
  train: string[];
  val: string[];
  test: string[];
}

/**
 * The split recorded in a run folder's `splits.json`, or null when there is none.
 * @throws InputError naming the file when it exists but cannot be read or is not a split record.
 */
export async function readRunSplits(runDir: string): Promise<MadeSplit | null> {
  const file = path.join(runDir, RUN_SPLITS_FILE);
  if (!existsSync(file)) return null;
  const raw = await readJson(file, "the run's split record");
  const r = raw as Partial<RunSplitsRecord> | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    !stringList(r.train) ||
    !Array.isArray(r.val) ||
    !Array.isArray(r.test) ||
    ![...r.val, ...r.test].every((v) => typeof v === 'string' && v !== '')
  ) {
    throw new InputError(`${file}: expected {"train": [case ids], "val": [...], "test": [...]}`);
  }
  return {
    splits: { train: [...r.train], val: [...(r.val as string[])], test: [...(r.test as string[])] },
    source: `${file} (${typeof r.source === 'string' ? r.source : 'recorded split'})`,
  };
}

/**
 * Writes the split a run uses to `<runDir>/splits.json` (temp file + rename), for a dataset whose split ssmis
 * made. Nothing is written for a dataset.json with its own `splits` (it needs no record), nor when the run
 * folder already has its record (a resumed run keeps the split it started with, which it was opened with).
 * @param runDir - The run folder.
 * @param dataset - The opened dataset: its folder, split and where the split came from.
 * @returns The file written, or null.
 */
export async function writeRunSplits(
  runDir: string,
  dataset: {
    dir: string;
    info: { ownSplits: boolean; splits: Record<SplitName, string[]>; splitSource: string };
  },
): Promise<string | null> {
  const file = path.join(runDir, RUN_SPLITS_FILE);
  if (dataset.info.ownSplits || existsSync(file)) return null;
  const { splits, splitSource } = dataset.info;
  const record: RunSplitsRecord = {
    source: splitSource,
    dataset: dataset.dir,
    train: splits.train,
    val: splits.val,
    test: splits.test,
  };
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

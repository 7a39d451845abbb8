/** Options, case ids and counts shared by the four phantom generators. */
import { InputError } from '../../util/errors.js';
import type { PresetDataset, SplitLists } from '../prepare/splits.js';
import { perAxis } from '../prepare/steps.js';
import type { SynthDifficulty } from './difficulty.js';

export interface SynthProgress {
  /** Cases (ACDC: patients) written so far. */
  done: number;
  total: number;
  /** The case (patient) just written. */
  case: string;
}

export interface SynthesizeOptions {
  dataset: PresetDataset;
  /** Output folder; the dataset's raw layout is written inside it. */
  out: string;
  /** Number of cases (ACDC: patients, two annotated frames each). Default: LA 24, ACDC 12, BraTS 12, Pancreas 12. */
  cases?: number;
  /** Default 0. */
  seed?: number;
  /** Raw volume size [X, Y, Z] in voxels; a single number applies to every axis. Defaults per dataset in `SYNTH_DEFAULTS`. */
  size?: number | number[];
  /** LA only: challenge NRRD folders (default) or UA-MT `mri_norm2.h5` files. */
  format?: 'nrrd' | 'h5';
  /**
   * LA only (other datasets accept nothing or `'standard'`): how varied the phantoms are. `'standard'` (default)
   * is the original generator, byte for byte; `'hard'` widens every knob so that a few labeled cases do not cover
   * the variation between cases; an object sets single knobs of `LaDifficulty` on top of its `preset` field
   * (default `'standard'`). The numbers are in `LA_DIFFICULTY_PRESETS`; docs/synth.md lists them.
   */
  difficulty?: SynthDifficulty;
  /** Official split lists folder (default: the package's `configs/splits`). */
  splitsDir?: string;
  /**
   * Write into a non-empty `out` that holds an earlier synth output, replacing it. Only files that synth wrote
   * (its manifest) are removed; any other file there makes synth refuse. Default false: `out` must be empty.
   */
  force?: boolean;
  onProgress?: (progress: SynthProgress) => void;
}

export interface SynthesizeResult {
  /** Root of the written raw layout (= `out`), to pass as `prepare --raw`. */
  root: string;
  /** Official ids used, per split. */
  ids: SplitLists;
  /** Files written, relative to `out`. */
  files: string[];
}

export interface SynthDefaults {
  cases: number;
  size: [number, number, number];
  /** Fractions of the cases that go to val and test (the rest is train). */
  valFraction: number;
  testFraction: number;
}

/**
 * Defaults small enough for a 2-core machine: every prepared volume is at least 32×32×32 (ACDC: 32×32 slices
 * of a 2-D model), so a 32³ demo patch fits without padding.
 */
export const SYNTH_DEFAULTS: Record<PresetDataset, SynthDefaults> = {
  la: { cases: 24, size: [64, 64, 40], valFraction: 0, testFraction: 1 / 3 },
  acdc: { cases: 12, size: [64, 64, 8], valFraction: 1 / 6, testFraction: 1 / 6 },
  brats2019: { cases: 12, size: [64, 64, 56], valFraction: 1 / 6, testFraction: 1 / 6 },
  'pancreas-nih': { cases: 12, size: [80, 80, 48], valFraction: 0, testFraction: 1 / 3 },
};

/**
 * Splits `n` cases into train/val/test counts with the dataset's fractions (at least one test case from 2
 * cases on, one val case from 3 on when the dataset has a val list), capped by the official list lengths.
 * Ids are the first entries of each official list; for ACDC the lists hold volumes, the ids are patients.
 */
export function pickIds(dataset: PresetDataset, lists: SplitLists, n: number): SplitLists {
  const d = SYNTH_DEFAULTS[dataset];
  const units = (list: string[]): string[] =>
    dataset === 'acdc' ? [...new Set(list.map((id) => id.replace(/_frame\d+$/, '')))] : list;
  const train = units(lists.train);
  const val = units(lists.val);
  const test = units(lists.test);
  const max = train.length + val.length + test.length;
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new InputError(
      `synth ${dataset}: cases must be an integer 1..${max} (the official lists), got ${n}`,
    );
  }
  let nTest = n >= 2 && d.testFraction > 0 ? Math.max(1, Math.round(n * d.testFraction)) : 0;
  let nVal = n >= 3 && d.valFraction > 0 && val.length > 0 ? Math.max(1, Math.round(n * d.valFraction)) : 0;
  nTest = Math.min(nTest, test.length);
  nVal = Math.min(nVal, val.length);
  let nTrain = n - nTest - nVal;
  if (nTrain > train.length) {
    const extra = nTrain - train.length;
    nTrain = train.length;
    const moreTest = Math.min(extra, test.length - nTest);
    nTest += moreTest;
    nVal += extra - moreTest;
  }
  return { train: train.slice(0, nTrain), val: val.slice(0, nVal), test: test.slice(0, nTest) };
}

export function checkSize(
  dataset: PresetDataset,
  size: number | number[] | undefined,
  min: number[],
): [number, number, number] {
  const s = perAxis(size ?? SYNTH_DEFAULTS[dataset].size);
  if (s.length !== 3 || s.some((v, a) => !Number.isInteger(v) || v < min[a] || v > 1024)) {
    throw new InputError(
      `synth ${dataset}: size must be three integers with each axis at least [${min.join(', ')}] and at most 1024, got [${s.join(', ')}]`,
    );
  }
  return [s[0], s[1], s[2]];
}

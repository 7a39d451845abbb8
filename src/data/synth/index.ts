/**
 * `ssmis synth`: synthetic phantoms in each dataset's RAW download layout, named with the official case ids
 * (train ids first, then val, then test) so that `prepare` and the loaders run exactly as on real data.
 * Deterministic: case `id` is generated from `Rng.stream(seed, 'synth/<dataset>/<id>')`, so a case does not
 * depend on how many others are generated.
 */

import { requireObject, requireString } from '../../util/args.js';
import { InputError } from '../../util/errors.js';
import { PRESET_DATASETS, readSplitLists } from '../prepare/splits.js';
import { writeAcdcPatient } from './acdc.js';
import { writeBratsCase } from './brats2019.js';
import {
  checkSize,
  pickIds,
  SYNTH_DEFAULTS,
  type SynthesizeOptions,
  type SynthesizeResult,
} from './common.js';
import { type LaDifficulty, resolveLaDifficulty } from './difficulty.js';
import { writeLaCase } from './la.js';
import { openSynthOutput } from './output.js';
import { writePancreasCase } from './pancreas-nih.js';

export { makeAcdcFrame } from './acdc.js';
export { makeBratsCase } from './brats2019.js';
export {
  pickIds,
  SYNTH_DEFAULTS,
  type SynthDefaults,
  type SynthesizeOptions,
  type SynthesizeResult,
  type SynthProgress,
} from './common.js';
export {
  type KnobRange,
  LA_DIFFICULTY_KNOBS,
  LA_DIFFICULTY_PRESETS,
  LA_DIFFICULTY_RULES,
  type LaDifficulty,
  type LaDifficultyOverrides,
  type LaDifficultyPreset,
  resolveLaDifficulty,
  type SynthDifficulty,
} from './difficulty.js';
export { type LaCaseFeatures, makeLaCase } from './la.js';
export { SYNTH_MANIFEST } from './output.js';
export { makePancreasCase } from './pancreas-nih.js';

/** Minimum raw size per dataset (the organ models need room; ACDC needs a few slices). */
const MIN_SIZE = {
  la: [24, 24, 8],
  acdc: [24, 24, 4],
  brats2019: [24, 24, 24],
  'pancreas-nih': [32, 32, 16],
} as const;

/**
 * Writes synthetic phantoms of a dataset in its raw download layout (so {@link prepareDataset} reads them as it
 * reads the real download), named after the official case ids of each split: a way to run the whole pipeline
 * without the real data. The folder must be new or empty; with `options.force` an earlier synth output there is
 * replaced (only files synth wrote are removed). Every check runs before anything is written.
 *
 * @param options - `dataset` (`'la'`, `'acdc'`, `'brats2019'` or `'pancreas-nih'`), `out`, and optional `cases`,
 *   `seed`, `size`, `format` (LA), `difficulty` (LA), `splitsDir`, `force`, `onProgress` (see
 *   {@link SynthesizeOptions}).
 * @returns the written root (to pass as `raw` to {@link prepareDataset}), the case ids per split and the files.
 * @throws {@link InputError} when an option is missing or invalid (unknown dataset, `format` or `difficulty` for
 *   a dataset other than LA, a size below the dataset's minimum, a non-integer seed), or when `out` is a file or
 *   holds files synth did not write (or any file, without `force`).
 * @example
 * const { root } = await synthesize({ dataset: 'la', out: 'raw/la-synth', cases: 12, size: 48 });
 * await prepareDataset({ dataset: 'la', raw: root, out: 'data/la-synth', minSize: 32 });
 */
export async function synthesize(options: SynthesizeOptions): Promise<SynthesizeResult> {
  requireObject('synthesize', 'options', options);
  requireString('synthesize', 'options.out', options.out);
  const { dataset, out } = options;
  if (!PRESET_DATASETS.includes(dataset)) {
    throw new InputError(
      `synth: unknown dataset ${JSON.stringify(dataset)} (expected ${PRESET_DATASETS.join(', ')})`,
    );
  }
  if (options.format !== undefined && dataset !== 'la') {
    throw new InputError(`synth ${dataset}: --format applies to la only (nrrd or h5)`);
  }
  const format = options.format ?? 'nrrd';
  if (format !== 'nrrd' && format !== 'h5') {
    throw new InputError(`synth la: format must be nrrd or h5, got ${JSON.stringify(format)}`);
  }
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new InputError(`synth ${dataset}: seed must be an integer, got ${seed}`);
  const size = checkSize(dataset, options.size, [...MIN_SIZE[dataset]]);
  let knobs: LaDifficulty | null = null;
  if (dataset === 'la') knobs = resolveLaDifficulty(options.difficulty, 'synth la');
  else if (options.difficulty !== undefined && options.difficulty !== 'standard') {
    throw new InputError(
      `synth ${dataset}: difficulty ${JSON.stringify(options.difficulty)} is not supported: only la supports difficulty for now (use standard or leave it out)`,
    );
  }
  const lists = await readSplitLists(dataset, options.splitsDir);
  const ids = pickIds(dataset, lists, options.cases ?? SYNTH_DEFAULTS[dataset].cases);
  const all = [...ids.train, ...ids.val, ...ids.test];
  const given = options.difficulty;
  const difficulty = {
    preset: typeof given === 'object' ? (given.preset ?? 'standard') : (given ?? 'standard'),
    // Single knobs set on top of the preset (an object with only `preset` is that preset).
    custom:
      typeof given === 'object' &&
      Object.entries(given).some(([key, value]) => key !== 'preset' && value !== undefined),
    ...(knobs ? { knobs } : {}),
  };
  const settings = { seed, size, cases: all.length, ...(dataset === 'la' ? { format } : {}), difficulty };
  const sink = await openSynthOutput(out, dataset, options.force ?? false, settings);
  let done = 0;
  for (const id of all) {
    switch (dataset) {
      case 'la':
        await writeLaCase(sink, id, seed, size, format, knobs ?? undefined);
        break;
      case 'acdc':
        await writeAcdcPatient(sink, id, seed, size);
        break;
      case 'brats2019':
        await writeBratsCase(sink, id, seed, size);
        break;
      case 'pancreas-nih':
        await writePancreasCase(sink, id, seed, size);
        break;
    }
    done++;
    options.onProgress?.({ done, total: all.length, case: id });
  }
  return { root: out, ids, files: [...sink.files] };
}

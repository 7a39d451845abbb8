import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SsmisConfig } from '../config/index.js';
import { InputError } from '../util/errors.js';
import { checkUniqueIds, readCaseList } from './case-list.js';
import { type Dataset, openDataset, type SplitName } from './dataset.js';

/**
 * Opens `config.data.dataset` with the config's channels, unlabeled folder and split rule (`data.autoSplit`, for
 * a dataset.json without splits) and checks it against the model (classes), so training, evaluation and
 * prediction fail the same way, before any work, on a dataset that does not fit the config.
 * @param config - The checked config.
 * @param cacheSize - Cases kept in memory (default `data.cacheSize`).
 * @param runDir - A run folder whose `splits.json` (the split the run started with) is reused when dataset.json
 *   lists no split: a resumed run, or the run whose checkpoint is evaluated.
 * @returns The opened dataset.
 * @throws InputError when the folder does not exist, cannot be opened (see `openDataset`) or its classes differ
 *   from `model.numClasses`.
 */
export async function openConfigDataset(
  config: SsmisConfig,
  cacheSize = config.data.cacheSize,
  runDir?: string,
): Promise<Dataset> {
  if (!existsSync(config.data.dataset)) {
    throw new InputError(
      `data.dataset: folder ${config.data.dataset} does not exist (prepare one with \`ssmis prepare\` or \`ssmis synth\` + \`ssmis prepare\`)`,
    );
  }
  const dataset = await openDataset(config.data.dataset, {
    cacheSize,
    channels: config.data.channels,
    unlabeledDir: config.data.unlabeledDir,
    autoSplit: config.data.autoSplit,
    runDir,
  });
  checkPresetFits(config.data.preset, dataset);
  if (dataset.info.numClasses !== config.model.numClasses) {
    throw new InputError(
      `model.numClasses: expected ${dataset.info.numClasses} (the labels of ${path.join(dataset.dir, 'dataset.json')}), got ${config.model.numClasses}`,
    );
  }
  return dataset;
}

/**
 * `data.preset` must be `custom` or the dataset's own preset. A folder `ssmis prepare <preset>` did not make (an
 * nnU-Net raw folder, any custom dataset: dataset.json without `preset`) is trained on as stored, while
 * `ssmis predict` gives new images the config preset's intensity normalisation: a benchmark preset on such a
 * folder would train on one intensity scale and predict on another.
 * @throws InputError naming `data.preset` and the dataset's dataset.json.
 */
function checkPresetFits(preset: SsmisConfig['data']['preset'], dataset: Dataset): void {
  const own = dataset.info.preset;
  if (preset === 'custom' || preset === own) return;
  const file = path.join(dataset.dir, 'dataset.json');
  throw new InputError(
    own === 'custom'
      ? `data.preset: '${preset}' does not fit ${file}, which has no preset (an nnU-Net raw or custom dataset, read as stored: its images did not get ${preset}'s normalisation, which predict would give new images); set data.preset: custom, or make the folder with \`ssmis prepare ${preset}\``
      : `data.preset: '${preset}' does not fit ${file}, which says preset '${own}'; set data.preset: ${own} (or custom)`,
  );
}

/**
 * Case ids of a split: the config's override (a list, or a list file) or the dataset's split. An id listed
 * twice is an error naming the id and the list (it would be trained on or scored twice), and so is an image
 * without a label file (an unlabeled case: it would be trained on or scored as if empty).
 */
export async function configSplitIds(
  config: SsmisConfig,
  dataset: Dataset,
  split: SplitName,
): Promise<string[]> {
  const override = config.data.splits[split];
  if (override === undefined) return dataset.ids(split);
  let ids: string[];
  if (Array.isArray(override)) {
    checkUniqueIds(override, `data.splits.${split}`);
    ids = [...override];
  } else {
    ids = await readCaseList(override, `the data.splits.${split} list`);
  }
  const unlabeled = new Set(dataset.imageOnlyIds());
  const bad = ids.find((id) => unlabeled.has(id));
  if (bad !== undefined) {
    throw new InputError(
      `data.splits.${split}: case "${bad}" has no label file (${path.relative(dataset.dir, dataset.labelPath(bad))} in ${dataset.dir}); it is an unlabeled training case, list only labeled cases`,
    );
  }
  return ids;
}

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SsmisConfig } from '../config/index.js';
import { InputError } from '../util/errors.js';
import { checkUniqueIds, readCaseList } from './case-list.js';
import { type Dataset, openDataset, type SplitName } from './dataset.js';

/**
 * Opens `config.data.dataset` with the config's channels and checks it against the model (classes), so training,
 * evaluation and prediction fail the same way, before any work, on a dataset that does not fit the config.
 */
export async function openConfigDataset(
  config: SsmisConfig,
  cacheSize = config.data.cacheSize,
): Promise<Dataset> {
  if (!existsSync(config.data.dataset)) {
    throw new InputError(
      `data.dataset: folder ${config.data.dataset} does not exist (prepare one with \`ssmis prepare\` or \`ssmis synth\` + \`ssmis prepare\`)`,
    );
  }
  const dataset = await openDataset(config.data.dataset, { cacheSize, channels: config.data.channels });
  if (dataset.info.numClasses !== config.model.numClasses) {
    throw new InputError(
      `model.numClasses: expected ${dataset.info.numClasses} (the labels of ${path.join(dataset.dir, 'dataset.json')}), got ${config.model.numClasses}`,
    );
  }
  return dataset;
}

/**
 * Case ids of a split: the config's override (a list, or a list file) or the dataset's own split. An id listed
 * twice is an error naming the id and the list (it would be trained on or scored twice).
 */
export async function configSplitIds(
  config: SsmisConfig,
  dataset: Dataset,
  split: SplitName,
): Promise<string[]> {
  const override = config.data.splits[split];
  if (override === undefined) return dataset.ids(split);
  if (Array.isArray(override)) {
    checkUniqueIds(override, `data.splits.${split}`);
    return [...override];
  }
  return readCaseList(override, `the data.splits.${split} list`);
}

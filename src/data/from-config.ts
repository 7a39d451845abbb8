import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { SsmisConfig } from '../config/index.js';
import { errorMessage, InputError } from '../util/errors.js';
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

/** Case ids of a split: the config's override (a list, or a list file) or the dataset's own split. */
export async function configSplitIds(
  config: SsmisConfig,
  dataset: Dataset,
  split: SplitName,
): Promise<string[]> {
  const override = config.data.splits[split];
  if (override === undefined) return dataset.ids(split);
  if (Array.isArray(override)) return [...override];
  let text: string;
  try {
    text = await fs.readFile(override, 'utf8');
  } catch (error) {
    throw new InputError(`data.splits.${split}: cannot read ${override} (${errorMessage(error)})`);
  }
  return text
    .split(/\r?\n/)
    .map((line) => line.split(',')[0].trim())
    .filter((line) => line.length > 0);
}

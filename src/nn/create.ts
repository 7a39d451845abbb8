import type { SsmisConfig } from '../config/index.js';
import { requireObject, requireOneOf, requireRng, requireString } from '../util/args.js';
import type { Rng } from '../util/rng.js';
import { NETWORK_DOWNSAMPLINGS } from './downsampling.js';
import type { SegmentationModel } from './types.js';
import { createUNet2d } from './unet2d.js';
import { createVNet } from './vnet.js';

/**
 * Creates the network a config describes: `model.name` picks {@link createVNet} (`'vnet'`) or
 * {@link createUNet2d} (`'unet2d'`), built with the config's `inChannels`, `numClasses`, `baseFilters` and
 * `dropout`. Only `config.model` is read.
 *
 * @param config - a config (as {@link loadConfig} or {@link parseConfig} return it), or any object with a
 *   `model` section.
 * @param options - `name`: the engine-variable prefix (e.g. `'student'`, `'teacher'`); `rng`: the stream the
 *   initial weights are drawn from.
 * @returns the network, untrained; the caller disposes it.
 * @throws {@link InputError} when `config` has no `model` section, `model.name` is neither `vnet` nor `unet2d`,
 *   `options.name` is not a non-empty string, `options.rng` is not an {@link Rng}, or the model section's values
 *   are refused by the network's own checks.
 * @example
 * const { config } = await loadConfig('configs/la-5pct.yaml');
 * const model = createModel(config, { name: 'student', rng: new Rng(config.train.seed) });
 */
export function createModel(config: SsmisConfig, options: { name: string; rng: Rng }): SegmentationModel {
  // Only `model` is read: a whole config is not required.
  requireObject('createModel', 'config', config, 'a config object (at least its model section)');
  requireObject(
    'createModel',
    'config.model',
    config.model,
    'a model section ({ name: vnet | unet2d, ... })',
  );
  requireOneOf('createModel', 'config.model.name', config.model.name, Object.keys(NETWORK_DOWNSAMPLINGS));
  requireObject('createModel', 'options', options);
  requireString('createModel', 'options.name', options.name);
  requireRng('createModel', 'options.rng', options.rng);
  const m = config.model;
  // `dropout` is the one option whose type differs (one rate for VNet, five for UNet2d).
  const common = {
    inChannels: m.inChannels,
    numClasses: m.numClasses,
    baseFilters: m.baseFilters,
    name: options.name,
    rng: options.rng,
  };
  return m.name === 'vnet'
    ? createVNet({ ...common, dropout: m.dropout })
    : createUNet2d({ ...common, dropout: m.dropout });
}

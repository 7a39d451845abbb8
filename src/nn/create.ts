import type { SsmisConfig } from '../config/index.js';
import { requireObject, requireOneOf, requireRng, requireString } from '../util/args.js';
import type { Rng } from '../util/rng.js';
import { NETWORK_DOWNSAMPLINGS } from './downsampling.js';
import type { SegmentationModel } from './types.js';
import { createUNet2d } from './unet2d.js';
import { createVNet } from './vnet.js';

/** The network a config describes (`model.name`), with its engine-variable prefix and init stream. */
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

import type { SsmisConfig } from '../config/index.js';
import type { Rng } from '../util/rng.js';
import type { SegmentationModel } from './types.js';
import { createUNet2d } from './unet2d.js';
import { createVNet } from './vnet.js';

/** The network a config describes (`model.name`), with its engine-variable prefix and init stream. */
export function createModel(config: SsmisConfig, options: { name: string; rng: Rng }): SegmentationModel {
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

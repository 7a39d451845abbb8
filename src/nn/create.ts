import type { SsmisConfig } from '../config/index.js';
import type { Rng } from '../util/rng.js';
import type { SegmentationModel } from './types.js';
import { createUNet2d } from './unet2d.js';
import { createVNet } from './vnet.js';

/** The network a config describes (`model.name`), with its engine-variable prefix and init stream. */
export function createModel(config: SsmisConfig, options: { name: string; rng: Rng }): SegmentationModel {
  const m = config.model;
  if (m.name === 'vnet') {
    return createVNet({
      inChannels: m.inChannels,
      numClasses: m.numClasses,
      baseFilters: m.baseFilters,
      dropout: m.dropout,
      name: options.name,
      rng: options.rng,
    });
  }
  return createUNet2d({
    inChannels: m.inChannels,
    numClasses: m.numClasses,
    baseFilters: m.baseFilters,
    dropout: m.dropout,
    name: options.name,
    rng: options.rng,
  });
}

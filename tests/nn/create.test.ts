import { describe, expect, it } from 'vitest';
import type { SsmisConfig } from '../../src/config/index.js';
import { createModel } from '../../src/nn/create.js';
import { Rng } from '../../src/util/rng.js';

/** Only `model` is read; the rest of the config is irrelevant here. */
const withModel = (model: unknown) => ({ model }) as unknown as SsmisConfig;

describe('createModel', () => {
  it('builds the VNet or the UNet2d a config describes', () => {
    const v = createModel(
      withModel({ name: 'vnet', inChannels: 1, numClasses: 2, baseFilters: 16, dropout: 0.5 }),
      {
        name: 'cm_v',
        rng: new Rng(1),
      },
    );
    expect(v.kind).toBe('vnet');
    expect(v.parameterCount()).toBe(9_448_866);
    v.dispose();
    const u = createModel(
      withModel({
        name: 'unet2d',
        inChannels: 1,
        numClasses: 4,
        baseFilters: 16,
        dropout: [0.05, 0.1, 0.2, 0.3, 0.5],
      }),
      { name: 'cm_u', rng: new Rng(1) },
    );
    expect(u.kind).toBe('unet2d');
    expect(u.parameterCount()).toBe(1_813_764);
    u.dispose();
  });
});

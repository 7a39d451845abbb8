import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { parseConfig } from '../../src/config/index.js';
import { createModel } from '../../src/nn/create.js';
import {
  fullResolutionChannels,
  inputSizeMultiple,
  NETWORK_DOWNSAMPLINGS,
} from '../../src/nn/downsampling.js';
import { createUNet2d, unet2dParameterSpecs } from '../../src/nn/unet2d.js';
import { createVNet, vnetParameterSpecs } from '../../src/nn/vnet.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

describe('network down-sampling (what the config checks patch sizes against)', () => {
  it('matches the layers of the networks', () => {
    const vnetDown = vnetParameterSpecs().filter((s) => /_dw\.conv\.0\.weight$/.test(s.key));
    expect(vnetDown).toHaveLength(NETWORK_DOWNSAMPLINGS.vnet);
    const unetPools = new Set(
      unet2dParameterSpecs()
        .map((s) => /^encoder\.(down\d+)\.maxpool_conv/.exec(s.key)?.[1])
        .filter(Boolean),
    );
    expect(unetPools.size).toBe(NETWORK_DOWNSAMPLINGS.unet2d);
  });

  it('is the input multiple the networks accept', () => {
    const vnet = createVNet({ baseFilters: 2 });
    const unet = createUNet2d({ baseFilters: 2 });
    const m3 = inputSizeMultiple('vnet');
    const m2 = inputSizeMultiple('unet2d');
    tf.tidy(() => {
      expect(vnet.apply(tf.zeros([1, m3, m3, m3, 1]), { training: false }).shape).toEqual([1, m3, m3, m3, 2]);
      expect(() => vnet.apply(tf.zeros([1, m3 / 2, m3, m3, 1]), { training: false })).toThrow(InputError);
      expect(unet.apply(tf.zeros([1, m2, m2, 1]), { training: false }).shape).toEqual([1, m2, m2, 4]);
      expect(() => unet.apply(tf.zeros([1, m2 / 2, m2, 1]), { training: false })).toThrow(InputError);
    });
    vnet.dispose();
    unet.dispose();
  });

  it('names the widest full-resolution feature map', () => {
    expect(fullResolutionChannels('vnet', 16)).toBe(16);
    const specs = unet2dParameterSpecs({ baseFilters: 16 });
    const lastDecoderConv = specs.find((s) => s.key === 'decoder.up4.conv.conv_conv.0.weight');
    expect(lastDecoderConv?.shape[2]).toBe(fullResolutionChannels('unet2d', 16));
  });
});

describe('train-mode batch norm and the batch the config accepts', () => {
  // The forward each config check stands for: one sample of a 16³ patch (a 1×1×1 bottleneck) fails, two samples
  // or a 32×16×16 patch train. This is why the config refuses the first and only warns about the others.
  it('fails with one value per channel at the bottleneck and works with two', () => {
    const config = parseConfig({
      run: { name: 'bn' },
      data: { dataset: 'd', patchSize: [32, 16, 16] },
      model: { name: 'vnet', baseFilters: 2 },
      train: { batch: { labeled: 2, unlabeled: 2 } },
    });
    const model = createModel(config, { name: 'bn', rng: new Rng(1) });
    const train = { training: true, rng: new Rng(2) };
    tf.tidy(() => {
      expect(() => model.apply(tf.ones([1, 16, 16, 16, 1]), train)).toThrow(
        /batch norm in train mode needs more than 1 value per channel/,
      );
      expect(model.apply(tf.ones([2, 16, 16, 16, 1]), train).shape).toEqual([2, 16, 16, 16, 2]);
      expect(model.apply(tf.ones([1, 32, 16, 16, 1]), train).shape).toEqual([1, 32, 16, 16, 2]);
    });
    model.dispose();
    expect(() =>
      parseConfig({ ...config, data: { ...config.data, patchSize: [16, 16, 16] }, run: { name: 'bn' } }),
    ).toThrow(/train\.batch\.labeled: expected a batch that gives train-mode batch norm more than 1 value/);
  });
});

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, requireConfig } from '../../src/config/index.js';

const configsDir = new URL('../../configs/', import.meta.url).pathname;
/** Every YAML config under configs/, subfolders included (relative paths), so new folders are covered too. */
const files = readdirSync(configsDir, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.split(path.sep).join('/'))
  .sort();

describe('shipped configs', () => {
  it('are all present: one per paper setting, the ablations and the demo', () => {
    for (const name of [
      'la-5pct.yaml',
      'la-10pct.yaml',
      'acdc-5pct.yaml',
      'acdc-10pct.yaml',
      'acdc-20pct.yaml',
      'brats2019-10pct.yaml',
      'brats2019-10pct-multimodal.yaml',
      'pancreas-nih-20pct.yaml',
      'la-5pct-supervised.yaml',
      'la-5pct-bcp.yaml',
      'la-5pct-cpam.yaml',
      'demo.yaml',
      'base/la.yaml',
      'ablation/la-5pct-bcp-ll.yaml',
      'ablation/brats2019-10pct-cpam.yaml',
      'ablation/gamma-sweep/la-5pct-u0.1.yaml',
    ]) {
      expect(files).toContain(name);
    }
  });

  it.each(files.map((f) => [f]))('%s validates, and its parsed config parses to itself', async (file) => {
    const { config } = await loadConfig(path.join(configsDir, file));
    expect(config.run.name.length).toBeGreaterThan(0);
    // train(config) and evaluate(config) validate their argument again: a parsed config must pass unchanged.
    expect(parseConfig(config)).toEqual(config);
    expect(requireConfig('train', 'config', config)).toEqual(config);
  });

  it('a parsed config parses to itself for small patches and 2-D models too', () => {
    for (const input of [
      { run: { name: 'a' }, data: { dataset: 'd', patchSize: [16, 16, 16] } },
      {
        run: { name: 'b' },
        data: { dataset: 'd', patchSize: [32, 16, 16] },
        train: { batch: { labeled: 2, unlabeled: 2 } },
      },
      { run: { name: 'c' }, model: 'unet2d', data: { dataset: 'd', sliceResize: [64, 64] } },
      {
        run: { name: 'd' },
        data: { dataset: 'd' },
        method: { name: 'supervised' },
        train: { validation: { split: 'none' } },
      },
    ]) {
      const config = parseConfig(input);
      expect(parseConfig(config)).toEqual(config);
    }
    // The reference strides, capped by a smaller patch (a stride beyond the patch would skip voxels).
    expect(
      parseConfig({ run: { name: 'a' }, data: { dataset: 'd', patchSize: [16, 16, 16] } }).eval.strides,
    ).toEqual([16, 16, 4]);
  });

  it('paper settings carry the reference values', async () => {
    const la = (await loadConfig(path.join(configsDir, 'la-5pct.yaml'))).config;
    expect(la.data.labeled).toEqual({ count: 4 });
    expect(la.data.patchSize).toEqual([112, 112, 80]);
    expect(la.train.stages.pretrain.iterations).toBe(2000);
    expect(la.train.stages.selftrain.iterations).toBe(15000);
    expect(la.train.stages.selftrain.schedule).toEqual({ name: 'poly', power: 0.9 });
    expect(la.train.validation.split).toBe('test');
    expect(la.method.startRange).toBe('reference');
    const cpam = (await loadConfig(path.join(configsDir, 'la-5pct-cpam.yaml'))).config;
    expect(cpam.method.name).toBe('cpam');
    expect(cpam.train.stages.selftrain.schedule).toEqual({ name: 'step', gamma: 0.1, every: 2500 });
    const acdc = (await loadConfig(path.join(configsDir, 'acdc-5pct.yaml'))).config;
    expect(acdc.model.name).toBe('unet2d');
    expect(acdc.data.labeled).toEqual({ count: 3 });
    expect(acdc.method.teacher.includeBatchNormStats).toBe(true);
    const brats = (await loadConfig(path.join(configsDir, 'brats2019-10pct.yaml'))).config;
    expect(brats.data.labeled).toEqual({ count: 25 });
    expect(brats.method.startRange).toBe('valid');
    expect(brats.data.channels).toEqual([0]);
    const multimodal = (await loadConfig(path.join(configsDir, 'brats2019-10pct-multimodal.yaml'))).config;
    expect(multimodal.data.channels).toEqual([0, 1, 2, 3]);
    expect(multimodal.model.inChannels).toBe(4);
    expect(multimodal.data.labeled).toEqual({ count: 25 });
    const pancreas = (await loadConfig(path.join(configsDir, 'pancreas-nih-20pct.yaml'))).config;
    expect(pancreas.train.stages.selftrain.optimizer.name).toBe('adam');
    expect(pancreas.method.pseudoLabel.connectivity).toBe(18);
  });
});

import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { datasetJsonSchema } from '../../src/data/dataset.js';
import { PRESET_DATASETS } from '../../src/data/prepare/splits.js';
import { augmentPreset, DATASET_PRESETS, DEFAULT_ROTATE_DEGREES } from '../../src/data/presets.js';

describe('dataset presets: one list and one augmentation rule for the config, dataset.json and the loader', () => {
  // [preset, rotFlip, padMargin, unlabeledCrop]
  const rows: [string, boolean, number, 'random' | 'center'][] = [
    ['la', true, 3, 'random'],
    ['acdc', true, 3, 'random'],
    ['brats2019', true, 3, 'random'],
    ['pancreas-nih', false, 1, 'center'],
    ['custom', true, 3, 'random'],
  ];
  it('lists every preset once', () => {
    expect([...DATASET_PRESETS]).toEqual(rows.map((row) => row[0]));
    expect(PRESET_DATASETS).toEqual(DATASET_PRESETS.filter((preset) => preset !== 'custom'));
  });
  it.each(rows)(
    '%s: rotFlip %s, padMargin %i, unlabeled crop %s (config default = loader default)',
    (preset, rotFlip, padMargin, unlabeledCrop) => {
      expect(augmentPreset(preset)).toEqual({ rotFlip, padMargin, unlabeledCrop });
      const config = configSchema.parse({ run: { name: 'x' }, data: { dataset: 'd', preset } });
      expect(config.data.augmentation).toEqual({
        rotFlip,
        padMargin,
        unlabeledCrop,
        rotateDegrees: DEFAULT_ROTATE_DEGREES,
      });
      const json = {
        name: 'n',
        preset,
        channel_names: { '0': 'x' },
        labels: { bg: 0, a: 1 },
        splits: { train: ['a'] },
      };
      expect(datasetJsonSchema.parse(json).preset).toBe(preset);
    },
  );
  it('refuses an unknown preset in both places', () => {
    expect(
      configSchema.safeParse({ run: { name: 'x' }, data: { dataset: 'd', preset: 'kits' } }).success,
    ).toBe(false);
    const json = {
      name: 'n',
      preset: 'kits',
      channel_names: { '0': 'x' },
      labels: { bg: 0, a: 1 },
      splits: { train: ['a'] },
    };
    expect(datasetJsonSchema.safeParse(json).success).toBe(false);
  });
});

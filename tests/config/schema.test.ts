import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  ConfigError,
  configReferenceMarkdown,
  configSchema,
  configToYaml,
  configWarnings,
  describeConfigSchema,
  MAX_PATCH_EDGE,
  MAX_TYPED_ARRAY_LENGTH,
  parseConfig,
  type SsmisConfig,
  type SsmisConfigInput,
} from '../../src/config/index.js';
import { InputError } from '../../src/util/errors.js';

const minimal = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  run: { name: 'la-demo' },
  data: { dataset: 'data/la' },
  ...extra,
});

/** The problems of a config that must fail, as formatted lines. */
function problems(input: unknown, file?: string): string[] {
  try {
    parseConfig(input, { file });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toBeInstanceOf(InputError);
    expect((error as ConfigError).exitCode).toBe(2);
    return (error as ConfigError).problems.map((p) => [p.path, p.message].filter(Boolean).join(': '));
  }
  throw new Error('expected the config to be rejected');
}

describe('defaults', () => {
  it('fills every LA reference value for a minimal config', () => {
    const config = parseConfig(minimal());
    expect(config.run).toEqual({ name: 'la-demo', outputDir: 'runs' });
    expect(config.backend).toEqual({ name: 'auto', fastKernels: true });
    expect(config.data).toEqual({
      dataset: path.resolve('data/la'),
      autoSplit: { seed: 0, val: 0.2, test: 0.2, fold: 0 },
      preset: 'custom',
      splits: {},
      labeled: { percent: 10 },
      patchSize: [112, 112, 80],
      channels: [0],
      cacheSize: 32,
      augmentation: { rotFlip: true, padMargin: 3, unlabeledCrop: 'random', rotateDegrees: 20 },
      sliceResize: undefined,
    });
    expect(config.model).toEqual({
      name: 'vnet',
      inChannels: 1,
      numClasses: 2,
      baseFilters: 16,
      dropout: 0.5,
    });
    expect(config.method).toEqual({
      name: 'cpam-trcm',
      maskRatio: 2 / 3,
      startRange: 'reference',
      referenceStartRange: [112, 112, 80],
      unlabeledWeight: 0.5,
      teacher: { mode: 'train', emaDecay: 0.99, includeBatchNormStats: false },
      pseudoLabel: { largestComponent: true, connectivity: 26 },
      consistency: { weight: 0.1, rampupIterations: 6000 },
      lossDice: 'volume3d',
    });
    const sgd = { name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4, nesterov: false };
    expect(config.train).toEqual({
      seed: 1337,
      batch: { labeled: 4, unlabeled: 4 },
      stages: {
        pretrain: { enabled: true, iterations: 2000, optimizer: sgd, schedule: { name: 'constant' } },
        selftrain: {
          enabled: true,
          iterations: 15000,
          optimizer: sgd,
          schedule: { name: 'poly', power: 0.9 },
          carryOptimizer: false,
          initFrom: 'best',
        },
      },
      validation: { interval: 200, split: 'val', selection: 'strict', strides: [18, 18, 4] },
      checkpointInterval: 200,
      logInterval: 10,
    });
    expect(config.eval).toEqual({
      patch: [112, 112, 80],
      strides: [18, 18, 4],
      protocol: 'strict',
      largestComponent: false,
      connectivity: 26,
      units: 'mm',
      split: 'test',
      batchWindows: 1,
      savePredictions: true,
      saveProbabilities: false,
    });
  });

  it('derives the 2-D defaults from model.name unet2d', () => {
    const config = parseConfig(
      minimal({ model: { name: 'unet2d', numClasses: 4 }, data: { dataset: 'd', preset: 'acdc' } }),
    );
    expect(config.data.sliceResize).toEqual([256, 256]);
    expect(config.data.patchSize).toEqual([256, 256]);
    expect(config.model).toEqual({
      name: 'unet2d',
      inChannels: 1,
      numClasses: 4,
      baseFilters: 16,
      dropout: [0.05, 0.1, 0.2, 0.3, 0.5],
    });
    expect(config.method.lossDice).toBe('batch2d');
    expect(config.method.teacher.includeBatchNormStats).toBe(true);
    expect(config.method.pseudoLabel.connectivity).toBe(8);
    expect(config.method.referenceStartRange).toEqual([256, 256]);
    expect(config.eval.patch).toEqual([256, 256]);
    expect(config.eval.strides).toEqual([256, 256]);
    expect(config.eval.connectivity).toBe(8);
  });

  it('takes the 2-D patch from sliceResize and the reverse', () => {
    const a = parseConfig(minimal({ model: 'unet2d', data: { dataset: 'd', sliceResize: [128, 160] } }));
    expect(a.data.patchSize).toEqual([128, 160]);
    const b = parseConfig(minimal({ model: 'unet2d', data: { dataset: 'd', patchSize: [192, 192] } }));
    expect(b.data.sliceResize).toEqual([192, 192]);
  });

  it('uses the Pancreas augmentation for preset pancreas-nih unless set', () => {
    const config = parseConfig(
      minimal({ data: { dataset: 'd', preset: 'pancreas-nih', patchSize: [96, 96, 96] } }),
    );
    expect(config.data.augmentation).toEqual({
      rotFlip: false,
      padMargin: 1,
      unlabeledCrop: 'center',
      rotateDegrees: 20,
    });
    const explicit = parseConfig(
      minimal({
        data: { dataset: 'd', preset: 'pancreas-nih', augmentation: { padMargin: 3, rotFlip: true } },
      }),
    );
    expect(explicit.data.augmentation.padMargin).toBe(3);
    expect(explicit.data.augmentation.rotFlip).toBe(true);
  });

  it('derives eval defaults from the protocol', () => {
    const paper = parseConfig(minimal({ eval: { protocol: 'paper' } }));
    expect(paper.eval.largestComponent).toBe(true);
    expect(paper.eval.units).toBe('voxel');
    const mixed = parseConfig(minimal({ eval: { protocol: 'paper', units: 'mm', largestComponent: false } }));
    expect(mixed.eval.units).toBe('mm');
    expect(mixed.eval.largestComponent).toBe(false);
  });

  it('chains eval.patch → eval.strides → train.validation.strides', () => {
    const config = parseConfig(
      minimal({ data: { dataset: 'd', patchSize: [96, 96, 96] }, eval: { strides: [64, 64, 64] } }),
    );
    expect(config.eval.patch).toEqual([96, 96, 96]);
    expect(config.train.validation.strides).toEqual([64, 64, 64]);
  });

  it('sets inChannels from data.channels and selftrain.initFrom from the validation split', () => {
    const config = parseConfig(
      minimal({ data: { dataset: 'd', channels: [0, 2] }, train: { validation: { split: 'none' } } }),
    );
    expect(config.model.inChannels).toBe(2);
    expect(config.train.stages.selftrain.initFrom).toBe('last');
  });

  it('accepts shorthand names, omitted discriminators and fractions', () => {
    const config = parseConfig(
      minimal({
        method: { maskRatio: '1/2' },
        train: {
          stages: {
            pretrain: { optimizer: 'adam', schedule: { every: 100, name: 'step' } },
            selftrain: { optimizer: { lr: 0.05 }, schedule: 'step' },
          },
        },
      }),
    );
    expect(config.method.maskRatio).toBe(0.5);
    expect(config.train.stages.pretrain.optimizer).toEqual({
      name: 'adam',
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
    });
    expect(config.train.stages.pretrain.schedule).toEqual({ name: 'step', gamma: 0.1, every: 100 });
    expect(config.train.stages.selftrain.optimizer).toMatchObject({ name: 'sgd', lr: 0.05, momentum: 0.9 });
    expect(config.train.stages.selftrain.schedule).toEqual({ name: 'step', gamma: 0.1, every: 2500 });
  });

  it('returns fresh arrays on every parse (defaults are not shared)', () => {
    const a = parseConfig(minimal());
    a.data.channels.push(5);
    a.data.patchSize[0] = 1;
    const b = parseConfig(minimal());
    expect(b.data.channels).toEqual([0]);
    expect(b.data.patchSize).toEqual([112, 112, 80]);
  });

  it('exposes precise TypeScript types', () => {
    const input: SsmisConfigInput = { run: { name: 'x' }, data: { dataset: 'd', labeled: { count: 4 } } };
    const config: SsmisConfig = configSchema.parse(input);
    const lr: number = config.train.stages.selftrain.optimizer.lr;
    const patch: number[] = config.eval.patch;
    const dims: 'vnet' | 'unet2d' = config.model.name;
    if (config.model.name === 'unet2d') {
      const rates: number[] = config.model.dropout;
      expect(rates).toHaveLength(5);
    } else {
      const rate: number = config.model.dropout;
      expect(rate).toBe(0.5);
    }
    expect([lr, patch, dims]).toEqual([0.01, [112, 112, 80], 'vnet']);
    expect(config.data.labeled).toEqual({ count: 4 });
    const shorthand: SsmisConfigInput = {
      run: { name: 'y' },
      data: { dataset: 'd' },
      model: 'unet2d',
      method: { maskRatio: '2/3' },
      train: { stages: { pretrain: { optimizer: { lr: 0.1 }, schedule: 'step' } } },
    };
    expect(parseConfig(shorthand).train.stages.pretrain.optimizer.lr).toBe(0.1);
  });
});

describe('field checks', () => {
  it('rejects a run name that is not a safe folder name', () => {
    for (const name of ['../x', 'a/b', '.hidden', '-x', 'a b', '']) {
      const lines = problems(minimal({ run: { name } }));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^run\.name: expected a safe folder name/);
    }
  });

  it('requires exactly one of labeled.count and labeled.percent, percent in (0, 100]', () => {
    expect(problems(minimal({ data: { dataset: 'd', labeled: { count: 4, percent: 5 } } }))).toEqual([
      'data.labeled: expected exactly one of count or percent, got both (a child config or --set can remove the inherited one with null)',
    ]);
    expect(problems(minimal({ data: { dataset: 'd', labeled: {} } }))).toEqual([
      'data.labeled: expected exactly one of count or percent, got neither',
    ]);
    expect(problems(minimal({ data: { dataset: 'd', labeled: { percent: 0 } } }))).toEqual([
      'data.labeled.percent: expected a number greater than 0, got 0',
    ]);
    expect(problems(minimal({ data: { dataset: 'd', labeled: { percent: 100.5 } } }))).toEqual([
      'data.labeled.percent: expected a number of at most 100, got 100.5',
    ]);
    expect(parseConfig(minimal({ data: { dataset: 'd', labeled: { percent: 100 } } })).data.labeled).toEqual({
      percent: 100,
    });
    expect(problems(minimal({ data: { dataset: 'd', labeled: { count: 2.5 } } }))).toEqual([
      'data.labeled.count: expected an integer, got number 2.5',
    ]);
  });

  it('rejects out-of-range numbers with the bound', () => {
    expect(problems(minimal({ model: { numClasses: 1 } }))).toEqual([
      'model.numClasses: expected an integer of at least 2, got 1',
    ]);
    expect(problems(minimal({ method: { maskRatio: 1 } }))).toEqual([
      'method.maskRatio: expected a number less than 1, got 1',
    ]);
    expect(problems(minimal({ method: { teacher: { emaDecay: 1.5 } } }))).toEqual([
      'method.teacher.emaDecay: expected a number of at most 1, got 1.5',
    ]);
    expect(problems(minimal({ train: { stages: { pretrain: { iterations: -1 } } } }))).toEqual([
      'train.stages.pretrain.iterations: expected an integer of at least 0, got -1',
    ]);
  });

  it('reports one bound per key, the real one, for a number beyond the safe-integer range', () => {
    // 2^53 + 1 reads as 2^53: it fails both z.int()'s safe range and the key's own maximum.
    expect(problems(minimal({ train: { seed: 2 ** 53 } }))).toEqual([
      'train.seed: expected an integer of at most 4294967295, got 9007199254740992',
    ]);
    expect(problems(minimal({ train: { stages: { pretrain: { iterations: 2 ** 53 } } } }))).toEqual([
      'train.stages.pretrain.iterations: expected an integer of at most 9007199254740991, got 9007199254740992',
    ]);
  });

  it('validates split lists and files', () => {
    const ok = parseConfig(
      minimal({ data: { dataset: 'd', splits: { train: ['a', 'b'], test: 'lists/test.list' } } }),
    );
    expect(ok.data.splits).toEqual({ train: ['a', 'b'], test: path.resolve('lists/test.list') });
    expect(problems(minimal({ data: { dataset: 'd', splits: { val: ['ok', 'no/slash'] } } }))).toEqual([
      `data.splits.val[1]: expected a case id (no whitespace, '/', '\\' or ','), got "no/slash"`,
    ]);
    expect(problems(minimal({ data: { dataset: 'd', splits: { val: 'cases.csv' } } }))).toEqual([
      `data.splits.val: expected a list of case ids or a path to a .list or .txt file, got "${path.resolve('cases.csv')}"`,
    ]);
    expect(problems(minimal({ data: { dataset: 'd', splits: { val: 7 } } }))).toEqual([
      'data.splits.val: expected a list of case ids or a path to a .list/.txt file, got number 7',
    ]);
  });
});

describe('cross-field checks', () => {
  it('requires VNet patch sizes divisible by 16, for data and eval', () => {
    expect(
      problems(minimal({ data: { dataset: 'd', patchSize: [100, 96, 81] } }), 'configs/la.yaml'),
    ).toEqual([
      "data.patchSize[0]: expected a multiple of 16 for model.name 'vnet', got 100",
      "data.patchSize[2]: expected a multiple of 16 for model.name 'vnet', got 81",
    ]);
    expect(problems(minimal({ eval: { patch: [112, 112, 72] } }))).toEqual([
      "eval.patch[2]: expected a multiple of 16 for model.name 'vnet', got 72",
    ]);
  });

  it('formats the message as <file>: <key.path>: expected ..., got ...', () => {
    expect(() =>
      parseConfig(minimal({ data: { dataset: 'd', patchSize: [100, 112, 80] } }), {
        file: 'configs/la.yaml',
      }),
    ).toThrow("configs/la.yaml: data.patchSize[0]: expected a multiple of 16 for model.name 'vnet', got 100");
  });

  it('requires the number of sizes to match the model', () => {
    expect(problems(minimal({ data: { dataset: 'd', patchSize: [96, 96] } }))).toEqual([
      "data.patchSize: expected 3 sizes for model.name 'vnet', got 2 ([96,96])",
    ]);
    expect(problems(minimal({ model: { name: 'unet2d' }, eval: { strides: [16, 16, 4] } }))).toEqual([
      "eval.strides: expected 2 sizes for model.name 'unet2d', got 3 ([16,16,4])",
    ]);
    expect(
      problems(minimal({ model: { name: 'unet2d' }, data: { dataset: 'd', sliceResize: [200, 256] } })),
    ).toEqual(["data.sliceResize[0]: expected a multiple of 16 for model.name 'unet2d', got 200"]);
    expect(problems(minimal({ data: { dataset: 'd', sliceResize: [256, 256] } }))).toEqual([
      "data.sliceResize: expected no value for model.name 'vnet' (2-D only), got [256,256]",
    ]);
    expect(
      problems(
        minimal({ model: 'unet2d', data: { dataset: 'd', sliceResize: [256, 256], patchSize: [128, 128] } }),
      ),
    ).toEqual([
      "data.patchSize: expected the same size as data.sliceResize [256,256] for model.name 'unet2d' (slices are fed whole), got [128,128]",
    ]);
  });

  it('rejects strides larger than the eval patch', () => {
    expect(problems(minimal({ eval: { strides: [18, 128, 4] } }))).toEqual([
      'eval.strides[1]: expected at most the eval patch size 112 (windows must overlap or touch), got 128',
    ]);
  });

  it('checks batch sizes against the method', () => {
    expect(problems(minimal({ train: { batch: { labeled: 3, unlabeled: 3 } } }))).toEqual([
      "train.batch.labeled: expected an even number ≥ 2 (pre-training and method 'cpam-trcm' mix two labeled sub-batches of labeled/2), got 3",
    ]);
    expect(problems(minimal({ train: { batch: { labeled: 4, unlabeled: 2 } } }))).toEqual([
      "train.batch.unlabeled: expected 4 (= train.batch.labeled: method 'cpam-trcm' pastes unlabeled into labeled sub-batches), got 2",
    ]);
    expect(
      problems(minimal({ method: { name: 'mean-teacher' }, train: { batch: { unlabeled: 0 } } })),
    ).toEqual(["train.batch.unlabeled: expected at least 1 for method 'mean-teacher', got 0"]);
    // Supervised without pre-training mixes nothing: odd labeled and no unlabeled are fine.
    const supervised = parseConfig(
      minimal({
        method: { name: 'supervised' },
        train: { batch: { labeled: 3, unlabeled: 0 }, stages: { pretrain: { enabled: false } } },
      }),
    );
    expect(supervised.train.batch).toEqual({ labeled: 3, unlabeled: 0 });
    // Pre-training alone still mixes labeled pairs (E27).
    expect(
      problems(
        minimal({
          method: { name: 'supervised' },
          train: { batch: { labeled: 3 }, stages: { selftrain: { enabled: false } } },
        }),
      ),
    ).toEqual([
      'train.batch.labeled: expected an even number ≥ 2 (pre-training mix two labeled sub-batches of labeled/2), got 3',
    ]);
  });

  it('bounds each patch edge and the largest feature map, for data and eval', () => {
    const valid = { startRange: 'valid' };
    expect(
      problems(minimal({ data: { dataset: 'd', patchSize: [4096, 4096, 4096] }, method: valid })),
    ).toEqual(
      [0, 1, 2].map(
        (i) =>
          `data.patchSize[${i}]: expected at most ${MAX_PATCH_EDGE} (the largest patch edge accepted), got 4096`,
      ),
    );
    expect(
      problems(minimal({ data: { dataset: 'd', patchSize: [1024, 1024, 1024] }, method: valid })),
    ).toEqual([
      `data.patchSize: expected a size whose feature maps fit in memory, got [1024,1024,1024]: pre-training forwards labeled/2 = 2 sample(s) × 1073741824 voxels × 16 channels = 34359738368 values in one feature map, more than the ${MAX_TYPED_ARRAY_LENGTH} a typed array holds`,
    ]);
    expect(problems(minimal({ eval: { patch: [512, 512, 512], batchWindows: 4 } }))).toEqual([
      `eval.patch: expected a size whose feature maps fit in memory, got [512,512,512]: evaluation forwards eval.batchWindows = 4 sample(s) × 134217728 voxels × 16 channels = 8589934592 values in one feature map, more than the ${MAX_TYPED_ARRAY_LENGTH} a typed array holds`,
    ]);
    // UNet2d's widest full-resolution map is the last decoder concat (2 × baseFilters).
    expect(
      problems(
        minimal({
          model: { name: 'unet2d', baseFilters: 512 },
          data: { dataset: 'd', sliceResize: [1024, 1024] },
          method: valid,
          train: { batch: { labeled: 16, unlabeled: 16 } },
        }),
      ),
    ).toEqual([
      'data.sliceResize: expected a size whose feature maps fit in memory, got [1024,1024]: pre-training forwards labeled/2 = 8 sample(s) × 1048576 voxels × 1024 channels = 8589934592 values in one feature map, more than the 4294967296 a typed array holds',
    ]);
    expect(
      parseConfig(minimal({ data: { dataset: 'd', patchSize: [256, 256, 256] }, method: valid })).data
        .patchSize,
    ).toEqual([256, 256, 256]);
  });

  it('requires eval.patch of a 2-D model to be the slice size it sees', () => {
    expect(
      problems(
        minimal({
          model: 'unet2d',
          data: { dataset: 'd', sliceResize: [256, 256] },
          eval: { patch: [128, 128] },
        }),
      ),
    ).toEqual([
      "eval.patch: expected no value or data.sliceResize [256,256] for model.name 'unet2d' (a 2-D model sees whole slices resized to data.sliceResize), got [128,128]",
    ]);
    const same = parseConfig(
      minimal({
        model: 'unet2d',
        data: { dataset: 'd', sliceResize: [128, 128] },
        eval: { patch: [128, 128] },
      }),
    );
    expect(same.eval.patch).toEqual([128, 128]);
  });

  it('rejects a batch that leaves train-mode batch norm one value per channel', () => {
    // Patch 16³: the VNet bottleneck is 1×1×1, so a forward of one sample has one value per channel.
    expect(
      problems(
        minimal({
          data: { dataset: 'd', patchSize: [16, 16, 16] },
          train: { batch: { labeled: 2, unlabeled: 2 } },
        }),
      ),
    ).toEqual([
      'train.batch.labeled: expected a batch that gives train-mode batch norm more than 1 value per channel, got 2: pre-training forwards labeled/2 = 1 sample(s), and the smallest feature map of patch [16,16,16] is 1×1×1 (1/16 per axis); use a larger batch or patch',
    ]);
    expect(
      problems(
        minimal({
          data: { dataset: 'd', patchSize: [16, 16, 16] },
          method: { name: 'supervised' },
          train: { batch: { labeled: 1, unlabeled: 0 }, stages: { pretrain: { enabled: false } } },
        }),
      ),
    ).toEqual([
      "train.batch.labeled: expected a batch that gives train-mode batch norm more than 1 value per channel, got 1: method 'supervised' forwards labeled = 1 sample(s), and the smallest feature map of patch [16,16,16] is 1×1×1 (1/16 per axis); use a larger batch or patch",
    ]);
    expect(
      problems(
        minimal({
          data: { dataset: 'd', patchSize: [16, 16, 16] },
          method: { name: 'mean-teacher' },
          train: { batch: { labeled: 4, unlabeled: 1 } },
        }),
      ),
    ).toEqual([
      "train.batch.unlabeled: expected a batch that gives train-mode batch norm more than 1 value per channel, got 1: the teacher of method 'mean-teacher' forwards unlabeled = 1 sample(s), and the smallest feature map of patch [16,16,16] is 1×1×1 (1/16 per axis); use a larger batch or patch",
    ]);
    // An eval-mode teacher has no batch statistics; a larger patch gives the bottleneck two values.
    for (const extra of [
      {
        method: { name: 'mean-teacher', teacher: { mode: 'eval' } },
        train: { batch: { labeled: 4, unlabeled: 1 } },
      },
      { data: { dataset: 'd', patchSize: [32, 16, 16] }, train: { batch: { labeled: 2, unlabeled: 2 } } },
    ]) {
      expect(
        parseConfig(minimal({ data: { dataset: 'd', patchSize: [16, 16, 16] }, ...extra })).run.name,
      ).toBe('la-demo');
    }
  });

  it('warns about a train-mode forward of a single sample', () => {
    const demo = parseConfig(
      minimal({
        data: { dataset: 'd', patchSize: [32, 32, 32] },
        train: { batch: { labeled: 2, unlabeled: 2 } },
      }),
    );
    expect(configWarnings(demo)).toEqual([
      {
        path: 'train.batch.labeled',
        message:
          "pre-training forwards labeled/2 = 1 sample; method 'cpam-trcm' forwards labeled/2 = 1 sample: train-mode batch norm then normalises each sample by its own statistics, unlike the running statistics used at evaluation (use a larger batch)",
      },
    ]);
    expect(configWarnings(parseConfig(minimal()))).toEqual([]);
  });

  it('requires an enabled stage and a consistent optimizer carry-over', () => {
    expect(
      problems(
        minimal({ train: { stages: { pretrain: { enabled: false }, selftrain: { enabled: false } } } }),
      ),
    ).toEqual(['train.stages: expected at least one of pretrain and selftrain enabled, got both disabled']);
    expect(
      problems(
        minimal({
          train: { stages: { pretrain: { optimizer: 'adam' }, selftrain: { carryOptimizer: true } } },
        }),
      ),
    ).toEqual([
      'train.stages.selftrain.carryOptimizer: expected false when the stages use different optimizers (adam then sgd), got true',
    ]);
    expect(
      problems(
        minimal({ train: { stages: { pretrain: { enabled: false }, selftrain: { carryOptimizer: true } } } }),
      ),
    ).toEqual([
      'train.stages.selftrain.carryOptimizer: expected false when train.stages.pretrain is disabled (there is no optimizer state to carry), got true',
    ]);
    expect(
      problems(
        minimal({ train: { validation: { split: 'none' }, stages: { selftrain: { initFrom: 'best' } } } }),
      ),
    ).toEqual([
      "train.stages.selftrain.initFrom: expected 'last' when train.validation.split is 'none' (no best checkpoint is selected), got 'best'",
    ]);
  });

  it('requires the reference start range to exceed the cuboid size (numpy randint needs a non-empty range)', () => {
    // Patch 112: cuboid floor(112·2/3) = 74, so a range of 74 leaves randint(0, 0): invalid; 75 is the minimum.
    expect(problems(minimal({ method: { referenceStartRange: [74, 112, 80] } }))).toEqual([
      'method.referenceStartRange[0]: expected more than the cuboid size 74 (floor(112 × 0.6666666666666666)) so that randint(0, range − size) has a value, got 74',
    ]);
    expect(
      parseConfig(minimal({ method: { referenceStartRange: [75, 75, 54] } })).method.referenceStartRange,
    ).toEqual([75, 75, 54]);
    // A large patch with the default 112/112/80 range: the message says it is the default and how to fix it.
    const lines = problems(minimal({ data: { dataset: 'd', patchSize: [176, 112, 80] } }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('method.referenceStartRange[0]: expected more than the cuboid size 117');
    expect(lines[0]).toContain('(the default; set method.startRange: valid');
    expect(
      parseConfig(
        minimal({ data: { dataset: 'd', patchSize: [176, 112, 80] }, method: { startRange: 'valid' } }),
      ).method.startRange,
    ).toBe('valid');
    // BraTS 96³ under the reference range (Q1): the range exceeds the patch, which is the documented quirk, allowed.
    expect(
      parseConfig(minimal({ data: { dataset: 'd', patchSize: [96, 96, 96] } })).method.referenceStartRange,
    ).toEqual([112, 112, 80]);
  });

  it('rejects a mask ratio that leaves no cuboid, once', () => {
    expect(problems(minimal({ method: { maskRatio: 0.01 } }))).toEqual([
      'method.maskRatio: expected a ratio giving a cuboid of at least 1 voxel on axis 2 (patch 80), got 0.01',
    ]);
  });

  it('checks connectivity per dimensionality and channels against inChannels', () => {
    expect(
      problems(minimal({ method: { pseudoLabel: { connectivity: 8 } }, eval: { connectivity: 4 } })),
    ).toEqual([
      "method.pseudoLabel.connectivity: expected one of 6, 18, 26 for model.name 'vnet', got 8",
      "eval.connectivity: expected one of 6, 18, 26 for model.name 'vnet', got 4",
    ]);
    expect(
      problems(
        minimal({ model: { name: 'unet2d', inChannels: 2 }, method: { pseudoLabel: { connectivity: 26 } } }),
      ),
    ).toEqual([
      'model.inChannels: expected 1 (the number of data.channels [0]), got 2',
      "method.pseudoLabel.connectivity: expected one of 4, 8 for model.name 'unet2d', got 26",
    ]);
    expect(problems(minimal({ data: { dataset: 'd', channels: [0, 1, 0] } }))).toEqual([
      'data.channels[2]: expected distinct channels, got 0 twice',
    ]);
  });

  it('rejects nesterov without momentum', () => {
    expect(
      problems(minimal({ train: { stages: { pretrain: { optimizer: { momentum: 0, nesterov: true } } } } })),
    ).toEqual(['train.stages.pretrain.optimizer.nesterov: expected false when momentum is 0, got true']);
  });
});

describe('configToYaml', () => {
  it('writes schema key order whatever the input order, and loads back to the same config', () => {
    const config = parseConfig({
      train: { logInterval: 5, seed: 7 },
      method: { unlabeledWeight: 1, name: 'bcp' },
      data: { labeled: { count: 4 }, dataset: 'd' },
      run: { outputDir: 'out', name: 'x' },
    });
    const text = configToYaml(config, { header: 'resolved by ssmis\nsecond line' });
    expect(text.startsWith('# resolved by ssmis\n# second line\n')).toBe(true);
    const topKeys = [...text.matchAll(/^(\w+):/gm)].map((m) => m[1]);
    expect(topKeys).toEqual(['run', 'backend', 'data', 'model', 'method', 'train', 'eval']);
    expect(text).toMatch(/run:\n {2}name: x\n {2}outputDir: out\n/);
    expect(text).toContain('patchSize: [ 112, 112, 80 ]');
    expect(text).not.toContain('sliceResize');
    const back = parseConfig(parse(text));
    expect(back).toEqual(config);
    expect(configToYaml(back)).toBe(configToYaml(config));
  });
});

describe('reference table', () => {
  const rows = describeConfigSchema();

  it('documents every key with a type, a default and a description', () => {
    expect(rows.length).toBeGreaterThan(80);
    for (const row of rows) {
      expect(row.description.replace(/^\[[^\]]+\] /, '').length, row.key).toBeGreaterThan(10);
      expect(row.type, row.key).not.toBe('');
      expect(row.default, row.key).not.toBe('');
    }
  });

  it('lists every leaf of a parsed config', () => {
    const keys = new Set(rows.map((row) => row.key));
    const config = parseConfig(
      minimal({ data: { dataset: 'd', splits: { train: ['a'], val: ['b'], test: ['c'] } } }),
    );
    const leaves: string[] = [];
    const visit = (value: unknown, prefix: string) => {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        for (const [k, v] of Object.entries(value)) visit(v, prefix ? `${prefix}.${k}` : k);
      } else leaves.push(prefix);
    };
    visit(config, '');
    for (const leaf of leaves) expect(keys.has(leaf), leaf).toBe(true);
  });

  it('shows defaults, variant rows and dynamic defaults', () => {
    const find = (key: string) => rows.filter((row) => row.key === key);
    expect(find('train.seed')[0]).toMatchObject({ type: 'integer in [0, 4294967295]', default: '1337' });
    expect(find('run.name')[0]?.default).toBe('required');
    expect(find('eval.units')[0]?.default).toBe("'mm' for protocol strict, 'voxel' for paper");
    const lr = find('train.stages.selftrain.optimizer.lr');
    expect(lr.map((row) => row.default)).toEqual(['0.01', '0.001']);
    expect(lr[1]?.description.startsWith('[adam] ')).toBe(true);
    expect(find('train.stages.selftrain.schedule.name')[0]?.default).toBe("'poly'");
    expect(find('train.stages.pretrain.schedule.name')[0]?.default).toBe("'constant'");
    expect(find('model.inChannels')).toHaveLength(1);
    expect(find('model.dropout')).toHaveLength(2);
    const markdown = configReferenceMarkdown();
    expect(markdown.split('\n')[0]).toBe('| key | type | default | description |');
    expect(markdown).toContain(
      "| `backend.name` | 'auto' \\| 'tensorflow-gpu' \\| 'webgpu' \\| 'tensorflow' \\| 'cpu' | 'auto' |",
    );
  });
});

describe('module layout of the config schema', () => {
  it('keeps every name of the schema available from src/config/index.ts and src/config/schema.ts', async () => {
    const index = await import('../../src/config/index.js');
    const schema = await import('../../src/config/schema.js');
    const checks = await import('../../src/config/checks.js');
    const resolve = await import('../../src/config/resolve.js');
    const raw = await import('../../src/config/raw-schema.js');
    for (const name of [
      'configSchema',
      'rawConfigSchema',
      'configWarnings',
      'trainModeForwards',
      'labeledCaseCount',
      'modelDims',
      'MAX_PATCH_EDGE',
      'MAX_TYPED_ARRAY_LENGTH',
      'METHOD_NAMES',
    ] as const) {
      expect(index[name], name).toBeDefined();
      expect(schema[name], name).toBe(index[name]);
    }
    expect(index.rawConfigSchema).toBe(raw.rawConfigSchema);
    expect(index.configWarnings).toBe(checks.configWarnings);
    expect(index.trainModeForwards).toBe(checks.trainModeForwards);
    expect(index.modelDims).toBe(resolve.modelDims);
  });

  it('configSchema is the raw schema, then the cross-key checks, then the resolution of defaults', async () => {
    const { rawConfigSchema } = await import('../../src/config/raw-schema.js');
    const { resolveDefaults } = await import('../../src/config/resolve.js');
    const { crossCheck } = await import('../../src/config/checks.js');
    const input = minimal({ model: { name: 'unet2d' }, data: { dataset: 'data/acdc', preset: 'acdc' } });
    const raw = rawConfigSchema.parse(input);
    expect(crossCheck(raw, () => false)).toEqual([]);
    expect(configSchema.parse(input)).toEqual(resolveDefaults(raw));
    const bad = rawConfigSchema.parse(minimal({ data: { dataset: 'data/la', patchSize: [112, 112] } }));
    expect(crossCheck(bad, () => false).map((issue) => issue.path.join('.'))).toContain('data.patchSize');
  });
});

/**
 * The resolution of a parsed config: every default that depends on other keys (model dimensionality, data preset,
 * eval protocol) is filled, so an `SsmisConfig` has every value set.
 */
import { augmentPreset } from '../data/presets.js';
import { REFERENCE_START_RANGES } from '../method/cuboid-size.js';
import { defaultConnectivity, defaultLossDice } from '../method/dims-defaults.js';
import type { RawConfig } from './raw-schema.js';

/**
 * The dimensionality of a model: 3 for `vnet`, 2 for `unet2d` (which sees 2-D slices).
 *
 * @param name The config's `model.name`.
 * @returns 3 or 2.
 * @example
 * const patchAxes = modelDims(config.model.name); // 3 for vnet
 */
export function modelDims(name: 'vnet' | 'unet2d'): 2 | 3 {
  return name === 'vnet' ? 3 : 2;
}

/** Fills every default that depends on other keys. Pure; runs after the cross-field checks. */
export function resolveDefaults(raw: RawConfig) {
  const dims = modelDims(raw.model.name);
  const presetAugmentation = augmentPreset(raw.data.preset);
  const sliceResize = dims === 2 ? (raw.data.sliceResize ?? raw.data.patchSize ?? [256, 256]) : undefined;
  const patchSize = raw.data.patchSize ?? sliceResize ?? [112, 112, 80];
  const evalPatch = raw.eval.patch ?? patchSize;
  // The reference strides, but never larger than the patch (a larger stride would skip voxels between windows).
  const evalStrides =
    raw.eval.strides ?? (dims === 3 ? [18, 18, 4].map((s, i) => Math.min(s, evalPatch[i] ?? s)) : evalPatch);
  const paper = raw.eval.protocol === 'paper';
  const aug = raw.data.augmentation;
  const selftrain = raw.train.stages.selftrain;
  return {
    run: raw.run,
    backend: raw.backend,
    data: {
      ...raw.data,
      patchSize,
      sliceResize,
      augmentation: {
        rotFlip: aug.rotFlip ?? presetAugmentation.rotFlip,
        padMargin: aug.padMargin ?? presetAugmentation.padMargin,
        unlabeledCrop: aug.unlabeledCrop ?? presetAugmentation.unlabeledCrop,
        rotateDegrees: aug.rotateDegrees,
      },
    },
    model: { ...raw.model, inChannels: raw.model.inChannels ?? raw.data.channels.length },
    method: {
      ...raw.method,
      referenceStartRange: raw.method.referenceStartRange ?? [...REFERENCE_START_RANGES[dims]],
      teacher: {
        ...raw.method.teacher,
        includeBatchNormStats: raw.method.teacher.includeBatchNormStats ?? dims === 2,
      },
      pseudoLabel: {
        ...raw.method.pseudoLabel,
        connectivity: raw.method.pseudoLabel.connectivity ?? defaultConnectivity(dims),
      },
      lossDice: raw.method.lossDice ?? defaultLossDice(dims),
    },
    train: {
      ...raw.train,
      stages: {
        pretrain: raw.train.stages.pretrain,
        selftrain: {
          ...selftrain,
          initFrom: selftrain.initFrom ?? (raw.train.validation.split === 'none' ? 'last' : 'best'),
        },
      },
      validation: { ...raw.train.validation, strides: raw.train.validation.strides ?? evalStrides },
    },
    eval: {
      ...raw.eval,
      patch: evalPatch,
      strides: evalStrides,
      largestComponent: raw.eval.largestComponent ?? paper,
      connectivity: raw.eval.connectivity ?? defaultConnectivity(dims),
      units: raw.eval.units ?? (paper ? 'voxel' : 'mm'),
    },
  };
}

/** The parsed config with every default filled. */
export type SsmisConfig = ReturnType<typeof resolveDefaults>;

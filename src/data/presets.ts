/**
 * The dataset presets and their reference augmentation: the defaults the config fills in and the batch loader
 * uses when given none. TF.js-free so that the config layer can import them.
 */
import { requireString } from '../util/args.js';

/** The benchmarks ssmis knows (`data.preset`, `dataset.json` `preset`); `custom` is any other dataset. */
export const DATASET_PRESETS = ['la', 'acdc', 'brats2019', 'pancreas-nih', 'custom'] as const;

/** One of {@link DATASET_PRESETS}. */
export type DatasetPreset = (typeof DATASET_PRESETS)[number];

export interface Augment3dOptions {
  /** RandomRotFlip before cropping (LA/BraTS true; pancreas false). */
  rotFlip: boolean;
  /** Pad margin of the crop pad rule (3; pancreas 1). */
  padMargin: number;
  /** How unlabeled samples are cropped (`random`; pancreas `center`). */
  unlabeledCrop: 'random' | 'center';
}

/** Reference 3-D augmentation per dataset preset (§2.1–2.3, §2.5): the Pancreas pipeline differs. */
export function augmentPreset(preset: string): Augment3dOptions {
  requireString('augmentPreset', 'preset', preset);
  if (preset === 'pancreas-nih') return { rotFlip: false, padMargin: 1, unlabeledCrop: 'center' };
  return { rotFlip: true, padMargin: 3, unlabeledCrop: 'random' };
}

/** 2-D augmentation: the largest rotation of the ACDC transform, in degrees (the angle is in [−d, d − 1]). */
export const DEFAULT_ROTATE_DEGREES = 20;

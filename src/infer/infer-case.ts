/**
 * One case through a trained model: the whole-volume inference of the model's dimensionality (sliding-window.ts),
 * then the post-processing (post-process.ts). Evaluation, prediction and validation during training all run a
 * case through {@link inferCase}; they differ only in how the case is loaded and in the settings.
 */
import type { SsmisConfig } from '../config/index.js';
import type { LoadedCase } from '../data/dataset.js';
import type { Connectivity } from '../method/connected-components.js';
import { requireFunction, requireModel, requireObject } from '../util/args.js';
import { keepLargestComponents } from './post-process.js';
import { type InferenceModel, inferVolume, type SlidingWindowResult } from './sliding-window.js';

/** How a case is inferred and post-processed. */
export interface InferenceSettings {
  /** 3-D models: window patch and strides. */
  patch: readonly number[];
  strides: readonly number[];
  /** 2-D models: the in-plane size each slice is resized to (default `patch`). */
  sliceResize?: readonly number[];
  /** Windows (3-D) or slices (2-D) per forward pass. Results do not depend on it. */
  batchWindows?: number;
  /** Keep the largest connected component of each foreground class with this connectivity, or `false`. */
  largestComponent: Connectivity | false;
}

/** A loaded case's image: `[X, Y, Z, C]` float32 with the channels interleaved last. */
export type InferenceCase = Pick<LoadedCase, 'image' | 'shape' | 'channels'>;

/**
 * The settings of a config's `eval` section (patch, strides, batchWindows, largestComponent/connectivity) and,
 * for 2-D models, `data.sliceResize`: what `eval` and `predict` infer with.
 */
export function evalInferenceSettings(config: SsmisConfig): InferenceSettings {
  const ev = config.eval;
  return {
    patch: ev.patch,
    strides: ev.strides,
    sliceResize: config.data.sliceResize,
    batchWindows: ev.batchWindows,
    largestComponent: ev.largestComponent ? (ev.connectivity as Connectivity) : false,
  };
}

/** The foreground classes 1..K−1 of a model: what is post-processed and scored. */
export function foregroundClasses(model: Pick<InferenceModel, 'numClasses'>): number[] {
  return Array.from({ length: model.numClasses - 1 }, (_, i) => i + 1);
}

/**
 * Runs a trained model on one loaded case (eval mode) and post-processes its labels: whole-volume inference with
 * the rule of the model's dimensionality ({@link inferVolume}: 3-D sliding window or 2-D slices), then, when
 * `settings.largestComponent` is a connectivity, the largest connected component of each foreground class.
 * Evaluation, prediction and validation during training all run a case through this function.
 *
 * @param model - a VNet or UNet2d (`createVNet`, `createUNet2d`, `createModel`) or any {@link InferenceModel}.
 * @param loadedCase - the case's image as `Dataset.loadCase` returns it: `image` float32 `[X, Y, Z, C]` with the
 *   channels interleaved last, `shape` `[X, Y, Z]` and `channels` C.
 * @param settings - window `patch` and `strides` (3-D), `sliceResize` (2-D, default `patch`), `batchWindows`, and
 *   `largestComponent` (6, 18 or 26 to keep the largest component, `false` for none).
 * @param onProgress - called with (windows or slices done, total) as inference advances.
 * @returns the averaged probabilities as inferred and the label map `[X, Y, Z]` after post-processing.
 * @throws {@link InputError} when an argument is missing or of the wrong kind (naming it), or when the patch,
 *   strides or image do not fit the model (see {@link inferVolume}).
 * @example
 * const dataset = await openDataset('data/la');
 * const c = await dataset.loadCase(dataset.ids('test')[0]);
 * const { labels } = await inferCase(model, c, { patch: [112, 112, 80], strides: [18, 18, 4], largestComponent: 26 });
 */
export async function inferCase(
  model: InferenceModel,
  loadedCase: InferenceCase,
  settings: InferenceSettings,
  onProgress?: (done: number, total: number) => void,
): Promise<SlidingWindowResult> {
  requireModel('inferCase', 'model', model);
  requireObject(
    'inferCase',
    'loadedCase',
    loadedCase,
    'a loaded case ({ image, shape, channels } as Dataset.loadCase returns it)',
  );
  requireObject('inferCase', 'settings', settings, 'an inference settings object');
  if (onProgress !== undefined) requireFunction('inferCase', 'onProgress', onProgress);
  const c = loadedCase;
  const volume = { data: c.image, shape: [...c.shape, c.channels] as [number, number, number, number] };
  const result = await inferVolume(model, volume, {
    patch: settings.patch,
    strides: settings.strides,
    sliceResize: settings.sliceResize,
    batchWindows: settings.batchWindows,
    onProgress,
  });
  if (settings.largestComponent === false) return result;
  const labels = keepLargestComponents(
    result.labels,
    c.shape,
    foregroundClasses(model),
    settings.largestComponent,
  );
  return { ...result, labels };
}

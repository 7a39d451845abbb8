/**
 * Turns sampled, augmented cases into the tensors one training step consumes (docs/equations.md §2.5–2.6).
 *
 * 3-D (LA, BraTS, Pancreas): sampler units are cases. Per sample: RandomRotFlip → RandomCrop(patch, pad margin 3)
 * for LA/BraTS; for the pancreas pipeline no rot/flip, pad margin 1, and unlabeled samples are CenterCropped.
 *
 * 2-D (ACDC): sampler units are axial slices (last axis) of the volumes: labeled units = every slice of every
 * labeled volume, unlabeled units = every slice of the other train volumes. This is what BCP's
 * `train_slices.list` encodes (all axial slices of the 140 train volumes, patient by patient, so its first
 * `patients_to_slices(N)` lines are exactly the slices of the first N patients); the sampler permutes units,
 * so the order inside the list does not matter and iterations/epoch = floor(labeled slices / labeled batch)
 * (136 / 12 → 11 on the real data). Slice counts come from the NIfTI headers when the loader is created.
 * Each slice is `[X, Y]` in NIfTI order, the transpose of the reference's `[y, x]` h5 slice: rot90 turns the
 * other way and the flip axes swap, which leaves the augmentation distribution unchanged except for the 1°
 * asymmetry of randint(−20, 20).
 *
 * Draw order per batch: the sampler (its own Rng), then the augmentation Rng sample by sample, labeled samples
 * first, in batch order. Cases are loaded (possibly concurrently) before any draw, so I/O timing never
 * changes the draws.
 */

import { tf } from '../backend/tf.js';
import {
  requireNumberArray,
  requireObject,
  requireRng,
  requireStringArray,
  requireTensorFields,
} from '../util/args.js';
import { InputError } from '../util/errors.js';
import type { Rng, RngState } from '../util/rng.js';
import { centerCrop, randomCrop, randomRotFlipCrop } from './augment.js';
import type { Dataset, LoadedCase } from './dataset.js';
import { type Augment3dOptions, augmentPreset, DEFAULT_ROTATE_DEGREES } from './presets.js';
import { type SamplerState, TwoStreamBatchSampler } from './sampler.js';
import { acdcRandomGenerator } from './transforms2d.js';

export { type Augment3dOptions, augmentPreset };

/** 2-D augmentation, with the key of the config's `data.augmentation`. */
export interface Augment2dOptions {
  /**
   * Largest rotation of the ACDC transform in degrees: the angle is numpy's randint(−d, d), upper exclusive.
   * Default {@link DEFAULT_ROTATE_DEGREES}.
   */
  rotateDegrees?: number;
}

export interface SamplerConfig {
  labeledBatch: number;
  /** 0 → supervised (no unlabeled stream). */
  unlabeledBatch: number;
  /** The sampler's own stream (permutations). */
  rng: Rng;
}

export interface BatchLoaderOptions {
  dataset: Dataset;
  labeledIds: readonly string[];
  unlabeledIds: readonly string[];
  /** `[X, Y, Z]` (3-D) or `[H, W]` (2-D, the zoom output size). */
  patch: readonly number[];
  /** Default: the dataset's `dims`. */
  dims?: 2 | 3;
  /** 3-D: default `augmentPreset(dataset preset)`; 2-D: ACDC transform options. */
  augment?: Partial<Augment3dOptions> & Augment2dOptions;
  sampler: SamplerConfig;
  /** Augmentation stream. */
  rng: Rng;
}

/**
 * One training step's data. 3-D: images `[N, X, Y, Z, C]` float32, labels `[N, X, Y, Z]` int32;
 * 2-D: `[N, H, W, C]`, `[N, H, W]`. The caller owns (and disposes) the tensors: `disposeBatch`.
 */
export interface TrainingBatch {
  labeledImages: tf.Tensor5D | tf.Tensor4D;
  labeledLabels: tf.Tensor4D | tf.Tensor3D;
  /** null in supervised mode (unlabeled batch 0). Unlabeled labels are never turned into tensors. */
  unlabeledImages: tf.Tensor5D | tf.Tensor4D | null;
  caseIds: { labeled: string[]; unlabeled: string[] };
  /** 2-D: the axial slice index of each sample; null in 3-D. */
  slices: { labeled: number[]; unlabeled: number[] } | null;
  epoch: number;
  iterationInEpoch: number;
  /** 0-based count of batches produced before this one. */
  iteration: number;
}

export interface BatchLoaderState {
  sampler: SamplerState;
  rng: RngState;
  iteration: number;
}

export function disposeBatch(batch: TrainingBatch): void {
  requireTensorFields('disposeBatch', 'batch', batch, ['labeledImages', 'labeledLabels']);
  batch.labeledImages.dispose();
  batch.labeledLabels.dispose();
  batch.unlabeledImages?.dispose();
}

interface Unit {
  id: string;
  /** Axial slice (2-D) or −1 (3-D). */
  z: number;
}

interface Sample {
  image: Float32Array;
  label: Uint8Array;
}

/** `[X, Y, Z, C]` volume → `[X, Y, C]` image and `[X, Y]` label of slice z. */
function extractSlice(c: LoadedCase, z: number): Sample {
  const [nx, ny, nz] = c.shape;
  const ch = c.channels;
  const image = new Float32Array(nx * ny * ch);
  const label = new Uint8Array(nx * ny);
  for (let p = 0; p < nx * ny; p++) {
    const v = p * nz + z;
    label[p] = c.label[v];
    for (let t = 0; t < ch; t++) image[p * ch + t] = c.image[v * ch + t];
  }
  return { image, label };
}

/**
 * The training data stream: each {@link BatchLoader.next} draws one batch of labeled and unlabeled units with
 * the {@link TwoStreamBatchSampler}, loads the cases, crops and augments them (3-D: random crop, flip/rotation per
 * the dataset preset; 2-D: the ACDC slice transforms and zoom to `patch`) and returns tensors the caller disposes
 * ({@link disposeBatch}). Its state (sampler, augmentation stream) is saved in checkpoints, so a resumed run
 * draws the same batches.
 *
 * @example
 * import { BatchLoader, disposeBatch, openDataset, Rng } from 'ssmis';
 *
 * const dataset = await openDataset('data/la');
 * const labeledIds = dataset.labeledIds(8);
 * const loader = await BatchLoader.create({
 *   dataset,
 *   labeledIds,
 *   unlabeledIds: dataset.unlabeledIds(8),
 *   patch: [112, 112, 80],
 *   sampler: { labeledBatch: 4, unlabeledBatch: 4, rng: Rng.stream(1, 'sampler') },
 *   rng: Rng.stream(1, 'augment'),
 * });
 * const batch = await loader.next();
 * console.log(batch.labeledImages.shape, batch.caseIds.labeled);
 * disposeBatch(batch);
 */
export class BatchLoader {
  readonly dims: 2 | 3;
  readonly patch: number[];
  readonly channels: number;
  readonly sampler: TwoStreamBatchSampler;
  private readonly dataset: Dataset;
  private readonly labeledUnits: Unit[];
  private readonly unlabeledUnits: Unit[];
  private readonly augment3d: Augment3dOptions;
  private readonly angleRange: [number, number];
  private readonly rng: Rng;
  private iteration = 0;

  private constructor(options: BatchLoaderOptions, dims: 2 | 3, labeled: Unit[], unlabeled: Unit[]) {
    this.dataset = options.dataset;
    this.dims = dims;
    this.patch = [...options.patch];
    this.channels = options.dataset.channels.length;
    this.labeledUnits = labeled;
    this.unlabeledUnits = unlabeled;
    this.augment3d = { ...augmentPreset(options.dataset.info.preset), ...stripUndefined(options.augment) };
    const degrees = options.augment?.rotateDegrees ?? DEFAULT_ROTATE_DEGREES;
    this.angleRange = [-degrees, degrees];
    this.rng = options.rng;
    const supervised = options.sampler.unlabeledBatch === 0;
    this.sampler = new TwoStreamBatchSampler({
      labeled: labeled.map((_, i) => i),
      unlabeled: unlabeled.map((_, i) => i),
      labeledBatch: options.sampler.labeledBatch,
      unlabeledBatch: options.sampler.unlabeledBatch,
      mode: supervised ? 'supervised' : 'two-stream',
      rng: options.sampler.rng,
    });
  }

  /**
   * Creates a loader (the constructor is private: building the 2-D units reads every volume's header, which is
   * asynchronous). Builds the units (3-D: cases; 2-D: every axial slice of every case) and the sampler.
   *
   * @param options `dataset` ({@link openDataset}), `labeledIds` and `unlabeledIds` (disjoint case id lists),
   *   `patch` (`[X, Y, Z]` in 3-D, `[H, W]` in 2-D), `dims` (default the dataset's), `augment` overrides,
   *   `sampler` (`labeledBatch`, `unlabeledBatch` — 0 for supervised training — and the sampler's own `rng`) and
   *   `rng` (the augmentation stream).
   * @returns The loader, positioned before its first batch.
   * @throws InputError when `options` or one of its fields has the wrong type, the patch does not have `dims`
   *   positive integers, a case is in both lists, a 2-D case header cannot be read, or the sampler settings
   *   cannot make a batch (see {@link TwoStreamBatchSampler}).
   */
  static async create(options: BatchLoaderOptions): Promise<BatchLoader> {
    requireObject('BatchLoader.create', 'options', options);
    requireObject('BatchLoader.create', 'options.dataset', options.dataset, 'a dataset (openDataset)');
    requireStringArray('BatchLoader.create', 'options.labeledIds', options.labeledIds);
    requireStringArray('BatchLoader.create', 'options.unlabeledIds', options.unlabeledIds);
    requireNumberArray('BatchLoader.create', 'options.patch', options.patch, {
      integer: true,
      min: 1,
      length: [2, 3],
    });
    requireObject('BatchLoader.create', 'options.sampler', options.sampler);
    requireRng('BatchLoader.create', 'options.rng', options.rng);
    const dims = options.dims ?? options.dataset.info.dims;
    if (options.patch.length !== dims || options.patch.some((p) => !Number.isInteger(p) || p < 1)) {
      throw new InputError(
        `batch loader: patch [${options.patch.join(', ')}] must be ${dims} positive integers for ${dims}-D training`,
      );
    }
    const labeledSet = new Set(options.labeledIds);
    const overlap = options.unlabeledIds.find((id) => labeledSet.has(id));
    if (overlap !== undefined) {
      throw new InputError(`batch loader: case ${overlap} is in both the labeled and the unlabeled list`);
    }
    const units = async (ids: readonly string[]): Promise<Unit[]> => {
      if (dims === 3) return ids.map((id) => ({ id, z: -1 }));
      const out: Unit[] = [];
      for (const id of ids) {
        const [, , nz] = await options.dataset.caseShape(id);
        for (let z = 0; z < nz; z++) out.push({ id, z });
      }
      return out;
    };
    const labeled = await units(options.labeledIds);
    const unlabeled = options.sampler.unlabeledBatch === 0 ? [] : await units(options.unlabeledIds);
    return new BatchLoader(options, dims, labeled, unlabeled);
  }

  /** Sampler units per stream (cases in 3-D, slices in 2-D). */
  get unitCounts(): { labeled: number; unlabeled: number } {
    return { labeled: this.labeledUnits.length, unlabeled: this.unlabeledUnits.length };
  }

  get iterationsPerEpoch(): number {
    return this.sampler.iterationsPerEpoch;
  }

  async next(): Promise<TrainingBatch> {
    const drawn = this.sampler.next();
    const lab = drawn.labeled.map((u) => this.labeledUnits[u]);
    const unl = drawn.unlabeled.map((u) => this.unlabeledUnits[u]);
    const ids = [...new Set([...lab, ...unl].map((u) => u.id))];
    // Promise.all: every load has a handler, so a failing read cannot become an unhandled rejection.
    const cases = await Promise.all(ids.map((id) => this.dataset.loadCase(id)));
    const loaded = new Map(cases.map((c) => [c.id, c]));
    for (const c of loaded.values()) {
      if (c.channels !== this.channels) {
        throw new InputError(
          `case ${c.id}: ${c.channels} image channels, the dataset declares ${this.channels}`,
        );
      }
    }

    const labeledSamples = lab.map((u) => this.augmentOne(loaded.get(u.id)!, u, true));
    const unlabeledSamples = unl.map((u) => this.augmentOne(loaded.get(u.id)!, u, false));

    const voxels = this.patch.reduce((a, b) => a * b, 1);
    const imageShape: number[] = [...this.patch, this.channels];
    const labelShape: number[] = [labeledSamples.length, ...this.patch];
    const stackImages = (samples: Sample[]): tf.Tensor => {
      const buf = new Float32Array(samples.length * voxels * this.channels);
      for (let i = 0; i < samples.length; i++) buf.set(samples[i].image, i * voxels * this.channels);
      return tf.tensor<tf.Rank>(buf, [samples.length, ...imageShape], 'float32');
    };
    const labelBuf = new Int32Array(labeledSamples.length * voxels);
    for (let i = 0; i < labeledSamples.length; i++) labelBuf.set(labeledSamples[i].label, i * voxels);

    const batch: TrainingBatch = {
      labeledImages: stackImages(labeledSamples) as tf.Tensor5D | tf.Tensor4D,
      labeledLabels: tf.tensor<tf.Rank>(labelBuf, labelShape, 'int32') as tf.Tensor4D | tf.Tensor3D,
      unlabeledImages:
        unlabeledSamples.length > 0 ? (stackImages(unlabeledSamples) as tf.Tensor5D | tf.Tensor4D) : null,
      caseIds: { labeled: lab.map((u) => u.id), unlabeled: unl.map((u) => u.id) },
      slices: this.dims === 2 ? { labeled: lab.map((u) => u.z), unlabeled: unl.map((u) => u.z) } : null,
      epoch: drawn.epoch,
      iterationInEpoch: drawn.iterationInEpoch,
      iteration: this.iteration,
    };
    this.iteration++;
    return batch;
  }

  getState(): BatchLoaderState {
    return { sampler: this.sampler.getState(), rng: this.rng.getState(), iteration: this.iteration };
  }

  setState(state: BatchLoaderState): void {
    requireObject('BatchLoader.setState', 'state', state, 'a batch loader state (getState())');
    this.sampler.setState(state.sampler);
    this.rng.setState(state.rng);
    this.iteration = state.iteration;
  }

  private augmentOne(c: LoadedCase, unit: Unit, labeled: boolean): Sample {
    if (this.dims === 2) {
      const slice = extractSlice(c, unit.z);
      const out = acdcRandomGenerator(slice.image, slice.label, [c.shape[0], c.shape[1]], this.rng, {
        outputSize: [this.patch[0], this.patch[1]],
        angleRange: this.angleRange,
      });
      return { image: out.image, label: out.label };
    }
    const opts = this.augment3d;
    const center = !labeled && opts.unlabeledCrop === 'center';
    const crop = opts.rotFlip
      ? // Rotation, flip and crop in one pass over the patch (the same draws and voxels as in turn).
        randomRotFlipCrop(c.image, c.label, c.shape, this.patch, this.rng, {
          padMargin: opts.padMargin,
          center,
        })
      : center
        ? centerCrop(c.image, c.label, c.shape, this.patch, { padMargin: opts.padMargin })
        : randomCrop(c.image, c.label, c.shape, this.patch, this.rng, { padMargin: opts.padMargin });
    return { image: crop.image, label: crop.label };
  }
}

function stripUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

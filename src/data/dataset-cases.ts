/**
 * Opening a canonical dataset folder and loading its cases: `dataset.json` (dataset-json.ts) and the listing of
 * `imagesTr/<case>_<cccc><ending>` are read when it is opened; volumes (`imagesTr`, `labelsTr/<case><ending>`)
 * are read lazily by `loadCase`, checked (shapes, affines, finite intensities, label values) and kept in a
 * bounded LRU cache. Every check names the file, field or case, what was expected and what was found.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { checkSameGrid, GEOMETRY_TOLERANCE_MM, spatialShape } from '../io/geometry.js';
import { readNifti, readNiftiHeader } from '../io/nifti.js';
import type { Affine, Volume } from '../io/volume.js';
import { requireOptions, requireString } from '../util/args.js';
import { errorMessage, InputError } from '../util/errors.js';
import { type DatasetInfo, readDatasetJson, type SplitName } from './dataset-json.js';
import { type LabeledAmount, labeledCaseCount } from './labeled.js';

/** One case as a training step needs it. */
export interface LoadedCase {
  id: string;
  /** `[X, Y, Z, C]` row-major float32 (channels interleaved last). */
  image: Float32Array;
  /** `[X, Y, Z]` row-major uint8. */
  label: Uint8Array;
  shape: [number, number, number];
  channels: number;
  spacing: [number, number, number];
  affine: Affine;
  /** The Volume of channel 0 as read (its geometry/header are what predictions are written with). */
  imageVolume: Volume;
}

/** How many labeled units: a count, or a {@link LabeledAmount} (the rule is {@link labeledCaseCount}). */
export type LabeledSpec = number | LabeledAmount;

export interface CacheStats {
  capacity: number;
  size: number;
  hits: number;
  misses: number;
  /** Cached ids, least recently used first. */
  ids: string[];
}

export interface Dataset {
  readonly dir: string;
  readonly info: DatasetInfo;
  /** The image channels `loadCase` returns, in order (indices into `info.channelNames`). */
  readonly channels: readonly number[];
  /** Case ids of a split, in `dataset.json` order. */
  ids(split: SplitName): string[];
  /** Labeled units of train in order: case ids, or patient ids when `labeledUnit` is `patient`. */
  trainUnits(): string[];
  /** The first N units of train expanded to case ids (ACDC: all volumes of the first N patients). */
  labeledIds(spec: LabeledSpec): string[];
  /** Train cases that are not labeled under `spec`, in train order. */
  unlabeledIds(spec: LabeledSpec): string[];
  imagePath(id: string, channel?: number): string;
  labelPath(id: string): string;
  /** Spatial shape from the channel-0 header only (no voxel decoding). */
  caseShape(id: string): Promise<[number, number, number]>;
  loadCase(id: string): Promise<LoadedCase>;
  cacheStats(): CacheStats;
  clearCache(): void;
}

export interface OpenDatasetOptions {
  /** Cases kept in memory (LRU); 0 disables caching. Default 8. */
  cacheSize?: number;
  /**
   * Image channels to load, in this order (config `data.channels`); default all. BraTS keeps four modalities
   * on disk and the reference trains on FLAIR (channel 0) only.
   */
  channels?: readonly number[];
}

class CanonicalDataset implements Dataset {
  readonly dir: string;
  readonly info: DatasetInfo;
  readonly channels: readonly number[];
  private readonly capacity: number;
  private readonly cache = new Map<string, Promise<LoadedCase>>();
  private hits = 0;
  private misses = 0;
  private readonly known: Set<string>;

  constructor(
    dir: string,
    info: DatasetInfo,
    known: Set<string>,
    capacity: number,
    channels: readonly number[],
  ) {
    this.dir = dir;
    this.info = info;
    this.channels = [...channels];
    this.known = known;
    this.capacity = capacity;
  }

  ids(split: SplitName): string[] {
    return [...this.info.splits[split]];
  }

  trainUnits(): string[] {
    const train = this.info.splits.train;
    const patientOf = this.info.patientOf;
    if (patientOf === null) return [...train];
    const units: string[] = [];
    const seen = new Set<string>();
    for (const id of train) {
      const p = patientOf[id];
      if (!seen.has(p)) {
        seen.add(p);
        units.push(p);
      }
    }
    return units;
  }

  labeledIds(spec: LabeledSpec): string[] {
    const units = this.trainUnits();
    const unitName = this.info.patientOf === null ? 'case' : 'patient';
    const n = labeledCaseCount(typeof spec === 'number' ? { count: spec } : spec, units.length, unitName);
    const patientOf = this.info.patientOf;
    if (patientOf === null) return units.slice(0, n);
    const chosen = new Set(units.slice(0, n));
    return this.info.splits.train.filter((id) => chosen.has(patientOf[id]));
  }

  unlabeledIds(spec: LabeledSpec): string[] {
    const labeled = new Set(this.labeledIds(spec));
    return this.info.splits.train.filter((id) => !labeled.has(id));
  }

  imagePath(id: string, channel = 0): string {
    return path.join(
      this.dir,
      'imagesTr',
      `${id}_${String(channel).padStart(4, '0')}${this.info.fileEnding}`,
    );
  }

  labelPath(id: string): string {
    return path.join(this.dir, 'labelsTr', `${id}${this.info.fileEnding}`);
  }

  private rel(file: string): string {
    return path.relative(this.dir, file);
  }

  private checkKnown(id: string): void {
    if (!this.known.has(id)) {
      throw new InputError(`case ${id}: no image ${this.rel(this.imagePath(id))} in ${this.dir}`);
    }
  }

  async caseShape(id: string): Promise<[number, number, number]> {
    this.checkKnown(id);
    const file = this.imagePath(id);
    let header: Awaited<ReturnType<typeof readNiftiHeader>>;
    try {
      header = await readNiftiHeader(file);
    } catch (error) {
      throw new InputError(`case ${id}: ${errorMessage(error)}`, { cause: error });
    }
    return spatialShape(
      header.shape,
      (shape) => `case ${id}: ${this.rel(file)} has shape ${shape}; expected a 3-D volume`,
    );
  }

  loadCase(id: string): Promise<LoadedCase> {
    const cached = this.cache.get(id);
    if (cached !== undefined) {
      this.hits++;
      this.cache.delete(id);
      this.cache.set(id, cached);
      return cached;
    }
    this.misses++;
    const pending = this.readCase(id);
    if (this.capacity > 0) {
      this.cache.set(id, pending);
      while (this.cache.size > this.capacity) {
        const oldest = this.cache.keys().next().value as string;
        this.cache.delete(oldest);
      }
      // A failed read must not stay cached (the file may be fixed and retried).
      pending.catch(() => {
        if (this.cache.get(id) === pending) this.cache.delete(id);
      });
    }
    return pending;
  }

  cacheStats(): CacheStats {
    return {
      capacity: this.capacity,
      size: this.cache.size,
      hits: this.hits,
      misses: this.misses,
      ids: [...this.cache.keys()],
    };
  }

  clearCache(): void {
    this.cache.clear();
  }

  private async readVolume(id: string, file: string, what: string): Promise<Volume> {
    try {
      await fs.access(file);
    } catch {
      throw new InputError(`case ${id}: ${what} file ${this.rel(file)} not found in ${this.dir}`);
    }
    try {
      return await readNifti(file);
    } catch (error) {
      throw new InputError(`case ${id}: ${errorMessage(error)}`, { cause: error });
    }
  }

  private async readCase(id: string): Promise<LoadedCase> {
    this.checkKnown(id);
    const selected = this.channels;
    const channels = selected.length;
    const volumes: Volume[] = [];
    for (const c of selected) volumes.push(await this.readVolume(id, this.imagePath(id, c), 'image'));
    const labelFile = this.labelPath(id);
    const labelVolume = await this.readVolume(id, labelFile, 'label');

    const file0 = this.rel(this.imagePath(id, selected[0]));
    /** The shape of a file of this case, refused unless 3-D. */
    const shapeOf = (volume: Volume, file: string) =>
      spatialShape(
        volume.shape,
        (shape) => `case ${id}: ${file} has shape ${shape}; expected a 3-D volume (one file per channel)`,
      );
    const shape = shapeOf(volumes[0], file0);
    const n = shape[0] * shape[1] * shape[2];
    const grid0 = { shape, affine: volumes[0].affine };
    for (let c = 1; c < channels; c++) {
      const fc = this.rel(this.imagePath(id, selected[c]));
      checkSameGrid({ shape: shapeOf(volumes[c], fc), affine: volumes[c].affine }, grid0, {
        shape: (found, expected) =>
          `case ${id}: channel file ${fc} has shape ${found} but ${file0} has ${expected}`,
        affine: (diff) =>
          `case ${id}: channel file ${fc} has a different affine than ${file0} (max difference ${diff} mm > ${GEOMETRY_TOLERANCE_MM})`,
      });
    }
    const labelRel = this.rel(labelFile);
    checkSameGrid({ shape: shapeOf(labelVolume, labelRel), affine: labelVolume.affine }, grid0, {
      shape: (found, expected) =>
        `case ${id}: label ${labelRel} has shape ${found} but image ${file0} has ${expected}`,
      affine: (diff) =>
        `case ${id}: label ${labelRel} and image ${file0} have different affines (max difference ${diff} mm > ${GEOMETRY_TOLERANCE_MM})`,
    });

    // Image: interleave channels last, reject NaN/Inf.
    let image: Float32Array;
    if (channels === 1 && volumes[0].data instanceof Float32Array) {
      image = volumes[0].data;
    } else {
      image = new Float32Array(n * channels);
      for (let c = 0; c < channels; c++) {
        const src = volumes[c].data;
        for (let v = 0; v < n; v++) image[v * channels + c] = Number(src[v]);
      }
    }
    for (let v = 0; v < image.length; v++) {
      if (!Number.isFinite(image[v])) {
        const c = v % channels;
        const voxel = Math.floor(v / channels);
        const k = voxel % shape[2];
        const j = Math.floor(voxel / shape[2]) % shape[1];
        const i = Math.floor(voxel / (shape[1] * shape[2]));
        throw new InputError(
          `case ${id}: image ${this.rel(this.imagePath(id, selected[c]))} has a non-finite value (${image[v]}) at voxel (${i}, ${j}, ${k}); expected finite float32 intensities`,
        );
      }
    }

    // Label: integer values among dataset.json labels.
    const allowed = new Uint8Array(256);
    for (const v of this.info.labelValues) allowed[v] = 1;
    const src = labelVolume.data;
    const label = new Uint8Array(n);
    let bad: number | null = null;
    let badCount = 0;
    for (let v = 0; v < n; v++) {
      const x = Number(src[v]);
      if (Number.isInteger(x) && x >= 0 && x < 256 && allowed[x] === 1) {
        label[v] = x;
      } else {
        if (bad === null) bad = x;
        if (x === bad) badCount++;
      }
    }
    if (bad !== null) {
      throw new InputError(
        `case ${id}: label ${labelRel} has value ${bad} (${badCount} voxels) not among the dataset.json labels [${this.info.labelValues.join(', ')}]`,
      );
    }

    const sp = volumes[0].spacing;
    return {
      id,
      image,
      label,
      shape,
      channels,
      spacing: [sp[0], sp[1], sp[2]],
      affine: volumes[0].affine.map((row) => [...row]),
      imageVolume: volumes[0],
    };
  }
}

/**
 * Case ids that have a channel-0 image in `imagesTr`.
 * @param dir - The dataset folder.
 * @param ending - The file ending of its volumes (`dataset.json` `file_ending`).
 * @returns The ids, in no particular order.
 * @throws InputError when `imagesTr` cannot be listed.
 */
export async function listImages(dir: string, ending: string): Promise<Set<string>> {
  const imagesDir = path.join(dir, 'imagesTr');
  let names: string[];
  try {
    names = await fs.readdir(imagesDir);
  } catch (error) {
    throw new InputError(`${imagesDir}: cannot list the images folder (${errorMessage(error)})`, {
      cause: error,
    });
  }
  const suffix = `_0000${ending}`;
  return new Set(
    names
      .filter((n) => n.endsWith(suffix) && n.length > suffix.length)
      .map((n) => n.slice(0, -suffix.length)),
  );
}

/**
 * Opens a canonical dataset folder: validates `dataset.json` and that every split case has its image. Volumes
 * are read later, by `loadCase`.
 * @param dir - The dataset folder (`dataset.json`, `imagesTr/`, `labelsTr/`).
 * @param options - The LRU cache size (default 8 cases, 0 = none) and the image channels to load.
 * @returns The dataset: its info, split ids, labeled/unlabeled ids and case loader.
 * @throws InputError when `dir` is not a string, `cacheSize` is not a non-negative integer, `dataset.json` is
 *   missing, unreadable, not JSON or fails its schema and checks (naming the field), a split case has no image
 *   in `imagesTr`, `imagesTr` cannot be listed, or `channels` is empty or names a channel that does not exist.
 * @example
 * ```ts
 * const dataset = await openDataset('data/la', { cacheSize: 0 });
 * const first = await dataset.loadCase(dataset.ids('train')[0]);
 * ```
 */
export async function openDataset(dir: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  requireString('openDataset', 'dir', dir);
  requireOptions('openDataset', 'options', options);
  const cacheSize = options.cacheSize ?? 8;
  if (!Number.isInteger(cacheSize) || cacheSize < 0) {
    throw new InputError(`openDataset: cacheSize must be a non-negative integer, got ${cacheSize}`);
  }
  const root = path.resolve(dir);
  const file = path.join(root, 'dataset.json');
  const info = await readDatasetJson(file);
  const known = await listImages(root, info.fileEnding);
  for (const split of ['train', 'val', 'test'] as const) {
    const missing = info.splits[split].filter((id) => !known.has(id));
    if (missing.length > 0) {
      const shown = missing.slice(0, 5).map((id) => `"${id}" (imagesTr/${id}_0000${info.fileEnding})`);
      throw new InputError(
        `${file}: field "splits.${split}": ${missing.length} case(s) not present in imagesTr: ${shown.join(', ')}${missing.length > 5 ? ', …' : ''}`,
      );
    }
  }
  const all = info.channelNames.map((_, c) => c);
  const channels = options.channels ?? all;
  const missing = channels.find((c) => !Number.isInteger(c) || c < 0 || c >= all.length);
  if (channels.length === 0 || missing !== undefined) {
    throw new InputError(
      `data.channels: ${channels.length === 0 ? 'expected at least one channel' : `channel ${missing} does not exist`}; ${file} lists ${all.length} channel(s): ${info.channelNames.map((n, c) => `${c} ${n}`).join(', ')}`,
    );
  }
  return new CanonicalDataset(root, info, known, cacheSize, channels);
}

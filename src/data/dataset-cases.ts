/**
 * Opening a dataset folder and loading its cases: `dataset.json` (dataset-json.ts) and the listings of the image
 * folders are read when it is opened; volumes are read lazily by `loadCase`, checked (shapes, affines, finite
 * intensities, label values) and kept in a bounded LRU cache. Every check names the file, field or case, what
 * was expected and what was found.
 *
 * The folders (nnU-Net v2's layout): `imagesTr/<case>_<cccc><ending>` with `labelsTr/<case><ending>`;
 * `imagesTs/` with `labelsTs/` when present; and an extra folder of unlabeled images (`imagesUnlabeled/` or
 * `OpenDatasetOptions.unlabeledDir`). An `imagesTr` image without a label file that no split lists, and every
 * image of the unlabeled folder, is an unlabeled training case. When dataset.json lists no split, the split is
 * made here (nnunet.ts): test = the labeled `imagesTs` cases when that folder exists, train/val from the labeled
 * `imagesTr` cases (seeded, or a fold of nnU-Net's splits_final.json), or the split a run folder recorded.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { checkSameGrid, GEOMETRY_TOLERANCE_MM, spatialShape } from '../io/geometry.js';
import { readNifti, readNiftiHeader } from '../io/nifti.js';
import type { Affine, Volume } from '../io/volume.js';
import { requireOptions, requireString } from '../util/args.js';
import { errorMessage, InputError } from '../util/errors.js';
import { checkDisjointSplits, type DatasetInfo, readDatasetJson, type SplitName } from './dataset-json.js';
import { type LabeledAmount, labeledCaseCount } from './labeled.js';
import {
  type AutoSplitOptions,
  DEFAULT_AUTO_SPLIT,
  type MadeSplit,
  readNnunetFold,
  readRunSplits,
  seededSplit,
} from './nnunet.js';
import { firstNonFinite, isLabelValue, voxelOf } from './voxel-values.js';

/** One case as a training step needs it. */
export interface LoadedCase {
  id: string;
  /** `[X, Y, Z, C]` row-major float32 (channels interleaved last). */
  image: Float32Array;
  /** `[X, Y, Z]` row-major uint8; all zeros for a case without a label file (`labeled` false). */
  label: Uint8Array;
  /** False for an unlabeled case (no label file): its `label` holds no information and must not be scored. */
  labeled: boolean;
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
  /** Things a user should know about the folder (e.g. `imagesTs` cases without a label, left out of test). */
  readonly notes: readonly string[];
  /** Case ids of a split, in `dataset.json` order (or the order of the split ssmis made). */
  ids(split: SplitName): string[];
  /**
   * Cases without a label file, which are unlabeled training cases: `imagesTr` images no split lists, then the
   * images of the unlabeled folder; each group sorted.
   */
  imageOnlyIds(): string[];
  /** Labeled units of train in order: case ids, or patient ids when `labeledUnit` is `patient`. */
  trainUnits(): string[];
  /** The first N units of train expanded to case ids (ACDC: all volumes of the first N patients). */
  labeledIds(spec: LabeledSpec): string[];
  /** Train cases that are not labeled under `spec`, in train order, then {@link Dataset.imageOnlyIds}. */
  unlabeledIds(spec: LabeledSpec): string[];
  imagePath(id: string, channel?: number): string;
  /** The label file of a case (for a case without one: where `labelsTr` would hold it). */
  labelPath(id: string): string;
  /** Whether the case has a label file (false for {@link Dataset.imageOnlyIds} and unlabeled `imagesTs` cases). */
  hasLabel(id: string): boolean;
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
  /**
   * A folder of extra unlabeled images (`<case>_0000<ending>`, ...), config `data.unlabeledDir`; default
   * `<dir>/imagesUnlabeled` when that folder exists.
   */
  unlabeledDir?: string;
  /** How to split a dataset whose dataset.json lists no split (config `data.autoSplit`). */
  autoSplit?: AutoSplitOptions;
  /**
   * A run folder: when it holds `splits.json` (nnunet.ts `writeRunSplits`) and dataset.json lists no split,
   * that recorded split is used instead of making one.
   */
  runDir?: string;
}

/** Where a case's files are. */
interface CaseFiles {
  /** The folder holding its image files. */
  images: string;
  /** The folder its label file is (or would be) in: `labelsTr`, `labelsTs`; null for the unlabeled folder. */
  labels: string | null;
  /** Whether the label file exists. */
  hasLabel: boolean;
}

class CanonicalDataset implements Dataset {
  readonly dir: string;
  readonly info: DatasetInfo;
  readonly channels: readonly number[];
  readonly notes: readonly string[];
  private readonly capacity: number;
  private readonly cache = new Map<string, Promise<LoadedCase>>();
  private hits = 0;
  private misses = 0;
  private readonly known: Map<string, CaseFiles>;
  private readonly imageOnly: readonly string[];
  private readonly imageOnlySet: ReadonlySet<string>;

  constructor(
    dir: string,
    info: DatasetInfo,
    table: CaseTable,
    capacity: number,
    channels: readonly number[],
  ) {
    this.dir = dir;
    this.info = info;
    this.channels = [...channels];
    this.known = table.files;
    this.imageOnly = table.imageOnly;
    this.imageOnlySet = new Set(table.imageOnly);
    this.notes = table.notes;
    this.capacity = capacity;
  }

  ids(split: SplitName): string[] {
    return [...this.info.splits[split]];
  }

  imageOnlyIds(): string[] {
    return [...this.imageOnly];
  }

  hasLabel(id: string): boolean {
    return this.known.get(id)?.hasLabel === true;
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
    return [...this.info.splits.train.filter((id) => !labeled.has(id)), ...this.imageOnly];
  }

  imagePath(id: string, channel = 0): string {
    const images = this.known.get(id)?.images ?? path.join(this.dir, 'imagesTr');
    return path.join(images, `${id}_${String(channel).padStart(4, '0')}${this.info.fileEnding}`);
  }

  labelPath(id: string): string {
    const labels = this.known.get(id)?.labels ?? path.join(this.dir, 'labelsTr');
    return path.join(labels, `${id}${this.info.fileEnding}`);
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
      const testImage = path.basename(path.dirname(this.imagePath(id))) === 'imagesTs';
      throw new InputError(
        `case ${id}: ${what} file ${this.rel(file)} not found in ${this.dir}${what === 'label' && testImage ? ' (an imagesTs case without a label can be predicted with `ssmis predict`, not evaluated)' : ''}`,
      );
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
    // Only an unlabeled training case goes without a label; a split case without one is an error.
    const labelVolume = this.imageOnlySet.has(id) ? null : await this.readVolume(id, labelFile, 'label');

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
    const sp = volumes[0].spacing;
    const base = {
      id,
      image: this.interleave(id, volumes, shape),
      shape,
      channels,
      spacing: [sp[0], sp[1], sp[2]] as [number, number, number],
      affine: volumes[0].affine.map((row) => [...row]),
      imageVolume: volumes[0],
    };
    if (labelVolume === null) return { ...base, label: new Uint8Array(n), labeled: false };
    const labelRel = this.rel(labelFile);
    checkSameGrid({ shape: shapeOf(labelVolume, labelRel), affine: labelVolume.affine }, grid0, {
      shape: (found, expected) =>
        `case ${id}: label ${labelRel} has shape ${found} but image ${file0} has ${expected}`,
      affine: (diff) =>
        `case ${id}: label ${labelRel} and image ${file0} have different affines (max difference ${diff} mm > ${GEOMETRY_TOLERANCE_MM})`,
    });

    // Label: integer values (the one label-value rule) among dataset.json labels.
    const allowed = new Uint8Array(256);
    for (const v of this.info.labelValues) allowed[v] = 1;
    const src = labelVolume.data;
    const label = new Uint8Array(n);
    let bad: number | null = null;
    let badCount = 0;
    for (let v = 0; v < n; v++) {
      const x = Number(src[v]);
      if (isLabelValue(x) && x >= 0 && x < 256 && allowed[x] === 1) {
        label[v] = x;
      } else {
        if (bad === null) bad = x;
        if (x === bad) badCount++;
      }
    }
    if (bad !== null) {
      const why = isLabelValue(bad)
        ? `not among the dataset.json labels [${this.info.labelValues.join(', ')}]`
        : 'that is not an integer class id';
      throw new InputError(`case ${id}: label ${labelRel} has value ${bad} (${badCount} voxels) ${why}`);
    }

    return { ...base, label, labeled: true };
  }

  /** The channel volumes interleaved last (`[X, Y, Z, C]`); a NaN or infinite intensity is refused. */
  private interleave(id: string, volumes: Volume[], shape: [number, number, number]): Float32Array {
    const selected = this.channels;
    const channels = selected.length;
    const n = shape[0] * shape[1] * shape[2];
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
    // Checked after the float32 conversion, so a float64 value too large for float32 is refused as well.
    const v = firstNonFinite(image);
    if (v >= 0) {
      const c = v % channels;
      const [i, j, k] = voxelOf(Math.floor(v / channels), shape);
      throw new InputError(
        `case ${id}: image ${this.rel(this.imagePath(id, selected[c]))} has a non-finite value (${image[v]}) at voxel (${i}, ${j}, ${k}); expected finite float32 intensities`,
      );
    }

    return image;
  }
}

/**
 * Case ids that have a channel-0 image (`<case>_0000<ending>`) in `folder`.
 * @param folder - An images folder (`imagesTr`, `imagesTs`, the unlabeled images).
 * @param ending - The file ending of its volumes (`dataset.json` `file_ending`).
 * @returns The ids, sorted.
 * @throws InputError when `folder` cannot be listed.
 */
export async function listCaseImages(folder: string, ending: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(folder);
  } catch (error) {
    throw new InputError(`${folder}: cannot list the images folder (${errorMessage(error)})`, {
      cause: error,
    });
  }
  const suffix = `_0000${ending}`;
  return names
    .filter((n) => n.endsWith(suffix) && n.length > suffix.length)
    .map((n) => n.slice(0, -suffix.length))
    .sort();
}

/** The label files (`<case><ending>`) of `folder` as case ids; none when the folder does not exist. */
async function listLabels(folder: string, ending: string): Promise<Set<string>> {
  if (!existsSync(folder)) return new Set();
  let names: string[];
  try {
    names = await fs.readdir(folder);
  } catch (error) {
    throw new InputError(`${folder}: cannot list the labels folder (${errorMessage(error)})`, {
      cause: error,
    });
  }
  return new Set(
    names
      .filter((n) => n.endsWith(ending) && n.length > ending.length)
      .map((n) => n.slice(0, -ending.length)),
  );
}

/** Every case of a folder, where its files are, and the groups the split is made from. */
interface CaseTable {
  files: Map<string, CaseFiles>;
  /** `imagesTr` cases with a label file, sorted. */
  labeledTr: string[];
  /** `imagesTr` cases without one, sorted. */
  unlabeledTr: string[];
  /** Whether the folder has `imagesTs/`. */
  hasTs: boolean;
  /** `imagesTs` cases with a label file in `labelsTs`, sorted. */
  labeledTs: string[];
  /** `imagesTs` cases without one, sorted. */
  unlabeledTs: string[];
  /** The unlabeled folder's cases, sorted. */
  extra: string[];
  /** Unlabeled training cases (set once the split is known). */
  imageOnly: string[];
  notes: string[];
}

/** Lists `imagesTr`/`labelsTr`, `imagesTs`/`labelsTs` and the unlabeled folder; a case id must be unique. */
async function scanCases(root: string, ending: string, unlabeledDir: string | undefined): Promise<CaseTable> {
  const files = new Map<string, CaseFiles>();
  const where = new Map<string, string>();
  const add = async (images: string, labels: string | null) => {
    const ids = await listCaseImages(images, ending);
    const labelIds = labels === null ? new Set<string>() : await listLabels(labels, ending);
    const withLabel: string[] = [];
    const without: string[] = [];
    for (const id of ids) {
      const before = where.get(id);
      if (before !== undefined) {
        throw new InputError(
          `case ${id}: images in both ${before} and ${images}; a case id must be unique across the image folders`,
        );
      }
      where.set(id, images);
      const has = labelIds.has(id);
      files.set(id, { images, labels, hasLabel: has });
      (has ? withLabel : without).push(id);
    }
    return { withLabel, without };
  };
  const tr = await add(path.join(root, 'imagesTr'), path.join(root, 'labelsTr'));
  const tsDir = path.join(root, 'imagesTs');
  const hasTs = existsSync(tsDir);
  const ts = hasTs ? await add(tsDir, path.join(root, 'labelsTs')) : { withLabel: [], without: [] };
  const extraDir = unlabeledDir ?? path.join(root, 'imagesUnlabeled');
  if (unlabeledDir !== undefined && !existsSync(unlabeledDir)) {
    throw new InputError(`data.unlabeledDir: folder ${unlabeledDir} does not exist`);
  }
  const extra = existsSync(extraDir) ? (await add(extraDir, null)).without : [];
  const notes: string[] = [];
  if (ts.without.length > 0) {
    notes.push(
      `${tsDir}: ${ts.without.length} case(s) without a label in labelsTs (${ts.without.slice(0, 3).join(', ')}${ts.without.length > 3 ? ', …' : ''}) are not in the test split: they can be predicted (\`ssmis predict --input ${tsDir}\`), not evaluated`,
    );
  }
  return {
    files,
    labeledTr: tr.withLabel,
    unlabeledTr: tr.without,
    hasTs,
    labeledTs: ts.withLabel,
    unlabeledTs: ts.without,
    extra,
    imageOnly: [],
    notes,
  };
}

/**
 * The split of a dataset.json that lists none: the run folder's record, a fold of splits_final.json or a seeded
 * split of the labeled `imagesTr` cases; test = the labeled `imagesTs` cases when that folder exists. Every case
 * must have its image and label.
 */
async function makeSplit(root: string, table: CaseTable, options: OpenDatasetOptions): Promise<MadeSplit> {
  const auto = options.autoSplit ?? DEFAULT_AUTO_SPLIT;
  const recorded = options.runDir === undefined ? null : await readRunSplits(options.runDir);
  const labeledTr = new Set(table.labeledTr);
  let made: MadeSplit;
  let from: string;
  if (recorded !== null) {
    made = recorded;
    from = recorded.source;
  } else if (auto.nnunetSplits !== undefined) {
    const fold = await readNnunetFold(auto.nnunetSplits, auto.fold);
    from = `${auto.nnunetSplits} fold ${auto.fold}`;
    made = {
      splits: { ...fold, test: table.hasTs ? table.labeledTs : [] },
      source: `nnU-Net ${from}${table.hasTs ? ', test = labeled imagesTs' : ''}`,
    };
  } else {
    const test = table.hasTs ? 0 : auto.test;
    const splits = seededSplit(table.labeledTr, { seed: auto.seed, val: auto.val, test });
    if (table.hasTs) splits.test = table.labeledTs;
    from = 'data.autoSplit';
    made = {
      splits,
      source: `seeded split of the labeled imagesTr cases (seed ${auto.seed}, val ${auto.val}${table.hasTs ? ', test = labeled imagesTs' : `, test ${auto.test}`})`,
    };
  }
  checkDisjointSplits(made.splits, (split, message) => {
    throw new InputError(`${from}: ${split}: ${message}`);
  });
  for (const split of ['train', 'val', 'test'] as const) {
    for (const id of made.splits[split]) {
      const f = table.files.get(id);
      if (f === undefined || !f.hasLabel || (split !== 'test' && !labeledTr.has(id))) {
        throw new InputError(
          `${from}: ${split} case "${id}" has no ${f === undefined ? 'image' : 'label file'} in ${split === 'test' && table.hasTs ? 'imagesTs/labelsTs' : 'imagesTr/labelsTr'} of ${root}`,
        );
      }
    }
  }
  return made;
}

/**
 * Opens a dataset folder: an nnU-Net v2 raw folder or one `ssmis prepare` wrote. Validates `dataset.json`,
 * lists the image folders (see the module comment), makes the split when dataset.json lists none, and checks
 * that every split case has its image. Volumes are read later, by `loadCase`.
 * @param dir - The dataset folder (`dataset.json`, `imagesTr/`, `labelsTr/`, optionally `imagesTs/`,
 *   `labelsTs/`, `imagesUnlabeled/`).
 * @param options - The LRU cache size (default 8 cases, 0 = none), the image channels to load, the unlabeled
 *   folder, how to split a dataset.json without splits and the run folder whose recorded split to reuse.
 * @returns The dataset: its info, split ids, labeled/unlabeled ids and case loader.
 * @throws InputError when `dir` is not a string, `cacheSize` is not a non-negative integer, `dataset.json` is
 *   missing, unreadable, not JSON or fails its schema and checks (naming the field), a split case has no image,
 *   an image folder cannot be listed, a case id is in two image folders, a made or recorded split names a case
 *   without image or label, or `channels` is empty or names a channel that does not exist.
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
  if (options.unlabeledDir !== undefined)
    requireString('openDataset', 'options.unlabeledDir', options.unlabeledDir);
  if (options.runDir !== undefined) requireString('openDataset', 'options.runDir', options.runDir);
  const root = path.resolve(dir);
  const file = path.join(root, 'dataset.json');
  let info = await readDatasetJson(file);
  const unlabeledDir = options.unlabeledDir === undefined ? undefined : path.resolve(options.unlabeledDir);
  const table = await scanCases(root, info.fileEnding, unlabeledDir);
  if (info.ownSplits) {
    const folders = table.hasTs ? 'imagesTr or imagesTs' : 'imagesTr';
    for (const split of ['train', 'val', 'test'] as const) {
      const missing = info.splits[split].filter((id) => !table.files.has(id));
      if (missing.length > 0) {
        const shown = missing.slice(0, 5).map((id) => `"${id}" (imagesTr/${id}_0000${info.fileEnding})`);
        throw new InputError(
          `${file}: field "splits.${split}": ${missing.length} case(s) not present in ${folders}: ${shown.join(', ')}${missing.length > 5 ? ', …' : ''}`,
        );
      }
    }
  } else {
    const made = await makeSplit(root, table, options);
    info = { ...info, splits: made.splits, splitSource: made.source };
  }
  const listed = new Set([...info.splits.train, ...info.splits.val, ...info.splits.test]);
  table.imageOnly = [...table.unlabeledTr.filter((id) => !listed.has(id)), ...table.extra];
  const all = info.channelNames.map((_, c) => c);
  const channels = options.channels ?? all;
  const missing = channels.find((c) => !Number.isInteger(c) || c < 0 || c >= all.length);
  if (channels.length === 0 || missing !== undefined) {
    throw new InputError(
      `data.channels: ${channels.length === 0 ? 'expected at least one channel' : `channel ${missing} does not exist`}; ${file} lists ${all.length} channel(s): ${info.channelNames.map((n, c) => `${c} ${n}`).join(', ')}`,
    );
  }
  return new CanonicalDataset(root, info, table, cacheSize, channels);
}

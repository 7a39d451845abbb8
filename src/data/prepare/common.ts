/** Input checks, raw-folder discovery and unit construction shared by the four `prepare` pipelines. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { sameShape, shapeText, spatialShape } from '../../io/geometry.js';
import type { Volume, VoxelArray } from '../../io/volume.js';
import { InputError } from '../../util/errors.js';
import { assertFiniteVoxels, isLabelValue, numeric } from '../voxel-values.js';
import type { PreparedCase, PrepareUnit } from './runner.js';
import { distinctValues, type Shape3 } from './steps.js';

export interface RawIndex {
  /** Directory name → absolute paths (a name may occur in several places). */
  dirs: Map<string, string[]>;
  /** File name → absolute paths. */
  files: Map<string, string[]>;
}

/**
 * Lists directories and files under `root` down to `maxDepth` levels, so the official layouts and the common
 * variants users create (`Training Set/` vs `2018LA_Seg_Training Set/`, `training/` vs `database/training/`,
 * with or without the HGG/LGG level) are all found. Hidden entries are skipped.
 */
export async function indexRaw(root: string, maxDepth: number): Promise<RawIndex> {
  try {
    const st = await fs.stat(root);
    if (!st.isDirectory()) throw new InputError(`${root}: --raw must be a folder`);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`${root}: raw folder not found`);
  }
  const index: RawIndex = { dirs: new Map(), files: new Map() };
  const add = (map: Map<string, string[]>, name: string, p: string) => {
    const list = map.get(name);
    if (list) list.push(p);
    else map.set(name, [p]);
  };
  const visit = async (dir: string, depth: number): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        add(index.dirs, e.name, p);
        if (depth < maxDepth) await visit(p, depth + 1);
      } else {
        add(index.files, e.name, p);
      }
    }
  };
  await visit(root, 1);
  return index;
}

/** The spatial shape of a raw file's volume ({@link spatialShape}), worded for `prepare`. */
export function rawShape(vol: Volume, file: string): Shape3 {
  return spatialShape(vol.shape, (shape) => `${file}: expected a 3-D volume, found shape ${shape}`);
}

export { numeric } from '../voxel-values.js';

/** Refuses a raw image with a NaN or infinite voxel, naming the file and the voxel (the one rule, voxel-values.ts). */
export function checkFinite(data: ArrayLike<number>, shape: number[], file: string): void {
  assertFiniteVoxels(
    data,
    shape,
    (value, voxel) =>
      `${file}: non-finite value ${value} at voxel (${voxel.join(', ')}); the image must hold finite numbers`,
  );
}

export function checkSameShape(a: number[], b: number[], fileA: string, fileB: string): void {
  if (!sameShape(a, b)) {
    throw new InputError(`shape mismatch: ${fileA} is ${shapeText(a)} but ${fileB} is ${shapeText(b)}`);
  }
}

/**
 * Refuses a raw label volume with a value that is not an integer (the one label-value rule, voxel-values.ts) or
 * not among the dataset's classes `allowed`, naming the file and up to 10 offending values.
 */
export function checkLabelValues(data: ArrayLike<number>, allowed: number[], file: string): void {
  const values = distinctValues(data);
  const fractional = values.filter((v) => !isLabelValue(v));
  if (fractional.length) {
    throw new InputError(
      `${file}: label values [${fractional.slice(0, 10).join(', ')}] are not integers; a label map holds integer class ids (was it resampled with interpolation?)`,
    );
  }
  const bad = values.filter((v) => !allowed.includes(v));
  if (bad.length) {
    throw new InputError(
      `${file}: label values [${bad.slice(0, 10).join(', ')}] outside the dataset's classes [${allowed.join(', ')}]`,
    );
  }
}

/** `file` if it exists, else an InputError `<file>: missing <what>`. */
export async function requireFile(file: string, what: string): Promise<string> {
  try {
    await fs.access(file);
  } catch {
    throw new InputError(`${file}: missing ${what}`);
  }
  return file;
}

/** The single path of `name` in the index, or an error naming what is missing / ambiguous. */
export function uniquePath(
  map: Map<string, string[]>,
  name: string,
  what: string,
  root: string,
): string | null {
  const list = map.get(name);
  if (!list) return null;
  if (list.length > 1) {
    throw new InputError(
      `${root}: ${what} ${name} found ${list.length} times (${list.join(', ')}); keep one`,
    );
  }
  return list[0];
}

/** A read and checked image/label pair (see {@link readImageLabelPair}). */
export interface ImageLabelPair<V extends Volume> {
  img: V;
  lab: V;
  shape: Shape3;
  /** The image voxels as plain numbers, all finite. */
  image: Exclude<VoxelArray, BigInt64Array | BigUint64Array>;
  /** The label voxels as plain numbers, all in `allowed`. */
  labels: Exclude<VoxelArray, BigInt64Array | BigUint64Array>;
}

/**
 * Reads an image and its label volume with `read` and checks them, in this order: both 3-D (or 4-D with one
 * time point), the same shape, finite image values, label values among `allowed`.
 */
export async function readImageLabelPair<V extends Volume>(
  read: (file: string) => Promise<V>,
  imgFile: string,
  labFile: string,
  allowed: number[],
): Promise<ImageLabelPair<V>> {
  const img = await read(imgFile);
  const lab = await read(labFile);
  const shape = rawShape(img, imgFile);
  checkSameShape(shape, rawShape(lab, labFile), imgFile, labFile);
  const image = numeric(img.data);
  checkFinite(image, shape, imgFile);
  const labels = numeric(lab.data);
  checkLabelValues(labels, allowed, labFile);
  return { img, lab, shape, image, labels };
}

/**
 * One unit per listed case id whose case folder `<id>/` is among `folders(id)`; ids without one are `absent`.
 * `inputs(id, dir)` resolves the raw files the case reads (throwing an InputError naming a missing one) and
 * `prepare(id, inputs)` prepares it from them. A case found in several folders fails when its inputs are resolved
 * (so the other cases still get prepared).
 */
export function caseFolderUnits(
  ids: string[],
  folders: (id: string) => string[],
  channels: number,
  inputs: (id: string, dir: string) => Promise<string[]>,
  prepare: (id: string, inputs: string[]) => Promise<PreparedCase[]>,
): { units: PrepareUnit[]; absent: string[] } {
  const units: PrepareUnit[] = [];
  const absent: string[] = [];
  for (const id of ids) {
    const dirs = folders(id);
    if (dirs.length === 0) {
      absent.push(id);
      continue;
    }
    units.push({
      name: id,
      outputs: [id],
      channels,
      inputs: async () => {
        if (dirs.length > 1)
          throw new InputError(`case ${id} found in ${dirs.length} folders: ${dirs.join(', ')}`);
        return inputs(id, dirs[0]);
      },
      run: (files) => prepare(id, files),
    });
  }
  return { units, absent };
}

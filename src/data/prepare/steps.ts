/**
 * Preprocessing steps of docs/equations.md §2.1–2.4 as pure functions on row-major 3-D arrays (voxel (i, j, k) of
 * shape [nx, ny, nz] at (i·ny + j)·nz + k). Each is small and unit-tested on hand-made volumes; the dataset
 * pipelines in this folder compose them.
 */
import type { Shape3 } from '../../io/geometry.js';
import type { Affine, VoxelArray } from '../../io/volume.js';
import type { Rng } from '../../util/rng.js';

export type { Shape3 };

/**
 * A per-axis size as given by a user: a single number (or a one-element list, as `--min-size 32` parses) applies
 * to every axis; any other list is returned as given, for the caller to check its length.
 */
export function perAxis(value: number | readonly number[]): number[] {
  if (typeof value === 'number') return [value, value, value];
  return value.length === 1 ? [value[0], value[0], value[0]] : [...value];
}

/** Inclusive bounding box (min and max voxel index per axis). */
export interface BBox {
  min: Shape3;
  max: Shape3;
}

/** A crop `[start, end)` per axis (end exclusive, numpy slicing). */
export interface CropBox {
  start: Shape3;
  end: Shape3;
}

type NumArray = ArrayLike<number>;

/** Inclusive bounding box of the voxels where `predicate(value)` holds, or null when there is none. */
export function boundingBox(
  data: NumArray,
  shape: number[],
  predicate: (v: number) => boolean = (v) => v !== 0,
): BBox | null {
  const [nx, ny, nz] = shape;
  const min: Shape3 = [nx, ny, nz];
  const max: Shape3 = [-1, -1, -1];
  let p = 0;
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      for (let k = 0; k < nz; k++, p++) {
        if (!predicate(data[p])) continue;
        if (i < min[0]) min[0] = i;
        if (i > max[0]) max[0] = i;
        if (j < min[1]) min[1] = j;
        if (j > max[1]) max[1] = j;
        if (k < min[2]) min[2] = k;
        if (k > max[2]) max[2] = k;
      }
    }
  }
  return max[0] < 0 ? null : { min, max };
}

/** Copies `[start, end)` of a row-major 3-D array into a new array of the same type. */
export function cropArray<T extends VoxelArray>(data: T, shape: number[], box: CropBox): T {
  const [, ny, nz] = shape;
  const [sx, sy, sz] = box.start;
  const ox = box.end[0] - sx;
  const oy = box.end[1] - sy;
  const oz = box.end[2] - sz;
  const Ctor = data.constructor as new (n: number) => T;
  const out = new Ctor(ox * oy * oz);
  for (let i = 0; i < ox; i++) {
    for (let j = 0; j < oy; j++) {
      const from = ((sx + i) * ny + (sy + j)) * nz + sz;
      out.set(data.subarray(from, from + oz) as never, (i * oy + j) * oz);
    }
  }
  return out;
}

export function cropShape(box: CropBox): Shape3 {
  return [box.end[0] - box.start[0], box.end[1] - box.start[1], box.end[2] - box.start[2]];
}

/**
 * Affine of a crop: voxel (0,0,0) of the crop sits where voxel `start` of the source sat, so the new
 * translation is `A·[start, 1]` and the linear part is unchanged (the folder keeps each case's geometry).
 */
export function cropAffine(affine: Affine, start: number[]): Affine {
  const out = affine.map((row) => [...row]);
  for (let r = 0; r < 3; r++) {
    out[r][3] = affine[r][0] * start[0] + affine[r][1] * start[1] + affine[r][2] * start[2] + affine[r][3];
  }
  return out;
}

/** Options of the LA crop (§2.1 steps 3–4, `la_heart_processing.py`). */
export interface LaCropOptions {
  /** The `output_size` of the padding rule, reference [112, 112, 80]. */
  target?: Shape3;
  /** In-plane margin range, numpy `randint(10, 20)` → 10..19. */
  marginXY?: [number, number];
  /** z margin range, `randint(5, 10)` → 5..9 (drawn but the z crop is not applied, Q19). */
  marginZ?: [number, number];
}

/**
 * LA crop box (§2.1, Q19): px = max(target − (max − min), 0) // 2; min := max(min − randint(10,20) − px, 0);
 * max := min(max + randint(10,20) + px, size); draws in the reference's order minx, maxx, miny, maxy, minz,
 * maxz (the z draws are made, so the stream matches, but the z crop is never applied: z is kept whole).
 * `max` here is the inclusive label max, used as an exclusive slice end exactly as the reference does.
 */
export function laCropBox(bbox: BBox, shape: number[], rng: Rng, options: LaCropOptions = {}): CropBox {
  const target = options.target ?? [112, 112, 80];
  const [mlo, mhi] = options.marginXY ?? [10, 20];
  const [zlo, zhi] = options.marginZ ?? [5, 10];
  const start: Shape3 = [0, 0, 0];
  const end: Shape3 = [shape[0], shape[1], shape[2]];
  for (let a = 0; a < 3; a++) {
    const pad = Math.floor(Math.max(target[a] - (bbox.max[a] - bbox.min[a]), 0) / 2);
    const lo = a < 2 ? mlo : zlo;
    const hi = a < 2 ? mhi : zhi;
    const s = Math.max(bbox.min[a] - rng.randint(lo, hi) - pad, 0);
    const e = Math.min(bbox.max[a] + rng.randint(lo, hi) + pad, shape[a]);
    if (a < 2) {
      start[a] = s;
      end[a] = e;
    }
  }
  return { start, end };
}

/** Mean and population standard deviation (float64 accumulation) over all voxels or those where `mask`. */
export function meanStd(
  data: NumArray,
  select?: (v: number, i: number) => boolean,
): { mean: number; std: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    if (select && !select(data[i], i)) continue;
    sum += data[i];
    count++;
  }
  const mean = count ? sum / count : 0;
  let sq = 0;
  for (let i = 0; i < data.length; i++) {
    if (select && !select(data[i], i)) continue;
    const d = data[i] - mean;
    sq += d * d;
  }
  return { mean, std: count ? Math.sqrt(sq / count) : 0, count };
}

/**
 * (x − mean) / std with numpy's population std, statistics from all voxels or from `select`ed ones (BraTS:
 * voxels > 0; the background becomes −mean/std, not 0). A constant volume (std 0) gives zeros instead of NaN.
 */
export function zscore(data: NumArray, select?: (v: number, i: number) => boolean): Float32Array {
  const { mean, std } = meanStd(data, select);
  const out = new Float32Array(data.length);
  const inv = std > 0 ? 1 / std : 0;
  for (let i = 0; i < data.length; i++) out[i] = (data[i] - mean) * inv;
  return out;
}

/** Per-volume min–max to [0, 1] (ACDC §2.4, Pancreas §2.3). A constant volume gives zeros instead of NaN. */
export function minMaxNormalize(data: NumArray): Float32Array {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    if (data[i] < lo) lo = data[i];
    if (data[i] > hi) hi = data[i];
  }
  const out = new Float32Array(data.length);
  const range = hi - lo;
  if (range > 0) for (let i = 0; i < data.length; i++) out[i] = (data[i] - lo) / range;
  return out;
}

/** Clips to [lo, hi] into a float32 copy (Pancreas HU window [−125, 275]). */
export function clip(data: NumArray, lo: number, hi: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] < lo ? lo : Math.min(data[i], hi);
  return out;
}

/**
 * The BraTS upper clip value (§2.2, SSL4MIS `MedicalImageDeal.valid_img` with percent 0.999): skimage's
 * `cumulative_distribution(img)` then the first bin centre whose CDF ≥ percent. skimage's histogram has one
 * bin per integer value (min..max) for integer images and 256 equal bins (value = bin centre) for float
 * images; `integer` picks the rule (default: whether the array is an integer typed array).
 */
export function cumulativeClipValue(data: NumArray, percent = 0.999, integer?: boolean): number {
  const isInt =
    integer ?? !(data instanceof Float32Array || data instanceof Float64Array || Array.isArray(data));
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    if (data[i] < lo) lo = data[i];
    if (data[i] > hi) hi = data[i];
  }
  if (!(hi > lo)) return hi;
  let nbins: number;
  let center: (b: number) => number;
  let binOf: (v: number) => number;
  if (isInt) {
    nbins = hi - lo + 1;
    center = (b) => lo + b;
    binOf = (v) => v - lo;
  } else {
    // numpy.histogram(bins=256, range=(lo, hi)): index floor((v − lo)·norm), corrected against the
    // linspace edges as numpy does; the last bin is closed on the right. Centre = mean of its two edges.
    nbins = 256;
    const norm = nbins / (hi - lo);
    const step = (hi - lo) / nbins;
    const edge = (b: number) => (b === nbins ? hi : lo + b * step);
    center = (b) => (edge(b) + edge(b + 1)) / 2;
    binOf = (v) => {
      let b = Math.min(Math.floor((v - lo) * norm), nbins - 1);
      if (v < edge(b)) b--;
      else if (b !== nbins - 1 && v >= edge(b + 1)) b++;
      return b;
    };
  }
  const hist = new Float64Array(nbins);
  for (let i = 0; i < data.length; i++) hist[binOf(data[i])]++;
  let cum = 0;
  for (let b = 0; b < nbins; b++) {
    cum += hist[b];
    if (cum / data.length >= percent) return center(b);
  }
  return center(nbins - 1);
}

/** Values above `hi` set to `hi` (upper clip only), as a float32 copy. */
export function clipUpper(data: NumArray, hi: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.min(data[i], hi);
  return out;
}

/**
 * BraTS brain crop (§2.2, SSL4MIS `brain_bbox`): bounding box of non-zero voxels, sliced `[min:max]` with the
 * INCLUSIVE max used as the exclusive end, so the last brain slice/row/column of every axis is dropped.
 */
export function brainCropBox(data: NumArray, shape: number[]): CropBox | null {
  const bbox = boundingBox(data, shape, (v) => v !== 0);
  if (!bbox) return null;
  return { start: [...bbox.min], end: [...bbox.max] };
}

/** Options of the Pancreas crop (§2.3). */
export interface PancreasCropOptions {
  /** Voxels added on each side of the label bounding box; reference 25. */
  margin?: number;
  /** Minimum crop size per axis; reference 96³. */
  minSize?: Shape3;
}

/**
 * Pancreas crop (§2.3): label bounding box expanded by `margin` voxels per side (clamped to the volume); an
 * axis shorter than `minSize` is grown symmetrically around its centre to `minSize` and shifted back inside
 * the volume; when the volume itself is smaller than `minSize` the whole axis is kept. (CORA's exact growth
 * rule is not in the reference repositories; this is the evident intent.)
 */
export function pancreasCropBox(bbox: BBox, shape: number[], options: PancreasCropOptions = {}): CropBox {
  const margin = options.margin ?? 25;
  const minSize = options.minSize ?? [96, 96, 96];
  const start: Shape3 = [0, 0, 0];
  const end: Shape3 = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    let s = Math.max(bbox.min[a] - margin, 0);
    let e = Math.min(bbox.max[a] + margin + 1, shape[a]);
    const want = Math.min(minSize[a], shape[a]);
    if (e - s < want) {
      const grow = want - (e - s);
      s -= Math.floor(grow / 2);
      e += grow - Math.floor(grow / 2);
      if (s < 0) {
        e -= s;
        s = 0;
      }
      if (e > shape[a]) {
        s -= e - shape[a];
        e = shape[a];
      }
    }
    start[a] = s;
    end[a] = e;
  }
  return { start, end };
}

/** Sorted distinct values of an integer label array (stops collecting after 300 distinct values). */
export function distinctValues(data: NumArray): number[] {
  const seen = new Set<number>();
  for (let i = 0; i < data.length && seen.size < 300; i++) seen.add(data[i]);
  return [...seen].sort((a, b) => a - b);
}

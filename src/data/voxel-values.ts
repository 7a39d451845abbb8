/**
 * Voxel values as numbers, and the one finite-intensity rule: `prepare`, the dataset loader and `predict` all
 * refuse an image with a NaN or infinite voxel (a network turns it into noise everywhere), naming the voxel; and
 * the one label-value rule: `prepare`, the dataset loader and `eval` all read a label voxel as a class id only when
 * it is an exact integer ({@link isLabelValue}).
 */
import type { VoxelArray } from '../io/volume.js';
import { InputError } from '../util/errors.js';

/** Voxel data as plain numbers for arithmetic: BigInt arrays converted to Float64Array, others unchanged. */
export function numeric(data: VoxelArray): Exclude<VoxelArray, BigInt64Array | BigUint64Array> {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
  return data;
}

/** Index of the first NaN or ±Infinity in `data`, or −1 when every value is finite. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/** The (i, j, k) voxel of a flat row-major index into a volume of spatial `shape` (x, y, z). */
export function voxelOf(index: number, shape: readonly number[]): [number, number, number] {
  const [, ny, nz] = shape;
  return [Math.floor(index / (ny * nz)), Math.floor(index / nz) % ny, index % nz];
}

/**
 * Refuses `data` (row-major over `shape`, one value per voxel) when it holds a NaN or infinite value.
 * @param message - The caller's one-line wording, given the offending value and its voxel.
 * @throws InputError with `message(value, voxel)` for the first non-finite value.
 */
export function assertFiniteVoxels(
  data: ArrayLike<number>,
  shape: readonly number[],
  message: (value: number, voxel: [number, number, number]) => string,
): void {
  const i = firstNonFinite(data);
  if (i >= 0) throw new InputError(message(data[i], voxelOf(i, shape)));
}

/**
 * The one label-value rule: a label voxel is a class id when it is an exact integer, whatever the file's data type.
 * A float-stored label map is accepted when every value is integral; a fractional value (a label map that was
 * resampled with interpolation, or a probability map given as a label) is refused rather than rounded, because
 * rounding would silently move the boundary the metrics measure. Which integers are allowed is the caller's rule
 * (the dataset's classes for `prepare` and the loader, any 32-bit integer for `eval`).
 */
export function isLabelValue(x: number): boolean {
  return Number.isInteger(x);
}

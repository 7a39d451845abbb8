/**
 * Element-type names of the voxel arrays, shared by the writers that must name the stored type (HDF5, NRRD).
 */
import type { VoxelArray } from './volume.js';

export type VoxelDtype =
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float32'
  | 'float64';

/** Voxel arrays without the 64-bit integer types (what HDF5 I/O handles). */
export type NumberVoxelArray = Exclude<VoxelArray, BigInt64Array | BigUint64Array>;
export type NumberVoxelDtype = Exclude<VoxelDtype, 'int64' | 'uint64'>;

/** The element type of `data` (anything unrecognised counts as float64). */
export function voxelDtype(data: NumberVoxelArray): NumberVoxelDtype;
export function voxelDtype(data: VoxelArray): VoxelDtype;
export function voxelDtype(data: VoxelArray): VoxelDtype {
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}

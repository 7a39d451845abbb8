/**
 * The in-memory volume shared by readers, writers, datasets, evaluation and prediction.
 *
 * Memory order is row-major over `shape` (as TF.js tensors and numpy's default): voxel (i, j, k) of a `[nx, ny, nz]`
 * volume is `data[(i * ny + j) * nz + k]`, the last axis varying fastest. NIfTI stores i fastest, so the NIfTI reader
 * and writer transpose; every other function takes row-major data with its shape.
 */

export type VoxelArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** 4×4 matrix, row-major rows: `affine[r][c]`. Maps voxel indices (i, j, k, 1) to world millimetres (RAS+). */
export type Affine = number[][];

/** The NIfTI header fields ssmis keeps so that a written file has the source's geometry. */
export interface NiftiGeometry {
  /** NIfTI version of the source file (1 or 2). */
  version: 1 | 2;
  /** `pixdim[0..7]` as stored (pixdim[0] is qfac). */
  pixdim: number[];
  qformCode: number;
  sformCode: number;
  /** quatern_b, quatern_c, quatern_d. */
  quatern: [number, number, number];
  /** qoffset_x, qoffset_y, qoffset_z. */
  qoffset: [number, number, number];
  /** srow_x, srow_y, srow_z (three rows of four). */
  srow: [number[], number[], number[]];
  xyztUnits: number;
  description: string;
  /** Raw NIfTI datatype code of the source file. */
  datatype: number;
  sclSlope: number;
  sclInter: number;
}

export interface Volume {
  /** Voxel values after `scl_slope`/`scl_inter` scaling, row-major over `shape`. */
  data: VoxelArray;
  /** `[nx, ny, nz]` or `[nx, ny, nz, nt]` (channels/time last). */
  shape: number[];
  /** Voxel size along each spatial axis, in the file's units (millimetres for NIfTI with xyzt_units mm). */
  spacing: number[];
  /** Voxel → world, nibabel's rule: sform if sform_code > 0, else qform if qform_code > 0, else from pixdim. */
  affine: Affine;
  /** Geometry of the source file; `null` for volumes made in memory. */
  header: NiftiGeometry | null;
}

/**
 * NIfTI-1 / NIfTI-2 reader and NIfTI-1 writer (row-major in memory; predictions keep the input's geometry).
 *
 * Own parser rather than nifti-reader-js 0.8.0, because that library does not expose the raw
 * srow fields (only an affine chosen by a rule that differs from nibabel's), applies neither byte order nor
 * scaling in `readImage`, decompresses with no output cap (a hostile gzip could allocate gigabytes), and has
 * a NIfTI-2 method that is undefined at runtime. Both header layouts are short and fixed, and the writer needs
 * the NIfTI-1 layout anyway; the tests cross-check this parser against nifti-reader-js.
 *
 * Every size is checked against what the file holds BEFORE any voxel array is allocated, so a hostile header
 * can never make the reader allocate gigabytes; gzip streams are inflated with an output cap.
 */
import { promises as fs } from 'node:fs';
import { endianness } from 'node:os';
import { gunzipSync, gzipSync, constants as zlibConstants } from 'node:zlib';
import {
  requireNumberArray,
  requireOptions,
  requireString,
  requireTypedArray,
  requireVolume,
  VOXEL_ARRAYS,
} from '../util/args.js';
import { writeFileAtomic } from '../util/atomic.js';
import { errorMessage, InputError, SsmisError } from '../util/errors.js';
import { assertRegularFile, cannotRead, readInputFile } from './read-file.js';
import type { Affine, NiftiGeometry, Volume, VoxelArray } from './volume.js';

// ---------------------------------------------------------------------------------------------------------
// Datatypes

interface DatatypeInfo {
  name: string;
  bytes: number;
}

const DATATYPES: Record<number, DatatypeInfo> = {
  2: { name: 'uint8', bytes: 1 },
  4: { name: 'int16', bytes: 2 },
  8: { name: 'int32', bytes: 4 },
  16: { name: 'float32', bytes: 4 },
  64: { name: 'float64', bytes: 8 },
  256: { name: 'int8', bytes: 1 },
  512: { name: 'uint16', bytes: 2 },
  768: { name: 'uint32', bytes: 4 },
  1024: { name: 'int64', bytes: 8 },
  1280: { name: 'uint64', bytes: 8 },
};

const UNSUPPORTED_DATATYPES: Record<number, string> = {
  1: 'binary (1 bit)',
  32: 'complex64',
  128: 'RGB24',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'RGBA32',
};

/** Datatypes `writeNifti` can write (a superset of the five the callers use). */
export type NiftiWriteDatatype =
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'float32'
  | 'float64';

const WRITE_CODES: Record<NiftiWriteDatatype, number> = {
  uint8: 2,
  int8: 256,
  int16: 4,
  uint16: 512,
  int32: 8,
  uint32: 768,
  float32: 16,
  float64: 64,
};

const INTEGER_RANGES: Record<number, [number, number]> = {
  2: [0, 255],
  256: [-128, 127],
  4: [-32768, 32767],
  512: [0, 65535],
  8: [-2147483648, 2147483647],
  768: [0, 4294967295],
};

const HOST_LITTLE_ENDIAN = endianness() === 'LE';
const MAX_VOXELS = 2 ** 31 - 1;
/** Deflate cannot expand more than 1032:1; a header claiming more than that is a lie, caught before inflating. */
const MAX_DEFLATE_RATIO = 1032;
/** Tolerated bytes after the voxel data in a gzipped file (the inflate output cap is header + data + this). */
const GZIP_TRAILING_SLACK = 1 << 20;
/** Compressed prefixes tried to find the header of a gzipped file without inflating all of it. */
const GZIP_HEADER_PREFIXES = [1024, 65536];

function datatypeLabel(code: number): string {
  return DATATYPES[code]?.name ?? UNSUPPORTED_DATATYPES[code] ?? `unknown (${code})`;
}

// ---------------------------------------------------------------------------------------------------------
// Header parsing

/** Everything the reader takes from a header: the kept geometry plus layout fields. */
interface ParsedHeader {
  geometry: NiftiGeometry;
  littleEndian: boolean;
  sizeofHdr: number;
  /** dim[0..7] as stored (NIfTI-2 int64 values converted to numbers after a range check). */
  dim: number[];
  voxOffset: number;
}

/** Shape and sizes implied by a validated header. */
interface Layout {
  shape: number[];
  nx: number;
  ny: number;
  nz: number;
  nt: number;
  count: number;
  datatype: DatatypeInfo;
  dataBytes: number;
}

/** What `readNiftiHeader` returns: geometry and dims without decoding voxels (for a fast `inspect`). */
export interface NiftiHeaderInfo {
  file: string;
  version: 1 | 2;
  gzipped: boolean;
  littleEndian: boolean;
  /** dim[0..7] as stored. */
  dim: number[];
  /** The shape `readNifti` returns (`[nx, ny, nz]` or `[nx, ny, nz, nt]`). */
  shape: number[];
  datatype: number;
  datatypeName: string;
  voxOffset: number;
  spacing: number[];
  affine: Affine;
  header: NiftiGeometry;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function cString(bytes: Uint8Array, offset: number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    const c = bytes[offset + i];
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** Magic bytes shown in an error, non-printable characters escaped. */
function showMagic(bytes: Uint8Array, offset: number, length: number): string {
  return JSON.stringify(String.fromCharCode(...bytes.subarray(offset, offset + length)));
}

function parseHeader(bytes: Uint8Array, name: string, gz = false): ParsedHeader {
  if (bytes.length === 0) throw new InputError(`${name}: file is empty (expected a NIfTI file)`);
  const got = `${bytes.length} bytes${gz ? ' after decompression' : ''}`;
  if (bytes.length < 4) {
    throw new InputError(
      `${name}: truncated header: ${got}, a NIfTI header needs at least 348 (NIfTI-1) or 540 (NIfTI-2)`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sizeLE = dv.getInt32(0, true);
  const sizeBE = dv.getInt32(0, false);
  let version: 1 | 2;
  let le: boolean;
  if (sizeLE === 348 || sizeBE === 348) {
    version = 1;
    le = sizeLE === 348;
  } else if (sizeLE === 540 || sizeBE === 540) {
    version = 2;
    le = sizeLE === 540;
  } else {
    throw new InputError(
      `${name}: not a NIfTI file: sizeof_hdr is ${sizeLE} (little-endian) / ${sizeBE} (big-endian), ` +
        'expected 348 (NIfTI-1) or 540 (NIfTI-2)',
    );
  }
  const sizeofHdr = version === 1 ? 348 : 540;
  if (bytes.length < sizeofHdr) {
    throw new InputError(`${name}: truncated header: ${got}, a NIfTI-${version} header needs ${sizeofHdr}`);
  }
  return version === 1 ? parseHeader1(bytes, dv, le, name) : parseHeader2(bytes, dv, le, name);
}

function checkMagic(bytes: Uint8Array, offset: number, version: 1 | 2, name: string): void {
  const single = version === 1 ? 'n+1' : 'n+2';
  const pair = version === 1 ? 'ni1' : 'ni2';
  const magic = cString(bytes, offset, 4);
  if (magic === single && bytes[offset + 3] === 0) return;
  if (magic === pair) {
    throw new InputError(
      `${name}: this is the header of a .hdr/.img pair (magic "${pair}"); only single-file NIfTI ` +
        `(.nii or .nii.gz, magic "${single}") is supported`,
    );
  }
  throw new InputError(
    `${name}: not a NIfTI-${version} file: magic is ${showMagic(bytes, offset, 4)}, expected "${single}"`,
  );
}

function parseHeader1(bytes: Uint8Array, dv: DataView, le: boolean, name: string): ParsedHeader {
  checkMagic(bytes, 344, 1, name);
  const f32 = (o: number) => dv.getFloat32(o, le);
  const dim = Array.from({ length: 8 }, (_, i) => dv.getInt16(40 + 2 * i, le));
  const pixdim = Array.from({ length: 8 }, (_, i) => f32(76 + 4 * i));
  const srowAt = (o: number) => [f32(o), f32(o + 4), f32(o + 8), f32(o + 12)];
  const geometry: NiftiGeometry = {
    version: 1,
    pixdim,
    qformCode: dv.getInt16(252, le),
    sformCode: dv.getInt16(254, le),
    quatern: [f32(256), f32(260), f32(264)],
    qoffset: [f32(268), f32(272), f32(276)],
    srow: [srowAt(280), srowAt(296), srowAt(312)],
    xyztUnits: bytes[123],
    description: cString(bytes, 148, 80),
    datatype: dv.getInt16(70, le),
    sclSlope: f32(112),
    sclInter: f32(116),
  };
  return { geometry, littleEndian: le, sizeofHdr: 348, dim, voxOffset: checkVoxOffset(f32(108), 1, name) };
}

/** NIfTI-2 int64 field as a number; values beyond ±2^53 are absurd for a volume and rejected. */
function int64Field(dv: DataView, offset: number, le: boolean, field: string, name: string): number {
  const v = dv.getBigInt64(offset, le);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InputError(`${name}: invalid ${field} = ${v} (absurdly large)`);
  }
  return Number(v);
}

function parseHeader2(bytes: Uint8Array, dv: DataView, le: boolean, name: string): ParsedHeader {
  checkMagic(bytes, 4, 2, name);
  const f64 = (o: number) => dv.getFloat64(o, le);
  const dim = Array.from({ length: 8 }, (_, i) => int64Field(dv, 16 + 8 * i, le, `dim[${i}]`, name));
  const pixdim = Array.from({ length: 8 }, (_, i) => f64(104 + 8 * i));
  const srowAt = (o: number) => [f64(o), f64(o + 8), f64(o + 16), f64(o + 24)];
  const geometry: NiftiGeometry = {
    version: 2,
    pixdim,
    qformCode: dv.getInt32(344, le),
    sformCode: dv.getInt32(348, le),
    quatern: [f64(352), f64(360), f64(368)],
    qoffset: [f64(376), f64(384), f64(392)],
    srow: [srowAt(400), srowAt(432), srowAt(464)],
    xyztUnits: dv.getInt32(500, le),
    description: cString(bytes, 240, 80),
    datatype: dv.getInt16(12, le),
    sclSlope: f64(176),
    sclInter: f64(184),
  };
  const voxOffset = checkVoxOffset(int64Field(dv, 168, le, 'vox_offset', name), 2, name);
  return { geometry, littleEndian: le, sizeofHdr: 540, dim, voxOffset };
}

/**
 * A vox_offset below the header + extension flag (352 / 544), typically 0 from sloppy writers, is read as that
 * minimum (nifti1_io's leniency); negative, non-integer or non-finite values are errors.
 */
function checkVoxOffset(value: number, version: 1 | 2, name: string): number {
  if (!Number.isFinite(value) || !Number.isInteger(value) || value < 0) {
    throw new InputError(`${name}: invalid vox_offset ${value} (expected a non-negative integer)`);
  }
  const min = version === 1 ? 352 : 544;
  return Math.max(value, min);
}

/**
 * Validates dims and datatype and derives the row-major shape. 2-D (dim[0] 1 or 2) reads as [nx, ny, 1];
 * dim[0] = 4 keeps its time axis even when nt = 1 (as nibabel); axes 5..7 must have size 1 and are dropped.
 */
function layoutOf(h: ParsedHeader, name: string): Layout {
  const { dim } = h;
  const dim0 = dim[0];
  if (!Number.isInteger(dim0) || dim0 < 1 || dim0 > 7) {
    throw new InputError(`${name}: invalid dim[0] = ${dim0} (expected 1..7)`);
  }
  let count = 1;
  for (let d = 1; d <= dim0; d++) {
    if (dim[d] < 1) throw new InputError(`${name}: invalid dim[${d}] = ${dim[d]} (expected a size >= 1)`);
    count *= dim[d];
  }
  const dimsText = dim.slice(1, dim0 + 1).join('×');
  if (count > MAX_VOXELS) {
    throw new InputError(
      `${name}: dims ${dimsText} give ${count} voxels, which exceeds the limit ${MAX_VOXELS} voxels`,
    );
  }
  for (let d = 5; d <= dim0; d++) {
    if (dim[d] !== 1) {
      throw new InputError(
        `${name}: dims ${dimsText} describe a ${dim0}-D volume with dim[${d}] = ${dim[d]}; ` +
          'only 2-D, 3-D and 4-D volumes are supported',
      );
    }
  }
  const size = (d: number) => (d <= dim0 ? dim[d] : 1);
  const [nx, ny, nz, nt] = [size(1), size(2), size(3), size(4)];
  const shape = dim0 >= 4 ? [nx, ny, nz, nt] : [nx, ny, nz];
  const code = h.geometry.datatype;
  const datatype = DATATYPES[code];
  if (datatype === undefined) {
    const kind = UNSUPPORTED_DATATYPES[code];
    throw new InputError(
      `${name}: unsupported datatype ${code}${kind ? ` (${kind})` : ' (unknown code)'}; supported: ` +
        Object.entries(DATATYPES)
          .map(([c, t]) => `${t.name} (${c})`)
          .join(', '),
    );
  }
  return { shape, nx, ny, nz, nt, count, datatype, dataBytes: count * datatype.bytes };
}

function truncatedDataMessage(name: string, h: ParsedHeader, layout: Layout): string {
  const dims = h.dim.slice(1, h.dim[0] + 1).join('×');
  return (
    `${name}: truncated data: dims ${dims} of ${layout.datatype.name} need ${layout.dataBytes} bytes ` +
    `from vox_offset ${h.voxOffset} (${h.voxOffset + layout.dataBytes} bytes in all)`
  );
}

// ---------------------------------------------------------------------------------------------------------
// Geometry

/** Affine of pixdim-only headers (both codes 0): NIfTI "method 1", diag(pixdim[1..3]) with zero offset.
 * nibabel's fallback differs (a centred, x-flipped base affine); this follows the brief and nifti1_io. */
function pixdimAffine(spacing: number[]): Affine {
  return [
    [spacing[0], 0, 0, 0],
    [0, spacing[1], 0, 0],
    [0, 0, spacing[2], 0],
    [0, 0, 0, 1],
  ];
}

/** nibabel's `quat2mat` for a unit quaternion (w, x, y, z), in float64. */
function quatToMatrix(w: number, x: number, y: number, z: number): number[][] {
  const n = w * w + x * x + y * y + z * z;
  if (n < Number.EPSILON) {
    return [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
  }
  const s = 2 / n;
  const [X, Y, Z] = [x * s, y * s, z * s];
  const [wX, wY, wZ] = [w * X, w * Y, w * Z];
  const [xX, xY, xZ] = [x * X, x * Y, x * Z];
  const [yY, yZ, zZ] = [y * Y, y * Z, z * Z];
  return [
    [1 - (yY + zZ), xY - wZ, xZ + wY],
    [xY + wZ, 1 - (xX + zZ), yZ - wX],
    [xZ - wY, yZ + wX, 1 - (xX + yY)],
  ];
}

/**
 * qform matrix, nibabel's `get_qform`: w = sqrt(1 − b² − c² − d²) (nibabel's `fillpositive`, tolerating
 * round-off down to −3 eps of the stored float type), R·diag(|pixdim[1]|, |pixdim[2]|, qfac·|pixdim[3]|) and
 * qoffset. qfac is −1 when pixdim[0] < 0, else 1 (so a stored 0 means 1, as nibabel's fix-up and nifti1_io).
 * Negative pixdims are taken as absolute values (nibabel's load-time fix).
 */
function qformAffine(g: NiftiGeometry, name: string): Affine {
  const [b, c, d] = g.quatern;
  const w2 = 1 - (b * b + c * c + d * d);
  const tolerance = 3 * (g.version === 1 ? 2 ** -23 : Number.EPSILON);
  if (!(w2 >= -tolerance)) {
    throw new InputError(
      `${name}: invalid qform quaternion (b, c, d) = (${b}, ${c}, ${d}): b²+c²+d² = ${1 - w2} exceeds 1`,
    );
  }
  const R = quatToMatrix(w2 > 0 ? Math.sqrt(w2) : 0, b, c, d);
  const qfac = g.pixdim[0] < 0 ? -1 : 1;
  const zooms = [Math.abs(g.pixdim[1]), Math.abs(g.pixdim[2]), Math.abs(g.pixdim[3]) * qfac];
  const rows = [0, 1, 2].map((r) => [
    R[r][0] * zooms[0],
    R[r][1] * zooms[1],
    R[r][2] * zooms[2],
    g.qoffset[r],
  ]);
  return [...rows, [0, 0, 0, 1]];
}

/** The affine a header implies, nibabel's rule: sform if sform_code > 0, else qform if qform_code > 0,
 * else from pixdim (nifti-reader-js prefers the qform when its code is higher; nibabel does not). */
function geometryAffine(g: NiftiGeometry, name: string): Affine {
  if (g.sformCode > 0) return [...g.srow.map((row) => [...row]), [0, 0, 0, 1]];
  if (g.qformCode > 0) return qformAffine(g, name);
  return pixdimAffine(g.pixdim.slice(1, 4).map(Math.abs));
}

/**
 * Refuses a header whose geometry holds NaN or ±Inf in a field ssmis uses: pixdim[1..3] (the spacing), the sform
 * rows when sform_code > 0, else the quaternion and offset when qform_code > 0. Such a volume has no position in
 * the world, and NaN slips through every later tolerance check (NaN > tol is false).
 */
function checkGeometry(g: NiftiGeometry, name: string): void {
  const check = (field: string, value: number) => {
    if (!Number.isFinite(value)) {
      throw new InputError(
        `${name}: non-finite ${field} = ${value}; the voxel geometry must be finite numbers`,
      );
    }
  };
  for (let a = 1; a <= 3; a++) check(`pixdim[${a}] (voxel spacing)`, g.pixdim[a]);
  if (g.sformCode > 0) {
    g.srow.forEach((row, r) => {
      row.forEach((v, c) => {
        check(`srow_${'xyz'[r]}[${c}] (sform, sform_code ${g.sformCode})`, v);
      });
    });
  } else if (g.qformCode > 0) {
    g.quatern.forEach((v, i) => {
      check(`quatern_${'bcd'[i]} (qform, qform_code ${g.qformCode})`, v);
    });
    g.qoffset.forEach((v, i) => {
      check(`qoffset_${'xyz'[i]} (qform, qform_code ${g.qformCode})`, v);
    });
  }
}

function spacingOf(g: NiftiGeometry): number[] {
  return [Math.abs(g.pixdim[1]), Math.abs(g.pixdim[2]), Math.abs(g.pixdim[3])];
}

function det3(m: number[][]): number {
  return (
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
  );
}

/** Transpose of the inverse of a 3×3 matrix (cofactor matrix / det). */
function inverseTranspose3(m: number[][]): number[][] {
  const det = det3(m);
  const cof = (r: number, c: number) => {
    const rows = [0, 1, 2].filter((x) => x !== r);
    const cols = [0, 1, 2].filter((x) => x !== c);
    const minor = m[rows[0]][cols[0]] * m[rows[1]][cols[1]] - m[rows[0]][cols[1]] * m[rows[1]][cols[0]];
    return ((r + c) % 2 === 0 ? minor : -minor) / det;
  };
  return [0, 1, 2].map((r) => [0, 1, 2].map((c) => cof(r, c)));
}

/** Closest orthogonal matrix (polar decomposition) by Newton's iteration X ← (X + X^-T)/2, which converges
 * quadratically to the same factor nibabel gets from the SVD (P·Qᵀ). */
function polarOrthogonal(m: number[][]): number[][] {
  let x = m.map((row) => [...row]);
  for (let iter = 0; iter < 100; iter++) {
    const it = inverseTranspose3(x);
    const next = x.map((row, r) => row.map((v, c) => (v + it[r][c]) / 2));
    let change = 0;
    for (let r = 0; r < 3; r++)
      for (let c = 0; c < 3; c++) change = Math.max(change, Math.abs(next[r][c] - x[r][c]));
    x = next;
    if (change < 1e-15) break;
  }
  return x;
}

/** Rotation matrix → unit quaternion (w, x, y, z) with w ≥ 0 (Shepperd's method; nibabel's `mat2quat`
 * gives the same quaternion for a proper rotation, up to the sign it also normalises to w ≥ 0). */
function matrixToQuat(m: number[][]): [number, number, number, number] {
  const trace = m[0][0] + m[1][1] + m[2][2];
  let q: [number, number, number, number];
  if (trace > 0) {
    const s = Math.sqrt(trace + 1) * 2;
    q = [0.25 * s, (m[2][1] - m[1][2]) / s, (m[0][2] - m[2][0]) / s, (m[1][0] - m[0][1]) / s];
  } else if (m[0][0] > m[1][1] && m[0][0] > m[2][2]) {
    const s = Math.sqrt(1 + m[0][0] - m[1][1] - m[2][2]) * 2;
    q = [(m[2][1] - m[1][2]) / s, 0.25 * s, (m[0][1] + m[1][0]) / s, (m[0][2] + m[2][0]) / s];
  } else if (m[1][1] > m[2][2]) {
    const s = Math.sqrt(1 + m[1][1] - m[0][0] - m[2][2]) * 2;
    q = [(m[0][2] - m[2][0]) / s, (m[0][1] + m[1][0]) / s, 0.25 * s, (m[1][2] + m[2][1]) / s];
  } else {
    const s = Math.sqrt(1 + m[2][2] - m[0][0] - m[1][1]) * 2;
    q = [(m[1][0] - m[0][1]) / s, (m[0][2] + m[2][0]) / s, (m[1][2] + m[2][1]) / s, 0.25 * s];
  }
  const norm = Math.hypot(...q);
  const sign = q[0] < 0 ? -1 : 1;
  return q.map((v) => (sign * v) / norm) as [number, number, number, number];
}

interface QformFields {
  quatern: [number, number, number];
  qoffset: [number, number, number];
  qfac: number;
  zooms: [number, number, number];
}

/**
 * nibabel's `set_qform` decomposition: zooms = column norms, R = columns / zooms, qfac = −1 (and R's last
 * column negated) when det R < 0, R replaced by its closest rotation (shears are dropped), quaternion of R.
 * A single zero column (e.g. pixdim[3] = 0 in a 2-D file) is completed by the cross product of the others.
 */
function qformFromAffine(affine: Affine, name: string): QformFields {
  const cols = [0, 1, 2].map((c) => [affine[0][c], affine[1][c], affine[2][c]]);
  const zooms = cols.map((v) => Math.hypot(...v)) as [number, number, number];
  const zero = zooms.map((z) => z === 0);
  if (zero.filter(Boolean).length > 1) {
    throw new InputError(`${name}: affine has more than one zero column; no qform can represent it`);
  }
  const unit = cols.map((v, c) => (zero[c] ? v : v.map((x) => x / zooms[c])));
  const z = zero.indexOf(true);
  if (z >= 0) {
    const [a, b] = [unit[(z + 1) % 3], unit[(z + 2) % 3]];
    const cross = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    const n = Math.hypot(...cross);
    if (n === 0) throw new InputError(`${name}: affine is singular; no qform can represent it`);
    unit[z] = cross.map((x) => x / n);
  }
  const R = [0, 1, 2].map((r) => [unit[0][r], unit[1][r], unit[2][r]]);
  const d = det3(R);
  if (d === 0 || !Number.isFinite(d)) {
    throw new InputError(`${name}: affine is singular; no qform can represent it`);
  }
  const qfac = d > 0 ? 1 : -1;
  if (qfac < 0) for (let r = 0; r < 3; r++) R[r][2] = -R[r][2];
  const q = matrixToQuat(polarOrthogonal(R));
  return {
    quatern: [q[1], q[2], q[3]],
    qoffset: [affine[0][3], affine[1][3], affine[2][3]],
    qfac,
    zooms,
  };
}

function affinesEqual(a: Affine, b: Affine): boolean {
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) if (a[r][c] !== b[r][c]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Decompression

function corruptGzip(name: string, error: unknown): InputError {
  return new InputError(`${name}: corrupt or truncated gzip stream (zlib: ${errorMessage(error)})`, {
    cause: error,
  });
}

/**
 * The first bytes of a gzip stream, inflated from a short compressed prefix with Z_SYNC_FLUSH (which returns
 * what is decodable instead of failing at the cut), so the header is read without inflating the volume.
 * A 1 KiB prefix inflates to at most ~1 MiB, a 64 KiB one to ~64 MiB.
 */
function gunzipHeader(compressed: Uint8Array, wholeFile: boolean, name: string): Uint8Array {
  for (const size of GZIP_HEADER_PREFIXES) {
    const n = Math.min(size, compressed.length);
    let out: Uint8Array;
    try {
      out = gunzipSync(compressed.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch (error) {
      throw corruptGzip(name, error);
    }
    if (out.length >= 540) return out;
    if (wholeFile && n === compressed.length)
      return out.length >= 348 ? out : shortGzip(compressed, out, name);
    if (n === compressed.length) break;
  }
  throw new InputError(`${name}: no NIfTI header found in the first 64 KiB of the gzip stream`);
}

/**
 * A whole gzip file that inflates to less than a NIfTI-1 header: either the stream is cut short (a lenient
 * inflate returns what it decoded, possibly nothing) or it is complete and simply too short to be NIfTI.
 */
function shortGzip(compressed: Uint8Array, lenient: Uint8Array, name: string): Uint8Array {
  try {
    gunzipSync(compressed, { maxOutputLength: 1 << 20 });
  } catch (error) {
    throw new InputError(
      `${name}: truncated gzip stream: the ${compressed.length}-byte file ends before the compressed data does ` +
        `(${lenient.length} bytes decoded; zlib: ${errorMessage(error)})`,
      { cause: error },
    );
  }
  if (lenient.length > 0) return lenient; // complete but short: parseHeader says what is wrong with it
  throw new InputError(
    `${name}: not a NIfTI file: 0 bytes after decompression, a NIfTI header needs at least 348`,
  );
}

function gunzipWhole(compressed: Uint8Array, h: ParsedHeader, layout: Layout, name: string): Uint8Array {
  const needed = h.voxOffset + layout.dataBytes;
  const maxPossible = compressed.length * MAX_DEFLATE_RATIO;
  if (needed > maxPossible) {
    throw new InputError(
      `${truncatedDataMessage(name, h, layout)}, but a gzip stream of ${compressed.length} bytes cannot ` +
        `inflate to more than ${maxPossible}`,
    );
  }
  const cap = needed + GZIP_TRAILING_SLACK;
  try {
    return gunzipSync(compressed, { maxOutputLength: cap });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new InputError(
        `${name}: gzip stream inflates to more than ${cap} bytes; the header implies ${needed} (header + data)`,
        { cause: error },
      );
    }
    throw corruptGzip(name, error);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Voxel decoding

/** Reverses the bytes of each `size`-byte element in place (file byte order ≠ host byte order). */
function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let o = 0; o + size <= bytes.length; o += size) {
    for (let a = o, b = o + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** A typed array of the NIfTI datatype `code` over `buffer` (host byte order). */
function viewAs(code: number, buffer: ArrayBuffer, length: number): VoxelArray {
  switch (code) {
    case 2:
      return new Uint8Array(buffer, 0, length);
    case 4:
      return new Int16Array(buffer, 0, length);
    case 8:
      return new Int32Array(buffer, 0, length);
    case 16:
      return new Float32Array(buffer, 0, length);
    case 64:
      return new Float64Array(buffer, 0, length);
    case 256:
      return new Int8Array(buffer, 0, length);
    case 512:
      return new Uint16Array(buffer, 0, length);
    case 768:
      return new Uint32Array(buffer, 0, length);
    case 1024:
      return new BigInt64Array(buffer, 0, length);
    case 1280:
      return new BigUint64Array(buffer, 0, length);
    default:
      throw new SsmisError(`internal: no array type for datatype ${code}`);
  }
}

function allocateLike(code: number, length: number): VoxelArray {
  return viewAs(code, new ArrayBuffer(length * DATATYPES[code].bytes), length);
}

/**
 * `scl_slope`/`scl_inter`, nibabel's rule: a slope of 0 or a non-finite slope means no scaling; a valid slope
 * with a non-finite intercept is an error. Returns null when the scaling would not change any value.
 */
function scalingOf(g: NiftiGeometry, name: string): { slope: number; inter: number } | null {
  const { sclSlope: slope, sclInter: inter } = g;
  if (slope === 0 || !Number.isFinite(slope)) return null;
  if (!Number.isFinite(inter)) {
    throw new InputError(`${name}: valid scl_slope ${slope} but invalid scl_inter ${inter}`);
  }
  if (slope === 1 && inter === 0) return null;
  return { slope, inter };
}

/**
 * Voxels in row-major order. NIfTI stores i fastest ((t·nz + k)·ny + j)·nx + i; the output puts voxel
 * (i, j, k, t) at ((i·ny + j)·nz + k)·nt + t. Output type: the source's integer/float array when unscaled;
 * Float32Array when scaled (Float64Array for float64 sources); int64/uint64 always Float64Array, so values
 * beyond 2^53 lose precision.
 */
function decodeVoxels(bytes: Uint8Array, h: ParsedHeader, layout: Layout, name: string): VoxelArray {
  const code = h.geometry.datatype;
  const { count, nx, ny, nz, nt } = layout;
  // An aligned copy (not `bytes.slice`: on a Node Buffer that is a view sharing the whole pool buffer).
  const raw = new Uint8Array(layout.dataBytes);
  raw.set(bytes.subarray(h.voxOffset, h.voxOffset + layout.dataBytes));
  if (h.littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(raw, layout.datatype.bytes);
  let src: ArrayLike<number>;
  const view = viewAs(code, raw.buffer, count);
  if (view instanceof BigInt64Array || view instanceof BigUint64Array) {
    const converted = new Float64Array(count);
    for (let s = 0; s < count; s++) converted[s] = Number(view[s]);
    src = converted;
  } else {
    src = view;
  }
  const scaling = scalingOf(h.geometry, name);
  const wide = code === 64 || code === 1024 || code === 1280;
  let out: Exclude<VoxelArray, BigInt64Array | BigUint64Array>;
  if (scaling !== null || wide) out = wide ? new Float64Array(count) : new Float32Array(count);
  else out = allocateLike(code, count) as typeof out;
  const slope = scaling?.slope ?? 1;
  const inter = scaling?.inter ?? 0;
  const step = ny * nz * nt;
  let s = 0;
  for (let t = 0; t < nt; t++) {
    for (let k = 0; k < nz; k++) {
      for (let j = 0; j < ny; j++) {
        let d = (j * nz + k) * nt + t;
        if (scaling === null) {
          for (let i = 0; i < nx; i++, d += step) out[d] = src[s++];
        } else {
          for (let i = 0; i < nx; i++, d += step) out[d] = src[s++] * slope + inter;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Reading

/**
 * Parses a whole NIfTI file held in memory (plain or gzip, detected by magic bytes). `name` is used in errors.
 * Throws InputError for anything that is not a readable single-file NIfTI-1/2 volume.
 */
export function parseNifti(bytes: Uint8Array, name: string): Volume {
  requireTypedArray('parseNifti', 'bytes', bytes, ['Uint8Array']);
  requireString('parseNifti', 'name', name);
  const gz = isGzip(bytes);
  const headerBytes = gz ? gunzipHeader(bytes, true, name) : bytes;
  const h = parseHeader(headerBytes, name, gz);
  const layout = layoutOf(h, name);
  checkGeometry(h.geometry, name);
  let data: Uint8Array;
  if (gz) {
    data = gunzipWhole(bytes, h, layout, name);
  } else {
    data = bytes;
  }
  if (data.length < h.voxOffset + layout.dataBytes) {
    throw new InputError(`${truncatedDataMessage(name, h, layout)}, the file holds ${data.length}`);
  }
  const affine = geometryAffine(h.geometry, name);
  return {
    data: decodeVoxels(data, h, layout, name),
    shape: layout.shape,
    spacing: spacingOf(h.geometry),
    affine,
    header: h.geometry,
  };
}

function readFailure(path: string, error: unknown): InputError {
  const code = (error as { code?: string }).code;
  if (code === 'ENOENT') return new InputError(`${path}: file not found`, { cause: error });
  if (code === 'EISDIR') return new InputError(`${path}: is a directory, not a NIfTI file`, { cause: error });
  return cannotRead(path, 'file', error);
}

/**
 * Reads a `.nii` or `.nii.gz` file (NIfTI-1 or NIfTI-2, either byte order; gzip detected by its magic bytes) into
 * a row-major {@link Volume}. The affine follows nibabel's rule (sform over qform over pixdim); gzip is inflated
 * with an output limit derived from the header, so a hostile file cannot allocate gigabytes.
 *
 * @param path - the file to read (a regular file: folders, FIFOs and devices are refused).
 * @returns the voxel values after `scl_slope`/`scl_inter` scaling, with `shape` `[X, Y, Z]` (or `[X, Y, Z, T]`),
 *   `spacing`, `affine` and the source `header`.
 * @throws {@link InputError} naming the file when it does not exist or is not a regular file, when it cannot be
 *   read, or when it is not a readable single-file NIfTI-1/2 volume (bad magic or header, unsupported datatype,
 *   truncated or oversized data, invalid geometry).
 * @example
 * const image = await readNifti('data/la/imagesTr/case_001.nii.gz');
 * console.log(image.shape, image.spacing); // e.g. [112, 112, 80] [0.625, 0.625, 0.625]
 */
export async function readNifti(path: string): Promise<Volume> {
  requireString('readNifti', 'path', path);
  const bytes = await readInputFile(path, 'file', { failure: (error) => readFailure(path, error) });
  return parseNifti(bytes, path);
}

/**
 * Header, dims and geometry without decoding voxels: reads at most 64 KiB of the file. For a plain file the
 * size is checked against the dims (truncated data is reported); a gzipped file's data is not inflated, so
 * only the deflate-ratio bound is checked.
 *
 * @param path A `.nii` or `.nii.gz` file (NIfTI-1 or NIfTI-2, single file).
 * @returns The header as read: version, byte order, `dim`, the `shape` {@link readNifti} would return, datatype,
 *   voxel offset, spacing, affine and the geometry fields (qform/sform codes, units, description).
 * @throws InputError when `path` is not a string; when the file is missing, not a regular file or cannot be
 *   read; when it is not a NIfTI-1/2 file (bad magic or header, unsupported datatype, invalid geometry); or when
 *   its data is shorter than the dims need (plain file) or larger than the gzip stream can inflate to.
 * @example
 * import { readNiftiHeader } from 'ssmis';
 *
 * const info = await readNiftiHeader('data/la/imagesTr/case_001_0000.nii.gz');
 * console.log(info.shape, info.spacing, info.datatypeName);
 */
export async function readNiftiHeader(path: string): Promise<NiftiHeaderInfo> {
  requireString('readNiftiHeader', 'path', path);
  await assertRegularFile(path, 'file', { failure: (error) => readFailure(path, error) });
  let prefix: Uint8Array;
  let fileSize: number;
  try {
    const handle = await fs.open(path, 'r');
    try {
      fileSize = (await handle.stat()).size;
      const length = Math.min(fileSize, GZIP_HEADER_PREFIXES[GZIP_HEADER_PREFIXES.length - 1]);
      prefix = new Uint8Array(length);
      const { bytesRead } = await handle.read(prefix, 0, length, 0);
      prefix = prefix.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw readFailure(path, error);
  }
  const gz = isGzip(prefix);
  const headerBytes = gz ? gunzipHeader(prefix, prefix.length === fileSize, path) : prefix;
  const h = parseHeader(headerBytes, path, gz);
  const layout = layoutOf(h, path);
  checkGeometry(h.geometry, path);
  const needed = h.voxOffset + layout.dataBytes;
  if (!gz && fileSize < needed) {
    throw new InputError(`${truncatedDataMessage(path, h, layout)}, the file holds ${fileSize}`);
  }
  if (gz && needed > fileSize * MAX_DEFLATE_RATIO) {
    throw new InputError(
      `${truncatedDataMessage(path, h, layout)}, but a gzip stream of ${fileSize} bytes cannot inflate to ` +
        `more than ${fileSize * MAX_DEFLATE_RATIO}`,
    );
  }
  return {
    file: path,
    version: h.geometry.version,
    gzipped: gz,
    littleEndian: h.littleEndian,
    dim: h.dim,
    shape: layout.shape,
    datatype: h.geometry.datatype,
    datatypeName: datatypeLabel(h.geometry.datatype),
    voxOffset: h.voxOffset,
    spacing: spacingOf(h.geometry),
    affine: geometryAffine(h.geometry, path),
    header: h.geometry,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Volumes made in memory

export interface VolumeFromArrayOptions {
  /** Voxel size per spatial axis (default: the affine's column norms, else `like`'s, else 1). */
  spacing?: number[];
  /** Voxel → world (default: `like`'s affine, else diag(spacing)). */
  affine?: Affine;
  /** Copy affine, spacing and header from this volume (spatial shapes must agree). */
  like?: Volume;
}

function checkShape(shape: number[], length: number, name: string): void {
  if (!Array.isArray(shape) || (shape.length !== 3 && shape.length !== 4)) {
    throw new InputError(`${name}: shape must have 3 or 4 entries, got [${shape}]`);
  }
  for (const n of shape) {
    if (!Number.isInteger(n) || n < 1) throw new InputError(`${name}: invalid shape [${shape}] (sizes >= 1)`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== length) {
    throw new InputError(`${name}: shape [${shape}] has ${count} voxels but the data has ${length} values`);
  }
}

function checkAffine(affine: Affine, name: string): void {
  const ok =
    Array.isArray(affine) &&
    affine.length >= 3 &&
    affine
      .slice(0, 3)
      .every((row) => Array.isArray(row) && row.length === 4 && row.every((v) => Number.isFinite(v)));
  if (!ok) throw new InputError(`${name}: affine must be a 4×4 matrix of finite numbers (rows 0..2 checked)`);
}

function columnNorms(affine: Affine): number[] {
  return [0, 1, 2].map((c) => Math.hypot(affine[0][c], affine[1][c], affine[2][c]));
}

/**
 * A Volume made in memory (data used as given, not copied). With `like`, the geometry (affine, spacing, header)
 * is copied from it, e.g. to write a predicted mask in the input's geometry; explicit `spacing`/`affine` win.
 * Given both `spacing` and `affine`, the spacing must match the affine's column norms (relative 1e-4).
 *
 * @param data The voxels in NIfTI order (x fastest), a typed array of a NIfTI datatype; not copied.
 * @param shape `[nx, ny, nz]` or `[nx, ny, nz, nt]`; the product must equal `data.length`.
 * @param options `spacing` (3 voxel sizes), `affine` (voxel → world, 4×4) and `like` (a volume whose geometry is
 *   copied; its spatial shape must match).
 * @returns The volume, ready for {@link writeNifti} or {@link writeNrrd}; default geometry is 1 mm isotropic.
 * @throws InputError when `data` is not a supported typed array, `shape` not 3 or 4 positive integers whose
 *   product is `data.length`, `options` not an object; when `like` has another spatial shape, the affine is not
 *   4×4 finite numbers, the spacing is not 3 non-negative numbers, or the spacing disagrees with the affine.
 * @example
 * import { readNifti, volumeFromArray, writeNifti } from 'ssmis';
 *
 * const image = await readNifti('scan.nii.gz');
 * const mask = new Uint8Array(image.data.length); // e.g. a threshold of the image
 * await writeNifti('mask.nii.gz', volumeFromArray(mask, image.shape.slice(0, 3), { like: image }), {
 *   datatype: 'uint8',
 * });
 */
export function volumeFromArray(
  data: VoxelArray,
  shape: number[],
  options: VolumeFromArrayOptions = {},
): Volume {
  requireTypedArray('volumeFromArray', 'data', data, VOXEL_ARRAYS);
  requireNumberArray('volumeFromArray', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireOptions('volumeFromArray', 'options', options);
  const name = 'volumeFromArray';
  checkShape(shape, data.length, name);
  const { like } = options;
  if (like !== undefined) {
    const same = like.shape.length >= 3 && [0, 1, 2].every((a) => like.shape[a] === shape[a]);
    if (!same) {
      throw new InputError(
        `${name}: spatial shape [${shape.slice(0, 3)}] differs from the reference volume's [${like.shape.slice(0, 3)}]`,
      );
    }
  }
  if (options.affine !== undefined) checkAffine(options.affine, name);
  if (options.spacing !== undefined) {
    if (options.spacing.length !== 3 || !options.spacing.every((v) => Number.isFinite(v) && v >= 0)) {
      throw new InputError(`${name}: spacing must be 3 non-negative numbers, got [${options.spacing}]`);
    }
  }
  const affine =
    options.affine ??
    (options.spacing !== undefined ? pixdimAffine(options.spacing) : like?.affine) ??
    pixdimAffine([1, 1, 1]);
  const spacing = options.spacing ??
    (options.affine !== undefined ? columnNorms(affine) : like?.spacing) ?? [1, 1, 1];
  if (options.spacing !== undefined && options.affine !== undefined) {
    const norms = columnNorms(affine);
    norms.forEach((n, a) => {
      if (Math.abs(n - spacing[a]) > 1e-4 * Math.max(1, n)) {
        throw new InputError(
          `${name}: spacing [${spacing}] disagrees with the affine's column norms [${norms.map((v) => +v.toPrecision(6))}]`,
        );
      }
    });
  }
  return {
    data,
    shape: [...shape],
    spacing: [...spacing],
    affine: affine.map((row) => [...row]),
    header: like?.header ? structuredClone(like.header) : null,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Writing

export interface WriteNiftiOptions {
  /** Voxel datatype. Default: the header's source datatype if writable and the data fit, else by array type. */
  datatype?: NiftiWriteDatatype;
  /** `descrip` field (79 ASCII characters at most). Default: the header's description, else empty. */
  description?: string;
}

function numericView(data: VoxelArray): ArrayLike<number> {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
  return data;
}

/** Index of the first value that datatype `code` cannot hold exactly (integers: in range and integral;
 * float32: representable; float64: anything), or −1. */
function firstMisfit(values: ArrayLike<number>, code: number): number {
  const range = INTEGER_RANGES[code];
  if (range !== undefined) {
    const [lo, hi] = range;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!(v >= lo && v <= hi && Number.isInteger(v))) return i;
    }
    return -1;
  }
  if (code === 16 && !(values instanceof Float32Array)) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (Math.fround(v) !== v && !Number.isNaN(v)) return i;
    }
  }
  return -1;
}

/** Default datatype when none is requested: lossless for the array type (BigInt arrays → float64). */
function datatypeOfArray(data: VoxelArray): number {
  if (data instanceof Uint8Array) return 2;
  if (data instanceof Int8Array) return 256;
  if (data instanceof Int16Array) return 4;
  if (data instanceof Uint16Array) return 512;
  if (data instanceof Int32Array) return 8;
  if (data instanceof Uint32Array) return 768;
  if (data instanceof Float32Array) return 16;
  return 64;
}

function voxelText(index: number, shape: number[]): string {
  const idx: number[] = [];
  let rest = index;
  for (let a = shape.length - 1; a >= 0; a--) {
    idx.unshift(rest % shape[a]);
    rest = Math.floor(rest / shape[a]);
  }
  return `(${idx.join(', ')})`;
}

const NIFTI1_VOX_OFFSET = 352;

function writeAscii(bytes: Uint8Array, offset: number, text: string, max: number): void {
  for (let i = 0; i < Math.min(text.length, max); i++) {
    const c = text.charCodeAt(i);
    bytes[offset + i] = c >= 32 && c < 127 ? c : 63;
  }
}

/**
 * Writes a volume as a single-file little-endian NIfTI-1, gzipped when the path ends in `.nii.gz`, atomically
 * (temp file + rename: a crash leaves the previous file or the new one, never a torn one).
 *
 * Geometry: sform = the volume's affine (sform_code: the header's if > 0, else 2 = aligned). qform: when the
 * volume has a header and its affine is exactly the affine that header implies, the header's quaternion,
 * qoffset, qfac and qform_code are copied bit for bit (pixdim[1..3] = spacing); otherwise the qform is derived
 * from the affine as nibabel's `set_qform` does (qform_code: the header's if > 0, else 2) and pixdim[1..3] are
 * the affine's column norms, because they are the qform's zooms. Values are written scaled (scl_slope 1,
 * scl_inter 0); a value the integer datatype cannot hold is an InputError, never a silent wrap.
 *
 * @param path - the file to write, ending in `.nii` or `.nii.gz`.
 * @param volume - a {@link Volume} as {@link readNifti} returns it or {@link volumeFromArray} builds it.
 * @param options - `datatype` (default: the source datatype when the values fit, else lossless for the array
 *   type) and `description` (the header's `descrip`, 79 ASCII characters at most).
 * @returns nothing; the file is complete once the promise resolves.
 * @throws {@link InputError} when an argument is missing or of the wrong kind, the name does not end in `.nii`
 *   or `.nii.gz`, the shape, spacing or affine is invalid or a dimension exceeds 32767, the requested datatype
 *   cannot hold a value (naming the voxel), or the file cannot be written.
 * @example
 * const image = await readNifti('case.nii.gz');
 * const mask = volumeFromArray(labels, image.shape, { like: image });
 * await writeNifti('case_pred.nii.gz', mask, { datatype: 'uint8' });
 */
export async function writeNifti(
  path: string,
  volume: Volume,
  options: WriteNiftiOptions = {},
): Promise<void> {
  requireString('writeNifti', 'path', path);
  requireVolume('writeNifti', 'volume', volume);
  requireOptions('writeNifti', 'options', options);
  const lower = path.toLowerCase();
  const gz = lower.endsWith('.nii.gz');
  if (!gz && !lower.endsWith('.nii')) {
    throw new InputError(`${path}: cannot write NIfTI: the file name must end in .nii or .nii.gz`);
  }
  const { data, shape } = volume;
  checkShape(shape, data.length, path);
  checkAffine(volume.affine, path);
  if (!Array.isArray(volume.spacing) || volume.spacing.length < 3) {
    throw new InputError(`${path}: volume spacing must have 3 entries, got [${volume.spacing}]`);
  }
  for (const n of shape) {
    if (n > 32767) throw new InputError(`${path}: dimension ${n} exceeds NIfTI-1's limit of 32767`);
  }
  const values = numericView(data);
  const hdr = volume.header;

  let code: number;
  if (options.datatype !== undefined) {
    code = WRITE_CODES[options.datatype];
    if (code === undefined) {
      throw new InputError(
        `${path}: unknown datatype "${options.datatype}" (expected ${Object.keys(WRITE_CODES).join(', ')})`,
      );
    }
  } else if (
    hdr &&
    Object.values(WRITE_CODES).includes(hdr.datatype) &&
    firstMisfit(values, hdr.datatype) < 0
  ) {
    code = hdr.datatype;
  } else {
    code = datatypeOfArray(data);
  }
  // Integer targets must hold every value exactly; float targets round (float32) as requested.
  const misfit = INTEGER_RANGES[code] !== undefined ? firstMisfit(values, code) : -1;
  if (misfit >= 0) {
    const [lo, hi] = INTEGER_RANGES[code];
    throw new InputError(
      `${path}: value ${values[misfit]} at voxel ${voxelText(misfit, shape)} does not fit ${DATATYPES[code].name} ` +
        `(integers ${lo}..${hi}); nothing was written`,
    );
  }

  // Geometry
  let impliedByHeader: Affine | null = null;
  if (hdr) {
    try {
      impliedByHeader = geometryAffine(hdr, path);
    } catch {
      impliedByHeader = null;
    }
  }
  const pixdim = [1, 1, 1, 1, 1, 1, 1, 1];
  if (hdr) for (let i = 4; i < 8; i++) pixdim[i] = hdr.pixdim[i] ?? 1;
  let quatern: number[];
  let qoffset: number[];
  let qformCode: number;
  if (hdr && impliedByHeader && affinesEqual(volume.affine, impliedByHeader)) {
    quatern = hdr.quatern;
    qoffset = hdr.qoffset;
    qformCode = hdr.qformCode;
    pixdim[0] = hdr.pixdim[0];
    for (let a = 0; a < 3; a++) pixdim[a + 1] = volume.spacing[a];
  } else {
    const q = qformFromAffine(volume.affine, path);
    quatern = q.quatern;
    qoffset = q.qoffset;
    qformCode = hdr && hdr.qformCode > 0 ? hdr.qformCode : 2;
    pixdim[0] = q.qfac;
    for (let a = 0; a < 3; a++) pixdim[a + 1] = q.zooms[a];
  }
  const sformCode = hdr && hdr.sformCode > 0 ? hdr.sformCode : 2;

  // Header
  const [nx, ny, nz] = shape;
  const nt = shape.length === 4 ? shape[3] : 1;
  const count = data.length;
  const bytesPer = DATATYPES[code].bytes;
  const file = new Uint8Array(NIFTI1_VOX_OFFSET + count * bytesPer);
  const dv = new DataView(file.buffer);
  dv.setInt32(0, 348, true);
  file[38] = 0x72; // 'r' (regular), as nibabel writes
  const dims = [shape.length, nx, ny, nz, nt, 1, 1, 1];
  if (shape.length === 3) dims[4] = 1;
  dims.forEach((v, i) => {
    dv.setInt16(40 + 2 * i, v, true);
  });
  dv.setInt16(70, code, true);
  dv.setInt16(72, bytesPer * 8, true);
  pixdim.forEach((v, i) => {
    dv.setFloat32(76 + 4 * i, v, true);
  });
  dv.setFloat32(108, NIFTI1_VOX_OFFSET, true);
  dv.setFloat32(112, 1, true);
  dv.setFloat32(116, 0, true);
  file[123] = (hdr?.xyztUnits ?? 10) & 0xff;
  writeAscii(file, 148, options.description ?? hdr?.description ?? '', 79);
  dv.setInt16(252, qformCode, true);
  dv.setInt16(254, sformCode, true);
  quatern.forEach((v, i) => {
    dv.setFloat32(256 + 4 * i, v, true);
  });
  qoffset.forEach((v, i) => {
    dv.setFloat32(268 + 4 * i, v, true);
  });
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) dv.setFloat32(280 + 16 * r + 4 * c, volume.affine[r][c], true);
  }
  file.set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"; bytes 348..351 (extension flag) stay 0

  // Voxels: row-major → NIfTI order (i fastest), little-endian.
  const out = allocateLike(code, count) as Exclude<VoxelArray, BigInt64Array | BigUint64Array>;
  const step = ny * nz * nt;
  let s = 0;
  for (let t = 0; t < nt; t++) {
    for (let k = 0; k < nz; k++) {
      for (let j = 0; j < ny; j++) {
        let d = (j * nz + k) * nt + t;
        for (let i = 0; i < nx; i++, d += step) out[s++] = values[d];
      }
    }
  }
  const outBytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  if (!HOST_LITTLE_ENDIAN) swapBytes(outBytes, bytesPer);
  file.set(outBytes, NIFTI1_VOX_OFFSET);

  const payload = gz ? gzipSync(file) : file;
  try {
    await writeFileAtomic(path, payload);
  } catch (error) {
    throw new SsmisError(`${path}: cannot write NIfTI file (${errorMessage(error)})`, 1, { cause: error });
  }
}

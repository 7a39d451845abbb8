/**
 * NRRD reader/writer for the LA challenge's raw `lgemri.nrrd` / `laendo.nrrd` files and their phantoms.
 *
 * Supported: NRRD0001–NRRD0005 with an attached header; `type` (all integer types, float, double);
 * `encoding` raw, gzip/gz, ascii/text/txt; `endian`; `byte skip` (≥ 0, or −1 with raw encoding);
 * `line skip`; `space`, `space directions`, `space origin`, `spacings`. Detached data (`data file`) and
 * bzip2/hex encodings are rejected with an error that names the file.
 *
 * Axis order: NRRD's first axis varies fastest (as in NIfTI), so the reader transposes to the row-major
 * `[X, Y, Z]` layout of {@link Volume}; non-spatial axes (`none` in `space directions`) are moved last.
 * Geometry: NRRD's LPS (`left-posterior-superior`) world is converted to RAS+ by negating x and y, as nibabel
 * and ITK do, so a `Volume` from NRRD and one from NIfTI share the same world convention.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { requireOptions, requireString, requireVolume } from '../util/args.js';
import { writeFileAtomic } from '../util/atomic.js';
import { errorMessage, InputError } from '../util/errors.js';
import { type VoxelDtype, voxelDtype } from './dtype.js';
import { readInputFile } from './read-file.js';
import type { Affine, Volume, VoxelArray } from './volume.js';

type NrrdType = VoxelDtype;

const TYPE_ALIASES: Record<string, NrrdType> = {
  'signed char': 'int8',
  int8: 'int8',
  int8_t: 'int8',
  uchar: 'uint8',
  'unsigned char': 'uint8',
  uint8: 'uint8',
  uint8_t: 'uint8',
  short: 'int16',
  'short int': 'int16',
  'signed short': 'int16',
  'signed short int': 'int16',
  int16: 'int16',
  int16_t: 'int16',
  ushort: 'uint16',
  'unsigned short': 'uint16',
  'unsigned short int': 'uint16',
  uint16: 'uint16',
  uint16_t: 'uint16',
  int: 'int32',
  'signed int': 'int32',
  int32: 'int32',
  int32_t: 'int32',
  uint: 'uint32',
  'unsigned int': 'uint32',
  uint32: 'uint32',
  uint32_t: 'uint32',
  longlong: 'int64',
  'long long': 'int64',
  'long long int': 'int64',
  'signed long long': 'int64',
  'signed long long int': 'int64',
  int64: 'int64',
  int64_t: 'int64',
  ulonglong: 'uint64',
  'unsigned long long': 'uint64',
  'unsigned long long int': 'uint64',
  uint64: 'uint64',
  uint64_t: 'uint64',
  float: 'float32',
  double: 'float64',
};

const TYPE_INFO: Record<NrrdType, { bytes: number; make: (n: number) => VoxelArray; nrrdName: string }> = {
  int8: { bytes: 1, make: (n) => new Int8Array(n), nrrdName: 'int8' },
  uint8: { bytes: 1, make: (n) => new Uint8Array(n), nrrdName: 'uint8' },
  int16: { bytes: 2, make: (n) => new Int16Array(n), nrrdName: 'int16' },
  uint16: { bytes: 2, make: (n) => new Uint16Array(n), nrrdName: 'uint16' },
  int32: { bytes: 4, make: (n) => new Int32Array(n), nrrdName: 'int32' },
  uint32: { bytes: 4, make: (n) => new Uint32Array(n), nrrdName: 'uint32' },
  int64: { bytes: 8, make: (n) => new BigInt64Array(n), nrrdName: 'int64' },
  uint64: { bytes: 8, make: (n) => new BigUint64Array(n), nrrdName: 'uint64' },
  float32: { bytes: 4, make: (n) => new Float32Array(n), nrrdName: 'float' },
  float64: { bytes: 8, make: (n) => new Float64Array(n), nrrdName: 'double' },
};

/** Parsed header fields (lower-case field names) and key/value pairs of an NRRD file. */
export interface NrrdHeader {
  version: number;
  fields: Record<string, string>;
  keyValues: Record<string, string>;
}

/** Largest array ssmis will allocate for one NRRD (2^31 − 1 bytes, the Node Buffer limit on 32-bit lengths). */
const MAX_BYTES = 2 ** 31 - 1;

function findHeaderEnd(buf: Buffer): { headerEnd: number; dataStart: number } | null {
  // A blank line ends the header; accept LF and CRLF line endings.
  for (let i = 0; i < buf.length - 1; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a) return { headerEnd: i, dataStart: i + 2 };
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return { headerEnd: i, dataStart: i + 3 };
  }
  return null;
}

function parseHeader(file: string, text: string): NrrdHeader {
  const lines = text.split(/\r?\n/);
  const magic = lines[0]?.trim() ?? '';
  const m = /^NRRD000([1-5])$/.exec(magic);
  if (!m) {
    throw new InputError(
      `${file}: not an NRRD file (expected magic NRRD0001–NRRD0005 on the first line, found ${JSON.stringify(magic.slice(0, 16))})`,
    );
  }
  const fields: Record<string, string> = {};
  const keyValues: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const kv = line.indexOf(':=');
    const colon = line.indexOf(': ');
    if (kv >= 0 && (colon < 0 || kv < colon)) {
      keyValues[line.slice(0, kv)] = line.slice(kv + 2);
      continue;
    }
    if (colon < 0) throw new InputError(`${file}: malformed NRRD header line ${JSON.stringify(line)}`);
    fields[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 2).trim();
  }
  return { version: Number(m[1]), fields, keyValues };
}

function parseVector(file: string, field: string, text: string): number[] | null {
  const t = text.trim();
  if (t === 'none') return null;
  const m = /^\((.*)\)$/.exec(t);
  if (!m)
    throw new InputError(
      `${file}: field "${field}" expected a vector like (1,0,0), found ${JSON.stringify(t)}`,
    );
  const values = m[1].split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isFinite(v))) {
    throw new InputError(`${file}: field "${field}" has a non-numeric component in ${JSON.stringify(t)}`);
  }
  return values;
}

/** Splits `(a,b,c) none (d,e,f)` into its per-axis tokens. */
function splitVectors(text: string): string[] {
  return text.trim().match(/\([^)]*\)|none/g) ?? [];
}

/** Sign flips that take the NRRD `space` to RAS+ (LPS → negate x and y; LAS → negate x; RPS → negate y). */
function spaceToRas(file: string, space: string | undefined): number[] {
  if (space === undefined) return [1, 1, 1];
  const s = space.toLowerCase();
  switch (s) {
    case 'left-posterior-superior':
    case 'lps':
      return [-1, -1, 1];
    case 'right-anterior-superior':
    case 'ras':
    case 'scanner-xyz':
    case '3d-right-handed':
      return [1, 1, 1];
    case 'left-anterior-superior':
    case 'las':
      return [-1, 1, 1];
    case 'right-posterior-superior':
    case 'rps':
      return [1, -1, 1];
    default:
      throw new InputError(
        `${file}: unsupported NRRD space ${JSON.stringify(space)} (expected left-posterior-superior, right-anterior-superior, left-anterior-superior or scanner-xyz)`,
      );
  }
}

/** Fortran-order data (first axis fastest) over `sizes` → row-major data over `sizes[perm]`. */
function fortranToRowMajor(src: VoxelArray, sizes: number[], perm: number[], out: VoxelArray): void {
  const d = sizes.length;
  const inStride: number[] = [];
  let s = 1;
  for (let a = 0; a < d; a++) {
    inStride.push(s);
    s *= sizes[a];
  }
  const oShape = perm.map((a) => sizes[a]);
  const oStride = perm.map((a) => inStride[a]);
  if (d === 3) {
    const [n0, n1, n2] = oShape;
    const [s0, s1, s2] = oStride;
    let o = 0;
    const dst = out as unknown as { [i: number]: number | bigint };
    const sv = src as unknown as { [i: number]: number | bigint };
    for (let i = 0; i < n0; i++) {
      for (let j = 0; j < n1; j++) {
        let p = i * s0 + j * s1;
        for (let k = 0; k < n2; k++, p += s2) dst[o++] = sv[p];
      }
    }
    return;
  }
  const idx = new Array<number>(d).fill(0);
  const total = src.length;
  const dst = out as unknown as { [i: number]: number | bigint };
  const sv = src as unknown as { [i: number]: number | bigint };
  let p = 0;
  for (let o = 0; o < total; o++) {
    dst[o] = sv[p];
    for (let a = d - 1; a >= 0; a--) {
      idx[a]++;
      p += oStride[a];
      if (idx[a] < oShape[a]) break;
      p -= oStride[a] * oShape[a];
      idx[a] = 0;
    }
  }
}

function decodeBinary(bytes: Uint8Array, type: NrrdType, n: number, littleEndian: boolean): VoxelArray {
  const info = TYPE_INFO[type];
  const out = info.make(n);
  const outBytes = new Uint8Array(out.buffer, out.byteOffset, n * info.bytes);
  outBytes.set(bytes.subarray(0, n * info.bytes));
  const hostLittle = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (info.bytes > 1 && littleEndian !== hostLittle) {
    const b = info.bytes;
    for (let i = 0; i < outBytes.length; i += b) {
      for (let lo = i, hi = i + b - 1; lo < hi; lo++, hi--) {
        const t = outBytes[lo];
        outBytes[lo] = outBytes[hi];
        outBytes[hi] = t;
      }
    }
  }
  return out;
}

function decodeAscii(file: string, text: string, type: NrrdType, n: number): VoxelArray {
  const tokens = text.split(/[\s,]+/).filter((t) => t !== '');
  if (tokens.length < n) {
    throw new InputError(
      `${file}: truncated NRRD ascii data: sizes need ${n} values, found ${tokens.length}`,
    );
  }
  const out = TYPE_INFO[type].make(n);
  const big = type === 'int64' || type === 'uint64';
  for (let i = 0; i < n; i++) {
    if (big) {
      if (!/^[+-]?\d+$/.test(tokens[i])) {
        throw new InputError(`${file}: NRRD ascii data has a non-integer value ${JSON.stringify(tokens[i])}`);
      }
      (out as BigInt64Array)[i] = BigInt(tokens[i]);
    } else {
      const v = Number(tokens[i]);
      if (Number.isNaN(v) && tokens[i].toLowerCase() !== 'nan') {
        throw new InputError(`${file}: NRRD ascii data has a non-numeric value ${JSON.stringify(tokens[i])}`);
      }
      (out as Float64Array)[i] = v;
    }
  }
  return out;
}

/** Parses an NRRD file already in memory (`file` is only used in messages). */
export function parseNrrd(file: string, buf: Buffer): Volume & { nrrd: NrrdHeader } {
  const head = buf.subarray(0, 8).toString('latin1');
  if (!/^NRRD000[1-5]/.test(head)) {
    throw new InputError(
      `${file}: not an NRRD file (expected magic NRRD0001–NRRD0005, found ${JSON.stringify(head)})`,
    );
  }
  const ends = findHeaderEnd(buf);
  const header = parseHeader(file, buf.subarray(0, ends ? ends.headerEnd : buf.length).toString('latin1'));
  const f = header.fields;
  if (f['data file'] !== undefined || f.datafile !== undefined) {
    throw new InputError(
      `${file}: detached NRRD data ("data file: ${f['data file'] ?? f.datafile}") is not supported; convert it to an attached .nrrd (e.g. with 3D Slicer or pynrrd)`,
    );
  }
  if (!ends)
    throw new InputError(`${file}: truncated NRRD: no blank line ends the header, so there is no data`);
  const need = (name: string): string => {
    const v = f[name];
    if (v === undefined) throw new InputError(`${file}: NRRD header lacks the required field "${name}"`);
    return v;
  };
  const typeName = need('type').toLowerCase();
  const type = TYPE_ALIASES[typeName];
  if (!type) throw new InputError(`${file}: unsupported NRRD type "${typeName}"`);
  const dimension = Number(need('dimension'));
  if (!Number.isInteger(dimension) || dimension < 1 || dimension > 16) {
    throw new InputError(`${file}: NRRD dimension must be an integer 1..16, found "${f.dimension}"`);
  }
  const sizes = need('sizes').split(/\s+/).map(Number);
  if (sizes.length !== dimension || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new InputError(
      `${file}: NRRD sizes "${f.sizes}" must be ${dimension} positive integers (dimension ${dimension})`,
    );
  }
  const encoding = need('encoding').toLowerCase();
  const n = sizes.reduce((a, b) => a * b, 1);
  const bytesPer = TYPE_INFO[type].bytes;
  const nBytes = n * bytesPer;
  if (nBytes > MAX_BYTES) {
    throw new InputError(`${file}: NRRD sizes ${sizes.join('×')} of ${typeName} exceed ${MAX_BYTES} bytes`);
  }
  let littleEndian = true;
  if (bytesPer > 1 && encoding !== 'ascii' && encoding !== 'text' && encoding !== 'txt') {
    const endian = f.endian?.toLowerCase();
    if (endian !== 'little' && endian !== 'big') {
      throw new InputError(
        `${file}: NRRD field "endian" must be little or big for type ${typeName}, found ${JSON.stringify(f.endian)}`,
      );
    }
    littleEndian = endian === 'little';
  }
  const lineSkip = Number(f['line skip'] ?? f.lineskip ?? 0);
  const byteSkip = Number(f['byte skip'] ?? f.byteskip ?? 0);
  if (!Number.isInteger(lineSkip) || lineSkip < 0)
    throw new InputError(`${file}: bad NRRD "line skip" ${lineSkip}`);
  if (!Number.isInteger(byteSkip) || byteSkip < -1)
    throw new InputError(`${file}: bad NRRD "byte skip" ${byteSkip}`);
  let raw = buf.subarray(ends.dataStart);
  for (let l = 0; l < lineSkip; l++) {
    const nl = raw.indexOf(0x0a);
    if (nl < 0)
      throw new InputError(`${file}: truncated NRRD: "line skip" ${lineSkip} passes the end of the file`);
    raw = raw.subarray(nl + 1);
  }

  let data: VoxelArray;
  if (encoding === 'raw' || encoding === 'gzip' || encoding === 'gz') {
    let bytes: Uint8Array = raw;
    if (encoding !== 'raw') {
      if (byteSkip === -1)
        throw new InputError(`${file}: NRRD "byte skip: -1" is only valid with raw encoding`);
      try {
        bytes = gunzipSync(raw);
      } catch (error) {
        throw new InputError(`${file}: corrupt or truncated gzip NRRD data (${errorMessage(error)})`, {
          cause: error,
        });
      }
    }
    if (byteSkip === -1) bytes = bytes.subarray(Math.max(0, bytes.length - nBytes));
    else bytes = bytes.subarray(Math.min(byteSkip, bytes.length));
    if (bytes.length < nBytes) {
      throw new InputError(
        `${file}: truncated NRRD data: sizes ${sizes.join('×')} of ${typeName} need ${nBytes} bytes, found ${bytes.length}${encoding === 'raw' ? '' : ' after gunzip'}`,
      );
    }
    data = decodeBinary(bytes, type, n, littleEndian);
  } else if (encoding === 'ascii' || encoding === 'text' || encoding === 'txt') {
    data = decodeAscii(file, raw.toString('latin1'), type, n);
  } else {
    throw new InputError(
      `${file}: unsupported NRRD encoding "${encoding}" (supported: raw, gzip, ascii); re-save it with gzip encoding`,
    );
  }

  // Geometry: directions per axis (null for non-spatial axes).
  const flips = spaceToRas(file, f.space);
  let directions: (number[] | null)[] | null = null;
  if (f['space directions'] !== undefined) {
    const tokens = splitVectors(f['space directions']);
    if (tokens.length !== dimension) {
      throw new InputError(
        `${file}: "space directions" has ${tokens.length} entries, expected ${dimension} (one per axis)`,
      );
    }
    directions = tokens.map((t) => parseVector(file, 'space directions', t));
  }
  const spatial: number[] = [];
  const other: number[] = [];
  for (let a = 0; a < dimension; a++) {
    if (directions && directions[a] === null) other.push(a);
    else spatial.push(a);
  }
  if (spatial.length > 3)
    throw new InputError(`${file}: NRRD has ${spatial.length} spatial axes; at most 3 are supported`);
  const perm = [...spatial, ...other];
  const shape = perm.map((a) => sizes[a]);
  const out = TYPE_INFO[type].make(n);
  fortranToRowMajor(data, sizes, perm, out);

  const affine: Affine = [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
  const spacing: number[] = [];
  if (directions) {
    spatial.forEach((a, col) => {
      const dir = directions[a] as number[];
      for (let r = 0; r < 3; r++) affine[r][col] = (dir[r] ?? 0) * flips[r] + 0; // + 0 turns −0 into 0
      spacing.push(Math.hypot(...dir));
    });
    if (f['space origin'] !== undefined) {
      const origin = parseVector(file, 'space origin', f['space origin']);
      if (origin) for (let r = 0; r < 3; r++) affine[r][3] = (origin[r] ?? 0) * flips[r] + 0;
    }
  } else {
    // Without "spacings" the voxel size is 1; a given spacing must be a finite number (NaN means unknown).
    const sp = f.spacings?.trim().split(/\s+/);
    spatial.forEach((a, col) => {
      let v = 1;
      if (sp !== undefined) {
        v = Math.abs(Number(sp[a]));
        if (!Number.isFinite(v)) {
          throw new InputError(
            `${file}: NRRD field "spacings" has a non-finite value ${JSON.stringify(sp[a] ?? '')} for axis ${a}; the voxel geometry must be finite numbers`,
          );
        }
      }
      affine[col][col] = v;
      spacing.push(v);
    });
  }
  return { data: out, shape, spacing, affine, header: null, nrrd: header };
}

/**
 * Reads an attached-header NRRD file into a row-major {@link Volume} with a RAS+ affine (the LA challenge ships
 * its scans as `.nrrd`; `prepare` reads them through this).
 *
 * @param file An `.nrrd` file with an attached header (raw, gzip or ascii encoding; at most 3 spatial axes).
 * @returns The volume: voxels in the file's type, shape, spacing and a RAS+ affine (converted from the file's
 *   space directions and origin); `header` is null (no NIfTI header fields).
 * @throws InputError when `file` is not a string; when the file is missing, not a regular file or cannot be
 *   read; when the header is malformed or lacks a required field, names an unsupported type, dimension or
 *   encoding, declares data larger than the size limit, has non-finite geometry, or the data is truncated or
 *   corrupt.
 * @example
 * import { readNrrd, writeNifti } from 'ssmis';
 *
 * const scan = await readNrrd('raw/la/Training Set/case01/lgemri.nrrd');
 * await writeNifti('case01.nii.gz', scan);
 */
export async function readNrrd(file: string): Promise<Volume> {
  requireString('readNrrd', 'file', file);
  const buf = await readInputFile(file, 'NRRD file');
  const { nrrd: _nrrd, ...volume } = parseNrrd(file, buf);
  return volume;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

export interface WriteNrrdOptions {
  /** Default `gzip` (as the LA challenge files). */
  encoding?: 'gzip' | 'raw';
}

/**
 * Writes a 3-D row-major volume as NRRD0004 in LPS space (the convention of the LA challenge files),
 * host byte order, attached header. The affine is converted from RAS+ back to LPS. The write is atomic (temp
 * file + rename).
 *
 * @param file The `.nrrd` file to write (replaced if it exists).
 * @param volume A 3-D volume (`shape` of 3 sizes, `data` holding their product of voxels).
 * @param options `encoding`: `'gzip'` (default, as the LA challenge files) or `'raw'`.
 * @returns A promise that resolves once the file is in place.
 * @throws InputError when `file` is not a string, `volume` is not a volume or not 3-D, its data length does not
 *   match its shape, or `options` is not an object.
 * @example
 * import { readNifti, writeNrrd } from 'ssmis';
 *
 * const mask = await readNifti('masks/case01.nii.gz');
 * await writeNrrd('masks/case01.nrrd', mask, { encoding: 'raw' });
 */
export async function writeNrrd(file: string, volume: Volume, options: WriteNrrdOptions = {}): Promise<void> {
  requireString('writeNrrd', 'file', file);
  requireVolume('writeNrrd', 'volume', volume);
  requireOptions('writeNrrd', 'options', options);
  const { data, shape, affine } = volume;
  if (shape.length !== 3)
    throw new InputError(`${file}: writeNrrd supports 3-D volumes, got shape [${shape.join(', ')}]`);
  const [nx, ny, nz] = shape;
  const n = nx * ny * nz;
  if (data.length !== n) {
    throw new InputError(
      `${file}: volume data has ${data.length} voxels, shape [${shape.join(', ')}] needs ${n}`,
    );
  }
  const type = voxelDtype(data);
  const info = TYPE_INFO[type];
  const fortran = info.make(n);
  const dst = fortran as unknown as { [i: number]: number | bigint };
  const src = data as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const base = (i * ny + j) * nz;
      for (let k = 0; k < nz; k++) dst[i + nx * (j + ny * k)] = src[base + k];
    }
  }
  const hostLittle = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const bytes = new Uint8Array(fortran.buffer, fortran.byteOffset, n * info.bytes);
  const flips = [-1, -1, 1];
  const dirs = [0, 1, 2].map((c) => `(${[0, 1, 2].map((r) => fmt(affine[r][c] * flips[r])).join(',')})`);
  const origin = `(${[0, 1, 2].map((r) => fmt(affine[r][3] * flips[r])).join(',')})`;
  const encoding = options.encoding ?? 'gzip';
  const header = [
    'NRRD0004',
    '# Complete NRRD file format specification at:',
    '# http://teem.sourceforge.net/nrrd/format.html',
    `type: ${info.nrrdName}`,
    'dimension: 3',
    'space: left-posterior-superior',
    `sizes: ${nx} ${ny} ${nz}`,
    `space directions: ${dirs.join(' ')}`,
    'kinds: domain domain domain',
    ...(info.bytes > 1 ? [`endian: ${hostLittle ? 'little' : 'big'}`] : []),
    `encoding: ${encoding}`,
    `space origin: ${origin}`,
    '',
    '',
  ].join('\n');
  const payload = encoding === 'gzip' ? gzipSync(bytes) : bytes;
  const out = new Uint8Array(Buffer.byteLength(header, 'latin1') + payload.length);
  out.set(Buffer.from(header, 'latin1'), 0);
  out.set(payload, out.length - payload.length);
  await writeFileAtomic(file, out);
}

/**
 * HDF5 datasets for the UA-MT `mri_norm2.h5` layout (`image` float32 (X, Y, Z), `label` uint8), read and
 * written with h5wasm 0.10.3 (the HDF5 C library compiled to WebAssembly, host file system via NODERAWFS).
 *
 * Why h5wasm and not jsfive: both read these files identically to h5py, but jsfive is read-only and
 * the synthetic phantoms must be written in this layout too; one library for both keeps the formats in sync.
 * Measured on this machine (2 cores): reading a gzip-compressed 144×144×88 float32 `image` + uint8 `label`
 * (the size of a UA-MT LA case) takes ~90 ms warm, ~150 ms for the first file (wasm start-up excluded).
 *
 * h5 datasets are C order (row-major), so the shape is (X, Y, Z) exactly as h5py shows it and the data
 * needs no transpose (unlike NIfTI/NRRD).
 *
 * Robustness: the HDF5 library prints diagnostics to stderr and throws opaque errors on bad files. Before
 * opening, the signature and the superblock's end-of-file address are checked in JS (so "not HDF5" and
 * "truncated" are clear errors naming the file); h5wasm's throwing error handler is switched on so that any
 * remaining library error becomes an exception (wrapped with the file name) instead of stderr noise.
 */

import { promises as fs } from 'node:fs';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import { requireObject, requireOptions, requireString, requireStringArray } from '../util/args.js';
import { atomicTempPath } from '../util/atomic.js';
import { errorMessage, InputError, SsmisError } from '../util/errors.js';
import { type NumberVoxelArray, type NumberVoxelDtype, voxelDtype } from './dtype.js';
import { assertRegularFile } from './read-file.js';

export type H5DType = NumberVoxelDtype;

export type H5Array = NumberVoxelArray;

export interface H5Dataset {
  /** Row-major (C order) over `shape`. */
  data: H5Array;
  shape: number[];
  dtype: H5DType;
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

let ready: Promise<void> | null = null;

/** Initialises the wasm module once and turns HDF5 error stacks into exceptions. */
function init(): Promise<void> {
  ready ??= h5wasm.ready.then((module) => {
    module.activate_throwing_error_handler();
  });
  return ready;
}

/** Deepest line of an HDF5 error stack ("... in H5F__super_read(): truncated file: ..."), for messages. */
function hdf5Reason(error: unknown): string {
  const text = errorMessage(error);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^#\d+:/.test(l));
  const last = lines.at(-1);
  if (!last) return text.split('\n')[0] ?? text;
  const m = /\(\):\s*(.*)$/.exec(last);
  return m ? m[1] : last;
}

function readUint(bytes: Uint8Array, offset: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + bytes[offset + i];
  return v;
}

/**
 * Checks the HDF5 signature (at 0, 512, 1024, … as the spec allows a user block) and compares the superblock's
 * end-of-file address with the file size, which is how the HDF5 library itself detects truncation.
 */
async function checkFile(file: string): Promise<void> {
  const failure = (error: unknown) =>
    new InputError(`${file}: cannot open HDF5 file (${errorMessage(error)})`, { cause: error });
  await assertRegularFile(file, 'HDF5 file', { failure });
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    throw failure(error);
  }
  try {
    const { size } = await handle.stat();
    let base = -1;
    const sig = new Uint8Array(8);
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      await handle.read(sig, 0, 8, offset);
      if (SIGNATURE.every((b, i) => sig[i] === b)) {
        base = offset;
        break;
      }
      if (offset > 1 << 24) break;
    }
    if (base < 0) {
      throw new InputError(`${file}: not an HDF5 file (no HDF5 signature \\x89HDF\\r\\n\\x1a\\n found)`);
    }
    const sb = new Uint8Array(96);
    const { bytesRead } = await handle.read(sb, 0, sb.length, base);
    const version = sb[8];
    let eofOffset: number;
    let sizeOfOffsets: number;
    if (version === 0 || version === 1) {
      sizeOfOffsets = sb[13];
      // sig 8, versions 5, sizes 2, reserved 1, K 4, flags 4, (v1: 4), base addr, free-space addr, EOF addr.
      eofOffset = 24 + (version === 1 ? 4 : 0) + 2 * sizeOfOffsets;
    } else if (version === 2 || version === 3) {
      sizeOfOffsets = sb[9];
      // sig 8, version 1, sizes 2, flags 1, base addr, extension addr, EOF addr.
      eofOffset = 12 + 2 * sizeOfOffsets;
    } else {
      throw new InputError(`${file}: unsupported HDF5 superblock version ${version}`);
    }
    if (![2, 4, 8].includes(sizeOfOffsets) || eofOffset + sizeOfOffsets > bytesRead) {
      throw new InputError(`${file}: truncated or corrupt HDF5 superblock`);
    }
    const eof = readUint(sb, eofOffset, sizeOfOffsets);
    if (eof !== 2 ** (8 * sizeOfOffsets) - 1 && base + eof > size) {
      throw new InputError(
        `${file}: truncated HDF5 file: the superblock says ${base + eof} bytes, the file has ${size}`,
      );
    }
  } finally {
    await handle.close();
  }
}

const DTYPES: Record<string, H5DType> = {
  '<b': 'int8',
  '>b': 'int8',
  '<B': 'uint8',
  '>B': 'uint8',
  '<h': 'int16',
  '>h': 'int16',
  '<H': 'uint16',
  '>H': 'uint16',
  '<i': 'int32',
  '>i': 'int32',
  '<I': 'uint32',
  '>I': 'uint32',
  '<f': 'float32',
  '>f': 'float32',
  '<d': 'float64',
  '>d': 'float64',
};

const WRITE_DTYPES: Record<H5DType, string> = {
  int8: '<b',
  uint8: '<B',
  int16: '<h',
  uint16: '<H',
  int32: '<i',
  uint32: '<I',
  float32: '<f',
  float64: '<d',
};

/**
 * Reads the named numeric datasets of an HDF5 file. Errors name the file and the dataset: missing file,
 * not HDF5, truncated, a missing dataset (listing the ones present), a non-numeric dataset.
 */
export async function readH5Datasets(file: string, names: string[]): Promise<Record<string, H5Dataset>> {
  requireString('readH5Datasets', 'file', file);
  requireStringArray('readH5Datasets', 'names', names);
  await checkFile(file);
  await init();
  let h5: InstanceType<typeof h5wasm.File>;
  try {
    h5 = new h5wasm.File(file, 'r');
  } catch (error) {
    throw new InputError(`${file}: cannot open HDF5 file (${hdf5Reason(error)})`, { cause: error });
  }
  try {
    const out: Record<string, H5Dataset> = {};
    for (const name of names) {
      let entity: ReturnType<typeof h5.get>;
      try {
        entity = h5.get(name);
      } catch (error) {
        throw new InputError(`${file}: cannot read dataset "${name}" (${hdf5Reason(error)})`, {
          cause: error,
        });
      }
      if (!(entity instanceof h5wasm.Dataset)) {
        const keys = h5.keys();
        throw new InputError(
          `${file}: ${entity === null ? 'missing' : 'not a dataset:'} "${name}" (the file holds: ${keys.length ? keys.join(', ') : 'nothing'})`,
        );
      }
      const dt = typeof entity.dtype === 'string' ? DTYPES[entity.dtype] : undefined;
      if (!dt) {
        throw new InputError(
          `${file}: dataset "${name}" has dtype ${JSON.stringify(entity.dtype)}; expected a numeric type (int8..uint32, float32, float64)`,
        );
      }
      const shape = entity.shape ?? [];
      let value: unknown;
      try {
        value = entity.value;
      } catch (error) {
        throw new InputError(`${file}: cannot read dataset "${name}" (${hdf5Reason(error)})`, {
          cause: error,
        });
      }
      if (!ArrayBuffer.isView(value)) {
        throw new InputError(`${file}: dataset "${name}" did not decode to a numeric array`);
      }
      const data = value as H5Array;
      const n = shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) {
        throw new InputError(
          `${file}: dataset "${name}" has ${data.length} values for shape [${shape.join(', ')}]`,
        );
      }
      out[name] = { data, shape: [...shape], dtype: dt };
    }
    return out;
  } finally {
    try {
      h5.close();
    } catch {
      // closing a file whose read failed can fail again; the first error is the one to report
    }
  }
}

export interface WriteH5Options {
  /** gzip level 0–9 (0 = no compression). Default 4, as h5py's `compression="gzip"`. */
  gzipLevel?: number;
}

/**
 * Writes datasets (C order, chunked, gzip) to a new HDF5 file atomically: h5wasm writes a temp file in the
 * same folder (it needs a real path), which is fsynced and renamed over the target.
 */
export async function writeH5Datasets(
  file: string,
  datasets: Record<string, { data: H5Array; shape: number[] }>,
  options: WriteH5Options = {},
): Promise<void> {
  requireString('writeH5Datasets', 'file', file);
  requireObject('writeH5Datasets', 'datasets', datasets, 'a record of name → { data, shape }');
  requireOptions('writeH5Datasets', 'options', options);
  for (const [name, ds] of Object.entries(datasets)) {
    const n = ds.shape.reduce((a, b) => a * b, 1);
    if (ds.shape.some((s) => !Number.isInteger(s) || s < 1) || n !== ds.data.length) {
      throw new InputError(
        `${file}: dataset "${name}" shape [${ds.shape.join(', ')}] does not match its ${ds.data.length} values`,
      );
    }
  }
  await init();
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = atomicTempPath(file);
  const level = options.gzipLevel ?? 4;
  try {
    const h5 = new h5wasm.File(tmp, 'w');
    try {
      for (const [name, ds] of Object.entries(datasets)) {
        // Chunks of at most ~64 per axis: small enough to compress well, few enough to stay fast.
        const chunks = ds.shape.map((s) => Math.min(s, 64));
        h5.create_dataset({
          name,
          data: ds.data,
          shape: ds.shape,
          dtype: WRITE_DTYPES[voxelDtype(ds.data)],
          ...(level > 0 ? { chunks, compression: 'gzip' as const, compression_opts: level } : {}),
        });
      }
    } finally {
      h5.close();
    }
    const handle = await fs.open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (error) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    if (error instanceof InputError) throw error;
    throw new SsmisError(`${file}: cannot write HDF5 file (${hdf5Reason(error)})`, 1, { cause: error });
  }
}

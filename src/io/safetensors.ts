/**
 * safetensors (https://huggingface.co/docs/safetensors) without a library (nothing to install, no code run at load):
 * an 8-byte little-endian u64 header length N, N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] },
 * __metadata__?: { string: string } }` padded with spaces so the data starts 8-byte aligned, then the raw
 * little-endian tensor bytes, offsets relative to the start of the data section.
 *
 * Files are checkpoints the user may have copied from anywhere, so the reader treats every field as hostile:
 * each inconsistency is an `InputError` naming the file and the tensor, never an out-of-bounds read.
 */

import { requireObject, requireString, requireTypedArray } from '../util/args.js';
import { writeFileAtomic } from '../util/atomic.js';
import { errorMessage, InputError } from '../util/errors.js';
import { readInputFile } from './read-file.js';

export type SafetensorsDtype = 'F32' | 'I32' | 'U8' | 'F64';

export type SafetensorsData = Float32Array | Int32Array | Uint8Array | Float64Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: SafetensorsData;
}

export interface SafetensorsFile {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, I32: 4, U8: 1, F64: 8 };

/** Headers above this size are refused before parsing (the reference implementation uses 100 MB too). */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(BYTES, value);
}

function dataTypeMatches(dtype: SafetensorsDtype, data: SafetensorsData): boolean {
  switch (dtype) {
    case 'F32':
      return data instanceof Float32Array;
    case 'I32':
      return data instanceof Int32Array;
    case 'U8':
      return data instanceof Uint8Array;
    case 'F64':
      return data instanceof Float64Array;
  }
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Copies `data` into `out` at `offset` as little-endian bytes. */
function writeLittleEndian(
  out: Uint8Array,
  offset: number,
  dtype: SafetensorsDtype,
  data: SafetensorsData,
): void {
  if (LITTLE_ENDIAN_HOST || dtype === 'U8') {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + offset, data.byteLength);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'F32') view.setFloat32(i * 4, data[i], true);
    else if (dtype === 'I32') view.setInt32(i * 4, data[i], true);
    else view.setFloat64(i * 8, data[i], true);
  }
}

/** Reads little-endian bytes into a fresh (aligned, unshared) typed array. */
function readLittleEndian(
  bytes: Uint8Array,
  begin: number,
  end: number,
  dtype: SafetensorsDtype,
): SafetensorsData {
  // Copy explicitly: a Node Buffer's `slice` is a view into a shared pool, not a copy.
  const copy = new Uint8Array(end - begin);
  copy.set(bytes.subarray(begin, end));
  if (LITTLE_ENDIAN_HOST || dtype === 'U8') {
    switch (dtype) {
      case 'F32':
        return new Float32Array(copy.buffer);
      case 'I32':
        return new Int32Array(copy.buffer);
      case 'U8':
        return copy;
      case 'F64':
        return new Float64Array(copy.buffer);
    }
  }
  const view = new DataView(copy.buffer);
  const n = (end - begin) / BYTES[dtype];
  if (dtype === 'F32') return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
  if (dtype === 'I32') return Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true));
  return Float64Array.from({ length: n }, (_, i) => view.getFloat64(i * 8, true));
}

/**
 * Serialises tensors (in the order of the record's keys) and an optional string→string metadata map.
 * Throws `InputError` when a tensor's data does not match its dtype or shape.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  requireObject('encodeSafetensors', 'tensors', tensors, 'a record of name → { dtype, shape, data }');
  if (metadata !== undefined) requireObject('encodeSafetensors', 'metadata', metadata, 'a record of strings');
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new InputError(`safetensors metadata '${k}': expected a string value, found ${typeof v}`);
      }
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === '__metadata__')
      throw new InputError(`safetensors: '__metadata__' is reserved, not a tensor name`);
    if (!isDtype(t.dtype)) {
      throw new InputError(
        `safetensors tensor '${name}': unsupported dtype ${String(t.dtype)} (F32, I32, U8, F64)`,
      );
    }
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new InputError(
        `safetensors tensor '${name}': shape must be non-negative integers, found [${t.shape}]`,
      );
    }
    if (!dataTypeMatches(t.dtype, t.data)) {
      throw new InputError(
        `safetensors tensor '${name}': dtype ${t.dtype} does not match its data (${t.data.constructor.name})`,
      );
    }
    const n = elementCount(t.shape);
    if (n !== t.data.length) {
      throw new InputError(
        `safetensors tensor '${name}': shape [${t.shape}] needs ${n} elements, data has ${t.data.length}`,
      );
    }
    const size = n * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned (8 + N ≡ 0 mod 8).
  let headerBytes = new TextEncoder().encode(json);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad > 0) {
    json += ' '.repeat(pad);
    headerBytes = new TextEncoder().encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, t] of entries) {
    writeLittleEndian(out, pos, t.dtype, t.data);
    pos += t.data.byteLength;
  }
  return out;
}

function fail(name: string, what: string): never {
  throw new InputError(`${name}: invalid safetensors file: ${what}`);
}

/** Parses a safetensors byte buffer; `name` (usually the file path) is used in every error message. */
export function decodeSafetensors(bytes: Uint8Array, name: string): SafetensorsFile {
  requireTypedArray('decodeSafetensors', 'bytes', bytes, ['Uint8Array']);
  requireString('decodeSafetensors', 'name', name);
  if (bytes.length < 8) fail(name, `file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(name, `header length ${headerLength} exceeds the ${bytes.length - 8} bytes after the length field`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(name, `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (error) {
    fail(name, `header is not valid UTF-8 JSON (${errorMessage(error)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    fail(name, 'header must be a JSON object');
  }
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  // Null-prototype records: a hostile header may name a tensor `__proto__` or `constructor`.
  const metadata: Record<string, string> = Object.create(null);
  const tensors: Record<string, SafetensorsTensor> = Object.create(null);
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [key, raw] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        fail(name, '__metadata__ must be an object of strings');
      }
      for (const [mk, mv] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(name, `__metadata__ '${mk}' must be a string, found ${typeof mv}`);
        metadata[mk] = mv;
      }
      continue;
    }
    const where = `tensor '${key}'`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      fail(name, `${where}: entry is not an object`);
    const entry = raw as Record<string, unknown>;
    if (!isDtype(entry.dtype)) {
      fail(name, `${where}: unknown or unsupported dtype ${JSON.stringify(entry.dtype)} (F32, I32, U8, F64)`);
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(name, `${where}: shape must be an array of non-negative integers, found ${JSON.stringify(shape)}`);
    }
    const offsets = entry.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(
        name,
        `${where}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, found ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) {
      fail(name, `${where}: data_offsets [${begin}, ${end}] go beyond the ${dataLength}-byte data section`);
    }
    const expected = elementCount(shape as number[]) * BYTES[entry.dtype];
    if (end - begin !== expected) {
      fail(
        name,
        `${where}: shape [${shape}] × ${entry.dtype} needs ${expected} bytes, data_offsets give ${end - begin}`,
      );
    }
    ranges.push({ name: key, begin, end });
    tensors[key] = {
      dtype: entry.dtype,
      shape: [...(shape as number[])],
      data: readLittleEndian(bytes, dataStart + begin, dataStart + end, entry.dtype),
    };
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1];
    const cur = ranges[i];
    if (cur.begin < prev.end) {
      fail(name, `tensor '${cur.name}' overlaps tensor '${prev.name}' (bytes ${cur.begin}..${prev.end})`);
    }
  }
  return { tensors, metadata };
}

/**
 * Writes a safetensors file atomically (temp file, fsync, rename): the format checkpoints use, readable by the
 * Python `safetensors` package.
 *
 * @param path The file to write (replaced if it exists).
 * @param tensors Name → `{ dtype, shape, data }`, dtype `F32`, `I32`, `U8` or `F64` with the matching typed array.
 * @param metadata Optional string → string pairs stored in the header's `__metadata__`.
 * @returns A promise that resolves once the file is in place.
 * @throws InputError when `path` is not a string, `tensors` or `metadata` is not an object; when a tensor is
 *   named `__metadata__`, has an unsupported dtype, a shape that is not non-negative integers, data of another
 *   type than its dtype or another length than its shape; or when a metadata value is not a string.
 * @example
 * import { writeSafetensors } from 'ssmis';
 *
 * await writeSafetensors(
 *   'weights.safetensors',
 *   { 'conv.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) } },
 *   { format: 'pt' },
 * );
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  requireString('writeSafetensors', 'path', path);
  requireObject('writeSafetensors', 'tensors', tensors, 'a record of name → { dtype, shape, data }');
  if (metadata !== undefined) requireObject('writeSafetensors', 'metadata', metadata, 'a record of strings');
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads and validates a safetensors file (e.g. a checkpoint, or weights saved by the Python `safetensors`
 * package); errors name the path.
 *
 * @param path The `.safetensors` file.
 * @returns Every tensor (`dtype`, `shape`, `data` as a typed array) by name, and the header's string metadata.
 * @throws InputError when `path` is not a string; when the file is missing, not a regular file or cannot be
 *   read; when it is not a valid safetensors file (header length or JSON, an unsupported dtype, a bad shape,
 *   data offsets that are out of range, of the wrong size or overlapping).
 * @example
 * import { readSafetensors } from 'ssmis';
 *
 * const { tensors, metadata } = await readSafetensors('runs/la-5pct/checkpoints/best.safetensors');
 * for (const [name, t] of Object.entries(tensors)) console.log(name, t.dtype, t.shape);
 * console.log(Object.keys(metadata));
 */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  requireString('readSafetensors', 'path', path);
  const bytes = await readInputFile(path, 'safetensors file');
  return decodeSafetensors(bytes, path);
}

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as niftiReader from 'nifti-reader-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseNifti, readNifti, readNiftiHeader, volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import type { Affine, NiftiGeometry, Volume } from '../../src/io/volume.js';
import { InputError, SsmisError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

// ---------------------------------------------------------------------------------------------------------
// Independent NIfTI builder: raw bytes written field by field with a DataView (not the module's writer).

type Value = number | bigint;

interface Setter {
  bytes: number;
  set: (dv: DataView, offset: number, v: Value, le: boolean) => void;
}

const SETTERS: Record<number, Setter> = {
  2: { bytes: 1, set: (dv, o, v) => dv.setUint8(o, Number(v)) },
  256: { bytes: 1, set: (dv, o, v) => dv.setInt8(o, Number(v)) },
  4: { bytes: 2, set: (dv, o, v, le) => dv.setInt16(o, Number(v), le) },
  512: { bytes: 2, set: (dv, o, v, le) => dv.setUint16(o, Number(v), le) },
  8: { bytes: 4, set: (dv, o, v, le) => dv.setInt32(o, Number(v), le) },
  768: { bytes: 4, set: (dv, o, v, le) => dv.setUint32(o, Number(v), le) },
  16: { bytes: 4, set: (dv, o, v, le) => dv.setFloat32(o, Number(v), le) },
  64: { bytes: 8, set: (dv, o, v, le) => dv.setFloat64(o, Number(v), le) },
  1024: { bytes: 8, set: (dv, o, v, le) => dv.setBigInt64(o, BigInt(v), le) },
  1280: { bytes: 8, set: (dv, o, v, le) => dv.setBigUint64(o, BigInt(v), le) },
};

interface Spec {
  version?: 1 | 2;
  /** dim[0..n] as stored. */
  dim: number[];
  datatype: number;
  values?: (i: number, j: number, k: number, t: number) => Value;
  le?: boolean;
  pixdim?: number[];
  slope?: number;
  inter?: number;
  qformCode?: number;
  sformCode?: number;
  quatern?: number[];
  qoffset?: number[];
  srow?: number[][];
  magic?: string;
  voxOffset?: number;
  description?: string;
  xyztUnits?: number;
  /** Bytes of voxel data to write (default: all dims say). */
  dataBytes?: number;
}

function dims8(spec: Spec): number[] {
  const d = [...spec.dim];
  while (d.length < 8) d.push(1);
  return d;
}

function voxelCount(spec: Spec): number {
  let n = 1;
  for (let d = 1; d <= spec.dim[0]; d++) n *= spec.dim[d];
  return n;
}

function fillVoxels(dv: DataView, spec: Spec, offset: number, le: boolean, limitBytes: number): void {
  const setter = SETTERS[spec.datatype];
  if (setter === undefined) return; // unsupported datatypes: zero bytes
  const d = dims8(spec);
  const [nx, ny, nz, nt] = [
    d[1],
    spec.dim[0] >= 2 ? d[2] : 1,
    spec.dim[0] >= 3 ? d[3] : 1,
    spec.dim[0] >= 4 ? d[4] : 1,
  ];
  let idx = 0;
  for (let t = 0; t < nt; t++)
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++, idx++) {
          const o = offset + idx * setter.bytes;
          if (o + setter.bytes > offset + limitBytes) return;
          setter.set(dv, o, spec.values ? spec.values(i, j, k, t) : 0, le);
        }
}

function buildNifti1(spec: Spec): Uint8Array {
  const le = spec.le ?? true;
  const vox = spec.voxOffset ?? 352;
  const bytesPer = SETTERS[spec.datatype]?.bytes ?? 1;
  const dataBytes = spec.dataBytes ?? voxelCount(spec) * bytesPer;
  const buf = new Uint8Array(vox + dataBytes);
  const dv = new DataView(buf.buffer);
  dv.setInt32(0, 348, le);
  for (const [i, v] of dims8(spec).entries()) dv.setInt16(40 + 2 * i, v, le);
  dv.setInt16(70, spec.datatype, le);
  dv.setInt16(72, bytesPer * 8, le);
  for (const [i, v] of (spec.pixdim ?? [1, 1, 1, 1, 1, 1, 1, 1]).entries()) dv.setFloat32(76 + 4 * i, v, le);
  dv.setFloat32(108, vox, le);
  dv.setFloat32(112, spec.slope ?? 1, le);
  dv.setFloat32(116, spec.inter ?? 0, le);
  buf[123] = spec.xyztUnits ?? 10;
  const desc = spec.description ?? 'hand-made';
  for (let i = 0; i < desc.length; i++) buf[148 + i] = desc.charCodeAt(i);
  dv.setInt16(252, spec.qformCode ?? 0, le);
  dv.setInt16(254, spec.sformCode ?? 0, le);
  for (const [i, v] of (spec.quatern ?? [0, 0, 0]).entries()) dv.setFloat32(256 + 4 * i, v, le);
  for (const [i, v] of (spec.qoffset ?? [0, 0, 0]).entries()) dv.setFloat32(268 + 4 * i, v, le);
  const srow = spec.srow ?? [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) dv.setFloat32(280 + 16 * r + 4 * c, srow[r][c], le);
  const magic = spec.magic ?? 'n+1';
  for (let i = 0; i < magic.length; i++) buf[344 + i] = magic.charCodeAt(i);
  fillVoxels(dv, spec, vox, le, dataBytes);
  return buf;
}

function buildNifti2(spec: Spec): Uint8Array {
  const le = spec.le ?? true;
  const vox = spec.voxOffset ?? 544;
  const bytesPer = SETTERS[spec.datatype]?.bytes ?? 1;
  const dataBytes = spec.dataBytes ?? voxelCount(spec) * bytesPer;
  const buf = new Uint8Array(vox + dataBytes);
  const dv = new DataView(buf.buffer);
  dv.setInt32(0, 540, le);
  const magic = spec.magic ?? 'n+2';
  for (let i = 0; i < magic.length; i++) buf[4 + i] = magic.charCodeAt(i);
  buf.set([0, 0x0d, 0x0a, 0x1a, 0x0a], 7);
  dv.setInt16(12, spec.datatype, le);
  dv.setInt16(14, bytesPer * 8, le);
  for (const [i, v] of dims8(spec).entries()) dv.setBigInt64(16 + 8 * i, BigInt(v), le);
  for (const [i, v] of (spec.pixdim ?? [1, 1, 1, 1, 1, 1, 1, 1]).entries()) dv.setFloat64(104 + 8 * i, v, le);
  dv.setBigInt64(168, BigInt(vox), le);
  dv.setFloat64(176, spec.slope ?? 1, le);
  dv.setFloat64(184, spec.inter ?? 0, le);
  const desc = spec.description ?? 'hand-made v2';
  for (let i = 0; i < desc.length; i++) buf[240 + i] = desc.charCodeAt(i);
  dv.setInt32(344, spec.qformCode ?? 0, le);
  dv.setInt32(348, spec.sformCode ?? 0, le);
  for (const [i, v] of (spec.quatern ?? [0, 0, 0]).entries()) dv.setFloat64(352 + 8 * i, v, le);
  for (const [i, v] of (spec.qoffset ?? [0, 0, 0]).entries()) dv.setFloat64(376 + 8 * i, v, le);
  const srow = spec.srow ?? [];
  for (let r = 0; r < srow.length; r++)
    for (let c = 0; c < 4; c++) dv.setFloat64(400 + 32 * r + 8 * c, srow[r][c], le);
  dv.setInt32(500, spec.xyztUnits ?? 10, le);
  fillVoxels(dv, spec, vox, le, dataBytes);
  return buf;
}

let dir: string;
let fileCounter = 0;
function tmpFile(bytes: Uint8Array, ext = '.nii'): string {
  const file = path.join(dir, `f${fileCounter++}${ext}`);
  writeFileSync(file, bytes);
  return file;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ssmis-nifti-'));
});

/** Expects every voxel (i, j, k, t) at the row-major index ((i*ny+j)*nz+k)*nt+t to equal `expected`. */
function expectVoxels(vol: Volume, expected: (i: number, j: number, k: number, t: number) => number): void {
  const [nx, ny, nz, nt = 1] = vol.shape;
  let mismatches = 0;
  let first = '';
  for (let i = 0; i < nx; i++)
    for (let j = 0; j < ny; j++)
      for (let k = 0; k < nz; k++)
        for (let t = 0; t < nt; t++) {
          const got = Number(vol.data[((i * ny + j) * nz + k) * nt + t]);
          const want = expected(i, j, k, t);
          if (!Object.is(got, want)) {
            mismatches++;
            if (!first) first = `(${i},${j},${k},${t}): got ${got}, want ${want}`;
          }
        }
  expect(first).toBe('');
  expect(mismatches).toBe(0);
}

async function expectInputError(promise: Promise<unknown>, ...substrings: string[]): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InputError);
  for (const s of substrings) expect((caught as Error).message).toContain(s);
}

function expectAffineClose(actual: Affine, expected: number[][], digits = 5): void {
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 4; c++) expect(actual[r][c]).toBeCloseTo(expected[r][c], digits);
  expect(actual[3]).toEqual([0, 0, 0, 1]);
}

// Voxel value patterns per datatype, unique per voxel and covering each type's range (exact in the type).
const f = (i: number, j: number, k: number, t = 0) => i + 10 * j + 100 * k + 1000 * t;
const PATTERNS: Record<
  number,
  { name: string; array: string; value: (i: number, j: number, k: number) => Value }
> = {
  2: { name: 'uint8', array: 'Uint8Array', value: (i, j, k) => (f(i, j, k) * 7) % 256 },
  256: { name: 'int8', array: 'Int8Array', value: (i, j, k) => ((f(i, j, k) * 7) % 256) - 128 },
  4: { name: 'int16', array: 'Int16Array', value: (i, j, k) => f(i, j, k) * 70 - 32768 },
  512: { name: 'uint16', array: 'Uint16Array', value: (i, j, k) => 65535 - f(i, j, k) * 100 },
  8: { name: 'int32', array: 'Int32Array', value: (i, j, k) => f(i, j, k) * 4_000_000 - 2_147_483_648 },
  768: { name: 'uint32', array: 'Uint32Array', value: (i, j, k) => 4_294_967_295 - f(i, j, k) * 1_000_003 },
  16: { name: 'float32', array: 'Float32Array', value: (i, j, k) => f(i, j, k) * 0.5 - 100.25 },
  64: { name: 'float64', array: 'Float64Array', value: (i, j, k) => f(i, j, k) * 0.1 - 1e-9 },
  1024: {
    name: 'int64',
    array: 'Float64Array',
    value: (i, j, k) => BigInt(f(i, j, k)) * 1_000_000_007n - 10n ** 15n,
  },
  1280: { name: 'uint64', array: 'Float64Array', value: (i, j, k) => 2n ** 63n + BigInt(f(i, j, k)) * 2048n },
};

// ---------------------------------------------------------------------------------------------------------

describe('readNifti: datatypes, byte order, layout', () => {
  for (const [codeText, p] of Object.entries(PATTERNS)) {
    const code = Number(codeText);
    for (const le of [true, false]) {
      it(`reads ${p.name} ${le ? 'little' : 'big'}-endian into ${p.array}, row-major`, async () => {
        const bytes = buildNifti1({ dim: [3, 3, 4, 5], datatype: code, values: p.value, le });
        const vol = await readNifti(tmpFile(bytes));
        expect(vol.shape).toEqual([3, 4, 5]);
        expect(vol.data.constructor.name).toBe(p.array);
        expect(vol.header?.datatype).toBe(code);
        expectVoxels(vol, (i, j, k) => Number(p.value(i, j, k)));
      });
    }
  }

  it('int64 beyond 2^53 loses precision (documented), into Float64Array', () => {
    const bytes = buildNifti1({
      dim: [3, 1, 1, 2],
      datatype: 1024,
      values: (_i, _j, k) => 2n ** 60n + BigInt(k),
    });
    const vol = parseNifti(bytes, 'mem');
    expect(Array.from(vol.data as Float64Array)).toEqual([2 ** 60, 2 ** 60]);
  });

  it('honours vox_offset past an extension, and reads vox_offset 0 as 352', () => {
    const ext = buildNifti1({ dim: [3, 2, 3, 2], datatype: 4, values: f, voxOffset: 416 });
    ext[348] = 1; // extension flag set; the extension bytes 352..415 are skipped
    expectVoxels(parseNifti(ext, 'mem'), f);
    const zero = buildNifti1({ dim: [3, 2, 3, 2], datatype: 4, values: f });
    new DataView(zero.buffer).setFloat32(108, 0, true);
    expectVoxels(parseNifti(zero, 'mem'), f);
    new DataView(zero.buffer).setFloat32(108, 352.5, true);
    expect(() => parseNifti(zero, 'mem')).toThrow(/invalid vox_offset 352.5/);
  });

  it('reads 4-D volumes with the time axis last', async () => {
    const bytes = buildNifti1({ dim: [4, 2, 3, 4, 3], datatype: 4, values: f, le: false });
    const vol = await readNifti(tmpFile(bytes));
    expect(vol.shape).toEqual([2, 3, 4, 3]);
    // Hand check of one voxel: (1, 2, 3, 2) at ((1*3+2)*4+3)*3+2 = 71.
    expect(vol.data[71]).toBe(1 + 20 + 300 + 2000);
    expectVoxels(vol, f);
  });

  it('drops trailing size-1 axes beyond the 4th and rejects 5-D data', async () => {
    const ok = buildNifti1({ dim: [5, 2, 3, 2, 2, 1], datatype: 4, values: f });
    const vol = parseNifti(ok, 'mem');
    expect(vol.shape).toEqual([2, 3, 2, 2]);
    expectVoxels(vol, f);
    const bad = buildNifti1({ dim: [5, 2, 3, 2, 1, 2], datatype: 2 });
    await expectInputError(readNifti(tmpFile(bad)), 'dim[5] = 2', 'only 2-D, 3-D and 4-D');
  });

  it('reads 2-D volumes as [nx, ny, 1] and 3-D files with dim[0]=3 ignoring dims beyond', () => {
    const twoD = parseNifti(buildNifti1({ dim: [2, 4, 5, 7], datatype: 4, values: f }), 'mem');
    expect(twoD.shape).toEqual([4, 5, 1]);
    expectVoxels(twoD, f);
    const threeD = parseNifti(buildNifti1({ dim: [3, 2, 2, 2, 9], datatype: 2, values: f }), 'mem');
    expect(threeD.shape).toEqual([2, 2, 2]);
  });

  it('reads gzipped files, detected by magic bytes whatever the extension', async () => {
    const bytes = buildNifti1({ dim: [3, 3, 4, 5], datatype: 16, values: PATTERNS[16].value, le: false });
    const gz = gzipSync(bytes);
    for (const ext of ['.nii.gz', '.nii']) {
      const vol = await readNifti(tmpFile(gz, ext));
      expect(vol.data).toBeInstanceOf(Float32Array);
      expectVoxels(vol, (i, j, k) => Number(PATTERNS[16].value(i, j, k)));
    }
    const plain = await readNifti(tmpFile(bytes, '.nii.gz'));
    expectVoxels(plain, (i, j, k) => Number(PATTERNS[16].value(i, j, k)));
  });

  it('reads NIfTI-2, both byte orders, plain and gzipped, with float64 geometry fields', async () => {
    const srow = [
      [0.1, 0.2, 0.3, -1.1],
      [0.4, 1.5, 0.6, -2.2],
      [0.7, 0.8, 2.9, 3.3],
    ];
    for (const le of [true, false]) {
      const bytes = buildNifti2({
        version: 2,
        dim: [4, 3, 2, 2, 2],
        datatype: 4,
        values: (i, j, k, t) => f(i, j, k, t) - 3000,
        le,
        pixdim: [1, 1.1, 2.2, 3.3, 4, 1, 1, 1],
        sformCode: 4,
        qformCode: 1,
        srow,
        description: 'v2 file',
      });
      for (const data of [bytes, gzipSync(bytes)]) {
        const vol = await readNifti(tmpFile(data));
        expect(vol.shape).toEqual([3, 2, 2, 2]);
        expect(vol.data).toBeInstanceOf(Int16Array);
        expectVoxels(vol, (i, j, k, t) => f(i, j, k, t) - 3000);
        expect(vol.header?.version).toBe(2);
        expect(vol.header?.srow).toEqual(srow);
        expect(vol.affine).toEqual([...srow, [0, 0, 0, 1]]);
        expect(vol.spacing).toEqual([1.1, 2.2, 3.3]);
        expect(vol.header?.description).toBe('v2 file');
        expect(vol.header?.sformCode).toBe(4);
      }
    }
  });

  it('agrees with nifti-reader-js on the header fields of a big-endian file', () => {
    const bytes = buildNifti1({
      dim: [3, 3, 4, 5],
      datatype: 4,
      le: false,
      pixdim: [-1, 1.5, 2, 2.5, 1, 1, 1, 1],
      qformCode: 1,
      quatern: [0.1, -0.2, 0.3],
      qoffset: [5, 6, 7],
    });
    const theirs = niftiReader.readHeader(bytes.slice().buffer);
    const ours = parseNifti(bytes, 'mem');
    expect(theirs.littleEndian).toBe(false);
    expect(ours.header?.pixdim).toEqual(theirs.pixDims);
    expect(ours.header?.quatern).toEqual([theirs.quatern_b, theirs.quatern_c, theirs.quatern_d]);
    // Only the qform is set, so both libraries take the qform: two independent implementations.
    expectAffineClose(ours.affine, theirs.affine, 5);
  });
});

describe('readNifti: scaling', () => {
  const base: Spec = { dim: [3, 2, 3, 4], datatype: 4, values: (i, j, k) => f(i, j, k) - 200 };

  it('applies slope and intercept into Float32Array', () => {
    const vol = parseNifti(buildNifti1({ ...base, slope: 2, inter: 1 }), 'mem');
    expect(vol.data).toBeInstanceOf(Float32Array);
    expectVoxels(vol, (i, j, k) => 2 * (f(i, j, k) - 200) + 1);
    expect(vol.header?.sclSlope).toBe(2);
    expect(vol.header?.sclInter).toBe(1);
  });

  it('rounds like float32 for a non-representable slope, computed from the stored float32 slope', () => {
    const g = (i: number, j: number, k: number) => i + 2 * j + 6 * k;
    const vol = parseNifti(buildNifti1({ ...base, datatype: 2, values: g, slope: 0.1, inter: 0.3 }), 'mem');
    expectVoxels(vol, (i, j, k) => Math.fround(g(i, j, k) * Math.fround(0.1) + Math.fround(0.3)));
  });

  it('slope 0, NaN or identity means no scaling: integer type kept', () => {
    for (const [slope, inter] of [
      [0, 5],
      [Number.NaN, 5],
      [1, 0],
    ]) {
      const vol = parseNifti(buildNifti1({ ...base, slope, inter }), 'mem');
      expect(vol.data).toBeInstanceOf(Int16Array);
      expectVoxels(vol, (i, j, k) => f(i, j, k) - 200);
    }
  });

  it('scaled float64 stays Float64Array (NIfTI-2 double slope)', () => {
    const vol = parseNifti(
      buildNifti2({ version: 2, dim: [3, 2, 2, 2], datatype: 64, values: f, slope: 0.1, inter: -3 }),
      'mem',
    );
    expect(vol.data).toBeInstanceOf(Float64Array);
    expectVoxels(vol, (i, j, k) => f(i, j, k) * 0.1 - 3);
  });

  it('a valid slope with a non-finite intercept is an error', async () => {
    await expectInputError(
      readNifti(tmpFile(buildNifti1({ ...base, slope: 2, inter: Number.POSITIVE_INFINITY }))),
      'invalid scl_inter',
    );
  });
});

describe('readNifti: affine (nibabel rule)', () => {
  const srow = [
    [-1.5, 0.1, 0, 99],
    [0, 2, 0.2, -20],
    [0.3, 0, 2.5, -30],
  ];
  // quaternion (b, c, d) = (0.5, 0.5, 0.5) → a = 0.5: 120° about (1,1,1), R = [[0,0,1],[1,0,0],[0,1,0]].
  // pixdim [-1 (qfac), 2, 3, 4] → R·diag(2, 3, -4) = [[0,0,-4],[2,0,0],[0,3,0]], qoffset (10, -20, 30).
  const qform: Partial<Spec> = {
    pixdim: [-1, 2, 3, 4, 1, 1, 1, 1],
    quatern: [0.5, 0.5, 0.5],
    qoffset: [10, -20, 30],
  };
  const qformExpected = [
    [0, 0, -4, 10],
    [2, 0, 0, -20],
    [0, 3, 0, 30],
  ];
  const spec = (extra: Partial<Spec>) => buildNifti1({ dim: [3, 2, 2, 2], datatype: 2, ...extra });

  it('qform only: the hand-computed matrix', () => {
    const vol = parseNifti(spec({ ...qform, qformCode: 1 }), 'mem');
    expectAffineClose(vol.affine, qformExpected, 12);
    expect(vol.spacing).toEqual([2, 3, 4]);
  });

  it('qform only: 30° rotation about z, hand-computed', () => {
    const s = Math.sin(Math.PI / 12);
    const vol = parseNifti(
      spec({ pixdim: [1, 2, 3, 4, 0, 0, 0, 0], quatern: [0, 0, s], qoffset: [1, 2, 3], qformCode: 2 }),
      'mem',
    );
    const [c30, s30] = [Math.cos(Math.PI / 6), Math.sin(Math.PI / 6)];
    expectAffineClose(
      vol.affine,
      [
        [2 * c30, -3 * s30, 0, 1],
        [2 * s30, 3 * c30, 0, 2],
        [0, 0, 4, 3],
      ],
      6,
    );
  });

  it('sform only', () => {
    const vol = parseNifti(spec({ srow, sformCode: 1 }), 'mem');
    expect(vol.affine).toEqual([...srow.map((r) => r.map(Math.fround)), [0, 0, 0, 1]]);
  });

  it('both: the sform wins even when qform_code is higher (nibabel, not nifti-reader-js)', () => {
    const bytes = spec({ ...qform, qformCode: 2, srow, sformCode: 1 });
    const vol = parseNifti(bytes, 'mem');
    expect(vol.affine[0][3]).toBe(99);
    expect(vol.affine).toEqual([...srow.map((r) => r.map(Math.fround)), [0, 0, 0, 1]]);
    // nifti-reader-js would have taken the qform here.
    expect(niftiReader.readHeader(bytes.slice().buffer).affine[0][3]).toBe(10);
  });

  it('neither: diag(|pixdim|) with zero offset', () => {
    const vol = parseNifti(spec({ pixdim: [0, -1.5, 2, 2.5, 0, 0, 0, 0] }), 'mem');
    expect(vol.affine).toEqual([
      [1.5, 0, 0, 0],
      [0, 2, 0, 0],
      [0, 0, 2.5, 0],
      [0, 0, 0, 1],
    ]);
    expect(vol.spacing).toEqual([1.5, 2, 2.5]);
  });

  it('an impossible quaternion (b²+c²+d² > 1) is an error when the qform is used', async () => {
    await expectInputError(
      readNifti(tmpFile(spec({ quatern: [0.9, 0.9, 0], qformCode: 1 }))),
      'invalid qform',
    );
  });
});

describe('readNiftiHeader', () => {
  it('returns dims, geometry and datatype without the voxels, plain and gzipped', async () => {
    const bytes = buildNifti1({
      dim: [4, 6, 5, 4, 2],
      datatype: 16,
      values: f,
      pixdim: [1, 0.5, 0.6, 0.7, 2, 1, 1, 1],
      srow: [
        [0.5, 0, 0, 1],
        [0, 0.6, 0, 2],
        [0, 0, 0.7, 3],
      ],
      sformCode: 2,
      le: false,
    });
    for (const [data, gz] of [
      [bytes, false],
      [gzipSync(bytes), true],
    ] as const) {
      const info = await readNiftiHeader(tmpFile(data));
      expect(info.gzipped).toBe(gz);
      expect(info.littleEndian).toBe(false);
      expect(info.dim).toEqual([4, 6, 5, 4, 2, 1, 1, 1]);
      expect(info.shape).toEqual([6, 5, 4, 2]);
      expect(info.datatypeName).toBe('float32');
      expect(info.voxOffset).toBe(352);
      expect(info.spacing.map(Math.fround)).toEqual([0.5, 0.6, 0.7].map(Math.fround));
      expect(info.affine[2][3]).toBe(3);
      expect(info.header.sformCode).toBe(2);
    }
  });

  it('reads only the start of a large gzipped file', async () => {
    const rng = new Rng(3);
    // 40×40×20 float32 random values: ~128 KB, incompressible, so the gzip file is larger than 64 KiB.
    const bytes = buildNifti1({ dim: [3, 40, 40, 20], datatype: 16, values: () => rng.random() });
    const gz = gzipSync(bytes);
    expect(gz.length).toBeGreaterThan(65536);
    const info = await readNiftiHeader(tmpFile(gz));
    expect(info.shape).toEqual([40, 40, 20]);
    expect(info.gzipped).toBe(true);
  });

  it('reports truncated data of a plain file and a missing file', async () => {
    const bytes = buildNifti1({ dim: [3, 4, 4, 4], datatype: 4 });
    await expectInputError(
      readNiftiHeader(tmpFile(bytes.subarray(0, 400))),
      'truncated data',
      'the file holds 400',
    );
    await expectInputError(readNiftiHeader(path.join(dir, 'nope.nii')), 'nope.nii: file not found');
  });
});

describe('readNifti: robustness', () => {
  const good = () => buildNifti1({ dim: [3, 4, 5, 6], datatype: 4, values: f });

  it('missing file, directory, empty file', async () => {
    const missing = path.join(dir, 'missing.nii.gz');
    await expectInputError(readNifti(missing), `${missing}: file not found`);
    await expectInputError(readNifti(dir), 'it is a folder, not a regular file');
    await expectInputError(readNifti(tmpFile(new Uint8Array(0))), 'file is empty');
  });

  it('truncated header', async () => {
    const file = tmpFile(good().subarray(0, 100));
    await expectInputError(readNifti(file), file, 'truncated header: 100 bytes, a NIfTI-1 header needs 348');
    await expectInputError(readNifti(tmpFile(good().subarray(0, 3))), 'truncated header: 3 bytes');
    const v2 = buildNifti2({ version: 2, dim: [3, 2, 2, 2], datatype: 2 }).subarray(0, 500);
    await expectInputError(readNifti(tmpFile(v2)), 'truncated header: 500 bytes, a NIfTI-2 header needs 540');
    await expectInputError(
      readNifti(tmpFile(gzipSync(good().subarray(0, 200)))),
      'truncated header: 200 bytes',
    );
  });

  it('truncated data, plain and gzipped', async () => {
    const cut = good().subarray(0, 352 + 239);
    const file = tmpFile(cut);
    await expectInputError(
      readNifti(file),
      file,
      'truncated data: dims 4×5×6 of int16 need 240 bytes from vox_offset 352',
      'the file holds 591',
    );
    await expectInputError(readNifti(tmpFile(gzipSync(cut))), 'truncated data', 'the file holds 591');
  });

  it('wrong magic, .hdr/.img pair, Analyze, random bytes', async () => {
    const wrong = buildNifti1({ dim: [3, 2, 2, 2], datatype: 2, magic: 'xyz' });
    await expectInputError(
      readNifti(tmpFile(wrong)),
      'not a NIfTI-1 file: magic is "xyz\\u0000"',
      'expected "n+1"',
    );
    const pair = buildNifti1({ dim: [3, 2, 2, 2], datatype: 2, magic: 'ni1' });
    await expectInputError(readNifti(tmpFile(pair)), '.hdr/.img pair', 'magic "ni1"');
    const analyze = buildNifti1({ dim: [3, 2, 2, 2], datatype: 2, magic: '\0\0\0' });
    await expectInputError(readNifti(tmpFile(analyze)), 'not a NIfTI-1 file');
    const pair2 = buildNifti2({ version: 2, dim: [3, 2, 2, 2], datatype: 2, magic: 'ni2' });
    await expectInputError(readNifti(tmpFile(pair2)), '.hdr/.img pair', 'magic "ni2"');
    const rng = new Rng(7);
    const random = new Uint8Array(4096).map(() => rng.randint(0, 256));
    random[0] = 0x42; // never the gzip magic
    await expectInputError(readNifti(tmpFile(random)), 'not a NIfTI file: sizeof_hdr is', 'expected 348');
    expect(() => parseNifti(random, 'mem://random')).toThrow(/^mem:\/\/random: not a NIfTI file/);
  });

  it('absurd dims: dim[0], zero and negative sizes', async () => {
    for (const [dim, msg] of [
      [[0, 2, 2, 2], 'invalid dim[0] = 0 (expected 1..7)'],
      [[8, 2, 2, 2], 'invalid dim[0] = 8'],
      [[3, 2, 0, 2], 'invalid dim[2] = 0'],
      [[3, 2, 2, -5], 'invalid dim[3] = -5'],
    ] as const) {
      const bytes = buildNifti1({ dim: [...dim], datatype: 2, dataBytes: 8 });
      await expectInputError(readNifti(tmpFile(bytes)), msg);
    }
  });

  it('dims claiming more voxels than the file holds fail before allocating, plain and gzipped', async () => {
    // 1000³ uint8 = 1e9 bytes claimed, 64 bytes present.
    const bytes = buildNifti1({ dim: [3, 1000, 1000, 1000], datatype: 2, dataBytes: 64 });
    await expectInputError(readNifti(tmpFile(bytes)), 'truncated data', 'the file holds 416');
    // The gzip variant is rejected by the deflate-ratio bound, before inflating anything but the header.
    await expectInputError(
      readNifti(tmpFile(gzipSync(bytes))),
      'truncated data',
      'cannot inflate to more than',
    );
  });

  it('dims claiming more than 2^31 − 1 voxels fail fast (NIfTI-1 and NIfTI-2)', async () => {
    const v1 = buildNifti1({ dim: [3, 32767, 32767, 3], datatype: 2, dataBytes: 16 });
    await expectInputError(readNifti(tmpFile(v1)), 'exceeds the limit 2147483647 voxels');
    await expectInputError(readNifti(tmpFile(gzipSync(v1))), 'exceeds the limit 2147483647 voxels');
    await expectInputError(readNiftiHeader(tmpFile(v1)), 'exceeds the limit');
    const v2 = buildNifti2({ version: 2, dim: [3, 2 ** 40, 2, 2], datatype: 2, dataBytes: 16 });
    await expectInputError(readNifti(tmpFile(v2)), 'exceeds the limit 2147483647 voxels');
    const huge = buildNifti2({ version: 2, dim: [3, 2, 2, 2], datatype: 2 });
    new DataView(huge.buffer).setBigInt64(16 + 8, 2n ** 62n, true);
    await expectInputError(readNifti(tmpFile(huge)), 'invalid dim[1]', 'absurdly large');
  });

  it('corrupt and truncated gzip streams', async () => {
    const gz = gzipSync(good());
    const flipped = gz.slice();
    for (let o = gz.length - 30; o < gz.length - 10; o++) flipped[o] ^= 0x5a;
    await expectInputError(readNifti(tmpFile(flipped)), 'corrupt or truncated gzip stream');
    await expectInputError(
      readNifti(tmpFile(gz.subarray(0, gz.length - 12))),
      'corrupt or truncated gzip stream',
    );
    const garbage = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    await expectInputError(readNifti(tmpFile(garbage)), 'corrupt or truncated gzip stream');
  });

  it('unsupported datatypes: RGB, complex, unknown', async () => {
    for (const [code, msg] of [
      [128, 'unsupported datatype 128 (RGB24)'],
      [32, 'unsupported datatype 32 (complex64)'],
      [1792, 'unsupported datatype 1792 (complex128)'],
      [99, 'unsupported datatype 99 (unknown code)'],
    ] as const) {
      const bytes = buildNifti1({ dim: [3, 2, 2, 2], datatype: code, dataBytes: 64 });
      await expectInputError(readNifti(tmpFile(bytes)), msg);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------

/** The qform matrix of a header, written again here from the NIfTI standard (qfac from pixdim[0]). */
function qformOf(h: NiftiGeometry): number[][] {
  const [b, c, d] = h.quatern;
  const a = Math.sqrt(Math.max(0, 1 - b * b - c * c - d * d));
  const R = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
  const qfac = h.pixdim[0] < 0 ? -1 : 1;
  const z = [h.pixdim[1], h.pixdim[2], h.pixdim[3] * qfac];
  return [0, 1, 2].map((r) => [R[r][0] * z[0], R[r][1] * z[1], R[r][2] * z[2], h.qoffset[r]]);
}

describe('writeNifti', () => {
  // A rotated, flipped qform and a slightly different sform, both set: the geometry must survive exactly.
  const s = Math.sin(Math.PI / 12);
  const geometry: Partial<Spec> = {
    pixdim: [-1, 0.75, 0.8, 1.25, 1, 1, 1, 1],
    quatern: [0, 0, s],
    qoffset: [-50.5, 20.25, 10],
    qformCode: 1,
    sformCode: 4,
    srow: [
      [0.7, -0.4, 0.01, -50.5],
      [0.38, 0.69, 0, 20.25],
      [0, 0, -1.25, 10],
    ],
    xyztUnits: 2,
  };

  const cases = [
    { code: 2, name: 'uint8', array: Uint8Array },
    { code: 4, name: 'int16', array: Int16Array },
    { code: 16, name: 'float32', array: Float32Array },
  ] as const;
  for (const { code, name, array } of cases) {
    for (const ext of ['.nii', '.nii.gz']) {
      it(`${name} ${ext}: write → read gives identical voxels and geometry`, async () => {
        const value = (i: number, j: number, k: number) => Number(PATTERNS[code].value(i, j, k));
        const src = await readNifti(
          tmpFile(buildNifti1({ dim: [3, 5, 4, 3], datatype: code, values: value, le: false, ...geometry })),
        );
        const out = path.join(dir, `rt-${name}${ext}`);
        await writeNifti(out, src);
        const raw = readFileSync(out);
        expect(raw[0] === 0x1f && raw[1] === 0x8b).toBe(ext === '.nii.gz');
        const back = await readNifti(out);
        expect(back.data).toBeInstanceOf(array);
        expect(Array.from(back.data as ArrayLike<number>)).toEqual(Array.from(src.data as ArrayLike<number>));
        expect(back.shape).toEqual(src.shape);
        expect(back.affine).toEqual(src.affine);
        expect(back.spacing).toEqual(src.spacing);
        const [h, g] = [back.header!, src.header!];
        expect(h.pixdim).toEqual(g.pixdim);
        expect(h.quatern).toEqual(g.quatern);
        expect(h.qoffset).toEqual(g.qoffset);
        expect(h.qformCode).toBe(1);
        expect(h.sformCode).toBe(4);
        expect(h.srow).toEqual(g.srow);
        expect(h.xyztUnits).toBe(2);
        expect(h.datatype).toBe(code);
        expect(h.description).toBe('hand-made');
        expect(h.sclSlope).toBe(1);
        expect(h.sclInter).toBe(0);
        // The raw file is a little-endian NIfTI-1 with the dims as stored.
        const bytes = ext === '.nii.gz' ? gunzipSync(raw) : raw;
        const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        expect(dv.getInt32(0, true)).toBe(348);
        expect([0, 1, 2, 3, 4].map((i) => dv.getInt16(40 + 2 * i, true))).toEqual([3, 5, 4, 3, 1]);
        expect(String.fromCharCode(...bytes.subarray(344, 348))).toBe('n+1\0');
        expect(bytes.length).toBe(352 + 60 * (code === 2 ? 1 : code === 4 ? 2 : 4));
      });
    }
  }

  it('4-D and NIfTI-2 sources round-trip (written as NIfTI-1)', async () => {
    const src = await readNifti(
      tmpFile(
        buildNifti2({
          version: 2,
          dim: [4, 3, 2, 2, 3],
          datatype: 4,
          values: f,
          qformCode: 1,
          quatern: [0, 0, 0],
        }),
      ),
    );
    const out = path.join(dir, 'v2.nii');
    await writeNifti(out, src);
    const back = await readNifti(out);
    expect(back.header?.version).toBe(1);
    expect(back.shape).toEqual([3, 2, 2, 3]);
    expectVoxels(back, f);
    expect(back.affine).toEqual(src.affine);
  });

  it('a cropped volume with a changed affine gets a consistent qform and sform', async () => {
    const src = await readNifti(
      tmpFile(buildNifti1({ dim: [3, 6, 5, 4], datatype: 4, values: f, ...geometry })),
    );
    const [i0, j0, k0] = [2, 1, 1];
    const [cx, cy, cz] = [3, 3, 2];
    const data = new Int16Array(cx * cy * cz);
    for (let i = 0; i < cx; i++)
      for (let j = 0; j < cy; j++)
        for (let k = 0; k < cz; k++) data[(i * cy + j) * cz + k] = f(i + i0, j + j0, k + k0);
    const A = src.affine;
    const affine = A.map((row, r) =>
      r === 3 ? [...row] : [row[0], row[1], row[2], row[0] * i0 + row[1] * j0 + row[2] * k0 + row[3]],
    );
    const cropped: Volume = { data, shape: [cx, cy, cz], spacing: src.spacing, affine, header: src.header };
    const out = path.join(dir, 'crop.nii.gz');
    await writeNifti(out, cropped);
    const back = await readNifti(out);
    expectVoxels(back, (i, j, k) => f(i + i0, j + j0, k + k0));
    expectAffineClose(back.affine, affine, 4);
    const h = back.header!;
    expect(h.sformCode).toBe(4);
    expect(h.qformCode).toBe(1);
    // The sform has a small shear; the qform is its closest rotation with the same zooms and offset.
    const q = qformOf(h);
    for (let r = 0; r < 3; r++) {
      expect(q[r][3]).toBeCloseTo(affine[r][3], 4);
      for (let c = 0; c < 3; c++) expect(q[r][c]).toBeCloseTo(affine[r][c], 1);
    }
    expect(h.pixdim[0]).toBe(-1);
  });

  it('a volume made in memory: qform and sform from its affine (rotation with a flip), codes 2', async () => {
    const c = Math.cos(0.3);
    const sn = Math.sin(0.3);
    // Rotation about x by 0.3 rad, zooms (2, 3, 4), last axis flipped (det < 0).
    const affine = [
      [2, 0, 0, -10],
      [0, 3 * c, 4 * sn, 5],
      [0, 3 * sn, -4 * c, 7.5],
      [0, 0, 0, 1],
    ];
    const data = new Float32Array(2 * 3 * 4).map((_, n) => n * 0.25);
    const vol = volumeFromArray(data, [2, 3, 4], { affine });
    expect(vol.spacing.map((v) => +v.toFixed(12))).toEqual([2, 3, 4]);
    expect(vol.header).toBeNull();
    const out = path.join(dir, 'mem.nii');
    await writeNifti(out, vol, { description: 'made in memory' });
    const back = await readNifti(out);
    expect(Array.from(back.data as Float32Array)).toEqual(Array.from(data));
    const h = back.header!;
    expect([h.qformCode, h.sformCode, h.xyztUnits]).toEqual([2, 2, 10]);
    expect(h.pixdim[0]).toBe(-1);
    expect(h.description).toBe('made in memory');
    expectAffineClose(back.affine, affine, 5);
    expectAffineClose([...qformOf(h), [0, 0, 0, 1]], affine, 5);
    // Quaternion of a rotation about x by 0.3: (cos 0.15, sin 0.15, 0, 0).
    expect(h.quatern[0]).toBeCloseTo(Math.sin(0.15), 6);
    expect(h.quatern[1]).toBeCloseTo(0, 6);
    expect(h.quatern[2]).toBeCloseTo(0, 6);
  });

  it('a qform-only source keeps its qform exactly and gains an aligned sform', async () => {
    const src = parseNifti(
      buildNifti1({
        dim: [3, 2, 2, 2],
        datatype: 2,
        values: f,
        pixdim: [1, 2, 3, 4, 1, 1, 1, 1],
        quatern: [0.1, 0.2, 0.3],
        qoffset: [1, 2, 3],
        qformCode: 1,
      }),
      'mem',
    );
    const out = path.join(dir, 'qonly.nii');
    await writeNifti(out, src);
    const back = await readNifti(out);
    expect(back.header?.quatern).toEqual(src.header?.quatern);
    expect(back.header?.qoffset).toEqual(src.header?.qoffset);
    expect([back.header?.qformCode, back.header?.sformCode]).toEqual([1, 2]);
    expectAffineClose(back.affine, src.affine, 6);
  });

  it('volumeFromArray with like copies the geometry (a mask in the input geometry)', async () => {
    const src = await readNifti(
      tmpFile(buildNifti1({ dim: [3, 5, 4, 3], datatype: 16, values: f, ...geometry })),
    );
    const mask = new Uint8Array(60).map((_, n) => n % 3);
    const vol = volumeFromArray(mask, [5, 4, 3], { like: src });
    expect(vol.affine).toEqual(src.affine);
    expect(vol.header).toEqual(src.header);
    expect(vol.header).not.toBe(src.header);
    const out = path.join(dir, 'mask.nii.gz');
    // The header's source datatype (float32) would fit; labels are written as uint8 by the caller.
    await writeNifti(out, vol, { datatype: 'uint8' });
    const back = await readNifti(out);
    expect(back.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(back.data as Uint8Array)).toEqual(Array.from(mask));
    expect(back.affine).toEqual(src.affine);
    expect(back.header?.quatern).toEqual(src.header?.quatern);
    expect(back.header?.pixdim).toEqual(src.header?.pixdim);
    expect(() => volumeFromArray(mask, [4, 5, 3], { like: src })).toThrow(
      /differs from the reference volume/,
    );
    expect(() => volumeFromArray(mask, [5, 4, 4])).toThrow(/has 80 voxels but the data has 60 values/);
    expect(() => volumeFromArray(mask, [60])).toThrow(InputError);
    expect(() => volumeFromArray(mask, [5, 4, 3], { spacing: [1, 1, 1], affine: src.affine })).toThrow(
      /disagrees with the affine/,
    );
    const plain = volumeFromArray(mask, [5, 4, 3], { spacing: [0.5, 1, 2] });
    expect(plain.affine).toEqual([
      [0.5, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 2, 0],
      [0, 0, 0, 1],
    ]);
  });

  it('default datatype: the source datatype if the data fit, else by array type', async () => {
    // A scaled int16 source reads as Float32Array; integer values fit int16 again.
    const src = parseNifti(
      buildNifti1({ dim: [3, 2, 2, 2], datatype: 4, values: f, slope: 2, inter: 1 }),
      'mem',
    );
    expect(src.data).toBeInstanceOf(Float32Array);
    await writeNifti(path.join(dir, 'd1.nii'), src);
    const back1 = await readNifti(path.join(dir, 'd1.nii'));
    expect(back1.header?.datatype).toBe(4);
    expectVoxels(back1, (i, j, k) => 2 * f(i, j, k) + 1);
    // Non-integer values do not fit int16: float32 by array type.
    const frac = parseNifti(buildNifti1({ dim: [3, 2, 2, 2], datatype: 4, values: f, slope: 0.5 }), 'mem');
    await writeNifti(path.join(dir, 'd2.nii'), frac);
    const back2 = await readNifti(path.join(dir, 'd2.nii'));
    expect(back2.header?.datatype).toBe(16);
    expectVoxels(back2, (i, j, k) => f(i, j, k) * 0.5);
    // Float64Array in memory → float64; Int32Array → int32.
    const d64 = volumeFromArray(new Float64Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]), [2, 2, 2]);
    await writeNifti(path.join(dir, 'd3.nii'), d64);
    expect((await readNifti(path.join(dir, 'd3.nii'))).header?.datatype).toBe(64);
    await writeNifti(path.join(dir, 'd4.nii'), d64, { datatype: 'float32' });
    const back4 = await readNifti(path.join(dir, 'd4.nii'));
    expect(Array.from(back4.data as Float32Array)).toEqual(
      [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8].map(Math.fround),
    );
  });

  it('values that do not fit the integer datatype fail; nothing is written, the old file is kept', async () => {
    const out = path.join(dir, 'keep', 'label.nii.gz');
    const ok = volumeFromArray(new Uint8Array(8).fill(1), [2, 2, 2]);
    await writeNifti(out, ok);
    const before = readFileSync(out);
    const big = volumeFromArray(new Int16Array([0, 1, 2, 3, 300, 5, 6, 7]), [2, 2, 2]);
    await expectInputError(
      writeNifti(out, big, { datatype: 'uint8' }),
      'value 300 at voxel (1, 0, 0)',
      'uint8',
    );
    const frac = volumeFromArray(new Float32Array([0, 1.5, 0, 0, 0, 0, 0, 0]), [2, 2, 2]);
    await expectInputError(writeNifti(out, frac, { datatype: 'int16' }), 'value 1.5', 'does not fit int16');
    const neg = volumeFromArray(new Float32Array([0, 0, 0, 0, 0, 0, 0, -1]), [2, 2, 2]);
    await expectInputError(writeNifti(out, neg, { datatype: 'uint8' }), 'value -1 at voxel (1, 1, 1)');
    expect(readFileSync(out).equals(before)).toBe(true);
    expect(readdirSync(path.dirname(out))).toEqual(['label.nii.gz']);
  });

  it('a bad extension is an InputError; a failing rename leaves no temp file', async () => {
    const ok = volumeFromArray(new Uint8Array(8), [2, 2, 2]);
    await expectInputError(writeNifti(path.join(dir, 'x.nrrd'), ok), 'must end in .nii or .nii.gz');
    const sub = path.join(dir, 'blocked');
    mkdirSync(path.join(sub, 'target.nii'), { recursive: true });
    writeFileSync(path.join(sub, 'target.nii', 'inside'), 'x');
    const error = await writeNifti(path.join(sub, 'target.nii'), ok).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsmisError);
    expect((error as Error).message).toContain('cannot write NIfTI file');
    expect(readdirSync(sub)).toEqual(['target.nii']);
  });
});

describe('readNifti / readNiftiHeader: unsafe inputs give one line naming the file', () => {
  const spec = (extra: Partial<Spec>) => buildNifti1({ dim: [3, 2, 2, 2], datatype: 2, ...extra });
  /** Both readers refuse `file` with an InputError whose single line contains every substring. */
  async function bothRefuse(file: string, ...substrings: string[]): Promise<void> {
    for (const read of [readNifti, readNiftiHeader]) {
      const error = await (read as (f: string) => Promise<unknown>)(file).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      const message = (error as Error).message;
      expect(message.split('\n')).toHaveLength(1);
      expect(message.startsWith(`${file}: `)).toBe(true);
      for (const s of substrings) expect(message).toContain(s);
    }
  }

  it('a FIFO or a device is refused before it is opened (reading one would hang)', async () => {
    const fifo = path.join(dir, 'pipe.nii.gz');
    execFileSync('mkfifo', [fifo]);
    await bothRefuse(fifo, 'a FIFO (named pipe), not a regular file');
    await bothRefuse('/dev/zero', 'a device, not a regular file');
  });

  it('gzip stubs: a cut stream and a stream too short for a header', async () => {
    const empty = gzipSync(new Uint8Array(0));
    await bothRefuse(tmpFile(empty.subarray(0, 11), '.nii.gz'), 'truncated gzip stream', 'the 11-byte file');
    await bothRefuse(tmpFile(empty, '.nii.gz'), 'not a NIfTI file: 0 bytes after decompression');
    const header = buildNifti1({ dim: [3, 2, 2, 2], datatype: 2 });
    await bothRefuse(tmpFile(gzipSync(header).subarray(0, 15), '.nii.gz'), 'truncated gzip stream');
    await bothRefuse(
      tmpFile(gzipSync(header.subarray(0, 200)), '.nii.gz'),
      'truncated header: 200 bytes after decompression, a NIfTI-1 header needs 348',
    );
  });

  it('non-finite geometry is an error naming the field (pixdim, sform, qform)', async () => {
    const nan = Number.NaN;
    await bothRefuse(
      tmpFile(spec({ pixdim: [1, 1, nan, 1, 1, 1, 1, 1] })),
      'non-finite pixdim[2] (voxel spacing)',
    );
    await bothRefuse(
      tmpFile(
        spec({
          sformCode: 1,
          srow: [
            [1, 0, 0, 0],
            [0, 1, 0, nan],
            [0, 0, 1, 0],
          ],
        }),
      ),
      'non-finite srow_y[3] (sform, sform_code 1) = NaN',
    );
    await bothRefuse(
      tmpFile(spec({ qformCode: 1, qoffset: [0, 0, Number.POSITIVE_INFINITY] })),
      'non-finite qoffset_z (qform, qform_code 1) = Infinity',
    );
    const v2 = buildNifti2({
      version: 2,
      dim: [3, 2, 2, 2],
      datatype: 2,
      pixdim: [1, nan, 1, 1, 1, 1, 1, 1],
    });
    await bothRefuse(tmpFile(gzipSync(v2), '.nii.gz'), 'non-finite pixdim[1]');
    // A NaN in a field the affine does not use (sform_code 0, qform_code 0) is ignored, as nibabel does.
    const unused = spec({
      srow: [
        [nan, 0, 0, 0],
        [0, nan, 0, 0],
        [0, 0, nan, 0],
      ],
      qoffset: [nan, nan, nan],
    });
    expect(parseNifti(unused, 'mem').affine[0][0]).toBe(1);
  });
});

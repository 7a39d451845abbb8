import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNrrd, writeNrrd } from '../../src/io/nrrd.js';
import { InputError } from '../../src/util/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-nrrd-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Value of voxel (i, j, k) in the hand-made volumes. */
const value = (i: number, j: number, k: number) => i + 10 * j + 100 * k;
const [NX, NY, NZ] = [3, 2, 2];

/** Fortran-order (first axis fastest) values, as NRRD stores them. */
function fortranValues(): number[] {
  const out: number[] = [];
  for (let k = 0; k < NZ; k++)
    for (let j = 0; j < NY; j++) for (let i = 0; i < NX; i++) out.push(value(i, j, k));
  return out;
}

function expectRowMajor(data: ArrayLike<number>): void {
  for (let i = 0; i < NX; i++) {
    for (let j = 0; j < NY; j++) {
      for (let k = 0; k < NZ; k++) expect(data[(i * NY + j) * NZ + k]).toBe(value(i, j, k));
    }
  }
}

async function write(name: string, header: string[], payload: Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, Buffer.concat([Buffer.from(`${header.join('\n')}\n\n`, 'latin1'), payload]));
  return file;
}

function int16Bytes(values: number[], little: boolean): Uint8Array {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => {
    if (little) b.writeInt16LE(v, i * 2);
    else b.writeInt16BE(v, i * 2);
  });
  return b;
}

const GEOMETRY = [
  'space: left-posterior-superior',
  'space directions: (0,0.5,0) (0.7,0,0) (0,0,2)',
  'space origin: (10,20,30)',
];

describe('readNrrd', () => {
  it('reads raw big-endian short with LPS space directions → RAS affine', async () => {
    const file = await write(
      'be.nrrd',
      [
        'NRRD0004',
        '# comment',
        'type: short',
        'dimension: 3',
        `sizes: ${NX} ${NY} ${NZ}`,
        'endian: big',
        'encoding: raw',
        'key:=value',
        ...GEOMETRY,
      ],
      int16Bytes(fortranValues(), false),
    );
    const vol = await readNrrd(file);
    expect(vol.shape).toEqual([NX, NY, NZ]);
    expect(vol.data).toBeInstanceOf(Int16Array);
    expectRowMajor(vol.data as Int16Array);
    // LPS → RAS: x and y rows negated (columns are the per-axis directions).
    expect(vol.affine).toEqual([
      [0, -0.7, 0, -10],
      [-0.5, 0, 0, -20],
      [0, 0, 2, 30],
      [0, 0, 0, 1],
    ]);
    expect(vol.spacing).toEqual([0.5, 0.7, 2]);
    expect(vol.header).toBeNull();
  });

  it('reads gzip little-endian (encoding gz too) and uchar/float/ascii', async () => {
    const le = gzipSync(int16Bytes(fortranValues(), true));
    for (const enc of ['gzip', 'gz']) {
      const file = await write(
        `le-${enc}.nrrd`,
        [
          'NRRD0005',
          'type: int16',
          'dimension: 3',
          `sizes: ${NX} ${NY} ${NZ}`,
          'endian: little',
          `encoding: ${enc}`,
          ...GEOMETRY,
        ],
        le,
      );
      expectRowMajor((await readNrrd(file)).data as Int16Array);
    }
    const f32 = new Float32Array(fortranValues().map((v) => v + 0.5));
    const ffile = await write(
      'f.nrrd',
      [
        'NRRD0004',
        'type: float',
        'dimension: 3',
        `sizes: ${NX} ${NY} ${NZ}`,
        'endian: little',
        'encoding: gzip',
        'spacings: 1.5 2 3',
      ],
      gzipSync(new Uint8Array(f32.buffer)),
    );
    const fv = await readNrrd(ffile);
    expect(fv.data).toBeInstanceOf(Float32Array);
    expect(fv.data[(1 * NY + 1) * NZ + 1]).toBe(value(1, 1, 1) + 0.5);
    expect(fv.spacing).toEqual([1.5, 2, 3]);
    expect(fv.affine[0][0]).toBe(1.5);
    const u8 = await write(
      'u8.nrrd',
      ['NRRD0004', 'type: uchar', 'dimension: 3', `sizes: ${NX} ${NY} ${NZ}`, 'encoding: raw'],
      Uint8Array.from(fortranValues().map((v) => v % 256)),
    );
    const uv = await readNrrd(u8);
    expect(uv.data).toBeInstanceOf(Uint8Array);
    expect(uv.data[(2 * NY + 1) * NZ + 1]).toBe(value(2, 1, 1) % 256);
    const ascii = await write(
      'a.nrrd',
      ['NRRD0004', 'type: int', 'dimension: 3', `sizes: ${NX} ${NY} ${NZ}`, 'encoding: ascii'],
      Buffer.from(fortranValues().join(' ')),
    );
    expectRowMajor((await readNrrd(ascii)).data as Int32Array);
  });

  it('moves a non-spatial axis (space direction none) last', async () => {
    // 2 components × 3 × 2 × 1: component c of voxel (i, j) = c + 10 i + 100 j.
    const vals: number[] = [];
    for (let j = 0; j < 2; j++)
      for (let i = 0; i < 3; i++) for (let c = 0; c < 2; c++) vals.push(c + 10 * i + 100 * j);
    const file = await write(
      'vec.nrrd',
      [
        'NRRD0004',
        'type: uchar',
        'dimension: 4',
        'sizes: 2 3 2 1',
        'encoding: raw',
        'space: RAS',
        'space directions: none (1,0,0) (0,1,0) (0,0,1)',
      ],
      Uint8Array.from(vals.map((v) => v % 256)),
    );
    const vol = await readNrrd(file);
    expect(vol.shape).toEqual([3, 2, 1, 2]);
    expect(vol.data[((2 * 2 + 1) * 1 + 0) * 2 + 1]).toBe((1 + 20 + 100) % 256);
  });

  it('writeNrrd → readNrrd round trip keeps data, type and RAS affine', async () => {
    const shape = [4, 3, 5];
    const data = new Int16Array(60).map((_, p) => p * 37 - 900);
    const affine = [
      [-0.625, 0, 0, 12.5],
      [0, -0.625, 0, -3.25],
      [0, 0, 0.625, 40],
      [0, 0, 0, 1],
    ];
    for (const encoding of ['gzip', 'raw'] as const) {
      const file = path.join(dir, `rt-${encoding}.nrrd`);
      await writeNrrd(
        file,
        { data, shape, spacing: [0.625, 0.625, 0.625], affine, header: null },
        { encoding },
      );
      const back = await readNrrd(file);
      expect(back.shape).toEqual(shape);
      expect(Array.from(back.data as Int16Array)).toEqual(Array.from(data));
      expect(back.affine).toEqual(affine);
      expect(back.spacing).toEqual([0.625, 0.625, 0.625]);
    }
    const text = (await fs.readFile(path.join(dir, 'rt-raw.nrrd'))).toString('latin1');
    expect(text).toContain('space directions: (0.625,0.0,0.0) (0.0,0.625,0.0) (0.0,0.0,0.625)');
  });

  it('errors name the file: bad magic, truncated data, unsupported encoding/type, detached data', async () => {
    const base = ['type: short', 'dimension: 3', `sizes: ${NX} ${NY} ${NZ}`, 'endian: little'];
    const cases: [string, string[], Uint8Array, RegExp][] = [
      [
        'magic.nrrd',
        ['NRRX0004', ...base, 'encoding: raw'],
        int16Bytes(fortranValues(), true),
        /not an NRRD file/,
      ],
      [
        'short.nrrd',
        ['NRRD0004', ...base, 'encoding: raw'],
        int16Bytes(fortranValues(), true).subarray(0, 20),
        /truncated NRRD data: .*need 24 bytes, found 20/,
      ],
      [
        'trunc.nrrd',
        ['NRRD0004', ...base, 'encoding: gzip'],
        gzipSync(int16Bytes(fortranValues(), true)).subarray(0, 15),
        /corrupt or truncated gzip/,
      ],
      [
        'bz.nrrd',
        ['NRRD0004', ...base, 'encoding: bzip2'],
        new Uint8Array(4),
        /unsupported NRRD encoding "bzip2"/,
      ],
      [
        'block.nrrd',
        ['NRRD0004', 'type: block', 'dimension: 1', 'sizes: 2', 'encoding: raw'],
        new Uint8Array(4),
        /unsupported NRRD type "block"/,
      ],
      [
        'detached.nrrd',
        ['NRRD0004', ...base, 'encoding: raw', 'data file: x.raw'],
        new Uint8Array(0),
        /detached NRRD data/,
      ],
      [
        'endian.nrrd',
        ['NRRD0004', 'type: short', 'dimension: 3', `sizes: ${NX} ${NY} ${NZ}`, 'encoding: raw'],
        int16Bytes(fortranValues(), true),
        /"endian"/,
      ],
    ];
    for (const [name, header, payload, re] of cases) {
      const file = await write(name, header, payload);
      const err = await readNrrd(file).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).toMatch(re);
    }
    const noBlank = path.join(dir, 'nohead.nrrd');
    await fs.writeFile(noBlank, 'NRRD0004\ntype: short\n');
    await expect(readNrrd(noBlank)).rejects.toThrow(/no blank line ends the header/);
    await expect(readNrrd(path.join(dir, 'missing.nrrd'))).rejects.toThrow(/missing\.nrrd: cannot read NRRD/);
  });
});

describe('readNrrd: unsafe inputs', () => {
  it('a FIFO or a device is refused before it is opened (reading a FIFO would hang)', async () => {
    const fifo = path.join(dir, 'pipe.nrrd');
    execFileSync('mkfifo', [fifo]);
    await expect(readNrrd(fifo)).rejects.toThrow(
      `${fifo}: cannot read NRRD file: it is a FIFO (named pipe), not a regular file`,
    );
    await expect(readNrrd('/dev/zero')).rejects.toThrow('/dev/zero: cannot read NRRD file: it is a device');
  });

  it('non-finite geometry is an error naming the file and the field', async () => {
    const base = ['NRRD0004', 'type: uchar', 'dimension: 3', `sizes: ${NX} ${NY} ${NZ}`, 'encoding: raw'];
    const payload = new Uint8Array(NX * NY * NZ);
    const cases: [string, string, RegExp][] = [
      ['spacing-nan.nrrd', 'spacings: 1 nan 1', /field "spacings" has a non-finite value "nan" for axis 1/],
      ['spacing-short.nrrd', 'spacings: 1 1', /field "spacings" has a non-finite value "" for axis 2/],
      [
        'dir-nan.nrrd',
        'space directions: (1,0,0) (0,NaN,0) (0,0,1)',
        /field "space directions" has a non-numeric/,
      ],
      ['origin-inf.nrrd', 'space origin: (0,Infinity,0)', /field "space origin" has a non-numeric/],
    ];
    for (const [name, line, re] of cases) {
      const extra = name.startsWith('origin') ? ['space directions: (1,0,0) (0,1,0) (0,0,1)', line] : [line];
      const file = await write(name, [...base, ...extra], payload);
      const err = await readNrrd(file).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(InputError);
      expect((err as Error).message.startsWith(`${file}: `)).toBe(true);
      expect((err as Error).message).toMatch(re);
    }
  });

  it('a non-integer token in int64 ascii data is an InputError, not a raw SyntaxError', async () => {
    const file = await write(
      'ascii64.nrrd',
      ['NRRD0004', 'type: int64', 'dimension: 1', 'sizes: 2', 'encoding: ascii'],
      Buffer.from('1 2.5\n'),
    );
    const err = await readNrrd(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(`${file}: NRRD ascii data has a non-integer value "2.5"`);
  });
});

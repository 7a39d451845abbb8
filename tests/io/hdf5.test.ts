import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readH5Datasets, writeH5Datasets } from '../../src/io/hdf5.js';
import { InputError } from '../../src/util/errors.js';

let dir: string;
let good: string;
const shape = [6, 5, 4];
const image = new Float32Array(120).map((_, p) => Math.sin(p) * 3.5);
const label = new Uint8Array(120).map((_, p) => (p % 7 === 0 ? 1 : 0));

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-h5-'));
  good = path.join(dir, 'case', 'mri_norm2.h5');
  await writeH5Datasets(good, { image: { data: image, shape }, label: { data: label, shape } });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('HDF5 datasets', () => {
  it('write → read round trip (C order, dtypes, shapes), no temp file left', async () => {
    const ds = await readH5Datasets(good, ['image', 'label']);
    expect(ds.image.shape).toEqual(shape);
    expect(ds.image.dtype).toBe('float32');
    expect(ds.image.data).toBeInstanceOf(Float32Array);
    expect(Array.from(ds.image.data)).toEqual(Array.from(image));
    expect(ds.label.dtype).toBe('uint8');
    expect(Array.from(ds.label.data)).toEqual(Array.from(label));
    expect(await fs.readdir(path.dirname(good))).toEqual(['mri_norm2.h5']);
    const raw = path.join(dir, 'raw.h5');
    await writeH5Datasets(
      raw,
      { x: { data: new Int16Array([1, -2, 3, -4]), shape: [2, 2] } },
      { gzipLevel: 0 },
    );
    const x = (await readH5Datasets(raw, ['x'])).x;
    expect(x.dtype).toBe('int16');
    expect(Array.from(x.data)).toEqual([1, -2, 3, -4]);
  });

  it('missing dataset, truncated file, non-HDF5 and missing file are InputErrors naming the file', async () => {
    await expect(readH5Datasets(good, ['image', 'mask'])).rejects.toThrow(
      new RegExp(
        `${good.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: missing "mask" \\(the file holds: image, label\\)`,
      ),
    );
    const bytes = await fs.readFile(good);
    const truncated = path.join(dir, 'trunc.h5');
    await fs.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const notH5 = path.join(dir, 'not.h5');
    await fs.writeFile(notH5, 'hello, this is not HDF5\n');
    const tiny = path.join(dir, 'tiny.h5');
    await fs.writeFile(tiny, bytes.subarray(0, 20));
    const expectations: [string, RegExp][] = [
      [truncated, /truncated HDF5 file: the superblock says \d+ bytes, the file has \d+/],
      [notH5, /not an HDF5 file/],
      [tiny, /truncated or corrupt HDF5 superblock/],
      [path.join(dir, 'nope.h5'), /cannot open HDF5 file/],
    ];
    for (const [file, re] of expectations) {
      const err = await readH5Datasets(file, ['image']).catch((e: unknown) => e);
      expect(err, file).toBeInstanceOf(InputError);
      expect((err as Error).message.startsWith(`${file}: `)).toBe(true);
      expect((err as Error).message).toMatch(re);
    }
  });

  it('rejects a shape that does not match the data', async () => {
    await expect(
      writeH5Datasets(path.join(dir, 'bad.h5'), { image: { data: new Float32Array(5), shape: [2, 2] } }),
    ).rejects.toThrow(/shape \[2, 2\] does not match its 5 values/);
  });
});

describe('HDF5: non-regular files', () => {
  it('a FIFO, a device or a folder is refused before it is opened (reading a FIFO would hang)', async () => {
    const fifo = path.join(dir, 'pipe.h5');
    execFileSync('mkfifo', [fifo]);
    for (const [file, kind] of [
      [fifo, 'a FIFO (named pipe)'],
      ['/dev/zero', 'a device'],
      [dir, 'a folder'],
    ]) {
      const err = await readH5Datasets(file, ['image']).catch((e: unknown) => e);
      expect(err, file).toBeInstanceOf(InputError);
      expect((err as Error).message).toBe(
        `${file}: cannot read HDF5 file: it is ${kind}, not a regular file`,
      );
    }
  });
});

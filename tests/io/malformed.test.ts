import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readH5Datasets, writeH5Datasets } from '../../src/io/hdf5.js';
import { readNifti, readNiftiHeader, volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import { readNrrd, writeNrrd } from '../../src/io/nrrd.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-malformed-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/**
 * Truncations and random byte changes (in the header region, where parsers branch) of valid files: each read
 * either succeeds or fails with an InputError of ONE line that starts with the file's path.
 */
describe('malformed input files: one line naming the file, whatever is broken', () => {
  it('NIfTI (plain, gzip, header only), NRRD (gzip, raw), HDF5, safetensors', async () => {
    const data = new Float32Array(4 * 5 * 6).map((_, i) => i);
    const vol = volumeFromArray(data, [4, 5, 6], { spacing: [1, 2, 3] });
    const file = (name: string) => path.join(dir, name);
    await writeNifti(file('a.nii'), vol);
    await writeNifti(file('a.nii.gz'), vol);
    await writeNrrd(file('a.nrrd'), vol);
    await writeNrrd(file('b.nrrd'), vol, { encoding: 'raw' });
    await writeH5Datasets(file('a.h5'), { image: { data, shape: [4, 5, 6] } });
    await writeSafetensors(file('a.safetensors'), { w: { dtype: 'F32', shape: [4, 5, 6], data } });
    const readers: [string, (p: string) => Promise<unknown>][] = [
      ['a.nii', readNifti],
      ['a.nii.gz', readNifti],
      ['a.nii.gz', readNiftiHeader],
      ['a.nrrd', readNrrd],
      ['b.nrrd', readNrrd],
      ['a.h5', (p) => readH5Datasets(p, ['image'])],
      ['a.safetensors', readSafetensors],
    ];
    const rng = new Rng(11);
    const bad: string[] = [];
    let n = 0;
    for (const [name, read] of readers) {
      const original = await fs.readFile(file(name));
      for (let t = 0; t < 120; t++) {
        let bytes = Buffer.from(original);
        if (t % 3 === 0) bytes = bytes.subarray(0, rng.randint(0, bytes.length));
        else {
          const changes = rng.randint(1, 8);
          for (let i = 0; i < changes; i++)
            bytes[rng.randint(0, Math.min(bytes.length, 600))] = rng.randint(0, 256);
        }
        const target = path.join(dir, `m${n++}-${name}`);
        await fs.writeFile(target, bytes);
        try {
          await read(target);
        } catch (error) {
          const message = (error as Error).message;
          if (
            !(error instanceof InputError) ||
            message.includes('\n') ||
            !message.startsWith(`${target}: `)
          ) {
            bad.push(`${name} #${t}: ${(error as Error).name}: ${message.slice(0, 200)}`);
          }
        }
      }
    }
    expect(bad).toEqual([]);
  });
});

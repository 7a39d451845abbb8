import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { valueStats } from '../../src/cli/commands/inspect.js';
import { volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import { ssmis } from '../helpers/cli.js';

describe('ssmis inspect', () => {
  it('prints header, geometry and value statistics of a NIfTI file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ssmis-inspect-'));
    const file = path.join(dir, 'label.nii.gz');
    const data = new Uint8Array(2 * 3 * 4).map((_, i) => i % 3);
    await writeNifti(file, volumeFromArray(data, [2, 3, 4], { spacing: [0.5, 0.5, 2] }));
    const { code, stdout } = await ssmis(['inspect', file]);
    expect(code).toBe(0);
    expect(stdout).toContain('shape     2 × 3 × 4  uint8');
    expect(stdout).toContain('spacing   0.5 × 0.5 × 2');
    expect(stdout).toContain('distinct values 0, 1, 2');
    const json = JSON.parse((await ssmis(['inspect', file, '--json'])).stdout);
    expect(json.shape).toEqual([2, 3, 4]);
    expect(json.stats.nonZero).toBe(16);
  });

  it('a missing or non-NIfTI file is an input error (exit 2) with one line', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ssmis-inspect-'));
    const { code, stderr } = await ssmis(['inspect', path.join(dir, 'nope.nii')]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`ssmis: ${path.join(dir, 'nope.nii')}: file not found`);
  });

  it('a FIFO, a gzip stub and a NaN affine are one-line input errors (exit 2), no hang', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ssmis-inspect-'));
    const fifo = path.join(dir, 'pipe.nii.gz');
    execFileSync('mkfifo', [fifo]);
    const stub = path.join(dir, 'stub.nii.gz');
    writeFileSync(stub, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3]));
    const nan = path.join(dir, 'nan.nii');
    await writeNifti(nan, volumeFromArray(new Uint8Array(8), [2, 2, 2]));
    const bytes = readFileSync(nan);
    bytes.writeFloatLE(Number.NaN, 280 + 12); // srow_x[3], with sform_code 2
    writeFileSync(nan, bytes);
    for (const [file, message] of [
      [fifo, 'cannot read file: it is a FIFO (named pipe), not a regular file'],
      [stub, 'truncated gzip stream'],
      [nan, 'non-finite srow_x[3] (sform, sform_code 2) = NaN'],
    ]) {
      for (const args of [
        ['inspect', file],
        ['inspect', file, '--header-only'],
      ]) {
        const { code, stderr } = await ssmis(args);
        expect(code, args.join(' ')).toBe(2);
        expect(stderr.trim().split('\n')).toHaveLength(1);
        expect(stderr).toContain(`ssmis: ${file}: `);
        expect(stderr).toContain(message);
      }
    }
  });

  it('valueStats ignores non-finite voxels and counts them', () => {
    const s = valueStats(new Float32Array([1, 2, Number.NaN, 3, Number.POSITIVE_INFINITY]));
    expect(s).toMatchObject({ min: 1, max: 3, mean: 2, nonFinite: 2, nonZero: 3, distinct: [1, 2, 3] });
    expect(s.std).toBeCloseTo(Math.sqrt(2 / 3), 12);
  });
});

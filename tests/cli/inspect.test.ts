import { mkdtempSync } from 'node:fs';
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

  it('valueStats ignores non-finite voxels and counts them', () => {
    const s = valueStats(new Float32Array([1, 2, Number.NaN, 3, Number.POSITIVE_INFINITY]));
    expect(s).toMatchObject({ min: 1, max: 3, mean: 2, nonFinite: 2, nonZero: 3, distinct: [1, 2, 3] });
    expect(s.std).toBeCloseTo(Math.sqrt(2 / 3), 12);
  });
});

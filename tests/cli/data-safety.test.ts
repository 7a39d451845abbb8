import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ssmis } from '../helpers/cli.js';
import { snapshot } from '../helpers/files.js';

describe('ssmis synth / prepare refuse to mix or overwrite data (exit 2, one line)', () => {
  it('synth into a non-empty folder, prepare from another raw folder; --force does what the help says', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-data-safety-'));
    const [rawA, rawB, ds] = ['raw-a', 'raw-b', 'ds'].map((n) => path.join(root, n));
    const synth = (out: string, seed: string, ...extra: string[]) =>
      ssmis([
        'synth',
        '--dataset',
        'la',
        '--out',
        out,
        '--cases',
        '3',
        '--seed',
        seed,
        '--size',
        '32,32,8',
        ...extra,
      ]);
    expect((await synth(rawA, '1')).code).toBe(0);
    const rawBefore = await snapshot(rawA);
    let r = await synth(rawA, '2');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`ssmis: ${rawA}: not empty`);
    expect(await snapshot(rawA)).toEqual(rawBefore);
    expect((await synth(rawA, '2', '--force')).code).toBe(0);
    expect(await snapshot(rawA)).not.toEqual(rawBefore);

    expect((await synth(rawB, '3')).code).toBe(0);
    expect((await ssmis(['prepare', 'la', '--raw', rawA, '--out', ds, '--min-size', '16'])).code).toBe(0);
    const dsBefore = await snapshot(ds);
    r = await ssmis(['prepare', 'la', '--raw', rawB, '--out', ds, '--min-size', '16']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(
      `was prepared from ${await fs.realpath(rawA)}, but --raw is ${await fs.realpath(rawB)}`,
    );
    expect(await snapshot(ds)).toEqual(dsBefore);
    r = await ssmis(['prepare', 'la', '--raw', rawB, '--out', ds, '--min-size', '16', '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('prepared 3, skipped 0 (already done), failed 0');
    await fs.rm(root, { recursive: true, force: true });
  });
});

import { existsSync, promises as fs } from 'node:fs';
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

  it('prepare --val holds out train cases, changing it rewrites only dataset.json; train on an empty val split fails early', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-data-val-'));
    const [raw, ds, runs] = ['raw', 'ds', 'runs'].map((n) => path.join(root, n));
    const synth = ['synth', '--dataset', 'la', '--out', raw, '--cases', '6', '--size', '32,32,8'];
    expect((await ssmis(synth)).code).toBe(0);
    const prepare = (...extra: string[]) =>
      ssmis(['prepare', 'la', '--raw', raw, '--out', ds, '--min-size', '16', ...extra]);
    const splits = async () =>
      (
        JSON.parse(await fs.readFile(path.join(ds, 'dataset.json'), 'utf8')) as {
          splits: Record<string, string[]>;
        }
      ).splits;
    let r = await prepare('--val', '1');
    expect(r.code, r.stderr).toBe(0);
    const { train, val, test } = await splits();
    expect([train.length, val.length, test.length]).toEqual([3, 1, 2]);
    expect(r.stdout).toContain(`validation split: 1 case(s) held out of the train list (${val[0]})`);
    const cases = await snapshot(ds);
    cases.delete('dataset.json');
    r = await prepare('--val', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('prepared 0, skipped 6 (already done), failed 0');
    expect(await splits()).toEqual({ train: train.slice(0, 2), val: [train[2], val[0]], test });
    const after = await snapshot(ds);
    after.delete('dataset.json');
    expect(after).toEqual(cases);

    const before = await snapshot(ds);
    for (const [args, message] of [
      [
        ['--val', '4'],
        'ssmis: prepare la: val (--val) 4 leaves no train case: 4 case(s) of the train list are present; hold out at most 3',
      ],
      [['--val', 'two'], "ssmis: --val: expected an integer, got 'two'"],
      [['--val', '-1'], 'ssmis: prepare: val (--val) must be a non-negative integer'],
    ]) {
      r = await prepare(...args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
    r = await ssmis(['prepare', 'acdc', '--raw', raw, '--out', path.join(root, 'acdc'), '--val', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'ssmis: prepare acdc: val (--val) holds out validation cases for datasets without an official validation list (la, pancreas-nih); acdc has one (configs/splits/acdc/val.list), drop --val',
    );
    expect(await snapshot(ds)).toEqual(before);

    expect((await prepare('--val', '0')).code).toBe(0);
    expect((await splits()).val).toEqual([]);
    const demo = new URL('../../configs/demo.yaml', import.meta.url).pathname;
    r = await ssmis([
      'train',
      '--config',
      demo,
      '--set',
      `data.dataset=${ds}`,
      '--set',
      `run.outputDir=${runs}`,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `ssmis: train.validation.split: the dataset ${ds} has no 'val' cases; hold some train cases out with \`ssmis prepare la --raw <raw folder> --out ${ds} --val <n>\` (only dataset.json is rewritten), or use 'none'`,
    );
    expect(existsSync(runs)).toBe(false);
    await fs.rm(root, { recursive: true, force: true });
  });
});

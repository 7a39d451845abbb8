import { existsSync, promises as fs, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDataset } from '../../src/data/dataset.js';
import { type PrepareOptions, prepareDataset } from '../../src/data/prepare/index.js';
import { synthesize } from '../../src/data/synth/index.js';
import { train } from '../../src/train/train.js';
import { refusal, snapshot } from '../helpers/files.js';
import { tinyConfig } from '../helpers/synthetic.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-prepare-val-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

interface Json {
  splits: { train: string[]; val: string[]; test: string[] };
  ssmis: { valHoldout?: number };
}

function readJson(out: string): Json {
  return JSON.parse(readFileSync(path.join(out, 'dataset.json'), 'utf8')) as Json;
}

/** LA phantoms in `<dir>/<name>` (train ids first, then test), 32×32×8 voxels. */
async function raw(name: string, cases: number) {
  const out = path.join(dir, name);
  return { raw: out, ...(await synthesize({ dataset: 'la', out, cases, seed: 4, size: [32, 32, 8] })) };
}

function la(rawDir: string, out: string, extra: Partial<PrepareOptions> = {}) {
  return prepareDataset({ dataset: 'la', raw: rawDir, out, minSize: 16, ...extra });
}

/** Every file of `out` but dataset.json, with its bytes and mtime. */
function casesSnapshot(out: string): Map<string, { bytes: Buffer; mtimeMs: number }> {
  const files = snapshot(out);
  files.delete('dataset.json');
  return new Map(
    [...files].map(([rel, bytes]) => [rel, { bytes, mtimeMs: statSync(path.join(out, rel)).mtimeMs }]),
  );
}

describe('prepare --val: a validation split held out of the train list', () => {
  it('holds out the last N train cases in list order; the first (labeled) cases stay in train', async () => {
    const a = await raw('raw-split', 8);
    expect(a.ids.train).toHaveLength(5);
    const out = path.join(dir, 'ds-split');
    const result = await la(a.raw, out, { val: 2 });
    expect(result.failed).toEqual([]);
    expect(result.heldOut).toEqual(a.ids.train.slice(3));
    const json = readJson(out);
    expect(json.splits).toEqual({
      train: a.ids.train.slice(0, 3),
      val: a.ids.train.slice(3),
      test: a.ids.test,
    });
    expect(json.ssmis.valHoldout).toBe(2);
    expect((await validateDataset(out)).problems).toEqual([]);
  });

  it('changing N rewrites only dataset.json: every case is skipped and stays byte-identical', async () => {
    const a = await raw('raw-change', 8);
    const out = path.join(dir, 'ds-change');
    expect((await la(a.raw, out)).prepared).toHaveLength(8);
    expect(readJson(out).splits.val).toEqual([]);
    expect(readJson(out).ssmis.valHoldout).toBeUndefined();
    const cases = casesSnapshot(out);
    for (const [val, held] of [
      [2, 2],
      [3, 3],
      [undefined, 3], // without --val the folder keeps the hold-out it records
      [1, 1],
      [0, 0],
    ] as const) {
      const result = await la(a.raw, out, val === undefined ? {} : { val });
      expect(result.prepared, `val ${val}`).toEqual([]);
      expect(result.skipped).toHaveLength(8);
      const json = readJson(out);
      expect(json.splits.val).toEqual(a.ids.train.slice(5 - held));
      expect(json.splits.train).toEqual(a.ids.train.slice(0, 5 - held));
      expect(json.splits.test).toEqual(a.ids.test);
      expect(json.ssmis.valHoldout).toBe(held > 0 ? held : undefined);
      expect(casesSnapshot(out)).toEqual(cases);
    }
  });

  it('counts only the cases present: a partial download holds out its own last train cases', async () => {
    const a = await raw('raw-partial', 8);
    await fs.rm(path.join(a.raw, 'Training Set', a.ids.train[4]), { recursive: true });
    const out = path.join(dir, 'ds-partial');
    await la(a.raw, out, { val: 2 });
    expect(readJson(out).splits).toEqual({
      train: a.ids.train.slice(0, 2),
      val: a.ids.train.slice(2, 4),
      test: a.ids.test,
    });
  });

  it('refuses a hold-out that leaves no train case, a bad number, and a dataset with an official val list', async () => {
    const a = await raw('raw-refuse', 8);
    const fresh = path.join(dir, 'ds-refuse-new');
    expect(await refusal(la(a.raw, fresh, { val: 5 }))).toBe(
      'prepare la: val (--val) 5 leaves no train case: 5 case(s) of the train list are present; hold out at most 4',
    );
    expect(existsSync(fresh)).toBe(false);
    for (const bad of [-1, 1.5]) {
      expect(await refusal(la(a.raw, fresh, { val: bad }))).toBe(
        `prepare: val (--val) must be a non-negative integer (train cases to hold out for validation), got ${bad}`,
      );
    }
    expect(existsSync(fresh)).toBe(false);
    // A prepared folder stays byte-identical when the new hold-out is refused.
    const out = path.join(dir, 'ds-refuse');
    await la(a.raw, out, { val: 2 });
    const before = snapshot(out);
    expect(await refusal(la(a.raw, out, { val: 9 }))).toMatch(
      /^prepare la: val \(--val\) 9 leaves no train case/,
    );
    expect(snapshot(out)).toEqual(before);
    for (const dataset of ['acdc', 'brats2019'] as const) {
      expect(
        await refusal(prepareDataset({ dataset, raw: a.raw, out: path.join(dir, `ds-${dataset}`), val: 1 })),
      ).toMatch(
        new RegExp(
          `^prepare ${dataset}: val \\(--val\\) holds out validation cases for datasets without an official validation list \\(la, pancreas-nih\\); ${dataset} has one \\(configs/splits/${dataset}/val\\.(list|txt)\\), drop --val$`,
        ),
      );
    }
  });

  it('a recorded hold-out that no longer fits is refused naming dataset.json and --val', async () => {
    const a = await raw('raw-shrink', 8);
    const out = path.join(dir, 'ds-shrink');
    await la(a.raw, out, { val: 4 });
    // Rebuilt from a smaller raw folder with --force: the old hold-out is not carried over.
    const b = await raw('raw-shrink-small', 4);
    await la(b.raw, out, { force: true });
    expect(readJson(out).splits.val).toEqual([]);
    await la(b.raw, out, { val: 2 });
    const before = snapshot(out);
    await fs.rm(path.join(out, '.prepare'), { recursive: true });
    await fs.rm(path.join(out, 'imagesTr'), { recursive: true });
    await fs.rm(path.join(out, 'labelsTr'), { recursive: true });
    await fs.rm(path.join(b.raw, 'Training Set', b.ids.train[0]), { recursive: true });
    expect(await refusal(la(b.raw, out))).toBe(
      `prepare la: the validation hold-out of 2 recorded in ${path.join(out, 'dataset.json')} (pass --val to change it) leaves no train case: 2 case(s) of the train list are present; hold out at most 1`,
    );
    expect(snapshot(out).get('dataset.json')).toEqual(before.get('dataset.json'));
  });
});

describe('training on validation.split val', () => {
  it('a dataset without val cases fails before the run folder exists, with one line pointing at prepare --val', async () => {
    const a = await raw('raw-train', 8);
    const out = path.join(dir, 'ds-train');
    await la(a.raw, out);
    const runs = path.join(dir, 'runs');
    const config = tinyConfig(out, runs, { train: { validation: { split: 'val' } } });
    expect(await refusal(train(config))).toBe(
      `train.validation.split: the dataset ${out} has no 'val' cases; hold some train cases out with \`ssmis prepare la --raw <raw folder> --out ${out} --val <n>\` (only dataset.json is rewritten), or use 'none'`,
    );
    expect(existsSync(runs)).toBe(false);
    await la(a.raw, out, { val: 2 });
    const result = await train(
      tinyConfig(out, runs, {
        train: { validation: { split: 'val' }, stages: { selftrain: { enabled: false } } },
      }),
    );
    expect(result.interrupted).toBe(false);
    expect(result.best.pretrain).toBeDefined();
  });
});

import { spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDataset } from '../../src/data/dataset.js';
import { type PrepareOptions, prepareDataset } from '../../src/data/prepare/index.js';
import { synthesize } from '../../src/data/synth/index.js';
import { refusal, snapshot } from '../helpers/files.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-prepare-safety-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const SIZE = [32, 32, 8];

/** LA phantoms in `<dir>/<name>`: `cases` cases (train first, then test) with `seed`. */
async function raw(name: string, cases: number, seed: number) {
  const out = path.join(dir, name);
  return { raw: out, ...(await synthesize({ dataset: 'la', out, cases, seed, size: SIZE })) };
}

function la(rawDir: string, out: string, extra: Partial<PrepareOptions> = {}) {
  return prepareDataset({ dataset: 'la', raw: rawDir, out, minSize: 16, ...extra });
}

interface Json {
  splits: { train: string[]; test: string[] };
  cases: Record<string, { fingerprint: string }>;
  ssmis: { rawSource?: string };
}

function readJsonSync(file: string): Json {
  return JSON.parse(readFileSync(file, 'utf8')) as Json;
}

function listed(json: Json): string[] {
  return [...json.splits.train, ...json.splits.test];
}

/**
 * dataset.json of `out` lists only complete cases: each has its image, its label and a record whose fingerprint
 * is the one dataset.json states. Synchronous, so it can run inside an onCase callback.
 */
function expectConsistent(out: string): void {
  const json = readJsonSync(path.join(out, 'dataset.json'));
  for (const id of listed(json)) {
    const record = JSON.parse(readFileSync(path.join(out, '.prepare', `${id}.json`), 'utf8'));
    expect(record.fingerprint, id).toBe(json.cases[id].fingerprint);
    expect(readFileSync(path.join(out, 'imagesTr', `${id}_0000.nii.gz`)).length).toBeGreaterThan(0);
    expect(readFileSync(path.join(out, 'labelsTr', `${id}.nii.gz`)).length).toBeGreaterThan(0);
  }
}

describe('prepare never mixes two raw folders and never keeps a case whose raw files changed', () => {
  it('another raw folder is refused (the dataset stays byte-identical); --force rebuilds from it', async () => {
    const a = await raw('raw-a', 4, 1);
    const b = await raw('raw-b', 2, 2);
    const out = path.join(dir, 'ds-ab');
    await la(a.raw, out);
    const json = readJsonSync(path.join(out, 'dataset.json'));
    expect(json.ssmis.rawSource).toBe(await fs.realpath(a.raw));
    expect(Object.values(json.cases).every((c) => /^[0-9a-f]{64}$/.test(c.fingerprint))).toBe(true);
    const before = await snapshot(out);
    const message = await refusal(la(b.raw, out));
    expect(message).toBe(
      `${out} was prepared from ${await fs.realpath(a.raw)}, but --raw is ${await fs.realpath(b.raw)} (la); ` +
        'prepare never mixes two raw folders in one dataset, so nothing was written. Prepare into a new --out, ' +
        `or pass --force to rebuild ${out} from ${await fs.realpath(b.raw)} (the 4 case(s) prepared there are removed first)`,
    );
    expect(await snapshot(out)).toEqual(before);

    const rebuilt = await la(b.raw, out, { force: true });
    expect(rebuilt.prepared).toEqual([...b.ids.train, ...b.ids.test]);
    const after = readJsonSync(path.join(out, 'dataset.json'));
    expect(listed(after)).toEqual([...b.ids.train, ...b.ids.test]);
    expect(after.ssmis.rawSource).toBe(await fs.realpath(b.raw));
    // The cases only raw-a had are gone with their records; nothing of raw-a is left.
    const images = (await fs.readdir(path.join(out, 'imagesTr'))).sort();
    expect(images).toEqual([...b.ids.train, ...b.ids.test].map((id) => `${id}_0000.nii.gz`).sort());
    expect((await fs.readdir(path.join(out, '.prepare'))).length).toBe(2);
    expect((await validateDataset(out)).problems).toEqual([]);
    // The same raw folder again, through another spelling of its path: incremental, nothing to do.
    const again = await la(path.join(b.raw, '.', '..', 'raw-b'), out);
    expect(again.skipped.length).toBe(2);
  });

  it('a changed raw case is prepared again, not skipped; dataset.json is consistent at every step', async () => {
    const a = await raw('raw-change', 3, 3);
    const other = await raw('raw-other', 3, 4);
    const out = path.join(dir, 'ds-change');
    await la(a.raw, out);
    const [changed, kept] = a.ids.train;
    const before = readJsonSync(path.join(out, 'dataset.json'));
    const keptImage = await fs.readFile(path.join(out, 'imagesTr', `${kept}_0000.nii.gz`));
    // The user replaces one case's raw files (another phantom with the same id).
    for (const f of ['lgemri.nrrd', 'laendo.nrrd']) {
      await fs.copyFile(
        path.join(other.raw, 'Training Set', changed, f),
        path.join(a.raw, 'Training Set', changed, f),
      );
    }
    const statuses: string[] = [];
    const res = await la(a.raw, out, {
      onCase: (e) => {
        statuses.push(`${e.case} ${e.status}`);
        expectConsistent(out);
        // The stale version of the changed case is never listed while its files change.
        if (e.case !== changed || e.status !== 'prepared') {
          expect(listed(readJsonSync(path.join(out, 'dataset.json')))).not.toContain(changed);
        }
      },
    });
    expect(res.prepared).toEqual([changed]);
    expect(res.skipped).toEqual([kept, a.ids.test[0]]);
    expect(statuses).toContain(`${changed} prepared`);
    const after = readJsonSync(path.join(out, 'dataset.json'));
    expect(listed(after)).toEqual(listed(before));
    expect(after.cases[changed].fingerprint).not.toBe(before.cases[changed].fingerprint);
    expect(after.cases[kept].fingerprint).toBe(before.cases[kept].fingerprint);
    expect(await fs.readFile(path.join(out, 'imagesTr', `${kept}_0000.nii.gz`))).toEqual(keptImage);
    expectConsistent(out);
    expect((await validateDataset(out)).problems).toEqual([]);
  });

  it('a change that keeps size and mtime is still found; a case that now fails is removed, not kept stale', async () => {
    const a = await raw('raw-corrupt', 3, 5);
    const out = path.join(dir, 'ds-corrupt');
    await la(a.raw, out);
    const victim = a.ids.test[0];
    const file = path.join(a.raw, 'Training Set', victim, 'lgemri.nrrd');
    const { atime, mtime } = await fs.stat(file);
    const bytes = await fs.readFile(file);
    bytes[bytes.length - 20] ^= 0xff; // same size, corrupt gzip data
    await fs.writeFile(file, bytes);
    await fs.utimes(file, atime, mtime);
    const res = await la(a.raw, out);
    expect(res.skipped).toEqual(a.ids.train);
    expect(res.failed.map((f) => f.case)).toEqual([victim]);
    const json = readJsonSync(path.join(out, 'dataset.json'));
    expect(listed(json)).toEqual(a.ids.train);
    await expect(fs.access(path.join(out, 'imagesTr', `${victim}_0000.nii.gz`))).rejects.toThrow();
    await expect(fs.access(path.join(out, '.prepare', `${victim}.json`))).rejects.toThrow();
    expectConsistent(out);
    expect((await validateDataset(out)).problems).toEqual([]);
  });

  it('changed parameters (--min-size) prepare the cases again', async () => {
    const a = await raw('raw-params', 2, 6);
    const out = path.join(dir, 'ds-params');
    await la(a.raw, out);
    expect((await la(a.raw, out, { minSize: [16, 16, 16] })).skipped.length).toBe(2);
    expect((await la(a.raw, out, { minSize: 20 })).prepared.length).toBe(2);
  });
});

describe('prepare writes only into an empty folder or one it made', () => {
  it('a folder with other files, or an nnU-Net dataset.json, is refused even with --force', async () => {
    const a = await raw('raw-foreign', 2, 7);
    const thesis = path.join(dir, 'thesis');
    await fs.mkdir(path.join(thesis, 'imagesTr'), { recursive: true });
    await fs.writeFile(path.join(thesis, 'chapter1.tex'), 'results');
    await fs.writeFile(path.join(thesis, 'imagesTr', `${a.ids.train[0]}_0000.nii.gz`), 'my own scan');
    const before = await snapshot(thesis);
    for (const force of [false, true]) {
      expect(await refusal(la(a.raw, thesis, { force }))).toBe(
        `${thesis}: not empty and not a dataset folder made by ssmis prepare (no dataset.json, no .prepare/); ` +
          'prepare writes only into an empty folder or one it made, so nothing was written. Choose another --out',
      );
      expect(await snapshot(thesis)).toEqual(before);
    }
    const nnunet = path.join(dir, 'nnunet');
    await fs.mkdir(nnunet);
    await fs.writeFile(path.join(nnunet, 'dataset.json'), JSON.stringify({ name: 'mine', labels: {} }));
    const nnBefore = await snapshot(nnunet);
    expect(await refusal(la(a.raw, nnunet, { force: true }))).toContain(
      `${path.join(nnunet, 'dataset.json')}: not made by ssmis prepare`,
    );
    expect(await snapshot(nnunet)).toEqual(nnBefore);
  });

  it('another dataset, or a folder made before the raw folder was recorded, needs --force', async () => {
    const a = await raw('raw-legacy', 2, 8);
    const out = path.join(dir, 'ds-legacy');
    await la(a.raw, out);
    const acdc = path.join(dir, 'raw-acdc');
    await synthesize({ dataset: 'acdc', out: acdc, cases: 2, size: [24, 24, 4] });
    const before = await snapshot(out);
    expect(await refusal(prepareDataset({ dataset: 'acdc', raw: acdc, out }))).toContain(
      `${out} holds a la dataset, not acdc, but --raw is`,
    );
    expect(await snapshot(out)).toEqual(before);
    // What an older ssmis wrote: no raw folder in dataset.json nor in the records.
    const file = path.join(out, 'dataset.json');
    const json = JSON.parse(await fs.readFile(file, 'utf8'));
    delete json.ssmis.rawSource;
    await fs.writeFile(file, JSON.stringify(json));
    for (const name of await fs.readdir(path.join(out, '.prepare'))) {
      const rf = path.join(out, '.prepare', name);
      const r = JSON.parse(await fs.readFile(rf, 'utf8'));
      delete r.rawSource;
      await fs.writeFile(rf, JSON.stringify(r));
    }
    expect(await refusal(la(a.raw, out))).toContain(
      `${out} does not record its raw folder (prepared by an older ssmis)`,
    );
    expect((await la(a.raw, out, { force: true })).prepared.length).toBe(2);
    expect((await la(a.raw, out)).skipped.length).toBe(2);
  });

  it('orphan temp files of a killed run are removed at the next run; a live writer’s are kept', async () => {
    const a = await raw('raw-orphans', 2, 9);
    const out = path.join(dir, 'ds-orphans');
    await la(a.raw, out);
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    const id = a.ids.train[0];
    const orphans = [
      path.join(out, `dataset.json.tmp-${dead}-0badf00d`),
      path.join(out, 'imagesTr', `${id}_0000.nii.gz.tmp-${dead}-deadbeef`),
      path.join(out, 'labelsTr', `${id}.nii.gz.tmp-${dead}-00c0ffee`),
      path.join(out, '.prepare', `${id}.json.tmp-${dead}-12345678`),
    ];
    const live = path.join(out, 'imagesTr', `${id}_0000.nii.gz.tmp-${process.pid}-abcdef01`);
    const userFile = path.join(out, 'imagesTr', 'notes.tmp-1-xyz');
    for (const f of [...orphans, live, userFile]) await fs.writeFile(f, 'partial');
    const res = await la(a.raw, out);
    expect(res.skipped.length).toBe(2);
    for (const f of orphans) await expect(fs.access(f)).rejects.toThrow();
    expect(await fs.readFile(live, 'utf8')).toBe('partial');
    expect(await fs.readFile(userFile, 'utf8')).toBe('partial');
  });
});

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as dataset from '../../src/data/dataset.js';
import { openDataset, validateDataset } from '../../src/data/dataset.js';
import * as datasetCases from '../../src/data/dataset-cases.js';
import * as datasetJson from '../../src/data/dataset-json.js';
import * as datasetValidate from '../../src/data/dataset-validate.js';
import { volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import type { Affine } from '../../src/io/volume.js';

const SHAPE = [4, 3, 2];
const N = 24;
const AFFINE: Affine = [
  [0.5, 0, 0, -10],
  [0, 0.75, 0, 5],
  [0, 0, 2, 1],
  [0, 0, 0, 1],
];

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-dataset-'));
  roots.push(dir);
  return dir;
}

function shifted(dx: number): Affine {
  return AFFINE.map((row, r) => row.map((v, c) => (r === 0 && c === 3 ? v + dx : v)));
}

async function writeImage(
  dir: string,
  id: string,
  channel: number,
  data: Float32Array,
  shape = SHAPE,
  affine = AFFINE,
): Promise<void> {
  const file = path.join(dir, 'imagesTr', `${id}_${String(channel).padStart(4, '0')}.nii.gz`);
  await writeNifti(file, volumeFromArray(data, shape, { affine }), { datatype: 'float32' });
}

async function writeLabel(dir: string, id: string, data: Uint8Array, shape = SHAPE, affine = AFFINE) {
  await writeNifti(path.join(dir, 'labelsTr', `${id}.nii.gz`), volumeFromArray(data, shape, { affine }), {
    datatype: 'uint8',
  });
}

/** Image value of case index ci, channel c, voxel v (row-major over SHAPE). */
const imageValue = (ci: number, c: number, v: number) => c * 1000 + ci * 100 + v;
const labelValue = (v: number) => v % 3;

interface BuildOptions {
  ids?: string[];
  channels?: number;
  json?: Record<string, unknown>;
}

/** A canonical folder: 2 channels, labels 0/1/2, cases c0..c4 (train c0–c2, val c3, test c4). */
async function build(options: BuildOptions = {}): Promise<string> {
  const dir = await tempDir();
  const ids = options.ids ?? ['c0', 'c1', 'c2', 'c3', 'c4'];
  const channels = options.channels ?? 2;
  for (let ci = 0; ci < ids.length; ci++) {
    for (let c = 0; c < channels; c++) {
      await writeImage(
        dir,
        ids[ci],
        c,
        Float32Array.from({ length: N }, (_, v) => imageValue(ci, c, v)),
      );
    }
    await writeLabel(
      dir,
      ids[ci],
      Uint8Array.from({ length: N }, (_, v) => labelValue(v)),
    );
  }
  const json = {
    name: 'Test',
    preset: 'custom',
    dims: 3,
    channel_names: Object.fromEntries(Array.from({ length: channels }, (_, c) => [String(c), `ch${c}`])),
    labels: { background: 0, a: 1, b: 2 },
    file_ending: '.nii.gz',
    numTraining: ids.length,
    splits: { train: ids.slice(0, 3), val: ids.slice(3, 4), test: ids.slice(4) },
    labeledUnit: 'case',
    ssmis: { formatVersion: 1, createdBy: 'test', createdAt: '2025-01-01T00:00:00Z' },
    ...options.json,
  };
  await fs.writeFile(path.join(dir, 'dataset.json'), JSON.stringify(json, null, 2));
  return dir;
}

describe('openDataset / loadCase', () => {
  it('loads channels interleaved last, the label, shape, spacing and affine', async () => {
    const ds = await openDataset(await build());
    expect(ds.info.channelNames).toEqual(['ch0', 'ch1']);
    expect(ds.info.numClasses).toBe(3);
    expect(ds.ids('train')).toEqual(['c0', 'c1', 'c2']);
    expect(ds.ids('val')).toEqual(['c3']);
    const c = await ds.loadCase('c1');
    expect(c.shape).toEqual([4, 3, 2]);
    expect(c.channels).toBe(2);
    expect(c.image).toBeInstanceOf(Float32Array);
    expect(c.label).toBeInstanceOf(Uint8Array);
    for (let v = 0; v < N; v++) {
      expect(c.image[2 * v]).toBe(imageValue(1, 0, v));
      expect(c.image[2 * v + 1]).toBe(imageValue(1, 1, v));
      expect(c.label[v]).toBe(labelValue(v));
    }
    expect(c.spacing).toEqual([0.5, 0.75, 2]);
    for (let r = 0; r < 4; r++)
      for (let k = 0; k < 4; k++) expect(c.affine[r][k]).toBeCloseTo(AFFINE[r][k], 5);
    expect(c.imageVolume.shape).toEqual([4, 3, 2]);
    expect(c.imageVolume.data[5]).toBe(imageValue(1, 0, 5));
    expect(await ds.caseShape('c2')).toEqual([4, 3, 2]);
  });

  it('keeps at most cacheSize cases, least recently used evicted first', async () => {
    const ds = await openDataset(await build(), { cacheSize: 2 });
    const a = await ds.loadCase('c0');
    await ds.loadCase('c1');
    await ds.loadCase('c2');
    expect(ds.cacheStats()).toMatchObject({ capacity: 2, size: 2, hits: 0, misses: 3, ids: ['c1', 'c2'] });
    const b1 = await ds.loadCase('c1');
    expect(ds.cacheStats()).toMatchObject({ hits: 1, ids: ['c2', 'c1'] });
    expect(await ds.loadCase('c1')).toBe(b1);
    const a2 = await ds.loadCase('c0'); // evicted earlier → read again, evicts c2
    expect(a2).not.toBe(a);
    expect(ds.cacheStats()).toMatchObject({ misses: 4, ids: ['c1', 'c0'] });
    const none = await openDataset(ds.dir, { cacheSize: 0 });
    await none.loadCase('c0');
    await none.loadCase('c0');
    expect(none.cacheStats()).toMatchObject({ size: 0, hits: 0, misses: 2 });
  });

  it('labeled = first N of train, by count or floored percent (at least one); unlabeled = the rest', async () => {
    const ds = await openDataset(await build());
    expect(ds.labeledIds(2)).toEqual(['c0', 'c1']);
    expect(ds.unlabeledIds(2)).toEqual(['c2']);
    expect(ds.labeledIds({ count: 1 })).toEqual(['c0']);
    expect(ds.labeledIds({ percent: 70 })).toEqual(['c0', 'c1']); // 2.1 → 2
    expect(() => ds.labeledIds(4)).toThrow(
      'data.labeled.count: expected at most 3 (the size of the train split), got 4',
    );
    // 10 % of 3 floors to 0: one case, as the config's rule always gave (the dataset used to refuse it).
    expect(ds.labeledIds({ percent: 10 })).toEqual(['c0']);
  });

  it('ACDC: labeledUnit patient labels all volumes of the first N patients', async () => {
    const ids = ['p1_f1', 'p1_f2', 'p2_f1', 'p2_f2', 'p3_f1', 'p3_f2', 'p4_f1', 'p4_f2'];
    const patientOf = Object.fromEntries(ids.map((id) => [id, id.slice(0, 2)]));
    const dir = await build({
      ids,
      channels: 1,
      json: {
        preset: 'acdc',
        dims: 2,
        labeledUnit: 'patient',
        patientOf,
        splits: { train: ids.slice(0, 6), val: ids.slice(6), test: [] },
      },
    });
    const ds = await openDataset(dir);
    expect(ds.info.dims).toBe(2);
    expect(ds.trainUnits()).toEqual(['p1', 'p2', 'p3']);
    expect(ds.labeledIds(1)).toEqual(['p1_f1', 'p1_f2']);
    expect(ds.labeledIds(2)).toEqual(['p1_f1', 'p1_f2', 'p2_f1', 'p2_f2']);
    expect(ds.labeledIds({ percent: 50 })).toEqual(['p1_f1', 'p1_f2']); // 1.5 patients → 1
    expect(ds.unlabeledIds(1)).toEqual(['p2_f1', 'p2_f2', 'p3_f1', 'p3_f2']);
    expect(() => ds.labeledIds(4)).toThrow(
      'data.labeled.count: expected at most 3 (the number of patients in the train split), got 4',
    );
  });
});

describe('dataset errors name the file, field or case', () => {
  it('missing image channel or label file', async () => {
    const dir = await build();
    await fs.rm(path.join(dir, 'imagesTr', 'c1_0001.nii.gz'));
    await fs.rm(path.join(dir, 'labelsTr', 'c2.nii.gz'));
    const ds = await openDataset(dir);
    await expect(ds.loadCase('c1')).rejects.toThrow(
      /case c1: image file imagesTr\/c1_0001\.nii\.gz not found/,
    );
    await expect(ds.loadCase('c2')).rejects.toThrow(/case c2: label file labelsTr\/c2\.nii\.gz not found/);
    await expect(ds.loadCase('nope')).rejects.toThrow(/case nope: no image imagesTr\/nope_0000\.nii\.gz/);
    // A failed load is not cached.
    expect(ds.cacheStats().ids).toEqual([]);
  });

  it('channel files with different shapes or affines', async () => {
    const dir = await build();
    await writeImage(dir, 'c1', 1, new Float32Array(36), [4, 3, 3]);
    await writeImage(dir, 'c2', 1, new Float32Array(N), SHAPE, shifted(0.5));
    const ds = await openDataset(dir);
    await expect(ds.loadCase('c1')).rejects.toThrow(
      /case c1: channel file imagesTr\/c1_0001\.nii\.gz has shape \[4, 3, 3\] but imagesTr\/c1_0000\.nii\.gz has \[4, 3, 2\]/,
    );
    await expect(ds.loadCase('c2')).rejects.toThrow(
      /case c2: channel file imagesTr\/c2_0001\.nii\.gz has a different affine/,
    );
  });

  it('image/label shape or affine mismatch (tolerance 1e-3 mm)', async () => {
    const dir = await build();
    await writeLabel(dir, 'c0', new Uint8Array(36), [4, 3, 3]);
    await writeLabel(dir, 'c1', new Uint8Array(N), SHAPE, shifted(0.01));
    await writeLabel(dir, 'c2', new Uint8Array(N), SHAPE, shifted(0.0005));
    const ds = await openDataset(dir);
    await expect(ds.loadCase('c0')).rejects.toThrow(
      /case c0: label labelsTr\/c0\.nii\.gz has shape \[4, 3, 3\] but image imagesTr\/c0_0000\.nii\.gz has \[4, 3, 2\]/,
    );
    await expect(ds.loadCase('c1')).rejects.toThrow(
      /case c1: label labelsTr\/c1\.nii\.gz and image imagesTr\/c1_0000\.nii\.gz have different affines \(max difference 0\.0100 mm/,
    );
    await expect(ds.loadCase('c2')).resolves.toMatchObject({ id: 'c2' });
  });

  it('label values outside dataset.json labels', async () => {
    const dir = await build();
    const bad = Uint8Array.from({ length: N }, (_, v) => labelValue(v));
    bad[7] = 7;
    await writeLabel(dir, 'c1', bad);
    const ds = await openDataset(dir);
    await expect(ds.loadCase('c1')).rejects.toThrow(
      /case c1: label labelsTr\/c1\.nii\.gz has value 7 \(1 voxels\) not among the dataset\.json labels \[0, 1, 2\]/,
    );
  });

  it('label values: float-stored integers are class ids, a fractional value is refused (the one label-value rule)', async () => {
    const dir = await build();
    const integral = Float32Array.from({ length: N }, (_, v) => labelValue(v));
    await writeNifti(
      path.join(dir, 'labelsTr', 'c1.nii.gz'),
      volumeFromArray(integral, SHAPE, { affine: AFFINE }),
    );
    const near = Float32Array.from(integral);
    near[4] = 0.9995; // rounding would make it 1; the rule refuses it
    await writeNifti(
      path.join(dir, 'labelsTr', 'c2.nii.gz'),
      volumeFromArray(near, SHAPE, { affine: AFFINE }),
    );
    const ds = await openDataset(dir);
    const c1 = await ds.loadCase('c1');
    expect([...c1.label]).toEqual(Array.from({ length: N }, (_, v) => labelValue(v)));
    await expect(ds.loadCase('c2')).rejects.toThrow(
      /case c2: label labelsTr\/c2\.nii\.gz has value 0\.99949\d* \(1 voxels\) that is not an integer class id/,
    );
  });

  it('NaN or Inf image voxels, with the channel file and voxel', async () => {
    const dir = await build();
    const nan = new Float32Array(N);
    nan[(1 * 3 + 2) * 2 + 0] = Number.NaN;
    await writeImage(dir, 'c1', 1, nan);
    const inf = new Float32Array(N);
    inf[3] = Number.POSITIVE_INFINITY;
    await writeImage(dir, 'c2', 0, inf);
    const ds = await openDataset(dir);
    await expect(ds.loadCase('c1')).rejects.toThrow(
      /case c1: image imagesTr\/c1_0001\.nii\.gz has a non-finite value \(NaN\) at voxel \(1, 2, 0\)/,
    );
    await expect(ds.loadCase('c2')).rejects.toThrow(
      /case c2: image imagesTr\/c2_0000\.nii\.gz has a non-finite value \(Infinity\) at voxel \(0, 1, 1\)/,
    );
  });

  it('a split id not present in imagesTr', async () => {
    const dir = await build({ json: { splits: { train: ['c0', 'ghost', 'c1'], val: [], test: ['c4'] } } });
    await expect(openDataset(dir)).rejects.toThrow(
      /dataset\.json: field "splits\.train": 1 case\(s\) not present in imagesTr: "ghost" \(imagesTr\/ghost_0000\.nii\.gz\)/,
    );
  });

  it('dataset.json problems: missing file, bad field, overlapping splits, labels, patientOf', async () => {
    const empty = await tempDir();
    await expect(openDataset(empty)).rejects.toThrow(/dataset\.json: not found/);
    const badField = await build({ json: { labels: { background: 0, a: 'x' } } });
    await expect(openDataset(badField)).rejects.toThrow(/dataset\.json: field "labels\.a": .*found "x"/);
    const noTrain = await build({ json: { splits: { val: [] } } });
    await expect(openDataset(noTrain)).rejects.toThrow(/field "splits\.train": .*found nothing/);
    const overlap = await build({ json: { splits: { train: ['c0', 'c3'], val: ['c3'], test: [] } } });
    await expect(openDataset(overlap)).rejects.toThrow(
      /field "splits\.val": case "c3" is also in splits\.train/,
    );
    const gaps = await build({ json: { labels: { background: 0, a: 1, b: 4 } } });
    await expect(openDataset(gaps)).rejects.toThrow(/field "labels": expected consecutive values 0\.\.2/);
    const noPatients = await build({ json: { labeledUnit: 'patient' } });
    await expect(openDataset(noPatients)).rejects.toThrow(
      /field "patientOf": required when labeledUnit is "patient"/,
    );
    const newer = await build({ json: { ssmis: { formatVersion: 9, createdBy: 'x', createdAt: 'y' } } });
    await expect(openDataset(newer)).rejects.toThrow(/field "ssmis\.formatVersion": format 9 is newer/);
  });
});

describe('validateDataset', () => {
  it('checks every case and collects every problem', async () => {
    const dir = await build({ json: { numTraining: 9 } });
    await fs.rm(path.join(dir, 'labelsTr', 'c3.nii.gz'));
    const bad = new Uint8Array(N);
    bad[0] = 5;
    await writeLabel(dir, 'c4', bad);
    // An image without a label that no split lists is an unlabeled case: checked too.
    await writeImage(dir, 'extra', 0, new Float32Array(N));
    await writeImage(dir, 'extra', 1, new Float32Array(N));
    const report = await validateDataset(dir);
    expect(report.ok).toBe(false);
    expect(report.checked).toBe(6);
    expect(report.unlisted).toEqual(['extra']);
    expect(report.unlabeled).toEqual(['extra']);
    expect(report.problems.map((p) => p.id)).toEqual([null, 'c3', 'c4']);
    expect(report.problems[0].message).toMatch(/"numTraining" is 9 but imagesTr holds 6 cases/);
    expect(report.problems[1].message).toMatch(/case c3: label file/);
    expect(report.problems[2].message).toMatch(/case c4: label .* has value 5/);
  });

  it('passes a clean folder', async () => {
    const report = await validateDataset(await build());
    expect(report).toMatchObject({
      ok: true,
      checked: 5,
      problems: [],
      unlisted: [],
      unlabeled: [],
      splits: { train: 3, val: 1, test: 1, source: 'dataset.json' },
      notes: [],
    });
  });
});

describe('dataset.ts re-exports the files it was split into', () => {
  it('the dataset.json schema and parsing, case loading, and validation', () => {
    expect(Object.keys(dataset).sort()).toEqual(
      [
        'DATASET_FORMAT_VERSION',
        'MAX_DATASET_JSON_BYTES',
        'datasetJsonSchema',
        'openDataset',
        'parseDatasetJson',
        'validateDataset',
      ].sort(),
    );
    expect(dataset.parseDatasetJson).toBe(datasetJson.parseDatasetJson);
    expect(dataset.openDataset).toBe(datasetCases.openDataset);
    expect(dataset.validateDataset).toBe(datasetValidate.validateDataset);
  });
});

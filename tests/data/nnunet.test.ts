import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/index.js';
import { openDataset, validateDataset } from '../../src/data/dataset.js';
import { openConfigDataset } from '../../src/data/from-config.js';
import { RUN_SPLITS_FILE, readRunSplits, seededSplit, writeRunSplits } from '../../src/data/nnunet.js';
import { planData } from '../../src/train/plan.js';
import { tinyLaDataset } from '../helpers/synthetic.js';
import { snapshot, writeNnunetCase, writeNnunetFolder } from './nnunet-folder.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-nnunet-'));
  roots.push(dir);
  return dir;
}

const SMALL: [number, number, number] = [6, 5, 4];
const LABELED = [
  'la_001',
  'la_002',
  'la_003',
  'la_004',
  'la_005',
  'la_006',
  'la_007',
  'la_008',
  'la_009',
  'la_010',
];

/** A small folder: 10 labeled + 2 unlabeled imagesTr cases, imagesTs with one labeled and one unlabeled case. */
async function small(options: Parameters<typeof writeNnunetFolder>[1] = {}): Promise<string> {
  return writeNnunetFolder(await tempDir(), { shape: SMALL, labeled: LABELED, ...options });
}

describe('an nnU-Net v2 raw folder as its documentation describes it', () => {
  it('opens unchanged: name from the folder, a seeded split, imagesTs as test, label-less images unlabeled', async () => {
    const dir = await small();
    const before = await snapshot(dir);
    const ds = await openDataset(dir);
    expect(ds.info.name).toBe('Dataset001_LA');
    expect(ds.info.ownSplits).toBe(false);
    expect(ds.info.channelNames).toEqual(['MRI']);
    expect(ds.info.labels).toEqual({ background: 0, LA: 1 });
    // imagesTs exists: test = its labeled cases; train/val = 80/20 of the 10 labeled imagesTr cases.
    expect(ds.ids('test')).toEqual(['ts_001']);
    expect(ds.ids('val')).toHaveLength(2);
    expect(ds.ids('train')).toHaveLength(8);
    expect(new Set([...ds.ids('train'), ...ds.ids('val')])).toEqual(new Set(LABELED));
    expect(ds.info.splitSource).toMatch(
      /seeded split of the labeled imagesTr cases \(seed 0, val 0\.2, test = labeled imagesTs\)/,
    );
    expect(ds.imageOnlyIds()).toEqual(['la_101', 'la_102']);
    const labeled = ds.labeledIds({ count: 3 });
    expect(labeled).toEqual(ds.ids('train').slice(0, 3));
    expect(ds.unlabeledIds({ count: 3 })).toEqual([...ds.ids('train').slice(3), 'la_101', 'la_102']);
    expect(ds.notes).toHaveLength(1);
    expect(ds.notes[0]).toMatch(
      /imagesTs: 1 case\(s\) without a label in labelsTs \(ts_002\) are not in the test split: they can be predicted/,
    );

    const u = await ds.loadCase('la_101');
    expect(u.labeled).toBe(false);
    expect(u.label.every((v) => v === 0)).toBe(true);
    expect(u.shape).toEqual(SMALL);
    const l = await ds.loadCase('la_001');
    expect(l.labeled).toBe(true);
    expect(l.label.some((v) => v === 1)).toBe(true);
    const t = await ds.loadCase('ts_001');
    expect(t.labeled).toBe(true);
    expect(ds.imagePath('ts_001')).toBe(path.join(dir, 'imagesTs', 'ts_001_0000.nii.gz'));
    expect(ds.labelPath('ts_001')).toBe(path.join(dir, 'labelsTs', 'ts_001.nii.gz'));
    await expect(ds.loadCase('ts_002')).rejects.toThrow(
      'case ts_002: label file labelsTs/ts_002.nii.gz not found in ' +
        `${dir} (an imagesTs case without a label can be predicted with \`ssmis predict\`, not evaluated)`,
    );

    const report = await validateDataset(dir);
    expect(report).toMatchObject({
      ok: true,
      problems: [],
      checked: 8 + 2 + 1 + 2,
      unlabeled: ['la_101', 'la_102'],
      splits: { train: 8, val: 2, test: 1 },
    });
    expect(report.notes).toEqual(ds.notes);
    // Nothing in the folder was written or changed.
    expect(await snapshot(dir)).toEqual(before);
  });

  it('numTraining may count the imagesTr images or only those with a label; another count is a problem', async () => {
    const labeledOnly = await small({
      json: {
        channel_names: { '0': 'MRI' },
        labels: { background: 0, LA: 1 },
        numTraining: 10,
        file_ending: '.nii.gz',
      },
    });
    expect((await validateDataset(labeledOnly)).ok).toBe(true);
    const wrong = await small({
      json: {
        channel_names: { '0': 'MRI' },
        labels: { background: 0, LA: 1 },
        numTraining: 7,
        file_ending: '.nii.gz',
      },
    });
    const report = await validateDataset(wrong);
    expect(report.problems[0].message).toBe(
      'dataset.json: field "numTraining" is 7 but imagesTr holds 12 cases (10 with a label)',
    );
  });

  it('file_ending .nii works; another ending is refused in one line naming the field and the value', async () => {
    const nii = await writeNnunetFolder(await tempDir(), { shape: SMALL, ending: '.nii' });
    const ds = await openDataset(nii);
    expect(ds.info.fileEnding).toBe('.nii');
    expect((await ds.loadCase(ds.ids('train')[0])).labeled).toBe(true);
    for (const ending of ['.nrrd', '.mha', '.png']) {
      const dir = await small({
        json: {
          channel_names: { '0': 'MRI' },
          labels: { background: 0, LA: 1 },
          numTraining: 12,
          file_ending: ending,
        },
      });
      await expect(openDataset(dir)).rejects.toThrow(
        `${path.join(dir, 'dataset.json')}: field "file_ending": "${ending}" is not supported; ssmis reads NIfTI images only (".nii.gz" or ".nii"): convert the images and labels to NIfTI`,
      );
    }
  });

  it('region-based labels and the ignore label are refused naming the label', async () => {
    const regions = await small({
      json: {
        channel_names: { '0': 'FLAIR' },
        labels: { background: 0, whole_tumor: [1, 2, 3], tumor_core: [2, 3] },
        regions_class_order: [1, 2],
        numTraining: 12,
        file_ending: '.nii.gz',
      },
    });
    await expect(openDataset(regions)).rejects.toThrow(
      `${path.join(regions, 'dataset.json')}: field "labels.whole_tumor": region-based labels (a list of values, found [1,2,3]) are not supported; ssmis trains one class per label value: map each name to one integer`,
    );
    const ignore = await small({
      json: {
        channel_names: { '0': 'MRI' },
        labels: { background: 0, LA: 1, ignore: 2 },
        numTraining: 12,
        file_ending: '.nii.gz',
      },
    });
    await expect(openDataset(ignore)).rejects.toThrow(
      /field "labels\.ignore": nnU-Net's ignore label \(found 2\) is not supported/,
    );
  });

  it('overwrite_image_reader_writer and other nnU-Net keys are accepted', async () => {
    const dir = await small({
      json: {
        channel_names: { '0': 'MRI' },
        labels: { background: 0, LA: 1 },
        numTraining: 12,
        file_ending: '.nii.gz',
        overwrite_image_reader_writer: 'NibabelIOWithReorient',
        name: 'LeftAtrium',
        licence: 'CC-BY-SA 4.0',
      },
    });
    expect((await openDataset(dir)).info.name).toBe('LeftAtrium');
  });
});

describe('the split of a dataset.json without splits', () => {
  it('seededSplit: the same for the same ids in any order, another for another seed; fractions rounded', () => {
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const a = seededSplit(ids, { seed: 3, val: 0.2, test: 0.1 });
    expect(seededSplit([...ids].reverse(), { seed: 3, val: 0.2, test: 0.1 })).toEqual(a);
    expect(a.train).toHaveLength(14);
    expect(a.val).toHaveLength(4);
    expect(a.test).toHaveLength(2);
    expect(new Set([...a.train, ...a.val, ...a.test]).size).toBe(20);
    expect(seededSplit(ids, { seed: 4, val: 0.2, test: 0.1 })).not.toEqual(a);
    expect(() => seededSplit(['x', 'y'], { seed: 0, val: 0.5, test: 0.5 })).toThrow(
      'data.autoSplit: 2 labeled case(s) leave none for training with val 0.5 and test 0.5; lower the fractions or add labeled cases',
    );
  });

  it('without imagesTs the test fraction holds out labeled imagesTr cases', async () => {
    const dir = await small({ testLabeled: [], testUnlabeled: [] });
    await fs.rm(path.join(dir, 'imagesTs'), { recursive: true, force: true });
    const ds = await openDataset(dir, { autoSplit: { seed: 7, val: 0.2, test: 0.3, fold: 0 } });
    expect([ds.ids('train').length, ds.ids('val').length, ds.ids('test').length]).toEqual([5, 2, 3]);
    const again = await openDataset(dir, { autoSplit: { seed: 7, val: 0.2, test: 0.3, fold: 0 } });
    for (const split of ['train', 'val', 'test'] as const) expect(again.ids(split)).toEqual(ds.ids(split));
    expect(ds.notes).toEqual([]);
  });

  it("nnU-Net's splits_final.json: fold N gives train and val, imagesTs the test; errors name file and fold", async () => {
    const dir = await small();
    const file = path.join(await tempDir(), 'splits_final.json');
    const folds = [
      { train: LABELED.slice(2), val: LABELED.slice(0, 2) },
      { train: [...LABELED.slice(0, 2), ...LABELED.slice(4)], val: LABELED.slice(2, 4) },
    ];
    await fs.writeFile(file, JSON.stringify(folds));
    const ds = await openDataset(dir, {
      autoSplit: { seed: 0, val: 0.2, test: 0.2, nnunetSplits: file, fold: 1 },
    });
    expect(ds.ids('train')).toEqual(folds[1].train);
    expect(ds.ids('val')).toEqual(folds[1].val);
    expect(ds.ids('test')).toEqual(['ts_001']);
    expect(ds.info.splitSource).toBe(`nnU-Net ${file} fold 1, test = labeled imagesTs`);
    await expect(
      openDataset(dir, { autoSplit: { seed: 0, val: 0.2, test: 0.2, nnunetSplits: file, fold: 2 } }),
    ).rejects.toThrow(`data.autoSplit.fold: 2 is not a fold of ${file} (it has folds 0..1)`);
    await fs.writeFile(file, JSON.stringify([{ train: ['la_001', 'la_101'], val: ['la_002'] }]));
    await expect(
      openDataset(dir, { autoSplit: { seed: 0, val: 0.2, test: 0.2, nnunetSplits: file, fold: 0 } }),
    ).rejects.toThrow(`${file} fold 0: train case "la_101" has no label file in imagesTr/labelsTr of ${dir}`);
    await fs.writeFile(file, JSON.stringify({ train: [] }));
    await expect(
      openDataset(dir, { autoSplit: { seed: 0, val: 0.2, test: 0.2, nnunetSplits: file, fold: 0 } }),
    ).rejects.toThrow(
      `${file}: expected nnU-Net's splits_final.json, a list of folds {"train": [...], "val": [...]}`,
    );
  });

  it("a run folder's splits.json is written for a made split and read back after the folder gained cases", async () => {
    const dir = await small();
    const runDir = await tempDir();
    const first = await openDataset(dir);
    expect(await writeRunSplits(runDir, first)).toBe(path.join(runDir, RUN_SPLITS_FILE));
    const record = JSON.parse(await fs.readFile(path.join(runDir, RUN_SPLITS_FILE), 'utf8'));
    expect(record).toMatchObject({
      dataset: dir,
      train: first.ids('train'),
      val: first.ids('val'),
      test: ['ts_001'],
    });
    // The folder gains labeled cases: a fresh split changes, the recorded one does not.
    for (let i = 0; i < 6; i++) {
      await writeNnunetCase(
        path.join(dir, 'imagesTr'),
        path.join(dir, 'labelsTr'),
        `new_${i}`,
        100 + i,
        SMALL,
      );
    }
    const fresh = await openDataset(dir);
    expect(fresh.ids('train')).not.toEqual(first.ids('train'));
    const reused = await openDataset(dir, { runDir });
    for (const split of ['train', 'val', 'test'] as const)
      expect(reused.ids(split)).toEqual(first.ids(split));
    expect(reused.info.splitSource).toMatch(/splits\.json \(seeded split/);
    expect((await readRunSplits(runDir))?.splits.train).toEqual(first.ids('train'));
    // A record is never replaced: the run keeps the split it started with.
    const bytes = await fs.readFile(path.join(runDir, RUN_SPLITS_FILE), 'utf8');
    expect(await writeRunSplits(runDir, fresh)).toBeNull();
    expect(await fs.readFile(path.join(runDir, RUN_SPLITS_FILE), 'utf8')).toBe(bytes);
    // A recorded case that is gone is an error naming the record.
    await fs.rm(path.join(dir, 'labelsTr', `${first.ids('val')[0]}.nii.gz`));
    await expect(openDataset(dir, { runDir })).rejects.toThrow(
      `${path.join(runDir, RUN_SPLITS_FILE)} (${first.info.splitSource}): val case "${first.ids('val')[0]}" has no label file in imagesTr/labelsTr of ${dir}`,
    );
    // A run folder without splits.json: the split is made.
    const made = await openDataset(dir, { runDir: await tempDir() });
    expect(made.ids('train')).toEqual((await openDataset(dir)).ids('train'));
    expect(made.info.splitSource).toMatch(/^seeded split/);
  });

  it('a dataset.json with its own splits needs no record: nothing is written', async () => {
    const dir = await small({
      json: {
        channel_names: { '0': 'MRI' },
        labels: { background: 0, LA: 1 },
        numTraining: 12,
        file_ending: '.nii.gz',
        splits: { train: LABELED.slice(0, 8), val: LABELED.slice(8), test: ['ts_001'] },
      },
    });
    const ds = await openDataset(dir);
    expect(ds.info.splitSource).toBe('dataset.json');
    expect(ds.ids('test')).toEqual(['ts_001']);
    const runDir = await tempDir();
    expect(await writeRunSplits(runDir, ds)).toBeNull();
    expect(await fs.readdir(runDir)).toEqual([]);
  });
});

describe('unlabeled images', () => {
  it('imagesUnlabeled/ is read by default, data.unlabeledDir names another folder; ids must be unique', async () => {
    const dir = await small();
    await writeNnunetCase(path.join(dir, 'imagesUnlabeled'), null, 'u_001', 50, SMALL);
    expect((await openDataset(dir)).imageOnlyIds()).toEqual(['la_101', 'la_102', 'u_001']);
    const other = path.join(await tempDir(), 'more');
    await writeNnunetCase(other, null, 'u_100', 51, SMALL);
    const ds = await openDataset(dir, { unlabeledDir: other });
    expect(ds.imageOnlyIds()).toEqual(['la_101', 'la_102', 'u_100']);
    const c = await ds.loadCase('u_100');
    expect(c.labeled).toBe(false);
    expect(ds.imagePath('u_100')).toBe(path.join(other, 'u_100_0000.nii.gz'));
    await writeNnunetCase(other, null, 'la_001', 52, SMALL);
    await expect(openDataset(dir, { unlabeledDir: other })).rejects.toThrow(
      `case la_001: images in both ${path.join(dir, 'imagesTr')} and ${other}; a case id must be unique across the image folders`,
    );
    await expect(openDataset(dir, { unlabeledDir: path.join(other, 'nope') })).rejects.toThrow(
      `data.unlabeledDir: folder ${path.join(other, 'nope')} does not exist`,
    );
  });
});

describe('config keys data.autoSplit and data.unlabeledDir', () => {
  it('paths resolve against the config file; openConfigDataset passes them on; bad fractions are refused', async () => {
    const dir = await small();
    const root = path.dirname(dir);
    const configDir = path.join(root, 'configs');
    await fs.mkdir(configDir);
    await writeNnunetCase(path.join(root, 'more'), null, 'u_200', 60, SMALL);
    await fs.writeFile(
      path.join(root, 'splits_final.json'),
      JSON.stringify([{ train: LABELED.slice(3), val: LABELED.slice(0, 3) }]),
    );
    const file = path.join(configDir, 'nnunet.yaml');
    await fs.writeFile(
      file,
      [
        'run: { name: n }',
        'data:',
        '  dataset: ../Dataset001_LA',
        '  unlabeledDir: ../more',
        '  autoSplit: { nnunetSplits: ../splits_final.json, fold: 0 }',
        '  patchSize: [16, 16, 16]',
      ].join('\n'),
    );
    const { config } = await loadConfig(file);
    expect(config.data.unlabeledDir).toBe(path.join(root, 'more'));
    expect(config.data.autoSplit).toEqual({
      seed: 0,
      val: 0.2,
      test: 0.2,
      nnunetSplits: path.join(root, 'splits_final.json'),
      fold: 0,
    });
    const ds = await openConfigDataset(config, 0);
    expect(ds.ids('val')).toEqual(LABELED.slice(0, 3));
    expect(ds.imageOnlyIds()).toEqual(['la_101', 'la_102', 'u_200']);
    await fs.writeFile(
      file,
      ['run: { name: n }', 'data: { dataset: ../Dataset001_LA, autoSplit: { val: 0.5, test: 0.5 } }'].join(
        '\n',
      ),
    );
    await expect(loadConfig(file)).rejects.toThrow(/data\.autoSplit: val \+ test must be below 1/);
  });
});

describe('a folder `ssmis prepare` writes is also an nnU-Net v2 raw folder', () => {
  it("its dataset.json has nnU-Net v2's four keys with nnU-Net's types, and the files its names", async () => {
    const { root, dataset } = await tinyLaDataset();
    roots.push(root);
    const json = JSON.parse(await fs.readFile(path.join(dataset, 'dataset.json'), 'utf8'));
    expect(json.channel_names).toEqual({ '0': 'MRI' });
    for (const [name, value] of Object.entries(json.labels)) {
      expect(typeof name).toBe('string');
      expect(Number.isInteger(value)).toBe(true);
    }
    expect(json.labels.background).toBe(0);
    expect(json.file_ending).toBe('.nii.gz');
    const images = (await fs.readdir(path.join(dataset, 'imagesTr'))).filter((f) =>
      f.endsWith('_0000.nii.gz'),
    );
    expect(json.numTraining).toBe(images.length);
    const labels = await fs.readdir(path.join(dataset, 'labelsTr'));
    expect(labels.sort()).toEqual(images.map((f) => f.replace('_0000.nii.gz', '.nii.gz')).sort());
    // Read as nnU-Net v2 reads it (only its four keys): the same cases and labels.
    const nnunetOnly = path.join(root, 'as-nnunet');
    await fs.cp(dataset, nnunetOnly, { recursive: true });
    const { channel_names, labels: names, numTraining, file_ending } = json;
    await fs.writeFile(
      path.join(nnunetOnly, 'dataset.json'),
      JSON.stringify({ channel_names, labels: names, numTraining, file_ending }),
    );
    const report = await validateDataset(nnunetOnly);
    expect(report.ok).toBe(true);
    expect(report.splits.train + report.splits.val + report.splits.test).toBe(images.length);
  });
});

describe('data.splits overrides on a folder with unlabeled images', () => {
  it('images without a label stay unlabeled training cases; listing one in a split is an error', async () => {
    const dir = await small();
    const config = (train: string[]) =>
      parseConfig({
        run: { name: 'n' },
        data: { dataset: dir, splits: { train }, labeled: { count: 2 }, patchSize: [16, 16, 16] },
        train: { validation: { split: 'val' } },
      });
    const plan = await planData(config(LABELED.slice(0, 6)));
    expect(plan.labeledIds).toEqual(LABELED.slice(0, 2));
    expect(plan.unlabeledIds).toEqual([...LABELED.slice(2, 6), 'la_101', 'la_102']);
    await expect(planData(config(['la_001', 'la_101']))).rejects.toThrow(
      `data.splits.train: case "la_101" has no label file (labelsTr/la_101.nii.gz in ${dir}); it is an unlabeled training case, list only labeled cases`,
    );
  });
});

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerPredict } from '../../src/cli/commands/predict.js';
import { readNifti } from '../../src/io/nifti.js';
import { snapshot, writeNnunetCase, writeNnunetFolder } from '../data/nnunet-folder.js';
import { tinyPredictRun } from '../eval/eval-helpers.js';
import { ssmis } from '../helpers/cli.js';
import { runCommand } from './run-command.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true })));
});

/** The case ids of a report's cases.csv (first column), in order. */
async function reportCases(dir: string): Promise<string[]> {
  const lines = (await fs.readFile(path.join(dir, 'cases.csv'), 'utf8')).trim().split('\n').slice(1);
  return [...new Set(lines.map((l) => l.split(',')[0]))];
}

/**
 * A user's first hour with an nnU-Net v2 raw folder, through the built CLI and with no conversion step: validate
 * the config, train, evaluate, predict; the run records its split and its evaluation reads it back.
 */
describe('ssmis on an nnU-Net v2 raw folder as it is', () => {
  it('validate → train (2 iterations, tiny VNet) → eval → predict, with unlabeled cases mixed in and an imagesTs', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-cli-nnunet-'));
    roots.push(root);
    // 8 labeled + 2 label-less imagesTr cases; imagesTs: ts_001 with labelsTs, ts_002 without.
    const dataset = await writeNnunetFolder(root);
    const before = await snapshot(dataset);
    const config = path.join(root, 'nnunet.yaml');
    await fs.writeFile(
      config,
      [
        'run: { name: nn, outputDir: runs }',
        'data:',
        '  dataset: Dataset001_LA',
        '  patchSize: [32, 32, 16]',
        '  labeled: { count: 2 }',
        '  autoSplit: { seed: 1, val: 0.25 }',
        'model: { name: vnet, baseFilters: 2 }',
        'method: { name: cpam-trcm, startRange: valid }',
        'train:',
        '  batch: { labeled: 2, unlabeled: 2 }',
        '  stages: { pretrain: { iterations: 1 }, selftrain: { iterations: 1 } }',
        '  validation: { interval: 1, split: val, strides: [16, 16, 8] }',
        'eval: { patch: [32, 32, 16], strides: [16, 16, 8] }',
      ].join('\n'),
    );

    let r = await ssmis(['validate', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('autoSplit:');

    const runs = path.join(root, 'runs');
    r = await ssmis(['train', '--config', config, '--set', `run.outputDir=${runs}`]);
    expect(r.code, r.stderr).toBe(0);
    // 6 train cases (2 labeled, 4 unlabeled) + the 2 imagesTr images without a label.
    expect(r.stderr).toMatch(/2 labeled, 6 unlabeled cases/);
    expect(r.stdout).toMatch(/Dice/);
    const runDir = path.join(runs, 'nn');
    const record = JSON.parse(await fs.readFile(path.join(runDir, 'splits.json'), 'utf8'));
    expect(record.dataset).toBe(dataset);
    expect(record.train).toHaveLength(6);
    expect(record.val).toHaveLength(2);
    expect(record.test).toEqual(['ts_001']);
    expect(record.source).toMatch(/seeded split .*seed 1, val 0\.25, test = labeled imagesTs/);
    // The final evaluation scored the labeled imagesTs case.
    expect(await reportCases(path.join(runDir, 'eval'))).toEqual(['ts_001']);

    const checkpoint = path.join(runDir, 'checkpoints', 'best.safetensors');
    r = await ssmis(['eval', '--checkpoint', checkpoint, '--json', '--out', path.join(root, 'eval-test')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).numCases).toBe(1);

    // The folder gains labeled cases; evaluating the run's validation split still reads the run's split.
    for (let i = 0; i < 4; i++) {
      await writeNnunetCase(
        path.join(dataset, 'imagesTr'),
        path.join(dataset, 'labelsTr'),
        `la_new${i}`,
        200 + i,
      );
    }
    r = await ssmis([
      'eval',
      '--checkpoint',
      checkpoint,
      '--split',
      'val',
      '--json',
      '--out',
      path.join(root, 'eval-val'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(await reportCases(path.join(root, 'eval-val'))).toEqual(record.val);

    // Predictions carry the label file names, so nnU-Net's evaluate_folder pairs them with labelsTs.
    const pred = path.join(root, 'pred');
    r = await ssmis([
      'predict',
      '--checkpoint',
      checkpoint,
      '--input',
      path.join(dataset, 'imagesTs'),
      '--output',
      pred,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readdir(pred)).sort()).toEqual(['ts_001.nii.gz', 'ts_002.nii.gz']);
    expect(await fs.readdir(path.join(dataset, 'labelsTs'))).toEqual(['ts_001.nii.gz']);
    const [mask, image] = await Promise.all([
      readNifti(path.join(pred, 'ts_001.nii.gz')),
      readNifti(path.join(dataset, 'imagesTs', 'ts_001_0000.nii.gz')),
    ]);
    expect(mask.shape).toEqual(image.shape);
    expect(mask.affine).toEqual(image.affine);

    // Nothing of the original folder was written or changed (only the cases this test added).
    const after = await snapshot(dataset);
    for (const [file, bytes] of before) expect(after.get(file), file).toBe(bytes);
    expect([...after.keys()].filter((f) => !before.has(f)).every((f) => f.includes('la_new'))).toBe(true);
  });

  it('a bad file_ending and region-based labels are refused in one line before any work', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-cli-nnunet-'));
    roots.push(root);
    const dataset = await writeNnunetFolder(root, {
      shape: [8, 8, 8],
      labeled: ['a', 'b'],
      unlabeled: [],
      testLabeled: [],
      testUnlabeled: [],
      json: {
        channel_names: { '0': 'CT' },
        labels: { background: 0, organ: 1 },
        numTraining: 2,
        file_ending: '.mha',
      },
    });
    const args = [
      'train',
      '--config',
      new URL('../../configs/demo.yaml', import.meta.url).pathname,
      '--set',
      `data.dataset=${dataset}`,
      '--set',
      `run.outputDir=${path.join(root, 'runs')}`,
    ];
    // The error line (a backend may print its own warnings before it).
    const errors = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('ssmis:'));
    let r = await ssmis(args);
    expect(r.code).toBe(2);
    expect(errors(r.stderr)).toEqual([
      `ssmis: ${path.join(dataset, 'dataset.json')}: field "file_ending": ".mha" is not supported; ssmis reads NIfTI images only (".nii.gz" or ".nii"): convert the images and labels to NIfTI`,
    ]);
    await fs.writeFile(
      path.join(dataset, 'dataset.json'),
      JSON.stringify({
        channel_names: { '0': 'FLAIR' },
        labels: { background: 0, whole_tumor: [1, 2, 3] },
        regions_class_order: [1],
        numTraining: 2,
        file_ending: '.nii.gz',
      }),
    );
    r = await ssmis(args);
    expect(r.code).toBe(2);
    expect(errors(r.stderr)).toHaveLength(1);
    expect(errors(r.stderr)[0]).toContain('field "labels.whole_tumor": region-based labels');
    await expect(fs.access(path.join(root, 'runs'))).rejects.toThrow();
  });
});

describe('ssmis predict on an nnU-Net folder with file_ending .nii (in process)', () => {
  it("names each mask <case> + the dataset's file_ending", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-cli-nnunet-'));
    roots.push(root);
    const { checkpoint } = await tinyPredictRun(root, 'custom');
    const dataset = await writeNnunetFolder(root, {
      shape: [16, 16, 16],
      labeled: ['a1', 'a2'],
      unlabeled: ['u1'],
      testLabeled: [],
      testUnlabeled: [],
      ending: '.nii',
    });
    const out = path.join(root, 'pred');
    const r = await runCommand(registerPredict, [
      'predict',
      '--checkpoint',
      checkpoint,
      '--input',
      dataset,
      '--output',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readdir(out)).sort()).toEqual(['a1.nii', 'a2.nii', 'u1.nii']);
    expect((await fs.readdir(path.join(dataset, 'labelsTr'))).sort()).toEqual(['a1.nii', 'a2.nii']);
  });
});

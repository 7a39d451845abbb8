import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset } from '../../src/data/dataset.js';
import { type TrainEvent, train } from '../../src/train/train.js';
import { tinyConfig } from '../helpers/synthetic.js';
import { writeNnunetCase, writeNnunetFolder } from './nnunet-folder.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true })));
});

describe("a run's seeded split of an nnU-Net folder", () => {
  it('is written to <run>/splits.json and reused on resume, even after the folder gained cases', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-nnunet-resume-'));
    roots.push(root);
    const dataset = await writeNnunetFolder(root);
    const config = tinyConfig(dataset, path.join(root, 'runs'), {
      data: { dataset, preset: 'custom', autoSplit: { seed: 2, val: 0.25 } },
      train: {
        stages: { pretrain: { iterations: 1 }, selftrain: { iterations: 2 } },
        validation: { interval: 1, split: 'val' },
        checkpointInterval: 1,
      },
    });
    const starts: Extract<TrainEvent, { type: 'start' }>[] = [];
    const onEvent = (e: TrainEvent) => {
      if (e.type === 'start') starts.push(e);
    };
    const first = await train(config, { stopAfterIterations: 2, onEvent });
    expect(first.interrupted).toBe(true);
    const file = path.join(first.runDir, 'splits.json');
    const recorded = await fs.readFile(file, 'utf8');
    const record = JSON.parse(recorded);
    expect(record.val).toHaveLength(2);
    expect(record.test).toEqual(['ts_001']);

    for (let i = 0; i < 4; i++) {
      await writeNnunetCase(
        path.join(dataset, 'imagesTr'),
        path.join(dataset, 'labelsTr'),
        `la_new${i}`,
        300 + i,
      );
    }
    // A split made now would differ: the reuse is what keeps the run on its cases.
    expect((await openDataset(dataset)).ids('train')).not.toEqual(record.train);

    const resumed = await train(config, { resume: true, runDir: first.runDir, onEvent });
    expect(resumed.interrupted).toBe(false);
    expect(starts.map((s) => [s.resumed, s.labeled, s.unlabeled])).toEqual([
      [false, 2, 6],
      [true, 2, 6],
    ]);
    expect(await fs.readFile(file, 'utf8')).toBe(recorded);
  });
});

describe('data.preset on a dataset that prepare did not make', () => {
  it('is refused before any run folder exists: training would see raw intensities, predict normalised ones', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-nnunet-preset-'));
    roots.push(root);
    const dataset = await writeNnunetFolder(root);
    const outputDir = path.join(root, 'runs');
    const config = tinyConfig(dataset, outputDir, {
      data: { dataset, preset: 'la', autoSplit: { seed: 2, val: 0.25 } },
    });
    await expect(train(config)).rejects.toThrow(
      `data.preset: 'la' does not fit ${path.join(dataset, 'dataset.json')}, which has no preset`,
    );
    await expect(fs.readdir(outputDir)).rejects.toThrow(/ENOENT/);
  });

  it('is refused when it names another benchmark than the dataset says', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-nnunet-preset-'));
    roots.push(root);
    const dataset = await writeNnunetFolder(root);
    const file = path.join(dataset, 'dataset.json');
    const json = JSON.parse(await fs.readFile(file, 'utf8'));
    await fs.writeFile(file, JSON.stringify({ ...json, preset: 'acdc' }));
    const config = tinyConfig(dataset, path.join(root, 'runs'), {
      data: { dataset, preset: 'la', autoSplit: { seed: 2, val: 0.25 } },
    });
    await expect(train(config)).rejects.toThrow(
      `which says preset 'acdc'; set data.preset: acdc (or custom)`,
    );
  });
});

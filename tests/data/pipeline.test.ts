import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { BatchLoader, disposeBatch } from '../../src/data/batches.js';
import { openDataset } from '../../src/data/dataset.js';
import { prepareDataset } from '../../src/data/prepare/index.js';
import type { PresetDataset } from '../../src/data/prepare/splits.js';
import { synthesize } from '../../src/data/synth/index.js';
import { Rng } from '../../src/util/rng.js';

/**
 * The data layer's end-to-end check: for each dataset, phantoms in the raw download layout → `prepare` → the canonical
 * folder → a loaded, augmented, sampled batch of the configured shape. The loaders do not know the data is
 * synthetic.
 */
const CASES: Array<{
  dataset: PresetDataset;
  cases: number;
  size: number[];
  minSize?: number[];
  patch: number[];
  labeled: number;
  channels: number[];
  classes: number;
}> = [
  {
    dataset: 'la',
    cases: 6,
    size: [40, 40, 24],
    minSize: [32, 32, 16],
    patch: [32, 32, 16],
    labeled: 2,
    channels: [0],
    classes: 2,
  },
  { dataset: 'acdc', cases: 5, size: [48, 40, 6], patch: [64, 64], labeled: 1, channels: [0], classes: 4 },
  {
    dataset: 'brats2019',
    cases: 5,
    size: [40, 40, 36],
    patch: [16, 16, 16],
    labeled: 2,
    channels: [0],
    classes: 2,
  },
  {
    dataset: 'pancreas-nih',
    cases: 5,
    size: [48, 48, 32],
    minSize: [24, 24, 24],
    patch: [16, 16, 16],
    labeled: 2,
    channels: [0],
    classes: 2,
  },
];

describe.each(CASES.map((c) => [c.dataset, c]))('%s: synth → prepare → batch', (_name, c) => {
  it('gives a training batch of the configured shape', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), `ssmis-data-${c.dataset}-`));
    await synthesize({
      dataset: c.dataset,
      out: path.join(root, 'raw'),
      cases: c.cases,
      seed: 4,
      size: c.size,
    });
    const prepared = await prepareDataset({
      dataset: c.dataset,
      raw: path.join(root, 'raw'),
      out: path.join(root, 'ds'),
      seed: 4,
      minSize: c.minSize,
    });
    expect(prepared.failed).toEqual([]);
    const dataset = await openDataset(path.join(root, 'ds'), { channels: c.channels });
    expect(dataset.info.numClasses).toBe(c.classes);
    const labeledIds = dataset.labeledIds({ count: c.labeled });
    const unlabeledIds = dataset.unlabeledIds({ count: c.labeled });
    expect(unlabeledIds.length).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    const loader = await BatchLoader.create({
      dataset,
      labeledIds,
      unlabeledIds,
      patch: c.patch,
      sampler: { labeledBatch: 2, unlabeledBatch: 2, rng: new Rng(1) },
      rng: new Rng(2),
    });
    const batch = await loader.next();
    expect(batch.labeledImages.shape).toEqual([2, ...c.patch, c.channels.length]);
    expect(batch.labeledLabels.shape).toEqual([2, ...c.patch]);
    expect(batch.labeledLabels.dtype).toBe('int32');
    expect(batch.unlabeledImages?.shape).toEqual([2, ...c.patch, c.channels.length]);
    const labels = await batch.labeledLabels.data();
    expect(Math.max(...labels)).toBeLessThan(c.classes);
    disposeBatch(batch);
    expect(tf.memory().numTensors).toBe(before);
  });
});

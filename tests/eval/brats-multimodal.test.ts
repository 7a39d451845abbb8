/**
 * The shipped `configs/brats2019-10pct-multimodal.yaml` on BraTS phantoms (synth → prepare, the way a user makes
 * a dataset), shrunk by `--set` to a tiny network and two iterations per stage: a 4-channel VNet trains,
 * evaluates, and `predict` on the prepared folder gives exactly the masks and probabilities evaluation computed
 * (which loads the configured channels through the dataset).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { prepareDataset } from '../../src/data/prepare/index.js';
import { synthesize } from '../../src/data/synth/index.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { predict } from '../../src/eval/predict.js';
import { readNifti } from '../../src/io/nifti.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { train } from '../../src/train/train.js';

const CONFIG = new URL('../../configs/brats2019-10pct-multimodal.yaml', import.meta.url).pathname;

let root: string;
let dataset: string;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'ssmis-brats-multimodal-'));
  await synthesize({
    dataset: 'brats2019',
    out: path.join(root, 'raw'),
    cases: 8,
    seed: 6,
    size: [32, 32, 32],
  });
  const prepared = await prepareDataset({
    dataset: 'brats2019',
    raw: path.join(root, 'raw'),
    out: path.join(root, 'ds'),
    seed: 6,
  });
  expect(prepared.failed).toEqual([]);
  dataset = path.join(root, 'ds');
});

afterAll(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

/** The shipped config with the tiny sizes of the test suite (everything else as shipped). */
async function tinyMultimodal(name: string) {
  return loadConfig(CONFIG, {
    set: [
      `run.name=${name}`,
      `run.outputDir=${path.join(root, 'runs')}`,
      `data.dataset=${dataset}`,
      'data.patchSize=[16, 16, 16]',
      'data.labeled.count=4',
      'model.baseFilters=2',
      'train.stages.pretrain.iterations=2',
      'train.stages.selftrain.iterations=2',
      'train.validation.interval=2',
      'train.validation.strides=[16, 16, 16]',
      'train.checkpointInterval=2',
      'train.logInterval=1',
      'eval.patch=[16, 16, 16]',
      'eval.strides=[16, 16, 16]',
      'eval.saveProbabilities=true',
    ],
  });
}

describe('configs/brats2019-10pct-multimodal.yaml on BraTS phantoms', () => {
  it('is the reference BraTS config with the four modalities FLAIR, T1, T1ce, T2 as input', async () => {
    const multimodal = (await loadConfig(CONFIG)).config;
    const flairOnly = (
      await loadConfig(new URL('../../configs/brats2019-10pct.yaml', import.meta.url).pathname)
    ).config;
    expect(multimodal.data.channels).toEqual([0, 1, 2, 3]);
    expect(multimodal.model.inChannels).toBe(4);
    expect(flairOnly.data.channels).toEqual([0]);
    expect(flairOnly.model.inChannels).toBe(1);
    // Only the run name, the channels and the network's input width differ.
    expect({
      ...multimodal,
      run: { ...multimodal.run, name: flairOnly.run.name },
      data: { ...multimodal.data, channels: flairOnly.data.channels },
      model: { ...multimodal.model, inChannels: flairOnly.model.inChannels },
    }).toEqual(flairOnly);
  });

  it('a 4-channel VNet trains two iterations per stage, evaluates, and predict matches evaluation', async () => {
    const { config } = await tinyMultimodal('multimodal');
    expect(config.model.inChannels).toBe(4);
    const trained = await train(config);
    expect(trained.interrupted).toBe(false);
    expect(trained.history.filter((r) => r.stage === 'pretrain')).toHaveLength(2);
    expect(trained.history.filter((r) => r.stage === 'selftrain')).toHaveLength(2);
    for (const row of trained.history) expect(Number.isFinite(row.loss)).toBe(true);
    const checkpoint = path.join(trained.runDir, 'checkpoints', 'best.safetensors');
    // The first convolution reads four input channels ([k, k, k, in, out] kernels).
    const weights = await readSafetensors(checkpoint);
    const inputWidths = Object.entries(weights.tensors)
      .filter(([name, t]) => name.startsWith('student.') && t.shape.length === 5)
      .map(([, t]) => t.shape[3]);
    expect(inputWidths).toContain(4);

    const evaluation = await evaluate(config, { checkpoint });
    expect(evaluation.cases.length).toBeGreaterThan(0);
    for (const c of evaluation.cases) expect(c.classes[0].dice).not.toBeNull();
    const outDir = evaluation.outDir as string;

    const out = path.join(root, 'predicted');
    const predicted = await predict({ checkpoint, input: dataset, output: out, probabilities: true });
    expect(predicted.cases.length).toBeGreaterThanOrEqual(evaluation.cases.length);
    for (const c of evaluation.cases) {
      const record = predicted.cases.find((p) => p.caseId === c.caseId);
      expect(record?.inputs.map((f) => path.basename(f))).toEqual(
        [0, 1, 2, 3].map((ch) => `${c.caseId}_000${ch}.nii.gz`),
      );
      // Evaluation loads the configured channels through the dataset; predict reads the files: same masks.
      const mask = await readNifti(path.join(out, `${c.caseId}.nii.gz`));
      const evalMask = await readNifti(path.join(outDir, 'predictions', `${c.caseId}.nii.gz`));
      expect([...mask.data]).toEqual([...evalMask.data]);
      const probs = await readNifti(path.join(out, `${c.caseId}_probabilities.nii.gz`));
      const evalProbs = await readNifti(path.join(outDir, 'probabilities', `${c.caseId}.nii.gz`));
      expect(Float32Array.from(probs.data as Float32Array)).toEqual(
        Float32Array.from(evalProbs.data as Float32Array),
      );
    }
  });
});

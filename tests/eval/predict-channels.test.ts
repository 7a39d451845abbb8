/**
 * `predict` feeds the model the channels `data.channels` names, in that order, not the first N files of a channel
 * set: a model configured with channels [2, 0] on a 4-channel input sees `_0002` then `_0000`. Checked against
 * the sliding window of the same weights on explicitly selected channels, and against the wrong order, which
 * gives other probabilities (so the comparison can tell them apart).
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SsmisConfig } from '../../src/config/index.js';
import { normalizeForPreset, predict } from '../../src/eval/predict.js';
import { slidingWindowInference } from '../../src/infer/sliding-window.js';
import { readNifti, volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import { loadWeights, saveWeights } from '../../src/nn/checkpoint.js';
import { createModel } from '../../src/nn/create.js';
import { Rng } from '../../src/util/rng.js';
import { diagAffine, removeTempDirs, tempDir, tinyConfig, writeDataset } from './eval-helpers.js';

afterAll(removeTempDirs);

const SHAPE = [16, 16, 16];
const N = 16 * 16 * 16;

/**
 * Four channels of distinct content (different frequencies and offsets), positive inside a brain-like box that is
 * smaller for channel 0 (FLAIR's brain box then differs from every other channel's).
 */
function fourChannels(seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return [0, 1, 2, 3].map((c) =>
    Float32Array.from({ length: N }, (_, v) => {
      const x = Math.floor(v / 256);
      const y = Math.floor(v / 16) % 16;
      const z = v % 16;
      const m = c === 0 ? 3 : 1;
      const inside = x > m && x < 15 - m && y > m + 1 && y < 14 - m && z > m && z < 15;
      if (!inside) return 0;
      return (
        50 + 30 * c + 20 * Math.sin((x + 2 * c) * (0.3 + 0.2 * c)) + 10 * rng.random() + (z > 8 ? 15 * c : 0)
      );
    }),
  );
}

/** A run of a random tiny VNet for `config` (its `inChannels` from data.channels); returns the checkpoint. */
async function randomRun(dir: string, config: SsmisConfig): Promise<string> {
  const model = createModel(config, { name: 'predictChannels', rng: new Rng(7) });
  const checkpoint = path.join(dir, 'run', 'checkpoints', 'best.safetensors');
  try {
    await saveWeights(checkpoint, { models: { student: model } });
  } finally {
    model.dispose();
  }
  return checkpoint;
}

/** The sliding window of the checkpoint's weights on `channels` interleaved in the given order. */
async function inferOn(
  config: SsmisConfig,
  checkpoint: string,
  channels: Float32Array[],
): Promise<Float32Array> {
  const model = createModel(config, { name: 'predictChannelsCheck', rng: new Rng(99) });
  try {
    await loadWeights(checkpoint, { models: { student: model } });
    const c = channels.length;
    const data = new Float32Array(N * c);
    for (let k = 0; k < c; k++) for (let v = 0; v < N; v++) data[v * c + k] = channels[k][v];
    const result = await slidingWindowInference(
      model,
      { data, shape: [16, 16, 16, c] },
      { patch: [16, 16, 16], strides: [16, 16, 16], numClasses: 2 },
    );
    return result.probabilities;
  } finally {
    model.dispose();
  }
}

async function predictedProbabilities(file: string): Promise<Float32Array> {
  return Float32Array.from((await readNifti(file)).data as Float32Array);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('predict uses data.channels in its order', () => {
  it('channels [2, 0]: prepared cases and nnU-Net image sets feed _0002 then _0000', async () => {
    const dir = await tempDir('ssmis-predict-channels-');
    const channels = fourChannels(1);
    const dataset = await writeDataset(
      path.join(dir, 'ds'),
      [{ id: 'c1', channels, label: new Uint8Array(N), shape: SHAPE, affine: diagAffine([1, 1, 1]) }],
      { train: ['c1'] },
    );
    const config = tinyConfig(dataset, { data: { dataset, patchSize: [16, 16, 16], channels: [2, 0] } });
    expect(config.model.inChannels).toBe(2);
    const checkpoint = await randomRun(dir, config);

    const expected = await inferOn(config, checkpoint, [channels[2], channels[0]]);
    const firstTwo = await inferOn(config, checkpoint, [channels[0], channels[1]]);
    const swapped = await inferOn(config, checkpoint, [channels[0], channels[2]]);
    // The check can tell the orders apart: the first N channels, or the right ones swapped, give other maps.
    expect(maxAbsDiff(expected, firstTwo)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(expected, swapped)).toBeGreaterThan(1e-4);

    // A prepared dataset folder (custom preset: the stored intensities as they are).
    const prepared = await predict({
      checkpoint,
      input: dataset,
      output: path.join(dir, 'out-prepared'),
      config,
      probabilities: true,
    });
    expect(prepared.cases[0].inputs.map((f) => path.basename(f))).toEqual([
      'c1_0002.nii.gz',
      'c1_0000.nii.gz',
    ]);
    expect(await predictedProbabilities(path.join(dir, 'out-prepared', 'c1_probabilities.nii.gz'))).toEqual(
      expected,
    );

    // A folder of image sets, and one file of a set naming its siblings: the same channels in the same order.
    const scans = path.join(dir, 'scans');
    for (const [c, data] of channels.entries()) {
      await writeNifti(path.join(scans, `s_000${c}.nii.gz`), volumeFromArray(data, SHAPE), {
        datatype: 'float32',
      });
    }
    const folder = await predict({
      checkpoint,
      input: scans,
      output: path.join(dir, 'out-folder'),
      config,
      probabilities: true,
    });
    expect(folder.cases[0].inputs.map((f) => path.basename(f))).toEqual(['s_0002.nii.gz', 's_0000.nii.gz']);
    expect(folder.notes.join(' ')).toMatch(
      /case s: ignored channel file\(s\) _0001, _0003 \(the model takes 2 channel\(s\), data\.channels \[2, 0\]\)/,
    );
    expect(await predictedProbabilities(path.join(dir, 'out-folder', 's_probabilities.nii.gz'))).toEqual(
      expected,
    );
    const single = await predict({
      checkpoint,
      input: path.join(scans, 's_0001.nii.gz'),
      output: path.join(dir, 'out-single'),
      config,
      probabilities: true,
    });
    expect(single.cases[0].inputs.map((f) => path.basename(f))).toEqual(['s_0002.nii.gz', 's_0000.nii.gz']);
    expect(await predictedProbabilities(path.join(dir, 'out-single', 's_probabilities.nii.gz'))).toEqual(
      expected,
    );
  });

  it('a missing configured channel is named; an unnumbered file needs a one-channel model', async () => {
    const dir = await tempDir('ssmis-predict-channels-');
    const channels = fourChannels(2);
    const dataset = await writeDataset(
      path.join(dir, 'ds'),
      [{ id: 'c1', channels, label: new Uint8Array(N), shape: SHAPE, affine: diagAffine([1, 1, 1]) }],
      { train: ['c1'] },
    );
    const config = tinyConfig(dataset, { data: { dataset, patchSize: [16, 16, 16], channels: [3, 1] } });
    const checkpoint = await randomRun(dir, config);
    const scans = path.join(dir, 'scans');
    await writeNifti(path.join(scans, 'x_0000.nii.gz'), volumeFromArray(channels[0], SHAPE));
    await writeNifti(path.join(scans, 'x_0001.nii.gz'), volumeFromArray(channels[1], SHAPE));
    await expect(predict({ checkpoint, input: scans, output: path.join(dir, 'o'), config })).rejects.toThrow(
      /case x in .*scans: the model takes 2 channel\(s\), data\.channels \[3, 1\]; missing x_0003\.nii\.gz$/,
    );
    await writeNifti(path.join(dir, 'plain', 'y.nii.gz'), volumeFromArray(channels[0], SHAPE));
    await expect(
      predict({
        checkpoint,
        input: path.join(dir, 'plain', 'y.nii.gz'),
        output: path.join(dir, 'o'),
        config,
      }),
    ).rejects.toThrow(
      /y\.nii\.gz: the model takes 2 channel\(s\), data\.channels \[3, 1\]; give the nnU-Net channel files y_0003, y_0001$/,
    );
  });

  it('brats2019 images: FLAIR’s brain box normalises every channel, also when the model does not take FLAIR', async () => {
    const dir = await tempDir('ssmis-predict-channels-');
    const channels = fourChannels(3);
    // The dataset records the preset; its content only sets up the run.
    const dataset = await writeDataset(
      path.join(dir, 'ds'),
      [{ id: 'c1', channels, label: new Uint8Array(N), shape: SHAPE, affine: diagAffine([1, 1, 1]) }],
      { train: ['c1'] },
      { preset: 'brats2019' },
    );
    const scans = path.join(dir, 'scans');
    for (const [c, data] of channels.entries()) {
      await writeNifti(path.join(scans, `b_000${c}.nii.gz`), volumeFromArray(data, SHAPE), {
        datatype: 'float32',
      });
    }
    // What prepare's normalisation gives each channel (statistics inside FLAIR's brain box).
    const normalised = normalizeForPreset('brats2019', channels, SHAPE);
    for (const selected of [
      [2, 0],
      [3, 1],
    ]) {
      const config = tinyConfig(dataset, { data: { dataset, patchSize: [16, 16, 16], channels: selected } });
      const checkpoint = await randomRun(path.join(dir, selected.join('-')), config);
      const out = path.join(dir, `out-${selected.join('-')}`);
      const result = await predict({ checkpoint, input: scans, output: out, config, probabilities: true });
      expect(result.preset).toBe('brats2019');
      // FLAIR is read first (its box), then the model's other channels in their order.
      expect(result.cases[0].inputs.map((f) => path.basename(f))).toEqual(
        [0, ...selected.filter((c) => c !== 0)].map((c) => `b_000${c}.nii.gz`),
      );
      const expected = await inferOn(
        config,
        checkpoint,
        selected.map((c) => normalised[c]),
      );
      expect(await predictedProbabilities(path.join(out, 'b_probabilities.nii.gz'))).toEqual(expected);
      // Normalising the taken channels alone (the first taken one as FLAIR) would give another map.
      const ownBox = normalizeForPreset(
        'brats2019',
        selected.map((c) => channels[c]),
        SHAPE,
      );
      expect(maxAbsDiff(expected, await inferOn(config, checkpoint, ownBox))).toBeGreaterThan(1e-5);
    }
  });
});

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { configToYaml, type SsmisConfig } from '../../src/config/index.js';
import { acdcNormalize } from '../../src/data/prepare/acdc.js';
import { bratsNormalizeChannel } from '../../src/data/prepare/brats2019.js';
import {
  brainCropBox,
  clipUpper,
  cropAffine,
  cropArray,
  cumulativeClipValue,
  zscore,
} from '../../src/data/prepare/index.js';
import { laNormalize } from '../../src/data/prepare/la.js';
import { pancreasNormalize } from '../../src/data/prepare/pancreas-nih.js';
import { normalizeForPreset, padIntoGrid, predict, uncropAffine } from '../../src/eval/predict.js';
import { slidingWindowInference } from '../../src/infer/sliding-window.js';
import { readNifti, volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import type { Affine, Volume } from '../../src/io/volume.js';
import { saveWeights } from '../../src/nn/checkpoint.js';
import { createModel } from '../../src/nn/create.js';
import { Rng } from '../../src/util/rng.js';
import {
  box,
  diagAffine,
  ROTATED,
  removeTempDirs,
  tempDir,
  tinyConfig,
  tinyPredictRun,
  writeDataset,
} from './eval-helpers.js';

afterAll(removeTempDirs);

/**
 * A run folder with config.yaml and checkpoints/best.safetensors of a tiny VNet. The output bias is shifted by
 * the median foreground-minus-background logit on `probe` ([16, 16, 16] image), so that the random network
 * predicts a mixed mask (a constant mask would make the content checks vacuous).
 */
async function tinyRun(dir: string, config: SsmisConfig, probe: Float32Array): Promise<string> {
  const run = path.join(dir, 'run');
  const model = createModel(config, { name: 'predictSrc', rng: new Rng(5) });
  try {
    const diff = tf.tidy(() => {
      const logits = model.apply(tf.tensor(probe, [1, 16, 16, 16, 1]), { training: false });
      const [l0, l1] = tf.split(logits, 2, -1);
      return tf.sub(l1, l0).dataSync();
    });
    const median = Float32Array.from(diff).sort()[Math.floor(diff.length / 2)];
    const bias = model.namedWeights().get('decoder.out_conv.bias');
    if (bias === undefined) throw new Error('no decoder.out_conv.bias');
    tf.tidy(() => bias.assign(tf.add(bias, tf.tensor([0, -median]))));
    await saveWeights(path.join(run, 'checkpoints', 'best.safetensors'), { models: { student: model } });
  } finally {
    model.dispose();
  }
  await fs.writeFile(path.join(run, 'config.yaml'), configToYaml(config));
  return path.join(run, 'checkpoints', 'best.safetensors');
}

function expectAffineClose(a: Affine, b: Affine, digits: number): void {
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(a[r][c]).toBeCloseTo(b[r][c], digits);
}

function expectSameGeometry(a: Volume, b: Volume): void {
  expect(a.shape.slice(0, 3)).toEqual(b.shape.slice(0, 3));
  expect(a.affine).toEqual(b.affine);
  const ha = a.header;
  const hb = b.header;
  expect(ha).not.toBeNull();
  expect(hb).not.toBeNull();
  if (ha === null || hb === null) return;
  expect(ha.pixdim.slice(0, 4)).toEqual(hb.pixdim.slice(0, 4));
  expect(ha.qformCode).toBe(hb.qformCode);
  expect(ha.sformCode).toBe(hb.sformCode);
  expect(ha.quatern).toEqual(hb.quatern);
  expect(ha.qoffset).toEqual(hb.qoffset);
  expect(ha.srow).toEqual(hb.srow);
  expect(ha.xyztUnits).toBe(hb.xyztUnits);
}

describe('normalizeForPreset', () => {
  const shape = [4, 3, 2];
  const raw = Int16Array.from({ length: 24 }, (_, i) => ((i * 37) % 23) - 5);

  it('la: z-score over the whole volume (population std)', () => {
    const [out] = normalizeForPreset('la', [raw], shape);
    const mean = raw.reduce((a, b) => a + b, 0) / 24;
    const std = Math.sqrt(raw.reduce((a, v) => a + (v - mean) ** 2, 0) / 24);
    for (let i = 0; i < raw.length; i++) expect(out[i]).toBeCloseTo((raw[i] - mean) / std, 5);
  });

  it('pancreas-nih: HU clip [−125, 275] then min–max; acdc: min–max; custom: unchanged', () => {
    const hu = Float32Array.from([-1000, -125, 0, 275, 1000, 75]);
    const [p] = normalizeForPreset('pancreas-nih', [hu], [6, 1, 1]);
    expect([...p]).toEqual([0, 0, 125 / 400, 1, 1, 0.5]);
    const [a] = normalizeForPreset('acdc', [Float32Array.from([2, 4, 6])], [3, 1, 1]);
    expect([...a]).toEqual([0, 0.5, 1]);
    const [c] = normalizeForPreset('custom', [Float32Array.from([2, 4, 6])], [3, 1, 1]);
    expect([...c]).toEqual([2, 4, 6]);
  });

  it('brats2019: inside the brain box, exactly what prepare computes on the crop', () => {
    const s = [6, 5, 4];
    const flair = new Int16Array(120);
    const t1 = new Int16Array(120);
    for (let i = 1; i < 5; i++) {
      for (let j = 1; j < 4; j++) {
        for (let k = 0; k < 3; k++) {
          flair[(i * 5 + j) * 4 + k] = 10 + i * 7 + j * 3 + k;
          t1[(i * 5 + j) * 4 + k] = 100 - i * 5 + j + k * 11;
        }
      }
    }
    flair[(4 * 5 + 3) * 4 + 2] = 900; // an outlier the 99.9 % clip affects
    const out = normalizeForPreset('brats2019', [flair, t1], s);
    const crop = brainCropBox(flair, s);
    expect(crop).not.toBeNull();
    if (crop === null) return;
    for (const [c, data] of [flair, t1].entries()) {
      const cropped = cropArray(data, s, crop);
      const expected = zscore(clipUpper(cropped, cumulativeClipValue(cropped, 0.999)), (v) => v > 0);
      expect([...cropArray(out[c], s, crop)]).toEqual([...expected]);
    }
  });
});

describe('normalizeForPreset is each preset’s own function from src/data/prepare', () => {
  it('la, acdc and pancreas-nih: the function prepare applies, value for value', () => {
    const raw = Float32Array.from({ length: 30 }, (_, i) => ((i * 53) % 31) * 17 - 200);
    const shape = [5, 3, 2];
    expect(normalizeForPreset('la', [raw], shape)[0]).toEqual(laNormalize(raw));
    expect(normalizeForPreset('acdc', [raw], shape)[0]).toEqual(acdcNormalize(raw));
    expect(normalizeForPreset('pancreas-nih', [raw], shape)[0]).toEqual(pancreasNormalize(raw));
  });

  it('brats2019: inside the brain box, the crop prepare stores', () => {
    const s = [5, 4, 3];
    const flair = new Int16Array(60);
    for (let i = 1; i < 4; i++) for (let j = 1; j < 4; j++) flair[(i * 4 + j) * 3 + 1] = 20 + i * 9 + j;
    flair[(3 * 4 + 3) * 3 + 1] = 700;
    const [out] = normalizeForPreset('brats2019', [flair], s);
    const crop = brainCropBox(flair, s);
    expect(crop).not.toBeNull();
    if (crop === null) return;
    expect(cropArray(out, s, crop)).toEqual(bratsNormalizeChannel(flair, s, crop, 'crop'));
  });
});

describe('geometry helpers', () => {
  it('uncropAffine inverts cropAffine; padIntoGrid places the mask at cropStart', () => {
    const start = [3, 1, 2];
    const back = uncropAffine(cropAffine(ROTATED, start), start);
    expectAffineClose(back, ROTATED, 12);
    const mask = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const grid = padIntoGrid(mask, [2, 2, 2], [4, 3, 3], [1, 1, 1]);
    expect(grid[(1 * 3 + 1) * 3 + 1]).toBe(1);
    expect(grid[(2 * 3 + 2) * 3 + 2]).toBe(8);
    expect(grid.reduce((a, b) => a + b, 0)).toBe(36);
    expect(() => padIntoGrid(mask, [2, 2, 2], [2, 2, 2], [1, 0, 0])).toThrow(/does not fit/);
  });
});

describe('predict', () => {
  it('a raw NIfTI image: mask and probabilities in the exact input geometry, the model’s sliding-window labels', async () => {
    const dir = await tempDir('ssmis-predict-');
    const dataset = await writeDataset(
      path.join(dir, 'ds'),
      [
        {
          id: 'a',
          channels: [new Float32Array(4096)],
          label: new Uint8Array(4096),
          shape: [16, 16, 16],
          affine: diagAffine([1, 1, 1]),
        },
      ],
      { train: ['a'] },
      { preset: 'la' },
    );
    const config = tinyConfig(dataset);
    const shape = [20, 18, 12];
    const intensities = Float32Array.from({ length: 20 * 18 * 12 }, (_, i) => Math.sin(i * 0.37) * 50 + 100);
    const checkpoint = await tinyRun(
      dir,
      config,
      normalizeForPreset('la', [intensities], shape)[0].subarray(0, 4096),
    );
    const input = path.join(dir, 'in', 'scan.nii.gz');
    await writeNifti(input, volumeFromArray(intensities, shape, { affine: ROTATED }), {
      datatype: 'float32',
    });
    const out = path.join(dir, 'out');
    const result = await predict({ checkpoint, input, output: out, probabilities: true });
    expect(result.preset).toBe('la'); // from dataset.json: the config's preset is custom
    expect(result.cases).toHaveLength(1);
    expect(result.cases[0]).toMatchObject({
      caseId: 'scan',
      kind: 'image',
      output: path.join(out, 'scan.nii.gz'),
    });

    const source = await readNifti(input);
    const mask = await readNifti(path.join(out, 'scan.nii.gz'));
    expectSameGeometry(mask, source);
    expect(mask.header?.datatype).toBe(2);
    const probs = await readNifti(path.join(out, 'scan_probabilities.nii.gz'));
    expectSameGeometry(probs, source);

    // Independent path: z-score (la), then the sliding window of the same weights.
    const model = createModel(config, { name: 'predictCheck', rng: new Rng(99) });
    try {
      const { loadWeights } = await import('../../src/nn/checkpoint.js');
      await loadWeights(checkpoint, { models: { student: model } });
      const [normed] = normalizeForPreset('la', [intensities], shape);
      const expected = await slidingWindowInference(
        model,
        { data: normed, shape: [20, 18, 12, 1] },
        {
          patch: [16, 16, 16],
          strides: [16, 16, 16],
          numClasses: 2,
        },
      );
      const ones = expected.labels.reduce((n, v) => n + v, 0);
      expect(ones).toBeGreaterThan(0);
      expect(ones).toBeLessThan(expected.labels.length);
      expect([...mask.data]).toEqual([...expected.labels]);
      expect(Float32Array.from(probs.data as Float32Array)).toEqual(expected.probabilities);
    } finally {
      model.dispose();
    }
  });

  it('prepared cases: prepared grid, and the original grid (computed, or from the raw scan header)', async () => {
    const dir = await tempDir('ssmis-predict-');
    const original: Affine = ROTATED;
    const cropStart = [3, 1, 2];
    const shape = [16, 16, 12];
    const image = Float32Array.from(box(shape, [4, 4, 3], [10, 10, 8]), (v) => (v ? 2 : -1));
    const dataset = await writeDataset(
      path.join(dir, 'ds'),
      [
        {
          id: 'p1',
          channels: [image],
          label: new Uint8Array(16 * 16 * 12),
          shape,
          affine: cropAffine(original, cropStart),
        },
      ],
      { train: ['p1'] },
      { preset: 'la', cases: { p1: { source: 'scans/p1.nii.gz', originalShape: [24, 20, 16], cropStart } } },
    );
    const config = tinyConfig(dataset);
    const probe = new Float32Array(4096);
    probe.set(image);
    const checkpoint = await tinyRun(dir, config, probe);
    const out = path.join(dir, 'out');
    const result = await predict({ checkpoint, input: dataset, output: out, config });
    expect(result.cases).toHaveLength(1);
    expect(result.cases[0]).toMatchObject({ kind: 'prepared', originalGeometry: 'computed' });
    expect(result.notes.join(' ')).toMatch(/computed from the prepared affine and cropStart/);
    const prepared = await readNifti(path.join(out, 'p1.nii.gz'));
    expectSameGeometry(prepared, await readNifti(path.join(dataset, 'imagesTr', 'p1_0000.nii.gz')));
    const orig = await readNifti(path.join(out, 'original', 'p1.nii.gz'));
    expect(orig.shape).toEqual([24, 20, 16]);
    expectAffineClose(orig.affine, original, 4);
    let ones = 0;
    for (let v = 0; v < prepared.data.length; v++) ones += Number(prepared.data[v]) === 1 ? 1 : 0;
    expect(ones).toBeGreaterThan(0);
    expect(ones).toBeLessThan(16 * 16 * 12);
    expect([...orig.data]).toEqual([
      ...padIntoGrid(prepared.data as Uint8Array, shape, [24, 20, 16], cropStart),
    ]);

    // With the raw folder: the source scan's header is copied exactly.
    const rawDir = path.join(dir, 'raw');
    const scan = path.join(rawDir, 'scans', 'p1.nii.gz');
    await writeNifti(scan, volumeFromArray(new Int16Array(24 * 20 * 16), [24, 20, 16], { affine: original }));
    const withRaw = await predict({
      checkpoint,
      input: path.join(dataset, 'imagesTr', 'p1_0000.nii.gz'),
      output: path.join(dir, 'out2'),
      raw: rawDir,
    });
    expect(withRaw.cases[0].originalGeometry).toBe('source-header');
    const orig2 = await readNifti(path.join(dir, 'out2', 'original', 'p1.nii.gz'));
    expectSameGeometry(orig2, await readNifti(scan));
    expect([...orig2.data]).toEqual([...orig.data]);
  });

  it('multi-channel models need the whole _0000.. set; a missing config or checkpoint is named', async () => {
    const dir = await tempDir('ssmis-predict-');
    const dataset = await writeDataset(
      path.join(dir, 'ds'),
      [
        {
          id: 'a',
          channels: [new Float32Array(8), new Float32Array(8)],
          label: new Uint8Array(8),
          shape: [2, 2, 2],
          affine: diagAffine([1, 1, 1]),
        },
      ],
      { train: ['a'] },
    );
    const config = tinyConfig(dataset, { data: { dataset, patchSize: [16, 16, 16], channels: [0, 1] } });
    expect(config.model.inChannels).toBe(2);
    const checkpoint = path.join(dir, 'weights.safetensors');
    await fs.writeFile(checkpoint, 'x');
    const input = path.join(dir, 'in');
    await writeNifti(path.join(input, 'x_0000.nii.gz'), volumeFromArray(new Float32Array(8), [2, 2, 2]));
    await expect(predict({ checkpoint, input, output: path.join(dir, 'o'), config })).rejects.toThrow(
      /case x in .*in: the model takes 2 channel\(s\), data\.channels \[0, 1\]; missing x_0001\.nii\.gz/,
    );
    await expect(
      predict({ checkpoint, input: path.join(input, 'x_0000.nii.gz'), output: path.join(dir, 'o'), config }),
    ).rejects.toThrow(/missing x_0001\.nii\.gz/);
    await expect(predict({ checkpoint, input, output: path.join(dir, 'o') })).rejects.toThrow(
      /no run folder config .*--config/,
    );
    await expect(
      predict({ checkpoint: path.join(dir, 'none.safetensors'), input, output: path.join(dir, 'o'), config }),
    ).rejects.toThrow(/checkpoint file not found/);
  });

  it('the dataset.json of a prepared input folder is read by the one reader of the data layer (same checks and messages)', async () => {
    const dir = await tempDir('ssmis-predict-');
    const config = tinyConfig(path.join(dir, 'ds'), {
      data: { dataset: path.join(dir, 'ds'), preset: 'la' },
    });
    const checkpoint = path.join(dir, 'weights.safetensors');
    await fs.writeFile(checkpoint, 'x');
    const input = path.join(dir, 'prepared');
    await fs.mkdir(path.join(input, 'imagesTr'), { recursive: true });
    await fs.writeFile(path.join(input, 'dataset.json'), '{');
    await expect(predict({ checkpoint, input, output: path.join(dir, 'o'), config })).rejects.toThrow(
      /dataset\.json: not valid JSON \(/,
    );
  });

  it('a NaN in an image is refused naming the file and the voxel; a symlink loop as --input is named', async () => {
    const dir = await tempDir('ssmis-predict-');
    const { checkpoint } = await tinyPredictRun(dir, 'custom');
    const input = path.join(dir, 'scans');
    const image = new Float32Array(4 * 4 * 4);
    image[(1 * 4 + 2) * 4 + 3] = Number.NaN;
    await writeNifti(path.join(input, 'ok.nii.gz'), volumeFromArray(new Float32Array(64), [4, 4, 4]));
    await writeNifti(path.join(input, 'bad.nii.gz'), volumeFromArray(image, [4, 4, 4]));
    const output = path.join(dir, 'out');
    await expect(predict({ checkpoint, input, output })).rejects.toThrow(
      /^.*scans[/\\]bad\.nii\.gz: non-finite intensity NaN at voxel \[1, 2, 3\]/,
    );
    const loop = path.join(dir, 'loop.nii.gz');
    await fs.symlink(loop, loop);
    await expect(predict({ checkpoint, input: loop, output })).rejects.toThrow(
      /^--input .*loop\.nii\.gz: symlink loop/,
    );
  });
});

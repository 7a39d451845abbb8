import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { openDataset } from '../../src/data/dataset.js';
import {
  caseKeyOf,
  evaluate,
  evaluateFiles,
  evaluateModel,
  finalEvaluation,
} from '../../src/eval/evaluate.js';
import { evaluateCase } from '../../src/eval/protocol.js';
import { readNifti } from '../../src/io/nifti.js';
import { saveWeights } from '../../src/nn/checkpoint.js';
import { createModel } from '../../src/nn/create.js';
import { runPaths } from '../../src/train/run-dir.js';
import { Rng } from '../../src/util/rng.js';
import {
  box,
  diagAffine,
  nearestClassModel2d,
  ROTATED,
  removeTempDirs,
  signImage,
  signModel3d,
  tempDir,
  tinyConfig,
  writeDataset,
  writeLabelFile,
} from './eval-helpers.js';

afterAll(removeTempDirs);

// Two 4³ cubes in a 10³ grid, the prediction shifted by one voxel along i. By hand (see the report): overlap
// 3·4·4 = 48 of 64 + 64 → Dice 0.75, Jaccard 48/80 = 0.6. Each border has 56 voxels; pred → label: the 16
// voxels of pred's i = 6 face are s_i away, 4 voxels of its i = 3 face interior are min(s) away, 36 are 0;
// label → pred mirrors it. Spacing (2, 1, 1): HD95 = HD = 2, ASD = ASSD = (16·2 + 4·1)/56; voxels: HD95 = 1,
// ASD = 20/56.
const SHAPE = [10, 10, 10];
const LABEL = box(SHAPE, [2, 2, 2], [5, 5, 5]);
const PRED = box(SHAPE, [3, 2, 2], [6, 5, 5]);
const SPACING = [2, 1, 1];

describe('evaluateFiles (hand-computed cubes)', () => {
  it('scores a pair of files in mm and in voxels, under strict and paper', async () => {
    const dir = await tempDir();
    const affine = diagAffine(SPACING, [-4, 3, 7]);
    await writeLabelFile(path.join(dir, 'pred.nii.gz'), PRED, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'label.nii.gz'), LABEL, SHAPE, affine);
    const files = { pred: path.join(dir, 'pred.nii.gz'), label: path.join(dir, 'label.nii.gz') };

    const mm = await evaluateFiles(files);
    expect(mm.summary.protocol).toBe('strict');
    expect(mm.summary.units).toBe('mm');
    const c = mm.cases[0].classes[0];
    expect(c.classId).toBe(1);
    expect(c.dice).toBeCloseTo(0.75, 12);
    expect(c.jaccard).toBeCloseTo(0.6, 12);
    expect(c.hd95).toBeCloseTo(2, 12);
    expect(c.hd).toBeCloseTo(2, 12);
    expect(c.asd).toBeCloseTo(36 / 56, 12);
    expect(c.assd).toBeCloseTo(36 / 56, 12);

    const vox = await evaluateFiles({ ...files, units: 'voxel' });
    expect(vox.cases[0].classes[0].hd95).toBeCloseTo(1, 12);
    expect(vox.cases[0].classes[0].asd).toBeCloseTo(20 / 56, 12);

    const paper = await evaluateFiles({ ...files, protocol: 'paper' });
    expect(paper.summary.units).toBe('voxel');
    expect(paper.cases[0].classes[0].asd).toBeCloseTo(20 / 56, 12);
  });

  it('matches folders by case name (nnU-Net _0000 accepted), counts empty predictions, writes the files', async () => {
    const dir = await tempDir();
    const affine = diagAffine(SPACING);
    await writeLabelFile(path.join(dir, 'p', 'a.nii.gz'), PRED, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'p', 'b_0000.nii.gz'), new Uint8Array(1000), SHAPE, affine);
    await writeLabelFile(path.join(dir, 'l', 'a.nii.gz'), LABEL, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'l', 'b.nii.gz'), LABEL, SHAPE, affine);
    const out = path.join(dir, 'out');
    const strict = await evaluateFiles({
      pred: path.join(dir, 'p'),
      label: path.join(dir, 'l'),
      outDir: out,
    });
    expect(strict.cases.map((c) => c.caseId)).toEqual(['a', 'b']);
    const b = strict.cases[1].classes[0];
    expect([b.dice, b.jaccard, b.hd95, b.asd]).toEqual([0, 0, null, null]);
    expect(strict.summary.emptyPredictions).toBe(1);
    expect(strict.summary.classes[0].metrics.hd95).toMatchObject({ count: 1, missing: 1 });
    expect(strict.summary.classes[0].metrics.hd95.mean).toBeCloseTo(2, 12);
    expect(strict.summary.classes[0].metrics.dice.mean).toBeCloseTo(0.375, 12);
    const csv = readFileSync(path.join(out, 'cases.csv'), 'utf8').trimEnd().split('\n');
    expect(csv).toHaveLength(3);
    expect(csv[2]).toMatch(/^b,1,,0,0,,,,,0,64,1,strict,mm,,,0$/);
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({
      protocol: 'strict',
      units: 'mm',
      emptyPredictions: 1,
      largestComponent: { enabled: false, connectivity: null },
      source: { mode: 'files' },
    });
    expect(existsSync(path.join(out, 'report.html'))).toBe(true);

    const paper = await evaluateFiles({
      pred: path.join(dir, 'p'),
      label: path.join(dir, 'l'),
      protocol: 'paper',
    });
    const pb = paper.cases[1].classes[0];
    expect([pb.dice, pb.jaccard, pb.hd95, pb.asd]).toEqual([0, 0, 0, 0]);
    expect(paper.summary.classes[0].metrics.hd95.mean).toBeCloseTo(0.5, 12); // (1 + 0) / 2 voxels
  });

  it('names missing partners and rejects mismatched geometry', async () => {
    const dir = await tempDir();
    const affine = diagAffine(SPACING);
    await writeLabelFile(path.join(dir, 'p', 'a.nii.gz'), PRED, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'p', 'extra.nii.gz'), PRED, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'l', 'a.nii.gz'), LABEL, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'l', 'c.nii.gz'), LABEL, SHAPE, affine);
    await expect(evaluateFiles({ pred: path.join(dir, 'p'), label: path.join(dir, 'l') })).rejects.toThrow(
      /no prediction in .*p for label case\(s\) c; no label in .*l for prediction case\(s\) extra/,
    );

    const moved = diagAffine([2, 1, 1], [0.5, 0, 0]);
    await writeLabelFile(path.join(dir, 'g', 'pred.nii.gz'), PRED, SHAPE, moved);
    await writeLabelFile(path.join(dir, 'g', 'label.nii.gz'), LABEL, SHAPE, affine);
    const err = await evaluateFiles({
      pred: path.join(dir, 'g', 'pred.nii.gz'),
      label: path.join(dir, 'g', 'label.nii.gz'),
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      /pred\.nii\.gz and its label .*label\.nii\.gz have different affines \(max difference 0\.500 mm/,
    );
    expect((err as { exitCode?: number }).exitCode).toBe(2);

    await writeLabelFile(path.join(dir, 'g', 'small.nii.gz'), new Uint8Array(8), [2, 2, 2], affine);
    await expect(
      evaluateFiles({
        pred: path.join(dir, 'g', 'small.nii.gz'),
        label: path.join(dir, 'g', 'label.nii.gz'),
      }),
    ).rejects.toThrow(/small\.nii\.gz has shape \[2, 2, 2\] but its label .* has \[10, 10, 10\]/);
    await expect(evaluateFiles({ pred: path.join(dir, 'nope'), label: path.join(dir, 'l') })).rejects.toThrow(
      /prediction .*nope: not found/,
    );
  });

  it('defaults to every non-zero label value; optional largest component removes strays', async () => {
    const dir = await tempDir();
    const affine = diagAffine([1, 1, 1]);
    const label = box(SHAPE, [2, 2, 2], [5, 5, 5], 1);
    box(SHAPE, [7, 7, 7], [8, 8, 8], 3, label);
    const pred = label.slice();
    pred[0] = 1; // a stray class-1 voxel far away
    await writeLabelFile(path.join(dir, 'p.nii.gz'), pred, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'l.nii.gz'), label, SHAPE, affine);
    const files = { pred: path.join(dir, 'p.nii.gz'), label: path.join(dir, 'l.nii.gz') };
    const plain = await evaluateFiles(files);
    expect(plain.cases[0].classes.map((c) => c.classId)).toEqual([1, 3]);
    expect(plain.cases[0].classes[0].dice).toBeCloseTo(128 / 129, 12);
    expect(plain.cases[0].classes[1].dice).toBe(1);
    const lcc = await evaluateFiles({ ...files, largestComponent: 26 });
    expect(lcc.cases[0].classes[0].dice).toBe(1);
    expect(lcc.summary.largestComponent).toEqual({ enabled: true, connectivity: 26 });
    const only3 = await evaluateFiles({ ...files, classes: [3] });
    expect(only3.cases[0].classes.map((c) => c.classId)).toEqual([3]);
  });

  it('rejects non-integer label values', async () => {
    const dir = await tempDir();
    const { writeNifti, volumeFromArray } = await import('../../src/io/nifti.js');
    const data = new Float32Array(1000);
    data[5] = 0.5;
    await writeNifti(path.join(dir, 'l.nii.gz'), volumeFromArray(data, SHAPE, { spacing: [1, 1, 1] }));
    await writeLabelFile(path.join(dir, 'p.nii.gz'), PRED, SHAPE, diagAffine([1, 1, 1]));
    await expect(
      evaluateFiles({ pred: path.join(dir, 'p.nii.gz'), label: path.join(dir, 'l.nii.gz') }),
    ).rejects.toThrow(/l\.nii\.gz: value 0\.5 is not an integer label/);
  });

  it('label values follow the one rule: float-stored integers are read, 0.9995 is refused (not rounded)', async () => {
    const dir = await tempDir();
    const { writeNifti, volumeFromArray } = await import('../../src/io/nifti.js');
    const integral = Float32Array.from(PRED);
    await writeNifti(path.join(dir, 'l.nii.gz'), volumeFromArray(integral, SHAPE, { spacing: [1, 1, 1] }));
    await writeLabelFile(path.join(dir, 'p.nii.gz'), PRED, SHAPE, diagAffine([1, 1, 1]));
    const files = { pred: path.join(dir, 'p.nii.gz'), label: path.join(dir, 'l.nii.gz') };
    const ok = await evaluateFiles(files);
    expect(ok.cases[0].classes.every((c) => c.dice === 1)).toBe(true);
    const near = Float32Array.from(PRED);
    near[5] = 0.9995;
    await writeNifti(path.join(dir, 'l.nii.gz'), volumeFromArray(near, SHAPE, { spacing: [1, 1, 1] }));
    await expect(evaluateFiles(files)).rejects.toThrow(
      /l\.nii\.gz: value 0\.99949\d* is not an integer label/,
    );
  });

  it('caseKeyOf strips the extension and the nnU-Net channel suffix', () => {
    expect(caseKeyOf('la_001_0000.nii.gz')).toBe('la_001');
    expect(caseKeyOf('la_001.nii')).toBe('la_001');
    expect(caseKeyOf('x_0001.nii.gz')).toBe('x_0001');
  });
});

describe('evaluateFiles: wrong numbers and unclear errors', () => {
  it('rejects a class listed twice and reports a class absent from both files as missing', async () => {
    const dir = await tempDir();
    const affine = diagAffine(SPACING);
    await writeLabelFile(path.join(dir, 'pred.nii.gz'), PRED, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'label.nii.gz'), LABEL, SHAPE, affine);
    const files = { pred: path.join(dir, 'pred.nii.gz'), label: path.join(dir, 'label.nii.gz') };
    await expect(evaluateFiles({ ...files, classes: [1, 1, 7] })).rejects.toThrow(
      /^classes: class 1 is listed more than once/,
    );
    const res = await evaluateFiles({ ...files, classes: [1, 7] });
    const seven = res.cases[0].classes[1];
    expect([seven.dice, seven.jaccard, seven.hd95]).toEqual([null, null, null]);
    expect(res.summary.classes[1].metrics.dice.mean).toBeNull();
    // Class 7 does not raise the mean: it is class 1's Dice alone.
    expect(res.summary.overall.dice.mean).toBeCloseTo(0.75, 12);
    expect(res.summary.notes).toEqual([
      'class 7: absent from both prediction and label in every case (1); reported as missing and left out of the means',
    ]);
  });

  it('warns about prediction values the label does not have and counts their voxels', async () => {
    const dir = await tempDir();
    const affine = diagAffine(SPACING);
    const pred = PRED.slice();
    pred[0] = 3;
    pred[1] = 3;
    pred[2] = 200;
    await writeLabelFile(path.join(dir, 'p', 'k.nii.gz'), pred, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'l', 'k.nii.gz'), LABEL, SHAPE, affine);
    const out = path.join(dir, 'out');
    const res = await evaluateFiles({ pred: path.join(dir, 'p'), label: path.join(dir, 'l'), outDir: out });
    expect(res.cases[0].unexpectedPrediction).toEqual({ values: [3, 200], voxels: 3 });
    expect(res.summary.warnings).toEqual([
      'case k: the prediction holds values 3, 200 (3 voxels) that the label does not have and that are not scored; ignored',
    ]);
    expect(res.cases[0].classes[0].dice).toBeCloseTo(0.75, 12);
    const csv = readFileSync(path.join(out, 'cases.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[1]).toMatch(/,3 200,3$/);
    expect(JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).warnings).toEqual(
      res.summary.warnings,
    );
  });

  it('a symlink loop is named as such, not as "not found"', async () => {
    const dir = await tempDir();
    const affine = diagAffine(SPACING);
    await writeLabelFile(path.join(dir, 'label.nii.gz'), LABEL, SHAPE, affine);
    const loop = path.join(dir, 'loop.nii.gz');
    await fs.symlink(loop, loop);
    await expect(evaluateFiles({ pred: loop, label: path.join(dir, 'label.nii.gz') })).rejects.toThrow(
      /^prediction .*loop\.nii\.gz: symlink loop/,
    );
    await fs.mkdir(path.join(dir, 'p'));
    await fs.mkdir(path.join(dir, 'l'));
    await writeLabelFile(path.join(dir, 'l', 'a.nii.gz'), LABEL, SHAPE, affine);
    const inner = path.join(dir, 'p', 'a.nii.gz');
    await fs.symlink(path.join(dir, 'p', 'b.nii.gz'), inner);
    await fs.symlink(inner, path.join(dir, 'p', 'b.nii.gz'));
    await expect(evaluateFiles({ pred: path.join(dir, 'p'), label: path.join(dir, 'l') })).rejects.toThrow(
      /^prediction .*p[/\\]a\.nii\.gz: symlink loop/,
    );
    await expect(
      evaluateFiles({ pred: path.join(dir, 'nothing.nii.gz'), label: path.join(dir, 'label.nii.gz') }),
    ).rejects.toThrow(/nothing\.nii\.gz: not found$/);
  });

  it('a failure at any rename of a report write leaves the earlier report exactly as it was', async () => {
    const dir = await tempDir();
    const affine = diagAffine(SPACING);
    await writeLabelFile(path.join(dir, 'p', 'a.nii.gz'), PRED, SHAPE, affine);
    await writeLabelFile(path.join(dir, 'l', 'a.nii.gz'), LABEL, SHAPE, affine);
    const files = { pred: path.join(dir, 'p'), label: path.join(dir, 'l') };
    const out = path.join(dir, 'out');
    await evaluateFiles({ ...files, outDir: out });
    const read = () =>
      Object.fromEntries(
        ['cases.csv', 'summary.json', 'report.html'].map((f) => [f, readFileSync(path.join(out, f), 'utf8')]),
      );
    const before = read();
    const realRename = fs.rename;
    let failed = 0;
    for (let step = 1; ; step++) {
      let calls = 0;
      const spy = vi.spyOn(fs, 'rename').mockImplementation(async (from, to) => {
        calls++;
        if (calls === step) throw Object.assign(new Error('injected failure'), { code: 'EIO' });
        return realRename(from, to);
      });
      try {
        await evaluateFiles({ ...files, protocol: 'paper', outDir: out, overwrite: true });
        break;
      } catch (error) {
        expect((error as Error).message).toBe('injected failure');
        failed++;
      } finally {
        spy.mockRestore();
      }
      // Nothing of the new report is visible, and nothing is left beside it.
      expect(read()).toEqual(before);
      expect(readdirSync(dir).sort()).toEqual(['l', 'out', 'p']);
    }
    // Three files into the temp folder, then the old report aside and the new one in place.
    expect(failed).toBe(5);
    const after = read();
    expect(JSON.parse(after['summary.json']).protocol).toBe('paper');
    expect(after['cases.csv']).toContain(',paper,voxel,');
    expect(readdirSync(dir).sort()).toEqual(['l', 'out', 'p']);
  });
});

async function cubeDataset(): Promise<{ dir: string; config: ReturnType<typeof tinyConfig> }> {
  const dir = await tempDir();
  const shape = [12, 12, 12];
  const cases = ['c0', 'c1', 'c2', 'c3'].map((id, n) => ({
    id,
    // The stand-in predicts the image's sign: the image is the shifted cube, the label the cube.
    channels: [signImage(box(shape, [3 + (n % 3), 2, 2], [6 + (n % 3), 5, 5]))],
    label: box(shape, [2 + (n % 3), 2, 2], [5 + (n % 3), 5, 5]),
    shape,
    affine: n === 1 ? ROTATED : diagAffine(SPACING, [1, 2, 3]),
  }));
  await writeDataset(dir, cases, { train: ['c0'], val: ['c3'], test: ['c1', 'c2'] });
  return {
    dir,
    config: tinyConfig(dir, {
      eval: { patch: [16, 16, 16], strides: [16, 16, 16], saveProbabilities: true },
    }),
  };
}

describe('evaluateModel', () => {
  it('infers, scores, and writes predictions in the case geometry, probabilities, overlays and the report', async () => {
    const { dir, config } = await cubeDataset();
    const dataset = await openDataset(dir, { cacheSize: 0 });
    const out = path.join(dir, 'eval');
    const progress: string[] = [];
    const result = await evaluateModel({
      model: signModel3d(),
      dataset,
      ids: ['c0', 'c2'],
      config,
      outDir: out,
      onProgress: (p) => progress.push(`${p.phase}:${p.casesDone}/${p.cases}`),
      split: 'test',
    });
    expect(progress).toEqual(['window:0/2', 'case:1/2', 'window:1/2', 'case:2/2']);
    for (const c of result.cases) {
      const k = c.classes[0];
      expect(k.dice).toBeCloseTo(0.75, 12);
      expect(k.hd95).toBeCloseTo(2, 12);
      expect(k.asd).toBeCloseTo(36 / 56, 12);
    }
    expect(result.summary.units).toBe('mm');
    expect(result.summary.classes[0].name).toBe('organ');
    expect(result.summary.source).toEqual({ mode: 'model', dataset: dataset.dir, split: 'test' });

    const pred = await readNifti(path.join(out, 'predictions', 'c2.nii.gz'));
    const image = await readNifti(path.join(dir, 'imagesTr', 'c2_0000.nii.gz'));
    expect(pred.shape).toEqual([12, 12, 12]);
    expect(pred.header?.datatype).toBe(2);
    expect(pred.affine).toEqual(image.affine);
    expect(pred.header?.quatern).toEqual(image.header?.quatern);
    expect(pred.header?.srow).toEqual(image.header?.srow);
    expect([...pred.data]).toEqual([...box([12, 12, 12], [5, 2, 2], [8, 5, 5])]);
    const prob = await readNifti(path.join(out, 'probabilities', 'c0.nii.gz'));
    expect(prob.header?.datatype).toBe(16);
    expect(prob.data[0]).toBeCloseTo(1 / (1 + Math.exp(10)), 6);
    expect(existsSync(path.join(out, 'overlays', 'c0_z2.png'))).toBe(true);
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('src="overlays/c0_z2.png"');
    expect(readFileSync(path.join(out, 'cases.csv'), 'utf8').trimEnd().split('\n')).toHaveLength(3);
    expect(JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).numCases).toBe(2);
  });

  it('paper protocol with largest component, 2-D slice-wise multi-class inference', async () => {
    const dir = await tempDir();
    const shape = [8, 8, 3];
    const label = box(shape, [1, 1, 0], [3, 3, 2], 1);
    box(shape, [5, 5, 0], [6, 6, 2], 2, label);
    const image = Float32Array.from(label);
    image[(7 * 8 + 0) * 3 + 1] = 1; // a stray class-1 pixel in slice 1 (removed by the 8-connected LCC)
    const affine = diagAffine([1.5, 1.5, 10]);
    await writeDataset(
      dir,
      ['v', 'w'].map((id) => ({ id, channels: [image], label, shape, affine })),
      { train: ['w'], test: ['v'] },
      { labels: { background: 0, rv: 1, myo: 2, lv: 3 } },
    );
    const config = tinyConfig(dir, {
      data: { dataset: dir, patchSize: [16, 16], sliceResize: [16, 16] },
      model: { name: 'unet2d', numClasses: 4, baseFilters: 2 },
      eval: {
        patch: [16, 16],
        strides: [16, 16],
        protocol: 'paper',
        largestComponent: true,
        saveProbabilities: false,
      },
    });
    expect(config.eval.connectivity).toBe(8);
    const dataset = await openDataset(dir, { cacheSize: 0 });
    const { cases, summary } = await evaluateModel({
      model: nearestClassModel2d(4),
      dataset,
      ids: ['v'],
      config,
    });
    expect(summary.protocol).toBe('paper');
    expect(summary.units).toBe('voxel');
    expect(cases[0].classes.map((c) => [c.classId, c.dice])).toEqual([
      [1, 1],
      [2, 1],
      [3, 0], // absent from the prediction: paper scores (0, 0, 0, 0)
    ]);
    expect(cases[0].classes[2].hd95).toBe(0);
    expect(summary.classes.map((c) => c.name)).toEqual(['rv', 'myo', 'lv']);
  });

  it('keeps tf.memory().numTensors flat across cases and calls (tiny real VNet)', async () => {
    const { dir, config } = await cubeDataset();
    const bigger = tinyConfig(dir, {
      eval: { patch: [16, 16, 16], strides: [16, 16, 16], saveProbabilities: false },
    });
    const dataset = await openDataset(dir, { cacheSize: 0 });
    const model = createModel(bigger, { name: 'evalTest', rng: new Rng(3) });
    try {
      const before = tf.memory().numTensors;
      const a = await evaluateModel({ model, dataset, ids: ['c0', 'c1', 'c2'], config: bigger });
      const middle = tf.memory().numTensors;
      const b = await evaluateModel({ model, dataset, ids: ['c0', 'c1', 'c2'], config: bigger });
      expect(middle).toBe(before);
      expect(tf.memory().numTensors).toBe(before);
      expect(b.cases).toEqual(a.cases);
      // The scores are the protocol's scores of the written-out labels (same function, recomputed here).
      const c1 = await dataset.loadCase('c1');
      expect(a.cases[1].classes[0].labelVoxels).toBe(64);
      expect(a.cases[1].caseId).toBe('c1');
      expect(c1.spacing.map((s) => +s.toFixed(6))).toEqual([0.8, 1.5, 2.5]);
    } finally {
      model.dispose();
    }
    expect(config.eval.saveProbabilities).toBe(true);
  });
});

describe('evaluate (checkpoint) and finalEvaluation', () => {
  it('loads student weights from a run folder, writes <run>/eval and records the selection', async () => {
    const { dir, config } = await cubeDataset();
    const model = createModel(config, { name: 'ckSrc', rng: new Rng(11) });
    const run = path.join(dir, 'run');
    const checkpoint = path.join(run, 'checkpoints', 'best.safetensors');
    try {
      await saveWeights(checkpoint, { models: { student: model } });
      await fs.writeFile(
        path.join(run, 'checkpoints', 'last.json'),
        JSON.stringify({ best: { selftrain: { dice: 0.7, iteration: 20 } } }),
      );
      const direct = await evaluateModel({
        model,
        dataset: await openDataset(dir, { cacheSize: 0 }),
        ids: ['c1', 'c2'],
        config,
      });
      const before = tf.memory().numTensors;
      const result = await evaluate(config, { checkpoint });
      expect(tf.memory().numTensors).toBe(before);
      expect(result.outDir).toBe(path.join(run, 'eval'));
      expect(result.cases).toEqual(direct.cases);
      expect(result.summary.selection).toEqual({
        split: 'val',
        checkpoint,
        best: { dice: 0.7, iteration: 20 },
      });
      const summary = JSON.parse(readFileSync(path.join(run, 'eval', 'summary.json'), 'utf8'));
      expect(summary.selection.split).toBe('val');
      expect(summary.source.split).toBe('test');
      expect(existsSync(path.join(run, 'eval', 'predictions', 'c2.nii.gz'))).toBe(true);

      const val = await evaluate(config, { checkpoint, split: 'val', outDir: path.join(dir, 'val-eval') });
      expect(val.cases.map((c) => c.caseId)).toEqual(['c3']);

      // <run>/eval now holds a report: a second evaluation there needs overwrite, and is refused before any work.
      const summaryBytes = readFileSync(path.join(run, 'eval', 'summary.json'));
      await expect(evaluate(config, { checkpoint, split: 'val' })).rejects.toThrow(
        /^the default output folder .*eval: already holds a report .*pass --overwrite/,
      );
      expect(readFileSync(path.join(run, 'eval', 'summary.json')).equals(summaryBytes)).toBe(true);
      const again = await evaluate(config, { checkpoint, split: 'val', overwrite: true });
      expect(again.summary.source).toMatchObject({ split: 'val' });
      expect(existsSync(path.join(run, 'eval', 'predictions', 'c2.nii.gz'))).toBe(false);
      expect(existsSync(path.join(run, 'eval', 'predictions', 'c3.nii.gz'))).toBe(true);

      // finalEvaluation: the hook train calls with the selected model.
      const printed: string[] = [];
      const paths = runPaths(path.join(dir, 'run2'));
      const final = await finalEvaluation(
        {
          config,
          model,
          dataset: await openDataset(dir, { cacheSize: 0 }),
          paths,
          selected: { checkpoint: 'best', split: 'test', best: { dice: 0.5, iteration: 3 } },
        },
        { print: (t) => printed.push(t) },
      );
      expect(final?.cases).toEqual(direct.cases);
      expect(final?.summary.selection).toEqual({
        split: 'test',
        checkpoint: path.join(paths.checkpoints, 'best.safetensors'),
        best: { dice: 0.5, iteration: 3 },
      });
      expect(printed[0]).toMatch(/model selection: test split \(best\.safetensors\)[^\n]*\nclass +Dice/);
      expect(JSON.parse(readFileSync(path.join(paths.evalDir, 'summary.json'), 'utf8')).selection.split).toBe(
        'test',
      );
      // The run's own final report is replaced when training finishes again.
      const second = await finalEvaluation(
        {
          config,
          model,
          dataset: await openDataset(dir, { cacheSize: 0 }),
          paths,
          selected: { checkpoint: 'last', split: 'test', best: null },
        },
        {},
      );
      expect(second?.summary.selection.split).toBe('last');
    } finally {
      model.dispose();
    }
    const outside = path.join(dir, 'weights.safetensors');
    await fs.copyFile(checkpoint, outside);
    await expect(evaluate(config, { checkpoint: outside })).rejects.toThrow(/not inside a run folder.*--out/);
    await expect(
      evaluate(config, { checkpoint: path.join(run, 'checkpoints', 'nope.safetensors') }),
    ).rejects.toThrow(/checkpoint file not found/);
  });

  it('a case listed twice is refused, naming the case and where the list came from', async () => {
    const { dir, config } = await cubeDataset();
    const dataset = await openDataset(dir, { cacheSize: 0 });
    await expect(
      evaluateModel({ model: signModel3d(), dataset, ids: ['c1', 'c2', 'c1'], config }),
    ).rejects.toThrow(/^evaluateModel: the case list: case "c1" is listed twice/);
    await expect(
      evaluateModel({
        model: signModel3d(),
        dataset,
        ids: ['c2', 'c2'],
        config,
        idsSource: 'splits/test.txt',
        outDir: path.join(dir, 'never'),
      }),
    ).rejects.toThrow(/^splits\/test\.txt: case "c2" is listed twice/);
    expect(existsSync(path.join(dir, 'never'))).toBe(false);
  });

  it('the protocol scores equal evaluateCase on the saved prediction', async () => {
    const { dir, config } = await cubeDataset();
    const dataset = await openDataset(dir, { cacheSize: 0 });
    const out = path.join(dir, 'e');
    const res = await evaluateModel({ model: signModel3d(), dataset, ids: ['c1'], config, outDir: out });
    const pred = await readNifti(path.join(out, 'predictions', 'c1.nii.gz'));
    const c1 = await dataset.loadCase('c1');
    const again = evaluateCase(pred.data as Uint8Array, c1.label, c1.shape, {
      spacing: c1.spacing,
      units: 'mm',
      caseId: 'c1',
    });
    expect(res.cases[0]).toEqual(again);
  });
});

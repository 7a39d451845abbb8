import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDataset } from '../../src/data/dataset.js';
import { checkLabelValues } from '../../src/data/prepare/common.js';
import {
  boundingBox,
  brainCropBox,
  cropAffine,
  cropArray,
  cumulativeClipValue,
  laCropBox,
  minMaxNormalize,
  type PrepareCaseEvent,
  pancreasCropBox,
  parseInfoCfg,
  prepareDataset,
  zscore,
} from '../../src/data/prepare/index.js';
import { synthesize } from '../../src/data/synth/index.js';
import { readH5Datasets } from '../../src/io/hdf5.js';
import { readNifti, writeNifti } from '../../src/io/nifti.js';
import { readNrrd } from '../../src/io/nrrd.js';
import type { Rng } from '../../src/util/rng.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-prepare-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A stand-in Rng whose randint returns scripted values and records its arguments. */
function scriptedRng(values: number[]): { rng: Rng; calls: [number, number][] } {
  const calls: [number, number][] = [];
  let i = 0;
  const rng = {
    randint(lo: number, hi: number) {
      calls.push([lo, hi]);
      return values[i++];
    },
  } as unknown as Rng;
  return { rng, calls };
}

/** The dataset.json fields these tests look at. */
interface PreparedJson {
  splits: { train: string[]; val: string[]; test: string[] };
  cases: Record<string, { source: string; originalShape: number[]; cropStart: number[] }>;
  labels: Record<string, number>;
  channel_names: Record<string, string>;
  numTraining: number;
  spacing: { median: number[] };
  dims: number;
  labeledUnit: string;
  patientOf: Record<string, string>;
}

async function readJson(file: string): Promise<PreparedJson> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as PreparedJson;
}

function stats(data: ArrayLike<number>, select: (i: number) => boolean = () => true) {
  let s = 0;
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    if (!select(i)) continue;
    s += data[i];
    n++;
  }
  const mean = s / n;
  let q = 0;
  for (let i = 0; i < data.length; i++) if (select(i)) q += (data[i] - mean) ** 2;
  return { mean, std: Math.sqrt(q / n), n };
}

describe('preprocessing steps on hand-made volumes', () => {
  it('checkLabelValues: integers among the classes pass (any stored type), fractions and other classes are refused', () => {
    expect(() => checkLabelValues(Float32Array.from([0, 1, 1]), [0, 1], 'l.nii')).not.toThrow();
    expect(() => checkLabelValues(Float32Array.from([0, 0.9995, 1]), [0, 1], 'l.nii')).toThrow(
      /^l\.nii: label values \[0\.99949\d*\] are not integers; a label map holds integer class ids/,
    );
    expect(() => checkLabelValues(Uint8Array.from([0, 2]), [0, 1], 'l.nii')).toThrow(
      "l.nii: label values [2] outside the dataset's classes [0, 1]",
    );
  });

  it('boundingBox and the BraTS end-exclusive brain crop', () => {
    const shape = [5, 4, 3];
    const data = new Int16Array(60);
    data[(1 * 4 + 1) * 3 + 0] = 7; // (1,1,0)
    data[(3 * 4 + 2) * 3 + 2] = 9; // (3,2,2)
    expect(boundingBox(data, shape)).toEqual({ min: [1, 1, 0], max: [3, 2, 2] });
    // Reference: data[min:max] with the inclusive max → last slice of each axis dropped.
    const box = brainCropBox(data, shape);
    expect(box).toEqual({ start: [1, 1, 0], end: [3, 2, 2] });
    expect(brainCropBox(new Int16Array(60), shape)).toBeNull();
    const cropped = cropArray(data, shape, box as NonNullable<typeof box>);
    expect(cropped.length).toBe(2 * 1 * 2);
    expect(cropped[0]).toBe(7); // (1,1,0) → (0,0,0)
    expect(Array.from(cropped).includes(9)).toBe(false); // (3,2,2) is beyond the exclusive end
  });

  it('LA crop: px/py rule, margins drawn in the reference order, z kept', () => {
    const { rng, calls } = scriptedRng([10, 11, 12, 13, 14, 15]);
    const box = laCropBox({ min: [50, 60, 10], max: [80, 100, 30] }, [200, 200, 50], rng);
    // px = (112 − 30) // 2 = 41: start max(50 − 10 − 41, 0) = 0, end min(80 + 11 + 41, 200) = 132.
    // py = (112 − 40) // 2 = 36: start 60 − 12 − 36 = 12, end 100 + 13 + 36 = 149. z: whole axis.
    expect(box).toEqual({ start: [0, 12, 0], end: [132, 149, 50] });
    expect(calls).toEqual([
      [10, 20],
      [10, 20],
      [10, 20],
      [10, 20],
      [5, 10],
      [5, 10],
    ]);
    // Large label: no padding (px = 0), end clamped to the size.
    const { rng: r2 } = scriptedRng([19, 19, 10, 10, 5, 5]);
    expect(laCropBox({ min: [20, 30, 0], max: [190, 150, 49] }, [200, 200, 50], r2)).toEqual({
      start: [1, 20, 0],
      end: [200, 160, 50],
    });
  });

  it('99.9 % cumulative-histogram clip value: integer bins and 256 float bins', () => {
    const ints = Int16Array.from({ length: 1000 }, (_, i) => i);
    // CDF at value v is (v + 1) / 1000 → first ≥ 0.999 at v = 998.
    expect(cumulativeClipValue(ints, 0.999)).toBe(998);
    const floats = Float32Array.from({ length: 1000 }, (_, i) => i);
    // 256 bins over [0, 999]: the bin holding 996..999 is the last one (index 255), centre 255.5 · 999/256.
    expect(cumulativeClipValue(floats, 0.999)).toBeCloseTo((255.5 * 999) / 256, 9);
    // Skewed integers: 999 zeros and one 500 → the CDF reaches 0.999 at 0.
    const skew = new Int16Array(1000);
    skew[3] = 500;
    expect(cumulativeClipValue(skew, 0.999)).toBe(0);
  });

  it('z-score (population std, optional voxel selection) and min-max', () => {
    const z = zscore([1, 2, 3, 4]);
    const s = Math.sqrt(1.25);
    expect(Array.from(z)).toEqual([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s].map(Math.fround));
    // BraTS rule: statistics over voxels > 0 only; the background becomes −mean/std.
    expect(Array.from(zscore([0, 0, 2, 4], (v) => v > 0))).toEqual([-3, -3, -1, 1]);
    expect(Array.from(minMaxNormalize([2, 4, 6]))).toEqual([0, 0.5, 1]);
    expect(Array.from(minMaxNormalize([5, 5]))).toEqual([0, 0]);
  });

  it('Pancreas crop: bbox ± margin, grown to the minimum size, clamped', () => {
    const box = pancreasCropBox({ min: [40, 40, 10], max: [50, 45, 20] }, [100, 100, 40], {
      margin: 5,
      minSize: [32, 32, 64],
    });
    // x: [35, 56) → 21 < 32, grow 11 (5 before, 6 after) → [30, 62). y: [35, 51) grow 16 → [27, 59).
    // z: the volume (40) is smaller than 64 → the whole axis.
    expect(box).toEqual({ start: [30, 27, 0], end: [62, 59, 40] });
    // Reference defaults (25, 96³) near a border: shifted back inside.
    // x: [0, 36) grow 60 → [−30, 66) → shifted [0, 96). y: [125, 186) grow 35 → [108, 204) → [104, 200).
    // z: [0, 31) grow 65 → [−32, 64) → [0, 96).
    expect(pancreasCropBox({ min: [2, 150, 0], max: [10, 160, 5] }, [200, 200, 120])).toEqual({
      start: [0, 104, 0],
      end: [96, 200, 96],
    });
  });

  it('crop affine: origin = A · [cropStart, 1]', () => {
    const A = [
      [0, -0.7, 0, -10],
      [-0.5, 0, 0, -20],
      [0, 0, 2, 30],
      [0, 0, 0, 1],
    ];
    expect(cropAffine(A, [4, 10, 3])).toEqual([
      [0, -0.7, 0, -17],
      [-0.5, 0, 0, -22],
      [0, 0, 2, 36],
      [0, 0, 0, 1],
    ]);
  });

  it('Info.cfg parsing', () => {
    expect(parseInfoCfg('ED: 1\nES: 12\nGroup: NOR\n', 'x/Info.cfg')).toEqual({ ed: 1, es: 12 });
    expect(() => parseInfoCfg('ED: 1\n', 'x/Info.cfg')).toThrow(/x\/Info.cfg: missing or non-integer "ES:"/);
  });
});

describe('prepareDataset on synthetic raw data', () => {
  it('LA from NRRD: contract-valid folder, x/y crop with margins in range, z kept, z-score over the uncropped volume; resumable', async () => {
    const raw = path.join(dir, 'la-raw');
    const out = path.join(dir, 'la-out');
    const syn = await synthesize({ dataset: 'la', out: raw, cases: 3, size: [48, 48, 12], seed: 3 });
    const events: PrepareCaseEvent[] = [];
    const res = await prepareDataset({
      dataset: 'la',
      raw,
      out,
      seed: 5,
      minSize: [16, 16, 16],
      onCase: (e) => events.push(e),
    });
    expect(res.failed).toEqual([]);
    expect(res.prepared).toEqual([...syn.ids.train, ...syn.ids.test]);
    expect(res.absent.length).toBe(97);
    expect(events.map((e) => e.status)).toEqual(['prepared', 'prepared', 'prepared']);
    const report = await validateDataset(out);
    expect(report.problems).toEqual([]);
    const json = await readJson(path.join(out, 'dataset.json'));
    expect(json.splits).toEqual({ train: syn.ids.train, val: [], test: syn.ids.test });
    expect(json.labels).toEqual({ background: 0, left_atrium: 1 });
    expect(json.numTraining).toBe(3);
    expect(json.spacing.median).toEqual([0.625, 0.625, 0.625]);
    let unclamped = 0;
    for (const id of [...syn.ids.train, ...syn.ids.test]) {
      const rawImg = await readNrrd(path.join(raw, 'Training Set', id, 'lgemri.nrrd'));
      const rawLab = await readNrrd(path.join(raw, 'Training Set', id, 'laendo.nrrd'));
      const img = await readNifti(path.join(out, 'imagesTr', `${id}_0000.nii.gz`));
      const lab = await readNifti(path.join(out, 'labelsTr', `${id}.nii.gz`));
      const { cropStart, originalShape, source } = json.cases[id];
      expect(source).toBe(path.join('Training Set', id, 'lgemri.nrrd'));
      expect(originalShape).toEqual([48, 48, 12]);
      expect(cropStart[2]).toBe(0);
      expect(img.shape[2]).toBe(12);
      const bb = boundingBox(rawLab.data as Uint8Array, rawImg.shape) as NonNullable<
        ReturnType<typeof boundingBox>
      >;
      for (let a = 0; a < 2; a++) {
        const pad = Math.floor(Math.max(16 - (bb.max[a] - bb.min[a]), 0) / 2);
        const lo = bb.min[a] - pad - cropStart[a]; // the drawn margin, unless clamped at 0
        if (cropStart[a] > 0) {
          expect(lo >= 10 && lo <= 19).toBe(true);
          unclamped++;
        } else expect(bb.min[a] - pad - 19).toBeLessThanOrEqual(0);
        const end = cropStart[a] + img.shape[a];
        const hi = end - bb.max[a] - pad;
        if (end < 48) {
          expect(hi >= 10 && hi <= 19).toBe(true);
          unclamped++;
        } else expect(bb.max[a] + pad + 19).toBeGreaterThanOrEqual(48);
      }
      // Voxels equal the whole-volume z-score of the raw image at the shifted position.
      const r = stats(rawImg.data as Uint8Array);
      const [X, Y, Z] = img.shape;
      for (const [i, j, k] of [
        [0, 0, 0],
        [X - 1, Y - 1, Z - 1],
        [X >> 1, Y >> 1, Z >> 1],
      ]) {
        const src = rawImg.data[((i + cropStart[0]) * 48 + j + cropStart[1]) * 12 + k] as number;
        expect(img.data[(i * Y + j) * Z + k]).toBeCloseTo((src - r.mean) / r.std, 4);
        const l = rawLab.data[((i + cropStart[0]) * 48 + j + cropStart[1]) * 12 + k];
        expect(lab.data[(i * Y + j) * Z + k]).toBe(l === 255 ? 1 : 0);
      }
      // Geometry: voxel (0,0,0) of the crop sits where voxel cropStart of the source sat.
      for (let rr = 0; rr < 3; rr++) {
        const world = rawImg.affine[rr]
          .slice(0, 3)
          .reduce((s, v, c) => s + v * cropStart[c], rawImg.affine[rr][3]);
        expect(img.affine[rr][3]).toBeCloseTo(world, 3);
      }
    }
    expect(unclamped).toBeGreaterThan(0); // some margins were not clamped, so their ranges were checked
    // Second run: everything skipped, files untouched; force redoes them.
    const before = (await fs.stat(path.join(out, 'imagesTr', `${syn.ids.train[0]}_0000.nii.gz`))).mtimeMs;
    const again = await prepareDataset({ dataset: 'la', raw, out, seed: 5, minSize: 16 });
    expect(again.skipped).toEqual(res.prepared);
    expect(again.prepared).toEqual([]);
    expect((await fs.stat(path.join(out, 'imagesTr', `${syn.ids.train[0]}_0000.nii.gz`))).mtimeMs).toBe(
      before,
    );
    expect((await readJson(path.join(out, 'dataset.json'))).cases).toEqual(json.cases);
    const forced = await prepareDataset({ dataset: 'la', raw, out, seed: 5, minSize: 16, force: true });
    expect(forced.prepared.length).toBe(3);
    expect((await readJson(path.join(out, 'dataset.json'))).cases).toEqual(json.cases); // seeded margins
  });

  it('LA: a truncated NRRD and a missing label are reported by name; the others are prepared', async () => {
    const raw = path.join(dir, 'la-bad');
    const out = path.join(dir, 'la-bad-out');
    const syn = await synthesize({ dataset: 'la', out: raw, cases: 3, size: [32, 32, 8] });
    const [a, b, c] = [...syn.ids.train, ...syn.ids.test];
    const img = path.join(raw, 'Training Set', a, 'lgemri.nrrd');
    const bytes = await fs.readFile(img);
    await fs.writeFile(img, bytes.subarray(0, bytes.length - 40));
    await fs.rm(path.join(raw, 'Training Set', b, 'laendo.nrrd'));
    const res = await prepareDataset({ dataset: 'la', raw, out, minSize: 16 });
    expect(res.prepared).toEqual([c]);
    expect(res.failed.map((f) => f.case)).toEqual([a, b]);
    expect(res.failed[0].error).toMatch(/lgemri\.nrrd: corrupt or truncated gzip/);
    expect(res.failed[1].error).toMatch(/laendo\.nrrd: missing label file/);
    const json = await readJson(path.join(out, 'dataset.json'));
    expect([...json.splits.train, ...json.splits.test]).toEqual([c]);
  });

  it('LA from UA-MT h5: copied as is', async () => {
    const raw = path.join(dir, 'la-h5');
    const out = path.join(dir, 'la-h5-out');
    const syn = await synthesize({ dataset: 'la', out: raw, cases: 2, size: [32, 32, 8], format: 'h5' });
    const res = await prepareDataset({ dataset: 'la', raw, out });
    expect(res.failed).toEqual([]);
    const id = syn.ids.train[0];
    const h5 = await readH5Datasets(path.join(raw, '2018LA_Seg_Training Set', id, 'mri_norm2.h5'), [
      'image',
      'label',
    ]);
    const img = await readNifti(path.join(out, 'imagesTr', `${id}_0000.nii.gz`));
    expect(img.shape).toEqual(h5.image.shape);
    expect(Array.from(img.data as Float32Array)).toEqual(Array.from(h5.image.data));
    expect((await validateDataset(out)).problems).toEqual([]);
  });

  it('ACDC: frames renamed frame01/frame02, min-max [0,1], dims 2, patient unit', async () => {
    const raw = path.join(dir, 'acdc-raw');
    const out = path.join(dir, 'acdc-out');
    const syn = await synthesize({ dataset: 'acdc', out: raw, cases: 3, size: [32, 32, 5] });
    const res = await prepareDataset({ dataset: 'acdc', raw, out });
    expect(res.failed).toEqual([]);
    expect(res.prepared).toEqual(['patient099', 'patient028', 'patient011']);
    expect(res.absent.length).toBe(200 - 6);
    expect((await validateDataset(out)).problems).toEqual([]);
    const json = await readJson(path.join(out, 'dataset.json'));
    expect(json.dims).toBe(2);
    expect(json.labeledUnit).toBe('patient');
    expect(json.splits).toEqual({
      train: ['patient099_frame01', 'patient099_frame02'],
      val: ['patient028_frame01', 'patient028_frame02'],
      test: ['patient011_frame01', 'patient011_frame02'],
    });
    expect(json.patientOf.patient028_frame02).toBe('patient028');
    const info = await fs.readFile(path.join(raw, 'training', 'patient099', 'Info.cfg'), 'utf8');
    const es = Number(/^ES: (\d+)$/m.exec(info)?.[1]);
    expect(json.cases.patient099_frame02.source).toBe(
      path.join('training', 'patient099', `patient099_frame${String(es).padStart(2, '0')}.nii.gz`),
    );
    const img = await readNifti(path.join(out, 'imagesTr', 'patient099_frame02_0000.nii.gz'));
    const lab = await readNifti(path.join(out, 'labelsTr', 'patient099_frame02.nii.gz'));
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of img.data as Float32Array) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect([lo, hi]).toEqual([0, 1]);
    expect(img.spacing).toEqual([1.5, 1.5, 10]);
    expect(new Set(lab.data as Uint8Array)).toEqual(new Set([0, 1, 2, 3]));
    expect(syn.ids.train).toEqual(['patient099']);
  });

  it('ACDC: NaN voxels and an image/label shape mismatch are reported by patient', async () => {
    const raw = path.join(dir, 'acdc-bad');
    const out = path.join(dir, 'acdc-bad-out');
    await synthesize({ dataset: 'acdc', out: raw, cases: 3, size: [24, 24, 4] });
    const nanFile = path.join(raw, 'training', 'patient028', 'patient028_frame01.nii.gz');
    const v = await readNifti(nanFile);
    const f = Float32Array.from(v.data as Int16Array);
    f[(2 * 24 + 3) * 4 + 1] = Number.NaN;
    await writeNifti(nanFile, { ...v, data: f }, { datatype: 'float32' });
    const gtFile = path.join(raw, 'training', 'patient011', 'patient011_frame01_gt.nii.gz');
    const g = await readNifti(gtFile);
    await writeNifti(gtFile, {
      ...g,
      data: (g.data as Uint8Array).subarray(0, 24 * 24 * 3),
      shape: [24, 24, 3],
    });
    const res = await prepareDataset({ dataset: 'acdc', raw, out });
    expect(res.prepared).toEqual(['patient099']);
    expect(res.failed.map((x) => x.case)).toEqual(['patient028', 'patient011']);
    expect(res.failed[0].error).toMatch(
      /patient028_frame01\.nii\.gz: non-finite value NaN at voxel \(2, 3, 1\)/,
    );
    expect(res.failed[1].error).toMatch(
      /shape mismatch: .*patient011_frame01\.nii\.gz is \[24, 24, 4\] but .*_gt\.nii\.gz is \[24, 24, 3\]/,
    );
  });

  it('BraTS2019: FLAIR brain crop, four channels z-scored over brain voxels, whole-tumour label', async () => {
    const raw = path.join(dir, 'brats-raw');
    const out = path.join(dir, 'brats-out');
    const syn = await synthesize({ dataset: 'brats2019', out: raw, cases: 3, size: [32, 32, 28] });
    const res = await prepareDataset({ dataset: 'brats2019', raw, out });
    expect(res.failed).toEqual([]);
    expect((await validateDataset(out)).problems).toEqual([]);
    const json = await readJson(path.join(out, 'dataset.json'));
    expect(json.channel_names).toEqual({ '0': 'FLAIR', '1': 'T1', '2': 'T1ce', '3': 'T2' });
    const id = syn.ids.train[0];
    const src = path.join(raw, json.cases[id].source);
    const flair = await readNifti(src);
    const seg = await readNifti(src.replace('_flair.', '_seg.'));
    const box = brainCropBox(flair.data as Int16Array, flair.shape) as NonNullable<
      ReturnType<typeof brainCropBox>
    >;
    expect(json.cases[id].cropStart).toEqual(box.start);
    const shape = box.end.map((e, a) => e - box.start[a]);
    const rawCrop = cropArray(flair.data as Int16Array, flair.shape, box);
    for (let c = 0; c < 4; c++) {
      const ch = await readNifti(path.join(out, 'imagesTr', `${id}_000${c}.nii.gz`));
      expect(ch.shape).toEqual(shape);
      if (c === 0) {
        const brain = stats(ch.data as Float32Array, (i) => rawCrop[i] > 0);
        expect(brain.mean).toBeCloseTo(0, 4);
        expect(brain.std).toBeCloseTo(1, 4);
        // The clip value caps the brightest 0.1 %.
        const clipV = cumulativeClipValue(rawCrop, 0.999);
        const top = Math.max(...(ch.data as Float32Array));
        const r = stats(
          Float32Array.from(rawCrop, (v) => Math.min(v, clipV)),
          (i) => rawCrop[i] > 0,
        );
        expect(top).toBeCloseTo((clipV - r.mean) / r.std, 4);
      }
    }
    const lab = await readNifti(path.join(out, 'labelsTr', `${id}.nii.gz`));
    const segCrop = cropArray(seg.data as Uint8Array, seg.shape, box);
    expect(Array.from(lab.data as Uint8Array)).toEqual(Array.from(segCrop, (v) => (v > 0 ? 1 : 0)));
  });

  it('Pancreas-NIH: HU window + min-max, label-bbox crop with margin/min size; bad label values reported', async () => {
    const raw = path.join(dir, 'pancreas-raw');
    const out = path.join(dir, 'pancreas-out');
    const syn = await synthesize({ dataset: 'pancreas-nih', out: raw, cases: 3, size: [48, 48, 20] });
    const [good, bad] = syn.ids.train;
    const badLab = path.join(raw, 'TCIA_pancreas_labels-02-05-2017', `label${bad.slice(5)}.nii.gz`);
    const v = await readNifti(badLab);
    (v.data as Uint8Array)[5] = 3;
    await writeNifti(badLab, v, { datatype: 'uint8' });
    const res = await prepareDataset({ dataset: 'pancreas-nih', raw, out, margin: 4, minSize: 16 });
    expect(res.failed).toEqual([
      {
        case: bad,
        error: expect.stringMatching(
          /label\d{4}\.nii\.gz: label values \[3\] outside the dataset's classes \[0, 1\]/,
        ),
      },
    ]);
    expect(res.prepared).toEqual([good, ...syn.ids.test]);
    expect((await validateDataset(out)).problems).toEqual([]);
    const json = await readJson(path.join(out, 'dataset.json'));
    expect(json.splits.train).toEqual([good]);
    const rawImg = await readNifti(path.join(raw, 'Pancreas-CT', `PANCREAS_${good.slice(5)}.nii.gz`));
    const rawLab = await readNifti(
      path.join(raw, 'TCIA_pancreas_labels-02-05-2017', `label${good.slice(5)}.nii.gz`),
    );
    const bb = boundingBox(rawLab.data as Uint8Array, rawLab.shape) as NonNullable<
      ReturnType<typeof boundingBox>
    >;
    const expected = pancreasCropBox(bb, rawLab.shape, { margin: 4, minSize: [16, 16, 16] });
    expect(json.cases[good].cropStart).toEqual(expected.start);
    const img = await readNifti(path.join(out, 'imagesTr', `${good}_0000.nii.gz`));
    expect(img.shape).toEqual(expected.end.map((e, a) => e - expected.start[a]));
    for (let a = 0; a < 3; a++) {
      expect(expected.start[a]).toBeLessThanOrEqual(Math.max(bb.min[a] - 4, 0));
      expect(expected.end[a]).toBeGreaterThanOrEqual(Math.min(bb.max[a] + 5, rawLab.shape[a]));
    }
    // Voxel check: (clip(HU) − min) / (max − min) over the whole clipped volume.
    const hu = rawImg.data as Int16Array;
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of hu) {
      const c = Math.min(Math.max(x, -125), 275);
      lo = Math.min(lo, c);
      hi = Math.max(hi, c);
    }
    const [X, Y, Z] = img.shape;
    const [s0, s1, s2] = expected.start;
    for (const [i, j, k] of [
      [0, 0, 0],
      [X - 1, Y >> 1, Z - 1],
    ]) {
      const x = hu[((i + s0) * 48 + j + s1) * 20 + k + s2];
      const c = Math.min(Math.max(x, -125), 275);
      expect(img.data[(i * Y + j) * Z + k]).toBeCloseTo((c - lo) / (hi - lo), 5);
    }
  });

  it('rejects unknown datasets, wrong options and a raw folder without listed cases', async () => {
    await expect(prepareDataset({ dataset: 'xx' as 'la', raw: dir, out: dir })).rejects.toThrow(
      /unknown dataset "xx"/,
    );
    await expect(prepareDataset({ dataset: 'acdc', raw: dir, out: dir, margin: 3 })).rejects.toThrow(
      /margin applies to pancreas-nih only/,
    );
    const empty = path.join(dir, 'empty');
    await fs.mkdir(empty, { recursive: true });
    await expect(
      prepareDataset({ dataset: 'brats2019', raw: empty, out: path.join(dir, 'o') }),
    ).rejects.toThrow(/none of the 335 brats2019 cases/);
    await expect(prepareDataset({ dataset: 'la', raw: path.join(dir, 'nope'), out: dir })).rejects.toThrow(
      /raw folder not found/,
    );
  });
});

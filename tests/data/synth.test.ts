import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSplitLists } from '../../src/data/prepare/splits.js';
import { pickIds, synthesize } from '../../src/data/synth/index.js';
import { readH5Datasets } from '../../src/io/hdf5.js';
import { readNifti } from '../../src/io/nifti.js';
import { readNrrd } from '../../src/io/nrrd.js';
import type { VoxelArray } from '../../src/io/volume.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-synth-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function histogram(data: ArrayLike<number>): Map<number, number> {
  const h = new Map<number, number>();
  for (let i = 0; i < data.length; i++) h.set(data[i], (h.get(data[i]) ?? 0) + 1);
  return h;
}

function meanWhere(image: VoxelArray, label: ArrayLike<number>, want: (l: number) => boolean): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < label.length; i++) {
    if (want(label[i])) {
      s += Number(image[i]);
      n++;
    }
  }
  return s / n;
}

describe('pickIds', () => {
  it('takes the first official ids, train then val then test', async () => {
    const lists = await readSplitLists('brats2019');
    const ids = pickIds('brats2019', lists, 12);
    expect(ids.train).toEqual(lists.train.slice(0, 8));
    expect(ids.val).toEqual(lists.val.slice(0, 2));
    expect(ids.test).toEqual(lists.test.slice(0, 2));
    const laLists = await readSplitLists('la');
    const la = pickIds('la', laLists, 24);
    expect([la.train.length, la.val.length, la.test.length]).toEqual([16, 0, 8]);
    const acdc = pickIds('acdc', await readSplitLists('acdc'), 3);
    expect(acdc).toEqual({ train: ['patient099'], val: ['patient028'], test: ['patient011'] });
    expect(() => pickIds('la', laLists, 101)).toThrow(/cases must be an integer 1\.\.100/);
  });
});

describe('synthesize', () => {
  it('LA: challenge NRRD layout, label 255 = atrium, LPS geometry, deterministic', async () => {
    const out = path.join(dir, 'la');
    const progress: string[] = [];
    const res = await synthesize({
      dataset: 'la',
      out,
      cases: 3,
      seed: 7,
      size: [40, 40, 20],
      onProgress: (p) => progress.push(`${p.done}/${p.total}`),
    });
    const lists = await readSplitLists('la');
    expect(res.ids).toEqual({ train: lists.train.slice(0, 2), val: [], test: lists.test.slice(0, 1) });
    expect(progress).toEqual(['1/3', '2/3', '3/3']);
    const id = lists.train[0];
    expect(res.files).toContain(path.join('Training Set', id, 'lgemri.nrrd'));
    expect((await fs.readdir(path.join(out, 'Training Set'))).sort()).toEqual(
      [...lists.train.slice(0, 2), lists.test[0]].sort(),
    );
    const img = await readNrrd(path.join(out, 'Training Set', id, 'lgemri.nrrd'));
    const lab = await readNrrd(path.join(out, 'Training Set', id, 'laendo.nrrd'));
    expect(img.shape).toEqual([40, 40, 20]);
    expect(img.data).toBeInstanceOf(Uint8Array);
    expect(img.spacing).toEqual([0.625, 0.625, 0.625]);
    const h = histogram(lab.data as Uint8Array);
    expect([...h.keys()].sort((a, b) => a - b)).toEqual([0, 255]);
    const frac = (h.get(255) ?? 0) / lab.data.length;
    expect(frac).toBeGreaterThan(0.005);
    expect(frac).toBeLessThan(0.2);
    // Blood pool brighter than the rest on average.
    expect(meanWhere(img.data, lab.data as Uint8Array, (l) => l === 255)).toBeGreaterThan(
      meanWhere(img.data, lab.data as Uint8Array, (l) => l === 0) + 20,
    );
    // Same seed → same case; different seed → different case.
    const again = path.join(dir, 'la-again');
    await synthesize({ dataset: 'la', out: again, cases: 1, seed: 7, size: [40, 40, 20] });
    const img2 = await readNrrd(path.join(again, 'Training Set', id, 'lgemri.nrrd'));
    expect(Buffer.from(img2.data.buffer).equals(Buffer.from(img.data.buffer))).toBe(true);
    const other = path.join(dir, 'la-other');
    await synthesize({ dataset: 'la', out: other, cases: 1, seed: 8, size: [40, 40, 20] });
    const img3 = await readNrrd(path.join(other, 'Training Set', id, 'lgemri.nrrd'));
    expect(Buffer.from(img3.data.buffer).equals(Buffer.from(img.data.buffer))).toBe(false);
  });

  it('LA: UA-MT h5 layout (z-scored, x/y-cropped, z kept)', async () => {
    const out = path.join(dir, 'la-h5');
    const res = await synthesize({ dataset: 'la', out, cases: 2, size: [40, 40, 20], format: 'h5' });
    const id = res.ids.train[0];
    const ds = await readH5Datasets(path.join(out, '2018LA_Seg_Training Set', id, 'mri_norm2.h5'), [
      'image',
      'label',
    ]);
    expect(ds.image.dtype).toBe('float32');
    expect(ds.label.dtype).toBe('uint8');
    expect(ds.image.shape[2]).toBe(20);
    expect([...histogram(ds.label.data).keys()].sort()).toEqual([0, 1]);
  });

  it('ACDC: patient folders with ED/ES frames, _gt files, Info.cfg, labels 0-3, thick slices', async () => {
    const out = path.join(dir, 'acdc');
    const res = await synthesize({ dataset: 'acdc', out, cases: 3, size: [32, 32, 6] });
    expect(res.ids).toEqual({ train: ['patient099'], val: ['patient028'], test: ['patient011'] });
    const pdir = path.join(out, 'training', 'patient099');
    const info = await fs.readFile(path.join(pdir, 'Info.cfg'), 'utf8');
    const ed = Number(/^ED: (\d+)$/m.exec(info)?.[1]);
    const es = Number(/^ES: (\d+)$/m.exec(info)?.[1]);
    expect(ed).toBe(1);
    expect(es).toBeGreaterThan(ed);
    expect(info).toMatch(/^Group: (DCM|HCM|MINF|NOR|RV)$/m);
    expect(info).toMatch(/^NbFrame: \d+$/m);
    const frames = [ed, es].map((f) => `patient099_frame${String(f).padStart(2, '0')}`);
    expect((await fs.readdir(pdir)).sort()).toEqual(
      ['Info.cfg', ...frames.flatMap((f) => [`${f}.nii.gz`, `${f}_gt.nii.gz`])].sort(),
    );
    const img = await readNifti(path.join(pdir, `${frames[0]}.nii.gz`));
    const gt = await readNifti(path.join(pdir, `${frames[0]}_gt.nii.gz`));
    const gtEs = await readNifti(path.join(pdir, `${frames[1]}_gt.nii.gz`));
    expect(img.shape).toEqual([32, 32, 6]);
    expect(img.spacing).toEqual([1.5, 1.5, 10]);
    const h = histogram(gt.data as Uint8Array);
    expect([...h.keys()].sort()).toEqual([0, 1, 2, 3]);
    const fg = (h.get(1) ?? 0) + (h.get(2) ?? 0) + (h.get(3) ?? 0);
    expect(fg / gt.data.length).toBeGreaterThan(0.01);
    expect(fg / gt.data.length).toBeLessThan(0.4);
    // ES: smaller LV cavity than ED.
    expect(histogram(gtEs.data as Uint8Array).get(3) ?? 0).toBeLessThan(h.get(3) ?? 0);
    // LV blood pool bright, myocardium dark.
    expect(meanWhere(img.data, gt.data as Uint8Array, (l) => l === 3)).toBeGreaterThan(
      meanWhere(img.data, gt.data as Uint8Array, (l) => l === 2) + 50,
    );
  });

  it('BraTS2019: HGG/LGG case folders with four modalities, seg 0/1/2/4, zero background', async () => {
    const out = path.join(dir, 'brats');
    const res = await synthesize({ dataset: 'brats2019', out, cases: 3, size: [32, 32, 32], seed: 1 });
    const root = path.join(out, 'MICCAI_BraTS_2019_Data_Training');
    const grades = await fs.readdir(root);
    expect(grades.every((g) => g === 'HGG' || g === 'LGG')).toBe(true);
    const all = [...res.ids.train, ...res.ids.val, ...res.ids.test];
    const found = (await Promise.all(grades.map((g) => fs.readdir(path.join(root, g))))).flat().sort();
    expect(found).toEqual([...all].sort());
    const id = all[0];
    const grade = grades.find((g) => existsSync(path.join(root, g, id))) as string;
    const cdir = path.join(root, grade, id);
    expect((await fs.readdir(cdir)).sort()).toEqual(
      ['flair', 'seg', 't1', 't1ce', 't2'].map((m) => `${id}_${m}.nii.gz`).sort(),
    );
    const flair = await readNifti(path.join(cdir, `${id}_flair.nii.gz`));
    const seg = await readNifti(path.join(cdir, `${id}_seg.nii.gz`));
    const labels = [...histogram(seg.data as Uint8Array).keys()].sort();
    expect(labels.every((l) => [0, 1, 2, 4].includes(l))).toBe(true);
    expect(labels).toContain(2);
    // Brain: non-zero, surrounded by exact zeros (the corners are background).
    expect(flair.data[0]).toBe(0);
    const brain = (flair.data as Int16Array).filter((v) => v > 0).length / flair.data.length;
    expect(brain).toBeGreaterThan(0.1);
    expect(brain).toBeLessThan(0.6);
    // Tumour voxels are inside the brain; edema is bright on FLAIR.
    for (let i = 0; i < seg.data.length; i++) if (seg.data[i] > 0) expect(flair.data[i]).toBeGreaterThan(0);
    expect(meanWhere(flair.data, seg.data as Uint8Array, (l) => l === 2)).toBeGreaterThan(
      meanWhere(flair.data, seg.data as Uint8Array, (l) => l === 0) * 1.2,
    );
  });

  it('Pancreas-NIH: dcm2niix-style HU volumes and TCIA labels with matching numbers', async () => {
    const out = path.join(dir, 'pancreas');
    const res = await synthesize({ dataset: 'pancreas-nih', out, cases: 3, size: [48, 48, 24] });
    const nums = [...res.ids.train, ...res.ids.test].map((id) => id.slice(5));
    expect((await fs.readdir(path.join(out, 'Pancreas-CT'))).sort()).toEqual(
      nums.map((n) => `PANCREAS_${n}.nii.gz`).sort(),
    );
    expect((await fs.readdir(path.join(out, 'TCIA_pancreas_labels-02-05-2017'))).sort()).toEqual(
      nums.map((n) => `label${n}.nii.gz`).sort(),
    );
    const img = await readNifti(path.join(out, 'Pancreas-CT', `PANCREAS_${nums[0]}.nii.gz`));
    const lab = await readNifti(path.join(out, 'TCIA_pancreas_labels-02-05-2017', `label${nums[0]}.nii.gz`));
    expect(img.data).toBeInstanceOf(Int16Array);
    const hu = img.data as Int16Array;
    expect(Math.min(...hu)).toBeLessThan(-900); // air
    expect(Math.max(...hu)).toBeGreaterThan(300); // bone
    const frac = (lab.data as Uint8Array).reduce((a, b) => a + b, 0) / lab.data.length;
    expect(frac).toBeGreaterThan(0.001);
    expect(frac).toBeLessThan(0.05);
    const inside = meanWhere(hu, lab.data as Uint8Array, (l) => l === 1);
    expect(inside).toBeGreaterThan(0);
    expect(inside).toBeLessThan(150);
  });

  it('rejects bad options', async () => {
    await expect(synthesize({ dataset: 'acdc', out: dir, format: 'h5' })).rejects.toThrow(
      /format applies to la only/,
    );
    await expect(synthesize({ dataset: 'la', out: dir, size: [8, 8, 8] })).rejects.toThrow(
      /size must be three integers/,
    );
  });
});

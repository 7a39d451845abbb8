/**
 * `synthesize({ difficulty })` for the LA phantoms: `standard` is the generator as it was (hashes computed from
 * the code before the knobs existed), `hard` varies more between cases and stays learnable, every knob is
 * checked, the manifest records the difficulty, and docs/synth.md lists every knob with both presets' values.
 */
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDataset } from '../../src/data/dataset.js';
import { prepareDataset } from '../../src/data/prepare/index.js';
import {
  describeKnobRule,
  LA_DIFFICULTY_PRESET_NAMES,
  resolveLaDifficulty,
} from '../../src/data/synth/difficulty.js';
import {
  LA_DIFFICULTY_KNOBS,
  LA_DIFFICULTY_PRESETS,
  LA_DIFFICULTY_RULES,
  type LaDifficulty,
  makeLaCase,
  SYNTH_MANIFEST,
  type SynthDifficulty,
  synthesize,
} from '../../src/data/synth/index.js';
import { readH5Datasets } from '../../src/io/hdf5.js';
import { readNrrd } from '../../src/io/nrrd.js';
import { writeFileAtomic } from '../../src/util/atomic.js';
import { Rng } from '../../src/util/rng.js';
import { refusal } from '../helpers/files.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-synth-difficulty-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function fileHashes(out: string, files: string[]): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const f of files) hashes[f] = sha256(await fs.readFile(path.join(out, f)));
  return hashes;
}

/**
 * SHA-256 of what `synthesize({ dataset: 'la', cases: 3, seed: 7, size: [40, 40, 20] })` wrote before difficulty
 * existed: the NRRD files, and for `format: 'h5'` the bytes of the `image` (float32) and `label` datasets (an HDF5
 * file also stores the time it was written, so its own bytes differ from run to run).
 */
const BEFORE_NRRD: Record<string, string> = {
  'Training Set/06SR5RBREL16DQ6M8LWS/lgemri.nrrd':
    'a3adc4a92a11991300d107b5592b2ec1bb6a6c8dbd37c3159bbde48276be1333',
  'Training Set/06SR5RBREL16DQ6M8LWS/laendo.nrrd':
    '0c3947956fe31509757310865d58b18b250b79a4af1149c1956558346245073f',
  'Training Set/0RZDK210BSMWAA6467LU/lgemri.nrrd':
    'd32a984198b966098e3d61b008848f1aeb571da8965a0d3533fede51f43e6728',
  'Training Set/0RZDK210BSMWAA6467LU/laendo.nrrd':
    '1bb2df38d5adce45983705c197bdde5e60b8944fa450f58d52ff552cf6b0bcb9',
  'Training Set/UPT6DX9IQY9JAZ7HJKA7/lgemri.nrrd':
    '900f7a04db8fa6e38a4aadc6056b1fb95731a8d6dde931400c5faa66ade94dae',
  'Training Set/UPT6DX9IQY9JAZ7HJKA7/laendo.nrrd':
    '1915a9663ce508b892714f90436d8ca8cedd3bc11233a68b10fd8de3a6cfa551',
};
const BEFORE_H5: Record<string, string> = {
  '2018LA_Seg_Training Set/06SR5RBREL16DQ6M8LWS/mri_norm2.h5':
    'image 7223370eb6a5b7b9430598d08285322eb34cd3488f162f065e192167c480e12e label 42788c6b73df70385ce8903b97017e0da3ca51ffd74bcef6d5020f98ba30a9e6',
  '2018LA_Seg_Training Set/0RZDK210BSMWAA6467LU/mri_norm2.h5':
    'image e43136b1b051c189e5bc513506eadba82292372e8885b531b878ca7d13a561d5 label 92cc56e949d48335389aeebe438987dc69e633e39f9d07eeb941c93665498c02',
  '2018LA_Seg_Training Set/UPT6DX9IQY9JAZ7HJKA7/mri_norm2.h5':
    'image d1953f9fdd81ae3b8f5d18a3e227b9aa84efe80daaf0f93bb97d9fedea1cf150 label ed4b9fd6e821029acdca4a1b142165c9d68527c03f590c4e89bde79f17cec4bc',
};

async function h5Hashes(out: string, files: string[]): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const f of files) {
    const ds = await readH5Datasets(path.join(out, f), ['image', 'label']);
    const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    hashes[f] = `image ${sha256(bytes(ds.image.data))} label ${sha256(bytes(ds.label.data))}`;
  }
  return hashes;
}

const SHAPE: [number, number, number] = [64, 64, 48];

interface CaseStats {
  foreground: number;
  contrast: number;
  noise: number;
  centroid: [number, number, number];
  /** Connected components (6-connectivity) of the label, largest first. */
  components: number[];
}

function components(label: Uint8Array, shape: number[]): number[] {
  const [nx, ny, nz] = shape;
  const seen = new Uint8Array(label.length);
  const sizes: number[] = [];
  const stack: number[] = [];
  for (let s = 0; s < label.length; s++) {
    if (!label[s] || seen[s]) continue;
    let size = 0;
    seen[s] = 1;
    stack.push(s);
    while (stack.length > 0) {
      const p = stack.pop() as number;
      size++;
      const k = p % nz;
      const j = Math.floor(p / nz) % ny;
      const i = Math.floor(p / (ny * nz));
      const next = [
        i > 0 ? p - ny * nz : -1,
        i < nx - 1 ? p + ny * nz : -1,
        j > 0 ? p - nz : -1,
        j < ny - 1 ? p + nz : -1,
        k > 0 ? p - 1 : -1,
        k < nz - 1 ? p + 1 : -1,
      ];
      for (const q of next) {
        if (q >= 0 && label[q] && !seen[q]) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    sizes.push(size);
  }
  return sizes.sort((a, b) => b - a);
}

/**
 * Noise level from the image alone, in the dark background of the four corner columns (outside the body): the
 * values there are a constant plus noise, clipped at 0 below, so the spread of the upper half (84th percentile
 * minus median) is the noise's standard deviation.
 */
function noiseLevel(image: Uint8Array, shape: number[]): number {
  const [nx, ny, nz] = shape;
  const values: number[] = [];
  for (const i of [0, 1, 2, 3, nx - 4, nx - 3, nx - 2, nx - 1]) {
    for (const j of [0, 1, 2, 3, ny - 4, ny - 3, ny - 2, ny - 1]) {
      for (let k = 0; k < nz; k++) values.push(image[(i * ny + j) * nz + k]);
    }
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length * 0.8413)] - values[values.length >> 1];
}

function median(values: number[]): number {
  values.sort((a, b) => a - b);
  return values[values.length >> 1];
}

/**
 * Per-case statistics from the image and label alone. Contrast: median target intensity over the median of the
 * other voxels inside the body (at least 30, which leaves out the dark background).
 */
function caseStats(image: Uint8Array, label: Uint8Array, shape: number[]): CaseStats {
  const [, ny, nz] = shape;
  const inside: number[] = [];
  const around: number[] = [];
  const centroid: [number, number, number] = [0, 0, 0];
  for (let p = 0; p < label.length; p++) {
    if (label[p]) {
      inside.push(image[p]);
      centroid[0] += Math.floor(p / (ny * nz));
      centroid[1] += Math.floor(p / nz) % ny;
      centroid[2] += p % nz;
    } else if (image[p] >= 30) around.push(image[p]);
  }
  const fg = inside.length;
  return {
    foreground: fg / label.length,
    contrast: median(inside) / median(around),
    noise: noiseLevel(image, shape),
    centroid: centroid.map((c, a) => c / fg / shape[a]) as [number, number, number],
    components: components(label, shape),
  };
}

function std(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
}

function presetCases(difficulty: LaDifficulty, n: number, seed = 11) {
  return Array.from({ length: n }, (_, i) => {
    const made = makeLaCase(Rng.stream(seed, `synth/la/case${i}`), SHAPE, difficulty);
    return { ...made, stats: caseStats(made.image, made.label, SHAPE) };
  });
}

describe('difficulty standard is the original generator', () => {
  it('makeLaCase gives the bytes of the code before the knobs, with and without the preset', () => {
    const pinned = [
      {
        seed: 0,
        shape: [64, 64, 48] as [number, number, number],
        image: '99a07c752bc23142434eba0325181d160f69482b746986aa2aee7f000fe4ec2a',
        label: 'd782dc15f6f13810cedfabfa8a2bc7cb80a185b020cb495cd77efa6fce740f1c',
      },
      {
        seed: 3,
        shape: [40, 40, 20] as [number, number, number],
        image: 'b21ac68285d33009aa3ab0e13fdc5c67ed82be51830a078367ca38c039000679',
        label: '633d994f34ef19c976fc0e2eb726371a189d44c631a43ae018ac5f11bf40679d',
      },
    ];
    for (const pin of pinned) {
      for (const made of [
        makeLaCase(Rng.stream(pin.seed, 'synth/la/X'), pin.shape),
        makeLaCase(Rng.stream(pin.seed, 'synth/la/X'), pin.shape, LA_DIFFICULTY_PRESETS.standard),
      ]) {
        expect(sha256(made.image)).toBe(pin.image);
        expect(sha256(made.label)).toBe(pin.label);
      }
    }
  });

  it.each(['nrrd', 'h5'] as const)('synthesize %s writes the same files as before', async (format) => {
    const variants: (SynthDifficulty | undefined)[] = [undefined, 'standard', {}, { preset: 'standard' }];
    for (const [v, difficulty] of variants.entries()) {
      const out = path.join(dir, `standard-${format}-${v}`);
      const res = await synthesize({
        dataset: 'la',
        out,
        cases: 3,
        seed: 7,
        size: [40, 40, 20],
        format,
        difficulty,
      });
      if (format === 'nrrd') expect(await fileHashes(out, res.files)).toEqual(BEFORE_NRRD);
      else expect(await h5Hashes(out, res.files)).toEqual(BEFORE_H5);
      const manifest = JSON.parse(await fs.readFile(path.join(out, SYNTH_MANIFEST), 'utf8'));
      expect(manifest.settings.difficulty).toEqual({
        preset: 'standard',
        custom: false,
        knobs: LA_DIFFICULTY_PRESETS.standard,
      });
    }
  });
});

describe('difficulty hard', () => {
  const n = 8;
  const standard = presetCases(LA_DIFFICULTY_PRESETS.standard, n);
  const hard = presetCases(LA_DIFFICULTY_PRESETS.hard, n);

  it('differs from standard and varies more between cases', () => {
    for (let i = 0; i < n; i++) expect(sha256(hard[i].image)).not.toBe(sha256(standard[i].image));
    const spread = (cases: typeof hard) => ({
      foreground: std(cases.map((c) => c.stats.foreground)),
      contrast: std(cases.map((c) => c.stats.contrast)),
      noise: std(cases.map((c) => c.stats.noise)),
      centroid: Math.hypot(...[0, 1, 2].map((a) => std(cases.map((c) => c.stats.centroid[a])))),
    });
    const s = spread(standard);
    const h = spread(hard);
    expect(h.foreground).toBeGreaterThan(1.5 * s.foreground);
    expect(h.contrast).toBeGreaterThan(1.3 * s.contrast);
    expect(h.noise).toBeGreaterThan(1.5 * s.noise);
    expect(h.centroid).toBeGreaterThan(1.5 * s.centroid);
    // Low-contrast cases: several, more than in standard.
    const low = (cases: typeof hard) => cases.filter((c) => c.stats.contrast < 1.65).length;
    expect(low(hard)).toBeGreaterThanOrEqual(2);
    expect(low(hard)).toBeGreaterThan(low(standard));
  });

  it('has other topologies: more lobes, a disconnected second component, a hole', () => {
    const maxLobes = (cases: typeof hard) => Math.max(...cases.map((c) => c.features.lobes));
    expect(maxLobes(standard)).toBeLessThanOrEqual(3);
    expect(maxLobes(hard)).toBeGreaterThan(3);
    expect(hard.some((c) => c.features.lobes === 0)).toBe(true);
    expect(standard.every((c) => !c.features.secondComponent && !c.features.hole)).toBe(true);
    const seconds = hard.filter((c) => c.features.secondComponent);
    expect(seconds.length).toBeGreaterThan(0);
    // The second component is its own sizeable connected component (not a speck of the rough surface).
    for (const c of seconds) expect(c.stats.components[1]).toBeGreaterThan(0.03 * c.stats.components[0]);
    expect(hard.some((c) => c.features.hole)).toBe(true);
    expect(Math.max(...hard.map((c) => c.features.distractors))).toBeGreaterThan(2);
  });

  it('dark-target cases: blood darker than tissue, a bright wall, the same shapes; none unless asked', () => {
    expect(hard.every((c) => !c.features.darkTarget)).toBe(true);
    const knobs = { ...LA_DIFFICULTY_PRESETS.hard, darkTargetProbability: 0.5 };
    const mixed = presetCases(knobs, n);
    const dark = mixed.filter((c) => c.features.darkTarget);
    expect(dark.length).toBeGreaterThanOrEqual(2);
    expect(dark.length).toBeLessThanOrEqual(6);
    for (const [i, c] of mixed.entries()) {
      // The mode is drawn after every other draw: shapes and labels are those of the preset without it.
      expect(c.label).toEqual(hard[i].label);
      if (c.features.darkTarget) expect(c.stats.contrast).toBeLessThan(1);
      else expect(c.stats.contrast).toBeGreaterThan(1);
    }
  });

  it('scarce is the knob set the semi-supervised experiment calibrated (its committed plan)', () => {
    const planFile = new URL('../../docs/experiments/la-cal4-dark30/plan.json', import.meta.url);
    const plan = JSON.parse(readFileSync(planFile, 'utf8')) as { data: { difficulty: SynthDifficulty } };
    expect(resolveLaDifficulty(plan.data.difficulty)).toEqual(LA_DIFFICULTY_PRESETS.scarce);
    const scarce = presetCases(LA_DIFFICULTY_PRESETS.scarce, n);
    expect(scarce.some((c) => c.features.darkTarget)).toBe(true);
    expect(scarce.some((c) => !c.features.darkTarget)).toBe(true);
  });

  it('stays learnable: every case has at least 2 % foreground, and the largest component is most of it', () => {
    for (const c of presetCases(LA_DIFFICULTY_PRESETS.hard, 16, 5)) {
      expect(c.stats.foreground).toBeGreaterThanOrEqual(0.02);
      expect(c.stats.foreground).toBeLessThan(0.2);
      expect(c.stats.contrast).toBeGreaterThan(1);
    }
  });

  it('h5: the crop keeps every target voxel, also of a second component', async () => {
    const out = path.join(dir, 'hard-h5');
    const size: [number, number, number] = [64, 64, 40];
    const res = await synthesize({
      dataset: 'la',
      out,
      cases: 8,
      seed: 3,
      size,
      format: 'h5',
      difficulty: 'hard',
    });
    let seconds = 0;
    for (const id of [...res.ids.train, ...res.ids.test]) {
      const full = makeLaCase(Rng.stream(3, `synth/la/${id}`), size, LA_DIFFICULTY_PRESETS.hard);
      if (full.features.secondComponent) seconds++;
      const file = path.join(out, '2018LA_Seg_Training Set', id, 'mri_norm2.h5');
      const ds = await readH5Datasets(file, ['label']);
      const count = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);
      expect(count(ds.label.data)).toBeGreaterThan(0);
      expect(count(ds.label.data)).toBe(count(full.label));
      expect(count(full.label) / full.label.length).toBeGreaterThanOrEqual(0.02);
    }
    expect(seconds).toBeGreaterThan(0);
  });

  it.each(['nrrd', 'h5'] as const)('prepare turns hard %s phantoms into a valid dataset', async (format) => {
    const raw = path.join(dir, `hard-prepare-${format}`);
    const out = path.join(dir, `hard-prepared-${format}`);
    const syn = await synthesize({
      dataset: 'la',
      out: raw,
      cases: 3,
      seed: 2,
      size: [48, 48, 24],
      format,
      difficulty: 'hard',
    });
    const res = await prepareDataset({ dataset: 'la', raw, out, minSize: [16, 16, 16] });
    expect(res.failed).toEqual([]);
    expect(res.prepared).toEqual([...syn.ids.train, ...syn.ids.test]);
    expect((await validateDataset(out)).problems).toEqual([]);
  });

  it('is deterministic: same seed → same bytes, another seed → other bytes (nrrd)', async () => {
    const make = async (name: string, seed: number) => {
      const out = path.join(dir, name);
      const res = await synthesize({
        dataset: 'la',
        out,
        cases: 2,
        seed,
        size: [40, 40, 24],
        difficulty: 'hard',
      });
      return fileHashes(out, res.files);
    };
    const a = await make('hard-a', 4);
    expect(await make('hard-b', 4)).toEqual(a);
    const c = await make('hard-c', 5);
    for (const f of Object.keys(a)) if (f.endsWith('lgemri.nrrd')) expect(c[f]).not.toBe(a[f]);
    // The label says 255 = atrium and is non-empty, as the standard files.
    const [f] = Object.keys(a).filter((k) => k.endsWith('laendo.nrrd'));
    const label = await readNrrd(path.join(dir, 'hard-a', f));
    expect((label.data as Uint8Array).some((v) => v === 255)).toBe(true);
  });

  it('an object sets single knobs on top of its preset', async () => {
    const base = makeLaCase(Rng.stream(1, 'synth/la/k'), [40, 40, 20], LA_DIFFICULTY_PRESETS.hard);
    const out = path.join(dir, 'custom');
    const res = await synthesize({
      dataset: 'la',
      out,
      cases: 1,
      seed: 1,
      size: [40, 40, 20],
      difficulty: { preset: 'hard', noiseSigma: [0, 0] },
    });
    const img = await readNrrd(path.join(out, res.files[0]));
    expect(sha256(img.data as Uint8Array)).not.toBe(sha256(base.image));
    const manifest = JSON.parse(await fs.readFile(path.join(out, SYNTH_MANIFEST), 'utf8'));
    expect(manifest.settings.difficulty).toEqual({
      preset: 'hard',
      custom: true,
      knobs: { ...LA_DIFFICULTY_PRESETS.hard, noiseSigma: [0, 0] },
    });
  });
});

describe('difficulty is checked before anything is written', () => {
  const bad: [SynthDifficulty | unknown, RegExp][] = [
    ['extreme', /synth la: difficulty must be standard, hard or scarce or an object of knobs, got "extreme"/],
    [42, /synth la: difficulty must be standard, hard or scarce/],
    [{ preset: 'easy' }, /synth la: difficulty\.preset must be standard, hard or scarce, got "easy"/],
    [{ noise: [1, 2] }, /synth la: difficulty\.noise is not a knob/],
    [{ toString: 1 }, /synth la: difficulty\.toString is not a knob/],
    [
      { noiseSigma: [5, 2] },
      /synth la: difficulty\.noiseSigma must be a range \[low, high\] of numbers 0–100 with low ≤ high, got \[5,2\]/,
    ],
    [{ noiseSigma: 5 }, /difficulty\.noiseSigma must be a range/],
    [{ centerXY: [0.2, 1.5] }, /difficulty\.centerXY must be a range \[low, high\] of numbers 0–1/],
    [{ lobes: [0, 2.5] }, /difficulty\.lobes must be a range \[low, high\] of integers 0–12/],
    [{ distractors: [-1, 2] }, /difficulty\.distractors must be a range/],
    [{ tilt: Number.NaN }, /difficulty\.tilt must be a number 0–3\.14, got null/],
    [{ holeProbability: 1.5 }, /difficulty\.holeProbability must be a number 0–1, got 1\.5/],
    [{ keepInside: 'yes' }, /difficulty\.keepInside must be true or false, got "yes"/],
    [{ minForeground: -0.1 }, /difficulty\.minForeground must be a number 0–0\.3/],
    [
      { tissueIntensity: [50, 130] },
      /difficulty\.tissueIntensity must stay below difficulty\.bloodIntensity \(high 130 ≥ low 120\)/,
    ],
  ];
  it.each(bad)('la %j', async (difficulty, message) => {
    const out = path.join(dir, 'never');
    const text = await refusal(
      synthesize({
        dataset: 'la',
        out,
        cases: 1,
        size: [24, 24, 8],
        difficulty: difficulty as SynthDifficulty,
      }),
    );
    expect(text).toMatch(message);
    await expect(fs.access(out)).rejects.toThrow();
  });

  it('other datasets: only la supports difficulty', async () => {
    for (const dataset of ['acdc', 'brats2019', 'pancreas-nih'] as const) {
      const out = path.join(dir, `never-${dataset}`);
      expect(await refusal(synthesize({ dataset, out, cases: 1, difficulty: 'hard' }))).toBe(
        `synth ${dataset}: difficulty "hard" is not supported: only la supports difficulty for now (use standard or leave it out)`,
      );
      await expect(fs.access(out)).rejects.toThrow();
    }
    const out = path.join(dir, 'acdc-standard');
    await synthesize({ dataset: 'acdc', out, cases: 1, size: [24, 24, 4], difficulty: 'standard' });
    const manifest = JSON.parse(await fs.readFile(path.join(out, SYNTH_MANIFEST), 'utf8'));
    expect(manifest.settings).toEqual({
      seed: 0,
      size: [24, 24, 4],
      cases: 1,
      difficulty: { preset: 'standard', custom: false },
    });
  });
});

describe('the manifest records the difficulty', () => {
  it('--force replaces a standard output with a hard one, and an older manifest without settings', async () => {
    const out = path.join(dir, 'forced');
    const first = await synthesize({ dataset: 'la', out, cases: 2, size: [24, 24, 8], seed: 1 });
    const read = async () => JSON.parse(await fs.readFile(path.join(out, SYNTH_MANIFEST), 'utf8'));
    const m1 = await read();
    expect(m1.settings).toEqual({
      seed: 1,
      size: [24, 24, 8],
      cases: 2,
      format: 'nrrd',
      difficulty: { preset: 'standard', custom: false, knobs: LA_DIFFICULTY_PRESETS.standard },
    });
    expect(m1.files).toEqual(first.files);

    const second = await synthesize({
      dataset: 'la',
      out,
      cases: 2,
      size: [24, 24, 8],
      seed: 1,
      difficulty: 'hard',
      format: 'h5',
      force: true,
    });
    const m2 = await read();
    expect(m2.settings.difficulty).toEqual({
      preset: 'hard',
      custom: false,
      knobs: LA_DIFFICULTY_PRESETS.hard,
    });
    expect(m2.settings.format).toBe('h5');
    expect(m2.files).toEqual(second.files);

    // A manifest written before settings existed is still synth's, so --force replaces that output too.
    const { settings: _, ...older } = m2;
    await fs.writeFile(path.join(out, SYNTH_MANIFEST), JSON.stringify(older));
    const third = await synthesize({ dataset: 'la', out, cases: 1, size: [24, 24, 8], force: true });
    expect((await read()).files).toEqual(third.files);
    expect((await fs.readdir(out)).sort()).toEqual([SYNTH_MANIFEST, 'Training Set'].sort());
  });
});

describe('docs/synth.md', () => {
  const docFile = path.resolve(import.meta.dirname, '../../docs/synth.md');
  const sourceFile = path.resolve(import.meta.dirname, '../../src/data/synth/difficulty.ts');

  /** The TSDoc text of each field of `LaDifficulty`, on one line. */
  function knobDocs(): Map<string, string> {
    const source = ts.createSourceFile(
      sourceFile,
      readFileSync(sourceFile, 'utf8'),
      ts.ScriptTarget.Latest,
      true,
    );
    const docs = new Map<string, string>();
    source.forEachChild((node) => {
      if (!ts.isInterfaceDeclaration(node) || node.name.text !== 'LaDifficulty') return;
      for (const member of node.members) {
        const text = ts
          .getJSDocCommentsAndTags(member)
          .map((d) => ts.getTextOfJSDocComment(d.comment) ?? '')
          .join(' ');
        docs.set((member.name as ts.Identifier).text, text.replace(/\s+/g, ' ').trim());
      }
    });
    return docs;
  }

  const value = (v: unknown) =>
    Array.isArray(v) ? (v[0] === v[1] ? String(v[0]) : `${v[0]}–${v[1]}`) : String(v);

  /** The knob table as docs/synth.md holds it between its markers, built from the TSDoc and the preset table. */
  function knobTable(): string {
    const docs = knobDocs();
    const rows = LA_DIFFICULTY_KNOBS.map((k) => {
      const s = LA_DIFFICULTY_PRESETS.standard[k];
      const others = LA_DIFFICULTY_PRESET_NAMES.slice(1).map((name) => {
        const v = LA_DIFFICULTY_PRESETS[name][k];
        return JSON.stringify(s) === JSON.stringify(v) ? '=' : `**${value(v)}**`;
      });
      return `| \`${k}\` | ${value(s)} | ${others.join(' | ')} | ${docs.get(k)} |`;
    });
    const names = LA_DIFFICULTY_PRESET_NAMES;
    return [
      `| knob | ${names.join(' | ')} | meaning |`,
      `|---|${names.map(() => '---|').join('')}---|`,
      ...rows,
    ].join('\n');
  }

  it('every knob has TSDoc that states its allowed values as the checks do', () => {
    const docs = knobDocs();
    expect([...docs.keys()]).toEqual(LA_DIFFICULTY_KNOBS);
    for (const k of LA_DIFFICULTY_KNOBS) {
      expect(docs.get(k)).toMatch(
        new RegExp(`Allowed: ${describeKnobRule(LA_DIFFICULTY_RULES[k]).replace('.', '\\.')}\\.$`),
      );
    }
  });

  it('lists every knob with its value in every preset (SSMIS_UPDATE_DOCS=1 rewrites the table)', async () => {
    const start = '<!-- knob table: generated from LA_DIFFICULTY_PRESETS and the TSDoc of LaDifficulty -->';
    const end = '<!-- end of knob table -->';
    const text = readFileSync(docFile, 'utf8');
    const a = text.indexOf(start);
    const b = text.indexOf(end);
    expect(a).toBeGreaterThan(-1);
    expect(b).toBeGreaterThan(a);
    const table = knobTable();
    if (process.env.SSMIS_UPDATE_DOCS === '1') {
      await writeFileAtomic(docFile, `${text.slice(0, a + start.length)}\n${table}\n${text.slice(b)}`);
      return;
    }
    expect(text.slice(a + start.length, b).trim()).toBe(table);
  });
});

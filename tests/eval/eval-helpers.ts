/** Shared fixtures of the evaluation, predict and eval/predict CLI tests: small volumes and dataset folders. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf } from '../../src/backend/tf.js';
import { configToYaml, parseConfig, type SsmisConfig } from '../../src/config/index.js';
import type { InferenceModel } from '../../src/infer/sliding-window.js';
import { volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import type { Affine } from '../../src/io/volume.js';
import { saveWeights } from '../../src/nn/checkpoint.js';
import { createModel } from '../../src/nn/create.js';
import { Rng } from '../../src/util/rng.js';

const created: string[] = [];

/** A fresh temp folder, removed by {@link removeTempDirs} (call it in `afterAll`). */
export async function tempDir(prefix = 'ssmis-eval-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(created.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
}

/** Row-major 0/1 box [lo, hi] (inclusive) per axis, value `value`. */
export function box(
  shape: readonly number[],
  lo: readonly number[],
  hi: readonly number[],
  value = 1,
  into?: Uint8Array,
): Uint8Array {
  const [nx, ny, nz] = shape;
  const out = into ?? new Uint8Array(nx * ny * nz);
  for (let i = lo[0]; i <= hi[0]; i++) {
    for (let j = lo[1]; j <= hi[1]; j++)
      for (let k = lo[2]; k <= hi[2]; k++) out[(i * ny + j) * nz + k] = value;
  }
  return out;
}

export function diagAffine(spacing: readonly number[], origin: readonly number[] = [0, 0, 0]): Affine {
  return [
    [spacing[0], 0, 0, origin[0]],
    [0, spacing[1], 0, origin[1]],
    [0, 0, spacing[2], origin[2]],
    [0, 0, 0, 1],
  ];
}

/** A rotated, anisotropic affine (90° about z, then axes scaled), so geometry mistakes show. */
export const ROTATED: Affine = [
  [0, -1.5, 0, 12.25],
  [0.8, 0, 0, -7.5],
  [0, 0, 2.5, 3],
  [0, 0, 0, 1],
];

export async function writeLabelFile(file: string, data: Uint8Array, shape: number[], affine: Affine) {
  await writeNifti(file, volumeFromArray(data, shape, { affine }), { datatype: 'uint8' });
}

export interface CaseSpec {
  id: string;
  /** One array per channel (row-major over `shape`). */
  channels: Float32Array[];
  label: Uint8Array;
  shape: number[];
  affine: Affine;
}

/** Writes a canonical dataset folder (README, "Datasets") and returns its path. */
export async function writeDataset(
  dir: string,
  cases: readonly CaseSpec[],
  splits: { train: string[]; val?: string[]; test?: string[] },
  json: Record<string, unknown> = {},
): Promise<string> {
  for (const c of cases) {
    for (const [ch, data] of c.channels.entries()) {
      await writeNifti(
        path.join(dir, 'imagesTr', `${c.id}_${String(ch).padStart(4, '0')}.nii.gz`),
        volumeFromArray(data, c.shape, { affine: c.affine }),
        { datatype: 'float32' },
      );
    }
    await writeLabelFile(path.join(dir, 'labelsTr', `${c.id}.nii.gz`), c.label, c.shape, c.affine);
  }
  const channelNames: Record<string, string> = {};
  for (let ch = 0; ch < (cases[0]?.channels.length ?? 1); ch++) channelNames[String(ch)] = `MR${ch}`;
  const content = {
    name: 'Tiny',
    preset: 'custom',
    dims: 3,
    channel_names: channelNames,
    labels: { background: 0, organ: 1 },
    file_ending: '.nii.gz',
    numTraining: cases.length,
    splits: { train: splits.train, val: splits.val ?? [], test: splits.test ?? [] },
    ...json,
  };
  await fs.writeFile(path.join(dir, 'dataset.json'), JSON.stringify(content, null, 1));
  return dir;
}

/** A config for tiny 3-D models on `dataset` (VNet, base 2 filters, 16³ windows). */
export function tinyConfig(dataset: string, overrides: Record<string, unknown> = {}): SsmisConfig {
  const base: Record<string, unknown> = {
    run: { name: 'tiny' },
    backend: { name: 'cpu' },
    data: { dataset, patchSize: [16, 16, 16] },
    model: { name: 'vnet', baseFilters: 2, numClasses: 2 },
    eval: { patch: [16, 16, 16], strides: [16, 16, 16], saveProbabilities: true },
  };
  for (const [key, value] of Object.entries(overrides)) {
    base[key] = { ...(base[key] as Record<string, unknown>), ...(value as Record<string, unknown>) };
  }
  return parseConfig(base);
}

/**
 * A 3-D stand-in whose logits are (0, 10·x): the foreground probability is sigmoid(10·x), so an image of
 * +1 / −1 values is predicted exactly as its sign.
 */
export function signModel3d(): InferenceModel {
  return {
    kind: 'vnet',
    spatialDims: 3,
    inChannels: 1,
    numClasses: 2,
    apply: (x) => tf.tidy(() => tf.concat([tf.zerosLike(x), tf.mul(x, 10)], -1)),
  };
}

/** A 2-D stand-in with K classes: logit_c = −(x − c)², so the label is the class nearest to the intensity. */
export function nearestClassModel2d(numClasses: number): InferenceModel {
  return {
    kind: 'unet2d',
    spatialDims: 2,
    inChannels: 1,
    numClasses,
    apply: (x) =>
      tf.tidy(() =>
        tf.concat(
          Array.from({ length: numClasses }, (_, c) => tf.neg(tf.square(tf.sub(x, c)))),
          -1,
        ),
      ),
  };
}

/** ±1 image of a mask (foreground +1). */
export function signImage(mask: Uint8Array): Float32Array {
  return Float32Array.from(mask, (v) => (v ? 1 : -1));
}

/**
 * A run folder (`<dir>/runs/tiny`: config.yaml + checkpoints/best.safetensors) of a tiny VNet trained on
 * nothing, on a one-case dataset `<dir>/ds` (case `a`, 2×2×2) of preset `preset`.
 */
export async function tinyPredictRun(
  dir: string,
  preset: string,
): Promise<{ checkpoint: string; dataset: string; config: SsmisConfig }> {
  const dataset = await writeDataset(
    path.join(dir, 'ds'),
    [
      {
        id: 'a',
        channels: [new Float32Array(8)],
        label: new Uint8Array(8),
        shape: [2, 2, 2],
        affine: diagAffine([1, 1, 1]),
      },
    ],
    { train: ['a'] },
    { preset },
  );
  const config = tinyConfig(dataset);
  const run = path.join(dir, 'runs', 'tiny');
  const model = createModel(config, { name: 'cliPredict', rng: new Rng(2) });
  try {
    await saveWeights(path.join(run, 'checkpoints', 'best.safetensors'), { models: { student: model } });
  } finally {
    model.dispose();
  }
  await fs.writeFile(path.join(run, 'config.yaml'), configToYaml(config));
  return { checkpoint: path.join(run, 'checkpoints', 'best.safetensors'), dataset, config };
}

/**
 * The `webgpu` backend against the `cpu` backend on the same inputs and the same seeded networks: a VNet
 * training step, one step of each method variant (3-D on a VNet, the copy-paste ones also 2-D on a UNet2d),
 * and sliding-window / slice inference. In CI the machine has a (software) WebGPU adapter — `.ci/run` installs
 * Mesa's llvmpipe Vulkan driver — and these tests FAIL when none is found; elsewhere they are skipped with the
 * reason. Each backend builds its own tensors and networks (a webgpu tensor cannot move to the cpu backend in
 * Node: that needs a synchronous read), and only host arrays are compared.
 *
 * Tolerances, measured on llvmpipe (Mesa 25.0.7, Dawn from `webgpu` 0.6.2) against the cpu backend with the fast
 * kernels (the largest differences are printed at the end of the run):
 * - loss values, loss parts and diagnostics: relative difference at most 8e-7 measured → tolerance 1e-4;
 * - parameters after one SGD step (lr 0.1 with momentum on the plain VNet step, 0.01 in the variant steps):
 *   max abs difference 4.5e-5 measured → 2e-4 (weights are O(0.1–1));
 * - inference probabilities: max abs difference 1.2e-7 measured → 1e-5, and at most 0.1 % of labels may differ
 *   (a voxel within float32 rounding of p = 0.5; none did);
 * - the repaired kernels: identical results (0 measured) → 1e-6.
 * The pseudo-labels are a threshold of the teacher's output: a voxel whose probability sits within rounding of
 * 0.5 could flip between backends and change the loss by more; the seeds below have none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleHostReads } from '../../src/backend/host-read.js';
import { initBackend } from '../../src/backend/init.js';
import { tf } from '../../src/backend/tf.js';
import { inferVolume } from '../../src/infer/sliding-window.js';
import {
  type MethodVariant,
  methodVariants,
  pretrainStep,
  type StepBatch,
  type StepContext,
  type StepLoss,
} from '../../src/method/variants/index.js';
import { createTeacher } from '../../src/nn/ema.js';
import type { SegmentationModel } from '../../src/nn/types.js';
import { createUNet2d } from '../../src/nn/unet2d.js';
import { createVNet } from '../../src/nn/vnet.js';
import { createOptimizer } from '../../src/train/optimizer.js';
import { Rng } from '../../src/util/rng.js';

const LOSS_RTOL = 1e-4;
const PARAM_ATOL = 2e-4;
const PROB_ATOL = 1e-5;

/** Whether a webgpu backend can be set up here, and why not. Leaves the cpu backend active. */
async function probeWebgpu(): Promise<string | null> {
  try {
    await initBackend({ backend: 'webgpu' });
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await initBackend({ backend: 'cpu' });
  }
}

const unavailable = await probeWebgpu();
const inCi = process.env.CI === 'true';

if (unavailable !== null && !inCi) {
  console.warn(
    `webgpu parity tests skipped (no WebGPU adapter; CI=true makes this a failure): ${unavailable}`,
  );
}

describe.runIf(unavailable !== null && inCi)('webgpu in CI', () => {
  it('finds a WebGPU adapter (.ci/run installs the software Vulkan driver)', () => {
    expect(unavailable).toBeNull();
  });
});

/** Host values of a network's variables by key. */
async function weightsOf(model: SegmentationModel): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of model.namedWeights()) out.set(k, (await v.data()) as Float32Array);
  return out;
}

/** The largest difference seen per kind, printed at the end (how the tolerances above were measured). */
const measured: Record<string, number> = {};
function record(kind: string, value: number): number {
  measured[kind] = Math.max(measured[kind] ?? 0, value);
  return value;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, kind = 'abs'): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return record(kind, m);
}

function expectClose(a: number, b: number, rtol: number, what: string): void {
  const rel = record('relative loss', Math.abs(a - b) / Math.max(Math.abs(b), 1e-6));
  expect(rel, `${what}: webgpu ${a} vs cpu ${b}`).toBeLessThanOrEqual(rtol);
}

/** Runs `fn` on each backend (a fresh build of everything on each) and returns both results. */
async function onBoth<T>(fn: () => Promise<T>): Promise<{ gpu: T; cpu: T }> {
  await initBackend({ backend: 'webgpu' });
  let gpu: T;
  try {
    gpu = await fn();
  } finally {
    await initBackend({ backend: 'cpu' });
  }
  const cpu = await fn();
  return { gpu, cpu };
}

function randomArray(n: number, rng: Rng, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

function randomLabels(n: number, rng: Rng, k: number): Int32Array {
  return Int32Array.from({ length: n }, () => rng.randint(0, k));
}

/** A batch of 4 labeled + 4 unlabeled images (two sub-batches of 2 each, what every variant accepts). */
function makeBatch(spatial: number[], k: number, seed: number): StepBatch {
  const rng = new Rng(seed);
  const n = 4;
  const v = spatial.reduce((a, b) => a * b, 1);
  return {
    labeledImages: tf.tensor(randomArray(n * v, rng), [n, ...spatial, 1]),
    labeledLabels: tf.tensor(randomLabels(n * v, rng, k), [n, ...spatial], 'int32'),
    unlabeledImages: tf.tensor(randomArray(n * v, rng), [n, ...spatial, 1]),
  };
}

function makeNetwork(dims: 2 | 3, name: string): SegmentationModel {
  return dims === 3
    ? createVNet({ baseFilters: 2, numClasses: 2, dropout: 0.5, seed: 7, name })
    : createUNet2d({ baseFilters: 2, numClasses: 4, seed: 7, name });
}

/** One engine step (src/train/train.ts's order): prepare, settle, optimizer step with the loss, settle. */
async function variantStep(
  variant: MethodVariant,
  dims: 2 | 3,
): Promise<{ value: number; step: StepLoss; weights: Map<string, Float32Array> }> {
  const student = makeNetwork(dims, `s${dims}${variant.name}`);
  const teacher = createTeacher(student, { name: `t${dims}${variant.name}` });
  const ctx: StepContext = {
    student,
    teacher,
    rng: new Rng(10),
    dropoutRng: new Rng(20),
    iteration: 3,
    config: { maskRatio: 0.5, startRange: 'valid' },
  };
  const batch = makeBatch(dims === 3 ? [16, 16, 16] : [32, 32], student.numClasses, 5);
  const opt = createOptimizer({ name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  try {
    const prepared = variant.prepare(ctx, batch);
    let step: StepLoss | undefined;
    try {
      await settleHostReads();
      const value = await opt.stepAsync(() => {
        step = variant.loss(ctx, batch, prepared);
        return step.loss;
      }, student.namedParameters());
      await settleHostReads();
      return { value, step: step as StepLoss, weights: await weightsOf(student) };
    } finally {
      prepared.dispose();
    }
  } finally {
    opt.dispose();
    student.dispose();
    teacher.dispose();
    tf.dispose([batch.labeledImages, batch.labeledLabels, batch.unlabeledImages as tf.Tensor]);
  }
}

describe.runIf(unavailable === null)('webgpu backend against cpu (software adapter)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });
  afterAll(async () => {
    await initBackend({ backend: 'cpu' });
    console.info(`webgpu vs cpu, largest differences: ${JSON.stringify(measured)}`);
  });

  it('the repaired 4.22 kernels: rank-5 binary ops with a channel vector, rank-5 pads and slice gradients', async () => {
    const rng = new Rng(2);
    const xv = randomArray(2 * 3 * 4 * 5 * 6, rng);
    const cv = randomArray(6, rng);
    const { gpu, cpu } = await onBoth(async () => {
      const x = tf.tensor(xv, [2, 3, 4, 5, 6]);
      const c = tf.tensor(cv, [6]);
      const outs = [
        tf.mul(x, c),
        tf.add(c, x),
        tf.pad(
          x,
          [
            [1, 0],
            [0, 0],
            [0, 2],
            [1, 1],
            [0, 0],
          ],
          0.5,
        ),
        tf.pad(x, [
          [1, 1],
          [1, 1],
          [1, 1],
          [1, 1],
          [1, 1],
        ]),
        tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.slice(t, [1, 0, 0, 0, 0], [1, -1, -1, -1, -1]))))(x),
      ];
      const values = await Promise.all(outs.map((t) => t.data()));
      tf.dispose([x, c, ...outs]);
      return values;
    });
    for (const [i, values] of gpu.entries()) {
      expect(maxAbsDiff(values, cpu[i], 'kernel'), `output ${i}`).toBeLessThanOrEqual(1e-6);
    }
  });

  it('a VNet SGD step: same loss and the same parameters afterwards', async () => {
    const { gpu, cpu } = await onBoth(async () => {
      const net = createVNet({ baseFilters: 2, numClasses: 2, dropout: 0.5, seed: 3, name: 'step' });
      const rng = new Rng(4);
      const x = tf.tensor(randomArray(2 * 16 * 16 * 16, rng), [2, 16, 16, 16, 1]);
      const y = tf.oneHot(tf.tensor(randomLabels(2 * 16 ** 3, rng, 2), [2, 16, 16, 16], 'int32'), 2);
      const opt = createOptimizer({ name: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
      try {
        const loss = await opt.stepAsync(
          () =>
            tf.losses.softmaxCrossEntropy(y, net.apply(x, { training: true, rng: new Rng(9) })) as tf.Scalar,
          net.namedParameters(),
        );
        return { loss, weights: await weightsOf(net) };
      } finally {
        opt.dispose();
        net.dispose();
        tf.dispose([x, y]);
      }
    });
    expectClose(gpu.loss, cpu.loss, LOSS_RTOL, 'loss');
    for (const [key, values] of cpu.weights) {
      expect(maxAbsDiff(gpu.weights.get(key) as Float32Array, values, 'parameter'), key).toBeLessThanOrEqual(
        PARAM_ATOL,
      );
    }
  });

  const variants: MethodVariant[] = [...Object.values(methodVariants), pretrainStep];
  const cases: { variant: MethodVariant; dims: 2 | 3 }[] = [
    ...variants.map((variant) => ({ variant, dims: 3 as const })),
    ...variants.filter((v) => v.name !== 'supervised').map((variant) => ({ variant, dims: 2 as const })),
  ];
  it.each(cases.map((c) => [`${c.variant.name} ${c.dims}-D`, c] as const))(
    '%s: the step loss and every loss part and diagnostic match',
    async (_name, { variant, dims }) => {
      const { gpu, cpu } = await onBoth(() => variantStep(variant, dims));
      expectClose(gpu.value, cpu.value, LOSS_RTOL, 'loss');
      expect(Object.keys(gpu.step.parts).sort()).toEqual(Object.keys(cpu.step.parts).sort());
      for (const [k, v] of Object.entries(cpu.step.parts)) expectClose(gpu.step.parts[k], v, LOSS_RTOL, k);
      expect(Object.keys(gpu.step.diagnostics).sort()).toEqual(Object.keys(cpu.step.diagnostics).sort());
      for (const [k, v] of Object.entries(cpu.step.diagnostics)) {
        expect(Number.isFinite(gpu.step.diagnostics[k]), k).toBe(true);
        expectClose(gpu.step.diagnostics[k], v, LOSS_RTOL, k);
      }
      // The update, i.e. the gradient of every parameter (a kernel returning zeros shows up here).
      for (const [key, values] of cpu.weights) {
        expect(
          maxAbsDiff(gpu.weights.get(key) as Float32Array, values, 'parameter'),
          key,
        ).toBeLessThanOrEqual(PARAM_ATOL);
      }
    },
  );

  it.each([3, 2] as const)(
    '%i-D inference (sliding window / slices): same probabilities and labels',
    async (dims) => {
      const shape: [number, number, number, number] = dims === 3 ? [20, 18, 17, 1] : [24, 20, 3, 1];
      const data = randomArray(shape[0] * shape[1] * shape[2], new Rng(6));
      const { gpu, cpu } = await onBoth(async () => {
        const net = makeNetwork(dims, `infer${dims}`);
        try {
          return await inferVolume(
            net,
            { data, shape },
            {
              patch: dims === 3 ? [16, 16, 16] : [32, 32],
              strides: dims === 3 ? [8, 8, 8] : [32, 32],
            },
          );
        } finally {
          net.dispose();
        }
      });
      expect(gpu.probabilityShape).toEqual(cpu.probabilityShape);
      expect(maxAbsDiff(gpu.probabilities, cpu.probabilities, 'probability')).toBeLessThanOrEqual(PROB_ATOL);
      let differ = 0;
      for (let i = 0; i < cpu.labels.length; i++) if (gpu.labels[i] !== cpu.labels[i]) differ++;
      expect(differ).toBeLessThanOrEqual(cpu.labels.length * 0.001);
    },
  );
});

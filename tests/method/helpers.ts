/**
 * Test helpers for tests/method: independent float64 reference implementations of the loss formulas (plain JS
 * loops over flat arrays, written from docs/equations.md §4.7/§4.11, not from src/method) and a tiny stand-in
 * SegmentationModel (one 1×1(×1) convolution) that records its calls.
 */
import { tf } from '../../src/backend/tf.js';
import type { StepBatch, StepConfig, StepContext } from '../../src/method/variants/index.js';
import type { ApplyOptions, CloneOptions, SegmentationModel } from '../../src/nn/types.js';
import { Rng } from '../../src/util/rng.js';

/** Softmax over the last axis of a flat [M, K] array, float64. */
export function refSoftmax(logits: ArrayLike<number>, k: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r < logits.length / k; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[r * k + c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[r * k + c] - max);
    for (let c = 0; c < k; c++) out[r * k + c] = Math.exp(logits[r * k + c] - max) / sum;
  }
  return out;
}

/** E17, per-sample per-class, smoothing 1e-5. mask null = all ones; mask length V (shared) or N·V. */
export function refDice(
  logits: ArrayLike<number>,
  target: ArrayLike<number>,
  mask: ArrayLike<number> | null,
  n: number,
  k: number,
): number {
  const v = target.length / n;
  const p = refSoftmax(logits, k);
  let acc = 0;
  for (let s = 0; s < n; s++) {
    for (let c = 0; c < k; c++) {
      let inter = 0;
      let union = 0;
      for (let i = 0; i < v; i++) {
        const idx = s * v + i;
        const m = mask === null ? 1 : mask.length === v ? mask[i] : mask[idx];
        const t = target[idx] === c ? 1 : 0;
        inter += m * p[idx * k + c] * t;
        union += m * (p[idx * k + c] + t);
      }
      acc += (2 * inter + 1e-5) / (union + 1e-5);
    }
  }
  return 1 - acc / (n * k);
}

/** E18. */
export function refCe(
  logits: ArrayLike<number>,
  target: ArrayLike<number>,
  mask: ArrayLike<number> | null,
  n: number,
  k: number,
): number {
  const v = target.length / n;
  let num = 0;
  let den = 0;
  for (let idx = 0; idx < n * v; idx++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[idx * k + c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[idx * k + c] - max);
    const ce = Math.log(sum) + max - logits[idx * k + target[idx]];
    const m = mask === null ? 1 : mask.length === v ? mask[idx % v] : mask[idx];
    num += m * ce;
    den += m;
  }
  return mask === null ? num / (n * v) : num / (den + 1e-16);
}

/** E28: batch-global per-class sums, squared denominators, smoothing 1e-10, mean over classes. */
export function refDice2d(
  logits: ArrayLike<number>,
  target: ArrayLike<number>,
  mask: ArrayLike<number> | null,
  n: number,
  k: number,
): number {
  const v = target.length / n;
  const p = refSoftmax(logits, k);
  let acc = 0;
  for (let c = 0; c < k; c++) {
    let inter = 0;
    let z = 0;
    let y = 0;
    for (let idx = 0; idx < n * v; idx++) {
      const m = mask === null ? 1 : mask.length === v ? mask[idx % v] : mask[idx];
      const t = target[idx] === c ? 1 : 0;
      const pc = p[idx * k + c];
      inter += pc * t * m;
      z += pc * pc * m;
      y += t * t * m;
    }
    acc += 1 - (2 * inter + 1e-10) / (z + y + 1e-10);
  }
  return acc / k;
}

export function randomLogits(rng: Rng, shape: number[], scale = 2): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, () => rng.normal(0, scale)),
    shape,
    'float32',
  );
}

export function randomLabels(rng: Rng, shape: number[], k: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Int32Array.from({ length: size }, () => rng.randint(0, k)),
    shape,
    'int32',
  );
}

export function randomBinary(rng: Rng, shape: number[], p = 0.5): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, () => (rng.random() < p ? 1 : 0)),
    shape,
    'float32',
  );
}

export interface TinyModel extends SegmentationModel {
  /** One entry per apply call: batch size, training flag and batch-norm groups (`options.groups`, default 1). */
  calls: { batch: number; training: boolean; groups: number }[];
}

let modelCounter = 0;

/**
 * A stand-in SegmentationModel: logits = conv1x1(x, w) + b, plus (in train mode, with an rng) a per-sample
 * multiplicative jitter drawn from the dropout rng, so dropout streams are exercised deterministically.
 */
export function tinyModel(dims: 2 | 3, inChannels: number, numClasses: number, seed: number): TinyModel {
  const rng = new Rng(seed);
  const wData = Float32Array.from({ length: inChannels * numClasses }, () => rng.normal(0, 1));
  const bData = Float32Array.from({ length: numClasses }, () => rng.normal(0, 0.1));
  return buildTinyModel(dims, inChannels, numClasses, wData, bData, true);
}

function buildTinyModel(
  dims: 2 | 3,
  inChannels: number,
  numClasses: number,
  wData: Float32Array,
  bData: Float32Array,
  trainable: boolean,
): TinyModel {
  const id = modelCounter++;
  const wShape = dims === 3 ? [1, 1, 1, inChannels, numClasses] : [1, 1, inChannels, numClasses];
  const w = tf.tidy(() =>
    tf.variable(tf.tensor(wData, wShape, 'float32'), trainable, `tiny${id}/out_conv.weight`),
  );
  const b = tf.tidy(() =>
    tf.variable(tf.tensor(bData, [numClasses], 'float32'), trainable, `tiny${id}/out_conv.bias`),
  );
  const calls: { batch: number; training: boolean; groups: number }[] = [];
  const params = () =>
    new Map([
      ['out_conv.weight', w],
      ['out_conv.bias', b],
    ]);
  return {
    kind: dims === 3 ? 'vnet' : 'unet2d',
    spatialDims: dims,
    inChannels,
    numClasses,
    calls,
    apply(x: tf.Tensor, options: ApplyOptions): tf.Tensor {
      calls.push({ batch: x.shape[0], training: options.training, groups: options.groups ?? 1 });
      const jitter =
        options.training && options.rng
          ? Array.from({ length: x.shape[0] }, () => 1 + 0.1 * (options.rng as Rng).random())
          : null;
      return tf.tidy(() => {
        const y =
          dims === 3
            ? tf.conv3d(x as tf.Tensor5D, w as unknown as tf.Tensor5D, 1, 'same')
            : tf.conv2d(x as tf.Tensor4D, w as unknown as tf.Tensor4D, 1, 'same');
        const out = tf.add(y, b);
        if (jitter === null) return out;
        const j = tf.tensor(jitter, [x.shape[0], ...new Array<number>(dims + 1).fill(1)], 'float32');
        return tf.mul(out, j);
      });
    },
    parameterCount: () => inChannels * numClasses + numClasses,
    namedWeights: params,
    namedParameters: params,
    namedBuffers: () => new Map(),
    trainableWeights: () => [w, b],
    clone: (options?: CloneOptions) =>
      buildTinyModel(
        dims,
        inChannels,
        numClasses,
        w.dataSync() as Float32Array,
        b.dataSync() as Float32Array,
        options?.trainable ?? true,
      ),
    dispose: () => {
      w.dispose();
      b.dispose();
    },
  };
}

/** Central finite differences of a scalar tensor function, element by element (float32). */
export function finiteDifferences(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, eps: number): Float64Array {
  const base = x.dataSync().slice();
  const out = new Float64Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const plus = base.slice();
    plus[i] += eps;
    const minus = base.slice();
    minus[i] -= eps;
    const fp = tf.tidy(() => f(tf.tensor(plus, x.shape, 'float32')).dataSync()[0]);
    const fm = tf.tidy(() => f(tf.tensor(minus, x.shape, 'float32')).dataSync()[0]);
    out[i] = (fp - fm) / (2 * eps);
  }
  return out;
}

/** Largest |a − b| relative to the largest |b| (with a floor so all-zero gradients compare absolutely). */
export function relativeMaxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-3;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Spatial sizes and class counts of the tiny step batches (3-D: VNet-like, 2-D: ACDC-like four classes). */
export const STEP_SPATIAL: Record<2 | 3, number[]> = { 3: [4, 4, 2], 2: [6, 6] };
export const STEP_CLASSES: Record<2 | 3, number> = { 3: 2, 2: 4 };

/** A seeded step batch of `n` labeled and `n` unlabeled random samples. */
export function stepBatch(dims: 2 | 3, n: number, seed: number): StepBatch {
  const rng = new Rng(seed);
  const spatial = STEP_SPATIAL[dims];
  return {
    labeledImages: randomLogits(rng, [n, ...spatial, 1], 1),
    labeledLabels: randomLabels(rng, [n, ...spatial], STEP_CLASSES[dims]),
    unlabeledImages: randomLogits(rng, [n, ...spatial, 1], 1),
  };
}

/** Frees a step batch. */
export function disposeStepBatch(b: StepBatch): void {
  tf.dispose([b.labeledImages, b.labeledLabels, ...(b.unlabeledImages ? [b.unlabeledImages] : [])]);
}

/** A step context with tiny student (seed 1) and teacher (seed 2) models; `config` over the shared defaults. */
export function stepContext(
  dims: 2 | 3,
  config: StepConfig = {},
): StepContext & { student: TinyModel; teacher: TinyModel } {
  return {
    student: tinyModel(dims, 1, STEP_CLASSES[dims], 1),
    teacher: tinyModel(dims, 1, STEP_CLASSES[dims], 2),
    rng: new Rng(10),
    dropoutRng: new Rng(20),
    iteration: 0,
    config: { maskRatio: 0.5, startRange: 'valid', ...config },
  };
}

/** Frees a step context's models. */
export function disposeStepContext(ctx: StepContext): void {
  ctx.student.dispose();
  ctx.teacher?.dispose();
}

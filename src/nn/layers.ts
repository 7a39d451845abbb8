/**
 * Functional layers shared by the VNet and the 2-D UNet: biased convolutions, batch norm written by hand (the
 * FusedBatchNorm gradient of TF.js 4.22 fails on rank 5 and tf.layers has no rank-5 batch norm),
 * Dropout3d / element-wise dropout with masks drawn from an injected `Rng`, and align-corners bilinear ×2
 * upsampling. Tensors are channels last (`[N, X, Y, Z, C]`), as everywhere in ssmis.
 */
import {
  alignCornersTaps,
  conv2dBiasFused,
  conv3dBiasFused,
  conv3dTransposeBiasFused,
  fastKernelsActive,
  fusedBatchNormRelu,
  upsampleBilinear2xFused,
} from '../backend/kernels/index.js';
import { tf } from '../backend/tf.js';
import { InputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import type { ParameterStore } from './params.js';

/** PyTorch BatchNorm defaults (docs/equations.md §1.2). */
export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/** State of one forward pass. */
export interface ForwardContext {
  training: boolean;
  /** Train mode only: assign the new running statistics during the forward (PyTorch semantics). */
  updateStats: boolean;
  /** Dropout masks are drawn from here in train mode. */
  rng: Rng;
  /**
   * Train mode: the batch is this many equal consecutive groups, each with its own batch-norm statistics and
   * running-statistics update, in order (the batch norms of as many separate forwards); default 1, one batch.
   */
  groups?: number;
}

/**
 * A biased 3-D convolution. With the fast CPU kernels active it is one op (`conv3dBiasFused`: the bias added as the
 * result leaves the kernel's memory, its gradient one pass), else the stock `add(conv3d(x, w), b)`; same values.
 */
export function conv3d(
  x: tf.Tensor5D,
  store: ParameterStore,
  key: string,
  strides: 1 | 2,
  pad: 'same' | 'valid',
): tf.Tensor5D {
  const w = store.get(`${key}.weight`) as tf.Tensor5D;
  const b = store.get(`${key}.bias`);
  if (fastKernelsActive()) return conv3dBiasFused(x, w, b, strides, pad);
  return tf.add(tf.conv3d(x, w, strides, pad), b);
}

/**
 * ConvTranspose3d(kernel 2, stride 2, padding 0): every input voxel writes a 2×2×2 block, so the output is
 * exactly twice the input. Kernel layout `[2, 2, 2, out, in]` (what `tf.conv3dTranspose` expects); its gradient
 * is the Conv3DBackpropInputV2 gradient registered in `src/backend/tf.ts`. One op with the fast CPU kernels, as
 * `conv3d`.
 */
export function conv3dTranspose2(x: tf.Tensor5D, store: ParameterStore, key: string): tf.Tensor5D {
  const w = store.get(`${key}.weight`) as tf.Tensor5D;
  const b = store.get(`${key}.bias`);
  const [n, d, h, wd] = x.shape;
  const outShape: [number, number, number, number, number] = [n, 2 * d, 2 * h, 2 * wd, w.shape[3]];
  if (fastKernelsActive()) return conv3dTransposeBiasFused(x, w, b, outShape, 2, 'valid');
  return tf.add(tf.conv3dTranspose(x, w, outShape, 2, 'valid'), b);
}

/** A biased 2-D convolution (NHWC), one op with the fast CPU kernels as `conv3d`. */
export function conv2d(
  x: tf.Tensor4D,
  store: ParameterStore,
  key: string,
  pad: 'same' | 'valid',
): tf.Tensor4D {
  const w = store.get(`${key}.weight`) as tf.Tensor4D;
  const b = store.get(`${key}.bias`);
  if (fastKernelsActive()) return conv2dBiasFused(x, w, b, 1, pad);
  return tf.add(tf.conv2d(x, w, 1, pad), b);
}

/**
 * BatchNorm over every axis but the last (channels), PyTorch semantics (docs/equations.md §1.2):
 * - train: normalise with the batch mean and the *biased* batch variance; when `ctx.updateStats`, assign
 *   running_mean ← (1−m)·running_mean + m·mean and running_var ← (1−m)·running_var + m·var·n/(n−1)
 *   (unbiased), m = 0.1, n = values per channel.
 * - eval: normalise with the running statistics.
 * With `ctx.groups` > 1, train mode treats each group of the batch as a batch of its own (statistics and
 * running-statistics update per group, in order).
 * Output = x·α + β with α = γ/√(var+ε), β = bias − mean·α, the form PyTorch's CPU kernel uses.
 *
 * The running statistics are assigned *during* the forward, as PyTorch updates its buffers on every
 * train-mode forward. This is safe inside `tf.variableGrads` / an optimizer step: the running statistics are
 * non-trainable, they are not read in train mode, and the update ops do not lead to the loss, so they are
 * pruned from the backward pass; the assigned values are computed in a tidy and owned by the variables, so
 * nothing leaks. Calling the loss function twice (e.g. finite differences) updates them twice, exactly like
 * two PyTorch forwards; pass `updateStats: false` to avoid that.
 *
 * n = 1 is refused as PyTorch refuses it ("Expected more than 1 value per channel when training"): the
 * output would be β and the unbiased variance undefined (a batch of 1 at 16³ reaches 1 voxel at the
 * VNet bottleneck).
 */
export function batchNorm<T extends tf.Tensor>(
  x: T,
  store: ParameterStore,
  key: string,
  ctx: ForwardContext,
): T {
  const gamma = store.get(`${key}.weight`);
  const beta = store.get(`${key}.bias`);
  const runningMean = store.get(`${key}.running_mean`);
  const runningVar = store.get(`${key}.running_var`);
  if (!ctx.training) {
    const alpha = tf.div(gamma, tf.sqrt(tf.add(runningVar, BN_EPS)));
    const shift = tf.sub(beta, tf.mul(runningMean, alpha));
    return tf.add(tf.mul(x, alpha), shift) as T;
  }
  if (ctx.groups !== undefined && ctx.groups > 1) {
    // Each group as its own forward would normalise it, the running statistics updated group by group.
    const one = { ...ctx, groups: 1 };
    return tf.concat(
      tf.split(x, ctx.groups, 0).map((part) => batchNorm(part, store, key, one)),
      0,
    ) as T;
  }
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const n = valuesPerChannel(x, store, key);
  const { mean, variance } = tf.moments(x, axes);
  const alpha = tf.mul(gamma, tf.rsqrt(tf.add(variance, BN_EPS)));
  const shift = tf.sub(beta, tf.mul(mean, alpha));
  const y = tf.add(tf.mul(x, alpha), shift) as T;
  if (ctx.updateStats) {
    tf.tidy(() => {
      runningMean.assign(tf.add(tf.mul(runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
      const unbiased = tf.mul(variance, n / (n - 1));
      runningVar.assign(tf.add(tf.mul(runningVar, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)));
    });
  }
  return y;
}

/**
 * Values per channel of a train-mode batch norm over one of `groups` batch groups; PyTorch refuses a single one
 * (its variance is undefined).
 */
function valuesPerChannel(x: tf.Tensor, store: ParameterStore, key: string, groups = 1): number {
  const n = x.shape.slice(0, -1).reduce((a, b) => a * b, 1) / groups;
  if (n <= 1) {
    const per = groups > 1 ? ` per group of ${x.shape[0] / groups}` : '';
    throw new InputError(
      `${store.prefix}/${key}: batch norm in train mode needs more than 1 value per channel, input shape ` +
        `[${x.shape}] has ${n}${per} (use a larger batch or patch, or eval mode)`,
    );
  }
  return n;
}

/** Batch norm as the fused op of the fast kernels, followed by its ReLU when `relu`. */
function fusedBatchNorm<T extends tf.Tensor>(
  x: T,
  store: ParameterStore,
  key: string,
  ctx: ForwardContext,
  relu: boolean,
  slope?: number,
): T {
  if (ctx.training) valuesPerChannel(x, store, key, ctx.groups);
  return fusedBatchNormRelu(x, store.get(`${key}.weight`), store.get(`${key}.bias`), {
    training: ctx.training,
    groups: ctx.groups,
    updateStats: ctx.training && ctx.updateStats,
    runningMean: store.get(`${key}.running_mean`),
    runningVar: store.get(`${key}.running_var`),
    relu,
    slope,
    name: `${store.prefix}/${key}`,
  }) as T;
}

/**
 * ReLU(batch norm(x)): one fused op with its own gradient when the fast CPU kernels are active (the element-wise
 * work of batch norm dominated a training step once the convolutions were fast), else the two stock ops. Both
 * paths give the same outputs, gradients and running statistics (tests/backend/kernels.test.ts).
 */
export function batchNormRelu<T extends tf.Tensor>(
  x: T,
  store: ParameterStore,
  key: string,
  ctx: ForwardContext,
): T {
  if (!fastKernelsActive()) return tf.relu(batchNorm(x, store, key, ctx)) as T;
  return fusedBatchNorm(x, store, key, ctx, true);
}

/**
 * LeakyReLU(batch norm(x), slope): with the fast CPU kernels active one fused op (norm and activation in one
 * output pass and one gradient, for the reason given at `batchNormRelu`), else the stock ops. Same outputs,
 * gradients and running statistics either way (tests/nn/unet2d.test.ts).
 */
export function batchNormLeakyRelu<T extends tf.Tensor>(
  x: T,
  store: ParameterStore,
  key: string,
  ctx: ForwardContext,
  slope: number,
): T {
  if (!fastKernelsActive()) return tf.leakyRelu(batchNorm(x, store, key, ctx), slope) as T;
  return fusedBatchNorm(x, store, key, ctx, true, slope);
}

/** Keep-mask values: 0 with probability p, else 1/(1−p) (PyTorch's bernoulli(1−p)/(1−p)). */
function dropoutMask(size: number, p: number, rng: Rng): Float32Array {
  return rng.fillMask(new Float32Array(size), p, 1 / (1 - p));
}

function checkRate(p: number): void {
  if (!(p >= 0 && p < 1)) throw new InputError(`dropout rate must be in [0, 1), found ${p}`);
}

/**
 * Dropout3d / Dropout2d (whole-channel dropout): each (sample, channel) map is zeroed with probability p and
 * survivors are scaled by 1/(1−p); identity in eval mode. The mask has shape `[N, 1, …, 1, C]`; its values
 * come from `ctx.rng` in (sample, channel) order.
 */
export function channelDropout<T extends tf.Tensor>(x: T, p: number, ctx: ForwardContext): T {
  checkRate(p);
  if (!ctx.training || p === 0) return x;
  const n = x.shape[0];
  const c = x.shape[x.rank - 1];
  const shape = x.shape.map((_, i) => (i === 0 ? n : i === x.rank - 1 ? c : 1));
  return tf.mul(x, tf.tensor(dropoutMask(n * c, p, ctx.rng), shape, 'float32')) as T;
}

/** Element-wise dropout (`nn.Dropout`), mask in row-major order from `ctx.rng`; identity in eval mode. */
export function elementDropout<T extends tf.Tensor>(x: T, p: number, ctx: ForwardContext): T {
  checkRate(p);
  if (!ctx.training || p === 0) return x;
  return tf.mul(x, tf.tensor(dropoutMask(x.size, p, ctx.rng), x.shape, 'float32')) as T;
}

function axisShape(axis: 1 | 2, m: number): [number, number, number, number] {
  return axis === 1 ? [1, m, 1, 1] : [1, 1, m, 1];
}

function interpolateAxis(x: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D {
  const n = x.shape[axis];
  const { i0, i1, w0, w1 } = alignCornersTaps(n);
  const a = tf.mul(tf.gather(x, tf.tensor1d(i0, 'int32'), axis), tf.tensor(w0, axisShape(axis, 2 * n)));
  const b = tf.mul(tf.gather(x, tf.tensor1d(i1, 'int32'), axis), tf.tensor(w1, axisShape(axis, 2 * n)));
  return tf.add(a, b);
}

/**
 * The adjoint of `alignCornersTaps(n)` as taps per source row: source i receives Σ_t w[t][i]·dy[idx[t][i]]
 * over the output rows that read it (zero-weight contributions dropped, unused taps padded with weight 0).
 * Output o reads sources in (o·s − 1, o·s + 1) with s = (n−1)/(2n−1) < ½, so a source row receives from at most
 * 2/s + 2 ≈ 6 output rows and the number of taps stays small for every n.
 */
function adjointTaps(n: number): { idx: Int32Array[]; w: Float32Array[] } {
  const { i0, i1, w0, w1 } = alignCornersTaps(n);
  const lists: { o: number; w: number }[][] = Array.from({ length: n }, () => []);
  for (let o = 0; o < 2 * n; o++) {
    if (w0[o] !== 0) lists[i0[o]].push({ o, w: w0[o] });
    if (w1[o] !== 0) lists[i1[o]].push({ o, w: w1[o] });
  }
  const taps = Math.max(1, ...lists.map((l) => l.length));
  const idx = Array.from({ length: taps }, () => new Int32Array(n));
  const w = Array.from({ length: taps }, () => new Float32Array(n));
  lists.forEach((l, i) => {
    l.forEach((e, t) => {
      idx[t][i] = e.o;
      w[t][i] = e.w;
    });
  });
  return { idx, w };
}

/** The gradient of `interpolateAxis`: dy `[…, 2n, …]` → dx `[…, n, …]` along `axis`. */
function interpolateAxisAdjoint(dy: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D {
  const n = dy.shape[axis] / 2;
  const { idx, w } = adjointTaps(n);
  let dx: tf.Tensor4D | null = null;
  for (let t = 0; t < idx.length; t++) {
    const tap = tf.gather(dy, tf.tensor1d(idx[t], 'int32'), axis);
    const term: tf.Tensor4D = tf.mul(tap, tf.tensor(w[t], axisShape(axis, n)));
    dx = dx === null ? term : (tf.add(dx, term) as tf.Tensor4D);
  }
  return dx as tf.Tensor4D;
}

/**
 * Bilinear ×2 upsampling with align_corners=True (`nn.Upsample(scale_factor=2, mode='bilinear',
 * align_corners=True)`), separable: two taps per output row, then per output column. With the fast CPU kernels
 * active it is `upsampleBilinear2xFused` (one loop per axis each way); otherwise gathers, whose gradient is the
 * adjoint written the same way (a few gathers of dy per axis with precomputed source taps) rather than the
 * gathers' own gradient, an UnsortedSegmentSum that was the slowest op of a 2-D training step on the cpu
 * backend. The second form uses standard ops only, so it runs on every backend. Both give the same values and
 * gradients (tests/nn/layers.test.ts). Not `tf.image.resizeBilinear`: its cpu gradient returns a wrongly shaped
 * (H and W swapped) tensor for non-square inputs in TF.js 4.22.
 */
const upsampleWithAdjoint = tf.customGrad((...args) => ({
  value: interpolateAxis(interpolateAxis(args[0] as tf.Tensor4D, 1), 2),
  gradFunc: (dy: tf.Tensor) => interpolateAxisAdjoint(interpolateAxisAdjoint(dy as tf.Tensor4D, 2), 1),
}));

export function upsampleBilinear2x(x: tf.Tensor4D): tf.Tensor4D {
  if (fastKernelsActive() && x.dtype === 'float32') return upsampleBilinear2xFused(x);
  return upsampleWithAdjoint(x) as tf.Tensor4D;
}

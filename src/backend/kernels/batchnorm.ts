/**
 * Batch norm followed by an activation (ReLU, LeakyReLU or none) as one op with a hand-written gradient
 * (`tf.customGrad`). Written with `tf.moments` and broadcast ops, a train-mode batch norm + ReLU costs about a
 * dozen full-size element-wise kernels forward and twice that backward, and a separate activation adds a
 * full-size pass and array each way; here it is two passes forward (statistics, then the activated output)
 * and two backward over the channels-last data, with per-channel sums in doubles.
 *
 * Semantics are those of `batchNorm` in `src/nn/layers.ts` followed by `tf.relu` or `tf.leakyRelu` (PyTorch
 * BatchNorm, docs/equations.md §1.2): train mode normalises with the batch mean and the biased batch variance
 * and, when `updateStats`, sets running_mean ← (1−m)·running_mean + m·mean and running_var ← (1−m)·running_var
 * + m·var·n/(n−1), computed with the same TF.js ops as `layers.ts` so the stored values agree to float32
 * rounding; eval mode uses the running statistics. Output = act(z), z = x·α + β′ with α = γ/√(var+ε) and
 * β′ = β − mean·α (the form of PyTorch's CPU kernel); z is rounded to float32 before the LeakyReLU product,
 * so the output is bit for bit that of the norm and `leakyReluFused` as two ops on the same engine.
 *
 * Backward (train), with g = dy·act′ (ReLU: [y > 0]; LeakyReLU: 1 where y > 0, else the slope, which for a
 * slope > 0 is z > 0, NaN taking the slope as in TF.js), x̂ = (x − mean)/√(var+ε), sums over the n values of
 * each channel: dβ = Σg, dγ = Σg·x̂, dx = γ/√(var+ε) · (g − dβ/n − x̂·dγ/n). Eval: dx = g·α,
 * dγ = Σg·(x − mean)/√(var+ε), dβ = Σg.
 */
import { InputError, SsmisError } from '../../util/errors.js';
import { hostFloat32, hostUpdateTarget, transientHostValues } from '../host.js';
import { tf } from '../tf.js';
import { takeFloat32 } from './array-pool.js';
import { inOpScope } from './op-scope.js';
import { activeRuntime, type KernelRuntime } from './runtime.js';

export interface FusedBatchNormReluOptions {
  /** Train mode: batch statistics (and the running-stat update); eval mode: running statistics. */
  training: boolean;
  runningMean: tf.Variable;
  runningVar: tf.Variable;
  /** Train mode only: update the running statistics (default true, as every PyTorch train-mode forward). */
  updateStats?: boolean;
  /** Default 1e-5 (PyTorch). */
  eps?: number;
  /** Default 0.1 (PyTorch). */
  momentum?: number;
  /** Apply the activation (default true); false gives plain batch norm with the same fused gradient. */
  relu?: boolean;
  /**
   * Negative slope of the activation: a finite number ≥ 0, default 0 (ReLU: max(z, 0)); above 0 the activation
   * is LeakyReLU (z for z ≥ 0, z·slope below, with the values and gradient of `tf.leakyRelu`). Only with `relu`
   * on.
   */
  slope?: number;
  /** Named in error messages (e.g. the parameter key). */
  name?: string;
}

type SaveFunc = (tensors: tf.Tensor[]) => void;

/** The activation after the norm: none, ReLU (max(z, 0), +0 for z ≤ 0) or LeakyReLU with a slope > 0. */
type Activation = { kind: 'none' } | { kind: 'relu' } | { kind: 'leaky'; slope: number };

interface Stats {
  mean: Float64Array;
  invStd: Float64Array;
  /** Biased batch variance (train mode). */
  variance: Float64Array;
}

interface Moments {
  mean: Float64Array;
  /** Biased variance. */
  variance: Float64Array;
}

/** Per-channel affine map z = x·alpha + shift of the forward pass. */
interface Affine {
  alpha: Float32Array;
  shift: Float32Array;
}

/** Coefficients of dx = k·(g − a − (x − mean)·b), from the sums Σg and Σg·(x − mean). */
type BackwardCoefficients = (
  sumG: Float64Array,
  sumGX: Float64Array,
) => { k: Float32Array; a: Float32Array; b: Float32Array };

/** The two passes of the op over channels-last data; a plain-JS and a wasm SIMD implementation. */
interface Engine {
  /**
   * y = act(x·alpha + shift) with (alpha, shift) = `affine(moments)`, where `moments` are x's per-channel mean
   * and biased variance (two-pass: no cancellation for inputs with a large mean) when `training`, else null.
   */
  forward(
    x: Float32Array,
    c: number,
    training: boolean,
    act: Activation,
    affine: (moments: Moments | null) => Affine,
  ): Float32Array;
  /**
   * With g = dy·act′ (act′ = [y > 0] for ReLU, 1 or slope for LeakyReLU): Σg and Σg·(x − mean) per channel,
   * and dx = k·(g − a − (x − mean)·b) with (k, a, b) = `coefficients(Σg, Σg·(x − mean))`.
   */
  backward(
    dy: Float32Array,
    y: Float32Array,
    x: Float32Array,
    c: number,
    mean: Float64Array,
    affine: Affine,
    act: Activation,
    coefficients: BackwardCoefficients,
  ): { dx: Float32Array; sumG: Float64Array; sumGX: Float64Array };
}

const jsEngine: Engine = {
  forward(x, c, training, act, affine) {
    let moments: Moments | null = null;
    if (training) {
      const n = x.length / c;
      const mean = new Float64Array(c);
      for (let p = 0; p < x.length; p += c) for (let j = 0; j < c; j++) mean[j] += x[p + j];
      for (let j = 0; j < c; j++) mean[j] /= n;
      const variance = new Float64Array(c);
      for (let p = 0; p < x.length; p += c) {
        for (let j = 0; j < c; j++) {
          const d = x[p + j] - mean[j];
          variance[j] += d * d;
        }
      }
      for (let j = 0; j < c; j++) variance[j] /= n;
      moments = { mean, variance };
    }
    const { alpha, shift } = affine(moments);
    const y = takeFloat32(x.length);
    if (act.kind === 'leaky') {
      // z rounded to float32 first, then z·slope rounded again: the values of the two ops norm → LeakyReLU.
      const slope = act.slope;
      for (let p = 0; p < x.length; p += c) {
        for (let j = 0; j < c; j++) {
          const z = Math.fround(x[p + j] * alpha[j] + shift[j]);
          y[p + j] = z < 0 ? z * slope : z;
        }
      }
    } else {
      const relu = act.kind === 'relu';
      for (let p = 0; p < x.length; p += c) {
        for (let j = 0; j < c; j++) {
          const v = x[p + j] * alpha[j] + shift[j];
          y[p + j] = relu && v < 0 ? 0 : v;
        }
      }
    }
    return y;
  },
  backward(dy, y, x, c, mean, _affine, act, coefficients) {
    // g is written into dx (float32, as the separate activation gradient would store it), then dx is
    // overwritten in place: one output array and two passes.
    const dx = takeFloat32(dy.length);
    if (act.kind === 'leaky') {
      const slope = Math.fround(act.slope);
      for (let i = 0; i < dy.length; i++) dx[i] = y[i] > 0 ? dy[i] : dy[i] * slope;
    } else if (act.kind === 'relu') {
      for (let i = 0; i < dy.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
    } else dx.set(dy);
    const sumG = new Float64Array(c);
    const sumGX = new Float64Array(c);
    for (let p = 0; p < dx.length; p += c) {
      for (let j = 0; j < c; j++) {
        const gj = dx[p + j];
        sumG[j] += gj;
        sumGX[j] += gj * (x[p + j] - mean[j]);
      }
    }
    const { k, a, b } = coefficients(sumG, sumGX);
    for (let p = 0; p < dx.length; p += c) {
      for (let j = 0; j < c; j++) dx[p + j] = k[j] * (dx[p + j] - a[j] - (x[p + j] - mean[j]) * b[j]);
    }
    return { dx, sumG, sumGX };
  },
};

/** Pixels per wasm call of a summing pass: its float32 partial sums are then added in doubles. */
const SUM_CHUNK = 256;

/** Kernel-name suffix of an activation (`microkernels.ts`). */
function actSuffix(act: Activation): string {
  return act.kind === 'none' ? '' : act.kind === 'relu' ? 'Relu' : 'Leaky';
}

function wasmEngine(rt: KernelRuntime): Engine {
  /** Runs `kernel` over x in chunks, adding each chunk's float32 per-channel sums (at `acc`) into `total`. */
  const chunkedSums = (
    n: number,
    c: number,
    accs: number[],
    call: (p0: number, np: number) => void,
  ): Float64Array[] => {
    const totals = accs.map(() => new Float64Array(c));
    for (let p0 = 0; p0 < n; p0 += SUM_CHUNK) {
      const np = Math.min(SUM_CHUNK, n - p0);
      for (const acc of accs) rt.f32.fill(0, acc >> 2, (acc >> 2) + c);
      call(p0, np);
      const f = rt.f32;
      accs.forEach((acc, i) => {
        const t = totals[i];
        for (let j = 0; j < c; j++) t[j] += f[(acc >> 2) + j];
      });
    }
    return totals;
  };
  return {
    forward(x, c, training, act, affine) {
      // x is copied into the heap once for the statistics and the output.
      rt.reset();
      const n = x.length / c;
      const xp = rt.alloc(4 * x.length);
      const yp = rt.alloc(4 * x.length);
      const [acc, meanP, ap, sp] = Array.from({ length: 4 }, () => rt.alloc(4 * c));
      const slopeP = rt.alloc(16);
      rt.f32.set(x, xp >> 2);
      let moments: Moments | null = null;
      if (training) {
        const bnSum = rt.kernel('bnSum');
        const bnSqDev = rt.kernel('bnSqDev');
        const [sum] = chunkedSums(n, c, [acc], (p0, np) => bnSum(xp + 4 * p0 * c, acc, np, c));
        const mean = sum.map((v) => v / n);
        rt.f32.set(Float32Array.from(mean), meanP >> 2);
        const [sq] = chunkedSums(n, c, [acc], (p0, np) => bnSqDev(xp + 4 * p0 * c, meanP, acc, np, c));
        moments = { mean, variance: sq.map((v) => v / n) };
      }
      const { alpha, shift } = affine(moments);
      const f = rt.f32;
      f.set(alpha, ap >> 2);
      f.set(shift, sp >> 2);
      if (act.kind === 'leaky') new Float64Array(f.buffer, slopeP, 2).fill(act.slope);
      rt.kernel(`bnApply${actSuffix(act)}`)(xp, yp, ap, sp, slopeP, n, c);
      return rt.copyOut(yp, x.length);
    },
    backward(dy, _y, x, c, mean, affine, act, coefficients) {
      // The activation's mask is recomputed from x (the same float32 operations as the forward), so y is not
      // copied in.
      rt.reset();
      const n = x.length / c;
      const len = x.length;
      const dyp = rt.alloc(4 * len);
      const xp = rt.alloc(4 * len);
      const dxp = rt.alloc(4 * len);
      const [meanP, ap, sp, slopeP, accG, accGX, kP, aP, bP] = Array.from({ length: 9 }, () =>
        rt.alloc(4 * c),
      );
      const f = rt.f32;
      f.set(dy, dyp >> 2);
      f.set(x, xp >> 2);
      f.set(Float32Array.from(mean), meanP >> 2);
      f.set(affine.alpha, ap >> 2);
      f.set(affine.shift, sp >> 2);
      f.fill(act.kind === 'leaky' ? act.slope : 0, slopeP >> 2, (slopeP >> 2) + 4);
      const suffix = actSuffix(act);
      const sums = rt.kernel(`bnGradSum${suffix}`);
      const [sumG, sumGX] = chunkedSums(n, c, [accG, accGX], (p0, np) => {
        const o = 4 * p0 * c;
        sums(dyp + o, xp + o, meanP, ap, sp, slopeP, accG, accGX, np, c);
      });
      const { k, a, b } = coefficients(sumG, sumGX);
      const g = rt.f32;
      g.set(k, kP >> 2);
      g.set(a, aP >> 2);
      g.set(b, bP >> 2);
      rt.kernel(`bnGradApply${suffix}`)(dyp, xp, dxp, meanP, ap, sp, slopeP, kP, aP, bP, n, c);
      return { dx: rt.copyOut(dxp, len), sumG, sumGX };
    },
  };
}

/** The wasm engine when the fast kernels are registered and C is a multiple of the 4-lane vector, else JS. */
function engineFor(c: number, size: number): Engine {
  const rt = activeRuntime();
  // Three copies of x-sized arrays must fit in the wasm memory (backward: dy, x, dx).
  return rt !== null && c % 4 === 0 && 12 * size < 1.5 * 2 ** 30 ? wasmEngine(rt) : jsEngine;
}

/** The activation of the options: `slope` needs the activation on and must be finite and ≥ 0. */
function activationOf(options: FusedBatchNormReluOptions, name: string): Activation {
  const relu = options.relu ?? true;
  const slope = options.slope;
  if (slope === undefined) return { kind: relu ? 'relu' : 'none' };
  if (!relu || !Number.isFinite(slope) || slope < 0) {
    throw new InputError(
      `${name}: slope needs relu on and must be a finite number ≥ 0, found relu ${relu} and slope ${slope}`,
    );
  }
  return slope === 0 ? { kind: 'relu' } : { kind: 'leaky', slope };
}

/**
 * Fused batch norm + activation over the last axis: ReLU by default, LeakyReLU with `options.slope`, none with
 * `relu: false`. Returns the output; the caller owns it.
 */
export function fusedBatchNormRelu<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  options: FusedBatchNormReluOptions,
): T {
  const c = x.shape[x.rank - 1];
  const name = options.name ?? 'fusedBatchNormRelu';
  if (x.rank < 2 || gamma.size !== c || beta.size !== c || options.runningMean.size !== c) {
    throw new InputError(
      `${name}: expected x [..., C] with gamma, beta and running stats of C values, found x [${x.shape}], ` +
        `gamma [${gamma.shape}], beta [${beta.shape}], running_mean [${options.runningMean.shape}]`,
    );
  }
  if (x.dtype !== 'float32') throw new InputError(`${name}: x must be float32, found ${x.dtype}`);
  const n = x.size / c;
  const training = options.training;
  if (training && n <= 1) {
    throw new InputError(
      `${name}: batch norm in train mode needs more than 1 value per channel, input shape [${x.shape}] has ${n}`,
    );
  }
  const act = activationOf(options, name);
  const eps = options.eps ?? 1e-5;
  const momentum = options.momentum ?? 0.1;
  let stats: Stats | null = null;

  const op = tf.customGrad((...args: Array<tf.Tensor | SaveFunc>) => {
    const [xt, gt, bt] = args as tf.Tensor[];
    const save = args[3] as SaveFunc;
    const xv = transientHostValues(xt);
    const gv = transientHostValues(gt);
    const bv = transientHostValues(bt);
    const engine = engineFor(c, x.size);
    let st: Stats | null = null;
    let affine: Affine | null = null;
    const yv = engine.forward(xv, c, training, act, (moments) => {
      const mean = moments?.mean ?? Float64Array.from(options.runningMean.dataSync() as Float32Array);
      const variance = moments?.variance ?? Float64Array.from(options.runningVar.dataSync() as Float32Array);
      const invStd = new Float64Array(c);
      const alpha = new Float32Array(c);
      const shift = new Float32Array(c);
      for (let j = 0; j < c; j++) {
        invStd[j] = 1 / Math.sqrt(variance[j] + eps);
        alpha[j] = gv[j] * invStd[j];
        shift[j] = bv[j] - mean[j] * alpha[j];
      }
      st = { mean, invStd, variance };
      affine = { alpha, shift };
      return affine;
    });
    const fwd = st as Stats | null;
    const aff = affine as Affine | null;
    if (fwd === null || aff === null)
      throw new SsmisError(`${name}: the forward pass computed no statistics`);
    stats = fwd;
    const yt = tf.tensor(yv, xt.shape, 'float32');
    save([xt, yt]);
    return {
      value: yt,
      gradFunc: (dyIn: tf.Tensor, saved: tf.Tensor[]) => {
        const dy = transientHostValues(dyIn);
        const xs = transientHostValues(saved[0]);
        const ys = transientHostValues(saved[1]);
        const { dx, sumG, sumGX } = engine.backward(dy, ys, xs, c, fwd.mean, aff, act, (sG, sGX) => {
          const k = new Float32Array(c);
          const a = new Float32Array(c);
          const b = new Float32Array(c);
          for (let j = 0; j < c; j++) {
            if (training) {
              k[j] = gv[j] * fwd.invStd[j];
              a[j] = sG[j] / n;
              b[j] = (sGX[j] / n) * fwd.invStd[j] * fwd.invStd[j];
            } else {
              // Running statistics are constants: dx = g·α.
              k[j] = aff.alpha[j];
            }
          }
          return { k, a, b };
        });
        const dGamma = Float32Array.from(sumGX, (v, j) => v * fwd.invStd[j]);
        return [
          tf.tensor(dx, saved[0].shape, 'float32'),
          tf.tensor(dGamma, gamma.shape, 'float32'),
          tf.tensor(Float32Array.from(sumG), beta.shape, 'float32'),
        ];
      },
    };
  });
  const y = inOpScope('FusedBatchNormActivation', () => op(x, gamma, beta)) as T;
  const s = stats as Stats | null;
  if (training && (options.updateStats ?? true) && s !== null) {
    const { runningMean, runningVar } = options;
    if (hostFloat32(runningMean, runningVar)) {
      updateRunningStatsOnHost(runningMean, runningVar, s, momentum, n);
      return y;
    }
    tf.tidy(() => {
      const mean = tf.tensor1d(Float32Array.from(s.mean), 'float32');
      const variance = tf.tensor1d(Float32Array.from(s.variance), 'float32');
      const shape = runningMean.shape;
      runningMean.assign(
        tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(mean.reshape(shape), momentum)) as tf.Tensor,
      );
      const unbiased = tf.mul(variance.reshape(shape), n / (n - 1));
      runningVar.assign(tf.add(tf.mul(runningVar, 1 - momentum), tf.mul(unbiased, momentum)) as tf.Tensor);
    });
  }
  return y;
}

/**
 * The running-statistics update of a train-mode forward on the host values (cpu backend), in place from the second
 * update on: the same float32 arithmetic as the tensor ops of the other backends (`mul`, `add` with scalars held
 * as float32, each result rounded), without their half-dozen tiny kernels per batch norm, which a
 * copy-paste iteration with four student forwards runs for every layer.
 */
function updateRunningStatsOnHost(
  runningMean: tf.Variable,
  runningVar: tf.Variable,
  s: Stats,
  momentum: number,
  n: number,
): void {
  const f = Math.fround;
  const keep = f(1 - momentum);
  const m = f(momentum);
  const toUnbiased = f(n / (n - 1));
  for (const [v, next] of [
    [runningMean, (old: number, j: number) => f(f(old * keep) + f(f(s.mean[j]) * m))],
    [runningVar, (old: number, j: number) => f(f(old * keep) + f(f(f(s.variance[j]) * toUnbiased) * m))],
  ] as const) {
    const old = transientHostValues(v);
    const target = hostUpdateTarget(v);
    for (let j = 0; j < old.length; j++) target.values[j] = next(old[j], j);
    target.commit();
  }
}

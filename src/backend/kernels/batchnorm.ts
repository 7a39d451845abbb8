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
  /**
   * Train mode: the batch axis (the first) is this many equal consecutive groups, each normalised with its own
   * batch statistics, and the running statistics are updated once per group, in order: the values of as many
   * separate calls on the groups (default 1, the whole batch one group). Eval mode uses the running statistics
   * whatever the grouping.
   */
  groups?: number;
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
  group: number,
) => { k: Float32Array; a: Float32Array; b: Float32Array };

/**
 * The two passes of the op over channels-last data; a plain-JS and a wasm SIMD implementation. The data is
 * `groups` equal consecutive runs of pixels, each with its own statistics, affine map and sums (index g).
 */
interface Engine {
  /**
   * y = act(x·alpha + shift) with (alpha, shift) = `affine(moments, g)` on group g, where `moments` are the
   * group's per-channel mean and biased variance (two-pass: no cancellation for inputs with a large mean) when
   * `training`, else null.
   */
  forward(
    x: Float32Array,
    c: number,
    groups: number,
    training: boolean,
    act: Activation,
    affine: (moments: Moments | null, g: number) => Affine,
  ): Float32Array;
  /**
   * With g = dy·act′ (act′ = [y > 0] for ReLU, 1 or slope for LeakyReLU): Σg and Σg·(x − mean) per channel of
   * each group, and dx = k·(g − a − (x − mean)·b) with (k, a, b) = `coefficients(Σg, Σg·(x − mean), group)`.
   */
  backward(
    dy: Float32Array,
    y: Float32Array,
    x: Float32Array,
    c: number,
    mean: readonly Float64Array[],
    affine: readonly Affine[],
    act: Activation,
    coefficients: BackwardCoefficients,
  ): { dx: Float32Array; sumG: Float64Array[]; sumGX: Float64Array[] };
}

const jsEngine: Engine = {
  forward(x, c, groups, training, act, affine) {
    const y = takeFloat32(x.length);
    const len = x.length / groups;
    for (let g = 0; g < groups; g++) {
      const lo = g * len;
      const hi = lo + len;
      let moments: Moments | null = null;
      if (training) {
        const n = len / c;
        const mean = new Float64Array(c);
        for (let p = lo; p < hi; p += c) for (let j = 0; j < c; j++) mean[j] += x[p + j];
        for (let j = 0; j < c; j++) mean[j] /= n;
        const variance = new Float64Array(c);
        for (let p = lo; p < hi; p += c) {
          for (let j = 0; j < c; j++) {
            const d = x[p + j] - mean[j];
            variance[j] += d * d;
          }
        }
        for (let j = 0; j < c; j++) variance[j] /= n;
        moments = { mean, variance };
      }
      const { alpha, shift } = affine(moments, g);
      if (act.kind === 'leaky') {
        // z rounded to float32 first, then z·slope rounded again: the values of the two ops norm → LeakyReLU.
        const slope = act.slope;
        for (let p = lo; p < hi; p += c) {
          for (let j = 0; j < c; j++) {
            const z = Math.fround(x[p + j] * alpha[j] + shift[j]);
            y[p + j] = z < 0 ? z * slope : z;
          }
        }
      } else {
        const relu = act.kind === 'relu';
        for (let p = lo; p < hi; p += c) {
          for (let j = 0; j < c; j++) {
            const v = x[p + j] * alpha[j] + shift[j];
            y[p + j] = relu && v < 0 ? 0 : v;
          }
        }
      }
    }
    return y;
  },
  backward(dy, y, x, c, means, _affine, act, coefficients) {
    // g is written into dx (float32, as the separate activation gradient would store it), then dx is
    // overwritten in place: one output array and two passes.
    const dx = takeFloat32(dy.length);
    if (act.kind === 'leaky') {
      const slope = Math.fround(act.slope);
      for (let i = 0; i < dy.length; i++) dx[i] = y[i] > 0 ? dy[i] : dy[i] * slope;
    } else if (act.kind === 'relu') {
      for (let i = 0; i < dy.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
    } else dx.set(dy);
    const len = dy.length / means.length;
    const sumGs: Float64Array[] = [];
    const sumGXs: Float64Array[] = [];
    means.forEach((mean, group) => {
      const lo = group * len;
      const hi = lo + len;
      const sumG = new Float64Array(c);
      const sumGX = new Float64Array(c);
      for (let p = lo; p < hi; p += c) {
        for (let j = 0; j < c; j++) {
          const gj = dx[p + j];
          sumG[j] += gj;
          sumGX[j] += gj * (x[p + j] - mean[j]);
        }
      }
      const { k, a, b } = coefficients(sumG, sumGX, group);
      for (let p = lo; p < hi; p += c) {
        for (let j = 0; j < c; j++) dx[p + j] = k[j] * (dx[p + j] - a[j] - (x[p + j] - mean[j]) * b[j]);
      }
      sumGs.push(sumG);
      sumGXs.push(sumGX);
    });
    return { dx, sumG: sumGs, sumGX: sumGXs };
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
    forward(x, c, groups, training, act, affine) {
      // x is copied into the heap once for the statistics and the output of every group.
      rt.reset();
      const n = x.length / c / groups;
      const xp = rt.alloc(4 * x.length);
      const yp = rt.alloc(4 * x.length);
      const [acc, meanP, ap, sp] = Array.from({ length: 4 }, () => rt.alloc(4 * c));
      const slopeP = rt.alloc(16);
      rt.f32.set(x, xp >> 2);
      if (act.kind === 'leaky') new Float64Array(rt.f32.buffer, slopeP, 2).fill(act.slope);
      const apply = rt.kernel(`bnApply${actSuffix(act)}`);
      for (let g = 0; g < groups; g++) {
        const gx = xp + 4 * g * n * c;
        let moments: Moments | null = null;
        if (training) {
          const bnSum = rt.kernel('bnSum');
          const bnSqDev = rt.kernel('bnSqDev');
          const [sum] = chunkedSums(n, c, [acc], (p0, np) => bnSum(gx + 4 * p0 * c, acc, np, c));
          const mean = sum.map((v) => v / n);
          rt.f32.set(Float32Array.from(mean), meanP >> 2);
          const [sq] = chunkedSums(n, c, [acc], (p0, np) => bnSqDev(gx + 4 * p0 * c, meanP, acc, np, c));
          moments = { mean, variance: sq.map((v) => v / n) };
        }
        const { alpha, shift } = affine(moments, g);
        const f = rt.f32;
        f.set(alpha, ap >> 2);
        f.set(shift, sp >> 2);
        apply(gx, yp + 4 * g * n * c, ap, sp, slopeP, n, c);
      }
      return rt.copyOut(yp, x.length);
    },
    backward(dy, _y, x, c, means, affines, act, coefficients) {
      // The activation's mask is recomputed from x (the same float32 operations as the forward), so y is not
      // copied in.
      rt.reset();
      const len = x.length;
      const n = len / c / means.length;
      const dyp = rt.alloc(4 * len);
      const xp = rt.alloc(4 * len);
      const dxp = rt.alloc(4 * len);
      const [meanP, ap, sp, slopeP, accG, accGX, kP, aP, bP] = Array.from({ length: 9 }, () =>
        rt.alloc(4 * c),
      );
      const f = rt.f32;
      f.set(dy, dyp >> 2);
      f.set(x, xp >> 2);
      f.fill(act.kind === 'leaky' ? act.slope : 0, slopeP >> 2, (slopeP >> 2) + 4);
      const suffix = actSuffix(act);
      const sums = rt.kernel(`bnGradSum${suffix}`);
      const apply = rt.kernel(`bnGradApply${suffix}`);
      const sumGs: Float64Array[] = [];
      const sumGXs: Float64Array[] = [];
      means.forEach((mean, group) => {
        const at = 4 * group * n * c;
        const h = rt.f32;
        h.set(Float32Array.from(mean), meanP >> 2);
        h.set(affines[group].alpha, ap >> 2);
        h.set(affines[group].shift, sp >> 2);
        const [sumG, sumGX] = chunkedSums(n, c, [accG, accGX], (p0, np) => {
          const o = at + 4 * p0 * c;
          sums(dyp + o, xp + o, meanP, ap, sp, slopeP, accG, accGX, np, c);
        });
        const { k, a, b } = coefficients(sumG, sumGX, group);
        const g = rt.f32;
        g.set(k, kP >> 2);
        g.set(a, aP >> 2);
        g.set(b, bP >> 2);
        apply(dyp + at, xp + at, dxp + at, meanP, ap, sp, slopeP, kP, aP, bP, n, c);
        sumGs.push(sumG);
        sumGXs.push(sumGX);
      });
      return { dx: rt.copyOut(dxp, len), sumG: sumGs, sumGX: sumGXs };
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
  const training = options.training;
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || x.shape[0] % groups !== 0) {
    throw new InputError(
      `${name}: groups must be a positive integer dividing the batch of x [${x.shape}], found ${groups}`,
    );
  }
  // Values per channel of each group (train mode); eval mode normalises every group alike.
  const nGroups = training ? groups : 1;
  const n = x.size / c / nGroups;
  if (training && n <= 1) {
    throw new InputError(
      `${name}: batch norm in train mode needs more than 1 value per channel, input shape [${x.shape}] has ${n}` +
        (nGroups > 1 ? ` per group of ${x.shape[0] / nGroups}` : ''),
    );
  }
  const act = activationOf(options, name);
  const eps = options.eps ?? 1e-5;
  const momentum = options.momentum ?? 0.1;
  let stats: Stats[] = [];

  const op = tf.customGrad((...args: Array<tf.Tensor | SaveFunc>) => {
    const [xt, gt, bt] = args as tf.Tensor[];
    const save = args[3] as SaveFunc;
    const xv = transientHostValues(xt);
    const gv = transientHostValues(gt);
    const bv = transientHostValues(bt);
    const engine = engineFor(c, x.size);
    const st: Stats[] = [];
    const affines: Affine[] = [];
    const yv = engine.forward(xv, c, nGroups, training, act, (moments) => {
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
      st.push({ mean, invStd, variance });
      const affine = { alpha, shift };
      affines.push(affine);
      return affine;
    });
    if (st.length !== nGroups) throw new SsmisError(`${name}: the forward pass computed no statistics`);
    stats = st;
    const yt = tf.tensor(yv, xt.shape, 'float32');
    save([xt, yt]);
    return {
      value: yt,
      gradFunc: (dyIn: tf.Tensor, saved: tf.Tensor[]) => {
        const dy = transientHostValues(dyIn);
        const xs = transientHostValues(saved[0]);
        const ys = transientHostValues(saved[1]);
        const means = st.map((s) => s.mean);
        const { dx, sumG, sumGX } = engine.backward(dy, ys, xs, c, means, affines, act, (sG, sGX, g) => {
          const k = new Float32Array(c);
          const a = new Float32Array(c);
          const b = new Float32Array(c);
          const invStd = st[g].invStd;
          for (let j = 0; j < c; j++) {
            if (training) {
              k[j] = gv[j] * invStd[j];
              a[j] = sG[j] / n;
              b[j] = (sGX[j] / n) * invStd[j] * invStd[j];
            } else {
              // Running statistics are constants: dx = g·α.
              k[j] = affines[g].alpha[j];
            }
          }
          return { k, a, b };
        });
        // dγ and dβ: each group's float32 gradient, added over the groups in order (as the gradients of
        // separate calls accumulate).
        const dGamma = new Float32Array(c);
        const dBeta = new Float32Array(c);
        for (let g = 0; g < sumG.length; g++) {
          for (let j = 0; j < c; j++) {
            const dg = Math.fround(sumGX[g][j] * st[g].invStd[j]);
            const db = Math.fround(sumG[g][j]);
            dGamma[j] = g === 0 ? dg : dGamma[j] + dg;
            dBeta[j] = g === 0 ? db : dBeta[j] + db;
          }
        }
        return [
          tf.tensor(dx, saved[0].shape, 'float32'),
          tf.tensor(dGamma, gamma.shape, 'float32'),
          tf.tensor(dBeta, beta.shape, 'float32'),
        ];
      },
    };
  });
  const y = inOpScope('FusedBatchNormActivation', () => op(x, gamma, beta)) as T;
  if (training && (options.updateStats ?? true)) {
    // One update per group, in order, as separate calls would make.
    for (const s of stats) updateRunningStats(options.runningMean, options.runningVar, s, momentum, n);
  }
  return y;
}

/**
 * running ← (1−m)·running + m·batch statistic (the variance unbiased with n/(n−1)). On the cpu backend it is
 * done on the host values, in place from the second update on: the same float32 arithmetic as the tensor ops of
 * the other backends (`mul`, `add` with scalars held as float32, each result rounded), without their half-dozen
 * tiny kernels per batch norm, which a copy-paste iteration runs for every layer and mix.
 */
function updateRunningStats(
  runningMean: tf.Variable,
  runningVar: tf.Variable,
  s: Stats,
  momentum: number,
  n: number,
): void {
  if (!hostFloat32(runningMean, runningVar)) {
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
    return;
  }
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

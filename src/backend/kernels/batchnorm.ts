/**
 * Batch norm followed by ReLU as one op with a hand-written gradient (`tf.customGrad`). Written with
 * `tf.moments` and broadcast ops, a train-mode batch norm + ReLU costs about a dozen full-size element-wise
 * kernels forward and twice that backward; here it is two passes forward and two backward over the
 * channels-last data, with per-channel sums in doubles.
 *
 * Semantics are those of `batchNorm` in `src/nn/layers.ts` followed by `tf.relu` (PyTorch BatchNorm,
 * docs/equations.md §1.2): train mode normalises with the batch mean and the biased batch variance and, when
 * `updateStats`, sets running_mean ← (1−m)·running_mean + m·mean and running_var ← (1−m)·running_var +
 * m·var·n/(n−1), computed with the same TF.js ops as `layers.ts` so the stored values agree to float32
 * rounding; eval mode uses the running statistics. Output = max(0, x·α + β′) with α = γ/√(var+ε) and
 * β′ = β − mean·α, the form of PyTorch's CPU kernel.
 *
 * Backward (train), with g = dy·[y > 0], x̂ = (x − mean)/√(var+ε), sums over the n values of each channel:
 * dβ = Σg, dγ = Σg·x̂, dx = γ/√(var+ε) · (g − dβ/n − x̂·dγ/n). Eval: dx = g·α, dγ = Σg·(x − mean)/√(var+ε),
 * dβ = Σg.
 */
import { InputError } from '../../util/errors.js';
import { tf } from '../tf.js';
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
  /** Apply the ReLU (default true); false gives plain batch norm with the same fused gradient. */
  relu?: boolean;
  /** Named in error messages (e.g. the parameter key). */
  name?: string;
}

type SaveFunc = (tensors: tf.Tensor[]) => void;

interface Stats {
  mean: Float64Array;
  invStd: Float64Array;
  /** Biased batch variance (train mode). */
  variance: Float64Array;
}

/** The three passes of the op over channels-last data; a plain-JS and a wasm SIMD implementation. */
interface Engine {
  /** Per-channel mean and biased variance (two-pass: no cancellation for inputs with a large mean). */
  stats(x: Float32Array, c: number): { mean: Float64Array; variance: Float64Array };
  /** y = x·alpha + shift, then max(·, 0) when `relu`. */
  apply(x: Float32Array, c: number, alpha: Float32Array, shift: Float32Array, relu: boolean): Float32Array;
  /**
   * With g = dy·[y > 0] (or dy): Σg and Σg·(x − mean) per channel, and dx = k·(g − a − (x − mean)·b) where
   * (k, a, b) come from `coefficients(sumG, sumGXraw)`.
   */
  backward(
    dy: Float32Array,
    y: Float32Array,
    x: Float32Array,
    c: number,
    mean: Float64Array,
    relu: boolean,
    coefficients: (
      sumG: Float64Array,
      sumGX: Float64Array,
    ) => { k: Float32Array; a: Float32Array; b: Float32Array },
  ): { dx: Float32Array; sumG: Float64Array; sumGX: Float64Array };
}

const jsEngine: Engine = {
  stats(x, c) {
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
    return { mean, variance };
  },
  apply(x, c, alpha, shift, relu) {
    const y = new Float32Array(x.length);
    for (let p = 0; p < x.length; p += c) {
      for (let j = 0; j < c; j++) {
        const v = x[p + j] * alpha[j] + shift[j];
        y[p + j] = relu && v < 0 ? 0 : v;
      }
    }
    return y;
  },
  backward(dy, y, x, c, mean, relu, coefficients) {
    const g = new Float32Array(dy.length);
    if (relu) for (let i = 0; i < dy.length; i++) g[i] = y[i] > 0 ? dy[i] : 0;
    else g.set(dy);
    const sumG = new Float64Array(c);
    const sumGX = new Float64Array(c);
    for (let p = 0; p < g.length; p += c) {
      for (let j = 0; j < c; j++) {
        const gj = g[p + j];
        sumG[j] += gj;
        sumGX[j] += gj * (x[p + j] - mean[j]);
      }
    }
    const { k, a, b } = coefficients(sumG, sumGX);
    const dx = new Float32Array(g.length);
    for (let p = 0; p < g.length; p += c) {
      for (let j = 0; j < c; j++) dx[p + j] = k[j] * (g[p + j] - a[j] - (x[p + j] - mean[j]) * b[j]);
    }
    return { dx, sumG, sumGX };
  },
};

/** Pixels per wasm call of a summing pass: its float32 partial sums are then added in doubles. */
const SUM_CHUNK = 256;

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
    stats(x, c) {
      rt.reset();
      const n = x.length / c;
      const xp = rt.alloc(4 * x.length);
      const acc = rt.alloc(4 * c);
      const meanP = rt.alloc(4 * c);
      rt.f32.set(x, xp >> 2);
      const bnSum = rt.kernel('bnSum');
      const bnSqDev = rt.kernel('bnSqDev');
      const [sum] = chunkedSums(n, c, [acc], (p0, np) => bnSum(xp + 4 * p0 * c, acc, np, c));
      const mean = sum.map((v) => v / n);
      rt.f32.set(Float32Array.from(mean), meanP >> 2);
      const [sq] = chunkedSums(n, c, [acc], (p0, np) => bnSqDev(xp + 4 * p0 * c, meanP, acc, np, c));
      return { mean, variance: sq.map((v) => v / n) };
    },
    apply(x, c, alpha, shift, relu) {
      rt.reset();
      const n = x.length / c;
      const xp = rt.alloc(4 * x.length);
      const yp = rt.alloc(4 * x.length);
      const ap = rt.alloc(4 * c);
      const sp = rt.alloc(4 * c);
      const f = rt.f32;
      f.set(x, xp >> 2);
      f.set(alpha, ap >> 2);
      f.set(shift, sp >> 2);
      rt.kernel(relu ? 'bnApplyRelu' : 'bnApply')(xp, yp, ap, sp, n, c);
      return rt.copyOut(yp, x.length);
    },
    backward(dy, y, x, c, mean, relu, coefficients) {
      rt.reset();
      const n = x.length / c;
      const len = x.length;
      const dyp = rt.alloc(4 * len);
      const yp = rt.alloc(4 * len);
      const xp = rt.alloc(4 * len);
      const dxp = rt.alloc(4 * len);
      const vec = Array.from({ length: 6 }, () => rt.alloc(4 * c));
      const [meanP, accG, accGX, kP, aP, bP] = vec;
      const f = rt.f32;
      f.set(dy, dyp >> 2);
      f.set(y, yp >> 2);
      f.set(x, xp >> 2);
      f.set(Float32Array.from(mean), meanP >> 2);
      const sums = rt.kernel(relu ? 'bnGradSumRelu' : 'bnGradSum');
      const [sumG, sumGX] = chunkedSums(n, c, [accG, accGX], (p0, np) => {
        const o = 4 * p0 * c;
        sums(dyp + o, yp + o, xp + o, meanP, accG, accGX, np, c);
      });
      const { k, a, b } = coefficients(sumG, sumGX);
      const g = rt.f32;
      g.set(k, kP >> 2);
      g.set(a, aP >> 2);
      g.set(b, bP >> 2);
      rt.kernel(relu ? 'bnGradApplyRelu' : 'bnGradApply')(dyp, yp, xp, dxp, meanP, kP, aP, bP, n, c);
      return { dx: rt.copyOut(dxp, len), sumG, sumGX };
    },
  };
}

/** The wasm engine when the fast kernels are registered and C is a multiple of the 4-lane vector, else JS. */
function engineFor(c: number, size: number): Engine {
  const rt = activeRuntime();
  // Four copies of x-sized arrays must fit in the wasm memory (backward: dy, y, x, dx).
  return rt !== null && c % 4 === 0 && 16 * size < 1.5 * 2 ** 30 ? wasmEngine(rt) : jsEngine;
}

/** Fused batch norm + ReLU over the last axis. Returns the output; the caller owns it. */
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
  const eps = options.eps ?? 1e-5;
  const momentum = options.momentum ?? 0.1;
  const relu = options.relu ?? true;
  let stats: Stats | null = null;

  const op = tf.customGrad((...args: Array<tf.Tensor | SaveFunc>) => {
    const [xt, gt, bt] = args as tf.Tensor[];
    const save = args[3] as SaveFunc;
    const xv = xt.dataSync() as Float32Array;
    const gv = gt.dataSync() as Float32Array;
    const bv = bt.dataSync() as Float32Array;
    const engine = engineFor(c, x.size);
    let mean: Float64Array;
    let variance: Float64Array;
    if (training) ({ mean, variance } = engine.stats(xv, c));
    else {
      mean = Float64Array.from(options.runningMean.dataSync() as Float32Array);
      variance = Float64Array.from(options.runningVar.dataSync() as Float32Array);
    }
    const invStd = new Float64Array(c);
    const alpha = new Float32Array(c);
    const shift = new Float32Array(c);
    for (let j = 0; j < c; j++) {
      invStd[j] = 1 / Math.sqrt(variance[j] + eps);
      alpha[j] = gv[j] * invStd[j];
      shift[j] = bv[j] - mean[j] * alpha[j];
    }
    const st: Stats = { mean, invStd, variance };
    stats = st;
    const yt = tf.tensor(engine.apply(xv, c, alpha, shift, relu), xt.shape, 'float32');
    save([xt, yt]);
    return {
      value: yt,
      gradFunc: (dyIn: tf.Tensor, saved: tf.Tensor[]) => {
        const dy = dyIn.dataSync() as Float32Array;
        const xs = saved[0].dataSync() as Float32Array;
        const ys = saved[1].dataSync() as Float32Array;
        const { dx, sumG, sumGX } = engine.backward(dy, ys, xs, c, st.mean, relu, (sG, sGX) => {
          const k = new Float32Array(c);
          const a = new Float32Array(c);
          const b = new Float32Array(c);
          for (let j = 0; j < c; j++) {
            if (training) {
              k[j] = gv[j] * st.invStd[j];
              a[j] = sG[j] / n;
              b[j] = (sGX[j] / n) * st.invStd[j] * st.invStd[j];
            } else {
              // Running statistics are constants: dx = g·α.
              k[j] = alpha[j];
            }
          }
          return { k, a, b };
        });
        const dGamma = Float32Array.from(sumGX, (v, j) => v * st.invStd[j]);
        return [
          tf.tensor(dx, saved[0].shape, 'float32'),
          tf.tensor(dGamma, gamma.shape, 'float32'),
          tf.tensor(Float32Array.from(sumG), beta.shape, 'float32'),
        ];
      },
    };
  });
  const y = op(x, gamma, beta) as T;
  const s = stats as Stats | null;
  if (training && (options.updateStats ?? true) && s !== null) {
    const { runningMean, runningVar } = options;
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

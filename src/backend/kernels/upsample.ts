/**
 * Bilinear ×2 upsampling with align_corners=True over the two spatial axes of channels-last `[N, H, W, C]`
 * float32 data, as one op with its own gradient and plain loops: one pass per axis forward (two taps per output
 * row) and one scatter pass per axis backward (each output row adds its two weighted values into its two source
 * rows). Written with TF.js ops (gathers, broadcast products, sums; `upsampleBilinear2x` in `src/nn/layers.ts`)
 * the same computation is about thirty full-size kernels for the gradient; the 2-D U-Net runs four of these per
 * step. Used by `upsampleBilinear2x` when the fast cpu kernels are active.
 */
import { InputError } from '../../util/errors.js';
import { transientHostValues } from '../host.js';
import { tf } from '../tf.js';
import { takeFloat32 } from './array-pool.js';
import { inOpScope } from './op-scope.js';
import { activeRuntime, type KernelRuntime, TASK_LERP } from './runtime.js';

/** Source rows and weights of align_corners=True resizing n → 2n, one entry per output row. */
export interface AlignCornersTaps {
  i0: Int32Array;
  i1: Int32Array;
  w0: Float32Array;
  w1: Float32Array;
}

/** Source indices and weights of align_corners=True resizing n → 2n: output o samples o·(n−1)/(2n−1). */
export function alignCornersTaps(n: number): AlignCornersTaps {
  const m = 2 * n;
  const i0 = new Int32Array(m);
  const i1 = new Int32Array(m);
  const w0 = new Float32Array(m);
  const w1 = new Float32Array(m);
  for (let o = 0; o < m; o++) {
    // PyTorch computes the scale (n−1)/(m−1) in float32, then src = scale·o.
    const src = n === 1 ? 0 : Math.fround(Math.fround((n - 1) / (m - 1)) * o);
    const lo = Math.min(Math.floor(src), n - 1);
    const frac = src - lo;
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, n - 1);
    w1[o] = frac;
    w0[o] = 1 - frac;
  }
  return { i0, i1, w0, w1 };
}

/**
 * Interpolates `[outer, n, inner]` data along its middle axis to `[outer, 2n, inner]`, or (`adjoint`) adds
 * `[outer, 2n, inner]` back into `[outer, n, inner]` with the transposed weights. Each product is rounded to
 * float32 before the sum, as the broadcast-product and add kernels of the TF.js form round them.
 */
function axisPass(
  src: Float32Array,
  outer: number,
  n: number,
  inner: number,
  adjoint: boolean,
): Float32Array {
  const { i0, i1, w0, w1 } = alignCornersTaps(n);
  const m = 2 * n;
  // The adjoint adds into its output, so it starts from zeros; the forward writes every element.
  const size = outer * (adjoint ? n : m) * inner;
  const out = adjoint ? new Float32Array(size) : takeFloat32(size);
  for (let b = 0; b < outer; b++) {
    const small = b * n * inner;
    const big = b * m * inner;
    for (let o = 0; o < m; o++) {
      const a0 = small + i0[o] * inner;
      const a1 = small + i1[o] * inner;
      const q = big + o * inner;
      const u = w0[o];
      const v = w1[o];
      if (adjoint) {
        for (let k = 0; k < inner; k++) {
          const d = src[q + k];
          out[a0 + k] += Math.fround(u * d);
          out[a1 + k] += Math.fround(v * d);
        }
      } else {
        for (let k = 0; k < inner; k++)
          out[q + k] = Math.fround(u * src[a0 + k]) + Math.fround(v * src[a1 + k]);
      }
    }
  }
  return out;
}

/**
 * `axisPass` forward on the kernel runtime: `[outer, n, inner]` at byte pointer `src` of its heap to
 * `[outer, 2n, inner]` at `dst`, the rows split among the worker threads; the same bits.
 */
function axisPassWasm(
  rt: KernelRuntime,
  src: number,
  dst: number,
  outer: number,
  n: number,
  inner: number,
): void {
  const { i0, i1, w0, w1 } = alignCornersTaps(n);
  const m = 2 * n;
  const tab = rt.alloc(16 * m);
  const i32 = rt.i32;
  const f32 = rt.f32;
  for (let o = 0, e = tab >> 2; o < m; o++, e += 4) {
    i32[e] = 4 * i0[o] * inner;
    i32[e + 1] = 4 * i1[o] * inner;
    f32[e + 2] = w0[o];
    f32[e + 3] = w1[o];
  }
  const perItem = Math.max(1, Math.floor(LERP_ITEM_FLOATS / inner));
  i32.set([src, dst, tab, outer, n, m, inner, perItem], 0);
  // Two multiplies and an add per output float.
  rt.run(TASK_LERP, 0, Math.ceil((outer * m) / perItem), 3 * outer * m * inner);
}

/** Output floats per item of a TASK_LERP. */
const LERP_ITEM_FLOATS = 4096;

/**
 * `[N, H, W, C]` → `[N, 2H, 2W, C]`, rows (H) first, then columns (W), and the adjoint in reverse order. The
 * forward runs on the fast kernels' runtime `rt` when given (the same bits as the loops).
 */
export function upsampleValues(
  x: Float32Array,
  [n, h, w, c]: readonly number[],
  rt: KernelRuntime | null,
): Float32Array {
  const loops = () => axisPass(axisPass(x, n, h, w * c, false), n * 2 * h, w, c, false);
  if (rt === null) return loops();
  const heap = rt.blocks(4 * x.length, 8 * x.length, 16 * x.length);
  if (heap === null) return loops();
  const [src, mid, dst] = heap;
  rt.f32.set(x, src >> 2);
  axisPassWasm(rt, src, mid, n, h, w * c);
  axisPassWasm(rt, mid, dst, n * 2 * h, w, c);
  return rt.copyOut(dst, 4 * x.length);
}

function upsampleAdjoint(dy: Float32Array, [n, h, w, c]: readonly number[]): Float32Array {
  return axisPass(axisPass(dy, n * 2 * h, w, c, true), n, h, w * c, true);
}

/**
 * Bilinear ×2 upsampling (align_corners=True) of float32 `[N, H, W, C]` with its hand-written gradient; the
 * caller owns the result.
 */
export function upsampleBilinear2xFused(x: tf.Tensor4D): tf.Tensor4D {
  if (x.rank !== 4 || x.dtype !== 'float32') {
    throw new InputError(
      `upsampleBilinear2xFused: expected a float32 [N, H, W, C] tensor, found ${x.dtype} [${x.shape}]`,
    );
  }
  const shape = [...x.shape];
  const up = [shape[0], 2 * shape[1], 2 * shape[2], shape[3]];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    return {
      value: tf.tensor(upsampleValues(transientHostValues(input), shape, activeRuntime()), up, 'float32'),
      gradFunc: (dy: tf.Tensor) =>
        tf.tensor(upsampleAdjoint(transientHostValues(dy), shape), shape, 'float32'),
    };
  });
  return inOpScope('UpsampleBilinear2xFused', () => op(x)) as tf.Tensor4D;
}

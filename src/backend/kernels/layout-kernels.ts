/**
 * Copying kernels for float32 tensors on the cpu backend: GatherV2 (the 2-D network's bilinear upsampling and its
 * gradient gather whole rows or columns), Concat (the decoder's skip connections), SplitV (their gradient) and Tile
 * (the loss masks broadcast over the batch). The stock kernels go through a per-element multi-index (GatherV2
 * through a `TensorBuffer`, SplitV through a generic Slice), which made them the slowest ops of a step once the
 * convolutions were fast; here all are copies of contiguous runs. Other dtypes and cases call the stock kernel.
 */
import type { tf } from '../tf.js';
import { takeFloat32 } from './array-pool.js';
import { asCpuBackend, float32Values } from './cpu-backend.js';

function axisOf(axis: unknown, rank: number): number | null {
  const a = Array.isArray(axis) ? axis[0] : axis;
  if (typeof a !== 'number' || !Number.isInteger(a) || a < -rank || a >= rank) return null;
  return a < 0 ? a + rank : a;
}

const product = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);

/** Copies `len` floats from `src[from…]` to `dst[to…]` (a loop for short runs, where `set` costs more). */
function copyRun(src: Float32Array, from: number, dst: Float32Array, to: number, len: number): void {
  if (len >= 64) dst.set(src.subarray(from, from + len), to);
  else for (let i = 0; i < len; i++) dst[to + i] = src[from + i];
}

/**
 * Makes GatherV2 (1-D int32 indices, no batch dims), SplitV, Concat (two or more float32 parts) and Tile (float32;
 * what `broadcastTo` of a loss mask runs), falling back to `original(name)`.
 */
export function makeLayoutKernels(
  original: (name: string) => tf.KernelFunc,
): Record<'GatherV2' | 'SplitV' | 'Concat' | 'Tile', tf.KernelFunc> {
  const gatherV2: tf.KernelFunc = (args) => {
    const backend = asCpuBackend(args.backend);
    const { x, indices } = args.inputs;
    const a = (args.attrs ?? {}) as { axis?: unknown; batchDims?: number };
    const fallback = () => original('GatherV2')(args);
    if (backend === null || x === undefined || indices === undefined || indices.shape.length !== 1)
      return fallback();
    const xv = float32Values(backend, x);
    const idx = indices.dtype === 'int32' ? backend.data.get(indices.dataId).values : null;
    const axis = axisOf(a.axis ?? 0, x.shape.length);
    if (xv === null || !(idx instanceof Int32Array) || axis === null || (a.batchDims ?? 0) !== 0)
      return fallback();
    const dim = x.shape[axis];
    // The stock kernel reports out-of-range indices.
    for (let i = 0; i < idx.length; i++) if (!(idx[i] >= 0 && idx[i] < dim)) return fallback();
    const outer = product(x.shape.slice(0, axis));
    const inner = product(x.shape.slice(axis + 1));
    const m = idx.length;
    const out = takeFloat32(outer * m * inner);
    for (let o = 0; o < outer; o++) {
      const src = o * dim * inner;
      const dst = o * m * inner;
      for (let i = 0; i < m; i++) {
        copyRun(xv, src + idx[i] * inner, out, dst + i * inner, inner);
      }
    }
    const shape = [...x.shape];
    shape[axis] = m;
    return backend.makeTensorInfo(shape, 'float32', out);
  };

  const splitV: tf.KernelFunc = (args) => {
    const backend = asCpuBackend(args.backend);
    const { x } = args.inputs;
    const a = (args.attrs ?? {}) as { numOrSizeSplits?: number | number[]; axis?: unknown };
    const fallback = () => original('SplitV')(args);
    const xv = backend === null ? null : float32Values(backend, x);
    if (backend === null || x === undefined || xv === null) return fallback();
    const axis = axisOf(a.axis ?? 0, x.shape.length);
    const sizes = a.numOrSizeSplits;
    // Explicit sizes only (-1 entries and an even split count are resolved by the stock kernel).
    if (axis === null || !Array.isArray(sizes) || sizes.some((s) => !Number.isInteger(s) || s < 0))
      return fallback();
    const dim = x.shape[axis];
    if (sizes.reduce((p, s) => p + s, 0) !== dim) return fallback();
    const outer = product(x.shape.slice(0, axis));
    const inner = product(x.shape.slice(axis + 1));
    let begin = 0;
    return sizes.map((s) => {
      const out = takeFloat32(outer * s * inner);
      const run = s * inner;
      for (let o = 0; o < outer; o++) {
        copyRun(xv, (o * dim + begin) * inner, out, o * run, run);
      }
      begin += s;
      const shape = [...x.shape];
      shape[axis] = s;
      return backend.makeTensorInfo(shape, 'float32', out);
    });
  };

  const concat: tf.KernelFunc = (args) => {
    const backend = asCpuBackend(args.backend);
    const parts = Object.values(args.inputs) as tf.TensorInfo[];
    const fallback = () => original('Concat')(args);
    if (backend === null || parts.length < 2) return fallback();
    const rank = parts[0].shape.length;
    const axis = axisOf((args.attrs as { axis?: unknown } | undefined)?.axis ?? 0, rank);
    const values = parts.map((t) => float32Values(backend, t));
    if (axis === null || values.some((v) => v === null)) return fallback();
    const same = (t: tf.TensorInfo) =>
      t.shape.length === rank && t.shape.every((d, i) => i === axis || d === parts[0].shape[i]);
    if (!parts.every(same)) return fallback();
    const outer = product(parts[0].shape.slice(0, axis));
    const inner = product(parts[0].shape.slice(axis + 1));
    const runs = parts.map((t) => t.shape[axis] * inner);
    const row = runs.reduce((p, r) => p + r, 0);
    const out = takeFloat32(outer * row);
    let offset = 0;
    parts.forEach((_, k) => {
      const v = values[k] as Float32Array;
      const run = runs[k];
      for (let o = 0; o < outer; o++) copyRun(v, o * run, out, o * row + offset, run);
      offset += run;
    });
    const shape = [...parts[0].shape];
    shape[axis] = row / inner;
    return backend.makeTensorInfo(shape, 'float32', out);
  };

  const tile: tf.KernelFunc = (args) => {
    const backend = asCpuBackend(args.backend);
    const { x } = args.inputs;
    const reps = (args.attrs as { reps?: unknown } | undefined)?.reps;
    const fallback = () => original('Tile')(args);
    const xv = backend === null ? null : float32Values(backend, x);
    if (backend === null || x === undefined || xv === null || !Array.isArray(reps)) return fallback();
    const r = x.shape.length;
    if (r === 0 || reps.length !== r || reps.some((k) => !Number.isInteger(k) || k < 0)) return fallback();
    const outShape = x.shape.map((d, i) => d * (reps[i] as number));
    const out = takeFloat32(product(outShape));
    if (out.length === 0) return backend.makeTensorInfo(outShape, 'float32', out);
    // Output rows of the innermost axis: each is the matching input row repeated reps[r − 1] times; the input
    // row of an output row is its outer index taken modulo the input's extent on every axis.
    const rowIn = x.shape[r - 1];
    const rowOut = outShape[r - 1];
    const rows = out.length / rowOut;
    const idx = new Array<number>(r - 1).fill(0);
    const strides = new Array<number>(r - 1).fill(0);
    for (let k = r - 2, acc = rowIn; k >= 0; k--) {
      strides[k] = acc;
      acc *= x.shape[k];
    }
    for (let row = 0; row < rows; row++) {
      let from = 0;
      for (let k = 0; k < r - 1; k++) from += (idx[k] % x.shape[k]) * strides[k];
      for (let rep = 0, to = row * rowOut; rep < rowOut; rep += rowIn, to += rowIn)
        copyRun(xv, from, out, to, rowIn);
      for (let k = r - 2; k >= 0; k--) {
        if (++idx[k] < outShape[k]) break;
        idx[k] = 0;
      }
    }
    return backend.makeTensorInfo(outShape, 'float32', out);
  };

  return { GatherV2: gatherV2, SplitV: splitV, Concat: concat, Tile: tile };
}

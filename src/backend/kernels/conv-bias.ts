/**
 * Biased convolutions as one op each, for the fast CPU kernels: the 3-D convolution, the transposed 3-D
 * convolution and the 2-D convolution, each followed by a per-channel bias. Written as `add(conv(x, w), b)` the
 * bias costs a second full-size output array and a broadcast Add on the main thread, and its gradient a `Sum`;
 * here the convolution runs on the fast kernel and the bias is added while its result is copied out of the wasm
 * heap (one pass, one output array), and the gradient is dx and dw through the same TF.js ops TF.js's own
 * gradients use plus db as one column-sum pass over dy.
 *
 * The value is bit-identical to `add(conv(x, w), b)` on the fast kernels (the float32 convolution result plus the
 * float32 bias, rounded once), and so are dx and dw; db is the `Sum` of the fast element-wise kernels (doubles
 * over the voxels in order, rounded once). Where the fast path does not apply (fast kernels off, another backend,
 * other dtypes or bias shapes, geometries the fast kernels refuse) the ops are the plain composition; operands
 * beyond the wasm memory get the composition's value with this op's gradient.
 */
import { tf } from '../tf.js';
import { peekFloat32 } from './array-pool.js';
import { type ConvCall, planConv3d, planConv3dBackpropInput } from './conv-kernels.js';
import { planConv2d } from './conv2d-kernels.js';
import { type ConvGeometry, conv3dBackpropInput, conv3dForward, windowsFit } from './conv3d.js';
import { asCpuBackend } from './cpu-backend.js';
import { inOpScope } from './op-scope.js';
import { activeRuntime, type KernelRuntime, WasmHeapLimitError } from './runtime.js';

type Triple = [number, number, number];
type Shape5 = [number, number, number, number, number];
type Pad = 'same' | 'valid';
type Run = (
  rt: KernelRuntime,
  a: Float32Array,
  b: Float32Array,
  g: ConvGeometry,
  bias: Float32Array,
) => Float32Array;

/**
 * The fast call when it applies: fast kernels active on the cpu backend, float32 operands, a bias of shape
 * `[channels]` and a plan (`plan`, from the replacement kernels' own rules) whose windows fit; else null.
 */
function fastCall(
  a: tf.Tensor,
  b: tf.Tensor,
  bias: tf.Tensor,
  channels: number,
  plan: () => ConvCall | null,
): ConvCall | null {
  if (activeRuntime() === null || tf.getBackend() !== 'cpu' || asCpuBackend(tf.backend()) === null)
    return null;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || bias.dtype !== 'float32') return null;
  if (bias.rank !== 1 || bias.shape[0] !== channels) return null;
  const call = plan();
  if (call === null || !windowsFit(call.geometry) || call.outShape.some((d) => d <= 0)) return null;
  return call;
}

/** The biased convolution on the fast kernel, or null when the runtime, the values or the wasm memory are missing. */
function fastValue(run: Run, call: ConvCall, a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor): tf.Tensor | null {
  const rt = activeRuntime();
  if (rt === null) return null;
  const av = peekFloat32(a);
  const bv = peekFloat32(b);
  const biasv = peekFloat32(bias);
  if (av === null || bv === null || biasv === null) return null;
  try {
    return tf.tensor(run(rt, av, bv, call.geometry, biasv), call.outShape, 'float32');
  } catch (error) {
    if (error instanceof WasmHeapLimitError) return null;
    throw error;
  }
}

/** The bias gradient: dy summed over every axis but the last (the fast `Sum` kernel: one pass, doubles). */
function biasGradient(dy: tf.Tensor): tf.Tensor {
  return tf.sum(
    dy,
    dy.shape.slice(0, -1).map((_, i) => i),
  );
}

/**
 * One biased convolution op: `value` is the fast result (or `plain`, the composition, when the wasm memory is too
 * small), the gradient `[da, db, dbias]` from `grads` (da, db through TF.js ops) and `biasGradient`.
 */
function biasedOp(
  run: Run,
  call: ConvCall,
  plain: (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) => tf.Tensor,
  grads: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => [tf.Tensor, tf.Tensor],
): (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [a, b, bias] = args as tf.Tensor[];
    (args[3] as tf.GradSaveFunc)([a, b]);
    return {
      value: fastValue(run, call, a, b, bias) ?? plain(a, b, bias),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [...grads(dy, saved[0], saved[1]), biasGradient(dy)],
    };
  }) as (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) => tf.Tensor;
}

/**
 * `add(conv3d(x, w, strides, pad), b)` as one op on the fast CPU kernels (the bias added while the result leaves
 * the wasm heap, db one pass over dy); the plain composition where they do not apply. x `[N, D, H, W, C]`, w
 * `[kd, kh, kw, C, Co]`, b `[Co]`. Same values as the composition; the caller owns the result.
 */
export function conv3dBiasFused(
  x: tf.Tensor5D,
  w: tf.Tensor5D,
  b: tf.Tensor,
  strides: number | Triple,
  pad: Pad,
): tf.Tensor5D {
  const plain = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
    tf.add(tf.conv3d(xi as tf.Tensor5D, wi as tf.Tensor5D, strides, pad), bi);
  const shapesFit = x.rank === 5 && w.rank === 5 && x.shape[4] === w.shape[3];
  const call = shapesFit ? fastCall(x, w, b, w.shape[4], () => planConv3d({ strides, pad }, x, w)) : null;
  if (call === null) return plain(x, w, b) as tf.Tensor5D;
  const op = biasedOp(conv3dForward, call, plain, (dy, xs, ws) => [
    tf.conv3dTranspose(dy as tf.Tensor5D, ws as tf.Tensor5D, xs.shape as Shape5, strides, pad),
    filterGradient3d(xs, dy, ws.shape, strides, pad),
  ]);
  return inOpScope('Conv3DBiasFused', () => op(x, w, b)) as tf.Tensor5D;
}

/** The filter gradient of a 3-D convolution of x with dy, the kernel TF.js's own Conv3D gradient runs. */
function filterGradient3d(
  x: tf.Tensor,
  dy: tf.Tensor,
  filterShape: number[],
  strides: number | Triple,
  pad: Pad,
): tf.Tensor {
  return tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy }, {
    strides,
    pad,
    filterShape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * `add(conv3dTranspose(x, w, outShape, strides, pad), b)` as one op on the fast CPU kernels (see
 * `conv3dBiasFused`); the plain composition where they do not apply. x `[N, D, H, W, Ci]`, w `[kd, kh, kw, Co, Ci]`,
 * b `[Co]`, outShape `[N, D', H', W', Co]`. Same values as the composition; the caller owns the result.
 */
export function conv3dTransposeBiasFused(
  x: tf.Tensor5D,
  w: tf.Tensor5D,
  b: tf.Tensor,
  outShape: Shape5,
  strides: number | Triple,
  pad: Pad,
): tf.Tensor5D {
  const plain = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
    tf.add(tf.conv3dTranspose(xi as tf.Tensor5D, wi as tf.Tensor5D, outShape, strides, pad), bi);
  const shapesFit =
    x.rank === 5 &&
    w.rank === 5 &&
    outShape.length === 5 &&
    x.shape[4] === w.shape[4] &&
    outShape[4] === w.shape[3];
  const call = shapesFit
    ? fastCall(x, w, b, w.shape[3], () =>
        planConv3dBackpropInput({ strides, pad, inputShape: outShape }, x, w),
      )
    : null;
  if (call === null) return plain(x, w, b) as tf.Tensor5D;
  // The gradient of the transposed convolution (the one registered for Conv3DBackpropInputV2 in tf.ts).
  const op = biasedOp(conv3dBackpropInput, call, plain, (dy, xs, ws) => [
    tf.conv3d(dy as tf.Tensor5D, ws as tf.Tensor5D, strides, pad),
    filterGradient3d(dy, xs, ws.shape, strides, pad),
  ]);
  return inOpScope('Conv3DTransposeBiasFused', () => op(x, w, b)) as tf.Tensor5D;
}

/**
 * `add(conv2d(x, w, strides, pad), b)` (NHWC) as one op on the fast CPU kernels (see `conv3dBiasFused`); the
 * plain composition where they do not apply. x `[N, H, W, C]`, w `[kh, kw, C, Co]`, b `[Co]`. Same values as the
 * composition; the caller owns the result.
 */
export function conv2dBiasFused(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  b: tf.Tensor,
  strides: number | [number, number],
  pad: Pad,
): tf.Tensor4D {
  const plain = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
    tf.add(tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, strides, pad), bi);
  const shapesFit = x.rank === 4 && w.rank === 4 && x.shape[3] === w.shape[2];
  const call = shapesFit ? fastCall(x, w, b, w.shape[3], () => planConv2d({ strides, pad }, x, w)) : null;
  if (call === null) return plain(x, w, b) as tf.Tensor4D;
  const op = biasedOp(conv3dForward, call, plain, (dy, xs, ws) => [
    tf.conv2dTranspose(
      dy as tf.Tensor4D,
      ws as tf.Tensor4D,
      xs.shape as [number, number, number, number],
      strides,
      pad,
    ),
    tf.engine().runKernel('Conv2DBackpropFilter', { x: xs, dy }, {
      strides,
      pad,
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
      filterShape: ws.shape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor,
  ]);
  return inOpScope('Conv2DBiasFused', () => op(x, w, b)) as tf.Tensor4D;
}

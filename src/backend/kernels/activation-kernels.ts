/**
 * LeakyReLU and the two kernels of its TF.js gradient (`where(greater(x, 0), dy, dy·alpha)`: Greater against a
 * scalar and Select of equal shapes) for float32 tensors on the cpu backend, as flat loops. The stock Greater
 * broadcasts a scalar through a per-element multi-index, which made the gradient of the 2-D U-Net's eighteen
 * LeakyReLUs cost more than its convolutions. Other dtypes and shapes call the stock kernel.
 */
import { InputError } from '../../util/errors.js';
import { transientHostValues } from '../host.js';
import { tf } from '../tf.js';
import { takeFloat32 } from './array-pool.js';
import { sameShape } from './conv-kernels.js';
import { asCpuBackend, type CpuBackendLike, float32Values } from './cpu-backend.js';
import { inOpScope } from './op-scope.js';

/**
 * y = x for x ≥ 0 (and −0, NaN), x·slope for x < 0, as the stock kernel computes it (the product in doubles,
 * rounded to float32). Branch-free: the sign bit picks the factor (a data-dependent branch mispredicts on half
 * of the values of a normalised activation and costs several times the memory traffic).
 */
function leakyForward(x: Float32Array, slope: number): Float32Array {
  const bits = new Int32Array(x.buffer, x.byteOffset, x.length);
  const factor = [1, slope];
  const y = takeFloat32(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * factor[bits[i] >>> 31];
  return y;
}

/**
 * dx = dy where x > 0, dy·slope elsewhere (x ≤ 0 and NaN), with slope rounded to float32, as TF.js's LeakyReLU
 * gradient `where(greater(x, 0), dy, dy·slope)`. Branch-free: t = bits − 1 (wrapping) lies in [0, 0x7f7fffff]
 * exactly for x in (0, +∞]; −0 wraps to 0x7fffffff and NaN lies above, so two sign bits give the factor index.
 */
function leakyBackward(dy: Float32Array, x: Float32Array, slope: number): Float32Array {
  const bits = new Int32Array(x.buffer, x.byteOffset, x.length);
  const factor = [1, Math.fround(slope)];
  const dx = takeFloat32(x.length);
  for (let i = 0; i < x.length; i++) {
    const t = (bits[i] - 1) | 0;
    dx[i] = dy[i] * factor[(t >>> 31) | ((0x7f7fffff - t) >>> 31)];
  }
  return dx;
}

/**
 * LeakyReLU of a float32 tensor as one op whose gradient is one pass (`leakyBackward`) instead of TF.js's three
 * kernels; same values as `tf.leakyRelu` and its gradient. The caller owns the result.
 */
export function leakyReluFused<T extends tf.Tensor>(x: T, slope: number): T {
  if (x.dtype !== 'float32' || !Number.isFinite(slope)) {
    throw new InputError(
      `leakyReluFused: expected a float32 tensor and a finite slope, found ${x.dtype} and ${slope}`,
    );
  }
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([input]);
    return {
      value: tf.tensor(leakyForward(transientHostValues(input), slope), input.shape, 'float32'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tensor(
          leakyBackward(transientHostValues(dy), transientHostValues(saved[0]), slope),
          saved[0].shape,
          'float32',
        ),
    };
  });
  return inOpScope('LeakyReluFused', () => op(x)) as T;
}

/** A bool tensor made from 0/1 bytes (the cpu backend stores bool as Uint8Array). */
function boolTensor(backend: CpuBackendLike, shape: number[], values: Uint8Array): tf.TensorInfo {
  const make = backend.makeTensorInfo as unknown as (
    s: number[],
    d: tf.DataType,
    v: Uint8Array,
  ) => tf.TensorInfo;
  return make.call(backend, shape, 'bool', values);
}

/** Makes LeakyRelu, Greater (float32 against a one-element float32) and Select (equal shapes). */
export function makeActivationKernels(
  original: (name: string) => tf.KernelFunc,
): Record<'LeakyRelu' | 'Greater' | 'Select', tf.KernelFunc> {
  const leakyRelu: tf.KernelFunc = (args) => {
    const backend = asCpuBackend(args.backend);
    const { x } = args.inputs;
    const alpha = (args.attrs as { alpha?: unknown } | undefined)?.alpha;
    const xv = backend === null ? null : float32Values(backend, x);
    if (backend === null || x === undefined || xv === null || typeof alpha !== 'number')
      return original('LeakyRelu')(args);
    return backend.makeTensorInfo([...x.shape], 'float32', leakyForward(xv, alpha));
  };

  const greater: tf.KernelFunc = (args) => {
    const backend = asCpuBackend(args.backend);
    const { a, b } = args.inputs;
    const av = backend === null ? null : float32Values(backend, a);
    const bv = backend === null ? null : float32Values(backend, b);
    if (backend === null || a === undefined || b === undefined || av === null || bv === null)
      return original('Greater')(args);
    if (bv.length !== 1 || b.shape.length > a.shape.length) return original('Greater')(args);
    const s = bv[0];
    const out = new Uint8Array(av.length);
    for (let i = 0; i < av.length; i++) out[i] = av[i] > s ? 1 : 0;
    return boolTensor(backend, [...a.shape], out);
  };

  const select: tf.KernelFunc = (args) => {
    const backend = asCpuBackend(args.backend);
    const { condition, t, e } = args.inputs;
    const tv = backend === null ? null : float32Values(backend, t);
    const ev = backend === null ? null : float32Values(backend, e);
    const cv = backend === null || condition === undefined ? null : backend.data.get(condition.dataId).values;
    if (backend === null || t === undefined || e === undefined || tv === null || ev === null)
      return original('Select')(args);
    if (condition?.dtype !== 'bool' || !(cv instanceof Uint8Array)) return original('Select')(args);
    if (!sameShape(e.shape, t.shape) || !sameShape(condition.shape, t.shape)) return original('Select')(args);
    const out = takeFloat32(tv.length);
    for (let i = 0; i < tv.length; i++) out[i] = cv[i] ? tv[i] : ev[i];
    return backend.makeTensorInfo([...t.shape], 'float32', out);
  };

  return { LeakyRelu: leakyRelu, Greater: greater, Select: select };
}

/**
 * LeakyReLU and the two kernels of its TF.js gradient (`where(greater(x, 0), dy, dy·alpha)`: Greater against a
 * scalar and Select of equal shapes) for float32 tensors on the cpu backend, as flat loops. The stock Greater
 * broadcasts a scalar through a per-element multi-index, which made the gradient of the 2-D U-Net's eighteen
 * LeakyReLUs cost more than its convolutions. Other dtypes and shapes call the stock kernel.
 */
import type { tf } from '../tf.js';
import { sameShape } from './conv-kernels.js';
import { asCpuBackend, type CpuBackendLike, float32Values } from './cpu-backend.js';

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
    const y = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) {
      const v = xv[i];
      y[i] = v < 0 ? alpha * v : v;
    }
    return backend.makeTensorInfo([...x.shape], 'float32', y);
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
    const out = new Float32Array(tv.length);
    for (let i = 0; i < tv.length; i++) out[i] = cv[i] ? tv[i] : ev[i];
    return backend.makeTensorInfo([...t.shape], 'float32', out);
  };

  return { LeakyRelu: leakyRelu, Greater: greater, Select: select };
}

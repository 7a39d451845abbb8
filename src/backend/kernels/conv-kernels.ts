/**
 * `kernelFunc`s for Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 on the cpu backend. Each checks
 * that the call is one the fast path handles (float32, NDHWC, dilation 1, geometry accepted by `conv3d.ts`)
 * and otherwise calls the stock kernel it replaced, so the replacement is transparent for every other case.
 */
import { tf } from '../tf.js';
import {
  backpropInputMethod,
  type ConvGeometry,
  conv3dBackpropFilter,
  conv3dBackpropInput,
  conv3dForward,
  windowsFit,
} from './conv3d.js';
import { asCpuBackend, float32Values } from './cpu-backend.js';
import { type KernelRuntime, WasmHeapLimitError } from './runtime.js';

type Shape5 = [number, number, number, number, number];
type Triple = number | [number, number, number];

/** Whether a `dilations` attribute means no dilation (absent, 1, or all ones). */
export function isUnitDilation(d: unknown): boolean {
  if (d === undefined || d === null || d === 1) return true;
  return Array.isArray(d) && d.every((v) => v === 1);
}

/** Whether a `pad` attribute is one the fast kernels take ('same', 'valid' or a number; not explicit pads). */
export function isPad(p: unknown): p is 'same' | 'valid' | number {
  return p === 'same' || p === 'valid' || typeof p === 'number';
}

function geometry(info: tf.backend_util.Conv3DInfo): ConvGeometry {
  const p = info.padInfo;
  return {
    batch: info.batchSize,
    inSize: [info.inDepth, info.inHeight, info.inWidth],
    inChannels: info.inChannels,
    outSize: [info.outDepth, info.outHeight, info.outWidth],
    outChannels: info.outChannels,
    kernel: [info.filterDepth, info.filterHeight, info.filterWidth],
    strides: [info.strideDepth, info.strideHeight, info.strideWidth],
    padBefore: [p.front, p.top, p.left],
    padAfter: [p.back, p.bottom, p.right],
  };
}

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Runs the fast path, or the stock kernel when the operands do not fit in the wasm memory. */
export function orFallback(fast: () => tf.TensorInfo, fallback: () => tf.TensorInfo | tf.TensorInfo[]) {
  try {
    return fast();
  } catch (error) {
    if (error instanceof WasmHeapLimitError) return fallback();
    throw error;
  }
}

/** Makes the three replacement kernel functions, falling back to `original[name]` when not applicable. */
export function makeConvKernels(
  runtime: () => KernelRuntime | null,
  original: (name: string) => tf.KernelFunc,
): Record<'Conv3D' | 'Conv3DBackpropInputV2' | 'Conv3DBackpropFilterV2', tf.KernelFunc> {
  const conv3D: tf.KernelFunc = (args) => {
    const rt = runtime();
    const backend = asCpuBackend(args.backend);
    const { x, filter } = args.inputs;
    const a = (args.attrs ?? {}) as {
      strides?: Triple;
      pad?: unknown;
      dataFormat?: string;
      dilations?: unknown;
    };
    const fallback = () => original('Conv3D')(args);
    if (rt === null || backend === null || x === undefined || filter === undefined) return fallback();
    if ((a.dataFormat ?? 'NDHWC') !== 'NDHWC' || !isUnitDilation(a.dilations) || !isPad(a.pad))
      return fallback();
    if (x.shape.length !== 5 || filter.shape.length !== 5) return fallback();
    const xv = float32Values(backend, x);
    const wv = float32Values(backend, filter);
    if (xv === null || wv === null) return fallback();
    const info = tf.backend_util.computeConv3DInfo(
      x.shape as Shape5,
      filter.shape as Shape5,
      a.strides ?? 1,
      1,
      a.pad,
    );
    const g = geometry(info);
    if (!windowsFit(g) || info.inChannels !== filter.shape[3]) return fallback();
    return orFallback(
      () => backend.makeTensorInfo(info.outShape, 'float32', conv3dForward(rt, xv, wv, g)),
      fallback,
    );
  };

  const backpropInput: tf.KernelFunc = (args) => {
    const rt = runtime();
    const backend = asCpuBackend(args.backend);
    const { dy, filter } = args.inputs;
    const a = (args.attrs ?? {}) as { strides?: Triple; pad?: unknown; inputShape?: number[] };
    const fallback = () => original('Conv3DBackpropInputV2')(args);
    if (rt === null || backend === null || dy === undefined || filter === undefined) return fallback();
    if (!isPad(a.pad) || a.inputShape === undefined || a.inputShape.length !== 5) return fallback();
    if (dy.shape.length !== 5 || filter.shape.length !== 5) return fallback();
    const dyv = float32Values(backend, dy);
    const wv = float32Values(backend, filter);
    if (dyv === null || wv === null) return fallback();
    const info = tf.backend_util.computeConv3DInfo(
      a.inputShape as Shape5,
      filter.shape as Shape5,
      a.strides ?? 1,
      1,
      a.pad,
    );
    const g = geometry(info);
    if (!sameShape(info.outShape, dy.shape) || !windowsFit(g) || backpropInputMethod(g) === null)
      return fallback();
    const shape = [...a.inputShape];
    return orFallback(
      () => backend.makeTensorInfo(shape, 'float32', conv3dBackpropInput(rt, dyv, wv, g)),
      fallback,
    );
  };

  const backpropFilter: tf.KernelFunc = (args) => {
    const rt = runtime();
    const backend = asCpuBackend(args.backend);
    const { x, dy } = args.inputs;
    const a = (args.attrs ?? {}) as { strides?: Triple; pad?: unknown; filterShape?: number[] };
    const fallback = () => original('Conv3DBackpropFilterV2')(args);
    if (rt === null || backend === null || x === undefined || dy === undefined) return fallback();
    if (!isPad(a.pad) || a.filterShape === undefined || a.filterShape.length !== 5) return fallback();
    if (x.shape.length !== 5 || dy.shape.length !== 5) return fallback();
    const xv = float32Values(backend, x);
    const dyv = float32Values(backend, dy);
    if (xv === null || dyv === null) return fallback();
    const info = tf.backend_util.computeConv3DInfo(
      x.shape as Shape5,
      a.filterShape as Shape5,
      a.strides ?? 1,
      1,
      a.pad,
    );
    const g = geometry(info);
    if (!sameShape(info.outShape, dy.shape) || !windowsFit(g)) return fallback();
    const shape = [...a.filterShape];
    return orFallback(
      () => backend.makeTensorInfo(shape, 'float32', conv3dBackpropFilter(rt, xv, dyv, g)),
      fallback,
    );
  };

  return { Conv3D: conv3D, Conv3DBackpropInputV2: backpropInput, Conv3DBackpropFilterV2: backpropFilter };
}

/**
 * `kernelFunc`s for Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 on the cpu backend. Each checks
 * that the call is one the fast path handles (float32, NDHWC, dilation 1, geometry accepted by `conv3d.ts`)
 * and otherwise calls the stock kernel it replaced, so the replacement is transparent for every other case.
 */

import { sameShape } from '../../util/shape.js';
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

export { sameShape };

/** Runs the fast path, or the stock kernel when the operands do not fit in the wasm memory. */
export function orFallback(fast: () => tf.TensorInfo, fallback: () => tf.TensorInfo | tf.TensorInfo[]) {
  try {
    return fast();
  } catch (error) {
    if (error instanceof WasmHeapLimitError) return fallback();
    throw error;
  }
}

/** One call of a replacement convolution kernel: its geometry and the shape of its output. */
export interface ConvCall {
  geometry: ConvGeometry;
  outShape: number[];
}

/**
 * The frame every replacement convolution kernel shares. The runtime and the cpu backend must be there and the two
 * operands (`operands`, e.g. `['x', 'filter']`) float32 tensors of rank `rank`; `plan` checks the attributes and
 * returns the call (null: not a case of the fast path); `run` computes the output. Every other case, and operands
 * beyond the wasm memory, go to the stock kernel `name`.
 */
export function convKernel(
  name: string,
  operands: [string, string],
  rank: number,
  runtime: () => KernelRuntime | null,
  original: (name: string) => tf.KernelFunc,
  plan: (attrs: Record<string, unknown>, a: tf.TensorInfo, b: tf.TensorInfo) => ConvCall | null,
  run: (rt: KernelRuntime, a: Float32Array, b: Float32Array, g: ConvGeometry) => Float32Array,
): tf.KernelFunc {
  return (args) => {
    const rt = runtime();
    const backend = asCpuBackend(args.backend);
    const a = args.inputs[operands[0]];
    const b = args.inputs[operands[1]];
    const fallback = () => original(name)(args);
    if (rt === null || backend === null || a === undefined || b === undefined) return fallback();
    if (a.shape.length !== rank || b.shape.length !== rank) return fallback();
    const av = float32Values(backend, a);
    const bv = float32Values(backend, b);
    if (av === null || bv === null) return fallback();
    const call = plan((args.attrs ?? {}) as Record<string, unknown>, a, b);
    if (call === null || !windowsFit(call.geometry)) return fallback();
    return orFallback(
      () => backend.makeTensorInfo(call.outShape, 'float32', run(rt, av, bv, call.geometry)),
      fallback,
    );
  };
}

function info3d(
  x: readonly number[],
  w: readonly number[],
  strides: unknown,
  pad: 'same' | 'valid' | number,
) {
  return tf.backend_util.computeConv3DInfo(x as Shape5, w as Shape5, (strides ?? 1) as Triple, 1, pad);
}

/** The call of a Conv3D with these attributes on x and filter when the fast path takes it, else null. */
export function planConv3d(
  a: Record<string, unknown>,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
): ConvCall | null {
  if ((a.dataFormat ?? 'NDHWC') !== 'NDHWC' || !isUnitDilation(a.dilations) || !isPad(a.pad)) return null;
  const info = info3d(x.shape, filter.shape, a.strides, a.pad);
  return info.inChannels === filter.shape[3] ? { geometry: geometry(info), outShape: info.outShape } : null;
}

/**
 * The call of a Conv3DBackpropInputV2 (the transposed convolution of dy) with these attributes when the fast path
 * takes it, else null.
 */
export function planConv3dBackpropInput(
  a: Record<string, unknown>,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
): ConvCall | null {
  const inputShape = a.inputShape as number[] | undefined;
  if (!isPad(a.pad) || inputShape === undefined || inputShape.length !== 5) return null;
  const info = info3d(inputShape, filter.shape, a.strides, a.pad);
  const g = geometry(info);
  if (!sameShape(info.outShape, dy.shape) || backpropInputMethod(g) === null) return null;
  return { geometry: g, outShape: [...inputShape] };
}

/** Makes the three replacement kernel functions, falling back to `original[name]` when not applicable. */
export function makeConvKernels(
  runtime: () => KernelRuntime | null,
  original: (name: string) => tf.KernelFunc,
): Record<'Conv3D' | 'Conv3DBackpropInputV2' | 'Conv3DBackpropFilterV2', tf.KernelFunc> {
  const conv3D = convKernel('Conv3D', ['x', 'filter'], 5, runtime, original, planConv3d, conv3dForward);
  const backpropInput = convKernel(
    'Conv3DBackpropInputV2',
    ['dy', 'filter'],
    5,
    runtime,
    original,
    planConv3dBackpropInput,
    conv3dBackpropInput,
  );
  const backpropFilter = convKernel(
    'Conv3DBackpropFilterV2',
    ['x', 'dy'],
    5,
    runtime,
    original,
    (a, x, dy) => {
      const filterShape = a.filterShape as number[] | undefined;
      if (!isPad(a.pad) || filterShape === undefined || filterShape.length !== 5) return null;
      const info = info3d(x.shape, filterShape, a.strides, a.pad);
      if (!sameShape(info.outShape, dy.shape)) return null;
      return { geometry: geometry(info), outShape: [...filterShape] };
    },
    conv3dBackpropFilter,
  );
  return { Conv3D: conv3D, Conv3DBackpropInputV2: backpropInput, Conv3DBackpropFilterV2: backpropFilter };
}

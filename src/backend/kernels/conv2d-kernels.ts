/**
 * `kernelFunc`s for the 2-D network: Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter on the 3-D fast path,
 * and MaxPool / MaxPoolGrad for non-overlapping windows, on the cpu backend. Every other case (other dtype,
 * NCHW, dilation, explicit pads, a rounding mode, a geometry `conv3d.ts` does not take) calls the stock kernel.
 *
 * A channels-last 2-D convolution of x `[N, H, W, C]` with W `[kh, kw, C, Co]` is the 3-D convolution of
 * `[N, H, 1, W, C]` with `[kh, 1, kw, C, Co]`: the same bytes, no copy. The image width goes on the third
 * (innermost) axis because the microkernels tile output pixels along it and read its `kw·C` taps contiguously;
 * the singleton middle axis has kernel 1, stride 1 and no padding.
 */
import { tf } from '../tf.js';
import { takeFloat32 } from './array-pool.js';
import { type ConvCall, convKernel, isPad, isUnitDilation, sameShape } from './conv-kernels.js';
import {
  backpropInputMethod,
  type ConvGeometry,
  conv3dBackpropFilter,
  conv3dBackpropInput,
  conv3dForward,
} from './conv3d.js';
import { asCpuBackend, float32Values } from './cpu-backend.js';
import { activeRuntime, type KernelRuntime, TASK_MAXPOOL2, TASK_MAXPOOL2_GRAD } from './runtime.js';

type Shape4 = [number, number, number, number];
type Pair = number | [number, number];

interface Conv2DAttrs {
  strides?: Pair;
  pad?: unknown;
  dataFormat?: string;
  dilations?: unknown;
  dimRoundingMode?: unknown;
}

/** The 3-D geometry of a 2-D convolution: H → first axis, a singleton second axis, W → third axis. */
export function conv2dGeometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  const p = info.padInfo;
  return {
    batch: info.batchSize,
    inSize: [info.inHeight, 1, info.inWidth],
    inChannels: info.inChannels,
    outSize: [info.outHeight, 1, info.outWidth],
    outChannels: info.outChannels,
    kernel: [info.filterHeight, 1, info.filterWidth],
    strides: [info.strideHeight, 1, info.strideWidth],
    padBefore: [p.top, 0, p.left],
    padAfter: [p.bottom, 0, p.right],
  };
}

/** Plain case: NHWC, no dilation, a 'same'/'valid'/number pad and no rounding mode; else null. */
function plainPad(a: Conv2DAttrs): 'same' | 'valid' | number | null {
  if ((a.dataFormat ?? 'NHWC') !== 'NHWC' || !isUnitDilation(a.dilations)) return null;
  if (a.dimRoundingMode !== undefined && a.dimRoundingMode !== null) return null;
  return isPad(a.pad) ? a.pad : null;
}

function info2d(
  x: readonly number[],
  w: readonly number[],
  strides: Pair | undefined,
  pad: 'same' | 'valid' | number,
) {
  return tf.backend_util.computeConv2DInfo(x as Shape4, w as Shape4, strides ?? 1, 1, pad);
}

/** The call of a Conv2D with these attributes on x and filter when the fast path takes it, else null. */
export function planConv2d(
  attrs: Record<string, unknown>,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
): ConvCall | null {
  const a = attrs as Conv2DAttrs;
  const pad = plainPad(a);
  if (pad === null) return null;
  const info = info2d(x.shape, filter.shape, a.strides, pad);
  return info.inChannels === filter.shape[2]
    ? { geometry: conv2dGeometry(info), outShape: info.outShape }
    : null;
}

/** Makes the three replacement convolution kernel functions, falling back to `original(name)`. */
export function makeConv2dKernels(
  runtime: () => KernelRuntime | null,
  original: (name: string) => tf.KernelFunc,
): Record<'Conv2D' | 'Conv2DBackpropInput' | 'Conv2DBackpropFilter', tf.KernelFunc> {
  const conv2D = convKernel('Conv2D', ['x', 'filter'], 4, runtime, original, planConv2d, conv3dForward);
  const backpropInput = convKernel(
    'Conv2DBackpropInput',
    ['dy', 'filter'],
    4,
    runtime,
    original,
    (attrs, dy, filter) => {
      const a = attrs as Conv2DAttrs & { inputShape?: number[] };
      const pad = plainPad(a);
      if (pad === null || a.inputShape === undefined || a.inputShape.length !== 4) return null;
      const info = info2d(a.inputShape, filter.shape, a.strides, pad);
      const g = conv2dGeometry(info);
      if (!sameShape(info.outShape, dy.shape) || backpropInputMethod(g) === null) return null;
      return { geometry: g, outShape: [...a.inputShape] };
    },
    conv3dBackpropInput,
  );
  const backpropFilter = convKernel(
    'Conv2DBackpropFilter',
    ['x', 'dy'],
    4,
    runtime,
    original,
    (attrs, x, dy) => {
      const a = attrs as Conv2DAttrs & { filterShape?: number[] };
      const pad = plainPad(a);
      if (pad === null || a.filterShape === undefined || a.filterShape.length !== 4) return null;
      const info = info2d(x.shape, a.filterShape, a.strides, pad);
      if (!sameShape(info.outShape, dy.shape)) return null;
      return { geometry: conv2dGeometry(info), outShape: [...a.filterShape] };
    },
    conv3dBackpropFilter,
  );
  return { Conv2D: conv2D, Conv2DBackpropInput: backpropInput, Conv2DBackpropFilter: backpropFilter };
}

interface PoolAttrs {
  filterSize?: Pair;
  strides?: Pair;
  pad?: unknown;
  dimRoundingMode?: unknown;
}

/** Window size of a non-overlapping 'valid' max pool (window = stride, no rounding mode), or null. */
function tiledWindow(a: PoolAttrs): [number, number] | null {
  const pair = (v: Pair | undefined): [number, number] | null =>
    typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? [v[0], v[1]] : null;
  const k = pair(a.filterSize);
  const s = pair(a.strides);
  if (k === null || s === null || k[0] !== s[0] || k[1] !== s[1] || a.pad !== 'valid') return null;
  if (a.dimRoundingMode !== undefined && a.dimRoundingMode !== null) return null;
  return Number.isInteger(k[0]) && Number.isInteger(k[1]) && k[0] >= 1 && k[1] >= 1 ? k : null;
}

/**
 * The maximum of every window of a non-overlapping max pool of x `[N, H, W, C]` (window kh × kw, trailing rows and
 * columns that do not fill a window dropped) and, into `arg` when given, the flat index into x of the first
 * strict maximum in row-major window order (−1 when no value exceeds −∞, e.g. all NaN), as the stock kernels and
 * PyTorch choose it.
 */
function windowMax(
  x: Float32Array,
  shape: readonly number[],
  kh: number,
  kw: number,
  arg: Int32Array | null,
): Float32Array {
  const [n, h, w, c] = shape;
  const oh = Math.floor(h / kh);
  const ow = Math.floor(w / kw);
  const rt = activeRuntime();
  if (kh === 2 && kw === 2 && arg === null && c % 4 === 0 && rt !== null) {
    const pooled = maxPool2x2Wasm(rt, x, [n, h, w, c], null);
    if (pooled !== null) return pooled;
  }
  // Every element is written below.
  const max = takeFloat32(n * oh * ow * c);
  if (kh === 2 && kw === 2) {
    windowMax2x2(x, h, w, c, n, oh, ow, max, arg);
    return max;
  }
  let out = 0;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const corner = ((b * h + i * kh) * w + j * kw) * c;
        for (let ch = 0; ch < c; ch++, out++) {
          let m = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let r = 0; r < kh; r++) {
            let p = corner + r * w * c + ch;
            for (let q = 0; q < kw; q++, p += c) {
              if (x[p] > m) {
                m = x[p];
                at = p;
              }
            }
          }
          max[out] = m;
          if (arg !== null) arg[out] = at;
        }
      }
    }
  }
  return max;
}

/**
 * `windowMax` for 2×2 windows (the U-Net's), the four taps written out in the same row-major order and with the
 * same strict comparison, so the same maxima and first-maximum indices; no inner loops over the window.
 */
function windowMax2x2(
  x: Float32Array,
  h: number,
  w: number,
  c: number,
  n: number,
  oh: number,
  ow: number,
  max: Float32Array,
  arg: Int32Array | null,
): void {
  const rs = w * c;
  let out = 0;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const corner = ((b * h + 2 * i) * w + 2 * j) * c;
        for (let ch = 0; ch < c; ch++, out++) {
          const p0 = corner + ch;
          let m = Number.NEGATIVE_INFINITY;
          let at = -1;
          const v0 = x[p0];
          if (v0 > m) {
            m = v0;
            at = p0;
          }
          const v1 = x[p0 + c];
          if (v1 > m) {
            m = v1;
            at = p0 + c;
          }
          const v2 = x[p0 + rs];
          if (v2 > m) {
            m = v2;
            at = p0 + rs;
          }
          const v3 = x[p0 + rs + c];
          if (v3 > m) {
            m = v3;
            at = p0 + rs + c;
          }
          max[out] = m;
          if (arg !== null) arg[out] = at;
        }
      }
    }
  }
}

/**
 * A 2×2 max pool of x `[N, H, W, C]` (C a multiple of 4) on the kernel runtime, output rows split among the worker
 * threads: without dy, the maxima of `windowMax2x2`; with dy `[N, OH, OW, C]` (H and W even), MaxPoolGrad's dx,
 * dy routed to the tap `windowMax2x2` indexes. The same bits as the loops; null when the operands do not fit the
 * wasm memory.
 */
function maxPool2x2Wasm(
  rt: KernelRuntime,
  x: Float32Array,
  [n, h, w, c]: readonly number[],
  dy: Float32Array | null,
): Float32Array | null {
  const oh = Math.floor(h / 2);
  const ow = Math.floor(w / 2);
  const size = n * h * w * c;
  const pooled = n * oh * ow * c;
  const heap = rt.blocks(4 * size, 4 * (dy === null ? pooled : size), dy === null ? 0 : 4 * pooled);
  if (heap === null) return null;
  const [src, out, dyPtr] = heap;
  rt.f32.set(x.subarray(0, size), src >> 2);
  if (dy !== null) rt.f32.set(dy.subarray(0, pooled), dyPtr >> 2);
  rt.i32.set([src, out, n * oh, oh, h, w, ow, c, dyPtr, out], 0);
  // Three comparisons and selects per output float (four stores more for the gradient).
  rt.run(dy === null ? TASK_MAXPOOL2 : TASK_MAXPOOL2_GRAD, 0, n * oh, 6 * pooled);
  return rt.copyOut(out, dy === null ? pooled : size);
}

/** Makes MaxPool and MaxPoolGrad for float32 NHWC non-overlapping 'valid' pooling (the U-Net's 2×2). */
export function makeMaxPoolKernels(
  original: (name: string) => tf.KernelFunc,
): Record<'MaxPool' | 'MaxPoolGrad', tf.KernelFunc> {
  const maxPool: tf.KernelFunc = (args) => {
    const backend = asCpuBackend(args.backend);
    const { x } = args.inputs;
    const k = tiledWindow((args.attrs ?? {}) as PoolAttrs);
    const xv = backend === null ? null : float32Values(backend, x);
    if (backend === null || x === undefined || xv === null || k === null || x.shape.length !== 4)
      return original('MaxPool')(args);
    const [n, h, w, c] = x.shape;
    const shape = [n, Math.floor(h / k[0]), Math.floor(w / k[1]), c];
    return backend.makeTensorInfo(shape, 'float32', windowMax(xv, x.shape, k[0], k[1], null));
  };

  const maxPoolGrad: tf.KernelFunc = (args) => {
    const backend = asCpuBackend(args.backend);
    const { dy, input } = args.inputs;
    const k = tiledWindow((args.attrs ?? {}) as PoolAttrs);
    const xv = backend === null ? null : float32Values(backend, input);
    const dyv = backend === null ? null : float32Values(backend, dy);
    if (backend === null || input === undefined || dy === undefined || xv === null || dyv === null)
      return original('MaxPoolGrad')(args);
    if (k === null || input.shape.length !== 4) return original('MaxPoolGrad')(args);
    const [n, h, w, c] = input.shape;
    if (!sameShape(dy.shape, [n, Math.floor(h / k[0]), Math.floor(w / k[1]), c]))
      return original('MaxPoolGrad')(args);
    const rt = activeRuntime();
    if (k[0] === 2 && k[1] === 2 && c % 4 === 0 && h % 2 === 0 && w % 2 === 0 && rt !== null) {
      const dx = maxPool2x2Wasm(rt, xv, input.shape, dyv);
      if (dx !== null) return backend.makeTensorInfo([...input.shape], 'float32', dx);
    }
    const arg = new Int32Array(dyv.length);
    windowMax(xv, input.shape, k[0], k[1], arg);
    const dx = new Float32Array(xv.length);
    for (let o = 0; o < arg.length; o++) if (arg[o] >= 0) dx[arg[o]] = dyv[o];
    return backend.makeTensorInfo([...input.shape], 'float32', dx);
  };

  return { MaxPool: maxPool, MaxPoolGrad: maxPoolGrad };
}

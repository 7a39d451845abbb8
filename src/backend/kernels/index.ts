/**
 * Fast kernels for TF.js's pure-JS `cpu` backend (whose stock kernels run below 1 GFLOP/s): the stock kernels are
 * unregistered and replaced by kernels that keep a reference to the original `kernelFunc` and call it for every case
 * they do not handle (TF.js 4.22 allows this through `tf.unregisterKernel` + `tf.registerKernel`). Only the `cpu`
 * backend is touched; native backends are never affected.
 *
 * Switch: `SSMIS_FAST_KERNELS=0` (also `false`/`off`/`no`) makes `registerFastKernels` a no-op; otherwise
 * `initBackend` calls it when the active backend is `cpu` and the config's `backend.fastKernels` is true.
 */

import { tf } from '../tf.js';
import { makeActivationKernels } from './activation-kernels.js';
import { disableArrayPool, enableArrayPool } from './array-pool.js';
import { makeConvKernels } from './conv-kernels.js';
import { makeConv2dKernels, makeMaxPoolKernels } from './conv2d-kernels.js';
import { makeElementwiseKernels } from './elementwise.js';
import { makeLayoutKernels } from './layout-kernels.js';
import { KernelRuntime, type RuntimeOptions, setActiveRuntime } from './runtime.js';
import { wasmApi } from './wasm/api.js';

export { leakyReluFused } from './activation-kernels.js';
export { type FusedBatchNormReluOptions, fusedBatchNormRelu } from './batchnorm.js';
export { conv2dBiasFused, conv3dBiasFused, conv3dTransposeBiasFused } from './conv-bias.js';
export { type AlignCornersTaps, alignCornersTaps, upsampleBilinear2xFused } from './upsample.js';

export interface FastKernelOptions extends RuntimeOptions {
  /** Also replace Add/Sub/Multiply/Sum/Mean/Relu by fast paths for their common layouts (default true). */
  elementwise?: boolean;
}

const BACKEND = 'cpu';

/** The cpu kernels replaced when the fast kernels are active (the element-wise ones unless disabled). */
export const FAST_KERNEL_NAMES: readonly string[] = [
  'Conv3D',
  'Conv3DBackpropInputV2',
  'Conv3DBackpropFilterV2',
  'Conv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'MaxPool',
  'MaxPoolGrad',
  'GatherV2',
  'SplitV',
  'Concat',
  'Tile',
  'LeakyRelu',
  'Greater',
  'Select',
  'Add',
  'Sub',
  'Multiply',
  'RealDiv',
  'Sum',
  'Mean',
  'Relu',
  'Step',
  'Exp',
];
let runtime: KernelRuntime | null = null;
const originals = new Map<string, tf.KernelConfig>();

/** False when the environment variable `SSMIS_FAST_KERNELS` is `0`, `false`, `off` or `no`. */
export function fastKernelsAllowedByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.SSMIS_FAST_KERNELS?.trim().toLowerCase();
  return !(v === '0' || v === 'false' || v === 'off' || v === 'no');
}

/** Whether this runtime can run the kernels: WebAssembly SIMD and shared memory. */
export function fastKernelsSupported(): boolean {
  const wasm = wasmApi();
  if (wasm === null) return false;
  try {
    new wasm.Memory({ initial: 1, maximum: 1, shared: true });
    // A function returning a v128 constant: validates only when SIMD is available.
    const simd = new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
    ]);
    return wasm.validate(simd);
  } catch {
    return false;
  }
}

function originalKernelFunc(name: string): tf.KernelFunc {
  const config = originals.get(name) ?? tf.getKernel(name, BACKEND);
  if (config === undefined) throw new Error(`no ${BACKEND} kernel named ${name}`);
  return config.kernelFunc;
}

/**
 * The stock `kernelFunc` of a replaced kernel (for tests comparing against it), or the registered one when the
 * kernel was not replaced.
 */
export function stockKernel(name: string): tf.KernelFunc {
  return originalKernelFunc(name);
}

/**
 * Replaces the cpu kernels by the fast ones. Returns whether they are active: false when disabled by
 * `SSMIS_FAST_KERNELS=0` or when WebAssembly SIMD/shared memory is missing. Idempotent; call
 * `unregisterFastKernels()` first to change options.
 */
export function registerFastKernels(options: FastKernelOptions = {}): boolean {
  if (runtime !== null) return true;
  if (!fastKernelsAllowedByEnv() || !fastKernelsSupported()) return false;
  runtime = new KernelRuntime(options);
  setActiveRuntime(runtime);
  enableArrayPool();
  const get = () => runtime;
  const kernels: Record<string, tf.KernelFunc> = {
    ...makeConvKernels(get, originalKernelFunc),
    ...makeConv2dKernels(get, originalKernelFunc),
    ...makeMaxPoolKernels(originalKernelFunc),
    ...makeLayoutKernels(originalKernelFunc),
    ...makeActivationKernels(originalKernelFunc),
  };
  if (options.elementwise ?? true) Object.assign(kernels, makeElementwiseKernels(originalKernelFunc));
  for (const [name, kernelFunc] of Object.entries(kernels)) {
    const config = tf.getKernel(name, BACKEND);
    if (config === undefined) continue;
    originals.set(name, config);
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel({ ...config, kernelFunc });
  }
  return true;
}

/** Restores the stock kernels and terminates the worker threads. Safe to call when nothing is registered. */
export function unregisterFastKernels(): void {
  for (const [name, config] of originals) {
    if (tf.getKernel(name, BACKEND) !== undefined) tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(config);
  }
  originals.clear();
  disableArrayPool();
  runtime?.terminate();
  runtime = null;
  setActiveRuntime(null);
}

export function fastKernelsActive(): boolean {
  return runtime !== null;
}

/** Resolves when every worker thread is ready (kernels run on the main thread alone until then). */
export async function fastKernelWorkersReady(): Promise<void> {
  await runtime?.whenReady();
}

/** Worker threads of the active runtime (0 when inactive). */
export function fastKernelWorkerCount(): number {
  return runtime?.workerCount ?? 0;
}

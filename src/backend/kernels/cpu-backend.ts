/**
 * The little of TF.js's `MathBackendCPU` the replacement kernels use: the stored typed array of a tensor and making
 * an output tensor from a typed array (`backend.data.get(dataId).values`, `backend.makeTensorInfo`). Anything else
 * makes a kernel fall back.
 */
import type { tf } from '../tf.js';

export interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

export function asCpuBackend(backend: unknown): CpuBackendLike | null {
  const b = backend as Partial<CpuBackendLike> | null;
  if (b === null || typeof b !== 'object' || typeof b.makeTensorInfo !== 'function') return null;
  if (typeof b.data !== 'object' || b.data === null || typeof b.data.get !== 'function') return null;
  return b as CpuBackendLike;
}

/** The float32 values of a tensor held by the cpu backend, or null (other dtype or storage). */
export function float32Values(backend: CpuBackendLike, t: tf.TensorInfo | undefined): Float32Array | null {
  if (t === undefined || t.dtype !== 'float32') return null;
  const values = backend.data.get(t.dataId).values;
  return values instanceof Float32Array ? values : null;
}

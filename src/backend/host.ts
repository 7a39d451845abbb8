/**
 * When a tensor's values may be computed by a plain JavaScript loop over host memory: on the `cpu` backend, which
 * keeps float32 values in host arrays (reading them is free), and for float32 tensors only. Every other backend
 * keeps data on a device, where such a loop would cost a read and a write per call.
 */
import { InputError } from '../util/errors.js';
import { peekFloat32 } from './kernels/array-pool.js';
import { tf } from './tf.js';

/** True when every tensor given is float32 and the active backend is `cpu`. */
export function hostFloat32(...tensors: tf.Tensor[]): boolean {
  return tf.getBackend() === 'cpu' && tensors.every((t) => t.dtype === 'float32');
}

/** Arrays made by {@link ownedFloat32}: the only host arrays an in-place update may write into. */
const owned = new WeakSet<Float32Array>();

/**
 * A new zero-filled float32 array that {@link writableHostValues} may later hand back for an in-place update. Make
 * the tensor of a variable's new value from it (`tf.tensor(array, shape)`: the cpu backend keeps the array as is).
 *
 * @param length - Number of elements (a non-negative integer).
 */
export function ownedFloat32(length: number): Float32Array {
  if (!Number.isInteger(length) || length < 0) {
    throw new InputError(`ownedFloat32: length must be a non-negative integer, found ${length}`);
  }
  const a = new Float32Array(length);
  owned.add(a);
  return a;
}

/**
 * The host array of `t` when an update may overwrite it in place, else null. In place only when the cpu backend
 * keeps `t`'s values in an array this library made ({@link ownedFloat32}, never a caller's array that a tensor was
 * made from) and no other tensor shares that data (the backend's reference count is 1: a reshape or clone of the
 * variable made by the caller and still alive keeps the next update out of place). A caller holding the raw array
 * of an earlier `dataSync()` sees the update, as with PyTorch's in-place optimizers; copy values you keep.
 */
export function writableHostValues(t: tf.Tensor): Float32Array | null {
  if (!hostFloat32(t)) return null;
  const backend = tf.backend() as unknown as { refCount?: (dataId: object) => number };
  if (typeof backend.refCount !== 'function' || backend.refCount(t.dataId) !== 1) return null;
  const values = t.dataSync();
  return values instanceof Float32Array && owned.has(values) ? values : null;
}

/**
 * The float32 host values of `t` for a read that does not keep them past the current call: on the cpu backend the
 * stored array itself without marking it as read by a caller (so the fast kernels' array pool may reuse it once
 * `t` is disposed), elsewhere `dataSync()`.
 */
export function transientHostValues(t: tf.Tensor): Float32Array {
  return peekFloat32(t) ?? (t.dataSync() as Float32Array);
}

/**
 * Where a host update of variable `v` writes its new values: `values` is `v`'s own array when the update may go in
 * place ({@link writableHostValues}; `commit` then does nothing), else a new {@link ownedFloat32} array that
 * `commit` makes `v`'s value. The caller fills every element of `values` (reading an old value before writing its
 * slot, since in place they are the same array), then calls `commit`.
 */
export function hostUpdateTarget(v: tf.Variable): { values: Float32Array; commit: () => void } {
  const inPlace = writableHostValues(v);
  if (inPlace !== null) return { values: inPlace, commit: () => undefined };
  const values = ownedFloat32(v.size);
  return { values, commit: () => tf.tidy(() => v.assign(tf.tensor(values, v.shape, 'float32'))) };
}

/**
 * When a tensor's values may be computed by a plain JavaScript loop over host memory: on the `cpu` backend, which
 * keeps float32 values in host arrays (reading them is free), and for float32 tensors only. Every other backend
 * keeps data on a device, where such a loop would cost a read and a write per call.
 */
import { tf } from './tf.js';

/** True when every tensor given is float32 and the active backend is `cpu`. */
export function hostFloat32(...tensors: tf.Tensor[]): boolean {
  return tf.getBackend() === 'cpu' && tensors.every((t) => t.dtype === 'float32');
}

import { tf } from '../tf.js';

/**
 * Runs a fused op (a `tf.customGrad` of the fast kernels) in a scope named `name`: TF.js names a custom op after
 * the scope it runs in, so `tf.profile` (and the bench's share of non-convolution kernels) lists it as `name`
 * instead of under its caller's scope, where a fused convolution and a fused batch norm looked alike.
 */
export function inOpScope<T extends tf.TensorContainer>(name: string, op: () => T): T {
  return tf.tidy(name, op);
}

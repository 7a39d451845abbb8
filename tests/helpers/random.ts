import { tf } from '../../src/backend/tf.js';
import type { Rng } from '../../src/util/rng.js';

/** A float32 tensor of standard normal values drawn from `rng` in row-major order. */
export function randn(shape: number[], rng: Rng): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal()),
    shape,
    'float32',
  );
}

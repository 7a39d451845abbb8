import { expect } from 'vitest';
import { tf } from '../../src/backend/tf.js';

/**
 * max|a − b| / max(|b|, floor) of two float32 tensors (or kernel outputs) of equal shape, the measure every
 * fast-vs-stock comparison uses; +∞ when a NaN appears, the absolute difference when b is all zeros.
 */
export function relErr(a: tf.TensorInfo, b: tf.TensorInfo, floor = 0): number {
  expect(a.shape).toEqual(b.shape);
  const av = tf.backend().readSync(a.dataId) as Float32Array;
  const bv = tf.backend().readSync(b.dataId) as Float32Array;
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < av.length; i++) {
    diff = Math.max(diff, Math.abs(av[i] - bv[i]));
    scale = Math.max(scale, Math.abs(bv[i]));
  }
  if (Number.isNaN(diff)) return Number.POSITIVE_INFINITY;
  return scale === 0 ? diff : diff / scale;
}

/**
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026), CPAM's four mixes,
 *   built on the copy-paste of BCP (Bai et al., CVPR 2023).
 * Copy-paste mixing with a cuboid mask: mix(a, b, M) = M⊙a + (1−M)⊙b (E8–E11, E27), so `a` keeps
 * the outside of the cuboid (M = 1) and `b` is pasted inside (M = 0).
 */
import { tf } from '../backend/tf.js';
import { requireTensor } from '../util/args.js';
import { InputError } from '../util/errors.js';
import { sameShape } from '../util/shape.js';

/**
 * The mask reshaped to broadcast against `a`: a spatial mask `[...S]` (one cuboid shared by the batch, Q30) or a
 * per-sample mask `[N, ...S]`, against images `[N, ...S, C]` or labels `[N, ...S]`.
 */
function broadcastableMask(a: tf.Tensor, mask: tf.Tensor, what: string): tf.Tensor {
  const hasChannels = a.dtype !== 'int32';
  const spatial = a.shape.slice(1, hasChannels ? a.rank - 1 : a.rank);
  if (sameShape(mask.shape, spatial)) {
    return tf.reshape(mask, hasChannels ? [1, ...spatial, 1] : [1, ...spatial]);
  }
  if (sameShape(mask.shape, [a.shape[0], ...spatial])) {
    return hasChannels ? tf.reshape(mask, [...mask.shape, 1]) : mask;
  }
  throw new InputError(
    `${what}: mask shape [${mask.shape.join(', ')}] matches neither the spatial shape [${spatial.join(', ')}] ` +
      `nor [N, ...spatial] of the ${hasChannels ? 'image' : 'label'} tensor [${a.shape.join(', ')}]`,
  );
}

function checkPair(a: tf.Tensor, b: tf.Tensor, what: string): void {
  if (!sameShape(a.shape, b.shape) || a.dtype !== b.dtype) {
    throw new InputError(
      `${what}: a and b must have the same shape and dtype, got [${a.shape.join(', ')}] ${a.dtype} and ` +
        `[${b.shape.join(', ')}] ${b.dtype}`,
    );
  }
}

/**
 * Mixes two image batches with a cuboid mask: M⊙a + (1−M)⊙b (E8–E11, E27), so `a` keeps the outside of the
 * cuboid (M = 1) and `b` is pasted inside (M = 0). The mask is broadcast over the batch and channel axes.
 *
 * @param a Images `[N, ...S, C]` (float32), kept where the mask is 1.
 * @param b Images of the same shape and dtype as `a`, pasted where the mask is 0.
 * @param mask The cuboid mask: spatial `[...S]` (one cuboid for the whole batch) or per sample `[N, ...S]`.
 * @returns The mixed images `[N, ...S, C]`; the caller owns (disposes) the tensor.
 * @throws InputError when an argument is not a tensor, `a` and `b` differ in shape or dtype, the images are int32
 *   (labels go to {@link mixLabels}), or the mask shape is neither `[...S]` nor `[N, ...S]`.
 * @example
 * import { cuboidMask, mixImages, Rng, tf } from 'ssmis';
 *
 * const a = tf.zeros([2, 16, 16, 8, 1]);
 * const b = tf.ones([2, 16, 16, 8, 1]);
 * const { mask } = cuboidMask([16, 16, 8], 2 / 3, new Rng(1));
 * const mixed = mixImages(a, b, mask); // 0 outside the cuboid, 1 inside
 * tf.dispose([a, b, mask, mixed]);
 */
export function mixImages(a: tf.Tensor, b: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  requireTensor('mixImages', 'a', a);
  requireTensor('mixImages', 'b', b);
  requireTensor('mixImages', 'mask', mask);
  checkPair(a, b, 'mixImages');
  if (a.dtype === 'int32')
    throw new InputError('mixImages: images must be float32; use mixLabels for labels');
  return tf.tidy(() => {
    const m = tf.cast(broadcastableMask(a, mask, 'mixImages'), a.dtype);
    return tf.add(tf.mul(m, a), tf.mul(tf.sub(1, m), b));
  });
}

/**
 * Mixes two label batches with a cuboid mask: M⊙a + (1−M)⊙b computed in int32, so labels stay exact class ids.
 * The mask must be binary (a cuboid mask is); use the same mask as for the images ({@link mixImages}).
 *
 * @param a Integer labels `[N, ...S]` (int32), kept where the mask is 1.
 * @param b Labels of the same shape and dtype as `a`, pasted where the mask is 0.
 * @param mask The binary cuboid mask: spatial `[...S]` (one cuboid for the whole batch) or per sample `[N, ...S]`.
 * @returns The mixed labels `[N, ...S]` (int32); the caller owns (disposes) the tensor.
 * @throws InputError when an argument is not a tensor, `a` and `b` differ in shape or dtype, the labels are not
 *   int32, or the mask shape is neither `[...S]` nor `[N, ...S]`.
 * @example
 * import { cuboidMask, mixLabels, Rng, tf } from 'ssmis';
 *
 * const labelsA = tf.zeros([2, 16, 16, 8], 'int32');
 * const labelsB = tf.ones([2, 16, 16, 8], 'int32');
 * const { mask } = cuboidMask([16, 16, 8], 2 / 3, new Rng(1));
 * const mixed = mixLabels(labelsA, labelsB, mask); // class 0 outside the cuboid, class 1 inside
 * tf.dispose([labelsA, labelsB, mask, mixed]);
 */
export function mixLabels(a: tf.Tensor, b: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  requireTensor('mixLabels', 'a', a);
  requireTensor('mixLabels', 'b', b);
  requireTensor('mixLabels', 'mask', mask);
  checkPair(a, b, 'mixLabels');
  if (a.dtype !== 'int32') throw new InputError(`mixLabels: labels must be int32, got ${a.dtype}`);
  return tf.tidy(() => {
    const m = tf.cast(broadcastableMask(a, mask, 'mixLabels'), 'int32');
    return tf.add(tf.mul(m, a), tf.mul(tf.sub(tf.scalar(1, 'int32'), m), b));
  });
}

/** Dispatches on dtype: int32 → {@link mixLabels}, otherwise {@link mixImages}. */
export function mix(a: tf.Tensor, b: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  requireTensor('mix', 'a', a);
  requireTensor('mix', 'b', b);
  requireTensor('mix', 'mask', mask);
  return a.dtype === 'int32' ? mixLabels(a, b, mask) : mixImages(a, b, mask);
}

/** The four CPAM inputs (E8–E11). Caller owns the tensors. */
export interface CpamMixedImages {
  /** E8 L-U: labeled a outside, unlabeled a pasted in the cuboid. */
  xl: tf.Tensor;
  /** E9 U-L: unlabeled b outside, labeled b in the cuboid. */
  xu: tf.Tensor;
  /** E10 L-L: labeled a outside, labeled b inside. */
  xll: tf.Tensor;
  /** E11 U-U: unlabeled a outside, unlabeled b inside. */
  xuu: tf.Tensor;
}

/** E8–E11 from the labeled pair (La, Lb), the unlabeled pair (Ua, Ub) and the cuboid mask. */
export function cpamMixes(
  labeledA: tf.Tensor,
  labeledB: tf.Tensor,
  unlabeledA: tf.Tensor,
  unlabeledB: tf.Tensor,
  mask: tf.Tensor,
): CpamMixedImages {
  requireTensor('cpamMixes', 'labeledA', labeledA);
  requireTensor('cpamMixes', 'labeledB', labeledB);
  requireTensor('cpamMixes', 'unlabeledA', unlabeledA);
  requireTensor('cpamMixes', 'unlabeledB', unlabeledB);
  requireTensor('cpamMixes', 'mask', mask);
  return {
    xl: mixImages(labeledA, unlabeledA, mask),
    xu: mixImages(unlabeledB, labeledB, mask),
    xll: mixImages(labeledA, labeledB, mask),
    xuu: mixImages(unlabeledA, unlabeledB, mask),
  };
}

/**
 * Hard class predictions from logits, with the training-time rule of the reference (method-spec Q14, Q31):
 * - 2 classes: softmax, then p1 ≥ 0.5 (an exact tie goes to the foreground). Softmax is computed and compared,
 *   not the logits, so float rounding near a tie matches the reference (Q31).
 * - more classes: argmax of the softmax; ties go to the lowest class id (TF.js argMax keeps the first maximum,
 *   like torch/numpy).
 *
 * Every op used here (softmax, slice, greaterEqual, cast, argMax) has a registered, zero gradient with respect
 * to the logits, so the result may be computed inside a gradient closure (TRCM, E13) without contributing a
 * gradient and without a device read. (TF.js has no stopGradient, and `equal` has no gradient at all.)
 */
import { tf } from '../backend/tf.js';
import { requireInteger, requireTensor } from '../util/args.js';
import { InputError } from '../util/errors.js';

/** Hard predictions `[N, ...S]` int32 from logits `[N, ...S, K]` (channels last). Caller owns the result. */
export function hardPredictions(logits: tf.Tensor): tf.Tensor {
  requireTensor('hardPredictions', 'logits', logits);
  const k = logits.shape[logits.rank - 1];
  if (logits.rank < 2 || !(k >= 2)) {
    throw new InputError(
      `hardPredictions: logits must be [N, ...spatial, K] with K ≥ 2, got [${logits.shape.join(', ')}]`,
    );
  }
  return tf.tidy(() => {
    const p = tf.softmax(logits, -1);
    if (k > 2) return tf.argMax(p, -1);
    const begin = new Array<number>(logits.rank).fill(0);
    begin[logits.rank - 1] = 1;
    const size = new Array<number>(logits.rank).fill(-1);
    size[logits.rank - 1] = 1;
    const p1 = tf.reshape(tf.slice(p, begin, size), logits.shape.slice(0, -1));
    return tf.cast(tf.greaterEqual(p1, 0.5), 'int32');
  });
}

/**
 * 1[a = b] as float32 for int32 class-id tensors of the same shape, built from one-hot products instead of
 * `tf.equal` so that it can sit on a gradient path (its gradient is zero; `Equal` has no gradient function).
 */
export function classEquality(a: tf.Tensor, b: tf.Tensor, numClasses: number): tf.Tensor {
  requireTensor('classEquality', 'a', a);
  requireTensor('classEquality', 'b', b);
  requireInteger('classEquality', 'numClasses', numClasses, { min: 1 });
  return tf.tidy(() =>
    tf.sum(tf.mul(tf.oneHot(a, numClasses, 1, 0, 'float32'), tf.oneHot(b, numClasses, 1, 0, 'float32')), -1),
  );
}

/**
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026), the threshold of
 *   its pseudo-labels and TRCM masks (E6, E13).
 * Hard class predictions from logits, with the training-time rule of the reference (quirks Q14, Q31):
 * - 2 classes: softmax, then p1 ≥ 0.5 (an exact tie goes to the foreground). Softmax is computed and compared,
 *   not the logits, so float rounding near a tie matches the reference (Q31).
 * - more classes: argmax of the softmax; ties go to the lowest class id (TF.js argMax keeps the first maximum,
 *   like torch/numpy).
 *
 * Every op used here (softmax, slice, greaterEqual, cast, argMax) has a registered, zero gradient with respect
 * to the logits, so the result may be computed inside a gradient closure (TRCM, E13) without contributing a
 * gradient. (TF.js has no stopGradient, and `equal` has no gradient at all.) On the `cpu` backend, whose tensors
 * live in host memory, the same rule runs on the values (`hardPredictionValues`) and the result is a new tensor
 * with no tape connection to the logits.
 */
import { hostFloat32 } from '../backend/host.js';
import { tf } from '../backend/tf.js';
import { requireInteger, requireTensor } from '../util/args.js';
import { InputError } from '../util/errors.js';

/** The maximum of values[o … o + k) as TF.js's Max kernel takes it: a NaN wins. */
function rowMax(values: ArrayLike<number>, o: number, k: number): number {
  let max = values[o];
  for (let j = 1; j < k; j++) {
    const v = values[o + j];
    if (Number.isNaN(v) || v > max) max = v;
  }
  return max;
}

/**
 * Softmax over rows of `k` float32 logits (channels last), evaluated as TF.js's `cpu` kernel evaluates it — row
 * maximum (a NaN wins), then exp(x − max), their sum in row order, and the quotient, each rounded to float32 —
 * so the values equal `tf.softmax` on that backend bit for bit.
 */
export function softmaxValues(logits: ArrayLike<number>, k: number): Float32Array {
  const out = new Float32Array(logits.length);
  const f = Math.fround;
  for (let o = 0; o < logits.length; o += k) {
    const max = rowMax(logits, o, k);
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const e = f(Math.exp(f(logits[o + j] - max)));
      out[o + j] = e;
      sum += e;
    }
    const total = f(sum);
    for (let j = 0; j < k; j++) out[o + j] /= total;
  }
  return out;
}

/**
 * `tf.softmax` over the last axis. On the `cpu` backend the values are computed on the host by
 * {@link softmaxValues} (the stock kernel spends most of its time in broadcast index arithmetic) and the
 * gradient is TF.js's own softmax gradient, so forward and backward give the same numbers as `tf.softmax`.
 */
export function softmaxLastAxis<T extends tf.Tensor>(logits: T): T {
  if (tf.getBackend() !== 'cpu' || logits.dtype !== 'float32' || logits.rank < 1)
    return tf.softmax(logits, -1) as T;
  const k = logits.shape[logits.rank - 1];
  return tf.customGrad((...args) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const y = tf.tensor(softmaxValues(x.dataSync(), k), x.shape, 'float32');
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const dyTimesY = tf.mul(dy, saved[0]);
        return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [x.rank - 1], true), saved[0]));
      },
    };
  })(logits) as T;
}

/**
 * `tf.logSoftmax` over the last axis. On the `cpu` backend the values are computed on the host in TF.js's
 * order and float32 rounding (shifted = x − max, value = shifted − log Σ exp(shifted)), and the gradient is
 * TF.js's own (dy − Σdy · exp(value)) with exp(value) evaluated on the host as the Exp kernel does, so forward
 * and backward give the same numbers as `tf.logSoftmax`.
 */
export function logSoftmaxLastAxis<T extends tf.Tensor>(logits: T): T {
  if (tf.getBackend() !== 'cpu' || logits.dtype !== 'float32' || logits.rank < 1)
    return tf.logSoftmax(logits, -1) as T;
  const k = logits.shape[logits.rank - 1];
  return tf.customGrad((...args) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const xv = x.dataSync();
    const out = new Float32Array(xv.length);
    const f = Math.fround;
    for (let o = 0; o < xv.length; o += k) {
      const max = rowMax(xv, o, k);
      let sum = 0;
      for (let j = 0; j < k; j++) {
        out[o + j] = xv[o + j] - max; // shifted, rounded to float32 by the store
        sum += f(Math.exp(out[o + j]));
      }
      const logSum = f(Math.log(f(sum)));
      for (let j = 0; j < k; j++) out[o + j] -= logSum;
    }
    const value = tf.tensor(out, x.shape, 'float32');
    save([value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        // A plain loop: Float32Array.from with a map function calls it through the iterator protocol, tens of
        // times slower per element (it was the largest non-convolution cost of a cpam-trcm iteration).
        const values = saved[0].dataSync();
        const e = new Float32Array(values.length);
        for (let i = 0; i < values.length; i++) e[i] = Math.exp(values[i]);
        const softmax = tf.tensor(e, x.shape, 'float32');
        return tf.sub(dy, tf.mul(tf.sum(dy, x.rank - 1, true), softmax));
      },
    };
  })(logits) as T;
}

/**
 * The hard-prediction rule on host values: `logits` holds rows of `k` float32 logits (channels last); the result
 * holds one class id per row, from {@link softmaxValues}, so the classes equal those of the tensor rule on the
 * `cpu` backend bit for bit, ties and rounding included.
 */
export function hardPredictionValues(logits: ArrayLike<number>, k: number): Int32Array {
  const p = softmaxValues(logits, k);
  const rows = logits.length / k;
  const out = new Int32Array(rows);
  for (let r = 0, o = 0; r < rows; r++, o += k) {
    if (k === 2) {
      out[r] = p[o + 1] >= 0.5 ? 1 : 0;
      continue;
    }
    // argMax keeps the first maximum (and never moves to a NaN).
    let best = 0;
    for (let j = 1; j < k; j++) if (p[o + j] > p[o + best]) best = j;
    out[r] = best;
  }
  return out;
}

/** Hard predictions `[N, ...S]` int32 from logits `[N, ...S, K]` (channels last). Caller owns the result. */
export function hardPredictions(logits: tf.Tensor): tf.Tensor {
  requireTensor('hardPredictions', 'logits', logits);
  const k = logits.shape[logits.rank - 1];
  if (logits.rank < 2 || !(k >= 2)) {
    throw new InputError(
      `hardPredictions: logits must be [N, ...spatial, K] with K ≥ 2, got [${logits.shape.join(', ')}]`,
    );
  }
  // On the cpu backend the values are already in host memory: the rule on them is the same numbers without
  // the tensor ops (and the result is a new leaf, so no zero gradient has to be propagated through it).
  if (hostFloat32(logits)) {
    return tf.tensor(hardPredictionValues(logits.dataSync(), k), logits.shape.slice(0, -1), 'int32');
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

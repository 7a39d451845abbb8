/**
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026), TRCM.
 * TRCM reliability masks (E13–E16, docs/equations.md §4.6). R_a marks outside-cuboid voxels where the student
 * predicts labeled image a correctly in both contexts it appears in (L-L and L-U); R_b marks inside-cuboid voxels
 * where it predicts labeled image b correctly in both L-L and U-L. These positional maps then gate the pseudo-label
 * supervision of the unlabeled instances occupying the same regions (E21–E24).
 *
 * No gradient: the masks are built from hard predictions (softmax ≥ 0.5 / argmax) and one-hot equality, whose
 * gradients are zero, so they can be computed inside the loss closure from the *current* student logits
 * without a host read (TF.js has no stopGradient). A test checks that they contribute no gradient.
 */
import { hostFloat32 } from '../backend/host.js';
import { readOnHost } from '../backend/host-read.js';
import { tf } from '../backend/tf.js';
import { requireTensor, requireTensorFields } from '../util/args.js';
import { InputError } from '../util/errors.js';
import { classEquality, hardPredictions, hardPredictionValues } from './predictions.js';

export interface TrcmMasks {
  /** E16 R_a, float32 `[N, ...S]`, non-zero only where the cuboid mask M = 1 (Ω_out). */
  reliableA: tf.Tensor;
  /** E16 R_b, float32 `[N, ...S]`, non-zero only where M = 0 (Ω_in). */
  reliableB: tf.Tensor;
}

/** M as float32 broadcastable to `[N, ...S]`: a shared `[...S]` mask becomes `[1, ...S]`. */
function regionMask(mask: tf.Tensor, labels: tf.Tensor): tf.Tensor {
  const spatial = labels.shape.slice(1);
  const m = tf.cast(mask, 'float32');
  const same = (s: readonly number[]) => m.rank === s.length && m.shape.every((d, i) => d === s[i]);
  if (same(labels.shape)) return m;
  if (same(spatial)) return tf.reshape(m, [1, ...spatial]);
  throw new InputError(
    `trcmMasks: mask shape [${mask.shape.join(', ')}] must be [N, ...spatial] [${labels.shape.join(', ')}] ` +
      `or [...spatial] [${spatial.join(', ')}]`,
  );
}

/**
 * E13–E16 from the student logits of the L-U (O_l), U-L (O_u) and L-L (O_ll) mixes, the labels Y_a, Y_b (int32)
 * and the cuboid mask M (1 outside). H_k is the hard prediction of `predictions.ts` (2 classes: p1 ≥ 0.5; more:
 * argmax, the §4.11 generalisation); equality is on class ids, so correctly predicted background is reliable.
 *   R_a = 1[H_ll = Y_a]·1[H_l = Y_a]·M,   R_b = 1[H_ll = Y_b]·1[H_u = Y_b]·(1 − M).
 * (E16's 1[a_mask_m + a_mask_o > 1]⊙M equals this product because both factors are 0/1 and already ⊙M.)
 * Caller owns both tensors. They carry a zero gradient back to the logits.
 *
 * @param logitsL - student logits on the L-U mix (labeled outside the cuboid), `[N, ...S, K]`.
 * @param logitsU - student logits on the U-L mix (unlabeled outside the cuboid), same shape.
 * @param logitsLL - student logits on the L-L mix, same shape.
 * @param labelA - int32 `[N, ...S]`: the labels of the image outside the cuboid.
 * @param labelB - int32 `[N, ...S]`: the labels of the image inside the cuboid.
 * @param mask - the cuboid mask M of {@link cuboidMask} (1 outside), `[...S]` or `[N, ...S]`.
 * @returns the reliability masks R_a (outside the cuboid) and R_b (inside), float32 `[N, ...S]`.
 * @throws {@link InputError} when an argument is not a live tensor, the three logits differ in shape, a label is
 *   not int32 of the logits' shape without K, or the mask's shape fits neither `[...S]` nor `[N, ...S]`.
 * @example
 * const { reliableA, reliableB } = trcmMasks(logitsL, logitsU, logitsLL, labelA, labelB, mask);
 */
export function trcmMasks(
  logitsL: tf.Tensor,
  logitsU: tf.Tensor,
  logitsLL: tf.Tensor,
  labelA: tf.Tensor,
  labelB: tf.Tensor,
  mask: tf.Tensor,
): TrcmMasks {
  return reliableMasks(logitsL, logitsU, logitsLL, labelA, labelB, mask, true);
}

/**
 * {@link trcmMasks} for a loss: on the `cpu` backend the masks are constants, off the gradient tape. Their
 * gradient is zero anyway, and a traced mask would make the backward pass differentiate every term it
 * multiplies with respect to it, only to drop the result.
 */
export function trcmMasksOffTape(...args: Parameters<typeof trcmMasks>): TrcmMasks {
  return reliableMasks(...args, false);
}

function reliableMasks(
  logitsL: tf.Tensor,
  logitsU: tf.Tensor,
  logitsLL: tf.Tensor,
  labelA: tf.Tensor,
  labelB: tf.Tensor,
  mask: tf.Tensor,
  onTape: boolean,
): TrcmMasks {
  requireTensor('trcmMasks', 'logitsL', logitsL);
  requireTensor('trcmMasks', 'logitsU', logitsU);
  requireTensor('trcmMasks', 'logitsLL', logitsLL);
  requireTensor('trcmMasks', 'labelA', labelA);
  requireTensor('trcmMasks', 'labelB', labelB);
  requireTensor('trcmMasks', 'mask', mask);
  const expected = logitsLL.shape;
  for (const [name, t] of [
    ['logitsL', logitsL],
    ['logitsU', logitsU],
  ] as const) {
    if (t.rank !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
      throw new InputError(
        `trcmMasks: ${name} shape [${t.shape.join(', ')}] differs from logitsLL [${expected.join(', ')}]`,
      );
    }
  }
  const labelShape = expected.slice(0, -1);
  for (const [name, t] of [
    ['labelA', labelA],
    ['labelB', labelB],
  ] as const) {
    if (t.dtype !== 'int32' || t.rank !== labelShape.length || t.shape.some((d, i) => d !== labelShape[i])) {
      throw new InputError(
        `trcmMasks: ${name} must be int32 [${labelShape.join(', ')}], got ${t.dtype} [${t.shape.join(', ')}]`,
      );
    }
  }
  const k = expected[expected.length - 1];
  if (hostFloat32(logitsL, logitsU, logitsLL)) {
    regionMask(mask, labelA).dispose(); // the shape check
    return trcmMaskValues(logitsL, logitsU, logitsLL, labelA, labelB, mask, k, onTape);
  }
  return tf.tidy(() => {
    const m = regionMask(mask, labelA);
    const inside = tf.sub(1, m);
    const hL = hardPredictions(logitsL);
    const hU = hardPredictions(logitsU);
    const hLL = hardPredictions(logitsLL);
    const aMaskO = tf.mul(classEquality(hLL, labelA, k), m); // E14
    const aMaskM = tf.mul(classEquality(hL, labelA, k), m);
    const bMaskO = tf.mul(classEquality(hLL, labelB, k), inside); // E15
    const bMaskM = tf.mul(classEquality(hU, labelB, k), inside);
    return { reliableA: tf.mul(aMaskM, aMaskO), reliableB: tf.mul(bMaskM, bMaskO) }; // E16
  });
}

/**
 * `trcmMasks` on host values (the cpu backend holds them there): the same products in the same float32
 * rounding, 1[H = Y] being exactly 0 or 1, without the one-hot tensors.
 */
function trcmMaskValues(
  logitsL: tf.Tensor,
  logitsU: tf.Tensor,
  logitsLL: tf.Tensor,
  labelA: tf.Tensor,
  labelB: tf.Tensor,
  mask: tf.Tensor,
  k: number,
  onTape: boolean,
): TrcmMasks {
  const hL = hardPredictionValues(logitsL.dataSync(), k);
  const hU = hardPredictionValues(logitsU.dataSync(), k);
  const hLL = hardPredictionValues(logitsLL.dataSync(), k);
  const ya = labelA.dataSync();
  const yb = labelB.dataSync();
  const m = mask.dataSync();
  const n = ya.length;
  const period = m.length; // the mask repeats per sample when it is [...S]
  const ra = new Float32Array(n);
  const rb = new Float32Array(n);
  const f = Math.fround;
  for (let i = 0; i < n; i++) {
    const mi = f(Number(m[i % period]));
    const inside = f(1 - mi);
    const a = ya[i];
    const b = yb[i];
    ra[i] = f(f((hL[i] === a ? 1 : 0) * mi) * f((hLL[i] === a ? 1 : 0) * mi)); // E14, E16
    rb[i] = f(f((hU[i] === b ? 1 : 0) * inside) * f((hLL[i] === b ? 1 : 0) * inside)); // E15, E16
  }
  // Each mask is tied to the logits it was read from by a zero gradient, so that the masks stay on the tape
  // (a closure using the logits only through them still differentiates, to zeros) as in the tensor form.
  const withZeroGradient = (values: Float32Array, x: tf.Tensor, y: tf.Tensor): tf.Tensor =>
    !onTape
      ? tf.tensor(values, labelA.shape)
      : tf.customGrad((...inputs) => ({
          value: tf.tensor(values, labelA.shape),
          gradFunc: () => inputs.slice(0, 2).map((t) => tf.zerosLike(t as tf.Tensor)),
        }))(x, y);
  return {
    reliableA: withZeroGradient(ra, logitsL, logitsLL),
    reliableB: withZeroGradient(rb, logitsU, logitsLL),
  };
}

/** Diagnostics: reliable fractions as plain numbers. */
export interface ReliableFraction {
  /** |R_a| / |Ω_out| over the batch (0 when Ω_out is empty). */
  outside: number;
  /** |R_b| / |Ω_in| over the batch (0 when Ω_in is empty). */
  inside: number;
  /** (|R_a| + |R_b|) / (N·V): the fraction of voxels whose pseudo-label is used. */
  total: number;
}

/**
 * Reliable fractions of TRCM masks for the log (reads three scalars from the device; on a backend without
 * synchronous reads the numbers are filled in at the next `settleHostReads`).
 */
export function reliableFraction(masks: TrcmMasks, mask: tf.Tensor): ReliableFraction {
  requireTensorFields('reliableFraction', 'masks', masks, ['reliableA', 'reliableB']);
  requireTensor('reliableFraction', 'mask', mask);
  const [a, b, out, all] = tf.tidy(() => {
    const m = regionMask(mask, masks.reliableA);
    const full = tf.mul(m, tf.onesLike(masks.reliableA));
    return [
      tf.sum(masks.reliableA),
      tf.sum(masks.reliableB),
      tf.sum(full),
      tf.scalar(masks.reliableA.size, 'float32'),
    ];
  });
  const fraction: ReliableFraction = { outside: Number.NaN, inside: Number.NaN, total: Number.NaN };
  readOnHost([a, b, out, all], (values) => {
    const [sa, sb, so, sn] = values.map((v) => v[0] as number);
    const si = sn - so;
    fraction.outside = so > 0 ? sa / so : 0;
    fraction.inside = si > 0 ? sb / si : 0;
    fraction.total = sn > 0 ? (sa + sb) / sn : 0;
  });
  tf.dispose([a, b, out, all]);
  return fraction;
}

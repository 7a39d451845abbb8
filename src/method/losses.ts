/**
 * Loss primitives of docs/equations.md §4.7 (3-D: E17–E20) and §4.11 (2-D, BCP ACDC: E28–E30).
 * Paper: the losses of BCP; Bai et al., "Bidirectional Copy-Paste for Semi-Supervised Medical Image
 *   Segmentation" (CVPR 2023).
 *
 * Shapes (channels last, as every tensor in ssmis): logits `[N, ...S, K]` (channels last), targets int32 `[N, ...S]`
 * (one-hot inside), masks float32 `[N, ...S]` (per sample) or `[...S]` (one cuboid shared by the batch, E4). All
 * functions are differentiable TF.js functions of the logits: they use softmax/logSoftmax, oneHot, mul, sum, reshape
 * and broadcastTo only (TF.js 4.22 has no gradient for stridedSlice nor for tile on rank ≥ 5); they run in `tf.tidy`
 * and return a scalar the caller owns. Sums are float32 (TF.js has no float64 on the cpu backend). The one
 * exception is {@link mixLoss} with the fast CPU kernels active: it runs as one op with a hand-written gradient
 * and float64 sums (`mix-loss-fused.ts`), the same loss to float32 rounding.
 *
 * Targets must lie in [0, K−1]; a value outside gives an all-zero one-hot row (no error here: the training
 * variants check label ranges once per step, outside the gradient closure).
 */
import { hostFloat32 } from '../backend/host.js';
import { fastKernelsActive } from '../backend/kernels/index.js';
import { tf } from '../backend/tf.js';
import { requireNumber, requireOptionalTensor, requireTensor } from '../util/args.js';
import { InputError } from '../util/errors.js';
import { shapeText } from '../util/shape.js';
import { mixLossFused } from './mix-loss-fused.js';
import { logSoftmaxLastAxis, softmaxLastAxis } from './predictions.js';

/** Dice smoothing of `mask_DiceLoss` (E17). */
export const DICE_SMOOTH_3D = 1e-5;
/** Dice smoothing of SSL4MIS `DiceLoss` used by BCP ACDC (E28). */
export const DICE_SMOOTH_2D = 1e-10;
/** Added to the mask sum of the masked cross-entropy (E18). */
export const CE_MASK_EPS = 1e-16;

interface Flat {
  n: number;
  v: number;
  k: number;
  /** `[N, V, K]` */
  logits: tf.Tensor3D;
  /** `[N, V, K]` float32 one-hot target */
  oneHot: tf.Tensor3D;
}

/** The shape checks of logits `[N, ...S, K]` and an int32 target `[N, ...S]`; N, V = |S| and K. */
function flatShape(logits: tf.Tensor, target: tf.Tensor, what: string): { n: number; v: number; k: number } {
  if (logits.rank < 3) {
    throw new InputError(`${what}: logits must be [N, ...spatial, K], got ${shapeText(logits.shape)}`);
  }
  if (target.dtype !== 'int32') throw new InputError(`${what}: target must be int32, got ${target.dtype}`);
  const expected = logits.shape.slice(0, -1);
  if (target.rank !== expected.length || target.shape.some((d, i) => d !== expected[i])) {
    throw new InputError(
      `${what}: target shape ${shapeText(target.shape)} must equal the logits shape without K ${shapeText(expected)}`,
    );
  }
  const n = logits.shape[0];
  const k = logits.shape[logits.rank - 1];
  const v = expected.slice(1).reduce((a, b) => a * b, 1);
  return { n, v, k };
}

function flatten(logits: tf.Tensor, target: tf.Tensor, what: string): Flat {
  const { n, v, k } = flatShape(logits, target, what);
  return {
    n,
    v,
    k,
    logits: tf.reshape(logits, [n, v, k]),
    oneHot: tf.oneHot(tf.reshape(target, [n, v]), k, 1, 0, 'float32') as tf.Tensor3D,
  };
}

/** The mask as float32 (cast when needed) after the shape check of {@link flattenMask}; no copy when float32. */
function checkedMask(mask: tf.Tensor, target: tf.Tensor, what: string): { m: tf.Tensor; shared: boolean } {
  const spatial = target.shape.slice(1);
  const same = (s: readonly number[]) => mask.rank === s.length && mask.shape.every((d, i) => d === s[i]);
  const shared = !same(target.shape) && same(spatial);
  if (!shared && !same(target.shape)) {
    throw new InputError(
      `${what}: mask shape ${shapeText(mask.shape)} must be [N, ...spatial] ${shapeText(target.shape)} ` +
        `or [...spatial] ${shapeText(spatial)}`,
    );
  }
  return { m: mask.dtype === 'float32' ? mask : tf.cast(mask, 'float32'), shared };
}

/** The mask as float32 `[N, V]`, broadcasting a shared `[...S]` mask over the batch. */
function flattenMask(mask: tf.Tensor, target: tf.Tensor, n: number, v: number, what: string): tf.Tensor2D {
  const { m, shared } = checkedMask(mask, target, what);
  return shared ? tf.broadcastTo(tf.reshape(m, [1, v]), [n, v]) : tf.reshape(m, [n, v]);
}

/** E17 on precomputed probabilities `[N,V,K]`: 1 − mean_{n,c} (2·I + ε)/(U + ε). */
function diceFromProbs(p: tf.Tensor3D, oneHot: tf.Tensor3D, mask: tf.Tensor2D | null): tf.Scalar {
  const m = mask === null ? null : tf.expandDims(mask, -1);
  const mp = m === null ? p : tf.mul(p, m);
  const mt = m === null ? oneHot : tf.mul(oneHot, m);
  const intersection = tf.sum(tf.mul(mp, oneHot), 1);
  const union = tf.add(tf.sum(mp, 1), tf.sum(mt, 1));
  const ratio = tf.div(tf.add(tf.mul(intersection, 2), DICE_SMOOTH_3D), tf.add(union, DICE_SMOOTH_3D));
  return tf.sub(1, tf.mean(ratio)) as tf.Scalar;
}

/** E18 on precomputed log-probabilities: Σ m·ce / (Σ m + 1e-16), or the plain mean without a mask. */
function ceFromLogProbs(logp: tf.Tensor3D, oneHot: tf.Tensor3D, mask: tf.Tensor2D | null): tf.Scalar {
  // −x as x·(−1): the same numbers and gradient; the cpu Neg kernel is a slow broadcast multiply.
  const ce = tf.mul(tf.sum(tf.mul(logp, oneHot), -1), -1);
  if (mask === null) return tf.mean(ce) as tf.Scalar;
  return tf.div(tf.sum(tf.mul(ce, mask)), tf.add(tf.sum(mask), CE_MASK_EPS)) as tf.Scalar;
}

/**
 * E28 (SSL4MIS/BCP `DiceLoss` on softmax probabilities): per class, sums over the whole batch and all voxels,
 * squared terms in the denominator, smoothing 1e-10; mean over classes, background included.
 */
function dice2dFromProbs(p: tf.Tensor3D, oneHot: tf.Tensor3D, mask: tf.Tensor2D | null): tf.Scalar {
  const m = mask === null ? null : tf.expandDims(mask, -1);
  const pm = m === null ? p : tf.mul(p, m);
  const tm = m === null ? oneHot : tf.mul(oneHot, m);
  const intersection = tf.sum(tf.mul(pm, oneHot), [0, 1]);
  const zSum = tf.sum(tf.mul(pm, p), [0, 1]);
  const ySum = tf.sum(tf.mul(tm, oneHot), [0, 1]);
  const ratio = tf.div(
    tf.add(tf.mul(intersection, 2), DICE_SMOOTH_2D),
    tf.add(tf.add(zSum, ySum), DICE_SMOOTH_2D),
  );
  return tf.mean(tf.sub(1, ratio)) as tf.Scalar;
}

/**
 * E17 masked Dice loss (`mask_DiceLoss`): per sample and per class, smoothing 1e-5, background included,
 * mean over N and K. Without a mask: the unmasked Dice (m ≡ 1). An empty mask gives ratio 1 (zero loss) for
 * every sample/class; a class absent inside a non-empty mask gives ratio ≈ 0 (≈ full loss).
 *
 * @param logits - `[N, ...S, K]` (softmax applied inside).
 * @param target - int32 class ids `[N, ...S]`.
 * @param mask - the region that counts, `[N, ...S]` or a shared `[...S]` (1 = counts); absent: everywhere.
 * @returns the scalar loss (owned by the caller).
 * @throws {@link InputError} when `logits` or `target` is not a live tensor, `logits` has rank below 3, `target`
 *   is not int32 of the logits' shape without K, or the mask's shape fits neither `[N, ...S]` nor `[...S]`.
 * @example
 * const loss = maskedDiceLoss(student.apply(images, { training: true }), labels, cuboid.mask);
 */
export function maskedDiceLoss(logits: tf.Tensor, target: tf.Tensor, mask?: tf.Tensor): tf.Scalar {
  requireTensor('maskedDiceLoss', 'logits', logits);
  requireTensor('maskedDiceLoss', 'target', target);
  requireOptionalTensor('maskedDiceLoss', 'mask', mask);
  return tf.tidy(() => {
    const f = flatten(logits, target, 'maskedDiceLoss');
    const m = mask === undefined ? null : flattenMask(mask, target, f.n, f.v, 'maskedDiceLoss');
    return diceFromProbs(softmaxLastAxis(f.logits), f.oneHot, m);
  });
}

/**
 * E18 masked cross-entropy: Σ_{n,v} m·ce / (Σ_{n,v} m + 1e-16), normalised over the whole batch (not per sample);
 * ce from logSoftmax for stability. Without a mask: the plain mean over all N·V voxels (pre-training).
 *
 * @param logits - `[N, ...S, K]`.
 * @param target - int32 class ids `[N, ...S]`.
 * @param mask - the region that counts, `[N, ...S]` or a shared `[...S]`; absent: everywhere.
 * @returns the scalar loss (owned by the caller).
 * @throws {@link InputError} when `logits` or `target` is not a live tensor, `logits` has rank below 3, `target`
 *   is not int32 of the logits' shape without K, or the mask's shape fits neither `[N, ...S]` nor `[...S]`.
 * @example
 * const loss = maskedCrossEntropy(logits, labels); // plain mean cross-entropy
 */
export function maskedCrossEntropy(logits: tf.Tensor, target: tf.Tensor, mask?: tf.Tensor): tf.Scalar {
  requireTensor('maskedCrossEntropy', 'logits', logits);
  requireTensor('maskedCrossEntropy', 'target', target);
  requireOptionalTensor('maskedCrossEntropy', 'mask', mask);
  return tf.tidy(() => {
    const f = flatten(logits, target, 'maskedCrossEntropy');
    const m = mask === undefined ? null : flattenMask(mask, target, f.n, f.v, 'maskedCrossEntropy');
    return ceFromLogProbs(logSoftmaxLastAxis(f.logits), f.oneHot, m);
  });
}

/**
 * What both terms of a two-target mix loss share (E19, E30): the flattened logits, each target's one-hot and mask,
 * and one softmax/log-softmax of the logits. Call inside a tidy.
 */
/** The argument check of the mix losses (E19, E30): five tensors and two numeric weights, named in errors. */
function checkMixTermArgs(
  fn: string,
  args: Record<'logits' | 'target1' | 'target2' | 'mask1' | 'mask2', unknown> & {
    weight1: unknown;
    weight2: unknown;
  },
): void {
  for (const name of ['logits', 'target1', 'target2', 'mask1', 'mask2'] as const) {
    requireTensor(fn, name, args[name]);
  }
  requireNumber(fn, 'weight1', args.weight1);
  requireNumber(fn, 'weight2', args.weight2);
}

function mixTerms(
  logits: tf.Tensor,
  target1: tf.Tensor,
  target2: tf.Tensor,
  mask1: tf.Tensor,
  mask2: tf.Tensor,
  where: string,
) {
  const f1 = flatten(logits, target1, `${where} (target1)`);
  const f2 = flatten(logits, target2, `${where} (target2)`);
  const m1 = flattenMask(mask1, target1, f1.n, f1.v, `${where} (mask1)`);
  const m2 = flattenMask(mask2, target2, f2.n, f2.v, `${where} (mask2)`);
  return { f1, f2, m1, m2, p: softmaxLastAxis(f1.logits), logp: logSoftmaxLastAxis(f1.logits) };
}

/**
 * E19 `mix_loss_sep`: ½·[w1·D(O,t1,m1) + w2·D(O,t2,m2) + w1·CE(O,t1,m1) + w2·CE(O,t2,m2)] with D = E17 and
 * CE = E18. E20 (`mix_loss`) is the call with m2 = 1 − m1; the reference's `unlab=True` is the call with w1 and
 * w2 swapped. Defaults w1 = 1 (l_weight), w2 = 0.5 (u_weight).
 *
 * @param logits - student logits on a mixed image, `[N, ...S, K]`.
 * @param target1 - int32 `[N, ...S]`: the labels of the first region (e.g. ground truth outside the cuboid).
 * @param target2 - int32 `[N, ...S]`: the labels of the second region (e.g. pseudo-labels inside it).
 * @param mask1 - where `target1` counts, `[N, ...S]` or `[...S]`.
 * @param mask2 - where `target2` counts (E20: 1 − `mask1`).
 * @param weight1 - the weight of the `target1` terms (default 1).
 * @param weight2 - the weight of the `target2` terms (default 0.5).
 * @returns the scalar loss (owned by the caller). With the fast CPU kernels active and float32 logits it is one
 *   fused op (float64 sums, hand-written gradient with respect to the logits; the targets and masks get no
 *   gradient, they are constants of a step); otherwise the stock TF.js ops.
 * @throws {@link InputError} when a tensor argument is not a live tensor, a weight is not a number, or the
 *   shapes, dtypes or masks do not fit as in {@link maskedDiceLoss}.
 * @example
 * const inside = tf.sub(1, cuboid.mask);
 * const loss = mixLoss(logitsMixed, labelsA, pseudoB, cuboid.mask, inside); // E20
 */
export function mixLoss(
  logits: tf.Tensor,
  target1: tf.Tensor,
  target2: tf.Tensor,
  mask1: tf.Tensor,
  mask2: tf.Tensor,
  weight1 = 1,
  weight2 = 0.5,
): tf.Scalar {
  checkMixTermArgs('mixLoss', { logits, target1, target2, mask1, mask2, weight1, weight2 });
  if (fastKernelsActive() && hostFloat32(logits)) {
    return tf.tidy(() => {
      const where = 'mixLoss';
      flatShape(logits, target1, `${where} (target1)`);
      flatShape(logits, target2, `${where} (target2)`);
      const m1 = checkedMask(mask1, target1, `${where} (mask1)`).m;
      const m2 = checkedMask(mask2, target2, `${where} (mask2)`).m;
      return mixLossFused(
        logits,
        [
          { target: target1, mask: m1, weight: weight1 },
          { target: target2, mask: m2, weight: weight2 },
        ],
        { diceSmooth: DICE_SMOOTH_3D, ceEps: CE_MASK_EPS },
      );
    });
  }
  return mixLossStock(logits, target1, target2, mask1, mask2, weight1, weight2);
}

/**
 * {@link mixLoss} built from stock TF.js ops, whatever the fast kernels: the path `mixLoss` takes without them,
 * and the reference its fused op is tested and measured against. Same arguments, result and errors as
 * {@link mixLoss}.
 *
 * @internal
 */
export function mixLossStockOps(
  logits: tf.Tensor,
  target1: tf.Tensor,
  target2: tf.Tensor,
  mask1: tf.Tensor,
  mask2: tf.Tensor,
  weight1 = 1,
  weight2 = 0.5,
): tf.Scalar {
  checkMixTermArgs('mixLoss', { logits, target1, target2, mask1, mask2, weight1, weight2 });
  return mixLossStock(logits, target1, target2, mask1, mask2, weight1, weight2);
}

/** E19 from stock ops, arguments checked by the caller. */
function mixLossStock(
  logits: tf.Tensor,
  target1: tf.Tensor,
  target2: tf.Tensor,
  mask1: tf.Tensor,
  mask2: tf.Tensor,
  weight1: number,
  weight2: number,
): tf.Scalar {
  return tf.tidy(() => {
    const { f1, f2, m1, m2, p, logp } = mixTerms(logits, target1, target2, mask1, mask2, 'mixLoss');
    const sum = tf.addN([
      tf.mul(diceFromProbs(p, f1.oneHot, m1), weight1),
      tf.mul(diceFromProbs(p, f2.oneHot, m2), weight2),
      tf.mul(ceFromLogProbs(logp, f1.oneHot, m1), weight1),
      tf.mul(ceFromLogProbs(logp, f2.oneHot, m2), weight2),
    ]);
    return tf.mul(sum, 0.5) as tf.Scalar;
  });
}

/** E28 2-D Dice loss (BCP ACDC), from logits (softmax inside); no mask = m ≡ 1. See {@link dice2dFromProbs}. */
export function diceLoss2d(logits: tf.Tensor, target: tf.Tensor, mask?: tf.Tensor): tf.Scalar {
  requireTensor('diceLoss2d', 'logits', logits);
  requireTensor('diceLoss2d', 'target', target);
  requireOptionalTensor('diceLoss2d', 'mask', mask);
  return tf.tidy(() => {
    const f = flatten(logits, target, 'diceLoss2d');
    const m = mask === undefined ? null : flattenMask(mask, target, f.n, f.v, 'diceLoss2d');
    return dice2dFromProbs(softmaxLastAxis(f.logits), f.oneHot, m);
  });
}

/** The two weighted sums of E30; the step loss of one mix is ½(dice + ce). Caller owns both scalars. */
export interface MixLoss2d {
  dice: tf.Scalar;
  ce: tf.Scalar;
}

/**
 * E30 `mix_loss` of BCP ACDC, generalised like E19 to an explicit second mask (the reference's E30 is the call
 * with m2 = 1 − m1; `unlab` = swapped weights): dice = w1·D₂(p,t1,m1) + w2·D₂(p,t2,m2),
 * ce = w1·CE(O,t1,m1) + w2·CE(O,t2,m2) with D₂ = E28 and CE = E29 (= E18).
 */
export function mixLoss2d(
  logits: tf.Tensor,
  target1: tf.Tensor,
  target2: tf.Tensor,
  mask1: tf.Tensor,
  mask2: tf.Tensor,
  weight1 = 1,
  weight2 = 0.5,
): MixLoss2d {
  checkMixTermArgs('mixLoss2d', { logits, target1, target2, mask1, mask2, weight1, weight2 });
  return tf.tidy(() => {
    const { f1, f2, m1, m2, p, logp } = mixTerms(logits, target1, target2, mask1, mask2, 'mixLoss2d');
    const dice = tf.add(
      tf.mul(dice2dFromProbs(p, f1.oneHot, m1), weight1),
      tf.mul(dice2dFromProbs(p, f2.oneHot, m2), weight2),
    ) as tf.Scalar;
    const ce = tf.add(
      tf.mul(ceFromLogProbs(logp, f1.oneHot, m1), weight1),
      tf.mul(ceFromLogProbs(logp, f2.oneHot, m2), weight2),
    ) as tf.Scalar;
    return { dice, ce };
  });
}

/** ½(dice + ce) of {@link mixLoss2d}: the contribution of one mix to the 2-D step loss (BCP ACDC total). */
export function mixLoss2dTotal(
  logits: tf.Tensor,
  target1: tf.Tensor,
  target2: tf.Tensor,
  mask1: tf.Tensor,
  mask2: tf.Tensor,
  weight1 = 1,
  weight2 = 0.5,
): tf.Scalar {
  checkMixTermArgs('mixLoss2dTotal', { logits, target1, target2, mask1, mask2, weight1, weight2 });
  return tf.tidy(() => {
    const { dice, ce } = mixLoss2d(logits, target1, target2, mask1, mask2, weight1, weight2);
    return tf.mul(tf.add(dice, ce), 0.5) as tf.Scalar;
  });
}

/**
 * The common signature of {@link mixLoss} (3-D, E19) and `mixLoss2dTotal` (2-D, ½(dice + ce) of E30):
 * the composite losses (E21–E27) are written once against it.
 */
export type MixTermLoss = (
  logits: tf.Tensor,
  target1: tf.Tensor,
  target2: tf.Tensor,
  mask1: tf.Tensor,
  mask2: tf.Tensor,
  weight1: number,
  weight2: number,
) => tf.Scalar;

/** 1 − m, for the complementary region of a cuboid mask (E20, E22, E23). Caller owns the result. */
export function complementMask(mask: tf.Tensor): tf.Tensor {
  requireTensor('complementMask', 'mask', mask);
  return tf.tidy(() => tf.sub(1, tf.cast(mask, 'float32')));
}

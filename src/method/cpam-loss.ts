/**
 * Copy-paste losses without TRCM (docs/equations.md §4.8): BCP (the L-U and U-L mixes) and CPAM-only (E26,
 * adding the L-L and U-U mixes), each in the 3-D form (E19/E20 with E17/E18) and the 2-D form (E30 with E28/E29,
 * §4.11).
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026), CPAM; the L-U/U-L terms are BCP's (Bai et al.,
 *   "Bidirectional Copy-Paste for Semi-Supervised Medical Image Segmentation", CVPR 2023).
 *
 * Mix directions follow the 3-D code for every dimension: X_l = M⊙L_a + (1−M)⊙U_a, X_u = M⊙U_b + (1−M)⊙L_b
 * (E8–E9). BCP's ACDC and pancreas scripts pair the sub-batches differently (ACDC: U_a outside / L_a inside and
 * L_b outside / U_b inside); since the a and b sub-batches are exchangeable random draws, that is the same loss
 * in distribution with a and b renamed, and one direction keeps every variant on the same inputs.
 */
import { tf } from '../backend/tf.js';
import { requireNumber, requireTensorFields } from '../util/args.js';
import { complementMask, type MixTermLoss, mixLoss, mixLoss2dTotal } from './losses.js';

/** Inputs shared by the copy-paste losses. Labels are int32 `[N, ...S]`; logits `[N, ...S, K]`. */
export interface BcpLossInputs {
  /** Student logits on X_l (E8). */
  logitsL: tf.Tensor;
  /** Student logits on X_u (E9). */
  logitsU: tf.Tensor;
  /** Ground truth of labeled a and b. */
  labelA: tf.Tensor;
  labelB: tf.Tensor;
  /** Teacher pseudo-labels Ŷ_a, Ŷ_b of unlabeled a and b (E7). */
  pseudoA: tf.Tensor;
  pseudoB: tf.Tensor;
  /** Cuboid mask M (1 outside, 0 inside), `[...S]` shared (E4) or `[N, ...S]`. */
  mask: tf.Tensor;
  /** u_weight of the pseudo-label terms; default 0.5. */
  unlabeledWeight?: number;
}

export interface CpamLossInputs extends BcpLossInputs {
  /** Student logits on X_ll (E10). */
  logitsLL: tf.Tensor;
  /** Student logits on X_uu (E11). */
  logitsUU: tf.Tensor;
}

/** Scalars owned by the caller. */
export interface BcpLossParts {
  total: tf.Scalar;
  l: tf.Scalar;
  u: tf.Scalar;
}

export interface CpamLossParts extends BcpLossParts {
  ll: tf.Scalar;
  uu: tf.Scalar;
}

/** The first two terms of E26 (L-U and U-L), the BCP baseline. */
function bcpTerms(term: MixTermLoss, x: BcpLossInputs): { l: tf.Scalar; u: tf.Scalar } {
  const w = x.unlabeledWeight ?? 0.5;
  const inside = complementMask(x.mask);
  // L-U: Y_a on Ω_out (weight 1), Ŷ_a on Ω_in (weight u).
  const l = term(x.logitsL, x.labelA, x.pseudoA, x.mask, inside, 1, w);
  // U-L with `unlab=True`: Ŷ_b on Ω_out (weight u), Y_b on Ω_in (weight 1) — the weight swap of E26.
  const u = term(x.logitsU, x.pseudoB, x.labelB, x.mask, inside, w, 1);
  return { l, u };
}

/** The tensor fields of {@link BcpLossInputs}. */
export const BCP_INPUTS = ['logitsL', 'logitsU', 'labelA', 'labelB', 'pseudoA', 'pseudoB', 'mask'] as const;
/** The tensor fields of {@link CpamLossInputs}: BCP's and the L-L and U-U student logits. */
export const CPAM_INPUTS = [...BCP_INPUTS, 'logitsLL', 'logitsUU'] as const;

/**
 * The argument check of every copy-paste loss: `fields` of `inputs` are tensors and `unlabeledWeight`, when
 * given, is a number ≥ 0. Throws an InputError naming `fn` and the field.
 */
export function checkMixLossInputs(fn: string, inputs: unknown, fields: readonly string[]): void {
  requireTensorFields(fn, 'inputs', inputs, fields);
  const weight = (inputs as { unlabeledWeight?: unknown }).unlabeledWeight;
  if (weight !== undefined) requireNumber(fn, 'inputs.unlabeledWeight', weight, { min: 0 });
}

function bcpWith(term: MixTermLoss, x: BcpLossInputs): BcpLossParts {
  return tf.tidy(() => {
    const { l, u } = bcpTerms(term, x);
    return { total: tf.add(l, u) as tf.Scalar, l, u };
  });
}

function cpamWith(term: MixTermLoss, x: CpamLossInputs): CpamLossParts {
  return tf.tidy(() => {
    const w = x.unlabeledWeight ?? 0.5;
    const inside = complementMask(x.mask);
    const { l, u } = bcpTerms(term, x);
    // L-L: ground truth on both regions, weights 1/1.
    const ll = term(x.logitsLL, x.labelA, x.labelB, x.mask, inside, 1, 1);
    // U-U: pseudo-labels on both regions, weights u/u.
    const uu = term(x.logitsUU, x.pseudoA, x.pseudoB, x.mask, inside, w, w);
    return { total: tf.addN([l, u, ll, uu]) as tf.Scalar, l, u, ll, uu };
  });
}

/** BCP baseline (3-D): the first two terms of E26. */
export function bcpLoss(inputs: BcpLossInputs): BcpLossParts {
  checkMixLossInputs('bcpLoss', inputs, BCP_INPUTS);
  return bcpWith(mixLoss, inputs);
}

/** E26, CPAM only (3-D): L-U + U-L (weights swapped, `unlab`) + L-L (1/1) + U-U (u/u), all with m₂ = 1 − m₁. */
export function cpamLoss(inputs: CpamLossInputs): CpamLossParts {
  checkMixLossInputs('cpamLoss', inputs, CPAM_INPUTS);
  return cpamWith(mixLoss, inputs);
}

/** BCP baseline with the 2-D primitives (E30: each mix contributes ½(dice + ce), BCP ACDC). */
export function bcpLoss2d(inputs: BcpLossInputs): BcpLossParts {
  checkMixLossInputs('bcpLoss2d', inputs, BCP_INPUTS);
  return bcpWith(mixLoss2dTotal, inputs);
}

/** E26 with the 2-D primitives (§4.11 port). */
export function cpamLoss2d(inputs: CpamLossInputs): CpamLossParts {
  checkMixLossInputs('cpamLoss2d', inputs, CPAM_INPUTS);
  return cpamWith(mixLoss2dTotal, inputs);
}

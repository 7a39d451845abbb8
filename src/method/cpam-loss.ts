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
 *
 * Mixes left out (`method.mixes`): the total is the plain sum of the terms of the mixes present, in E12 order, with
 * no rescaling — E26 with the absent terms dropped. That is how the reference relates its scripts: BCP's loss is
 * loss_l + loss_u, CPAM's script without the L-L and U-U terms; neither averages over the number of terms.
 */
import { tf } from '../backend/tf.js';
import {
  argumentError,
  requireArray,
  requireNumber,
  requireOneOf,
  requireTensorFields,
} from '../util/args.js';
import { complementMask, type MixTermLoss, mixLoss, mixLoss2dTotal } from './losses.js';
import { MIX_NAMES, type MixName } from './variants/names.js';

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

/** The tensor fields of {@link BcpLossInputs}. */
export const BCP_INPUTS = ['logitsL', 'logitsU', 'labelA', 'labelB', 'pseudoA', 'pseudoB', 'mask'] as const;
/** The tensor fields every copy-paste loss reads, whatever its mixes: labels, pseudo-labels and the mask. */
const SHARED_INPUTS = ['labelA', 'labelB', 'pseudoA', 'pseudoB', 'mask'] as const;
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

/**
 * Inputs of a copy-paste loss over a chosen set of mixes: the student logits of each mix present (`logitsL` for
 * lu, `logitsU` for ul, `logitsLL` for ll, `logitsUU` for uu), plus the shared labels, pseudo-labels and mask.
 */
export interface MixesLossInputs
  extends Omit<CpamLossInputs, 'logitsL' | 'logitsU' | 'logitsLL' | 'logitsUU'> {
  logitsL?: tf.Tensor;
  logitsU?: tf.Tensor;
  logitsLL?: tf.Tensor;
  logitsUU?: tf.Tensor;
}

/** The loss of a set of mixes: `total` and the term of each mix present (`l`, `u`, `ll`, `uu`). */
export type MixesLossParts = { total: tf.Scalar } & Partial<Record<MixTermName, tf.Scalar>>;

/** The name of a mix's loss term in the loss parts and the training log. */
export type MixTermName = 'l' | 'u' | 'll' | 'uu';

/** Each mix's term name and student-logits field. */
export const MIX_TERMS: Readonly<
  Record<MixName, { term: MixTermName; logits: 'logitsL' | 'logitsU' | 'logitsLL' | 'logitsUU' }>
> = {
  lu: { term: 'l', logits: 'logitsL' },
  ul: { term: 'u', logits: 'logitsU' },
  ll: { term: 'll', logits: 'logitsLL' },
  uu: { term: 'uu', logits: 'logitsUU' },
};

/** `mixes` in E12 order (lu, ul, ll, uu), whatever order they were given in. */
export function orderedMixes(mixes: readonly MixName[]): MixName[] {
  return MIX_NAMES.filter((m) => mixes.includes(m));
}

/** The tensor fields a copy-paste loss over `mixes` reads: the logits of each mix and the shared fields. */
export function mixesLossFields(mixes: readonly MixName[]): string[] {
  return [...orderedMixes(mixes).map((m) => MIX_TERMS[m].logits), ...SHARED_INPUTS];
}

/**
 * The terms of the present mixes and their plain sum, in E12 order: the E26 terms, each with m₂ = 1 − m₁.
 * `term(m)` builds the term of mix m; the sum has no rescaling (see the module comment).
 */
export function sumMixTerms(mixes: readonly MixName[], term: (mix: MixName) => tf.Scalar): MixesLossParts {
  return tf.tidy(() => {
    const parts: Partial<Record<MixTermName, tf.Scalar>> = {};
    const terms = orderedMixes(mixes).map((m) => {
      const t = term(m);
      parts[MIX_TERMS[m].term] = t;
      return t;
    });
    return { total: tf.addN(terms) as tf.Scalar, ...parts };
  });
}

function mixesWith(term: MixTermLoss, x: MixesLossInputs, mixes: readonly MixName[]): MixesLossParts {
  return tf.tidy(() => {
    const w = x.unlabeledWeight ?? 0.5;
    const inside = complementMask(x.mask);
    const logits = (m: MixName) => x[MIX_TERMS[m].logits] as tf.Tensor;
    return sumMixTerms(mixes, (m) => {
      switch (m) {
        // L-U: Y_a on Ω_out (weight 1), Ŷ_a on Ω_in (weight u).
        case 'lu':
          return term(logits(m), x.labelA, x.pseudoA, x.mask, inside, 1, w);
        // U-L with `unlab=True`: Ŷ_b on Ω_out (weight u), Y_b on Ω_in (weight 1) — the weight swap of E26.
        case 'ul':
          return term(logits(m), x.pseudoB, x.labelB, x.mask, inside, w, 1);
        // L-L: ground truth on both regions, weights 1/1.
        case 'll':
          return term(logits(m), x.labelA, x.labelB, x.mask, inside, 1, 1);
        // U-U: pseudo-labels on both regions, weights u/u.
        case 'uu':
          return term(logits(m), x.pseudoA, x.pseudoB, x.mask, inside, w, w);
      }
    });
  });
}

/**
 * E26 restricted to `mixes` (3-D primitives E19/E20): the term of each mix present and their plain sum, E26's
 * terms dropped for the mixes left out, no rescaling. `[lu, ul]` is BCP ({@link bcpLoss}), all four CPAM
 * ({@link cpamLoss}).
 *
 * @param inputs - the student logits of each mix in `mixes`, the labels, pseudo-labels, cuboid mask and optional
 *   `unlabeledWeight` (default 0.5).
 * @param mixes - a non-empty subset of lu, ul, ll, uu (any order; the terms are built in that order).
 * @returns `total` and the term of each present mix (`l`, `u`, `ll`, `uu`), owned by the caller.
 * @throws {@link InputError} when a field that `mixes` needs is not a live tensor, `unlabeledWeight` is
 *   negative, or `mixes` is empty or names an unknown mix.
 * @example
 * const { total, l, u, ll } = mixesLoss({ logitsL, logitsU, logitsLL, labelA, labelB, pseudoA, pseudoB, mask }, ['lu', 'ul', 'll']);
 */
export function mixesLoss(inputs: MixesLossInputs, mixes: readonly MixName[]): MixesLossParts {
  checkMixes('mixesLoss', mixes);
  checkMixLossInputs('mixesLoss', inputs, mixesLossFields(mixes));
  return mixesWith(mixLoss, inputs, mixes);
}

/** {@link mixesLoss} with the 2-D primitives (E30: each mix contributes ½(dice + ce), §4.11). */
export function mixesLoss2d(inputs: MixesLossInputs, mixes: readonly MixName[]): MixesLossParts {
  checkMixes('mixesLoss2d', mixes);
  checkMixLossInputs('mixesLoss2d', inputs, mixesLossFields(mixes));
  return mixesWith(mixLoss2dTotal, inputs, mixes);
}

/** The argument check of `mixes`: a non-empty array of known mix names. */
export function checkMixes(fn: string, mixes: unknown): asserts mixes is readonly MixName[] {
  const what = `a non-empty array of ${MIX_NAMES.join(', ')}`;
  requireArray(fn, 'mixes', mixes, what);
  if (mixes.length === 0) throw argumentError(fn, 'mixes', what, mixes);
  mixes.forEach((m, i) => {
    requireOneOf(fn, `mixes[${i}]`, m, MIX_NAMES);
  });
}

const BCP_MIXES: readonly MixName[] = ['lu', 'ul'];

/** BCP baseline (3-D): the first two terms of E26. */
export function bcpLoss(inputs: BcpLossInputs): BcpLossParts {
  checkMixLossInputs('bcpLoss', inputs, BCP_INPUTS);
  return mixesWith(mixLoss, inputs, BCP_MIXES) as BcpLossParts;
}

/** E26, CPAM only (3-D): L-U + U-L (weights swapped, `unlab`) + L-L (1/1) + U-U (u/u), all with m₂ = 1 − m₁. */
export function cpamLoss(inputs: CpamLossInputs): CpamLossParts {
  checkMixLossInputs('cpamLoss', inputs, CPAM_INPUTS);
  return mixesWith(mixLoss, inputs, MIX_NAMES) as CpamLossParts;
}

/** BCP baseline with the 2-D primitives (E30: each mix contributes ½(dice + ce), BCP ACDC). */
export function bcpLoss2d(inputs: BcpLossInputs): BcpLossParts {
  checkMixLossInputs('bcpLoss2d', inputs, BCP_INPUTS);
  return mixesWith(mixLoss2dTotal, inputs, BCP_MIXES) as BcpLossParts;
}

/** E26 with the 2-D primitives (§4.11 port). */
export function cpamLoss2d(inputs: CpamLossInputs): CpamLossParts {
  checkMixLossInputs('cpamLoss2d', inputs, CPAM_INPUTS);
  return mixesWith(mixLoss2dTotal, inputs, MIX_NAMES) as CpamLossParts;
}

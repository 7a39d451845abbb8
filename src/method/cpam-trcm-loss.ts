/**
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026), CPAM + TRCM.
 * The paper's full loss, CPAM + TRCM (E21–E25, docs/equations.md §4.8): ground truth supervises its whole region with
 * weight 1; pseudo-labels supervise only TRCM-reliable voxels with weight u, in the L-U/U-L and U-U mixes. 3-D form
 * with E19 (E17/E18); 2-D form (§4.11 port) with ½(dice + ce) of E30 (E28/E29) per mix.
 *
 * Mixes left out (`method.mixes`): only the U-U mix can be, since the reliability masks read the L-U, U-L and L-L
 * predictions; its term E24 is then dropped and the total is the plain sum of the other three, with no rescaling
 * (the rule of every copy-paste loss here: the reference's losses are sums of the terms they have, never means).
 */
import { tf } from '../backend/tf.js';
import { InputError } from '../util/errors.js';
import {
  CPAM_INPUTS,
  type CpamLossInputs,
  type CpamLossParts,
  checkMixes,
  checkMixLossInputs,
  MIX_TERMS,
  type MixesLossInputs,
  type MixesLossParts,
  mixesLossFields,
  sumMixTerms,
} from './cpam-loss.js';
import { complementMask, type MixTermLoss, mixLoss, mixLoss2dTotal } from './losses.js';
import { type TrcmMasks, trcmMasksOffTape } from './trcm.js';
import { MIX_NAMES, type MixName, mixesProblem } from './variants/names.js';

export interface CpamTrcmLossInputs extends CpamLossInputs {
  /** Precomputed E16 masks; computed from logitsL/U/LL (E13–E16) when absent. */
  reliable?: TrcmMasks;
}

/** The four terms, the total and the reliability masks used; every tensor is owned by the caller. */
export interface CpamTrcmLossParts extends CpamLossParts {
  reliableA: tf.Tensor;
  reliableB: tf.Tensor;
}

/**
 * The inputs of {@link trcmMixesLoss}: the logits of the mixes present (the L-U, U-L and L-L ones are required,
 * the U-U one only with uu) and optional precomputed reliability masks.
 */
export interface TrcmMixesLossInputs extends MixesLossInputs {
  reliable?: TrcmMasks;
}

/** The terms of the present mixes, their sum and the reliability masks used; every tensor is owned by the caller. */
export type TrcmMixesLossParts = MixesLossParts & { reliableA: tf.Tensor; reliableB: tf.Tensor };

function cpamTrcmWith(
  term: MixTermLoss,
  x: TrcmMixesLossInputs,
  mixes: readonly MixName[],
): TrcmMixesLossParts {
  return tf.tidy(() => {
    const w = x.unlabeledWeight ?? 0.5;
    const inside = complementMask(x.mask); // 1 − L
    const logits = (m: MixName) => x[MIX_TERMS[m].logits] as tf.Tensor; // present: the argument check
    const r =
      x.reliable ?? trcmMasksOffTape(logits('lu'), logits('ul'), logits('ll'), x.labelA, x.labelB, x.mask); // E13–E16, zero gradient
    // E25: plain sum of the present terms, no consistency weight.
    const parts = sumMixTerms(mixes, (m) => {
      switch (m) {
        // E21: Y_a on Ω_out (m₁ = L, w 1), Ŷ_a on the reliable inside (m₂ = R_b, w u).
        case 'lu':
          return term(logits(m), x.labelA, x.pseudoA, x.mask, r.reliableB, 1, w);
        // E22: Y_b on Ω_in (m₁ = 1 − L, w 1), Ŷ_b on the reliable outside (m₂ = R_a, w u).
        case 'ul':
          return term(logits(m), x.labelB, x.pseudoB, inside, r.reliableA, 1, w);
        // E23: Y_a on Ω_out, Y_b on Ω_in, weights 1/1.
        case 'll':
          return term(logits(m), x.labelA, x.labelB, x.mask, inside, 1, 1);
        // E24: Ŷ_a on R_a, Ŷ_b on R_b, weights u/u.
        case 'uu':
          return term(logits(m), x.pseudoA, x.pseudoB, r.reliableA, r.reliableB, w, w);
      }
    });
    // The masks are returned (copies if given, so the caller owns them).
    return {
      ...parts,
      reliableA: x.reliable ? tf.clone(r.reliableA) : r.reliableA,
      reliableB: x.reliable ? tf.clone(r.reliableB) : r.reliableB,
    };
  });
}

/**
 * E21–E25, the paper's full loss with the 3-D primitives: CPAM's four copy-paste mixes (L-U, U-L, L-L, U-U),
 * ground truth supervising its whole region with weight 1 and pseudo-labels supervising only the TRCM-reliable
 * voxels with weight `unlabeledWeight`. The total is the plain sum of the four terms.
 *
 * @param inputs - the student logits of the four mixes (`logitsL`, `logitsU`, `logitsLL`, `logitsUU`,
 *   `[N, ...S, K]`), the int32 labels `labelA`/`labelB` and pseudo-labels `pseudoA`/`pseudoB` (`[N, ...S]`), the
 *   cuboid `mask` (1 outside), optional `unlabeledWeight` (default 0.5) and optional precomputed `reliable`
 *   masks (else computed with {@link trcmMasks}).
 * @returns `total` and the four terms `l`, `u`, `ll`, `uu` (scalars) and the reliability masks used; every
 *   tensor is owned by the caller.
 * @throws {@link InputError} when `inputs` is not an object, a field is not a live tensor, `unlabeledWeight` is
 *   negative or not a number, or the shapes and dtypes do not fit (naming the field).
 * @example
 * const parts = cpamTrcmLoss({ logitsL, logitsU, logitsLL, logitsUU, labelA, labelB, pseudoA, pseudoB, mask });
 * const loss = parts.total;
 */
export function cpamTrcmLoss(inputs: CpamTrcmLossInputs): CpamTrcmLossParts {
  checkMixLossInputs('cpamTrcmLoss', inputs, CPAM_INPUTS);
  return cpamTrcmWith(mixLoss, inputs, MIX_NAMES) as CpamTrcmLossParts;
}

/** E21–E25 with the 2-D primitives E28–E30 (§4.11 "recommended 2-D ALL port"). */
export function cpamTrcmLoss2d(inputs: CpamTrcmLossInputs): CpamTrcmLossParts {
  checkMixLossInputs('cpamTrcmLoss2d', inputs, CPAM_INPUTS);
  return cpamTrcmWith(mixLoss2dTotal, inputs, MIX_NAMES) as CpamTrcmLossParts;
}

/** The argument check of the TRCM losses over `mixes`: known mixes holding lu, ul and ll, and their inputs. */
function checkTrcmMixes(fn: string, inputs: unknown, mixes: unknown): asserts mixes is readonly MixName[] {
  checkMixes(fn, mixes);
  const problem = mixesProblem('cpam-trcm', mixes);
  if (problem !== undefined) throw new InputError(`${fn}: mixes: expected ${problem}`);
  checkMixLossInputs(fn, inputs, mixesLossFields(mixes));
}

/**
 * E21–E25 restricted to `mixes` (3-D primitives): {@link cpamTrcmLoss} without the U-U term E24 when `mixes` has
 * no uu. The L-U, U-L and L-L mixes are required: the reliability masks are built from their predictions.
 *
 * @param inputs - as {@link cpamTrcmLoss}; `logitsUU` only when `mixes` holds uu.
 * @param mixes - lu, ul and ll, optionally uu (any order; the terms are built in E12 order).
 * @returns `total` (plain sum of the present terms), the term of each present mix and the masks used.
 * @throws {@link InputError} when `mixes` lacks lu, ul or ll, repeats or names an unknown mix, or an input
 *   it needs is not a live tensor.
 * @example
 * const { total, l, u, ll } = trcmMixesLoss({ logitsL, logitsU, logitsLL, labelA, labelB, pseudoA, pseudoB, mask }, ['lu', 'ul', 'll']);
 */
export function trcmMixesLoss(inputs: TrcmMixesLossInputs, mixes: readonly MixName[]): TrcmMixesLossParts {
  checkTrcmMixes('trcmMixesLoss', inputs, mixes);
  return cpamTrcmWith(mixLoss, inputs, mixes);
}

/** {@link trcmMixesLoss} with the 2-D primitives E28–E30. */
export function trcmMixesLoss2d(inputs: TrcmMixesLossInputs, mixes: readonly MixName[]): TrcmMixesLossParts {
  checkTrcmMixes('trcmMixesLoss2d', inputs, mixes);
  return cpamTrcmWith(mixLoss2dTotal, inputs, mixes);
}

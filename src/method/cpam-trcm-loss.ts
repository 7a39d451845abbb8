/**
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026), CPAM + TRCM.
 * The paper's full loss, CPAM + TRCM (E21–E25, docs/equations.md §4.8): ground truth supervises its whole region with
 * weight 1; pseudo-labels supervise only TRCM-reliable voxels with weight u, in the L-U/U-L and U-U mixes. 3-D form
 * with E19 (E17/E18); 2-D form (§4.11 port) with ½(dice + ce) of E30 (E28/E29) per mix.
 */
import { tf } from '../backend/tf.js';
import { CPAM_INPUTS, type CpamLossInputs, type CpamLossParts, checkMixLossInputs } from './cpam-loss.js';
import { complementMask, type MixTermLoss, mixLoss, mixLoss2dTotal } from './losses.js';
import { type TrcmMasks, trcmMasksOffTape } from './trcm.js';

export interface CpamTrcmLossInputs extends CpamLossInputs {
  /** Precomputed E16 masks; computed from logitsL/U/LL (E13–E16) when absent. */
  reliable?: TrcmMasks;
}

/** The four terms, the total and the reliability masks used; every tensor is owned by the caller. */
export interface CpamTrcmLossParts extends CpamLossParts {
  reliableA: tf.Tensor;
  reliableB: tf.Tensor;
}

function cpamTrcmWith(term: MixTermLoss, x: CpamTrcmLossInputs): CpamTrcmLossParts {
  return tf.tidy(() => {
    const w = x.unlabeledWeight ?? 0.5;
    const inside = complementMask(x.mask); // 1 − L
    const r = x.reliable ?? trcmMasksOffTape(x.logitsL, x.logitsU, x.logitsLL, x.labelA, x.labelB, x.mask); // E13–E16, zero gradient
    // E21: Y_a on Ω_out (m₁ = L, w 1), Ŷ_a on the reliable inside (m₂ = R_b, w u).
    const l = term(x.logitsL, x.labelA, x.pseudoA, x.mask, r.reliableB, 1, w);
    // E22: Y_b on Ω_in (m₁ = 1 − L, w 1), Ŷ_b on the reliable outside (m₂ = R_a, w u).
    const u = term(x.logitsU, x.labelB, x.pseudoB, inside, r.reliableA, 1, w);
    // E23: Y_a on Ω_out, Y_b on Ω_in, weights 1/1.
    const ll = term(x.logitsLL, x.labelA, x.labelB, x.mask, inside, 1, 1);
    // E24: Ŷ_a on R_a, Ŷ_b on R_b, weights u/u.
    const uu = term(x.logitsUU, x.pseudoA, x.pseudoB, r.reliableA, r.reliableB, w, w);
    // E25: plain sum, no consistency weight. Masks are returned (copies if given, so the caller owns them).
    return {
      total: tf.addN([l, u, ll, uu]) as tf.Scalar,
      l,
      u,
      ll,
      uu,
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
  return cpamTrcmWith(mixLoss, inputs);
}

/** E21–E25 with the 2-D primitives E28–E30 (§4.11 "recommended 2-D ALL port"). */
export function cpamTrcmLoss2d(inputs: CpamTrcmLossInputs): CpamTrcmLossParts {
  checkMixLossInputs('cpamTrcmLoss2d', inputs, CPAM_INPUTS);
  return cpamTrcmWith(mixLoss2dTotal, inputs);
}

/**
 * Paper: "Boosting Semi-Supervised Medical Image Segmentation Through Inter-Instance Information Complementarity"
 *   (IEEE TNNLS 2026).
 * `cpam-trcm`: the paper's full method (docs/equations.md, training step §4.9) — the four CPAM mixes, TRCM masks from
 * the current student outputs (E13–E16, zero gradient, computed inside the loss closure) and the loss E21–E25.
 */
import { afterHostReads } from '../../backend/host-read.js';
import { trcmMixesLoss, trcmMixesLoss2d } from '../cpam-trcm-loss.js';
import { reliableFraction } from '../trcm.js';
import { copyPasteStepLoss, prepareCopyPaste, toNumbers } from './common.js';
import { stepNeeds } from './forwards.js';
import type { MethodVariant, StepLoss } from './types.js';

export const cpamTrcmVariant: MethodVariant = {
  name: 'cpam-trcm',
  ...stepNeeds('cpam-trcm'),
  prepare(ctx, batch) {
    return prepareCopyPaste(cpamTrcmVariant, ctx, batch);
  },
  loss(ctx, _batch, prep): StepLoss {
    // E12: the forwards on xl, xu, xll, xuu, as batch-norm groups of one forward (inside copyPasteLossInputs).
    return copyPasteStepLoss(
      ctx,
      prep,
      cpamTrcmVariant.name,
      { loss3d: trcmMixesLoss, loss2d: trcmMixesLoss2d },
      (r, inputs) => {
        const f = reliableFraction(r, inputs.mask);
        const { reliableA: _a, reliableB: _b, ...terms } = r;
        const diagnostics: Record<string, number> = {};
        // Copied once read (at once on the sync backends, at the step's settle on webgpu).
        afterHostReads(() => {
          diagnostics.reliableFraction = f.total;
          diagnostics.reliableFractionOutside = f.outside;
          diagnostics.reliableFractionInside = f.inside;
        });
        return { parts: toNumbers(terms), diagnostics };
      },
    );
  },
};

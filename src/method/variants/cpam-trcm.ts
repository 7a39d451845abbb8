/**
 * `cpam-trcm`: the paper's full method (method-spec §4.9) — the four CPAM mixes, TRCM masks from the current
 * student outputs (E13–E16, zero gradient, computed inside the loss closure) and the loss E21–E25.
 */
import { tf } from '../../backend/tf.js';
import { cpamTrcmLoss, cpamTrcmLoss2d } from '../cpam-trcm-loss.js';
import { reliableFraction } from '../trcm.js';
import { prepareCopyPaste, prepared, resolveConfig, studentLogits, toNumbers } from './common.js';
import type { MethodVariant, StepLoss } from './types.js';

export const cpamTrcmVariant: MethodVariant = {
  name: 'cpam-trcm',
  needsTeacher: true,
  needsUnlabeled: true,
  prepare(ctx, batch) {
    return prepareCopyPaste(cpamTrcmVariant, ctx, batch, true);
  },
  loss(ctx, _batch, prep): StepLoss {
    const cfg = resolveConfig(ctx);
    const t = (name: string) => prepared(prep, name, cpamTrcmVariant.name);
    let parts: Record<string, number> = {};
    let diagnostics: Record<string, number> = {};
    const loss = tf.tidy(() => {
      // E12: four separate forwards in this order (own BN statistics and dropout masks each).
      const inputs = {
        logitsL: studentLogits(ctx, t('xl')),
        logitsU: studentLogits(ctx, t('xu')),
        logitsLL: studentLogits(ctx, t('xll')),
        logitsUU: studentLogits(ctx, t('xuu')),
        labelA: t('labelA'),
        labelB: t('labelB'),
        pseudoA: t('pseudoA'),
        pseudoB: t('pseudoB'),
        mask: t('mask'),
        unlabeledWeight: cfg.unlabeledWeight,
      };
      const r = cfg.lossFamily === '3d' ? cpamTrcmLoss(inputs) : cpamTrcmLoss2d(inputs);
      const f = reliableFraction(r, t('mask'));
      parts = toNumbers({ total: r.total, l: r.l, u: r.u, ll: r.ll, uu: r.uu });
      diagnostics = {
        ...prep.diagnostics,
        reliableFraction: f.total,
        reliableFractionOutside: f.outside,
        reliableFractionInside: f.inside,
      };
      return r.total;
    });
    return { loss, parts, diagnostics };
  },
};

/**
 * `cpam`: CPAM without TRCM — the four mixes L-U, U-L, L-L, U-U (E8–E12), loss E26.
 */
import { tf } from '../../backend/tf.js';
import { cpamLoss, cpamLoss2d } from '../cpam-loss.js';
import { prepareCopyPaste, prepared, resolveConfig, studentLogits, toNumbers } from './common.js';
import type { MethodVariant, StepLoss } from './types.js';

export const cpamVariant: MethodVariant = {
  name: 'cpam',
  needsTeacher: true,
  needsUnlabeled: true,
  prepare(ctx, batch) {
    return prepareCopyPaste(cpamVariant, ctx, batch, true);
  },
  loss(ctx, _batch, prep): StepLoss {
    const cfg = resolveConfig(ctx);
    const t = (name: string) => prepared(prep, name, cpamVariant.name);
    let parts: Record<string, number> = {};
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
      const r = cfg.lossFamily === '3d' ? cpamLoss(inputs) : cpamLoss2d(inputs);
      parts = toNumbers({ ...r });
      return r.total;
    });
    return { loss, parts, diagnostics: { ...prep.diagnostics } };
  },
};

/**
 * `bcp`: bidirectional copy-paste (BCP baseline) — the L-U and U-L mixes only, loss = first two terms of E26.
 */
import { tf } from '../../backend/tf.js';
import { bcpLoss, bcpLoss2d } from '../cpam-loss.js';
import { prepareCopyPaste, prepared, resolveConfig, studentLogits, toNumbers } from './common.js';
import type { MethodVariant, StepLoss } from './types.js';

export const bcpVariant: MethodVariant = {
  name: 'bcp',
  needsTeacher: true,
  needsUnlabeled: true,
  prepare(ctx, batch) {
    return prepareCopyPaste(bcpVariant, ctx, batch, false);
  },
  loss(ctx, _batch, prep): StepLoss {
    const cfg = resolveConfig(ctx);
    const t = (name: string) => prepared(prep, name, bcpVariant.name);
    let parts: Record<string, number> = {};
    const loss = tf.tidy(() => {
      const inputs = {
        logitsL: studentLogits(ctx, t('xl')),
        logitsU: studentLogits(ctx, t('xu')),
        labelA: t('labelA'),
        labelB: t('labelB'),
        pseudoA: t('pseudoA'),
        pseudoB: t('pseudoB'),
        mask: t('mask'),
        unlabeledWeight: cfg.unlabeledWeight,
      };
      const r = cfg.lossFamily === '3d' ? bcpLoss(inputs) : bcpLoss2d(inputs);
      parts = toNumbers({ ...r });
      return r.total;
    });
    return { loss, parts, diagnostics: { ...prep.diagnostics } };
  },
};

/**
 * Paper: the copy-paste pre-training of BCP; Bai et al., "Bidirectional Copy-Paste for Semi-Supervised
 *   Medical Image Segmentation" (CVPR 2023).
 * Stage-1 pre-training step (docs/equations.md §3.2, §3.8): the labeled batch split into a = [0:sub] and b =
 * [sub:2·sub], one cuboid, X_mix = M⊙L_a + (1−M)⊙L_b, one student forward, loss E27 (`volume3d`) or the BCP ACDC 2-D form (`batch2d`).
 * Unlabeled images are ignored (the reference loads and discards them). Not a method variant of the registry: every
 * variant shares this stage.
 */
import { tf } from '../../backend/tf.js';
import { mixImages } from '../mix.js';
import { pretrainLoss, pretrainLoss2d } from '../pretrain-loss.js';
import {
  batchRows,
  checkStepArgs,
  drawStepCuboid,
  labeledHalves,
  prepared,
  preparedStep,
  resolveConfig,
  studentLogits,
  subBatchSize,
  toNumbers,
  validateBatch,
} from './common.js';
import { stepNeeds } from './forwards.js';
import type { MethodVariant, PreparedStep, StepLoss } from './types.js';

/**
 * The pre-training step (E27), in the same two-call form as the {@link methodVariants}: the labeled batch split
 * into two sub-batches mixed with one cuboid, one student forward, supervised by both ground truths; unlabeled
 * images are ignored. `train` runs it in its `pretrain` stage, before self-training.
 *
 * @param ctx (of `prepare` and `loss`) The step context: `student`, `rng` (cuboid draws), `dropoutRng`,
 *   `iteration` and `config` (the config's `method` section; `maskRatio`, `startRange`, `lossDice` are read).
 * @param batch (of `prepare`) `labeledImages` `[2·sub, ...S, C]` float32 and `labeledLabels` `[2·sub, ...S]` int32.
 * @param prepared (of `loss`) What `prepare` returned for this batch; the caller disposes it after `loss`.
 * @returns `prepare` returns the prepared step (the mixed image, both label halves, the cuboid mask and its
 *   position); `loss` returns the scalar loss (call it inside the optimizer's gradient closure) and its parts.
 * @throws InputError when `ctx` is not a step context with a student model; when the images are not
 *   `[N, ...S, C]` with the student's channel count, the labels not int32 of the same spatial shape or outside
 *   [0, K−1]; when the labeled batch does not split into two equal sub-batches; when `prepared` is not an object.
 * @example
 * import { createVNet, pretrainStep, Rng, tf } from 'ssmis';
 *
 * const student = createVNet({ inChannels: 1, numClasses: 2, baseFilters: 4, seed: 1 });
 * const batch = {
 *   labeledImages: tf.randomNormal([2, 16, 16, 16, 1]),
 *   labeledLabels: tf.zeros([2, 16, 16, 16], 'int32'),
 * };
 * const ctx = { student, rng: new Rng(1), dropoutRng: new Rng(2), iteration: 0, config: {} };
 * const prepared = pretrainStep.prepare(ctx, batch);
 * const { loss, parts } = pretrainStep.loss(ctx, batch, prepared);
 * console.log(parts.total);
 * tf.dispose([loss, batch.labeledImages, batch.labeledLabels]);
 * prepared.dispose();
 * student.dispose();
 */
export const pretrainStep: MethodVariant = {
  name: 'pretrain',
  ...stepNeeds('pretrain'),
  prepare(ctx, batch) {
    validateBatch(pretrainStep, ctx, batch);
    const sub = subBatchSize(pretrainStep, batch);
    const cfg = resolveConfig(ctx);
    const spatial = batch.labeledImages.shape.slice(1, -1);
    let cuboid: PreparedStep['cuboid'];
    const tensors = tf.tidy(() => {
      const c = drawStepCuboid(spatial, cfg, ctx);
      cuboid = c.cuboid;
      const out: Record<string, tf.Tensor> = {
        mask: c.mask,
        ...labeledHalves(batch, sub),
        x: mixImages(
          batchRows(batch.labeledImages, 0, sub),
          batchRows(batch.labeledImages, sub, sub),
          c.mask,
        ),
      };
      return out;
    });
    return preparedStep(tensors, {}, cuboid);
  },
  loss(ctx, _batch, prep): StepLoss {
    checkStepArgs('pretrain', ctx, { prepared: prep });
    const lossDice = resolveConfig(ctx).lossDice;
    const t = (name: string) => prepared(prep, name, pretrainStep.name);
    let parts: Record<string, number> = {};
    const loss = tf.tidy(() => {
      const logits = studentLogits(ctx, t('x'));
      const r = (lossDice === 'volume3d' ? pretrainLoss : pretrainLoss2d)(
        logits,
        t('labelA'),
        t('labelB'),
        t('mask'),
      );
      parts = toNumbers({ ...r });
      return r.total;
    });
    return { loss, parts, diagnostics: {} };
  },
};

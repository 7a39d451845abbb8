/**
 * `mean-teacher` (SSL4MIS/UA-MT style):
 * Papers: Tarvainen & Valpola, "Mean teachers are better role models" (NeurIPS 2017); UA-MT, Yu et al.
 *   (MICCAI 2019), for the 3-D recipe.
 *   ℒ = ½(CE + Dice)(student(L), Y)  +  w(t) · mean((softmax(student(U)) − softmax(teacher(U)))²)
 * with w(t) = consistency.weight · sigmoidRampup(iteration, consistency.rampupIterations) (docs/equations.md §3.1 ramp formula).
 * Choices: the student sees labeled and unlabeled images in ONE forward (concatenated, as SSL4MIS), so batch
 * norm uses the statistics of the whole batch; the teacher sees the unlabeled images without the Gaussian input
 * noise of UA-MT (noise-free, so the only teacher stochasticity is its dropout in train mode, Q3); the MSE is the
 * mean over all unlabeled voxels and classes. No mixing, no cuboid.
 */
import { tf } from '../../backend/tf.js';
import { softmaxLastAxis } from '../predictions.js';
import { sigmoidRampup } from '../ramps.js';
import {
  batchRows,
  checkStepArgs,
  prepared,
  preparedStep,
  resolveConfig,
  studentLogits,
  supervisedLoss,
  teacherLogits,
  toNumbers,
  validateBatch,
} from './common.js';
import { stepNeeds } from './forwards.js';
import type { MethodVariant, StepLoss } from './types.js';

export const meanTeacherVariant: MethodVariant = {
  name: 'mean-teacher',
  ...stepNeeds('mean-teacher'),
  prepare(ctx, batch) {
    validateBatch(meanTeacherVariant, ctx, batch);
    const cfg = resolveConfig(ctx);
    const unlabeled = batch.unlabeledImages as tf.Tensor;
    const teacherProbs = tf.tidy(() => softmaxLastAxis(teacherLogits(ctx, cfg, unlabeled)));
    return preparedStep({ teacherProbs }, {});
  },
  loss(ctx, batch, prep): StepLoss {
    checkStepArgs('mean-teacher', ctx, { batch, prepared: prep });
    const cfg = resolveConfig(ctx);
    const teacherProbs = prepared(prep, 'teacherProbs', meanTeacherVariant.name);
    const unlabeled = batch.unlabeledImages as tf.Tensor;
    const nl = batch.labeledImages.shape[0];
    const nu = unlabeled.shape[0];
    const weight = cfg.consistency.weight * sigmoidRampup(ctx.iteration, cfg.consistency.rampupIterations);
    let parts: Record<string, number> = {};
    const loss = tf.tidy(() => {
      const logits = studentLogits(ctx, tf.concat([batch.labeledImages, unlabeled], 0));
      const sup = supervisedLoss(batchRows(logits, 0, nl), batch.labeledLabels, cfg.lossDice);
      const studentProbs = softmaxLastAxis(batchRows(logits, nl, nu));
      const consistency = tf.mean(tf.squaredDifference(studentProbs, teacherProbs)) as tf.Scalar;
      const total = tf.add(sup.total, tf.mul(consistency, weight)) as tf.Scalar;
      parts = toNumbers({ total, supervised: sup.total, dice: sup.dice, ce: sup.ce, consistency });
      return total;
    });
    return { loss, parts, diagnostics: { consistencyWeight: weight } };
  },
};

/**
 * Mean-teacher EMA (docs/equations.md §3.1): after every optimizer step θ_T ← α·θ_T + (1−α)·θ_S.
 * Q4: the 3-D scripts average `parameters()` only (the teacher's BN running statistics evolve through its own
 * train-mode forwards, Q3); BCP's 2-D ACDC script averages the whole state dict, BN running statistics
 * included (`includeBatchNormStats: true`; `num_batches_tracked` has no counterpart here).
 */
import { hostFloat32, hostUpdateTarget } from '../backend/host.js';
import { tf } from '../backend/tf.js';
import { requireModel, requireNumber, requireOptions } from '../util/args.js';
import { SsmisError } from '../util/errors.js';
import type { CloneOptions, SegmentationModel } from './types.js';

export interface EmaOptions {
  /** Also average the BN running mean/var (BCP 2-D); default false (3-D reference). */
  includeBatchNormStats?: boolean;
}

function pairs(
  teacher: Map<string, tf.Variable>,
  student: Map<string, tf.Variable>,
  what: string,
): [tf.Variable, tf.Variable][] {
  if (teacher.size !== student.size) {
    throw new SsmisError(`updateEma: teacher has ${teacher.size} ${what}, student has ${student.size}`);
  }
  const out: [tf.Variable, tf.Variable][] = [];
  for (const [key, t] of teacher) {
    const s = student.get(key);
    if (s === undefined) throw new SsmisError(`updateEma: student has no ${what} named ${key}`);
    if (!tf.util.arraysEqual(t.shape, s.shape)) {
      throw new SsmisError(
        `updateEma: ${key} has shape [${t.shape}] in the teacher, [${s.shape}] in the student`,
      );
    }
    out.push([t, s]);
  }
  return out;
}

/**
 * In-place EMA of the teacher towards the student, θ_T ← α·θ_T + (1−α)·θ_S (§3.1), computed as PyTorch's
 * `mul_(α).add_(θ_S, alpha=1−α)`. All intermediates live in one tidy; the teacher variables own the new values (an
 * `assign` outside a tidy would leak the intermediates).
 *
 * @param teacher The EMA teacher (from {@link createTeacher}); its variables are overwritten.
 * @param student The student of the same architecture; read only.
 * @param alpha The EMA decay α in [0, 1] (the configs use 0.99); 1 keeps the teacher, 0 copies the student.
 * @param options `includeBatchNormStats`: also average the BN running mean/var (the 2-D recipe); default false.
 * @returns Nothing; the teacher is updated in place.
 * @throws InputError when `teacher` or `student` is not a model, `alpha` is not a number in [0, 1], or `options`
 *   is not an object.
 * @throws SsmisError when the two models do not have the same variables (names and shapes).
 * @example
 * import { createTeacher, createVNet, updateEma } from 'ssmis';
 *
 * const student = createVNet({ baseFilters: 4, seed: 1 });
 * const teacher = createTeacher(student);
 * // ... after each optimizer step of the student:
 * updateEma(teacher, student, 0.99);
 */
export function updateEma(
  teacher: SegmentationModel,
  student: SegmentationModel,
  alpha: number,
  options: EmaOptions = {},
): void {
  requireModel('updateEma', 'teacher', teacher);
  requireModel('updateEma', 'student', student);
  requireNumber('updateEma', 'alpha', alpha, { min: 0, max: 1 });
  requireOptions('updateEma', 'options', options);
  const list = pairs(teacher.namedParameters(), student.namedParameters(), 'parameters');
  if (options.includeBatchNormStats) {
    list.push(...pairs(teacher.namedBuffers(), student.namedBuffers(), 'batch-norm buffers'));
  }
  if (hostFloat32(...list.flat())) {
    // The same float32 arithmetic on the host values (the cpu backend keeps them there), without three
    // tensor ops and two temporaries per variable: fround(fround(t·α) + fround(s·(1 − α))). From a teacher
    // variable's second update on, it is overwritten in place (see hostUpdateTarget).
    const f = Math.fround;
    const a = f(alpha);
    const b = f(1 - alpha);
    for (const [t, s] of list) {
      const tv = t.dataSync() as Float32Array;
      const sv = s.dataSync() as Float32Array;
      const target = hostUpdateTarget(t);
      const out = target.values;
      for (let i = 0; i < out.length; i++) out[i] = f(tv[i] * a) + f(sv[i] * b);
      target.commit();
    }
    return;
  }
  tf.tidy(() => {
    for (const [t, s] of list) t.assign(tf.add(tf.mul(t, alpha), tf.mul(s, 1 - alpha)));
  });
}

/**
 * The EMA teacher: a copy of the student (parameters and BN buffers) whose variables are non-trainable, so
 * neither `tf.variableGrads` without a var list nor an optimizer can touch them. Default name `teacher`.
 *
 * @param student The model to copy (a VNet or 2-D UNet of this library).
 * @param options `name`: the engine-variable prefix of the copy (default `'teacher'`).
 * @returns A new model of the student's type with the same weights and non-trainable variables; the caller
 *   disposes it.
 * @throws InputError when `student` is not a model or `options` is not an object.
 * @example
 * import { createTeacher, createVNet } from 'ssmis';
 *
 * const student = createVNet({ baseFilters: 4, seed: 1 });
 * const teacher = createTeacher(student);
 * teacher.dispose();
 * student.dispose();
 */
export function createTeacher<M extends SegmentationModel>(student: M, options: CloneOptions = {}): M {
  requireModel('createTeacher', 'student', student);
  requireOptions('createTeacher', 'options', options);
  return student.clone({ name: options.name ?? 'teacher', trainable: false }) as M;
}

/**
 * Copies every variable (parameters and BN buffers) of `source` into `target` (same architecture), e.g. to
 * start self-training's student and teacher from the pre-trained weights.
 *
 * @param target The model whose variables are overwritten.
 * @param source The model read; unchanged.
 * @returns Nothing; `target` is updated in place.
 * @throws InputError when `target` or `source` is not a model.
 * @throws SsmisError when the two models do not have the same variables (names and shapes).
 * @example
 * import { copyWeights, createVNet } from 'ssmis';
 *
 * const a = createVNet({ baseFilters: 4, seed: 1 });
 * const b = createVNet({ baseFilters: 4, seed: 2 });
 * copyWeights(b, a); // b now computes what a computes
 * a.dispose();
 * b.dispose();
 */
export function copyWeights(target: SegmentationModel, source: SegmentationModel): void {
  requireModel('copyWeights', 'target', target);
  requireModel('copyWeights', 'source', source);
  const list = [
    ...pairs(target.namedParameters(), source.namedParameters(), 'parameters'),
    ...pairs(target.namedBuffers(), source.namedBuffers(), 'batch-norm buffers'),
  ];
  tf.tidy(() => {
    for (const [t, s] of list) t.assign(tf.clone(s));
  });
}

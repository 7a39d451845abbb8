/**
 * Mean-teacher EMA (docs/equations.md §3.1): after every optimizer step θ_T ← α·θ_T + (1−α)·θ_S.
 * Q4: the 3-D scripts average `parameters()` only (the teacher's BN running statistics evolve through its own
 * train-mode forwards, Q3); BCP's 2-D ACDC script averages the whole state dict, BN running statistics
 * included (`includeBatchNormStats: true`; `num_batches_tracked` has no counterpart here).
 */
import { hostFloat32 } from '../backend/host.js';
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
 * In-place EMA of the teacher towards the student, computed as PyTorch's `mul_(α).add_(θ_S, alpha=1−α)`. All
 * intermediates live in one tidy; the teacher variables own the new values (an `assign` outside a tidy would leak the
 * intermediates).
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
    // tensor ops and two temporaries per variable: fround(fround(t·α) + fround(s·(1 − α))).
    const f = Math.fround;
    const a = f(alpha);
    const b = f(1 - alpha);
    for (const [t, s] of list) {
      const tv = t.dataSync() as Float32Array;
      const sv = s.dataSync() as Float32Array;
      const out = new Float32Array(tv.length);
      for (let i = 0; i < out.length; i++) out[i] = f(tv[i] * a) + f(sv[i] * b);
      tf.tidy(() => t.assign(tf.tensor(out, t.shape, 'float32')));
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
 */
export function createTeacher<M extends SegmentationModel>(student: M, options: CloneOptions = {}): M {
  requireModel('createTeacher', 'student', student);
  requireOptions('createTeacher', 'options', options);
  return student.clone({ name: options.name ?? 'teacher', trainable: false }) as M;
}

/** Copies every variable (parameters and BN buffers) of `source` into `target` (same architecture). */
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

import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { copyWeights, createTeacher, updateEma } from '../../src/nn/ema.js';
import { createVNet } from '../../src/nn/vnet.js';
import { SgdOptimizer } from '../../src/train/optimizer.js';
import { Rng } from '../../src/util/rng.js';

function setAll(v: tf.Variable, value: number): void {
  tf.tidy(() => v.assign(tf.fill(v.shape, value)));
}

describe('createTeacher', () => {
  it('copies every variable exactly, under the teacher prefix, frozen', () => {
    const student = createVNet({ name: 'student', baseFilters: 2, seed: 1 });
    tf.tidy(
      () => void student.apply(tf.randomNormal([2, 16, 16, 16, 1], 0, 1, 'float32', 1), { training: true }),
    );
    const teacher = createTeacher(student);
    expect(teacher.kind).toBe('vnet');
    expect(teacher.name.startsWith('teacher')).toBe(true);
    for (const [key, v] of student.namedWeights()) {
      const t = teacher.namedWeights().get(key)!;
      expect(t.name.startsWith('teacher')).toBe(true);
      expect(t.trainable).toBe(false);
      expect(t.dataSync()).toEqual(v.dataSync());
    }
    // Student changes do not reach the teacher (no shared data).
    setAll(student.namedWeights().get('decoder.out_conv.bias')!, 7);
    expect(teacher.namedWeights().get('decoder.out_conv.bias')!.dataSync()[0]).not.toBe(7);
    copyWeights(teacher, student);
    expect(teacher.namedWeights().get('decoder.out_conv.bias')!.dataSync()[0]).toBe(7);
    student.dispose();
    teacher.dispose();
  });
});

describe('updateEma', () => {
  it('θ_T ← α·θ_T + (1−α)·θ_S on parameters only by default, BN stats too when asked (Q4)', () => {
    const student = createVNet({ name: 'ema_s', baseFilters: 2, seed: 1 });
    const teacher = createTeacher(student, { name: 'ema_t' });
    const sw = student.namedWeights();
    const tw = teacher.namedWeights();
    const w = 'encoder.block_one.conv.0.weight';
    const gamma = 'decoder.block_nine.conv.1.weight';
    const rm = 'encoder.block_one.conv.1.running_mean';
    setAll(tw.get(w)!, 1);
    setAll(sw.get(w)!, 3);
    setAll(tw.get(gamma)!, 2);
    setAll(sw.get(gamma)!, -2);
    setAll(tw.get(rm)!, 0.5);
    setAll(sw.get(rm)!, 1.5);

    updateEma(teacher, student, 0.99);
    // 0.99·1 + 0.01·3 = 1.02; 0.99·2 − 0.01·2 = 1.96; running mean untouched.
    expect(tw.get(w)!.dataSync()[0]).toBeCloseTo(1.02, 6);
    expect(tw.get(gamma)!.dataSync()[1]).toBeCloseTo(1.96, 6);
    expect(tw.get(rm)!.dataSync()[0]).toBe(0.5);
    expect(sw.get(w)!.dataSync()[0]).toBe(3); // student unchanged

    updateEma(teacher, student, 0.9, { includeBatchNormStats: true });
    // 0.9·1.02 + 0.1·3 = 1.218; running mean 0.9·0.5 + 0.1·1.5 = 0.6.
    expect(tw.get(w)!.dataSync()[0]).toBeCloseTo(1.218, 5);
    expect(tw.get(rm)!.dataSync()[0]).toBeCloseTo(0.6, 6);
    // running_var: both 1 → stays 1.
    expect(tw.get('encoder.block_one.conv.1.running_var')!.dataSync()[0]).toBeCloseTo(1, 6);
    student.dispose();
    teacher.dispose();
  });

  it('gives the tensor formula add(mul(θ_T, α), mul(θ_S, 1 − α)) bit for bit, with flat numTensors', () => {
    const student = createVNet({ name: 'ema_bits_s', baseFilters: 2, seed: 3 });
    const teacher = createVNet({ name: 'ema_bits_t', baseFilters: 2, seed: 4, trainable: false });
    const alpha = 0.993;
    const expected = [...teacher.namedParameters()].map(([key, t]) =>
      tf.tidy(() =>
        Array.from(
          tf.add(tf.mul(t, alpha), tf.mul(student.namedParameters().get(key)!, 1 - alpha)).dataSync(),
        ),
      ),
    );
    const before = tf.memory().numTensors;
    updateEma(teacher, student, alpha);
    expect(tf.memory().numTensors).toBe(before);
    expect([...teacher.namedParameters().values()].map((t) => Array.from(t.dataSync()))).toEqual(expected);
    student.dispose();
    teacher.dispose();
  });

  it('refuses mismatched architectures', () => {
    const a = createVNet({ name: 'mm_a', baseFilters: 2 });
    const b = createVNet({ name: 'mm_b', baseFilters: 3 });
    expect(() => updateEma(b, a, 0.99)).toThrow(/shape/);
    a.dispose();
    b.dispose();
  });
});

describe('a mean-teacher step keeps tf.memory().numTensors flat', () => {
  it('forward, loss, optimizer step, BN updates, teacher forward and EMA over several steps', () => {
    const student = createVNet({ name: 'mt_s', baseFilters: 2, seed: 1 });
    const teacher = createTeacher(student, { name: 'mt_t' });
    const opt = new SgdOptimizer({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    const dropoutRng = new Rng(3);
    const x = tf.randomNormal([2, 16, 16, 16, 1], 0, 1, 'float32', 2);
    const params = student.namedParameters();
    const step = (): number => {
      // Teacher in train mode (Q3): its BN stats move, its dropout is on; pseudo-labels are constants.
      const pseudo = tf.tidy(() => tf.argMax(teacher.apply(x, { training: true, rng: dropoutRng }), -1));
      const loss = opt.step(
        () =>
          tf.tidy(() => {
            const logits = student.apply(x, { training: true, rng: dropoutRng });
            const onehot = tf.oneHot(pseudo, 2);
            return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), -1))) as tf.Scalar;
          }),
        params,
      );
      pseudo.dispose();
      updateEma(teacher, student, 0.99);
      return loss;
    };
    const rmTeacher = () =>
      teacher.namedWeights().get('encoder.block_one.conv.1.running_mean')!.dataSync()[0];
    expect(Number.isFinite(step())).toBe(true); // creates the momentum buffers
    const before = tf.memory().numTensors;
    const rm0 = rmTeacher();
    for (let s = 0; s < 3; s++) expect(Number.isFinite(step())).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(rmTeacher()).not.toBe(rm0); // the teacher's own train-mode forwards moved its BN stats
    expect(teacher.trainableWeights().every((v) => !v.trainable)).toBe(true);
    x.dispose();
    opt.dispose();
    student.dispose();
    teacher.dispose();
  });
});

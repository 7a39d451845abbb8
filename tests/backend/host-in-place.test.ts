import { describe, expect, it } from 'vitest';
import { ownedFloat32, writableHostValues } from '../../src/backend/host.js';
import { fusedBatchNormRelu } from '../../src/backend/kernels/batchnorm.js';
import { tf } from '../../src/backend/tf.js';
import { createTeacher, updateEma } from '../../src/nn/ema.js';
import { createVNet } from '../../src/nn/vnet.js';
import { SgdOptimizer } from '../../src/train/optimizer.js';
import { InputError } from '../../src/util/errors.js';

const sgd = () => new SgdOptimizer({ lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
const grad = (n: number, k: number) =>
  tf.tensor(
    Float32Array.from({ length: n }, (_, i) => Math.cos(i + k)),
    [n],
  );

describe('in-place host updates', () => {
  it('hands back only arrays ssmis made, shared by no other tensor', () => {
    const mine = ownedFloat32(4);
    const t = tf.tensor(mine, [4]);
    expect(writableHostValues(t)).toBe(mine);
    const view = t.reshape([2, 2]);
    expect(writableHostValues(t)).toBeNull();
    view.dispose();
    expect(writableHostValues(t)).toBe(mine);
    const theirs = tf.tensor(new Float32Array(4), [4]);
    expect(writableHostValues(theirs)).toBeNull();
    expect(writableHostValues(tf.tensor([1, 2], [2], 'int32'))).toBeNull();
    tf.dispose([t, theirs]);
    expect(() => ownedFloat32(-1)).toThrow(InputError);
    expect(() => ownedFloat32(1.5)).toThrow(/length/);
  });

  it("SGD never writes into a caller's array, updates in place from the second step, and spares a live view", () => {
    const n = 37;
    const callers = Float32Array.from({ length: n }, (_, i) => i / 7);
    const before = Float32Array.from(callers);
    const v = tf.variable(tf.tensor(callers, [n]), true, 'in-place-sgd');
    const vars = new Map([['w', v]]);
    const opt = sgd();
    const step = (k: number) => tf.tidy(() => opt.applyGradients(new Map([['w', grad(n, k)]]), vars));
    step(1);
    expect(callers).toEqual(before);
    const first = v.dataSync();
    expect(first).not.toBe(callers);
    step(2);
    expect(v.dataSync()).toBe(first);
    // A view the caller keeps must not change under it: the next update goes out of place.
    const view = v.reshape([n, 1]);
    const seen = Float32Array.from(view.dataSync());
    step(3);
    expect(view.dataSync()).toEqual(seen);
    expect(v.dataSync()).not.toEqual(seen);
    view.dispose();
    opt.dispose();
    v.dispose();
  });

  it('in place and out of place give the same bits', () => {
    const n = 53;
    const run = (keepViews: boolean) => {
      const v = tf.variable(
        tf.tensor(
          Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
          [n],
        ),
      );
      const opt = sgd();
      const views: tf.Tensor[] = [];
      for (let k = 0; k < 4; k++) {
        if (keepViews) views.push(v.reshape([n]));
        tf.tidy(() => opt.applyGradients(new Map([['w', grad(n, k)]]), new Map([['w', v]])));
      }
      const out = Float32Array.from(v.dataSync());
      tf.dispose(views);
      opt.dispose();
      v.dispose();
      return out;
    };
    expect(run(false)).toEqual(run(true));
  });

  it('the EMA never writes into an array it did not make and updates in place from the second step', () => {
    const student = createVNet({ baseFilters: 2, seed: 3, name: 'in-place-ema-s' });
    const teacher = createTeacher(student, { name: 'in-place-ema-t' });
    tf.tidy(() => {
      for (const v of student.trainableWeights()) v.assign(tf.add(v, 0.25));
    });
    const [key, t] = [...teacher.namedParameters()][0];
    const s = student.namedParameters().get(key) as tf.Variable;
    const initial = t.dataSync();
    const initialCopy = Float32Array.from(initial);
    updateEma(teacher, student, 0.9);
    expect(initial).toEqual(initialCopy);
    const first = t.dataSync();
    expect(first).not.toBe(initial);
    const expected = Float32Array.from(
      first,
      (x, i) => Math.fround(x * Math.fround(0.9)) + Math.fround(s.dataSync()[i] * Math.fround(0.1)),
    );
    updateEma(teacher, student, 0.9);
    expect(t.dataSync()).toBe(first);
    expect(t.dataSync()).toEqual(expected);
    teacher.dispose();
    student.dispose();
  });

  it('batch-norm running statistics: the float32 formula of the tensor ops, in place from the second update', () => {
    // Two channels, n = 4 values each: channel 0 is {1, 3, 1, 3} (mean 2, biased var 1), channel 1 {0, 0, 4, 4}
    // (mean 2, var 4): exact in float32, so the expected numbers are the update formula alone.
    const x = tf.tensor([1, 0, 3, 0, 1, 4, 3, 4], [4, 2]);
    const gamma = tf.ones([2]);
    const beta = tf.zeros([2]);
    const runningMean = tf.variable(tf.tensor([0.5, -1]), false, 'in-place-bn-mean');
    const runningVar = tf.variable(tf.tensor([2, 3]), false, 'in-place-bn-var');
    const f = Math.fround;
    const update = (old: number, stat: number, unbiased: boolean) =>
      f(f(old * f(0.9)) + f((unbiased ? f(stat * f(4 / 3)) : stat) * f(0.1)));
    const expected = { mean: [0.5, -1], variance: [2, 3] };
    let firstArray: Float32Array | null = null;
    for (let k = 0; k < 2; k++) {
      tf.dispose(fusedBatchNormRelu(x, gamma, beta, { training: true, runningMean, runningVar }));
      expected.mean = expected.mean.map((v) => update(v, 2, false));
      expected.variance = expected.variance.map((v, j) => update(v, j === 0 ? 1 : 4, true));
      expect(Array.from(runningMean.dataSync())).toEqual(expected.mean);
      expect(Array.from(runningVar.dataSync())).toEqual(expected.variance);
      if (k === 0) firstArray = runningMean.dataSync() as Float32Array;
      else expect(runningMean.dataSync()).toBe(firstArray);
    }
    tf.dispose([x, gamma, beta, runningMean, runningVar]);
  });
});

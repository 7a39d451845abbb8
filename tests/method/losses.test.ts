import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import {
  complementMask,
  diceLoss2d,
  maskedCrossEntropy,
  maskedDiceLoss,
  mixLoss,
  mixLoss2d,
  mixLoss2dTotal,
} from '../../src/method/losses.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import {
  finiteDifferences,
  randomBinary,
  randomLabels,
  randomLogits,
  refCe,
  refDice,
  refDice2d,
  relativeMaxError,
} from './helpers.js';

const num = (t: tf.Tensor): number => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

/** docs/equations.md §4.10: N = 1, C = 2, V = 4 (as [1, 4, 2] channels last). */
function worked() {
  const logits = tf.tensor([2, 0, 0, 1, -1, 1, 0.5, 0.5], [1, 4, 2], 'float32');
  const y1 = tf.tensor([0, 1, 1, 0], [1, 4], 'int32');
  const m1 = tf.tensor([1, 1, 0, 0], [1, 4], 'float32');
  const y2 = tf.tensor([1, 1, 0, 0], [1, 4], 'int32');
  const m2 = tf.tensor([0, 0, 1, 1], [1, 4], 'float32');
  const y = tf.tensor([0, 1, 0, 1], [1, 4], 'int32');
  return { logits, y1, m1, y2, m2, y, all: [logits, y1, m1, y2, m2, y] };
}

describe('docs/equations.md §4.10 worked values', () => {
  it('reproduces D, CE and mix_loss_sep to 1e-6', () => {
    const w = worked();
    expect(num(maskedDiceLoss(w.logits, w.y1, w.m1))).toBeCloseTo(0.195165170132, 6);
    expect(num(maskedDiceLoss(w.logits, w.y2, w.m2))).toBeCloseTo(0.763586457149, 6);
    expect(num(maskedCrossEntropy(w.logits, w.y1, w.m1))).toBeCloseTo(0.220094849281, 6);
    expect(num(maskedCrossEntropy(w.logits, w.y2, w.m2))).toBeCloseTo(1.410037595801, 6);
    expect(num(mixLoss(w.logits, w.y1, w.y2, w.m1, w.m2, 1, 0.5))).toBeCloseTo(0.751036022944, 6);
    expect(num(mixLoss(w.logits, w.y1, w.y2, w.m1, w.m2))).toBeCloseTo(0.751036022944, 6);
    tf.dispose(w.all);
  });

  it('reproduces the unmasked D, CE_mean and the pre-training form to 1e-6', () => {
    const w = worked();
    const d = num(maskedDiceLoss(w.logits, w.y));
    const ce = num(maskedCrossEntropy(w.logits, w.y));
    expect(d).toBeCloseTo(0.443714809596, 6);
    expect(ce).toBeCloseTo(0.815066222541, 6);
    expect(0.5 * (d + ce)).toBeCloseTo(0.629390516069, 6);
    tf.dispose(w.all);
  });
});

describe('maskedDiceLoss (E17) and maskedCrossEntropy (E18)', () => {
  it('match a float64 reference on random 3-D inputs, masked, shared-mask and unmasked', () => {
    const rng = new Rng(11);
    const logits = randomLogits(rng, [2, 3, 4, 2, 3]);
    const target = randomLabels(rng, [2, 3, 4, 2], 3);
    const mask = randomBinary(rng, [2, 3, 4, 2]);
    const shared = randomBinary(rng, [3, 4, 2]);
    const [l, t, m, s] = [logits, target, mask, shared].map((x) => x.dataSync());
    for (const [mk, md] of [
      [mask, m],
      [shared, s],
      [undefined, null],
    ] as const) {
      expect(num(maskedDiceLoss(logits, target, mk))).toBeCloseTo(refDice(l, t, md, 2, 3), 5);
      expect(num(maskedCrossEntropy(logits, target, mk))).toBeCloseTo(refCe(l, t, md, 2, 3), 5);
    }
    tf.dispose([logits, target, mask, shared]);
  });

  it('gives zero Dice and zero CE for an empty mask (cuboid ratio 1 → Ω_out empty)', () => {
    const rng = new Rng(3);
    const logits = randomLogits(rng, [2, 4, 4, 2]);
    const target = randomLabels(rng, [2, 4, 4], 2);
    const empty = tf.zeros([4, 4]);
    expect(num(maskedDiceLoss(logits, target, empty))).toBe(0);
    expect(num(maskedCrossEntropy(logits, target, empty))).toBe(0);
    tf.dispose([logits, target, empty]);
  });

  it('charges ≈ full loss for a class absent inside a non-empty mask (hand value)', () => {
    // Logits all 0 → p = 0.5; V = 4, target all background.
    const logits = tf.zeros([1, 4, 2]);
    const target = tf.zeros([1, 4], 'int32');
    // class 0: I = 2, U = 2 + 4 = 6; class 1: I = 0, U = 2.
    const expected = 1 - ((4 + 1e-5) / (6 + 1e-5) + 1e-5 / (2 + 1e-5)) / 2;
    expect(num(maskedDiceLoss(logits, target))).toBeCloseTo(expected, 6);
    expect(num(maskedCrossEntropy(logits, target))).toBeCloseTo(Math.log(2), 6);
    tf.dispose([logits, target]);
  });

  it('normalises the masked CE over the whole batch, not per sample', () => {
    // Sample 0: 1 masked voxel with ce = log 2; sample 1: 3 masked voxels with ce = log(1 + e^-2).
    const logits = tf.tensor([0, 0, 0, 0, 2, 0, 2, 0, 2, 0, 2, 0], [2, 3, 2]);
    const target = tf.zeros([2, 3], 'int32');
    const mask = tf.tensor([1, 0, 0, 1, 1, 1], [2, 3]);
    const ce2 = Math.log(1 + Math.exp(-2));
    expect(num(maskedCrossEntropy(logits, target, mask))).toBeCloseTo((Math.log(2) + 3 * ce2) / 4, 6);
    tf.dispose([logits, target, mask]);
  });

  it('rejects a float target and a mask of the wrong shape', () => {
    const logits = tf.zeros([1, 4, 2]);
    const target = tf.zeros([1, 4]);
    const itarget = tf.zeros([1, 4], 'int32');
    const badMask = tf.zeros([1, 3]);
    expect(() => maskedDiceLoss(logits, target)).toThrow(InputError);
    expect(() => maskedCrossEntropy(logits, itarget, badMask)).toThrow(/mask shape \[1, 3\]/);
    tf.dispose([logits, target, itarget, badMask]);
  });
});

describe('mixLoss (E19/E20)', () => {
  it('equals ½(w1·D1 + w2·D2 + w1·CE1 + w2·CE2), and E20 is the call with m2 = 1 − m1', () => {
    const rng = new Rng(5);
    const logits = randomLogits(rng, [2, 4, 3, 2]);
    const t1 = randomLabels(rng, [2, 4, 3], 2);
    const t2 = randomLabels(rng, [2, 4, 3], 2);
    const m1 = randomBinary(rng, [4, 3]);
    const m2 = complementMask(m1);
    const [l, a, b, ma, mb] = [logits, t1, t2, m1, m2].map((x) => x.dataSync());
    const expected =
      0.5 *
      (0.7 * refDice(l, a, ma, 2, 2) +
        0.3 * refDice(l, b, mb, 2, 2) +
        0.7 * refCe(l, a, ma, 2, 2) +
        0.3 * refCe(l, b, mb, 2, 2));
    expect(num(mixLoss(logits, t1, t2, m1, m2, 0.7, 0.3))).toBeCloseTo(expected, 5);
    tf.dispose([logits, t1, t2, m1, m2]);
  });
});

describe('2-D primitives (E28–E30)', () => {
  it('diceLoss2d matches the batch-global squared-denominator reference, masked and unmasked', () => {
    const rng = new Rng(21);
    const logits = randomLogits(rng, [3, 5, 4, 4]);
    const target = randomLabels(rng, [3, 5, 4], 4);
    const mask = randomBinary(rng, [5, 4]);
    const [l, t, m] = [logits, target, mask].map((x) => x.dataSync());
    expect(num(diceLoss2d(logits, target, mask))).toBeCloseTo(refDice2d(l, t, m, 3, 4), 5);
    expect(num(diceLoss2d(logits, target))).toBeCloseTo(refDice2d(l, t, null, 3, 4), 5);
    tf.dispose([logits, target, mask]);
  });

  it('diceLoss2d: an empty mask gives 0 (ratio 1 per class); an absent class with no prediction too', () => {
    const logits = tf.tensor([5, -5, 5, -5], [1, 2, 1, 2]); // p ≈ (1, 0)
    const target = tf.zeros([1, 2, 1], 'int32');
    const empty = tf.zeros([2, 1]);
    expect(num(diceLoss2d(logits, target, empty))).toBe(0);
    // Class 1 absent and p1 ≈ 4.5e-5: its term is 1 − 1e-10/(Σp1² + 1e-10) ≈ 1 (the 2-D Dice does not forgive it).
    const p1 = 1 / (1 + Math.exp(10));
    const c1 = 1 - 1e-10 / (2 * p1 * p1 + 1e-10);
    const p0 = 1 - p1;
    const c0 = 1 - (2 * 2 * p0 + 1e-10) / (2 * p0 * p0 + 2 + 1e-10);
    expect(num(diceLoss2d(logits, target))).toBeCloseTo((c0 + c1) / 2, 6);
    tf.dispose([logits, target, empty]);
  });

  it('mixLoss2d returns the weighted dice and ce sums; mixLoss2dTotal = ½(dice + ce)', () => {
    const rng = new Rng(8);
    const logits = randomLogits(rng, [2, 4, 4, 4]);
    const t1 = randomLabels(rng, [2, 4, 4], 4);
    const t2 = randomLabels(rng, [2, 4, 4], 4);
    const m1 = randomBinary(rng, [4, 4]);
    const m2 = complementMask(m1);
    const [l, a, b, ma, mb] = [logits, t1, t2, m1, m2].map((x) => x.dataSync());
    const dice = refDice2d(l, a, ma, 2, 4) + 0.5 * refDice2d(l, b, mb, 2, 4);
    const ce = refCe(l, a, ma, 2, 4) + 0.5 * refCe(l, b, mb, 2, 4);
    const r = mixLoss2d(logits, t1, t2, m1, m2);
    expect(num(r.dice)).toBeCloseTo(dice, 5);
    expect(num(r.ce)).toBeCloseTo(ce, 5);
    expect(num(mixLoss2dTotal(logits, t1, t2, m1, m2))).toBeCloseTo(0.5 * (dice + ce), 5);
    tf.dispose([logits, t1, t2, m1, m2]);
  });
});

describe('gradients with respect to the logits', () => {
  const rng = new Rng(99);
  const logits = randomLogits(rng, [2, 3, 2, 3], 1);
  const target = randomLabels(rng, [2, 3, 2], 3);
  const target2 = randomLabels(rng, [2, 3, 2], 3);
  const mask = randomBinary(rng, [2, 3, 2]);
  const cases: [string, (x: tf.Tensor) => tf.Scalar][] = [
    ['maskedDiceLoss', (x) => maskedDiceLoss(x, target, mask)],
    ['maskedDiceLoss unmasked', (x) => maskedDiceLoss(x, target)],
    ['maskedCrossEntropy', (x) => maskedCrossEntropy(x, target, mask)],
    ['mixLoss', (x) => tf.tidy(() => mixLoss(x, target, target2, mask, tf.sub(1, mask), 1, 0.5))],
    ['diceLoss2d', (x) => diceLoss2d(x, target, mask)],
    ['mixLoss2dTotal', (x) => tf.tidy(() => mixLoss2dTotal(x, target, target2, mask, tf.sub(1, mask)))],
  ];
  for (const [name, f] of cases) {
    it(`${name}: analytic gradient matches central finite differences (float32, eps 1e-2)`, () => {
      const g = tf.grad((x: tf.Tensor) => f(x))(logits);
      const analytic = g.dataSync();
      g.dispose();
      const numeric = finiteDifferences(f, logits, 1e-2);
      expect(relativeMaxError(numeric, analytic)).toBeLessThan(1e-2);
      expect(Math.max(...Array.from(analytic, Math.abs))).toBeGreaterThan(1e-4);
    });
  }
});

describe('memory', () => {
  it('every loss keeps tf.memory().numTensors flat across repeated calls', () => {
    const rng = new Rng(1);
    const logits = randomLogits(rng, [2, 3, 3, 2, 2]);
    const t1 = randomLabels(rng, [2, 3, 3, 2], 2);
    const t2 = randomLabels(rng, [2, 3, 3, 2], 2);
    const m1 = randomBinary(rng, [3, 3, 2]);
    const m2 = complementMask(m1);
    const run = () => {
      num(maskedDiceLoss(logits, t1, m1));
      num(maskedDiceLoss(logits, t1));
      num(maskedCrossEntropy(logits, t1, m1));
      num(maskedCrossEntropy(logits, t1));
      num(mixLoss(logits, t1, t2, m1, m2));
      num(diceLoss2d(logits, t1, m1));
      const r = mixLoss2d(logits, t1, t2, m1, m2);
      tf.dispose([r.dice, r.ce]);
      num(mixLoss2dTotal(logits, t1, t2, m1, m2));
      const g = tf.grad((x: tf.Tensor) => mixLoss(x, t1, t2, m1, m2))(logits);
      g.dispose();
    };
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([logits, t1, t2, m1, m2]);
  });
});

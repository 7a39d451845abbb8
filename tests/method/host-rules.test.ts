/**
 * On the cpu backend the hard predictions and the TRCM masks are computed on host values instead of with tensor
 * ops; these tests hold them bit for bit to the tensor formulation (tf.softmax → ≥ 0.5 / argMax, one-hot
 * equality products), on logits full of near-ties where float32 rounding decides the class.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import {
  classEquality,
  hardPredictions,
  hardPredictionValues,
  logSoftmaxLastAxis,
  softmaxLastAxis,
} from '../../src/method/predictions.js';
import { trcmMasks } from '../../src/method/trcm.js';
import { Rng } from '../../src/util/rng.js';

/** The tensor rule of `hardPredictions`, written out with tensor ops. */
function tensorRule(logits: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const k = logits.shape[logits.rank - 1];
    const p = tf.softmax(logits, -1);
    if (k > 2) return tf.argMax(p, -1);
    const p1 = tf.squeeze(
      tf.slice(p, [...new Array(logits.rank - 1).fill(0), 1], [...new Array(logits.rank - 1).fill(-1), 1]),
      [logits.rank - 1],
    );
    return tf.cast(tf.greaterEqual(p1, 0.5), 'int32');
  });
}

/** Logits drawn from a few values plus perturbations of a few ulps: many exact and rounded ties. */
function nearTieLogits(rng: Rng, rows: number, k: number): Float32Array {
  const base = [0, 0.5, -3, 17.25, 1e-6];
  const out = new Float32Array(rows * k);
  for (let i = 0; i < out.length; i++) {
    const b = base[rng.randint(0, base.length)];
    out[i] = rng.random() < 0.5 ? b : b + (rng.random() - 0.5) * 4e-7 * (1 + Math.abs(b));
  }
  out[3 * k] = Number.NaN; // a row with a NaN
  return out;
}

describe('host hard predictions', () => {
  for (const k of [2, 3, 5]) {
    it(`equal the tensor rule bit for bit (K = ${k}, near ties, a NaN)`, () => {
      const rng = new Rng(k);
      const values = nearTieLogits(rng, 4000, k);
      const logits = tf.tensor(values, [2, 40, 50, k]);
      const expected = tensorRule(logits);
      const got = hardPredictions(logits);
      expect(got.dtype).toBe('int32');
      expect(got.shape).toEqual([2, 40, 50]);
      expect(Array.from(got.dataSync())).toEqual(Array.from(expected.dataSync()));
      expect(Array.from(hardPredictionValues(values, k))).toEqual(Array.from(expected.dataSync()));
      tf.dispose([logits, expected, got]);
    });
  }
});

describe('host softmax and log-softmax', () => {
  const ops = [
    ['softmax', softmaxLastAxis, (t: tf.Tensor) => tf.softmax(t, -1)],
    ['logSoftmax', logSoftmaxLastAxis, (t: tf.Tensor) => tf.logSoftmax(t, -1)],
  ] as const;
  for (const [name, host, stockOp] of ops) {
    for (const k of [2, 3, 5]) {
      it(`${name} equals TF.js's bit for bit, values and gradient (K = ${k})`, () => {
        const rng = new Rng(20 + k);
        const values = nearTieLogits(rng, 3000, k);
        values[3 * k] = 0.25; // no NaN here: it would spread through the gradient sums
        const x = tf.tensor(values, [3, 1000, k]);
        const w = tf.tensor(
          Float32Array.from({ length: values.length }, () => rng.normal()),
          [3, 1000, k],
        );
        const loss = (fn: (t: tf.Tensor) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(fn(t), w));
        const before = tf.memory().numTensors;
        const ours = tf.valueAndGrad(loss((t) => host(t)))(x);
        const stock = tf.valueAndGrad(loss(stockOp))(x);
        tf.tidy(() => {
          expect(Array.from(host(x).dataSync())).toEqual(Array.from(stockOp(x).dataSync()));
        });
        expect(ours.value.dataSync()[0]).toBe(stock.value.dataSync()[0]);
        expect(Array.from(ours.grad.dataSync())).toEqual(Array.from(stock.grad.dataSync()));
        tf.dispose([ours.value, ours.grad, stock.value, stock.grad]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, w]);
      });
    }
  }
});

describe('host TRCM masks', () => {
  for (const [k, maskKind] of [
    [2, 'shared'],
    [3, 'per sample'],
    [2, 'fractional'],
  ] as const) {
    it(`equal the one-hot product formulation bit for bit (K = ${k}, ${maskKind} mask)`, () => {
      const rng = new Rng(40 + k);
      const n = 2;
      const s = [6, 5, 7];
      const v = s[0] * s[1] * s[2];
      const logit = () => tf.tensor(nearTieLogits(rng, n * v, k), [n, ...s, k]);
      const [oL, oU, oLL] = [logit(), logit(), logit()];
      const label = () =>
        tf.tensor(
          Int32Array.from({ length: n * v }, () => rng.randint(0, k)),
          [n, ...s],
          'int32',
        );
      const [ya, yb] = [label(), label()];
      const maskShape = maskKind === 'per sample' ? [n, ...s] : s;
      const size = maskShape.reduce((a, b) => a * b, 1);
      const maskValues = Float32Array.from({ length: size }, () =>
        maskKind === 'fractional' ? rng.random() : rng.randint(0, 2),
      );
      const mask = tf.tensor(maskValues, maskShape);
      const expected = tf.tidy(() => {
        const m = maskKind === 'per sample' ? mask : tf.reshape(mask, [1, ...s]);
        const inside = tf.sub(1, m);
        const [hL, hU, hLL] = [oL, oU, oLL].map(tensorRule);
        const aO = tf.mul(classEquality(hLL, ya, k), m);
        const aM = tf.mul(classEquality(hL, ya, k), m);
        const bO = tf.mul(classEquality(hLL, yb, k), inside);
        const bM = tf.mul(classEquality(hU, yb, k), inside);
        return [tf.mul(aM, aO), tf.mul(bM, bO)];
      });
      const got = trcmMasks(oL, oU, oLL, ya, yb, mask);
      expect(got.reliableA.shape).toEqual([n, ...s]);
      expect(Array.from(got.reliableA.dataSync())).toEqual(Array.from(expected[0].dataSync()));
      expect(Array.from(got.reliableB.dataSync())).toEqual(Array.from(expected[1].dataSync()));
      tf.dispose([oL, oU, oLL, ya, yb, mask, ...expected, got.reliableA, got.reliableB]);
    });
  }

  it('contribute no gradient and leave no tensors behind', () => {
    const rng = new Rng(9);
    const logits = tf.variable(tf.tensor(nearTieLogits(rng, 2 * 64, 2), [2, 4, 4, 4, 2]));
    const y = tf.tensor(
      Int32Array.from({ length: 128 }, () => rng.randint(0, 2)),
      [2, 4, 4, 4],
      'int32',
    );
    const mask = tf.tensor(
      Float32Array.from({ length: 64 }, () => rng.randint(0, 2)),
      [4, 4, 4],
    );
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => {
      const r = trcmMasks(logits, logits, logits, y, y, mask);
      return tf.add(tf.sum(tf.mul(logits, 0)), tf.add(tf.sum(r.reliableA), tf.sum(r.reliableB))) as tf.Scalar;
    }, [logits]);
    expect(Array.from(grads[logits.name].dataSync()).every((g) => g === 0)).toBe(true);
    tf.dispose([value, grads[logits.name]]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([logits, y, mask]);
  });
});

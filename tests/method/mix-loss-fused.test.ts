/**
 * The fused 3-D mix loss (E19) that `mixLoss` runs with the fast CPU kernels active, against the same loss built
 * from stock TF.js ops (`mixLossStockOps`): value and gradient with respect to the logits within relative error
 * 1e-5 over batch sizes, class counts, mask layouts, empty masks, weights and out-of-range targets; NaN logits give
 * NaN on both; no tensor leaks; the argument errors are those of the stock path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastKernelsActive, unregisterFastKernels } from '../../src/backend/kernels/index.js';
import { tf } from '../../src/backend/tf.js';
import { complementMask, mixLoss, mixLossStockOps } from '../../src/method/losses.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../helpers/compare.js';
import { activateSuiteFastKernels } from '../helpers/fast-kernels.js';
import { randomBinary, randomLabels, randomLogits } from './helpers.js';

let registeredHere = false;
beforeAll(async () => {
  registeredHere = await activateSuiteFastKernels();
});
afterAll(() => {
  if (registeredHere) unregisterFastKernels();
});

type Loss = typeof mixLoss;

interface Case {
  logits: tf.Tensor;
  t1: tf.Tensor;
  t2: tf.Tensor;
  m1: tf.Tensor;
  m2: tf.Tensor;
}

/** Value and gradient with respect to the logits of `loss` on a case (caller disposes). */
function valueAndGrad(loss: Loss, c: Case, w1: number, w2: number): { value: tf.Scalar; grad: tf.Tensor } {
  const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => loss(x, c.t1, c.t2, c.m1, c.m2, w1, w2))(
    c.logits,
  );
  return { value: value as tf.Scalar, grad };
}

/** Fused (`mixLoss` with the fast kernels) against stock: relative errors of value and gradient. */
function compare(c: Case, w1: number, w2: number): { value: number; grad: number; loss: number } {
  expect(fastKernelsActive()).toBe(true);
  const fused = valueAndGrad(mixLoss, c, w1, w2);
  const stock = valueAndGrad(mixLossStockOps, c, w1, w2);
  const out = {
    value: relErr(fused.value, stock.value),
    grad: relErr(fused.grad, stock.grad),
    loss: stock.value.dataSync()[0],
  };
  tf.dispose([fused.value, fused.grad, stock.value, stock.grad]);
  return out;
}

/** Sets a few target voxels outside [0, K−1] (K and −1). */
function withOutOfRange(target: tf.Tensor, k: number): tf.Tensor {
  const v = Int32Array.from(target.dataSync() as Int32Array);
  v[0] = k;
  v[Math.floor(v.length / 2)] = -1;
  v[v.length - 1] = k + 3;
  target.dispose();
  return tf.tensor(v, target.shape, 'int32');
}

/** A per-sample mask `[N, ...S]` with sample `empty` all zero. */
function maskWithEmptySample(rng: Rng, shape: number[], empty: number): tf.Tensor {
  const m = Float32Array.from(randomBinary(rng, shape).dataSync());
  const per = m.length / shape[0];
  m.fill(0, empty * per, (empty + 1) * per);
  return tf.tensor(m, shape, 'float32');
}

type MaskKind = 'sample' | 'shared' | 'sample-empty' | 'all-empty';

function makeCase(
  seed: number,
  n: number,
  spatial: number[],
  k: number,
  masks: MaskKind,
  complement: boolean,
  outOfRange: boolean,
): Case {
  const rng = new Rng(seed);
  const logits = randomLogits(rng, [n, ...spatial, k], 3);
  let t1 = randomLabels(rng, [n, ...spatial], k);
  const t2 = randomLabels(rng, [n, ...spatial], k);
  if (outOfRange) t1 = withOutOfRange(t1, k);
  const sampleShape = [n, ...spatial];
  const m1 =
    masks === 'shared'
      ? randomBinary(rng, spatial)
      : masks === 'sample'
        ? randomBinary(rng, sampleShape)
        : masks === 'sample-empty'
          ? maskWithEmptySample(rng, sampleShape, n - 1)
          : tf.zeros(sampleShape);
  const m2 = complement
    ? complementMask(m1)
    : randomBinary(rng, masks === 'shared' ? spatial : sampleShape, 0.3);
  return { logits, t1, t2, m1, m2 };
}

const disposeCase = (c: Case) => tf.dispose([c.logits, c.t1, c.t2, c.m1, c.m2]);

const WEIGHTS: ReadonlyArray<readonly [number, number]> = [
  [1, 0.5],
  [0.5, 1],
  [0.3, 0],
];

describe('mixLoss fused (fast kernels) against the stock ops', () => {
  const grid: Array<[number, number[], number, MaskKind, boolean]> = [
    [1, [3, 5, 7], 2, 'sample', true],
    [2, [5, 3, 3], 2, 'shared', true],
    [3, [3, 3, 5], 3, 'sample', false],
    [2, [7, 5, 3], 3, 'shared', false],
    [3, [5, 5, 3], 2, 'sample-empty', true],
    [2, [3, 5, 5], 3, 'sample-empty', false],
    [1, [5, 3, 7], 3, 'shared', true],
    [2, [3, 3, 3], 2, 'all-empty', false],
    [2, [5, 7], 3, 'sample', false],
  ];
  grid.forEach(([n, spatial, k, masks, complement], i) => {
    const title =
      `N=${n}, S=[${spatial}], K=${k}, ${masks} masks, ` + (complement ? 'm2 = 1 − m1' : 'independent m2');
    it(`${title}: value and gradient within 1e-5 for weights (1, 0.5), (0.5, 1), (0.3, 0)`, () => {
      const c = makeCase(100 + i, n, spatial, k, masks, complement, false);
      for (const [w1, w2] of WEIGHTS) {
        const r = compare(c, w1, w2);
        expect(Number.isFinite(r.loss)).toBe(true);
        expect(r.value, `value, weights (${w1}, ${w2})`).toBeLessThan(1e-5);
        expect(r.grad, `gradient, weights (${w1}, ${w2})`).toBeLessThan(1e-5);
      }
      disposeCase(c);
    });
  });

  it('a target with values outside [0, K−1] (an all-zero one-hot row) agrees, K = 2 and 3', () => {
    for (const k of [2, 3]) {
      for (const masks of ['sample', 'shared'] as const) {
        const c = makeCase(7 + k, 2, [3, 5, 3], k, masks, masks === 'shared', true);
        for (const [w1, w2] of WEIGHTS) {
          const r = compare(c, w1, w2);
          expect(r.value).toBeLessThan(1e-5);
          expect(r.grad).toBeLessThan(1e-5);
        }
        disposeCase(c);
      }
    }
  });

  it('a mask of another dtype (int32) is cast as the stock path casts it', () => {
    const c = makeCase(31, 2, [3, 3, 5], 2, 'sample', false, false);
    const m1 = tf.cast(c.m1, 'int32');
    const r = compare({ ...c, m1 }, 1, 0.5);
    expect(r.value).toBeLessThan(1e-5);
    expect(r.grad).toBeLessThan(1e-5);
    tf.dispose(m1);
    disposeCase(c);
  });

  it('runs as one op named MixLossFused (no one-hot, softmax or sum kernels)', async () => {
    const c = makeCase(41, 2, [3, 3, 3], 2, 'shared', true, false);
    const info = await tf.profile(() => {
      const { value, grad } = valueAndGrad(mixLoss, c, 1, 0.5);
      tf.dispose([value, grad]);
    });
    const names = info.kernels.map((kr) => kr.name);
    expect(names).toContain('MixLossFused');
    expect(names).not.toContain('OneHot');
    expect(names).not.toContain('Softmax');
    disposeCase(c);
  });

  it('NaN or ±∞ in the logits gives a NaN loss on both paths', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const c = makeCase(51, 2, [3, 3, 3], 2, 'sample', true, false);
      const v = Float32Array.from(c.logits.dataSync());
      v[5] = bad;
      const logits = tf.tensor(v, c.logits.shape, 'float32');
      for (const loss of [mixLoss, mixLossStockOps]) {
        const l = loss(logits, c.t1, c.t2, c.m1, c.m2, 1, 0.5);
        expect(Number.isNaN(l.dataSync()[0]), `${bad} in the logits`).toBe(true);
        l.dispose();
      }
      // Where the only bad voxel lies outside both masks too.
      const zero = tf.zerosLike(c.m1);
      const l = mixLoss(logits, c.t1, c.t2, zero, zero, 1, 0.5);
      expect(Number.isNaN(l.dataSync()[0])).toBe(true);
      tf.dispose([l, zero, logits]);
      disposeCase(c);
    }
  });

  it('keeps tf.memory().numTensors flat over repeated forward and backward calls', () => {
    const c = makeCase(61, 2, [3, 5, 3], 2, 'shared', false, false);
    const m2 = tf.cast(c.m2, 'int32'); // the cast path too
    const run = () => {
      tf.dispose(mixLoss(c.logits, c.t1, c.t2, c.m1, m2, 1, 0.5));
      const { value, grad } = valueAndGrad(mixLoss, { ...c, m2 }, 0.5, 1);
      tf.dispose([value, grad]);
      const v = tf.variable(c.logits);
      const { value: l, grads } = tf.variableGrads(() => mixLoss(tf.mul(v, 1), c.t1, c.t2, c.m1, m2), [v]);
      tf.dispose([l, ...Object.values(grads), v]);
    };
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(m2);
    disposeCase(c);
  });

  it('argument errors are the stock path’s: an InputError naming the argument', () => {
    const c = makeCase(71, 2, [3, 3, 3], 2, 'sample', true, false);
    const floatTarget = tf.cast(c.t1, 'float32');
    const rank2 = tf.zeros([2, 3]);
    const badMask = tf.zeros([2, 3]);
    const calls: Array<[string, (loss: Loss) => unknown, RegExp]> = [
      ['logits not a tensor', (f) => f(null as unknown as tf.Tensor, c.t1, c.t2, c.m1, c.m2), /logits/],
      ['weight2 not a number', (f) => f(c.logits, c.t1, c.t2, c.m1, c.m2, 1, Number('x')), /weight2/],
      ['logits of rank 2', (f) => f(rank2, c.t1, c.t2, c.m1, c.m2), /logits must be/],
      ['float target2', (f) => f(c.logits, c.t1, floatTarget, c.m1, c.m2), /target2.*int32/],
      [
        'target1 shape',
        (f) => f(c.logits, c.t1.reshape([2, 9, 3]), c.t2, c.m1, c.m2),
        /target1.*target shape/,
      ],
      ['mask2 shape', (f) => f(c.logits, c.t1, c.t2, c.m1, badMask), /mask2.*mask shape \[2, 3\]/],
      ['mask1 shape', (f) => f(c.logits, c.t1, c.t2, badMask, c.m2), /mask1.*mask shape \[2, 3\]/],
    ];
    for (const [what, call, pattern] of calls) {
      const messages = [mixLoss, mixLossStockOps].map((loss) => {
        const before = tf.memory().numTensors;
        let message = '';
        try {
          tf.tidy(() => {
            call(loss);
          });
        } catch (e) {
          expect(e, what).toBeInstanceOf(InputError);
          message = (e as Error).message;
        }
        expect(tf.memory().numTensors, what).toBe(before);
        return message;
      });
      expect(messages[0], what).toMatch(pattern);
      expect(messages[0], what).toBe(messages[1]);
    }
    tf.dispose([floatTarget, rank2, badMask]);
    disposeCase(c);
  });
});

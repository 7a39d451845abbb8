import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { cpamTrcmLoss } from '../../src/method/cpam-trcm-loss.js';
import { reliableFraction, trcmMasks } from '../../src/method/trcm.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { randomLabels, randomLogits } from './helpers.js';

/** Binary logits [1, V, 2] whose hard prediction is h (h=1 → (0,2), h=0 → (2,0)). */
const predLogits = (h: number[]) =>
  tf.tensor(
    h.flatMap((v) => (v ? [0, 2] : [2, 0])),
    [1, h.length, 2],
  );
const labels = (y: number[]) => tf.tensor(y, [1, y.length], 'int32');

describe('trcmMasks (E13–E16)', () => {
  it('matches the hand-worked masks on a 4-voxel example', () => {
    // M: voxels 0,1 outside (1), 2,3 inside (0).
    const mask = tf.tensor([1, 1, 0, 0], [4]);
    const ya = labels([1, 0, 1, 0]);
    const yb = labels([0, 1, 1, 0]);
    const oL = predLogits([1, 1, 0, 0]);
    const oU = predLogits([0, 0, 1, 1]);
    const oLL = predLogits([1, 0, 1, 1]);
    // a_o = 1[H_ll=Y_a]·M = [1,1,0,0]; a_m = 1[H_l=Y_a]·M = [1,0,0,0] → R_a = [1,0,0,0]
    // b_o = 1[H_ll=Y_b]·(1−M) = [0,0,1,0]; b_m = 1[H_u=Y_b]·(1−M) = [0,0,1,0] → R_b = [0,0,1,0]
    const r = trcmMasks(oL, oU, oLL, ya, yb, mask);
    expect(r.reliableA.dtype).toBe('float32');
    expect(Array.from(r.reliableA.dataSync())).toEqual([1, 0, 0, 0]);
    expect(Array.from(r.reliableB.dataSync())).toEqual([0, 0, 1, 0]);
    expect(reliableFraction(r, mask)).toEqual({ outside: 0.5, inside: 0.5, total: 0.5 });
    tf.dispose([mask, ya, yb, oL, oU, oLL, r.reliableA, r.reliableB]);
  });

  it('counts correctly predicted background as reliable and uses the ≥ 0.5 tie rule', () => {
    const mask = tf.tensor([1, 1], [2]);
    const ya = labels([0, 1]);
    const yb = labels([0, 0]);
    const tie = tf.tensor([0.3, 0.3, 2, 0], [1, 2, 2]); // voxel 0: tie → 1; voxel 1: → 0
    const r = trcmMasks(tie, tie, tie, ya, yb, mask);
    // H = [1, 0]; Y_a = [0, 1] → no voxel reliable.
    expect(Array.from(r.reliableA.dataSync())).toEqual([0, 0]);
    const ya2 = labels([1, 0]);
    const r2 = trcmMasks(tie, tie, tie, ya2, yb, mask);
    expect(Array.from(r2.reliableA.dataSync())).toEqual([1, 1]);
    expect(Array.from(r2.reliableB.dataSync())).toEqual([0, 0]); // Ω_in empty
    expect(reliableFraction(r2, mask)).toEqual({ outside: 1, inside: 0, total: 1 });
    tf.dispose([mask, ya, yb, tie, ya2, r.reliableA, r.reliableB, r2.reliableA, r2.reliableB]);
  });

  it('generalises to more classes with argmax and class-id equality; per-sample masks broadcast', () => {
    // 3 classes, N = 2, V = 2, shared mask [0, 1] → voxel 1 outside.
    const oneHotLogits = (h: number[]) =>
      tf.tensor(
        h.flatMap((c) => [0, 1, 2].map((k) => (k === c ? 3 : 0))),
        [2, 2, 3],
      );
    const mask = tf.tensor([0, 1], [2]);
    const ya = tf.tensor([2, 2, 1, 1], [2, 2], 'int32');
    const yb = tf.tensor([0, 0, 2, 2], [2, 2], 'int32');
    const oL = oneHotLogits([2, 2, 1, 0]);
    const oU = oneHotLogits([0, 1, 2, 2]);
    const oLL = oneHotLogits([0, 2, 2, 1]);
    const r = trcmMasks(oL, oU, oLL, ya, yb, mask);
    // Outside voxel 1: sample 0: H_l=2=Y_a, H_ll=2=Y_a → 1; sample 1: H_l=0≠1 → 0.
    expect(Array.from(r.reliableA.dataSync())).toEqual([0, 1, 0, 0]);
    // Inside voxel 0: sample 0: H_u=0=Y_b, H_ll=0=Y_b → 1; sample 1: H_u=2=Y_b, H_ll=2=Y_b → 1.
    expect(Array.from(r.reliableB.dataSync())).toEqual([1, 0, 1, 0]);
    tf.dispose([mask, ya, yb, oL, oU, oLL, r.reliableA, r.reliableB]);
  });

  it('contributes no gradient (and does not throw) inside a gradient closure', () => {
    const rng = new Rng(4);
    const x = randomLogits(rng, [2, 3, 3, 2]);
    const ya = randomLabels(rng, [2, 3, 3], 2);
    const yb = randomLabels(rng, [2, 3, 3], 2);
    const mask = tf.tensor([1, 1, 0, 1, 0, 0, 1, 1, 0], [3, 3]);
    const g = tf.grad((v: tf.Tensor) =>
      tf.tidy(() => {
        const r = trcmMasks(v, tf.mul(v, 2), tf.add(v, 0.1), ya, yb, mask);
        return tf.add(tf.sum(tf.mul(r.reliableA, 3)), tf.sum(r.reliableB)) as tf.Scalar;
      }),
    )(x);
    expect(Array.from(g.dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([x, ya, yb, mask, g]);
  });

  it('cpamTrcmLoss has the same gradient with TRCM computed inside as with constant precomputed masks', () => {
    const rng = new Rng(12);
    const shape = [2, 3, 2, 2, 2];
    const [oL, oU, oLL, oUU] = [0, 1, 2, 3].map(() => randomLogits(rng, shape));
    const [ya, yb, pa, pb] = [0, 1, 2, 3].map(() => randomLabels(rng, shape.slice(0, -1), 2));
    const mask = tf.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1], [3, 2, 2]);
    const fixed = trcmMasks(oL, oU, oLL, ya, yb, mask);
    const base = { labelA: ya, labelB: yb, pseudoA: pa, pseudoB: pb, mask, unlabeledWeight: 0.5 };
    const lossOf = (reliable: typeof fixed | undefined) => (l: tf.Tensor, u: tf.Tensor, ll: tf.Tensor) =>
      tf.tidy(
        () => cpamTrcmLoss({ ...base, logitsL: l, logitsU: u, logitsLL: ll, logitsUU: oUU, reliable }).total,
      );
    const gInside = tf.grads(lossOf(undefined))([oL, oU, oLL]);
    const gConst = tf.grads(lossOf(fixed))([oL, oU, oLL]);
    for (let i = 0; i < 3; i++) {
      const a = gInside[i].dataSync();
      const b = gConst[i].dataSync();
      // Identical up to the sign of zero (adding the zero TRCM gradient turns −0 into +0).
      expect(Array.from(a, (v) => v + 0)).toEqual(Array.from(b, (v) => v + 0));
      expect(Array.from(a).some((v) => v !== 0)).toBe(true);
    }
    tf.dispose([
      oL,
      oU,
      oLL,
      oUU,
      ya,
      yb,
      pa,
      pb,
      mask,
      fixed.reliableA,
      fixed.reliableB,
      ...gInside,
      ...gConst,
    ]);
  });

  it('rejects logits of different shapes and float labels', () => {
    const a = tf.zeros([1, 2, 2]);
    const b = tf.zeros([1, 3, 2]);
    const y = tf.zeros([1, 2], 'int32');
    const yf = tf.zeros([1, 2]);
    const m = tf.ones([2]);
    expect(() => trcmMasks(a, b, a, y, y, m)).toThrow(/logitsU shape/);
    expect(() => trcmMasks(a, a, a, yf, y, m)).toThrow(InputError);
    tf.dispose([a, b, y, yf, m]);
  });
});

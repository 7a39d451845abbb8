/**
 * cpam-loss.ts (bcpLoss, cpamLoss, E26), cpam-trcm-loss.ts (E21–E25) and pretrain-loss.ts (E27), 3-D and 2-D.
 * Every expected value is an independent float64 oracle on plain arrays (the primitives E17/E18/E28 of
 * ./helpers.ts, the mixes E19/E30 and the TRCM masks E13–E16 below), written from the equations, never from
 * src/method: a wrong mask, weight or term in a loss function cannot also be in its expected value.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { bcpLoss, bcpLoss2d, cpamLoss, cpamLoss2d } from '../../src/method/cpam-loss.js';
import { cpamTrcmLoss, cpamTrcmLoss2d } from '../../src/method/cpam-trcm-loss.js';
import { pretrainLoss, pretrainLoss2d } from '../../src/method/pretrain-loss.js';
import { Rng } from '../../src/util/rng.js';
import { randomLabels, randomLogits, refCe, refDice, refDice2d, refSoftmax } from './helpers.js';

type Arr = ArrayLike<number>;
const N = 2;
const SPATIAL = [3, 4, 2];

/** A cuboid mask M (E3: 0 inside the box, 1 outside), `[...S]`: the box starts at 1 and spans ⌊s/2⌋ (≥ 1). */
function boxMask(spatial: number[]): tf.Tensor {
  const size = spatial.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size).fill(1);
  for (let v = 0; v < size; v++) {
    let rem = v;
    let inside = true;
    for (let a = spatial.length - 1; a >= 0; a--) {
      const i = rem % spatial[a];
      rem = (rem - i) / spatial[a];
      if (i < 1 || i >= 1 + Math.max(1, Math.floor(spatial[a] / 2))) inside = false;
    }
    if (inside) data[v] = 0;
  }
  return tf.tensor(data, spatial, 'float32');
}

function setup(seed: number, k = 2, spatial = SPATIAL) {
  const rng = new Rng(seed);
  const shape = [N, ...spatial, k];
  const [oL, oU, oLL, oUU] = [0, 1, 2, 3].map(() => randomLogits(rng, shape));
  const [ya, yb, pa, pb] = [0, 1, 2, 3].map(() => randomLabels(rng, [N, ...spatial], k));
  const mask = boxMask(spatial);
  const all = [oL, oU, oLL, oUU, ya, yb, pa, pb, mask];
  const host = Object.fromEntries(
    Object.entries({ oL, oU, oLL, oUU, ya, yb, pa, pb, m: mask }).map(([n, t]) => [n, t.dataSync()]),
  ) as Record<string, Arr>;
  const inputs = {
    logitsL: oL,
    logitsU: oU,
    logitsLL: oLL,
    logitsUU: oUU,
    labelA: ya,
    labelB: yb,
    pseudoA: pa,
    pseudoB: pb,
    mask,
  };
  return { inputs, all, host, k };
}

/** Float64 E19 (or the 2-D ½(dice + ce) of E30) from flat host arrays; masks of length N·V. */
function refMix(o: Arr, t1: Arr, t2: Arr, m1: Arr, m2: Arr, w1: number, w2: number, k: number, twoD = false) {
  const dice = twoD ? refDice2d : refDice;
  return (
    0.5 *
    (w1 * dice(o, t1, m1, N, k) +
      w2 * dice(o, t2, m2, N, k) +
      w1 * refCe(o, t1, m1, N, k) +
      w2 * refCe(o, t2, m2, N, k))
  );
}

const perSample = (m: Arr) => Float64Array.from({ length: N * m.length }, (_, i) => m[i % m.length]);
const complement = (m: Arr) => Float64Array.from(m, (v) => 1 - v);

/** Float64 E13–E16 from host arrays (2 classes: p1 ≥ 0.5). */
function refReliable(h: Record<string, Arr>, k: number) {
  const hard = (o: Arr) => {
    const p = refSoftmax(o, k);
    return Int32Array.from({ length: o.length / k }, (_, i) => {
      if (k === 2) return p[i * 2 + 1] >= 0.5 ? 1 : 0;
      let best = 0;
      for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + best]) best = c;
      return best;
    });
  };
  const [hl, hu, hll] = [hard(h.oL), hard(h.oU), hard(h.oLL)];
  const m = perSample(h.m);
  const ra = Float64Array.from(m, (mv, i) => (hll[i] === h.ya[i] && hl[i] === h.ya[i] ? mv : 0));
  const rb = Float64Array.from(m, (mv, i) => (hll[i] === h.yb[i] && hu[i] === h.yb[i] ? 1 - mv : 0));
  return { ra, rb };
}

const num = (t: tf.Tensor) => t.dataSync()[0];

/** The four mix terms and their sum against the oracle, and (TRCM) the reliability masks used. */
function expectTerms(
  r: {
    l: tf.Tensor;
    u: tf.Tensor;
    ll: tf.Tensor;
    uu: tf.Tensor;
    total: tf.Tensor;
    reliableA?: tf.Tensor;
    reliableB?: tf.Tensor;
  },
  want: { l: number; u: number; ll: number; uu: number },
  reliable?: { a: Arr; b: Arr },
): void {
  expect(num(r.l)).toBeCloseTo(want.l, 5);
  expect(num(r.u)).toBeCloseTo(want.u, 5);
  expect(num(r.ll)).toBeCloseTo(want.ll, 5);
  expect(num(r.uu)).toBeCloseTo(want.uu, 5);
  expect(num(r.total)).toBeCloseTo(want.l + want.u + want.ll + want.uu, 5);
  if (reliable) {
    expect(Array.from(r.reliableA?.dataSync() ?? [])).toEqual(Array.from(reliable.a));
    expect(Array.from(r.reliableB?.dataSync() ?? [])).toEqual(Array.from(reliable.b));
  }
}

describe('cpamTrcmLoss (E21–E25)', () => {
  it('equals the sum of the four mix_loss_sep terms with the right masks (float64 reference)', () => {
    for (const u of [0.5, 0.3]) {
      const { inputs, all, host: h, k } = setup(31);
      const { ra, rb } = refReliable(h, k);
      expect(ra.some((v) => v === 1) && rb.some((v) => v === 1)).toBe(true);
      const m = perSample(h.m);
      const mi = complement(m);
      const l = refMix(h.oL, h.ya, h.pa, m, rb, 1, u, k);
      const uu0 = refMix(h.oU, h.yb, h.pb, mi, ra, 1, u, k);
      const ll = refMix(h.oLL, h.ya, h.yb, m, mi, 1, 1, k);
      const uu = refMix(h.oUU, h.pa, h.pb, ra, rb, u, u, k);
      const r = cpamTrcmLoss({ ...inputs, unlabeledWeight: u });
      expectTerms(r, { l: l, u: uu0, ll: ll, uu: uu }, { a: ra, b: rb });
      tf.dispose([...all, ...Object.values(r)]);
    }
  });

  it('uses given reliability masks (E21–E24 with R_a, R_b supplied) and returns copies of them', () => {
    const { inputs, all, host: h, k } = setup(5);
    // Any 0/1 maps will do: the loss must gate the pseudo-label terms with exactly these.
    const rng = new Rng(6);
    const nv = h.ya.length;
    const ra = Float64Array.from({ length: nv }, () => (rng.random() < 0.5 ? 1 : 0));
    const rb = Float64Array.from({ length: nv }, () => (rng.random() < 0.5 ? 1 : 0));
    const shape = [N, ...SPATIAL];
    const reliable = {
      reliableA: tf.tensor(Float32Array.from(ra), shape, 'float32'),
      reliableB: tf.tensor(Float32Array.from(rb), shape, 'float32'),
    };
    const m = perSample(h.m);
    const mi = complement(m);
    const l = refMix(h.oL, h.ya, h.pa, m, rb, 1, 0.5, k);
    const u = refMix(h.oU, h.yb, h.pb, mi, ra, 1, 0.5, k);
    const ll = refMix(h.oLL, h.ya, h.yb, m, mi, 1, 1, k);
    const uu = refMix(h.oUU, h.pa, h.pb, ra, rb, 0.5, 0.5, k);
    const r = cpamTrcmLoss({ ...inputs, reliable }); // default u = 0.5
    expectTerms(r, { l: l, u: u, ll: ll, uu: uu }, { a: ra, b: rb });
    tf.dispose(Object.values(r));
    expect(reliable.reliableA.isDisposed || reliable.reliableB.isDisposed).toBe(false);
    tf.dispose([...all, reliable.reliableA, reliable.reliableB]);
  });

  it('2-D port: the same terms with ½(dice + ce) of E30 (4 classes, argmax TRCM)', () => {
    const { inputs, all, host: h, k } = setup(19, 4, [4, 3]);
    const { ra, rb } = refReliable(h, k);
    expect(ra.some((v) => v === 1) && rb.some((v) => v === 1)).toBe(true);
    const m = perSample(h.m);
    const mi = complement(m);
    const l = refMix(h.oL, h.ya, h.pa, m, rb, 1, 0.5, k, true);
    const u = refMix(h.oU, h.yb, h.pb, mi, ra, 1, 0.5, k, true);
    const ll = refMix(h.oLL, h.ya, h.yb, m, mi, 1, 1, k, true);
    const uu = refMix(h.oUU, h.pa, h.pb, ra, rb, 0.5, 0.5, k, true);
    const r = cpamTrcmLoss2d(inputs);
    expectTerms(r, { l: l, u: u, ll: ll, uu: uu }, { a: ra, b: rb });
    tf.dispose([...all, ...Object.values(r)]);
  });
});

describe('cpamLoss (E26) and bcpLoss', () => {
  it('E26: L-U (1/u), U-L with the unlab weight swap (u on Ŷ_b outside, 1 on Y_b inside), L-L (1/1), U-U (u/u)', () => {
    const { inputs, all, host: h, k } = setup(77);
    const m = perSample(h.m);
    const mi = complement(m);
    const u = 0.4;
    const l = refMix(h.oL, h.ya, h.pa, m, mi, 1, u, k);
    const uTerm = refMix(h.oU, h.pb, h.yb, m, mi, u, 1, k);
    const ll = refMix(h.oLL, h.ya, h.yb, m, mi, 1, 1, k);
    const uu = refMix(h.oUU, h.pa, h.pb, m, mi, u, u, k);
    const r = cpamLoss({ ...inputs, unlabeledWeight: u });
    expectTerms(r, { l: l, u: uTerm, ll: ll, uu: uu });
    const b = bcpLoss({ ...inputs, unlabeledWeight: u });
    expect(num(b.total)).toBeCloseTo(l + uTerm, 5);
    expect(Object.keys(b).sort()).toEqual(['l', 'total', 'u']);
    tf.dispose([...all, ...Object.values(r), ...Object.values(b)]);
  });

  it('2-D forms use E28–E30', () => {
    const { inputs, all, host: h, k } = setup(78, 4, [4, 3]);
    const m = perSample(h.m);
    const mi = complement(m);
    const l = refMix(h.oL, h.ya, h.pa, m, mi, 1, 0.5, k, true);
    const u = refMix(h.oU, h.pb, h.yb, m, mi, 0.5, 1, k, true);
    const ll = refMix(h.oLL, h.ya, h.yb, m, mi, 1, 1, k, true);
    const uu = refMix(h.oUU, h.pa, h.pb, m, mi, 0.5, 0.5, k, true);
    const r = cpamLoss2d(inputs);
    const b = bcpLoss2d(inputs);
    expect(num(r.total)).toBeCloseTo(l + u + ll + uu, 5);
    expect(num(b.total)).toBeCloseTo(l + u, 5);
    tf.dispose([...all, ...Object.values(r), ...Object.values(b)]);
  });
});

describe('pretrainLoss (E27) and its 2-D form', () => {
  it('3-D: ½[CE_mean + unmasked Dice] on the mixed label M⊙Y_a + (1−M)⊙Y_b', () => {
    const { inputs, all, host: h, k } = setup(90);
    const m = perSample(h.m);
    const mixed = Int32Array.from(m, (mv, i) => (mv === 1 ? h.ya[i] : h.yb[i]));
    const dice = refDice(h.oL, mixed, null, N, k);
    const ce = refCe(h.oL, mixed, null, N, k);
    const r = pretrainLoss(inputs.logitsL, inputs.labelA, inputs.labelB, inputs.mask);
    expect(num(r.dice)).toBeCloseTo(dice, 5);
    expect(num(r.ce)).toBeCloseTo(ce, 5);
    expect(num(r.total)).toBeCloseTo(0.5 * (dice + ce), 5);
    tf.dispose([...all, ...Object.values(r)]);
  });

  it('2-D (BCP ACDC): ½(dice + ce) of E30 with both weights 1', () => {
    const { inputs, all, host: h, k } = setup(91, 4, [4, 3]);
    const m = perSample(h.m);
    const r = pretrainLoss2d(inputs.logitsL, inputs.labelA, inputs.labelB, inputs.mask);
    expect(num(r.total)).toBeCloseTo(refMix(h.oL, h.ya, h.yb, m, complement(m), 1, 1, k, true), 5);
    tf.dispose([...all, ...Object.values(r)]);
  });
});

describe('memory', () => {
  it('composite losses keep numTensors flat', () => {
    const { inputs, all } = setup(3);
    const run = () => {
      for (const r of [cpamTrcmLoss(inputs), cpamLoss(inputs), bcpLoss(inputs), cpamTrcmLoss2d(inputs)]) {
        tf.dispose(Object.values(r));
      }
      tf.dispose(Object.values(pretrainLoss(inputs.logitsL, inputs.labelA, inputs.labelB, inputs.mask)));
      tf.dispose(Object.values(pretrainLoss2d(inputs.logitsL, inputs.labelA, inputs.labelB, inputs.mask)));
    };
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(all);
  });
});

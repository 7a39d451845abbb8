import { describe, expect, it } from 'vitest';
import { upsampleBilinear2xFused } from '../../src/backend/kernels/index.js';
import { tf } from '../../src/backend/tf.js';
import {
  batchNorm,
  channelDropout,
  conv3d,
  elementDropout,
  type ForwardContext,
  upsampleBilinear2x,
} from '../../src/nn/layers.js';
import { type ParameterSpec, ParameterStore } from '../../src/nn/params.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

function bnStore(name: string, c: number, values: Record<string, number[]>): ParameterStore {
  const specs: ParameterSpec[] = [
    { key: 'bn.weight', shape: [c], role: 'bn_weight' },
    { key: 'bn.bias', shape: [c], role: 'bn_bias' },
    { key: 'bn.running_mean', shape: [c], role: 'running_mean' },
    { key: 'bn.running_var', shape: [c], role: 'running_var' },
  ];
  const init = new Map(Object.entries(values).map(([k, v]) => [k, Float32Array.from(v)]));
  return new ParameterStore(name, specs, new Rng(0), { values: init });
}

const ctx = (training: boolean, updateStats = true, seed = 1): ForwardContext => ({
  training,
  updateStats,
  rng: new Rng(seed),
});

describe('batchNorm', () => {
  // x: [N=2, X=2, Y=1, Z=1, C=2]; channel 0 holds 1, 2, 3, 6 and channel 1 holds −1, 0, 0, 5 (n = 4).
  const xData = [1, -1, 2, 0, 3, 0, 6, 5];
  const ch = [
    [1, 2, 3, 6],
    [-1, 0, 0, 5],
  ];

  it('train mode normalises with the biased batch variance and updates running stats with the unbiased one', () => {
    const store = bnStore('bn_train', 2, { 'bn.weight': [1, 2], 'bn.bias': [0, 1] });
    const x = tf.tensor(xData, [2, 2, 1, 1, 2]);
    const y = tf.tidy(() => batchNorm(x, store, 'bn', ctx(true)));
    const got = y.dataSync();
    const gamma = [1, 2];
    const beta = [0, 1];
    for (let c = 0; c < 2; c++) {
      const v = ch[c];
      const mean = v.reduce((a, b) => a + b) / 4;
      const biased = v.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
      v.forEach((value, i) => {
        const expected = (gamma[c] * (value - mean)) / Math.sqrt(biased + 1e-5) + beta[c];
        expect(got[i * 2 + c]).toBeCloseTo(expected, 5);
      });
    }
    // Channel 0: mean 3, biased var 3.5, unbiased 14/3 → running_mean 0.3, running_var 0.9 + 0.1·14/3.
    // Channel 1: mean 1, biased var 22/4, unbiased 22/3 → running_mean 0.1, running_var 0.9 + 2.2/3.
    const rm = store.get('bn.running_mean').dataSync();
    const rv = store.get('bn.running_var').dataSync();
    expect(rm[0]).toBeCloseTo(0.3, 6);
    expect(rm[1]).toBeCloseTo(0.1, 6);
    expect(rv[0]).toBeCloseTo(0.9 + 1.4 / 3, 6);
    expect(rv[1]).toBeCloseTo(0.9 + 2.2 / 3, 6);
    // updateStats: false leaves them alone.
    tf.tidy(() => {
      batchNorm(x, store, 'bn', ctx(true, false));
    });
    expect(store.get('bn.running_mean').dataSync()[0]).toBeCloseTo(0.3, 6);
    tf.dispose([x, y]);
    store.dispose();
  });

  it('eval mode uses the running statistics and changes nothing', () => {
    const store = bnStore('bn_eval', 2, {
      'bn.weight': [1, 2],
      'bn.bias': [0, 1],
      'bn.running_mean': [1, -1],
      'bn.running_var': [4, 0.25],
    });
    const x = tf.tensor(xData, [2, 2, 1, 1, 2]);
    const got = tf.tidy(() => batchNorm(x, store, 'bn', ctx(false)).dataSync());
    const rm = [1, -1];
    const rv = [4, 0.25];
    const gamma = [1, 2];
    const beta = [0, 1];
    xData.forEach((value, i) => {
      const c = i % 2;
      expect(got[i]).toBeCloseTo((gamma[c] * (value - rm[c])) / Math.sqrt(rv[c] + 1e-5) + beta[c], 5);
    });
    expect(Array.from(store.get('bn.running_var').dataSync())).toEqual([4, 0.25]);
    x.dispose();
    store.dispose();
  });

  it('train mode with one value per channel is refused (as PyTorch)', () => {
    const store = bnStore('bn_one', 2, {});
    const x = tf.ones([1, 1, 1, 1, 2]);
    expect(() => tf.tidy(() => batchNorm(x, store, 'bn', ctx(true)))).toThrow(InputError);
    expect(() => tf.tidy(() => batchNorm(x, store, 'bn', ctx(true)))).toThrow(/bn_one\/bn.*\[1,1,1,1,2\]/);
    x.dispose();
    store.dispose();
  });

  it('gradient of conv → train-mode BN matches central finite differences', () => {
    // Smooth loss Σ r·y + ½Σ y² (no ReLU kinks), n = 2·3·3·3 = 54 values per channel: well conditioned.
    const rng = new Rng(11);
    const specs: ParameterSpec[] = [
      { key: 'c.weight', shape: [3, 3, 3, 2, 3], role: 'weight', fanIn: 54 },
      { key: 'c.bias', shape: [3], role: 'bias', fanIn: 54 },
      { key: 'bn.weight', shape: [3], role: 'bn_weight' },
      { key: 'bn.bias', shape: [3], role: 'bn_bias' },
      { key: 'bn.running_mean', shape: [3], role: 'running_mean' },
      { key: 'bn.running_var', shape: [3], role: 'running_var' },
    ];
    const store = new ParameterStore('bn_grad', specs, rng, {
      values: new Map([
        ['bn.weight', Float32Array.of(1.5, 0.7, -1)],
        ['bn.bias', Float32Array.of(0.2, -0.3, 0.1)],
      ]),
    });
    const x = tf.tensor(
      Float32Array.from({ length: 2 * 27 * 2 }, () => rng.normal()),
      [2, 3, 3, 3, 2],
    );
    const rData = Float32Array.from({ length: 2 * 27 * 3 }, () => rng.normal());
    const r = tf.tensor(rData, [2, 3, 3, 3, 3]);
    const forward = () =>
      batchNorm(conv3d(x as tf.Tensor5D, store, 'c', 1, 'same'), store, 'bn', ctx(true, false));
    const lossFn = () =>
      tf.tidy(
        () => tf.add(tf.sum(tf.mul(forward(), r)), tf.mul(tf.sum(tf.square(forward())), 0.5)) as tf.Scalar,
      );
    const loss64 = (): number => {
      const y = tf.tidy(forward);
      const d = y.dataSync();
      y.dispose();
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i] * rData[i] + 0.5 * d[i] * d[i];
      return s;
    };
    const params = store.namedParameters();
    const { value, grads } = tf.variableGrads(lossFn, [...params.values()]);
    const h = 1e-2;
    let checked = 0;
    for (const [key, v] of params) {
      const g = grads[v.name]?.dataSync();
      const base = v.dataSync().slice();
      const idxs = key === 'c.weight' ? [0, 17, 40, 99, 161] : [0, 1, 2];
      for (const i of idxs) {
        const plus = base.slice();
        plus[i] += h;
        v.assign(tf.tensor(plus, v.shape));
        const lp = loss64();
        const minus = base.slice();
        minus[i] -= h;
        v.assign(tf.tensor(minus, v.shape));
        const lm = loss64();
        v.assign(tf.tensor(base, v.shape));
        const fd = (lp - lm) / (2 * h);
        const an = g === undefined ? 0 : g[i];
        // The conv bias cancels in BN: its gradient must be ~0 both ways.
        expect(Math.abs(fd - an)).toBeLessThanOrEqual(5e-3 * Math.max(1, Math.abs(an)));
        checked++;
      }
    }
    expect(checked).toBe(5 + 3 * 3);
    tf.dispose([value, x, r, ...Object.values(grads).filter((t): t is tf.Tensor => t != null)]);
    store.dispose();
  });
});

describe('dropout', () => {
  it('Dropout3d zeroes whole (sample, channel) maps and scales survivors by 1/(1−p) = 2', () => {
    const x = tf.ones([2, 3, 3, 3, 8]);
    const y = tf.tidy(() => channelDropout(x, 0.5, ctx(true, true, 42)));
    const d = y.dataSync();
    // Expected mask: one draw per (n, c) in that order, dropped when u < p.
    const rng = new Rng(42);
    const keep = Array.from({ length: 16 }, () => rng.nextUint32() / 4294967296 >= 0.5);
    expect(keep.some((k) => k)).toBe(true);
    expect(keep.some((k) => !k)).toBe(true);
    for (let i = 0; i < d.length; i++) {
      const n = Math.floor(i / (27 * 8));
      const c = i % 8;
      expect(d[i]).toBe(keep[n * 8 + c] ? 2 : 0);
    }
    // Eval mode and p = 0 are the identity.
    expect(tf.tidy(() => channelDropout(x, 0.5, ctx(false)).dataSync())).toEqual(x.dataSync());
    tf.dispose([x, y]);
  });

  it('element-wise dropout is deterministic per rng and scales by 1/(1−p)', () => {
    const x = tf.ones([1, 8, 8, 4]);
    const a = tf.tidy(() => Array.from(elementDropout(x, 0.25, ctx(true, true, 7)).dataSync()));
    const b = tf.tidy(() => Array.from(elementDropout(x, 0.25, ctx(true, true, 7)).dataSync()));
    const c = tf.tidy(() => Array.from(elementDropout(x, 0.25, ctx(true, true, 8)).dataSync()));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a.map((v) => Math.fround(v)))).toEqual(new Set([0, Math.fround(1 / 0.75)]));
    x.dispose();
  });
});

describe('upsampleBilinear2x (align_corners=True)', () => {
  /** Interpolation matrix of align_corners=True resizing n → 2n: row o samples o·(n−1)/(2n−1). */
  function interp(n: number): number[][] {
    const m = 2 * n;
    return Array.from({ length: m }, (_, o) => {
      const row = new Array<number>(n).fill(0);
      const src = n === 1 ? 0 : (o * (n - 1)) / (m - 1);
      const i0 = Math.min(Math.floor(src), n - 1);
      const i1 = Math.min(i0 + 1, n - 1);
      const w = src - i0;
      row[i0] += 1 - w;
      row[i1] += w;
      return row;
    });
  }

  it.each([
    [1, 1, 1, 3],
    [2, 5, 3, 4],
    [1, 8, 8, 16],
    [1, 17, 6, 2],
  ])(
    'forward and its own gradient equal Ax·Bᵀ and Aᵀr·B to 1e-5 for x [%i, %i, %i, %i], no tensor kept',
    (N, H, W, C) => {
      const rng = new Rng(H * 31 + W);
      const xd = Float32Array.from({ length: N * H * W * C }, () => rng.normal());
      const rd = Float32Array.from({ length: N * 4 * H * W * C }, () => rng.normal());
      const A = interp(H);
      const B = interp(W);
      const at = (n: number, i: number, j: number, c: number) => ((n * H + i) * W + j) * C + c;
      const atUp = (n: number, i: number, j: number, c: number) => ((n * 2 * H + i) * 2 * W + j) * C + c;
      // The layer (fused with the fast kernels active, standard ops otherwise; the suite runs both ways) and
      // the fused op called directly.
      const results = [upsampleBilinear2x, upsampleBilinear2xFused].map((up) => {
        const before = tf.memory().numTensors;
        const out = tf.tidy(() => {
          const x = tf.tensor4d(xd, [N, H, W, C]);
          const r = tf.tensor(rd, [N, 2 * H, 2 * W, C]);
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(up(t as tf.Tensor4D), r)))(x);
          return [up(x).dataSync(), g.dataSync()];
        });
        expect(tf.memory().numTensors).toBe(before);
        return out;
      });
      const yRef = new Float64Array(N * 4 * H * W * C);
      const dxRef = new Float64Array(N * H * W * C);
      for (let n = 0; n < N; n++)
        for (let c = 0; c < C; c++)
          for (let o = 0; o < 2 * H; o++)
            for (let p = 0; p < 2 * W; p++)
              for (let i = 0; i < H; i++)
                for (let j = 0; j < W; j++) {
                  const a = A[o][i] * B[p][j];
                  yRef[atUp(n, o, p, c)] += a * xd[at(n, i, j, c)];
                  dxRef[at(n, i, j, c)] += a * rd[atUp(n, o, p, c)];
                }
      const rel = (got: ArrayLike<number>, ref: Float64Array) => {
        let diff = 0;
        let scale = 0;
        for (let i = 0; i < ref.length; i++) {
          diff = Math.max(diff, Math.abs(got[i] - ref[i]));
          scale = Math.max(scale, Math.abs(ref[i]));
        }
        return diff / scale;
      };
      for (const [y, dx] of results) {
        expect(rel(y, yRef)).toBeLessThanOrEqual(1e-5);
        expect(rel(dx, dxRef)).toBeLessThanOrEqual(1e-5);
      }
    },
  );

  it('matches the interpolation-matrix form (forward and gradient)', () => {
    const [N, H, W, C] = [2, 3, 4, 2];
    const rng = new Rng(3);
    const xd = Float32Array.from({ length: N * H * W * C }, () => rng.normal());
    const rd = Float32Array.from({ length: N * 2 * H * 2 * W * C }, () => rng.normal());
    const A = interp(H);
    const B = interp(W);
    const at = (n: number, i: number, j: number, c: number) => ((n * H + i) * W + j) * C + c;
    const atUp = (n: number, i: number, j: number, c: number) => ((n * 2 * H + i) * 2 * W + j) * C + c;
    const x = tf.tensor4d(xd, [N, H, W, C]);
    const y = tf.tidy(() => upsampleBilinear2x(x).dataSync());
    const dx = tf.tidy(() =>
      tf
        .grad((t: tf.Tensor) =>
          tf.sum(tf.mul(upsampleBilinear2x(t as tf.Tensor4D), tf.tensor(rd, [N, 2 * H, 2 * W, C]))),
        )(x)
        .dataSync(),
    );
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) {
        for (let o = 0; o < 2 * H; o++)
          for (let p = 0; p < 2 * W; p++) {
            let s = 0;
            for (let i = 0; i < H; i++)
              for (let j = 0; j < W; j++) s += A[o][i] * B[p][j] * xd[at(n, i, j, c)];
            expect(y[atUp(n, o, p, c)]).toBeCloseTo(s, 5);
          }
        // d/dx Σ r·(A x Bᵀ) = Aᵀ r B.
        for (let i = 0; i < H; i++)
          for (let j = 0; j < W; j++) {
            let s = 0;
            for (let o = 0; o < 2 * H; o++)
              for (let p = 0; p < 2 * W; p++) s += A[o][i] * B[p][j] * rd[atUp(n, o, p, c)];
            expect(dx[at(n, i, j, c)]).toBeCloseTo(s, 4);
          }
      }
    x.dispose();
  });
});

/**
 * The 3-D mix loss (E19, `mixLoss`) as one op with a hand-written gradient (`tf.customGrad`), used by `mixLoss`
 * when the fast CPU kernels are active. Written with stock ops it runs about 25 small full-size kernels forward
 * (one-hot, products, sums, softmax, log-softmax, broadcasts) and more backward, four times per copy-paste step;
 * here it is one pass over the `[N, V, K]` logits forward and one backward, with float64 sums.
 *
 * Per term (target t, mask m, weight w; p = softmax of the logits over K, stably with the row maximum
 * subtracted): I_nc = Σ_v p·m·[t = c], U_nc = Σ_v p·m + Σ_v m·[t = c], D = 1 − mean_nc (2I + ε)/(U + ε),
 * CE = Σ_nv m·(−log p_t) / (Σ_nv m + ε_ce); loss = ½·Σ_terms w·(D + CE). A target outside [0, K−1] is an all-zero
 * one-hot row, as `tf.oneHot` makes it: it adds nothing to I, to the counts or to CE (but its m·p still counts
 * in U).
 *
 * Gradient with respect to the logits only (targets and masks are constants of the step: not inputs of the op,
 * which keeps them for its backward pass with `save`): with g_nvc = ½·Σ_terms w·m_nv·(A_nc·[t_nv = c] + B_nc), A = −2/((U + ε)·N·K) and
 * B = (2I + ε)/((U + ε)²·N·K) the Dice part is p·(g − Σ_k p_k·g_k) (the softmax's Jacobian), and the CE part is
 * ½·Σ_terms w·m_nv/(Σm + ε_ce)·(p_nvc − [t_nv = c]) for a target in range and 0 for one outside.
 *
 * Non-finite logits: the stock ops give a NaN loss for any NaN or ±∞ logit (a −∞ log-probability times a zero
 * one-hot entry is NaN), and so does this op.
 */
import { transientHostValues } from '../backend/host.js';
import { takeFloat32 } from '../backend/kernels/array-pool.js';
import { inOpScope } from '../backend/kernels/op-scope.js';
import { tf } from '../backend/tf.js';

/** One target of the mix loss: where it counts and with what weight. */
export interface FusedMixTerm {
  /** int32 `[N, ...S]` class ids. */
  target: tf.Tensor;
  /** float32 `[N, ...S]` (per sample) or `[...S]` (shared by the batch). */
  mask: tf.Tensor;
  weight: number;
}

/** The smoothing constants of the two losses (their one home is `losses.ts`). */
export interface FusedMixConstants {
  /** ε of the Dice ratio (E17). */
  diceSmooth: number;
  /** Added to the mask sum of the cross-entropy (E18). */
  ceEps: number;
}

/** One term's host data: int32 targets `[N·V]`, mask values and the mask's stride per sample (V, or 0 shared). */
interface TermData {
  t: Int32Array;
  m: Float32Array;
  stride: number;
}

/** The sums of one term per (sample, class), index n·K + c, and over the whole batch. */
interface TermSums {
  /** Σ_v p·m. */
  sumP: Float64Array;
  /** Σ_v p·m·[t = c]. */
  inter: Float64Array;
  /** Σ_v m·[t = c]. */
  count: Float64Array;
  /** Σ_nv m·(−log p_t) over the voxels with t in range. */
  ce: number;
  /** Σ_nv m. */
  maskSum: number;
}

/** What the backward pass needs of one term: index n·K + c. */
interface TermCoefficients {
  /** −2/((U + ε)·N·K). */
  a: Float64Array;
  /** (2I + ε)/((U + ε)²·N·K). */
  b: Float64Array;
  /** 1/(Σm + ε_ce). */
  ceScale: number;
  /** ½·w. */
  half: number;
}

const newSums = (nk: number): TermSums => ({
  sumP: new Float64Array(nk),
  inter: new Float64Array(nk),
  count: new Float64Array(nk),
  ce: 0,
  maskSum: 0,
});

/**
 * p (into `p`, float64) of the `k` logits at `o`, as the stable softmax takes it: the row maximum (a NaN wins)
 * subtracted, exp, divided by the sum. Returns log Σ exp(x − max) + max, so that −log p_c = that − x_c.
 */
function softmaxRow(x: Float32Array, o: number, k: number, p: Float64Array): number {
  let max = x[o];
  for (let c = 1; c < k; c++) {
    const v = x[o + c];
    if (Number.isNaN(v) || v > max) max = v;
  }
  let sum = 0;
  for (let c = 0; c < k; c++) {
    const e = Math.exp(x[o + c] - max);
    p[c] = e;
    sum += e;
  }
  for (let c = 0; c < k; c++) p[c] /= sum;
  return Math.log(sum) + max;
}

/** The forward sums of both terms, and whether every logit was finite. */
interface ForwardSums {
  terms: TermSums[];
  finite: boolean;
}

/** The forward sums of both terms for any K (one softmax per voxel). */
function forwardSums(
  x: Float32Array,
  n: number,
  v: number,
  k: number,
  terms: readonly TermData[],
): ForwardSums {
  const out = terms.map(() => newSums(n * k));
  const p = new Float64Array(k);
  // Σ of every logit: non-finite exactly when some logit is NaN or ±∞ (float32 values cannot overflow it).
  let logitSum = 0;
  for (let s = 0; s < n; s++) {
    const base = s * k;
    for (let i = 0; i < v; i++) {
      const row = s * v + i;
      const o = row * k;
      const logSum = softmaxRow(x, o, k, p);
      for (let c = 0; c < k; c++) logitSum += x[o + c];
      for (let j = 0; j < terms.length; j++) {
        const { t: tv, m: mv, stride } = terms[j];
        const acc = out[j];
        const m = mv[s * stride + i];
        const t = tv[row];
        for (let c = 0; c < k; c++) acc.sumP[base + c] += p[c] * m;
        acc.maskSum += m;
        if (t >= 0 && t < k) {
          acc.inter[base + t] += p[t] * m;
          acc.count[base + t] += m;
          acc.ce += m * (logSum - x[o + t]);
        } else acc.ce += m * 0; // a zero one-hot row: 0, or NaN for a NaN mask, as the product gives
      }
    }
  }
  return { terms: out, finite: Number.isFinite(logitSum) };
}

/**
 * The forward sums for K = 2, where the softmax is a logistic function of d = x1 − x0: with e = exp(−|d|) the
 * larger class has p = 1/(1 + e) and −log p = log1p(e), the other p = e/(1 + e) and −log p = |d| + log1p(e). One
 * exp per voxel, one log1p where a mask counts. Σ|d| is non-finite exactly when some logit is NaN or ±∞.
 */
function forwardSums2(
  x: Float32Array,
  n: number,
  v: number,
  terms: readonly [TermData, TermData],
): ForwardSums {
  const out = [newSums(2 * n), newSums(2 * n)];
  let check = 0;
  const [{ t: t1, m: m1v, stride: s1 }, { t: t2, m: m2v, stride: s2 }] = terms;
  let ce1 = 0;
  let ce2 = 0;
  let ms1 = 0;
  let ms2 = 0;
  for (let s = 0; s < n; s++) {
    let sp10 = 0;
    let sp11 = 0;
    let in10 = 0;
    let in11 = 0;
    let ct10 = 0;
    let ct11 = 0;
    let sp20 = 0;
    let sp21 = 0;
    let in20 = 0;
    let in21 = 0;
    let ct20 = 0;
    let ct21 = 0;
    const o1 = s * s1;
    const o2 = s * s2;
    for (let i = 0; i < v; i++) {
      const row = s * v + i;
      const d = x[2 * row + 1] - x[2 * row];
      const ad = Math.abs(d);
      check += ad;
      const e = Math.exp(-ad);
      const big = 1 / (1 + e);
      const small = e * big;
      // A NaN d (a NaN logit) makes every p NaN, as in the stock softmax.
      const one = d > 0 || Number.isNaN(d);
      const p0 = one ? small : big;
      const p1 = one ? big : small;
      let l = -1; // log1p(e), computed at first need
      const ma = m1v[o1 + i];
      const ta = t1[row];
      sp10 += p0 * ma;
      sp11 += p1 * ma;
      ms1 += ma;
      if (ta === 0) {
        in10 += p0 * ma;
        ct10 += ma;
      } else if (ta === 1) {
        in11 += p1 * ma;
        ct11 += ma;
      }
      if (ma !== 0) {
        if (ta === 0 || ta === 1) {
          l = Math.log1p(e);
          ce1 += ma * ((ta === 1) === one ? l : ad + l);
        } else ce1 += ma * 0;
      }
      const mb = m2v[o2 + i];
      const tb = t2[row];
      sp20 += p0 * mb;
      sp21 += p1 * mb;
      ms2 += mb;
      if (tb === 0) {
        in20 += p0 * mb;
        ct20 += mb;
      } else if (tb === 1) {
        in21 += p1 * mb;
        ct21 += mb;
      }
      if (mb !== 0) {
        if (tb === 0 || tb === 1) {
          if (l < 0) l = Math.log1p(e);
          ce2 += mb * ((tb === 1) === one ? l : ad + l);
        } else ce2 += mb * 0;
      }
    }
    const [a, b] = out;
    a.sumP[2 * s] = sp10;
    a.sumP[2 * s + 1] = sp11;
    a.inter[2 * s] = in10;
    a.inter[2 * s + 1] = in11;
    a.count[2 * s] = ct10;
    a.count[2 * s + 1] = ct11;
    b.sumP[2 * s] = sp20;
    b.sumP[2 * s + 1] = sp21;
    b.inter[2 * s] = in20;
    b.inter[2 * s + 1] = in21;
    b.count[2 * s] = ct20;
    b.count[2 * s + 1] = ct21;
  }
  out[0].ce = ce1;
  out[1].ce = ce2;
  out[0].maskSum = ms1;
  out[1].maskSum = ms2;
  return { terms: out, finite: Number.isFinite(check) };
}

/** dz (times `scale`) for any K: the softmax Jacobian applied to the Dice part, plus the CE part. */
function backwardValues(
  x: Float32Array,
  n: number,
  v: number,
  k: number,
  terms: readonly TermData[],
  coefficients: readonly TermCoefficients[],
  scale: number,
): Float32Array {
  const dx = takeFloat32(x.length);
  const p = new Float64Array(k);
  const g = new Float64Array(k);
  const q = new Float64Array(k);
  for (let s = 0; s < n; s++) {
    const base = s * k;
    for (let i = 0; i < v; i++) {
      const row = s * v + i;
      const o = row * k;
      softmaxRow(x, o, k, p);
      g.fill(0);
      q.fill(0);
      for (let j = 0; j < terms.length; j++) {
        const { t: tv, m: mv, stride } = terms[j];
        const cf = coefficients[j];
        const hm = cf.half * mv[s * stride + i];
        const t = tv[row];
        for (let c = 0; c < k; c++) g[c] += hm * cf.b[base + c];
        if (t >= 0 && t < k) {
          g[t] += hm * cf.a[base + t];
          // CE: hm/(Σm + ε)·(p − onehot).
          const f = hm * cf.ceScale;
          for (let c = 0; c < k; c++) q[c] += f * p[c];
          q[t] -= f;
        }
      }
      let pg = 0;
      for (let c = 0; c < k; c++) pg += p[c] * g[c];
      for (let c = 0; c < k; c++) dx[o + c] = scale * (p[c] * (g[c] - pg) + q[c]);
    }
  }
  return dx;
}

/**
 * dz (times `scale`) for K = 2: dz0 = p0·p1·(g0 − g1) + q0 and dz1 = −dz0 (each row of the softmax Jacobian
 * and each p − onehot sums to zero).
 */
function backwardValues2(
  x: Float32Array,
  n: number,
  v: number,
  terms: readonly [TermData, TermData],
  coefficients: readonly TermCoefficients[],
  scale: number,
): Float32Array {
  const dx = takeFloat32(x.length);
  const [{ t: t1, m: m1v, stride: s1 }, { t: t2, m: m2v, stride: s2 }] = terms;
  const [c1, c2] = coefficients;
  const f1 = c1.half * c1.ceScale;
  const f2 = c2.half * c2.ceScale;
  for (let s = 0; s < n; s++) {
    const db1 = c1.b[2 * s] - c1.b[2 * s + 1];
    const db2 = c2.b[2 * s] - c2.b[2 * s + 1];
    const a10 = c1.a[2 * s];
    const a11 = c1.a[2 * s + 1];
    const a20 = c2.a[2 * s];
    const a21 = c2.a[2 * s + 1];
    const o1 = s * s1;
    const o2 = s * s2;
    for (let i = 0; i < v; i++) {
      const row = s * v + i;
      const d = x[2 * row + 1] - x[2 * row];
      const e = Math.exp(-Math.abs(d));
      const big = 1 / (1 + e);
      const small = e * big;
      const one = d > 0 || Number.isNaN(d);
      const p0 = one ? small : big;
      const ma = m1v[o1 + i];
      const mb = m2v[o2 + i];
      const ta = t1[row];
      const tb = t2[row];
      const ha = c1.half * ma;
      const hb = c2.half * mb;
      let gd = ha * db1 + hb * db2; // g0 − g1
      let q0 = 0;
      if (ta === 0) {
        gd += ha * a10;
        q0 += f1 * ma * (p0 - 1);
      } else if (ta === 1) {
        gd -= ha * a11;
        q0 += f1 * ma * p0;
      }
      if (tb === 0) {
        gd += hb * a20;
        q0 += f2 * mb * (p0 - 1);
      } else if (tb === 1) {
        gd -= hb * a21;
        q0 += f2 * mb * p0;
      }
      const dz0 = scale * (p0 * (one ? big : small) * gd + q0);
      dx[2 * row] = dz0;
      dx[2 * row + 1] = -dz0;
    }
  }
  return dx;
}

/** The int32 host values of a target (the cpu backend's own array, not copied). */
function targetValues(t: tf.Tensor): Int32Array {
  return t.dataSync() as Int32Array;
}

/**
 * E19 as one op: ½·Σ_terms w·(D + CE) of `logits` `[N, ...S, K]` (float32, host values) against the two terms,
 * with the gradient with respect to the logits written by hand (none for the targets and masks). The caller has
 * checked the shapes (targets int32 `[N, ...S]`, masks float32 `[N, ...S]` or `[...S]`); the scalar is the
 * caller's.
 *
 * @param logits - float32 `[N, ...S, K]`.
 * @param terms - the two terms (target, mask, weight) of the loss.
 * @param constants - the Dice smoothing and the cross-entropy's mask epsilon.
 * @returns the float32 scalar loss, differentiable with respect to `logits`.
 */
export function mixLossFused(
  logits: tf.Tensor,
  terms: readonly [FusedMixTerm, FusedMixTerm],
  constants: FusedMixConstants,
): tf.Scalar {
  const k = logits.shape[logits.rank - 1];
  const n = logits.shape[0];
  const v = logits.size / (n * k);
  const { diceSmooth: eps, ceEps } = constants;
  const nk = n * k;
  const strides = terms.map((t) => (t.mask.size === n * v ? v : 0));
  const hostTerms = (targets: tf.Tensor[], masks: tf.Tensor[]): [TermData, TermData] => [
    { t: targetValues(targets[0]), m: transientHostValues(masks[0]), stride: strides[0] },
    { t: targetValues(targets[1]), m: transientHostValues(masks[1]), stride: strides[1] },
  ];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const xv = transientHostValues(x);
    const data = hostTerms(
      terms.map((t) => t.target),
      terms.map((t) => t.mask),
    );
    const sums = k === 2 ? forwardSums2(xv, n, v, data) : forwardSums(xv, n, v, k, data);
    let loss = 0;
    const coefficients: TermCoefficients[] = [];
    for (let j = 0; j < 2; j++) {
      const { sumP, inter, count, ce, maskSum } = sums.terms[j];
      const a = new Float64Array(nk);
      const b = new Float64Array(nk);
      let ratioSum = 0;
      for (let q = 0; q < nk; q++) {
        const den = sumP[q] + count[q] + eps;
        const num = 2 * inter[q] + eps;
        ratioSum += num / den;
        a[q] = -2 / (den * nk);
        b[q] = num / (den * den * nk);
      }
      const dice = 1 - ratioSum / nk;
      const ceScale = 1 / (maskSum + ceEps);
      const w = terms[j].weight;
      loss += w * dice + w * (ce * ceScale);
      coefficients.push({ a, b, ceScale, half: 0.5 * w });
    }
    loss *= 0.5;
    if (!sums.finite) loss = Number.NaN;
    save([x, terms[0].target, terms[1].target, terms[0].mask, terms[1].mask]);
    return {
      value: tf.scalar(loss, 'float32'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const scale = transientHostValues(dy)[0];
        const xs = transientHostValues(saved[0]);
        const st = hostTerms([saved[1], saved[2]], [saved[3], saved[4]]);
        const dx =
          k === 2
            ? backwardValues2(xs, n, v, st, coefficients, scale)
            : backwardValues(xs, n, v, k, st, coefficients, scale);
        return tf.tensor(dx, saved[0].shape, 'float32');
      },
    };
  });
  return inOpScope('MixLossFused', () => op(logits)) as tf.Scalar;
}

import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { createVNet, vnetParameterCount, vnetParameterSpecs } from '../../src/nn/vnet.js';
import { SgdOptimizer } from '../../src/train/optimizer.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

function normal(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal()),
    shape,
  );
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const x2 = normal([2, 16, 16, 16, 1], 5);
afterAll(() => x2.dispose());

describe('VNet structure', () => {
  it('has 9,448,866 trainable parameters at 16 filters, 1 → 2 (counted from shapes)', () => {
    expect(vnetParameterCount()).toBe(9_448_866);
    const specs = vnetParameterSpecs();
    const bnLayers = specs.filter((s) => s.role === 'running_mean');
    expect(bnLayers.length).toBe(29);
    expect(bnLayers.reduce((a, s) => a + s.shape[0], 0)).toBe(2800);
    // Conv/deconv only: the commonly quoted 9,443,266.
    const convOnly = specs.filter((s) => s.role === 'weight' || s.role === 'bias');
    expect(convOnly.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0)).toBe(9_443_266);
    // Per-block figures of docs/equations.md §1.2.
    const block = (prefix: string) =>
      specs
        .filter((s) => s.key.startsWith(`${prefix}.`) && !s.role.startsWith('running'))
        .reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    expect(block('encoder.block_five')).toBe(5_310_720);
    expect(block('decoder.block_five_up')).toBe(262_528);
    expect(block('decoder.block_eight_up')).toBe(4_144);
    expect(block('decoder.out_conv')).toBe(34);
  });

  it('uses the reference state-dict keys and channels-last kernel shapes', () => {
    const shapes = new Map(vnetParameterSpecs().map((s) => [s.key, s.shape]));
    expect(shapes.get('encoder.block_one.conv.0.weight')).toEqual([3, 3, 3, 1, 16]);
    expect(shapes.get('encoder.block_one.conv.1.running_mean')).toEqual([16]);
    expect(shapes.get('encoder.block_two.conv.3.weight')).toEqual([3, 3, 3, 32, 32]);
    expect(shapes.get('encoder.block_five.conv.7.running_var')).toEqual([256]);
    expect(shapes.get('encoder.block_one_dw.conv.0.weight')).toEqual([2, 2, 2, 16, 32]);
    expect(shapes.get('decoder.block_five_up.conv.0.weight')).toEqual([2, 2, 2, 128, 256]); // [k,k,k,out,in]
    expect(shapes.get('decoder.block_nine.conv.1.bias')).toEqual([16]);
    expect(shapes.get('decoder.out_conv.bias')).toEqual([2]);
    expect(shapes.has('encoder.block_two.conv.6.weight')).toBe(false); // block_two has 2 convs
    expect(shapes.size).toBe(29 * 4 + 30 * 2);
  });

  it('initialises like PyTorch: U(±1/√fan_in), fan_in = out·8 for the transposed conv; BN 1/0/0/1', () => {
    const net = createVNet({ name: 'init', baseFilters: 8, seed: 9 });
    const w = net.namedWeights();
    const check = (key: string, fanIn: number) => {
      const d = w.get(key)!.dataSync();
      const bound = 1 / Math.sqrt(fanIn);
      let max = 0;
      let sum = 0;
      for (const v of d) {
        max = Math.max(max, Math.abs(v));
        sum += v;
      }
      expect(max).toBeLessThanOrEqual(bound);
      expect(max).toBeGreaterThan(0.9 * bound);
      expect(Math.abs(sum / d.length)).toBeLessThan(0.05 * bound);
    };
    check('encoder.block_three.conv.3.weight', 32 * 27); // 27 648 values
    check('decoder.block_five_up.conv.0.weight', 64 * 8); // [2,2,2,64,128]: fan_in from out = 64
    check('encoder.block_four_dw.conv.0.weight', 64 * 8);
    expect(new Set(w.get('encoder.block_two.conv.1.weight')!.dataSync())).toEqual(new Set([1]));
    expect(new Set(w.get('encoder.block_two.conv.1.bias')!.dataSync())).toEqual(new Set([0]));
    expect(new Set(w.get('encoder.block_two.conv.1.running_mean')!.dataSync())).toEqual(new Set([0]));
    expect(new Set(w.get('encoder.block_two.conv.1.running_var')!.dataSync())).toEqual(new Set([1]));
    expect(net.namedParameters().get('decoder.out_conv.weight')!.trainable).toBe(true);
    expect(net.namedBuffers().get('decoder.block_nine.conv.1.running_var')!.trainable).toBe(false);
    net.dispose();
  });

  it('same seed → same weights; different seed → different', () => {
    const a = createVNet({ name: 'seed', baseFilters: 2, seed: 4 });
    const b = createVNet({ name: 'seed', baseFilters: 2, seed: 4 });
    const c = createVNet({ name: 'seed', baseFilters: 2, rng: new Rng(5) });
    expect(b.name).not.toBe(a.name); // engine names made unique
    const key = 'decoder.block_seven.conv.3.weight';
    const wa = a.namedWeights().get(key)!.dataSync();
    expect(b.namedWeights().get(key)!.dataSync()).toEqual(wa);
    expect(c.namedWeights().get(key)!.dataSync()).not.toEqual(wa);
    for (const m of [a, b, c]) m.dispose();
  });
});

describe('VNet forward', () => {
  it('full-size VNet (16 filters) eval forward on 16³: logits [1,16,16,16,2], deterministic, stats untouched', () => {
    const net = createVNet({ name: 'full' });
    const x = normal([1, 16, 16, 16, 1], 1);
    const before = tf.memory().numTensors;
    const y1 = tf.tidy(() => net.apply(x, { training: false }));
    const y2 = tf.tidy(() => net.apply(x, { training: false }));
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(y1.shape).toEqual([1, 16, 16, 16, 2]);
    const d = y1.dataSync();
    expect(d.every(Number.isFinite)).toBe(true);
    expect(y2.dataSync()).toEqual(d);
    expect(new Set(net.namedWeights().get('encoder.block_five.conv.7.running_mean')!.dataSync())).toEqual(
      new Set([0]),
    );
    tf.dispose([x, y1, y2]);
    net.dispose();
  });

  it('tiny VNet train mode: shapes, same rng → same output, dropout draws differ across rngs', () => {
    const net = createVNet({ name: 'tiny', baseFilters: 2, seed: 1 });
    const run = (seed: number) =>
      tf.tidy(() => net.apply(x2, { training: true, rng: new Rng(seed), updateStats: false }).dataSync());
    const a = run(1);
    expect(a.length).toBe(2 * 16 ** 3 * 2);
    expect(run(1)).toEqual(a);
    expect(run(2)).not.toEqual(a);
    net.dispose();
  });

  it('rejects spatial sizes not divisible by 16 and wrong channel counts, naming the shape', () => {
    const net = createVNet({ name: 'bad', baseFilters: 2 });
    const x = tf.zeros([1, 16, 16, 24, 1]);
    expect(() => net.apply(x, { training: false })).toThrow(InputError);
    expect(() => net.apply(x, { training: false })).toThrow(/\[1,16,16,24,1\]/);
    const y = tf.zeros([1, 16, 16, 16, 2]);
    expect(() => net.apply(y, { training: false })).toThrow(/\[1,16,16,16,2\]/);
    tf.dispose([x, y]);
    net.dispose();
  });

  it('train mode normalises with batch statistics: invariant to scaling the input; eval mode is not', () => {
    // conv(3x) + b = 3·(conv(x) + b) − 2b is a per-channel affine map of the first conv output, which
    // batch-statistics BN removes (up to eps); running-statistics BN does not.
    const net = createVNet({ name: 'scale', baseFilters: 2, dropout: 0, seed: 2 });
    const x3 = tf.tidy(() => tf.mul(x2, 3));
    const out = (x: tf.Tensor, training: boolean) =>
      tf.tidy(() => net.apply(x, { training, updateStats: false }).dataSync());
    const t1 = out(x2, true);
    const t3 = out(x3, true);
    const scale = Math.max(...Array.from(t1, Math.abs));
    expect(maxAbsDiff(t1, t3)).toBeLessThan(1e-3 * scale);
    expect(maxAbsDiff(out(x2, false), out(x3, false))).toBeGreaterThan(1e-2 * scale);
    x3.dispose();
    net.dispose();
  });

  it('a train forward (also inside an optimizer step) updates running stats once, with the unbiased variance', () => {
    const net = createVNet({ name: 'stats', baseFilters: 2, dropout: 0, seed: 3 });
    const w = net.namedWeights();
    // Independent first-layer statistics in float64.
    const expectedStats = () => {
      const conv = tf.tidy(() =>
        tf
          .add(
            tf.conv3d(x2 as tf.Tensor5D, w.get('encoder.block_one.conv.0.weight') as tf.Tensor5D, 1, 'same'),
            w.get('encoder.block_one.conv.0.bias')!,
          )
          .dataSync(),
      );
      const c = 2;
      const n = conv.length / c;
      return [0, 1].map((ch) => {
        let s = 0;
        for (let i = ch; i < conv.length; i += c) s += conv[i];
        const mean = s / n;
        let q = 0;
        for (let i = ch; i < conv.length; i += c) q += (conv[i] - mean) ** 2;
        return { mean, unbiased: q / (n - 1) };
      });
    };
    const rm = () => Array.from(w.get('encoder.block_one.conv.1.running_mean')!.dataSync());
    const rv = () => Array.from(w.get('encoder.block_one.conv.1.running_var')!.dataSync());

    const s1 = expectedStats();
    tf.tidy(() => {
      net.apply(x2, { training: true });
    });
    s1.forEach((s, ch) => {
      expect(rm()[ch]).toBeCloseTo(0.1 * s.mean, 5);
      expect(rv()[ch]).toBeCloseTo(0.9 + 0.1 * s.unbiased, 5);
    });

    // Inside optimizer.step (variableGrads): one more update, from the pre-step weights.
    const s2 = expectedStats();
    const [m1, v1] = [rm(), rv()];
    const opt = new SgdOptimizer({ lr: 0.01, momentum: 0.9 });
    opt.step(() => tf.mean(tf.square(net.apply(x2, { training: true }))) as tf.Scalar, net.namedParameters());
    s2.forEach((s, ch) => {
      expect(rm()[ch]).toBeCloseTo(0.9 * m1[ch] + 0.1 * s.mean, 5);
      expect(rv()[ch]).toBeCloseTo(0.9 * v1[ch] + 0.1 * s.unbiased, 5);
    });
    opt.dispose();
    net.dispose();
  });
});

describe('VNet gradients (finite differences)', () => {
  /**
   * Central differences of L = Σ r·logits, summed in float64 from the float32 logits. With a batch of 2 at
   * 16³ the bottleneck BN sees 2 values per channel, so its train-mode output is ±γ (a step function of the
   * encoder weights): encoder coordinates are checked in eval mode (piecewise linear), decoder coordinates
   * (transposed convs, convs, BN γ/β, head) in train mode. h = 3e-4 keeps ReLU-kink crossings rare.
   */
  const net = createVNet({ name: 'fd', baseFilters: 2, dropout: 0, seed: 3 });
  const rng = new Rng(5);
  const rData = Float32Array.from({ length: 2 * 16 ** 3 * 2 }, () => rng.normal());
  const r = tf.tensor(rData, [2, 16, 16, 16, 2]);
  afterAll(() => {
    r.dispose();
    net.dispose();
  });

  function check(training: boolean, coords: [string, number][]): void {
    const vars = net.namedParameters();
    const forward = () => net.apply(x2, { training, updateStats: false });
    const loss64 = (): number => {
      const y = tf.tidy(forward);
      const d = y.dataSync();
      y.dispose();
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i] * rData[i];
      return s;
    };
    const { value, grads } = tf.variableGrads(
      () => tf.tidy(() => tf.sum(tf.mul(forward(), r)) as tf.Scalar),
      [...vars.values()],
    );
    const h = 3e-4;
    for (const [key, i] of coords) {
      const v = vars.get(key)!;
      const an = grads[v.name]!.dataSync()[i];
      const base = v.dataSync().slice();
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
      expect(Math.abs(an)).toBeGreaterThan(0.05); // a live coordinate, so the comparison means something
      expect(Math.abs(fd - an), `${key}[${i}] analytic ${an} fd ${fd}`).toBeLessThanOrEqual(
        0.03 * Math.abs(an),
      );
    }
    tf.dispose([value, ...Object.values(grads).filter((g): g is tf.Tensor => g != null)]);
  }

  it('train mode, decoder side', () => {
    // Warm the running stats so eval mode (next test) is not the identity BN.
    for (let k = 0; k < 3; k++) tf.tidy(() => void net.apply(x2, { training: true }));
    check(true, [
      ['decoder.block_five_up.conv.0.weight', 0],
      ['decoder.block_five_up.conv.0.weight', 1],
      ['decoder.block_eight_up.conv.0.weight', 1],
      ['decoder.block_nine.conv.1.weight', 0],
      ['decoder.block_nine.conv.1.bias', 1],
      ['decoder.out_conv.weight', 0],
      ['decoder.out_conv.bias', 1],
    ]);
  });

  it('eval mode, encoder side', () => {
    check(false, [
      ['encoder.block_one.conv.0.weight', 0],
      ['encoder.block_one.conv.0.weight', 1],
      ['encoder.block_one.conv.1.weight', 0],
      ['encoder.block_one.conv.1.bias', 1],
      ['decoder.out_conv.weight', 1],
    ]);
  });
});

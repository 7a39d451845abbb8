import { afterEach, describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { AdamOptimizer, createOptimizer, type Optimizer, SgdOptimizer } from '../../src/train/optimizer.js';
import { InputError } from '../../src/util/errors.js';

/**
 * Loss L(θ) = Σ ½·c·θ² + d·θ over two parameters, so ∂L/∂θ = c·θ + d: simple enough to write the PyTorch
 * update rules independently in float64 below.
 */
const C = { a: [1, 2, -0.5], b: [0.5, 3, 1, -1] };
const D = { a: [0.1, -0.2, 0.3], b: [1, 0, -1, 0.5] };
const INIT = { a: [0.5, -1, 2], b: [1, 2, -3, 0.25] };

let created: tf.Variable[] = [];
afterEach(() => {
  for (const v of created) v.dispose();
  created = [];
});

function makeVars(prefix: string): Map<string, tf.Variable> {
  const a = tf.variable(tf.tensor1d(INIT.a), true, `${prefix}/a`);
  const b = tf.variable(tf.tensor2d(INIT.b, [2, 2]), true, `${prefix}/b`);
  created.push(a, b);
  return new Map<string, tf.Variable>([
    ['layer.a', a],
    ['layer.b', b],
  ]);
}

function lossOf(vars: Map<string, tf.Variable>): () => tf.Scalar {
  return () => {
    let total: tf.Scalar = tf.scalar(0);
    for (const [key, v] of vars) {
      const name = key === 'layer.a' ? 'a' : 'b';
      const c = tf.tensor(C[name], v.shape);
      const d = tf.tensor(D[name], v.shape);
      total = tf.add(total, tf.sum(tf.add(tf.mul(tf.mul(c, tf.square(v)), 0.5), tf.mul(d, v))));
    }
    return total;
  };
}

function values(vars: Map<string, tf.Variable>): Record<string, number[]> {
  return Object.fromEntries([...vars].map(([k, v]) => [k, Array.from(v.dataSync())]));
}

function expectClose(actual: number[], expected: number[], tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    expect(Math.abs(a - expected[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected[i])));
  });
}

/** PyTorch 1.8 SGD, float64, one flat parameter. */
function refSgd(steps: number, lrs: number[], momentum: number, wd: number, nesterov: boolean) {
  const theta = { a: [...INIT.a], b: [...INIT.b] };
  const buf: Record<string, number[] | undefined> = {};
  for (let s = 0; s < steps; s++) {
    for (const name of ['a', 'b'] as const) {
      const th = theta[name];
      const g = th.map((t, i) => C[name][i] * t + D[name][i] + wd * t);
      let dp = g;
      if (momentum !== 0) {
        const prev = buf[name];
        const bb = prev === undefined ? [...g] : prev.map((x, i) => momentum * x + g[i]);
        buf[name] = bb;
        dp = nesterov ? g.map((x, i) => x + momentum * bb[i]) : bb;
      }
      theta[name] = th.map((t, i) => t - lrs[s] * dp[i]);
    }
  }
  return theta;
}

/** PyTorch Adam, float64. */
function refAdam(steps: number, lr: number, b1: number, b2: number, eps: number, wd: number) {
  const theta = { a: [...INIT.a], b: [...INIT.b] };
  const m = { a: [0, 0, 0], b: [0, 0, 0, 0] };
  const v = { a: [0, 0, 0], b: [0, 0, 0, 0] };
  for (let t = 1; t <= steps; t++) {
    for (const name of ['a', 'b'] as const) {
      const th = theta[name];
      const g = th.map((x, i) => C[name][i] * x + D[name][i] + wd * x);
      m[name] = m[name].map((x, i) => b1 * x + (1 - b1) * g[i]);
      v[name] = v[name].map((x, i) => b2 * x + (1 - b2) * g[i] * g[i]);
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      theta[name] = th.map(
        (x, i) => x - (lr / bc1) * (m[name][i] / (Math.sqrt(v[name][i]) / Math.sqrt(bc2) + eps)),
      );
    }
  }
  return theta;
}

describe('SgdOptimizer (PyTorch semantics)', () => {
  it('first step uses buffer = gradient (with weight decay), by hand', () => {
    const vars = makeVars('sgd1');
    const opt = new SgdOptimizer({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    const loss = opt.step(lossOf(vars), vars);
    // L(θ0) for a: ½(0.25 + 2·1 − 0.5·4) + (0.05 + 0.2 + 0.6) = 0.125 + 0.85 = 0.975
    // L(θ0) for b: ½(0.5 + 12 + 9 − 0.0625) + (1 + 0 + 3 + 0.125) = 10.71875 + 4.125 = 14.84375
    expect(loss).toBeCloseTo(0.975 + 14.84375, 5);
    // a0 = 0.5: g = 1·0.5 + 0.1 + 0.01·0.5 = 0.605 (weight decay inside the buffer) → 0.5 − 0.1·0.605 = 0.4395.
    expect(vars.get('layer.a')!.dataSync()[0]).toBeCloseTo(0.4395, 6);
    opt.dispose();
  });

  it.each([
    { momentum: 0.9, wd: 1e-4, nesterov: false },
    { momentum: 0.9, wd: 0.05, nesterov: true },
    { momentum: 0, wd: 0.1, nesterov: false },
  ])('3 steps with changing lr match the reference (%o)', ({ momentum, wd, nesterov }) => {
    const vars = makeVars('sgd3');
    const opt = createOptimizer({ name: 'sgd', lr: 0.1, momentum, weightDecay: wd, nesterov });
    const lrs = [0.1, 0.05, 0.02];
    for (const lr of lrs) {
      opt.learningRate = lr;
      opt.step(lossOf(vars), vars);
    }
    const ref = refSgd(3, lrs, momentum, wd, nesterov);
    const got = values(vars);
    expectClose(got['layer.a'], ref.a);
    expectClose(got['layer.b'], ref.b);
    const state = opt.getState();
    expect(Object.keys(state.tensors).sort()).toEqual(
      momentum === 0 ? [] : ['optimizer.layer.a.momentum_buffer', 'optimizer.layer.b.momentum_buffer'],
    );
    opt.dispose();
  });

  it('skips a parameter without gradient entirely (no weight decay, no buffer)', () => {
    const vars = makeVars('sgdskip');
    const unused = tf.variable(tf.tensor1d([5, 6]), true, 'sgdskip/unused');
    created.push(unused);
    const all = new Map([...vars, ['head.unused', unused]]);
    const opt = new SgdOptimizer({ lr: 0.1, momentum: 0.9, weightDecay: 0.5 });
    opt.step(lossOf(vars), all);
    expect(Array.from(unused.dataSync())).toEqual([5, 6]);
    expect(Object.keys(opt.getState().tensors)).not.toContain('optimizer.head.unused.momentum_buffer');
    opt.dispose();
  });
});

describe('SgdOptimizer host update', () => {
  /** The update as the tensor ops wrote it before the host pass: the bits the host pass must reproduce. */
  function tensorOpStep(
    param: tf.Tensor,
    grad: tf.Tensor,
    prev: tf.Tensor | null,
    o: { lr: number; momentum: number; weightDecay: number; dampening: number; nesterov: boolean },
  ): { param: tf.Tensor; buf: tf.Tensor | null } {
    let g = o.weightDecay !== 0 ? tf.add(grad, tf.mul(param, o.weightDecay)) : grad;
    let buf: tf.Tensor | null = null;
    if (o.momentum !== 0) {
      buf =
        prev === null
          ? g
          : tf.add(tf.mul(prev, o.momentum), o.dampening === 0 ? g : tf.mul(g, 1 - o.dampening));
      g = o.nesterov ? tf.add(g, tf.mul(buf, o.momentum)) : buf;
    }
    return { param: tf.sub(param, tf.mul(g, o.lr)), buf };
  }

  it.each([
    { lr: 0.01, momentum: 0.9, weightDecay: 1e-4, dampening: 0, nesterov: false },
    { lr: 0.037, momentum: 0.9, weightDecay: 0.05, dampening: 0, nesterov: true },
    { lr: 0.1, momentum: 0.5, weightDecay: 0, dampening: 0.3, nesterov: false },
    { lr: 0.2, momentum: 0, weightDecay: 0.1, dampening: 0, nesterov: false },
  ])('is bit-identical to the tensor-op formula over 3 steps (%o)', (o) => {
    const n = 1037;
    const rand = (seed: number) =>
      Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1e3 + i * 7.3) * 3);
    const v = tf.variable(tf.tensor(rand(1), [n]), true, `host-sgd-${o.lr}-${o.dampening}`);
    created.push(v);
    const vars = new Map([['w', v]]);
    const opt = new SgdOptimizer(o);
    let param = tf.tensor(rand(1), [n]);
    let buf: tf.Tensor | null = null;
    for (let step = 0; step < 3; step++) {
      const grad = tf.tensor(rand(step + 2), [n]);
      opt.applyGradients(new Map([['w', grad]]), vars);
      const next = tensorOpStep(param, grad, buf, o);
      param = next.param;
      buf = next.buf;
      expect(v.dataSync()).toEqual(param.dataSync());
    }
    const state = opt.getState().tensors['optimizer.w.momentum_buffer'];
    if (o.momentum === 0) expect(state).toBeUndefined();
    else expect(state?.data).toEqual(buf?.dataSync());
    opt.dispose();
  });
});

describe('AdamOptimizer (PyTorch semantics)', () => {
  it('3 steps match the reference, with and without L2 weight decay', () => {
    for (const wd of [0, 0.1]) {
      const vars = makeVars(`adam${wd}`);
      const opt = new AdamOptimizer({ lr: 0.01, weightDecay: wd });
      for (let s = 0; s < 3; s++) opt.step(lossOf(vars), vars);
      const ref = refAdam(3, 0.01, 0.9, 0.999, 1e-8, wd);
      const got = values(vars);
      expectClose(got['layer.a'], ref.a);
      expectClose(got['layer.b'], ref.b);
      const state = opt.getState();
      expect(Array.from(state.tensors['optimizer.layer.a.step'].data)).toEqual([3]);
      expect(state.tensors['optimizer.layer.a.step'].dtype).toBe('I32');
      expect(state.tensors['optimizer.layer.b.exp_avg_sq'].shape).toEqual([2, 2]);
      opt.dispose();
    }
  });

  it('first step moves each coordinate by lr·sign(g) (bias correction), by hand', () => {
    const vars = makeVars('adam1');
    const opt = new AdamOptimizer({ lr: 0.01 });
    opt.step(lossOf(vars), vars);
    // m̂ = g, v̂ = g² → θ − lr·g/(|g| + 1e-8); a: g = [0.6, −4.2, −0.7]
    expectClose(Array.from(vars.get('layer.a')!.dataSync()), [0.49, -0.99, 2.01], 1e-6);
    opt.dispose();
  });
});

describe('optimizer state', () => {
  function resumeMatches(make: () => Optimizer): void {
    const varsA = makeVars('resumeA');
    const varsB = makeVars('resumeB');
    const a = make();
    const b = make();
    for (let s = 0; s < 2; s++) {
      a.step(lossOf(varsA), varsA);
      b.step(lossOf(varsB), varsB);
    }
    // Restart B from A's state: a fresh optimizer, B's variables reset to A's.
    b.dispose();
    const c = make();
    c.setState(a.getState(), varsB);
    for (const [k, v] of varsB) v.assign(varsA.get(k)!);
    a.step(lossOf(varsA), varsA);
    c.step(lossOf(varsB), varsB);
    expect(values(varsB)).toEqual(values(varsA));
    a.dispose();
    c.dispose();
  }

  it('SGD state round trip resumes bit for bit', () => {
    resumeMatches(() => new SgdOptimizer({ lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }));
  });

  it('Adam state round trip resumes bit for bit', () => {
    resumeMatches(() => new AdamOptimizer({ lr: 0.01 }));
  });

  it('setState rejects unknown parameters, wrong shapes, wrong type and foreign slots', () => {
    const vars = makeVars('bad');
    const opt = new SgdOptimizer({ lr: 0.1, momentum: 0.9 });
    const f32 = (shape: number[]) => ({
      dtype: 'F32' as const,
      shape,
      data: new Float32Array(shape.reduce((x, y) => x * y, 1)),
    });
    expect(() =>
      opt.setState({ type: 'sgd', tensors: { 'optimizer.layer.zzz.momentum_buffer': f32([3]) } }, vars),
    ).toThrow(/unknown parameter layer\.zzz/);
    expect(() =>
      opt.setState({ type: 'sgd', tensors: { 'optimizer.layer.a.momentum_buffer': f32([4]) } }, vars),
    ).toThrow(/shape \[4\].*\[3\]/);
    expect(() => opt.setState({ type: 'adam', tensors: {} }, vars)).toThrow(InputError);
    expect(() =>
      opt.setState({ type: 'sgd', tensors: { 'optimizer.layer.a.exp_avg': f32([3]) } }, vars),
    ).toThrow(/not a sgd slot/);
    opt.dispose();
  });

  it('keeps tf.memory().numTensors flat across steps', () => {
    const vars = makeVars('mem');
    for (const opt of [
      new SgdOptimizer({ lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }),
      new AdamOptimizer({ lr: 0.01 }),
    ]) {
      opt.step(lossOf(vars), vars); // creates the slots
      const before = tf.memory().numTensors;
      for (let s = 0; s < 4; s++) opt.step(lossOf(vars), vars);
      opt.setState(opt.getState(), vars);
      expect(tf.memory().numTensors).toBe(before);
      opt.dispose();
    }
  });

  it('refuses a frozen (non-trainable) variable', () => {
    const frozen = tf.variable(tf.tensor1d([1]), false, 'frozen/x');
    created.push(frozen);
    const opt = new SgdOptimizer({ lr: 0.1 });
    expect(() => opt.step(() => tf.sum(frozen), new Map([['x', frozen]]))).toThrow(/not trainable/);
  });
});

describe('createOptimizer keys', () => {
  it("takes the config's optimizer as it is ({ name, ... }) and still reads the old key `type`", () => {
    const vars = makeVars('optkeys');
    const byName = createOptimizer({
      name: 'sgd',
      lr: 0.1,
      momentum: 0.9,
      weightDecay: 1e-4,
      nesterov: true,
    });
    const byType = createOptimizer({
      type: 'sgd',
      lr: 0.1,
      momentum: 0.9,
      weightDecay: 1e-4,
      nesterov: true,
    });
    expect(byName).toBeInstanceOf(SgdOptimizer);
    expect(byType).toBeInstanceOf(SgdOptimizer);
    expect({ ...byType, slots: undefined }).toEqual({ ...byName, slots: undefined });
    expect(createOptimizer({ name: 'adam', lr: 0.01, beta1: 0.8 })).toBeInstanceOf(AdamOptimizer);
    expect(createOptimizer({ type: 'adam', lr: 0.01 })).toBeInstanceOf(AdamOptimizer);
    expect(() => createOptimizer({ name: 'rmsprop', lr: 0.1 } as never)).toThrow(
      /optimizer: unknown name rmsprop \(sgd, adam\)/,
    );
    // A stored state (checkpoints record the kind as `type`) loads into an optimizer made from `{ name }`.
    byType.step(lossOf(vars), vars);
    const stored = byType.getState();
    expect(stored.type).toBe('sgd');
    byName.setState(stored, vars);
    expect(Object.keys(byName.getState().tensors).sort()).toEqual(Object.keys(stored.tensors).sort());
    byName.dispose();
    byType.dispose();
  });
});

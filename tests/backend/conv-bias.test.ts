import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  conv2dBiasFused,
  conv3dBiasFused,
  conv3dTransposeBiasFused,
  fastKernelsActive,
  unregisterFastKernels,
} from '../../src/backend/kernels/index.js';
import { activeRuntime, KernelRuntime, WasmHeapLimitError } from '../../src/backend/kernels/runtime.js';
import { tf } from '../../src/backend/tf.js';
import { conv2d, conv3d, conv3dTranspose2 } from '../../src/nn/layers.js';
import { ParameterStore } from '../../src/nn/params.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../helpers/compare.js';
import { activateFastKernelsForTest, useFastKernelsInFile } from '../helpers/fast-kernels.js';
import { randn } from '../helpers/random.js';

/**
 * The fused biased convolutions against the composition they replace, `add(conv(x, w), b)`, in the same process:
 * the value bit for bit, the gradients within relative 1e-5 (max|fused − plain| / max|plain|), the plain
 * composition where the fast path does not apply, and no tensor left behind.
 */

useFastKernelsInFile();

type Shape5 = [number, number, number, number, number];
type Op = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;

interface Case {
  name: string;
  x: number[];
  w: number[];
  /** Output channels (the bias length). */
  cout: number;
  fused: Op;
  plain: Op;
}

const conv3dCase = (x: number[], k: number, cout: number, s: 1 | 2, pad: 'same' | 'valid'): Case => ({
  name: `conv3d x [${x}] k${k} s${s} ${pad} → ${cout}`,
  x,
  w: [k, k, k, x[4], cout],
  cout,
  fused: (a, w, b) => conv3dBiasFused(a as tf.Tensor5D, w as tf.Tensor5D, b, s, pad),
  plain: (a, w, b) => tf.add(tf.conv3d(a as tf.Tensor5D, w as tf.Tensor5D, s, pad), b),
});

/** The up-convolution of the VNet: kernel 2, stride 2, output twice the input, `cout` channels. */
const transposeCase = (x: number[], cout: number): Case => {
  const out: Shape5 = [x[0], 2 * x[1], 2 * x[2], 2 * x[3], cout];
  return {
    name: `conv3dTranspose x [${x}] k2 s2 → ${cout}`,
    x,
    w: [2, 2, 2, cout, x[4]],
    cout,
    fused: (a, w, b) => conv3dTransposeBiasFused(a as tf.Tensor5D, w as tf.Tensor5D, b, out, 2, 'valid'),
    plain: (a, w, b) => tf.add(tf.conv3dTranspose(a as tf.Tensor5D, w as tf.Tensor5D, out, 2, 'valid'), b),
  };
};

const conv2dCase = (x: number[], k: number, cout: number, s: 1 | 2, pad: 'same' | 'valid'): Case => ({
  name: `conv2d x [${x}] k${k} s${s} ${pad} → ${cout}`,
  x,
  w: [k, k, x[3], cout],
  cout,
  fused: (a, w, b) => conv2dBiasFused(a as tf.Tensor4D, w as tf.Tensor4D, b, s, pad),
  plain: (a, w, b) => tf.add(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, s, pad), b),
});

const cases: Case[] = [
  conv3dCase([2, 5, 6, 7, 3], 3, 5, 1, 'same'),
  conv3dCase([1, 6, 5, 7, 12], 3, 17, 1, 'same'),
  conv3dCase([2, 6, 4, 8, 17], 2, 12, 2, 'valid'),
  conv3dCase([1, 5, 7, 6, 5], 3, 16, 1, 'valid'),
  conv3dCase([2, 3, 4, 5, 17], 1, 3, 1, 'same'),
  transposeCase([2, 3, 2, 5, 17], 12),
  transposeCase([1, 2, 3, 3, 5], 3),
  transposeCase([1, 3, 3, 2, 16], 8),
  conv2dCase([2, 9, 7, 3], 3, 5, 1, 'same'),
  conv2dCase([1, 8, 11, 17], 3, 12, 1, 'valid'),
  conv2dCase([2, 6, 5, 12], 1, 17, 1, 'same'),
  conv2dCase([1, 9, 7, 5], 3, 8, 2, 'same'),
];

function operands(c: Case, seed: number): { x: tf.Tensor; w: tf.Tensor; b: tf.Tensor } {
  const rng = new Rng(seed);
  return { x: randn(c.x, rng), w: tf.mul(randn(c.w, rng), 0.3), b: randn([c.cout], rng) };
}

/** Names of the kernels `f` runs (nested ones included), from `tf.profile`. */
async function kernelNames(f: () => tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => f());
  return info.kernels.map((k) => k.name);
}

/** d/d(x, w, b) of Σ op(x, w, b)·r for a fixed random r, so that every output value has its own weight. */
function gradients(op: Op, x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, r: tf.Tensor): tf.Tensor[] {
  return tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(op(xi, wi, bi), r)))([
    x,
    w,
    b,
  ]);
}

describe('fused biased convolutions with the fast kernels', () => {
  it.each(cases)('$name: value bit-identical to add(conv, b), one op', async (c) => {
    expect(fastKernelsActive()).toBe(true);
    tf.tidy(() => {
      const { x, w, b } = operands(
        c,
        c.x.reduce((p, d) => 31 * p + d, c.w[0]),
      );
      const fused = c.fused(x, w, b);
      const plain = c.plain(x, w, b);
      expect(fused.shape).toEqual(plain.shape);
      expect(Array.from(fused.dataSync())).toEqual(Array.from(plain.dataSync()));
    });
    // One op: no Add and no separate convolution kernel (the composition runs both).
    const { x, w, b } = operands(c, 7);
    const names = await kernelNames(() => c.fused(x, w, b));
    const plainNames = await kernelNames(() => c.plain(x, w, b));
    expect(plainNames).toContain('Add');
    expect(names).not.toContain('Add');
    // The fused op alone, listed under its scope name (Conv3DBiasFused, …: src/backend/kernels/op-scope.ts).
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^Conv(3D|3DTranspose|2D)BiasFused$/);
    tf.dispose([x, w, b]);
  });

  it.each(cases)('$name: dx, dw, db against the composition (relative 1e-5)', (c) => {
    tf.tidy(() => {
      const { x, w, b } = operands(c, c.x.length * 97 + c.w[c.w.length - 1]);
      const r = randn(c.plain(x, w, b).shape, new Rng(3));
      const fused = gradients(c.fused, x, w, b, r);
      const plain = gradients(c.plain, x, w, b, r);
      expect(fused.map((g) => g.shape)).toEqual([x.shape, w.shape, b.shape]);
      fused.forEach((g, i) => {
        expect(relErr(g, plain[i])).toBeLessThanOrEqual(1e-5);
      });
    });
  });

  it('leaves no tensor behind across repeated forward and backward passes', () => {
    const { x, w, b } = operands(cases[1], 11);
    const step = () =>
      tf.tidy(() => {
        const [dx, dw, db] = gradients(cases[1].fused, x, w, b, tf.onesLike(cases[1].plain(x, w, b)));
        return tf.addN([tf.sum(dx), tf.sum(dw), tf.sum(db)]);
      });
    step().dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      step().dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([x, w, b]);
  });

  it('is the plain composition for a bias that is not one value per output channel', async () => {
    const { x, w } = operands(cases[0], 5);
    const b = tf.tensor1d([0.25]);
    const op = cases[0].fused;
    expect(Array.from(op(x, w, b).dataSync())).toEqual(Array.from(cases[0].plain(x, w, b).dataSync()));
    expect(await kernelNames(() => op(x, w, b))).toContain('Add');
    tf.dispose([x, w, b]);
  });

  it('is the plain composition for a transposed convolution the fast kernels refuse (overlapping stride 2)', async () => {
    const rng = new Rng(9);
    const x = randn([1, 3, 3, 3, 5], rng);
    const w = randn([3, 3, 3, 4, 5], rng);
    const b = randn([4], rng);
    const out: Shape5 = [1, 6, 6, 6, 4];
    const fused = () => conv3dTransposeBiasFused(x as tf.Tensor5D, w as tf.Tensor5D, b, out, 2, 'same');
    const plain = tf.add(tf.conv3dTranspose(x as tf.Tensor5D, w as tf.Tensor5D, out, 2, 'same'), b);
    expect(Array.from(fused().dataSync())).toEqual(Array.from(plain.dataSync()));
    expect(await kernelNames(fused)).toContain('Add');
    tf.dispose([x, w, b, plain]);
  });

  it.each([cases[0], cases[6], cases[8]])(
    '$name: operands beyond the wasm memory give the composition on the stock kernels',
    (c) => {
      const rt = activeRuntime();
      if (rt === null) throw new Error('fast kernels inactive');
      // Every allocation fails as when the wasm memory cannot grow: the replacement kernels fall back too.
      rt.alloc = () => {
        throw new WasmHeapLimitError('test: no wasm memory');
      };
      try {
        tf.tidy(() => {
          const { x, w, b } = operands(c, 41);
          expect(Array.from(c.fused(x, w, b).dataSync())).toEqual(Array.from(c.plain(x, w, b).dataSync()));
          const r = randn(c.plain(x, w, b).shape, new Rng(8));
          const fused = gradients(c.fused, x, w, b, r);
          const plain = gradients(c.plain, x, w, b, r);
          fused.forEach((g, i) => {
            expect(relErr(g, plain[i])).toBeLessThanOrEqual(1e-5);
          });
        });
      } finally {
        Reflect.deleteProperty(rt, 'alloc');
      }
      expect(rt.alloc).toBe(KernelRuntime.prototype.alloc);
    },
  );

  it('the layers conv3d, conv3dTranspose2 and conv2d run the fused op', async () => {
    const rng = new Rng(4);
    const specs = [
      { key: 'c3.weight', shape: [3, 3, 3, 3, 5], role: 'weight', fanIn: 81 },
      { key: 'c3.bias', shape: [5], role: 'bias', fanIn: 81 },
      { key: 'up.weight', shape: [2, 2, 2, 3, 5], role: 'weight', fanIn: 40 },
      { key: 'up.bias', shape: [3], role: 'bias', fanIn: 40 },
      { key: 'c2.weight', shape: [3, 3, 3, 5], role: 'weight', fanIn: 27 },
      { key: 'c2.bias', shape: [5], role: 'bias', fanIn: 27 },
    ] as const;
    const store = new ParameterStore(
      'conv_bias_layers',
      specs.map((s) => ({ ...s, shape: [...s.shape] })),
      rng,
    );
    const x3 = randn([1, 4, 5, 3, 3], rng) as tf.Tensor5D;
    const x2 = randn([2, 6, 5, 3], rng) as tf.Tensor4D;
    for (const f of [
      () => conv3d(x3, store, 'c3', 1, 'same'),
      () => conv3dTranspose2(conv3d(x3, store, 'c3', 1, 'same'), store, 'up'),
      () => conv2d(x2, store, 'c2', 'same'),
    ]) {
      expect(await kernelNames(f)).not.toContain('Add');
    }
    tf.dispose([x3, x2]);
    store.dispose();
  });
});

describe('fused biased convolutions without the fast kernels', () => {
  let wasActive = false;
  beforeAll(() => {
    wasActive = fastKernelsActive();
    unregisterFastKernels();
  });
  afterAll(async () => {
    if (wasActive) await activateFastKernelsForTest();
  });

  it.each(cases)('$name: the plain composition, values and gradients', async (c) => {
    expect(fastKernelsActive()).toBe(false);
    tf.tidy(() => {
      const { x, w, b } = operands(c, 23);
      expect(Array.from(c.fused(x, w, b).dataSync())).toEqual(Array.from(c.plain(x, w, b).dataSync()));
      const r = randn(c.plain(x, w, b).shape, new Rng(2));
      const fused = gradients(c.fused, x, w, b, r);
      const plain = gradients(c.plain, x, w, b, r);
      fused.forEach((g, i) => {
        expect(Array.from(g.dataSync())).toEqual(Array.from(plain[i].dataSync()));
      });
    });
    const { x, w, b } = operands(c, 1);
    expect(await kernelNames(() => c.fused(x, w, b))).toContain('Add');
    tf.dispose([x, w, b]);
  });
});

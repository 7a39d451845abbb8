import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FAST_KERNEL_NAMES,
  fastKernelsActive,
  fastKernelsAllowedByEnv,
  fastKernelsSupported,
  fastKernelWorkerCount,
  fastKernelWorkersReady,
  fusedBatchNormRelu,
  leakyReluFused,
  registerFastKernels,
  stockKernel,
  unregisterFastKernels,
} from '../../src/backend/kernels/index.js';
import { KernelRuntime } from '../../src/backend/kernels/runtime.js';
import { emitModule, FunctionBuilder, I32 } from '../../src/backend/kernels/wasm/emit.js';
import { tf } from '../../src/backend/tf.js';
import { batchNorm, type ForwardContext } from '../../src/nn/layers.js';
import { ParameterStore } from '../../src/nn/params.js';
import { createVNet } from '../../src/nn/vnet.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../helpers/compare.js';
import { randn } from '../helpers/random.js';

/**
 * The fast cpu kernels against the stock TF.js kernels they replace, computed in the same process: the stock
 * `kernelFunc` saved at registration (`stockKernel`) or, for whole gradients, the engine after
 * `unregisterFastKernels()`. "Relative error" is max|fast − stock| / max|stock| over the tensor (per-element
 * ratios are meaningless where sums cancel to ~0).
 */

type Shape5 = [number, number, number, number, number];

/**
 * Registers the fast kernels whatever `SSMIS_FAST_KERNELS` says: the suite also runs with the fast path
 * switched off, and these tests compare the two paths.
 */
function register(options: { workers: number; parallelFlops?: number } = FAST_OPTIONS): boolean {
  const saved = process.env.SSMIS_FAST_KERNELS;
  delete process.env.SSMIS_FAST_KERNELS;
  try {
    return registerFastKernels(options);
  } finally {
    if (saved !== undefined) process.env.SSMIS_FAST_KERNELS = saved;
  }
}

/** One worker, and a low threshold so that small test tensors also run on it. */
const FAST_OPTIONS = { workers: 1, parallelFlops: 2e5 };

/** Runs the stock kernel saved at registration and wraps its output. */
function stock(name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor {
  const info = stockKernel(name)({
    inputs,
    backend: tf.backend(),
    attrs: attrs as tf.NamedAttrMap,
  }) as tf.TensorInfo;
  return tf.engine().makeTensorFromTensorInfo(info);
}

function runKernel(name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

interface ConvCase {
  x: Shape5;
  k: number;
  cout: number;
  s: number;
  pad: 'same' | 'valid';
}

// Odd spatial sizes, channel counts 1, 3, 5, 17 (not multiples of the 8-lane block), batch 1 and 2.
const convCases: ConvCase[] = [
  { x: [2, 5, 7, 6, 3], k: 3, cout: 5, s: 1, pad: 'same' },
  { x: [1, 6, 5, 7, 17], k: 3, cout: 8, s: 1, pad: 'same' },
  { x: [2, 4, 3, 5, 1], k: 3, cout: 16, s: 1, pad: 'same' },
  { x: [1, 3, 5, 4, 16], k: 3, cout: 17, s: 1, pad: 'same' },
  { x: [2, 6, 4, 8, 5], k: 2, cout: 3, s: 2, pad: 'valid' },
  { x: [1, 7, 5, 5, 1], k: 2, cout: 16, s: 2, pad: 'valid' },
  { x: [2, 4, 6, 4, 17], k: 2, cout: 9, s: 2, pad: 'valid' },
  { x: [1, 5, 3, 7, 16], k: 1, cout: 2, s: 1, pad: 'valid' },
  { x: [2, 3, 5, 3, 3], k: 1, cout: 5, s: 1, pad: 'same' },
  { x: [1, 5, 6, 7, 3], k: 3, cout: 5, s: 1, pad: 'valid' },
  // k3 s2 'same': fast forward and filter gradient (generic padding/stride), stock input gradient.
  { x: [1, 7, 6, 7, 3], k: 3, cout: 4, s: 2, pad: 'same' },
];

describe('fast cpu kernels', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    expect(register()).toBe(true);
    await fastKernelWorkersReady();
  });

  afterAll(() => {
    unregisterFastKernels();
  });

  it('reports itself active with its worker and every replaced kernel registered on cpu', () => {
    expect(fastKernelsSupported()).toBe(true);
    expect(fastKernelsActive()).toBe(true);
    expect(fastKernelWorkerCount()).toBe(1);
    for (const name of FAST_KERNEL_NAMES) {
      expect(tf.getKernel(name, 'cpu')?.kernelFunc).not.toBe(stockKernel(name));
    }
  });

  it.each(convCases)('Conv3D, dx and dw match the stock kernels for x $x, k$k s$s $pad → $cout', (c) => {
    const rng = new Rng(c.x.reduce((a, b) => 31 * a + b, c.k + c.cout));
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = randn(c.x, rng);
      const w = randn([c.k, c.k, c.k, c.x[4], c.cout], rng);
      const strides = [c.s, c.s, c.s];
      const convAttrs = { strides, pad: c.pad, dataFormat: 'NDHWC', dilations: [1, 1, 1] };
      const y = tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, c.s, c.pad);
      expect(relErr(y, stock('Conv3D', { x, filter: w }, convAttrs))).toBeLessThan(1e-4);
      const dy = randn(y.shape, rng);
      const dxAttrs = { strides, pad: c.pad, inputShape: c.x };
      const dx = runKernel('Conv3DBackpropInputV2', { dy, filter: w }, dxAttrs);
      expect(relErr(dx, stock('Conv3DBackpropInputV2', { dy, filter: w }, dxAttrs))).toBeLessThan(1e-4);
      const dwAttrs = { strides, pad: c.pad, filterShape: w.shape };
      const dw = runKernel('Conv3DBackpropFilterV2', { x, dy }, dwAttrs);
      expect(relErr(dw, stock('Conv3DBackpropFilterV2', { x, dy }, dwAttrs))).toBeLessThan(1e-4);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('falls back to the stock kernel for dilations, k3 s2 input gradients and non-float inputs', () => {
    tf.tidy(() => {
      const rng = new Rng(5);
      const x = randn([1, 7, 6, 7, 3], rng);
      const w = randn([3, 3, 3, 3, 4], rng);
      const dilated = tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, 1, 'same', 'NDHWC', 2);
      const dAttrs = { strides: [1, 1, 1], pad: 'same', dataFormat: 'NDHWC', dilations: [2, 2, 2] };
      expect(relErr(dilated, stock('Conv3D', { x, filter: w }, dAttrs))).toBe(0);
      const y = tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, 2, 'same');
      const dy = randn(y.shape, rng);
      const attrs = { strides: [2, 2, 2], pad: 'same', inputShape: x.shape };
      const dx = runKernel('Conv3DBackpropInputV2', { dy, filter: w }, attrs);
      expect(relErr(dx, stock('Conv3DBackpropInputV2', { dy, filter: w }, attrs))).toBe(0);
      const ints = tf.add(tf.tensor([1, 2, 3], [3], 'int32'), tf.tensor([4], [1], 'int32'));
      expect(ints.dtype).toBe('int32');
      expect(Array.from(ints.dataSync())).toEqual([5, 6, 7]);
    });
  });

  it('conv3dTranspose (k2 s2) and its gradients for the input and the filter match the stock path', () => {
    const rng = new Rng(11);
    const x = randn([2, 3, 2, 3, 5], rng) as tf.Tensor5D;
    const w = randn([2, 2, 2, 3, 5], rng) as tf.Tensor5D;
    const r = randn([2, 6, 4, 6, 3], rng);
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv3dTranspose(a as tf.Tensor5D, b as tf.Tensor5D, [2, 6, 4, 6, 3], 2, 'valid'), r));
    const run = () => tf.tidy(() => [f(x, w), ...tf.grads(f)([x, w])].map((t) => tf.keep(t)));
    const fast = run();
    unregisterFastKernels();
    const ref = run();
    register();
    fast.forEach((t, i) => {
      expect(relErr(t, ref[i])).toBeLessThan(1e-4);
    });
    tf.dispose([x, w, r, ...fast, ...ref]);
  });

  it('runs large tasks on the worker thread with the same results as the main thread alone', async () => {
    await fastKernelWorkersReady();
    const rng = new Rng(3);
    tf.tidy(() => {
      const x = randn([2, 12, 12, 12, 8], rng);
      const w = randn([3, 3, 3, 8, 16], rng);
      const y = tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, 1, 'same');
      const attrs = { strides: [1, 1, 1], pad: 'same', dataFormat: 'NDHWC', dilations: [1, 1, 1] };
      expect(relErr(y, stock('Conv3D', { x, filter: w }, attrs))).toBeLessThan(1e-4);
      const dy = randn(y.shape, rng);
      const dw = runKernel(
        'Conv3DBackpropFilterV2',
        { x, dy },
        { strides: [1, 1, 1], pad: 'same', filterShape: w.shape },
      );
      const dwRef = stock(
        'Conv3DBackpropFilterV2',
        { x, dy },
        { strides: [1, 1, 1], pad: 'same', filterShape: w.shape },
      );
      expect(relErr(dw, dwRef)).toBeLessThan(1e-4);
    });
  });

  describe('element-wise kernels', () => {
    const shapes: Array<[number[], number[]]> = [
      [
        [2, 3, 4, 5, 6],
        [2, 3, 4, 5, 6],
      ],
      [[2, 3, 4, 5, 6], [6]],
      [
        [1, 1, 1, 1, 6],
        [2, 3, 4, 5, 6],
      ],
      [
        [2, 3, 4, 5, 6],
        [2, 1, 1, 1, 6],
      ],
      [
        [2, 3, 4, 5, 1],
        [2, 3, 4, 5, 3],
      ],
      [[2, 3, 4, 5, 6], []],
      [[], [3, 5]],
      [
        [3, 1, 5],
        [1, 4, 1],
      ],
      [[7], [1]],
      // Rows of 256 or more elements take the one-row loop, shorter ones the two-axis loop.
      [[2, 3, 300], [300]],
      [
        [3, 260],
        [3, 1],
      ],
      [
        [2, 300, 4],
        [2, 1, 4],
      ],
      // Rows of two (binary-segmentation logits times a voxel mask).
      [
        [2, 37, 2],
        [2, 37, 1],
      ],
      [
        [2, 37, 2],
        [1, 37, 2],
      ],
      // 16384 output values or more: WebAssembly, rows contiguous or one operand constant along a row, with and
      // without a tail past the last group of 4.
      [
        [2, 4096, 2],
        [2, 4096, 1],
      ],
      [
        [2, 4096, 2],
        [2, 4096, 2],
      ],
      [[16387], [1]],
      [[2, 3, 4099], [4099]],
      [
        [5, 4099],
        [5, 1],
      ],
      // Three merged axes (a per-sample, per-class factor over the voxels; a channel-dropout mask).
      [
        [2, 1, 2],
        [2, 4096, 2],
      ],
      [
        [2, 32, 33, 5],
        [2, 1, 1, 5],
      ],
    ];
    const ops: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
      ['Add', tf.add],
      ['Sub', tf.sub],
      ['Multiply', tf.mul],
      ['RealDiv', tf.div],
    ];
    it.each(shapes)('Add/Sub/Multiply/RealDiv broadcast %j with %j like the stock kernels', (sa, sb) => {
      const rng = new Rng(sa.length * 7 + sb.length);
      tf.tidy(() => {
        const a = randn(sa, rng);
        const b = tf.add(tf.abs(randn(sb, rng)), 0.5);
        for (const [name, op] of ops) {
          const fast = op(a, b);
          expect(relErr(fast, stock(name, { a, b }, {}))).toBe(0);
          expect(relErr(op(b, a), stock(name, { a: b, b: a }, {}))).toBe(0);
        }
      });
    });

    const reductions: Array<[number[], number | number[] | undefined, boolean]> = [
      [[2, 3, 4, 5, 6], [0, 1, 2, 3], false],
      [[2, 3, 4, 5, 6], [0, 1, 2, 3], true],
      [[2, 3, 4, 5, 6], [3, 4], false],
      [[2, 3, 4, 5, 6], -1, true],
      [[2, 3, 4, 5, 6], undefined, false],
      [[2, 3, 4, 5, 6], [1, 3], false],
      [[4, 5], 0, false],
      [[2, 3, 4, 5, 6], [1, 2], false],
      [[2, 3, 4, 5, 6], [2, 3], true],
      [[2, 999, 3], 1, false],
      // Leading axes of 4096 values or more (a bias gradient): column sums in WebAssembly, C with and without a
      // tail past the last group of 4.
      [[3, 40, 37, 6], [0, 1, 2], false],
      [[2, 16, 16, 16], [0, 1, 2], true],
      [[5000, 3], 0, false],
      [[4100, 3], -1, false],
      [[2, 4099, 5], 1, true],
    ];
    it.each(reductions)(
      'Sum and Mean of %j over %j (keepDims %s) match the stock kernels',
      (shape, axis, keepDims) => {
        const rng = new Rng(shape.length + (Array.isArray(axis) ? axis.length : 1));
        tf.tidy(() => {
          const x = randn(shape, rng);
          const attrs = { axis: axis ?? null, keepDims };
          expect(relErr(tf.sum(x, axis, keepDims), stock('Sum', { x }, attrs))).toBeLessThan(1e-6);
          expect(relErr(tf.mean(x, axis, keepDims), stock('Mean', { x }, attrs))).toBeLessThan(1e-6);
          // The sums run in the stock order, so they are the same numbers (the losses rely on it).
          expect(Array.from(tf.sum(x, axis, keepDims).dataSync())).toEqual(
            Array.from(stock('Sum', { x }, attrs).dataSync()),
          );
        });
      },
    );

    it('Relu and Step keep NaN and match the stock kernels', () => {
      tf.tidy(() => {
        const x = tf.tensor([-2, -0, 0, 0.5, Number.NaN, 3, -1e-30], [7]);
        expect(Array.from(tf.relu(x).dataSync())).toEqual(Array.from(stock('Relu', { x }, {}).dataSync()));
        const step = runKernel('Step', { x }, { alpha: 0.25 });
        expect(Array.from(step.dataSync())).toEqual(
          Array.from(stock('Step', { x }, { alpha: 0.25 }).dataSync()),
        );
        expect(Number.isNaN(tf.relu(x).dataSync()[4])).toBe(true);
      });
    });

    it('Exp gives the stock kernel bit for bit, NaN and infinities included', () => {
      tf.tidy(() => {
        const x = tf.tensor(
          [-2, -0, 0, 0.5, Number.NaN, 3, -1e-30, 90, -120, Number.POSITIVE_INFINITY],
          [2, 5],
        );
        const fast = tf.exp(x);
        expect(fast.shape).toEqual([2, 5]);
        expect(Array.from(fast.dataSync())).toEqual(Array.from(stock('Exp', { x }, {}).dataSync()));
      });
    });
  });

  describe.each([
    { C: 8, engine: 'wasm' },
    { C: 5, engine: 'JS (C not a multiple of 4)' },
  ])('fusedBatchNormRelu, $C channels, $engine engine', ({ C }) => {
    const specs = [
      { key: 'bn.weight', shape: [C], role: 'bn_weight' as const },
      { key: 'bn.bias', shape: [C], role: 'bn_bias' as const },
      { key: 'bn.running_mean', shape: [C], role: 'running_mean' as const },
      { key: 'bn.running_var', shape: [C], role: 'running_var' as const },
    ];

    function stores(): [ParameterStore, ParameterStore] {
      const rng = new Rng(8);
      const a = new ParameterStore('fusedbn_a', specs, rng);
      const b = new ParameterStore('fusedbn_b', specs, rng);
      for (const s of [a, b]) {
        const r = new Rng(21);
        s.get('bn.weight').assign(
          tf.tensor(
            Float32Array.from({ length: C }, () => 0.5 + r.random()),
            [C],
          ),
        );
        s.get('bn.bias').assign(
          tf.tensor(
            Float32Array.from({ length: C }, () => r.normal()),
            [C],
          ),
        );
        s.get('bn.running_mean').assign(
          tf.tensor(
            Float32Array.from({ length: C }, () => r.normal()),
            [C],
          ),
        );
        s.get('bn.running_var').assign(
          tf.tensor(
            Float32Array.from({ length: C }, () => 0.5 + r.random()),
            [C],
          ),
        );
      }
      return [a, b];
    }

    /**
     * The reference gradients of `refLoss` at x: for γ and β from variableGrads over the store's variables (one
     * stat-updating forward), for x with the running statistics left alone.
     */
    function referenceGradients(
      refLoss: (xx: tf.Tensor) => tf.Scalar,
      ref: ParameterStore,
      ctx: ForwardContext,
      x: tf.Tensor,
    ): { value: tf.Scalar; grads: tf.NamedTensorMap; dxRef: tf.Tensor } {
      const { value, grads } = tf.variableGrads(() => refLoss(x), [ref.get('bn.weight'), ref.get('bn.bias')]);
      const dxRef = tf.grad((xx: tf.Tensor) => {
        const saved = ctx.updateStats;
        ctx.updateStats = false;
        const l = refLoss(xx);
        ctx.updateStats = saved;
        return l;
      })(x);
      return { value, grads, dxRef };
    }

    it.each([true, false])(
      'equals layers.batchNorm + relu (training %s): output, gradients, running stats',
      (training) => {
        const [fused, ref] = stores();
        const rng = new Rng(training ? 1 : 2);
        // A large mean and odd sizes: the variance must not cancel.
        const x = tf.tidy(() => tf.add(randn([2, 3, 5, 3, C], rng), 3));
        const r = randn([2, 3, 5, 3, C], rng);
        const ctx: ForwardContext = { training, updateStats: true, rng: new Rng(0) };
        const before = tf.memory().numTensors;
        const fusedLoss = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar => {
          const y = fusedBatchNormRelu(xx, g, b, {
            training,
            runningMean: fused.get('bn.running_mean'),
            runningVar: fused.get('bn.running_var'),
          });
          return tf.sum(tf.mul(y, r));
        };
        const refLoss = (xx: tf.Tensor): tf.Scalar =>
          tf.sum(tf.mul(tf.relu(batchNorm(xx, ref, 'bn', ctx)), r));
        const out = tf.tidy(() => {
          const yf = fusedBatchNormRelu(x, fused.get('bn.weight'), fused.get('bn.bias'), {
            training,
            updateStats: false,
            runningMean: fused.get('bn.running_mean'),
            runningVar: fused.get('bn.running_var'),
          });
          const yr = tf.relu(batchNorm(x, ref, 'bn', { ...ctx, updateStats: false }));
          return relErr(yf, yr);
        });
        expect(out).toBeLessThan(1e-5);
        const gf = tf.grads(fusedLoss)([x, fused.get('bn.weight'), fused.get('bn.bias')]);
        const { value, grads, dxRef } = referenceGradients(refLoss, ref, ctx, x);
        expect(relErr(gf[0], dxRef)).toBeLessThan(1e-4);
        expect(relErr(gf[1], grads[ref.get('bn.weight').name])).toBeLessThan(1e-4);
        expect(relErr(gf[2], grads[ref.get('bn.bias').name])).toBeLessThan(1e-4);
        // Both have now run exactly one stat-updating train-mode forward (fusedLoss in tf.grads, refLoss in
        // variableGrads): the running statistics must agree.
        for (const key of ['bn.running_mean', 'bn.running_var']) {
          expect(relErr(fused.get(key), ref.get(key))).toBeLessThan(1e-6);
        }
        tf.dispose([value, ...gf, ...Object.values(grads), dxRef]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, r]);
        fused.dispose();
        ref.dispose();
      },
    );

    it.each([
      { slope: 0.2, training: true },
      { slope: 0.2, training: false },
      { slope: 1, training: true },
      { slope: 1.5, training: true },
    ])(
      'with slope $slope (training $training) equals tf.leakyRelu(layers.batchNorm): output, gradients, running stats',
      ({ slope, training }) => {
        const [fused, ref] = stores();
        const rng = new Rng(training ? 3 : 4);
        const x = tf.tidy(() => tf.add(randn([2, 3, 5, 3, C], rng), 3));
        const r = randn([2, 3, 5, 3, C], rng);
        const ctx: ForwardContext = { training, updateStats: true, rng: new Rng(0) };
        const before = tf.memory().numTensors;
        const opts = (updateStats: boolean) => ({
          training,
          updateStats,
          runningMean: fused.get('bn.running_mean'),
          runningVar: fused.get('bn.running_var'),
        });
        const fusedLoss = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar =>
          tf.sum(tf.mul(fusedBatchNormRelu(xx, g, b, { ...opts(true), slope }), r));
        const twoOpLoss = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar =>
          tf.sum(
            tf.mul(leakyReluFused(fusedBatchNormRelu(xx, g, b, { ...opts(false), relu: false }), slope), r),
          );
        const refLoss = (xx: tf.Tensor): tf.Scalar =>
          tf.sum(tf.mul(tf.leakyRelu(batchNorm(xx, ref, 'bn', ctx), slope), r));
        const [g, b] = [fused.get('bn.weight'), fused.get('bn.bias')];
        const out = tf.tidy(() => {
          const yf = fusedBatchNormRelu(x, g, b, { ...opts(false), slope });
          // Bit for bit the norm and the LeakyReLU as two ops on the same engine.
          const yTwo = leakyReluFused(fusedBatchNormRelu(x, g, b, { ...opts(false), relu: false }), slope);
          expect(Array.from(yf.dataSync())).toEqual(Array.from(yTwo.dataSync()));
          // Negative values occur (the slope branch is exercised).
          expect(Array.from(yf.dataSync()).some((v) => v < 0)).toBe(true);
          const yr = tf.leakyRelu(batchNorm(x, ref, 'bn', { ...ctx, updateStats: false }), slope);
          return relErr(yf, yr);
        });
        expect(out).toBeLessThan(1e-5);
        const gTwo = tf.grads(twoOpLoss)([x, g, b]);
        const gf = tf.grads(fusedLoss)([x, g, b]);
        const { value, grads, dxRef } = referenceGradients(refLoss, ref, ctx, x);
        for (let i = 0; i < 3; i++) expect(relErr(gf[i], gTwo[i])).toBeLessThan(1e-5);
        expect(relErr(gf[0], dxRef)).toBeLessThan(1e-5);
        expect(relErr(gf[1], grads[ref.get('bn.weight').name])).toBeLessThan(1e-5);
        expect(relErr(gf[2], grads[ref.get('bn.bias').name])).toBeLessThan(1e-5);
        if (training) {
          // fusedLoss ran one stat-updating forward (twoOpLoss none), refLoss one.
          for (const key of ['bn.running_mean', 'bn.running_var']) {
            expect(relErr(fused.get(key), ref.get(key))).toBeLessThan(1e-6);
          }
        }
        tf.dispose([value, ...gf, ...gTwo, ...Object.values(grads), dxRef]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, r]);
        fused.dispose();
        ref.dispose();
      },
    );

    it.each([
      { slope: undefined, training: true },
      { slope: 0.2, training: true },
      { slope: undefined, training: false },
    ])(
      'with groups (slope $slope, training $training) equals one call per group: output and dx bit for bit, dγ, dβ, running stats',
      ({ slope, training }) => {
        const [grouped, separate] = stores();
        const rng = new Rng(6);
        const x = tf.tidy(() => tf.add(randn([6, 3, 5, 2, C], rng), 2));
        const r = randn([6, 3, 5, 2, C], rng);
        const before = tf.memory().numTensors;
        const opts = (s: ParameterStore) => ({
          training,
          slope,
          runningMean: s.get('bn.running_mean'),
          runningVar: s.get('bn.running_var'),
        });
        const gs = (s: ParameterStore) => [s.get('bn.weight'), s.get('bn.bias')];
        // Three groups of two samples in one call, against three calls (each updating the statistics, in order).
        const groupedLoss = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar =>
          tf.sum(tf.mul(fusedBatchNormRelu(xx, g, b, { ...opts(grouped), groups: 3 }), r));
        const separateLoss = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar =>
          tf.sum(
            tf.mul(
              tf.concat(
                tf.split(xx, 3, 0).map((part) => fusedBatchNormRelu(part, g, b, opts(separate))),
                0,
              ),
              r,
            ),
          );
        const gg = tf.grads(groupedLoss)([x, ...gs(grouped)]);
        const gsep = tf.grads(separateLoss)([x, ...gs(separate)]);
        const y = tf.tidy(() => {
          const yg = fusedBatchNormRelu(x, gs(grouped)[0], gs(grouped)[1], {
            ...opts(grouped),
            updateStats: false,
            groups: 3,
          });
          const ys = tf.concat(
            tf.split(x, 3, 0).map((part) =>
              fusedBatchNormRelu(part, gs(separate)[0], gs(separate)[1], {
                ...opts(separate),
                updateStats: false,
              }),
            ),
            0,
          );
          return [Array.from(yg.dataSync()), Array.from(ys.dataSync())];
        });
        expect(y[0]).toEqual(y[1]);
        expect(Array.from(gg[0].dataSync())).toEqual(Array.from(gsep[0].dataSync()));
        expect(relErr(gg[1], gsep[1])).toBeLessThan(1e-6);
        expect(relErr(gg[2], gsep[2])).toBeLessThan(1e-6);
        for (const key of ['bn.running_mean', 'bn.running_var']) {
          expect(Array.from(grouped.get(key).dataSync())).toEqual(Array.from(separate.get(key).dataSync()));
        }
        if (training) {
          // The groups really are normalised apart: one group of six gives other outputs.
          const whole = tf.tidy(() =>
            Array.from(
              fusedBatchNormRelu(x, gs(grouped)[0], gs(grouped)[1], {
                ...opts(grouped),
                updateStats: false,
              }).dataSync(),
            ),
          );
          expect(whole).not.toEqual(y[0]);
        }
        tf.dispose([...gg, ...gsep]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, r]);
        grouped.dispose();
        separate.dispose();
      },
    );

    it('layers.batchNorm with ctx.groups equals one call per group (the stock path)', () => {
      const [grouped, separate] = stores();
      const rng = new Rng(7);
      const x = tf.tidy(() => tf.add(randn([4, 3, 2, 3, C], rng), 1));
      const ctx: ForwardContext = { training: true, updateStats: true, rng: new Rng(0) };
      const yg = batchNorm(x, grouped, 'bn', { ...ctx, groups: 2 });
      const ys = tf.concat(
        tf.split(x, 2, 0).map((part) => batchNorm(part, separate, 'bn', ctx)),
        0,
      );
      expect(Array.from(yg.dataSync())).toEqual(Array.from(ys.dataSync()));
      for (const key of ['bn.running_mean', 'bn.running_var']) {
        expect(Array.from(grouped.get(key).dataSync())).toEqual(Array.from(separate.get(key).dataSync()));
      }
      tf.dispose([x, yg, ys]);
      grouped.dispose();
      separate.dispose();
    });

    it('refuses groups that do not divide the batch, and a group of one value per channel, naming the layer', () => {
      const [s] = stores();
      const x = tf.ones([4, 2, C]);
      const base = {
        training: true,
        runningMean: s.get('bn.running_mean'),
        runningVar: s.get('bn.running_var'),
        name: 'enc1.bn',
      };
      for (const groups of [3, 0, 1.5, Number.NaN]) {
        expect(() =>
          fusedBatchNormRelu(x, s.get('bn.weight'), s.get('bn.bias'), { ...base, groups }),
        ).toThrow(/enc1\.bn: groups must be a positive integer dividing the batch/);
      }
      const single = tf.ones([4, 1, C]);
      expect(() =>
        fusedBatchNormRelu(single, s.get('bn.weight'), s.get('bn.bias'), { ...base, groups: 4 }),
      ).toThrow(/enc1\.bn: batch norm in train mode needs more than 1 value per channel.* per group of 1/);
      tf.dispose([x, single]);
      s.dispose();
    });

    it('with a slope keeps NaN in the output and gives it the slope in the bias gradient, as tf.leakyRelu', () => {
      const [fused, ref] = stores();
      const rng = new Rng(5);
      const values = randn([2, 4, C], rng).dataSync().slice() as Float32Array;
      values[3] = Number.NaN;
      const x = tf.tensor(values, [2, 4, C]);
      const opts = {
        training: false,
        runningMean: fused.get('bn.running_mean'),
        runningVar: fused.get('bn.running_var'),
        slope: 0.2,
      };
      const ctx: ForwardContext = { training: false, updateStats: false, rng: new Rng(0) };
      const y = fusedBatchNormRelu(x, fused.get('bn.weight'), fused.get('bn.bias'), opts);
      expect(Number.isNaN(y.dataSync()[3])).toBe(true);
      // dβ = Σ activation gradient: the NaN position adds dy·slope (finite), as TF.js's where(z > 0, dy, dy·slope).
      const dBeta = tf.grad((bb: tf.Tensor) =>
        tf.sum(fusedBatchNormRelu(x, fused.get('bn.weight'), bb, opts)),
      )(fused.get('bn.bias'));
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.leakyRelu(batchNorm(x, ref, 'bn', ctx), 0.2)) as tf.Scalar,
        [ref.get('bn.bias')],
      );
      expect(Number.isFinite(dBeta.dataSync()[3])).toBe(true);
      expect(relErr(dBeta, grads[ref.get('bn.bias').name])).toBeLessThan(1e-6);
      tf.dispose([x, y, dBeta, value, ...Object.values(grads)]);
      fused.dispose();
      ref.dispose();
    });
  });

  it('rejects a negative or non-finite slope, and a slope with relu off', () => {
    const [g, b] = [tf.ones([4]), tf.zeros([4])];
    const [m, v] = [tf.variable(tf.zeros([4])), tf.variable(tf.ones([4]))];
    const x = tf.ones([2, 4]);
    const base = { training: false, runningMean: m, runningVar: v, name: 'enc1.bn' };
    for (const extra of [{ slope: -0.1 }, { slope: Number.NaN }, { slope: 0.1, relu: false }]) {
      expect(() => fusedBatchNormRelu(x, g, b, { ...base, ...extra })).toThrow(InputError);
    }
    expect(() => fusedBatchNormRelu(x, g, b, { ...base, slope: -1 })).toThrow(/enc1\.bn: slope/);
    tf.dispose([g, b, m, v, x]);
  });

  it('gives the same loss, gradients and running statistics through a tiny VNet step on and off', () => {
    const x = tf.tidy(() => randn([2, 16, 16, 16, 1], new Rng(4)));
    const labels = tf.tidy(() =>
      tf.oneHot(tf.cast(tf.greater(randn([2, 16, 16, 16], new Rng(5)), 0), 'int32'), 2),
    );
    const step = (name: string) => {
      const net = createVNet({ baseFilters: 2, numClasses: 2, dropout: 0.5, seed: 9, name });
      const { value, grads } = tf.variableGrads(
        () =>
          tf.losses.softmaxCrossEntropy(
            labels,
            net.apply(x, { training: true, rng: new Rng(6) }),
          ) as tf.Scalar,
        net.trainableWeights(),
      );
      const byKey = new Map<string, tf.Tensor>();
      for (const [key, v] of net.namedParameters()) byKey.set(key, grads[v.name]);
      const buffers = new Map<string, Float32Array>();
      for (const [key, v] of net.namedBuffers()) buffers.set(key, v.dataSync().slice() as Float32Array);
      net.dispose();
      return { loss: value, grads: byKey, buffers };
    };
    const fast = step('fastvnet');
    unregisterFastKernels();
    const ref = step('stockvnet');
    register();
    expect(Math.abs(fast.loss.dataSync()[0] - ref.loss.dataSync()[0])).toBeLessThan(1e-5);
    expect(fast.grads.size).toBe(ref.grads.size);
    // Each kernel agrees to ~1e-6 (tests above), but 16 train-mode batch norms over few values per channel
    // (2 at the 1³ bottleneck) amplify float32 rounding differences, to ~2e-4 here; a wrong index would give
    // O(1) errors. The biases of convolutions followed by train-mode batch norm have an exactly zero gradient
    // in exact arithmetic (the norm removes any per-channel shift), so theirs is rounding noise on both sides:
    // errors are measured against at least 1e-3 of the largest gradient of the network.
    const globalScale = Math.max(...[...ref.grads.values()].map((t) => tf.max(tf.abs(t)).dataSync()[0]));
    for (const [key, g] of fast.grads) {
      const gr = ref.grads.get(key);
      expect(gr, key).toBeDefined();
      expect(relErr(g, gr as tf.Tensor, 1e-3 * globalScale), key).toBeLessThan(2e-3);
    }
    for (const [key, b] of fast.buffers) {
      const br = ref.buffers.get(key) as Float32Array;
      const diff = Math.max(...b.map((v, i) => Math.abs(v - br[i])));
      expect(diff, key).toBeLessThan(1e-4);
    }
    tf.dispose([x, labels, fast.loss, ref.loss, ...fast.grads.values(), ...ref.grads.values()]);
  });
});

describe('switches and lifecycle', () => {
  it('SSMIS_FAST_KERNELS=0 disables registration', () => {
    expect(fastKernelsAllowedByEnv({ SSMIS_FAST_KERNELS: '0' })).toBe(false);
    expect(fastKernelsAllowedByEnv({ SSMIS_FAST_KERNELS: 'off' })).toBe(false);
    expect(fastKernelsAllowedByEnv({ SSMIS_FAST_KERNELS: '1' })).toBe(true);
    expect(fastKernelsAllowedByEnv({})).toBe(true);
    const saved = process.env.SSMIS_FAST_KERNELS;
    process.env.SSMIS_FAST_KERNELS = '0';
    try {
      expect(registerFastKernels({ workers: 0 })).toBe(false);
      expect(fastKernelsActive()).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.SSMIS_FAST_KERNELS;
      else process.env.SSMIS_FAST_KERNELS = saved;
    }
  });

  it('unregisterFastKernels restores the exact stock kernel functions', () => {
    const stockFns = FAST_KERNEL_NAMES.map((n) => tf.getKernel(n, 'cpu')?.kernelFunc);
    expect(register({ workers: 0 })).toBe(true);
    expect(register({ workers: 0 })).toBe(true);
    unregisterFastKernels();
    unregisterFastKernels();
    expect(fastKernelsActive()).toBe(false);
    FAST_KERNEL_NAMES.forEach((n, i) => {
      expect(tf.getKernel(n, 'cpu')?.kernelFunc).toBe(stockFns[i]);
    });
  });

  it('the wasm writer emits modules the engine validates and runs', () => {
    const f = new FunctionBuilder('addmul', [I32, I32], [I32]);
    f.get(0).get(1).add().i32(3).mul();
    const bytes = emitModule([f], { initialPages: 1, maximumPages: 2 });
    const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
    expect(wasm.validate(bytes)).toBe(true);
    const rt = new KernelRuntime({ workers: 0 });
    expect(rt.workerCount).toBe(0);
    rt.terminate();
  });
});

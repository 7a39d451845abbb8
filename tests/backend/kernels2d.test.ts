import { describe, expect, it } from 'vitest';
import { leakyReluFused, stockKernel, upsampleBilinear2xFused } from '../../src/backend/kernels/index.js';
import { activeRuntime } from '../../src/backend/kernels/runtime.js';
import { upsampleValues } from '../../src/backend/kernels/upsample.js';
import { tf } from '../../src/backend/tf.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../helpers/compare.js';
import { useFastKernelsInFile } from '../helpers/fast-kernels.js';
import { randn } from '../helpers/random.js';

/**
 * The fast kernels of the 2-D network (Conv2D and its two gradients, MaxPool/MaxPoolGrad, GatherV2, SplitV, Tile,
 * LeakyRelu, Greater, Select) against the stock kernels they replace, called in the same process: the fast
 * one through the engine, the stock one through the `kernelFunc` saved at registration (`stockKernel`).
 * "Relative error" is max|fast − stock| / max|stock| over the tensor.
 */

useFastKernelsInFile();

/** The fast kernel (through the engine) and the stock one on the same inputs, as tensors owned by the tidy. */
function both(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown>,
): { fast: tf.Tensor[]; stock: tf.Tensor[] } {
  const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
  const fast = Array.isArray(out) ? out : [out];
  const backend = tf.backend();
  const raw = stockKernel(name)({ inputs, backend, attrs: attrs as tf.NamedAttrMap });
  const stock = (Array.isArray(raw) ? raw : [raw]).map((t) => tf.engine().makeTensorFromTensorInfo(t));
  return { fast, stock };
}

function expectClose(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): void {
  const { fast, stock } = both(name, inputs, attrs);
  expect(fast.length).toBe(stock.length);
  fast.forEach((f, i) => {
    expect(relErr(f, stock[i])).toBeLessThanOrEqual(1e-4);
  });
}

const convCases = [
  { x: [2, 7, 9, 5], k: 3, s: 1, pad: 'same', cout: 11 },
  { x: [1, 16, 16, 16], k: 3, s: 1, pad: 'same', cout: 16 },
  { x: [3, 5, 8, 13], k: 3, s: 1, pad: 'valid', cout: 6 },
  { x: [2, 6, 7, 9], k: 1, s: 1, pad: 'valid', cout: 3 },
  { x: [1, 8, 6, 4], k: 2, s: 2, pad: 'valid', cout: 6 },
  { x: [2, 9, 7, 3], k: 3, s: 2, pad: 'same', cout: 5 },
  { x: [1, 6, 10, 3], k: 3, s: 1, pad: 1, cout: 4 },
] as const;

describe('fast 2-D kernels against the stock kernels', () => {
  it.each(convCases)('Conv2D, dx and dw for x $x, k$k s$s pad $pad → $cout', (c) => {
    const rng = new Rng(c.x.reduce((a, b) => 31 * a + b, c.k + c.cout));
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = randn([...c.x], rng);
      const w = randn([c.k, c.k, c.x[3], c.cout], rng);
      const strides = [c.s, c.s];
      const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad);
      const dy = randn(y.shape, rng);
      const common = { strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
      expectClose('Conv2D', { x, filter: w }, { ...common, dilations: [1, 1] });
      expectClose('Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: c.x });
      expectClose('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: w.shape });
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('pads with zeros over a heap that still holds the values of an earlier, larger call', () => {
    const rng = new Rng(11);
    tf.tidy(() => {
      // Each kernel starts from an empty heap without clearing it: fill it with large values first.
      tf.engine().runKernel(
        'Conv2D',
        { x: tf.fill([4, 24, 24, 16], 1e3), filter: tf.fill([1, 1, 16, 24], 1e3) },
        { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] },
      );
      // 'same' (one row and column of zeros on each side) and an explicit pad of 2, two images, odd channels.
      for (const pad of ['same', 2] as const) {
        const x = randn([2, 7, 9, 5], rng);
        const w = randn([3, 3, 5, 11], rng);
        const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, pad);
        const dy = randn(y.shape, rng);
        const common = { strides: [1, 1], pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
        expectClose('Conv2D', { x, filter: w }, { ...common, dilations: [1, 1] });
        expectClose('Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: x.shape });
        expectClose('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: w.shape });
      }
    });
  });

  it('falls back to the stock kernel for dilation 2', () => {
    const rng = new Rng(5);
    tf.tidy(() => {
      const x = randn([1, 9, 9, 3], rng);
      const w = randn([3, 3, 3, 4], rng);
      expectClose('Conv2D', { x, filter: w }, { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 2 });
    });
  });

  it.each([
    { x: [2, 7, 9, 5], k: 2 },
    { x: [1, 8, 8, 16], k: 2 },
    // C a multiple of 4: the forward in WebAssembly on the pool; odd H and W drop a row and a column (the
    // gradient in JavaScript), even ones take the gradient in WebAssembly too.
    { x: [2, 7, 9, 8], k: 2 },
    { x: [2, 6, 10, 8], k: 2 },
    { x: [3, 6, 9, 3], k: 3 },
  ])('MaxPool and MaxPoolGrad for x $x, window $k (ties routed to the first maximum)', ({ x: shape, k }) => {
    const rng = new Rng(shape[1] * 7 + k);
    tf.tidy(() => {
      // Small integers make ties within windows frequent.
      const n = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(
        Float32Array.from({ length: n }, () => rng.randint(0, 3)),
        shape,
        'float32',
      );
      const attrs = { filterSize: k, strides: k, pad: 'valid', dimRoundingMode: undefined };
      expectClose('MaxPool', { x }, attrs);
      const y = tf.maxPool(x as tf.Tensor4D, k, k, 'valid');
      const dy = randn(y.shape, rng);
      expectClose('MaxPoolGrad', { dy, input: x, output: y }, attrs);
      // The gradient of the whole op through the engine, fast vs stock.
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, k, k, 'valid'), dy)))(x);
      const { stock } = both('MaxPoolGrad', { dy, input: x, output: y }, attrs);
      expect(relErr(g, stock[0])).toBe(0);
    });
  });

  it.each([2, 4])(
    '2×2 MaxPool and MaxPoolGrad with NaN and -Infinity in the windows match the stock kernels (C = %i)',
    (c) => {
      tf.tidy(() => {
        const nan = Number.NaN;
        const inf = Number.NEGATIVE_INFINITY;
        // One image 4×4, 2 channels: windows holding NaN first, NaN only, -Infinity only and a tie.
        const values = [
          [nan, 1, 2, nan, 5, 5, 0, 0],
          [3, nan, nan, nan, 5, 1, 0, 0],
          [inf, 2, inf, 1, 7, 7, 7, 7],
          [inf, nan, inf, 1, 7, 7, 7, 6],
        ].flat();
        // C = 4 (the WebAssembly forward) repeats each channel pair with the values negated in the second.
        const x =
          c === 2
            ? tf.tensor(values, [1, 4, 4, 2])
            : tf.tensor(
                values.flatMap((v, i) => (i % 2 === 0 ? [v, values[i + 1], -v, -values[i + 1]] : [])),
                [1, 4, 4, 4],
              );
        const attrs = { filterSize: 2, strides: 2, pad: 'valid', dimRoundingMode: undefined };
        const pooled = both('MaxPool', { x }, attrs);
        expect(Array.from((pooled.fast[0] as tf.Tensor).dataSync())).toEqual(
          Array.from((pooled.stock[0] as tf.Tensor).dataSync()),
        );
        const y = tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid');
        const dy = tf.tensor(
          Array.from({ length: y.size }, (_, i) => i + 1),
          y.shape,
        );
        const grad = both('MaxPoolGrad', { dy, input: x, output: y }, attrs);
        expect(Array.from((grad.fast[0] as tf.Tensor).dataSync())).toEqual(
          Array.from((grad.stock[0] as tf.Tensor).dataSync()),
        );
      });
    },
  );

  it('GatherV2, SplitV and Concat on every axis match the stock kernels', () => {
    const rng = new Rng(11);
    tf.tidy(() => {
      const x = randn([3, 5, 7, 6], rng);
      for (let axis = 0; axis < 4; axis++) {
        const dim = x.shape[axis];
        const idx = tf.tensor1d(
          Int32Array.from({ length: 2 * dim + 1 }, (_, i) => (i * 3) % dim),
          'int32',
        );
        expectClose('GatherV2', { x, indices: idx }, { axis, batchDims: 0 });
        const sizes = dim === 3 ? [1, 2] : [1, dim - 3, 2];
        expectClose('SplitV', { x }, { numOrSizeSplits: sizes, axis });
      }
      expectClose('SplitV', { x }, { numOrSizeSplits: [2, 4], axis: -1 });
      for (let axis = 0; axis < 4; axis++) {
        const other = x.shape.map((d, i) => (i === axis ? 2 : d));
        const parts = [x, randn(other, rng), randn(x.shape, rng)];
        expectClose('Concat', parts as unknown as Record<string, tf.Tensor>, { axis });
      }
    });
  });

  it.each([
    { shape: [1, 6], reps: [3, 1] },
    { shape: [2, 3, 4], reps: [2, 1, 3] },
    { shape: [2, 1, 1, 1, 5], reps: [1, 2, 3, 4, 1] },
    { shape: [5], reps: [4] },
    { shape: [2, 3], reps: [0, 2] },
  ])('Tile of $shape by $reps matches the stock kernel', ({ shape, reps }) => {
    const rng = new Rng(shape.length * 5 + reps[0]);
    tf.tidy(() => {
      expectClose('Tile', { x: randn(shape, rng) }, { reps });
    });
  });

  it('LeakyRelu, Greater (scalar) and Select match the stock kernels', () => {
    const rng = new Rng(12);
    tf.tidy(() => {
      const x = randn([2, 5, 3, 7], rng);
      const y = randn([2, 5, 3, 7], rng);
      expectClose('LeakyRelu', { x }, { alpha: 0.01 });
      const greater = both('Greater', { a: x, b: tf.scalar(0) }, {});
      const mask = greater.fast[0] as tf.Tensor;
      expect(mask.dtype).toBe('bool');
      expect(Array.from(mask.dataSync())).toEqual(Array.from((greater.stock[0] as tf.Tensor).dataSync()));
      expectClose('Select', { condition: mask, t: x, e: y }, {});
      // The LeakyReLU gradient (Greater, Multiply, Select) through the engine.
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(t, 0.01), y)))(x);
      const expected = tf.where(tf.greater(x, 0), y, tf.mul(y, 0.01));
      expect(relErr(g, expected)).toBe(0);
    });
  });

  it('leakyReluFused gives the values and gradient of tf.leakyRelu, also at ±0, ±∞ and NaN', () => {
    const rng = new Rng(13);
    const special = [0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1e-40, -1e-40];
    const values = Float32Array.from({ length: 3 * 4 * 5 * 6 }, (_, i) =>
      i < special.length ? special[i] : rng.normal(),
    );
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor(values, [3, 4, 5, 6], 'float32');
      const dy = randn([3, 4, 5, 6], rng);
      const stock = both('LeakyRelu', { x }, { alpha: 0.01 }).stock[0];
      const fused = leakyReluFused(x, 0.01);
      expect(Array.from(fused.dataSync())).toEqual(Array.from(stock.dataSync()));
      const gradOf = (f: (t: tf.Tensor) => tf.Tensor) =>
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dy)))(x);
      const expected = tf.where(tf.greater(x, 0), dy, tf.mul(dy, 0.01));
      expect(Array.from(gradOf((t) => leakyReluFused(t, 0.01)).dataSync())).toEqual(
        Array.from(expected.dataSync()),
      );
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [1, 5, 3, 1],
    [2, 4, 6, 3],
    [1, 3, 5, 16],
    [1, 1, 2, 5],
  ])(
    'the WebAssembly bilinear ×2 upsampling gives the same bits as the loops for x [%i, %i, %i, %i]',
    (...shape) => {
      const rng = new Rng(shape.reduce((a, b) => 7 * a + b, 3));
      const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
      x[0] = -0;
      x[x.length - 1] = Number.POSITIVE_INFINITY;
      const rt = activeRuntime();
      expect(rt).not.toBeNull();
      const loops = upsampleValues(x, shape, null);
      const wasm = upsampleValues(x, shape, rt);
      expect(wasm.length).toBe(loops.length);
      const differs = loops.findIndex((v, i) => !Object.is(v, wasm[i]));
      expect(differs).toBe(-1);
    },
  );

  it('the fused ops refuse what they cannot take with an InputError', () => {
    tf.tidy(() => {
      expect(() => upsampleBilinear2xFused(tf.zeros([2, 3, 4, 1], 'int32') as tf.Tensor4D)).toThrow(
        InputError,
      );
      expect(() => upsampleBilinear2xFused(tf.zeros([3, 4, 1]) as unknown as tf.Tensor4D)).toThrow(
        InputError,
      );
      expect(() => leakyReluFused(tf.zeros([3], 'int32'), 0.01)).toThrow(InputError);
      expect(() => leakyReluFused(tf.zeros([3]), Number.NaN)).toThrow(InputError);
    });
  });
});

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  fastKernelWorkersReady,
  stockKernel,
  unregisterFastKernels,
} from '../../src/backend/kernels/index.js';
import {
  activeRuntime,
  maddCeiling,
  relaxedSimdSupported,
  relaxedSimdWanted,
} from '../../src/backend/kernels/runtime.js';
import { tf } from '../../src/backend/tf.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../helpers/compare.js';
import { registerFastKernelsAfresh as register } from '../helpers/fast-kernels.js';
import { randn } from '../helpers/random.js';

/**
 * The code paths of the 3-D convolution kernels, each with the exact (multiply then add) and, where the
 * runtime has it, the relaxed-SIMD multiply-add microkernels, against the stock TF.js kernels: tiles that
 * span rows and images (small outputs), block-major order (filters over 256 KiB or few tiles), the input
 * gradient's filter flip in wasm (C a multiple of 8) and in JS (other C), the k2 s2 phases; and the
 * determinism of each setting (same inputs → the same bits, whatever the number of threads).
 */

type Shape5 = [number, number, number, number, number];

interface ConvCase {
  name: string;
  x: Shape5;
  k: number;
  cout: number;
  s: number;
  pad: 'same' | 'valid';
}

const cases: ConvCase[] = [
  // Output pixel counts are not multiples of the 6-pixel tile, so every case has a shorter last tile.
  // 2·5·2·5 = 100 output pixels: 17 tiles spanning rows and both images, block-major (few tiles).
  { name: 'tiles across rows, odd channels', x: [2, 5, 2, 5, 13], k: 3, cout: 19, s: 1, pad: 'same' },
  // Filter 9 taps · 3·64 · 9 blocks · 32 B > 256 KiB: block-major; wasm flip (C = 64).
  { name: 'large filter, block-major', x: [1, 5, 4, 5, 64], k: 3, cout: 72, s: 1, pad: 'same' },
  // Many tiles, small filter: tile-major; JS flip (C = 5).
  { name: 'tile-major, JS flip', x: [1, 7, 5, 9, 5], k: 3, cout: 11, s: 1, pad: 'same' },
  // Wasm flip with Co not a multiple of 8.
  { name: 'wasm flip, Co = 3', x: [1, 5, 7, 5, 16], k: 3, cout: 3, s: 1, pad: 'same' },
  { name: 'k2 s2 phases, odd size', x: [1, 6, 2, 10, 24], k: 2, cout: 20, s: 2, pad: 'valid' },
  { name: 'k1 head', x: [1, 5, 3, 5, 16], k: 1, cout: 2, s: 1, pad: 'valid' },
];

interface Ops {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
}

/** Forward, input and filter gradient of one case through the registered kernels (and the stock ones). */
function runCase(c: ConvCase, kernel: (name: string) => tf.KernelFunc | null): Ops {
  return tf.tidy(() => {
    const rng = new Rng(c.x.reduce((a, b) => 31 * a + b, c.k * 7 + c.cout));
    const x = randn(c.x, rng);
    const w = randn([c.k, c.k, c.k, c.x[4], c.cout], rng);
    const strides = [c.s, c.s, c.s];
    const run = (name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor => {
      const fn = kernel(name);
      if (fn === null) return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
      const info = fn({ inputs, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
      return tf.engine().makeTensorFromTensorInfo(info);
    };
    const y = run('Conv3D', { x, filter: w }, { strides, pad: c.pad, dataFormat: 'NDHWC', dilations: 1 });
    const dy = randn(y.shape, rng);
    const dx = run('Conv3DBackpropInputV2', { dy, filter: w }, { strides, pad: c.pad, inputShape: c.x });
    const dw = run('Conv3DBackpropFilterV2', { x, dy }, { strides, pad: c.pad, filterShape: w.shape });
    return {
      y: y.dataSync() as Float32Array,
      dx: dx.dataSync() as Float32Array,
      dw: dw.dataSync() as Float32Array,
    };
  });
}

const settings = [false, true].filter((relaxed) => !relaxed || relaxedSimdSupported());

describe.each(settings)('3-D convolution paths, relaxedSimd %s', (relaxed) => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  afterEach(() => {
    unregisterFastKernels();
  });

  it.each(cases)('$name: forward, dx and dw match the stock kernels, twice the same bits', async (c) => {
    register({ workers: 1, relaxedSimd: relaxed });
    await fastKernelWorkersReady();
    expect(activeRuntime()?.relaxedSimd).toBe(relaxed);
    const before = tf.memory().numTensors;
    const fast = runCase(c, () => null);
    const again = runCase(c, () => null);
    const ref = runCase(c, stockKernel);
    expect(tf.memory().numTensors).toBe(before);
    for (const key of ['y', 'dx', 'dw'] as const) {
      expect(again[key]).toEqual(fast[key]);
      const shape = [fast[key].length];
      expect(relErr(tf.tensor(fast[key], shape), tf.tensor(ref[key], shape))).toBeLessThan(1e-4);
    }
    tf.disposeVariables();
  });

  it('pads with zeros over a heap that still holds the values of an earlier, larger call', async () => {
    register({ workers: 1, relaxedSimd: relaxed });
    await fastKernelWorkersReady();
    // Each kernel starts from an empty heap without clearing it: fill it with large values first.
    tf.tidy(() => {
      const big = tf.fill([2, 12, 12, 12, 16], 1e3);
      tf.engine().runKernel(
        'Conv3D',
        { x: big, filter: tf.fill([1, 1, 1, 16, 24], 1e3) },
        { strides: [1, 1, 1], pad: 'valid', dataFormat: 'NDHWC', dilations: 1 },
      );
    });
    // Pads before and after on all three axes, two images, odd channels (the first case's geometry).
    const c = cases[0];
    const fast = runCase(c, () => null);
    const ref = runCase(c, stockKernel);
    for (const key of ['y', 'dx', 'dw'] as const) {
      const shape = [fast[key].length];
      expect(relErr(tf.tensor(fast[key], shape), tf.tensor(ref[key], shape))).toBeLessThan(1e-4);
    }
    tf.disposeVariables();
  });

  it('gives the same bits on the main thread alone as with a worker', async () => {
    const c = cases[1];
    register({ workers: 1, relaxedSimd: relaxed });
    await fastKernelWorkersReady();
    const pooled = runCase(c, () => null);
    unregisterFastKernels();
    register({ workers: 0, relaxedSimd: relaxed });
    const alone = runCase(c, () => null);
    expect(alone).toEqual(pooled);
  });
});

describe('relaxed SIMD switch and the ceiling probe', () => {
  it('SSMIS_RELAXED_SIMD turns relaxed SIMD off; the option wins over the environment', () => {
    expect(relaxedSimdWanted(undefined, {})).toBe(true);
    for (const v of ['0', 'false', 'OFF', 'no'])
      expect(relaxedSimdWanted(undefined, { SSMIS_RELAXED_SIMD: v })).toBe(false);
    for (const v of ['1', 'true', 'on'])
      expect(relaxedSimdWanted(undefined, { SSMIS_RELAXED_SIMD: v })).toBe(true);
    expect(relaxedSimdWanted(false, { SSMIS_RELAXED_SIMD: '1' })).toBe(false);
    expect(relaxedSimdWanted(true, { SSMIS_RELAXED_SIMD: '0' })).toBe(true);
  });

  it('relaxed and exact kernels agree within float32 rounding', async () => {
    if (!relaxedSimdSupported()) return;
    await tf.setBackend('cpu');
    const results: Ops[] = [];
    for (const relaxed of [false, true]) {
      register({ workers: 0, relaxedSimd: relaxed });
      results.push(runCase(cases[1], () => null));
      unregisterFastKernels();
    }
    for (const key of ['y', 'dx', 'dw'] as const) {
      const shape = [results[0][key].length];
      expect(relErr(tf.tensor(results[1][key], shape), tf.tensor(results[0][key], shape))).toBeLessThan(1e-5);
    }
    tf.disposeVariables();
  });

  it('measures a positive multiply-add throughput for each variant', () => {
    const c = maddCeiling(1e4, 1);
    expect(c.exact).toBeGreaterThan(0);
    expect(Number.isFinite(c.exact)).toBe(true);
    if (relaxedSimdSupported()) expect(c.relaxed).toBeGreaterThan(0);
    else expect(c.relaxed).toBeNull();
  });
});

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { axisRuns, tapRange } from '../../src/backend/kernels/conv3d.js';
import {
  fastKernelWorkersReady,
  stockKernel,
  unregisterFastKernels,
} from '../../src/backend/kernels/index.js';
import { relaxedSimdSupported } from '../../src/backend/kernels/runtime.js';
import { tf } from '../../src/backend/tf.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../helpers/compare.js';
import { registerFastKernelsAfresh as register } from '../helpers/fast-kernels.js';
import { randn } from '../helpers/random.js';

/**
 * The fast convolutions leave out the taps that fall on the zero padding (forward and input gradient: one
 * part per output region with the same valid taps; filter gradient: the rows and z of each tap that are not
 * padding). Leaving out a product with a zero factor does not change a float sum, so a padded convolution
 * must give the same bits as the same convolution over an explicitly zero-padded input, which runs every tap.
 */

type Shape5 = [number, number, number, number, number];

describe('axisRuns', () => {
  it('groups the output positions of a k3 s1 "same" axis into first, interior and last', () => {
    expect(axisRuns(4, 4, 3, 1, 1)).toEqual([
      { o0: 0, o1: 1, k0: 1, k1: 3 },
      { o0: 1, o1: 3, k0: 0, k1: 3 },
      { o0: 3, o1: 4, k0: 0, k1: 2 },
    ]);
    expect(axisRuns(2, 2, 3, 1, 1)).toEqual([
      { o0: 0, o1: 1, k0: 1, k1: 3 },
      { o0: 1, o1: 2, k0: 0, k1: 2 },
    ]);
    expect(axisRuns(1, 1, 3, 1, 1)).toEqual([{ o0: 0, o1: 1, k0: 1, k1: 2 }]);
  });

  it('has one run with every tap when there is no padding, and empty runs for windows in the padding', () => {
    expect(axisRuns(3, 6, 2, 2, 0)).toEqual([{ o0: 0, o1: 3, k0: 0, k1: 2 }]);
    expect(axisRuns(5, 5, 1, 1, 0)).toEqual([{ o0: 0, o1: 5, k0: 0, k1: 1 }]);
    // Input 2, kernel 3, pad 4 before: outputs 0, 1 and 6 see only padding.
    const runs = axisRuns(7, 2, 3, 1, 4);
    expect(runs[0]).toEqual({ o0: 0, o1: 2, k0: 3, k1: 3 });
    expect(runs[runs.length - 1]).toEqual({ o0: 6, o1: 7, k0: 0, k1: 0 });
    expect(runs.map((r) => r.o1 - r.o0).reduce((a, b) => a + b, 0)).toBe(7);
  });

  it('tapRange: the output positions whose window puts a tap inside the input, one range per tap', () => {
    const runs = axisRuns(4, 4, 3, 1, 1);
    expect(tapRange(runs, 0)).toEqual([1, 4]);
    expect(tapRange(runs, 1)).toEqual([0, 4]);
    expect(tapRange(runs, 2)).toEqual([0, 3]);
    // Input 2, kernel 3, pad 4: tap 0 reaches the input from output 4 on; a tap past the kernel never does.
    const wide = axisRuns(7, 2, 3, 1, 4);
    expect(tapRange(wide, 0)).toEqual([4, 6]);
    expect(tapRange(wide, 2)).toEqual([2, 4]);
    expect(tapRange(wide, 3)).toEqual([0, 0]);
  });

  it('follows the stride and the pads of k3 s2 "same"', () => {
    // TF.js 'same' for I = 7, k3, s2: O = 4, pad 2 in total, 1 before and 1 after.
    expect(axisRuns(4, 7, 3, 2, 1)).toEqual([
      { o0: 0, o1: 1, k0: 1, k1: 3 },
      { o0: 1, o1: 3, k0: 0, k1: 3 },
      { o0: 3, o1: 4, k0: 0, k1: 2 },
    ]);
    // I = 8: O = 4, pad 1 in total, all of it after.
    expect(axisRuns(4, 8, 3, 2, 0)).toEqual([
      { o0: 0, o1: 3, k0: 0, k1: 3 },
      { o0: 3, o1: 4, k0: 0, k1: 2 },
    ]);
  });
});

/** The values with −0 read as +0 (a sum of only zero products may carry either sign). */
function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync(), (v) => (v === 0 ? 0 : v));
}

interface PadCase {
  name: string;
  x: Shape5;
  k: number;
  cout: number;
  s: number;
}

const cases: PadCase[] = [
  // The V-Net bottleneck's shape: every output sees the padding on every axis.
  { name: '2³ bottleneck', x: [2, 2, 2, 2, 16], k: 3, cout: 16, s: 1 },
  { name: 'odd sizes and channels', x: [1, 5, 1, 3, 13], k: 3, cout: 19, s: 1 },
  { name: 'interior and faces, Co not a multiple of 8', x: [2, 6, 4, 5, 8], k: 3, cout: 3, s: 1 },
  // k3 s2 'same': asymmetric pad (after only on even sizes); dx goes to the stock kernel.
  { name: 'k3 s2 "same"', x: [1, 7, 6, 5, 6], k: 3, cout: 10, s: 2 },
];

const settings = [false, true].filter((relaxed) => !relaxed || relaxedSimdSupported());

describe.each(settings)('padding skipped exactly, relaxedSimd %s', (relaxed) => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  afterEach(() => {
    unregisterFastKernels();
  });

  it.each(cases)('$name: "same" gives the bits of "valid" over the zero-padded input', async (c) => {
    register({ workers: 1, relaxedSimd: relaxed });
    await fastKernelWorkersReady();
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const rng = new Rng(c.x.reduce((a, b) => 17 * a + b, c.k + c.cout));
      const x = randn(c.x, rng);
      const w = randn([c.k, c.k, c.k, c.x[4], c.cout], rng);
      const strides: [number, number, number] = [c.s, c.s, c.s];
      const y = tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, strides, 'same');
      const info = tf.backend_util.computeConv3DInfo(c.x, w.shape as Shape5, strides, 1, 'same');
      const p = info.padInfo;
      const pads: [number, number][] = [
        [0, 0],
        [p.front, p.back],
        [p.top, p.bottom],
        [p.left, p.right],
        [0, 0],
      ];
      const xPadded = tf.pad(x, pads);
      const yValid = tf.conv3d(xPadded as tf.Tensor5D, w as tf.Tensor5D, strides, 'valid');
      expect(yValid.shape).toEqual(y.shape);
      expect(values(y)).toEqual(values(yValid));
      // And both agree with the stock kernel.
      const stock = stockKernel('Conv3D')({
        inputs: { x, filter: w },
        backend: tf.backend(),
        attrs: { strides, pad: 'same', dataFormat: 'NDHWC', dilations: 1 },
      }) as tf.TensorInfo;
      expect(relErr(y, stock)).toBeLessThan(1e-4);
      tf.backend().disposeData(stock.dataId);

      const dy = randn(y.shape, rng);
      const dw = tf
        .engine()
        .runKernel(
          'Conv3DBackpropFilterV2',
          { x, dy },
          { strides, pad: 'same', filterShape: w.shape },
        ) as tf.Tensor;
      const dwValid = tf
        .engine()
        .runKernel(
          'Conv3DBackpropFilterV2',
          { x: xPadded, dy },
          { strides, pad: 'valid', filterShape: w.shape },
        ) as tf.Tensor;
      expect(values(dw)).toEqual(values(dwValid));

      if (c.s === 1) {
        const dx = tf
          .engine()
          .runKernel(
            'Conv3DBackpropInputV2',
            { dy, filter: w },
            { strides, pad: 'same', inputShape: c.x },
          ) as tf.Tensor;
        const dxValid = tf
          .engine()
          .runKernel(
            'Conv3DBackpropInputV2',
            { dy, filter: w },
            { strides, pad: 'valid', inputShape: xPadded.shape },
          ) as tf.Tensor;
        const interior = tf.slice(
          dxValid,
          pads.map(([b]) => b),
          c.x,
        );
        expect(values(dx)).toEqual(values(interior));
      }
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('outputs whose window lies wholly in the padding are 0, the rest as the stock kernel', async () => {
    register({ workers: 1, relaxedSimd: relaxed });
    await fastKernelWorkersReady();
    tf.tidy(() => {
      const rng = new Rng(5);
      // 2-D, 3×2 image, 3×3 kernel, explicit pad 4: the outermost output rows and columns see only padding.
      const x = randn([2, 3, 2, 5], rng);
      const w = randn([3, 3, 5, 9], rng);
      const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 4);
      expect(y.shape).toEqual([2, 9, 8, 9]);
      const stock = stockKernel('Conv2D')({
        inputs: { x, filter: w },
        backend: tf.backend(),
        attrs: { strides: 1, pad: 4, dataFormat: 'NHWC', dilations: 1 },
      }) as tf.TensorInfo;
      expect(relErr(y, stock)).toBeLessThan(1e-4);
      tf.backend().disposeData(stock.dataId);
      const v = y.arraySync() as number[][][][];
      for (const image of v) {
        for (const row of [image[0], image[8]])
          for (const pixel of row) expect(pixel.every((q) => q === 0)).toBe(true);
        for (const row of image) for (const col of [0, 7]) expect(row[col].every((q) => q === 0)).toBe(true);
      }
    });
  });
});

import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { Rng } from '../../src/util/rng.js';

/**
 * The Conv3DBackpropInputV2 gradient registered in src/backend/tf.ts (TF.js 4.22 has none, so
 * `tf.conv3dTranspose` is not trainable without it) checked against central finite differences over every
 * coordinate of the input and the filter. L = Σ r·conv3dTranspose(x, w) is bilinear, so central differences
 * are exact up to float32 rounding; they are summed in float64.
 */
function randomArray(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

const cases = [
  {
    name: 'k2 s2 valid (the VNet up-conv)',
    x: [2, 2, 3, 2, 3],
    w: [2, 2, 2, 2, 3],
    stride: 2,
    pad: 'valid' as const,
  },
  { name: 'k3 s2 same', x: [1, 2, 2, 3, 2], w: [3, 3, 3, 2, 2], stride: 2, pad: 'same' as const },
  { name: 'k3 s1 same', x: [1, 3, 2, 2, 2], w: [3, 3, 3, 3, 2], stride: 1, pad: 'same' as const },
];

describe('Conv3DBackpropInputV2 gradient', () => {
  it.each(cases)(
    '$name matches finite differences for dx and dw',
    ({ x: xShape, w: wShape, stride, pad }) => {
      const rng = new Rng(17);
      const outC = wShape[3];
      const outShape: [number, number, number, number, number] =
        pad === 'valid'
          ? [
              xShape[0],
              xShape[1] * stride + (wShape[0] - stride),
              xShape[2] * stride + (wShape[1] - stride),
              xShape[3] * stride + (wShape[2] - stride),
              outC,
            ]
          : [xShape[0], xShape[1] * stride, xShape[2] * stride, xShape[3] * stride, outC];
      const xData = randomArray(
        xShape.reduce((a, b) => a * b, 1),
        rng,
      );
      const wData = randomArray(
        wShape.reduce((a, b) => a * b, 1),
        rng,
      );
      const rData = randomArray(
        outShape.reduce((a, b) => a * b, 1),
        rng,
      );
      const r = tf.tensor(rData, outShape);

      const f = (x: tf.Tensor, w: tf.Tensor) =>
        tf.conv3dTranspose(x as tf.Tensor5D, w as tf.Tensor5D, outShape, stride, pad);
      const loss64 = (xd: Float32Array, wd: Float32Array): number =>
        tf.tidy(() => {
          const y = f(tf.tensor(xd, xShape), tf.tensor(wd, wShape)).dataSync();
          let s = 0;
          for (let i = 0; i < y.length; i++) s += y[i] * rData[i];
          return s;
        });

      const [dx, dw] = tf.tidy(() => {
        const g = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(f(x, w), r)));
        return g([tf.tensor(xData, xShape), tf.tensor(wData, wShape)]).map((t) => t.dataSync());
      });
      expect(dx.length).toBe(xData.length);
      expect(dw.length).toBe(wData.length);

      const h = 0.5;
      const fdOf = (which: 'x' | 'w', i: number): number => {
        const base = which === 'x' ? xData : wData;
        const plus = base.slice();
        plus[i] += h;
        const minus = base.slice();
        minus[i] -= h;
        const lp = which === 'x' ? loss64(plus, wData) : loss64(xData, plus);
        const lm = which === 'x' ? loss64(minus, wData) : loss64(xData, minus);
        return (lp - lm) / (2 * h);
      };
      let nonZero = 0;
      for (let i = 0; i < xData.length; i++) {
        const fd = fdOf('x', i);
        expect(Math.abs(dx[i] - fd)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(fd)));
        if (Math.abs(fd) > 1e-3) nonZero++;
      }
      for (let i = 0; i < wData.length; i++) {
        const fd = fdOf('w', i);
        expect(Math.abs(dw[i] - fd)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(fd)));
      }
      expect(nonZero).toBeGreaterThan(xData.length / 2);
      r.dispose();
    },
  );
});

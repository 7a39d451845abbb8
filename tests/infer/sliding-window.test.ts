import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import {
  type InferenceModel,
  nearestZoomIndices,
  slidingWindowInference,
  slidingWindowInference2d,
  type VolumeInput,
  windowStarts,
} from '../../src/infer/sliding-window.js';
import type { ApplyOptions } from '../../src/nn/types.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

/** A model without weights whose logits are a known function of its input (and of the in-patch position). */
class StandInModel implements InferenceModel {
  readonly kind: 'vnet' | 'unet2d';
  readonly inChannels = 1;
  calls = 0;
  windows = 0;
  constructor(
    readonly spatialDims: 2 | 3,
    readonly numClasses: number,
    private readonly logits: (x: tf.Tensor) => tf.Tensor,
  ) {
    this.kind = spatialDims === 3 ? 'vnet' : 'unet2d';
  }
  apply(x: tf.Tensor, options: ApplyOptions): tf.Tensor {
    if (options.training) throw new Error('inference must run in eval mode');
    this.calls++;
    this.windows += x.shape[0];
    return this.logits(x);
  }
}

/** In-patch ramp r(i,j,k) = 0.3·i − 0.2·j + 0.1·k, so every window sees a different logit for a voxel. */
const ramp3 = (i: number, j: number, k: number) => 0.3 * i - 0.2 * j + 0.1 * k;

function rampTensor(patch: number[]): tf.Tensor {
  const [p0, p1, p2] = patch;
  const r = new Float32Array(p0 * p1 * p2);
  for (let i = 0; i < p0; i++)
    for (let j = 0; j < p1; j++) for (let k = 0; k < p2; k++) r[(i * p1 + j) * p2 + k] = ramp3(i, j, k);
  return tf.tensor(r, [1, p0, p1, p2, 1]);
}

/** Independent window starts: 0, s, 2s, … while the window ends before the edge, then the end-aligned one. */
function bruteStarts(size: number, patch: number, stride: number): number[] {
  const out: number[] = [];
  for (let s = 0; ; s += stride) {
    if (s + patch >= size) {
      out.push(size - patch);
      return out;
    }
    out.push(s);
  }
}

function randomVolume(rng: Rng, shape: [number, number, number]): VolumeInput {
  const n = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.uniform(-2, 2);
    if (Math.abs(v) < 0.05) v = 0.3; // keep away from the decision boundary of the [−x, x] model
    data[i] = v;
  }
  return { data, shape: [...shape, 1] };
}

/**
 * Brute-force §5.1 in float64: explicit zero padding, every window, softmax by formula, average, crop.
 * `logit(c, x, i, j, k)` is class c's logit for input x at in-patch position (i, j, k).
 */
function bruteSlidingWindow(
  vol: VolumeInput,
  patch: number[],
  strides: number[],
  numClasses: number,
  logit: (c: number, x: number, i: number, j: number, k: number) => number,
): { mean: Float64Array; shape: number[] } {
  const [w, h, d] = vol.shape;
  const padded = [w, h, d].map((s, a) => Math.max(s, patch[a]));
  const left = [w, h, d].map((s, a) => Math.floor((padded[a] - s) / 2));
  const [W, H, D] = padded;
  const img = new Float64Array(W * H * D);
  for (let i = 0; i < w; i++) {
    for (let j = 0; j < h; j++) {
      for (let k = 0; k < d; k++)
        img[((i + left[0]) * H + j + left[1]) * D + k + left[2]] = vol.data[(i * h + j) * d + k];
    }
  }
  const sum = new Float64Array(W * H * D * numClasses);
  const cnt = new Float64Array(W * H * D);
  for (const x0 of bruteStarts(W, patch[0], strides[0])) {
    for (const y0 of bruteStarts(H, patch[1], strides[1])) {
      for (const z0 of bruteStarts(D, patch[2], strides[2])) {
        for (let i = 0; i < patch[0]; i++) {
          for (let j = 0; j < patch[1]; j++) {
            for (let k = 0; k < patch[2]; k++) {
              const v = ((x0 + i) * H + y0 + j) * D + z0 + k;
              const ls = Array.from({ length: numClasses }, (_, c) => logit(c, img[v], i, j, k));
              const e = ls.map((l) => Math.exp(l));
              const z = e.reduce((a, b) => a + b, 0);
              for (let c = 0; c < numClasses; c++) sum[v * numClasses + c] += e[c] / z;
              cnt[v]++;
            }
          }
        }
      }
    }
  }
  const mean = new Float64Array(w * h * d * numClasses);
  for (let i = 0; i < w; i++) {
    for (let j = 0; j < h; j++) {
      for (let k = 0; k < d; k++) {
        const v = ((i + left[0]) * H + j + left[1]) * D + k + left[2];
        for (let c = 0; c < numClasses; c++)
          mean[((i * h + j) * d + k) * numClasses + c] = sum[v * numClasses + c] / cnt[v];
      }
    }
  }
  return { mean, shape: [w, h, d, numClasses] };
}

describe('windowStarts (docs/equations.md §5.1 step 2)', () => {
  it('LA: volume 144×124×88, patch 112×112×80, strides 18/18/4', () => {
    expect(windowStarts(144, 112, 18)).toEqual([0, 18, 32]);
    expect(windowStarts(124, 112, 18)).toEqual([0, 12]);
    expect(windowStarts(88, 80, 4)).toEqual([0, 4, 8]);
  });

  it('BraTS: patch 96³, stride 64', () => {
    expect(windowStarts(240, 96, 64)).toEqual([0, 64, 128, 144]);
    expect(windowStarts(155, 96, 64)).toEqual([0, 59]);
    expect(windowStarts(96, 96, 64)).toEqual([0]);
  });

  it('pancreas: patch 96³, strides 16/4', () => {
    expect(windowStarts(200, 96, 16)).toEqual([0, 16, 32, 48, 64, 80, 96, 104]);
    expect(windowStarts(110, 96, 4)).toEqual([0, 4, 8, 12, 14]);
  });

  it('a dimension smaller than the patch is padded to one window', () => {
    expect(windowStarts(60, 96, 64)).toEqual([0]);
  });

  it('agrees with the independent enumeration on many sizes', () => {
    for (let size = 1; size < 60; size++) {
      for (const [p, s] of [
        [8, 3],
        [10, 4],
        [5, 5],
        [7, 1],
      ]) {
        expect(windowStarts(size, p, s)).toEqual(bruteStarts(Math.max(size, p), p, s));
      }
    }
  });

  it('rejects non-positive sizes', () => {
    expect(() => windowStarts(10, 0, 2)).toThrow(InputError);
  });
});

describe('slidingWindowInference', () => {
  const rng = new Rng(31);

  it('[−x, x] logits give p̄1 = sigmoid(2x) and label x > 0', async () => {
    const model = new StandInModel(3, 2, (x) => tf.concat([tf.neg(x), x], -1));
    const vol = randomVolume(rng, [9, 8, 7]);
    const r = await slidingWindowInference(model, vol, {
      patch: [4, 4, 4],
      strides: [3, 3, 2],
      numClasses: 2,
    });
    expect(r.shape).toEqual([9, 8, 7]);
    expect(r.probabilityShape).toEqual([9, 8, 7]);
    for (let v = 0; v < vol.data.length; v++) {
      const x = vol.data[v];
      expect(Math.abs(r.probabilities[v] - 1 / (1 + Math.exp(-2 * x)))).toBeLessThan(1e-6);
      expect(r.labels[v]).toBe(x > 0 ? 1 : 0);
    }
    // 3 × 3 × 3 windows (starts [0,3,5], [0,3,4], [0,2,3]).
    expect(model.windows).toBe(27);
  });

  it('position-dependent logits: the exact average over overlapping windows', async () => {
    const patch = [4, 3, 5];
    const r3 = rampTensor(patch);
    const model = new StandInModel(3, 2, (x) => {
      const y = tf.add(x, r3);
      return tf.concat([tf.zerosLike(y), y], -1);
    });
    const vol = randomVolume(rng, [10, 7, 9]);
    const strides: [number, number, number] = [3, 2, 2];
    const r = await slidingWindowInference(model, vol, { patch: [4, 3, 5], strides, numClasses: 2 });
    const want = bruteSlidingWindow(vol, patch, strides, 2, (c, x, i, j, k) =>
      c === 0 ? 0 : x + ramp3(i, j, k),
    );
    let decided = 0;
    for (let v = 0; v < vol.data.length; v++) {
      const p = want.mean[v * 2 + 1];
      expect(Math.abs(r.probabilities[v] - p)).toBeLessThan(2e-6);
      if (Math.abs(p - 0.5) > 1e-4) {
        expect(r.labels[v]).toBe(p > 0.5 ? 1 : 0);
        decided++;
      }
    }
    expect(decided).toBeGreaterThan(vol.data.length * 0.9);
    r3.dispose();
  });

  it('pads axes smaller than the patch (left = pad // 2) and crops the padding away', async () => {
    const patch = [8, 4, 6];
    const r3 = rampTensor(patch);
    const model = new StandInModel(3, 2, (x) => {
      const y = tf.add(x, r3);
      return tf.concat([tf.zerosLike(y), y], -1);
    });
    // x: 5 → 8 (left 1), y: 6 ≥ 4 (no pad, 2 windows), z: 3 → 6 (left 1).
    const vol = randomVolume(rng, [5, 6, 3]);
    const strides: [number, number, number] = [2, 2, 2];
    const r = await slidingWindowInference(model, vol, { patch: [8, 4, 6], strides, numClasses: 2 });
    expect(r.shape).toEqual([5, 6, 3]);
    expect(r.probabilities.length).toBe(90);
    const want = bruteSlidingWindow(vol, patch, strides, 2, (c, x, i, j, k) =>
      c === 0 ? 0 : x + ramp3(i, j, k),
    );
    for (let v = 0; v < 90; v++)
      expect(Math.abs(r.probabilities[v] - want.mean[v * 2 + 1])).toBeLessThan(2e-6);
    expect(model.windows).toBe(2);
    r3.dispose();
  });

  it('multi-class: averages every class probability, argmax with ties to the lowest class', async () => {
    const patch = [3, 3, 3];
    const r3 = rampTensor(patch);
    const model = new StandInModel(3, 3, (x) => {
      const y = tf.add(x, r3);
      return tf.concat([tf.zerosLike(x), y, tf.sub(r3, x)], -1);
    });
    const vol = randomVolume(rng, [6, 5, 4]);
    const strides: [number, number, number] = [2, 1, 2];
    const r = await slidingWindowInference(model, vol, { patch: [3, 3, 3], strides, numClasses: 3 });
    expect(r.probabilityShape).toEqual([6, 5, 4, 3]);
    const want = bruteSlidingWindow(vol, patch, strides, 3, (c, x, i, j, k) =>
      c === 0 ? 0 : c === 1 ? x + ramp3(i, j, k) : ramp3(i, j, k) - x,
    );
    for (let v = 0; v < 120; v++) {
      const p = [0, 1, 2].map((c) => want.mean[v * 3 + c]);
      for (let c = 0; c < 3; c++) expect(Math.abs(r.probabilities[v * 3 + c] - p[c])).toBeLessThan(2e-6);
      const sorted = [...p].sort((a, b) => b - a);
      if (sorted[0] - sorted[1] > 1e-4) expect(r.labels[v]).toBe(p.indexOf(sorted[0]));
    }
    r3.dispose();

    // Exact ties: all logits equal → uniform probabilities → class 0.
    const flat = new StandInModel(3, 3, (x) => tf.concat([x, x, x], -1));
    const tie = await slidingWindowInference(flat, randomVolume(rng, [4, 4, 4]), {
      patch: [2, 2, 2],
      strides: [1, 1, 1],
      numClasses: 3,
    });
    expect(tie.labels.every((l) => l === 0)).toBe(true);
  });

  it('batching windows and tensor input give bit-identical results; numTensors stays flat', async () => {
    const patch = [4, 4, 3];
    const r3 = rampTensor(patch);
    const model = new StandInModel(3, 2, (x) => {
      const y = tf.add(x, r3);
      return tf.concat([tf.neg(y), y], -1);
    });
    const vol = randomVolume(rng, [8, 6, 7]);
    const opts = {
      patch: [4, 4, 3] as [number, number, number],
      strides: [2, 3, 2] as [number, number, number],
    };
    const one = await slidingWindowInference(model, vol, { ...opts, numClasses: 2 });
    const before = tf.memory().numTensors;
    const progress: [number, number][] = [];
    const batched = await slidingWindowInference(model, vol, {
      ...opts,
      numClasses: 2,
      batchWindows: 4,
      onProgress: (done, total) => progress.push([done, total]),
    });
    const input = tf.tensor4d(vol.data, vol.shape);
    const fromTensor = await slidingWindowInference(model, input, {
      ...opts,
      numClasses: 2,
      batchWindows: 3,
    });
    input.dispose();
    for (let t = 0; t < 2; t++)
      await slidingWindowInference(model, vol, { ...opts, numClasses: 2, batchWindows: 5 });
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(batched.probabilities)).toEqual(Array.from(one.probabilities));
    expect(Array.from(fromTensor.probabilities)).toEqual(Array.from(one.probabilities));
    expect(Array.from(batched.labels)).toEqual(Array.from(one.labels));
    // 3 × 2 × 3 = 18 windows in batches of 4.
    expect(progress).toEqual([
      [4, 18],
      [8, 18],
      [12, 18],
      [16, 18],
      [18, 18],
    ]);
    r3.dispose();
  });

  it('rejects a model or volume that does not fit', async () => {
    const model = new StandInModel(3, 2, (x) => tf.concat([tf.neg(x), x], -1));
    const vol = randomVolume(rng, [4, 4, 4]);
    const base = {
      patch: [2, 2, 2] as [number, number, number],
      strides: [1, 1, 1] as [number, number, number],
    };
    await expect(slidingWindowInference(model, vol, { ...base, numClasses: 3 })).rejects.toThrow(
      /numClasses/,
    );
    await expect(
      slidingWindowInference(model, { data: vol.data, shape: [4, 4, 4, 2] }, { ...base, numClasses: 2 }),
    ).rejects.toThrow(InputError);
    const flat = new StandInModel(2, 2, (x) => x);
    await expect(slidingWindowInference(flat, vol, { ...base, numClasses: 2 })).rejects.toThrow(/3-D model/);
    const wrong = new StandInModel(3, 2, (x) => x);
    const before = tf.memory().numTensors;
    await expect(slidingWindowInference(wrong, vol, { ...base, numClasses: 2 })).rejects.toThrow(
      /logits of shape/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('nearestZoomIndices (scipy.ndimage.zoom, order 0)', () => {
  it('matches scipy 1.17 outputs, including the out-of-grid last sample', () => {
    // Printed by scipy: zoom(arange(n_in), n_out / n_in, order=0) (−1 = cval).
    expect(Array.from(nearestZoomIndices(5, 8))).toEqual([0, 1, 1, 2, 2, 3, 3, 4]);
    expect(Array.from(nearestZoomIndices(8, 5))).toEqual([0, 2, 4, 5, 7]);
    expect(Array.from(nearestZoomIndices(4, 7))).toEqual([0, 1, 1, 2, 2, 3, 3]);
    expect(Array.from(nearestZoomIndices(26, 8))).toEqual([0, 4, 7, 11, 14, 18, 21, 25]);
    expect(Array.from(nearestZoomIndices(8, 26))).toEqual([
      0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, -1,
    ]);
    expect(Array.from(nearestZoomIndices(256, 216).slice(-4))).toEqual([251, 253, 254, -1]);
    expect(Array.from(nearestZoomIndices(7, 7))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});

describe('slidingWindowInference2d (docs/equations.md §5.5)', () => {
  it('resizes each slice with nearest zoom, argmaxes, and resizes the labels back', async () => {
    const rng = new Rng(5);
    // logits [x, 0.5, −x] per pixel: class 0 if x > 0.5, class 2 if x < −0.5, else class 1.
    const model = new StandInModel(2, 3, (x) => tf.concat([x, tf.fill(x.shape, 0.5), tf.neg(x)], -1));
    const nx = 8;
    const ny = 5;
    const nz = 3;
    const data = new Float32Array(nx * ny * nz);
    for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-1.5, 1.5);
    const vol: VolumeInput = { data, shape: [nx, ny, nz, 1] };
    const before = tf.memory().numTensors;
    const r = await slidingWindowInference2d(model, vol, { numClasses: 3, size: [26, 8], batchSlices: 2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.shape).toEqual([nx, ny, nz]);
    expect(r.probabilityShape).toEqual([nx, ny, nz, 3]);
    expect(model.windows).toBe(3);
    expect(model.calls).toBe(2);

    // Independent expectation from scipy's index tables (printed above).
    const upX = [0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, -1];
    const upY = [0, 1, 1, 2, 2, 3, 3, 4]; // 5 → 8
    const downX = [0, 4, 7, 11, 14, 18, 21, 25]; // 26 → 8
    const downY = [0, 2, 4, 5, 7]; // 8 → 5
    const cls = (x: number) => {
      const l = [x, 0.5, -x];
      return l.indexOf(Math.max(...l));
    };
    for (let i = 0; i < nx; i++) {
      for (let j = 0; j < ny; j++) {
        for (let k = 0; k < nz; k++) {
          const u = downX[i];
          const v = downY[j];
          const si = upX[u];
          const x = si < 0 ? 0 : data[(si * ny + upY[v]) * nz + k];
          expect(r.labels[(i * ny + j) * nz + k]).toBe(cls(x));
        }
      }
    }
  });

  it('labels the rows that scipy fills with cval as background', async () => {
    // y: 8 → 26 puts cval 0 at model column 25 (scipy's last sample falls past the grid by rounding); the
    // way back (26 → 8) reads column 25 for j = 7, where logits [0, 0.5, 0] give class 1.
    const model = new StandInModel(2, 3, (x) => tf.concat([x, tf.fill(x.shape, 0.5), tf.neg(x)], -1));
    const data = new Float32Array(3 * 8 * 1).fill(2); // every real pixel → class 0
    const r = await slidingWindowInference2d(
      model,
      { data, shape: [3, 8, 1, 1] },
      { numClasses: 3, size: [3, 26] },
    );
    expect(Array.from(r.labels)).toEqual([
      0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
    ]);
  });

  it('rejects a 3-D model', async () => {
    const model = new StandInModel(3, 2, (x) => x);
    await expect(
      slidingWindowInference2d(model, { data: new Float32Array(8), shape: [2, 2, 2, 1] }, { numClasses: 2 }),
    ).rejects.toThrow(/2-D model/);
  });
});

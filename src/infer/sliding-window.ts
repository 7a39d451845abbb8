/**
 * Whole-volume inference: the 3-D sliding window of docs/equations.md §5.1 (`test_single_case`) and the 2-D
 * slice-by-slice rule of §5.5 (ACDC). Tensors live only inside one `tf.tidy` per batch of windows; the
 * averages are accumulated in typed arrays, so memory is bounded by the volume, not by the window count.
 */
import { tf } from '../backend/tf.js';
import type { SegmentationModel } from '../nn/types.js';
import {
  argumentError,
  requireInteger,
  requireModel,
  requireNumberArray,
  requireObject,
} from '../util/args.js';
import { InputError, SsmisError } from '../util/errors.js';

/** What inference uses of a {@link SegmentationModel} (any VNet / UNet2d fits; tests pass stand-ins). */
export type InferenceModel = Pick<
  SegmentationModel,
  'kind' | 'spatialDims' | 'inChannels' | 'numClasses' | 'apply'
>;

/** A channels-last volume `[X, Y, Z, C]`, row-major. */
export interface VolumeInput {
  data: Float32Array;
  shape: [number, number, number, number];
}

export interface SlidingWindowOptions {
  patch: [number, number, number];
  strides: [number, number, number];
  numClasses: number;
  /** Windows per forward pass (default 1, as the reference). Results do not depend on it. */
  batchWindows?: number;
  /** Called after every forward pass with (windows done, windows in total). */
  onProgress?: (done: number, total: number) => void;
}

export interface SlidingWindowResult {
  /**
   * Averaged probabilities. Two classes: the foreground map p̄1 only, shape `[X, Y, Z]` (the reference
   * accumulates only p1, quirk Q22). More classes: every class, shape `[X, Y, Z, K]`.
   */
  probabilities: Float32Array;
  probabilityShape: number[];
  /** Predicted class per voxel, shape `[X, Y, Z]`. */
  labels: Uint8Array;
  shape: [number, number, number];
}

/**
 * Window starts along one axis (docs/equations.md §5.1 step 2): n = ceil((D − p)/s) + 1 windows, start_i =
 * min(s·i, D − p), so the last window is aligned to the end. `size` smaller than `patch` is padded to the
 * patch first (step 1), which leaves a single window at 0.
 */
export function windowStarts(size: number, patch: number, stride: number): number[] {
  requireInteger('windowStarts', 'size', size, { min: 1 });
  requireInteger('windowStarts', 'patch', patch, { min: 1 });
  requireInteger('windowStarts', 'stride', stride, { min: 1 });
  const padded = Math.max(size, patch);
  const count = Math.ceil((padded - patch) / stride) + 1;
  const starts: number[] = [];
  for (let i = 0; i < count; i++) starts.push(Math.min(stride * i, padded - patch));
  return starts;
}

async function readVolume(volume: VolumeInput | tf.Tensor4D, where: string): Promise<VolumeInput> {
  if (volume instanceof tf.Tensor) {
    if (volume.rank !== 4)
      throw new InputError(`${where}: expected a [X, Y, Z, C] tensor, found rank ${volume.rank}`);
    // The caller owns the tensor; `data()` copies it out without disposing it.
    const raw = await volume.data();
    const data = raw instanceof Float32Array ? raw : Float32Array.from(raw as ArrayLike<number>);
    const [x, y, z, c] = volume.shape;
    return { data, shape: [x, y, z, c] };
  }
  const { data, shape } = volume;
  if (!(data instanceof Float32Array))
    throw new InputError(`${where}: expected volume.data to be a Float32Array`);
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new InputError(
      `${where}: expected volume.shape [X, Y, Z, C] of positive integers, found [${shape.join(', ')}]`,
    );
  }
  const size = shape[0] * shape[1] * shape[2] * shape[3];
  if (data.length !== size) {
    throw new InputError(
      `${where}: volume.shape [${shape.join(', ')}] needs ${size} values, found ${data.length}`,
    );
  }
  return { data, shape };
}

function checkModel(
  model: InferenceModel,
  dims: 2 | 3,
  channels: number,
  numClasses: number,
  where: string,
): void {
  if (model.spatialDims !== dims) {
    throw new InputError(
      `${where}: expected a ${dims}-D model, found a ${model.spatialDims}-D '${model.kind}'`,
    );
  }
  if (model.inChannels !== channels) {
    throw new InputError(
      `${where}: the model takes ${model.inChannels} input channel(s), the volume has ${channels}`,
    );
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new InputError(`${where}: numClasses must be an integer ≥ 2, found ${numClasses}`);
  }
  if (model.numClasses !== numClasses) {
    throw new InputError(
      `${where}: numClasses is ${numClasses} but the model outputs ${model.numClasses} classes`,
    );
  }
  if (numClasses > 255)
    throw new InputError(`${where}: at most 255 classes fit the Uint8 label map, found ${numClasses}`);
}

function checkTriple(value: readonly number[], name: string, where: string): void {
  if (value.length !== 3 || value.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new InputError(`${where}: ${name} must be three positive integers, found [${value.join(', ')}]`);
  }
}

/**
 * One forward pass in eval mode; returns the softmax over the last axis as float32 values.
 *
 * Why the softmax is computed here and not with `tf.softmax`: the logits must be downloaded anyway (same
 * size as the probabilities), and on the pure-JS cpu backend `tf.softmax`'s broadcast subtract/divide cost
 * ~1.5 µs per value (≈ 30 s for the 18 LA windows of a 144×124×88 volume). Each probability is computed in
 * float64 (max-shifted exponentials) and rounded once to float32, the reference's per-window dtype.
 */
async function forwardProbabilities(
  model: InferenceModel,
  input: Float32Array,
  inputShape: number[],
  numClasses: number,
  where: string,
): Promise<Float32Array> {
  const logits = tf.tidy(() => {
    const x = tf.tensor(input, inputShape, 'float32');
    const out = model.apply(x, { training: false });
    const expected = [...inputShape.slice(0, -1), numClasses];
    if (out.shape.length !== expected.length || out.shape.some((d, i) => d !== expected[i])) {
      throw new SsmisError(
        `${where}: the model returned logits of shape [${out.shape.join(', ')}], expected [${expected.join(', ')}]`,
      );
    }
    return out;
  });
  let values: Float32Array;
  try {
    const raw = await logits.data();
    values = raw instanceof Float32Array ? raw : Float32Array.from(raw as ArrayLike<number>);
  } finally {
    logits.dispose();
  }
  const probs = new Float32Array(values.length);
  const e = new Float64Array(numClasses);
  for (let base = 0; base < values.length; base += numClasses) {
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < numClasses; c++) if (values[base + c] > max) max = values[base + c];
    let sum = 0;
    for (let c = 0; c < numClasses; c++) {
      // exp(0) = 1 exactly: the class at the maximum (every voxel has one) skips its exp.
      const d = values[base + c] - max;
      e[c] = d === 0 ? 1 : Math.exp(d);
      sum += e[c];
    }
    for (let c = 0; c < numClasses; c++) probs[base + c] = e[c] / sum;
  }
  return probs;
}

/**
 * 3-D sliding-window inference, docs/equations.md §5.1: zero-pad axes smaller than the patch (left = pad // 2),
 * windows at `windowStarts` visited x, then y, then z (the reference's loop order, so the float32 sums
 * match), eval mode (`training: false`), softmax. Two classes: only p1 is summed, p̄1 = Σp1 / count in float32,
 * label = p̄1 > 0.5 (strict, Q14). More classes (pancreas `test_util`): every class probability is averaged and
 * the label is the argmax, ties to the lowest class. Padding is removed from the outputs.
 *
 * @param model A 3-D model (VNet) whose input channels and class count match the volume and `numClasses`.
 * @param volume The image `[X, Y, Z, C]`: `{ data: Float32Array, shape }` (channels last, z fastest before C) or
 *   a tf.Tensor4D (read, not disposed).
 * @param options `patch` and `strides` (three positive integers each), `numClasses` (≥ 2, at most 255),
 *   `batchWindows` (windows per forward pass, default 1; results do not depend on it) and `onProgress`.
 * @returns The labels `[X, Y, Z]` (Uint8Array) and the averaged probabilities (two classes: the foreground map
 *   `[X, Y, Z]`; more classes: `[X, Y, Z, K]`, see `probabilityShape`), in the volume's unpadded grid.
 * @throws InputError when `model` is not a 3-D model, `volume` is not a volume `{ data, shape }` of matching
 *   length or a rank-4 tensor, `options` is not an object, `patch`/`strides`/`batchWindows` are not positive
 *   integers, `numClasses` is below 2, above 255 or not the model's, or the channel count is not the model's.
 * @throws SsmisError when the model returns logits of an unexpected shape.
 * @example
 * import { createVNet, slidingWindowInference } from 'ssmis';
 *
 * const model = createVNet({ inChannels: 1, numClasses: 2, baseFilters: 4, seed: 1 });
 * const volume = { data: new Float32Array(40 * 40 * 24), shape: [40, 40, 24, 1] as [number, number, number, number] };
 * const { labels, shape } = await slidingWindowInference(model, volume, {
 *   patch: [32, 32, 16],
 *   strides: [16, 16, 8],
 *   numClasses: 2,
 * });
 * console.log(shape, labels.length);
 * model.dispose();
 */
export async function slidingWindowInference(
  model: InferenceModel,
  volume: VolumeInput | tf.Tensor4D,
  options: SlidingWindowOptions,
): Promise<SlidingWindowResult> {
  requireModel('slidingWindowInference', 'model', model);
  if (typeof volume !== 'object' || volume === null)
    throw argumentError(
      'slidingWindowInference',
      'volume',
      'a volume { data, shape } or a [X, Y, Z, C] tensor',
      volume,
    );
  requireObject('slidingWindowInference', 'options', options);
  requireNumberArray('slidingWindowInference', 'options.patch', options.patch, {
    integer: true,
    min: 1,
    length: 3,
  });
  requireNumberArray('slidingWindowInference', 'options.strides', options.strides, {
    integer: true,
    min: 1,
    length: 3,
  });
  const where = 'slidingWindowInference';
  const { patch, strides, numClasses } = options;
  checkTriple(patch, 'patch', where);
  checkTriple(strides, 'strides', where);
  const batchWindows = options.batchWindows ?? 1;
  if (!Number.isInteger(batchWindows) || batchWindows < 1) {
    throw new InputError(`${where}: batchWindows must be a positive integer, found ${batchWindows}`);
  }
  const vol = await readVolume(volume, where);
  const [w, h, d, channels] = vol.shape;
  checkModel(model, 3, channels, numClasses, where);

  // Step 1: pad only the axes smaller than the patch, to exactly the patch size.
  const orig = [w, h, d];
  const padded = orig.map((s, a) => Math.max(s, patch[a]));
  const left = orig.map((s, a) => Math.floor((padded[a] - s) / 2));
  const [W, H, D] = padded;
  let image = vol.data;
  if (W !== w || H !== h || D !== d) {
    image = new Float32Array(W * H * D * channels);
    for (let i = 0; i < w; i++) {
      for (let j = 0; j < h; j++) {
        const src = (i * h + j) * d * channels;
        const dst = (((i + left[0]) * H + (j + left[1])) * D + left[2]) * channels;
        image.set(vol.data.subarray(src, src + d * channels), dst);
      }
    }
  }

  // Step 2: windows in the reference's x, y, z loop order.
  const xs = windowStarts(W, patch[0], strides[0]);
  const ys = windowStarts(H, patch[1], strides[1]);
  const zs = windowStarts(D, patch[2], strides[2]);
  const windows: [number, number, number][] = [];
  for (const x of xs) for (const y of ys) for (const z of zs) windows.push([x, y, z]);

  const [p0, p1, p2] = patch;
  const binary = numClasses === 2;
  const accChannels = binary ? 1 : numClasses;
  const score = new Float32Array(W * H * D * accChannels);
  const count = new Uint32Array(W * H * D);
  const windowSize = p0 * p1 * p2 * channels;

  for (let first = 0; first < windows.length; first += batchWindows) {
    const batch = windows.slice(first, first + batchWindows);
    const input = new Float32Array(batch.length * windowSize);
    batch.forEach(([x0, y0, z0], b) => {
      for (let i = 0; i < p0; i++) {
        for (let j = 0; j < p1; j++) {
          const src = (((x0 + i) * H + (y0 + j)) * D + z0) * channels;
          input.set(image.subarray(src, src + p2 * channels), b * windowSize + (i * p1 + j) * p2 * channels);
        }
      }
    });
    const probs = await forwardProbabilities(
      model,
      input,
      [batch.length, p0, p1, p2, channels],
      numClasses,
      where,
    );
    const perWindow = p0 * p1 * p2 * numClasses;
    batch.forEach(([x0, y0, z0], b) => {
      for (let i = 0; i < p0; i++) {
        for (let j = 0; j < p1; j++) {
          const rowVoxel = ((x0 + i) * H + (y0 + j)) * D + z0;
          const rowProb = b * perWindow + (i * p1 + j) * p2 * numClasses;
          for (let k = 0; k < p2; k++) {
            const v = rowVoxel + k;
            const q = rowProb + k * numClasses;
            // Float32Array stores round every sum to float32, as the reference's float32 score map.
            if (binary) {
              score[v] += probs[q + 1];
            } else {
              for (let c = 0; c < numClasses; c++) score[v * numClasses + c] += probs[q + c];
            }
            count[v]++;
          }
        }
      }
    });
    options.onProgress?.(Math.min(first + batchWindows, windows.length), windows.length);
  }

  // Steps 4–5: average (float32), decide, and crop the padding away.
  const outSize = w * h * d;
  const probabilities = new Float32Array(outSize * accChannels);
  const labels = new Uint8Array(outSize);
  for (let i = 0; i < w; i++) {
    for (let j = 0; j < h; j++) {
      for (let k = 0; k < d; k++) {
        const o = (i * h + j) * d + k;
        const v = ((i + left[0]) * H + (j + left[1])) * D + (k + left[2]);
        const n = count[v];
        if (binary) {
          const mean = Math.fround(score[v] / n);
          probabilities[o] = mean;
          labels[o] = mean > 0.5 ? 1 : 0;
        } else {
          let best = 0;
          let bestValue = Number.NEGATIVE_INFINITY;
          for (let c = 0; c < numClasses; c++) {
            const mean = Math.fround(score[v * numClasses + c] / n);
            probabilities[o * numClasses + c] = mean;
            if (mean > bestValue) {
              bestValue = mean;
              best = c;
            }
          }
          labels[o] = best;
        }
      }
    }
  }
  return {
    probabilities,
    probabilityShape: binary ? [w, h, d] : [w, h, d, numClasses],
    labels,
    shape: [w, h, d],
  };
}

/**
 * scipy.ndimage.zoom(order=0) source index for each of `nOut` outputs from `nIn` inputs (grid_mode False):
 * coordinate c = o·((nIn − 1)/(nOut − 1)), index floor(c + 0.5); a coordinate past the last input by rounding
 * (e.g. 256 → 216 at the last output) is outside the grid and scipy's mode 'constant' gives cval 0 there,
 * marked −1 here.
 */
export function nearestZoomIndices(nIn: number, nOut: number): Int32Array {
  const out = new Int32Array(nOut);
  const factor = nOut > 1 ? (nIn - 1) / (nOut - 1) : 1;
  for (let o = 0; o < nOut; o++) {
    const c = o * factor;
    out[o] = c < 0 || c > nIn - 1 ? -1 : Math.floor(c + 0.5);
  }
  return out;
}

export interface SliceInferenceOptions {
  numClasses: number;
  /** In-plane size the model sees (default 256×256, BCP ACDC). */
  size?: [number, number];
  /** Slices per forward pass (default 1). Results do not depend on it. */
  batchSlices?: number;
  /** Called after every forward pass with (slices done, slices in total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * 2-D models on a volume `[X, Y, Z, C]`, slice by slice over the last axis (docs/equations.md §5.5, `val_2d`):
 * each slice is resized to `size` with scipy's nearest zoom, forwarded in eval mode, softmax → argmax (ties to
 * the lowest class), and the label map is resized back with nearest zoom. The returned probabilities
 * `[X, Y, Z, K]` are the model-resolution softmax resized back by the same rule (so their argmax is `labels`;
 * pixels where scipy's zoom yields cval get label 0 and all-zero probabilities).
 *
 * @param model A 2-D model (UNet2d) whose input channels and class count match the volume and `numClasses`.
 * @param volume The image `[X, Y, Z, C]`: `{ data: Float32Array, shape }` (channels last) or a tf.Tensor4D (read,
 *   not disposed); slices are taken along Z.
 * @param options `numClasses` (≥ 2, at most 255), `size` (the in-plane size the model sees, default 256×256),
 *   `batchSlices` (slices per forward pass, default 1; results do not depend on it) and `onProgress`.
 * @returns The labels `[X, Y, Z]` (Uint8Array) and the probabilities `[X, Y, Z, K]`, in the volume's grid.
 * @throws InputError when `model` is not a 2-D model, `volume` is not a volume `{ data, shape }` of matching
 *   length or a rank-4 tensor, `options` is not an object, `size` is not two positive integers, `batchSlices`
 *   not a positive integer, `numClasses` is below 2, above 255 or not the model's, or the channel count is not
 *   the model's.
 * @throws SsmisError when the model returns logits of an unexpected shape.
 * @example
 * import { createUNet2d, slidingWindowInference2d } from 'ssmis';
 *
 * const model = createUNet2d({ inChannels: 1, numClasses: 4, seed: 1 });
 * const volume = { data: new Float32Array(64 * 64 * 3), shape: [64, 64, 3, 1] as [number, number, number, number] };
 * const { labels } = await slidingWindowInference2d(model, volume, { numClasses: 4, size: [32, 32] });
 * console.log(labels.length); // 64 · 64 · 3
 * model.dispose();
 */
export async function slidingWindowInference2d(
  model: InferenceModel,
  volume: VolumeInput | tf.Tensor4D,
  options: SliceInferenceOptions,
): Promise<SlidingWindowResult> {
  requireModel('slidingWindowInference2d', 'model', model);
  if (typeof volume !== 'object' || volume === null)
    throw argumentError(
      'slidingWindowInference2d',
      'volume',
      'a volume { data, shape } or a [X, Y, Z, C] tensor',
      volume,
    );
  requireObject('slidingWindowInference2d', 'options', options);
  const where = 'slidingWindowInference2d';
  const { numClasses } = options;
  const [s0, s1] = options.size ?? [256, 256];
  if (!Number.isInteger(s0) || s0 < 1 || !Number.isInteger(s1) || s1 < 1) {
    throw new InputError(`${where}: size must be two positive integers, found [${s0}, ${s1}]`);
  }
  const batchSlices = options.batchSlices ?? 1;
  if (!Number.isInteger(batchSlices) || batchSlices < 1) {
    throw new InputError(`${where}: batchSlices must be a positive integer, found ${batchSlices}`);
  }
  const vol = await readVolume(volume, where);
  const [nx, ny, nz, channels] = vol.shape;
  checkModel(model, 2, channels, numClasses, where);

  const inX = nearestZoomIndices(nx, s0);
  const inY = nearestZoomIndices(ny, s1);
  const backX = nearestZoomIndices(s0, nx);
  const backY = nearestZoomIndices(s1, ny);
  const sliceSize = s0 * s1 * channels;
  const labels = new Uint8Array(nx * ny * nz);
  const probabilities = new Float32Array(nx * ny * nz * numClasses);

  for (let first = 0; first < nz; first += batchSlices) {
    const m = Math.min(batchSlices, nz - first);
    const input = new Float32Array(m * sliceSize);
    for (let b = 0; b < m; b++) {
      const k = first + b;
      for (let u = 0; u < s0; u++) {
        const i = inX[u];
        if (i < 0) continue; // cval 0
        for (let v = 0; v < s1; v++) {
          const j = inY[v];
          if (j < 0) continue;
          const src = ((i * ny + j) * nz + k) * channels;
          const dst = b * sliceSize + (u * s1 + v) * channels;
          for (let c = 0; c < channels; c++) input[dst + c] = vol.data[src + c];
        }
      }
    }
    const probs = await forwardProbabilities(model, input, [m, s0, s1, channels], numClasses, where);
    for (let b = 0; b < m; b++) {
      const k = first + b;
      for (let i = 0; i < nx; i++) {
        const u = backX[i];
        for (let j = 0; j < ny; j++) {
          const v = backY[j];
          if (u < 0 || v < 0) continue; // label 0, probabilities 0 (cval)
          const q = ((b * s0 + u) * s1 + v) * numClasses;
          const o = (i * ny + j) * nz + k;
          let best = 0;
          for (let c = 0; c < numClasses; c++) {
            const p = probs[q + c];
            probabilities[o * numClasses + c] = p;
            if (p > probs[q + best]) best = c;
          }
          labels[o] = best;
        }
      }
    }
    options.onProgress?.(first + m, nz);
  }
  return { probabilities, probabilityShape: [nx, ny, nz, numClasses], labels, shape: [nx, ny, nz] };
}

export interface VolumeInferenceOptions {
  /** 3-D models: window patch and strides (§5.1). */
  patch: readonly number[];
  strides: readonly number[];
  /** 2-D models: the in-plane size each slice is resized to (§5.5); default `patch`. */
  sliceResize?: readonly number[];
  /** Windows (3-D) or slices (2-D) per forward pass. */
  batchWindows?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Whole-volume inference with the rule of the model's dimensionality: sliding window for 3-D models, slice by
 * slice for 2-D models. What validation during training, evaluation and prediction all call.
 *
 * @param model - a VNet or UNet2d (or any {@link InferenceModel}); run in eval mode.
 * @param volume - the image `[X, Y, Z, C]`, channels last, as float32 (`data.length` = X·Y·Z·C).
 * @param options - `patch` and `strides` of the 3-D window (`config.eval.patch` / `.strides`); for 2-D models
 *   `sliceResize` (default `patch`, as `config.data.sliceResize`) is the size each slice is resized to.
 * @returns the label map `[X, Y, Z]` and the averaged probabilities, in the volume's own grid.
 * @throws {@link InputError} when `model` is not a segmentation model, `volume` is neither `{ data, shape }` nor
 *   a tensor or its size or channel count does not fit the model, or `patch` / `strides` are not 2 or 3
 *   positive integers (naming the argument).
 * @example
 * const image = await readNifti('case.nii.gz');
 * const { labels } = await inferVolume(model, { data: Float32Array.from(image.data as Float32Array), shape: [...image.shape, 1] }, {
 *   patch: config.eval.patch,
 *   strides: config.eval.strides,
 *   sliceResize: config.data.sliceResize,
 * });
 */
export function inferVolume(
  model: InferenceModel,
  volume: VolumeInput,
  options: VolumeInferenceOptions,
): Promise<SlidingWindowResult> {
  requireModel('inferVolume', 'model', model);
  if (typeof volume !== 'object' || volume === null)
    throw argumentError('inferVolume', 'volume', 'a volume { data, shape } or a [X, Y, Z, C] tensor', volume);
  requireObject('inferVolume', 'options', options);
  requireNumberArray('inferVolume', 'options.patch', options.patch, {
    integer: true,
    min: 1,
    length: [2, 3],
  });
  requireNumberArray('inferVolume', 'options.strides', options.strides, {
    integer: true,
    min: 1,
    length: [2, 3],
  });
  if (model.spatialDims === 3) {
    return slidingWindowInference(model, volume, {
      patch: options.patch as [number, number, number],
      strides: options.strides as [number, number, number],
      numClasses: model.numClasses,
      batchWindows: options.batchWindows,
      onProgress: options.onProgress,
    });
  }
  return slidingWindowInference2d(model, volume, {
    numClasses: model.numClasses,
    size: (options.sliceResize ?? options.patch) as [number, number],
    batchSlices: options.batchWindows,
    onProgress: options.onProgress,
  });
}

/**
 * 3-D training augmentation of the reference (its `dataloaders/dataset.py` and the pancreas variant
 * `code/pancreas/dataloaders.py`), on row-major typed arrays with explicit shapes.
 *
 * Conventions: `shape` is the *spatial* shape (`[X, Y, Z]`, or `[H, W]` for 2-D helpers). An image may carry
 * C channels as its last axis (`[X, Y, Z, C]`, C = image.length / prod(shape)); a label has no channel axis.
 * The generic helpers take the *full* shape instead and leave every axis after the ones they act on untouched,
 * which is how channels ride along.
 *
 * Every function returns new arrays and never mutates its inputs (cached cases are augmented many times).
 */

import { requireNumberArray, requireOptions, requireRng, requireTypedArray } from '../util/args.js';
import { InputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';

/** Typed arrays the augmentation ops accept (images float32, labels uint8, anything else row-major numeric). */
export type NumericArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Int32Array
  | Uint32Array;

/** An array with its full row-major shape. */
export interface ShapedArray<T extends NumericArray = NumericArray> {
  data: T;
  shape: number[];
}

/** Image/label pair after an augmentation op; `shape` is the new spatial shape. */
export interface AugmentedPair<I extends NumericArray = Float32Array, L extends NumericArray = Uint8Array> {
  image: I;
  label: L;
  shape: number[];
}

export interface RotFlipResult<I extends NumericArray, L extends NumericArray> extends AugmentedPair<I, L> {
  /** Quarter turns drawn (0..3). */
  k: number;
  /** Flip axis drawn (0 or 1). */
  axis: number;
}

export interface CropResult<I extends NumericArray, L extends NumericArray> extends AugmentedPair<I, L> {
  /** Zero padding added on *each* side of each spatial axis before cropping (Q18 rule). */
  pad: number[];
  /** Crop start per spatial axis, in the padded volume. */
  start: number[];
}

export interface CropOptions {
  /** Pad margin of the pad rule: 3 for LA/BraTS (the reference's value), 1 for the pancreas pipeline. */
  padMargin?: number;
}

function product(values: readonly number[]): number {
  let p = 1;
  for (const v of values) p *= v;
  return p;
}

function checkShape(shape: readonly number[], what: string): void {
  if (shape.length === 0 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new InputError(`${what}: shape must be positive integers, got [${shape.join(', ')}]`);
  }
}

function checkPatchRank(shape: readonly number[], patch: readonly number[], what: string): void {
  if (shape.length !== patch.length) {
    throw new InputError(`${what}: patch [${patch.join(', ')}] does not match shape [${shape.join(', ')}]`);
  }
}

function allocLike<T extends NumericArray>(like: T, length: number): T {
  const Ctor = like.constructor as new (n: number) => T;
  return new Ctor(length);
}

/** Python's floor division `a // b` (rounds towards −∞, also for negative a). */
export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** Python 3 `round(x)`: half to even ("banker's rounding"); round(0.5) = 0, round(1.5) = 2, round(2.5) = 2. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Source index of output element (i, j) of `np.rot90(a, k, axes=(0, 1))` for an input of N0×N1
 * (numpy's definition): k=1 → in[j, N1−1−i]; k=2 → in[N0−1−i, N1−1−j]; k=3 → in[N0−1−j, i]. k is taken modulo 4.
 */
export function rot90SourceIndex(i: number, j: number, n0: number, n1: number, k: number): [number, number] {
  switch (((k % 4) + 4) % 4) {
    case 0:
      return [i, j];
    case 1:
      return [j, n1 - 1 - i];
    case 2:
      return [n0 - 1 - i, n1 - 1 - j];
    default:
      return [n0 - 1 - j, i];
  }
}

/** Source index along a flipped axis of length n (`np.flip`). */
export function flipSourceIndex(i: number, n: number): number {
  return n - 1 - i;
}

/**
 * `np.rot90(data, k, axes=(0, 1))` on a row-major array of full shape `[N0, N1, ...rest]`; odd k swaps N0 and N1.
 * Axes after the first two are carried as contiguous blocks.
 */
export function rot90<T extends NumericArray>(data: T, shape: readonly number[], k: number): ShapedArray<T> {
  checkShape(shape, 'rot90');
  if (shape.length < 2) throw new InputError(`rot90: shape needs at least 2 axes, got [${shape.join(', ')}]`);
  if (data.length !== product(shape)) {
    throw new InputError(`rot90: data length ${data.length} does not match shape [${shape.join(', ')}]`);
  }
  const kk = ((k % 4) + 4) % 4;
  const [n0, n1] = shape;
  const rest = shape.slice(2);
  const inner = product(rest);
  const outShape = kk % 2 === 1 ? [n1, n0, ...rest] : [n0, n1, ...rest];
  const m1 = outShape[1];
  const out = allocLike(data, data.length);
  for (let i = 0; i < outShape[0]; i++) {
    for (let j = 0; j < m1; j++) {
      const [si, sj] = rot90SourceIndex(i, j, n0, n1, kk);
      const src = (si * n1 + sj) * inner;
      const dst = (i * m1 + j) * inner;
      for (let t = 0; t < inner; t++) out[dst + t] = data[src + t];
    }
  }
  return { data: out, shape: outShape };
}

/** `np.flip(data, axis)` on a row-major array of full shape. */
export function flip<T extends NumericArray>(
  data: T,
  shape: readonly number[],
  axis: number,
): ShapedArray<T> {
  checkShape(shape, 'flip');
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) {
    throw new InputError(`flip: axis ${axis} out of range for shape [${shape.join(', ')}]`);
  }
  if (data.length !== product(shape)) {
    throw new InputError(`flip: data length ${data.length} does not match shape [${shape.join(', ')}]`);
  }
  const outer = product(shape.slice(0, axis));
  const n = shape[axis];
  const inner = product(shape.slice(axis + 1));
  const out = allocLike(data, data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < n; i++) {
      const src = (o * n + flipSourceIndex(i, n)) * inner;
      const dst = (o * n + i) * inner;
      for (let t = 0; t < inner; t++) out[dst + t] = data[src + t];
    }
  }
  return { data: out, shape: [...shape] };
}

/**
 * Zero-pads the leading `pads.length` axes of a row-major array symmetrically (`pads[a]` on each side of axis a);
 * trailing axes (channels) are untouched. `np.pad(..., mode='constant', constant_values=0)`.
 */
export function padSymmetric<T extends NumericArray>(
  data: T,
  shape: readonly number[],
  pads: readonly number[],
): ShapedArray<T> {
  checkShape(shape, 'padSymmetric');
  if (pads.length > shape.length || pads.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new InputError(`padSymmetric: bad pads [${pads.join(', ')}] for shape [${shape.join(', ')}]`);
  }
  // No padding: the input is returned as is (nothing here mutates arrays in place).
  if (pads.every((p) => p === 0)) return { data, shape: [...shape] };
  const outShape = shape.map((s, a) => s + 2 * (pads[a] ?? 0));
  const start = shape.map((_, a) => pads[a] ?? 0);
  const out = allocLike(data, product(outShape));
  copyBlock(data, shape, out, outShape, start, 'into');
  return { data: out, shape: outShape };
}

/** Crops `[start, start + size)` on the leading `size.length` axes (trailing axes kept whole). */
export function cropBox<T extends NumericArray>(
  data: T,
  shape: readonly number[],
  start: readonly number[],
  size: readonly number[],
): ShapedArray<T> {
  checkShape(shape, 'cropBox');
  if (start.length !== size.length || size.length > shape.length) {
    throw new InputError(`cropBox: start/size rank does not fit shape [${shape.join(', ')}]`);
  }
  for (let a = 0; a < size.length; a++) {
    if (start[a] < 0 || size[a] < 1 || start[a] + size[a] > shape[a]) {
      throw new InputError(
        `cropBox: box start ${start[a]} size ${size[a]} exceeds axis ${a} of size ${shape[a]}`,
      );
    }
  }
  const outShape = shape.map((s, a) => (a < size.length ? size[a] : s));
  const out = allocLike(data, product(outShape));
  copyBlock(
    data,
    shape,
    out,
    outShape,
    shape.map((_, a) => start[a] ?? 0),
    'from',
  );
  return { data: out, shape: outShape };
}

/**
 * Copies between a big array and a small one placed at `offset` inside it. 'into': small `src` → big `dst`
 * (padding); 'from': big `src` → small `dst` (cropping). Runs are plain loops (often short).
 */
function copyBlock<T extends NumericArray>(
  src: T,
  srcShape: readonly number[],
  dst: T,
  dstShape: readonly number[],
  offset: readonly number[],
  direction: 'into' | 'from',
): void {
  const small = direction === 'into' ? srcShape : dstShape;
  const big = direction === 'into' ? dstShape : srcShape;
  // Trailing axes that are copied whole (same size, no offset) merge into one contiguous run.
  let rank = big.length;
  while (rank > 1 && small[rank - 1] === big[rank - 1] && offset[rank - 1] === 0) rank--;
  const tail = product(big.slice(rank));
  const run = small[rank - 1] * tail;
  const bigStrides = new Array<number>(rank);
  const smallStrides = new Array<number>(rank);
  bigStrides[rank - 1] = tail;
  smallStrides[rank - 1] = tail;
  for (let a = rank - 2; a >= 0; a--) {
    bigStrides[a] = bigStrides[a + 1] * big[a + 1];
    smallStrides[a] = smallStrides[a + 1] * small[a + 1];
  }
  const rows = product(small.slice(0, rank - 1));
  const idx = new Array<number>(rank - 1).fill(0);
  for (let r = 0; r < rows; r++) {
    let bigOff = offset[rank - 1] * tail;
    let smallOff = 0;
    for (let a = 0; a < rank - 1; a++) {
      bigOff += (idx[a] + offset[a]) * bigStrides[a];
      smallOff += idx[a] * smallStrides[a];
    }
    const from = direction === 'into' ? smallOff : bigOff;
    const to = direction === 'into' ? bigOff : smallOff;
    for (let t = 0; t < run; t++) dst[to + t] = src[from + t];
    for (let a = rank - 2; a >= 0; a--) {
      idx[a]++;
      if (idx[a] < small[a]) break;
      idx[a] = 0;
    }
  }
}

/**
 * The reference's crop padding (its first crop step, quirk Q18): if ANY axis has size ≤ patch, EVERY
 * axis is padded by max((o − s) // 2 + margin, 0) on each side, with Python floor division, so an axis 1–4
 * voxels larger than the patch is still padded (by 2 or 1 with margin 3) when another axis triggered it.
 */
export function cropPadding(shape: readonly number[], patch: readonly number[], margin: number): number[] {
  checkPatchRank(shape, patch, 'cropPadding');
  const triggered = shape.some((s, a) => s <= patch[a]);
  return shape.map((s, a) => (triggered ? Math.max(floorDiv(patch[a] - s, 2) + margin, 0) : 0));
}

interface SplitPair<I extends NumericArray, L extends NumericArray> {
  image: ShapedArray<I>;
  label: ShapedArray<L>;
}

/** Full shapes of the image (spatial + channels) and label; checks the lengths. */
function pairShapes<I extends NumericArray, L extends NumericArray>(
  image: I,
  label: L,
  shape: readonly number[],
  what: string,
): SplitPair<I, L> {
  checkShape(shape, what);
  const n = product(shape);
  if (label.length !== n) {
    throw new InputError(`${what}: label length ${label.length} does not match shape [${shape.join(', ')}]`);
  }
  const channels = image.length / n;
  if (!Number.isInteger(channels) || channels < 1) {
    throw new InputError(
      `${what}: image length ${image.length} is not a whole number of channels of shape [${shape.join(', ')}]`,
    );
  }
  return {
    image: { data: image, shape: channels === 1 ? [...shape] : [...shape, channels] },
    label: { data: label, shape: [...shape] },
  };
}

/**
 * RandomRotFlip of the reference: k = randint(0, 4) quarter turns in the plane of axes (0, 1), then axis = randint(0, 2)
 * flip (always applied). Draw order: k, then axis. The same draw is applied to image and label.
 */
export function randomRotFlip<I extends NumericArray, L extends NumericArray>(
  image: I,
  label: L,
  shape: readonly number[],
  rng: Rng,
): RotFlipResult<I, L> {
  requireTypedArray('randomRotFlip', 'image', image);
  requireTypedArray('randomRotFlip', 'label', label);
  requireNumberArray('randomRotFlip', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireRng('randomRotFlip', 'rng', rng);
  const pair = pairShapes(image, label, shape, 'randomRotFlip');
  const { k, axis } = drawRotFlip(rng);
  return { ...applyRotFlip(pair, shape.length, k, axis), k, axis };
}

/** The RandomRotFlip draws, in their order: k = randint(0, 4), then axis = randint(0, 2). */
function drawRotFlip(rng: Rng): { k: number; axis: number } {
  const k = rng.randint(0, 4);
  const axis = rng.randint(0, 2);
  return { k, axis };
}

/** The deterministic part of RandomRotFlip (rotation by k quarter turns, then flip along `axis`). */
export function rotFlip<I extends NumericArray, L extends NumericArray>(
  image: I,
  label: L,
  shape: readonly number[],
  k: number,
  axis: number,
): AugmentedPair<I, L> {
  return applyRotFlip(pairShapes(image, label, shape, 'rotFlip'), shape.length, k, axis);
}

function applyRotFlip<I extends NumericArray, L extends NumericArray>(
  pair: SplitPair<I, L>,
  spatialRank: number,
  k: number,
  axis: number,
): AugmentedPair<I, L> {
  if (axis !== 0 && axis !== 1) throw new InputError(`rotFlip: flip axis must be 0 or 1, got ${axis}`);
  const ri = rot90(pair.image.data, pair.image.shape, k);
  const rl = rot90(pair.label.data, pair.label.shape, k);
  const fi = flip(ri.data, ri.shape, axis);
  const fl = flip(rl.data, rl.shape, axis);
  return { image: fi.data, label: fl.data, shape: fl.shape.slice(0, spatialRank) };
}

/**
 * RandomCrop of the reference: the Q18 pad rule with `padMargin` (3; pancreas 1), then start_a = randint(0, size_a − o_a)
 * drawn for axes 0, 1, 2 in that order — numpy's exclusive upper bound means the last possible start is never
 * drawn (Q2). size_a == o_a after padding cannot happen with a margin ≥ 1 (padding makes every axis > o); it
 * would make numpy's randint(0, 0) fail, so it is reported as an error instead of silently using start 0.
 */
export function randomCrop<I extends NumericArray, L extends NumericArray>(
  image: I,
  label: L,
  shape: readonly number[],
  patch: readonly number[],
  rng: Rng,
  options: CropOptions = {},
): CropResult<I, L> {
  checkCropArgs('randomCrop', image, label, shape, patch, options, 1);
  requireRng('randomCrop', 'rng', rng);
  return crop(image, label, shape, patch, options.padMargin ?? 3, 'randomCrop', randomStart(rng));
}

/** The argument check of the crops: typed arrays, integer shape and patch of at least `minRank` axes, options. */
function checkCropArgs(
  fn: string,
  image: unknown,
  label: unknown,
  shape: unknown,
  patch: unknown,
  options: unknown,
  minRank: number,
): void {
  requireTypedArray(fn, 'image', image);
  requireTypedArray(fn, 'label', label);
  requireNumberArray(fn, 'shape', shape, { integer: true, min: 1, minLength: minRank });
  requireNumberArray(fn, 'patch', patch, { integer: true, min: 1, minLength: minRank });
  requireOptions(fn, 'options', options);
}

type StartRule = (size: number, o: number, axis: number) => number;

/** RandomCrop's start rule: randint(0, size − o), which needs size > o. */
function randomStart(rng: Rng): StartRule {
  return (size, o, a) => {
    if (size - o <= 0) {
      throw new InputError(
        `randomCrop: axis ${a} has size ${size} after padding and patch ${o}; ` +
          'the reference draws randint(0, size − patch) which needs size > patch (use a pad margin ≥ 1)',
      );
    }
    return rng.randint(0, size - o);
  };
}

/** CenterCrop's start rule: Python round((size − o) / 2), half to even. */
const centerStart: StartRule = (size, o, a) => {
  if (size < o) {
    throw new InputError(`centerCrop: axis ${a} has size ${size} after padding, smaller than patch ${o}`);
  }
  return roundHalfEven((size - o) / 2);
};

/** CenterCrop of the reference: same pad rule, start_a = Python round((size_a − o_a) / 2) (half to even). */
export function centerCrop<I extends NumericArray, L extends NumericArray>(
  image: I,
  label: L,
  shape: readonly number[],
  patch: readonly number[],
  options: CropOptions = {},
): CropResult<I, L> {
  checkCropArgs('centerCrop', image, label, shape, patch, options, 1);
  return crop(image, label, shape, patch, options.padMargin ?? 3, 'centerCrop', centerStart);
}

function crop<I extends NumericArray, L extends NumericArray>(
  image: I,
  label: L,
  shape: readonly number[],
  patch: readonly number[],
  margin: number,
  what: string,
  startOf: StartRule,
): CropResult<I, L> {
  const pair = pairShapes(image, label, shape, what);
  const { pad, start } = cropPlan(shape, patch, margin, what, startOf);
  const pi = padSymmetric(pair.image.data, pair.image.shape, pad);
  const pl = padSymmetric(pair.label.data, pair.label.shape, pad);
  const ci = cropBox(pi.data, pi.shape, start, patch);
  const cl = cropBox(pl.data, pl.shape, start, patch);
  return { image: ci.data, label: cl.data, shape: [...patch], pad, start };
}

/** The crop's padding (Q18 rule) and its start per axis in the padded volume, drawn in axis order. */
function cropPlan(
  shape: readonly number[],
  patch: readonly number[],
  margin: number,
  what: string,
  startOf: StartRule,
): { pad: number[]; start: number[] } {
  checkShape(patch, `${what} patch`);
  checkPatchRank(shape, patch, what);
  if (!Number.isInteger(margin)) throw new InputError(`${what}: padMargin must be an integer, got ${margin}`);
  const pad = cropPadding(shape, patch, margin);
  const start: number[] = [];
  for (let a = 0; a < patch.length; a++) start.push(startOf(shape[a] + 2 * pad[a], patch[a], a));
  return { pad, start };
}

export interface RotFlipCropOptions extends CropOptions {
  /** CenterCrop's start rule instead of RandomCrop's (the unlabeled crop of some pipelines). */
  center?: boolean;
}

/**
 * `randomRotFlip` followed by `randomCrop` (or `centerCrop` with `center`), with the same draws in the same
 * order and the same result, but reading only the voxels of the patch: each output voxel is traced back
 * through the crop, the padding, the flip and the rotation to its source voxel (or to the zero padding),
 * instead of rotating, flipping and padding the whole volume first. Needs at least 2 spatial axes.
 */
export function randomRotFlipCrop<I extends NumericArray, L extends NumericArray>(
  image: I,
  label: L,
  shape: readonly number[],
  patch: readonly number[],
  rng: Rng,
  options: RotFlipCropOptions = {},
): CropResult<I, L> & { k: number; axis: number } {
  checkCropArgs('randomRotFlipCrop', image, label, shape, patch, options, 2);
  requireRng('randomRotFlipCrop', 'rng', rng);
  const pair = pairShapes(image, label, shape, 'randomRotFlipCrop');
  const channels = image.length / label.length;
  const { k, axis } = drawRotFlip(rng);
  const [n0, n1] = shape;
  const rest = shape.slice(2);
  const rotated = k % 2 === 1 ? [n1, n0, ...rest] : [...shape];
  const what = options.center ? 'centerCrop' : 'randomCrop';
  const { pad, start } = cropPlan(
    rotated,
    patch,
    options.padMargin ?? 3,
    what,
    options.center ? centerStart : randomStart(rng),
  );
  // Source offset (in voxels, within one (x, y) column) of every output position along the trailing axes, or
  // −1 where it falls in the padding.
  const restPatch = patch.slice(2);
  const restOut = product(restPatch);
  const restOffsets = new Int32Array(restOut);
  for (let r = 0; r < restOut; r++) {
    let off = 0;
    let rem = r;
    for (let a = rest.length - 1; a >= 0 && off >= 0; a--) {
      const o = rem % restPatch[a];
      rem = (rem - o) / restPatch[a];
      const c = start[a + 2] + o - pad[a + 2];
      if (c < 0 || c >= rest[a]) off = -1;
      else off += c * product(rest.slice(a + 1));
    }
    restOffsets[r] = off;
  }
  const restIn = product(rest);
  const outImage = allocLike(pair.image.data, product(patch) * channels);
  const outLabel = allocLike(pair.label.data, product(patch));
  for (let o0 = 0; o0 < patch[0]; o0++) {
    let r0 = start[0] + o0 - pad[0];
    if (r0 < 0 || r0 >= rotated[0]) continue;
    if (axis === 0) r0 = flipSourceIndex(r0, rotated[0]);
    for (let o1 = 0; o1 < patch[1]; o1++) {
      let r1 = start[1] + o1 - pad[1];
      if (r1 < 0 || r1 >= rotated[1]) continue;
      if (axis === 1) r1 = flipSourceIndex(r1, rotated[1]);
      const [s0, s1] = rot90SourceIndex(r0, r1, n0, n1, k);
      const column = (s0 * n1 + s1) * restIn;
      const outColumn = (o0 * patch[1] + o1) * restOut;
      for (let r = 0; r < restOut; r++) {
        const off = restOffsets[r];
        if (off < 0) continue;
        const src = column + off;
        const dst = outColumn + r;
        outLabel[dst] = label[src];
        for (let c = 0; c < channels; c++) outImage[dst * channels + c] = image[src * channels + c];
      }
    }
  }
  return { image: outImage, label: outLabel, shape: [...patch], pad, start, k, axis };
}

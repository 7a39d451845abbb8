/**
 * Paper: the copy-paste mask of BCP (Bai et al., "Bidirectional Copy-Paste for Semi-Supervised Medical Image
 *   Segmentation", CVPR 2023), reused by CPAM of the TNNLS 2026 paper (docs/equations.md, References).
 * The cuboid ("context") mask of CPAM (E1–E4, docs/equations.md §4.2): one draw per iteration, shared by both
 * samples of every mix and by all four mixes (Q30). M = 1 outside the cuboid (Ω_out), 0 inside (Ω_in).
 */
import { tf } from '../backend/tf.js';
import { requireNumber, requireNumberArray, requireOptions, requireRng } from '../util/args.js';
import { InputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import { type CuboidStartRange, cuboidSize, REFERENCE_START_RANGES } from './cuboid-size.js';

export interface CuboidOptions {
  /** Default `reference`. */
  startRange?: CuboidStartRange;
  /** The hard-coded ranges of `reference`; default `REFERENCE_START_RANGES` of the dimensionality. */
  referenceStartRange?: readonly number[];
}

export interface CuboidMask {
  /** float32, shape = spatialShape; 1 outside the cuboid, 0 inside (E3). Owned by the caller. */
  mask: tf.Tensor;
  /** Start per axis (drawn in axis order, or the injected one). */
  start: number[];
  /** Nominal size per axis, trunc(shape_i · ratio) (E1). */
  size: number[];
  /** Extent actually inside the volume, min(size_i, shape_i − start_i) (smaller only when truncated). */
  clippedSize: number[];
}

/**
 * E1–E4: the copy-paste cuboid mask M, 1 outside a cuboid and 0 inside it, whose size per axis is
 * trunc(shape_i · ratio) and whose start is drawn from `rngOrStart` (or given explicitly, for tests and parity
 * runs). The mask is built on the host and uploaded once (no tensor ops), so the function never leaks.
 *
 * @param spatialShape - the patch size, `[X, Y, Z]` (3-D) or `[H, W]` (2-D).
 * @param ratio - the cuboid's size as a fraction of the patch per axis, in [0, 1] (`method.maskRatio`, default 2/3).
 * @param rngOrStart - the {@link Rng} the start is drawn from, or an explicit start per axis.
 * @param options - `startRange`: the rule the start is drawn with (default `'reference'`, the reference code's
 *   hard-coded ranges).
 * @returns the float32 mask tensor (shape `spatialShape`, owned by the caller), the start, the nominal size and
 *   the size clipped to the volume.
 * @throws {@link InputError} when `spatialShape` is not positive integers, `ratio` is outside [0, 1],
 *   `rngOrStart` is neither an Rng nor one non-negative integer per axis, or `options` is not an object.
 * @example
 * const { mask, start, size } = cuboidMask([112, 112, 80], 2 / 3, new Rng(1));
 * const mixed = mixImages(imagesA, imagesB, mask); // A outside the cuboid, B inside
 * mask.dispose();
 */
export function cuboidMask(
  spatialShape: readonly number[],
  ratio: number,
  rngOrStart: Rng | readonly number[],
  options: CuboidOptions = {},
): CuboidMask {
  requireNumberArray('cuboidMask', 'spatialShape', spatialShape, { integer: true, min: 1, minLength: 1 });
  requireNumber('cuboidMask', 'ratio', ratio);
  if (!Array.isArray(rngOrStart)) requireRng('cuboidMask', 'rngOrStart', rngOrStart);
  requireOptions('cuboidMask', 'options', options);
  const rank = spatialShape.length;
  if (rank < 1 || spatialShape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new InputError(
      `cuboidMask: spatialShape must be positive integers, got [${spatialShape.join(', ')}]`,
    );
  }
  if (!(ratio >= 0 && ratio <= 1)) {
    throw new InputError(`cuboidMask: ratio must be in [0, 1], got ${ratio}`);
  }
  const size = cuboidSize(spatialShape, ratio);
  let start: number[];
  if (Array.isArray(rngOrStart)) {
    const given = rngOrStart as readonly number[];
    if (given.length !== rank || given.some((s) => !Number.isInteger(s) || s < 0)) {
      throw new InputError(
        `cuboidMask: injected start must be ${rank} non-negative integers, got [${given.join(', ')}]`,
      );
    }
    start = [...given];
  } else {
    start = drawCuboidStart(spatialShape, size, rngOrStart as Rng, options);
  }
  const clippedSize = start.map((s, i) => Math.max(0, Math.min(size[i], spatialShape[i] - s)));
  const data = new Float32Array(spatialShape.reduce((a, b) => a * b, 1)).fill(1);
  if (clippedSize.every((c) => c > 0)) zeroBox(data, spatialShape, start, clippedSize);
  return { mask: tf.tensor(data, [...spatialShape], 'float32'), start, size, clippedSize };
}

/**
 * E2: the start of a cuboid of `size` in `spatialShape`, drawn in axis order (the reference's w, h, z) with the
 * rule of `options.startRange` (see {@link CuboidStartRange}).
 */
export function drawCuboidStart(
  spatialShape: readonly number[],
  size: readonly number[],
  rng: Rng,
  options: CuboidOptions = {},
): number[] {
  requireNumberArray('drawCuboidStart', 'spatialShape', spatialShape, {
    integer: true,
    min: 1,
    minLength: 1,
  });
  requireNumberArray('drawCuboidStart', 'size', size, { integer: true, min: 0 });
  requireRng('drawCuboidStart', 'rng', rng);
  requireOptions('drawCuboidStart', 'options', options);
  const rank = spatialShape.length;
  const startRange = options.startRange ?? 'reference';
  if (startRange === 'valid') return spatialShape.map((s, i) => rng.randint(0, s - size[i] + 1));
  if (startRange !== 'reference') {
    throw new InputError(
      `cuboidMask: startRange must be 'reference' or 'valid', got '${String(startRange)}'`,
    );
  }
  const ref =
    options.referenceStartRange ?? (rank === 3 || rank === 2 ? REFERENCE_START_RANGES[rank] : undefined);
  if (ref === undefined || ref.length !== rank) {
    throw new InputError(
      `cuboidMask: referenceStartRange must have ${rank} entries, got ${ref === undefined ? 'none' : `[${ref.join(', ')}]`}`,
    );
  }
  for (let i = 0; i < rank; i++) {
    if (!Number.isInteger(ref[i]) || ref[i] - size[i] < 1) {
      throw new InputError(
        `cuboidMask: reference start range ${ref[i]} on axis ${i} leaves no start for a cuboid of size ${size[i]} ` +
          `(needs range > size); use startRange 'valid' or a larger referenceStartRange`,
      );
    }
  }
  return size.map((s, i) => rng.randint(0, ref[i] - s));
}

/** Sets the box [start, start + extent) of a row-major array to 0 (any rank). */
function zeroBox(
  data: Float32Array,
  shape: readonly number[],
  start: readonly number[],
  extent: readonly number[],
): void {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  const idx = new Array<number>(rank - 1).fill(0);
  const last = rank - 1;
  for (;;) {
    let offset = start[last];
    for (let i = 0; i < last; i++) offset += (start[i] + idx[i]) * strides[i];
    data.fill(0, offset, offset + extent[last]);
    let axis = last - 1;
    while (axis >= 0) {
      idx[axis]++;
      if (idx[axis] < extent[axis]) break;
      idx[axis] = 0;
      axis--;
    }
    if (axis < 0) return;
  }
}

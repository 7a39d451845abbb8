/**
 * Overlap and surface-distance metrics, numerically equal to `medpy.metric.binary` 0.5 (docs/equations.md
 * §5.3). Distances are in the unit of `spacing` (voxels when it is omitted, as the reference calls
 * medpy without `voxelspacing`).
 *
 * Which medpy version each metric matches: Dice (`dc`), Jaccard (`jc`), HD95 (`hd95`), HD (`hd`) and ASD
 * (`asd`) give the same values in medpy 0.4 and 0.5 whenever both masks are non-empty; they differ only when
 * both masks are empty (see {@link computeMetrics}). ASSD (`assd`) follows medpy 0.5: the mean of the pooled
 * distances of both directions. medpy 0.4 (what the reference ran) averaged the two directed means instead.
 */

import {
  requireNumber,
  requireNumberArray,
  requireNumbers,
  requireOptions,
  requireTypedArray,
} from '../util/args.js';
import { InputError } from '../util/errors.js';
import { checkSpacing, shapeSize, squaredTransformInPlace } from './distance-transform.js';

/** Metrics of one binary prediction against one binary label. */
export interface SegmentationMetrics {
  /** 2|A∩B| / (|A|+|B|). */
  dice: number;
  /** |A∩B| / |A∪B|. */
  jaccard: number;
  /**
   * 95th percentile (numpy linear interpolation) of the pooled surface distances of both directions (medpy
   * `hd95`, the same in 0.4 and 0.5).
   */
  hd95: number | null;
  /** Hausdorff distance: the largest surface distance of either direction (medpy `hd`, 0.4 and 0.5). */
  hd: number | null;
  /**
   * Directed mean surface distance prediction → label (medpy `asd(result, reference)`, the same in 0.4 and
   * 0.5; what the reference reports as ASD).
   */
  asd: number | null;
  /**
   * Mean of the pooled surface distances of both directions, prediction → label then label → prediction
   * (medpy 0.5 `assd`). medpy 0.4 returned the mean of the two directed means, which differs from this by
   * (n₁ − n₂)(m₁ − m₂) / (2(n₁ + n₂)) for n border voxels and directed mean m per direction.
   */
  assd: number | null;
}

/** Options of {@link computeMetrics}. */
export interface MetricOptions {
  /** Voxel size along each axis of `shape`; distances are then in its unit (mm from a NIfTI header). */
  spacing?: readonly number[];
}

/**
 * Dice, Jaccard, HD95, HD, ASD (directed pred → label) and ASSD of two binary masks (non-zero = foreground),
 * row-major over `shape` (2-D or 3-D; 1-D also works).
 *
 * medpy's steps: border(X) = X XOR erosion(X) by the cross of connectivity 1 with outside-the-array voxels as
 * background (so voxels on the array edge are border); sd(A→B) = exact EDT of ¬border(B), read at border(A)
 * in row-major order; hd95 = `numpy.percentile(hstack(sd(A→B), sd(B→A)), 95)`; hd = the largest of both;
 * asd = mean(sd(A→B)); assd = `numpy.concatenate((sd(A→B), sd(B→A))).mean()` (medpy 0.5: every border voxel
 * of either mask weighs the same; medpy 0.4 averaged the two directed means). Means use numpy's pairwise
 * summation so that ASD/ASSD match numpy to the last bit.
 *
 * Empty masks (choices): medpy raises for distances when either mask is empty, so the distances are `null`
 * here and the protocol layer (`protocol.ts`) decides. Both masks empty gives dice = jaccard = 1: that is
 * medpy ≥ 0.5 (`dc` and `jc` return 1.0 on ZeroDivision); medpy 0.4.0, which the reference ran, returned
 * dc = 0.0 and raised in `jc` — the `paper` protocol scores an empty prediction 0 anyway, so nothing the
 * reference reports depends on this.
 *
 * Speed: distances are computed on the bounding box of both borders only (exact: every feature and every
 * query voxel lies inside it), so cost is linear in that box.
 * @param pred - The predicted mask, row-major over `shape` (non-zero = foreground).
 * @param label - The reference mask, same layout.
 * @param shape - The mask's sizes, 1 to 3 axes.
 * @param options - `spacing`: the voxel size per axis (distances in its unit; default 1 = voxels).
 * @returns Dice and Jaccard, and HD95, HD, ASD and ASSD (`null` when either mask is empty).
 * @throws InputError when `pred` or `label` is not an array of numbers, `shape` is not 1–3 positive integers,
 *   a mask's length is not the shape's voxel count, or `spacing` is not one positive finite number per axis.
 * @example
 * ```ts
 * const m = computeMetrics(pred, label, [64, 64, 32], { spacing: [0.625, 0.625, 1.25] });
 * console.log(m.dice, m.hd95); // HD95 in mm
 * ```
 */
export function computeMetrics(
  pred: ArrayLike<number>,
  label: ArrayLike<number>,
  shape: readonly number[],
  options: MetricOptions = {},
): SegmentationMetrics {
  requireNumbers('computeMetrics', 'pred', pred);
  requireNumbers('computeMetrics', 'label', label);
  requireNumberArray('computeMetrics', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireOptions('computeMetrics', 'options', options);
  const size = shapeSize(shape, 'computeMetrics');
  if (pred.length !== size || label.length !== size) {
    throw new InputError(
      `computeMetrics: shape [${shape.join(', ')}] needs ${size} voxels, found pred ${pred.length} and label ${label.length}`,
    );
  }
  if (shape.length > 3) {
    throw new InputError(`computeMetrics: expected a 1-D, 2-D or 3-D shape, found [${shape.join(', ')}]`);
  }
  const spacing = checkSpacing(options.spacing, shape.length, 'computeMetrics');

  const a = new Uint8Array(size);
  const b = new Uint8Array(size);
  let nA = 0;
  let nB = 0;
  let inter = 0;
  for (let i = 0; i < size; i++) {
    const pa = pred[i] !== 0 ? 1 : 0;
    const pb = label[i] !== 0 ? 1 : 0;
    a[i] = pa;
    b[i] = pb;
    nA += pa;
    nB += pb;
    inter += pa & pb;
  }
  const sum = nA + nB;
  const dice = sum === 0 ? 1 : (2 * inter) / sum;
  const jaccard = sum === 0 ? 1 : inter / (sum - inter);
  if (nA === 0 || nB === 0) return { dice, jaccard, hd95: null, hd: null, asd: null, assd: null };

  const { sdAB, sdBA } = bidirectionalSurfaceDistances(a, b, shape, spacing);
  const pooled = new Float64Array(sdAB.length + sdBA.length);
  pooled.set(sdAB, 0);
  pooled.set(sdBA, sdAB.length);
  let hd = 0;
  for (const d of pooled) if (d > hd) hd = d;
  return {
    dice,
    jaccard,
    hd95: percentileLinear(pooled, 95),
    hd,
    asd: numpyMean(sdAB),
    assd: numpyMean(pooled),
  };
}

/**
 * Directed surface distances sd(A→B) (medpy `__surface_distances(a, b)`): for every border voxel of `a`, in
 * row-major order, the distance to the nearest border voxel of `b`. Both masks must be non-empty.
 */
export function surfaceDistances(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  shape: readonly number[],
  options: MetricOptions = {},
): Float64Array {
  requireNumbers('surfaceDistances', 'a', a);
  requireNumbers('surfaceDistances', 'b', b);
  requireNumberArray('surfaceDistances', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireOptions('surfaceDistances', 'options', options);
  const size = shapeSize(shape, 'surfaceDistances');
  if (a.length !== size || b.length !== size) {
    throw new InputError(
      `surfaceDistances: shape [${shape.join(', ')}] needs ${size} voxels, found ${a.length} and ${b.length}`,
    );
  }
  const spacing = checkSpacing(options.spacing, shape.length, 'surfaceDistances');
  const ma = new Uint8Array(size);
  const mb = new Uint8Array(size);
  let nA = 0;
  let nB = 0;
  for (let i = 0; i < size; i++) {
    ma[i] = a[i] !== 0 ? 1 : 0;
    mb[i] = b[i] !== 0 ? 1 : 0;
    nA += ma[i];
    nB += mb[i];
  }
  if (nA === 0 || nB === 0) {
    throw new InputError(`surfaceDistances: both masks must be non-empty, found ${nA} and ${nB} voxels`);
  }
  return bidirectionalSurfaceDistances(ma, mb, shape, spacing).sdAB;
}

/** Shape padded to 3-D with leading 1s; padded axes are inactive (they are not axes of medpy's structure). */
function to3d(shape: readonly number[]): {
  dims: [number, number, number];
  active: [boolean, boolean, boolean];
} {
  const pad = 3 - shape.length;
  const dims: [number, number, number] = [1, 1, 1];
  const active: [boolean, boolean, boolean] = [false, false, false];
  for (let i = 0; i < shape.length; i++) {
    dims[pad + i] = shape[i];
    active[pad + i] = true;
  }
  return { dims, active };
}

/**
 * border(X) = X XOR binary_erosion(X, cross of connectivity 1, border_value 0): a foreground voxel is border
 * when any of its 2·ndim face neighbours is background or outside the array. `mask` holds 0/1.
 */
export function surfaceBorder(mask: Uint8Array, shape: readonly number[]): Uint8Array {
  requireTypedArray('surfaceBorder', 'mask', mask, ['Uint8Array']);
  requireNumberArray('surfaceBorder', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  shapeSize(shape, 'surfaceBorder');
  if (shape.length > 3) {
    throw new InputError(`surfaceBorder: expected a 1-D, 2-D or 3-D shape, found [${shape.join(', ')}]`);
  }
  const { dims, active } = to3d(shape);
  const [n0, n1, n2] = dims;
  const s0 = n1 * n2;
  const s1 = n2;
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      const row = i * s0 + j * s1;
      for (let k = 0; k < n2; k++) {
        const p = row + k;
        if (mask[p] === 0) continue;
        let interior = true;
        if (active[0]) interior = i > 0 && i < n0 - 1 && mask[p - s0] !== 0 && mask[p + s0] !== 0;
        if (interior && active[1]) interior = j > 0 && j < n1 - 1 && mask[p - s1] !== 0 && mask[p + s1] !== 0;
        if (interior && active[2]) interior = k > 0 && k < n2 - 1 && mask[p - 1] !== 0 && mask[p + 1] !== 0;
        if (!interior) out[p] = 1;
      }
    }
  }
  return out;
}

/** sd(A→B) and sd(B→A) for two non-empty 0/1 masks, on the bounding box of both borders. */
function bidirectionalSurfaceDistances(
  a: Uint8Array,
  b: Uint8Array,
  shape: readonly number[],
  spacing: readonly number[],
): { sdAB: Float64Array; sdBA: Float64Array } {
  const borderA = surfaceBorder(a, shape);
  const borderB = surfaceBorder(b, shape);
  const { dims } = to3d(shape);
  const [n0, n1, n2] = dims;
  const lo = [n0, n1, n2];
  const hi = [-1, -1, -1];
  let countA = 0;
  let countB = 0;
  for (let i = 0, p = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      for (let k = 0; k < n2; k++, p++) {
        const ba = borderA[p];
        const bb = borderB[p];
        if ((ba | bb) === 0) continue;
        countA += ba;
        countB += bb;
        if (i < lo[0]) lo[0] = i;
        if (i > hi[0]) hi[0] = i;
        if (j < lo[1]) lo[1] = j;
        if (j > hi[1]) hi[1] = j;
        if (k < lo[2]) lo[2] = k;
        if (k > hi[2]) hi[2] = k;
      }
    }
  }
  const c0 = hi[0] - lo[0] + 1;
  const c1 = hi[1] - lo[1] + 1;
  const c2 = hi[2] - lo[2] + 1;
  // The cropped box keeps the original rank so that spacing lines up with the axes of `shape`.
  const pad = 3 - shape.length;
  const cropShape = [c0, c1, c2].slice(pad);
  const cropSize = c0 * c1 * c2;
  const fA = new Float64Array(cropSize);
  const fB = new Float64Array(cropSize);
  for (let i = 0, q = 0; i < c0; i++) {
    for (let j = 0; j < c1; j++) {
      const row = ((lo[0] + i) * n1 + (lo[1] + j)) * n2 + lo[2];
      for (let k = 0; k < c2; k++, q++) {
        fA[q] = borderA[row + k] !== 0 ? 0 : Number.POSITIVE_INFINITY;
        fB[q] = borderB[row + k] !== 0 ? 0 : Number.POSITIVE_INFINITY;
      }
    }
  }
  squaredTransformInPlace(fB, cropShape, spacing, true);
  squaredTransformInPlace(fA, cropShape, spacing, true);
  // After the transform a voxel is 0 exactly where it is a feature (positive spacing), so fA === 0 marks
  // border(A) without keeping a second mask.
  const sdAB = new Float64Array(countA);
  const sdBA = new Float64Array(countB);
  for (let q = 0, ia = 0, ib = 0; q < cropSize; q++) {
    if (fA[q] === 0) sdAB[ia++] = Math.sqrt(fB[q]);
    if (fB[q] === 0) sdBA[ib++] = Math.sqrt(fA[q]);
  }
  return { sdAB, sdBA };
}

/**
 * numpy's pairwise summation (`pairwise_sum` in numpy's loops, blocks of 8 accumulators up to 128 values),
 * started from 0 as `numpy.add.reduce` does; with it `numpyMean` equals `numpy.mean` bit for bit.
 */
function pairwiseSum(a: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= 128) {
    let r0 = a[start];
    let r1 = a[start + 1];
    let r2 = a[start + 2];
    let r3 = a[start + 3];
    let r4 = a[start + 4];
    let r5 = a[start + 5];
    let r6 = a[start + 6];
    let r7 = a[start + 7];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const p = start + i;
      r0 += a[p];
      r1 += a[p + 1];
      r2 += a[p + 2];
      r3 += a[p + 3];
      r4 += a[p + 4];
      r5 += a[p + 5];
      r6 += a[p + 6];
      r7 += a[p + 7];
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** `numpy.mean` of a non-empty float64 vector (pairwise sum, then one division). */
export function numpyMean(values: ArrayLike<number>): number {
  if (values.length === 0) throw new InputError('numpyMean: expected at least one value, found none');
  return (0 + pairwiseSum(values, 0, values.length)) / values.length;
}

/**
 * `numpy.percentile(values, q)` with the default 'linear' method: virtual index (n−1)·q/100, and numpy's
 * `_lerp` (a + (b−a)·γ, or b − (b−a)·(1−γ) when γ ≥ 0.5). Does not modify `values`.
 */
export function percentileLinear(values: ArrayLike<number>, q: number): number {
  requireNumbers('percentileLinear', 'values', values);
  requireNumber('percentileLinear', 'q', q, { min: 0, max: 100 });
  const n = values.length;
  if (n === 0) throw new InputError('percentileLinear: expected at least one value, found none');
  if (!(q >= 0 && q <= 100)) throw new InputError(`percentileLinear: expected q in [0, 100], found ${q}`);
  const work = Float64Array.from(values);
  const virtual = (n - 1) * (q / 100);
  const below = Math.floor(virtual);
  const gamma = virtual - below;
  const lowIndex = Math.min(Math.max(below, 0), n - 1);
  const lowValue = selectInPlace(work, lowIndex);
  // After selection every entry right of lowIndex is ≥ lowValue: the next order statistic is their minimum.
  let highValue = lowValue;
  if (lowIndex + 1 < n) {
    highValue = work[lowIndex + 1];
    for (let i = lowIndex + 2; i < n; i++) if (work[i] < highValue) highValue = work[i];
  }
  const diff = highValue - lowValue;
  return gamma >= 0.5 ? highValue - diff * (1 - gamma) : lowValue + diff * gamma;
}

/**
 * k-th smallest value (0-based) by Wirth's selection, linear on average (instead of sorting hundreds of
 * thousands of border distances); leaves a[0..k−1] ≤ a[k] ≤ a[k+1..].
 */
function selectInPlace(a: Float64Array, k: number): number {
  let l = 0;
  let r = a.length - 1;
  while (l < r) {
    const x = a[k];
    let i = l;
    let j = r;
    do {
      while (a[i] < x) i++;
      while (x < a[j]) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    } while (i <= j);
    if (j < k) l = i;
    if (k < i) r = j;
  }
  return a[k];
}

/**
 * ACDC 2-D training transform of BCP (`RandomGenerator`, quirk Q27), on one row-major slice
 * `[n0, n1]` (image may carry channels last: `[n0, n1, C]`).
 *
 * Random draws, in this exact order, all from the one injected Rng (the reference mixes Python's `random` for
 * the branch choice and numpy for the rest; Q20: not mimicked):
 *   1. u1 = rng.random(); if u1 > 0.5: k = rng.randint(0, 4), then axis = rng.randint(0, 2)  → rot90 + flip;
 *   2. otherwise u2 = rng.random(); if u2 > 0.5: angle = rng.randint(angleMin, angleMax)      → nearest rotate;
 *   3. nearest zoom of image AND label to the output size (no draw).
 * So P(rot/flip) = 0.5, P(rotate) = 0.25, P(none) = 0.25.
 */

import {
  requireNumber,
  requireNumberArray,
  requireOptions,
  requireRng,
  requireTypedArray,
} from '../util/args.js';
import { InputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import { flip, type NumericArray, rot90 } from './augment.js';

export interface AcdcTransformOptions {
  /** Output `[H, W]` of the zoom; the reference uses 256×256. */
  outputSize?: [number, number];
  /** numpy `randint(angleMin, angleMax)` bounds in degrees (upper exclusive); reference [−20, 20) → −20..19. */
  angleRange?: [number, number];
}

export interface AcdcTransformResult<
  I extends NumericArray = Float32Array,
  L extends NumericArray = Uint8Array,
> {
  /** `[H, W, C]` row-major (C = 1 for ACDC). */
  image: I;
  /** `[H, W]`. */
  label: L;
  shape: [number, number];
  branch: 'rotflip' | 'rotate' | 'none';
  k?: number;
  axis?: number;
  angle?: number;
}

function allocLike<T extends NumericArray>(like: T, length: number): T {
  const Ctor = like.constructor as new (n: number) => T;
  return new Ctor(length);
}

function checkSlice(data: NumericArray, shape: readonly number[], what: string): number {
  if (shape.length !== 2 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new InputError(`${what}: slice shape must be [n0, n1], got [${shape.join(', ')}]`);
  }
  const channels = data.length / (shape[0] * shape[1]);
  if (!Number.isInteger(channels) || channels < 1) {
    throw new InputError(
      `${what}: data length ${data.length} is not a whole number of [${shape.join(', ')}] slices`,
    );
  }
  return channels;
}

// Cephes `sindg`/`cosdg` (`special.sindg/cosdg`, which recent SciPy's `ndimage.rotate` uses; 1.17 checked): the same
// octant reduction and polynomials, so the rotation matrix matches SciPy bit for bit (Math.sin(π/4) differs
// from sindg(45) in the last bit, which moves a rounding-boundary sample). Exact at multiples of 90°.
// Coefficients as the shortest decimals of the doubles cephes' 20-digit literals round to.
const SINCOF = [
  1.5896230157221844e-10, -2.5050747762850355e-8, 2.7557313621385676e-6, -1.984126982958954e-4,
  8.333333333322118e-3, -1.666666666666663e-1,
];
const COSCOF = [
  1.1367817138204455e-11, -2.0875883375768363e-9, 2.7557315542981663e-7, -2.480158729361863e-5,
  1.3888888888880667e-3, -4.166666666666664e-2, 0.5,
];
const PI180 = 0.017453292519943295;

function polevl(x: number, coef: readonly number[]): number {
  let ans = coef[0];
  for (let i = 1; i < coef.length; i++) ans = ans * x + coef[i];
  return ans;
}

/** Octant reduction shared by sindg/cosdg: returns [j (0..3), z (radians in [−π/4, π/4]), flipped]. */
function reduceDegrees(x: number): [number, number, boolean] {
  let y = Math.floor(x / 45);
  let z = y - Math.floor(y / 16) * 16;
  let j = z;
  if (j & 1) {
    j += 1;
    y += 1;
  }
  j &= 7;
  let flipped = false;
  if (j > 3) {
    flipped = true;
    j -= 4;
  }
  z = (x - y * 45) * PI180;
  return [j, z, flipped];
}

export function sindg(angle: number): number {
  const sign = angle < 0 ? -1 : 1;
  const [j, z, flipped] = reduceDegrees(Math.abs(angle));
  const zz = z * z;
  const y = j === 1 || j === 2 ? 1 - zz * polevl(zz, COSCOF) : z + z * (zz * polevl(zz, SINCOF));
  return (flipped ? -sign : sign) * y;
}

export function cosdg(angle: number): number {
  const [j, z, flipped] = reduceDegrees(Math.abs(angle));
  let sign = flipped ? -1 : 1;
  if (j > 1) sign = -sign;
  const zz = z * z;
  const y = j === 1 || j === 2 ? z + z * (zz * polevl(zz, SINCOF)) : 1 - zz * polevl(zz, COSCOF);
  return sign * y;
}

/** Error-free product (Dekker/Veltkamp): a·b = p + e exactly. */
function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  const split = (x: number): [number, number] => {
    const t = 134217729 * x; // 2^27 + 1
    const hi = t - (t - x);
    return [hi, x - hi];
  };
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return [p, al * bl - (p - ah * bh - al * bh - ah * bl)];
}

/**
 * a·b + c·d as if computed in twice the precision, then rounded (Ogita–Rump–Oishi Dot2). NumPy computes the
 * rotation centre `rot_matrix @ c` with BLAS, whose FMA kernels round the two-term dot product once; the plain
 * `a*b + c*d` can differ in the last bit and move a sample that lies on a rounding boundary.
 */
function dot2(a: number, b: number, c: number, d: number): number {
  const [p1, e1] = twoProduct(a, b);
  const [p2, e2] = twoProduct(c, d);
  const sum = p1 + p2;
  const bp = sum - p1;
  const es = p1 - (sum - bp) + (p2 - bp);
  return sum + (e1 + e2 + es);
}

/**
 * `scipy.ndimage.rotate(a, angle, order=0, reshape=False, mode='constant', cval=0)` on axes (0, 1):
 * output o samples the input at R·o + offset with R = [[c, s], [−s, c]] (cephes sindg/cosdg), offset =
 * c_in − R·c_out, c = ((n0−1)/2, (n1−1)/2), accumulated as
 * SciPy 1.17 does ((offset[h] + o0·R[h][0]) + o1·R[h][1]; R·c as one rounded dot product like NumPy's BLAS),
 * which matched SciPy 1.17 + OpenBLAS bit for bit on every tested size and angle (older SciPy summed the
 * products first; that differs only for samples exactly on a rounding boundary). A coordinate below 0 or above
 * n−1 on either axis gives `cval` (constant mode: no nearest extension past the edge); inside,
 * nearest = floor(x + 0.5).
 */
export function rotateNearest<T extends NumericArray>(
  data: T,
  shape: readonly number[],
  angle: number,
  cval = 0,
): T {
  requireTypedArray('rotateNearest', 'data', data);
  requireNumberArray('rotateNearest', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireNumber('rotateNearest', 'angle', angle);
  requireNumber('rotateNearest', 'cval', cval);
  const channels = checkSlice(data, shape, 'rotateNearest');
  const [n0, n1] = shape;
  const c = cosdg(angle);
  const s = sindg(angle);
  const m00 = c;
  const m01 = s;
  const m10 = -s;
  const m11 = c;
  const h0 = (n0 - 1) / 2;
  const h1 = (n1 - 1) / 2;
  const off0 = h0 - dot2(m00, h0, m01, h1);
  const off1 = h1 - dot2(m10, h0, m11, h1);
  const out = allocLike(data, data.length);
  for (let o0 = 0; o0 < n0; o0++) {
    for (let o1 = 0; o1 < n1; o1++) {
      const x0 = off0 + o0 * m00 + o1 * m01;
      const x1 = off1 + o0 * m10 + o1 * m11;
      const dst = (o0 * n1 + o1) * channels;
      if (x0 < 0 || x0 > n0 - 1 || x1 < 0 || x1 > n1 - 1) {
        for (let t = 0; t < channels; t++) out[dst + t] = cval;
        continue;
      }
      const src = (Math.floor(x0 + 0.5) * n1 + Math.floor(x1 + 0.5)) * channels;
      for (let t = 0; t < channels; t++) out[dst + t] = data[src + t];
    }
  }
  return out;
}

/**
 * Source indices of `scipy.ndimage.zoom(order=0)` along one axis (grid_mode False): output o samples
 * x = o·z with z = (n_in − 1)/(n_out − 1) (1 when n_out = 1), nearest = floor(x + 0.5). As in SciPy's constant
 * mode, an x that float rounding puts a hair above n_in − 1 is "outside" and gives −1 (→ value 0): SciPy 1.17
 * really zeroes the last row for e.g. 14 → 384. It never happens for n_out = 256 (checked for n_in ≤ 1024).
 */
export function zoomSourceIndices(nIn: number, nOut: number): Int32Array {
  if (!Number.isInteger(nIn) || !Number.isInteger(nOut) || nIn < 1 || nOut < 1) {
    throw new InputError(`zoomSourceIndices: sizes must be positive integers, got ${nIn} → ${nOut}`);
  }
  const z = nOut > 1 ? (nIn - 1) / (nOut - 1) : 1;
  const idx = new Int32Array(nOut);
  for (let o = 0; o < nOut; o++) {
    const x = o * z;
    idx[o] = x > nIn - 1 ? -1 : Math.floor(x + 0.5);
  }
  return idx;
}

/**
 * Nearest-neighbour `scipy.ndimage.zoom` of a `[n0, n1(, C)]` slice to `[m0, m1(, C)]` (ACDC image AND label,
 * Q27); samples outside the input (see `zoomSourceIndices`) take `cval`.
 */
export function zoomNearest<T extends NumericArray>(
  data: T,
  shape: readonly number[],
  outputSize: readonly [number, number] | readonly number[],
  cval = 0,
): T {
  requireTypedArray('zoomNearest', 'data', data);
  requireNumberArray('zoomNearest', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireNumberArray('zoomNearest', 'outputSize', outputSize, { integer: true, min: 1, length: 2 });
  requireNumber('zoomNearest', 'cval', cval);
  const channels = checkSlice(data, shape, 'zoomNearest');
  const [m0, m1] = outputSize;
  const i0 = zoomSourceIndices(shape[0], m0);
  const i1 = zoomSourceIndices(shape[1], m1);
  const n1 = shape[1];
  const out = allocLike(data, m0 * m1 * channels);
  for (let o0 = 0; o0 < m0; o0++) {
    for (let o1 = 0; o1 < m1; o1++) {
      const dst = (o0 * m1 + o1) * channels;
      if (i0[o0] < 0 || i1[o1] < 0) {
        for (let t = 0; t < channels; t++) out[dst + t] = cval;
        continue;
      }
      const src = (i0[o0] * n1 + i1[o1]) * channels;
      for (let t = 0; t < channels; t++) out[dst + t] = data[src + t];
    }
  }
  return out;
}

/**
 * BCP `RandomGenerator(output_size)` on one slice: rot/flip (P 0.5) or nearest rotate (P 0.25) or nothing,
 * then nearest zoom of image and label to `outputSize`. See the module comment for the draw order.
 */
export function acdcRandomGenerator<I extends NumericArray, L extends NumericArray>(
  image: I,
  label: L,
  shape: readonly number[],
  rng: Rng,
  options: AcdcTransformOptions = {},
): AcdcTransformResult<I, L> {
  requireTypedArray('acdcRandomGenerator', 'image', image);
  requireTypedArray('acdcRandomGenerator', 'label', label);
  requireNumberArray('acdcRandomGenerator', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireRng('acdcRandomGenerator', 'rng', rng);
  requireOptions('acdcRandomGenerator', 'options', options);
  const outputSize = options.outputSize ?? [256, 256];
  const [angleMin, angleMax] = options.angleRange ?? [-20, 20];
  const channels = checkSlice(image, shape, 'acdcRandomGenerator image');
  const labelChannels = checkSlice(label, shape, 'acdcRandomGenerator label');
  if (labelChannels !== 1) {
    throw new InputError(
      `acdcRandomGenerator: label must be one [${shape.join(', ')}] slice, got ${labelChannels} slices`,
    );
  }
  let img = image;
  let lab = label;
  let cur = [shape[0], shape[1]];
  const result: Pick<AcdcTransformResult<I, L>, 'branch' | 'k' | 'axis' | 'angle'> = { branch: 'none' };
  const u1 = rng.random();
  if (u1 > 0.5) {
    const k = rng.randint(0, 4);
    const axis = rng.randint(0, 2);
    const imgShape = channels === 1 ? cur : [...cur, channels];
    const ri = rot90(img, imgShape, k);
    const rl = rot90(lab, cur, k);
    img = flip(ri.data, ri.shape, axis).data;
    lab = flip(rl.data, rl.shape, axis).data;
    cur = rl.shape;
    Object.assign(result, { branch: 'rotflip', k, axis });
  } else if (rng.random() > 0.5 /* u2, drawn only when u1 ≤ 0.5 */) {
    const angle = rng.randint(angleMin, angleMax);
    img = rotateNearest(img, cur, angle);
    lab = rotateNearest(lab, cur, angle);
    Object.assign(result, { branch: 'rotate', angle });
  }
  return {
    image: zoomNearest(img, cur, outputSize),
    label: zoomNearest(lab, cur, outputSize),
    shape: [outputSize[0], outputSize[1]],
    ...result,
  };
}

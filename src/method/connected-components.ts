/**
 * Connected components on row-major binary masks (design decision 2: voxel (i,j,k) of shape [nx,ny,nz] is at
 * `(i*ny+j)*nz+k`). Used by the pseudo-labels (E7, method-spec Q15) and by evaluation post-processing (§5.2).
 *
 * Labelling is a breadth-first flood fill with an Int32Array queue: every voxel is enqueued at most once, so
 * the cost is linear in the number of voxels times the neighbourhood size. Components are numbered in the order
 * their first voxel is met in a raster (C-order) scan, which is skimage.measure.label's numbering; "ties go to
 * the smallest label" therefore means "ties go to the component met first in raster order".
 */

import { requireNumberArray, requireNumbers, requireOneOf } from '../util/args.js';
import { InputError } from '../util/errors.js';

/** 4 / 8 in 2-D; 6 (faces), 18 (faces + edges), 26 (full, skimage's default) in 3-D. */
export type Connectivity = 4 | 8 | 6 | 18 | 26;

export interface ComponentLabels {
  /** 0 = background, 1..count = components numbered in raster order of their first voxel. */
  labels: Int32Array;
  /** Number of components. */
  count: number;
  /** `sizes[l − 1]` = voxel count of component l. */
  sizes: number[];
}

interface Grid {
  nx: number;
  ny: number;
  nz: number;
  /** Neighbour offsets as (di, dj, dk) triples. */
  offsets: Int32Array;
}

/** The neighbourhood as the set of offsets with L1 norm ≤ maxL1 (1 = faces, 2 = + edges, 3 = + corners). */
function makeGrid(shape: readonly number[], connectivity: Connectivity, length: number, what: string): Grid {
  if (shape.length !== 2 && shape.length !== 3) {
    throw new InputError(`${what}: shape must have 2 or 3 axes, got [${shape.join(', ')}]`);
  }
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) {
      throw new InputError(`${what}: shape entries must be non-negative integers, got [${shape.join(', ')}]`);
    }
  }
  const total = shape.reduce((a, b) => a * b, 1);
  if (total !== length) {
    throw new InputError(
      `${what}: mask has ${length} elements but shape [${shape.join(', ')}] needs ${total}`,
    );
  }
  let maxL1: number;
  if (shape.length === 2) {
    if (connectivity !== 4 && connectivity !== 8) {
      throw new InputError(`${what}: 2-D connectivity must be 4 or 8, got ${connectivity}`);
    }
    maxL1 = connectivity === 4 ? 1 : 2;
  } else {
    if (connectivity !== 6 && connectivity !== 18 && connectivity !== 26) {
      throw new InputError(`${what}: 3-D connectivity must be 6, 18 or 26, got ${connectivity}`);
    }
    maxL1 = connectivity === 6 ? 1 : connectivity === 18 ? 2 : 3;
  }
  // A 2-D [h, w] mask is handled as [1, h, w] with no offsets along the singleton axis.
  const [nx, ny, nz] = shape.length === 2 ? [1, shape[0], shape[1]] : [shape[0], shape[1], shape[2]];
  const di = shape.length === 2 ? [0] : [-1, 0, 1];
  const list: number[] = [];
  for (const a of di) {
    for (const b of [-1, 0, 1]) {
      for (const c of [-1, 0, 1]) {
        const l1 = Math.abs(a) + Math.abs(b) + Math.abs(c);
        if (l1 > 0 && l1 <= maxL1) list.push(a, b, c);
      }
    }
  }
  return { nx, ny, nz, offsets: Int32Array.from(list) };
}

/** Labels the non-zero entries of `mask` (row-major over `shape`) into connected components. */
export function labelComponents(
  mask: ArrayLike<number>,
  shape: readonly number[],
  connectivity: Connectivity,
): ComponentLabels {
  requireNumbers('labelComponents', 'mask', mask);
  requireNumberArray('labelComponents', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireOneOf('labelComponents', 'connectivity', connectivity, [4, 8, 6, 18, 26]);
  const { nx, ny, nz, offsets } = makeGrid(shape, connectivity, mask.length, 'labelComponents');
  const n = mask.length;
  const labels = new Int32Array(n);
  const queue = new Int32Array(n);
  const sizes: number[] = [];
  const m = offsets.length / 3;
  let count = 0;
  for (let seed = 0; seed < n; seed++) {
    if (mask[seed] === 0 || labels[seed] !== 0) continue;
    count++;
    labels[seed] = count;
    let head = 0;
    let tail = 0;
    queue[tail++] = seed;
    while (head < tail) {
      const v = queue[head++];
      const k = v % nz;
      const rest = (v - k) / nz;
      const j = rest % ny;
      const i = (rest - j) / ny;
      for (let q = 0; q < m; q++) {
        const ii = i + offsets[3 * q];
        if (ii < 0 || ii >= nx) continue;
        const jj = j + offsets[3 * q + 1];
        if (jj < 0 || jj >= ny) continue;
        const kk = k + offsets[3 * q + 2];
        if (kk < 0 || kk >= nz) continue;
        const u = (ii * ny + jj) * nz + kk;
        if (mask[u] !== 0 && labels[u] === 0) {
          labels[u] = count;
          queue[tail++] = u;
        }
      }
    }
    sizes.push(tail);
  }
  return { labels, count, sizes };
}

/**
 * The largest connected component of the non-zero entries of `mask` as a 0/1 mask (E7, §5.2).
 * Ties go to the component met first in raster order (skimage's smallest label); an empty mask gives all zeros.
 */
export function largestConnectedComponent(
  mask: ArrayLike<number>,
  shape: readonly number[],
  connectivity: Connectivity,
): Uint8Array {
  requireNumbers('largestConnectedComponent', 'mask', mask);
  requireNumberArray('largestConnectedComponent', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireOneOf('largestConnectedComponent', 'connectivity', connectivity, [4, 8, 6, 18, 26]);
  const { labels, count, sizes } = labelComponents(mask, shape, connectivity);
  const out = new Uint8Array(mask.length);
  if (count === 0) return out;
  let best = 0;
  for (let l = 1; l < count; l++) if (sizes[l] > sizes[best]) best = l;
  const keep = best + 1;
  for (let v = 0; v < labels.length; v++) if (labels[v] === keep) out[v] = 1;
  return out;
}

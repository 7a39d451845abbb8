/**
 * Connected components on row-major binary masks (voxel (i,j,k) of shape [nx,ny,nz] is at `(i*ny+j)*nz+k`, the
 * layout of every volume in ssmis). Used by the pseudo-labels (E7, quirk Q15) and by evaluation post-processing
 * (docs/equations.md §5.2).
 * Paper: BCP's largest-component filter of pseudo-labels; Bai et al., "Bidirectional Copy-Paste for
 *   Semi-Supervised Medical Image Segmentation" (CVPR 2023).
 *
 * Labelling is a breadth-first flood fill with an Int32Array queue over a copy of the mask padded with one
 * voxel of background: every voxel is enqueued at most once and every neighbour is a fixed index offset, so
 * the cost is linear in the number of voxels times the neighbourhood size, without bounds checks. Components are numbered in the order
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
  // The flood fill runs on a copy of the mask with a one-voxel border of background, so that every neighbour
  // is one fixed index offset away and needs no bounds check. Seeds are still taken in raster order of the
  // original grid, so the numbering (and every label) is the same.
  const py = ny + 2;
  const pz = nz + 2;
  const padded = (i: number, j: number, k: number) => ((i + 1) * py + (j + 1)) * pz + (k + 1);
  const inside = new Uint8Array((nx + 2) * py * pz);
  for (let i = 0, v = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const row = padded(i, j, 0);
      for (let k = 0; k < nz; k++, v++) if (mask[v] !== 0) inside[row + k] = 1;
    }
  }
  const m = offsets.length / 3;
  const delta = new Int32Array(m);
  for (let q = 0; q < m; q++) delta[q] = (offsets[3 * q] * py + offsets[3 * q + 1]) * pz + offsets[3 * q + 2];
  const paddedLabels = new Int32Array(inside.length);
  const queue = new Int32Array(mask.length);
  const sizes: number[] = [];
  let count = 0;
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const row = padded(i, j, 0);
      for (let k = 0; k < nz; k++) {
        const seed = row + k;
        if (inside[seed] === 0 || paddedLabels[seed] !== 0) continue;
        count++;
        paddedLabels[seed] = count;
        let head = 0;
        let tail = 0;
        queue[tail++] = seed;
        while (head < tail) {
          const v = queue[head++];
          for (let q = 0; q < m; q++) {
            const u = v + delta[q];
            if (inside[u] !== 0 && paddedLabels[u] === 0) {
              paddedLabels[u] = count;
              queue[tail++] = u;
            }
          }
        }
        sizes.push(tail);
      }
    }
  }
  const labels = new Int32Array(mask.length);
  for (let i = 0, v = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const row = padded(i, j, 0);
      for (let k = 0; k < nz; k++, v++) labels[v] = paddedLabels[row + k];
    }
  }
  return { labels, count, sizes };
}

/**
 * The largest connected component of the non-zero entries of `mask` as a 0/1 mask (E7, §5.2).
 * Ties go to the component met first in raster order (skimage's smallest label); an empty mask gives all zeros.
 *
 * @param mask - the voxels, row-major over `shape` (non-zero = foreground).
 * @param shape - `[X, Y, Z]` or `[H, W]`.
 * @param connectivity - 6, 18 or 26 in 3-D; 4 or 8 in 2-D.
 * @returns a 0/1 mask of the same length holding only the largest component.
 * @throws {@link InputError} when `mask` is not numbers of `shape`'s size, `shape` does not have 2 or 3
 *   non-negative integer axes, or `connectivity` does not fit the dimensionality.
 * @example
 * const kept = largestConnectedComponent(labels, [112, 112, 80], 26);
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

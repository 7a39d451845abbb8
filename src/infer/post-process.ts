/**
 * Post-processing of predicted label maps: the largest-component step (docs/equations.md §5.2). Evaluation,
 * prediction and `evaluateCase`'s option all keep components by these two functions, so a mask `predict` writes
 * is the one `eval` scores. Internal helpers: their callers check the arguments (an invalid shape or
 * connectivity is refused by `largestConnectedComponent`, naming it).
 */
import { type Connectivity, largestConnectedComponent } from '../method/connected-components.js';

function isPlanar(connectivity: Connectivity): boolean {
  return connectivity === 4 || connectivity === 8;
}

/**
 * The largest connected component of a binary mask (row-major over `shape`, 2 or 3 axes), as the reference's
 * `getLargestCC`. A 2-D connectivity (4 or 8) on a 3-D mask works slice by slice along the last axis, the axis
 * 2-D models run over (a 2-D model's post-processing stays in its slices); other pairings of shape and
 * connectivity are refused by `largestConnectedComponent`. Returns a new 0/1 mask.
 */
export function keepLargestComponent(
  mask: Uint8Array,
  shape: readonly number[],
  connectivity: Connectivity,
): Uint8Array {
  if (shape.length !== 3 || !isPlanar(connectivity)) {
    return largestConnectedComponent(mask, shape, connectivity);
  }
  const [nx, ny, nz] = shape;
  const out = new Uint8Array(mask.length);
  const slice = new Uint8Array(nx * ny);
  for (let k = 0; k < nz; k++) {
    let any = false;
    for (let q = 0, v = k; q < nx * ny; q++, v += nz) {
      slice[q] = mask[v] === 0 ? 0 : 1;
      any ||= slice[q] === 1;
    }
    if (!any) continue;
    const kept = largestConnectedComponent(slice, [nx, ny], connectivity);
    for (let q = 0, v = k; q < nx * ny; q++, v += nz) out[v] = kept[q];
  }
  return out;
}

/**
 * Keeps, for every class in `classes`, only the largest connected component of its voxels (the others become
 * background 0), per class for multi-class maps; see {@link keepLargestComponent} for the connectivities.
 * Returns a new label map; voxels of other classes are unchanged.
 */
export function keepLargestComponents(
  labels: Uint8Array,
  shape: readonly [number, number, number],
  classes: readonly number[],
  connectivity: Connectivity,
): Uint8Array {
  const out = labels.slice();
  const mask = new Uint8Array(out.length);
  for (const cls of classes) {
    let any = false;
    for (let v = 0; v < out.length; v++) {
      mask[v] = out[v] === cls ? 1 : 0;
      any ||= mask[v] === 1;
    }
    if (!any) continue;
    const kept = keepLargestComponent(mask, shape, connectivity);
    for (let v = 0; v < out.length; v++) if (mask[v] === 1 && kept[v] === 0) out[v] = 0;
  }
  return out;
}

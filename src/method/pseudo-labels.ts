/**
 * Papers: the mean teacher of Tarvainen & Valpola (NeurIPS 2017) with the largest-component filter of BCP
 *   (Bai et al., CVPR 2023).
 * Teacher pseudo-labels (E5–E7, docs/equations.md §4.3; ACDC §3.8). No gradient: call outside any gradient closure
 * (it reads the teacher output back to the host to run the connected-component filter).
 */
import { tf } from '../backend/tf.js';
import { requireOptions, requireTensor } from '../util/args.js';
import { InputError } from '../util/errors.js';
import { type Connectivity, largestConnectedComponent } from './connected-components.js';
import { defaultConnectivity } from './dims-defaults.js';
import { hardPredictions } from './predictions.js';

export interface PseudoLabelOptions {
  /** Keep only the largest connected component, per sample (and per class for K > 2). Default true (E7). */
  largestComponent?: boolean;
  /**
   * Neighbourhood of the component filter. Default: full connectivity, 26 in 3-D and 8 in 2-D (skimage's
   * default, used by the LA/BraTS/ACDC reference); the pancreas reference uses 18 (Q15).
   */
  connectivity?: Connectivity;
}

/**
 * int32 pseudo-labels `[N, ...S]` from teacher logits `[N, ...S, K]` (3-D `[N,X,Y,Z,K]` or 2-D `[N,H,W,K]`).
 * - K = 2 (E6–E7): softmax, p1 ≥ 0.5, then the largest component of the foreground of each sample.
 * - K > 2 (BCP ACDC, §3.8): argmax (ties → lowest class), then for each sample and each class c ≥ 1 the largest
 *   component of {pred = c}; the result is Σ_c c·LCC_c (a class with no voxel stays empty).
 * Caller owns the result.
 *
 * @param teacherLogits - the teacher's logits, `[N, X, Y, Z, K]` (3-D) or `[N, H, W, K]` (2-D).
 * @param options - `largestComponent` (default true, E7) and its `connectivity` (default 26 in 3-D, 8 in 2-D).
 * @returns the int32 pseudo-labels `[N, ...S]`.
 * @throws {@link InputError} when `teacherLogits` is not a live tensor of rank 4 or 5, or `options` is not an
 *   object.
 * @example
 * const teacherLogits = teacher.apply(unlabeledImages, { training: false });
 * const pseudo = pseudoLabels(teacherLogits); // int32 [N, X, Y, Z], largest 26-connected component kept
 */
export function pseudoLabels(teacherLogits: tf.Tensor, options: PseudoLabelOptions = {}): tf.Tensor {
  requireTensor('pseudoLabels', 'teacherLogits', teacherLogits);
  requireOptions('pseudoLabels', 'options', options);
  if (teacherLogits.rank !== 4 && teacherLogits.rank !== 5) {
    throw new InputError(
      `pseudoLabels: teacher logits must be [N,H,W,K] or [N,X,Y,Z,K], got [${teacherLogits.shape.join(', ')}]`,
    );
  }
  const numClasses = teacherLogits.shape[teacherLogits.rank - 1];
  const hardTensor = hardPredictions(teacherLogits);
  const hard = hardTensor.dataSync() as Int32Array;
  hardTensor.dispose();
  const outShape = teacherLogits.shape.slice(0, -1);
  return tf.tensor(pseudoLabelValues(hard, outShape, numClasses, options), outShape, 'int32');
}

/**
 * The host half of {@link pseudoLabels}: the component filter on hard predictions already read from the device
 * (`hard`: class ids of shape `[N, ...S]`, from `hardPredictions`), as the values of the int32 pseudo-labels.
 * For callers that read the hard predictions themselves (asynchronously, on a backend without synchronous reads).
 */
export function pseudoLabelValues(
  hard: Int32Array,
  outShape: number[],
  numClasses: number,
  options: PseudoLabelOptions = {},
): Int32Array {
  const [n, ...spatial] = outShape;
  const connectivity: Connectivity = options.connectivity ?? defaultConnectivity(spatial.length);
  if (options.largestComponent === false) return Int32Array.from(hard);
  const v = spatial.reduce((a, b) => a * b, 1);
  const out = new Int32Array(n * v);
  const classMask = new Uint8Array(v);
  for (let s = 0; s < n; s++) {
    const sample = hard.subarray(s * v, (s + 1) * v);
    for (let c = 1; c < numClasses; c++) {
      let any = false;
      for (let i = 0; i < v; i++) {
        const hit = sample[i] === c;
        classMask[i] = hit ? 1 : 0;
        any ||= hit;
      }
      if (!any) continue;
      const lcc = largestConnectedComponent(classMask, spatial, connectivity);
      for (let i = 0; i < v; i++) if (lcc[i] !== 0) out[s * v + i] = c;
    }
  }
  return out;
}

/** Fraction of non-background voxels of an int32 label tensor (diagnostics: pseudo-label foreground). */
export function foregroundFraction(labels: tf.Tensor): number {
  requireTensor('foregroundFraction', 'labels', labels);
  const data = labels.dataSync();
  if (data.length === 0) return 0;
  let fg = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) fg++;
  return fg / data.length;
}

import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { hardPredictions } from '../../src/method/predictions.js';
import { foregroundFraction, pseudoLabels } from '../../src/method/pseudo-labels.js';
import { InputError } from '../../src/util/errors.js';

/** Binary logits [N, ...S, 2] from a foreground map: fg → (0, 3), bg → (3, 0). */
function binaryLogits(fg: number[], shape: number[]): tf.Tensor {
  return tf.tensor(
    fg.flatMap((f) => (f ? [0, 3] : [3, 0])),
    [...shape, 2],
    'float32',
  );
}

describe('hardPredictions (Q14, Q31)', () => {
  it('2 classes: p1 ≥ 0.5, so exactly equal logits go to the foreground', () => {
    const logits = tf.tensor([0.5, 0.5, 1, 0.999, 0, 1e-3], [1, 3, 2]);
    const h = hardPredictions(logits);
    expect(h.dtype).toBe('int32');
    expect(Array.from(h.dataSync())).toEqual([1, 0, 1]);
    tf.dispose([logits, h]);
  });

  it('more classes: argmax, ties to the lowest class id', () => {
    const logits = tf.tensor([1, 1, 0, 0, 2, 2, 3, 1, 3, 0, 0, 5], [1, 4, 3]);
    const h = hardPredictions(logits);
    expect(Array.from(h.dataSync())).toEqual([0, 1, 0, 2]);
    tf.dispose([logits, h]);
  });
});

describe('pseudoLabels (E5–E7)', () => {
  it('keeps the largest foreground component per sample (3-D, 26-connectivity); empty stays empty', () => {
    // Sample 0 in a [3,3,3] volume: a 3-voxel bar along k at (0,0,*) and an isolated voxel at (2,2,2).
    const s0 = new Array(27).fill(0);
    s0[0] = s0[1] = s0[2] = 1;
    s0[26] = 1;
    const s1 = new Array(27).fill(0);
    const logits = binaryLogits([...s0, ...s1], [2, 3, 3, 3]);
    const y = pseudoLabels(logits);
    expect(y.dtype).toBe('int32');
    expect(y.shape).toEqual([2, 3, 3, 3]);
    const expected = new Array(54).fill(0);
    expected[0] = expected[1] = expected[2] = 1;
    expect(Array.from(y.dataSync())).toEqual(expected);
    const raw = pseudoLabels(logits, { largestComponent: false });
    expect(Array.from(raw.dataSync())).toEqual([...s0, ...s1]);
    tf.dispose([logits, y, raw]);
  });

  it('uses the ≥ 0.5 tie rule before the component filter', () => {
    const logits = tf.tensor([0, 0, 3, 0, 3, 0, 0, 0], [1, 2, 2, 2]); // voxels 0 and 3 tie, 1 and 2 bg
    const y = pseudoLabels(logits, { connectivity: 8 });
    // Ties → foreground; (0,0) and (1,1) touch diagonally: one component at 8, the first alone at 4.
    expect(Array.from(y.dataSync())).toEqual([1, 0, 0, 1]);
    const y4 = pseudoLabels(logits, { connectivity: 4 });
    expect(Array.from(y4.dataSync())).toEqual([1, 0, 0, 0]);
    tf.dispose([logits, y, y4]);
  });

  it('more classes (BCP 2-D): argmax, then per class the largest component, combined as Σ c·LCC_c', () => {
    // 1 × 4 × 4, classes 0..3 as a map; class 1 has two blobs (sizes 2 and 1), class 2 one blob, class 3 absent.
    const map = [1, 1, 0, 2, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0];
    const logits = tf.tensor(
      map.flatMap((c) => [0, 1, 2, 3].map((k) => (k === c ? 4 : 0))),
      [1, 4, 4, 4],
    );
    const y = pseudoLabels(logits);
    expect(Array.from(y.dataSync())).toEqual([1, 1, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    tf.dispose([logits, y]);
  });

  it('foregroundFraction counts non-background voxels; the function does not leak', () => {
    const logits = binaryLogits([1, 1, 0, 0, 0, 0, 0, 1], [2, 2, 2]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const y = pseudoLabels(logits, { largestComponent: false });
      expect(foregroundFraction(y)).toBe(3 / 8);
      y.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    logits.dispose();
  });

  it('rejects logits that are not [N,H,W,K] or [N,X,Y,Z,K], and a connectivity of the wrong rank', () => {
    const bad = tf.zeros([2, 3, 2]);
    const ok = tf.zeros([1, 2, 2, 2]);
    expect(() => pseudoLabels(bad)).toThrow(InputError);
    expect(() => pseudoLabels(ok, { connectivity: 26 })).toThrow(/2-D connectivity/);
    tf.dispose([bad, ok]);
  });
});

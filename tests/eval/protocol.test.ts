import { describe, expect, it } from 'vitest';
import { computeMetrics } from '../../src/eval/metrics.js';
import {
  assertClassIds,
  type CaseEvaluation,
  evaluateCase,
  isAbsentClass,
  summarizeCases,
} from '../../src/eval/protocol.js';
import { InputError } from '../../src/util/errors.js';

const shape = [4, 4, 4];
const idx = (i: number, j: number, k: number) => (i * 4 + j) * 4 + k;

function withVoxels(voxels: [number, number, number, number][]): Uint8Array {
  const m = new Uint8Array(64);
  for (const [i, j, k, v] of voxels) m[idx(i, j, k)] = v;
  return m;
}

const empty = new Uint8Array(64);
const single = withVoxels([[1, 1, 1, 1]]);
const other = withVoxels([[1, 1, 3, 1]]);

describe('evaluateCase: empty-mask policies', () => {
  it('paper: empty prediction scores 0 everywhere, including distances (reference quirk Q12)', () => {
    const r = evaluateCase(empty, single, shape, { protocol: 'paper' });
    expect(r.protocol).toBe('paper');
    expect(r.units).toBe('voxel');
    expect(r.classes[0]).toEqual({
      classId: 1,
      predVoxels: 0,
      labelVoxels: 1,
      dice: 0,
      jaccard: 0,
      hd95: 0,
      hd: 0,
      asd: 0,
      assd: 0,
    });
    expect(evaluateCase(empty, empty, shape, { protocol: 'paper' }).classes[0].dice).toBe(0);
  });

  it('paper: empty label with a prediction has Dice 0 and missing distances', () => {
    const c = evaluateCase(single, empty, shape, { protocol: 'paper' }).classes[0];
    expect([c.dice, c.jaccard, c.hd95, c.hd, c.asd, c.assd]).toEqual([0, 0, null, null, null, null]);
  });

  it('strict: an empty prediction has Dice 0 and missing distances, never 0', () => {
    const c = evaluateCase(empty, single, shape).classes[0];
    expect([c.dice, c.jaccard, c.hd95, c.hd, c.asd, c.assd]).toEqual([0, 0, null, null, null, null]);
    const d = evaluateCase(single, empty, shape, { protocol: 'strict' }).classes[0];
    expect([d.dice, d.jaccard, d.hd95, d.hd, d.asd, d.assd]).toEqual([0, 0, null, null, null, null]);
  });

  it('strict: a class absent from both prediction and label is missing, never Dice 1', () => {
    const c = evaluateCase(empty, empty, shape).classes[0];
    expect([c.dice, c.jaccard, c.hd95, c.hd, c.asd, c.assd]).toEqual([null, null, null, null, null, null]);
    expect(isAbsentClass(c)).toBe(true);
    expect(isAbsentClass(evaluateCase(empty, single, shape).classes[0])).toBe(false);
    // Left out of the class mean and counted as missing, so it cannot raise the mean.
    const both = evaluateCase(single, single, shape, { classes: [1, 7] });
    const s = summarizeCases([both]);
    expect(s.classes[1].metrics.dice).toEqual({ mean: null, std: null, count: 0, missing: 1 });
    expect(s.classes[1].bothEmpty).toBe(1);
    const half = summarizeCases([evaluateCase(single, other, shape, { classes: [1, 7] })]);
    expect(half.classMean.dice).toBe(half.classes[0].metrics.dice.mean);
  });

  it('paper: a class absent from both scores 0 as the reference does, never 1', () => {
    const c = evaluateCase(empty, empty, shape, { protocol: 'paper' }).classes[0];
    expect([c.dice, c.jaccard]).toEqual([0, 0]);
    expect(isAbsentClass(c)).toBe(false);
  });

  it('a class listed twice is refused, naming it', () => {
    expect(() => evaluateCase(single, single, shape, { classes: [1, 1, 7] })).toThrow(
      /class 1 is listed more than once/,
    );
    expect(() => assertClassIds([2, 1, 2, 1], '--classes 2,1,2,1')).toThrow(
      /^--classes 2,1,2,1: classes 2, 1 are listed more than once/,
    );
    expect(() => assertClassIds([1, 2], 'x')).not.toThrow();
  });

  it('prediction values that neither the label nor the scored classes have are reported with their voxels', () => {
    const label = withVoxels([[0, 0, 0, 1]]);
    const pred = withVoxels([
      [0, 0, 0, 1],
      [1, 1, 1, 3],
      [2, 2, 2, 9],
      [3, 3, 3, 9],
    ]);
    const c = evaluateCase(pred, label, shape, { classes: [1] });
    expect(c.unexpectedPrediction).toEqual({ values: [3, 9], voxels: 3 });
    // A value the label holds, or a scored class, is not unexpected.
    const label2 = withVoxels([
      [0, 0, 0, 1],
      [1, 1, 1, 3],
    ]);
    expect(evaluateCase(pred, label2, shape, { classes: [1, 9] }).unexpectedPrediction).toBeUndefined();
    expect(evaluateCase(single, single, shape).unexpectedPrediction).toBeUndefined();
  });

  it('both non-empty: the metrics of computeMetrics, in voxels or mm', () => {
    expect(evaluateCase(single, other, shape, { protocol: 'paper' }).classes[0].hd95).toBe(2);
    const mm = evaluateCase(single, other, shape, { spacing: [1, 1, 0.5] });
    expect(mm.units).toBe('mm');
    expect(mm.classes[0].hd95).toBe(1);
    const vox = evaluateCase(single, other, shape, { spacing: [1, 1, 0.5], units: 'voxel' });
    expect(vox.units).toBe('voxel');
    expect(vox.classes[0].hd95).toBe(2);
  });

  it('multi-class: one-vs-rest per class id', () => {
    const pred = withVoxels([
      [0, 0, 0, 1],
      [0, 0, 1, 1],
      [2, 2, 2, 2],
      [3, 3, 3, 3],
    ]);
    const label = withVoxels([
      [0, 0, 0, 1],
      [2, 2, 2, 2],
      [2, 2, 3, 2],
      [0, 3, 3, 3],
    ]);
    const r = evaluateCase(pred, label, shape, { classes: [1, 2, 3] });
    expect(r.classes.map((c) => c.classId)).toEqual([1, 2, 3]);
    const bin = (m: Uint8Array, c: number) => m.map((v) => (v === c ? 1 : 0));
    for (const [i, c] of [1, 2, 3].entries()) {
      const { classId: _id, predVoxels, labelVoxels, ...metrics } = r.classes[i];
      expect(metrics).toEqual(computeMetrics(bin(pred, c), bin(label, c), shape));
      expect(predVoxels).toBe(bin(pred, c).reduce((a, b) => a + b, 0));
      expect(labelVoxels).toBe(bin(label, c).reduce((a, b) => a + b, 0));
    }
  });

  it('largest-component post-processing keeps only the biggest 26-connected part of the prediction', () => {
    // Prediction: a 2-voxel part touching the label and a far single voxel (corner-connected to nothing).
    const pred = withVoxels([
      [0, 0, 0, 1],
      [0, 0, 1, 1],
      [3, 3, 3, 1],
    ]);
    const label = withVoxels([
      [0, 0, 0, 1],
      [0, 0, 1, 1],
    ]);
    const raw = evaluateCase(pred, label, shape).classes[0];
    expect(raw.dice).toBeCloseTo(0.8, 15);
    const kept = evaluateCase(pred, label, shape, { largestComponent: 26 }).classes[0];
    expect(kept.predVoxels).toBe(2);
    expect(kept.dice).toBe(1);
    expect(kept.hd).toBe(0);
  });

  it('rejects bad options with InputError', () => {
    expect(() => evaluateCase(single, single, shape, { units: 'mm' })).toThrow(/spacing/);
    expect(() =>
      evaluateCase(single, single, shape, { protocol: 'paper', spacing: [1, 1, 1], units: 'mm' }),
    ).toThrow(/voxels/);
    expect(() => evaluateCase(single, new Uint8Array(3), shape)).toThrow(InputError);
    expect(() => evaluateCase(single, single, shape, { classes: [0] })).toThrow(/class ids/);
  });
});

describe('summarizeCases', () => {
  it('mean ± population std over non-missing values, missing and empty predictions counted', () => {
    const a = evaluateCase(single, single, shape, { caseId: 'a' }); // dice 1, distances 0
    const b = evaluateCase(single, other, shape, { caseId: 'b' }); // dice 0, hd95 2
    const c = evaluateCase(empty, other, shape, { caseId: 'c' }); // dice 0, distances missing
    const s = summarizeCases([a, b, c]);
    expect(s.protocol).toBe('strict');
    expect(s.units).toBe('voxel');
    expect(s.numCases).toBe(3);
    const k = s.classes[0];
    expect(k.classId).toBe(1);
    expect(k.emptyPredictions).toBe(1);
    expect(k.emptyLabels).toBe(0);
    expect(k.bothEmpty).toBe(0);
    expect(k.metrics.dice.mean).toBeCloseTo(1 / 3, 15);
    expect(k.metrics.dice.std).toBeCloseTo(Math.sqrt(2 / 9), 15); // population: values 1, 0, 0
    expect(k.metrics.dice.missing).toBe(0);
    expect(k.metrics.hd95).toEqual({ mean: 1, std: 1, count: 2, missing: 1 });
    expect(s.classMean.hd95).toBe(1);
  });

  it('paper protocol counts the flattering zeros as values (and flags the empty prediction)', () => {
    const s = summarizeCases([
      evaluateCase(empty, other, shape, { protocol: 'paper' }),
      evaluateCase(single, other, shape, { protocol: 'paper' }),
    ]);
    expect(s.protocol).toBe('paper');
    expect(s.classes[0].metrics.hd95).toEqual({ mean: 1, std: 1, count: 2, missing: 0 });
    expect(s.classes[0].emptyPredictions).toBe(1);
  });

  it('class mean over classes, all-missing metrics are null', () => {
    const pred = withVoxels([[0, 0, 0, 1]]);
    const label = withVoxels([[0, 0, 0, 2]]);
    const s = summarizeCases([evaluateCase(pred, label, shape, { classes: [1, 2] })]);
    expect(s.classes[0].metrics.hd95).toEqual({ mean: null, std: null, count: 0, missing: 1 });
    expect(s.classMean.dice).toBe(0);
    expect(s.classMean.hd95).toBeNull();
  });

  it('refuses to mix protocols, units or class lists', () => {
    const strict = evaluateCase(single, single, shape);
    const paper = evaluateCase(single, single, shape, { protocol: 'paper' });
    expect(() => summarizeCases([strict, paper])).toThrow(/protocol/);
    const two = evaluateCase(single, single, shape, { classes: [1, 2] });
    expect(() => summarizeCases([strict, two])).toThrow(/classes/);
    expect(() => summarizeCases([] as CaseEvaluation[])).toThrow(InputError);
  });
});

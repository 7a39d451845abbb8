/**
 * Evaluation protocols (`eval.protocol`) and their aggregation over cases.
 *
 * `paper` reproduces the reference test scripts (docs/equations.md §5.3–5.5, Q12): an empty prediction is scored
 * (Dice, Jaccard, 95HD, ASD) = (0, 0, 0, 0), distances are in voxels. `strict` (the default) never turns a
 * failure into a perfect distance: an empty prediction gets Dice 0 and *missing* distances, counted in the
 * summary. Largest-component post-processing is an option of {@link evaluateCase} (the rule of
 * src/infer/post-process.ts, which eval and predict apply to whole label maps); the paper's 3-D test scripts use
 * it with connectivity 26, their validation loops and ACDC do not, so the caller sets it from the config.
 */
import { keepLargestComponent } from '../infer/post-process.js';
import type { Connectivity } from '../method/connected-components.js';
import {
  requireArray,
  requireNumberArray,
  requireNumbers,
  requireObject,
  requireOptions,
} from '../util/args.js';
import { InputError } from '../util/errors.js';
import { shapeSize } from './distance-transform.js';
import { computeMetrics, type SegmentationMetrics } from './metrics.js';

export type EvaluationProtocol = 'paper' | 'strict';
export type DistanceUnits = 'voxel' | 'mm';
export type MetricName = keyof SegmentationMetrics;
export const METRIC_NAMES: readonly MetricName[] = ['dice', 'jaccard', 'hd95', 'hd', 'asd', 'assd'];

/**
 * Metrics of one class of one case; `null` = missing (undefined distance under the protocol, or under
 * `strict` every metric of a class absent from both prediction and label).
 */
export interface ClassMetrics extends Omit<SegmentationMetrics, 'dice' | 'jaccard'> {
  /** null only for a class absent from both prediction and label under `strict`. */
  dice: number | null;
  jaccard: number | null;
  classId: number;
  /** Voxels of this class in the prediction (after the optional largest-component step) and in the label. */
  predVoxels: number;
  labelVoxels: number;
}

export interface CaseEvaluation {
  caseId?: string;
  protocol: EvaluationProtocol;
  units: DistanceUnits;
  /** One entry per requested class id, in the order of `classes`. */
  classes: ClassMetrics[];
  /**
   * Prediction values that are neither background, nor a scored class, nor present in the label (ascending),
   * and how many voxels hold them; absent when there are none. They take part in no metric.
   */
  unexpectedPrediction?: { values: number[]; voxels: number };
}

/**
 * Whether a class of a case is absent from both prediction and label under `strict`: its metrics are then
 * missing (null), never a perfect score, and the summaries leave it out of every mean.
 */
export function isAbsentClass(k: ClassMetrics): boolean {
  return k.predVoxels === 0 && k.labelVoxels === 0 && k.dice === null;
}

/**
 * Checks a list of class ids to score: at least one, positive integers, none twice (a repeated class would be
 * counted twice in every mean). `where` starts the message (`--classes`, `evaluateCase`).
 */
export function assertClassIds(classes: readonly number[], where: string): void {
  if (classes.length === 0) throw new InputError(`${where}: expected at least one class id, found none`);
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 1) {
      throw new InputError(`${where}: class ids must be positive integers, found ${c}`);
    }
  }
  const repeated = [...new Set(classes.filter((c, i) => classes.indexOf(c) !== i))];
  if (repeated.length > 0) {
    throw new InputError(
      `${where}: class${repeated.length === 1 ? '' : 'es'} ${repeated.join(', ')} ${repeated.length === 1 ? 'is' : 'are'} listed more than once; give each class once`,
    );
  }
}

export interface EvaluateCaseOptions {
  /** Default `strict`. */
  protocol?: EvaluationProtocol;
  /** Voxel size per axis of `shape` (from the NIfTI header); needed for `units: 'mm'`. */
  spacing?: readonly number[];
  /** Default: `voxel` under `paper`; under `strict`, `mm` when `spacing` is given, else `voxel`. */
  units?: DistanceUnits;
  /** Class ids scored one-vs-rest (voxels equal to the id); default `[1]` (binary foreground). */
  classes?: readonly number[];
  /**
   * Keep only the largest connected component of each class's predicted mask (reference 3-D test: 26); 4 or 8
   * on a 3-D shape work slice by slice along the last axis, as in eval and predict.
   */
  largestComponent?: Connectivity | false;
  caseId?: string;
}

/**
 * Scores one case per class under a protocol. `pred` and `label` are label maps (row-major over `shape`).
 *
 * Choices where the reference is silent (it never meets these cases):
 * - `paper`, empty prediction: every metric 0, also HD and ASSD (the reference reports only Dice, Jaccard,
 *   95HD, ASD; zeros everywhere keep "as the reference" uniform). This covers "both empty" too (Dice 0, as
 *   medpy 0.4.0's `dc` and the reference's empty-prediction rule both give).
 * - `paper`, empty label but non-empty prediction: the reference would crash in medpy; Dice = Jaccard = 0 and
 *   the distances are missing (`null`).
 * - `strict`, both empty: nothing was there to find, so there is nothing to score: every metric is missing
 *   (`null`, see `isAbsentClass`); a perfect score here would raise the means of classes a case lacks.
 * - `strict`, exactly one empty: Dice = Jaccard = 0, distances missing (`null`), counted by the summary.
 *
 * Prediction values outside the scored classes that the label does not have either (e.g. a class 3 in a
 * prediction scored against a label of classes 1 and 2) are reported in `unexpectedPrediction`.
 * @param pred - The predicted label map, row-major over `shape`.
 * @param label - The reference label map, same layout.
 * @param shape - The maps' sizes.
 * @param options - Protocol, spacing and units, the classes to score, the largest-component step and the case
 *   id named in messages (see {@link EvaluateCaseOptions}).
 * @returns The metrics of each class in the order of `classes`, the protocol and units, and the prediction
 *   values no class and no label account for.
 * @throws InputError when `pred`, `label` or `shape` is malformed, a map's length is not the shape's voxel count,
 *   the protocol or units are unknown, units `mm` come without spacing, `paper` is asked for in `mm`, or
 *   `classes` is not a list of distinct positive integers.
 * @example
 * ```ts
 * const c = evaluateCase(pred, label, [64, 64, 32], { protocol: 'strict', spacing: [1, 1, 2], classes: [1, 2] });
 * console.log(c.classes.map((k) => k.dice));
 * ```
 */
export function evaluateCase(
  pred: ArrayLike<number>,
  label: ArrayLike<number>,
  shape: readonly number[],
  options: EvaluateCaseOptions = {},
): CaseEvaluation {
  requireNumbers('evaluateCase', 'pred', pred);
  requireNumbers('evaluateCase', 'label', label);
  requireNumberArray('evaluateCase', 'shape', shape, { integer: true, min: 1, minLength: 1 });
  requireOptions('evaluateCase', 'options', options);
  const protocol = options.protocol ?? 'strict';
  if (protocol !== 'paper' && protocol !== 'strict') {
    throw new InputError(`evaluateCase: expected protocol 'paper' or 'strict', found '${String(protocol)}'`);
  }
  const where = options.caseId === undefined ? 'evaluateCase' : `evaluateCase (case ${options.caseId})`;
  const size = shapeSize(shape, where);
  if (pred.length !== size || label.length !== size) {
    throw new InputError(
      `${where}: shape [${shape.join(', ')}] needs ${size} voxels, found prediction ${pred.length} and label ${label.length}`,
    );
  }
  const units = options.units ?? (protocol === 'strict' && options.spacing !== undefined ? 'mm' : 'voxel');
  if (units !== 'voxel' && units !== 'mm') {
    throw new InputError(`${where}: expected units 'voxel' or 'mm', found '${String(units)}'`);
  }
  if (units === 'mm' && options.spacing === undefined) {
    throw new InputError(`${where}: units 'mm' need the voxel spacing, found none`);
  }
  if (protocol === 'paper' && units === 'mm') {
    throw new InputError(
      `${where}: the 'paper' protocol reports distances in voxels as the reference (quirk Q13), found units 'mm'`,
    );
  }
  const classes = options.classes ?? [1];
  assertClassIds(classes, where);
  const spacing = units === 'mm' ? options.spacing : undefined;

  const results: ClassMetrics[] = [];
  for (const classId of classes) {
    let p: Uint8Array = new Uint8Array(size);
    const l = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      p[i] = pred[i] === classId ? 1 : 0;
      l[i] = label[i] === classId ? 1 : 0;
    }
    if (options.largestComponent !== undefined && options.largestComponent !== false) {
      p = keepLargestComponent(p, shape, options.largestComponent);
    }
    let predVoxels = 0;
    let labelVoxels = 0;
    for (let i = 0; i < size; i++) {
      predVoxels += p[i];
      labelVoxels += l[i];
    }
    results.push({ classId, predVoxels, labelVoxels, ...scoreClass(p, l, shape, spacing, protocol) });
  }
  const evaluation: CaseEvaluation = { protocol, units, classes: results };
  if (options.caseId !== undefined) evaluation.caseId = options.caseId;
  const unexpected = unexpectedValues(pred, label, classes);
  if (unexpected !== null) evaluation.unexpectedPrediction = unexpected;
  return evaluation;
}

/** Non-zero prediction values that are not in `classes` and occur nowhere in the label, with their voxel count. */
function unexpectedValues(
  pred: ArrayLike<number>,
  label: ArrayLike<number>,
  classes: readonly number[],
): { values: number[]; voxels: number } | null {
  const counts = new Map<number, number>();
  for (let i = 0; i < pred.length; i++) {
    const v = pred[i];
    if (v !== 0 && !classes.includes(v)) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  if (counts.size === 0) return null;
  for (let i = 0; i < label.length && counts.size > 0; i++) counts.delete(label[i]);
  if (counts.size === 0) return null;
  const values = [...counts.keys()].sort((a, b) => a - b);
  return { values, voxels: values.reduce((n, v) => n + (counts.get(v) ?? 0), 0) };
}

function scoreClass(
  p: Uint8Array,
  l: Uint8Array,
  shape: readonly number[],
  spacing: readonly number[] | undefined,
  protocol: EvaluationProtocol,
): Omit<ClassMetrics, 'classId' | 'predVoxels' | 'labelVoxels'> {
  const predEmpty = !p.some((v) => v !== 0);
  const labelEmpty = !l.some((v) => v !== 0);
  if (protocol === 'paper' && predEmpty) return { dice: 0, jaccard: 0, hd95: 0, hd: 0, asd: 0, assd: 0 };
  if (protocol === 'strict' && predEmpty && labelEmpty) {
    return { dice: null, jaccard: null, hd95: null, hd: null, asd: null, assd: null };
  }
  // Remaining cases: computeMetrics gives Dice = Jaccard = 0 and null distances when exactly one is empty.
  return computeMetrics(p, l, shape, spacing === undefined ? {} : { spacing });
}

/** Aggregate of one metric over the cases where it is not missing. */
export interface MetricSummary {
  /** Arithmetic mean over non-missing values (`null` when all are missing). */
  mean: number | null;
  /** Population standard deviation (numpy's default `ddof = 0`) over non-missing values. */
  std: number | null;
  /** Number of non-missing values. */
  count: number;
  /** Number of cases where the value is missing. */
  missing: number;
}

export interface ClassSummary {
  classId: number;
  numCases: number;
  /** Cases whose prediction of this class is empty (after post-processing). */
  emptyPredictions: number;
  /** Cases whose label has no voxel of this class. */
  emptyLabels: number;
  /** Cases where both are empty (under `strict` their metrics are missing, see `isAbsentClass`). */
  bothEmpty: number;
  metrics: Record<MetricName, MetricSummary>;
}

export interface EvaluationSummary {
  protocol: EvaluationProtocol;
  units: DistanceUnits;
  numCases: number;
  classes: ClassSummary[];
  /**
   * Mean over classes of the per-class means (what the ACDC test script prints after the per-class table);
   * classes whose mean is missing are left out; `null` when none has one. Equals the class mean for one class.
   */
  classMean: Record<MetricName, number | null>;
}

/**
 * Per-class mean ± std of every metric over cases (missing values left out and counted), the number of empty
 * predictions, and the protocol and units (all cases must share them, else the numbers would not compare).
 *
 * @param cases The case evaluations ({@link evaluateCase}), at least one, all with the same protocol, units and
 *   classes.
 * @returns The protocol and units, the number of cases, per class the mean ± std (and missing count) of each
 *   metric with the empty-prediction and empty-label counts, and the mean over classes.
 * @throws InputError when `cases` is not an array of objects or is empty, or when a case differs from the first
 *   in protocol, units or classes (its id, or `#index`, is named).
 * @example
 * import { evaluateCase, formatSummaryTable, summarizeCases } from 'ssmis';
 *
 * const shape = [8, 8, 4];
 * const pred = new Uint8Array(8 * 8 * 4).fill(1);
 * const label = new Uint8Array(8 * 8 * 4).fill(1);
 * const c = evaluateCase(pred, label, shape, { protocol: 'strict', spacing: [1, 1, 1], classes: [1] });
 * const summary = summarizeCases([c]);
 * console.log(summary.classes[0].metrics.dice.mean);
 * console.log(formatSummaryTable(summary));
 */
export function summarizeCases(cases: readonly CaseEvaluation[]): EvaluationSummary {
  requireArray('summarizeCases', 'cases', cases, 'an array of case evaluations (evaluateCase)');
  for (const [i, c] of cases.entries()) {
    requireObject('summarizeCases', `cases[${i}]`, c, 'a case evaluation (evaluateCase)');
  }
  if (cases.length === 0) throw new InputError('summarizeCases: expected at least one case, found none');
  const { protocol, units } = cases[0];
  const classIds = cases[0].classes.map((c) => c.classId);
  cases.forEach((c, index) => {
    const name = c.caseId ?? `#${index}`;
    if (c.protocol !== protocol || c.units !== units) {
      throw new InputError(
        `summarizeCases: case ${name} was scored with protocol '${c.protocol}' in ${c.units}, expected '${protocol}' in ${units} like the first case`,
      );
    }
    const ids = c.classes.map((k) => k.classId);
    if (ids.length !== classIds.length || ids.some((id, i) => id !== classIds[i])) {
      throw new InputError(
        `summarizeCases: case ${name} has classes [${ids.join(', ')}], expected [${classIds.join(', ')}] like the first case`,
      );
    }
  });

  const classes: ClassSummary[] = classIds.map((classId, ci) => {
    const rows = cases.map((c) => c.classes[ci]);
    const metrics = {} as Record<MetricName, MetricSummary>;
    for (const name of METRIC_NAMES) metrics[name] = summarizeValues(rows.map((r) => r[name]));
    return {
      classId,
      numCases: rows.length,
      emptyPredictions: rows.filter((r) => r.predVoxels === 0).length,
      emptyLabels: rows.filter((r) => r.labelVoxels === 0).length,
      bothEmpty: rows.filter((r) => r.predVoxels === 0 && r.labelVoxels === 0).length,
      metrics,
    };
  });
  const classMean = {} as Record<MetricName, number | null>;
  for (const name of METRIC_NAMES) {
    const means = classes.map((c) => c.metrics[name].mean).filter((m): m is number => m !== null);
    classMean[name] = means.length === 0 ? null : means.reduce((a, b) => a + b, 0) / means.length;
  }
  return { protocol, units, numCases: cases.length, classes, classMean };
}

function summarizeValues(values: readonly (number | null)[]): MetricSummary {
  const present = values.filter((v): v is number => v !== null);
  const missing = values.length - present.length;
  if (present.length === 0) return { mean: null, std: null, count: 0, missing };
  const mean = present.reduce((a, b) => a + b, 0) / present.length;
  const variance = present.reduce((a, v) => a + (v - mean) * (v - mean), 0) / present.length;
  return { mean, std: Math.sqrt(variance), count: present.length, missing };
}

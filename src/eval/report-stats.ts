/**
 * The statistics of an evaluation report: the protocol summary of the cases plus what makes a number comparable
 * (protocol, units, largest-component setting, model-selection split, source), the per-case overall means, and
 * the notes and warnings a reader must see next to the numbers. The content of `summary.json`.
 */
import type { Connectivity } from '../method/connected-components.js';
import { packageVersion } from '../util/package-info.js';
import {
  type CaseEvaluation,
  type ClassSummary,
  type EvaluationSummary,
  isAbsentClass,
  METRIC_NAMES,
  type MetricName,
  type MetricSummary,
  summarizeCases,
} from './protocol.js';

/** How the evaluated model was chosen: the validation split of `best`, or `last`. */
export interface SelectionInfo {
  /** `val` / `test` (selected on that split), `last` (no selection), or null when unknown. */
  split: string | null;
  /** The checkpoint file evaluated, when known. */
  checkpoint: string | null;
  /** The selection value and iteration of the best model, when known. */
  best?: { dice: number; iteration: number } | null;
}

/** What was evaluated. */
export type EvaluationSource =
  | { mode: 'model'; dataset: string; split: string | null }
  | { mode: 'files'; pred: string; label: string };

export interface ReportClassSummary extends ClassSummary {
  /** The class name from dataset.json (`labels`); null when unknown (files mode). */
  name: string | null;
}

/** The content of `summary.json`: the protocol summary plus everything needed to read its numbers. */
export interface EvaluationReport extends EvaluationSummary {
  classes: ReportClassSummary[];
  largestComponent: { enabled: boolean; connectivity: Connectivity | null };
  selection: SelectionInfo;
  source: EvaluationSource;
  /**
   * Per case, the mean over classes of the non-missing values, then mean ± std over cases (`count` cases with
   * a value, `missing` cases with none). Without missing values the mean equals `classMean`, the mean of the
   * per-class means that the ACDC test script prints.
   */
  overall: Record<MetricName, MetricSummary>;
  /** Empty predictions over every case and foreground class (after post-processing). */
  emptyPredictions: number;
  /**
   * What a reader must know to read the numbers, one line each: classes absent from both prediction and label
   * (reported as missing and left out of the means, never as a perfect score).
   */
  notes: string[];
  /** One line per case whose prediction holds values the label and the scored classes do not have. */
  warnings: string[];
  ssmisVersion: string;
  createdAt: string;
}

export interface ReportMeta {
  largestComponent: Connectivity | false;
  selection?: SelectionInfo;
  source: EvaluationSource;
  /** class id → name. */
  classNames?: Record<number, string>;
  /** Fixed date (tests); default now. */
  createdAt?: string;
}

function summarizeOverall(cases: readonly CaseEvaluation[]): Record<MetricName, MetricSummary> {
  const out = {} as Record<MetricName, MetricSummary>;
  for (const name of METRIC_NAMES) {
    const values: number[] = [];
    for (const c of cases) {
      const present = c.classes.map((k) => k[name]).filter((v): v is number => v !== null);
      if (present.length > 0) values.push(present.reduce((a, b) => a + b, 0) / present.length);
    }
    const missing = cases.length - values.length;
    if (values.length === 0) {
      out[name] = { mean: null, std: null, count: 0, missing };
      continue;
    }
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, v) => a + (v - mean) * (v - mean), 0) / values.length;
    out[name] = { mean, std: Math.sqrt(variance), count: values.length, missing };
  }
  return out;
}

/** The report's notes: per class, the cases where it is absent from both prediction and label. */
function absentNotes(cases: readonly CaseEvaluation[]): string[] {
  const notes: string[] = [];
  cases[0]?.classes.forEach((k, ci) => {
    const absent = cases.filter((c) => isAbsentClass(c.classes[ci]));
    if (absent.length === 0) return;
    const where =
      absent.length === cases.length
        ? `every case (${cases.length})`
        : `${absent.length} of ${cases.length} cases (${absent
            .slice(0, 5)
            .map((c) => c.caseId ?? `#${cases.indexOf(c)}`)
            .join(', ')}${absent.length > 5 ? ', …' : ''})`;
    notes.push(
      `class ${k.classId}: absent from both prediction and label in ${where}; reported as missing and left out of the means`,
    );
  });
  return notes;
}

/** One warning line per case whose prediction holds values outside the label and the scored classes. */
function unexpectedWarnings(cases: readonly CaseEvaluation[]): string[] {
  return cases.flatMap((c, index) => {
    const u = c.unexpectedPrediction;
    if (u === undefined) return [];
    return [
      `case ${c.caseId ?? `#${index}`}: the prediction holds value${u.values.length === 1 ? '' : 's'} ${u.values.join(', ')} (${u.voxels} voxel${u.voxels === 1 ? '' : 's'}) that the label does not have and that ${u.values.length === 1 ? 'is' : 'are'} not scored; ignored`,
    ];
  });
}

/** Summarises cases (protocol.ts `summarizeCases`) and adds the report metadata. */
export function buildReport(cases: readonly CaseEvaluation[], meta: ReportMeta): EvaluationReport {
  const summary = summarizeCases(cases);
  const classes = summary.classes.map((c) => ({
    ...c,
    name: meta.classNames?.[c.classId] ?? null,
  }));
  return {
    ...summary,
    classes,
    largestComponent: {
      enabled: meta.largestComponent !== false,
      connectivity: meta.largestComponent === false ? null : meta.largestComponent,
    },
    selection: meta.selection ?? { split: null, checkpoint: null },
    source: meta.source,
    overall: summarizeOverall(cases),
    emptyPredictions: summary.classes.reduce((n, c) => n + c.emptyPredictions, 0),
    notes: absentNotes(cases),
    warnings: unexpectedWarnings(cases),
    ssmisVersion: packageVersion(),
    createdAt: meta.createdAt ?? new Date().toISOString(),
  };
}

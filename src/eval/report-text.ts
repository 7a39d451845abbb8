/**
 * The terminal form of a report: the header line that states how its numbers were made, the fixed-width summary
 * table (columns from report-columns.ts) and the notes printed under it.
 */
import path from 'node:path';
import { requireArray, requireObject } from '../util/args.js';
import type { DistanceUnits, EvaluationProtocol, EvaluationSummary } from './protocol.js';
import { meanStd, metricTitle, REPORT_METRICS } from './report-columns.js';
import type { EvaluationReport, SelectionInfo } from './report-stats.js';

const PROTOCOL_TEXT: Record<EvaluationProtocol, string> = {
  paper: 'paper (empty prediction scored 0, 0, 0, 0 as the reference)',
  strict: 'strict (empty prediction: Dice 0, distances missing and counted)',
};

/**
 * The distance units as a reader reads them.
 * @param units - `mm` or `voxel`.
 * @returns `mm` or `voxels`.
 */
export function unitText(units: DistanceUnits): string {
  return units === 'mm' ? 'mm' : 'voxels';
}

function selectionText(selection: SelectionInfo): string {
  const file = selection.checkpoint === null ? '' : ` (${path.basename(selection.checkpoint)})`;
  if (selection.split === null) return `model selection: not recorded${file}`;
  if (selection.split === 'last') return `model selection: none, last weights${file}`;
  return `model selection: ${selection.split} split${file}`;
}

/**
 * The line every report starts with: protocol, units, largest-component setting and model-selection split,
 * plus the metric flavour (medpy: pooled HD95, directed ASD).
 *
 * @param report An evaluation report (the `summary` of {@link evaluate}, {@link evaluateFiles} or
 *   {@link evaluateModel}).
 * @returns One line, parts separated by ` · `, ending with the number of cases.
 * @throws InputError when `report` is not an object.
 * @example
 * import { evaluateFiles, formatReportHeader, formatSummaryTable } from 'ssmis';
 *
 * const { summary } = await evaluateFiles({ pred: 'out/pred', label: 'data/labelsTs', protocol: 'strict' });
 * console.log(formatReportHeader(summary));
 * console.log(formatSummaryTable(summary));
 */
export function formatReportHeader(report: EvaluationReport): string {
  requireObject('formatReportHeader', 'report', report, 'an evaluation report');
  const lcc = report.largestComponent.enabled
    ? `on (${report.largestComponent.connectivity}-connected)`
    : 'off';
  return [
    `protocol ${PROTOCOL_TEXT[report.protocol]}`,
    `distances in ${unitText(report.units)}`,
    `largest component ${lcc}`,
    selectionText(report.selection),
    'HD95 pooled over both directions, ASD prediction → label (medpy)',
    `${report.numCases} case${report.numCases === 1 ? '' : 's'}`,
  ].join(' · ');
}

function isReport(summary: EvaluationSummary): summary is EvaluationReport {
  return 'overall' in summary;
}

/**
 * Fixed-width table: one row per class and a `mean` row; the metric columns of `REPORT_METRICS` as
 * mean ± std (Dice/Jaccard as fractions with 4 decimals, distances with 2), then n (cases), empty (empty
 * predictions) and missing (cases whose 95HD is missing, strict protocol). The mean row is the report's
 * `overall` (or `classMean` with no std for a bare protocol summary).
 *
 * @param summary An evaluation report (the `summary` of {@link evaluate} or {@link evaluateFiles}) or a bare
 *   protocol summary ({@link summarizeCases}).
 * @returns The table as lines joined by newlines (no trailing newline), ready to print.
 * @throws InputError when `summary` is not an object or `summary.classes` is not an array.
 * @example
 * import { evaluateFiles, formatSummaryTable } from 'ssmis';
 *
 * const { summary } = await evaluateFiles({ pred: 'out/pred', label: 'data/labelsTs', protocol: 'strict' });
 * console.log(formatSummaryTable(summary));
 */
export function formatSummaryTable(summary: EvaluationSummary | EvaluationReport): string {
  requireObject('formatSummaryTable', 'summary', summary, 'an evaluation summary or report');
  requireArray('formatSummaryTable', 'summary.classes', summary.classes);
  const headers = [
    'class',
    ...REPORT_METRICS.map((m) => metricTitle(m, summary.units)),
    'n',
    'empty',
    'missing',
  ];
  const rows: string[][] = [];
  for (const c of summary.classes) {
    const name = 'name' in c && typeof c.name === 'string' ? `${c.classId} ${c.name}` : `class ${c.classId}`;
    rows.push([
      name,
      ...REPORT_METRICS.map((m) => meanStd(c.metrics[m.key], m.digits)),
      String(c.numCases),
      String(c.emptyPredictions),
      String(c.metrics.hd95.missing),
    ]);
  }
  const empty = summary.classes.reduce((n, c) => n + c.emptyPredictions, 0);
  const missing = summary.classes.reduce((n, c) => n + c.metrics.hd95.missing, 0);
  if (isReport(summary)) {
    const o = summary.overall;
    rows.push([
      'mean',
      ...REPORT_METRICS.map((m) => meanStd(o[m.key], m.digits)),
      String(summary.numCases),
      String(empty),
      String(missing),
    ]);
  } else {
    const mean = summary.classMean;
    const fmt = (v: number | null, d: number) => (v === null ? 'missing' : v.toFixed(d));
    rows.push([
      'mean',
      ...REPORT_METRICS.map((m) => fmt(mean[m.key], m.digits)),
      String(summary.numCases),
      String(empty),
      String(missing),
    ]);
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The lines printed under the table: the report's notes, each prefixed `note: `. */
export function formatReportNotes(report: EvaluationReport): string[] {
  return report.notes.map((n) => `note: ${n}`);
}

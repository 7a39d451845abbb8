/**
 * Evaluation reports (papers' numbers differ mostly by protocol, so every report states it), one file per concern:
 * `report-stats.ts` (the summary with the protocol, units, largest-component setting and model-selection split
 * that make a number comparable), `report-columns.ts` (the one list of metric columns every table shows),
 * `report-text.ts` (the terminal header and table), `report-files.ts` (`cases.csv`, `summary.json`, and a
 * self-contained `report.html`) and `report-overlays.ts` (the PNG overlays `report.html` links to in
 * `overlays/`: files rather than data URIs so that a 60-case report stays small and the pictures can be reused;
 * the folder as a whole is self-contained: no scripts, no external resources). This file re-exports them.
 */
export { REPORT_METRICS, type ReportMetric } from './report-columns.js';
export { casesToCsv, renderHtmlReport, reportToJson, writeReportFiles } from './report-files.js';
export {
  type OverlayInput,
  type OverlayRef,
  renderOverlay,
  representativeSlices,
  type SliceChoice,
  type SliceKind,
  safeFileStem,
  writeCaseOverlays,
} from './report-overlays.js';
export {
  buildReport,
  type EvaluationReport,
  type EvaluationSource,
  type ReportClassSummary,
  type ReportMeta,
  type SelectionInfo,
} from './report-stats.js';
export { formatReportHeader, formatReportNotes, formatSummaryTable } from './report-text.js';

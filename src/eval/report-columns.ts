/**
 * The one list of metric columns of a report: the terminal table, `cases.csv` and both tables of `report.html`
 * show these metrics in this order, so the three never disagree on what a report holds.
 */
import type { DistanceUnits, MetricName, MetricSummary } from './protocol.js';

/** One metric column of every report table. */
export interface ReportMetric {
  /** The metric's key in case and summary records; also its column name in `cases.csv`. */
  key: MetricName;
  /** Column title of the terminal table and `report.html` (a distance's title gets the unit appended). */
  title: string;
  /** Whether the metric is a distance (in the report's units). */
  distance: boolean;
  /** Decimals shown in the terminal table and `report.html` (`cases.csv` keeps full precision). */
  digits: number;
}

/** The metric columns, in the order every table shows them (the order of protocol.ts `METRIC_NAMES`). */
export const REPORT_METRICS: readonly ReportMetric[] = [
  { key: 'dice', title: 'Dice', distance: false, digits: 4 },
  { key: 'jaccard', title: 'Jaccard', distance: false, digits: 4 },
  { key: 'hd95', title: '95HD', distance: true, digits: 2 },
  { key: 'hd', title: 'HD', distance: true, digits: 2 },
  { key: 'asd', title: 'ASD', distance: true, digits: 2 },
  { key: 'assd', title: 'ASSD', distance: true, digits: 2 },
];

/**
 * The column title of a metric in the terminal table and `report.html`.
 * @param metric - A column of `REPORT_METRICS`.
 * @param units - The report's distance units.
 * @returns E.g. `Dice`, `95HD (mm)`, `ASD (vox)`.
 */
export function metricTitle(metric: ReportMetric, units: DistanceUnits): string {
  return metric.distance ? `${metric.title} (${units === 'mm' ? 'mm' : 'vox'})` : metric.title;
}

/**
 * A metric summary as `mean ± std` with `digits` decimals, or `missing` when every value is missing.
 * @param m - The summary of one metric over cases.
 * @param digits - Decimals of both numbers.
 * @returns The cell text.
 */
export function meanStd(m: MetricSummary, digits: number): string {
  if (m.mean === null || m.std === null) return 'missing';
  return `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}`;
}

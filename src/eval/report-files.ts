/**
 * The files of a report folder: `cases.csv` (full precision), `summary.json` and a self-contained
 * `report.html` (inline CSS, no scripts; overlays linked by relative path), their metric columns from
 * report-columns.ts. Each file is written atomically.
 */
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { type CaseEvaluation, isAbsentClass } from './protocol.js';
import { meanStd, metricTitle, REPORT_METRICS } from './report-columns.js';
import type { OverlayRef } from './report-overlays.js';
import type { EvaluationReport, EvaluationSource } from './report-stats.js';
import { formatReportHeader, unitText } from './report-text.js';

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function csvNumber(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '' : String(value);
}

/**
 * One row per case and class; missing values are empty cells; full precision. `note` says `absent` for a class
 * absent from both prediction and label (its metrics are the empty cells); `unexpected_values` (space-separated)
 * and `unexpected_voxels` repeat, on each row of a case, the prediction values that neither the label nor the
 * scored classes have and their voxel count.
 */
export function casesToCsv(
  cases: readonly CaseEvaluation[],
  classNames: Record<number, string> = {},
): string {
  const lines = [
    [
      'case,class,class_name',
      ...REPORT_METRICS.map((m) => m.key),
      'pred_voxels,label_voxels,empty_prediction,protocol,units,note,unexpected_values,unexpected_voxels',
    ].join(','),
  ];
  cases.forEach((c, index) => {
    for (const k of c.classes) {
      lines.push(
        [
          csvField(c.caseId ?? `#${index}`),
          String(k.classId),
          csvField(classNames[k.classId] ?? ''),
          ...REPORT_METRICS.map((m) => csvNumber(k[m.key])),
          String(k.predVoxels),
          String(k.labelVoxels),
          k.predVoxels === 0 ? '1' : '0',
          c.protocol,
          c.units,
          isAbsentClass(k) ? 'absent' : '',
          c.unexpectedPrediction?.values.join(' ') ?? '',
          String(c.unexpectedPrediction?.voxels ?? 0),
        ].join(','),
      );
    }
  });
  return `${lines.join('\n')}\n`;
}

/** The content of `summary.json`: the report as indented JSON with a final newline. */
export function reportToJson(report: EvaluationReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

function esc(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string,
  );
}

function num(v: number | null, digits: number): string {
  return v === null ? '<span class="missing">missing</span>' : v.toFixed(digits);
}

function sourceText(source: EvaluationSource): string {
  return source.mode === 'model'
    ? `dataset ${source.dataset}${source.split ? `, split ${source.split}` : ''}`
    : `predictions ${source.pred} against labels ${source.label}`;
}

/** The note cell of a case-and-class row: absent class, and prediction values outside label and classes. */
function caseNote(c: CaseEvaluation, k: CaseEvaluation['classes'][number]): string {
  const parts: string[] = [];
  if (isAbsentClass(k)) parts.push('absent from prediction and label: missing');
  const u = c.unexpectedPrediction;
  if (u !== undefined)
    parts.push(`prediction values ${u.values.join(', ')} not in the label (${u.voxels} voxels)`);
  return parts.join('; ');
}

/** The self-contained HTML report (inline CSS, no scripts); overlays are referenced by relative path. */
export function renderHtmlReport(
  report: EvaluationReport,
  cases: readonly CaseEvaluation[],
  overlays: ReadonlyMap<string, readonly OverlayRef[]> = new Map(),
): string {
  const titles = REPORT_METRICS.map((m) => `<th>${esc(metricTitle(m, report.units))}</th>`).join('');
  const summaryRows = report.classes
    .map(
      (c) =>
        `<tr><td>${c.classId} ${esc(c.name ?? '')}</td>${REPORT_METRICS.map(
          (m) => `<td>${esc(meanStd(c.metrics[m.key], m.digits))}</td>`,
        ).join(
          '',
        )}<td>${c.numCases}</td><td>${c.emptyPredictions}</td><td>${c.metrics.hd95.missing}</td></tr>`,
    )
    .join('\n');
  const o = report.overall;
  const missingTotal = report.classes.reduce((n, c) => n + c.metrics.hd95.missing, 0);
  const meanRow = `<tr class="mean"><td>mean</td>${REPORT_METRICS.map(
    (m) => `<td>${esc(meanStd(o[m.key], m.digits))}</td>`,
  ).join('')}<td>${report.numCases}</td><td>${report.emptyPredictions}</td><td>${missingTotal}</td></tr>`;
  const noteItems = [
    ...report.notes.map((n) => `<li>note: ${esc(n)}</li>`),
    ...report.warnings.map((w) => `<li class="missing">warning: ${esc(w)}</li>`),
  ];
  const noteList = noteItems.length === 0 ? '' : `<ul class="notes">\n${noteItems.join('\n')}\n</ul>`;
  const names = new Map(report.classes.map((c) => [c.classId, c.name]));
  const caseRows = cases
    .map((c, index) =>
      c.classes
        .map(
          (k, ci) =>
            `<tr${k.predVoxels === 0 ? ' class="empty"' : ''}>${
              ci === 0 ? `<td rowspan="${c.classes.length}">${esc(c.caseId ?? `#${index}`)}</td>` : ''
            }<td>${k.classId} ${esc(names.get(k.classId) ?? '')}</td>${REPORT_METRICS.map(
              (m) => `<td>${num(k[m.key], m.digits)}</td>`,
            ).join('')}<td>${k.predVoxels}</td><td>${k.labelVoxels}</td><td>${esc(caseNote(c, k))}</td></tr>`,
        )
        .join('\n'),
    )
    .join('\n');
  const figures = cases
    .map((c) => {
      const refs = c.caseId === undefined ? undefined : overlays.get(c.caseId);
      if (!refs || refs.length === 0) return '';
      const imgs = refs
        .map(
          (r) =>
            `<figure><img src="${esc(r.file)}" alt="${esc(`${c.caseId} slice ${r.k}`)}"><figcaption>slice ${r.k}: ${esc(
              r.kinds.join(', '),
            )} (label ${r.labelVoxels} px, disagreement ${r.disagreement} px)</figcaption></figure>`,
        )
        .join('');
      return `<section class="case"><h3>${esc(c.caseId ?? '')}</h3>${imgs}</section>`;
    })
    .filter((s) => s !== '')
    .join('\n');
  const overlayText =
    figures === ''
      ? '<p>No overlays: they need the image (evaluation of a model on a dataset).</p>'
      : `<p>Image in grey (window 1st–99th percentile), <span style="color:#0a0">label contour green</span>, <span style="color:#d00">prediction contour red</span>, both yellow; i left → right, j bottom → top, slices along the last axis.</p>\n${figures}`;
  const sel = report.selection;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ssmis evaluation</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.mean td { font-weight: bold; }
tr.empty td { background: #fee; }
.missing { color: #a00; }
.header { background: #f4f4f4; padding: 0.6em; border-left: 4px solid #888; }
figure { display: inline-block; margin: 0.5em; }
img { image-rendering: pixelated; border: 1px solid #ccc; }
</style>
</head>
<body>
<h1>ssmis evaluation</h1>
<p class="header">${esc(formatReportHeader(report))}</p>
<ul>
<li>protocol: ${esc(report.protocol)}</li>
<li>distance units: ${esc(unitText(report.units))}</li>
<li>largest component: ${report.largestComponent.enabled ? `on, ${report.largestComponent.connectivity}-connected` : 'off'}</li>
<li>model selection split: ${esc(sel.split ?? 'not recorded')}${sel.checkpoint ? `; checkpoint ${esc(sel.checkpoint)}` : ''}${
    sel.best ? `; best ${sel.best.dice.toFixed(4)} at iteration ${sel.best.iteration}` : ''
  }</li>
<li>source: ${esc(sourceText(report.source))}</li>
<li>empty predictions: ${report.emptyPredictions}</li>
<li>ssmis ${esc(report.ssmisVersion)}, ${esc(report.createdAt)}</li>
</ul>
<h2>Summary (mean ± std over cases)</h2>
<table>
<tr><th>class</th>${titles}<th>n</th><th>empty</th><th>missing</th></tr>
${summaryRows}
${meanRow}
</table>
${noteList}
<h2>Cases</h2>
<table>
<tr><th>case</th><th>class</th>${titles}<th>pred voxels</th><th>label voxels</th><th>note</th></tr>
${caseRows}
</table>
<h2>Overlays</h2>
${overlayText}
</body>
</html>
`;
}

/** Writes `cases.csv`, `summary.json` and `report.html` into `outDir`, each atomically. */
export async function writeReportFiles(
  outDir: string,
  report: EvaluationReport,
  cases: readonly CaseEvaluation[],
  overlays: ReadonlyMap<string, readonly OverlayRef[]> = new Map(),
): Promise<{ csv: string; summary: string; html: string }> {
  const names: Record<number, string> = {};
  for (const c of report.classes) if (c.name !== null) names[c.classId] = c.name;
  const files = {
    csv: path.join(outDir, 'cases.csv'),
    summary: path.join(outDir, 'summary.json'),
    html: path.join(outDir, 'report.html'),
  };
  await writeFileAtomic(files.csv, casesToCsv(cases, names));
  await writeFileAtomic(files.summary, reportToJson(report));
  await writeFileAtomic(files.html, renderHtmlReport(report, cases, overlays));
  return files;
}

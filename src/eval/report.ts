/**
 * Evaluation reports (papers' numbers differ mostly by protocol, so every report states it): the summary with the
 * protocol, units, largest-component setting and model-selection split that make a number comparable, the
 * terminal table, `cases.csv`, `summary.json`, and a self-contained `report.html` whose overlays are PNG
 * files in `overlays/` next to it (files rather than data URIs so that a 60-case report stays small and the
 * pictures can be reused; the folder as a whole is self-contained: no scripts, no external resources).
 */
import path from 'node:path';
import { encodePng } from '../io/png.js';
import type { Connectivity } from '../method/connected-components.js';
import { requireArray, requireObject } from '../util/args.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { packageVersion } from '../util/package-info.js';
import {
  type CaseEvaluation,
  type ClassSummary,
  type DistanceUnits,
  type EvaluationProtocol,
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

// ---------------------------------------------------------------------------------------------------------
// Terminal

const PROTOCOL_TEXT: Record<EvaluationProtocol, string> = {
  paper: 'paper (empty prediction scored 0, 0, 0, 0 as the reference)',
  strict: 'strict (empty prediction: Dice 0, distances missing and counted)',
};

function unitText(units: DistanceUnits): string {
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

function meanStd(m: MetricSummary, digits: number): string {
  if (m.mean === null || m.std === null) return 'missing';
  return `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}`;
}

function isReport(summary: EvaluationSummary): summary is EvaluationReport {
  return 'overall' in summary;
}

/**
 * Fixed-width table: one row per class and a `mean` row; columns Dice, Jaccard, 95HD, ASD as mean ± std
 * (Dice/Jaccard as fractions with 4 decimals, distances with 2), then n (cases), empty (empty predictions)
 * and missing (cases whose 95HD is missing, strict protocol). The mean row is the report's `overall` (or
 * `classMean` with no std for a bare protocol summary).
 */
export function formatSummaryTable(summary: EvaluationSummary | EvaluationReport): string {
  requireObject('formatSummaryTable', 'summary', summary, 'an evaluation summary or report');
  requireArray('formatSummaryTable', 'summary.classes', summary.classes);
  const unit = summary.units === 'mm' ? 'mm' : 'vox';
  const headers = ['class', 'Dice', 'Jaccard', `95HD (${unit})`, `ASD (${unit})`, 'n', 'empty', 'missing'];
  const rows: string[][] = [];
  for (const c of summary.classes) {
    const name = 'name' in c && typeof c.name === 'string' ? `${c.classId} ${c.name}` : `class ${c.classId}`;
    rows.push([
      name,
      meanStd(c.metrics.dice, 4),
      meanStd(c.metrics.jaccard, 4),
      meanStd(c.metrics.hd95, 2),
      meanStd(c.metrics.asd, 2),
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
      meanStd(o.dice, 4),
      meanStd(o.jaccard, 4),
      meanStd(o.hd95, 2),
      meanStd(o.asd, 2),
      String(summary.numCases),
      String(empty),
      String(missing),
    ]);
  } else {
    const m = summary.classMean;
    const fmt = (v: number | null, d: number) => (v === null ? 'missing' : v.toFixed(d));
    rows.push([
      'mean',
      fmt(m.dice, 4),
      fmt(m.jaccard, 4),
      fmt(m.hd95, 2),
      fmt(m.asd, 2),
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

// ---------------------------------------------------------------------------------------------------------
// CSV and JSON

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
    'case,class,class_name,dice,jaccard,hd95,hd,asd,assd,pred_voxels,label_voxels,empty_prediction,protocol,units,note,unexpected_values,unexpected_voxels',
  ];
  cases.forEach((c, index) => {
    for (const k of c.classes) {
      lines.push(
        [
          csvField(c.caseId ?? `#${index}`),
          String(k.classId),
          csvField(classNames[k.classId] ?? ''),
          csvNumber(k.dice),
          csvNumber(k.jaccard),
          csvNumber(k.hd95),
          csvNumber(k.hd),
          csvNumber(k.asd),
          csvNumber(k.assd),
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

export function reportToJson(report: EvaluationReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------------------
// Overlays

/** A case id usable as a file name stem (no separators, not `.`/`..`), else InputError. */
export function safeFileStem(id: string, what = 'case id'): string {
  if (id.length === 0 || id === '.' || id === '..' || /[/\\\0]/.test(id)) {
    throw new InputError(`${what} "${id}" cannot be used as a file name (it contains a path separator)`);
  }
  return id;
}

export type SliceKind = 'largest label area' | 'largest disagreement';

export interface SliceChoice {
  /** Index along the last axis (the axial slice for RAS-like volumes). */
  k: number;
  /** Why it was chosen (one slice can be both). */
  kinds: SliceKind[];
  labelVoxels: number;
  disagreement: number;
}

/**
 * Representative slices along the last axis: the one with the most labelled voxels and the one where label
 * and prediction differ in the most voxels (ties: the lowest index). One slice when both are the same or
 * nothing disagrees. With an empty label the slice with the most predicted voxels stands in (the middle
 * slice when both are empty).
 */
export function representativeSlices(
  label: ArrayLike<number>,
  pred: ArrayLike<number>,
  shape: readonly [number, number, number],
): SliceChoice[] {
  const [nx, ny, nz] = shape;
  const area = new Float64Array(nz);
  const predArea = new Float64Array(nz);
  const diff = new Float64Array(nz);
  for (let p = 0, i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      for (let k = 0; k < nz; k++, p++) {
        if (label[p] !== 0) area[k]++;
        if (pred[p] !== 0) predArea[k]++;
        if (label[p] !== pred[p]) diff[k]++;
      }
    }
  }
  const argmax = (a: Float64Array) => a.reduce((best, v, k) => (v > a[best] ? k : best), 0);
  let kLabel = argmax(area);
  if (area[kLabel] === 0) {
    kLabel = argmax(predArea);
    if (predArea[kLabel] === 0) kLabel = Math.floor(nz / 2);
  }
  const out: SliceChoice[] = [
    { k: kLabel, kinds: ['largest label area'], labelVoxels: area[kLabel], disagreement: diff[kLabel] },
  ];
  const kDiff = argmax(diff);
  if (diff[kDiff] > 0) {
    if (kDiff === kLabel) out[0].kinds.push('largest disagreement');
    else
      out.push({
        k: kDiff,
        kinds: ['largest disagreement'],
        labelVoxels: area[kDiff],
        disagreement: diff[kDiff],
      });
  }
  return out;
}

/** Pixels per voxel so that small volumes are still readable (at least ~256 px on the long side). */
function upscale(nx: number, ny: number): number {
  return Math.max(1, Math.min(16, Math.floor(256 / Math.max(nx, ny))));
}

/** Contour: a non-zero pixel with a 4-neighbour of another value or on the slice edge. */
function contour(values: Uint8Array, nx: number, ny: number): Uint8Array {
  const out = new Uint8Array(nx * ny);
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const v = values[i * ny + j];
      if (v === 0) continue;
      const edge =
        i === 0 ||
        j === 0 ||
        i === nx - 1 ||
        j === ny - 1 ||
        values[(i - 1) * ny + j] !== v ||
        values[(i + 1) * ny + j] !== v ||
        values[i * ny + j - 1] !== v ||
        values[i * ny + j + 1] !== v;
      if (edge) out[i * ny + j] = 1;
    }
  }
  return out;
}

export interface OverlayInput {
  /** `[X, Y, Z, C]` row-major (channels last); channel 0 is drawn. */
  image: Float32Array;
  channels: number;
  label: ArrayLike<number>;
  pred: ArrayLike<number>;
  shape: readonly [number, number, number];
}

/**
 * RGB picture of slice `k`: channel 0 in grey (window = 1st–99th percentile of the slice), label contour in
 * green, prediction contour in red, both in yellow. The i axis runs left → right and j bottom → top, each
 * voxel drawn as an s×s block.
 */
export function renderOverlay(
  input: OverlayInput,
  k: number,
): { rgb: Uint8Array; width: number; height: number } {
  const [nx, ny, nz] = input.shape;
  const c = input.channels;
  const n = nx * ny;
  const grey = new Float32Array(n);
  const lab = new Uint8Array(n);
  const prd = new Uint8Array(n);
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const v = (i * ny + j) * nz + k;
      grey[i * ny + j] = input.image[v * c];
      lab[i * ny + j] = Number(input.label[v]);
      prd[i * ny + j] = Number(input.pred[v]);
    }
  }
  const sorted = Float32Array.from(grey).sort();
  const lo = sorted[Math.floor(0.01 * (n - 1))];
  const hi = sorted[Math.ceil(0.99 * (n - 1))];
  const range = hi > lo ? hi - lo : 1;
  const cl = contour(lab, nx, ny);
  const cp = contour(prd, nx, ny);
  const s = upscale(nx, ny);
  const width = nx * s;
  const height = ny * s;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const q = i * ny + j;
      let r: number;
      let g: number;
      let b: number;
      if (cl[q] && cp[q]) [r, g, b] = [255, 255, 0];
      else if (cl[q]) [r, g, b] = [0, 255, 0];
      else if (cp[q]) [r, g, b] = [255, 0, 0];
      else {
        const t = Math.round((255 * (grey[q] - lo)) / range);
        r = g = b = Math.max(0, Math.min(255, t));
      }
      const row0 = (ny - 1 - j) * s;
      for (let dy = 0; dy < s; dy++) {
        let o = ((row0 + dy) * width + i * s) * 3;
        for (let dx = 0; dx < s; dx++, o += 3) {
          rgb[o] = r;
          rgb[o + 1] = g;
          rgb[o + 2] = b;
        }
      }
    }
  }
  return { rgb, width, height };
}

export interface OverlayRef {
  /** Path relative to the report folder. */
  file: string;
  k: number;
  kinds: SliceKind[];
  labelVoxels: number;
  disagreement: number;
}

/** Writes the representative-slice PNGs of one case into `<outDir>/overlays/` and returns their references. */
export async function writeCaseOverlays(
  outDir: string,
  caseId: string,
  input: OverlayInput,
): Promise<OverlayRef[]> {
  const stem = safeFileStem(caseId);
  const refs: OverlayRef[] = [];
  for (const choice of representativeSlices(input.label, input.pred, input.shape)) {
    const { rgb, width, height } = renderOverlay(input, choice.k);
    const file = `overlays/${stem}_z${choice.k}.png`;
    await writeFileAtomic(path.join(outDir, file), encodePng(rgb, width, height));
    refs.push({
      file,
      k: choice.k,
      kinds: choice.kinds,
      labelVoxels: choice.labelVoxels,
      disagreement: choice.disagreement,
    });
  }
  return refs;
}

// ---------------------------------------------------------------------------------------------------------
// HTML

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
  const unit = report.units === 'mm' ? 'mm' : 'vox';
  const summaryRows = report.classes
    .map(
      (c) =>
        `<tr><td>${c.classId} ${esc(c.name ?? '')}</td><td>${esc(meanStd(c.metrics.dice, 4))}</td><td>${esc(
          meanStd(c.metrics.jaccard, 4),
        )}</td><td>${esc(meanStd(c.metrics.hd95, 2))}</td><td>${esc(meanStd(c.metrics.asd, 2))}</td><td>${esc(
          meanStd(c.metrics.assd, 2),
        )}</td><td>${c.numCases}</td><td>${c.emptyPredictions}</td><td>${c.metrics.hd95.missing}</td></tr>`,
    )
    .join('\n');
  const o = report.overall;
  const missingTotal = report.classes.reduce((n, c) => n + c.metrics.hd95.missing, 0);
  const meanRow = `<tr class="mean"><td>mean</td><td>${esc(meanStd(o.dice, 4))}</td><td>${esc(
    meanStd(o.jaccard, 4),
  )}</td><td>${esc(meanStd(o.hd95, 2))}</td><td>${esc(meanStd(o.asd, 2))}</td><td>${esc(
    meanStd(o.assd, 2),
  )}</td><td>${report.numCases}</td><td>${report.emptyPredictions}</td><td>${missingTotal}</td></tr>`;
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
            }<td>${k.classId} ${esc(names.get(k.classId) ?? '')}</td><td>${num(k.dice, 4)}</td><td>${num(
              k.jaccard,
              4,
            )}</td><td>${num(k.hd95, 2)}</td><td>${num(k.asd, 2)}</td><td>${num(k.assd, 2)}</td><td>${
              k.predVoxels
            }</td><td>${k.labelVoxels}</td><td>${esc(caseNote(c, k))}</td></tr>`,
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
<tr><th>class</th><th>Dice</th><th>Jaccard</th><th>95HD (${unit})</th><th>ASD (${unit})</th><th>ASSD (${unit})</th><th>n</th><th>empty</th><th>missing</th></tr>
${summaryRows}
${meanRow}
</table>
${noteList}
<h2>Cases</h2>
<table>
<tr><th>case</th><th>class</th><th>Dice</th><th>Jaccard</th><th>95HD (${unit})</th><th>ASD (${unit})</th><th>ASSD (${unit})</th><th>pred voxels</th><th>label voxels</th><th>note</th></tr>
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

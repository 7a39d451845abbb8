/**
 * The tables of a collection: Markdown (settings, differences against the baseline, every run with its protocol,
 * missing and failed runs), CSV (one row per setting), JSON (everything), and the paper's layout (rows = methods,
 * columns = label ratios, each with Dice, Jaccard, 95HD and ASD).
 */
import type { PairedDifference } from '../eval/stats.js';
import {
  COLLECT_METRICS,
  type CollectedRun,
  type Collection,
  type CollectMetric,
  type MetricStats,
  metricStats,
  protocolText,
} from './collect.js';

const TITLES: Record<CollectMetric, string> = { dice: 'Dice', jaccard: 'Jaccard', hd95: '95HD', asd: 'ASD' };
const DIGITS: Record<CollectMetric, number> = { dice: 4, jaccard: 4, hd95: 2, asd: 2 };

/** The distance units of the finished runs (`mm`, `voxel`, or both). */
function unitsOf(c: Collection): string {
  const units = [...new Set(c.runs.flatMap((r) => (r.protocol ? [r.protocol.units] : [])))];
  return units.length === 0 ? '' : units.join('/');
}

function title(m: CollectMetric, units: string): string {
  return m === 'dice' || m === 'jaccard' || units === '' ? TITLES[m] : `${TITLES[m]} (${units})`;
}

function cellStats(s: MetricStats, digits: number, scale = 1): string {
  if (s.mean === null) return '–';
  const m = (s.mean * scale).toFixed(digits);
  return s.std === null ? m : `${m} ± ${(s.std * scale).toFixed(digits)}`;
}

function signed(x: number, digits: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
}

function cellDifference(d: PairedDifference, digits: number): string {
  if (d.mean === null) return '–';
  const ci =
    d.low === null || d.high === null ? '' : ` [${signed(d.low, digits)}, ${signed(d.high, digits)}]`;
  return `${signed(d.mean, digits)}${ci}`;
}

function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${headers.map(esc).join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
}

/** One line per run that does not count: missing, unfinished, unevaluated, unreadable. */
function problemLines(c: Collection): string[] {
  return c.runs
    .filter((r) => r.status !== 'finished')
    .map((r) => `- ${r.name}: ${r.status}${r.note ? ` (${r.note})` : ''}`);
}

function countsLine(c: Collection): string {
  const n = (s: CollectedRun['status']) => c.runs.filter((r) => r.status === s).length;
  const parts = [`${n('finished')} finished`];
  for (const s of ['unfinished', 'missing', 'unevaluated', 'unreadable'] as const) {
    if (n(s) > 0) parts.push(`${n(s)} ${s}`);
  }
  return `${c.runs.length} run${c.runs.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

/**
 * A collection as Markdown: the settings (mean ± sample std over seeds), the paired differences against the
 * baseline (mean [95 % CI] over the seeds both have), every run with its protocol, and the runs that do not count.
 * @param c - From `collectRuns`.
 * @returns The text (ends with a newline).
 */
export function collectionMarkdown(c: Collection): string {
  const units = unitsOf(c);
  const lines = [`# Runs of ${c.dir}`, '', `${countsLine(c)}.`, ''];
  const protocols = [...new Set(c.settings.flatMap((s) => s.protocols))];
  if (protocols.length === 1) lines.push(`Protocol of every finished run: ${protocols[0]}.`, '');
  else if (protocols.length > 1) {
    lines.push(
      '**The runs were scored under different protocols** (see the runs table); compare with care.',
      '',
    );
  }
  lines.push(
    ...markdownTable(
      ['setting', 'seeds', ...COLLECT_METRICS.map((m) => title(m, units))],
      c.settings.map((s) => [
        s.label,
        `${s.seeds.length}/${s.runs}`,
        ...COLLECT_METRICS.map((m) => {
          const cell = cellStats(s.metrics[m], DIGITS[m]);
          // A metric missing in some finished runs (an empty prediction has no surface distance).
          return s.metrics[m].n < s.seeds.length && s.metrics[m].n > 0
            ? `${cell} (n=${s.metrics[m].n})`
            : cell;
        }),
      ]),
    ),
    '',
    'Mean ± sample standard deviation over the finished seeds (seeds: finished/planned).',
  );
  if (c.baseline !== null) {
    lines.push(
      '',
      `## Against ${c.baseline}`,
      '',
      ...markdownTable(
        ['setting', 'baseline', 'paired seeds', ...COLLECT_METRICS.map((m) => `Δ${title(m, units)}`)],
        c.differences.map((d) => [
          d.setting,
          d.baseline,
          d.metrics ? String(d.metrics.dice.n) : '–',
          ...COLLECT_METRICS.map((m) =>
            d.metrics ? cellDifference(d.metrics[m], DIGITS[m]) : (d.note ?? '–'),
          ),
        ]),
      ),
      '',
      'Setting − baseline, paired by seed: mean [95 % Student-t confidence interval] over the seeds both finished (no interval below two pairs).',
    );
  }
  lines.push(
    '',
    '## Runs',
    '',
    ...markdownTable(
      ['run', 'seed', 'status', 'protocol', ...COLLECT_METRICS.map((m) => TITLES[m])],
      c.runs.map((r) => [
        r.name,
        r.seed === null ? '–' : String(r.seed),
        r.status,
        r.protocol ? protocolText(r.protocol) : '–',
        ...COLLECT_METRICS.map((m) => {
          const v = r.metrics?.[m];
          return typeof v === 'number' ? v.toFixed(DIGITS[m]) : '–';
        }),
      ]),
    ),
  );
  const problems = problemLines(c);
  if (problems.length > 0) lines.push('', '## Missing or failed', '', ...problems);
  return `${lines.join('\n')}\n`;
}

function csvCell(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * A collection as CSV, one row per setting: its label-key values, seeds, mean and std per metric, the paired
 * difference against the baseline with its 95 % interval, and the protocol.
 * @param c - From `collectRuns`.
 * @returns The text (ends with a newline).
 */
export function collectionCsv(c: Collection): string {
  const headers = [
    'setting',
    ...c.labelKeys,
    'seeds',
    'runs',
    ...COLLECT_METRICS.flatMap((m) => [`${m}_mean`, `${m}_std`]),
    ...(c.baseline === null
      ? []
      : [
          'baseline',
          'paired_seeds',
          ...COLLECT_METRICS.flatMap((m) => [`${m}_diff`, `${m}_diff_low`, `${m}_diff_high`]),
        ]),
    'protocol',
  ];
  const rows = c.settings.map((s) => {
    const d = c.differences.find((x) => x.setting === s.label);
    return [
      s.label,
      ...c.labelKeys.map((k) => s.setting[k] ?? null),
      s.seeds.join(' '),
      s.runs,
      ...COLLECT_METRICS.flatMap((m) => [s.metrics[m].mean, s.metrics[m].std]),
      ...(c.baseline === null
        ? []
        : [
            d?.baseline ?? null,
            d?.metrics ? d.metrics.dice.n : null,
            ...COLLECT_METRICS.flatMap((m) => {
              const x = d?.metrics?.[m];
              return [x?.mean ?? null, x?.low ?? null, x?.high ?? null];
            }),
          ]),
      s.protocols.join(' | '),
    ];
  });
  return `${[headers, ...rows].map((r) => r.map(csvCell).join(',')).join('\n')}\n`;
}

/**
 * A collection as JSON: label keys, settings, differences, and every run with its status, protocol and metrics.
 * @param c - From `collectRuns`.
 * @returns The text (ends with a newline).
 */
export function collectionJson(c: Collection): string {
  return `${JSON.stringify(c, null, 1)}\n`;
}

/** Options of {@link paperTable}. */
export interface PaperTableOptions {
  /** The label key whose values are the columns; default the runs' labeled share of the train split. */
  columns?: string;
}

/** Orders column labels numerically when they start with a number (`5 %` before `10 %`). */
function byNumber(a: string, b: string): number {
  const na = Number.parseFloat(a);
  const nb = Number.parseFloat(b);
  return Number.isFinite(na) && Number.isFinite(nb) && na !== nb ? na - nb : a.localeCompare(b);
}

/**
 * The paper's layout: one row per method (the setting without the column key), for each label ratio the
 * Dice and Jaccard in % and the 95HD and ASD, mean ± sample std over seeds.
 * @param c - From `collectRuns`.
 * @param options - Which label key gives the columns (default: the labeled share of the train split).
 * @returns Markdown (ends with a newline).
 */
export function paperTable(c: Collection, options: PaperTableOptions = {}): string {
  const finished = c.runs.filter((r) => r.status === 'finished');
  const columnKey = options.columns;
  const columnOf = (r: CollectedRun) =>
    (columnKey === undefined ? r.labelRatio : r.setting[columnKey]) ?? '(unknown)';
  // The row label leaves out the column key (and, for the computed ratio, the keys of data.labeled).
  const rowKeys = c.labelKeys.filter((k) =>
    columnKey === undefined ? !k.startsWith('data.labeled') : k !== columnKey,
  );
  const rowOf = (r: CollectedRun) => {
    const parts = rowKeys.map((k) => (rowKeys.length === 1 ? r.setting[k] : `${k}=${r.setting[k]}`));
    return parts.length === 0 ? 'all runs' : parts.join(', ');
  };
  const rows = [...new Set(c.runs.map(rowOf))];
  const columns = [...new Set(finished.map(columnOf))].sort(byNumber);
  const units = unitsOf(c);
  const headers = [
    'Method',
    ...columns.flatMap((col) => [
      `${col} Dice (%)`,
      `${col} Jaccard (%)`,
      `${col} ${title('hd95', units)}`,
      `${col} ${title('asd', units)}`,
    ]),
  ];
  const body = rows.map((row) => [
    row,
    ...columns.flatMap((col) => {
      const runs = finished.filter((r) => rowOf(r) === row && columnOf(r) === col);
      return COLLECT_METRICS.map((m) => {
        const values = runs.map((r) => r.metrics?.[m]).filter((v): v is number => typeof v === 'number');
        const percent = m === 'dice' || m === 'jaccard';
        return cellStats(metricStats(values), 2, percent ? 100 : 1);
      });
    }),
  ]);
  const lines = [
    ...markdownTable(headers, body),
    '',
    `Mean ± sample standard deviation over seeds; columns: ${columnKey ?? 'labeled share of the train split'}. ${countsLine(c)}.`,
  ];
  const problems = problemLines(c);
  if (problems.length > 0) lines.push('', 'Not counted:', ...problems);
  return `${lines.join('\n')}\n`;
}

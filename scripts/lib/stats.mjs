// @ts-check
/**
 * Pure helpers shared by `scripts/bench.mjs` and `scripts/experiment.mjs`: robust timing statistics and
 * plain-text table formatting. No TF.js, no I/O, so `tests/scripts/stats.test.ts` can test them directly.
 */
import { loadDist } from './runtime.mjs';

/**
 * Median of a non-empty list (mean of the two middle values for an even count). Medians, not means, because
 * the machine is shared: one run slowed down by another process must not move the reported time.
 * @param {readonly number[]} values
 * @returns {number}
 */
export function median(values) {
  if (values.length === 0) throw new Error('median: expected at least one value, got an empty list');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Arithmetic mean (null for an empty list) and sample standard deviation (n − 1): the library's own,
 * `src/eval/stats.ts`, re-exported from the compiled `dist/` (`npm run build` first), so that the scripts and
 * `ssmis collect` compute them one way.
 */
const libraryStats = await loadDist('eval/stats.js');
export const { mean, sampleStd } = libraryStats;

/**
 * Times `fn` (sync or async): `warmup` untimed calls (first-call compilation, optimizer slot creation,
 * allocator growth), then `runs` timed calls. `after(i)` runs after each timed call outside the timing
 * (memory sampling).
 * @param {() => unknown} fn
 * @param {{ runs: number, warmup?: number, after?: (i: number) => void }} options
 * @returns {Promise<{ median: number, times: number[] }>} milliseconds
 */
export async function timeMedian(fn, options) {
  const { runs, warmup = 1, after } = options;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`timeMedian: runs must be ≥ 1, got ${runs}`);
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
    after?.(i);
  }
  return { median: median(times), times };
}

/**
 * A duration for people: `850 µs`, `12.3 ms`, `4.21 s`.
 * @param {number} ms
 * @returns {string}
 */
export function formatMs(ms) {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 100 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * A rate with an SI prefix: `formatRate(2.5e6, 'voxels/s')` → `2.50 M voxels/s`.
 * @param {number} perSecond
 * @param {string} unit
 * @returns {string}
 */
export function formatRate(perSecond, unit) {
  if (!Number.isFinite(perSecond)) return `${perSecond} ${unit}`;
  const prefixes = /** @type {const} */ ([
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ]);
  for (const [scale, prefix] of prefixes) {
    if (Math.abs(perSecond) >= scale) return `${(perSecond / scale).toFixed(2)} ${prefix}${unit}`;
  }
  return `${perSecond.toFixed(2)} ${unit}`;
}

/**
 * Bytes as MiB with one decimal.
 * @param {number} bytes
 * @returns {string}
 */
export function formatMiB(bytes) {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * A ratio like `2.35×`.
 * @param {number} ratio
 * @returns {string}
 */
export function formatRatio(ratio) {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–';
}

/**
 * A fixed-width text table: header, a dashed rule, rows. Columns whose every body cell looks numeric (digits,
 * optionally with a unit suffix) are right-aligned, the others left-aligned. Cells are converted with String;
 * null/undefined print as `–`.
 * @param {readonly string[]} headers
 * @param {readonly (readonly unknown[])[]} rows
 * @returns {string} lines joined by `\n`, no trailing newline
 */
export function formatTable(headers, rows) {
  const cells = rows.map((row) => {
    if (row.length !== headers.length) {
      throw new Error(`formatTable: a row has ${row.length} cells, the header has ${headers.length}`);
    }
    return row.map((c) => (c === null || c === undefined ? '–' : String(c)));
  });
  const numeric = headers.map(
    (_, j) => cells.length > 0 && cells.every((r) => r[j] === '–' || /^[-+]?[\d.]+/.test(r[j])),
  );
  const widths = headers.map((h, j) => Math.max(h.length, ...cells.map((r) => r[j].length)));
  /** @param {readonly string[]} r */
  const line = (r) =>
    r
      .map((c, j) => (numeric[j] ? c.padStart(widths[j]) : c.padEnd(widths[j])))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

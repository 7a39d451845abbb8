/** Types of `stats.mjs` (for the TypeScript tests; the .mjs carries the same contract in JSDoc). */
export function median(values: readonly number[]): number;
export function mean(values: readonly number[]): number | null;
export function sampleStd(values: readonly number[]): number | null;
export function timeMedian(
  fn: () => unknown,
  options: { runs: number; warmup?: number; after?: (i: number) => void },
): Promise<{ median: number; times: number[] }>;
export function formatMs(ms: number): string;
export function formatRate(perSecond: number, unit: string): string;
export function formatMiB(bytes: number): string;
export function formatRatio(ratio: number): string;
export function formatTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string;

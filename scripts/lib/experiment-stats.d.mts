/** Types of `experiment-stats.mjs` (for the TypeScript tests; the .mjs carries the same contract in JSDoc). */
export function tQuantile(p: 0.8 | 0.975, df: number): number;
export interface PairedDifference {
  n: number;
  mean: number | null;
  std: number | null;
  low: number | null;
  high: number | null;
  halfWidth: number | null;
  detectable: number | null;
  seeds: number[];
  differences: number[];
}
export function pairedDifference(
  a: ReadonlyMap<number, number> | Record<number, number>,
  b: ReadonlyMap<number, number> | Record<number, number>,
): PairedDifference;
export function seedsToDetect(std: number, target: number): number | null;

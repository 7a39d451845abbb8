/** Types of `experiment-report.mjs` (for the TypeScript tests; the .mjs carries the same contract in JSDoc). */
import type { PairedDifference } from './experiment-stats.mjs';

export const ROWS: readonly (readonly [string, string])[];
export const COMPARISONS: readonly (readonly [string, string, string])[];
export const TARGET_DIFFERENCE: number;
export interface DiagnosticsSummary {
  iterations: number;
  pseudoForegroundFraction: number | null;
  emptyPseudoLabelFraction: number | null;
  reliableFraction: number | null;
}
export function summarizeDiagnostics(
  rows: readonly { diagnostics?: Record<string, number> }[],
): DiagnosticsSummary;
export interface ProtocolSummary {
  dice: number | null;
  jaccard: number | null;
  hd95: number | null;
  asd: number | null;
  missing: number;
  empty: number;
}
export interface RunRecord {
  id: string;
  kind: 'stage1' | 'stage2' | 'upper';
  method: string;
  seed: number;
  planHash: string;
  selection: { checkpoint: string; split: string; best: { dice: number; iteration: number } | null } | null;
  test: { strict: ProtocolSummary; paper: ProtocolSummary; perCase: unknown[] };
  diagnostics: DiagnosticsSummary;
  stage1Sha256: string | null;
  timing: {
    msPerIteration: { pretrain: number | null; selftrain: number | null };
    trainSeconds: number | null;
    evalSeconds: number | null;
    kernelThreads: number;
  };
  machine: { cpuModel: string; logicalCpus: number; node: string };
  backend: { active: string; tfjsVersion: string; fastKernels: boolean };
}
export interface ReportInput {
  // biome-ignore lint/suspicious/noExplicitAny: plan.json as written by scripts/experiment.mjs
  plan: any;
  // biome-ignore lint/suspicious/noExplicitAny: data.json as written by scripts/experiment.mjs
  data: any;
  records: readonly RunRecord[];
  notes: string | null;
  recordDir: string;
  command: string;
}
export function renderExperimentReport(input: ReportInput): string;
export function findings(diffs: Record<string, PairedDifference>, records: readonly RunRecord[]): string[];

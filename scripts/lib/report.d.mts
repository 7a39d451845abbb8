/** Types of `report.mjs` (for the TypeScript tests; the .mjs carries the same contract in JSDoc). */
export interface ResultMetric {
  key: 'dice' | 'jaccard' | 'hd95' | 'asd';
  label: string;
  higher: boolean;
  scale: number;
  digits: number;
}
export const RESULT_METRICS: readonly ResultMetric[];
export const METHOD_LABELS: Readonly<Record<string, string>>;

export interface RunMetrics {
  dice: number | null;
  jaccard: number | null;
  hd95: number | null;
  asd: number | null;
}
export interface RunResult {
  seed: number;
  metrics: RunMetrics;
  missing?: Record<string, number>;
  emptyPredictions?: number;
  msPerIteration?: { pretrain?: number | null; selftrain?: number | null };
  wallSeconds?: number | null;
}
export interface MethodResults {
  method: string;
  runs: RunResult[];
}
export interface SeedStat {
  mean: number | null;
  std: number | null;
  n: number;
}
export interface MethodSummary {
  method: string;
  seeds: number;
  metrics: Record<'dice' | 'jaccard' | 'hd95' | 'asd', SeedStat>;
  msPerIteration: { pretrain: number | null; selftrain: number | null };
  emptyPredictions: number;
  missingDistances: number;
}
export interface ResultsInput {
  command: string;
  createdAt: string;
  quick: boolean;
  machine: { cpuModel: string; logicalCpus: number; totalMemoryGiB: number; node: string; platform: string };
  backend: { active: string; tfjsVersion: string; fastKernels: boolean; kernelWorkers: number };
  setup: {
    totalCases: number;
    labeled: number;
    unlabeled: number;
    test: number;
    synthSize: number[];
    synthSeed: number;
    patch: number[];
    baseFilters: number;
    seeds: number[];
    pretrainIterations: number;
    selftrainIterations: number;
    lr: number;
    batch: { labeled: number; unlabeled: number };
    rampupIterations: number;
    baselinesFromScratch: boolean;
    teacherMode?: 'train' | 'eval';
    dropout?: number;
    evalPatch: number[];
    evalStrides: number[];
    units: string;
    computeMinutes: number | null;
  };
  stage1?: MethodResults | null;
  methods: MethodResults[];
}

export function summarizeMethod(results: MethodResults): MethodSummary;
export function formatMeanStd(stat: SeedStat, scale?: number, digits?: number): string;
export function compareToSpread(a: SeedStat, b: SeedStat): 'clear' | 'comparable' | 'within' | 'unknown';
export function describeFindings(summaries: readonly MethodSummary[]): string[];
export function renderResultsMarkdown(input: ResultsInput): string;
export function msPerIterationFromCsv(csv: string): { pretrain: number | null; selftrain: number | null };

/**
 * The training history: one row per logged iteration, and the two files drawn from it in the run folder,
 * `metrics.csv` and `curves.svg`.
 */
import { writeFileAtomic } from '../util/atomic.js';
import { renderCurvesSvg } from './curves.js';
import type { StageName } from './plan.js';

/** One row of the training history (metrics.csv, curves.svg). */
export interface HistoryRow {
  stage: StageName;
  iteration: number;
  lr: number;
  loss: number;
  parts: Record<string, number>;
  diagnostics: Record<string, number>;
  msPerIteration: number;
  valDice?: number;
}

/** A numeric CSV cell: empty for missing values, full precision otherwise. */
function cell(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '' : String(value);
}

/**
 * metrics.csv from the history: fixed columns, then every loss part and diagnostic seen in the run.
 *
 * @param history The rows (`TrainResult.history`).
 * @returns The CSV text (empty cells for missing or non-finite values), ending in a newline.
 * @example
 * writeFileSync('metrics.csv', historyToCsv(result.history));
 */
export function historyToCsv(history: readonly HistoryRow[]): string {
  const partKeys = [...new Set(history.flatMap((r) => Object.keys(r.parts)))]
    .filter((k) => k !== 'total')
    .sort();
  const diagKeys = [...new Set(history.flatMap((r) => Object.keys(r.diagnostics)))].sort();
  const header = [
    'stage',
    'iteration',
    'lr',
    'loss',
    ...partKeys.map((k) => `loss_${k}`),
    ...diagKeys,
    'val_dice',
    'ms_per_iteration',
  ];
  const lines = [header.join(',')];
  for (const r of history) {
    lines.push(
      [
        r.stage,
        String(r.iteration),
        cell(r.lr),
        cell(r.loss),
        ...partKeys.map((k) => cell(r.parts[k])),
        ...diagKeys.map((k) => cell(r.diagnostics[k])),
        cell(r.valDice),
        cell(r.msPerIteration),
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * curves.svg: loss per stage and validation Dice against the global iteration.
 *
 * @param history The rows (`TrainResult.history`).
 * @param plans The stages in order with their iterations (the x axis runs on through them).
 * @returns A standalone SVG document.
 * @example
 * historyToSvg(result.history, [{ name: 'pretrain', iterations: 1000 }, { name: 'selftrain', iterations: 5000 }]);
 */
export function historyToSvg(
  history: readonly HistoryRow[],
  plans: readonly { name: StageName; iterations: number }[],
): string {
  const offset: Partial<Record<StageName, number>> = {};
  let sum = 0;
  for (const p of plans) {
    offset[p.name] = sum;
    sum += p.iterations;
  }
  const x = (r: HistoryRow) => (offset[r.stage] ?? 0) + r.iteration;
  const lossSeries = (['pretrain', 'selftrain'] as const).map((stage, i) => ({
    name: `${stage} loss`,
    color: i === 0 ? '#1f77b4' : '#d62728',
    points: history
      .filter((r) => r.stage === stage && Number.isFinite(r.loss))
      .map((r) => ({ x: x(r), y: r.loss })),
  }));
  const dice = history
    .filter((r) => r.valDice !== undefined)
    .map((r) => ({ x: x(r), y: r.valDice as number }));
  return renderCurvesSvg([
    { title: 'Training loss', series: lossSeries.filter((s) => s.points.length > 0) },
    {
      title: 'Validation Dice',
      series: [{ name: 'val Dice', color: '#2ca02c', points: dice }],
      yMin: 0,
      yMax: 1,
    },
  ]);
}

/** Writes `metrics.csv` and `curves.svg` of the history (each atomically). */
export async function writeHistoryFiles(
  files: { metrics: string; curves: string },
  history: readonly HistoryRow[],
  plans: readonly { name: StageName; iterations: number }[],
): Promise<void> {
  await writeFileAtomic(files.metrics, historyToCsv(history));
  await writeFileAtomic(files.curves, historyToSvg(history, plans));
}

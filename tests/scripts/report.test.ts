import { describe, expect, it } from 'vitest';
import {
  compareToSpread,
  describeFindings,
  formatMeanStd,
  type MethodResults,
  msPerIterationFromCsv,
  type ResultsInput,
  renderResultsMarkdown,
  summarizeMethod,
} from '../../scripts/lib/report.mjs';
import {
  formatMs,
  formatRate,
  formatRatio,
  formatTable,
  mean,
  median,
  sampleStd,
  timeMedian,
} from '../../scripts/lib/stats.mjs';

describe('stats helpers', () => {
  it('median of odd and even counts, and refuses an empty list', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(() => median([])).toThrow(/empty/);
  });

  it('mean and sample std (n − 1)', () => {
    expect(mean([])).toBeNull();
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    // Σ(x − 2.5)² = 5, / 3
    expect(sampleStd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(sampleStd([5])).toBe(0);
    expect(sampleStd([])).toBeNull();
  });

  it('timeMedian runs the warm-up untimed and the timed runs, calling after() for each', async () => {
    const calls: string[] = [];
    let n = 0;
    const result = await timeMedian(
      () => {
        calls.push(`run${n++}`);
      },
      { runs: 3, warmup: 2, after: (i) => calls.push(`after${i}`) },
    );
    expect(calls).toEqual(['run0', 'run1', 'run2', 'after0', 'run3', 'after1', 'run4', 'after2']);
    expect(result.times).toHaveLength(3);
    expect(result.median).toBe(median(result.times));
    await expect(timeMedian(() => {}, { runs: 0 })).rejects.toThrow(/runs/);
  });

  it('formats durations, rates and ratios', () => {
    expect(formatMs(0.5)).toBe('500 µs');
    expect(formatMs(12.34)).toBe('12.3 ms');
    expect(formatMs(250)).toBe('250 ms');
    expect(formatMs(4210)).toBe('4.21 s');
    expect(formatRate(2.5e6, 'voxels/s')).toBe('2.50 Mvoxels/s');
    expect(formatRate(12, 'B/s')).toBe('12.00 B/s');
    expect(formatRatio(1.234)).toBe('1.23×');
    expect(formatRatio(Number.NaN)).toBe('–');
  });

  it('formatTable pads text left and numbers right, with a dashed rule', () => {
    const text = formatTable(
      ['name', 'ms'],
      [
        ['a', '12.5 ms'],
        ['longer', 3],
        ['none', null],
      ],
    );
    expect(text).toBe(
      ['name         ms', '------  -------', 'a       12.5 ms', 'longer        3', 'none          –'].join(
        '\n',
      ),
    );
    expect(() => formatTable(['a', 'b'], [['x']])).toThrow(/1 cells/);
  });
});

const run = (seed: number, dice: number | null, hd95: number | null, ms = 1000) => ({
  seed,
  metrics: { dice, jaccard: dice === null ? null : dice - 0.1, hd95, asd: hd95 === null ? null : hd95 / 4 },
  missing: { hd95: hd95 === null ? 2 : 0 },
  emptyPredictions: hd95 === null ? 2 : 0,
  msPerIteration: { pretrain: 400, selftrain: ms },
});

describe('summaries over seeds', () => {
  it('mean ± sample std, leaving out seeds without a value', () => {
    const s = summarizeMethod({
      method: 'cpam',
      runs: [run(1, 0.8, 4), run(2, 0.9, null), run(3, 0.85, 6)],
    });
    expect(s.metrics.dice.mean).toBeCloseTo(0.85, 12);
    // deviations −0.05, 0.05, 0 → SS 0.005 / 2
    expect(s.metrics.dice.std).toBeCloseTo(0.05, 12);
    expect(s.metrics.dice.n).toBe(3);
    expect(s.metrics.hd95).toEqual({ mean: 5, std: Math.SQRT2, n: 2 });
    expect(s.emptyPredictions).toBe(2);
    expect(s.missingDistances).toBe(2);
    expect(s.msPerIteration).toEqual({ pretrain: 400, selftrain: 1000 });
    expect(formatMeanStd(s.metrics.dice, 100, 2)).toBe('85.00 ± 5.00');
    expect(formatMeanStd({ mean: 0.5, std: 0, n: 1 }, 100, 1)).toBe('50.0');
    expect(formatMeanStd({ mean: null, std: null, n: 0 })).toBe('–');
  });

  it('compareToSpread: clear, comparable, within, unknown', () => {
    const a = { mean: 0.8, std: 0.01, n: 3 };
    expect(compareToSpread(a, { mean: 0.7, std: 0.02, n: 3 })).toBe('clear'); // 0.1 > 0.03
    expect(compareToSpread(a, { mean: 0.775, std: 0.02, n: 3 })).toBe('comparable'); // 0.02 ≤ 0.025 ≤ 0.03
    expect(compareToSpread(a, { mean: 0.79, std: 0.02, n: 3 })).toBe('within'); // 0.01 < 0.02
    expect(compareToSpread(a, { mean: 0.7, std: 0, n: 1 })).toBe('unknown');
  });
});

function methods(diceBySeed: Record<string, number[]>, ms: Record<string, number> = {}): MethodResults[] {
  return Object.entries(diceBySeed).map(([method, values]) => ({
    method,
    runs: values.map((d, i) => run(i + 1, d, method === 'cpam' ? 3 : 5, ms[method] ?? 1000)),
  }));
}

describe('describeFindings', () => {
  it('names the best method, the gain over supervised against the spread, and the cost', () => {
    const input = methods(
      {
        supervised: [0.69, 0.7, 0.71],
        'mean-teacher': [0.68, 0.705, 0.73],
        bcp: [0.74, 0.75, 0.76],
        cpam: [0.79, 0.8, 0.81],
        'cpam-trcm': [0.77, 0.79, 0.81],
      },
      { supervised: 1000, cpam: 1500 },
    );
    const text = describeFindings(input.map(summarizeMethod)).join(' ');
    expect(text).toContain('CPAM has the highest mean Dice (80.00 ± 1.00 %).');
    expect(text).toContain('CPAM vs supervised: +10.00 Dice points, larger than the seed-to-seed spread');
    expect(text).toContain('Mean teacher vs supervised: +0.50 Dice points, within the seed-to-seed spread');
    expect(text).toContain(
      'A gain from the unlabeled cases beyond the seed spread is shown by: BCP, CPAM, CPAM + TRCM.',
    );
    expect(text).toContain(
      'CPAM over BCP (the unlabeled–unlabeled and labeled–labeled mixes): +5.00 Dice points',
    );
    expect(text).toContain('TRCM over CPAM (the reliability masks): −1.00 Dice points, within');
    expect(text).toContain('CPAM also has the lowest HD95.');
    expect(text).toContain('CPAM 1.50×');
  });

  it('says so when no semi-supervised method beats supervised', () => {
    const input = methods({ supervised: [0.8, 0.82], bcp: [0.7, 0.72] });
    const text = describeFindings(input.map(summarizeMethod)).join(' ');
    expect(text).toContain('Supervised has the highest mean Dice');
    expect(text).toContain('BCP vs supervised: −10.00 Dice points');
    expect(text).toContain('No semi-supervised method beats the supervised baseline here');
  });
});

describe('describeFindings with one seed', () => {
  it('says once that nothing can be judged and leaves the spread out of each comparison', () => {
    const input = methods({ supervised: [0.6], cpam: [0.7] });
    const text = describeFindings(input.map(summarizeMethod)).join(' ');
    expect(text).toContain('With one seed there is no seed-to-seed spread');
    expect(text).toContain('CPAM vs supervised: +10.00 Dice points.');
    expect(text).not.toContain('spread (');
    expect(text).not.toContain('beyond the seed spread');
  });
});

describe('renderResultsMarkdown', () => {
  const input: ResultsInput = {
    command: 'node scripts/experiment.mjs --seeds 2',
    createdAt: '2025-01-02T03:04:05.000Z',
    quick: false,
    machine: {
      cpuModel: 'Test CPU',
      logicalCpus: 2,
      totalMemoryGiB: 8,
      node: 'v20.0.0',
      platform: 'linux x64',
    },
    backend: { active: 'cpu', tfjsVersion: '4.22.0', fastKernels: true, kernelWorkers: 1 },
    setup: {
      totalCases: 24,
      labeled: 2,
      unlabeled: 14,
      test: 8,
      synthSize: [64, 64, 40],
      synthSeed: 2024,
      patch: [32, 32, 32],
      baseFilters: 4,
      seeds: [1, 2],
      pretrainIterations: 200,
      selftrainIterations: 300,
      lr: 0.05,
      batch: { labeled: 2, unlabeled: 2 },
      rampupIterations: 120,
      baselinesFromScratch: false,
      evalPatch: [32, 32, 32],
      evalStrides: [16, 16, 16],
      units: 'mm',
      computeMinutes: 95,
    },
    stage1: { method: 'stage1-only', runs: [run(1, 0.6, 9), run(2, 0.62, 11)] },
    methods: methods({ supervised: [0.7, 0.72], cpam: [0.8, 0.82] }, { cpam: 1500 }),
  };

  it('has the table with mean ± std, time per iteration and the stage-1 row', () => {
    const md = renderResultsMarkdown(input);
    expect(md).toContain(
      '| Method | Dice (%) | Jaccard (%) | HD95 | ASD | Time / iteration | Empty preds |\n|---|---:|---:|---:|---:|---:|---:|',
    );
    // Dice 0.70, 0.72 → 71.00 ± 1.41; Jaccard 0.60, 0.62; HD95 5, 5; ASD 1.25.
    expect(md).toContain(
      '| supervised | 71.00 ± 1.41 | 61.00 ± 1.41 | 5.00 ± 0.00 | 1.25 ± 0.00 | 1.00 s | 0 |',
    );
    expect(md).toContain('| CPAM | 81.00 ± 1.41 | 71.00 ± 1.41 | 3.00 ± 0.00 | 0.75 ± 0.00 | 1.50 s | 0 |');
    expect(md).toContain(
      '| stage 1 only (copy-paste pre-training) | 61.00 ± 1.41 | 51.00 ± 1.41 | 10.00 ± 1.41 | 2.50 ± 0.35 | 0.40 s (stage 1) | 0 |',
    );
    expect(md).toContain('mean ± sample std over 2 seeds');
    expect(md).toContain('HD95 and ASD in mm');
  });

  it('states the protocol, the command, the machine and the findings', () => {
    const md = renderResultsMarkdown(input);
    expect(md).toContain('`strict` protocol');
    expect(md).toContain('```sh\nnpm run build\nnode scripts/experiment.mjs --seeds 2\n```');
    expect(md).toContain(
      'Test CPU, 2 logical CPUs, 8 GiB RAM, linux x64; Node v20.0.0; TF.js 4.22.0, backend `cpu`, fast CPU kernels on (1 worker thread(s)). Compute time of all runs (training + evaluation, stage 1 counted once per seed): 95 min.',
    );
    expect(md).toContain('same stage-1 model of its seed');
    expect(md).toContain('CPAM vs supervised: +10.00 Dice points');
    expect(md).toContain('| CPAM | 2 | 82.00 | 72.00 | 3.00 | 0.75 | 1.50 s |');
    expect(md).not.toContain('Smoke configuration');
    expect(renderResultsMarkdown({ ...input, quick: true })).toContain('Smoke configuration');
  });

  it('describes the from-scratch baselines and missing distances when they apply', () => {
    const md = renderResultsMarkdown({
      ...input,
      setup: { ...input.setup, baselinesFromScratch: true },
      methods: [{ method: 'supervised', runs: [run(1, 0.5, null), run(2, 0.6, 4)] }],
    });
    expect(md).toContain(
      'supervised and mean teacher train from scratch for the same total of 500 iterations',
    );
    expect(md).toContain('Distances are left out where a prediction was empty (supervised: 2 case(s))');
    expect(md).toContain('| supervised | 1 | 50.00 | 40.00 | – | – | 1.00 s |');
  });
});

describe('msPerIterationFromCsv', () => {
  it('weights each logged row by the iterations it covers, per stage', () => {
    const csv = [
      'stage,iteration,lr,loss,loss_ce,val_dice,ms_per_iteration',
      'pretrain,5,0.05,0.5,0.4,,100',
      'pretrain,10,0.05,0.4,0.3,,200',
      'pretrain,12,0.05,0.3,0.2,,300',
      'selftrain,10,0.05,0.3,0.2,,1000',
      '',
    ].join('\n');
    // pretrain: (5·100 + 5·200 + 2·300) / 12
    expect(msPerIterationFromCsv(csv)).toEqual({ pretrain: 2100 / 12, selftrain: 1000 });
    expect(msPerIterationFromCsv('stage,iteration,ms_per_iteration\n')).toEqual({
      pretrain: null,
      selftrain: null,
    });
    expect(() => msPerIterationFromCsv('a,b\n1,2')).toThrow(/stage/);
  });
});

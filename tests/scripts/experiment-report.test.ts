import { describe, expect, it } from 'vitest';
import {
  findings,
  type Plan,
  type RunRecord,
  renderExperimentReport,
  summarizeDiagnostics,
} from '../../scripts/lib/experiment-report.mjs';

const plan: Plan = {
  version: 1,
  name: 'unit',
  data: { dataset: 'la', difficulty: 'hard', cases: 100, size: [64, 64, 40], synthSeed: 2024, val: 8 },
  settings: {
    labeled: 4,
    baseFilters: 8,
    dropout: 0.5,
    patch: [32, 32, 32],
    batch: 4,
    lr: 0.01,
    pretrainIterations: 300,
    selftrainIterations: 400,
    validationInterval: 50,
    teacherMode: 'train',
    backend: 'auto',
  },
  seeds: [1, 2, 3],
  methods: ['supervised', 'cpam-trcm', 'fully-supervised'],
  results: null,
};
const data = {
  fingerprint: 'abc',
  counts: { train: 72, labeled: 4, unlabeled: 68, val: 8, test: 20 },
  trueForegroundFraction: { patch: 0.12, volume: 0.05 },
};

function record(method: string, seed: number, dice: number): RunRecord {
  const kind = method === 'stage1' ? 'stage1' : method === 'fully-supervised' ? 'upper' : 'stage2';
  const p = { dice, jaccard: dice - 0.1, hd95: 5, asd: 1, missing: 0, empty: 0 };
  return {
    id: `${method}-s${seed}`,
    kind,
    method,
    seed,
    planHash: 'h',
    selection: { checkpoint: 'best', split: 'val', best: { dice: dice + 0.01, iteration: 350 } },
    test: { strict: p, paper: { ...p, dice: dice + 0.01 }, perCase: [] },
    diagnostics: {
      iterations: 400,
      pseudoForegroundFraction: method === 'cpam-trcm' ? 0.1 : null,
      emptyPseudoLabelFraction: method === 'cpam-trcm' ? 0.025 : null,
      reliableFraction: method === 'cpam-trcm' ? 0.9 : null,
    },
    stage1Sha256: kind === 'upper' ? null : 'x',
    timing: {
      msPerIteration: { pretrain: 300, selftrain: 1200 },
      trainSeconds: 600,
      evalSeconds: 20,
      kernelThreads: 1,
    },
    machine: { cpuModel: 'Test CPU', logicalCpus: 2, node: 'v20' },
    backend: { active: 'cpu', tfjsVersion: '4.22.0', fastKernels: true },
  };
}

const records = [
  ...[1, 2, 3].map((s) => record('stage1', s, 0.4)),
  record('supervised', 1, 0.5),
  record('supervised', 2, 0.52),
  record('supervised', 3, 0.54),
  record('cpam-trcm', 1, 0.56),
  record('cpam-trcm', 2, 0.59),
  record('cpam-trcm', 3, 0.6),
  ...[1, 2, 3].map((s) => record('fully-supervised', s, 0.8)),
];

describe('renderExperimentReport', () => {
  const md = renderExperimentReport({
    plan,
    data,
    records,
    notes: 'Hand-written words.',
    recordDir: 'experiments/unit',
    command: 'node scripts/experiment.mjs --name unit',
  });

  it('has the rows under both protocols with mean ± std over seeds', () => {
    expect(md).toContain('| supervised (few labels) | 52.00 ± 2.00 |');
    expect(md).toContain('| CPAM + TRCM | 58.33 ± 2.08 |');
    expect(md).toContain('| fully supervised (every training case labeled) | 80.00 ± 0.00 |');
    expect(md).toContain('## Test split, paper protocol');
    expect(md).toContain('| supervised (few labels) | 53.00 ± 2.00 |');
  });

  it('gives paired differences with t intervals and says whether they exclude 0', () => {
    // differences 6, 7, 6 points: mean 6.33, s 0.577, half width 4.3027·0.577/√3 = 1.43
    expect(md).toContain(
      '| CPAM + TRCM − supervised | unlabeled data, CPAM + TRCM (the paper) | +6.33 [+4.90, +7.77] |',
    );
    expect(md).toMatch(/CPAM \+ TRCM − supervised .*\| 3 \| greater than 0 \|/);
    expect(md).toContain('Headroom: every label adds +28.00 Dice points');
    expect(md).toContain('at least the 10 points a semi-supervised benchmark needs');
    expect(md).toContain(
      'CPAM + TRCM vs supervised: +6.33 points; the interval excludes 0: the unlabeled cases helped.',
    );
  });

  it('reports diagnostics, settings, data recipe, compute and the notes', () => {
    expect(md).toContain('| CPAM + TRCM | 10.00 | 2.5 | 90.0 |');
    expect(md).toContain(
      'True foreground fraction of a 32×32×32 training patch of the unlabeled cases (exact mean over every patch position): 12.00 %',
    );
    expect(md).toContain('teacher holds 0.99^400 = 1.8 % of the stage-1 weights');
    expect(md).toContain(
      'npx ssmis synth --dataset la --difficulty hard --cases 100 --size 64,64,40 --seed 2024 --format h5 --out raw-h5',
    );
    expect(md).toContain('--val 8');
    expect(md).toContain('4 labeled + 68 unlabeled training cases (5.6 % labeled;');
    expect(md).toContain('Hand-written words.');
    expect(md).toContain('12 of 12 planned runs are recorded');
    expect(md).toMatch(/Compute time of the recorded runs .*: 2\.07 h/);
  });

  it('says when the paper ordering cannot be checked and when an interval includes 0', () => {
    const mixed = [
      ...records.filter((r) => r.method !== 'cpam-trcm'),
      record('cpam-trcm', 1, 0.49),
      record('cpam-trcm', 2, 0.56),
      record('cpam-trcm', 3, 0.53),
    ];
    const text = renderExperimentReport({
      plan,
      data,
      records: mixed,
      notes: null,
      recordDir: '.',
      command: 'x',
    });
    expect(text).toMatch(
      /CPAM \+ TRCM vs supervised: \+0\.67 points; the interval includes 0: no effect is shown; the data are consistent with anything from a loss of \d+\.\d\d to a gain of \d+\.\d\d points\./,
    );
    expect(text).not.toContain('## Interpretation');
  });

  it('writes the data recipe as a synth command when the knobs are a preset, else as the library call', () => {
    const knobs = { preset: 'hard' as const, darkTargetProbability: 0.3 };
    const long = {
      ...plan,
      data: { ...plan.data, difficulty: knobs },
      settings: { ...plan.settings, selftrainIterations: 1000 },
    };
    const base = { data, records, notes: null, recordDir: '.', command: 'x' };
    const asPreset = renderExperimentReport({ ...base, plan: long, difficultyPreset: 'scarce' });
    expect(asPreset).toContain('The difficulty knobs of this plan are exactly those of the `scarce` preset.');
    expect(asPreset).toContain(
      'npx ssmis synth --dataset la --difficulty scarce --cases 100 --size 64,64,40 --seed 2024 --out raw',
    );
    expect(asPreset).toContain('teacher holds 0.99^1000 = 0.004 % of the stage-1 weights');
    const asKnobs = renderExperimentReport({ ...base, plan: long, difficultyPreset: null });
    expect(asKnobs).toContain(
      `await synthesize({ dataset: 'la', difficulty: {"preset":"hard","darkTargetProbability":0.3}, cases: 100, size: [64, 64, 40], seed: 2024, out: 'raw' });`,
    );
    expect(asKnobs).not.toContain('npx ssmis synth');
    expect(asKnobs).toContain(
      'npx ssmis prepare la --raw raw --out dataset --seed 2024 --min-size 32,32,32 --val 8',
    );
  });
});

describe('findings', () => {
  it('leaves a run without a test Dice out of the ordering means instead of counting it as 0', () => {
    const noDice = record('supervised', 2, 0.5);
    noDice.test.strict = { ...noDice.test.strict, dice: null };
    const rows = [
      record('cpam-trcm', 1, 0.6),
      record('cpam', 1, 0.58),
      record('bcp', 1, 0.56),
      record('supervised', 1, 0.5),
      noDice,
    ];
    expect(findings({}, rows)).toContainEqual(expect.stringContaining('supervised 50.00)'));
  });
});

describe('summarizeDiagnostics', () => {
  it('averages the logged diagnostics and counts empty pseudo-labels', () => {
    const d = summarizeDiagnostics([
      { diagnostics: { pseudoForegroundFraction: 0, reliableFraction: 0.8 } },
      { diagnostics: { pseudoForegroundFraction: 0.2, reliableFraction: 1 } },
      { diagnostics: {} },
      {},
    ]);
    expect(d.iterations).toBe(4);
    expect(d.pseudoForegroundFraction).toBeCloseTo(0.1, 12);
    expect(d.emptyPseudoLabelFraction).toBe(0.5);
    expect(d.reliableFraction).toBeCloseTo(0.9, 12);
    expect(summarizeDiagnostics([{ diagnostics: {} }]).pseudoForegroundFraction).toBeNull();
  });
});

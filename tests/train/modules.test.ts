import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { pretrainStep } from '../../src/method/variants/index.js';
import * as history from '../../src/train/history.js';
import { createOptimizer, SgdOptimizer } from '../../src/train/optimizer.js';
import { stagePlans } from '../../src/train/plan.js';
import type * as state from '../../src/train/state.js';
import * as trainModule from '../../src/train/train.js';

const rows: history.HistoryRow[] = [
  {
    stage: 'pretrain',
    iteration: 1,
    lr: 0.01,
    loss: 0.5,
    parts: { total: 0.5, dice: 0.3 },
    diagnostics: {},
    msPerIteration: 10,
  },
  {
    stage: 'selftrain',
    iteration: 2,
    lr: 0.005,
    loss: Number.NaN,
    parts: { ce: 0.1 },
    diagnostics: { reliableFraction: 0.75 },
    msPerIteration: 12.5,
    valDice: 0.8,
  },
];

describe('train module layout', () => {
  it('keeps historyToCsv and historyToSvg importable from train.ts (the ones of history.ts)', () => {
    expect(trainModule.historyToCsv).toBe(history.historyToCsv);
    expect(trainModule.historyToSvg).toBe(history.historyToSvg);
    expect(typeof trainModule.train).toBe('function');
  });

  it('metrics.csv: fixed columns, every loss part and diagnostic, empty cells for missing or non-finite values', () => {
    expect(history.historyToCsv(rows)).toBe(
      [
        'stage,iteration,lr,loss,loss_ce,loss_dice,reliableFraction,val_dice,ms_per_iteration',
        'pretrain,1,0.01,0.5,,0.3,,,10',
        'selftrain,2,0.005,,0.1,,0.75,0.8,12.5',
        '',
      ].join('\n'),
    );
  });

  it('curves.svg: a loss panel per stage on the global iteration and a validation Dice panel', () => {
    const svg = history.historyToSvg(rows, [
      { name: 'pretrain', iterations: 10 },
      { name: 'selftrain', iterations: 5 },
    ]);
    expect(svg).toContain('<svg');
    expect(svg).toContain('Training loss');
    expect(svg).toContain('pretrain loss');
    expect(svg).toContain('Validation Dice');
  });

  it('state.ts still exports the types history.ts and plan.ts now define', () => {
    const row: state.HistoryRow = rows[0];
    const stage: state.StageName = row.stage;
    expect(stage).toBe('pretrain');
  });
});

describe('stagePlans', () => {
  it("passes each stage's optimizer config as it is, and the variant each stage runs", () => {
    const config = parseConfig({
      run: { name: 'plans' },
      data: { dataset: 'data/la' },
      method: { name: 'cpam-trcm' },
      train: {
        stages: {
          pretrain: { iterations: 3, optimizer: { name: 'adam', lr: 0.001 } },
          selftrain: { iterations: 4 },
        },
      },
    });
    const plans = stagePlans(config);
    expect(plans.map((p) => [p.name, p.iterations])).toEqual([
      ['pretrain', 3],
      ['selftrain', 4],
    ]);
    expect(plans[0].optimizer).toBe(config.train.stages.pretrain.optimizer);
    expect(plans[1].optimizer).toBe(config.train.stages.selftrain.optimizer);
    expect(plans[0].variant).toBe(pretrainStep);
    expect(plans[1].schedule).toBe(config.train.stages.selftrain.schedule);
    const optimizer = createOptimizer(plans[1].optimizer);
    expect(optimizer).toBeInstanceOf(SgdOptimizer);
    const spec = config.train.stages.selftrain.optimizer;
    expect(spec.name === 'sgd' && (optimizer as SgdOptimizer).momentum === spec.momentum).toBe(true);
    optimizer.dispose();
  });

  it('leaves out a disabled stage', () => {
    const config = parseConfig({
      run: { name: 'plans' },
      data: { dataset: 'data/la' },
      train: { stages: { pretrain: { enabled: false } } },
    });
    expect(stagePlans(config).map((p) => p.name)).toEqual(['selftrain']);
  });
});

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pairedDifference, sampleStd } from '../../src/eval/stats.js';
import { collectRuns } from '../../src/sweep/collect.js';
import {
  collectionCsv,
  collectionJson,
  collectionMarkdown,
  paperTable,
} from '../../src/sweep/collect-format.js';
import { expandSweep, parseGridFlag, writeSweep } from '../../src/sweep/plan.js';

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'ssmis-collect-'));
}

interface FakeRun {
  method: string;
  seed: number;
  dice?: number;
  percent?: number;
  protocol?: string;
  /** Training ended (a `done` line in the log). */
  done?: boolean;
  /** Write eval/summary.json. */
  evaluated?: boolean;
  lastLogLine?: string;
}

/** A run folder as training leaves it: marker, resolved config, log, and the final evaluation's summary. */
function fakeRun(runDir: string, r: FakeRun): void {
  mkdirSync(path.join(runDir, 'checkpoints'), { recursive: true });
  writeFileSync(
    path.join(runDir, '.ssmis-run'),
    JSON.stringify({ tool: 'ssmis', version: '0', created: '', run: 'x' }),
  );
  writeFileSync(
    path.join(runDir, 'config.yaml'),
    [
      `run: { name: ${path.basename(runDir)}, outputDir: ${path.dirname(runDir)} }`,
      `data: { dataset: /nonexistent, preset: la, patchSize: [32, 32, 16], labeled: { percent: ${r.percent ?? 10} } }`,
      'model: { name: vnet, baseFilters: 2 }',
      `method: { name: ${r.method} }`,
      `train: { seed: ${r.seed}, batch: { labeled: 2, unlabeled: 2 } }`,
    ].join('\n'),
  );
  const done = r.done ?? true;
  writeFileSync(
    path.join(runDir, 'log.jsonl'),
    `${JSON.stringify({ level: 30, event: 'start' })}\n${done ? `${JSON.stringify({ level: 30, event: 'done' })}\n` : ''}`,
  );
  if (done && (r.evaluated ?? true)) {
    mkdirSync(path.join(runDir, 'eval'), { recursive: true });
    const d = r.dice ?? 0.8;
    writeFileSync(
      path.join(runDir, 'eval', 'summary.json'),
      JSON.stringify({
        protocol: r.protocol ?? 'strict',
        units: 'mm',
        numCases: 20,
        classes: [],
        classMean: { dice: d, jaccard: d - 0.1, hd95: 10 * (1 - d), hd: 20, asd: 2 * (1 - d), assd: 1 },
        largestComponent: { enabled: false, connectivity: null },
        selection: { split: 'val', checkpoint: 'best' },
        source: { mode: 'model', dataset: 'ds', split: 'test' },
      }),
    );
  }
}

describe('collectRuns on a folder of run folders', () => {
  const dice = {
    supervised: [0.7, 0.74, 0.72],
    bcp: [0.75, 0.78, 0.8],
  };

  function folder(): string {
    const dir = tmp();
    for (const method of ['supervised', 'bcp'] as const) {
      for (const [i, d] of dice[method].entries()) {
        fakeRun(path.join(dir, `${method}-${i + 1}`), { method, seed: i + 1, dice: d });
      }
    }
    return dir;
  }

  it('groups runs by setting: mean ± sample std over seeds, the varying keys as the label', async () => {
    const c = await collectRuns(folder());
    expect(c.labelKeys).toEqual(['method.name']);
    expect(c.settings.map((s) => s.label).sort()).toEqual(['method.name=bcp', 'method.name=supervised']);
    const bcp = c.settings.find((s) => s.setting['method.name'] === 'bcp');
    expect(bcp?.seeds).toEqual([1, 2, 3]);
    expect(bcp?.metrics.dice.mean).toBeCloseTo((0.75 + 0.78 + 0.8) / 3, 12);
    expect(bcp?.metrics.dice.std).toBeCloseTo(sampleStd(dice.bcp) as number, 12);
    expect(bcp?.protocols).toEqual([
      'strict, mm, largest component off, selected on val, test split (20 cases)',
    ]);
  });

  it('pairs by seed against the baseline, with the 95 % t interval', async () => {
    const c = await collectRuns(folder(), { baseline: 'method.name=supervised' });
    expect(c.differences).toHaveLength(1);
    const d = c.differences[0];
    expect(d.setting).toBe('method.name=bcp');
    expect(d.baseline).toBe('method.name=supervised');
    const expected = pairedDifference(
      new Map(dice.bcp.map((v, i) => [i + 1, v])),
      new Map(dice.supervised.map((v, i) => [i + 1, v])),
    );
    expect(d.metrics?.dice.mean).toBeCloseTo(expected.mean as number, 12);
    expect(d.metrics?.dice.low).toBeCloseTo(expected.low as number, 12);
    expect(d.metrics?.dice.high).toBeCloseTo(expected.high as number, 12);
    const md = collectionMarkdown(c);
    expect(md).toContain('| method.name=bcp | 3/3 | 0.7767 ± 0.0252 |');
    expect(md).toMatch(
      /\| method.name=bcp \| method.name=supervised \| 3 \| \+0.0567 \[\+0\.\d{4}, \+0\.\d{4}\] \|/,
    );
    expect(md).toContain('Protocol of every finished run: strict, mm');
    const csv = collectionCsv(c).split('\n');
    expect(csv[0]).toContain('setting,method.name,seeds,runs,dice_mean,dice_std');
    expect(csv[0]).toContain('dice_diff,dice_diff_low,dice_diff_high');
    expect(JSON.parse(collectionJson(c)).differences[0].metrics.dice.n).toBe(3);
  });

  it('refuses a baseline that does not name a setting', async () => {
    const dir = folder();
    await expect(collectRuns(dir, { baseline: 'method.name=cpam' })).rejects.toThrow(
      /^--baseline method.name=cpam: no setting has method.name=cpam \(found bcp, supervised\)/,
    );
    await expect(collectRuns(dir, { baseline: 'train.seed=1' })).rejects.toThrow(
      /does not tell the settings apart/,
    );
    await expect(collectRuns(dir, { baseline: 'supervised' })).rejects.toThrow(/expected key=value/);
  });

  it('does not compare runs scored under another protocol, and says so', async () => {
    const dir = tmp();
    fakeRun(path.join(dir, 'a1'), { method: 'supervised', seed: 1 });
    fakeRun(path.join(dir, 'b1'), { method: 'bcp', seed: 1, protocol: 'paper' });
    const c = await collectRuns(dir, { baseline: 'method.name=supervised' });
    expect(c.differences[0].metrics).toBeNull();
    expect(c.differences[0].note).toMatch(/another protocol/);
    expect(collectionMarkdown(c)).toContain('different protocols');
  });

  it('lists unfinished and unevaluated runs instead of counting them', async () => {
    const dir = folder();
    fakeRun(path.join(dir, 'bcp-4'), { method: 'bcp', seed: 4, done: false });
    fakeRun(path.join(dir, 'bcp-5'), { method: 'bcp', seed: 5, evaluated: false });
    const c = await collectRuns(dir);
    expect(c.runs.find((r) => r.name === 'bcp-4')?.status).toBe('unfinished');
    expect(c.runs.find((r) => r.name === 'bcp-5')?.status).toBe('unevaluated');
    const bcp = c.settings.find((s) => s.setting['method.name'] === 'bcp');
    expect(bcp?.seeds).toEqual([1, 2, 3]);
    expect(bcp?.runs).toBe(5);
    const md = collectionMarkdown(c);
    expect(md).toContain('## Missing or failed');
    expect(md).toContain('- bcp-4: unfinished');
    expect(md).toContain('- bcp-5: unevaluated');
  });

  it('refuses a folder without runs', async () => {
    await expect(collectRuns(tmp())).rejects.toThrow(/holds no run folder/);
  });
});

describe('collectRuns on a sweep folder', () => {
  it('names the runs of the plan that are missing, and the failure line of an unfinished run', async () => {
    const dir = tmp();
    const base = path.join(dir, 'base.yaml');
    writeFileSync(
      base,
      [
        'run: { name: b }',
        'data: { dataset: /nonexistent, preset: la, patchSize: [32, 32, 16], labeled: { percent: 5 } }',
        'model: { name: vnet, baseFilters: 2 }',
        'train: { batch: { labeled: 2, unlabeled: 2 } }',
      ].join('\n'),
    );
    const out = path.join(dir, 'sweep');
    const plan = await expandSweep({
      config: base,
      grid: [parseGridFlag('method.name=supervised,bcp')],
      seeds: [1, 2],
      set: [],
      out,
    });
    await writeSweep(plan);
    const [s1, s2, b1] = plan.runs;
    fakeRun(s1.runDir, { method: 'supervised', seed: 1, percent: 5 });
    fakeRun(s2.runDir, { method: 'supervised', seed: 2, percent: 5 });
    fakeRun(b1.runDir, { method: 'bcp', seed: 1, percent: 5, done: false });
    mkdirSync(plan.paths.logs, { recursive: true });
    writeFileSync(
      path.join(plan.paths.logs, `${b1.name}.log`),
      'training...\nssmis: the loss became NaN at iteration 3\n',
    );
    let c = await collectRuns(out, { baseline: 'method.name=supervised' });
    expect(c.labelKeys).toEqual(['method.name']);
    expect(c.runs.map((r) => r.status)).toEqual(['finished', 'finished', 'unfinished', 'missing']);
    expect(c.runs[2].note).toBe('ssmis: the loss became NaN at iteration 3');
    expect(c.differences[0].metrics?.dice.n).toBe(0);
    const md = collectionMarkdown(c);
    expect(md).toContain('4 runs: 2 finished, 1 unfinished, 1 missing');
    expect(md).toContain(`- ${plan.runs[3].name}: missing`);

    // A run still training: its log ends with progress, which is no failure.
    writeFileSync(path.join(plan.paths.logs, `${b1.name}.log`), 'selftrain 3/90 3% ETA 5m loss 0.3\n');
    c = await collectRuns(out);
    expect(c.runs[2].status).toBe('unfinished');
    expect(c.runs[2].note).toBeNull();
  });
});

describe('paperTable', () => {
  it('rows are methods, columns label ratios, each with Dice and Jaccard in % and the two distances', async () => {
    const dir = tmp();
    for (const [method, percent, seed, d] of [
      ['supervised', 5, 1, 0.7],
      ['supervised', 5, 2, 0.72],
      ['supervised', 10, 1, 0.8],
      ['cpam-trcm', 5, 1, 0.85],
      ['cpam-trcm', 10, 1, 0.9],
    ] as const) {
      fakeRun(path.join(dir, `${method}-${percent}-${seed}`), { method, seed, percent, dice: d });
    }
    const c = await collectRuns(dir);
    expect(c.labelKeys.sort()).toEqual(['data.labeled.percent', 'method.name']);
    const table = paperTable(c).split('\n');
    expect(table[0]).toBe(
      '| Method | 5 % Dice (%) | 5 % Jaccard (%) | 5 % 95HD (mm) | 5 % ASD (mm) | 10 % Dice (%) | 10 % Jaccard (%) | 10 % 95HD (mm) | 10 % ASD (mm) |',
    );
    expect(table[3]).toBe(
      '| supervised | 71.00 ± 1.41 | 61.00 ± 1.41 | 2.90 ± 0.14 | 0.58 ± 0.03 | 80.00 | 70.00 | 2.00 | 0.40 |',
    );
    expect(table[2]).toBe('| cpam-trcm | 85.00 | 75.00 | 1.50 | 0.30 | 90.00 | 80.00 | 1.00 | 0.20 |');
    // A grid key as the columns.
    const byKey = paperTable(c, { columns: 'data.labeled.percent' }).split('\n');
    expect(byKey[0]).toContain('| 5 Dice (%) |');
  });
});

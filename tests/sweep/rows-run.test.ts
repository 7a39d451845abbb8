/**
 * A tiny sweep with named rows trained by the local runner (a stage-1-only row beside a method's row), then
 * collected: the row is the label key that tells the settings apart, and the baseline is a row.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectRuns } from '../../src/sweep/collect.js';
import { runSweepLocally } from '../../src/sweep/local.js';
import { expandSweep, writeSweep } from '../../src/sweep/plan.js';
import { ssmisEnv, tinySweepBase } from './tiny-sweep.js';

const bin = new URL('../../bin/ssmis.js', import.meta.url).pathname;

describe('a sweep with rows', () => {
  it('ssmis sweep --row: rows × seeds in the dry run, and a malformed row is one line, exit 2', async () => {
    const { root, config } = await tinySweepBase();
    const out = path.join(root, 'cli-rows');
    const args = ['sweep', '--config', config, '--seeds', '1-2', '--out', out, '--dry-run'];
    const dry = await ssmisEnv([
      ...args,
      '--row',
      'sup:method.name=supervised',
      '--row',
      'upper:method.name=supervised,data.labeled.count=null,data.labeled.percent=100,train.batch.unlabeled=0',
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.split('\n').map((l) => l.split('\t')[0])).toEqual([
      'tiny-sup-seed_1',
      'tiny-sup-seed_2',
      'tiny-upper-seed_1',
      'tiny-upper-seed_2',
      '',
    ]);
    const bad = await ssmisEnv([...args, '--row', 'upper']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^ssmis: --row upper: expected name:key=value,key=value/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  }, 300_000);

  it('trains every row × seed (one seed here) and collect compares the rows', async () => {
    const { root, config } = await tinySweepBase();
    const out = path.join(root, 'rows');
    const plan = await expandSweep({
      config,
      rows: [
        { name: 'stage1', set: ['train.stages.selftrain.enabled=false'] },
        { name: 'sup', set: ['method.name=supervised'] },
      ],
      grid: [],
      seeds: [1],
      set: [],
      out,
    });
    await writeSweep(plan);
    const summary = await runSweepLocally(plan, {
      parallel: 1,
      bin,
      env: { ...process.env, SSMIS_THREADS: '1' },
    });
    expect(summary).toMatchObject({ total: 2, finished: 2, failed: 0 });
    const collection = await collectRuns(out, { baseline: 'row=stage1' });
    expect(collection.labelKeys).toEqual(['row']);
    expect(collection.settings.map((s) => [s.label, s.seeds])).toEqual([
      ['row=stage1', [1]],
      ['row=sup', [1]],
    ]);
    expect(collection.differences).toHaveLength(1);
    expect(collection.differences[0]).toMatchObject({
      setting: 'row=sup',
      baseline: 'row=stage1',
      note: null,
    });
    expect(collection.differences[0].metrics?.dice.n).toBe(1);
    expect(collection.runs.map((r) => r.name)).toEqual(['tiny-stage1-seed_1', 'tiny-sup-seed_1']);
  }, 900_000);
});

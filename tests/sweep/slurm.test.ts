import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandSweep, parseGridFlag } from '../../src/sweep/plan.js';
import { arraySpec, parseSlurmResources, slurmScript, submitSlurm } from '../../src/sweep/slurm.js';

async function plan() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ssmis-slurm-'));
  const base = path.join(dir, 'base.yaml');
  writeFileSync(
    base,
    [
      'run: { name: la }',
      'data: { dataset: ds, preset: la, patchSize: [32, 32, 16], labeled: { count: 2 } }',
      'model: { name: vnet, baseFilters: 2 }',
      'train: { batch: { labeled: 2, unlabeled: 2 } }',
    ].join('\n'),
  );
  return expandSweep({
    config: base,
    grid: [parseGridFlag('method.name=supervised,bcp')],
    seeds: [1, 2],
    set: [],
    out: path.join(dir, 'sweep'),
  });
}

describe('Slurm job arrays', () => {
  it('array specs: ranges, lists and the throttle', () => {
    expect(arraySpec([0, 1, 2, 3])).toBe('0-3');
    expect(arraySpec([3, 1])).toBe('1,3');
    expect(arraySpec([0, 1, 2, 5, 7, 8], 2)).toBe('0-2,5,7-8%2');
  });

  it('the script maps the task id to the run config written beforehand, with resources and per-run logs', async () => {
    const p = await plan();
    const text = slurmScript(p, {
      resources: { partition: 'gpu', time: '12:00:00', cpus: 8, mem: '32G', gpus: '1' },
      node: '/usr/bin/node',
      bin: '/opt/ssmis/bin/ssmis.js',
      parallel: 2,
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    for (const directive of [
      '#SBATCH --array=0-3%2',
      `#SBATCH --output=${p.paths.logs}/slurm-%A_%a.out`,
      '#SBATCH --partition=gpu',
      '#SBATCH --time=12:00:00',
      '#SBATCH --cpus-per-task=8',
      '#SBATCH --mem=32G',
      '#SBATCH --gpus=1',
    ]) {
      expect(lines).toContain(directive);
    }
    for (const run of p.runs) expect(text).toContain(`'${run.name}.yaml'`);
    expect(text).toContain(`CONFIG="\${CONFIGS[$SLURM_ARRAY_TASK_ID]}"`);
    expect(text).toContain(`LOG='${p.paths.logs}'/"\${CONFIG%.yaml}.log"`);
    expect(text).toContain(
      `exec '/usr/bin/node' '/opt/ssmis/bin/ssmis.js' sweep-task '${p.paths.configs}'/"$CONFIG"`,
    );
    // Without resources, no directive the cluster's defaults should decide.
    const bare = slurmScript(p, { resources: {}, node: 'n', bin: 'b' });
    expect(bare).not.toMatch(/--partition|--time|--mem|--gpus|--cpus-per-task/);
  });

  it('refuses resources that are not what sbatch takes, naming the field', () => {
    expect(parseSlurmResources({ time: 90, mem: 16000, gpus: 'a100:2' }, 'x')).toEqual({
      time: '90',
      mem: '16000',
      gpus: 'a100:2',
    });
    expect(() => parseSlurmResources({ time: '1 day' }, '--slurm-* flags')).toThrow(
      /^--slurm-\* flags: time: expected minutes, HH:MM:SS or D-HH:MM:SS/,
    );
    expect(() => parseSlurmResources({ mem: '16 GB' }, 'f')).toThrow(/mem: expected megabytes/);
    expect(() => parseSlurmResources({ nodes: 2 }, 'f')).toThrow(/^f: .*nodes/);
  });

  it('says what to do when sbatch is not there', async () => {
    await expect(
      submitSlurm('/nonexistent.sbatch', { indices: [0], sbatch: '/nonexistent/sbatch' }),
    ).rejects.toThrow(
      /cannot run \/nonexistent\/sbatch \(ENOENT\): is this a Slurm login node\? --dry-run writes the script/,
    );
  });
});

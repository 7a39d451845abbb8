import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { snapshot, ssmisEnv, tinySweepBase } from '../sweep/tiny-sweep.js';

let base: { root: string; config: string };

beforeAll(async () => {
  base = await tinySweepBase();
});

describe('ssmis sweep on this machine, then ssmis collect', () => {
  it('--help lists sweep, sweep-task and collect', async () => {
    const { code, stdout } = await ssmisEnv(['--help']);
    expect(code).toBe(0);
    for (const command of ['sweep', 'sweep-task', 'collect'])
      expect(stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
  });

  it('2 methods × 2 seeds with --parallel 2, the table, and a re-run that skips every finished run', async () => {
    const out = path.join(base.root, 'sweep-local');
    const args = [
      'sweep',
      '--config',
      base.config,
      '--grid',
      'method.name=supervised,bcp',
      '--seeds',
      '1-2',
      '--parallel',
      '2',
      '--out',
      out,
    ];
    const first = await ssmisEnv(args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('4 runs in');
    expect(first.stderr).toContain('2 at once, SSMIS_THREADS=');
    const names = [
      'tiny-method.name_supervised-seed_1',
      'tiny-method.name_supervised-seed_2',
      'tiny-method.name_bcp-seed_1',
      'tiny-method.name_bcp-seed_2',
    ];
    for (const name of names)
      expect(first.stderr).toMatch(new RegExp(`\\] finished ${name} in .*: Dice \\d\\.\\d{4}`));
    expect(first.stdout).toContain('4 runs: 4 trained, 0 skipped (finished earlier), 0 failed');
    // Each run trained its own config, in its own folder.
    const config = readFileSync(path.join(out, 'runs', names[2], 'config.yaml'), 'utf8');
    expect(config).toMatch(/name: bcp/);
    expect(config).toMatch(/seed: 1\n/);

    const table = await ssmisEnv(['collect', out, '--baseline', 'method.name=supervised']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('4 runs: 4 finished.');
    expect(table.stdout).toMatch(/\| method.name=supervised \| 2\/2 \| \d\.\d{4}/);
    expect(table.stdout).toMatch(/\| method.name=bcp \| 2\/2 \| \d\.\d{4}/);
    expect(table.stdout).toContain('## Against method.name=supervised');
    expect(table.stdout).toMatch(/\| method.name=bcp \| method.name=supervised \| 2 \| [+−]\d\.\d{4} \[/);
    expect(table.stdout).toContain('strict, mm, largest component off, selected on test, test split');
    const paper = await ssmisEnv(['collect', out, '--layout', 'paper']);
    expect(paper.code, paper.stderr).toBe(0);
    expect(paper.stdout).toMatch(
      /^\| Method \| 40 % Dice \(%\) \| 40 % Jaccard \(%\) \| 40 % 95HD \(mm\) \| 40 % ASD \(mm\) \|/,
    );
    const csv = await ssmisEnv(['collect', out, '--format', 'csv']);
    expect(csv.stdout.split('\n')[0]).toMatch(/^setting,method.name,seeds,runs,dice_mean,dice_std/);

    // The same command again: every run finished, nothing is trained or written.
    const before = snapshot(out);
    const again = await ssmisEnv(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('4 runs: 0 trained, 4 skipped (finished earlier), 0 failed');
    expect(snapshot(out)).toEqual(before);
    // Four trainings as separate processes: about a minute on an idle 2-core machine, much more on a busy one.
  }, 900_000);

  it('resumes an interrupted run: a run killed at a checkpoint fails, the same command continues it', async () => {
    const out = path.join(base.root, 'sweep-resume');
    const args = [
      'sweep',
      '--config',
      base.config,
      '--grid',
      'method.name=bcp',
      '--seeds',
      '3',
      '--out',
      out,
    ];
    const killed = await ssmisEnv(args, { SSMIS_FAULT_INJECT: 'checkpoint:3' });
    expect(killed.code, killed.stderr).toBe(1);
    expect(killed.stderr).toMatch(/\[1\/1\] FAILED tiny-method.name_bcp-seed_3/);
    expect(killed.stdout).toContain('1 runs: 0 trained, 0 skipped (finished earlier), 1 failed');
    const table = await ssmisEnv(['collect', out]);
    expect(table.stdout).toContain('- tiny-method.name_bcp-seed_3: unfinished');

    const resumed = await ssmisEnv(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('1 runs: 1 trained');
    const log = readFileSync(path.join(out, 'logs', 'tiny-method.name_bcp-seed_3.log'), 'utf8');
    expect(log).toContain(`ssmis train --resume ${path.join(out, 'runs', 'tiny-method.name_bcp-seed_3')}`);
    expect(log).toMatch(/resuming in /);
    expect((await ssmisEnv(['collect', out])).stdout).toContain('1 run: 1 finished.');
  });

  it('refuses bad input with one line and exit 2, writing nothing', async () => {
    const out = path.join(base.root, 'sweep-bad');
    let r = await ssmisEnv([
      'sweep',
      '--config',
      base.config,
      '--grid',
      'method.name=bcp,nope',
      '--out',
      out,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^ssmis: sweep run tiny-method.name_nope-seed_\d+ \(method.name=nope, seed \d+\): /,
    );
    r = await ssmisEnv(['sweep', '--config', base.config, '--seeds', '2-1', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ssmis: --seeds 2-1: the range 2-1 must run upwards');
    r = await ssmisEnv(['sweep', '--config', base.config, '--slurm-cpus', '4', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--slurm-* flags describe the job array of --slurm');
    expect(snapshot(out).size).toBe(0);
    r = await ssmisEnv(['collect', base.root, '--format', 'xml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--format: expected md, csv or json, got 'xml'");
  });

  it('--slurm --dry-run writes the job array script without submitting it', async () => {
    const out = path.join(base.root, 'sweep-dry');
    const r = await ssmisEnv([
      'sweep',
      '--config',
      base.config,
      '--grid',
      'method.name=supervised,bcp',
      '--out',
      out,
      '--slurm',
      '--dry-run',
      '--slurm-time',
      '30',
      '--slurm-mem',
      '4G',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const script = readFileSync(path.join(out, 'slurm', 'sweep.sbatch'), 'utf8');
    expect(script).toContain('#SBATCH --array=0-1\n');
    expect(script).toContain('#SBATCH --time=30\n');
    expect(script).toContain('#SBATCH --mem=4G\n');
    expect(r.stdout).toContain(`wrote ${path.join(out, 'slurm', 'sweep.sbatch')} (2 tasks)`);
    expect(snapshot(path.join(out, 'runs')).size).toBe(0);
  });

  it('reads a sweep file, its slurm section giving the resources and flags overriding it', async () => {
    const file = path.join(base.root, 'table.yaml');
    writeFileSync(
      file,
      [
        'config: tiny.yaml',
        'grid: { method.name: [supervised, bcp, cpam-trcm] }',
        'seeds: [1, 2]',
        'out: sweep-file',
        'slurm: { partition: gpu, time: "2:00:00", cpus: 4, gpus: 1 }',
      ].join('\n'),
    );
    const r = await ssmisEnv(
      ['sweep', '--file', file, '--slurm', '--dry-run', '--slurm-time', '30', '--parallel', '3'],
      {},
      base.root,
    );
    expect(r.code, r.stderr).toBe(0);
    const script = readFileSync(path.join(base.root, 'sweep-file', 'slurm', 'sweep.sbatch'), 'utf8');
    for (const line of ['--array=0-5%3', '--partition=gpu', '--time=30', '--cpus-per-task=4', '--gpus=1']) {
      expect(script).toContain(`#SBATCH ${line}\n`);
    }
    expect(script).toContain("'tiny-method.name_cpam-trcm-seed_2.yaml'");
  });
});

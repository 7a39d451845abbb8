import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ssmisEnv, tinySweepBase } from '../sweep/tiny-sweep.js';

/** Whether a Slurm cluster answers here with a node that can run jobs (`.ci/slurm-up` starts one). */
function slurmCluster(): { ok: boolean; why: string } {
  const r = spawnSync('sinfo', ['-h', '-N', '-o', '%T'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error)
    return {
      ok: false,
      why: `sinfo cannot be run (${(r.error as { code?: string }).code ?? r.error.message})`,
    };
  if (r.status !== 0)
    return { ok: false, why: `sinfo failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
  const states = r.stdout.trim().split('\n');
  if (!states.some((s) => /^(idle|mixed|allocated|completing)/.test(s))) {
    return { ok: false, why: `no node can run jobs (node states: ${states.join(', ') || 'none'})` };
  }
  return { ok: true, why: '' };
}

const cluster = slurmCluster();
// In CI the cluster is part of the set-up (.ci/run starts it): its absence is a failure, not a reason to skip.
const required = process.env.CI === 'true';
const title = 'submits a 2-task job array of tiny runs to the local Slurm cluster and collects them';

describe('ssmis sweep --slurm on a real Slurm cluster', () => {
  if (!cluster.ok && !required) {
    it.skip(`${title} (skipped: ${cluster.why}; start one with .ci/slurm-up as root)`, () => {});
    return;
  }
  it(title, async () => {
    expect(
      cluster.ok,
      `CI=true but no Slurm cluster answers: ${cluster.why} (.ci/run starts one with .ci/slurm-up)`,
    ).toBe(true);
    const base = await tinySweepBase();
    const out = path.join(base.root, 'sweep-slurm');
    const args = [
      'sweep',
      '--config',
      base.config,
      '--grid',
      'method.name=supervised,bcp',
      '--seeds',
      '1',
      '--out',
      out,
      '--slurm',
      '--wait',
      '--slurm-cpus',
      '1',
      '--slurm-time',
      '20',
    ];
    const r = await ssmisEnv(args);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    expect(r.stderr).toMatch(/submitted job array \d+: 2 tasks; logs in /);
    expect(r.stdout).toMatch(/job \d+ ended: 2 of 2 runs finished/);
    const script = readFileSync(path.join(out, 'slurm', 'sweep.sbatch'), 'utf8');
    expect(script).toContain('#SBATCH --array=0-1\n');
    for (const name of ['tiny-method.name_supervised-seed_1', 'tiny-method.name_bcp-seed_1']) {
      const log = readFileSync(path.join(out, 'logs', `${name}.log`), 'utf8');
      expect(log).toMatch(/slurm job \d+_[01] on /);
      expect(log).toContain('sweep-task: ssmis train --config');
      expect(existsSync(path.join(out, 'runs', name, 'eval', 'summary.json'))).toBe(true);
    }

    const table = await ssmisEnv(['collect', out, '--baseline', 'method.name=supervised']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('2 runs: 2 finished.');
    expect(table.stdout).toMatch(/\| method.name=bcp \| method.name=supervised \| 1 \| [+−]\d\.\d{4} \|/);

    // Submitting again submits nothing: both runs finished.
    const again = await ssmisEnv(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing submitted');
  }, 600_000);
});

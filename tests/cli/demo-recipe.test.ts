import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = path.resolve(new URL('../..', import.meta.url).pathname);
const bin = path.join(repo, 'bin', 'ssmis.js');

/** The `by hand:` recipe in the comment at the top of configs/demo.yaml, as a list of ssmis commands. */
function demoRecipe(): string[][] {
  const comment = readFileSync(path.join(repo, 'configs', 'demo.yaml'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('#'))
    .map((line) => line.slice(1).trim())
    .join(' ');
  const start = comment.indexOf('by hand:');
  expect(start).toBeGreaterThanOrEqual(0);
  const recipe = comment.slice(start + 'by hand:'.length, comment.indexOf('Differences from'));
  return recipe.split('&&').map((command) => command.trim().split(/\s+/));
}

async function ssmisIn(
  cwd: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('configs/demo.yaml', () => {
  it('the recipe in its comment runs as written (a single --min-size number applies to every axis)', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'ssmis-demo-recipe-'));
    symlinkSync(path.join(repo, 'configs'), path.join(cwd, 'configs'));
    const commands = demoRecipe();
    expect(commands.map((c) => c.slice(0, 2).join(' '))).toEqual([
      'ssmis synth',
      'ssmis prepare',
      'ssmis train',
    ]);
    for (const [index, [program, ...args]] of commands.entries()) {
      expect(program).toBe('ssmis');
      const resolved = args.map((a) => a.replaceAll('$PWD', cwd));
      // The training step keeps every argument of the recipe; only its length (and so the validation interval) is
      // cut for the test.
      const extra =
        index === 2
          ? [
              '--set',
              'train.stages.pretrain.iterations=2',
              '--set',
              'train.stages.selftrain.iterations=2',
              '--set',
              'train.validation.interval=2',
              '--set',
              `run.outputDir=${path.join(cwd, 'runs')}`,
            ]
          : [];
      const r = await ssmisIn(cwd, [...resolved, ...extra]);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
      if (index === 1) {
        expect(r.stdout).toMatch(/prepared 24, skipped 0 \(already done\), failed 0/);
        expect(r.stdout).toMatch(/validation split: 3 case\(s\) held out of the train list/);
      }
      if (index === 2) expect(r.stdout).toContain('model selection: val split');
    }
  });

  it('gets no warning from ssmis validate (no train-mode forward of a single sample) and selects on val', async () => {
    const r = await ssmisIn(repo, ['validate', '--config', 'configs/demo.yaml']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.trim()).toBe('configs/demo.yaml: valid');
    expect(r.stdout).toMatch(/validation:\n\s+interval: 15\n\s+split: val\n/);
    expect(r.stdout).toMatch(/batch:\n\s+labeled: 4\n\s+unlabeled: 4\n/);
  });
});

describe('ssmis demo', () => {
  it('holds out validation cases, selects on them and evaluates on the test cases', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'ssmis-demo-'));
    const r = await ssmisIn(repo, [
      'demo',
      '--out',
      out,
      '--cases',
      '12',
      '--set',
      'train.stages.pretrain.iterations=2',
      '--set',
      'train.stages.selftrain.iterations=2',
      '--set',
      'train.validation.interval=2',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(path.join(out, 'dataset', 'dataset.json'), 'utf8')) as {
      splits: { train: string[]; val: string[]; test: string[] };
    };
    expect([json.splits.train.length, json.splits.val.length, json.splits.test.length]).toEqual([5, 3, 4]);
    expect(r.stderr).toContain('4 labeled, 1 unlabeled cases');
    expect(r.stdout).toContain('model selection: val split');
    expect(r.stdout).toContain('· 4 cases');
    expect(readdirSync(path.join(out, 'runs', 'demo', 'checkpoints'))).toContain('best.safetensors');
    const small = await ssmisIn(repo, ['demo', '--cases', '11']);
    expect(small.code).toBe(2);
    expect(small.stderr.trim()).toBe("ssmis: --cases: expected an integer of at least 12, got '11'");
  });
});

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
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
      // The training step keeps every argument of the recipe; only its length is cut for the test.
      const extra =
        index === 2
          ? [
              '--set',
              'train.stages.pretrain.iterations=2',
              '--set',
              'train.stages.selftrain.iterations=2',
              '--set',
              `run.outputDir=${path.join(cwd, 'runs')}`,
            ]
          : [];
      const r = await ssmisIn(cwd, [...resolved, ...extra]);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
      if (index === 1) expect(r.stdout).toMatch(/prepared 24, skipped 0 \(already done\), failed 0/);
    }
  });
});

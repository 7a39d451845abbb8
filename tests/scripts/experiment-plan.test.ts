/**
 * A new experiment plan is checked with the library's rules before it is written: a bad option is one line, exit 2,
 * and no record folder (which every later invocation would otherwise refuse). Runs against dist/.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = path.resolve('scripts/experiment.mjs');
const root = mkdtempSync(path.join(os.tmpdir(), 'ssmis-experiment-plan-'));

afterAll(() => rmSync(root, { recursive: true, force: true }));

async function experiment(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run(process.execPath, [script, ...args]);
    return { code: 0, stderr };
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('scripts/experiment.mjs refuses a bad plan before writing it', () => {
  it.each([
    [['--backend', 'gpuX'], /^experiment: backend\.name: expected one of .*got string "gpuX"$/],
    [['--difficulty', 'extreme'], /^experiment: --difficulty: difficulty must be standard, hard or scarce/],
    [
      ['--difficulty', '{"noiseSigma":[5,2]}'],
      /^experiment: --difficulty: difficulty\.noiseSigma must be a range/,
    ],
    // The config layer lists every problem of a config, one per line, after one heading line.
    [
      ['--patch', '20'],
      /^experiment: 6 problems in the configuration:\n {2}data\.patchSize\[0\]: expected a multiple of 16/,
    ],
  ])('%j: exit 2, the problem named, no record', async (args, message) => {
    const record = path.join(root, `record-${args.join('-').replace(/[^a-z0-9]/gi, '')}`);
    const res = await experiment([
      '--name',
      'bad',
      ...args,
      '--record',
      record,
      '--work',
      path.join(root, 'work'),
      '--estimate',
    ]);
    expect(res.code).toBe(2);
    if (!args.includes('--patch')) expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr.trim()).toMatch(message);
    expect(existsSync(record)).toBe(false);
  });
});

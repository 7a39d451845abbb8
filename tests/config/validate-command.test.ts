import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerValidate } from '../../src/cli/commands/validate.js';
import { runCommand } from '../cli/run-command.js';

let dir: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-validate-'));
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function validate(text: string, ...set: string[]) {
  const file = path.join(dir, 'c.yaml');
  await fs.writeFile(file, text);
  return runCommand(registerValidate, ['validate', '-c', file, ...set.flatMap((s) => ['--set', s])]);
}

const BASE = 'run: {name: v}\ndata: {dataset: d, patchSize: [16, 16, 16]}\n';

describe('ssmis validate refuses what train would refuse', () => {
  it('a patch larger than memory allows, one line per axis', async () => {
    const { code, stderr } = await validate(
      BASE,
      'data.patchSize=[4096,4096,4096]',
      'method.startRange=valid',
    );
    expect(code).toBe(2);
    expect(stderr).toContain(
      'data.patchSize[0]: expected at most 1024 (the largest patch edge accepted), got 4096',
    );
  });

  it('patch 16 with batch 2 (train-mode batch norm would see one value per channel)', async () => {
    const { code, stderr } = await validate(`${BASE}train: {batch: {labeled: 2, unlabeled: 2}}\n`);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /c\.yaml: train\.batch\.labeled: expected a batch that gives train-mode batch norm more than 1 value per channel, got 2/,
    );
  });
});

describe('ssmis validate warnings', () => {
  it('warns about a one-sample train-mode forward on one stderr line and exits 0', async () => {
    const { code, stdout, stderr } = await validate(
      `${BASE}train: {batch: {labeled: 2, unlabeled: 2}}\n`,
      'data.patchSize=[32,32,32]',
    );
    expect(code).toBe(0);
    expect(stdout).toContain('patchSize:');
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^.*c\.yaml: train\.batch\.labeled: warning: pre-training forwards labeled\/2 = 1 sample; method 'cpam-trcm' forwards labeled\/2 = 1 sample: train-mode batch norm/,
    );
    expect(lines[1]).toMatch(/c\.yaml: valid$/);
  });

  it('prints no warning for the reference batch', async () => {
    const { code, stderr } = await validate(BASE, 'data.patchSize=[32,32,32]');
    expect(code).toBe(0);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});

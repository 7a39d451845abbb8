import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ssmis } from '../helpers/cli.js';
import { tinyLaDataset } from '../helpers/synthetic.js';

const bin = new URL('../../bin/ssmis.js', import.meta.url).pathname;
let data: { root: string; dataset: string };

beforeAll(async () => {
  data = await tinyLaDataset();
});

/** Starts `ssmis train`, sends SIGINT once the first iteration is reported, resolves with exit code and stderr. */
function trainAndInterrupt(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sent && /pretrain 1\/\d+/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('ssmis train interrupted by SIGINT', () => {
  it('writes the last checkpoint, exits 130, and --resume finishes the run', async () => {
    const config = path.join(data.root, 'interrupt.yaml');
    writeFileSync(
      config,
      [
        `run: { name: interrupted, outputDir: ${JSON.stringify(path.join(data.root, 'runs-int'))} }`,
        `data: { dataset: ${JSON.stringify(data.dataset)}, preset: la, patchSize: [32, 32, 16], labeled: { count: 2 } }`,
        'model: { name: vnet, baseFilters: 2 }',
        'method: { name: cpam-trcm, startRange: valid }',
        'train:',
        '  batch: { labeled: 2, unlabeled: 2 }',
        '  stages: { pretrain: { iterations: 40 }, selftrain: { iterations: 2 } }',
        '  validation: { split: none }',
        'eval: { patch: [32, 32, 16], strides: [16, 16, 8] }',
      ].join('\n'),
    );
    const runDir = path.join(data.root, 'runs-int', 'interrupted');
    const first = await trainAndInterrupt(['--config', config]);
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toContain('SIGINT: finishing this iteration and writing the last checkpoint...');
    expect(first.stderr).toContain('stopped; continue with: ssmis train --resume');
    const state = JSON.parse(readFileSync(path.join(runDir, 'checkpoints', 'last.json'), 'utf8'));
    expect(state.stage).toBe('pretrain');
    expect(state.iteration).toBeGreaterThanOrEqual(1);
    expect(state.iteration).toBeLessThan(40);

    const resumed = await ssmis(['train', '--resume', runDir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`pretrain: continuing from iteration ${state.iteration}`);
    const final = JSON.parse(readFileSync(path.join(runDir, 'checkpoints', 'last.json'), 'utf8'));
    expect(final.completedStages).toEqual(['pretrain', 'selftrain']);
    expect(existsSync(path.join(runDir, 'eval', 'summary.json'))).toBe(true);
  });
});

/** What the CLI sweep tests share: the tiny dataset, a tiny base config, the CLI with an environment, snapshots. */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tinyLaDataset } from '../helpers/synthetic.js';

const bin = new URL('../../bin/ssmis.js', import.meta.url).pathname;

/** The tiny LA dataset and a base config on it whose runs take seconds (2 + 2 iterations, 2 base filters). */
export async function tinySweepBase(): Promise<{ root: string; config: string }> {
  const { root, dataset } = await tinyLaDataset();
  const config = path.join(root, 'tiny.yaml');
  writeFileSync(
    config,
    [
      'run: { name: tiny }',
      `data: { dataset: ${JSON.stringify(dataset)}, preset: la, patchSize: [32, 32, 16], labeled: { count: 2 } }`,
      'model: { name: vnet, baseFilters: 2 }',
      'method: { name: cpam-trcm, startRange: valid }',
      'train:',
      '  batch: { labeled: 2, unlabeled: 2 }',
      '  stages: { pretrain: { iterations: 2 }, selftrain: { iterations: 2 } }',
      '  validation: { interval: 2, split: test, strides: [16, 16, 8] }',
      '  checkpointInterval: 1',
      'eval: { patch: [32, 32, 16], strides: [16, 16, 8] }',
    ].join('\n'),
  );
  return { root, config };
}

/** Runs the built CLI with extra environment variables; resolves with the exit code instead of throwing. */
export function ssmisEnv(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 64 * 2 ** 20, cwd },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export { snapshot } from '../helpers/files.js';

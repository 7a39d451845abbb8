import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('has the config reference generated from the current schema', async () => {
    const script = new URL('../../scripts/update-readme.mjs', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, [script, '--check']);
    expect(stdout).toContain('README.md config reference is current');
  });

  it('quick start is exactly `npm ci && npx ssmis demo` and `npm test`', () => {
    const section = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## Install'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1].trim().split('\n');
    expect(block).toEqual(['npm ci && npx ssmis demo', 'npm test']);
  });

  it('documents every CLI command with an example', () => {
    for (const command of [
      'demo',
      'train',
      'eval',
      'predict',
      'prepare',
      'synth',
      'validate',
      'info',
      'inspect',
    ]) {
      expect(readme).toContain(`npx ssmis ${command}`);
    }
  });
});

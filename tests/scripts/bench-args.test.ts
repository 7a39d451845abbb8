import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** The benchmark scripts' command lines: a wrong flag is one message and exit 2, `--help` the usage and exit 0. */
describe.each([
  { script: 'scripts/bench.mjs', prefix: 'bench: ' },
  { script: 'scripts/bench-kernels.mjs', prefix: 'bench-kernels: unknown argument --bogus' },
])('$script arguments', ({ script, prefix }) => {
  it('refuses an unknown flag with a message and the usage, exit 2, before loading anything', () => {
    const r = spawnSync(process.execPath, [script, '--bogus'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.startsWith(prefix)).toBe(true);
    expect(r.stderr).toMatch(/--bogus/);
    expect(r.stderr).toMatch(/^usage: node /m);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).toBe('');
  });

  it('prints the usage for --help, exit 0', () => {
    const r = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^usage: node ${script.replace('.', '\\.')}`));
  });
});

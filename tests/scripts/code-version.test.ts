import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { codeVersion } from '../../scripts/lib/runtime.mjs';

describe('codeVersion (the commit an experiment record names)', () => {
  it("is this checkout's HEAD and whether tracked files differ from it, or null outside git", () => {
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' });
    const got = codeVersion();
    if (head.status !== 0) {
      expect(got).toBeNull();
      return;
    }
    expect(got?.commit).toBe(head.stdout.trim());
    expect(got?.commit).toMatch(/^[0-9a-f]{40}$/);
    const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' });
    expect(got?.dirty).toBe(status.stdout.trim() !== '');
  });
});

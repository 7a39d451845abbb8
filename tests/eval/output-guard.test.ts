import { spawnSync } from 'node:child_process';
import { promises as fs, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  atomicTempPath,
  parseAtomicTempName,
  processIsAlive,
  removeOrphanTemps,
} from '../../src/util/atomic.js';
import { removeTempDirs, tempDir } from './eval-helpers.js';

afterAll(removeTempDirs);

/** The pid of a process that has already exited (for "the writer died" fixtures). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  if (child.pid === undefined) throw new Error('could not spawn a child process');
  return child.pid;
}

describe('atomic temp names', () => {
  it('parses what atomicTempPath makes and nothing else', () => {
    const temp = path.basename(atomicTempPath('/x/a.nii.gz'));
    expect(parseAtomicTempName(temp)).toEqual({ target: 'a.nii.gz', tag: 'tmp', pid: process.pid });
    // A folder renamed aside: recognised only when asked for, never taken for a temp file.
    const aside = path.basename(atomicTempPath('/x/eval', 'old'));
    expect(parseAtomicTempName(aside)).toBeNull();
    expect(parseAtomicTempName(aside, ['old', 'tmp'])).toEqual({
      target: 'eval',
      tag: 'old',
      pid: process.pid,
    });
    for (const other of [
      'a.nii.gz',
      'a.tmp-12-xyz',
      'a.tmp-12-0123456',
      'a.tmp-x-01234567',
      '.tmp-1-01234567',
    ]) {
      expect(parseAtomicTempName(other), other).toBeNull();
    }
    expect(processIsAlive(process.pid)).toBe(true);
    expect(processIsAlive(deadPid())).toBe(false);
  });

  it('removeOrphanTemps removes the temps of dead writers only', async () => {
    const dir = await tempDir('ssmis-orphans-');
    const dead = deadPid();
    const names = {
      orphan: `a.nii.gz.tmp-${dead}-0123abcd`,
      live: `b.nii.gz.tmp-${process.pid}-0123abcd`,
      user: 'notes.tmp-backup.txt',
      data: 'a.nii.gz',
    };
    for (const n of Object.values(names)) writeFileSync(path.join(dir, n), n);
    await fs.mkdir(path.join(dir, `folder.tmp-${dead}-0123abcd`));
    expect(await removeOrphanTemps(dir)).toEqual([path.join(dir, names.orphan)]);
    expect(readdirSync(dir).sort()).toEqual(
      [names.data, `folder.tmp-${dead}-0123abcd`, names.live, names.user].sort(),
    );
    expect(await removeOrphanTemps(path.join(dir, 'missing'))).toEqual([]);
  });
});

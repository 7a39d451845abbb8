import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/util/atomic.js';

describe('writeFileAtomic', () => {
  it('writes the whole content and leaves no temp file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ssmis-atomic-'));
    const file = path.join(dir, 'sub', 'a.txt');
    await writeFileAtomic(file, 'hello');
    expect(readFileSync(file, 'utf8')).toBe('hello');
    expect(readdirSync(path.dirname(file))).toEqual(['a.txt']);
  });

  it('keeps the previous file when the write fails', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ssmis-atomic-'));
    const file = path.join(dir, 'a.txt');
    writeFileSync(file, 'old');
    // Writing a non-buffer object makes the write itself fail after the temp file was opened.
    await expect(writeFileAtomic(file, 42 as unknown as string)).rejects.toThrow();
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['a.txt']);
  });
});

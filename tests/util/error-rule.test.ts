/**
 * One error rule: bad user data and bad arguments are `InputError`s (exit code 2, one line naming the function,
 * argument, field or file). A plain `Error` is left only for failures of the program's own invariants, listed
 * below with the reason; `RangeError`/`TypeError` are never thrown by ssmis itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { labeledCaseCount } from '../../src/config/schema.js';
import { pancreasNumber } from '../../src/data/synth/pancreas-nih.js';
import { refusal } from '../helpers/files.js';

const SRC = path.resolve(import.meta.dirname, '../../src');

/** `throw new Error(` sites allowed in src/, by file, each with why it is not the user's input. */
const INTERNAL_ERRORS: Record<string, { count: number; why: string }> = {
  'backend/kernels/conv3d.ts': {
    count: 2,
    why: 'kernel dispatch invariants: the caller picks the path that supports the geometry',
  },
  'backend/kernels/index.ts': { count: 1, why: 'the stock TF.js kernel being replaced must exist' },
  'data/prepare/runner.ts': {
    count: 1,
    why: "a prepare unit produced other volumes than it declared (a bug, reported as that case's failure)",
  },
  'data/synth/la.ts': { count: 1, why: 'the phantom always has an atrium at the checked minimum size' },
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('the error rule in src/', () => {
  it('throws no RangeError or TypeError, and a plain Error only where listed', () => {
    const foreign: string[] = [];
    const plain: Record<string, number> = {};
    for (const file of sourceFiles(SRC)) {
      const rel = path.relative(SRC, file).split(path.sep).join('/');
      const text = readFileSync(file, 'utf8');
      const lines = text.split('\n');
      lines.forEach((line, i) => {
        if (/throw new (RangeError|TypeError)\b/.test(line)) foreign.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
      const n = text.match(/throw new Error\(/g)?.length ?? 0;
      if (n > 0) plain[rel] = n;
    }
    expect(foreign).toEqual([]);
    expect(plain).toEqual(Object.fromEntries(Object.entries(INTERNAL_ERRORS).map(([f, v]) => [f, v.count])));
  });

  it('labeledCaseCount: a labeled count larger than the train split is an InputError naming the key', async () => {
    expect(await refusal(Promise.resolve().then(() => labeledCaseCount({ count: 81 }, 80)))).toBe(
      'data.labeled.count: expected at most 80 (the size of the train split), got 81',
    );
  });

  it('synth pancreas-nih: a case id that is not imageNNNN is an InputError', async () => {
    expect(await refusal(Promise.resolve().then(() => pancreasNumber('case7')))).toBe(
      'pancreas-nih id "case7" is not imageNNNN',
    );
  });
});

/**
 * Scripts and tests create optimizers with the config's vocabulary (`{ name: 'sgd' }`), not the former input key
 * `type` (which only the optimizer's own compatibility test still passes), and the benchmark takes its method list
 * from the library's METHOD_NAMES instead of a copy that could fall behind a new variant.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { METHOD_NAMES } from '../../src/index.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

function files(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|mjs|js)$/.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

describe('optimizer key and method list in scripts and tests', () => {
  it("passes { name } to createOptimizer, not the former key 'type'", () => {
    const offenders = [...files('scripts'), ...files('tests')]
      .filter((f) => f !== path.join('tests', 'train', 'optimizer.test.ts'))
      .filter((f) => /createOptimizer\(\{\s*type:/.test(readFileSync(path.join(ROOT, f), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('scripts/bench.mjs takes the method list from METHOD_NAMES', () => {
    const text = readFileSync(path.join(ROOT, 'scripts/bench.mjs'), 'utf8');
    expect(text).toContain('lib.METHOD_NAMES');
    const quoted = METHOD_NAMES.map((m) => `'${m}'`).join(', ');
    expect(text).not.toContain(quoted);
  });
});

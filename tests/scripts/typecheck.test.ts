/**
 * The scripts under scripts/ are type-checked from their JSDoc (`npm run typecheck` runs tsconfig.scripts.json,
 * allowJs + checkJs). A hand-kept declaration file beside a script would shadow it (TypeScript then reads the
 * declaration and checks nothing of the script), and a script without `// @ts-check` is not checked by editors
 * nor by the main tsconfig, which the tests import the script libraries through.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve('scripts');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

const all = files(root).map((f) => path.relative(root, f));
const scripts = all.filter((f) => /\.[cm]?js$/.test(f));

describe('scripts are type-checked', () => {
  it('has scripts to check', () => {
    expect(scripts).toContain('experiment.mjs');
    expect(scripts).toContain(path.join('lib', 'stats.mjs'));
  });

  it('keeps no declaration file that would shadow a script', () => {
    expect(all.filter((f) => /\.d\.[cm]?ts$/.test(f))).toEqual([]);
  });

  it('starts every script with // @ts-check (after the shebang)', () => {
    const unchecked = scripts.filter((f) => {
      const lines = readFileSync(path.join(root, f), 'utf8').split('\n');
      const first = lines[0]?.startsWith('#!') ? lines[1] : lines[0];
      return first?.trim() !== '// @ts-check';
    });
    expect(unchecked).toEqual([]);
  });

  it('checks every script under the scripts tsconfig, strict, JavaScript included', () => {
    const config = JSON.parse(readFileSync('tsconfig.scripts.json', 'utf8'));
    expect(config.extends).toBe('./tsconfig.json');
    expect(config.compilerOptions).toMatchObject({ allowJs: true, checkJs: true });
    expect(config.include).toContain('scripts/**/*.mjs');
    const base = JSON.parse(readFileSync('tsconfig.json', 'utf8'));
    expect(base.compilerOptions.strict).toBe(true);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(pkg.scripts.typecheck).toContain('tsc -p tsconfig.scripts.json');
  });
});

/**
 * What the published package holds: `npm pack` applies package.json "files" to a throw-away tree (no build), so a
 * source map (pointing at src/, which is not published) or the compiler's incremental state can never ship, and
 * the runtime dependencies are exactly the packages the shipped code imports.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  files: string[];
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
};

/** The paths `npm pack` would put in the tarball of `dir` (lifecycle scripts off, so nothing is built). */
async function packedFiles(dir: string): Promise<string[]> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { stdout } = await promisify(execFile)(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: dir,
    env: { ...process.env, npm_config_loglevel: 'silent' },
  });
  const [report] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  return report.files.map((f) => f.path).sort();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('the published package', () => {
  it('ships the built code, types, launcher and configs, never source maps or .tsbuildinfo', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ssmis-pack-'));
    try {
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg));
      const tree = [
        'README.md',
        'bin/ssmis.js',
        'configs/la.yaml',
        'dist/.tsbuildinfo',
        'dist/index.js',
        'dist/index.js.map',
        'dist/index.d.ts',
        'dist/index.d.ts.map',
        'dist/cli/main.js',
        'dist/cli/main.js.map',
        'dist/cli/.tsbuildinfo',
        'src/index.ts',
        'tests/index.test.ts',
      ];
      for (const file of tree) {
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), 'x');
      }
      expect(await packedFiles(dir)).toEqual([
        'README.md',
        'bin/ssmis.js',
        'configs/la.yaml',
        'dist/cli/main.js',
        'dist/index.d.ts',
        'dist/index.js',
        'package.json',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists as runtime dependencies exactly the packages src/ imports (test-only packages are devDependencies)', () => {
    const imported = new Set<string>();
    for (const file of sourceFiles(path.join(root, 'src'))) {
      // Block comments left out: TSDoc examples import from 'ssmis' too.
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
      for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\sfrom\s+'([^'.][^']*)'/gm)) {
        const spec = m[1];
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        const parts = spec.split('/');
        imported.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
      }
      for (const m of text.matchAll(/\bimport\(\s*'([^'.][^']*)'\s*\)/g)) {
        const parts = m[1].split('/');
        if (!m[1].startsWith('node:'))
          imported.add(m[1].startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
      }
    }
    const peers = new Set(Object.keys(pkg.peerDependencies ?? {}));
    const runtime = [...imported].filter((name) => !peers.has(name)).sort();
    expect(Object.keys(pkg.dependencies).sort()).toEqual(runtime);
    expect(Object.keys(pkg.devDependencies)).toContain('nifti-reader-js');
  });
});

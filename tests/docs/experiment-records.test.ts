/**
 * The committed experiment records are what a fresh clone continues from and what the reports are rebuilt from, so
 * every run file must reach the repository (no ignore rule may hide it) and every report must count the run files
 * that are there (a report is rebuilt whenever run files are committed).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RECORDS = path.join(ROOT, 'docs', 'experiments');
const names = existsSync(RECORDS)
  ? readdirSync(RECORDS, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
  : [];

/** Whether git would ignore `file` (false outside a git checkout, where nothing can be ignored). */
function ignored(file: string): boolean {
  try {
    execFileSync('git', ['check-ignore', '-q', '--no-index', file], { cwd: ROOT, stdio: 'ignore' });
    return true;
  } catch {
    // Exit 1: not ignored; anything else (no git, not a repository) means there is nothing that ignores it.
    return false;
  }
}

describe('committed experiment records', () => {
  it('there are records', () => {
    expect(names.length).toBeGreaterThan(0);
  });

  it.each(names)(
    '%s: no ignore rule hides a run file (a fresh clone must see every finished run)',
    (name) => {
      expect(ignored(path.join('docs', 'experiments', name, 'runs', 'supervised-s1.json'))).toBe(false);
      expect(ignored(path.join('docs', 'experiments', name, 'plan.json'))).toBe(false);
    },
  );

  it.each(names)('%s: the report counts exactly the run files of the record', (name) => {
    const dir = path.join(RECORDS, name);
    const runs = existsSync(path.join(dir, 'runs'))
      ? readdirSync(path.join(dir, 'runs')).filter((f) => f.endsWith('.json'))
      : [];
    const report = readFileSync(path.join(dir, 'results.md'), 'utf8');
    const counted = /(\d+) of \d+ planned runs are recorded/.exec(report);
    expect(counted, `${name}/results.md names how many runs it is built from`).not.toBeNull();
    expect(Number(counted?.[1]), `${name}: rebuild with --report after committing run files`).toBe(
      runs.length,
    );
  });
});

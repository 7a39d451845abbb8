/**
 * The repository must stand alone: source, tests, configs and docs may not cite documents that are not in it
 * (the method specification, design notes, TF.js notes, the landscape survey, dataset-format notes, issue
 * numbers). Equation (E<n>), quirk (Q<n>) and section (§<n>) numbers cited in the code must exist in
 * docs/equations.md, which is the repository's own account of the method.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SELF = path.relative(ROOT, fileURLToPath(import.meta.url));

/** Citations of documents outside the repository. */
const OUTSIDE = [
  /method-spec/i,
  /design decision/i,
  /design\.md/i,
  /tfjs-notes/i,
  /landscape\.md/i,
  /dataset-format\.md/i,
  /\bissue\s+#?\d+/i,
];

/** Every file under `dir` (relative to the repository root), recursively. */
function filesUnder(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  const out: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

function textOf(rel: string): string | null {
  const bytes = readFileSync(path.join(ROOT, rel));
  return bytes.includes(0) ? null : bytes.toString('utf8');
}

/** `file:line: text` for every line of `rel` matching an outside citation, minus the allowed lines. */
function outsideCitations(rel: string): string[] {
  const text = textOf(rel);
  if (text === null) return [];
  const hits: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (OUTSIDE.some((re) => re.test(line))) {
      hits.push(`${rel}:${i + 1}: ${line.trim()}`);
    }
  });
  return hits;
}

const equations = readFileSync(path.join(ROOT, 'docs/equations.md'), 'utf8');

/**
 * Numbers docs/equations.md defines: an equation or quirk is defined by a heading naming it, a table row whose
 * first cell is it (`| Q3 |`), or a list item that starts with it in bold (`- **E8** ...`); a section by a
 * numbered heading (`## 4.`, `### 4.9`).
 */
function definedIds(): { equations: Set<string>; sections: Set<string> } {
  const ids = new Set<string>();
  const sections = new Set<string>();
  for (const line of equations.split('\n')) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) {
      for (const m of heading[1].matchAll(/\b([EQ]\d+)\b/g)) ids.add(m[1]);
      const num = /^(\d+(?:\.\d+)?)\.?\s/.exec(heading[1]);
      if (num) sections.add(num[1]);
      if (/^Appendix A\b/.test(heading[1])) sections.add('Appendix A');
    }
    const row = /^\|\s*([EQ]\d+)\s*\|/.exec(line);
    if (row) ids.add(row[1]);
    const bold = /^\s*-\s+\*\*([EQ]\d+)\*\*/.exec(line);
    if (bold) ids.add(bold[1]);
  }
  return { equations: ids, sections };
}

describe('no citations of documents outside the repository', () => {
  const scanned = [
    ...['src', 'tests', 'configs', 'docs', 'scripts'].flatMap(filesUnder),
    'ARCHITECTURE.md',
    'README.md',
  ].filter((rel) => rel !== SELF);

  it('scans src/, tests/, configs/, docs/, scripts/, ARCHITECTURE.md and README.md', () => {
    expect(scanned).toContain('docs/equations.md');
    expect(scanned).toContain('src/method/trcm.ts');
    expect(scanned).toContain('scripts/experiment.mjs');
    expect(scanned).not.toContain(SELF);
  });

  it('finds none in src/, tests/, configs/, docs/, scripts/, ARCHITECTURE.md and README.md', () => {
    expect(scanned.flatMap((rel) => outsideCitations(rel))).toEqual([]);
  });

  it('finds none in README.md except the listed lines still to be rewritten', () => {
    expect(outsideCitations('README.md')).toEqual([]);
  });

  it('the pattern catches what it must and spares ordinary text', () => {
    const hit = (s: string) => OUTSIDE.some((re) => re.test(s));
    for (const s of ['see method-spec §4.9', 'design decision 5', 'issue 7', 'issue #12', 'tfjs-notes §2']) {
      expect(hit(s), s).toBe(true);
    }
    for (const s of ['docs/equations.md §4.9', 'an issue with the input', 'quirk Q3 (E8)']) {
      expect(hit(s), s).toBe(false);
    }
  });
});

describe('docs/equations.md defines every number the code cites', () => {
  const { equations: ids, sections } = definedIds();
  const sources = [
    ...filesUnder('src'),
    ...filesUnder('tests'),
    ...filesUnder('configs'),
    'ARCHITECTURE.md',
  ].filter((rel) => rel !== SELF);

  it('defines E1–E30 and Q1–Q32', () => {
    for (let n = 1; n <= 30; n++) expect(ids.has(`E${n}`), `E${n}`).toBe(true);
    for (let n = 1; n <= 32; n++) expect(ids.has(`Q${n}`), `Q${n}`).toBe(true);
  });

  it('every E<n> / Q<n> referenced in src/ is defined', () => {
    const missing: string[] = [];
    for (const rel of filesUnder('src')) {
      const text = textOf(rel) ?? '';
      text.split('\n').forEach((line, i) => {
        for (const m of line.matchAll(/\b([EQ]\d+)\b/g)) {
          if (!ids.has(m[1])) missing.push(`${rel}:${i + 1}: ${m[1]}`);
        }
      });
    }
    expect(missing).toEqual([]);
  });

  it('every §<n> cited in src/, tests/, configs/ and ARCHITECTURE.md is a section of it', () => {
    const missing: string[] = [];
    for (const rel of sources) {
      const text = textOf(rel) ?? '';
      text.split('\n').forEach((line, i) => {
        for (const m of line.matchAll(/§\s?(\d+(?:\.\d+)?)/g)) {
          if (!sections.has(m[1])) missing.push(`${rel}:${i + 1}: §${m[1]}`);
        }
        if (/Appendix A\b/.test(line) && !sections.has('Appendix A'))
          missing.push(`${rel}:${i + 1}: Appendix A`);
      });
    }
    expect(missing).toEqual([]);
  });
});

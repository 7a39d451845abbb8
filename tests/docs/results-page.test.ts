/**
 * docs/results.md quotes tables from an experiment's report. Every quoted table line must be a line of that report
 * as it stands, so the page cannot drift from the committed runs: when the report is rebuilt with more runs, this
 * fails until the quote is refreshed.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const page = readFileSync(path.join(ROOT, 'docs', 'results.md'), 'utf8');
const QUOTE = /<!-- quoted from (\S+) -->\n([\s\S]*?)<!-- end of quote -->/g;
const quotes = [...page.matchAll(QUOTE)].map((m) => ({ source: m[1], text: m[2] }));

describe('docs/results.md', () => {
  it('quotes at least one table of a committed report', () => {
    expect(quotes.length).toBeGreaterThan(0);
  });

  it.each(quotes.map((q, i) => [i + 1, q.source, q.text] as const))(
    'quote %i: every table line is a line of %s',
    (_i, source, text) => {
      const report = new Set(readFileSync(path.join(ROOT, source), 'utf8').split('\n'));
      const lines = text.split('\n').filter((l) => l.startsWith('|'));
      expect(lines.length).toBeGreaterThan(2);
      for (const line of lines) expect(report.has(line), line).toBe(true);
    },
  );
});

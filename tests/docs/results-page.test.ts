/**
 * docs/results.md is generated (`npm run results`) from the committed experiment records: the headline
 * experiment's report, one line per calibration record and the round-1 history. The committed page must be exactly
 * what the committed records give, so it cannot drift from the runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HEADLINE, renderResultsPage } from '../../scripts/lib/results-page.mjs';
import { pageFromRecords } from '../../scripts/results-page.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const page = readFileSync(path.join(ROOT, 'docs', 'results.md'), 'utf8');

describe('docs/results.md', () => {
  it('is what the committed records give (run `npm run results` after committing run files)', () => {
    expect(page).toBe(pageFromRecords());
  });

  it('leads with the headline report: its tables, paired differences, settings, recipe and compute', () => {
    expect(page).toContain(`## Headline experiment: \`${HEADLINE}\``);
    for (const heading of [
      '### Test split, strict protocol',
      '### Test split, paper protocol',
      '### Paired differences (Dice points)',
      '### What the numbers show',
      '### Settings',
      '### Data recipe',
      '### Compute',
    ]) {
      expect(page).toContain(`\n${heading}\n`);
    }
    expect(page).toContain(`the run records in \`docs/experiments/${HEADLINE}/\``);
  });
});

describe('renderResultsPage', () => {
  const report = (title: string, body: string) => `# ${title}\n\n${body}\n`;
  const records = [
    {
      name: HEADLINE,
      report: report(
        'Results: x',
        'Rebuilt from the run records in `./` by y. 3 of 4 planned runs are recorded.\n\n## Settings\n\n- a',
      ),
    },
    {
      name: 'b-cal',
      report: report(
        'Results: b',
        '2 of 2 planned runs are recorded.\n\n- Headroom: +3.00 points; too little.',
      ),
    },
    { name: 'a-cal', report: report('Results: a', 'no count here') },
  ];
  const text = renderResultsPage({ records, history: '# Round one\n\ntext' });

  it('demotes the headline report under its own heading and names its record folder', () => {
    expect(text).toContain('\n### Settings\n');
    expect(text).toContain(`the run records in \`docs/experiments/${HEADLINE}/\` by y`);
    expect(text).not.toContain('# Results: x');
  });

  it('lists the other records in name order with their run counts and headroom', () => {
    const a = text.indexOf('- [a-cal](experiments/a-cal/results.md): no run count; headroom: not measured');
    const b = text.indexOf(
      '- [b-cal](experiments/b-cal/results.md): 2 of 2 planned runs; headroom: +3.00 points; too little.',
    );
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(a);
    expect(text).toContain('[Round one](experiments/round1-2labels.md)');
  });

  it('refuses records without the headline', () => {
    expect(() => renderResultsPage({ records: records.slice(1), history: '# h' })).toThrow(HEADLINE);
  });
});

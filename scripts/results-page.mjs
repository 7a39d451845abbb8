#!/usr/bin/env node
// @ts-check
/**
 * `npm run results`: rebuilds the headline experiment's report from its committed run files
 * (`scripts/experiment.mjs --name <headline> --report`), then `docs/results.md` from the records
 * (`scripts/lib/results-page.mjs`).
 *
 * Usage: node scripts/results-page.mjs [--check]
 *   --check   rebuild nothing; exit 1 when docs/results.md differs from what the records give
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { HEADLINE, HISTORY, renderResultsPage } from './lib/results-page.mjs';
import { loadDist } from './lib/runtime.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const RECORDS = path.join(REPO, 'docs', 'experiments');
const PAGE = path.join(REPO, 'docs', 'results.md');

/** The page the committed records give. */
export function pageFromRecords() {
  const records = readdirSync(RECORDS, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(RECORDS, e.name, 'results.md')))
    .map((e) => ({ name: e.name, report: readFileSync(path.join(RECORDS, e.name, 'results.md'), 'utf8') }));
  return renderResultsPage({ records, history: readFileSync(path.join(RECORDS, HISTORY), 'utf8') });
}

async function main() {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
  if (values.check) {
    const current = existsSync(PAGE) ? readFileSync(PAGE, 'utf8') : '';
    if (current !== pageFromRecords()) {
      console.error('docs/results.md is not what the records give: run `npm run results`');
      process.exitCode = 1;
    }
    return;
  }
  execFileSync(
    process.execPath,
    [path.join(REPO, 'scripts', 'experiment.mjs'), '--name', HEADLINE, '--report'],
    {
      stdio: 'inherit',
    },
  );
  // The product's atomic write (temp file + rename); `npm run results` has just built dist/.
  const { writeFileAtomic } = await loadDist('util/atomic.js');
  await writeFileAtomic(PAGE, pageFromRecords());
  console.log(`page: ${path.relative(process.cwd(), PAGE)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    console.error(`results: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  });
}

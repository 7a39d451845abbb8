#!/usr/bin/env node
// @ts-check
// Checks that docs/api, the API reference TypeDoc generates from the TSDoc of src/index.ts (`npm run docs:api`,
// typedoc.json), is current: generates it again into a temp folder with the same settings and compares every
// file. Exit 1, naming the files that differ and the first differing line, when it is stale; CI runs it as
// `npm run docs:api:check`. TypeDoc reads the sources (not dist/), so no build is needed first.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const committed = path.join(root, 'docs', 'api');

/**
 * Every file under a folder, as paths relative to it, sorted.
 * @param {string} dir
 * @returns {string[]}
 */
function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/**
 * The 1-based number of the first line where two texts differ.
 * @param {string} a
 * @param {string} b
 * @returns {number}
 */
function firstDifferentLine(a, b) {
  const la = a.split('\n');
  const lb = b.split('\n');
  let i = 0;
  while (i < la.length && i < lb.length && la[i] === lb[i]) i++;
  return i + 1;
}

const out = mkdtempSync(path.join(tmpdir(), 'ssmis-api-docs-'));
try {
  const typedoc = path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
  const run = spawnSync(process.execPath, [typedoc, '--out', out, '--logLevel', 'Warn'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (run.status !== 0) {
    process.stderr.write(`${run.stdout}${run.stderr}typedoc failed (exit ${run.status})\n`);
    process.exit(2);
  }
  const fresh = listFiles(out);
  const old = listFiles(committed);
  /** @type {string[]} */
  const problems = [];
  for (const f of fresh) {
    if (!old.includes(f)) problems.push(`docs/api/${f}: missing`);
    else {
      const a = readFileSync(path.join(committed, f), 'utf8');
      const b = readFileSync(path.join(out, f), 'utf8');
      if (a !== b) problems.push(`docs/api/${f}: differs from line ${firstDifferentLine(a, b)}`);
    }
  }
  for (const f of old) if (!fresh.includes(f)) problems.push(`docs/api/${f}: no longer generated`);
  if (problems.length > 0) {
    process.stderr.write(
      `${problems.join('\n')}\ndocs/api is out of date: run \`npm run docs:api\` and commit the result\n`,
    );
    process.exit(1);
  }
  process.stdout.write('docs/api is current\n');
} finally {
  rmSync(out, { recursive: true, force: true });
}

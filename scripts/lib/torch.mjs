// @ts-check
/**
 * The PyTorch peer of the bench: finds a Python that imports torch and runs `scripts/bench-torch.py` in a
 * subprocess (one request per process, so that PyTorch and ssmis never share the cores at the same moment and
 * the caller can alternate them). A benchmark helper, never used by tests.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../bench-torch.py', import.meta.url));
/** Tried in order; the pyenv `python3` first on PATH usually has no torch, Debian's `python3-torch` does. */
const CANDIDATES = ['python3', '/usr/bin/python3'];

/** @type {{ python: string, version: string } | { python: null, reason: string } | undefined} */
let found;

/**
 * The first candidate interpreter that imports torch, with torch's version, or `{ python: null, reason }`.
 * Cached for the process.
 */
export function findTorch() {
  if (found !== undefined) return found;
  const tried = [];
  for (const python of CANDIDATES) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status === 0) {
      found = { python, version: r.stdout.trim() };
      return found;
    }
    tried.push(`${python}: ${r.error ? /** @type {NodeJS.ErrnoException} */ (r.error).code : 'no torch'}`);
  }
  found = { python: null, reason: `no python3 with torch (${tried.join('; ')})` };
  return found;
}

/**
 * Runs one request of `scripts/bench-torch.py` (see its docstring) and returns its JSON answer.
 * @param {Record<string, unknown>} request
 * @returns {Record<string, any>}
 */
export function runTorch(request) {
  const torch = findTorch();
  if (torch.python === null) throw new Error(torch.reason);
  const r = spawnSync(torch.python, [SCRIPT], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    timeout: 30 * 60_000,
  });
  if (r.status !== 0) {
    throw new Error(`bench-torch.py ${request.task} failed: ${(r.stderr || String(r.error)).trim()}`);
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

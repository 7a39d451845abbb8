/**
 * Where a prepared case came from, so that `prepare` never mixes two raw folders in one dataset and never keeps a
 * case whose raw files changed: the raw folder (its real absolute path), and per case a content fingerprint.
 *
 * The fingerprint is SHA-256 over the FULL bytes of every raw file the case is read from (plus the preparation
 * parameters that change the result, such as LA's seed and padding target). Reading everything costs about a
 * second per GB on one core, and is exact: a file edited in place with the same size and mtime, or a copy with
 * preserved timestamps, is still detected (a size + mtime check would miss both).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { assertRegularFile } from '../../io/read-file.js';
import { errorMessage, InputError } from '../../util/errors.js';

/** One raw input file of a case: path relative to the raw folder, size and SHA-256 of its bytes. */
export interface InputFingerprint {
  file: string;
  bytes: number;
  sha256: string;
}

/** SHA-256 (hex) of a regular file's bytes, streamed (raw scans can be large). */
export async function sha256File(file: string): Promise<{ bytes: number; sha256: string }> {
  await assertRegularFile(file, 'raw file');
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(file)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (error) {
    throw new InputError(`${file}: cannot read raw file (${errorMessage(error)})`, { cause: error });
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** The fingerprints of a case's raw `files` (absolute), named relative to `raw`, in the given order. */
export async function fingerprintInputs(raw: string, files: string[]): Promise<InputFingerprint[]> {
  const out: InputFingerprint[] = [];
  for (const file of files) out.push({ file: path.relative(raw, file), ...(await sha256File(file)) });
  return out;
}

/**
 * The case fingerprint kept in `.prepare/<case>.json` and `dataset.json`: SHA-256 of the input fingerprints and
 * the preparation parameters, so a change of either means the case must be prepared again.
 */
export function caseFingerprint(inputs: InputFingerprint[], params: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify({ inputs, params })).digest('hex');
}

import type { Writable } from 'node:stream';

/** Where a command writes: results to `out` (stdout), messages and progress to `err` (stderr). */
export interface CliContext {
  out: Writable;
  err: Writable;
  /** Print stack traces of failures. */
  verbose: boolean;
}

/** Writes `text` and a newline to `stream`. */
export function writeLine(stream: Writable, text = ''): void {
  stream.write(`${text}\n`);
}

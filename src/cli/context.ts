import type { Writable } from 'node:stream';

/** Where a command writes: results to `out` (stdout), messages and progress to `err` (stderr). */
export interface CliContext {
  out: Writable;
  err: Writable;
  /** Print stack traces of failures. */
  verbose: boolean;
}

export function writeLine(stream: Writable, text = ''): void {
  stream.write(`${text}\n`);
}

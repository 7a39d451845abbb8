/**
 * Reading a whole input file with a clear InputError that names the path (instead of a bare ENOENT).
 */
import { promises as fs } from 'node:fs';
import { errorMessage, InputError } from '../util/errors.js';

/** The generic read failure: `<path>: cannot read <what> (<reason>)`. */
export function cannotRead(path: string, what: string, error: unknown): InputError {
  return new InputError(`${path}: cannot read ${what} (${errorMessage(error)})`, { cause: error });
}

/**
 * The bytes of `path`; a read failure becomes `failure(error)`, by default {@link cannotRead} with `what`
 * (e.g. 'NRRD file').
 */
export async function readInputFile(
  path: string,
  what: string,
  failure: (error: unknown) => InputError = (error) => cannotRead(path, what, error),
): Promise<Buffer> {
  try {
    return await fs.readFile(path);
  } catch (error) {
    throw failure(error);
  }
}

/**
 * Reading a whole input file with a clear InputError that names the path (instead of a bare ENOENT), and the one
 * place that refuses what is not a regular file: a FIFO, a socket or a device such as `/dev/zero` would make
 * `readFile` hang or grow a string until it fails with an unrelated message.
 */
import { promises as fs } from 'node:fs';
import { errorMessage, InputError } from '../util/errors.js';

/** The generic read failure: `<path>: cannot read <what> (<reason>)`. */
export function cannotRead(path: string, what: string, error: unknown): InputError {
  return new InputError(`${path}: cannot read ${what} (${errorMessage(error)})`, { cause: error });
}

/** Options of {@link readInputFile} and {@link readInputText}. */
export interface ReadInputOptions {
  /** Refuse files larger than this many bytes (the message names the limit). */
  maxBytes?: number;
  /** How a failure of `stat` or `readFile` is reported; by default {@link cannotRead} with `what`. */
  failure?: (error: unknown) => InputError;
}

function kindOf(stat: import('node:fs').Stats): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Checks that `path` is a regular file (symlinks followed) of at most `maxBytes`, before anything opens it.
 * Throws an InputError naming the path and what it is instead.
 */
export async function assertRegularFile(path: string, what: string, options: ReadInputOptions = {}) {
  const failure = options.failure ?? ((error: unknown) => cannotRead(path, what, error));
  let stat: import('node:fs').Stats;
  try {
    stat = await fs.stat(path);
  } catch (error) {
    throw failure(error);
  }
  if (!stat.isFile()) {
    throw new InputError(`${path}: cannot read ${what}: it is ${kindOf(stat)}, not a regular file`);
  }
  if (options.maxBytes !== undefined && stat.size > options.maxBytes) {
    throw new InputError(
      `${path}: cannot read ${what}: it has ${stat.size} bytes, more than the limit of ${options.maxBytes}`,
    );
  }
  return stat;
}

/**
 * The bytes of `path`, a regular file; a read failure becomes `options.failure(error)`, by default
 * {@link cannotRead} with `what` (e.g. 'NRRD file').
 */
export async function readInputFile(
  path: string,
  what: string,
  options: ReadInputOptions = {},
): Promise<Buffer> {
  const failure = options.failure ?? ((error: unknown) => cannotRead(path, what, error));
  await assertRegularFile(path, what, { ...options, failure });
  try {
    return await fs.readFile(path);
  } catch (error) {
    throw failure(error);
  }
}

/** The UTF-8 text of `path`, a regular file, with the checks of {@link readInputFile}. */
export async function readInputText(
  path: string,
  what: string,
  options: ReadInputOptions = {},
): Promise<string> {
  return (await readInputFile(path, what, options)).toString('utf8');
}

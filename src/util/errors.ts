/**
 * Errors the CLI turns into one clear line and an exit code, without a stack trace.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or invalid input (config, files, arguments).
 */
export class SsmisError extends Error {
  readonly exitCode: 1 | 2;
  constructor(message: string, exitCode: 1 | 2 = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SsmisError';
    this.exitCode = exitCode;
  }
}

/** Bad input: a file, a field or an argument that is not what was expected. Exit code 2. */
export class InputError extends SsmisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 2, options);
    this.name = 'InputError';
  }
}

/** Message of any thrown value, for wrapping foreign errors with context. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

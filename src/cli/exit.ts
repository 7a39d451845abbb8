/**
 * The CLI's one rule from a thrown value to an exit code and a message: 0 ok, 1 runtime failure, 2 usage or
 * invalid input. `runCli` uses it, and so does the tests' in-process command runner, so the two cannot differ.
 */
import { CommanderError } from 'commander';
import { errorMessage, SsmisError } from '../util/errors.js';
import { TrainExit } from './commands/train.js';
import type { CliContext } from './context.js';

/**
 * Exit code of a failure: the code a `TrainExit` carries (interruption), 0 for commander's help and version
 * exits and 2 for its usage errors, the `SsmisError`'s own code (2 for an `InputError`), 1 for anything else.
 */
export function exitCodeOf(error: unknown): number {
  if (error instanceof TrainExit) return error.code;
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  return error instanceof SsmisError ? error.exitCode : 1;
}

/**
 * Reports a failure the way the CLI does and returns its exit code: one line `ssmis: <message>` on `ctx.err`
 * (the stack after it with `ctx.verbose`). Nothing is printed for a `TrainExit` (the command already said why)
 * or a `CommanderError` (commander printed the usage error or the help itself).
 */
export function reportCliFailure(error: unknown, ctx: CliContext): number {
  const code = exitCodeOf(error);
  if (error instanceof TrainExit || error instanceof CommanderError) return code;
  ctx.err.write(`ssmis: ${errorMessage(error)}\n`);
  if (ctx.verbose && error instanceof Error && error.stack) ctx.err.write(`${error.stack}\n`);
  return code;
}

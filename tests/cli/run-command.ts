/** Runs a registered ssmis command in-process with captured output (for command tests before wiring). */
import { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import type { CliContext } from '../../src/cli/context.js';
import { errorMessage, SsmisError } from '../../src/util/errors.js';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs one registered command in-process, the way `runCli` does (exit 2 for input errors, one line). */
export async function runCommand(
  register: (program: Command, ctx: CliContext) => void,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new Sink();
  const err = new Sink();
  const ctx: CliContext = { out, err, verbose: false };
  const program = new Command('ssmis')
    .exitOverride()
    .configureOutput({ writeOut: (t) => out.write(t), writeErr: (t) => err.write(t) });
  register(program, ctx);
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) code = error.exitCode === 0 ? 0 : 2;
    else {
      code = error instanceof SsmisError ? error.exitCode : 1;
      err.write(`ssmis: ${errorMessage(error)}\n`);
    }
  }
  return { code, stdout: out.text, stderr: err.text };
}

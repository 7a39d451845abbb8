/** Runs a registered ssmis command in-process with captured output (command tests without spawning the built CLI). */
import { Writable } from 'node:stream';
import { Command } from 'commander';
import type { CliContext } from '../../src/cli/context.js';
import { reportCliFailure } from '../../src/cli/exit.js';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/**
 * Runs one registered command in-process and maps a failure to the exit code and message with the CLI's own
 * `reportCliFailure` (exit 2 for input errors, one line), so this helper cannot drift from `runCli`.
 */
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
    code = reportCliFailure(error, ctx);
  }
  return { code, stdout: out.text, stderr: err.text };
}

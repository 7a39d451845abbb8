import { Command, CommanderError } from 'commander';
import { errorMessage, SsmisError } from '../util/errors.js';
import { packageVersion } from '../util/package-info.js';
import { registerPrepare, registerSynth } from './commands/data.js';
import { registerDemo } from './commands/demo.js';
import { finalEvaluationHook, registerEval } from './commands/eval.js';
import { registerInfo } from './commands/info.js';
import { registerInspect } from './commands/inspect.js';
import { registerPredict } from './commands/predict.js';
import { registerTrain, TrainExit } from './commands/train.js';
import { registerValidate } from './commands/validate.js';
import type { CliContext } from './context.js';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('ssmis')
    .description('Semi-supervised medical image segmentation (CPAM + TRCM mean teacher) on TensorFlow.js')
    .version(packageVersion(), '-V, --version')
    .option('--verbose', 'print stack traces of failures')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => ctx.out.write(text),
      writeErr: (text) => ctx.err.write(text),
    })
    .exitOverride();
  program.hook('preAction', (_this, action) => {
    ctx.verbose = Boolean(action.optsWithGlobals().verbose);
  });
  registerDemo(program, ctx);
  registerTrain(program, ctx, finalEvaluationHook(ctx));
  registerEval(program, ctx);
  registerPredict(program, ctx);
  registerPrepare(program, ctx);
  registerSynth(program, ctx);
  registerValidate(program, ctx);
  registerInfo(program, ctx);
  registerInspect(program, ctx);
  return program;
}

/**
 * Runs the CLI and returns the exit code: 0 ok, 1 runtime failure, 2 usage or invalid input.
 * Failures print one line (`ssmis: …`); the stack only with --verbose.
 */
export async function runCli(argv: string[], ctx?: Partial<CliContext>): Promise<number> {
  const context: CliContext = { out: process.stdout, err: process.stderr, verbose: false, ...ctx };
  context.verbose ||= argv.includes('--verbose');
  const program = buildProgram(context);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof TrainExit) return error.code;
    if (error instanceof CommanderError) {
      // Help and version exit through here with code 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? 0 : 2;
    }
    const code = error instanceof SsmisError ? error.exitCode : 1;
    context.err.write(`ssmis: ${errorMessage(error)}\n`);
    if (context.verbose && error instanceof Error && error.stack) context.err.write(`${error.stack}\n`);
    return code;
  }
}

import { Command } from 'commander';
import { packageVersion } from '../util/package-info.js';
import { registerCollect } from './commands/collect.js';
import { registerPrepare, registerSynth } from './commands/data.js';
import { registerDemo } from './commands/demo.js';
import { finalEvaluationHook, registerEval } from './commands/eval.js';
import { registerInfo } from './commands/info.js';
import { registerInspect } from './commands/inspect.js';
import { registerPredict } from './commands/predict.js';
import { registerSweep } from './commands/sweep.js';
import { registerTrain } from './commands/train.js';
import { registerValidate } from './commands/validate.js';
import type { CliContext } from './context.js';
import { reportCliFailure } from './exit.js';

/** The `ssmis` program with every command registered, writing to `ctx`. */
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
  registerSweep(program, ctx);
  registerCollect(program, ctx);
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
    // Help and version exit through here with code 0; usage errors were already printed by commander.
    return reportCliFailure(error, context);
  }
}

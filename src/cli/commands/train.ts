import path from 'node:path';
import type { Command } from 'commander';
import type { BackendChoice } from '../../backend/init.js';
import { type LoadedConfig, loadConfig, type SsmisConfig } from '../../config/index.js';
import { type TrainEvent, type TrainOptions, train } from '../../train/train.js';
import { InputError } from '../../util/errors.js';
import { type CliContext, writeLine } from '../context.js';
import { Progress } from '../progress.js';
import { withConfigOptions } from './validate.js';

export interface TrainCommandOptions {
  config?: string;
  set: string[];
  resume?: string;
  backend?: BackendChoice;
  force?: boolean;
}

/**
 * The config of a `train` invocation (and the files it was read from): the given file, or the resolved copy
 * inside the run folder to resume.
 */
export async function resolveTrainConfig(opts: TrainCommandOptions): Promise<LoadedConfig> {
  if (opts.resume && opts.config) {
    throw new InputError('--resume continues a run with its own config.yaml; do not pass --config with it');
  }
  const file = opts.resume ? path.join(opts.resume, 'config.yaml') : opts.config;
  if (!file) throw new InputError('train needs --config FILE (or --resume RUN_DIR)');
  const sets = [...opts.set];
  if (opts.backend) sets.push(`backend.name=${opts.backend}`);
  return loadConfig(file, { set: sets });
}

/** Progress display and messages of a training run. */
export function trainReporter(ctx: CliContext): (event: TrainEvent) => void {
  let bar: Progress | null = null;
  return (event) => {
    switch (event.type) {
      case 'start':
        writeLine(
          ctx.err,
          `${event.resumed ? 'resuming' : 'training'} in ${event.runDir} on ${event.backend.active}: ${event.labeled} labeled, ${event.unlabeled} unlabeled cases`,
        );
        for (const warning of event.backend.warnings) writeLine(ctx.err, `warning: ${warning}`);
        break;
      case 'stage':
        bar?.close();
        bar = new Progress(ctx.err, event.stage);
        if (event.startIteration > 0)
          writeLine(ctx.err, `${event.stage}: continuing from iteration ${event.startIteration}`);
        break;
      case 'iteration':
        bar?.update({
          done: event.iteration,
          total: event.iterations,
          detail: `loss ${event.loss.toFixed(4)} lr ${event.lr.toExponential(2)}${event.best !== null ? ` best Dice ${event.best.toFixed(4)}` : ''}`,
        });
        break;
      case 'validation':
        if (!(ctx.err as { isTTY?: boolean }).isTTY) {
          writeLine(
            ctx.err,
            `${event.stage} ${event.iteration}: validation Dice ${event.dice.toFixed(4)}${event.improved ? ' (best)' : ''}`,
          );
        }
        break;
      case 'interrupted':
        bar?.close();
        break;
      case 'warning':
        writeLine(ctx.err, `warning: ${event.message}`);
        break;
      default:
        break;
    }
  };
}

/** Stops training cleanly on SIGINT/SIGTERM: the current iteration finishes and `last` is written. */
export function abortOnSignals(ctx: CliContext): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    writeLine(ctx.err, `\n${sig}: finishing this iteration and writing the last checkpoint...`);
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Runs a training with CLI progress and signal handling; returns the exit code. */
export async function runTraining(
  config: SsmisConfig,
  ctx: CliContext,
  options: Omit<TrainOptions, 'onEvent' | 'signal'>,
): Promise<{ code: number; runDir: string }> {
  const { signal, release } = abortOnSignals(ctx);
  try {
    const result = await train(config, { ...options, signal, onEvent: trainReporter(ctx) });
    if (result.interrupted) {
      writeLine(
        ctx.err,
        `stopped; continue with: ssmis train --resume ${path.relative(process.cwd(), result.runDir) || '.'}`,
      );
      return { code: 130, runDir: result.runDir };
    }
    const best = result.best.selftrain ?? result.best.pretrain;
    writeLine(
      ctx.err,
      `done: ${result.runDir}${best ? ` (best validation Dice ${best.dice.toFixed(4)} at iteration ${best.iteration})` : ''}`,
    );
    return { code: 0, runDir: result.runDir };
  } finally {
    release();
  }
}

/** `ssmis train`: pre-train + self-train from a config, or continue a run. */
export function registerTrain(
  program: Command,
  ctx: CliContext,
  finalEvaluation?: TrainOptions['finalEvaluation'],
): void {
  withConfigOptions(
    program
      .command('train')
      .description('train a model (pre-train + self-train) from a config, or continue an interrupted run')
      .option('--resume <runDir>', 'continue this run folder from its last checkpoint (uses its config.yaml)')
      .option(
        '--backend <name>',
        'auto | tensorflow-gpu | webgpu | tensorflow | cpu (overrides backend.name)',
      )
      .option(
        '--force',
        'overwrite an existing run folder (only one ssmis created, never one holding the dataset or config)',
      ),
    false,
  ).action(async (opts: TrainCommandOptions) => {
    const { config, files } = await resolveTrainConfig(opts);
    const { code } = await runTraining(config, ctx, {
      resume: Boolean(opts.resume),
      runDir: opts.resume,
      force: opts.force,
      configFiles: files,
      finalEvaluation,
    });
    if (code !== 0) throw new TrainExit(code);
  });
}

/** Carries a non-zero exit code (interruption) out of a command without printing an error. */
export class TrainExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

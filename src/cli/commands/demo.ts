import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { prepareDataset } from '../../data/prepare/index.js';
import { synthesize } from '../../data/synth/index.js';
import { InputError } from '../../util/errors.js';
import { type CliContext, writeLine } from '../context.js';
import { Progress } from '../progress.js';
import { finalEvaluationHook } from './eval.js';
import { runTraining, TrainExit } from './train.js';

/**
 * Train cases `ssmis demo` holds out as the validation split the model is selected on (LA has no official one;
 * selecting on the test cases the demo then reports would leak them). configs/demo.yaml's recipe uses the same.
 */
export const DEMO_VAL_CASES = 3;

/**
 * Fewest phantoms the demo accepts: a third are test cases, and the train cases must give the validation split,
 * configs/demo.yaml's 4 labeled cases (one labeled batch) and at least one unlabeled case.
 */
const MIN_DEMO_CASES = 12;

/** The demo config shipped with the package (configs/demo.yaml, two levels above dist/cli/commands). */
export function demoConfigPath(): string {
  return path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../configs/demo.yaml');
}

/**
 * `ssmis demo`: the whole pipeline on synthetic data, in one command: phantoms in LA's raw layout → `prepare` →
 * `train` (pre-train + CPAM/TRCM self-train, tiny settings, the model selected on {@link DEMO_VAL_CASES} validation
 * cases held out of the train cases) → evaluation of that model on the test cases → the metric table. It exercises
 * the same code paths as a real experiment.
 */
export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description(
      'synthesise a small LA-like dataset, train CPAM + TRCM with tiny settings, evaluate, print the metrics',
    )
    .option('--out <dir>', 'keep everything in this folder (default: a new temporary folder)')
    .option(
      '--cases <n>',
      `synthetic cases: a third for testing, ${DEMO_VAL_CASES} of the others for validation, the rest for training`,
      '16',
    )
    .option('--seed <n>', 'seed of the phantoms and of training', '1337')
    .option(
      '--set <key=value>',
      'override a value of configs/demo.yaml (repeatable)',
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option('--force', 'overwrite the run folder of an earlier demo in --out')
    .action(async (opts: { out?: string; cases: string; seed: string; set: string[]; force?: boolean }) => {
      const seed = Number(opts.seed);
      const cases = Number(opts.cases);
      if (!Number.isInteger(seed)) throw new InputError(`--seed: expected an integer, got '${opts.seed}'`);
      if (!Number.isInteger(cases) || cases < MIN_DEMO_CASES) {
        throw new InputError(
          `--cases: expected an integer of at least ${MIN_DEMO_CASES}, got '${opts.cases}'`,
        );
      }
      const root = path.resolve(opts.out ?? mkdtempSync(path.join(os.tmpdir(), 'ssmis-demo-')));
      const raw = path.join(root, 'raw');
      const datasetDir = path.join(root, 'dataset');
      writeLine(ctx.err, `ssmis demo in ${root}`);

      if (!existsSync(raw) || readdirSync(raw).length === 0) {
        const bar = new Progress(ctx.err, 'synthesise');
        await synthesize({
          dataset: 'la',
          out: raw,
          cases,
          seed,
          onProgress: (p) => bar.update({ done: p.done, total: p.total, detail: p.case }),
        });
      }
      const bar = new Progress(ctx.err, 'prepare');
      const prepared = await prepareDataset({
        dataset: 'la',
        raw,
        out: datasetDir,
        seed,
        minSize: 32,
        val: DEMO_VAL_CASES,
        onProgress: (p) => bar.update({ done: p.done, total: p.total, detail: p.case }),
      });
      if (prepared.failed.length > 0) {
        throw new InputError(
          `demo: ${prepared.failed.length} synthetic case(s) failed to prepare: ${prepared.failed[0].error}`,
        );
      }
      const { config } = await loadConfig(demoConfigPath(), {
        set: [
          `data.dataset=${datasetDir}`,
          `run.outputDir=${path.join(root, 'runs')}`,
          `train.seed=${seed}`,
          ...opts.set,
        ],
      });
      const { code, runDir } = await runTraining(config, ctx, {
        force: opts.force,
        finalEvaluation: finalEvaluationHook(ctx),
      });
      if (code !== 0) throw new TrainExit(code);
      writeLine(ctx.out, `run folder: ${runDir} (report: ${path.join(runDir, 'eval', 'report.html')})`);
    });
}

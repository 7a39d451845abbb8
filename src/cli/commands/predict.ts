import path from 'node:path';
import type { Command } from 'commander';
import { type PredictResult, predict } from '../../eval/predict.js';
import { type CliContext, writeLine } from '../context.js';
import { evaluationProgress } from './eval.js';
import { collect } from './validate.js';

export interface PredictCommandOptions {
  checkpoint: string;
  input: string;
  output: string;
  config?: string;
  set: string[];
  probabilities?: boolean;
  raw?: string;
  overwrite?: boolean;
  backend?: string;
  json?: boolean;
}

/** Runs `ssmis predict` with a progress display and returns what was written. */
export async function runPredict(opts: PredictCommandOptions, ctx: CliContext): Promise<PredictResult> {
  const sets = [...opts.set];
  if (opts.backend !== undefined) sets.push(`backend.name=${opts.backend}`);
  const progress = evaluationProgress(ctx, 'predict');
  try {
    return await predict({
      checkpoint: opts.checkpoint,
      input: opts.input,
      output: opts.output,
      config: opts.config,
      set: sets,
      probabilities: Boolean(opts.probabilities),
      raw: opts.raw,
      overwrite: Boolean(opts.overwrite),
      onProgress: progress.onProgress,
    });
  } finally {
    progress.close();
  }
}

/** `ssmis predict`: label masks as NIfTI in each input's geometry. */
export function registerPredict(program: Command, ctx: CliContext): void {
  program
    .command('predict')
    .description('write NIfTI label masks (and optional probabilities) in each input scan’s geometry')
    .requiredOption('--checkpoint <file>', 'weights file (student.* tensors)')
    .requiredOption(
      '--input <path>',
      'a NIfTI image, a folder of them (nnU-Net _0000 channel sets), or a prepared dataset folder',
    )
    .requiredOption('--output <dir>', 'folder for <case>.nii.gz masks (never an input folder of a dataset)')
    .option('-c, --config <file>', 'model config (default: <run>/config.yaml of the checkpoint)')
    .option('--set <key=value>', 'override a config value (repeatable)', collect, [])
    .option('--probabilities', 'also write <case>_probabilities.nii.gz (float32)')
    .option(
      '--raw <dir>',
      'prepared inputs: the raw folder `prepare` read, to copy the original scans’ headers',
    )
    .option(
      '--overwrite',
      'replace existing masks in --output (never an input scan, never a dataset image/label folder)',
    )
    .option('--backend <name>', 'auto | tensorflow-gpu | webgpu | tensorflow | cpu')
    .option('--json', 'print the list of written files as JSON')
    .action(async (opts: PredictCommandOptions) => {
      const result = await runPredict(opts, ctx);
      for (const note of result.notes) writeLine(ctx.err, `note: ${note}`);
      if (opts.json) {
        writeLine(ctx.out, JSON.stringify(result, null, 2));
        return;
      }
      for (const c of result.cases) {
        writeLine(ctx.out, path.relative(process.cwd(), c.output) || c.output);
        if (c.original !== undefined)
          writeLine(ctx.out, path.relative(process.cwd(), c.original) || c.original);
        if (c.probabilities !== undefined) {
          writeLine(ctx.out, path.relative(process.cwd(), c.probabilities) || c.probabilities);
        }
      }
      writeLine(
        ctx.err,
        `predicted ${result.cases.length} case${result.cases.length === 1 ? '' : 's'} into ${opts.output}${
          result.cases.some((c) => c.kind === 'image') ? ` (normalisation: preset ${result.preset})` : ''
        }`,
      );
    });
}

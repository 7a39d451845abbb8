import path from 'node:path';
import type { Command } from 'commander';
import {
  type EvaluationProgress,
  type EvaluationResult,
  evaluate,
  evaluateFiles,
  finalEvaluation,
} from '../../eval/evaluate.js';
import { assertClassIds, type DistanceUnits, type EvaluationProtocol } from '../../eval/protocol.js';
import {
  formatReportHeader,
  formatReportNotes,
  formatSummaryTable,
  reportToJson,
} from '../../eval/report.js';
import { loadCheckpointConfig } from '../../infer/model.js';
import type { Connectivity } from '../../method/connected-components.js';
import type { TrainOptions } from '../../train/train.js';
import { InputError } from '../../util/errors.js';
import { type CliContext, writeLine } from '../context.js';
import { Progress } from '../progress.js';
import { collect } from './validate.js';

export interface EvalCommandOptions {
  config?: string;
  checkpoint?: string;
  split?: string;
  set: string[];
  backend?: string;
  pred?: string;
  label?: string;
  protocol?: string;
  units?: string;
  lcc?: string;
  classes?: string;
  out?: string;
  overwrite?: boolean;
  json?: boolean;
}

function parseProtocol(value: string | undefined): EvaluationProtocol | undefined {
  if (value === undefined) return undefined;
  if (value === 'strict' || value === 'paper') return value;
  throw new InputError(`--protocol: expected strict or paper, got "${value}"`);
}

function parseUnits(value: string | undefined): DistanceUnits | undefined {
  if (value === undefined) return undefined;
  if (value === 'mm') return 'mm';
  if (value === 'voxel' || value === 'voxels') return 'voxel';
  throw new InputError(`--units: expected mm or voxel, got "${value}"`);
}

/** `--lcc 26` (or 6, 18; 4, 8 slice by slice) keeps the largest component; `--lcc off` disables it. */
function parseLcc(value: string | undefined): Connectivity | false | undefined {
  if (value === undefined) return undefined;
  if (value === 'off' || value === 'none' || value === 'false' || value === '0') return false;
  const n = Number(value);
  if (n === 4 || n === 6 || n === 8 || n === 18 || n === 26) return n;
  throw new InputError(`--lcc: expected a connectivity 6, 18 or 26 (4 or 8 for 2-D) or off, got "${value}"`);
}

function parseClasses(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const ids = value.split(',').map((s) => (s.trim() === '' ? Number.NaN : Number(s.trim())));
  if (ids.length === 0 || ids.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new InputError(
      `--classes: expected positive integer class ids separated by commas, got "${value}"`,
    );
  }
  assertClassIds(ids, `--classes ${value}`);
  return ids;
}

/** Progress display: a redrawn bar with the window count on a TTY; otherwise one line per case at most every 10 s. */
export function evaluationProgress(
  ctx: CliContext,
  label = 'eval',
): {
  onProgress: (p: EvaluationProgress) => void;
  close: () => void;
} {
  const bar = new Progress(ctx.err, label);
  const tty = Boolean((ctx.err as { isTTY?: boolean }).isTTY);
  let started = false;
  let finished = false;
  return {
    onProgress: (p) => {
      if (p.phase === 'window' && !tty) return;
      started = true;
      finished = p.phase === 'case' && p.casesDone >= p.cases;
      bar.update({
        done: p.casesDone,
        total: p.cases,
        detail: p.phase === 'window' ? `${p.caseId} window ${p.windowsDone}/${p.windows}` : p.caseId,
      });
    },
    close: () => {
      if (started && !finished) bar.close();
    },
  };
}

/** Runs `ssmis eval` in the mode the options select and returns the result (the action prints it). */
export async function runEval(opts: EvalCommandOptions, ctx: CliContext): Promise<EvaluationResult> {
  const filesMode = opts.pred !== undefined || opts.label !== undefined;
  const modelMode = opts.config !== undefined || opts.checkpoint !== undefined;
  if (filesMode && modelMode) {
    throw new InputError(
      'choose one mode: --config/--checkpoint evaluates a model, --pred/--label evaluates NIfTI files',
    );
  }
  const protocol = parseProtocol(opts.protocol);
  const units = parseUnits(opts.units);
  const lcc = parseLcc(opts.lcc);
  const progress = evaluationProgress(ctx);
  try {
    if (filesMode) {
      if (opts.pred === undefined || opts.label === undefined) {
        throw new InputError(
          '--pred and --label go together: the predictions and the labels to score them against',
        );
      }
      if (opts.split !== undefined || opts.set.length > 0 || opts.backend !== undefined) {
        throw new InputError(
          '--split, --set and --backend belong to model evaluation (--config/--checkpoint)',
        );
      }
      return await evaluateFiles({
        pred: opts.pred,
        label: opts.label,
        protocol,
        units,
        classes: parseClasses(opts.classes),
        largestComponent: lcc,
        outDir: opts.out,
        overwrite: Boolean(opts.overwrite),
        onProgress: progress.onProgress,
      });
    }
    if (!modelMode) {
      throw new InputError(
        'ssmis eval needs --checkpoint CK [--config C] (evaluate a model) or --pred P --label L (evaluate NIfTI files)',
      );
    }
    if (opts.checkpoint === undefined)
      throw new InputError('--config needs --checkpoint CK: the weights to evaluate');
    if (opts.classes !== undefined) {
      throw new InputError(
        '--classes belongs to --pred/--label; a model is scored on all its foreground classes',
      );
    }
    if (opts.split !== undefined && opts.split !== 'test' && opts.split !== 'val') {
      throw new InputError(`--split: expected test or val, got "${opts.split}"`);
    }
    const sets = [...opts.set];
    if (opts.backend !== undefined) sets.push(`backend.name=${opts.backend}`);
    // A run's config.yaml is resolved (every default written out), so --protocol also resets the settings
    // whose defaults follow the protocol (schema: paper → voxels + largest component, strict → mm, none),
    // unless --units / --lcc say otherwise.
    if (protocol !== undefined) {
      sets.push(`eval.protocol=${protocol}`);
      if (units === undefined) sets.push(`eval.units=${protocol === 'paper' ? 'voxel' : 'mm'}`);
      if (lcc === undefined) sets.push(`eval.largestComponent=${protocol === 'paper'}`);
    }
    if (units !== undefined) sets.push(`eval.units=${units}`);
    if (lcc === false) sets.push('eval.largestComponent=false');
    else if (lcc !== undefined) sets.push('eval.largestComponent=true', `eval.connectivity=${lcc}`);
    const config = await loadCheckpointConfig(opts.checkpoint, opts.config, sets);
    return await evaluate(config, {
      checkpoint: opts.checkpoint,
      split: opts.split as 'test' | 'val' | undefined,
      outDir: opts.out,
      overwrite: Boolean(opts.overwrite),
      onProgress: progress.onProgress,
    });
  } finally {
    progress.close();
  }
}

/** Prints a result: the summary JSON alone on stdout with `json`, else the header line, the table and the
 * notes (absent classes); warnings and the written folder go to stderr. */
export function printEvaluation(result: EvaluationResult, ctx: CliContext, json = false): void {
  for (const warning of result.summary.warnings) writeLine(ctx.err, `warning: ${warning}`);
  if (json) {
    ctx.out.write(reportToJson(result.summary));
  } else {
    writeLine(ctx.out, formatReportHeader(result.summary));
    writeLine(ctx.out, formatSummaryTable(result.summary));
    for (const note of formatReportNotes(result.summary)) writeLine(ctx.out, note);
  }
  if (result.outDir !== undefined) writeLine(ctx.err, `wrote ${path.join(result.outDir, 'report.html')}`);
}

/** `ssmis eval`: a model on a dataset split, or NIfTI predictions against labels. */
export function registerEval(program: Command, ctx: CliContext): void {
  program
    .command('eval')
    .description(
      'evaluate a checkpoint on a dataset split, or NIfTI predictions against labels: Dice, Jaccard, 95HD, ASD',
    )
    .option(
      '--checkpoint <file>',
      'model mode: weights file (student.* tensors), e.g. runs/la/checkpoints/best.safetensors',
    )
    .option(
      '-c, --config <file>',
      'model mode: experiment config (default: <run>/config.yaml of the checkpoint)',
    )
    .option('--split <name>', 'model mode: test | val (default eval.split)')
    .option('--set <key=value>', 'model mode: override a config value (repeatable)', collect, [])
    .option('--backend <name>', 'model mode: auto | tensorflow-gpu | webgpu | tensorflow | cpu')
    .option('--pred <path>', 'files mode: a prediction NIfTI file or a folder of them')
    .option('--label <path>', 'files mode: the label NIfTI file or folder (cases matched by name)')
    .option('--protocol <name>', 'strict (default) | paper (empty prediction scored 0, as the reference)')
    .option('--units <unit>', 'distances in mm (strict default) | voxel (paper default)')
    .option('--lcc <connectivity>', 'keep the largest connected component: 26, 18, 6 (4, 8 per slice) or off')
    .option(
      '--classes <ids>',
      'files mode: class ids to score, e.g. 1,2,3 (default: every non-zero label value)',
    )
    .option(
      '--out <dir>',
      'write cases.csv, summary.json and report.html here (model mode default: <run>/eval); refused if it holds anything',
    )
    .option('--overwrite', 'replace an earlier ssmis report in --out (never a folder holding anything else)')
    .option('--json', 'print the summary JSON only')
    .action(async (opts: EvalCommandOptions) => {
      const result = await runEval(opts, ctx);
      printEvaluation(result, ctx, Boolean(opts.json));
    });
}

/**
 * The `finalEvaluation` hook for `ssmis train` (and `demo`): evaluates the selected model into `<run>/eval`
 * with a progress bar, and prints the header and table on stdout.
 */
export function finalEvaluationHook(ctx: CliContext): NonNullable<TrainOptions['finalEvaluation']> {
  return async (context) => {
    const progress = evaluationProgress(ctx, `eval (${context.config.eval.split})`);
    try {
      const result = await finalEvaluation(context, {
        print: (text) => writeLine(ctx.out, text),
        onProgress: progress.onProgress,
      });
      if (result?.outDir !== undefined)
        writeLine(ctx.err, `wrote ${path.join(result.outDir, 'report.html')}`);
    } finally {
      progress.close();
    }
  };
}

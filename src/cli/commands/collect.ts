import path from 'node:path';
import type { Command } from 'commander';
import { collectRuns } from '../../sweep/collect.js';
import { collectionCsv, collectionJson, collectionMarkdown, paperTable } from '../../sweep/collect-format.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { InputError } from '../../util/errors.js';
import { type CliContext, writeLine } from '../context.js';

interface CollectCommandOptions {
  baseline?: string;
  format: string;
  layout: string;
  columns?: string;
  out?: string;
}

/** `ssmis collect RUNS_DIR`: the final evaluations of many runs (a sweep folder or any folder of runs) in one table. */
export function registerCollect(program: Command, ctx: CliContext): void {
  program
    .command('collect')
    .description(
      'gather the eval/summary.json of every run under a folder (a sweep or any run folders) into one table: mean ± std over seeds, paired differences against a baseline with 95 % CIs',
    )
    .argument('<runsDir>', 'a sweep folder (ssmis sweep --out) or a folder holding run folders')
    .option(
      '--baseline <key=value>',
      'compare every setting with this one, paired by seed, e.g. method.name=supervised',
    )
    .option('--format <format>', 'md | csv | json', 'md')
    .option(
      '--layout <layout>',
      'runs (settings, differences, every run) | paper (rows = methods, columns = label ratios)',
      'runs',
    )
    .option(
      '--columns <key>',
      'paper layout: the config key whose values are the columns (default: the labeled share)',
    )
    .option('--out <file>', 'write the table to this file instead of printing it')
    .action(async (runsDir: string, opts: CollectCommandOptions) => {
      if (!['md', 'csv', 'json'].includes(opts.format)) {
        throw new InputError(`--format: expected md, csv or json, got '${opts.format}'`);
      }
      if (opts.layout !== 'runs' && opts.layout !== 'paper') {
        throw new InputError(`--layout: expected runs or paper, got '${opts.layout}'`);
      }
      if (opts.layout === 'paper' && opts.format !== 'md') {
        throw new InputError(
          '--layout paper is a Markdown table; use --format md (or --format csv/json with --layout runs)',
        );
      }
      if (opts.columns !== undefined && opts.layout !== 'paper') {
        throw new InputError('--columns belongs to --layout paper');
      }
      const collection = await collectRuns(runsDir, { baseline: opts.baseline });
      if (opts.columns !== undefined && !collection.labelKeys.includes(opts.columns)) {
        throw new InputError(
          `--columns ${opts.columns}: not a key that tells the runs apart (${collection.labelKeys.join(', ') || 'none does'})`,
        );
      }
      const text =
        opts.layout === 'paper'
          ? paperTable(collection, { columns: opts.columns })
          : opts.format === 'csv'
            ? collectionCsv(collection)
            : opts.format === 'json'
              ? collectionJson(collection)
              : collectionMarkdown(collection);
      if (opts.out === undefined) ctx.out.write(text);
      else {
        await writeFileAtomic(path.resolve(opts.out), text);
        writeLine(ctx.err, `wrote ${opts.out}`);
      }
      const notCounted = collection.runs.filter((r) => r.status !== 'finished').length;
      if (notCounted > 0) {
        writeLine(
          ctx.err,
          `${notCounted} of ${collection.runs.length} runs not counted (missing or unfinished; listed in the table)`,
        );
      }
    });
}

import type { Command } from 'commander';
import { PRESET_DATASETS, type PresetDataset, prepareDataset } from '../../data/prepare/index.js';
import {
  isLaDifficultyPreset,
  LA_DIFFICULTY_PRESET_LIST,
  LA_DIFFICULTY_PRESET_NAMES,
} from '../../data/synth/difficulty.js';
import { synthesize } from '../../data/synth/index.js';
import { InputError, SsmisError } from '../../util/errors.js';
import { type CliContext, writeLine } from '../context.js';
import { Progress } from '../progress.js';

function presetDataset(value: string, what: string): PresetDataset {
  if (!(PRESET_DATASETS as readonly string[]).includes(value)) {
    throw new InputError(
      `${what}: unknown dataset '${value}' (expected one of ${PRESET_DATASETS.join(', ')})`,
    );
  }
  return value as PresetDataset;
}

/** `--size 64,64,40` or `--size 32` → integers (a single number applies to every axis). */
export function parseSizeList(value: string, flag: string): number[] {
  const parts = value.split(/[,x×]/).map((p) => p.trim());
  const numbers = parts.map(Number);
  if (parts.length === 0 || numbers.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new InputError(`${flag}: expected positive integers like 64,64,40, got '${value}'`);
  }
  return numbers;
}

function parseInteger(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InputError(`${flag}: expected an integer, got '${value}'`);
  return n;
}

/** `ssmis prepare <dataset> --raw DIR --out DIR`. */
export function registerPrepare(program: Command, ctx: CliContext): void {
  program
    .command('prepare')
    .description('turn an official dataset download (or `ssmis synth` phantoms) into a ready dataset folder')
    .argument('<dataset>', `one of ${PRESET_DATASETS.join(', ')}`)
    .requiredOption('--raw <dir>', 'the downloaded dataset folder')
    .requiredOption(
      '--out <dir>',
      'the canonical dataset folder to write (dataset.json, imagesTr/, labelsTr/)',
    )
    .option('--seed <n>', 'seed of the random crop margins (LA)', '0')
    .option(
      '--force',
      'prepare every case again; also rebuilds an --out prepared from another raw folder (its cases are removed first)',
    )
    .option(
      '--min-size <x,y,z>',
      'LA: padding-rule target (default 112,112,80); Pancreas: minimum crop (default 96); one number applies to every axis',
    )
    .option('--margin <n>', 'Pancreas: voxels added around the label bounding box (default 25)')
    .option(
      '--val <n>',
      'LA, Pancreas: hold out the last n train cases as the validation split (0: none; default: what --out records); changing it rewrites only dataset.json',
    )
    .action(
      async (
        name: string,
        opts: {
          raw: string;
          out: string;
          seed: string;
          force?: boolean;
          minSize?: string;
          margin?: string;
          val?: string;
        },
      ) => {
        const dataset = presetDataset(name, 'prepare');
        const progress = new Progress(ctx.err, `prepare ${dataset}`);
        const result = await prepareDataset({
          dataset,
          raw: opts.raw,
          out: opts.out,
          seed: parseInteger(opts.seed, '--seed'),
          force: opts.force,
          minSize: opts.minSize === undefined ? undefined : parseSizeList(opts.minSize, '--min-size'),
          margin: opts.margin === undefined ? undefined : parseInteger(opts.margin, '--margin'),
          val: opts.val === undefined ? undefined : parseInteger(opts.val, '--val'),
          onCase: (event) => {
            progress.close();
            writeLine(ctx.err, `  ${event.status.padEnd(8)} ${event.case}  ${event.message}`);
          },
        });
        writeLine(
          ctx.out,
          `prepared ${result.prepared.length}, skipped ${result.skipped.length} (already done), failed ${result.failed.length}`,
        );
        if (result.absent.length > 0) {
          writeLine(
            ctx.out,
            `${result.absent.length} case(s) of the official split lists are absent from ${opts.raw}`,
          );
        }
        if (result.heldOut.length > 0) {
          writeLine(
            ctx.out,
            `validation split: ${result.heldOut.length} case(s) held out of the train list (${result.heldOut.join(', ')})`,
          );
        }
        writeLine(ctx.out, `dataset: ${result.datasetJson}`);
        if (result.failed.length > 0) {
          for (const f of result.failed) writeLine(ctx.err, `failed: ${f.case}: ${f.error}`);
          throw new SsmisError(`${result.failed.length} case(s) could not be prepared (listed above)`, 1);
        }
      },
    );
}

/** `ssmis synth --dataset NAME --out DIR`. */
export function registerSynth(program: Command, ctx: CliContext): void {
  program
    .command('synth')
    .description('make synthetic phantoms in a dataset’s raw download layout (for tests, demos and trials)')
    .requiredOption('--dataset <name>', `one of ${PRESET_DATASETS.join(', ')}`)
    .requiredOption('--out <dir>', 'folder to write the raw layout into')
    .option('--cases <n>', 'number of cases (ACDC: patients)')
    .option('--seed <n>', 'random seed', '0')
    .option('--size <x,y,z>', 'raw volume size in voxels (one number applies to every axis)')
    .option('--format <nrrd|h5>', 'LA only: challenge NRRD files (default) or UA-MT mri_norm2.h5 files')
    .option(
      `--difficulty <${LA_DIFFICULTY_PRESET_NAMES.join('|')}>`,
      `LA only: how much the phantoms vary between cases: ${LA_DIFFICULTY_PRESET_LIST} (default standard; see docs/synth.md)`,
    )
    .option(
      '--force',
      'replace an earlier synth output in a non-empty --out (removes only the files synth wrote there)',
    )
    .action(
      async (opts: {
        dataset: string;
        out: string;
        cases?: string;
        seed: string;
        size?: string;
        format?: string;
        difficulty?: string;
        force?: boolean;
      }) => {
        const dataset = presetDataset(opts.dataset, 'synth --dataset');
        if (opts.difficulty !== undefined && !isLaDifficultyPreset(opts.difficulty)) {
          throw new InputError(
            `--difficulty: expected ${LA_DIFFICULTY_PRESET_LIST}, got '${opts.difficulty}'`,
          );
        }
        const progress = new Progress(ctx.err, `synth ${dataset}`);
        const result = await synthesize({
          dataset,
          out: opts.out,
          cases: opts.cases === undefined ? undefined : parseInteger(opts.cases, '--cases'),
          seed: parseInteger(opts.seed, '--seed'),
          size: opts.size === undefined ? undefined : parseSizeList(opts.size, '--size'),
          format: opts.format as 'nrrd' | 'h5' | undefined,
          difficulty: opts.difficulty,
          force: opts.force,
          onProgress: (p) => progress.update({ done: p.done, total: p.total, detail: p.case }),
        });
        const counts = Object.entries(result.ids)
          .map(([split, ids]) => `${(ids as string[]).length} ${split}`)
          .join(', ');
        writeLine(ctx.out, `wrote ${result.files.length} files for ${counts} cases in ${result.root}`);
        writeLine(ctx.out, `next: ssmis prepare ${dataset} --raw ${opts.out} --out <dataset folder>`);
      },
    );
}

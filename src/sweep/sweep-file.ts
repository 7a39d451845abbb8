/**
 * A sweep file: the flags of `ssmis sweep` in YAML, for sweeps that are kept with a project (a paper's table):
 *
 * ```yaml
 * config: ../configs/la-5pct.yaml      # the base config, relative to this file
 * rows:                                # named settings, each crossed with the grid and the seeds (optional)
 *   supervised: [method.name=supervised]
 *   cpam-trcm: [method.name=cpam-trcm]
 *   upper: [method.name=supervised, data.labeled.count=null, data.labeled.percent=100, train.batch.unlabeled=0]
 * grid:                                # axes of the cartesian product
 *   method.name: [supervised, bcp, cpam-trcm]
 * seeds: 1-5                           # or [1, 2, 3]
 * set: [train.validation.interval=200] # overrides of every run
 * out: runs/sweeps/la-5pct             # the sweep folder, relative to the current folder
 * parallel: 2                          # local runs at once (Slurm: tasks at once)
 * slurm: { partition: gpu, time: "12:00:00", cpus: 8, mem: 32G, gpus: 1 }
 * ```
 *
 * Run names are `<run.name>-<row>-<key>_<value>-...-seed_<n>` (the row part only with rows), e.g.
 * `la-upper-seed_3`; `ssmis collect` tells rows apart by the label key `row` (`--baseline row=supervised`).
 */
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { readInputText } from '../io/read-file.js';
import { requireString } from '../util/args.js';
import { errorMessage, InputError } from '../util/errors.js';
import { checkGrid, checkRows, type GridAxis, parseSeeds, type SweepRow } from './plan.js';
import { parseSlurmResources, type SlurmResources } from './slurm.js';

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const gridValue = z.union([scalar, z.array(z.unknown()), z.record(z.string(), z.unknown())]);

const sweepFileSchema = z
  .object({
    config: z.string().min(1),
    rows: z.record(z.string(), z.array(z.string())).optional(),
    grid: z.record(z.string(), z.array(gridValue).min(1)).default({}),
    seeds: z.union([z.string(), z.int().min(0), z.array(z.int().min(0)).min(1)]).optional(),
    set: z.array(z.string()).default([]),
    out: z.string().min(1).optional(),
    parallel: z.int().min(1).optional(),
    slurm: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** A sweep file's content, paths resolved. */
export interface SweepFile {
  /** The base config (absolute). */
  config: string;
  /** Named rows (empty without `rows:`). */
  rows: SweepRow[];
  grid: GridAxis[];
  seeds?: number[];
  set: string[];
  /** The sweep folder (absolute), when given. */
  out?: string;
  parallel?: number;
  slurm: SlurmResources;
}

/** A grid value as `--set` text: scalars as written, lists and mappings as YAML flow (JSON) text. */
function valueText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : JSON.stringify(value);
}

/**
 * Reads a sweep file.
 * @param file - A `.yaml`/`.yml` file.
 * @returns Its content with the base config resolved against the file's folder and `out` against the current one.
 * @throws InputError naming the file and the field.
 */
export async function readSweepFile(file: string): Promise<SweepFile> {
  requireString('readSweepFile', 'file', file);
  const text = await readInputText(file, 'sweep file', { maxBytes: 2 ** 20 });
  let raw: unknown;
  try {
    raw = parseYaml(text, { schema: 'core', merge: false, uniqueKeys: true, maxAliasCount: 100 });
  } catch (error) {
    throw new InputError(`${file}: not YAML (${errorMessage(error).split('\n')[0]})`);
  }
  const parsed = sweepFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || '(top level)';
    throw new InputError(`${file}: field "${field}": ${issue?.message ?? 'invalid'}`);
  }
  const value = parsed.data;
  const grid = checkGrid(
    Object.entries(value.grid).map(([key, values]) => ({ key, values: values.map(valueText) })),
    `${file}: grid`,
  );
  const rows = checkRows(
    Object.entries(value.rows ?? {}).map(([name, set]) => ({ name, set })),
    `${file}: rows`,
  );
  let seeds: number[] | undefined;
  if (value.seeds !== undefined) {
    const list = Array.isArray(value.seeds) ? value.seeds.join(',') : String(value.seeds);
    try {
      seeds = parseSeeds(list);
    } catch (error) {
      throw new InputError(`${file}: field "seeds": ${errorMessage(error).replace(/^--seeds [^:]*: /, '')}`);
    }
  }
  return {
    config: path.resolve(path.dirname(path.resolve(file)), value.config),
    rows,
    grid,
    seeds,
    set: value.set,
    out: value.out === undefined ? undefined : path.resolve(value.out),
    parallel: value.parallel,
    slurm: parseSlurmResources(value.slurm ?? {}, `${file}: field "slurm"`),
  };
}

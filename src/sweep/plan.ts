/**
 * A sweep: a base config, named rows (each a list of `key=value` overrides: settings that are not a product, e.g.
 * a method's row beside an upper bound that changes three keys), grid axes (`key=v1,v2,...`, several axes form
 * their cartesian product) and seeds, expanded into one resolved run config per row × combination × seed, each
 * with a deterministic run name. The sweep folder
 * holds `sweep.json` (the plan), `configs/<run>.yaml` (what each run trains), `runs/<run>/` (the run folders)
 * and `logs/<run>.log`. Writing the same plan again is a no-op; a different plan in the same folder is refused,
 * so a re-run of the same command continues a sweep and never mixes two.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { configToYaml, loadConfig, type SsmisConfig } from '../config/index.js';
import { readInputText } from '../io/read-file.js';
import {
  requireArray,
  requireObject,
  requireOptions,
  requireString,
  requireStringArray,
} from '../util/args.js';
import { writeFileAtomic } from '../util/atomic.js';
import { errorMessage, InputError } from '../util/errors.js';
import { packageVersion } from '../util/package-info.js';

/** One grid axis: a config key and the values it takes (YAML scalars or flow collections, as `--set` reads them). */
export interface GridAxis {
  key: string;
  values: string[];
}

/** One named row of a sweep: the overrides that make one setting (applied after `set`, before the grid's). */
export interface SweepRow {
  /** Part of every run name of the row; letters, digits, `.`, `_`, `-`. */
  name: string;
  /** `key=value` overrides (`key=null` removes an inherited value, e.g. `data.labeled.count=null`). */
  set: string[];
}

/** What a sweep is made of (paths absolute). */
export interface SweepSpec {
  /** The base config file. */
  config: string;
  /** Named rows, each crossed with the grid and the seeds; none (or empty) means one row: the base config. */
  rows?: SweepRow[];
  grid: GridAxis[];
  /** `train.seed` of each run; null keeps the base config's seed. */
  seeds: number[] | null;
  /** `key=value` overrides applied to every run before the grid's. */
  set: string[];
  /** The sweep folder; default `<run.outputDir>/sweeps/<run.name>` of the base config. */
  out?: string;
}

/** One run of a sweep. */
export interface SweepRun {
  /** Position in the plan (the Slurm array index). */
  index: number;
  /** Run name (`run.name`), also the run folder's, the config file's and the log's name. */
  name: string;
  /** The row's name, or null in a sweep without rows. */
  row: string | null;
  /** The grid value of each axis, in axis order. */
  assignments: Record<string, string>;
  seed: number;
  /** `<out>/configs/<name>.yaml`. */
  configFile: string;
  /** `<out>/runs/<name>`. */
  runDir: string;
  /** The resolved config of the run. */
  config: SsmisConfig;
  /** The YAML written to `configFile`. */
  yaml: string;
}

/** An expanded sweep. */
export interface SweepPlan {
  spec: SweepSpec;
  /** The base config's `run.name`, the prefix of every run name. */
  baseName: string;
  runs: SweepRun[];
  paths: SweepPaths;
}

/** The files of a sweep folder. */
export interface SweepPaths {
  dir: string;
  plan: string;
  configs: string;
  runs: string;
  logs: string;
  slurm: string;
}

/** The paths of the sweep folder `dir` (nothing is read or created). */
export function sweepPaths(dir: string): SweepPaths {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    plan: path.join(abs, 'sweep.json'),
    configs: path.join(abs, 'configs'),
    runs: path.join(abs, 'runs'),
    logs: path.join(abs, 'logs'),
    slurm: path.join(abs, 'slurm'),
  };
}

const KEY_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;
/** Keys a sweep sets itself: the run's identity and where it goes, and the seed (`--seeds`). */
const RESERVED = ['run.name', 'run.outputDir'];

/** Splits at commas outside brackets and braces, so `[32,32,16]` stays one value. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function checkAxisKey(key: string, where: string): void {
  if (!KEY_PATH.test(key)) {
    throw new InputError(`${where}: expected a config key path such as method.name, got "${key}"`);
  }
  if (RESERVED.includes(key)) {
    throw new InputError(`${where}: ${key} is set by the sweep itself (run names and the sweep folder)`);
  }
  if (key === 'train.seed') throw new InputError(`${where}: give seeds with --seeds (e.g. --seeds 1-5)`);
}

/**
 * Parses one `--grid key=v1,v2,...` flag (commas inside `[...]` or `{...}` do not split).
 * @param text - The flag's value.
 * @returns The axis.
 * @throws InputError naming the flag when the key is not a config key path, is set by the sweep itself, or a
 *   value is empty or repeated.
 */
export function parseGridFlag(text: string): GridAxis {
  const eq = text.indexOf('=');
  if (eq < 0)
    throw new InputError(`--grid ${text}: expected key=value1,value2,... (e.g. method.name=bcp,cpam)`);
  const key = text.slice(0, eq).trim();
  const values = splitTopLevel(text.slice(eq + 1));
  checkAxisKey(key, `--grid ${text}`);
  return checkAxis({ key, values }, `--grid ${text}`);
}

function checkAxis(axis: GridAxis, where: string): GridAxis {
  if (axis.values.length === 0 || axis.values.some((v) => v === '')) {
    throw new InputError(`${where}: expected non-empty values separated by commas`);
  }
  const repeated = axis.values.find((v, i) => axis.values.indexOf(v) !== i);
  if (repeated !== undefined) throw new InputError(`${where}: value "${repeated}" is listed twice`);
  return axis;
}

/**
 * Checks a list of axes (from flags or a sweep file): key paths, values, and no key on two axes.
 * @param grid - The axes.
 * @param where - Where they came from, for messages (`--grid`, a sweep file).
 * @returns The axes.
 * @throws InputError naming the axis.
 */
export function checkGrid(grid: readonly GridAxis[], where: string): GridAxis[] {
  const seen = new Set<string>();
  for (const axis of grid) {
    checkAxisKey(axis.key, `${where} ${axis.key}`);
    checkAxis(axis, `${where} ${axis.key}`);
    if (seen.has(axis.key)) throw new InputError(`${where}: ${axis.key} is given on two grid axes`);
    seen.add(axis.key);
  }
  return [...grid];
}

const ROW_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Parses one `--row name:key=value,key=value` flag (commas inside `[...]` or `{...}` do not split; a row without
 * overrides is `name:`).
 * @param text - The flag's value.
 * @returns The row.
 * @throws InputError naming the flag when the name or an override is malformed.
 */
export function parseRowFlag(text: string): SweepRow {
  const colon = text.indexOf(':');
  if (colon < 0) {
    throw new InputError(
      `--row ${text}: expected name:key=value,key=value (e.g. upper:data.labeled.count=null,data.labeled.percent=100)`,
    );
  }
  const rest = text.slice(colon + 1).trim();
  const row = { name: text.slice(0, colon).trim(), set: rest === '' ? [] : splitTopLevel(rest) };
  return checkRows([row], `--row ${text}`)[0];
}

/**
 * Checks a list of rows (from flags or a sweep file): names usable in a folder name and unique, every override
 * `key=value` with a config key path the sweep does not set itself.
 * @param rows - The rows.
 * @param where - Where they came from, for messages (`--row`, a sweep file).
 * @returns The rows.
 * @throws InputError naming the row.
 */
export function checkRows(rows: readonly SweepRow[], where: string): SweepRow[] {
  const seen = new Set<string>();
  for (const row of rows) {
    if (!ROW_NAME.test(row.name)) {
      throw new InputError(
        `${where}: row name "${row.name}": expected letters, digits, '.', '_' or '-' (it is part of the run names)`,
      );
    }
    if (seen.has(row.name)) throw new InputError(`${where}: row ${row.name} is given twice`);
    seen.add(row.name);
    for (const item of row.set) {
      const eq = item.indexOf('=');
      if (eq < 0 || item.slice(eq + 1).trim() === '') {
        throw new InputError(`${where}: row ${row.name}: expected key=value, got "${item}"`);
      }
      checkAxisKey(item.slice(0, eq).trim(), `${where}: row ${row.name}`);
    }
  }
  return rows.map((r) => ({ name: r.name, set: [...r.set] }));
}

/**
 * Parses `--seeds`: a range `1-5`, a list `1,3,7`, or both `1-3,9`.
 * @param text - The flag's value.
 * @returns The seeds in the given order.
 * @throws InputError naming the flag when a part is not a seed (an integer in [0, 2³²−1]), a range runs
 *   backwards or is longer than 1000, or a seed is repeated.
 */
export function parseSeeds(text: string): number[] {
  const where = `--seeds ${text}`;
  const seeds: number[] = [];
  const seed = (s: string) => {
    if (!/^\d+$/.test(s) || Number(s) > 0xffffffff) {
      throw new InputError(
        `${where}: expected seeds such as 1-5 or 1,3,7 (integers 0 to 4294967295), got "${s}"`,
      );
    }
    return Number(s);
  };
  for (const part of text.split(',').map((p) => p.trim())) {
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(part);
    if (range) {
      const [a, b] = [seed(range[1]), seed(range[2])];
      if (b < a || b - a >= 1000) {
        throw new InputError(`${where}: the range ${part} must run upwards over at most 1000 seeds`);
      }
      for (let s = a; s <= b; s++) seeds.push(s);
    } else seeds.push(seed(part));
  }
  const repeated = seeds.find((s, i) => seeds.indexOf(s) !== i);
  if (repeated !== undefined) throw new InputError(`${where}: seed ${repeated} is listed twice`);
  return seeds;
}

/** Text as it may appear in a folder name: runs of other characters become one `_`. */
function safePart(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** Longest run name the config accepts. */
const MAX_NAME = 100;

/**
 * The run name of one combination: `<base>[-<row>]-<key>_<value>-...-seed_<n>`, runs of characters a folder name
 * may not hold replaced by `_` (and dropped at the ends of a value: `[32, 32, 16]` → `32_32_16`); a name longer
 * than `run.name` allows keeps its start and ends with a hash of the whole.
 */
export function runName(
  baseName: string,
  assignments: Record<string, string>,
  seed: number,
  row: string | null = null,
): string {
  const value = (v: string) => safePart(v).replace(/^_+|_+$/g, '');
  const parts = [
    safePart(baseName),
    ...(row === null ? [] : [safePart(row)]),
    ...Object.entries(assignments).map(([k, v]) => `${safePart(k)}_${value(v)}`),
  ];
  const name = [...parts, `seed_${seed}`].join('-');
  if (name.length <= MAX_NAME) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_NAME - 9)}-${hash}`;
}

function combinations(grid: readonly GridAxis[]): Record<string, string>[] {
  let out: Record<string, string>[] = [{}];
  for (const axis of grid) out = out.flatMap((c) => axis.values.map((v) => ({ ...c, [axis.key]: v })));
  return out;
}

/**
 * Expands a sweep into its runs: every row (in order) × every grid combination (cartesian product of the axes,
 * first axis slowest) × every seed, each loaded from the base config with the sweep's `set`, the row's
 * overrides, the combination, the seed, its run name and the sweep's `runs/` folder as `run.outputDir`. Nothing
 * is written.
 * @param spec - Base config, rows, grid, seeds, overrides and sweep folder.
 * @returns The plan.
 * @throws InputError when the base config or a run's config is invalid (the message names the run), or two
 *   combinations would get the same run name.
 */
export async function expandSweep(spec: SweepSpec): Promise<SweepPlan> {
  requireObject('expandSweep', 'spec', spec, 'a sweep (config, grid, seeds, set, out)');
  requireString('expandSweep', 'spec.config', spec.config);
  requireArray('expandSweep', 'spec.grid', spec.grid, 'an array of grid axes');
  requireStringArray('expandSweep', 'spec.set', spec.set);
  if (spec.rows !== undefined) requireArray('expandSweep', 'spec.rows', spec.rows, 'an array of rows');
  const rows = spec.rows === undefined || spec.rows.length === 0 ? [] : checkRows(spec.rows, 'sweep rows');
  const base = (await loadConfig(spec.config, { set: spec.set })).config;
  const paths = sweepPaths(spec.out ?? path.join(base.run.outputDir, 'sweeps', base.run.name));
  const seeds = spec.seeds ?? [base.train.seed];
  const runs: SweepRun[] = [];
  const names = new Map<string, string>();
  for (const row of rows.length === 0 ? [null] : rows)
    for (const assignments of combinations(spec.grid)) {
      for (const seed of seeds) {
        const name = runName(base.run.name, assignments, seed, row?.name ?? null);
        const what = [
          ...(row === null ? [] : [`row ${row.name}`]),
          ...Object.entries(assignments).map(([k, v]) => `${k}=${v}`),
          `seed ${seed}`,
        ].join(', ');
        const clash = names.get(name);
        if (clash !== undefined) {
          throw new InputError(
            `sweep: "${clash}" and "${what}" give the same run name ${name}; use values that differ in letters or digits`,
          );
        }
        names.set(name, what);
        const sets = [
          ...spec.set,
          ...(row?.set ?? []),
          ...Object.entries(assignments).map(([k, v]) => `${k}=${v}`),
          `train.seed=${seed}`,
          `run.name=${name}`,
          `run.outputDir=${paths.runs}`,
        ];
        let config: SsmisConfig;
        try {
          config = (await loadConfig(spec.config, { set: sets })).config;
        } catch (error) {
          throw new InputError(`sweep run ${name} (${what}): ${errorMessage(error)}`, { cause: error });
        }
        const header = `ssmis sweep: run ${name} of ${path.basename(spec.config)} (${what})`;
        runs.push({
          index: runs.length,
          name,
          row: row?.name ?? null,
          assignments,
          seed,
          configFile: path.join(paths.configs, `${name}.yaml`),
          runDir: path.join(paths.runs, name),
          config,
          yaml: configToYaml(config, { header }),
        });
      }
    }
  return { spec: { ...spec, rows, out: paths.dir }, baseName: base.run.name, runs, paths };
}

/** The content of `sweep.json`. */
const sweepFileSchema = z.object({
  tool: z.literal('ssmis'),
  kind: z.literal('sweep'),
  version: z.string(),
  base: z.string(),
  rows: z.array(z.object({ name: z.string(), set: z.array(z.string()) })).optional(),
  grid: z.array(z.object({ key: z.string(), values: z.array(z.string()) })),
  seeds: z.array(z.number()).nullable(),
  set: z.array(z.string()),
  runs: z.array(
    z.object({
      name: z.string(),
      row: z.string().optional(),
      seed: z.number(),
      assignments: z.record(z.string(), z.string()),
    }),
  ),
});

/** What `sweep.json` records. */
export type SweepRecord = z.infer<typeof sweepFileSchema>;

function recordOf(plan: SweepPlan): SweepRecord {
  const { spec } = plan;
  // A sweep without rows records what it recorded before rows existed.
  const rows = spec.rows !== undefined && spec.rows.length > 0 ? { rows: spec.rows } : {};
  return {
    tool: 'ssmis',
    kind: 'sweep',
    version: packageVersion(),
    base: spec.config,
    ...rows,
    grid: spec.grid,
    seeds: spec.seeds,
    set: spec.set,
    runs: plan.runs.map((r) => ({
      name: r.name,
      ...(r.row === null ? {} : { row: r.row }),
      seed: r.seed,
      assignments: r.assignments,
    })),
  };
}

/**
 * Reads a sweep folder's `sweep.json`.
 * @param dir - The sweep folder.
 * @returns The record, or null when the folder has no `sweep.json`.
 * @throws InputError when the file exists but is not a sweep record.
 */
export async function readSweepRecord(dir: string): Promise<SweepRecord | null> {
  const file = sweepPaths(dir).plan;
  if (!existsSync(file)) return null;
  const text = await readInputText(file, 'sweep record', { maxBytes: 64 * 2 ** 20 });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${file}: not JSON (${errorMessage(error)})`);
  }
  const parsed = sweepFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(`${file}: not a sweep record (field "${issue?.path.join('.')}": ${issue?.message})`);
  }
  return parsed.data;
}

/** Options of {@link writeSweep}. */
export interface WriteSweepOptions {
  /**
   * Accept a plan that keeps every run of the folder's plan and adds runs (more seeds or rows): the plan grew, it
   * is still the same sweep. The runs both have must still have the same config. Default false: any other list
   * of runs is refused.
   */
  addRuns?: boolean;
}

/**
 * Writes the sweep folder's plan and run configs, or checks that an earlier invocation wrote the same ones (a
 * re-run continues the sweep). A folder holding another sweep, or a run config that differs from the plan's
 * (the base config changed), is refused before anything is written.
 * @param plan - The expanded sweep.
 * @param options - Whether a plan that adds runs to the folder's continues it.
 * @returns True when the plan was written now, false when the folder already held it (or a part of it).
 * @throws InputError naming the folder and the first difference.
 */
export async function writeSweep(plan: SweepPlan, options: WriteSweepOptions = {}): Promise<boolean> {
  requireOptions('writeSweep', 'options', options);
  const { paths } = plan;
  const record = recordOf(plan);
  const before = await readSweepRecord(paths.dir);
  const refuse = (why: string) =>
    new InputError(`${paths.dir} holds another sweep (${why}); choose another --out, or delete the folder`);
  if (before !== null) {
    const names = (r: SweepRecord) => r.runs.map((x) => x.name).join('\n');
    const dropped = before.runs.find((b) => !record.runs.some((r) => r.name === b.name));
    if (options.addRuns === true && dropped !== undefined) {
      throw refuse(`it has the run ${dropped.name}, which this sweep does not`);
    }
    if (options.addRuns !== true && names(before) !== names(record)) {
      const missing = record.runs.find((r) => !before.runs.some((b) => b.name === r.name));
      throw refuse(
        missing
          ? `it has no run ${missing.name}`
          : `it has ${before.runs.length} runs, this sweep ${record.runs.length}`,
      );
    }
  }
  for (const run of plan.runs) {
    if (!existsSync(run.configFile)) continue;
    const text = await readInputText(run.configFile, 'sweep run config');
    if (text !== run.yaml) {
      throw refuse(
        `${path.relative(paths.dir, run.configFile)} differs from what this sweep would write: did the base config or --set change?`,
      );
    }
  }
  const same = before !== null && JSON.stringify(before.runs) === JSON.stringify(record.runs);
  if (same && plan.runs.every((r) => existsSync(r.configFile))) return false;
  for (const run of plan.runs) {
    if (!existsSync(run.configFile)) await writeFileAtomic(run.configFile, run.yaml);
  }
  await writeFileAtomic(paths.plan, `${JSON.stringify(record, null, 1)}\n`);
  return before === null;
}

/**
 * `ssmis collect`: every run's final evaluation (`<run>/eval/summary.json`) gathered into one table. Runs are
 * grouped into settings (same config but for the seed and the run's name), each setting summarised as mean ±
 * sample std over its seeds, and compared with a baseline setting by the mean paired difference over the seeds
 * both have, with a 95 % Student-t confidence interval. Every run's protocol is kept, and runs that are missing,
 * unfinished or failed are listed instead of silently left out.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loadConfig, type SsmisConfig } from '../config/index.js';
import type { MetricName } from '../eval/protocol.js';
import { mean, type PairedDifference, pairedDifference, sampleStd } from '../eval/stats.js';
import { readInputText } from '../io/read-file.js';
import { planData } from '../train/plan.js';
import { inspectRunFolder, runPaths } from '../train/run-dir.js';
import { isPlainObject, requireOptions, requireString } from '../util/args.js';
import { errorMessage, InputError } from '../util/errors.js';
import { readSweepRecord, sweepPaths } from './plan.js';
import { failureLine, runLogSaysDone } from './run-state.js';

/** The metrics a collection tabulates: the paper's four. */
export const COLLECT_METRICS = ['dice', 'jaccard', 'hd95', 'asd'] as const satisfies readonly MetricName[];
/** One of {@link COLLECT_METRICS}. */
export type CollectMetric = (typeof COLLECT_METRICS)[number];

/** How a run's numbers were made: what must match for two runs to be compared. */
export interface RunProtocol {
  /** `strict` or `paper`. */
  protocol: string;
  /** `mm` or `voxel`. */
  units: string;
  /** Largest connected component kept (its connectivity), or `off`. */
  largestComponent: string;
  /** The split the model was selected on (`val`, `test`), or `last`. */
  selection: string;
  /** The split evaluated. */
  split: string;
  numCases: number;
}

/** The state of a run in a collection. */
export type CollectedStatus =
  /** Trained and evaluated: its metrics count. */
  | 'finished'
  /** Training ended without a final evaluation (no case in the evaluation split). */
  | 'unevaluated'
  /** The run folder exists but training has not ended (stopped, failed, or running). */
  | 'unfinished'
  /** Listed in the sweep, no run folder. */
  | 'missing'
  /** Its config or summary cannot be read. */
  | 'unreadable';

/** One run of a collection. */
export interface CollectedRun {
  name: string;
  runDir: string;
  status: CollectedStatus;
  /** Why it does not count (failure line of its log, a lock, a read error). */
  note: string | null;
  seed: number | null;
  /** The value of every label key (see {@link Collection.labelKeys}). */
  setting: Record<string, string>;
  /** The labeled share of the train split, e.g. `10 %` (paper layout columns). */
  labelRatio: string | null;
  protocol: RunProtocol | null;
  /** Mean over classes of the per-class means over cases; null when missing. */
  metrics: Record<CollectMetric, number | null> | null;
}

/** Mean ± sample std over the finished seeds of one setting. */
export interface MetricStats {
  mean: number | null;
  std: number | null;
  /** Seeds with a value. */
  n: number;
}

/** One setting: the runs that differ only in seed. */
export interface CollectedSetting {
  /** `key=value, ...` over the label keys, or `all runs` when nothing varies. */
  label: string;
  setting: Record<string, string>;
  /** Seeds of the finished runs, ascending. */
  seeds: number[];
  /** Runs of the setting, finished or not. */
  runs: number;
  metrics: Record<CollectMetric, MetricStats>;
  /** The protocols of its finished runs (one entry when they agree). */
  protocols: string[];
}

/** A setting against the baseline. */
export interface CollectedDifference {
  setting: string;
  baseline: string;
  /** Per metric: setting − baseline, paired by seed; null when the two were scored differently. */
  metrics: Record<CollectMetric, PairedDifference> | null;
  /** Why no difference was computed, when so. */
  note: string | null;
}

/** The result of {@link collectRuns}. */
export interface Collection {
  dir: string;
  /**
   * The keys that tell settings apart: a sweep's `row` (with rows) and grid keys, else the config keys that vary
   * among the runs.
   */
  labelKeys: string[];
  runs: CollectedRun[];
  settings: CollectedSetting[];
  /** The baseline (`key=value`), when one was asked for. */
  baseline: string | null;
  differences: CollectedDifference[];
}

/** Text of a protocol, e.g. `strict, mm, largest component off, selected on val, test split`. */
export function protocolText(p: RunProtocol): string {
  return `${p.protocol}, ${p.units}, largest component ${p.largestComponent}, selected on ${p.selection}, ${p.split} split (${p.numCases} cases)`;
}

const summarySchema = z.object({
  protocol: z.string(),
  units: z.string(),
  numCases: z.number(),
  classMean: z.record(z.string(), z.number().nullable()),
  largestComponent: z.object({ enabled: z.boolean(), connectivity: z.number().nullable() }).optional(),
  selection: z.object({ split: z.string().nullable() }).optional(),
  source: z.object({ split: z.string().nullable().optional() }).optional(),
});

/**
 * Reads the parts of a run's `eval/summary.json` a collection uses.
 * @param runDir - The run folder.
 * @returns Its protocol and metrics (mean over classes of the per-class means), or null without a summary.
 * @throws InputError when the summary is not an ssmis evaluation summary.
 */
export async function readRunSummary(
  runDir: string,
): Promise<{ protocol: RunProtocol; metrics: Record<CollectMetric, number | null> } | null> {
  const file = path.join(runPaths(runDir).evalDir, 'summary.json');
  if (!existsSync(file)) return null;
  const text = await readInputText(file, 'evaluation summary', { maxBytes: 256 * 2 ** 20 });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${file}: not JSON (${errorMessage(error)})`);
  }
  const parsed = summarySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(`${file}: not an ssmis evaluation summary (field "${issue?.path.join('.')}")`);
  }
  const s = parsed.data;
  const lcc = s.largestComponent;
  const metrics = {} as Record<CollectMetric, number | null>;
  for (const m of COLLECT_METRICS) metrics[m] = s.classMean[m] ?? null;
  return {
    protocol: {
      protocol: s.protocol,
      units: s.units,
      largestComponent: lcc === undefined ? 'unknown' : lcc.enabled ? String(lcc.connectivity) : 'off',
      selection: s.selection?.split ?? 'unknown',
      split: s.source?.split ?? 'unknown',
      numCases: s.numCases,
    },
    metrics,
  };
}

/** Config keys that name a run rather than describe its setting. */
const IDENTITY_KEYS = new Set(['run.name', 'run.outputDir', 'run.description', 'train.seed']);

/** Every leaf of a config as `key.path → text` (strings as they are, other values as JSON). */
function flatten(value: unknown, prefix: string, out: Map<string, string>): Map<string, string> {
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else if (value !== undefined && !IDENTITY_KEYS.has(prefix)) {
    out.set(prefix, typeof value === 'string' ? value : JSON.stringify(value));
  }
  return out;
}

/** Run folders under `dir` (the folder itself, or up to six levels down; a run's own folders are not searched). */
async function findRunFolders(dir: string, depth = 0): Promise<string[]> {
  const info = await inspectRunFolder(dir);
  if (info.marked || info.legacy) return [dir];
  if (depth >= 6 || !info.exists) return [];
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const found: string[] = [];
  for (const e of entries
    .filter((x) => x.isDirectory() && !x.name.startsWith('.'))
    .sort((a, b) => a.name.localeCompare(b.name))) {
    found.push(...(await findRunFolders(path.join(dir, e.name), depth + 1)));
  }
  return found;
}

/** The labeled share of a run's train split (`10 %`), from the config's percent or its count and the dataset. */
async function labelRatio(config: SsmisConfig): Promise<string> {
  const labeled = config.data.labeled;
  if ('percent' in labeled) return `${labeled.percent} %`;
  try {
    const data = await planData(config);
    const total = data.labeledIds.length + data.unlabeledIds.length;
    return `${Number(((100 * data.labeledIds.length) / total).toFixed(1))} %`;
  } catch {
    return `${labeled.count} labeled`;
  }
}

interface Found {
  name: string;
  runDir: string;
  /** From the sweep record (its row and grid values), when the folder is a sweep. */
  assignments: Record<string, string> | null;
  seed: number | null;
}

/**
 * Mean ± sample std of one metric over seeds.
 * @param values - One value per seed.
 * @returns The stats; the std is null below two values.
 */
export function metricStats(values: readonly number[]): MetricStats {
  return { mean: mean(values), std: values.length < 2 ? null : sampleStd(values), n: values.length };
}

function labelOf(setting: Record<string, string>): string {
  const parts = Object.entries(setting).map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? 'all runs' : parts.join(', ');
}

/** Options of {@link collectRuns}. */
export interface CollectOptions {
  /** `key=value`: the setting(s) every other is compared with. */
  baseline?: string;
}

/**
 * Gathers the runs under `dir`: a sweep folder (its `sweep.json` lists the runs, so missing ones are named) or
 * any folder holding run folders.
 * @param dir - The folder.
 * @param options - The baseline to compare with.
 * @returns Runs, settings and differences.
 * @throws InputError when `dir` holds no run, or the baseline names a key that does not tell settings apart or a
 *   value no setting has.
 */
export async function collectRuns(dir: string, options: CollectOptions = {}): Promise<Collection> {
  requireString('collectRuns', 'dir', dir);
  requireOptions('collectRuns', 'options', options);
  if (options.baseline !== undefined) requireString('collectRuns', 'options.baseline', options.baseline);
  const abs = path.resolve(dir);
  if (!existsSync(abs)) throw new InputError(`collect: ${abs} does not exist`);
  const record = await readSweepRecord(abs);
  const found: Found[] = record
    ? record.runs.map((r) => ({
        name: r.name,
        runDir: path.join(sweepPaths(abs).runs, r.name),
        // A sweep's row is its first label key (`row`), before the grid's.
        assignments: { ...(r.row === undefined ? {} : { row: r.row }), ...r.assignments },
        seed: r.seed,
      }))
    : (await findRunFolders(abs)).map((runDir) => ({
        name: path.relative(abs, runDir) || path.basename(runDir),
        runDir,
        assignments: null,
        seed: null,
      }));
  if (found.length === 0) {
    throw new InputError(`collect: ${abs} holds no run folder (nor a sweep.json of ssmis sweep)`);
  }
  const logsDir = sweepPaths(abs).logs;

  // Read every run: config (setting, seed, label ratio) and summary (protocol, metrics).
  const flats = new Map<string, Map<string, string>>();
  const runs: CollectedRun[] = [];
  for (const f of found) {
    const run: CollectedRun = {
      name: f.name,
      runDir: f.runDir,
      status: 'missing',
      note: null,
      seed: f.seed,
      setting: {},
      labelRatio: null,
      protocol: null,
      metrics: null,
    };
    runs.push(run);
    const paths = runPaths(f.runDir);
    if (!existsSync(paths.config)) {
      run.note = existsSync(f.runDir) ? 'no config.yaml yet' : null;
      run.status = existsSync(f.runDir) ? 'unfinished' : 'missing';
      continue;
    }
    try {
      const config = (await loadConfig(paths.config)).config;
      run.seed = config.train.seed;
      run.labelRatio = await labelRatio(config);
      flats.set(f.name, flatten(config, '', new Map()));
      if (!(await runLogSaysDone(f.runDir))) {
        run.status = 'unfinished';
        // Only the CLI's error line: the last line of a running training's log is its progress.
        const last = record ? await failureLine(path.join(logsDir, `${f.name}.log`)) : '';
        const why = last.startsWith('ssmis: ') ? last : '';
        const locked = existsSync(paths.lock) ? 'locked by a training (running, or killed)' : '';
        run.note = [why, locked].filter((x) => x !== '').join('; ') || null;
        continue;
      }
      const summary = await readRunSummary(f.runDir);
      if (summary === null) {
        run.status = 'unevaluated';
        run.note = 'training ended without a final evaluation (eval/summary.json)';
        continue;
      }
      run.status = 'finished';
      run.protocol = summary.protocol;
      run.metrics = summary.metrics;
    } catch (error) {
      run.status = 'unreadable';
      run.note = errorMessage(error);
    }
  }

  // Label keys: the sweep's grid keys, else the config keys whose values differ among the runs.
  let labelKeys: string[];
  if (record) {
    labelKeys = [...(record.rows?.length ? ['row'] : []), ...record.grid.map((a) => a.key)];
    for (const [i, f] of found.entries()) runs[i].setting = { ...(f.assignments ?? {}) };
  } else {
    const keys = new Set<string>();
    for (const flat of flats.values()) for (const k of flat.keys()) keys.add(k);
    const all = [...flats.values()];
    labelKeys = [...keys].filter((k) => all.some((f) => f.get(k) !== all[0].get(k)));
    for (const run of runs) {
      const flat = flats.get(run.name);
      if (flat) run.setting = Object.fromEntries(labelKeys.map((k) => [k, flat.get(k) ?? '(unset)']));
    }
  }

  // Settings, in the order they first appear.
  const groups = new Map<string, CollectedRun[]>();
  for (const run of runs) {
    if (record === null && !flats.has(run.name)) continue;
    const label = labelOf(run.setting);
    groups.set(label, [...(groups.get(label) ?? []), run]);
  }
  const settings: CollectedSetting[] = [...groups.entries()].map(([label, members]) => {
    const done = members.filter((r) => r.status === 'finished' && r.metrics !== null);
    const metrics = {} as Record<CollectMetric, MetricStats>;
    for (const m of COLLECT_METRICS) {
      metrics[m] = metricStats(
        done.map((r) => r.metrics?.[m]).filter((v): v is number => typeof v === 'number'),
      );
    }
    return {
      label,
      setting: members[0].setting,
      seeds: done
        .map((r) => r.seed)
        .filter((s): s is number => s !== null)
        .sort((a, b) => a - b),
      runs: members.length,
      metrics,
      protocols: [...new Set(done.map((r) => protocolText(r.protocol as RunProtocol)))],
    };
  });

  const differences =
    options.baseline === undefined ? [] : compare(settings, runs, groups, labelKeys, options.baseline);
  return { dir: abs, labelKeys, runs, settings, baseline: options.baseline ?? null, differences };
}

/** Paired differences of every setting against the baseline setting that matches it in every other label key. */
function compare(
  settings: readonly CollectedSetting[],
  runs: readonly CollectedRun[],
  groups: ReadonlyMap<string, CollectedRun[]>,
  labelKeys: readonly string[],
  baseline: string,
): CollectedDifference[] {
  const eq = baseline.indexOf('=');
  const key = eq < 0 ? '' : baseline.slice(0, eq).trim();
  const value = eq < 0 ? '' : baseline.slice(eq + 1).trim();
  if (eq < 0 || key === '')
    throw new InputError(`--baseline ${baseline}: expected key=value, e.g. method.name=supervised`);
  if (!labelKeys.includes(key)) {
    throw new InputError(
      `--baseline ${baseline}: ${key} does not tell the settings apart; ${labelKeys.length === 0 ? 'every run has the same setting' : `use one of ${labelKeys.join(', ')}`}`,
    );
  }
  const bases = settings.filter((s) => s.setting[key] === value);
  if (bases.length === 0) {
    const values = [...new Set(runs.map((r) => r.setting[key]).filter((v) => v !== undefined))].sort();
    throw new InputError(
      `--baseline ${baseline}: no setting has ${key}=${value} (found ${values.join(', ')})`,
    );
  }
  const others = labelKeys.filter((k) => k !== key);
  const perSeed = (label: string, m: CollectMetric) =>
    new Map(
      (groups.get(label) ?? [])
        .filter((r) => r.status === 'finished' && r.seed !== null && typeof r.metrics?.[m] === 'number')
        .map((r) => [r.seed as number, r.metrics?.[m] as number]),
    );
  return settings
    .filter((s) => s.setting[key] !== value)
    .map((s) => {
      const match = bases.filter((b) => others.every((k) => b.setting[k] === s.setting[k]));
      const base = match.length === 1 ? match[0] : bases.length === 1 ? bases[0] : null;
      if (base === null) {
        return {
          setting: s.label,
          baseline: baseline,
          metrics: null,
          note: 'no baseline setting with the same other values',
        };
      }
      if (
        s.protocols.length > 0 &&
        base.protocols.length > 0 &&
        s.protocols.join('\n') !== base.protocols.join('\n')
      ) {
        return {
          setting: s.label,
          baseline: base.label,
          metrics: null,
          note: 'scored under another protocol than its baseline',
        };
      }
      const metrics = {} as Record<CollectMetric, PairedDifference>;
      for (const m of COLLECT_METRICS)
        metrics[m] = pairedDifference(perSeed(s.label, m), perSeed(base.label, m));
      return { setting: s.label, baseline: base.label, metrics, note: null };
    });
}

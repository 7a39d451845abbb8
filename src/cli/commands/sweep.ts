import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { readRunSummary } from '../../sweep/collect.js';
import { type LocalSweepEvent, runSweepLocally, spawnTrain, threadsPerRun } from '../../sweep/local.js';
import {
  expandSweep,
  type GridAxis,
  parseGridFlag,
  parseRowFlag,
  parseSeeds,
  type SweepPlan,
  writeSweep,
} from '../../sweep/plan.js';
import { runAction, runState, trainArgv } from '../../sweep/run-state.js';
import { parseSlurmResources, submitSlurm, writeSlurmScript } from '../../sweep/slurm.js';
import { readSweepFile, type SweepFile } from '../../sweep/sweep-file.js';
import { InputError } from '../../util/errors.js';
import { type CliContext, writeLine } from '../context.js';
import { TrainExit } from './train.js';
import { collect } from './validate.js';

/** The `ssmis` entry script the runs are started with (`bin/ssmis.js`, three levels above this file). */
export function ssmisBin(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/ssmis.js');
}

interface SweepCommandOptions {
  file?: string;
  config?: string;
  grid: string[];
  row: string[];
  seeds?: string;
  set: string[];
  out?: string;
  parallel?: string;
  slurm?: boolean;
  dryRun?: boolean;
  wait?: boolean;
  slurmPartition?: string;
  slurmTime?: string;
  slurmCpus?: string;
  slurmMem?: string;
  slurmGpus?: string;
  slurmAccount?: string;
  slurmQos?: string;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InputError(`${flag}: expected a positive integer, got '${value}'`);
  }
  return n;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** The sweep of a command line: a sweep file's values, each replaced by the flag that gives it. */
async function sweepOfOptions(opts: SweepCommandOptions) {
  const file: SweepFile | null = opts.file ? await readSweepFile(opts.file) : null;
  const config = opts.config ? path.resolve(opts.config) : file?.config;
  if (config === undefined) throw new InputError('sweep needs --config BASE.yaml (or --file SWEEP.yaml)');
  const grid: GridAxis[] = opts.grid.length > 0 ? opts.grid.map(parseGridFlag) : (file?.grid ?? []);
  const keys = grid.map((a) => a.key);
  const twice = keys.find((k, i) => keys.indexOf(k) !== i);
  if (twice !== undefined)
    throw new InputError(`--grid: ${twice} is given twice; list its values in one flag`);
  const rows = opts.row.length > 0 ? opts.row.map(parseRowFlag) : (file?.rows ?? []);
  const names = rows.map((r) => r.name);
  const again = names.find((n, i) => names.indexOf(n) !== i);
  if (again !== undefined) throw new InputError(`--row: ${again} is given twice`);
  const seeds = opts.seeds !== undefined ? parseSeeds(opts.seeds) : (file?.seeds ?? null);
  const set = [...(file?.set ?? []), ...opts.set];
  const out = opts.out !== undefined ? path.resolve(opts.out) : file?.out;
  const parallel =
    opts.parallel !== undefined ? positiveInt(opts.parallel, '--parallel') : (file?.parallel ?? undefined);
  const flags: Record<string, unknown> = {};
  const numberOrText = (v: string) => (/^\d+$/.test(v) ? Number(v) : v);
  if (opts.slurmPartition !== undefined) flags.partition = opts.slurmPartition;
  if (opts.slurmTime !== undefined) flags.time = numberOrText(opts.slurmTime);
  if (opts.slurmCpus !== undefined) flags.cpus = positiveInt(opts.slurmCpus, '--slurm-cpus');
  if (opts.slurmMem !== undefined) flags.mem = numberOrText(opts.slurmMem);
  if (opts.slurmGpus !== undefined) flags.gpus = numberOrText(opts.slurmGpus);
  if (opts.slurmAccount !== undefined) flags.account = opts.slurmAccount;
  if (opts.slurmQos !== undefined) flags.qos = opts.slurmQos;
  const resources = { ...(file?.slurm ?? {}), ...parseSlurmResources(flags, '--slurm-* flags') };
  if (!opts.slurm && Object.keys(flags).length > 0) {
    throw new InputError('--slurm-* flags describe the job array of --slurm; add --slurm or drop them');
  }
  if (opts.wait && !opts.slurm) throw new InputError('--wait waits for the Slurm job array: add --slurm');
  return { spec: { config, rows, grid, seeds, set, out }, parallel, resources };
}

function eventLine(event: LocalSweepEvent, done: number, total: number): string | null {
  const n = `[${done}/${total}]`;
  switch (event.type) {
    case 'skipped':
      return `${n} skipped ${event.run.name} (${event.reason})`;
    case 'finished':
      return null;
    case 'failed':
      return `${n} FAILED ${event.run.name}${event.code !== null ? ` (exit ${event.code})` : ''}${event.message ? `: ${event.message}` : ''}; log ${event.log}`;
    case 'stopped':
      return `${n} stopped ${event.run.name}; the same command resumes it`;
    default:
      return null;
  }
}

async function finishedLine(event: LocalSweepEvent & { type: 'finished' }, n: string): Promise<string> {
  let score = '';
  try {
    const summary = await readRunSummary(event.run.runDir);
    const dice = summary?.metrics.dice;
    if (typeof dice === 'number') score = `: Dice ${dice.toFixed(4)} (${summary?.protocol.split} split)`;
  } catch {
    // The table (ssmis collect) reports an unreadable summary.
  }
  return `${n} finished ${event.run.name} in ${duration(event.seconds)}${score}`;
}

async function runLocal(plan: SweepPlan, parallel: number, ctx: CliContext): Promise<number> {
  const total = plan.runs.length;
  writeLine(
    ctx.err,
    `sweep: ${total} run${total === 1 ? '' : 's'} in ${plan.paths.dir}, ${parallel} at once, SSMIS_THREADS=${threadsPerRun(parallel)} each`,
  );
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    writeLine(ctx.err, `\n${sig}: the running trainings write their last checkpoint; nothing new starts`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let ended = 0;
  const lines: Promise<void>[] = [];
  try {
    const summary = await runSweepLocally(plan, {
      parallel,
      bin: ssmisBin(),
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'started') return;
        const n = `[${++ended}/${total}]`;
        if (event.type === 'finished') {
          lines.push(finishedLine(event, n).then((line) => writeLine(ctx.err, line)));
          return;
        }
        const line = eventLine(event, ended, total);
        if (line !== null) writeLine(ctx.err, line);
      },
    });
    await Promise.all(lines);
    writeLine(
      ctx.out,
      `sweep ${plan.paths.dir}: ${summary.total} runs: ${summary.finished} trained, ${summary.skipped} skipped (finished earlier), ${summary.failed} failed${summary.stopped > 0 ? `, ${summary.stopped} stopped` : ''}; table: ssmis collect ${plan.paths.dir}`,
    );
    if (summary.stopped > 0) return 130;
    return summary.failed > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runSlurm(
  plan: SweepPlan,
  resources: ReturnType<typeof parseSlurmResources>,
  opts: { parallel?: number; dryRun?: boolean; wait?: boolean },
  ctx: CliContext,
): Promise<number> {
  await fs.mkdir(plan.paths.logs, { recursive: true });
  const script = await writeSlurmScript(plan, {
    resources,
    node: process.execPath,
    bin: ssmisBin(),
    parallel: opts.parallel,
  });
  const pending: number[] = [];
  for (const run of plan.runs) {
    if (!runAction(await runState(run.runDir), run.configFile, run.runDir).skip) pending.push(run.index);
  }
  const skipped = plan.runs.length - pending.length;
  if (opts.dryRun) {
    writeLine(ctx.out, `wrote ${script} (${plan.runs.length} tasks); submit it with: sbatch ${script}`);
    return 0;
  }
  if (pending.length === 0) {
    writeLine(
      ctx.out,
      `every run of ${plan.paths.dir} finished earlier; nothing submitted (table: ssmis collect ${plan.paths.dir})`,
    );
    return 0;
  }
  const submitted = (jobId: string) =>
    writeLine(
      ctx.err,
      `submitted job array ${jobId}: ${pending.length} task${pending.length === 1 ? '' : 's'}${skipped > 0 ? ` (${skipped} finished earlier, not submitted)` : ''}; logs in ${plan.paths.logs}${opts.wait ? '; waiting for it to end' : ''}`,
    );
  const { jobId, code } = await submitSlurm(script, {
    indices: pending,
    parallel: opts.parallel,
    wait: opts.wait,
    onJobId: submitted,
  });
  if (!opts.wait) {
    writeLine(
      ctx.out,
      `job ${jobId} submitted; follow it with squeue -j ${jobId}; table when it ends: ssmis collect ${plan.paths.dir}`,
    );
    return 0;
  }
  let finished = 0;
  for (const run of plan.runs) if ((await runState(run.runDir)).kind === 'finished') finished++;
  writeLine(
    ctx.out,
    `job ${jobId} ended: ${finished} of ${plan.runs.length} runs finished; table: ssmis collect ${plan.paths.dir}`,
  );
  return finished === plan.runs.length && code === 0 ? 0 : 1;
}

/**
 * `ssmis sweep`: many runs of one base config (grid × seeds), on this machine or as one Slurm job array;
 * `ssmis sweep-task`: one run of a sweep, what each array task executes.
 */
export function registerSweep(program: Command, ctx: CliContext): void {
  program
    .command('sweep')
    .description(
      'train rows × a grid of settings × seeds from one base config: here (--parallel N) or as a Slurm job array (--slurm); re-running continues it',
    )
    .option('-c, --config <file>', 'the base config')
    .option(
      '--file <sweep.yaml>',
      'a sweep file (config, rows, grid, seeds, set, out, parallel, slurm); flags override it',
    )
    .option(
      '--row <name:key=v,...>',
      'a named row of overrides, e.g. upper:data.labeled.count=null,data.labeled.percent=100 (repeatable: rows × grid × seeds; run names hold the row)',
      collect,
      [],
    )
    .option(
      '--grid <key=v1,v2>',
      'a grid axis, e.g. method.name=bcp,cpam-trcm (repeatable: cartesian product)',
      collect,
      [],
    )
    .option('--seeds <list>', 'seeds, e.g. 1-5 or 1,3,7 (default: the base config seed)')
    .option('--set <key=value>', 'override a value of every run (repeatable)', collect, [])
    .option('--out <dir>', 'the sweep folder (default <run.outputDir>/sweeps/<run.name>)')
    .option('--parallel <n>', 'runs at once (local; with --slurm: array tasks at once)')
    .option('--slurm', 'submit one Slurm job array (sbatch) instead of running here')
    .option('--dry-run', 'write the run configs (and with --slurm the job script) without running anything')
    .option('--wait', 'with --slurm: wait until every task has ended (sbatch --wait)')
    .option('--slurm-partition <name>', 'partition of each task')
    .option('--slurm-time <limit>', 'time limit of each task: minutes, HH:MM:SS or D-HH:MM:SS')
    .option('--slurm-cpus <n>', 'CPUs per task (also its SSMIS_THREADS)')
    .option('--slurm-mem <size>', 'memory per task, e.g. 16G')
    .option('--slurm-gpus <n>', 'GPUs per task: a count or type:count')
    .option('--slurm-account <name>', 'account to charge')
    .option('--slurm-qos <name>', 'quality of service')
    .action(async (opts: SweepCommandOptions) => {
      const { spec, parallel, resources } = await sweepOfOptions(opts);
      const plan = await expandSweep(spec);
      const written = await writeSweep(plan);
      writeLine(
        ctx.err,
        `${written ? 'wrote' : 'continuing'} sweep ${plan.paths.dir}: ${plan.runs.length} run configs in ${plan.paths.configs}`,
      );
      let code: number;
      if (opts.slurm)
        code = await runSlurm(plan, resources, { parallel, dryRun: opts.dryRun, wait: opts.wait }, ctx);
      else if (opts.dryRun) {
        for (const run of plan.runs) writeLine(ctx.out, `${run.name}\t${run.configFile}`);
        code = 0;
      } else code = await runLocal(plan, parallel ?? 1, ctx);
      if (code !== 0) throw new TrainExit(code);
    });

  program
    .command('sweep-task')
    .description(
      'train one run of a sweep from its config: skip it when finished, resume it when interrupted (what each Slurm array task runs)',
    )
    .argument('<config>', 'the run config, <sweep>/configs/<run>.yaml')
    .action(async (file: string) => {
      const { config } = await loadConfig(file);
      const runDir = path.resolve(config.run.outputDir, config.run.name);
      const action = runAction(await runState(runDir), path.resolve(file), runDir);
      if (action.skip) {
        writeLine(ctx.err, `${runDir}: finished earlier; skipped`);
        return;
      }
      writeLine(ctx.err, `sweep-task: ssmis ${trainArgv(action.train).join(' ')}`);
      const children = new Set<import('node:child_process').ChildProcess>();
      const forward = (sig: NodeJS.Signals) => {
        for (const child of children) child.kill(sig);
      };
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      try {
        const result = await spawnTrain(ssmisBin(), action.train, {
          env: process.env,
          stdio: 'inherit',
          children,
        });
        const code = result.code ?? 1;
        if (code !== 0) throw new TrainExit(code);
      } finally {
        process.off('SIGINT', forward);
        process.off('SIGTERM', forward);
      }
    });
}

/**
 * Where a sweep run stands, and how `ssmis train` continues it: a finished run (its log records the end of
 * training and final evaluation) is skipped and never written again, an interrupted one is resumed from its run
 * folder, a new one is started from its config. The one rule the local runner, each Slurm task and `collect` use.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { readInputText } from '../io/read-file.js';
import { inspectRunFolder, RUN_LOCK, RUN_MARKER, runPaths } from '../train/run-dir.js';
import { InputError } from '../util/errors.js';

/** The state of a run folder. */
export type RunState =
  /** No folder, or an empty one. */
  | { kind: 'new' }
  /** Training and its final evaluation ended (`done` in `log.jsonl`). */
  | { kind: 'finished' }
  /** A run folder whose training has not ended: killed, stopped, failed, or still running. */
  | { kind: 'unfinished'; locked: boolean }
  /** A run folder made but killed before its config was written (marker and lock only): started again. */
  | { kind: 'unstarted' }
  /** A folder ssmis did not make, or one with files no training writes: never touched. */
  | { kind: 'foreign'; why: string };

/** Bytes of `log.jsonl` read at most (the `done` line is the last one a training writes). */
const LOG_LIMIT = 512 * 2 ** 20;

/**
 * Whether a run's `log.jsonl` records the end of the run (`"event":"done"`, written after the final
 * evaluation).
 * @param runDir - The run folder.
 * @returns False when there is no log.
 */
export async function runLogSaysDone(runDir: string): Promise<boolean> {
  const file = runPaths(runDir).log;
  if (!existsSync(file)) return false;
  const text = await readInputText(file, 'training log', { maxBytes: LOG_LIMIT });
  for (const line of text.split('\n').reverse()) {
    if (!line.includes('"done"')) continue;
    try {
      if ((JSON.parse(line) as { event?: unknown }).event === 'done') return true;
    } catch {
      // A torn last line of a killed run.
    }
  }
  return false;
}

/**
 * The state of the run folder `runDir`.
 * @param runDir - A run folder (it may not exist).
 * @returns The state; nothing is changed.
 * @throws InputError when the path is a file or cannot be read.
 */
export async function runState(runDir: string): Promise<RunState> {
  const info = await inspectRunFolder(runDir);
  if (!info.exists || info.empty) return { kind: 'new' };
  const paths = runPaths(runDir);
  const locked = existsSync(paths.lock);
  if (!info.marked && !info.legacy) {
    return { kind: 'foreign', why: `${paths.dir} exists and is not an ssmis run folder (no ${RUN_MARKER})` };
  }
  if (info.foreign.length > 0) {
    return {
      kind: 'foreign',
      why: `${paths.dir} holds ${info.foreign.slice(0, 3).join(', ')}, which training does not write`,
    };
  }
  if (await runLogSaysDone(runDir)) return { kind: 'finished' };
  if (existsSync(paths.config)) return { kind: 'unfinished', locked };
  const entries = (await fs.readdir(paths.dir)).filter((e) => e !== RUN_MARKER && e !== RUN_LOCK);
  const checkpoints = existsSync(paths.checkpoints) ? await fs.readdir(paths.checkpoints) : [];
  if (entries.every((e) => e === path.basename(paths.checkpoints)) && checkpoints.length === 0) {
    return { kind: 'unstarted' };
  }
  return {
    kind: 'foreign',
    why: `${paths.dir} has no config.yaml but holds ${entries.join(', ')}; continue it by hand`,
  };
}

/** How `ssmis train` is invoked for a run: its options (`--config`, `--force`, `--resume`). */
export type TrainInvocation =
  | { mode: 'start'; config: string; force: boolean }
  | { mode: 'resume'; runDir: string };

/** What to do with a run: skip it (finished) or train it. */
export type RunAction = { skip: true } | { skip: false; train: TrainInvocation };

/**
 * What to do with a sweep run given its state: skip a finished one, resume an unfinished one (its own
 * `config.yaml`), start a new one from `configFile`; an unstarted folder (marker only) is started with
 * `--force`, which `train` allows only in a folder ssmis made.
 * @param state - From {@link runState}.
 * @param configFile - The run's config file in the sweep folder.
 * @param runDir - The run folder.
 * @returns The action.
 * @throws InputError for a foreign folder (never written).
 */
export function runAction(state: RunState, configFile: string, runDir: string): RunAction {
  switch (state.kind) {
    case 'finished':
      return { skip: true };
    case 'unfinished':
      return { skip: false, train: { mode: 'resume', runDir } };
    case 'new':
      return { skip: false, train: { mode: 'start', config: configFile, force: false } };
    case 'unstarted':
      return { skip: false, train: { mode: 'start', config: configFile, force: true } };
    case 'foreign':
      throw new InputError(`${state.why}; the sweep does not touch it`);
  }
}

/**
 * The `ssmis train` arguments of an invocation.
 * @param train - From {@link runAction}.
 * @returns E.g. `['train', '--config', file]` or `['train', '--resume', dir]`.
 */
export function trainArgv(train: TrainInvocation): string[] {
  if (train.mode === 'resume') return ['train', '--resume', train.runDir];
  return ['train', '--config', train.config, ...(train.force ? ['--force'] : [])];
}

/**
 * Why a run failed, from the log the sweep kept of it: its last `ssmis: ...` line (the CLI's one-line error),
 * else its last non-empty line.
 * @param log - `logs/<run>.log` of the sweep folder.
 * @returns The line, or an empty string when there is no log.
 */
export async function failureLine(log: string): Promise<string> {
  if (!existsSync(log)) return '';
  const lines = (await readInputText(log, 'run log', { maxBytes: LOG_LIMIT })).split('\n');
  const line = [...lines].reverse().find((l) => l.startsWith('ssmis: '));
  return line ?? lines.filter((l) => l.trim() !== '').at(-1) ?? '';
}

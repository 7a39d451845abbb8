/**
 * Runs a sweep on this machine: up to `parallel` runs at once, each a separate `ssmis train` process whose output
 * goes to `logs/<run>.log`, with the kernel threads split between them. Finished runs are skipped, unfinished
 * ones resumed (run-state.ts decides). A stop signal lets the running trainings write their `last` checkpoint
 * and starts nothing new, so the same command continues later.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, promises as fs, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../util/errors.js';
import type { SweepPlan, SweepRun } from './plan.js';
import { failureLine, runAction, runState, type TrainInvocation, trainArgv } from './run-state.js';

/** What the runner reports, one event per run start and end. */
export type LocalSweepEvent =
  | { type: 'skipped'; run: SweepRun; reason: string }
  | { type: 'started'; run: SweepRun; train: TrainInvocation }
  | { type: 'finished'; run: SweepRun; seconds: number }
  | {
      type: 'failed';
      run: SweepRun;
      code: number | null;
      signal: string | null;
      message: string;
      log: string;
    }
  | { type: 'stopped'; run: SweepRun; log: string };

/** Options of {@link runSweepLocally}. */
export interface LocalSweepOptions {
  /** Runs at once (≥ 1). */
  parallel: number;
  /** The `ssmis` entry script the runs are started with (`bin/ssmis.js`). */
  bin: string;
  /** Environment of the runs; default `process.env`. `SSMIS_THREADS` is set unless it already is. */
  env?: NodeJS.ProcessEnv;
  onEvent?: (event: LocalSweepEvent) => void;
  /** Aborting stops starting runs and sends SIGINT to the running ones (they finish their iteration). */
  signal?: AbortSignal;
}

/** The counts of a local sweep. */
export interface LocalSweepSummary {
  total: number;
  finished: number;
  skipped: number;
  failed: number;
  /** Runs stopped by the signal, and runs never started because of it. */
  stopped: number;
}

/**
 * Kernel threads per run: the machine's cores shared out among the runs at once (at least 1), unless the
 * environment already sets `SSMIS_THREADS`.
 */
export function threadsPerRun(parallel: number, env: NodeJS.ProcessEnv = process.env): string {
  return env.SSMIS_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / parallel)));
}

/** How a training process ended. */
export interface TrainExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs `ssmis train` for one run as a child process of this one.
 * @param bin - The `ssmis` entry script.
 * @param train - The invocation (run-state.ts `runAction`).
 * @param options - Its environment and stdio; `children` holds it while it runs (to pass signals on).
 * @returns How it ended.
 */
export function spawnTrain(
  bin: string,
  train: TrainInvocation,
  options: {
    env: NodeJS.ProcessEnv;
    stdio: import('node:child_process').StdioOptions;
    children?: Set<ChildProcess>;
  },
): Promise<TrainExitStatus> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...trainArgv(train)], {
      env: options.env,
      stdio: options.stdio,
    });
    options.children?.add(child);
    child.on('error', (error) => {
      options.children?.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      options.children?.delete(child);
      resolve({ code, signal });
    });
  });
}

/**
 * Runs the plan's runs on this machine.
 * @param plan - The expanded (and written) sweep.
 * @param options - Parallelism, the entry script, environment, progress events, stop signal.
 * @returns The counts; the runs' own folders and logs hold the rest.
 */
export async function runSweepLocally(
  plan: SweepPlan,
  options: LocalSweepOptions,
): Promise<LocalSweepSummary> {
  const env = { ...(options.env ?? process.env) };
  env.SSMIS_THREADS = threadsPerRun(options.parallel, env);
  const emit = options.onEvent ?? (() => {});
  const summary: LocalSweepSummary = {
    total: plan.runs.length,
    finished: 0,
    skipped: 0,
    failed: 0,
    stopped: 0,
  };
  await fs.mkdir(plan.paths.logs, { recursive: true });
  const queue = [...plan.runs];
  const children = new Set<ChildProcess>();
  const onAbort = () => {
    for (const child of children) child.kill('SIGINT');
  };
  options.signal?.addEventListener('abort', onAbort);

  const runOne = async (run: SweepRun): Promise<void> => {
    const log = path.join(plan.paths.logs, `${run.name}.log`);
    let train: TrainInvocation;
    try {
      const action = runAction(await runState(run.runDir), run.configFile, run.runDir);
      if (action.skip) {
        summary.skipped++;
        emit({ type: 'skipped', run, reason: 'finished earlier' });
        return;
      }
      train = action.train;
    } catch (error) {
      summary.failed++;
      emit({ type: 'failed', run, code: null, signal: null, message: errorMessage(error), log });
      return;
    }
    const argv = trainArgv(train);
    await fs.appendFile(log, `\n# ${new Date().toISOString()} ssmis ${argv.join(' ')}\n`);
    emit({ type: 'started', run, train });
    const started = Date.now();
    const fd = openSync(log, 'a');
    let result: TrainExitStatus;
    try {
      result = await spawnTrain(options.bin, train, { env, stdio: ['ignore', fd, fd], children });
    } catch (error) {
      result = { code: null, signal: null };
      await fs.appendFile(log, `ssmis: could not start the run: ${errorMessage(error)}\n`);
    } finally {
      closeSync(fd);
    }
    if (result.code === 0) {
      summary.finished++;
      emit({ type: 'finished', run, seconds: (Date.now() - started) / 1000 });
    } else if (options.signal?.aborted && (result.code === 130 || result.signal !== null)) {
      summary.stopped++;
      emit({ type: 'stopped', run, log });
    } else {
      summary.failed++;
      emit({
        type: 'failed',
        run,
        code: result.code,
        signal: result.signal,
        message: await failureLine(log),
        log,
      });
    }
  };

  const worker = async () => {
    for (let run = queue.shift(); run !== undefined; run = queue.shift()) {
      if (options.signal?.aborted) {
        summary.stopped++;
        continue;
      }
      await runOne(run);
    }
  };
  try {
    const parallel = Math.max(1, Math.min(options.parallel, plan.runs.length));
    await Promise.all(Array.from({ length: parallel }, worker));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return summary;
}

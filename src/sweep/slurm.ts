/**
 * A sweep as one Slurm job array: `slurm/sweep.sbatch` maps `SLURM_ARRAY_TASK_ID` to the run config written
 * beforehand (`configs/<run>.yaml`) and runs `ssmis sweep-task` on it, which skips a finished run and resumes an
 * interrupted one, so a resubmitted or requeued array continues where it stopped. Each task's output goes to
 * `logs/<run>.log`, as a local sweep's.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, SsmisError } from '../util/errors.js';
import type { SweepPlan } from './plan.js';

/** Resources of each array task (`#SBATCH` lines); unset ones are left to the cluster's defaults. */
export interface SlurmResources {
  partition?: string;
  /** Time limit of one run: minutes, `HH:MM:SS`, or `D-HH:MM:SS`. */
  time?: string;
  /** CPUs per task; also the run's `SSMIS_THREADS`. */
  cpus?: number;
  /** Memory per task, e.g. `16G`. */
  mem?: string;
  /** GPUs per task: a count or `type:count`. */
  gpus?: string;
  account?: string;
  qos?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The schema of the resources (flags and the `slurm:` section of a sweep file). */
export const slurmResourcesSchema = z
  .object({
    partition: z.string().regex(NAME, 'expected a partition name').optional(),
    time: z
      .union([z.int().min(1), z.string()])
      .transform((v) => String(v))
      .refine((v) => /^(\d+-)?\d+(:\d{2}){0,2}$/.test(v), 'expected minutes, HH:MM:SS or D-HH:MM:SS')
      .optional(),
    cpus: z.int().min(1).max(4096).optional(),
    mem: z
      .union([z.int().min(1), z.string()])
      .transform((v) => String(v))
      .refine((v) => /^\d+[KMGT]?$/.test(v), 'expected megabytes or a size such as 16G')
      .optional(),
    gpus: z
      .union([z.int().min(0), z.string()])
      .transform((v) => String(v))
      .refine((v) => /^([A-Za-z0-9_-]+:)?\d+$/.test(v), 'expected a count or type:count')
      .optional(),
    account: z.string().regex(NAME, 'expected an account name').optional(),
    qos: z.string().regex(NAME, 'expected a QOS name').optional(),
  })
  .strict();

/**
 * Checks Slurm resources (each value lands in an `#SBATCH` line, so nothing but the expected characters).
 * @param raw - Values from flags or a sweep file.
 * @param where - Where they came from, for messages.
 * @returns The checked resources.
 * @throws InputError naming the field.
 */
export function parseSlurmResources(raw: unknown, where: string): SlurmResources {
  const parsed = slurmResourcesSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  throw new InputError(`${where}: ${field === '' ? '' : `${field}: `}${issue?.message ?? 'invalid'}`);
}

/** Single-quotes a word for bash. */
function sh(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Options of {@link slurmScript}. */
export interface SlurmScriptOptions {
  resources: SlurmResources;
  /** The node binary and the `ssmis` entry script the tasks run (absolute; the cluster's nodes must see them). */
  node: string;
  bin: string;
  /** At most this many tasks at once (`%N` of `--array`). */
  parallel?: number;
}

/** The `--array` value of `indices` (`0-3`, `1,3`), with the `%N` throttle. */
export function arraySpec(indices: readonly number[], parallel?: number): string {
  const sorted = [...indices].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    ranges.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return `${ranges.join(',')}${parallel === undefined ? '' : `%${parallel}`}`;
}

/**
 * The job-array script of a sweep: one task per run, task i trains `configs/<run i>.yaml` through
 * `ssmis sweep-task`, its output appended to `logs/<run i>.log`.
 * @param plan - The expanded sweep.
 * @param options - Resources, the node binary and entry script, the throttle.
 * @returns The script text.
 */
export function slurmScript(plan: SweepPlan, options: SlurmScriptOptions): string {
  const r = options.resources;
  const { paths } = plan;
  const directives = [
    `--job-name=ssmis-${plan.baseName}`,
    `--array=${arraySpec(
      plan.runs.map((run) => run.index),
      options.parallel,
    )}`,
    `--output=${path.join(paths.logs, 'slurm-%A_%a.out')}`,
    '--open-mode=append',
    '--ntasks=1',
    r.partition && `--partition=${r.partition}`,
    r.account && `--account=${r.account}`,
    r.qos && `--qos=${r.qos}`,
    r.time && `--time=${r.time}`,
    r.cpus && `--cpus-per-task=${r.cpus}`,
    r.mem && `--mem=${r.mem}`,
    r.gpus && r.gpus !== '0' && `--gpus=${r.gpus}`,
  ].filter((d): d is string => typeof d === 'string' && d !== '');
  return [
    '#!/bin/bash',
    ...directives.map((d) => `#SBATCH ${d}`),
    `# Written by ssmis sweep: one array task per run of ${sh(paths.dir)}; resubmitting it continues the`,
    '# sweep (finished runs are skipped, interrupted ones resumed).',
    'set -euo pipefail',
    `CONFIGS=(${plan.runs.map((run) => `\\\n  ${sh(path.basename(run.configFile))}`).join(' ')}\n)`,
    `CONFIG="\${CONFIGS[$SLURM_ARRAY_TASK_ID]}"`,
    `LOG=${sh(paths.logs)}/"\${CONFIG%.yaml}.log"`,
    `export SSMIS_THREADS="\${SSMIS_THREADS:-\${SLURM_CPUS_PER_TASK:-1}}"`,
    'exec >>"$LOG" 2>&1',
    `echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) slurm job \${SLURM_ARRAY_JOB_ID}_\${SLURM_ARRAY_TASK_ID} on $(hostname)"`,
    `exec ${sh(options.node)} ${sh(options.bin)} sweep-task ${sh(paths.configs)}/"$CONFIG"`,
    '',
  ].join('\n');
}

/** Writes the sweep's job-array script; returns its path. */
export async function writeSlurmScript(plan: SweepPlan, options: SlurmScriptOptions): Promise<string> {
  const file = path.join(plan.paths.slurm, 'sweep.sbatch');
  await writeFileAtomic(file, slurmScript(plan, options));
  return file;
}

/** The job id of `sbatch --parsable` output (`123` or `123;cluster`), or null. */
function jobIdOf(stdout: string): string | null {
  const id = (stdout.split('\n')[0] ?? '').split(';')[0].trim();
  return /^\d+$/.test(id) ? id : null;
}

/** Options of {@link submitSlurm}. */
export interface SubmitOptions {
  /** Array indices to submit (the unfinished runs); the script's own `--array` when all. */
  indices: readonly number[];
  parallel?: number;
  /** `sbatch --wait`: return when every task has ended. */
  wait?: boolean;
  /** The sbatch program (default `sbatch` on the PATH). */
  sbatch?: string;
  /** Called with the job id as soon as sbatch prints it (before the wait). */
  onJobId?: (jobId: string) => void;
}

/**
 * Submits the script with `sbatch --parsable`.
 * @param script - The job-array script.
 * @param options - Which indices, throttle, wait.
 * @returns The job id, and sbatch's exit code (with `wait`, non-zero when a task failed).
 * @throws SsmisError when sbatch cannot be run or refuses the job (its message).
 */
export async function submitSlurm(
  script: string,
  options: SubmitOptions,
): Promise<{ jobId: string; code: number }> {
  const args = ['--parsable', `--array=${arraySpec(options.indices, options.parallel)}`];
  if (options.wait) args.push('--wait');
  args.push(script);
  const sbatch = options.sbatch ?? 'sbatch';
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(sbatch, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let announced = false;
      child.stdout.on('data', (d) => {
        out += d;
        const id = out.includes('\n') ? jobIdOf(out) : null;
        if (!announced && id !== null) {
          announced = true;
          options.onJobId?.(id);
        }
      });
      child.stderr.on('data', (d) => {
        err += d;
      });
      child.on('error', (error) =>
        reject(
          new SsmisError(
            `cannot run ${sbatch} (${(error as { code?: string }).code ?? error.message}): is this a Slurm login node? --dry-run writes the script without submitting it`,
          ),
        ),
      );
      child.on('close', (c) => resolve({ code: c ?? 1, stdout: out, stderr: err }));
    },
  );
  const jobId = jobIdOf(stdout);
  if (jobId === null) {
    const why = stderr.trim().split('\n').at(-1) ?? `exit ${code}`;
    throw new SsmisError(`sbatch refused the job array: ${why}`);
  }
  return { jobId, code };
}

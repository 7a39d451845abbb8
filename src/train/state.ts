import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { formatProblem, renderIssues } from '../config/errors.js';
import type { BatchLoaderState } from '../data/batches.js';
import { readInputFile, readInputText } from '../io/read-file.js';
import { encodeSafetensors, readSafetensors } from '../io/safetensors.js';
import { loadWeights, weightsToSafetensorsAsync } from '../nn/checkpoint.js';
import type { SegmentationModel } from '../nn/types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { errorMessage, InputError } from '../util/errors.js';
import type { RngState } from '../util/rng.js';
import type { HistoryRow } from './history.js';
import type { Optimizer } from './optimizer.js';
import type { StageName } from './plan.js';

export type { HistoryRow, StageName };

/** The checkpoints a training writes into `<run>/checkpoints/` (`<name>.safetensors`, `last` also `last.json`). */
export const CHECKPOINT_NAMES = ['last', 'best', 'pretrain-best', 'pretrain-last'] as const;
export type CheckpointName = (typeof CHECKPOINT_NAMES)[number];

export interface BestRecord {
  /** The selection value (after the rule's rounding, Q8). */
  dice: number;
  iteration: number;
}

/**
 * Everything beyond the weights that a bit-for-bit resume needs: where the run is, every
 * random stream, the data loader, the best model so far and the history. Stored inside the weights file's
 * metadata (one file, one atomic rename) and copied to `last.json` for people and reports.
 */
export interface TrainingState {
  formatVersion: 1;
  /** Shared with the weights file's metadata, so a state file is matched to its weights. */
  checkpointId: string;
  stage: StageName;
  /** Iterations of `stage` completed. */
  iteration: number;
  /** Stages finished before `stage`. */
  completedStages: StageName[];
  rng: { cuboid: RngState; dropout: RngState };
  loader: BatchLoaderState;
  best: Partial<Record<StageName, BestRecord>>;
  history: HistoryRow[];
  /** Wall-clock seconds spent training so far (for the ETA and the report). */
  elapsedSeconds: number;
}

const CHECKPOINT_ID_KEY = 'ssmis.checkpointId';
/** Metadata key of the weights file holding the training state as JSON. */
const STATE_KEY = 'ssmis.state';

const stageName = z.enum(['pretrain', 'selftrain']);
const count = z.number().int().min(0);
const uint32 = z.number().int().min(0).max(0xffffffff);
const rngState = z
  .object({ s: z.tuple([uint32, uint32, uint32, uint32]) })
  .refine((r) => r.s.some((w) => w !== 0), { message: 'expected a generator state, got four zero words' });
/** NaN and ±Infinity are written as JSON null. */
const maybeNumber = z.number().nullable();
const historyRow = z.object({
  stage: stageName,
  iteration: count,
  lr: maybeNumber,
  loss: maybeNumber,
  parts: z.record(z.string(), maybeNumber),
  diagnostics: z.record(z.string(), maybeNumber),
  msPerIteration: maybeNumber,
  valDice: maybeNumber.optional(),
});
const bestRecord = z.object({ dice: z.number(), iteration: count });
const trainingStateSchema = z.object({
  formatVersion: z.literal(1),
  checkpointId: z.string(),
  stage: stageName,
  iteration: count,
  completedStages: z.array(stageName),
  rng: z.object({ cuboid: rngState, dropout: rngState }),
  loader: z.object({
    sampler: z.object({
      rng: rngState,
      epoch: z.number().int().min(-1),
      iterationInEpoch: count,
      primary: z.array(count),
      secondary: z.array(count),
      secondaryPos: count,
      signature: z.string(),
    }),
    rng: rngState,
    iteration: count,
  }),
  best: z.object({ pretrain: bestRecord.optional(), selftrain: bestRecord.optional() }),
  history: z.array(historyRow),
  elapsedSeconds: z.number().min(0),
});

/** `cannot resume: <source>: <message>`, the one form of every state problem. */
function stateError(source: string, message: string): InputError {
  return new InputError(`cannot resume: ${source}: ${message}`);
}

/** Checks a parsed state object's structure; the error names the source and the first bad field. */
export function parseTrainingState(raw: unknown, source: string): TrainingState {
  const result = trainingStateSchema.safeParse(raw);
  if (result.success) return result.data as TrainingState;
  const problems = renderIssues(result.error.issues, {
    schema: trainingStateSchema,
    input: raw,
    sourceOf: () => undefined,
  });
  const first = problems[0] === undefined ? 'not an ssmis training state' : formatProblem(problems[0]);
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : '';
  throw stateError(source, `${first}${more}`);
}

/** A stage of the config (enabled stages, in order) as far as checking a state needs it. */
export interface StagePlanSummary {
  name: StageName;
  iterations: number;
}

/**
 * Checks a state against the config it resumes: a known, enabled stage; an iteration within that stage; the
 * stages before it completed; best and history rows inside their stages. A state that passed would otherwise
 * be trusted blindly (an iteration past the end of the stage would finish the run at once).
 */
export function checkStateAgainstStages(
  state: TrainingState,
  stages: readonly StagePlanSummary[],
  source: string,
): void {
  const fail = (message: string) => stateError(source, message);
  const names = stages.map((s) => s.name);
  const index = names.indexOf(state.stage);
  const enabled = `the config's stages are [${names.join(', ')}]`;
  if (index < 0) throw fail(`stage: '${state.stage}' is not an enabled stage (${enabled})`);
  const plan = stages[index] as StagePlanSummary;
  if (state.iteration > plan.iterations) {
    throw fail(
      `iteration: ${state.iteration} is beyond the ${plan.iterations} iterations of stage ${plan.name} (train.stages.${plan.name}.iterations)`,
    );
  }
  const done = state.completedStages.includes(state.stage);
  const expected = names.slice(0, done ? index + 1 : index);
  if (state.completedStages.join(',') !== expected.join(',')) {
    throw fail(
      `completedStages: [${state.completedStages.join(', ')}] does not fit stage ${state.stage} (expected [${expected.join(', ')}]; ${enabled})`,
    );
  }
  if (done && state.iteration !== plan.iterations) {
    throw fail(
      `iteration: ${state.iteration} but stage ${plan.name} is marked completed after ${plan.iterations} iterations`,
    );
  }
  const within = (stage: StageName, iteration: number) => {
    const s = stages.find((p) => p.name === stage);
    return s !== undefined && iteration <= s.iterations;
  };
  for (const [stage, record] of Object.entries(state.best) as [StageName, BestRecord | undefined][]) {
    if (record !== undefined && !within(stage, record.iteration)) {
      throw fail(
        `best.${stage}.iteration: ${record.iteration} is not an iteration of stage ${stage} (${enabled})`,
      );
    }
  }
  state.history.forEach((row, i) => {
    if (!within(row.stage, row.iteration)) {
      throw fail(
        `history[${i}]: iteration ${row.iteration} is not an iteration of stage ${row.stage} (${enabled})`,
      );
    }
  });
}

/**
 * Checks the loader part of a state against the loader it is applied to (sampler permutations must index its
 * units). The sampler's own signature check catches changed unit counts and batch sizes.
 */
export function checkLoaderState(
  state: BatchLoaderState,
  units: { labeled: number; unlabeled: number },
  source: string,
): void {
  const bad = (list: readonly number[], n: number) => list.findIndex((v) => v >= n);
  const p = bad(state.sampler.primary, units.labeled);
  if (p >= 0) {
    throw stateError(
      source,
      `loader.sampler.primary[${p}]: ${state.sampler.primary[p]} is not a labeled unit index (0..${units.labeled - 1})`,
    );
  }
  const q = bad(state.sampler.secondary, units.unlabeled);
  if (q >= 0) {
    throw stateError(
      source,
      `loader.sampler.secondary[${q}]: ${state.sampler.secondary[q]} is not an unlabeled unit index (0..${units.unlabeled - 1})`,
    );
  }
  if (state.sampler.secondaryPos > state.sampler.secondary.length) {
    throw stateError(
      source,
      `loader.sampler.secondaryPos: ${state.sampler.secondaryPos} is beyond the ${state.sampler.secondary.length} entries of loader.sampler.secondary`,
    );
  }
}

/** The files of checkpoint `name` in `dir`: the weights (with the state inside) and the readable state copy. */
export function checkpointFiles(dir: string, name: string): { weights: string; state: string } {
  return { weights: path.join(dir, `${name}.safetensors`), state: path.join(dir, `${name}.json`) };
}

/**
 * Test hook, read only here: `SSMIS_FAULT_INJECT=checkpoint:<k>` kills this process with SIGKILL (no cleanup, as
 * a power cut or `kill -9` would) at the k-th step of writing checkpoint files. Each file written counts two
 * steps: its temp file complete but not yet renamed, and the rename done. The fault-injection test uses it to
 * show that a kill at any of these instants leaves a run that resumes to the same weights.
 */
let faultAt: number | null | undefined;
let faultSteps = 0;

function checkpointStep(): void {
  if (faultAt === undefined) {
    const match = /^checkpoint:(\d+)$/.exec(process.env.SSMIS_FAULT_INJECT ?? '');
    faultAt = match === null ? null : Number(match[1]);
  }
  if (faultAt === null) return;
  faultSteps++;
  if (faultSteps === faultAt) process.kill(process.pid, 'SIGKILL');
}

/** Writes one checkpoint file atomically, through the fault-injection steps. */
async function writeCheckpointFile(file: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomic(file, data, { beforeRename: checkpointStep });
  checkpointStep();
}

/**
 * Writes `<name>.safetensors` (student, teacher, optimizer slots, and `state` in its metadata) with one atomic
 * rename, so a crash at any instant leaves either the previous complete checkpoint or the new one; then
 * `<name>.json`, a readable copy of the state that resuming never needs. `state` may be omitted for a
 * weights-only checkpoint (best models).
 */
export async function saveCheckpoint(
  dir: string,
  name: CheckpointName,
  models: Record<string, SegmentationModel>,
  options: {
    optimizer?: Optimizer;
    state?: Omit<TrainingState, 'checkpointId'>;
    metadata?: Record<string, string>;
  },
): Promise<void> {
  const files = checkpointFiles(dir, name);
  const checkpointId = randomBytes(8).toString('hex');
  const metadata: Record<string, string> = { ...(options.metadata ?? {}), [CHECKPOINT_ID_KEY]: checkpointId };
  const state = options.state ? { ...options.state, checkpointId } : undefined;
  if (state) metadata[STATE_KEY] = JSON.stringify(state);
  const encoded = await weightsToSafetensorsAsync({ models, optimizer: options.optimizer, metadata });
  await writeCheckpointFile(files.weights, encodeSafetensors(encoded.tensors, encoded.metadata));
  if (state) await writeCheckpointFile(files.state, stateJson(state));
}

function stateJson(state: TrainingState): string {
  return `${JSON.stringify(state, null, 1)}\n`;
}

/** Copies checkpoint `from` to `to` (weights file only) with the same atomic write. */
export async function copyCheckpoint(dir: string, from: CheckpointName, to: CheckpointName): Promise<void> {
  const source = checkpointFiles(dir, from).weights;
  await writeCheckpointFile(checkpointFiles(dir, to).weights, await readInputFile(source, 'checkpoint'));
}

/** A checkpoint's training state and where it was read from (for messages). */
export interface StoredState {
  state: TrainingState;
  /** `<file> (training state)` or the legacy `<name>.json`. */
  source: string;
}

/**
 * Reads checkpoint `name`'s training state, or null when the run has no such checkpoint yet. The state lives
 * in the weights file; checkpoints written before that have it in `<name>.json`, matched to the weights by id.
 */
export async function readTrainingState(dir: string, name: CheckpointName): Promise<StoredState | null> {
  const files = checkpointFiles(dir, name);
  if (!existsSync(files.weights)) {
    if (existsSync(files.state)) {
      throw stateError(files.state, `its weights file ${files.weights} does not exist`);
    }
    return null;
  }
  const weights = await readSafetensors(files.weights);
  const embedded = weights.metadata[STATE_KEY];
  let text: string;
  let source: string;
  if (embedded !== undefined) {
    text = embedded;
    source = `${files.weights} (training state)`;
  } else {
    if (!existsSync(files.state)) {
      throw stateError(files.weights, `it holds no training state and ${files.state} does not exist`);
    }
    text = await readInputText(files.state, 'training state');
    source = files.state;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw stateError(source, `not valid JSON (${errorMessage(error)})`);
  }
  const state = parseTrainingState(raw, source);
  if (weights.metadata[CHECKPOINT_ID_KEY] !== state.checkpointId) {
    throw stateError(
      source,
      `${files.weights} and ${files.state} come from different saves (the run was stopped while writing); resume is not possible from this pair`,
    );
  }
  return { state, source };
}

/** Rewrites `<name>.json` from the state in the weights file when a crash left it missing or one save behind. */
export async function syncStateCopy(dir: string, name: CheckpointName, state: TrainingState): Promise<void> {
  const file = checkpointFiles(dir, name).state;
  try {
    const copy = JSON.parse(await readInputText(file, 'training state')) as { checkpointId?: unknown };
    if (copy.checkpointId === state.checkpointId) return;
  } catch {
    // Missing or unreadable: rewrite it.
  }
  await writeFileAtomic(file, stateJson(state));
}

/** Loads weights (and optimizer slots) into existing models; checks the file is the one the state came from. */
export async function loadCheckpointWeights(
  dir: string,
  name: CheckpointName,
  models: Record<string, SegmentationModel>,
  options: {
    optimizer?: Optimizer;
    optimizerVars?: Map<string, import('../backend/tf.js').tf.Variable>;
    expectId?: string;
  } = {},
): Promise<Record<string, string>> {
  const files = checkpointFiles(dir, name);
  const loaded = await loadWeights(files.weights, {
    models,
    optimizer: options.optimizer,
    optimizerVars: options.optimizerVars,
  });
  if (options.expectId !== undefined && loaded.metadata[CHECKPOINT_ID_KEY] !== options.expectId) {
    throw new InputError(
      `cannot resume: ${files.weights} changed while the run was being resumed; is another process writing this run?`,
    );
  }
  return loaded.metadata;
}

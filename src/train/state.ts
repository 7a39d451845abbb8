import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { BatchLoaderState } from '../data/batches.js';
import { loadWeights, saveWeights } from '../nn/checkpoint.js';
import type { SegmentationModel } from '../nn/types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { errorMessage, InputError } from '../util/errors.js';
import type { RngState } from '../util/rng.js';
import type { Optimizer } from './optimizer.js';

export type StageName = 'pretrain' | 'selftrain';

/** One row of the training history (metrics.csv, curves.svg). */
export interface HistoryRow {
  stage: StageName;
  iteration: number;
  lr: number;
  loss: number;
  parts: Record<string, number>;
  diagnostics: Record<string, number>;
  msPerIteration: number;
  valDice?: number;
}

export interface BestRecord {
  /** The selection value (after the rule's rounding, Q8). */
  dice: number;
  iteration: number;
}

/**
 * Everything beyond the weights that a bit-for-bit resume needs (design decisions 4, 5): where the run is, every
 * random stream, the data loader, the best model so far and the history. Stored as JSON beside the weights.
 */
export interface TrainingState {
  formatVersion: 1;
  /** Shared with the weights file's metadata, so a torn pair (crash between the two writes) is detected. */
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

export function checkpointFiles(dir: string, name: string): { weights: string; state: string } {
  return { weights: path.join(dir, `${name}.safetensors`), state: path.join(dir, `${name}.json`) };
}

/**
 * Writes `<name>.safetensors` (student, teacher, optimizer slots) then `<name>.json` (state), each atomically.
 * `state` may be null for a weights-only checkpoint (best models).
 */
export async function saveCheckpoint(
  dir: string,
  name: string,
  models: Record<string, SegmentationModel>,
  options: {
    optimizer?: Optimizer;
    state?: Omit<TrainingState, 'checkpointId'>;
    metadata?: Record<string, string>;
  },
): Promise<void> {
  const files = checkpointFiles(dir, name);
  const checkpointId = randomBytes(8).toString('hex');
  await saveWeights(files.weights, {
    models,
    optimizer: options.optimizer,
    metadata: { ...(options.metadata ?? {}), [CHECKPOINT_ID_KEY]: checkpointId },
  });
  if (options.state) {
    await writeFileAtomic(files.state, `${JSON.stringify({ ...options.state, checkpointId }, null, 1)}\n`);
  }
}

/** Reads a checkpoint's state JSON and checks it belongs to the weights file beside it. */
export async function readTrainingState(dir: string, name: string): Promise<TrainingState> {
  const files = checkpointFiles(dir, name);
  for (const file of [files.weights, files.state]) {
    if (!existsSync(file)) throw new InputError(`cannot resume: ${file} does not exist`);
  }
  let state: TrainingState;
  try {
    state = JSON.parse(await fs.readFile(files.state, 'utf8')) as TrainingState;
  } catch (error) {
    throw new InputError(`cannot resume: ${files.state} is not valid JSON (${errorMessage(error)})`);
  }
  if (state.formatVersion !== 1 || typeof state.checkpointId !== 'string') {
    throw new InputError(
      `cannot resume: ${files.state} is not an ssmis training state (formatVersion 1 expected)`,
    );
  }
  return state;
}

/** Loads weights (and optimizer slots) into existing models; checks the pairing with the state file. */
export async function loadCheckpointWeights(
  dir: string,
  name: string,
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
      `cannot resume: ${files.weights} and ${files.state} come from different saves (the run was stopped while writing); resume is not possible from this pair`,
    );
  }
  return loaded.metadata;
}

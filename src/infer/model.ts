/**
 * The model of a checkpoint: the run folder a checkpoint belongs to, the config written next to it, and the
 * config's network filled with the checkpoint's student weights (what `eval` and `predict` load).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type SsmisConfig } from '../config/index.js';
import { loadWeights } from '../nn/checkpoint.js';
import { createModel } from '../nn/create.js';
import type { SegmentationModel } from '../nn/types.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

/** `<run>` when the checkpoint lives in `<run>/checkpoints/`, else null. */
export function runDirOfCheckpoint(checkpoint: string): string | null {
  const dir = path.dirname(path.resolve(checkpoint));
  return path.basename(dir) === 'checkpoints' ? path.dirname(dir) : null;
}

/**
 * The config file `train` writes next to a checkpoint's run folder (`<run>/config.yaml`, resolved: every default
 * written out), or null when the checkpoint is not in a run folder. Whether the file exists is the caller's check.
 */
export function runConfigOfCheckpoint(checkpoint: string): string | null {
  const run = runDirOfCheckpoint(checkpoint);
  return run === null ? null : path.join(run, 'config.yaml');
}

/**
 * The config of a checkpoint's model: `configFile` when given, else the run folder's resolved `config.yaml`
 * (what `train` wrote next to the checkpoint), with the `--set` overrides applied on top. `eval` and `predict`
 * both load a checkpoint's config through this one rule.
 */
export async function loadCheckpointConfig(
  checkpoint: string,
  configFile: string | undefined,
  sets: readonly string[] = [],
): Promise<SsmisConfig> {
  let file = configFile;
  if (file === undefined) {
    const candidate = runConfigOfCheckpoint(checkpoint);
    if (candidate === null || !existsSync(candidate)) {
      throw new InputError(
        `${checkpoint}: no run folder config (<run>/config.yaml) next to the checkpoint; pass the model config with --config`,
      );
    }
    file = candidate;
  }
  return (await loadConfig(file, { set: sets })).config;
}

/** Builds the config's network and fills it with the checkpoint's `student.*` tensors. Caller disposes it. */
export async function loadModelFromCheckpoint(
  config: SsmisConfig,
  checkpoint: string,
): Promise<SegmentationModel> {
  if (!existsSync(checkpoint)) throw new InputError(`${checkpoint}: checkpoint file not found`);
  const model = createModel(config, { name: 'eval', rng: Rng.stream(config.train.seed, 'eval-init') });
  try {
    await loadWeights(checkpoint, { models: { student: model } });
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

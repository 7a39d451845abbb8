import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../util/errors.js';

/** The files of a run folder (design decision 10). */
export interface RunPaths {
  dir: string;
  /** The resolved config (every default filled, paths absolute). */
  config: string;
  /** pino JSON lines: loss parts, learning rate, diagnostics, numTensors, iteration time, validations. */
  log: string;
  metrics: string;
  curves: string;
  checkpoints: string;
  evalDir: string;
}

export function runPaths(dir: string): RunPaths {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    config: path.join(abs, 'config.yaml'),
    log: path.join(abs, 'log.jsonl'),
    metrics: path.join(abs, 'metrics.csv'),
    curves: path.join(abs, 'curves.svg'),
    checkpoints: path.join(abs, 'checkpoints'),
    evalDir: path.join(abs, 'eval'),
  };
}

/**
 * Creates a new run folder. An existing non-empty folder is never overwritten unless `force` is set (then it is
 * emptied first); resuming uses the folder as it is.
 */
export async function createRunDir(dir: string, options: { force?: boolean }): Promise<RunPaths> {
  const paths = runPaths(dir);
  if (existsSync(paths.dir)) {
    const entries = await fs.readdir(paths.dir);
    if (entries.length > 0) {
      if (!options.force) {
        throw new InputError(
          `run folder ${paths.dir} already exists; continue it with \`ssmis train --resume ${dir}\`, choose another run.name, or pass --force to overwrite it`,
        );
      }
      await fs.rm(paths.dir, { recursive: true, force: true });
    }
  }
  await fs.mkdir(paths.checkpoints, { recursive: true });
  return paths;
}

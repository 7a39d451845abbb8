import { promises as fs, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configToYaml } from '../../src/config/index.js';
import { loadCheckpointConfig, runConfigOfCheckpoint } from '../../src/infer/model.js';
import { InputError } from '../../src/util/errors.js';
import { tinyConfig } from '../helpers/synthetic.js';

describe('loadCheckpointConfig: the one rule eval and predict load a checkpoint config by', () => {
  it('uses --config, else the run folder config.yaml; --set applies on top; a missing file is one named line', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ssmis-model-'));
    const run = path.join(dir, 'run');
    await fs.mkdir(path.join(run, 'checkpoints'), { recursive: true });
    const inRun = path.join(run, 'checkpoints', 'best.safetensors');
    const outside = path.join(dir, 'weights.safetensors');
    const other = path.join(dir, 'other.yaml');
    await fs.writeFile(other, configToYaml(tinyConfig(path.join(dir, 'ds'), dir, { train: { seed: 11 } })));
    expect(runConfigOfCheckpoint(inRun)).toBe(path.join(run, 'config.yaml'));
    expect(runConfigOfCheckpoint(outside)).toBeNull();

    const missing =
      /: no run folder config \(<run>\/config\.yaml\) next to the checkpoint; pass the model config with --config$/;
    // No config.yaml in the run folder yet, and a checkpoint outside any run folder: the same message.
    for (const checkpoint of [inRun, outside]) {
      const error = await loadCheckpointConfig(checkpoint, undefined).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(missing);
      expect((error as Error).message.startsWith(checkpoint)).toBe(true);
    }

    await fs.writeFile(path.join(run, 'config.yaml'), configToYaml(tinyConfig(path.join(dir, 'ds'), dir)));
    const cases: [string, string | undefined, string[], number][] = [
      [inRun, undefined, [], 3],
      [inRun, undefined, ['train.seed=7'], 7],
      [inRun, other, [], 11],
      [outside, other, ['train.seed=5'], 5],
    ];
    for (const [checkpoint, file, sets, seed] of cases) {
      expect((await loadCheckpointConfig(checkpoint, file, sets)).train.seed).toBe(seed);
    }
  });
});

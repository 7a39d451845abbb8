import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, type SsmisConfig, type SsmisConfigInput } from '../../src/config/index.js';
import { prepareDataset } from '../../src/data/prepare/index.js';
import { synthesize } from '../../src/data/synth/index.js';

/**
 * A tiny prepared LA-like dataset made the way a user makes one (synth → prepare), shared by the training
 * tests: 8 cases (5 train, 3 test) of about 40×40×24 voxels.
 */
export async function tinyLaDataset(): Promise<{ root: string; dataset: string }> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ssmis-tiny-la-'));
  const raw = path.join(root, 'raw');
  const dataset = path.join(root, 'dataset');
  await synthesize({ dataset: 'la', out: raw, cases: 8, seed: 5, size: [40, 40, 24] });
  const result = await prepareDataset({ dataset: 'la', raw, out: dataset, seed: 5, minSize: [32, 32, 16] });
  if (result.failed.length > 0) throw new Error(`tiny dataset: ${result.failed[0].error}`);
  return { root, dataset };
}

/**
 * The smallest training config that exercises both stages: VNet with 2 base filters on 32×32×16 patches (the
 * bottleneck batch norm then sees 2 values per channel per sub-batch), batch 2 + 2, a few iterations.
 */
export function tinyConfig(
  dataset: string,
  outputDir: string,
  overrides: Partial<SsmisConfigInput> = {},
): SsmisConfig {
  const base: SsmisConfigInput = {
    run: { name: 'tiny', outputDir },
    data: { dataset, preset: 'la', patchSize: [32, 32, 16], labeled: { count: 2 } },
    model: { name: 'vnet', baseFilters: 2, dropout: 0.5 },
    method: { name: 'cpam-trcm', startRange: 'valid' },
    train: {
      seed: 3,
      batch: { labeled: 2, unlabeled: 2 },
      stages: { pretrain: { iterations: 2 }, selftrain: { iterations: 3 } },
      validation: { interval: 2, split: 'test', strides: [16, 16, 8] },
      logInterval: 1,
      checkpointInterval: 2,
    },
    eval: { patch: [32, 32, 16], strides: [16, 16, 8] },
  };
  return parseConfig(deepMerge(base, overrides) as SsmisConfigInput);
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return b === undefined ? a : b;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return b === undefined ? a : b;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = deepMerge(out[k], v);
  return out;
}

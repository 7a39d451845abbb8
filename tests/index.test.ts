import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

/**
 * The entry points the README and docs show: users import them from the package root. The full list of exported
 * names is pinned by tests/public-api.test.ts.
 */
const CONTRACT = [
  'readNifti',
  'writeNifti',
  'createVNet',
  'createUNet2d',
  'maskedDiceLoss',
  'maskedCrossEntropy',
  'mixLoss',
  'cuboidMask',
  'pseudoLabels',
  'trcmMasks',
  'cpamTrcmLoss',
  'largestConnectedComponent',
  'computeMetrics',
  'slidingWindowInference',
  'train',
  'evaluate',
  'loadConfig',
  'initBackend',
  'createModel',
  'prepareDataset',
  'synthesize',
  'inferCase',
  'predict',
];

describe('package root', () => {
  it('exports every name of the public API contract as a function', () => {
    for (const name of CONTRACT) {
      expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('exports inferVolume, what evaluation and prediction run on a whole volume', () => {
    expect(typeof api.inferVolume).toBe('function');
  });

  it("resolves as 'ssmis' through package.json exports (what another Node project imports)", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--input-type=module',
      '-e',
      "const m = await import('ssmis'); console.log(typeof m.createVNet, typeof m.train, m.createVNet({ baseFilters: 16 }).parameterCount());",
    ]);
    expect(stdout.trim()).toBe('function function 9448866');
  });
});

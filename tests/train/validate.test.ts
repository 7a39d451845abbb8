import { afterAll, describe, expect, it } from 'vitest';
import { openDataset } from '../../src/data/dataset.js';
import { inferCase } from '../../src/infer/infer-case.js';
import { validateModel } from '../../src/train/validate.js';
import {
  box,
  diagAffine,
  removeTempDirs,
  signImage,
  signModel3d,
  tempDir,
  writeDataset,
} from '../eval/eval-helpers.js';

afterAll(removeTempDirs);

describe('validateModel', () => {
  it('scores inferCase labels without post-processing: a second predicted component still counts', async () => {
    const dir = await tempDir();
    const shape = [16, 16, 16];
    const label = box(shape, [0, 0, 0], [3, 3, 3]);
    const predicted = box(shape, [0, 0, 0], [3, 3, 3]);
    box(shape, [12, 12, 12], [13, 13, 13], 1, predicted); // a false-positive island the largest component drops
    const cases = ['t0', 'v0'].map((id) => ({
      id,
      channels: [signImage(predicted)],
      label,
      shape,
      affine: diagAffine([1, 1, 1]),
    }));
    await writeDataset(dir, cases, { train: ['t0'], val: ['v0'] });
    const dataset = await openDataset(dir, { cacheSize: 0 });
    const model = signModel3d();
    const settings = { patch: [16, 16, 16], strides: [16, 16, 16] };
    const result = await validateModel(model, dataset, ['v0'], settings);
    const raw = await inferCase(model, await dataset.loadCase('v0'), {
      ...settings,
      largestComponent: false,
    });
    expect([...raw.labels]).toEqual([...predicted]);
    // Dice of 64 label voxels against 64 + 8 predicted ones.
    expect(result.meanDice).toBeCloseTo((2 * 64) / (64 + 72), 12);
    expect(result.perCase).toEqual([{ id: 'v0', dice: result.meanDice }]);
  });
});

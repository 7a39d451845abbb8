import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { defaultConnectivity, defaultLossDice } from '../../src/method/dims-defaults.js';
import { pseudoLabelValues } from '../../src/method/pseudo-labels.js';

describe('dims-defaults: the one home of the defaults that follow the spatial dimensions', () => {
  it('table: connectivity 26 / 8, lossDice volume3d / batch2d', () => {
    const cases: [number, number, string][] = [
      [3, 26, 'volume3d'],
      [2, 8, 'batch2d'],
    ];
    for (const [dims, connectivity, lossDice] of cases) {
      expect(defaultConnectivity(dims)).toBe(connectivity);
      expect(defaultLossDice(dims)).toBe(lossDice);
    }
  });

  it('the config writes out the same defaults as the method functions apply', () => {
    for (const [name, dims] of [
      ['vnet', 3],
      ['unet2d', 2],
    ] as const) {
      const config = parseConfig({ run: { name: 'd' }, data: { dataset: 'ds' }, model: { name } });
      expect(config.method.pseudoLabel.connectivity).toBe(defaultConnectivity(dims));
      expect(config.eval.connectivity).toBe(defaultConnectivity(dims));
      expect(config.method.lossDice).toBe(defaultLossDice(dims));
    }
    // Two 3-D blobs touching only at a corner: one component with the default 26, so both are kept.
    const hard = new Int32Array(8);
    hard[0] = 1;
    hard[7] = 1;
    expect([...pseudoLabelValues(hard, [1, 2, 2, 2], 2)]).toEqual([...hard]);
    // 2-D: two pixels touching at a corner form one 8-connected component.
    const slice = Int32Array.from([1, 0, 0, 1]);
    expect([...pseudoLabelValues(slice, [1, 2, 2], 2)]).toEqual([1, 0, 0, 1]);
  });
});

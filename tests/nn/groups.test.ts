/**
 * Batch-norm groups (`ApplyOptions.groups`): one forward of stacked inputs gives what separate forwards give,
 * the way the copy-paste methods run their per-mix forwards. Checked on both networks, with whichever kernels
 * the suite runs (CI runs it with the fast kernels on and off).
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import type { SegmentationModel } from '../../src/nn/types.js';
import { createUNet2d } from '../../src/nn/unet2d.js';
import { createVNet } from '../../src/nn/vnet.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../helpers/compare.js';
import { randn } from '../helpers/random.js';

const networks: { name: string; make: (name: string) => SegmentationModel; shape: number[] }[] = [
  {
    name: 'VNet',
    make: (name) => createVNet({ name, baseFilters: 2, dropout: 0, seed: 3 }),
    shape: [6, 16, 16, 16, 1],
  },
  {
    name: 'UNet2d',
    make: (name) => createUNet2d({ name, baseFilters: 2, numClasses: 3, dropout: [0, 0, 0, 0, 0], seed: 3 }),
    shape: [6, 16, 16, 1],
  },
];

describe.each(networks)('$name with batch-norm groups', ({ make, shape }) => {
  it('one forward of three groups equals three forwards: logits, parameter gradients, running statistics', () => {
    const grouped = make('grouped');
    const separate = make('separate');
    const x = randn(shape, new Rng(4));
    const r = randn([...shape.slice(0, -1), grouped.numClasses], new Rng(5));
    const before = tf.memory().numTensors;
    const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, r)) as tf.Scalar;
    const g = tf.variableGrads(
      () => loss(grouped.apply(x, { training: true, rng: new Rng(1), groups: 3 })),
      grouped.trainableWeights(),
    );
    const s = tf.variableGrads(
      () =>
        loss(
          tf.concat(
            tf.split(x, 3, 0).map((part) => separate.apply(part, { training: true, rng: new Rng(1) })),
            0,
          ),
        ),
      separate.trainableWeights(),
    );
    expect(Math.abs(g.value.dataSync()[0] - s.value.dataSync()[0])).toBeLessThan(
      1e-4 * Math.abs(s.value.dataSync()[0]) + 1e-4,
    );
    const gw = grouped.trainableWeights();
    separate.trainableWeights().forEach((w, i) => {
      expect(relErr(g.grads[gw[i].name], s.grads[w.name], 1e-6)).toBeLessThan(1e-4);
    });
    const gb = [...grouped.namedBuffers()];
    const sb = separate.namedBuffers();
    for (const [key, v] of gb) expect(relErr(v, sb.get(key) as tf.Variable, 1e-6)).toBeLessThan(1e-5);
    // Without the groups the same stack is normalised as one batch: other logits.
    const whole = tf.tidy(() => grouped.apply(x, { training: true, rng: new Rng(1), updateStats: false }));
    const parts = tf.tidy(() =>
      grouped.apply(x, { training: true, rng: new Rng(1), updateStats: false, groups: 3 }),
    );
    expect(relErr(whole, parts)).toBeGreaterThan(1e-3);
    tf.dispose([g.value, s.value, ...Object.values(g.grads), ...Object.values(s.grads), whole, parts]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, r]);
    grouped.dispose();
    separate.dispose();
  });

  it('refuses groups that do not divide the batch, naming options.groups; eval mode accepts any divisor', () => {
    const net = make('badgroups');
    const x = tf.zeros(shape);
    for (const groups of [4, 0, -2, 1.5]) {
      expect(() => net.apply(x, { training: true, groups })).toThrow(InputError);
      expect(() => net.apply(x, { training: true, groups })).toThrow(
        /options\.groups must be a positive integer/,
      );
    }
    const a = tf.tidy(() => net.apply(x, { training: false, groups: 2 }));
    const b = tf.tidy(() => net.apply(x, { training: false }));
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([x, a, b]);
    net.dispose();
  });
});

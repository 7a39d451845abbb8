import { describe, expect, it } from 'vitest';
import {
  fastKernelsActive,
  registerFastKernels,
  unregisterFastKernels,
} from '../../src/backend/kernels/index.js';
import { tf } from '../../src/backend/tf.js';
import { createUNet2d, unet2dParameterCount, unet2dParameterSpecs } from '../../src/nn/unet2d.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { activateFastKernelsForTest } from '../helpers/fast-kernels.js';

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

describe('UNet2d structure', () => {
  it('has 1,813,764 trainable parameters for 1 → 4, with the per-block figures of docs/equations.md §1.4', () => {
    expect(unet2dParameterCount()).toBe(1_813_764);
    const specs = unet2dParameterSpecs();
    const block = (prefix: string) =>
      specs
        .filter((s) => s.key.startsWith(prefix) && !s.role.startsWith('running'))
        .reduce((a, s) => a + sizeOf(s.shape), 0);
    expect(block('encoder.in_conv.')).toBe(2_544);
    expect(block('encoder.down4.')).toBe(886_272);
    expect(block('decoder.up1.conv1x1.')).toBe(32_896);
    expect(block('decoder.up1.conv.')).toBe(443_136);
    expect(block('decoder.up4.conv.')).toBe(7_008);
    expect(block('decoder.out_conv.')).toBe(580);
    expect(specs.filter((s) => s.role === 'running_mean').length).toBe(18);
  });

  it('uses the reference state-dict keys and [kh, kw, in, out] kernels', () => {
    const shapes = new Map(unet2dParameterSpecs().map((s) => [s.key, s.shape]));
    expect(shapes.get('encoder.in_conv.conv_conv.0.weight')).toEqual([3, 3, 1, 16]);
    expect(shapes.get('encoder.in_conv.conv_conv.1.running_var')).toEqual([16]);
    expect(shapes.get('encoder.down1.maxpool_conv.1.conv_conv.4.weight')).toEqual([3, 3, 32, 32]);
    expect(shapes.get('decoder.up1.conv1x1.weight')).toEqual([1, 1, 256, 128]);
    expect(shapes.get('decoder.up4.conv.conv_conv.0.weight')).toEqual([3, 3, 32, 16]);
    expect(shapes.get('decoder.out_conv.weight')).toEqual([3, 3, 16, 4]);
    // baseFilters F scales the levels to F·[1, 2, 4, 8, 16].
    const small = new Map(unet2dParameterSpecs({ baseFilters: 4 }).map((s) => [s.key, s.shape]));
    expect(small.get('encoder.in_conv.conv_conv.0.weight')).toEqual([3, 3, 1, 4]);
    expect(small.get('decoder.up1.conv1x1.weight')).toEqual([1, 1, 64, 32]);
  });
});

describe('UNet2d forward', () => {
  it('train and eval shapes; eval deterministic; same rng → same train output', () => {
    const net = createUNet2d({ name: 'unet', seed: 1 });
    const rng = new Rng(2);
    const x = tf.tensor(
      Float32Array.from({ length: 2 * 16 * 32 }, () => rng.normal()),
      [2, 16, 32, 1],
    );
    const run = (training: boolean, seed: number) =>
      tf.tidy(() => {
        const y = net.apply(x, { training, rng: new Rng(seed), updateStats: false });
        expect(y.shape).toEqual([2, 16, 32, 4]);
        return Array.from(y.dataSync());
      });
    expect(run(false, 1)).toEqual(run(false, 2));
    const t = run(true, 3);
    expect(run(true, 3)).toEqual(t);
    expect(run(true, 4)).not.toEqual(t); // element-wise dropout in the encoder
    expect(t.every(Number.isFinite)).toBe(true);
    x.dispose();
    net.dispose();
  });

  it('rejects sizes not divisible by 16, naming the shape', () => {
    const net = createUNet2d({ name: 'unet_bad' });
    const x = tf.zeros([1, 20, 16, 1]);
    expect(() => net.apply(x, { training: false })).toThrow(InputError);
    expect(() => net.apply(x, { training: false })).toThrow(/\[1,20,16,1\]/);
    x.dispose();
    net.dispose();
  });

  it('trains: gradients reach every parameter without leaking', () => {
    const net = createUNet2d({ name: 'unet_grad', featureChannels: [2, 4, 4, 8, 8], seed: 3 });
    const x = tf.randomNormal([2, 16, 16, 1], 0, 1, 'float32', 1);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.square(net.apply(x, { training: true, rng: new Rng(1) }))) as tf.Scalar,
      net.trainableWeights(),
    );
    expect(Object.keys(grads).length).toBe(net.trainableWeights().length);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    net.dispose();
  });
});

describe('UNet2d on the fast cpu kernels', () => {
  /** Loss, gradients and running statistics of one train-mode step of a fresh net (same seed each call). */
  function trainStep(name: string): { values: Map<string, Float32Array>; tensors: number } {
    const net = createUNet2d({ name, featureChannels: [4, 8, 12, 12, 20], seed: 5 });
    const rng = new Rng(9);
    const x = tf.tensor(
      Float32Array.from({ length: 2 * 32 * 48 }, () => rng.normal()),
      [2, 32, 48, 1],
    );
    const labels = tf.oneHot(
      tf.tensor(
        Int32Array.from({ length: 2 * 32 * 48 }, () => rng.randint(0, 4)),
        [2, 32, 48],
        'int32',
      ),
      4,
    );
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true, rng: new Rng(1) })),
      net.trainableWeights(),
    );
    const values = new Map<string, Float32Array>([['loss', value.dataSync() as Float32Array]]);
    const prefix = `${name}/`;
    for (const [k, g] of Object.entries(grads))
      values.set(`grad ${k.replace(prefix, '')}`, g.dataSync() as Float32Array);
    for (const [k, v] of net.namedBuffers()) values.set(`stat ${k}`, v.dataSync() as Float32Array);
    tf.dispose([value, ...Object.values(grads)]);
    const tensors = tf.memory().numTensors - before;
    tf.dispose([x, labels]);
    net.dispose();
    return { values, tensors };
  }

  it('a train step gives the stock loss, gradients and running statistics, and keeps no tensor', async () => {
    const registeredHere = await activateFastKernelsForTest();
    expect(fastKernelsActive()).toBe(true);
    const fast = trainStep('unet_fast');
    unregisterFastKernels();
    const stock = trainStep('unet_stock');
    if (!registeredHere) registerFastKernels();
    expect(fast.tensors).toBe(0);
    expect(stock.tensors).toBe(0);
    expect([...fast.values.keys()]).toEqual([...stock.values.keys()]);
    const maxAbs = (v: Float32Array | undefined) =>
      (v ?? new Float32Array(0)).reduce((m, a) => Math.max(m, Math.abs(a)), 0);
    for (const [key, s] of stock.values) {
      const f = fast.values.get(key) as Float32Array;
      let diff = 0;
      for (let i = 0; i < s.length; i++) diff = Math.max(diff, Math.abs(f[i] - s[i]));
      // A conv bias followed by batch norm has an exact gradient of 0 (BN removes the mean): both paths give
      // round-off, measured against the magnitude of that conv's weight gradient.
      const scale = Math.max(
        maxAbs(s),
        key.endsWith('.bias') ? maxAbs(stock.values.get(key.replace(/bias$/, 'weight'))) : 0,
      );
      expect(diff / scale, key).toBeLessThanOrEqual(1e-4);
    }
  });
});

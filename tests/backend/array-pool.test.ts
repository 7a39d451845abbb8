import { describe, expect, it } from 'vitest';
import {
  arrayPoolStats,
  peekFloat32,
  poolCapBytes,
  takeFloat32,
} from '../../src/backend/kernels/array-pool.js';
import { fastKernelsActive, unregisterFastKernels } from '../../src/backend/kernels/index.js';
import { tf } from '../../src/backend/tf.js';
import { createVNet } from '../../src/nn/vnet.js';
import { createOptimizer } from '../../src/train/optimizer.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import {
  activateFastKernelsForTest,
  activateSuiteFastKernels,
  useFastKernelsInFile,
} from '../helpers/fast-kernels.js';

useFastKernelsInFile();

const N = 6000; // above the pool's minimum length
const ramp = (k: number) =>
  tf.tensor(
    Float32Array.from({ length: N }, (_, i) => Math.sin(i * k)),
    [N],
  );

describe('array pool of the fast kernels', () => {
  it('is installed with the fast kernels and reuses the array of a disposed kernel output', () => {
    expect(fastKernelsActive()).toBe(true);
    const x = ramp(1);
    const y = ramp(2);
    const a = tf.add(x, y);
    expect(arrayPoolStats().installed).toBe(true);
    const array = peekFloat32(a);
    a.dispose();
    const b = tf.mul(x, y);
    expect(peekFloat32(b)).toBe(array);
    const expected = Float32Array.from(x.dataSync(), (v, i) => v * y.dataSync()[i]);
    expect(b.dataSync()).toEqual(expected);
    tf.dispose([x, y, b]);
  });

  it('never reuses an array a caller read (dataSync) or that another tensor views (slice)', () => {
    const x = ramp(3);
    const y = ramp(4);
    const a = tf.add(x, y);
    const read = a.dataSync();
    const before = Float32Array.from(read);
    a.dispose();
    const b = tf.mul(x, y);
    expect(peekFloat32(b)).not.toBe(read);
    expect(read).toEqual(before);

    const c = tf.sub(x, y);
    const cArray = peekFloat32(c);
    const view = tf.slice(c, [10], [100]);
    const seen = Float32Array.from(view.dataSync());
    c.dispose();
    const d = tf.add(x, y);
    expect(peekFloat32(d)).not.toBe(cArray);
    expect(view.dataSync()).toEqual(seen);
    tf.dispose([x, y, b, d, view]);
  });

  it('waits for every tensor that shares the data (a reshape) before reusing', () => {
    const x = ramp(5);
    const y = ramp(6);
    const a = tf.add(x, y);
    const array = peekFloat32(a);
    const r = a.reshape([2, N / 2]);
    a.dispose();
    const b = tf.add(x, y);
    expect(peekFloat32(b)).not.toBe(array);
    expect(Array.from(r.dataSync().slice(0, 3))).toEqual(Array.from(b.dataSync().slice(0, 3)));
    tf.dispose([x, y, b, r]);
  });

  it('takes plain new arrays below its minimum length', () => {
    const small = takeFloat32(16);
    expect(small).toBeInstanceOf(Float32Array);
    expect(small.length).toBe(16);
  });

  it('reads its cap from SSMIS_ARRAY_POOL_MB and refuses a bad value', () => {
    expect(poolCapBytes({})).toBe(512 * 2 ** 20);
    expect(poolCapBytes({ SSMIS_ARRAY_POOL_MB: '0' })).toBe(0);
    expect(poolCapBytes({ SSMIS_ARRAY_POOL_MB: '64' })).toBe(64 * 2 ** 20);
    expect(() => poolCapBytes({ SSMIS_ARRAY_POOL_MB: '-1' })).toThrow(InputError);
    expect(() => poolCapBytes({ SSMIS_ARRAY_POOL_MB: 'lots' })).toThrow(/SSMIS_ARRAY_POOL_MB/);
  });

  it('leaves training numbers unchanged: a VNet trained 3 steps with and without the pool ends with the same weights', async () => {
    const train = () => {
      const rng = new Rng(4);
      const x = tf.tensor(
        Float32Array.from({ length: 2 * 16 ** 3 }, () => rng.normal()),
        [2, 16, 16, 16, 1],
      );
      const labels = tf.oneHot(
        tf.tensor(
          Int32Array.from({ length: 2 * 16 ** 3 }, () => (rng.random() < 0.3 ? 1 : 0)),
          [2, 16, 16, 16],
          'int32',
        ),
        2,
      );
      const net = createVNet({
        baseFilters: 4,
        numClasses: 2,
        dropout: 0.5,
        seed: 2,
        name: `pool_${Math.random()}`,
      });
      const opt = createOptimizer({ name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
      const drop = new Rng(5);
      const tensorsBefore = tf.memory().numTensors;
      const counts: number[] = [];
      for (let s = 0; s < 3; s++) {
        opt.step(
          () => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true, rng: drop })),
          net.namedParameters(),
        );
        counts.push(tf.memory().numTensors);
      }
      const weights = net.trainableWeights().map((w) => Float32Array.from(w.dataSync()));
      opt.dispose();
      net.dispose();
      tf.dispose([x, labels]);
      return { weights, counts, tensorsBefore };
    };
    // Both runs on the suite's kernel settings (the exact multiply-add), only the pool differs.
    unregisterFastKernels();
    await activateSuiteFastKernels();
    const pooled = train();
    expect(new Set(pooled.counts).size).toBe(1);
    expect(arrayPoolStats().freeBytes).toBeGreaterThan(0);
    unregisterFastKernels();
    const saved = process.env.SSMIS_ARRAY_POOL_MB;
    process.env.SSMIS_ARRAY_POOL_MB = '0';
    try {
      await activateSuiteFastKernels();
      expect(arrayPoolStats().capBytes).toBe(0);
      const plain = train();
      expect(plain.weights).toEqual(pooled.weights);
    } finally {
      if (saved === undefined) delete process.env.SSMIS_ARRAY_POOL_MB;
      else process.env.SSMIS_ARRAY_POOL_MB = saved;
      unregisterFastKernels();
      await activateFastKernelsForTest();
    }
  });

  it('restores the backend methods when the fast kernels go', async () => {
    const backend = tf.backend() as unknown as Record<string, unknown>;
    expect(Object.hasOwn(backend, 'disposeData')).toBe(true);
    unregisterFastKernels();
    expect(arrayPoolStats().installed).toBe(false);
    for (const name of ['write', 'readSync', 'read', 'disposeData'])
      expect(Object.hasOwn(backend, name)).toBe(false);
    await activateFastKernelsForTest();
  });
});

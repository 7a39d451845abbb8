import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from '../../src/io/safetensors.js';
import {
  assignWeights,
  fromPyTorchLayout,
  loadWeights,
  saveWeights,
  toPyTorchLayout,
  weightsToSafetensors,
} from '../../src/nn/checkpoint.js';
import { createTeacher } from '../../src/nn/ema.js';
import { createVNet } from '../../src/nn/vnet.js';
import { SgdOptimizer } from '../../src/train/optimizer.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

const dir = mkdtempSync(path.join(tmpdir(), 'ssmis-ckpt-'));
const x = tf.randomNormal([2, 16, 16, 16, 1], 0, 1, 'float32', 4);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  x.dispose();
});

function outputs(net: ReturnType<typeof createVNet>, training: boolean): Float32Array {
  return tf.tidy(
    () => net.apply(x, { training, rng: new Rng(1), updateStats: false }).dataSync() as Float32Array,
  );
}

describe('saveWeights / loadWeights', () => {
  it('round trip reproduces outputs exactly (student, teacher, optimizer, extras, metadata)', async () => {
    const a = createVNet({ name: 'ck_a', baseFilters: 2, seed: 1 });
    const opt = new SgdOptimizer({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    opt.step(
      () => tf.mean(tf.square(a.apply(x, { training: true, rng: new Rng(0) }))) as tf.Scalar,
      a.namedParameters(),
    );
    const ta = createTeacher(a, { name: 'ck_ta' });
    tf.tidy(() => void ta.apply(x, { training: true, rng: new Rng(2) })); // teacher stats now differ
    const file = path.join(dir, 'last.safetensors');
    await saveWeights(file, {
      models: { student: a, teacher: ta },
      optimizer: opt,
      extra: { 'rng.augment': { dtype: 'I32', shape: [4], data: Int32Array.of(1, 2, 3, 4) } },
      metadata: { iteration: '1' },
    });

    const b = createVNet({ name: 'ck_b', baseFilters: 2, seed: 2 });
    const tb = createTeacher(b, { name: 'ck_tb' });
    expect(outputs(b, false)).not.toEqual(outputs(a, false));
    const opt2 = new SgdOptimizer({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    const loaded = await loadWeights(file, {
      models: { student: b, teacher: tb },
      optimizer: opt2,
      optimizerVars: b.namedParameters(),
    });
    expect(outputs(b, false)).toEqual(outputs(a, false));
    expect(outputs(b, true)).toEqual(outputs(a, true));
    expect(outputs(tb, false)).toEqual(outputs(ta, false));
    expect(loaded.metadata.iteration).toBe('1');
    expect(Array.from(loaded.extra['rng.augment'].data)).toEqual([1, 2, 3, 4]);
    expect(opt2.getState()).toEqual(opt.getState());
    for (const m of [a, ta, b, tb]) m.dispose();
    opt.dispose();
    opt2.dispose();
  });

  it('names tensors <prefix>.<state-dict key> and optimizer.<key>.<slot>', () => {
    const a = createVNet({ name: 'ck_names', baseFilters: 2 });
    const opt = new SgdOptimizer({ lr: 0.01, momentum: 0.9 });
    opt.step(() => tf.mean(a.apply(x, { training: false })) as tf.Scalar, a.namedParameters());
    const { tensors, metadata } = weightsToSafetensors({ models: { student: a }, optimizer: opt });
    expect(tensors['student.encoder.block_one.conv.0.weight'].shape).toEqual([3, 3, 3, 1, 2]);
    expect(tensors['student.encoder.block_one.conv.1.running_var'].shape).toEqual([2]);
    expect(tensors['optimizer.decoder.out_conv.weight.momentum_buffer'].shape).toEqual([1, 1, 1, 2, 2]);
    expect(metadata['ssmis.optimizer']).toBe('sgd');
    a.dispose();
    opt.dispose();
  });

  describe('errors name the key and the file, and leave the model untouched', () => {
    const src = createVNet({ name: 'ck_src', baseFilters: 2, seed: 1 });
    const { tensors, metadata } = weightsToSafetensors({ models: { student: src } });
    afterAll(() => src.dispose());

    function attempt(mutate: (t: Record<string, SafetensorsTensor>) => void, baseFilters = 2): unknown {
      const copy = { ...tensors };
      mutate(copy);
      const file = decodeSafetensors(encodeSafetensors(copy, metadata), 'ckpt.safetensors');
      const target = createVNet({ name: 'ck_target', baseFilters, seed: 2 });
      const before = target.namedWeights().get('decoder.out_conv.bias')!.dataSync().slice();
      let caught: unknown;
      try {
        assignWeights(file, 'ckpt.safetensors', { models: { student: target } });
      } catch (error) {
        caught = error;
      }
      expect(target.namedWeights().get('decoder.out_conv.bias')!.dataSync()).toEqual(before);
      target.dispose();
      return caught;
    }

    it('missing key', () => {
      const e = attempt((t) => delete t['student.encoder.block_two.conv.3.weight']);
      expect(e).toBeInstanceOf(InputError);
      expect((e as Error).message).toMatch(/ckpt\.safetensors.*student\.encoder\.block_two\.conv\.3\.weight/);
    });

    it('extra key', () => {
      const e = attempt((t) => {
        t['student.projection_head.0.weight'] = { dtype: 'F32', shape: [1], data: Float32Array.of(0) };
      });
      expect(e).toBeInstanceOf(InputError);
      expect((e as Error).message).toMatch(/ckpt\.safetensors.*student\.projection_head\.0\.weight/);
    });

    it('shape mismatch', () => {
      const e = attempt(() => {}, 3);
      expect(e).toBeInstanceOf(InputError);
      expect((e as Error).message).toMatch(
        /ckpt\.safetensors.*student\.encoder\.block_one\.conv\.0\.weight.*\[3,3,3,1,2\].*\[3,3,3,1,3\]/,
      );
    });

    it('wrong dtype', () => {
      const e = attempt((t) => {
        const w = t['student.decoder.out_conv.bias'];
        t['student.decoder.out_conv.bias'] = {
          dtype: 'F64',
          shape: w.shape,
          data: Float64Array.from(w.data),
        };
      });
      expect((e as Error).message).toMatch(/student\.decoder\.out_conv\.bias is F64/);
    });

    it('a file that does not exist', async () => {
      const target = createVNet({ name: 'ck_missing', baseFilters: 2 });
      await expect(
        loadWeights(path.join(dir, 'none.safetensors'), { models: { student: target } }),
      ).rejects.toThrow(InputError);
      target.dispose();
    });
  });
});

describe('PyTorch layout rule', () => {
  it('permute(4, 3, 0, 1, 2) for 3-D kernels, (3, 2, 0, 1) for 2-D, inverse round trip', () => {
    const shape = [2, 2, 2, 3, 4];
    const data = Float32Array.from({ length: 96 }, (_, i) => i);
    const pt = toPyTorchLayout({ dtype: 'F32', shape, data });
    expect(pt.shape).toEqual([4, 3, 2, 2, 2]);
    // tf[a,b,c,i,o] == torch[o,i,a,b,c]
    for (let a = 0; a < 2; a++)
      for (let b = 0; b < 2; b++)
        for (let c = 0; c < 2; c++)
          for (let i = 0; i < 3; i++)
            for (let o = 0; o < 4; o++) {
              const tfIdx = (((a * 2 + b) * 2 + c) * 3 + i) * 4 + o;
              const ptIdx = (((o * 3 + i) * 2 + a) * 2 + b) * 2 + c;
              expect(pt.data[ptIdx]).toBe(data[tfIdx]);
            }
    expect(Array.from(fromPyTorchLayout(pt).data)).toEqual(Array.from(data));
    const k2 = toPyTorchLayout({
      dtype: 'F32',
      shape: [3, 3, 2, 5],
      data: Float32Array.from({ length: 90 }, (_, i) => i),
    });
    expect(k2.shape).toEqual([5, 2, 3, 3]);
    expect(k2.data[((4 * 2 + 1) * 3 + 2) * 3 + 0]).toBe(((2 * 3 + 0) * 2 + 1) * 5 + 4);
    expect(fromPyTorchLayout(k2).shape).toEqual([3, 3, 2, 5]);
    expect(toPyTorchLayout({ dtype: 'F32', shape: [4], data: Float32Array.of(1, 2, 3, 4) }).shape).toEqual([
      4,
    ]);
  });
});

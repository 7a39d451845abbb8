import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { cpamMixes, mix, mixImages, mixLabels } from '../../src/method/mix.js';
import { InputError } from '../../src/util/errors.js';

describe('mix (M⊙a + (1−M)⊙b)', () => {
  const mask = tf.tensor([1, 0, 0, 1], [2, 2]); // spatial [2, 2]

  it('mixes images [N, H, W, C] with a shared spatial mask, a outside and b inside', () => {
    const a = tf.fill([2, 2, 2, 3], 1);
    const b = tf.fill([2, 2, 2, 3], 7);
    const out = mixImages(a, b, mask);
    expect(out.shape).toEqual([2, 2, 2, 3]);
    const expected = [1, 7, 7, 1].flatMap((v) => [v, v, v]);
    expect(Array.from(out.dataSync())).toEqual([...expected, ...expected]);
    tf.dispose([a, b, out]);
  });

  it('mixes int32 labels [N, H, W] exactly and keeps int32; per-sample masks work', () => {
    const a = tf.tensor([1, 2, 3, 3, 0, 1, 2, 3], [2, 2, 2], 'int32');
    const b = tf.tensor([9, 9, 9, 9, 8, 8, 8, 8], [2, 2, 2], 'int32');
    const out = mixLabels(a, b, mask);
    expect(out.dtype).toBe('int32');
    expect(Array.from(out.dataSync())).toEqual([1, 9, 9, 3, 0, 8, 8, 3]);
    const perSample = tf.tensor([1, 1, 1, 1, 0, 0, 0, 0], [2, 2, 2]);
    const out2 = mix(a, b, perSample);
    expect(out2.dtype).toBe('int32');
    expect(Array.from(out2.dataSync())).toEqual([1, 2, 3, 3, 8, 8, 8, 8]);
    tf.dispose([a, b, out, perSample, out2]);
  });

  it('builds the four CPAM inputs E8–E11', () => {
    const [la, lb, ua, ub] = [1, 2, 3, 4].map((v) => tf.fill([1, 2, 2, 1], v));
    const m = cpamMixes(la, lb, ua, ub, mask);
    expect(Array.from(m.xl.dataSync())).toEqual([1, 3, 3, 1]);
    expect(Array.from(m.xu.dataSync())).toEqual([4, 2, 2, 4]);
    expect(Array.from(m.xll.dataSync())).toEqual([1, 2, 2, 1]);
    expect(Array.from(m.xuu.dataSync())).toEqual([3, 4, 4, 3]);
    tf.dispose([la, lb, ua, ub, m.xl, m.xu, m.xll, m.xuu]);
  });

  it('rejects mismatched shapes and dtypes, and does not leak', () => {
    const a = tf.zeros([1, 2, 2, 1]);
    const b = tf.zeros([1, 2, 3, 1]);
    const l = tf.zeros([1, 2, 2], 'int32');
    const bad = tf.zeros([3, 3]);
    expect(() => mixImages(a, b, mask)).toThrow(InputError);
    expect(() => mixLabels(a, a, mask)).toThrow(/int32/);
    expect(() => mixLabels(l, l, bad)).toThrow(/mask shape \[3, 3\]/);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose([mixImages(a, a, mask), mixLabels(l, l, mask)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b, l, bad]);
  });
});

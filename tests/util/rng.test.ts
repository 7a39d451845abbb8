import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';

describe('Rng', () => {
  it('is deterministic for a seed and differs between seeds and streams', () => {
    const a = new Rng(1337);
    const b = new Rng(1337);
    const seqA = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(seqA);
    const c = new Rng(1338);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(seqA);
    const s1 = Rng.stream(1337, 'augment').nextUint32();
    const s2 = Rng.stream(1337, 'cuboid').nextUint32();
    expect(s1).not.toBe(s2);
  });

  it('restores a saved state exactly (resume)', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 100; i++) rng.random();
    const state = JSON.parse(JSON.stringify(rng.getState()));
    const expected = Array.from({ length: 20 }, () => rng.randint(0, 1000));
    const restored = new Rng(state);
    expect(Array.from({ length: 20 }, () => restored.randint(0, 1000))).toEqual(expected);
  });

  it('randint(a, b) draws every value of [a, b−1] and never b (numpy semantics)', () => {
    const rng = new Rng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i++) seen.add(rng.randint(10, 20));
    expect([...seen].sort((x, y) => x - y)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(() => rng.randint(5, 5)).toThrow('high must be greater than low');
  });

  it('random() lies in [0, 1) with mean ≈ 0.5; normal() has mean ≈ 0 and std ≈ 1', () => {
    const rng = new Rng(3);
    let sum = 0;
    let sumN = 0;
    let sumN2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = rng.random();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      const z = rng.normal();
      sumN += z;
      sumN2 += z * z;
    }
    expect(sum / n).toBeCloseTo(0.5, 1);
    expect(sumN / n).toBeCloseTo(0, 1);
    expect(Math.sqrt(sumN2 / n)).toBeCloseTo(1, 1);
  });

  it('rejects malformed states', () => {
    expect(() => new Rng({ s: [1, 2, 3] as unknown as [number, number, number, number] })).toThrow(
      'four uint32',
    );
  });
});

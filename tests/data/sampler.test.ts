import { describe, expect, it } from 'vitest';
import { type SamplerState, TwoStreamBatchSampler } from '../../src/data/sampler.js';
import { Rng } from '../../src/util/rng.js';

const LABELED = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const UNLABELED = [100, 101, 102, 103, 104, 105, 106];

function make(seed: number) {
  return new TwoStreamBatchSampler({
    labeled: LABELED,
    unlabeled: UNLABELED,
    labeledBatch: 4,
    unlabeledBatch: 4,
    rng: new Rng(seed),
  });
}

describe('TwoStreamBatchSampler (docs/equations.md §2.6)', () => {
  it('iterations per epoch = floor(labeled / labeled batch)', () => {
    expect(make(1).iterationsPerEpoch).toBe(2);
    const la = (n: number) =>
      new TwoStreamBatchSampler({
        labeled: Array.from({ length: n }, (_, i) => i),
        unlabeled: [99],
        labeledBatch: 4,
        unlabeledBatch: 4,
        rng: new Rng(0),
      }).iterationsPerEpoch;
    expect([la(8), la(4), la(25), la(50)]).toEqual([2, 1, 6, 12]);
  });

  it('composes primary groups of a per-epoch permutation and a secondary chain that straddles permutations', () => {
    const sampler = make(42);
    // Independent replay of the reference's lazy generators with the same Rng calls.
    const rng = new Rng(42);
    const perm = (values: number[]) => rng.shuffle([...values]);
    const expected: { labeled: number[]; unlabeled: number[] }[] = [];
    for (let epoch = 0; epoch < 3; epoch++) {
      const primary = perm(LABELED);
      let chain: number[] = [];
      for (let it = 0; it < 2; it++) {
        const labeled = primary.slice(it * 4, it * 4 + 4);
        while (chain.length < 4) chain = chain.concat(perm(UNLABELED));
        expected.push({ labeled, unlabeled: chain.slice(0, 4) });
        chain = chain.slice(4);
      }
    }
    const got = Array.from({ length: 6 }, () => sampler.next());
    expect(got.map(({ labeled, unlabeled }) => ({ labeled, unlabeled }))).toEqual(expected);
    expect(got.map((b) => [b.epoch, b.iterationInEpoch])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [2, 0],
      [2, 1],
    ]);
    for (const b of got) {
      expect(b.labeled.every((v) => LABELED.includes(v))).toBe(true);
      expect(b.unlabeled.every((v) => UNLABELED.includes(v))).toBe(true);
    }
    // Epoch 0: 8 distinct labeled values, the trailing group of 2 dropped.
    const epoch0 = [...got[0].labeled, ...got[1].labeled];
    expect(new Set(epoch0).size).toBe(8);
    // Batch 1's unlabeled group straddles: its first 3 finish permutation 1, the 4th starts permutation 2.
    const firstPerm = [...got[0].unlabeled, ...got[1].unlabeled.slice(0, 3)];
    expect([...firstPerm].sort((a, b) => a - b)).toEqual(UNLABELED);
  });

  it('restarts the secondary chain at each epoch (the rest of the old permutation is discarded)', () => {
    const sampler = new TwoStreamBatchSampler({
      labeled: [0, 1],
      unlabeled: [10, 11, 12, 13, 14],
      labeledBatch: 2,
      unlabeledBatch: 2,
      rng: new Rng(3),
    });
    // One iteration per epoch: each batch's unlabeled pair is the start of a fresh permutation.
    const rng = new Rng(3);
    for (let e = 0; e < 5; e++) {
      const primary = rng.shuffle([0, 1]);
      const secondary = rng.shuffle([10, 11, 12, 13, 14]);
      const b = sampler.next();
      expect(b.labeled).toEqual(primary);
      expect(b.unlabeled).toEqual(secondary.slice(0, 2));
    }
  });

  it('errors when no labeled batch can be filled, naming the counts', () => {
    expect(
      () =>
        new TwoStreamBatchSampler({
          labeled: [0, 1, 2],
          unlabeled: [5],
          labeledBatch: 4,
          unlabeledBatch: 4,
          rng: new Rng(1),
        }),
    ).toThrow(/3 labeled units cannot fill one labeled batch of 4/);
    expect(
      () =>
        new TwoStreamBatchSampler({
          labeled: [0, 1],
          unlabeled: [],
          labeledBatch: 2,
          unlabeledBatch: 2,
          rng: new Rng(1),
        }),
    ).toThrow(/needs unlabeled units, got 0/);
  });

  it('supervised mode has no unlabeled stream', () => {
    const s = new TwoStreamBatchSampler({
      labeled: LABELED,
      labeledBatch: 3,
      mode: 'supervised',
      rng: new Rng(8),
    });
    expect(s.iterationsPerEpoch).toBe(3);
    for (let i = 0; i < 7; i++) {
      const b = s.next();
      expect(b.unlabeled).toEqual([]);
      expect(b.labeled).toHaveLength(3);
    }
  });

  it('resumes identically from a saved state (JSON round trip, fresh Rng)', () => {
    const a = make(77);
    for (let i = 0; i < 5; i++) a.next(); // mid-epoch, mid-secondary-permutation
    const state = JSON.parse(JSON.stringify(a.getState())) as SamplerState;
    const continued = Array.from({ length: 9 }, () => a.next());
    const b = make(12345);
    b.setState(state);
    const resumed = Array.from({ length: 9 }, () => b.next());
    expect(resumed).toEqual(continued);
  });

  it('refuses a state saved by a differently configured sampler', () => {
    const state = make(1).getState();
    const other = new TwoStreamBatchSampler({
      labeled: [0, 1, 2, 3],
      unlabeled: UNLABELED,
      labeledBatch: 4,
      unlabeledBatch: 4,
      rng: new Rng(1),
    });
    expect(() => other.setState(state)).toThrow(/does not match this sampler/);
  });
});

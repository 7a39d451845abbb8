import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

// An independent implementation of the published algorithms in BigInt arithmetic (every word masked to 32 bits),
// sharing no code with src/util/rng.ts: splitmix32 (golden-ratio increment, then the two multiply-xorshift
// rounds of the Murmur3 finaliser) expands a seed into the four words of xoshiro128** (Blackman & Vigna), and
// FNV-1a (offset basis 0x811c9dc5, prime 0x01000193) hashes a stream name into the seed.
const MASK = 0xffffffffn;
const mul32 = (a: bigint, b: bigint): bigint => (a * b) & MASK;
const rotl32 = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & MASK;

function splitmix32Words(seed: number, n: number): bigint[] {
  let x = BigInt(seed) & MASK;
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    x = (x + 0x9e3779b9n) & MASK;
    let z = x;
    z = mul32(z ^ (z >> 16n), 0x85ebca6bn);
    z = mul32(z ^ (z >> 13n), 0xc2b2ae35n);
    out.push(z ^ (z >> 16n));
  }
  return out;
}

/** The first `n` outputs of xoshiro128** from the state `s` (state words as the algorithm's uint32). */
function xoshiro128ss(state: readonly bigint[], n: number): number[] {
  const s = [...state];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(Number(mul32(rotl32(mul32(s[1], 5n), 7n), 9n)));
    const t = (s[1] << 9n) & MASK;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl32(s[3], 11n);
  }
  return out;
}

function seededState(seed: number): bigint[] {
  const s = splitmix32Words(seed, 4);
  if (!s.some((w) => w !== 0n)) s[0] = 1n;
  return s;
}

function fnv1a(text: string): bigint {
  let h = 0x811c9dc5n;
  for (let i = 0; i < text.length; i++) h = mul32(h ^ BigInt(text.charCodeAt(i)), 0x01000193n);
  return h;
}

function words(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextUint32());
}

describe('Rng known answers (saved RNG state must keep its meaning)', () => {
  it('xoshiro128** from the state [1, 2, 3, 4] gives the published first words', () => {
    // The first two by hand: 2·5 = 10, rotl 7 = 1280, ·9 = 11520; after one step s1 = 2 ^ (3 ^ 1) = 0.
    const expected = [11520, 0, 5927040, 70819200, 2031721883, 1637235492];
    expect(xoshiro128ss([1n, 2n, 3n, 4n], 6)).toEqual(expected);
    expect(words(new Rng({ s: [1, 2, 3, 4] }), 6)).toEqual(expected);
  });

  it('seeds through splitmix32: state and first words for seeds 0, 1 and 1337', () => {
    const pinned: Record<number, { state: number[]; words: number[] }> = {
      0: {
        state: [2462723854, 1020716019, 454327756, 1275600319],
        words: [3809008728, 1133695204, 53579671, 2891528803, 139681546, 2203266335],
      },
      1: {
        state: [2527132011, 314344336, 2535364964, 2041432039],
        words: [2442144158, 3238099751, 3819917871, 2104621829, 2021136066, 4223536128],
      },
      1337: {
        state: [4276329103, 4396809, 3012461884, 2050892567],
        words: [3850783360, 2344901440, 1788140607, 2770358602, 3113703425, 1815533230],
      },
    };
    for (const [key, want] of Object.entries(pinned)) {
      const seed = Number(key);
      const oracle = seededState(seed);
      expect(oracle.map(Number), `oracle state of seed ${seed}`).toEqual(want.state);
      expect(xoshiro128ss(oracle, 6), `oracle words of seed ${seed}`).toEqual(want.words);
      const rng = new Rng(seed);
      expect(rng.getState().s, `state of seed ${seed}`).toEqual(want.state);
      expect(words(rng, 6), `words of seed ${seed}`).toEqual(want.words);
    }
  });

  it('a named stream is seeded with seed XOR FNV-1a(name)', () => {
    const seed = Number((1337n ^ fnv1a('augment')) & MASK);
    expect(seed).toBe(3102095425);
    const expected = [4087544435, 2254265660, 1475074883, 2751326278];
    expect(xoshiro128ss(seededState(seed), 4)).toEqual(expected);
    expect(words(Rng.stream(1337, 'augment'), 4)).toEqual(expected);
  });

  it('random() takes 27 + 26 bits of two words; randint rejects above the largest multiple of the range', () => {
    const w = xoshiro128ss(seededState(1337), 4);
    const res53 = (hi: number, lo: number) => ((hi >>> 5) * 67108864 + (lo >>> 6)) / 9007199254740992;
    const rng = new Rng(1337);
    expect(rng.random()).toBe(res53(w[0], w[1]));
    expect(rng.random()).toBe(res53(w[2], w[3]));
    // Range 10: limit 2^32 − (2^32 mod 10) = 4294967290, which these words are below.
    const next = xoshiro128ss(seededState(1337), 6).slice(4);
    expect(rng.randint(0, 10)).toBe(next[0] % 10);
    expect(rng.randint(-20, 20)).toBe(-20 + (next[1] % 40));
  });
});

describe('Rng', () => {
  it('fillMask draws what nextUint32 draws: the same mask and the same state after it', () => {
    const a = new Rng(99);
    const b = new Rng(99);
    const p = 0.3;
    const mask = a.fillMask(new Float32Array(1001), p, 2.5);
    const want = Float32Array.from({ length: 1001 }, () => (b.nextUint32() / 4294967296 < p ? 0 : 2.5));
    expect(Array.from(mask)).toEqual(Array.from(want));
    expect(a.getState()).toEqual(b.getState());
    expect(mask.some((v) => v === 0) && mask.some((v) => v === 2.5)).toBe(true);
    expect(() => a.fillMask([] as unknown as Float32Array, p, 1)).toThrow(/out/);
    expect(() => a.fillMask(new Float32Array(1), Number.NaN, 1)).toThrow(/p/);
  });

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
    expect(() => rng.randint(5, 5)).toThrow(InputError);
    expect(() => rng.randint(5, 5)).toThrow(
      "Rng.randint: argument 'high' must be greater than low (5), got 5",
    );
    expect(() => rng.randint(0, 2 ** 32 + 1)).toThrow(InputError);
    expect(() => rng.randint(0, 2 ** 32 + 1)).toThrow(
      'Rng.randint: the range high − low must be at most 2^32',
    );
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

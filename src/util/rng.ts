/**
 * Seeded random numbers with serialisable state: one generator per stream (case sampling,
 * augmentation, cuboid positions, dropout seeds), each saved in checkpoints so a resumed run continues the
 * same sequence. Core: xoshiro128** (fast, 2^128−1 period, 32-bit integer arithmetic only, so results are
 * identical on every platform). Seeds are expanded with splitmix32.
 */

import {
  requireArray,
  requireInteger,
  requireNumber,
  requireObject,
  requireString,
  requireTypedArray,
} from './args.js';
import { InputError } from './errors.js';

export interface RngState {
  /** Four uint32 words of the xoshiro128** state. */
  s: [number, number, number, number];
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a of a stream name, so `Rng.stream(seed, 'augment')` and `Rng.stream(seed, 'cuboid')` differ. */
function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * The seeded random generator of every random draw in ssmis (cuboid positions, batch order, augmentation, weight
 * init, dropout seeds), so a seed reproduces a run and its state can be checkpointed and restored.
 *
 * xoshiro128**. The state words are held as int32 (the same bits as the uint32 words of `getState`): values that
 * stay small integers keep `nextUint32` free of heap-number allocation, several times faster (dropout masks draw
 * one value per element).
 *
 * @example
 * import { Rng } from 'ssmis';
 *
 * const rng = new Rng(42);
 * const saved = rng.getState();
 * const a = [rng.random(), rng.randint(0, 10), rng.normal()];
 * const replay = new Rng(saved);
 * const b = [replay.random(), replay.randint(0, 10), replay.normal()]; // b equals a
 * const augment = Rng.stream(42, 'augment'); // an independent stream of the same seed
 * console.log(a, b, augment.permutation(5));
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /**
   * Creates a generator from a seed or from a saved state.
   *
   * @param seed A number (its integer part modulo 2^32 seeds the state through splitmix32) or a state from
   *   {@link Rng.getState} (`{ s: [four uint32] }`), which continues that generator's sequence exactly.
   * @returns A new generator; two generators built from the same seed or state draw the same sequence.
   * @throws InputError when `seed` is neither a number nor an object, or a state is not `{ s: [four uint32] }`.
   */
  constructor(seed: number | RngState) {
    if (typeof seed === 'number') {
      requireNumber('Rng', 'seed', seed);
      const next = splitmix32(Math.trunc(seed) >>> 0);
      this.s0 = next() | 0;
      this.s1 = next() | 0;
      this.s2 = next() | 0;
      this.s3 = next() | 0;
      if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    } else {
      requireObject('Rng', 'seed', seed, 'a number or an Rng state (rng.getState())');
      const s = seed.s;
      if (
        !Array.isArray(s) ||
        s.length !== 4 ||
        s.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)
      ) {
        throw new InputError("Rng: argument 'seed' as a state must be { s: [four uint32] }");
      }
      [this.s0, this.s1, this.s2, this.s3] = s.map((v) => v | 0);
    }
  }

  /** An independent generator for a named stream of a run seed. */
  static stream(seed: number, name: string): Rng {
    requireNumber('Rng.stream', 'seed', seed);
    requireString('Rng.stream', 'name', name);
    return new Rng((Math.trunc(seed) ^ hashString(name)) >>> 0);
  }

  getState(): RngState {
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0] };
  }

  setState(state: RngState): void {
    requireObject('Rng.setState', 'state', state, 'an Rng state (getState())');
    const copy = new Rng(state);
    this.s0 = copy.s0;
    this.s1 = copy.s1;
    this.s2 = copy.s2;
    this.s3 = copy.s3;
  }

  clone(): Rng {
    return new Rng(this.getState());
  }

  /** Uniform uint32. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * Fills `out` with a dropout keep-mask: element i is 0 when this generator's i-th next uint32 divided by 2^32 is
   * below `p`, else `scale`. Draws `out.length` values, the same numbers and state as that many `nextUint32` calls,
   * in one loop on local state (several times faster per element).
   *
   * @param out The mask to fill.
   * @param p The probability of a 0 (compared with u / 2^32, u uniform uint32).
   * @param scale The value of a kept element.
   * @returns `out`.
   * @throws InputError when `out` is not a Float32Array or `p` or `scale` is not a finite number.
   */
  fillMask(out: Float32Array, p: number, scale: number): Float32Array {
    requireTypedArray('Rng.fillMask', 'out', out, ['Float32Array']);
    requireNumber('Rng.fillMask', 'p', p);
    requireNumber('Rng.fillMask', 'scale', scale);
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let i = 0; i < out.length; i++) {
      const m = Math.imul(s1, 5);
      const u = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[i] = u / 4294967296 < p ? 0 : scale;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return out;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Uniform integer in [low, high − 1], numpy's `randint(low, high)` semantics (upper bound exclusive,
   * as docs/equations.md writes it). Unbiased (rejection sampling).
   */
  randint(low: number, high: number): number {
    requireInteger('Rng.randint', 'low', low);
    requireInteger('Rng.randint', 'high', high);
    if (high <= low) {
      throw new InputError(`Rng.randint: argument 'high' must be greater than low (${low}), got ${high}`);
    }
    const range = high - low;
    if (range > 0x100000000) {
      throw new InputError(`Rng.randint: the range high − low must be at most 2^32, got ${range}`);
    }
    if (range === 0x100000000) return low + this.nextUint32();
    const limit = 0x100000000 - (0x100000000 % range);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return low + (x % range);
  }

  /** Standard normal (Box–Muller; one value per call so the state stays four words). */
  normal(mean = 0, std = 1): number {
    requireNumber('Rng.normal', 'mean', mean);
    requireNumber('Rng.normal', 'std', std);
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Uniform float in [low, high). */
  uniform(low: number, high: number): number {
    requireNumber('Rng.uniform', 'low', low);
    requireNumber('Rng.uniform', 'high', high);
    return low + (high - low) * this.random();
  }

  /** In-place Fisher–Yates shuffle; returns the array. */
  shuffle<T>(items: T[]): T[] {
    requireArray('Rng.shuffle', 'items', items);
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.randint(0, i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n−1. */
  permutation(n: number): number[] {
    requireInteger('Rng.permutation', 'n', n, { min: 0 });
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** A fresh uint32 seed, e.g. for a TF.js op that takes a seed (dropout). */
  seed(): number {
    return this.nextUint32();
  }
}

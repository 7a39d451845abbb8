import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelRuntime } from '../../src/backend/kernels/runtime.js';
import { Rng } from '../../src/util/rng.js';

/**
 * `KernelRuntime.compactOut`, the copy of a convolution's output from channel blocks of 8 to dense channels
 * (plus the bias), in WebAssembly on the worker pool: the same values as the plain JavaScript copy, bit for bit
 * (−0 kept without a bias, NaN stays NaN), for channel counts with and without a tail past the last f32x4,
 * in place (C a multiple of 8) and not, split into many items over a worker.
 */

let rt: KernelRuntime;

beforeAll(async () => {
  // parallelFlops 0: every copy is a pool task, so the worker takes items of every case.
  rt = new KernelRuntime({ workers: 1, parallelFlops: 0 });
  await rt.whenReady();
});

afterAll(() => rt.terminate());

/** The first index where the arrays differ under Object.is (−0 ≠ 0, NaN = NaN), or −1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

describe('compactOut', () => {
  for (const c of [1, 2, 3, 4, 5, 6, 8, 13, 16, 19, 24]) {
    for (const withBias of [false, true]) {
      it(`C = ${c}${withBias ? ' with a bias' : ''}: the JavaScript copy's bits`, () => {
        const c8 = Math.ceil(c / 8) * 8;
        // Several items of 4096 output floats and a shorter last one.
        const count = Math.ceil((3 * 4096) / c) + 7;
        const rng = new Rng(c * 2 + (withBias ? 1 : 0));
        const src = Float32Array.from({ length: count * c8 }, () => rng.normal() * 10);
        src[0] = -0;
        src[c8 + (c - 1)] = Number.NaN;
        src[2 * c8] = Number.POSITIVE_INFINITY;
        const bias = withBias ? Float32Array.from({ length: c }, () => rng.normal()) : undefined;
        const want = new Float32Array(count * c);
        for (let p = 0; p < count; p++) {
          for (let j = 0; j < c; j++) {
            const v = src[p * c8 + j];
            want[p * c + j] = bias === undefined ? v : v + bias[j];
          }
        }
        rt.reset();
        const ptr = rt.alloc(4 * src.length);
        rt.f32.set(src, ptr >> 2);
        const got = rt.compactOut(ptr, count, c, c8, bias);
        expect(firstDifference(got, want)).toBe(-1);
      });
    }
  }

  it('blocks: a fresh heap with one block per size, null when they exceed the wasm memory', () => {
    const [a, b] = rt.blocks(100, 8) ?? [];
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThanOrEqual((a ?? 0) + 100);
    expect(b % 64).toBe(0);
    // More than the 2 GiB a wasm memory can hold: the caller's JavaScript path takes over.
    expect(rt.blocks(64, 2 ** 31)).toBeNull();
    expect(rt.blocks(100)?.[0]).toBe(a);
  });

  it('one pixel of 7 channels: the padding lane is not copied', () => {
    rt.reset();
    const ptr = rt.alloc(32);
    rt.f32.set([1, 2, 3, 4, 5, 6, 7, 8], ptr >> 2);
    expect(Array.from(rt.compactOut(ptr, 1, 7, 8, new Float32Array([1, 1, 1, 1, 1, 1, 1])))).toEqual([
      2, 3, 4, 5, 6, 7, 8,
    ]);
  });
});

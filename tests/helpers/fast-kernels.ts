import { afterAll, beforeAll, expect } from 'vitest';
import {
  fastKernelsActive,
  fastKernelWorkersReady,
  registerFastKernels,
  unregisterFastKernels,
} from '../../src/backend/kernels/index.js';

/**
 * Activates the fast kernels whatever `SSMIS_FAST_KERNELS` says (the suite also runs with the fast path switched
 * off, and tests comparing the two paths need it on). Returns whether this call registered them, so that the
 * caller unregisters only what it registered. One worker, and a low threshold so that small test tensors also
 * run on it.
 */
export async function activateFastKernelsForTest(): Promise<boolean> {
  if (fastKernelsActive()) return false;
  const registered = withSwitchCleared(() => registerFastKernels({ workers: 1, parallelFlops: 2e5 }));
  await fastKernelWorkersReady();
  return registered;
}

/** Runs `register` with `SSMIS_FAST_KERNELS` unset (an off switch would refuse it), restoring it after. */
function withSwitchCleared(register: () => boolean): boolean {
  const saved = process.env.SSMIS_FAST_KERNELS;
  delete process.env.SSMIS_FAST_KERNELS;
  try {
    return register();
  } finally {
    if (saved !== undefined) process.env.SSMIS_FAST_KERNELS = saved;
  }
}

/**
 * Replaces any registration with one of these options, whatever `SSMIS_FAST_KERNELS` says (the kernel path
 * tests choose the worker count and the multiply-add variant), with a low threshold so that small test tensors
 * also run on the workers. Fails the test when the kernels cannot be registered.
 */
export function registerFastKernelsAfresh(options: { workers: number; relaxedSimd: boolean }): void {
  unregisterFastKernels();
  expect(withSwitchCleared(() => registerFastKernels({ ...options, parallelFlops: 1e5 }))).toBe(true);
}

/**
 * The fast kernels as the suite runs them (tests/setup.ts): the exact multiply-add kernels unless
 * `SSMIS_RELAXED_SIMD` asks otherwise, whose rounding does not depend on the hardware.
 */
const SUITE_OPTIONS = { relaxedSimd: process.env.SSMIS_RELAXED_SIMD === undefined ? false : undefined };

/**
 * Activates the fast kernels with the suite's settings whatever `SSMIS_FAST_KERNELS` says, for numbers pinned on
 * them; returns whether this call registered them (the caller unregisters only what it registered).
 */
export async function activateSuiteFastKernels(): Promise<boolean> {
  if (fastKernelsActive()) return false;
  const registered = withSwitchCleared(() => registerFastKernels(SUITE_OPTIONS));
  await fastKernelWorkersReady();
  return registered;
}

/**
 * The fast kernels on for every test of the calling file (one worker, low threshold, as
 * {@link activateFastKernelsForTest}), and off again after them if this file turned them on.
 */
export function useFastKernelsInFile(): void {
  let registeredHere = false;
  beforeAll(async () => {
    registeredHere = await activateFastKernelsForTest();
  });
  afterAll(() => {
    if (registeredHere) unregisterFastKernels();
  });
}

import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { kernelThreads } from '../../src/backend/kernels/runtime.js';
import { InputError } from '../../src/util/errors.js';

describe('kernelThreads (SSMIS_THREADS)', () => {
  it('defaults to every core the process may use', () => {
    expect(kernelThreads({})).toBe(availableParallelism());
    expect(kernelThreads({ SSMIS_THREADS: ' ' })).toBe(availableParallelism());
  });

  it('takes a positive integer, capped at the main thread plus 64 workers', () => {
    expect(kernelThreads({ SSMIS_THREADS: '1' })).toBe(1);
    expect(kernelThreads({ SSMIS_THREADS: ' 3 ' })).toBe(3);
    expect(kernelThreads({ SSMIS_THREADS: '1000' })).toBe(65);
  });

  it('refuses anything else with an InputError naming the variable', () => {
    for (const bad of ['0', '-2', '1.5', 'two', 'NaN']) {
      expect(() => kernelThreads({ SSMIS_THREADS: bad })).toThrow(InputError);
      expect(() => kernelThreads({ SSMIS_THREADS: bad })).toThrow(/SSMIS_THREADS/);
    }
  });
});

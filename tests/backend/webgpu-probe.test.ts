/**
 * `auto` asks a separate process which WebGPU adapter the machine has (so Dawn is never loaded here for a
 * software one). The answer is asked once per process: a second `auto` initialisation does not start another probe.
 * The probe process is replaced by a fake answer (a software adapter), so this runs with or without a GPU driver.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';

const calls: string[][] = [];
vi.mock('node:child_process', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:child_process')>();
  const fake = (
    _file: string,
    args: string[],
    _options: unknown,
    callback: (error: Error | null, stdout: string, stderr: string) => void,
  ) => {
    calls.push(args);
    const info = { vendor: 'mesa', architecture: 'software', device: '', description: 'llvmpipe (LLVM 19)' };
    setImmediate(() => callback(null, JSON.stringify({ info: { ...info, isFallbackAdapter: false } }), ''));
  };
  return { ...actual, execFile: fake };
});

const { initBackend } = await import('../../src/backend/init.js');

describe('the WebGPU adapter probe of auto', () => {
  afterAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('runs once per process; both initialisations report the same software adapter and skip it', async () => {
    const key = 'webgpu (@tensorflow/tfjs-backend-webgpu + webgpu)';
    const first = await initBackend({ backend: 'auto' });
    const second = await initBackend({ backend: 'auto' });
    for (const info of [first, second]) {
      expect(info.active).not.toBe('webgpu');
      expect(info.unavailable[key]).toMatch(/only a software adapter, llvmpipe/);
      expect(info.adapter?.software).toBe(true);
    }
    expect(calls).toHaveLength(1);
    // The probe copies exactly the adapter-info fields ssmis reads.
    expect(calls[0].join(' ')).toContain(
      '["vendor","architecture","device","description","isFallbackAdapter"]',
    );
  });
});

/**
 * The `webgpu` backend's choice rules and helpers: which adapters count as software, what `auto` and an explicit
 * `webgpu` do with a software adapter, the ≤ 4-D pad views and rank-5 binary-op fix of the repaired kernels, and
 * the host-read queue that replaces synchronous reads. The adapter-dependent tests run where an adapter exists
 * (CI installs the software Vulkan driver; tests/backend/webgpu-parity.test.ts fails there without one).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  afterHostReads,
  discardHostReads,
  pendingHostReads,
  readOnHost,
  scalarsOnHost,
  settleHostReads,
} from '../../src/backend/host-read.js';
import { describeAdapter, initBackend, isSoftwareAdapter } from '../../src/backend/init.js';
import { tf } from '../../src/backend/tf.js';
import { needsRankFix, padView } from '../../src/backend/webgpu-kernels.js';
import { InputError } from '../../src/util/errors.js';

const LLVMPIPE = {
  vendor: 'mesa',
  architecture: 'software',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
  isFallbackAdapter: true,
};

describe('software adapters', () => {
  it('llvmpipe, lavapipe, SwiftShader, WARP and fallback adapters are software; real GPUs are not', () => {
    expect(isSoftwareAdapter(LLVMPIPE)).toBe(true);
    expect(isSoftwareAdapter({ ...LLVMPIPE, isFallbackAdapter: false, architecture: '' })).toBe(true);
    expect(
      isSoftwareAdapter({ vendor: 'google', device: 'swiftshader', description: 'SwiftShader Device' }),
    ).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' })).toBe(
      true,
    );
    expect(isSoftwareAdapter({ vendor: 'mesa', architecture: '', description: 'lavapipe' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'x', isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'apple', architecture: 'metal-3', description: 'Apple M2 Pro' })).toBe(
      false,
    );
    expect(
      isSoftwareAdapter({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA RTX A4000' }),
    ).toBe(false);
    expect(
      isSoftwareAdapter({ vendor: 'amd', architecture: 'rdna-3', description: 'AMD Radeon RX 7900' }),
    ).toBe(false);
    expect(
      isSoftwareAdapter({ vendor: 'intel', architecture: 'gen-12lp', description: 'Intel(R) Iris(R) Xe' }),
    ).toBe(false);
  });

  it('names an adapter by description, vendor and architecture', () => {
    expect(describeAdapter({ ...LLVMPIPE, software: true })).toBe(
      'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1 (mesa, software)',
    );
    expect(
      describeAdapter({
        vendor: 'nvidia',
        architecture: 'ampere',
        device: '',
        description: '',
        software: false,
      }),
    ).toBe('nvidia (nvidia, ampere)');
  });
});

describe('repaired webgpu kernels: when they apply', () => {
  it('binary ops: a rank ≥ 5 operand with a vector of 2–127 values, either side', () => {
    expect(needsRankFix([2, 4, 4, 4, 8], [8])).toBe(true);
    expect(needsRankFix([8], [2, 4, 4, 4, 8])).toBe(true);
    expect(needsRankFix([2, 4, 4, 8], [8])).toBe(false);
    expect(needsRankFix([2, 4, 4, 4, 1], [1])).toBe(false);
    expect(needsRankFix([2, 4, 4, 4, 200], [200])).toBe(false);
    expect(needsRankFix([2, 4, 4, 4, 8], [])).toBe(false);
  });

  it('pads: unpadded axes merge into the axis before, padding scaled by the merged size', () => {
    expect(
      padView(
        [2, 3, 4, 5, 6],
        [
          [1, 0],
          [0, 0],
          [0, 0],
          [0, 0],
          [0, 0],
        ],
      ),
    ).toEqual({
      shape: [720],
      paddings: [[360, 0]],
      outShape: [3, 3, 4, 5, 6],
    });
    expect(
      padView(
        [2, 3, 4, 5, 6],
        [
          [0, 0],
          [1, 1],
          [0, 0],
          [0, 2],
          [0, 0],
        ],
      ),
    ).toEqual({
      shape: [2, 12, 30],
      paddings: [
        [0, 0],
        [4, 4],
        [0, 12],
      ],
      outShape: [2, 5, 4, 7, 6],
    });
    expect(
      padView(
        [2, 3, 4, 5, 6],
        [
          [1, 1],
          [1, 1],
          [1, 1],
          [1, 1],
          [0, 0],
        ],
      ),
    ).toEqual({
      shape: [2, 3, 4, 30],
      paddings: [
        [1, 1],
        [1, 1],
        [1, 1],
        [6, 6],
      ],
      outShape: [4, 5, 6, 7, 6],
    });
    expect(
      padView(
        [2, 3, 4, 5, 6],
        [
          [1, 1],
          [1, 1],
          [1, 1],
          [1, 1],
          [1, 1],
        ],
      ),
    ).toBeNull();
  });
});

describe('host reads on a sync backend (cpu)', () => {
  it('run at once, in order, with the values dataSync gives; nothing stays queued', async () => {
    await initBackend({ backend: 'cpu' });
    const t = tf.tensor([1, 2, 3]);
    const seen: number[][] = [];
    readOnHost([t], ([v]) => seen.push(Array.from(v as Float32Array)));
    const parts = scalarsOnHost({ a: tf.scalar(4), b: tf.scalar(5) });
    let merged = 0;
    afterHostReads(() => {
      merged = parts.a + parts.b;
    });
    expect(seen).toEqual([[1, 2, 3]]);
    expect(parts).toEqual({ a: 4, b: 5 });
    expect(merged).toBe(9);
    expect(pendingHostReads()).toBe(0);
    expect(() =>
      readOnHost([t], () => {
        throw new InputError('bad labels');
      }),
    ).toThrow('bad labels');
    t.dispose();
  });
});

const webgpu = await initBackend({ backend: 'webgpu' }).then(
  (info) => info,
  () => null,
);
await initBackend({ backend: 'cpu' });

describe.runIf(webgpu !== null)('with the WebGPU adapter of this machine', () => {
  afterAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('explicit webgpu names the adapter, and warns when it is a software one', async () => {
    const info = await initBackend({ backend: 'webgpu' });
    expect(info.active).toBe('webgpu');
    expect(info.tfBackendName).toBe('webgpu');
    expect(info.adapter?.description).toBeTruthy();
    expect(info.fastKernels.active).toBe(false);
    if (info.adapter?.software) expect(info.warnings.join('\n')).toMatch(/software implementation.*slow/);
    else expect(info.warnings).toEqual([]);
  });

  it('auto never trains on a software adapter: it says why and falls through to the next backend', async () => {
    const info = await initBackend({ backend: 'auto' });
    const key = 'webgpu (@tensorflow/tfjs-backend-webgpu + webgpu)';
    if (webgpu?.adapter?.software) {
      expect(info.active).not.toBe('webgpu');
      expect(info.unavailable[key]).toMatch(/only a software adapter, .*auto uses hardware GPUs only/);
      expect(info.adapter?.software).toBe(true);
    } else {
      expect(info.active === 'webgpu' || info.active === 'tensorflow-gpu').toBe(true);
    }
  });

  it('auto looks at the adapter from another process: a software-only machine sees no Dawn output', async () => {
    const bin = new URL('../../bin/ssmis.js', import.meta.url).pathname;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, 'info']);
    if (webgpu?.adapter?.software) {
      expect(stdout).toMatch(/not used: webgpu .*only a software adapter/);
      // Dawn prints limit warnings on stderr when it opens a Vulkan adapter in the process that asks.
      expect(stderr).toBe('');
    } else {
      expect(stdout).toMatch(/backend: (webgpu|tensorflow-gpu)/);
    }
  });

  it('queues reads until settled: values arrive after the await, kept tensors are freed, errors surface', async () => {
    await initBackend({ backend: 'webgpu' });
    const before = tf.memory().numTensors;
    const parts = tf.tidy(() => scalarsOnHost({ a: tf.sum(tf.tensor([1, 2, 3])), b: tf.scalar(5) }));
    let merged = Number.NaN;
    afterHostReads(() => {
      merged = parts.a + parts.b;
    });
    expect(Number.isNaN(parts.a)).toBe(true);
    expect(pendingHostReads()).toBe(2);
    await settleHostReads();
    expect(parts).toEqual({ a: 6, b: 5 });
    expect(merged).toBe(11);
    expect(tf.memory().numTensors).toBe(before);

    const t = tf.tensor([1, 2]);
    let after = false;
    readOnHost([t], () => {
      throw new InputError('bad labels');
    });
    afterHostReads(() => {
      after = true;
    });
    await expect(settleHostReads()).rejects.toThrow('bad labels');
    expect(after).toBe(false);
    readOnHost([t], () => undefined);
    discardHostReads();
    expect(pendingHostReads()).toBe(0);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

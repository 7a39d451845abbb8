// @ts-check
/**
 * The `webgpu` section of `npm run bench`: when a WebGPU adapter exists (a hardware one, or the software one a
 * machine without a GPU may have), a cpam-trcm training iteration at the demo size (VNet base 4, 32³, batch
 * 4 + 4: prepare, settle, optimizer step, settle, EMA) and the sliding-window inference of a 64×64×32 volume
 * (32³ windows, stride 16) on `webgpu`, next to the same on the `cpu` backend with the fast kernels, measured in
 * the same process. Without an adapter it says why. On a software adapter the numbers show that the backend
 * runs, not what a GPU would do.
 */
import { formatMs, formatRatio, formatTable, timeMedian } from './lib/stats.mjs';

/** @typedef {typeof import('../src/index.js')} Lib */

/**
 * One backend's numbers.
 * @param {Lib} lib
 * @param {boolean} quick
 */
async function measure(lib, quick) {
  const {
    tf,
    Rng,
    createVNet,
    createTeacher,
    getMethodVariant,
    createOptimizer,
    updateEma,
    settleHostReads,
  } = lib;
  // --quick: one timed run without warm-up (a software adapter takes tens of seconds per iteration).
  const timing = quick ? { runs: 1, warmup: 0 } : { runs: 5, warmup: 1 };
  const patch = [32, 32, 32];
  const rng = new Rng(3);
  const v = patch[0] * patch[1] * patch[2];
  const images = (/** @type {number} */ n) =>
    tf.tensor(
      Float32Array.from({ length: n * v }, () => rng.normal()),
      [n, ...patch, 1],
    );
  const batch = {
    labeledImages: images(4),
    labeledLabels: tf.tensor(
      Int32Array.from({ length: 4 * v }, () => rng.randint(0, 2)),
      [4, ...patch],
      'int32',
    ),
    unlabeledImages: images(4),
  };
  const student = createVNet({ baseFilters: 4, numClasses: 2, dropout: 0.5, seed: 1, name: 'bench-webgpu' });
  const teacher = createTeacher(student, { name: 'bench-webgpu-teacher' });
  const variant = getMethodVariant('cpam-trcm');
  const optimizer = createOptimizer({ name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const ctx = { student, teacher, rng: new Rng(11), dropoutRng: new Rng(12), iteration: 0, config: {} };
  const train = await timeMedian(async () => {
    const prepared = variant.prepare(ctx, batch);
    try {
      await settleHostReads();
      await optimizer.stepAsync(() => variant.loss(ctx, batch, prepared).loss, student.namedParameters());
      await settleHostReads();
    } finally {
      prepared.dispose();
    }
    updateEma(teacher, student, 0.99);
    ctx.iteration++;
  }, timing);
  const shape = /** @type {[number, number, number, number]} */ ([64, 64, 32, 1]);
  const volume = { data: Float32Array.from({ length: 64 * 64 * 32 }, () => rng.normal()), shape };
  const infer = await timeMedian(
    () => lib.inferVolume(student, volume, { patch: [32, 32, 32], strides: [16, 16, 16] }),
    timing,
  );
  optimizer.dispose();
  teacher.dispose();
  student.dispose();
  tf.dispose([batch.labeledImages, batch.labeledLabels, batch.unlabeledImages]);
  return { trainMs: train.median, trainTimes: train.times, inferMs: infer.median, inferTimes: infer.times };
}

/**
 * Runs the section; leaves the `cpu` backend active (fast kernels on, as `initBackend` sets them up).
 * @param {Lib} lib
 * @param {{ quick: boolean }} opts
 */
export async function runWebgpuBench(lib, opts) {
  console.log('\n## webgpu: cpam-trcm iteration (VNet base 4, 32³, batch 4 + 4) and 64×64×32 inference');
  /** @type {import('../src/index.js').BackendInfo} */
  let info;
  try {
    info = await lib.initBackend({ backend: 'webgpu' });
  } catch (error) {
    await lib.initBackend({ backend: 'cpu' });
    const reason = error instanceof Error ? error.message : String(error);
    console.log(`no WebGPU numbers: ${reason}`);
    return { available: false, reason };
  }
  const adapter = info.adapter;
  let gpu;
  try {
    gpu = await measure(lib, opts.quick);
  } finally {
    await lib.initBackend({ backend: 'cpu' });
  }
  const cpu = await measure(lib, opts.quick);
  const name = adapter ? `${adapter.description || adapter.device} (${adapter.vendor})` : 'unknown';
  console.log(
    formatTable(
      ['backend', 'device', 'train ms/iter', 'inference', 'train × cpu', 'inference × cpu'],
      [
        [
          'webgpu',
          name,
          formatMs(gpu.trainMs),
          formatMs(gpu.inferMs),
          formatRatio(gpu.trainMs / cpu.trainMs),
          formatRatio(gpu.inferMs / cpu.inferMs),
        ],
        ['cpu', 'fast kernels', formatMs(cpu.trainMs), formatMs(cpu.inferMs), '1.00×', '1.00×'],
      ],
    ),
  );
  if (adapter?.software) {
    console.log("note: a software adapter (the CPU runs the shaders): these numbers are not a GPU's speed");
  }
  return { available: true, adapter, webgpu: gpu, cpu };
}

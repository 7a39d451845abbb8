#!/usr/bin/env node
// @ts-check
/**
 * Stock vs fast cpu kernels, measured in one run against `dist/` (run `npm run build` first):
 * - the ceiling: peak f32x4 multiply-add throughput of one core in WebAssembly (`maddCeiling`: registers
 *   only, exact multiply then add, and relaxed-SIMD fused multiply-add when the runtime has it);
 * - GFLOP/s of Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 for every convolution shape of the
 *   VNet (base 16 filters, batch 2, inputs 32×32×32 and 64×64×48), fast, with the fraction of the ceiling
 *   of all the threads used (ceiling per core × (workers + 1)); stock (the saved original kernelFunc) too for
 *   the 32³ shapes unless `--no-stock`;
 * - GFLOP/s of Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter for every convolution shape of the 2-D
 *   U-Net (ACDC network: channels 16..256, 1 → 4 classes, batch 4 at 128², so 128² down to 8², 3×3 'same' and
 *   the decoder's 1×1), fast, on 1 thread (no worker) and on the pool's threads, with the fraction of the
 *   ceiling × threads of each, the speed-up of the pool over 1 thread and the threads busy on average in the
 *   pool's runs (process CPU time / wall time) (`--no-unet2d` skips it, `--only-unet2d` runs nothing else);
 * - the time of a VNet training step (forward, backward, SGD update) with the stock kernels and with the fast
 *   ones, for base 16 / 32³ / batch 2 and the demo size base 4 / 32³ / batch 4, and fast only for base 16 /
 *   64×64×48 / batch 2;
 * - with `--profile`, a `tf.profile` of one fast base-16 32³ step: the kernels by share of the kernel time,
 *   and the share of every non-convolution kernel together.
 * Each time is the median of `--runs` runs after one warm-up; stock and fast training steps alternate so that
 * both see the same load on a shared machine. Ratios are stock time / fast time.
 *
 * Usage: node scripts/bench-kernels.mjs [--runs N] [--workers N] [--no-kernels] [--no-steps] [--no-stock]
 *   [--no-unet2d] [--only-unet2d] [--profile] [--best] [--json FILE]
 * `--best` reports the fastest run instead of the median (kernel times and steps): on a machine shared with
 * other work the minimum is the better estimate of what the code itself costs.
 * The stock base-16 step takes tens of seconds per run; `--runs 1` keeps the whole bench to a few minutes.
 */
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { wasmCeiling } from './lib/runtime.mjs';
import { timedTrainStep } from './lib/train-step.mjs';

/**
 * @import { DistModules } from './lib/runtime.mjs'
 * @import { tf as TF } from '../src/index.js'
 */

const dist = new URL('../dist/', import.meta.url);
/**
 * @template {keyof DistModules} K
 * @param {K} p
 * @returns {Promise<DistModules[K]>}
 */
const load = (p) => import(new URL(p, dist).href);

/**
 * @typedef {object} KernelBenchOptions
 * @property {number} runs
 * @property {number | undefined} workers
 * @property {boolean} kernels
 * @property {boolean} steps
 * @property {boolean} stock
 * @property {boolean} unet2d
 * @property {boolean} onlyUnet2d
 * @property {boolean} profile
 * @property {boolean} best
 * @property {string | undefined} json
 */

/**
 * @param {string[]} argv
 * @returns {KernelBenchOptions}
 */
function parseArgs(argv) {
  /** @type {KernelBenchOptions} */
  const o = {
    runs: 3,
    workers: undefined,
    kernels: true,
    steps: true,
    stock: true,
    unet2d: true,
    onlyUnet2d: false,
    profile: false,
    best: false,
    json: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') o.runs = Math.max(1, Number.parseInt(argv[++i], 10));
    else if (a === '--workers') o.workers = Math.max(0, Number.parseInt(argv[++i], 10));
    else if (a === '--no-kernels') o.kernels = false;
    else if (a === '--no-steps') o.steps = false;
    else if (a === '--no-stock') o.stock = false;
    else if (a === '--no-unet2d') o.unet2d = false;
    else if (a === '--only-unet2d') o.onlyUnet2d = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--best') o.best = true;
    else if (a === '--json') o.json = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`bench-kernels: unknown argument ${a}\n${USAGE}`);
      process.exit(2);
    }
  }
  return o;
}

const USAGE = `usage: node scripts/bench-kernels.mjs [--runs N] [--workers N] [--no-kernels] [--no-steps] [--no-stock]
  [--no-unet2d] [--only-unet2d] [--profile] [--best] [--json FILE]`;

/** @type {Readonly<Record<string, string>>} */
const OP_LABEL = { Conv3D: 'forward', Conv3DBackpropInputV2: 'dx', Conv3DBackpropFilterV2: 'dw' };

/** @param {readonly number[]} xs */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

let statistic = median;

/**
 * The median (or, with `--best`, the minimum) time of `runs` runs after one warm-up.
 * @param {() => unknown} fn
 * @param {number} runs
 */
function timeMedian(fn, runs) {
  fn();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return statistic(t);
}

/**
 * Like `timeMedian`, and the process's CPU time over the timed runs divided by their wall time: the number of
 * threads busy on average (all threads of the process count, the workers too).
 * @param {() => unknown} fn
 * @param {number} runs
 * @returns {{ ms: number, busy: number }}
 */
function timeWithCpu(fn, runs) {
  fn();
  const t = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(c0);
  const wall = t.reduce((a, b) => a + b, 0);
  return { ms: statistic(t), busy: (cpu.user + cpu.system) / 1e3 / wall };
}

/** @param {readonly number[]} s */
const sizeLabel = (s) => (s[0] === s[1] && s[1] === s[2] ? `${s[0]}³` : s.join('×'));

/**
 * A convolution: input shape `x` [N, X, Y, Z, C], cube kernel `k`, `stride` on every axis, `cout` filters.
 * @typedef {{ label: string, x: number[], k: number, stride: number, pad: 'same' | 'valid', cout: number }} ConvShape
 */

/**
 * The convolutions of a VNet at base f, input size s = [x, y, z], batch n.
 * @param {number} f
 * @param {number[]} s
 * @param {number} n
 * @returns {ConvShape[]}
 */
function vnetConvShapes(f, s, n) {
  /** @type {ConvShape[]} */
  const shapes = [];
  /**
   * @param {string} label
   * @param {number[]} x
   * @param {number} k
   * @param {number} stride
   * @param {'same' | 'valid'} pad
   * @param {number} cout
   */
  const add = (label, x, k, stride, pad, cout) => shapes.push({ label, x, k, stride, pad, cout });
  /** @param {number} level */
  const at = (level) => s.map((v) => v >> level);
  add(`k3 1→${f} @${sizeLabel(s)} (first)`, [n, ...s, 1], 3, 1, 'same', f);
  for (let level = 0; level < 5; level++) {
    const c = f << level;
    const d = at(level);
    if (level > 0) add(`k3 ${c}→${c} @${sizeLabel(d)}`, [n, ...d, c], 3, 1, 'same', c);
    if (level < 4) add(`k2s2 ${c}→${2 * c} @${sizeLabel(d)} (down)`, [n, ...d, c], 2, 2, 'valid', 2 * c);
  }
  add(`k3 ${f}→${f} @${sizeLabel(s)}`, [n, ...s, f], 3, 1, 'same', f);
  add(`k1 ${f}→2 @${sizeLabel(s)} (head)`, [n, ...s, f], 1, 1, 'valid', 2);
  return shapes;
}

/**
 * A 2-D convolution: input [N, H, W, C] with H = W = `size`, square kernel `k` ('same' for 3×3, 'valid' for
 * 1×1), stride 1, `cout` filters.
 * @typedef {{ label: string, n: number, size: number, cin: number, k: number, cout: number }} Conv2dShape
 */

/**
 * The convolutions of the 2-D U-Net (ACDC network: `createUNet2d` defaults with 4 classes) on batch n at size s:
 * every conv of the encoder's blocks, the decoder's 1×1 (before the upsampling) and blocks, and the output conv.
 * @param {number} n
 * @param {number} s
 * @returns {Conv2dShape[]}
 */
function unet2dConvShapes(n, s) {
  const ft = [16, 32, 64, 128, 256];
  /** @type {Conv2dShape[]} */
  const shapes = [];
  /**
   * @param {number} k
   * @param {number} cin
   * @param {number} cout
   * @param {number} size
   * @param {string} [note]
   */
  const add = (k, cin, cout, size, note = '') =>
    shapes.push({ label: `k${k} ${cin}→${cout} @${size}²${note}`, n, size, cin, k, cout });
  add(3, 1, ft[0], s, ' (first)');
  add(3, ft[0], ft[0], s);
  for (let i = 1; i < 5; i++) {
    add(3, ft[i - 1], ft[i], s >> i);
    add(3, ft[i], ft[i], s >> i);
  }
  for (let u = 1; u <= 4; u++) {
    const size = s >> (4 - u);
    add(1, ft[5 - u], ft[4 - u], size >> 1, ' (up)');
    add(3, 2 * ft[4 - u], ft[4 - u], size);
    add(3, ft[4 - u], ft[4 - u], size);
  }
  add(3, ft[0], 4, s, ' (out)');
  return shapes;
}

/**
 * One 2-D kernel on one U-Net shape, on 1 thread and on the pool: times (ms), GFLOP/s, fraction of the
 * ceiling × threads of each, the speed-up of the pool over 1 thread, and `busyPool`: CPU time / wall time of
 * the pool's runs, the threads busy on average (the pool's size when they all ran at once; about 1 when the
 * threads took turns, e.g. on cores shared with other work, however the items were split).
 * @typedef {{ shape: string, op: string, gflop: number, ms1: number, msPool: number, gflops1: number, gflopsPool: number, ceilingFraction1: number, ceilingFractionPool: number, speedup: number, busyPool: number }} Unet2dKernelRow
 */

/** @type {Readonly<Record<string, string>>} */
const OP2D_LABEL = { Conv2D: 'forward', Conv2DBackpropInput: 'dx', Conv2DBackpropFilter: 'dw' };

/**
 * Times every U-Net 2-D convolution (see `unet2dConvShapes`, batch 4 at 128²) with the fast kernels on 1 thread,
 * then on `threads` threads (`register(workers)` re-registers the kernels), and prints the table.
 * @param {typeof TF} tf
 * @param {(workers: number, fresh: boolean) => Promise<void>} register
 * @param {number} threads
 * @param {number} ceilingPerCore GFLOP/s of one core
 * @param {number} runs
 * @returns {Promise<Unet2dKernelRow[]>}
 */
async function unet2dKernelTable(tf, register, threads, ceilingPerCore, runs) {
  // One row per distinct shape: the encoder and decoder share some (16→16 @128², …), and a repeated label would
  // put two 1-thread times where the row expects a 1-thread and a pool time.
  const shapes = unet2dConvShapes(4, 128).filter(
    (c, i, all) => all.findIndex((d) => d.label === c.label) === i,
  );
  /** @type {Map<string, { shape: string, op: string, gflop: number, ms: number[], busy: number[] }>} */
  const times = new Map();
  for (const workers of [0, threads - 1]) {
    await register(workers, true);
    for (const c of shapes) {
      const x = tf.randomNormal([c.n, c.size, c.size, c.cin]);
      const w = tf.randomNormal([c.k, c.k, c.cin, c.cout]);
      const dy = tf.randomNormal([c.n, c.size, c.size, c.cout]);
      const pad = c.k === 1 ? 'valid' : 'same';
      const gflop = (2 * c.n * c.size * c.size * c.k * c.k * c.cin * c.cout) / 1e9;
      /** @type {[string, TF.NamedTensorMap, TF.NamedAttrMap][]} */
      const ops = [
        ['Conv2D', { x, filter: w }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] }],
        [
          'Conv2DBackpropInput',
          { dy, filter: w },
          { strides: [1, 1], pad, dataFormat: 'NHWC', inputShape: x.shape },
        ],
        [
          'Conv2DBackpropFilter',
          { x, dy },
          { strides: [1, 1], pad, dataFormat: 'NHWC', filterShape: w.shape },
        ],
      ];
      for (const [name, inputs, attrs] of ops) {
        // The first layer's input gradient is never computed in training (the image is not a variable).
        if (name === 'Conv2DBackpropInput' && c.cin === 1) continue;
        const key = `${c.label} ${name}`;
        const entry = times.get(key) ?? { shape: c.label, op: name, gflop, ms: [], busy: [] };
        const t = timeWithCpu(() => tf.dispose(tf.engine().runKernel(name, inputs, attrs)), runs);
        entry.ms.push(t.ms);
        entry.busy.push(t.busy);
        times.set(key, entry);
      }
      tf.dispose([x, w, dy]);
    }
  }
  console.log(
    `
UNet2d convolutions (batch 4, 128²), fast kernels on 1 and ${threads} thread(s)` +
      `
kernel                         op         1 thread GF/s  of ceiling   ${threads} threads GF/s  of ceiling   speed-up   busy`,
  );
  /** @type {Unet2dKernelRow[]} */
  const rows = [];
  let gflop = 0;
  let ms1 = 0;
  let msPool = 0;
  /** @param {number} v */
  const pct = (v) => `${(100 * v).toFixed(0).padStart(9)} %`;
  for (const e of times.values()) {
    const [a, b] = e.ms;
    const row = {
      shape: e.shape,
      op: e.op,
      gflop: e.gflop,
      ms1: a,
      msPool: b,
      gflops1: e.gflop / (a / 1e3),
      gflopsPool: e.gflop / (b / 1e3),
      ceilingFraction1: e.gflop / (a / 1e3) / ceilingPerCore,
      ceilingFractionPool: e.gflop / (b / 1e3) / (ceilingPerCore * threads),
      speedup: a / b,
      busyPool: e.busy[1],
    };
    rows.push(row);
    gflop += e.gflop;
    ms1 += a;
    msPool += b;
    console.log(
      `${e.shape.padEnd(30)} ${OP2D_LABEL[e.op].padEnd(8)}${row.gflops1.toFixed(1).padStart(15)}${pct(row.ceilingFraction1)}` +
        `${row.gflopsPool.toFixed(1).padStart(19)}${pct(row.ceilingFractionPool)}${row.speedup.toFixed(2).padStart(10)}×` +
        `${row.busyPool.toFixed(2).padStart(8)}`,
    );
  }
  console.log(
    `${'all (sum of times)'.padEnd(30)} ${''.padEnd(8)}${(gflop / (ms1 / 1e3)).toFixed(1).padStart(15)}` +
      `${pct(gflop / (ms1 / 1e3) / ceilingPerCore)}${(gflop / (msPool / 1e3)).toFixed(1).padStart(19)}` +
      `${pct(gflop / (msPool / 1e3) / (ceilingPerCore * threads))}${(ms1 / msPool).toFixed(2).padStart(10)}×` +
      `   (${gflop.toFixed(2)} GFLOP: ${ms1.toFixed(0)} ms vs ${msPool.toFixed(0)} ms)`,
  );
  return rows;
}

/**
 * Convolution kernels and fused convolution ops (`Conv3DBiasFused`, `Conv3DTransposeBiasFused`: the scope names of
 * the fast kernels' custom ops, see src/backend/kernels/op-scope.ts).
 * @param {string} name
 */
const isConvKernel = (name) => name.startsWith('Conv3D');

/**
 * `tf.profile` of one call of `step`: kernels by total time, and the share of the non-convolution ones.
 * @param {typeof TF} tf
 * @param {() => unknown} step
 */
async function profileStep(tf, step) {
  const info = await tf.profile(() => {
    step();
  });
  /** @type {Map<string, number>} */
  const byName = new Map();
  // tf.profile awaits every kernel's time; the cpu backend's timer gives a number, never an error record.
  for (const k of info.kernels)
    byName.set(k.name, (byName.get(k.name) ?? 0) + /** @type {number} */ (k.kernelTimeMs));
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  const top = [...byName.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => ({ name, ms, share: ms / total }));
  const nonConv = top.filter((k) => !isConvKernel(k.name)).reduce((a, k) => a + k.share, 0);
  return { totalKernelMs: total, nonConvolutionShare: nonConv, kernels: top };
}

/**
 * One kernel on one shape: times (ms), GFLOP/s, stock / fast, and the fast kernel's fraction of the ceiling.
 * @typedef {{ shape: string, op: string, gflop: number, stockMs: number | null, fastMs: number, stockGflops: number | null, fastGflops: number, speedup: number | null, ceilingFraction: number }} KernelRow
 */
/**
 * One training step configuration: times (ms) and stock / fast.
 * @typedef {{ config: string, stockMs: number | null, fastMs: number, speedup: number | null }} StepRow
 */

/**
 * Stock and fast kernel throughput, and the training step with each (see the header).
 * @param {Partial<KernelBenchOptions>} [options]
 */
export async function runKernelBench(options = {}) {
  const o = { ...parseArgs([]), ...options };
  statistic = o.best ? (xs) => Math.min(...xs) : median;
  const { tf } = await load('backend/tf.js');
  const kernels = await load('backend/kernels/index.js');
  const { createVNet } = await load('nn/vnet.js');
  const { createOptimizer } = await load('index.js');
  await tf.setBackend('cpu');
  await tf.ready();
  /**
   * Registers the fast kernels with `workers` worker threads; `fresh` replaces a registration already active.
   * @param {number | undefined} [workers]
   * @param {boolean} [fresh]
   */
  const register = async (workers = o.workers, fresh = false) => {
    if (fresh && kernels.fastKernelsActive()) kernels.unregisterFastKernels();
    if (!kernels.registerFastKernels({ workers })) {
      throw new Error('bench-kernels: the fast kernels could not be registered (SSMIS_FAST_KERNELS=0?)');
    }
    await kernels.fastKernelWorkersReady();
  };
  /**
   * @type {{
   *   machine: { cpus: number, node: string }, workers: number, runs: number, statistic: 'min' | 'median',
   *   kernels: KernelRow[], steps: StepRow[], unet2d?: Unet2dKernelRow[],
   *   ceiling?: ReturnType<DistModules['backend/kernels/runtime.js']['maddCeiling']> & { relaxedInUse: boolean, threads: number, gflops: number },
   *   profile?: { config: string } & Awaited<ReturnType<typeof profileStep>>,
   * }}
   */
  const result = {
    machine: { cpus: availableParallelism(), node: process.version },
    workers: o.workers ?? availableParallelism() - 1,
    runs: o.runs,
    statistic: o.best ? 'min' : 'median',
    kernels: [],
    steps: [],
  };
  console.log(
    `bench-kernels: ${result.machine.cpus} CPUs, ${result.workers} worker thread(s), ${result.statistic} of ${o.runs} run(s)`,
  );

  if (o.kernels) {
    await register();
    const { perCore, ...ceiling } = await wasmCeiling();
    const relaxed = ceiling.relaxedInUse;
    const threads = kernels.fastKernelWorkerCount() + 1;
    result.ceiling = { ...ceiling, threads, gflops: perCore * threads };
    console.log(
      `\nceiling: f32x4 multiply-add, one core: ${ceiling.exact.toFixed(1)} GFLOP/s (mul+add), ` +
        `${ceiling.relaxed === null ? 'relaxed SIMD unavailable' : `${ceiling.relaxed.toFixed(1)} GFLOP/s (relaxed_madd)`}; ` +
        `kernels use ${relaxed ? 'relaxed_madd' : 'mul+add'} on ${threads} thread(s): ceiling ${result.ceiling.gflops.toFixed(1)} GFLOP/s`,
    );
    const backend = tf.backend();
    if (!o.onlyUnet2d)
      console.log(
        '\nkernel                               op       stock GF/s   fast GF/s   speed-up   of ceiling',
      );
    for (const [si, size] of (o.onlyUnet2d
      ? []
      : [
          [32, 32, 32],
          [64, 64, 48],
        ]
    ).entries()) {
      const withStock = o.stock && si === 0;
      for (const c of vnetConvShapes(16, size, 2)) {
        const x = tf.randomNormal(c.x);
        const w = tf.randomNormal([c.k, c.k, c.k, c.x[4], c.cout]);
        const strides = [c.stride, c.stride, c.stride];
        // Both rank 5 ([N, X, Y, Z, C] and [k, k, k, Cin, Cout]).
        const y = tf.conv3d(/** @type {TF.Tensor5D} */ (x), /** @type {TF.Tensor5D} */ (w), c.stride, c.pad);
        const dy = tf.randomNormal(y.shape);
        const flops = (2 * y.size * c.k ** 3 * c.x[4]) / 1e9;
        /** @type {[string, TF.NamedTensorMap, TF.NamedAttrMap][]} */
        const ops = [
          ['Conv3D', { x, filter: w }, { strides, pad: c.pad, dataFormat: 'NDHWC', dilations: [1, 1, 1] }],
          ['Conv3DBackpropInputV2', { dy, filter: w }, { strides, pad: c.pad, inputShape: c.x }],
          ['Conv3DBackpropFilterV2', { x, dy }, { strides, pad: c.pad, filterShape: w.shape }],
        ];
        for (const [name, inputs, attrs] of ops) {
          // The first layer's input gradient is never computed in training (the image is not a variable).
          if (name === 'Conv3DBackpropInputV2' && c.x[4] === 1) continue;
          const fast = timeMedian(() => tf.dispose(tf.engine().runKernel(name, inputs, attrs)), o.runs);
          const stockFn = kernels.stockKernel(name);
          const stock = withStock
            ? timeMedian(
                // A convolution kernel has one output.
                () =>
                  backend.disposeData(
                    /** @type {TF.TensorInfo} */ (stockFn({ inputs, backend, attrs })).dataId,
                  ),
                o.runs,
              )
            : null;
          const fastGflops = flops / (fast / 1e3);
          const row = {
            shape: c.label,
            op: name,
            gflop: flops,
            stockMs: stock,
            fastMs: fast,
            stockGflops: stock === null ? null : flops / (stock / 1e3),
            fastGflops,
            speedup: stock === null ? null : stock / fast,
            ceilingFraction: fastGflops / result.ceiling.gflops,
          };
          result.kernels.push(row);
          /**
           * @param {number | null} v
           * @param {number} d
           * @param {number} w
           */
          const num = (v, d, w) => (v === null ? '—' : v.toFixed(d)).padStart(w);
          console.log(
            `${c.label.padEnd(36)} ${OP_LABEL[name].padEnd(8)}` +
              `${num(row.stockGflops, 2, 10)} ${num(row.fastGflops, 2, 11)} ${num(row.speedup, 1, 9)}×` +
              `${(100 * row.ceilingFraction).toFixed(0).padStart(10)} %`,
          );
        }
        tf.dispose([x, w, y, dy]);
      }
    }
    if (o.unet2d || o.onlyUnet2d)
      result.unet2d = await unet2dKernelTable(tf, register, threads, perCore, o.runs);
    kernels.unregisterFastKernels();
  }

  if (o.steps && !o.onlyUnet2d) {
    console.log('\nVNet training step (forward + backward + SGD), ms');
    const configs = [
      { label: 'base 16, 32³, batch 2', base: 16, size: [32, 32, 32], batch: 2, stock: o.stock },
      { label: 'base 16, 64×64×48, batch 2', base: 16, size: [64, 64, 48], batch: 2, stock: false },
      { label: 'demo: base 4, 32³, batch 4', base: 4, size: [32, 32, 32], batch: 4, stock: o.stock },
    ];
    for (const cfg of configs) {
      const { Rng } = await load('util/rng.js');
      const rng = new Rng(1);
      const n = cfg.batch * cfg.size[0] * cfg.size[1] * cfg.size[2];
      const x = tf.tensor(
        Float32Array.from({ length: n }, () => rng.normal()),
        [cfg.batch, ...cfg.size, 1],
      );
      const labels = tf.oneHot(
        tf.tensor(
          Int32Array.from({ length: n }, () => rng.randint(0, 2)),
          [cfg.batch, ...cfg.size],
          'int32',
        ),
        2,
      );
      /** @param {string} tag */
      const makeStep = (tag) => {
        const net = createVNet({
          baseFilters: cfg.base,
          numClasses: 2,
          dropout: 0.5,
          seed: 0,
          name: `bench_${tag}`,
        });
        // The product's optimizer with the hyper-parameters of the vnet section (SGD 0.01, momentum 0.9, 1e-4).
        const opt = createOptimizer({ name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
        const step = timedTrainStep(tf, net, x, labels, opt, new Rng(2));
        const dispose = () => {
          opt.dispose();
          net.dispose();
        };
        return { step, dispose };
      };
      // Stock and fast runs alternate (after one warm-up each), so both see the same machine load.
      const stockNet = cfg.stock ? makeStep('stock') : null;
      const fastNet = makeStep('fast');
      /** @type {{ stock: (number | null)[], fast: number[] }} */
      const times = { stock: [], fast: [] };
      for (let r = 0; r <= o.runs; r++) {
        /** @type {number | null} */
        let ts = null;
        if (stockNet !== null) {
          kernels.unregisterFastKernels();
          ts = stockNet.step();
        }
        await register();
        const tf_ = fastNet.step();
        if (r > 0) {
          times.stock.push(ts);
          times.fast.push(tf_);
        }
      }
      if (o.profile && cfg.base === 16 && result.profile === undefined) {
        result.profile = { config: cfg.label, ...(await profileStep(tf, fastNet.step)) };
      }
      kernels.unregisterFastKernels();
      stockNet?.dispose();
      fastNet.dispose();
      // With a stock net every stock entry is a time.
      const stock = stockNet === null ? null : statistic(/** @type {number[]} */ (times.stock));
      const fast = statistic(times.fast);
      tf.dispose([x, labels]);
      const row = {
        config: cfg.label,
        stockMs: stock,
        fastMs: fast,
        speedup: stock === null ? null : stock / fast,
      };
      result.steps.push(row);
      console.log(
        `${cfg.label.padEnd(28)} stock ${(stock === null ? '—' : stock.toFixed(0)).padStart(7)}   fast ${fast.toFixed(0).padStart(6)}` +
          (row.speedup === null ? '' : `   speed-up ${row.speedup.toFixed(1)}×`),
      );
    }
  }
  if (result.profile !== undefined) {
    const p = result.profile;
    console.log(
      `\ntf.profile of one fast step (${p.config}): kernel time ${p.totalKernelMs.toFixed(0)} ms, ` +
        `non-convolution kernels ${(100 * p.nonConvolutionShare).toFixed(1)} %`,
    );
    for (const k of p.kernels.slice(0, 12))
      console.log(
        `  ${k.name.padEnd(28)} ${k.ms.toFixed(1).padStart(8)} ms ${(100 * k.share).toFixed(1).padStart(6)} %`,
      );
  }
  if (o.json !== undefined) {
    const { writeFileAtomic } = await load('util/atomic.js');
    await writeFileAtomic(o.json, `${JSON.stringify(result, null, 2)}\n`);
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runKernelBench(parseArgs(process.argv.slice(2))).catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}

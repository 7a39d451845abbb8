#!/usr/bin/env node
/**
 * Stock vs fast cpu kernels (issue 7), measured in one run against `dist/` (run `npm run build` first):
 * - GFLOP/s of Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 for every convolution shape of the
 *   VNet (base 16 filters, 32×32×32 input, batch 2), stock (the saved original kernelFunc) vs fast;
 * - the time of a VNet training step (forward, backward, SGD update) with the stock kernels and with the fast
 *   ones, for base 16 / 32³ / batch 2 and the demo size base 4 / 32³ / batch 4.
 * Each time is the median of `--runs` runs after one warm-up; stock and fast training steps alternate so that
 * both see the same load on a shared machine. Ratios are stock time / fast time.
 *
 * Usage: node scripts/bench-kernels.mjs [--runs N] [--workers N] [--no-kernels] [--no-steps] [--json FILE]
 * The stock base-16 step takes tens of seconds per run; `--runs 1` keeps the whole bench to a few minutes.
 */
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

function parseArgs(argv) {
  const o = { runs: 3, workers: undefined, kernels: true, steps: true, json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') o.runs = Math.max(1, Number.parseInt(argv[++i], 10));
    else if (a === '--workers') o.workers = Math.max(0, Number.parseInt(argv[++i], 10));
    else if (a === '--no-kernels') o.kernels = false;
    else if (a === '--no-steps') o.steps = false;
    else if (a === '--json') o.json = argv[++i];
    else throw new Error(`bench-kernels: unknown argument ${a}`);
  }
  return o;
}

const OP_LABEL = { Conv3D: 'forward', Conv3DBackpropInputV2: 'dx', Conv3DBackpropFilterV2: 'dw' };

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function timeMedian(fn, runs) {
  fn();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

/** The convolutions of a VNet (method-spec §1.2) at base f, cubic input s, batch n. */
function vnetConvShapes(f, s, n) {
  const shapes = [];
  const add = (label, x, k, stride, pad, cout) => shapes.push({ label, x, k, stride, pad, cout });
  add(`k3 1→${f} @${s}³ (first)`, [n, s, s, s, 1], 3, 1, 'same', f);
  for (let level = 0; level < 5; level++) {
    const c = f << level;
    const d = s >> level;
    if (level > 0) add(`k3 ${c}→${c} @${d}³`, [n, d, d, d, c], 3, 1, 'same', c);
    if (level < 4) add(`k2s2 ${c}→${2 * c} @${d}³ (down)`, [n, d, d, d, c], 2, 2, 'valid', 2 * c);
  }
  add(`k3 ${f}→${f} @${s}³`, [n, s, s, s, f], 3, 1, 'same', f);
  add(`k1 ${f}→2 @${s}³ (head)`, [n, s, s, s, f], 1, 1, 'valid', 2);
  return shapes;
}

export async function runKernelBench(options = {}) {
  const o = { ...parseArgs([]), ...options };
  const { tf } = await load('backend/tf.js');
  const kernels = await load('backend/kernels/index.js');
  const { createVNet } = await load('nn/vnet.js');
  await tf.setBackend('cpu');
  await tf.ready();
  const register = async () => {
    if (!kernels.registerFastKernels({ workers: o.workers })) {
      throw new Error('bench-kernels: the fast kernels could not be registered (SSMIS_FAST_KERNELS=0?)');
    }
    await kernels.fastKernelWorkersReady();
  };
  const result = {
    machine: { cpus: availableParallelism(), node: process.version },
    workers: o.workers ?? availableParallelism() - 1,
    runs: o.runs,
    kernels: [],
    steps: [],
  };
  console.log(
    `bench-kernels: ${result.machine.cpus} CPUs, ${result.workers} worker thread(s), median of ${o.runs} run(s)`,
  );

  if (o.kernels) {
    await register();
    const backend = tf.backend();
    console.log('\nkernel                          op            stock GF/s   fast GF/s   speed-up');
    for (const c of vnetConvShapes(16, 32, 2)) {
      const x = tf.randomNormal(c.x);
      const w = tf.randomNormal([c.k, c.k, c.k, c.x[4], c.cout]);
      const strides = [c.stride, c.stride, c.stride];
      const y = tf.conv3d(x, w, c.stride, c.pad);
      const dy = tf.randomNormal(y.shape);
      const flops = (2 * y.size * c.k ** 3 * c.x[4]) / 1e9;
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
        const stock = timeMedian(
          () => backend.disposeData(stockFn({ inputs, backend, attrs }).dataId),
          o.runs,
        );
        const row = {
          shape: c.label,
          op: name,
          gflop: flops,
          stockMs: stock,
          fastMs: fast,
          stockGflops: flops / (stock / 1e3),
          fastGflops: flops / (fast / 1e3),
          speedup: stock / fast,
        };
        result.kernels.push(row);
        console.log(
          `${c.label.padEnd(31)} ${OP_LABEL[name].padEnd(13)}` +
            `${row.stockGflops.toFixed(2).padStart(10)} ${row.fastGflops.toFixed(2).padStart(11)} ${row.speedup.toFixed(1).padStart(9)}×`,
        );
      }
      tf.dispose([x, w, y, dy]);
    }
    kernels.unregisterFastKernels();
  }

  if (o.steps) {
    console.log('\nVNet training step (forward + backward + SGD), ms');
    const configs = [
      { label: 'base 16, 32³, batch 2', base: 16, size: 32, batch: 2 },
      { label: 'demo: base 4, 32³, batch 4', base: 4, size: 32, batch: 4 },
    ];
    for (const cfg of configs) {
      const { Rng } = await load('util/rng.js');
      const rng = new Rng(1);
      const n = cfg.batch * cfg.size ** 3;
      const x = tf.tensor(
        Float32Array.from({ length: n }, () => rng.normal()),
        [cfg.batch, cfg.size, cfg.size, cfg.size, 1],
      );
      const labels = tf.oneHot(
        tf.tensor(
          Int32Array.from({ length: n }, () => rng.randint(0, 2)),
          [cfg.batch, cfg.size, cfg.size, cfg.size],
          'int32',
        ),
        2,
      );
      const makeStep = (tag) => {
        const net = createVNet({
          baseFilters: cfg.base,
          numClasses: 2,
          dropout: 0.5,
          seed: 0,
          name: `bench_${tag}`,
        });
        const opt = tf.train.sgd(0.01);
        const dropoutRng = new Rng(2);
        const step = () => {
          const t0 = performance.now();
          const { value, grads } = tf.variableGrads(
            () => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true, rng: dropoutRng })),
            net.trainableWeights(),
          );
          opt.applyGradients(grads);
          tf.dispose([value, grads]);
          return performance.now() - t0;
        };
        const dispose = () => {
          opt.dispose();
          net.dispose();
        };
        return { step, dispose };
      };
      // Stock and fast runs alternate (after one warm-up each), so both see the same machine load.
      const stockNet = makeStep('stock');
      const fastNet = makeStep('fast');
      const times = { stock: [], fast: [] };
      for (let r = 0; r <= o.runs; r++) {
        kernels.unregisterFastKernels();
        const ts = stockNet.step();
        await register();
        const tf_ = fastNet.step();
        if (r > 0) {
          times.stock.push(ts);
          times.fast.push(tf_);
        }
      }
      kernels.unregisterFastKernels();
      stockNet.dispose();
      fastNet.dispose();
      const stock = median(times.stock);
      const fast = median(times.fast);
      tf.dispose([x, labels]);
      const row = { config: cfg.label, stockMs: stock, fastMs: fast, speedup: stock / fast };
      result.steps.push(row);
      console.log(
        `${cfg.label.padEnd(28)} stock ${stock.toFixed(0).padStart(7)}   fast ${fast.toFixed(0).padStart(6)}   speed-up ${row.speedup.toFixed(1)}×`,
      );
    }
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

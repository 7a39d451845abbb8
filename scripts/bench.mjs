#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench`: speed and memory of ssmis on this machine, against the compiled library in
 * `dist/` (run `npm run build` first). Prints one table per section and writes every number as JSON.
 *
 * Usage: node scripts/bench.mjs [--quick] [--section NAME[,NAME…]] [--out FILE] [--backend auto|cpu|…]
 *   --quick     fewer repeats and smaller sizes: a smoke run of one to a few minutes;
 *   --section   run only these sections: train, vnet, unet2d, inference, metrics, nifti, webgpu, kernels;
 *   --out       JSON file (default ./bench-results.json).
 * `SSMIS_FAST_KERNELS=0 npm run bench` measures the stock TF.js cpu kernels instead of the fast ones.
 *
 * Every timing is the median of several runs after (at least) one untimed warm-up; every ratio compares two
 * numbers measured in the same process.
 *
 * Sections and their table columns:
 * - train: one training iteration (prepare → optimizer.step of the variant's loss → EMA update when there is a
 *   teacher) of `supervised`, `mean-teacher`, `bcp`, `cpam`, `cpam-trcm` and the stage-1 `pretrain` step,
 *   built directly from the public API (createVNet, createTeacher, getMethodVariant/pretrainStep,
 *   createOptimizer with SGD 0.01/0.9/1e-4, updateEma) on random blob images, no files, at the paper's batch
 *   composition (4 labeled + 4 unlabeled) and two sizes (demo: VNet base 4, 32³ patch; base 8: same patch;
 *   --quick: the demo size and base 8 on 32×32×16). The six variants run in interleaved rounds (one step of
 *   each per round) so that load drift on a shared machine hits them alike. Columns: `ms/iter` (median over
 *   rounds), `× sup` (time / the supervised time of the same size), `GFLOP` (convolution FLOPs of the
 *   iteration's network passes: teacher forwards, plus student forward, input gradient except the first
 *   convolution's, and filter gradient, per sample each variant sends through the network), `FLOP × sup`
 *   (their ratio to supervised), `time / FLOP ratio` (`× sup` / `FLOP × sup`: 1 when a variant costs exactly
 *   its extra network work), `tensors/step` (change of tf.memory().numTensors summed over the timed steps:
 *   `0 ok`, or `+n LEAK`). Under each table: peak RSS (largest `process.memoryUsage().rss` sampled after
 *   every step, all six set-ups alive) and numTensors before → after the timed rounds (must be equal).
 *   Pre-training and supervised use the 2 labeled images only (pre-training mixes the pair into 1 image).
 * - unet2d: the 2-D U-Net (ACDC network) train step at batch 4, 128² and batch 1, 64², ssmis fast vs stock vs PyTorch
 *   CPU with 1 and 2 threads (`scripts/bench-2d.mjs`, its own table; PyTorch columns only when torch is installed).
 * - vnet: the VNet base 16 train step alone (forward in train mode, softmax cross-entropy, backward, SGD
 *   0.01/0.9/1e-4), batch 2, at 32³ and 64×64×48 (--quick: 32³), with 1 and 2 kernel threads, next to the same
 *   step in PyTorch (`scripts/bench-torch.py`, the reference VNet, `torch.set_num_threads` 1 and 2) run in
 *   its own process, alternating with ssmis in rounds. Columns: patch, threads, ssmis, PyTorch, ssmis /
 *   PyTorch, and each side's share of the WebAssembly ceiling (the step's convolution FLOPs per second over
 *   the peak f32x4 multiply-add rate of one core × threads; the ratio equals PyTorch's share / ssmis' share,
 *   so PyTorch's share says how close to the ceiling ssmis must run to come within a given ratio); then the
 *   1 → 2 thread speed-up of each. Without a python3 that imports torch the PyTorch column
 *   is `—` and a note says why.
 * - inference: `slidingWindowInference` (eval mode, 32³ patch, stride 16, 2 classes) of a 96×96×64 volume
 *   (--quick: 64×64×32) by a VNet of base 4 and base 16. Columns: windows, seconds (median), voxels/s of the
 *   volume, windows/s, and PyTorch's eval-mode forward over the same window starts (softmax, averaged
 *   foreground) with the same number of threads, 1 and 2 windows per forward, the faster of the two shown
 *   with its windows per forward, and ssmis / PyTorch. Then `slidingWindowInference2d` of a 216×256×10 volume
 *   (--quick: 128×128×4) by the ACDC UNet2d (4 classes, 256² model input, one slice per forward), next to
 *   PyTorch's eval forward of the same network (the definition in scripts/bench-2d.mjs) over the same slices.
 * - metrics: `computeMetrics` (Dice, Jaccard, HD95, HD, ASD, ASSD) on a 256×256×100 pair, without spacing and
 *   with the anisotropic spacing 0.7×0.7×2.5 mm: `blobs` = two overlapping smooth ellipsoids (the realistic
 *   case; the goal is about a second), `random 30%` = two independent random masks with 30 % foreground
 *   (the worst case: almost every foreground voxel is a surface voxel). Columns: case, spacing, seconds, Dice.
 * - nifti: a 256×256×100 int16 volume (smooth field + noise) written as `.nii.gz` with `writeNifti` and read
 *   back with `readNifti`. Columns: file size, write seconds, read seconds, read MB/s of decompressed data
 *   (voxel bytes, MB = 10⁶ bytes).
 * - webgpu: when a WebGPU adapter exists, a cpam-trcm iteration at the demo size and a 64×64×32 sliding-window
 *   inference on `webgpu` next to the `cpu` backend (`scripts/bench-webgpu.mjs`, its own table), or why not.
 * - kernels: the stock vs fast kernel bench (`scripts/bench-kernels.mjs`, its own tables: GFLOP/s
 *   per VNet convolution and the VNet step time, stock vs fast), or "fast kernels not available".
 *
 * JSON (`schema: "ssmis-bench/1"`): { createdAt, command, quick, machine: {cpuModel, logicalCpus,
 * totalMemoryGiB, node, platform}, backend: {active, tfjsVersion, fastKernels, kernelWorkers},
 * sections: { train: {runs, warmup, interleaved, sizes: [{label, baseFilters, patch, labeled, unlabeled,
 * peakRssBytes, tensorsBefore, tensorsAfter, rows: [{variant, msPerIteration, times, ratioToSupervised,
 * networkGflop, flopRatioToSupervised, leakedTensors}]}]}, vnet: {torch, torchNote, rows: [{shape, batch,
 * threads, ms, times, torchMs, torchTimes, ratio, gflop, ceilingShare, torchCeilingShare}], scaling: [{shape,
 * ssmis, torch}]}, inference: {runs,
 * rows: [{baseFilters, volume, patch, strides, windows, ms, times, voxelsPerSecond, windowsPerSecond,
 * leakedTensors, torchMs, torchBatch, ratio}], slices: {volume, size, slices, ms, times, voxelsPerSecond,
 * leakedTensors, torchMs, ratio}}, metrics: {runs, rows: [{case, spacing, ms, times, dice, hd95}]},
 * nifti: {shape, datatype, dataBytes, fileBytes, writeMs, readMs, readMBps, runs}, kernels: {available,
 * reason?, result?} }, maxRssBytes } — times in milliseconds, sizes in bytes.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadDist, machineInfo, setupBackend, wasmCeiling } from './lib/runtime.mjs';
import {
  formatMiB,
  formatMs,
  formatRate,
  formatRatio,
  formatTable,
  median,
  timeMedian,
} from './lib/stats.mjs';
import { findTorch, runTorch } from './lib/torch.mjs';
import { timedTrainStep } from './lib/train-step.mjs';

/**
 * @import { BackendSetup, DistModules } from './lib/runtime.mjs'
 * @import { Rng, SegmentationMetrics, tf as TF, Volume } from '../src/index.js'
 */
/** @typedef {DistModules['index.js']} Lib the library, as `loadDist('index.js')` gives it */
/**
 * A training size of the `train` section: network width, patch and batch composition.
 * @typedef {{ label: string, baseFilters: number, patch: number[], labeled: number, unlabeled: number }} TrainSize
 */

const SECTIONS = ['train', 'vnet', 'unet2d', 'inference', 'metrics', 'nifti', 'webgpu', 'kernels'];

const USAGE = `usage: node scripts/bench.mjs [--quick] [--section NAME[,NAME…]] [--out FILE] [--backend NAME]
  sections: ${SECTIONS.join(', ')} (default: all)`;

function options() {
  /** @type {{ quick: boolean, section?: string[], out: string, backend: string, help: boolean }} */
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        section: { type: 'string', multiple: true },
        out: { type: 'string', default: 'bench-results.json' },
        backend: { type: 'string', default: 'auto' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : error}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const sections = (values.section ?? SECTIONS).flatMap((s) => s.split(',')).map((s) => s.trim());
  for (const s of sections) {
    if (!SECTIONS.includes(s)) {
      console.error(`bench: unknown section '${s}', expected one of ${SECTIONS.join(', ')}`);
      process.exit(2);
    }
  }
  return { quick: values.quick, sections, out: values.out, backend: values.backend };
}

/** Peak RSS seen so far by explicit samples (steps are synchronous: a timer would not fire during one). */
let sampledPeakRss = 0;
function sampleRss() {
  const rss = process.memoryUsage().rss;
  if (rss > sampledPeakRss) sampledPeakRss = rss;
  return rss;
}

// ---------------------------------------------------------------------------------------------------------
// train

/**
 * Blob images and labels: a sphere per sample (random centre) brighter than its surroundings, plus noise.
 * @param {Lib} lib
 * @param {number} n
 * @param {readonly number[]} patch
 * @template {boolean} L
 * @param {Rng} rng
 * @param {L} withLabels
 * @returns {{ images: TF.Tensor, labels: L extends true ? TF.Tensor : null }}
 */
function blobBatch(lib, n, patch, rng, withLabels) {
  const [nx, ny, nz] = patch;
  const voxels = nx * ny * nz;
  const images = new Float32Array(n * voxels);
  const labels = new Int32Array(n * voxels);
  for (let b = 0; b < n; b++) {
    const c = patch.map((s) => s * (0.35 + 0.3 * rng.random()));
    const r = Math.min(...patch) * (0.2 + 0.1 * rng.random());
    for (let i = 0, v = b * voxels; i < nx; i++) {
      for (let j = 0; j < ny; j++) {
        for (let k = 0; k < nz; k++, v++) {
          const inside = (i - c[0]) ** 2 + (j - c[1]) ** 2 + (k - c[2]) ** 2 <= r * r;
          labels[v] = inside ? 1 : 0;
          images[v] = (inside ? 1 : 0) + 0.5 * rng.normal();
        }
      }
    }
  }
  const { tf } = lib;
  // `labels` is a tensor exactly when withLabels is true.
  return /** @type {{ images: TF.Tensor, labels: L extends true ? TF.Tensor : null }} */ ({
    images: tf.tensor(images, [n, nx, ny, nz, 1]),
    labels: withLabels ? tf.tensor(labels, [n, nx, ny, nz], 'int32') : null,
  });
}

/**
 * Convolution floating-point operations (2 per multiply-add) of one VNet forward of one sample, from the
 * kernel shapes of `vnetParameterSpecs` and the resolution of each block: `{ forward, train }`, where `train` is
 * one training pass (forward, input gradient except the first convolution's, which is never computed, and filter
 * gradient: 3 · forward − the first convolution's share).
 * @param {DistModules['nn/vnet.js']} vnet
 * @param {number} baseFilters
 * @param {readonly number[]} patch
 */
function vnetForwardFlops(vnet, baseFilters, patch) {
  /** @type {Readonly<Record<string, number>>} */
  const level = {
    one: 0,
    one_dw: 1,
    two: 1,
    two_dw: 2,
    three: 2,
    three_dw: 3,
    four: 3,
    four_dw: 4,
    five: 4,
    five_up: 3,
    six: 3,
    six_up: 2,
    seven: 2,
    seven_up: 1,
    eight: 1,
    eight_up: 0,
    nine: 0,
  };
  const voxels = patch[0] * patch[1] * patch[2];
  let forward = 0;
  let first = 0;
  for (const spec of vnet.vnetParameterSpecs({ baseFilters, numClasses: 2 })) {
    if (spec.role !== 'weight') continue;
    const block = /block_([a-z_]+?)\.conv/.exec(spec.key)?.[1];
    const out = voxels / 8 ** (block === undefined ? 0 : level[block]);
    const [kx, ky, kz, a, b] = spec.shape;
    // A k2 s2 transposed convolution touches each output voxel with one of its eight taps.
    const taps = block?.endsWith('_up') ? 1 : kx * ky * kz;
    const flops = 2 * out * taps * a * b;
    if (forward === 0) first = flops;
    forward += flops;
  }
  return { forward, train: 3 * forward - first };
}

/**
 * Network FLOPs of one training iteration of a variant: teacher forwards (no gradient) plus student training
 * passes (forward, input gradient except the first convolution, filter gradient), by the samples each variant
 * sends through the network with N_l labeled and N_u unlabeled images (sub = N_l / 2).
 * @param {DistModules['nn/vnet.js']} vnet
 * @param {string} variant
 * @param {TrainSize} size
 */
function iterationFlops(vnet, variant, size) {
  const { forward, train } = vnetForwardFlops(vnet, size.baseFilters, size.patch);
  const nl = size.labeled;
  const nu = size.unlabeled;
  /** @type {Readonly<Record<string, { teacher: number, student: number }>>} */
  const byVariant = {
    supervised: { teacher: 0, student: nl },
    'mean-teacher': { teacher: nu, student: nl + nu },
    bcp: { teacher: nu, student: nl },
    cpam: { teacher: nu, student: 2 * nl },
    'cpam-trcm': { teacher: nu, student: 2 * nl },
    pretrain: { teacher: 0, student: nl / 2 },
  };
  const samples = byVariant[variant];
  return samples.teacher * forward + samples.student * train;
}

/**
 * One training-iteration closure per variant, as `train` runs it: prepare (teacher, pseudo-labels, mixes)
 * outside the gradient, the student loss inside `optimizer.step`, then the EMA update.
 * @param {Lib} lib
 * @param {string} name a variant, or `pretrain`
 * @param {TrainSize} size
 * @param {{ images: TF.Tensor, labels: TF.Tensor }} lab
 * @param {{ images: TF.Tensor }} unl
 */
function makeSetup(lib, name, size, lab, unl) {
  const { Rng, createVNet, createTeacher, getMethodVariant, pretrainStep, createOptimizer, updateEma } = lib;
  const variant = name === 'pretrain' ? pretrainStep : getMethodVariant(name);
  const tag = name.replace(/-/g, '_');
  const student = createVNet({
    baseFilters: size.baseFilters,
    numClasses: 2,
    dropout: 0.5,
    name: `bench_${tag}`,
    seed: 1,
  });
  const teacher = variant.needsTeacher ? createTeacher(student, { name: `bench_teacher_${tag}` }) : null;
  const optimizer = createOptimizer({ name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const batch = {
    labeledImages: lab.images,
    labeledLabels: lab.labels,
    unlabeledImages: variant.needsUnlabeled ? unl.images : undefined,
  };
  const ctx = {
    student,
    teacher: teacher ?? undefined,
    rng: new Rng(11),
    dropoutRng: new Rng(12),
    iteration: 0,
    config: { startRange: /** @type {const} */ ('valid') },
  };
  return {
    name,
    step() {
      const prepared = variant.prepare(ctx, batch);
      try {
        optimizer.step(() => variant.loss(ctx, batch, prepared).loss, student.namedParameters());
      } finally {
        prepared.dispose();
      }
      if (teacher) updateEma(teacher, student, 0.99);
      ctx.iteration++;
    },
    dispose() {
      optimizer.dispose();
      teacher?.dispose();
      student.dispose();
    },
  };
}

/**
 * Interleaved rounds: every round runs one step of each variant in turn, and each variant's time is the
 * median over rounds. On a shared machine the load drifts over minutes; interleaving exposes every variant to
 * the same drift, so the ratios to `supervised` stay meaningful even when the absolute times are noisy.
 * @param {Lib} lib
 * @param {boolean} quick
 */
async function benchTrain(lib, quick) {
  const { tf, Rng } = lib;
  // Every method variant the library registers, then the stage-1 pre-training step they all share.
  const VARIANTS = [...lib.METHOD_NAMES, 'pretrain'];
  // Five rounds: the ratios of three moved by ±0.15 from run to run on this 2-core machine.
  const runs = quick ? 2 : 5;
  const warmup = 1;
  // The paper's batch composition: 4 labeled + 4 unlabeled images per iteration.
  /** @type {TrainSize[]} */
  const sizes = quick
    ? [
        { label: 'demo', baseFilters: 4, patch: [32, 32, 32], labeled: 4, unlabeled: 4 },
        { label: 'base 8', baseFilters: 8, patch: [32, 32, 16], labeled: 4, unlabeled: 4 },
      ]
    : [
        { label: 'demo', baseFilters: 4, patch: [32, 32, 32], labeled: 4, unlabeled: 4 },
        { label: 'base 8', baseFilters: 8, patch: [32, 32, 32], labeled: 4, unlabeled: 4 },
      ];
  /** @type {{ runs: number, warmup: number, interleaved: boolean, sizes: unknown[] }} */
  const out = { runs, warmup, interleaved: true, sizes: [] };
  const vnet = await loadDist('nn/vnet.js');
  for (const [sizeIndex, size] of sizes.entries()) {
    const rng = new Rng(7);
    const lab = blobBatch(lib, size.labeled, size.patch, rng, true);
    const unl = blobBatch(lib, size.unlabeled, size.patch, rng, false);
    console.log(
      `\ntrain: ${size.label} (VNet base ${size.baseFilters}, patch ${size.patch.join('×')}, batch ${size.labeled} + ${size.unlabeled}): median of ${runs} interleaved round(s) after ${warmup} warm-up`,
    );
    const setups = VARIANTS.map((name) => makeSetup(lib, name, size, lab, unl));
    sampledPeakRss = 0;
    // The first size also absorbs the process's JIT warm-up (one extra untimed round).
    const warmRounds = warmup + (sizeIndex === 0 ? 1 : 0);
    for (let r = 0; r < warmRounds; r++) for (const s of setups) s.step();
    sampleRss();
    // The warm-up created the optimizer slots (momentum buffers); from here on no step may change the count.
    const tensorsBefore = tf.memory().numTensors;
    /** @type {Map<string, number[]>} */
    const times = new Map(VARIANTS.map((v) => [v, []]));
    const leaked = new Map(VARIANTS.map((v) => [v, 0]));
    for (let r = 0; r < runs; r++) {
      for (const s of setups) {
        const n0 = tf.memory().numTensors;
        const t0 = performance.now();
        s.step();
        // Every variant has its entries (made above from VARIANTS).
        /** @type {number[]} */ (times.get(s.name)).push(performance.now() - t0);
        leaked.set(s.name, /** @type {number} */ (leaked.get(s.name)) + tf.memory().numTensors - n0);
        sampleRss();
      }
      process.stdout.write(`  round ${r + 1}/${runs} done\n`);
    }
    const tensorsAfter = tf.memory().numTensors;
    for (const s of setups) s.dispose();
    tf.dispose([lab.images, lab.labels, unl.images]);
    const rows = VARIANTS.map((variant) => {
      const variantTimes = /** @type {number[]} */ (times.get(variant));
      return {
        variant,
        msPerIteration: median(variantTimes),
        times: variantTimes,
        ratioToSupervised: /** @type {number | null} */ (null),
        networkGflop: iterationFlops(vnet, variant, size) / 1e9,
        flopRatioToSupervised: /** @type {number | null} */ (null),
        leakedTensors: leaked.get(variant),
      };
    });
    const sup = rows[0];
    for (const r of rows) {
      r.ratioToSupervised = r.msPerIteration / sup.msPerIteration;
      r.flopRatioToSupervised = r.networkGflop / sup.networkGflop;
    }
    // Both ratios are set for every row just above.
    const ratioRows =
      /** @type {(typeof rows[number] & { ratioToSupervised: number, flopRatioToSupervised: number })[]} */ (
        rows
      );
    out.sizes.push({ ...size, rows, peakRssBytes: sampledPeakRss, tensorsBefore, tensorsAfter });
    console.log(
      formatTable(
        ['variant', 'ms/iter', '× sup', 'GFLOP', 'FLOP × sup', 'time / FLOP ratio', 'tensors/step'],
        ratioRows.map((r) => [
          r.variant,
          formatMs(r.msPerIteration),
          formatRatio(r.ratioToSupervised),
          r.networkGflop.toFixed(2),
          formatRatio(r.flopRatioToSupervised),
          (r.ratioToSupervised / r.flopRatioToSupervised).toFixed(2),
          r.leakedTensors === 0 ? '0 ok' : `+${r.leakedTensors} LEAK`,
        ]),
      ),
    );
    console.log(
      `peak RSS ${formatMiB(sampledPeakRss)} (all six set-ups alive); numTensors ${tensorsBefore} before → ${tensorsAfter} after the timed rounds${tensorsBefore === tensorsAfter ? ' (equal)' : ' (NOT EQUAL: leak)'}`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// vnet: the network alone against PyTorch, and the 1 → 2 thread scaling

/** Kernel threads the bench compares (1 and 2, or 1 alone on a one-core machine). */
function threadCounts() {
  return os.availableParallelism() > 1 ? [1, 2] : [1];
}

/**
 * Restarts the fast kernels with `threads` kernel threads (the main thread plus `threads − 1` workers), as
 * `SSMIS_THREADS=threads` would; a no-op without fast kernels.
 * @param {BackendSetup} backend
 * @param {number | undefined} threads
 */
async function useThreads(backend, threads) {
  if (!backend.fastKernels) return;
  backend.kernels.unregisterFastKernels();
  backend.kernels.registerFastKernels(threads === undefined ? {} : { workers: threads - 1 });
  await backend.kernels.fastKernelWorkersReady();
}

/** The PyTorch column's note when torch cannot run, printed once per section. */
function torchNote() {
  const torch = findTorch();
  return torch.python === null
    ? `PyTorch column skipped: ${torch.reason}`
    : `PyTorch ${torch.version} (${torch.python}, scripts/bench-torch.py), in its own process`;
}

/**
 * VNet base 16 train step (forward in train mode, softmax cross-entropy, backward, SGD 0.01/0.9/1e-4), batch 2,
 * at 32³ and 64×64×48, with 1 and 2 kernel threads, against the same step in PyTorch with
 * `torch.set_num_threads` 1 and 2. ssmis and PyTorch alternate in rounds (a PyTorch process, then ssmis
 * steps) so that both see the same machine load; each time is the median over rounds.
 * @param {Lib} lib
 * @param {BackendSetup} backend
 * @param {boolean} quick
 */
async function benchVnet(lib, backend, quick) {
  const { tf, Rng, createVNet, createOptimizer } = lib;
  const torch = findTorch();
  // What a step could cost at best on this machine: its convolution FLOPs at the WebAssembly ceiling (the peak
  // f32x4 multiply-add rate of one core, with the multiply-add the kernels use) times the threads. PyTorch's
  // share of that ceiling bounds the ratio: ssmis / PyTorch ≥ PyTorch share / ssmis share, and ssmis can reach
  // a ratio r only by running the whole step at PyTorch share / r of the ceiling or more.
  const vnetModule = await loadDist('nn/vnet.js');
  const { perCore: ceilingPerCore, relaxedInUse: relaxed } = await wasmCeiling();
  /** @param {number[]} shape */
  const stepGflop = (shape) => vnetForwardFlops(vnetModule, 16, shape).train / 1e9;
  const shapes = quick
    ? [[32, 32, 32]]
    : [
        [32, 32, 32],
        [64, 64, 48],
      ];
  const rounds = quick ? 1 : 2;
  const batch = 2;
  /**
   * @type {{ shape: number[], batch: number, threads: number, ms: number, times: number[], torchMs: number | null,
   *   torchTimes: number[], ratio?: number | null, gflop: number, ceilingShare: number,
   *   torchCeilingShare: number | null }[]}
   */
  const rows = [];
  console.log(
    `\nvnet: VNet base 16 train step, batch ${batch}, ssmis vs PyTorch, ${rounds} alternating round(s) of 2 steps after 1 warm-up; ${torchNote()}`,
  );
  for (const shape of shapes) {
    const rng = new Rng(5);
    const n = batch * shape[0] * shape[1] * shape[2];
    const x = tf.tensor(
      Float32Array.from({ length: n }, () => rng.normal()),
      [batch, ...shape, 1],
    );
    const y = tf.oneHot(
      tf.tensor(
        Int32Array.from({ length: n }, () => (rng.random() < 0.3 ? 1 : 0)),
        [batch, ...shape],
        'int32',
      ),
      2,
    );
    const net = createVNet({ baseFilters: 16, numClasses: 2, dropout: 0.5, name: 'bench_vnet', seed: 0 });
    const optimizer = createOptimizer({ name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    const step = timedTrainStep(tf, net, x, y, optimizer, new Rng(6), sampleRss);
    for (const threads of threadCounts()) {
      await useThreads(backend, threads);
      step();
      /** @type {number[]} */
      const ours = [];
      /** @type {number[]} */
      const theirs = [];
      for (let r = 0; r < rounds; r++) {
        if (torch.python !== null) {
          const t = runTorch({ task: 'train', base: 16, shape, batch, threads, runs: 2, warmup: 1 });
          theirs.push(...t.times);
        }
        ours.push(step(), step());
      }
      const gflop = batch * stepGflop(shape);
      const ceiling = ceilingPerCore * threads;
      const torchMs = theirs.length > 0 ? median(theirs) : null;
      /** @type {(typeof rows)[number]} */
      const row = {
        shape,
        batch,
        threads,
        ms: median(ours),
        times: ours,
        torchMs,
        torchTimes: theirs,
        gflop,
        ceilingShare: gflop / (median(ours) / 1e3) / ceiling,
        torchCeilingShare: torchMs === null ? null : gflop / (torchMs / 1e3) / ceiling,
      };
      row.ratio = row.torchMs === null ? null : row.ms / row.torchMs;
      rows.push(row);
    }
    optimizer.dispose();
    net.dispose();
    tf.dispose([x, y]);
  }
  await useThreads(backend, undefined);
  /**
   * @param {number[]} shape
   * @param {'ms' | 'torchMs'} key
   */
  const speedUp = (shape, key) => {
    const [one, two] = threadCounts().map(
      (t) => rows.find((r) => r.shape === shape && r.threads === t)?.[key],
    );
    return one && two ? one / two : null;
  };
  console.log(
    formatTable(
      ['patch', 'threads', 'ssmis', 'PyTorch', 'ssmis / PyTorch', 'ssmis of ceiling', 'PyTorch of ceiling'],
      rows.map((r) => [
        r.shape.join('×'),
        r.threads,
        formatMs(r.ms),
        r.torchMs === null ? '—' : formatMs(r.torchMs),
        r.ratio == null ? '—' : formatRatio(r.ratio),
        `${(100 * r.ceilingShare).toFixed(0)} %`,
        r.torchCeilingShare === null ? '—' : `${(100 * r.torchCeilingShare).toFixed(0)} %`,
      ]),
    ),
  );
  console.log(
    `of ceiling: the step's convolution GFLOP (${rows
      .map((r) => `${r.shape.join('×')}: ${r.gflop.toFixed(1)}`)
      .filter((v, i, a) => a.indexOf(v) === i)
      .join(
        ', ',
      )}) per second over the WebAssembly ceiling × threads (${ceilingPerCore.toFixed(1)} GFLOP/s per core, ${relaxed ? 'relaxed_madd' : 'mul+add'}); ssmis / PyTorch = PyTorch share / ssmis share`,
  );
  const scaling = shapes.map((shape) => ({
    shape,
    ssmis: speedUp(shape, 'ms'),
    torch: speedUp(shape, 'torchMs'),
  }));
  if (threadCounts().length > 1) {
    console.log(
      `1 → 2 threads speed-up: ${scaling
        .map(
          (s) =>
            `${s.shape.join('×')}: ssmis ${s.ssmis?.toFixed(2) ?? '—'}×, PyTorch ${s.torch?.toFixed(2) ?? '—'}×`,
        )
        .join('; ')}`,
    );
  }
  return { torch: torch.python === null ? null : torch.version, torchNote: torchNote(), rows, scaling };
}

// ---------------------------------------------------------------------------------------------------------
// inference

/**
 * @param {Lib} lib
 * @param {BackendSetup} backend
 * @param {boolean} quick
 */
async function benchInference(lib, backend, quick) {
  const { tf, Rng, createVNet, slidingWindowInference } = lib;
  // The window grid is an internal of the sliding window, not part of the package root.
  const { windowStarts } = await loadDist('infer/sliding-window.js');
  const torch = findTorch();
  const runs = quick ? 1 : 3;
  const volume = quick ? [64, 64, 32] : [96, 96, 64];
  /** @type {[number, number, number]} */
  const patch = [32, 32, 32];
  /** @type {[number, number, number]} */
  const strides = [16, 16, 16];
  const rng = new Rng(3);
  const voxels = volume[0] * volume[1] * volume[2];
  const data = Float32Array.from({ length: voxels }, () => rng.normal());
  /** @typedef {[number, number, number, number]} Shape4 */
  const input = { data, shape: /** @type {Shape4} */ ([...volume, 1]) };
  const warm = {
    data: data.subarray(0, patch[0] * patch[1] * patch[2]),
    shape: /** @type {Shape4} */ ([...patch, 1]),
  };
  /**
   * @type {{ baseFilters: number, volume: number[], patch: number[], strides: number[], windows: number, ms: number,
   *   times: number[], voxelsPerSecond: number, windowsPerSecond: number, leakedTensors: number,
   *   torchMs: number | null, torchBatch: number | null, ratio: number | null }[]}
   */
  const rows = [];
  console.log(
    `\ninference: sliding window over ${volume.join('×')}, patch ${patch.join('×')}, stride ${strides.join('×')}, median of ${runs}`,
  );
  for (const baseFilters of [4, 16]) {
    const model = createVNet({
      baseFilters,
      numClasses: 2,
      dropout: 0.5,
      name: `bench_inf_${baseFilters}`,
      seed: 2,
    });
    const opts = { patch, strides, numClasses: 2 };
    const before = tf.memory().numTensors;
    let windows = 0;
    await slidingWindowInference(model, warm, opts);
    const timing = await timeMedian(
      async () => {
        await slidingWindowInference(model, input, {
          ...opts,
          onProgress: (_done, total) => {
            windows = total;
          },
        });
      },
      { runs, warmup: 0, after: sampleRss },
    );
    const leaked = tf.memory().numTensors - before;
    model.dispose();
    const row = {
      baseFilters,
      volume,
      patch,
      strides,
      windows,
      ms: timing.median,
      times: timing.times,
      voxelsPerSecond: voxels / (timing.median / 1000),
      windowsPerSecond: windows / (timing.median / 1000),
      leakedTensors: leaked,
      torchMs: /** @type {number | null} */ (null),
      torchBatch: /** @type {number | null} */ (null),
      ratio: /** @type {number | null} */ (null),
    };
    rows.push(row);
    if (torch.python !== null) {
      // The same window starts, in PyTorch eval mode, 1 and 2 windows per forward (its batch-1 Conv3d path
      // is several times slower); the faster is the comparison.
      const starts = volume.map((size, a) => windowStarts(size, patch[a], strides[a]));
      const threads = backend.kernelWorkers + 1;
      /** @type {{ ms: number, batch: number } | null} */
      let best = null;
      for (const batch of [1, 2]) {
        const t = runTorch({
          task: 'infer',
          base: baseFilters,
          volume,
          patch,
          starts,
          batch,
          threads,
          runs,
          warmup: 1,
        });
        if (t.windows !== windows)
          throw new Error(`bench: PyTorch ran ${t.windows} windows, ssmis ${windows}`);
        const ms = median(t.times);
        if (best === null || ms < best.ms) best = { ms, batch };
      }
      // The loop above ran.
      const chosen = /** @type {{ ms: number, batch: number }} */ (best);
      row.torchMs = chosen.ms;
      row.torchBatch = chosen.batch;
      row.ratio = row.ms / chosen.ms;
    }
  }
  console.log(torchNote());
  console.log(
    formatTable(
      ['VNet', 'windows', 'time', 'voxels/s', 'windows/s', 'tensors', 'PyTorch', 'ssmis / PyTorch'],
      rows.map((r) => [
        `base ${r.baseFilters}`,
        r.windows,
        formatMs(r.ms),
        formatRate(r.voxelsPerSecond, 'voxels/s'),
        r.windowsPerSecond.toFixed(2),
        r.leakedTensors === 0 ? 'ok' : `LEAK +${r.leakedTensors}`,
        r.torchMs === null ? '—' : `${formatMs(r.torchMs)} (${r.torchBatch}/fwd)`,
        r.ratio === null ? '—' : formatRatio(r.ratio),
      ]),
    ),
  );
  const slices = await benchSliceInference(lib, backend, quick, runs);
  return { runs, rows, slices };
}

/**
 * `slidingWindowInference2d` (eval mode, 4 classes, 256² model input, one slice per forward) of a volume by the
 * ACDC UNet2d, next to PyTorch's eval forward of the same network over the same slices (nearest resize, softmax,
 * resize back, argmax). The PyTorch network is the 2-D bench's (`TORCH_SCRIPT` of scripts/bench-2d.mjs).
 * @param {Lib} lib
 * @param {BackendSetup} backend
 * @param {boolean} quick
 * @param {number} runs
 */
async function benchSliceInference(lib, backend, quick, runs) {
  const { tf, Rng, createUNet2d, slidingWindowInference2d } = lib;
  const torch = findTorch();
  const volume = quick ? [128, 128, 4] : [216, 256, 10];
  /** @type {[number, number]} */
  const size = [256, 256];
  const classes = 4;
  const rng = new Rng(4);
  const voxels = volume[0] * volume[1] * volume[2];
  const input = {
    data: Float32Array.from({ length: voxels }, () => rng.normal()),
    shape: /** @type {[number, number, number, number]} */ ([...volume, 1]),
  };
  const model = createUNet2d({ numClasses: classes, seed: 2, name: 'bench_inf_2d' });
  const opts = { numClasses: classes, size };
  const before = tf.memory().numTensors;
  await slidingWindowInference2d(
    model,
    { data: input.data.subarray(0, volume[0] * volume[1]), shape: [volume[0], volume[1], 1, 1] },
    opts,
  );
  const timing = await timeMedian(() => slidingWindowInference2d(model, input, opts), {
    runs,
    warmup: 0,
    after: sampleRss,
  });
  const leaked = tf.memory().numTensors - before;
  model.dispose();
  const row = {
    volume,
    size,
    slices: volume[2],
    ms: timing.median,
    times: timing.times,
    voxelsPerSecond: voxels / (timing.median / 1000),
    leakedTensors: leaked,
    torchMs: /** @type {number | null} */ (null),
    ratio: /** @type {number | null} */ (null),
  };
  if (torch.python !== null) {
    const { TORCH_SCRIPT } = await import('./bench-2d.mjs');
    const network = TORCH_SCRIPT.slice(0, TORCH_SCRIPT.indexOf('req = json.loads'));
    const threads = backend.kernelWorkers + 1;
    const t = runTorch({ task: 'infer2d', network, volume, size, classes, threads, runs, warmup: 1 });
    row.torchMs = median(t.times);
    row.ratio = row.ms / row.torchMs;
  }
  console.log(
    `\ninference 2-D: UNet2d slice by slice over ${volume.join('×')} (model input ${size.join('×')}, 1 slice per forward), median of ${runs}`,
  );
  console.log(
    formatTable(
      ['slices', 'time', 'voxels/s', 'tensors', 'PyTorch', 'ssmis / PyTorch'],
      [
        [
          row.slices,
          formatMs(row.ms),
          formatRate(row.voxelsPerSecond, 'voxels/s'),
          row.leakedTensors === 0 ? 'ok' : `LEAK +${row.leakedTensors}`,
          row.torchMs === null ? '—' : formatMs(row.torchMs),
          row.ratio === null ? '—' : formatRatio(row.ratio),
        ],
      ],
    ),
  );
  return row;
}

// ---------------------------------------------------------------------------------------------------------
// metrics

/**
 * @param {readonly number[]} shape
 * @param {readonly number[]} center
 * @param {readonly number[]} radii
 */
function ellipsoidMask(shape, center, radii) {
  const [nx, ny, nz] = shape;
  const m = new Uint8Array(nx * ny * nz);
  for (let i = 0, v = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      for (let k = 0; k < nz; k++, v++) {
        // A low-frequency ripple makes the surface irregular (smooth, not a perfect quadric).
        const ripple = 0.08 * Math.sin(i / 9) * Math.cos(j / 11) + 0.05 * Math.sin(k / 5);
        const d =
          ((i - center[0]) / radii[0]) ** 2 +
          ((j - center[1]) / radii[1]) ** 2 +
          ((k - center[2]) / radii[2]) ** 2;
        m[v] = d <= 1 + ripple ? 1 : 0;
      }
    }
  }
  return m;
}

/**
 * @param {Lib} lib
 * @param {boolean} quick
 */
async function benchMetrics(lib, quick) {
  const { Rng, computeMetrics } = lib;
  const runs = quick ? 1 : 3;
  const shape = [256, 256, 100];
  const n = shape[0] * shape[1] * shape[2];
  const blobs = {
    pred: ellipsoidMask(shape, [128, 126, 50], [70, 55, 30]),
    label: ellipsoidMask(shape, [133, 122, 52], [66, 58, 28]),
  };
  const rng = new Rng(5);
  const random = {
    pred: Uint8Array.from({ length: n }, () => (rng.random() < 0.3 ? 1 : 0)),
    label: Uint8Array.from({ length: n }, () => (rng.random() < 0.3 ? 1 : 0)),
  };
  console.log(`\nmetrics: computeMetrics on ${shape.join('×')}, median of ${runs} after 1 warm-up`);
  const rows = [];
  for (const [name, pair] of /** @type {const} */ ([
    ['blobs', blobs],
    ['random 30%', random],
  ])) {
    for (const spacing of [undefined, [0.7, 0.7, 2.5]]) {
      /** @type {SegmentationMetrics | undefined} */
      let result;
      const timing = await timeMedian(
        () => {
          result = computeMetrics(pair.pred, pair.label, shape, spacing ? { spacing } : {});
        },
        { runs, warmup: 1, after: sampleRss },
      );
      // timeMedian ran the closure.
      const metrics = /** @type {SegmentationMetrics} */ (result);
      rows.push({
        case: name,
        spacing: spacing ?? null,
        ms: timing.median,
        times: timing.times,
        dice: metrics.dice,
        hd95: metrics.hd95,
      });
    }
  }
  console.log(
    formatTable(
      ['case', 'spacing', 'time', 'Dice', 'HD95'],
      rows.map((r) => [
        r.case,
        r.spacing ? `${r.spacing.join('×')} mm` : 'voxels',
        formatMs(r.ms),
        r.dice.toFixed(4),
        r.hd95 === null ? null : r.hd95.toFixed(2),
      ]),
    ),
  );
  return { runs, rows };
}

// ---------------------------------------------------------------------------------------------------------
// nifti

/**
 * @param {Lib} lib
 * @param {boolean} quick
 */
async function benchNifti(lib, quick) {
  const { Rng, writeNifti, readNifti, volumeFromArray } = lib;
  const runs = quick ? 2 : 5;
  const shape = [256, 256, 100];
  const [nx, ny, nz] = shape;
  const rng = new Rng(9);
  // CT-like int16: a smooth body with structure plus noise, so the gzip ratio is that of a real scan.
  const data = new Int16Array(nx * ny * nz);
  for (let i = 0, v = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const body = (i - 128) ** 2 / 110 ** 2 + (j - 128) ** 2 / 90 ** 2 <= 1;
      for (let k = 0; k < nz; k++, v++) {
        const tissue = 40 + 60 * Math.sin(i / 13) * Math.cos(j / 17) + 30 * Math.sin(k / 7);
        data[v] = body ? Math.round(tissue + 20 * rng.normal()) : -1000 + Math.round(5 * rng.normal());
      }
    }
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ssmis-bench-'));
  const file = path.join(dir, 'volume.nii.gz');
  try {
    const volume = volumeFromArray(data, shape, { spacing: [0.7, 0.7, 2.5] });
    const write = await timeMedian(() => writeNifti(file, volume, { datatype: 'int16' }), {
      runs,
      warmup: 1,
      after: sampleRss,
    });
    const fileBytes = statSync(file).size;
    /** @type {Volume | undefined} */
    let readBack;
    const read = await timeMedian(
      async () => {
        readBack = await readNifti(file);
      },
      { runs, warmup: 1, after: sampleRss },
    );
    // timeMedian ran the closure.
    readBack = /** @type {Volume} */ (readBack);
    if (readBack.data.length !== data.length || readBack.data[12345] !== data[12345]) {
      throw new Error('bench nifti: the volume read back differs from the one written');
    }
    const dataBytes = data.byteLength;
    const row = {
      shape,
      datatype: 'int16',
      dataBytes,
      fileBytes,
      writeMs: write.median,
      writeTimes: write.times,
      readMs: read.median,
      readTimes: read.times,
      readMBps: dataBytes / 1e6 / (read.median / 1000),
      runs,
    };
    console.log(`\nnifti: ${shape.join('×')} int16 .nii.gz, median of ${runs} after 1 warm-up`);
    console.log(
      formatTable(
        ['file', 'data', 'write', 'read', 'read MB/s'],
        [
          [
            formatMiB(fileBytes),
            formatMiB(dataBytes),
            formatMs(row.writeMs),
            formatMs(row.readMs),
            row.readMBps.toFixed(1),
          ],
        ],
      ),
    );
    return row;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// kernels

/**
 * @param {BackendSetup} backend
 * @param {boolean} quick
 */
async function benchKernels(backend, quick) {
  const script = new URL('./bench-kernels.mjs', import.meta.url);
  /** @type {Partial<typeof import('./bench-kernels.mjs')>} */
  let mod;
  try {
    mod = await import(script.href);
  } catch (thrown) {
    const error = /** @type {{ code?: unknown, message?: unknown } | null | undefined} */ (thrown);
    const reason =
      error?.code === 'ERR_MODULE_NOT_FOUND' ? 'scripts/bench-kernels.mjs not found' : String(error?.message);
    console.log(`\nkernels: fast kernels not available (${reason})`);
    return { available: false, reason };
  }
  if (typeof mod.runKernelBench !== 'function' || backend.kernels === null || backend.active !== 'cpu') {
    const reason =
      backend.active !== 'cpu'
        ? `the active backend is ${backend.active}, the fast kernels replace cpu kernels only`
        : 'the build has no fast kernels (dist/backend/kernels) or bench-kernels exports no runKernelBench';
    console.log(`\nkernels: fast kernels not available (${reason})`);
    return { available: false, reason };
  }
  // runKernelBench compares stock and fast itself: it registers and unregisters them around each measurement.
  backend.kernels.unregisterFastKernels();
  console.log('\nkernels: stock vs fast (scripts/bench-kernels.mjs)');
  try {
    const result = await mod.runKernelBench(quick ? { runs: 1, steps: false } : { runs: 3 });
    return { available: true, result };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    console.log(`kernels: fast kernels not available (${reason})`);
    return { available: false, reason };
  }
}

// ---------------------------------------------------------------------------------------------------------

async function main() {
  const opts = options();
  const lib = await loadDist('index.js');
  const backend = await setupBackend({ backend: opts.backend });
  const { writeFileAtomic } = lib;
  const result = {
    schema: 'ssmis-bench/1',
    createdAt: new Date().toISOString(),
    command: `node scripts/bench.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    quick: opts.quick,
    machine: machineInfo(),
    backend: {
      active: backend.active,
      tfjsVersion: backend.tfjsVersion,
      fastKernels: backend.fastKernels,
      kernelWorkers: backend.kernelWorkers,
    },
    /** @type {Record<string, unknown>} */
    sections: {},
    maxRssBytes: 0,
  };
  const m = result.machine;
  console.log(
    `ssmis bench${opts.quick ? ' (quick)' : ''}: ${m.cpuModel}, ${m.logicalCpus} logical CPUs, Node ${m.node}, ` +
      `backend ${backend.active} (TF.js ${backend.tfjsVersion}), fast kernels ${backend.fastKernels ? `on (${backend.kernelWorkers} worker thread(s))` : 'off'}`,
  );
  const save = async () => {
    result.maxRssBytes = process.resourceUsage().maxRSS * 1024;
    await writeFileAtomic(path.resolve(opts.out), `${JSON.stringify(result, null, 2)}\n`);
  };
  const started = performance.now();
  // kernels last: it leaves the stock kernels registered.
  for (const section of SECTIONS.filter((s) => opts.sections.includes(s))) {
    if (section === 'train') result.sections.train = await benchTrain(lib, opts.quick);
    else if (section === 'vnet') result.sections.vnet = await benchVnet(lib, backend, opts.quick);
    else if (section === 'unet2d')
      result.sections.unet2d = await (await import('./bench-2d.mjs')).runUnet2dBench(opts);
    else if (section === 'inference')
      result.sections.inference = await benchInference(lib, backend, opts.quick);
    else if (section === 'metrics') result.sections.metrics = await benchMetrics(lib, opts.quick);
    else if (section === 'nifti') result.sections.nifti = await benchNifti(lib, opts.quick);
    else if (section === 'webgpu')
      result.sections.webgpu = await (await import('./bench-webgpu.mjs')).runWebgpuBench(lib, opts);
    else if (section === 'kernels') result.sections.kernels = await benchKernels(backend, opts.quick);
    await save();
  }
  console.log(
    `\npeak RSS of the process ${formatMiB(process.resourceUsage().maxRSS * 1024)}; ${((performance.now() - started) / 1000).toFixed(0)} s in all; JSON: ${path.resolve(opts.out)}`,
  );
  backend.kernels?.unregisterFastKernels();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
    process.exit(1);
  });
}

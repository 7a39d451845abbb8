/**
 * The runtime behind the fast kernels: one shared WebAssembly memory holding the operands, the SIMD
 * microkernels instantiated on it by the main thread and by every worker thread, and a synchronous fork/join
 * over `Atomics` (kernels are synchronous, and `Atomics.wait` is allowed on Node's main thread).
 *
 * A task is a parameter block in the shared memory plus a number of items; the main thread and the workers
 * take items in chunks from a shared counter (dynamic scheduling, so a core slowed by another process does not
 * hold the others back) and run them through `runItems`, the one driver both sides execute. Workers are unref'd
 * (they never keep the process alive) and start asynchronously: until a worker has instantiated the module, the
 * main thread simply does its share.
 */

import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { InputError, SsmisError } from '../../util/errors.js';
import { takeFloat32 } from './array-pool.js';
import { type WasmInstance, type WasmMemory, wasmApi } from './wasm/api.js';
import { MAX_PAGES, MAX_TILE, microkernelModuleBytes, PEAK_MADDS } from './wasm/microkernels.js';

export type Kernel = (...args: number[]) => void;
/** The microkernels by tile height: `fwd[r]` / `dw[r]` for r = 1…MAX_TILE (index 0 unused). */
export interface KernelTable {
  fwd: Kernel[];
  dw: Kernel[];
  transpose: Kernel;
  compact: Kernel;
  compactBias: Kernel;
  lerp: Kernel;
  maxPool2: Kernel;
  maxPool2Grad: Kernel;
  sgd: Kernel;
}

/** Task kinds understood by `runItems`. */
export const TASK_CONV = 1;
export const TASK_DW = 2;
export const TASK_FLIP = 3;
export const TASK_COMPACT = 4;
export const TASK_LERP = 5;
export const TASK_MAXPOOL2 = 6;
export const TASK_MAXPOOL2_GRAD = 7;
export const TASK_SGD = 8;

// Control words (Int32Array over a SharedArrayBuffer).
const C_DONE = 0;
const C_KIND = 1;
const C_PARAMS = 2;
const C_ITEMS = 3;
const C_CHUNK = 4;
const C_NEXT = 5;
const C_ERROR = 6;
const C_WORKER_ITEMS = 7; // items run by workers in the last task (diagnostics and tests)
const C_PARTICIPANTS = 8;
const C_JOIN = 9; // workers that joined the open task; CLOSED once the main thread stops waiting for joiners
const CLOSED = -(1 << 30);
const C_SLOT = 16; // + worker index: epoch of the task assigned to that worker (−1 = quit)
const C_READY = 16 + 64; // + worker index: 1 once the worker waits for tasks
const MAX_WORKERS = 64;

/**
 * Runs items [next…) of the current task in chunks until none is left. Executed verbatim by the workers
 * (through `Function.prototype.toString`), so it must not refer to anything outside its body.
 *
 * TASK_CONV parameter block (i32 words, byte pointers): 0 parts, 1 part table, 2 channel blocks, 3 weight bytes
 * per block, 4 weight row stride, 5 block-major order. A part is a set of output pixels that run the same taps
 * (a region of the output whose windows fall on the same padding, or a phase of a strided transposed
 * convolution); its table entry is 8 words: 0 pixels, 1 pixel table ((in, out) address pairs in tile order),
 * 2 tap table ((input, weight) byte-offset pairs), 3 taps, 4 K, 5 output offset, 6 weight pointer, 7 first
 * item. Pixels are cut into tiles of MAX_TILE (the last one of a part shorter). Items are numbered part after
 * part: item = first + tile, the kernel running every channel block; in block-major order (large filters, few
 * tiles) item = first + block · tiles + tile, so that consecutive items reuse one block of the filter and
 * there are enough items for every thread. A run of consecutive items of one (part, block) is one kernel call.
 *
 * TASK_DW parameter block: 0 row tables by tap ((row table, rows) pairs; a row table lists the (x, dy)
 * byte-offset pairs of the rows whose x row is not padding for that tap), 1 z ranges by kz ((z0, z1) pairs:
 * the output z whose input z is not padding), 2 C, 3 x base, 4 dy base, 5 acc base, 6 x z-stride, 7 dy
 * z-stride, 8 acc stride (bytes per reduction row), 9 tap table, 10 taps, 11 M (reduction rows per tap,
 * kz · C + c), 12 channel blocks, 13 reduction rows per group, 14 groups per tap, 15 rows per chunk.
 * Item = group. Skipping the padding leaves out only products with a zero factor.
 *
 * TASK_FLIP parameter block: 0 src filter `[taps][C][Co]`, 1 dst, 2 C, 3 Co, 4 taps. Item = tap t: dst tap t
 * = (src tap taps−1−t)ᵀ, the spatially flipped filter with its channel axes swapped.
 *
 * TASK_COMPACT parameter block: 0 src (pixels 4·C8 bytes apart), 1 dst (dense, 4·C bytes per pixel), 2 bias
 * (C floats, 0 = none), 3 pixels, 4 C, 5 C8, 6 pixels per item. Item = a run of pixels (`compact` /
 * `compactBias` of the module).
 *
 * TASK_LERP parameter block: 0 src, 1 dst, 2 row table (16-byte entries, `lerp` of the module), 3 outer blocks,
 * 4 source rows per block, 5 output rows per block (table entries), 6 floats per row, 7 rows per item. Output
 * row r of block b = lerp of table entry r over block b of src. Item = a run of output rows over all blocks.
 *
 * TASK_MAXPOOL2 parameter block: 0 src `[N, H, W, C]`, 1 dst `[N, OH, OW, C]`, 2 output rows N·OH, 3 OH, 4 H, 5 W,
 * 6 OW, 7 C (a multiple of 4). Item = an output row (`maxPool2` of the module).
 *
 * TASK_MAXPOOL2_GRAD: the same block with 8 dy `[N, OH, OW, C]` and 9 dx (x's layout, H and W even). Item = an
 * output row (`maxPool2Grad`).
 *
 * TASK_SGD parameter block: 0 p, 1 g, 2 b (momentum buffer), 3 n floats, 4 floats per item, 5–7 weight decay,
 * momentum, learning rate as f32. Item = a run of floats (`sgd`).
 */
export function runItems(ex: KernelTable, memory: WasmMemory, ctl: Int32Array): number {
  const i32 = new Int32Array(memory.buffer);
  const kind = ctl[1];
  const p = ctl[2] >> 2;
  const n = ctl[3];
  const chunk = ctl[4];
  const tile = ex.fwd.length - 1;
  const participants = ctl[8];
  let ran = 0;
  for (;;) {
    // Guided self-scheduling: take a share of what is left (at least `chunk`), so the participants finish
    // within one small chunk of each other even when a core is shared with another process.
    const start = Atomics.load(ctl, 5);
    if (start >= n) return ran;
    const guided = ((n - start) / (2 * participants)) | 0;
    const size = Math.max(guided, chunk);
    const end = Math.min(start + size, n);
    if (Atomics.compareExchange(ctl, 5, start, end) !== start) continue;
    ran += end - start;
    if (kind === 1) {
      const nParts = i32[p];
      const parts = i32[p + 1] >> 2;
      const nCb = i32[p + 2];
      const wCb = i32[p + 3];
      const wS = i32[p + 4];
      const blockMajor = i32[p + 5] === 1;
      const blocksPerCall = blockMajor ? 1 : nCb;
      let part = 0;
      for (let item = start; item < end; ) {
        while (part + 1 < nParts && i32[parts + 8 * (part + 1) + 7] <= item) part++;
        const e = parts + 8 * part;
        const pixels = i32[e];
        const pix = i32[e + 1];
        const taps = i32[e + 2];
        const nTaps = i32[e + 3];
        const K = i32[e + 4];
        const tiles = ((pixels + tile - 1) / tile) | 0;
        const last = pixels - (tiles - 1) * tile;
        const local = item - i32[e + 7];
        const t0 = local % tiles;
        const cb = blockMajor ? (local - t0) / tiles : 0;
        const t1 = Math.min(tiles, t0 + end - item);
        const w = i32[e + 6] + cb * wCb;
        const outAdd = i32[e + 5] + 32 * cb;
        const full = t1 === tiles && last < tile ? t1 - 1 - t0 : t1 - t0;
        if (full > 0)
          ex.fwd[tile](w, taps, nTaps, K, wS, blocksPerCall, wCb, pix + 8 * tile * t0, full, outAdd);
        if (t0 + full < t1)
          ex.fwd[last](w, taps, nTaps, K, wS, blocksPerCall, wCb, pix + 8 * tile * (t1 - 1), 1, outAdd);
        item += t1 - t0;
      }
    } else if (kind === 4) {
      const c = i32[p + 4];
      const c8 = i32[p + 5];
      const per = i32[p + 6];
      const pixels = i32[p + 3];
      const bias = i32[p + 2];
      for (let item = start; item < end; item++) {
        const p0 = item * per;
        const count = Math.min(per, pixels - p0);
        const src = i32[p] + 4 * c8 * p0;
        const dst = i32[p + 1] + 4 * c * p0;
        if (bias === 0) ex.compact(src, dst, count, 4 * c, 4 * c8);
        else ex.compactBias(src, dst, count, 4 * c, 4 * c8, bias);
      }
    } else if (kind === 5) {
      const n = i32[p + 4];
      const m = i32[p + 5];
      const inner = i32[p + 6];
      const r1 = Math.min(end * i32[p + 7], i32[p + 3] * m);
      for (let r = start * i32[p + 7]; r < r1; ) {
        const b = (r / m) | 0;
        const o = r - b * m;
        const rows = Math.min(r1 - r, m - o);
        ex.lerp(i32[p] + 4 * b * n * inner, i32[p + 1] + 4 * r * inner, i32[p + 2] + 16 * o, rows, 4 * inner);
        r += rows;
      }
    } else if (kind === 6 || kind === 7) {
      const oh = i32[p + 3];
      const w = i32[p + 5];
      const ow = i32[p + 6];
      const c = i32[p + 7];
      for (let r = start; r < end; r++) {
        const b = (r / oh) | 0;
        const row = 4 * (b * i32[p + 4] + 2 * (r - b * oh)) * w * c;
        const out = 4 * r * ow * c;
        if (kind === 6) ex.maxPool2(i32[p] + row, i32[p + 1] + out, ow, 4 * c, 4 * w * c);
        else ex.maxPool2Grad(i32[p] + row, i32[p + 8] + out, i32[p + 9] + row, ow, 4 * c, 4 * w * c);
      }
    } else if (kind === 8) {
      const f32 = new Float32Array(memory.buffer);
      const n = i32[p + 3];
      const per = i32[p + 4];
      for (let item = start; item < end; item++) {
        const at = 4 * item * per;
        const count = Math.min(per, n - item * per);
        ex.sgd(i32[p] + at, i32[p + 1] + at, i32[p + 2] + at, count, f32[p + 5], f32[p + 6], f32[p + 7]);
      }
    } else if (kind === 3) {
      const c = i32[p + 2];
      const co = i32[p + 3];
      const taps = i32[p + 4];
      for (let t = start; t < end; t++)
        ex.transpose(i32[p] + 4 * (taps - 1 - t) * c * co, i32[p + 1] + 4 * t * c * co, c, co);
    } else {
      const tapRows = i32[p] >> 2;
      const zRanges = i32[p + 1] >> 2;
      const C = i32[p + 2];
      const xBase = i32[p + 3];
      const dyBase = i32[p + 4];
      const accBase = i32[p + 5];
      const xSZ = i32[p + 6];
      const dySZ = i32[p + 7];
      const accS = i32[p + 8];
      const taps = i32[p + 9] >> 2;
      const M = i32[p + 11];
      const nCb = i32[p + 12];
      const perGroup = i32[p + 13];
      const groupsPerTap = i32[p + 14];
      const perChunk = i32[p + 15];
      for (let g = start; g < end; g++) {
        const t = (g / groupsPerTap) | 0;
        const m0 = (g - t * groupsPerTap) * perGroup;
        const m1 = Math.min(m0 + perGroup, M);
        const xTap = xBase + i32[taps + t];
        const rowTab = i32[tapRows + 2 * t];
        const nRows = i32[tapRows + 2 * t + 1];
        for (let r0 = 0; r0 < nRows; r0 += perChunk) {
          const nr = Math.min(nRows - r0, perChunk);
          for (let m = m0; m < m1; m += tile) {
            const r = Math.min(m1 - m, tile);
            // The z range of the tile's rows: the union over the kz they span. Both ends of a range move
            // monotonically with kz, so the union of the first and last kz's ranges covers those between.
            const kzA = (m / C) | 0;
            const kzB = ((m + r - 1) / C) | 0;
            const z0 = Math.min(i32[zRanges + 2 * kzA], i32[zRanges + 2 * kzB]);
            const z1 = Math.max(i32[zRanges + 2 * kzA + 1], i32[zRanges + 2 * kzB + 1]);
            if (z1 <= z0) continue;
            ex.dw[r](
              xTap + 4 * m + z0 * xSZ,
              dyBase + z0 * dySZ,
              accBase + (t * M + m) * accS,
              rowTab + 8 * r0,
              nr,
              z1 - z0,
              xSZ,
              dySZ,
              accS,
              nCb,
            );
          }
        }
      }
    }
  }
}

/**
 * The microkernels of an instance's exports, `tile` the largest tile height. Executed verbatim by the workers too
 * (through `Function.prototype.toString`), so it must not refer to anything outside its body.
 */
function kernelTable(exports: Record<string, unknown>, tile: number): KernelTable {
  const noop: Kernel = () => {};
  const table: KernelTable = {
    fwd: [noop],
    dw: [noop],
    transpose: exports.transpose as Kernel,
    compact: exports.compact as Kernel,
    compactBias: exports.compactBias as Kernel,
    lerp: exports.lerp as Kernel,
    maxPool2: exports.maxPool2 as Kernel,
    maxPool2Grad: exports.maxPool2Grad as Kernel,
    sgd: exports.sgd as Kernel,
  };
  for (let r = 1; r <= tile; r++) {
    table.fwd.push(exports[`fwd${r}`] as Kernel);
    table.dw.push(exports[`dw${r}`] as Kernel);
  }
  return table;
}

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module, ctl, index, tile } = workerData;
${runItems.toString()}
${kernelTable.toString()}
const instance = new WebAssembly.Instance(module, { env: { memory } });
const ex = kernelTable(instance.exports, tile);
let seen = 0;
Atomics.store(ctl, ${C_READY} + index, 1);
for (;;) {
  Atomics.wait(ctl, ${C_SLOT} + index, seen);
  seen = Atomics.load(ctl, ${C_SLOT} + index);
  if (seen < 0) break;
  // A worker woken after the main thread closed the task (it had already run every item) stays out of it.
  if (Atomics.add(ctl, ${C_JOIN}, 1) < 0) continue;
  try { Atomics.add(ctl, ${C_WORKER_ITEMS}, runItems(ex, memory, ctl)); } catch (e) { Atomics.store(ctl, ${C_ERROR}, 1); }
  Atomics.add(ctl, ${C_DONE}, 1);
  Atomics.notify(ctl, ${C_DONE});
}
`;

/**
 * Threads that run the kernels, the main thread included: `SSMIS_THREADS` when it is a positive integer, else
 * every core the process may use (`os.availableParallelism()`); at most 1 + 64. The pool gets this minus one
 * worker threads, so `SSMIS_THREADS=1` runs every kernel on the main thread.
 */
export function kernelThreads(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.SSMIS_THREADS?.trim();
  if (text === undefined || text === '') return availableParallelism();
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new InputError(`SSMIS_THREADS must be a positive integer, found '${env.SSMIS_THREADS}'`);
  }
  return Math.min(n, MAX_WORKERS + 1);
}

/** Output floats per item of a TASK_COMPACT (16 KiB: a share of a thread's L1 cache). */
const COMPACT_ITEM_FLOATS = 4096;
/**
 * The `flops` a TASK_COMPACT declares per float it copies, so that `parallelFlops` (4e6) puts copies of at
 * least 256 Ki floats (about 0.1 ms on one thread here, several times a worker's wake-up) on the pool.
 */
const COMPACT_WORK_PER_FLOAT = 16;

/** Bytes reserved at address 0 for task parameter blocks. */
const PARAM_BYTES = 4096;
const PAGE = 65536;

export interface RuntimeOptions {
  /** Worker threads besides the main thread (default: `kernelThreads() − 1`). */
  workers?: number;
  /** Tasks below this many floating-point operations run on the main thread only. */
  parallelFlops?: number;
  /**
   * Convolutions with relaxed-SIMD fused multiply-adds when the runtime has them (default: the environment
   * variable `SSMIS_RELAXED_SIMD`, on unless `0`/`false`/`off`/`no`): one instruction instead of two, about a
   * fifth less CPU time in a VNet step here. False keeps the exact kernels (a multiply then an add), whose
   * numbers do not depend on the hardware; the test suite uses them, because the fused rounding, though within
   * 1e-5 of them, moves float32 finite-difference checks of whole networks past their tolerance.
   */
  relaxedSimd?: boolean;
}

/** Whether relaxed SIMD is asked for: the option if given, else `SSMIS_RELAXED_SIMD` (default on). */
export function relaxedSimdWanted(
  option: boolean | undefined,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (option !== undefined) return option;
  const v = env.SSMIS_RELAXED_SIMD?.trim().toLowerCase();
  return !(v === '0' || v === 'false' || v === 'off' || v === 'no');
}

let relaxedProbe: boolean | null = null;

/**
 * Whether WebAssembly relaxed SIMD validates here. Node 22 has it by default; Node 20 only behind
 * `--experimental-wasm-relaxed-simd`, which is turned on here at run time (`v8.setFlagsFromString`) when
 * the first probe fails. V8 flags are per process, so worker threads started afterwards see it too (and they
 * receive the module compiled on the main thread anyway).
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedProbe !== null) return relaxedProbe;
  const wasm = wasmApi();
  if (wasm === null) {
    relaxedProbe = false;
    return false;
  }
  const bytes = microkernelModuleBytes(1, true);
  const probe = () => {
    try {
      return wasm.validate(bytes);
    } catch {
      return false;
    }
  };
  relaxedProbe = probe();
  if (!relaxedProbe) {
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // Not a V8 runtime that takes flags: relaxed SIMD stays off.
    }
    relaxedProbe = probe();
  }
  return relaxedProbe;
}

/**
 * Peak f32x4 multiply-add throughput of one core in GFLOP/s (a multiply-add counts 2 flops per lane): the
 * `peak` kernel, registers only, on the calling thread, best of `repeats` runs of `iterations` iterations.
 * The ceiling the convolution kernels are measured against; relaxed is null when unsupported.
 */
export function maddCeiling(iterations = 2e7, repeats = 3): { exact: number; relaxed: number | null } {
  const wasm = wasmApi();
  if (wasm === null) throw new SsmisError('fast kernels: this JavaScript runtime has no WebAssembly');
  const measure = (relaxed: boolean) => {
    const memory = new wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    const module = new wasm.Module(microkernelModuleBytes(1, relaxed));
    const peak = new wasm.Instance(module, { env: { memory } }).exports.peak as Kernel;
    new Float32Array(memory.buffer).fill(1, 0, 16);
    peak(0, 1e5);
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      peak(0, iterations);
      best = Math.min(best, performance.now() - t0);
    }
    return (iterations * PEAK_MADDS * 8) / (best * 1e6);
  };
  return { exact: measure(false), relaxed: relaxedSimdSupported() ? measure(true) : null };
}

/** The operands of one kernel call do not fit in the wasm memory; the caller falls back to the stock kernel. */
export class WasmHeapLimitError extends SsmisError {}

let active: KernelRuntime | null = null;

/** The runtime of the registered fast kernels, or null (set by `registerFastKernels`). */
export function activeRuntime(): KernelRuntime | null {
  return active;
}

export function setActiveRuntime(rt: KernelRuntime | null): void {
  active = rt;
}

/** One shared memory, the main-thread instance and the worker pool. */
export class KernelRuntime {
  readonly memory: WasmMemory;
  private readonly ex: KernelTable;
  private readonly instance: WasmInstance;
  private readonly ctl = KernelRuntime.control();
  private readonly workers: Worker[] = [];
  private readonly parallelFlops: number;
  private epoch = 0;
  private top = PARAM_BYTES;
  private f32view: Float32Array;
  private i32view: Int32Array;
  private terminated = false;
  /** Whether the convolution kernels use relaxed-SIMD multiply-adds (see `RuntimeOptions.relaxedSimd`). */
  readonly relaxedSimd: boolean;

  constructor(options: RuntimeOptions = {}) {
    const wasm = wasmApi();
    if (wasm === null) throw new SsmisError('fast kernels: this JavaScript runtime has no WebAssembly');
    const initialPages = 256;
    this.memory = new wasm.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
    this.relaxedSimd = relaxedSimdWanted(options.relaxedSimd) && relaxedSimdSupported();
    const module = new wasm.Module(microkernelModuleBytes(initialPages, this.relaxedSimd));
    this.instance = new wasm.Instance(module, { env: { memory: this.memory } });
    this.ex = kernelTable(this.instance.exports, MAX_TILE);
    this.f32view = new Float32Array(this.memory.buffer);
    this.i32view = new Int32Array(this.memory.buffer);
    this.parallelFlops = options.parallelFlops ?? 4e6;
    const count = Math.max(0, Math.min(MAX_WORKERS, options.workers ?? kernelThreads() - 1));
    for (let index = 0; index < count; index++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { memory: this.memory, module, ctl: this.ctl, index, tile: MAX_TILE },
      });
      // A worker that fails to start never sets its ready flag, so it is never given work.
      worker.on('error', () => Atomics.store(this.ctl, C_READY + index, 0));
      worker.unref();
      this.workers.push(worker);
    }
  }

  private static control(): Int32Array {
    const ctl = new Int32Array(new SharedArrayBuffer(4 * (C_READY + MAX_WORKERS)));
    ctl[C_JOIN] = CLOSED;
    return ctl;
  }

  get workerCount(): number {
    return this.workers.length;
  }

  /** Workers that have instantiated the module and wait for tasks. */
  readyWorkers(): number {
    let n = 0;
    for (let i = 0; i < this.workers.length; i++) n += Atomics.load(this.ctl, C_READY + i);
    return n;
  }

  /** Resolves once every worker waits for tasks (or after `timeoutMs`). */
  async whenReady(timeoutMs = 10_000): Promise<void> {
    const t0 = Date.now();
    while (this.readyWorkers() < this.workers.length && Date.now() - t0 < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** An exported function of the main-thread instance (the batch-norm kernels run on the main thread). */
  kernel(name: string): Kernel {
    const fn = this.instance.exports[name];
    if (typeof fn !== 'function') throw new SsmisError(`fast kernels: the wasm module exports no ${name}`);
    return fn as Kernel;
  }

  /** Frees every allocation (kernels are not re-entrant: each starts from an empty heap). */
  reset(): void {
    this.top = PARAM_BYTES;
  }

  /**
   * A fresh heap (`reset`) holding one block per entry of `bytes`, or null when they do not fit the wasm memory
   * (the caller then takes its JavaScript path).
   */
  blocks(...bytes: number[]): number[] | null {
    this.reset();
    try {
      return bytes.map((b) => this.alloc(b));
    } catch (error) {
      if (error instanceof WasmHeapLimitError) return null;
      throw error;
    }
  }

  /** A 64-byte aligned block of `bytes` bytes (+64 bytes of slack for vector over-reads), growing memory. */
  alloc(bytes: number): number {
    const ptr = this.top;
    const end = ptr + Math.ceil((bytes + 64) / 64) * 64;
    if (end > this.memory.buffer.byteLength) {
      const pages = Math.ceil((end - this.memory.buffer.byteLength) / PAGE);
      if (this.memory.buffer.byteLength / PAGE + pages > MAX_PAGES) {
        throw new WasmHeapLimitError(
          `fast kernels: an operation needs ${end} bytes, more than the 2 GiB wasm limit`,
        );
      }
      try {
        this.memory.grow(pages);
      } catch (error) {
        throw new WasmHeapLimitError(
          `fast kernels: could not grow the wasm memory to ${end} bytes: ${error instanceof Error ? error.message : error}`,
        );
      }
    }
    this.top = end;
    return ptr;
  }

  /** Float32 view of the memory (refreshed after growth). */
  get f32(): Float32Array {
    if (this.f32view.buffer.byteLength !== this.memory.buffer.byteLength) {
      this.f32view = new Float32Array(this.memory.buffer);
      this.i32view = new Int32Array(this.memory.buffer);
    }
    return this.f32view;
  }

  /**
   * A copy of `count` floats at byte pointer `ptr` in a new (unshared) array. One bulk copy: `slice` or
   * element reads of a SharedArrayBuffer-backed array are several times slower.
   */
  copyOut(ptr: number, count: number): Float32Array {
    const out = takeFloat32(count);
    out.set(this.f32.subarray(ptr >> 2, (ptr >> 2) + count));
    return out;
  }

  /**
   * `count` pixels of C channels at byte pointer `ptr`, stored `c8` floats apart (a convolution's output in
   * channel blocks of 8), in a new dense [count, C] array, plus `bias` (C floats) per channel when given: one f32
   * sum per element, the value a broadcast Add of the copied result gives. The copy runs in WebAssembly on the
   * worker pool when it is large; element reads of the shared memory from JavaScript are several times slower.
   */
  compactOut(ptr: number, count: number, c: number, c8: number, bias?: Float32Array): Float32Array {
    if (c === c8 && bias === undefined) return this.copyOut(ptr, count * c8);
    // In place when the rows are already dense (each pixel's values are read before they are written).
    const dst = c === c8 ? ptr : this.alloc(4 * count * c);
    let biasPtr = 0;
    if (bias !== undefined) {
      biasPtr = this.alloc(4 * c);
      this.f32.set(bias.subarray(0, c), biasPtr >> 2);
    }
    const per = Math.max(1, Math.floor(COMPACT_ITEM_FLOATS / c));
    const i32 = this.i32;
    i32.set([ptr, dst, biasPtr, count, c, c8, per], 0);
    this.run(TASK_COMPACT, 0, Math.ceil(count / per), COMPACT_WORK_PER_FLOAT * count * c);
    return this.copyOut(dst, count * c);
  }

  /** Int32 view of the memory (refreshed after growth). */
  get i32(): Int32Array {
    void this.f32;
    return this.i32view;
  }

  /** Runs a task to completion on the main thread and every ready worker. */
  run(kind: number, params: number, items: number, flops: number): void {
    if (items <= 0) return;
    const ctl = this.ctl;
    const parallel = !this.terminated && flops >= this.parallelFlops && this.workers.length > 0;
    const participants = parallel ? this.readyWorkers() + 1 : 1;
    const chunk = Math.max(1, Math.floor(items / (64 * participants)));
    ctl[C_KIND] = kind;
    ctl[C_PARAMS] = params;
    ctl[C_ITEMS] = items;
    ctl[C_CHUNK] = chunk;
    ctl[C_PARTICIPANTS] = participants;
    ctl[C_ERROR] = 0;
    ctl[C_WORKER_ITEMS] = 0;
    Atomics.store(ctl, C_NEXT, 0);
    Atomics.store(ctl, C_DONE, 0);
    if (participants > 1) {
      Atomics.store(ctl, C_JOIN, 0);
      // Workers start waiting on epoch 0, so 0 is never a task's epoch.
      this.epoch = this.epoch >= 0x3fffffff ? 1 : this.epoch + 1;
      for (let i = 0; i < this.workers.length; i++) {
        if (Atomics.load(ctl, C_READY + i) !== 1) continue;
        Atomics.store(ctl, C_SLOT + i, this.epoch);
        Atomics.notify(ctl, C_SLOT + i);
      }
    }
    runItems(this.ex, this.memory, ctl);
    // Every item is taken: close the task, then wait only for the workers that joined it (a worker the OS
    // has not woken yet would otherwise cost its whole wake-up latency).
    const joined = participants > 1 ? Math.max(0, Atomics.exchange(ctl, C_JOIN, CLOSED)) : 0;
    for (;;) {
      const done = Atomics.load(ctl, C_DONE);
      if (done >= joined) break;
      Atomics.wait(ctl, C_DONE, done, 1000);
    }
    if (ctl[C_ERROR] !== 0)
      throw new SsmisError('fast kernels: a worker thread failed while running a kernel');
  }

  /** Items of the last task run by worker threads (the rest ran on the main thread). */
  lastWorkerItems(): number {
    return Atomics.load(this.ctl, C_WORKER_ITEMS);
  }

  /** Stops the workers; the runtime then runs everything on the main thread. */
  terminate(): void {
    if (this.terminated) return;
    this.terminated = true;
    for (let i = 0; i < this.workers.length; i++) {
      Atomics.store(this.ctl, C_READY + i, 0);
      Atomics.store(this.ctl, C_SLOT + i, -1);
      Atomics.notify(this.ctl, C_SLOT + i);
    }
    for (const w of this.workers) void w.terminate();
  }
}

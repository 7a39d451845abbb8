/**
 * 3-D convolutions (channels last) on the SIMD microkernels of `wasm/microkernels.ts`.
 *
 * Every case is reduced to a *valid* convolution over an explicitly zero-padded copy of the input, written as
 * taps over (kx, ky) whose kz·C inputs are contiguous in memory (channels last: the kz taps of one (kx, ky)
 * read KZ·C consecutive floats), so one microkernel covers k3 s1 'same', k2 s2 'valid' and k1:
 * - forward: out[n,o,co] = Σ_{kx,ky} Σ_{m<KZ·C} xpad[n, o·s + (kx,ky,0)][m] · W[kx,ky][m][co];
 * - input gradient, stride 1: the forward of dy padded by K−1−pad with the spatially flipped filter whose
 *   in/out channel axes are swapped;
 * - input gradient (and transposed convolution) with kernel = stride and no padding: each of the s³ output
 *   phases is a 1-tap GEMM dx[n, s·j + a] = dy[n, j] · W[a]ᵀ, written with output stride s;
 * - filter gradient: dW[kx,ky][m][co] = Σ_{n,o} xpad[n, o·s + (kx,ky,0)][m] · dy[n,o][co].
 * The terms that read the padding are left out: the forward (and so the stride-1 input gradient) runs one part
 * per region of the output whose windows cover the same taps, with only those taps and kz rows; the filter
 * gradient runs, per tap, only the rows (n, x, y) and z whose input is not padding. At the 2³ bottleneck of a
 * 32³ V-Net patch that is 70 % of a 3×3×3 convolution's multiply-adds (about 40 % at 4³, 23 % at 8³). Only
 * products with a zero factor are dropped and the rest are summed in the same order, so the results are the
 * bits of the full sum (for finite operands; an infinite or NaN weight no longer spreads through the padding,
 * as in the stock kernels, which never visit it).
 * Output channels are processed in blocks of 8 (two f32x4), padded with zero weights when C is not a multiple
 * of 8 and compacted on the way out. Accumulation is in float32 (the stock kernels accumulate in doubles), so
 * results agree with them to a relative error of about 1e-6 of the output's magnitude.
 */
import type { KernelRuntime } from './runtime.js';
import { TASK_CONV, TASK_DW, TASK_FLIP } from './runtime.js';
import { MAX_TILE } from './wasm/microkernels.js';

export type Vec3 = [number, number, number];

/** Shapes of one convolution, in the forward direction (x → y). */
export interface ConvGeometry {
  batch: number;
  /** Spatial size of x. */
  inSize: Vec3;
  inChannels: number;
  /** Spatial size of y. */
  outSize: Vec3;
  outChannels: number;
  kernel: Vec3;
  strides: Vec3;
  /** Zero padding before / after x on each axis. */
  padBefore: Vec3;
  padAfter: Vec3;
}

export function convFlops(g: ConvGeometry): number {
  const [ox, oy, oz] = g.outSize;
  const [kx, ky, kz] = g.kernel;
  return 2 * g.batch * ox * oy * oz * kx * ky * kz * g.inChannels * g.outChannels;
}

/** True when the padded input covers every window of the output (always so for TF.js's own pads). */
export function windowsFit(g: ConvGeometry): boolean {
  for (let a = 0; a < 3; a++) {
    const padded = g.inSize[a] + g.padBefore[a] + g.padAfter[a];
    if ((g.outSize[a] - 1) * g.strides[a] + g.kernel[a] > padded) return false;
  }
  return true;
}

/** Copies x into the wasm heap with zero padding; returns the byte pointer. */
function copyPadded(
  rt: KernelRuntime,
  x: Float32Array,
  n: number,
  size: Vec3,
  c: number,
  before: Vec3,
  padded: Vec3,
): number {
  const [ix, iy, iz] = size;
  const [px, py, pz] = padded;
  const total = n * px * py * pz * c;
  const ptr = rt.alloc(4 * total);
  const f = rt.f32;
  const base = ptr >> 2;
  if (px === ix && py === iy && pz === iz) {
    f.set(x.subarray(0, total), base);
    return ptr;
  }
  // Only the pad is zeroed: a full fill first would write every interior value twice, on the main thread
  // alone while the workers wait. Pad that is contiguous in memory (whole slabs and rows, and the end of one
  // row with the start of the next) is filled at once.
  const len = iz * c;
  const rowLen = pz * c;
  const lead = before[2] * c;
  let zeroFrom = base;
  let at = base;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < px; i++) {
      const xi = i - before[0];
      if (xi < 0 || xi >= ix) {
        at += py * rowLen;
        continue;
      }
      for (let j = 0; j < py; j++) {
        const yj = j - before[1];
        if (yj < 0 || yj >= iy) {
          at += rowLen;
          continue;
        }
        // Zero everything from the end of the last copied row to the start of this row's values.
        f.fill(0, zeroFrom, at + lead);
        const src = ((b * ix + xi) * iy + yj) * len;
        f.set(x.subarray(src, src + len), at + lead);
        zeroFrom = at + lead + len;
        at += rowLen;
      }
    }
  }
  f.fill(0, zeroFrom, base + total);
  return ptr;
}

/** Filters larger than this are run block-major (one 8-channel block of the filter reused across tiles). */
const BLOCK_MAJOR_FILTER_BYTES = 256 * 1024;
/** Below this many pixel tiles per phase, block-major order also gives the threads enough items. */
const BLOCK_MAJOR_TILES = 32;

type Vec4 = [number, number, number, number];

/**
 * Output pixels of one convolution that run the same taps (see TASK_CONV in `runtime.ts`): a region of the
 * output whose windows fall on the same padding, or one phase of a strided transposed convolution.
 */
interface ConvPart {
  /** Output pixels as (n, x, y, z) counts, addressed from `inBase` / `outBase` by the task's strides. */
  pixels: Vec4;
  inBase: number;
  outBase: number;
  /** (input, weight) byte-offset pairs of the taps the part runs. */
  taps: number[];
  /** Contiguous reduction length of one tap (floats). */
  k: number;
  /** Byte offset added to every output address. */
  outAdd: number;
  /** Byte pointer of the part's weights (block 0). */
  w: number;
}

/** One TASK_CONV: its parts and what they share. */
interface ConvTask {
  inStrides: Vec4;
  outStrides: Vec4;
  parts: ConvPart[];
  nCb: number;
  /** Bytes between the weights of two 8-channel blocks. */
  wCb: number;
  /** Bytes between two weight rows of a block. */
  wStride: number;
  /** Bytes of the whole filter, all blocks (decides the item order). */
  filterBytes: number;
}

/** Multiply-adds × 2 of a task's parts for 8·nCb output channels: the work that is not skipped padding. */
function taskFlops(t: ConvTask): number {
  let flops = 0;
  for (const part of t.parts) {
    const [n, x, y, z] = part.pixels;
    flops += 2 * n * x * y * z * (part.taps.length / 2) * part.k * 8 * t.nCb;
  }
  return flops;
}

/**
 * Writes the pixel tables, tap tables and part table of a TASK_CONV, chooses the item order and runs it:
 * block-major when the filter would not stay in cache across tiles or when the tiles alone are too few to
 * share among the threads (the deep, narrow-spatial layers), else tile-major (each tile's input read once for
 * every block).
 */
function runConvTask(rt: KernelRuntime, t: ConvTask): void {
  const counts = t.parts.map((part) => part.pixels[0] * part.pixels[1] * part.pixels[2] * part.pixels[3]);
  const tiles = counts.map((count) => Math.ceil(count / MAX_TILE));
  const allTiles = tiles.reduce((sum, n) => sum + n, 0);
  const blockMajor = t.nCb > 1 && (t.filterBytes > BLOCK_MAJOR_FILTER_BYTES || allTiles < BLOCK_MAJOR_TILES);
  const partTab = rt.alloc(32 * t.parts.length);
  const pixPtrs = new Map<Int32Array, number>();
  const entries: number[] = [];
  let items = 0;
  t.parts.forEach((part, i) => {
    const table = pixelTable(part.pixels, part.inBase, t.inStrides, part.outBase, t.outStrides);
    let pix = pixPtrs.get(table);
    if (pix === undefined) {
      pix = rt.alloc(4 * table.length);
      rt.i32.set(table, pix >> 2);
      pixPtrs.set(table, pix);
    }
    const tapTab = rt.alloc(4 * part.taps.length);
    rt.i32.set(part.taps, tapTab >> 2);
    entries.push(counts[i], pix, tapTab, part.taps.length / 2, part.k, part.outAdd, part.w, items);
    items += tiles[i] * (blockMajor ? t.nCb : 1);
  });
  rt.i32.set(entries, partTab >> 2);
  rt.i32.set([t.parts.length, partTab, t.nCb, t.wCb, t.wStride, blockMajor ? 1 : 0], 0);
  rt.run(TASK_CONV, 0, items, taskFlops(t));
}

/**
 * Pixel tables by their layout: a network calls the same convolutions with the same heap layout step after step
 * (every kernel starts from an empty heap and allocates in the same order), so the table of a call is usually
 * one made before. Bounded: cleared when the tables would take more than 64 MiB.
 */
const pixelTables = new Map<string, Int32Array>();
const PIXEL_TABLES_MAX_BYTES = 64 * 2 ** 20;
let pixelTableBytes = 0;

/** The (input, output) byte addresses of every output pixel of a part, in (n, x, y, z) order. */
function pixelTable(
  pixels: Vec4,
  inBase: number,
  inStrides: Vec4,
  outBase: number,
  outStrides: Vec4,
): Int32Array {
  const key = `${pixels}|${inBase}|${inStrides}|${outBase}|${outStrides}`;
  const cached = pixelTables.get(key);
  if (cached !== undefined) return cached;
  const [nn, nx, ny, nz] = pixels;
  const table = new Int32Array(2 * nn * nx * ny * nz);
  let q = 0;
  for (let b = 0; b < nn; b++) {
    for (let x = 0; x < nx; x++) {
      for (let y = 0; y < ny; y++) {
        let i = inBase + b * inStrides[0] + x * inStrides[1] + y * inStrides[2];
        let o = outBase + b * outStrides[0] + x * outStrides[1] + y * outStrides[2];
        for (let z = 0; z < nz; z++) {
          table[q++] = i;
          table[q++] = o;
          i += inStrides[3];
          o += outStrides[3];
        }
      }
    }
  }
  if (pixelTableBytes + table.byteLength > PIXEL_TABLES_MAX_BYTES) {
    pixelTables.clear();
    pixelTableBytes = 0;
  }
  if (table.byteLength <= PIXEL_TABLES_MAX_BYTES) {
    pixelTables.set(key, table);
    pixelTableBytes += table.byteLength;
  }
  return table;
}

/** A run of output positions along one axis whose windows put the same taps [k0, k1) inside the input. */
export interface AxisRun {
  o0: number;
  o1: number;
  k0: number;
  k1: number;
}

/**
 * The output positions along one axis grouped by which kernel taps fall inside the input rather than on
 * the padding: position o reads input o·stride − padBefore + k for tap k. An empty tap range (k1 ≤ k0) is a
 * window entirely in the padding.
 */
export function axisRuns(
  outSize: number,
  inSize: number,
  kernel: number,
  stride: number,
  padBefore: number,
): AxisRun[] {
  const runs: AxisRun[] = [];
  for (let o = 0; o < outSize; o++) {
    const first = o * stride - padBefore;
    const k0 = Math.min(kernel, Math.max(0, -first));
    const k1 = Math.max(k0, Math.min(kernel, inSize - first));
    const last = runs[runs.length - 1];
    if (last !== undefined && last.k0 === k0 && last.k1 === k1) last.o1 = o + 1;
    else runs.push({ o0: o, o1: o + 1, k0, k1 });
  }
  return runs;
}

/**
 * The output positions [o0, o1) along one axis whose window puts tap k inside the input, from that axis's runs:
 * one range, since o·stride − padBefore + k is inside for an interval of o ([0, 0) when none is).
 */
export function tapRange(runs: AxisRun[], k: number): [number, number] {
  const hit = runs.filter((r) => k >= r.k0 && k < r.k1);
  return hit.length > 0 ? [hit[0].o0, hit[hit.length - 1].o1] : [0, 0];
}

/** The `axisRuns` of a convolution's three axes. */
function geometryRuns(g: ConvGeometry): [AxisRun[], AxisRun[], AxisRun[]] {
  const runs = (a: number) => axisRuns(g.outSize[a], g.inSize[a], g.kernel[a], g.strides[a], g.padBefore[a]);
  return [runs(0), runs(1), runs(2)];
}

/**
 * Forward valid convolution of a padded x with W `[kx, ky, kz, C, Co]` (row-major). Returns y
 * `[N, OX, OY, OZ, Co]`, plus `bias` (length Co) per output channel when given.
 */
export function conv3dForward(
  rt: KernelRuntime,
  x: Float32Array,
  w: Float32Array,
  g: ConvGeometry,
  bias?: Float32Array,
): Float32Array {
  rt.reset();
  return forwardAfterReset(rt, x, w, g, bias);
}

/**
 * The forward convolution on a heap reset by the caller (which may have put operands there first). `w` is
 * the filter, or, when Co is a multiple of 8, a function writing it at the byte pointer it is given; `bias`
 * is added to the output channels while the result is copied out.
 */
function forwardAfterReset(
  rt: KernelRuntime,
  x: Float32Array,
  w: Float32Array | ((ptr: number) => void),
  g: ConvGeometry,
  bias?: Float32Array,
): Float32Array {
  const c = g.inChannels;
  const co = g.outChannels;
  const [kx, ky, kz] = g.kernel;
  const [ox, oy, oz] = g.outSize;
  const padded: Vec3 = [0, 1, 2].map((a) => g.inSize[a] + g.padBefore[a] + g.padAfter[a]) as Vec3;
  const [, py, pz] = padded;
  const xp = copyPadded(rt, x, g.batch, g.inSize, c, g.padBefore, padded);
  const rowsK = kx * ky * kz * c;
  const nCb = Math.ceil(co / 8);
  const co8 = nCb * 8;
  // With Co a multiple of 8 the microkernel reads the filter in place (row stride 4·Co); otherwise the filter
  // is packed into zero-padded blocks of 8 channels.
  const inPlace = co === co8;
  if (!inPlace && typeof w === 'function')
    throw new Error('conv3dForward: a written filter needs Co % 8 = 0');
  const wp = rt.alloc(4 * nCb * rowsK * 8);
  const out = rt.alloc(4 * g.batch * ox * oy * oz * co8);
  const f = rt.f32;
  if (typeof w === 'function') w(wp);
  else if (inPlace) f.set(w, wp >> 2);
  else {
    for (let cb = 0; cb < nCb; cb++) {
      const dst0 = (wp >> 2) + cb * rowsK * 8;
      const lanes = Math.min(8, co - cb * 8);
      f.fill(0, dst0, dst0 + rowsK * 8);
      for (let r = 0; r < rowsK; r++) {
        const src = r * co + cb * 8;
        const dst = dst0 + r * 8;
        for (let j = 0; j < lanes; j++) f[dst + j] = w[src + j];
      }
    }
  }
  const [sx, sy, sz] = g.strides;
  const wStride = inPlace ? 4 * co : 32;
  const inStrides: Vec4 = [padded[0] * py * pz * c * 4, sx * py * pz * c * 4, sy * pz * c * 4, sz * c * 4];
  const outStrides: Vec4 = [ox * oy * oz * co8 * 4, oy * oz * co8 * 4, oz * co8 * 4, co8 * 4];
  // One part per region of the output whose windows cover the same taps: the taps (and the kz rows of a tap)
  // that fall on the padding are left out, which at the 2³–8³ of a V-Net's deep levels is 20–70 % of the
  // multiply-adds, and leaves out only products with a zero factor.
  const [runsX, runsY, runsZ] = geometryRuns(g);
  const parts: ConvPart[] = [];
  let allPadding = false;
  for (const rx of runsX) {
    for (const ry of runsY) {
      for (const rz of runsZ) {
        if (rx.k1 === rx.k0 || ry.k1 === ry.k0 || rz.k1 === rz.k0) {
          allPadding = true;
          continue;
        }
        const taps: number[] = [];
        for (let a = rx.k0; a < rx.k1; a++) {
          for (let b = ry.k0; b < ry.k1; b++)
            taps.push(4 * ((a * py + b) * pz + rz.k0) * c, ((a * ky + b) * kz + rz.k0) * c * wStride);
        }
        parts.push({
          pixels: [g.batch, rx.o1 - rx.o0, ry.o1 - ry.o0, rz.o1 - rz.o0],
          inBase: xp + rx.o0 * inStrides[1] + ry.o0 * inStrides[2] + rz.o0 * inStrides[3],
          outBase: out + rx.o0 * outStrides[1] + ry.o0 * outStrides[2] + rz.o0 * outStrides[3],
          taps,
          k: (rz.k1 - rz.k0) * c,
          outAdd: 0,
          w: wp,
        });
      }
    }
  }
  // Outputs whose window lies wholly in the padding (only with explicit pads wider than the kernel) are 0.
  if (allPadding) f.fill(0, out >> 2, (out >> 2) + g.batch * ox * oy * oz * co8);
  runConvTask(rt, {
    inStrides,
    outStrides,
    parts,
    nCb,
    wCb: inPlace ? 32 : rowsK * 32,
    wStride,
    filterBytes: rowsK * nCb * 32,
  });
  return rt.compactOut(out, g.batch * ox * oy * oz, co, co8, bias);
}

/**
 * The filter of the stride-1 input gradient: taps in reverse order, each `[C][Co]` tap transposed to
 * `[Co][C]` (the JS twin of TASK_FLIP, for the channel counts the in-place kernel does not take).
 */
function flipFilter(w: Float32Array, taps: number, c: number, co: number): Float32Array {
  const flipped = new Float32Array(w.length);
  for (let t = 0; t < taps; t++) {
    const src = (taps - 1 - t) * c * co;
    const dst = t * co * c;
    for (let i = 0; i < c; i++) for (let o = 0; o < co; o++) flipped[dst + o * c + i] = w[src + i * co + o];
  }
  return flipped;
}

/** Which input-gradient algorithm applies, or null (the caller falls back to the stock kernel). */
export function backpropInputMethod(g: ConvGeometry): 'flip' | 'phases' | null {
  if (g.strides.every((s) => s === 1)) {
    for (let a = 0; a < 3; a++) {
      // dy padded by K−1−pad before and I−O+pad after must have I+K−1 values.
      if (g.kernel[a] - 1 - g.padBefore[a] < 0 || g.inSize[a] - g.outSize[a] + g.padBefore[a] < 0)
        return null;
    }
    return 'flip';
  }
  const nonOverlapping = [0, 1, 2].every(
    (a) => g.kernel[a] === g.strides[a] && g.padBefore[a] === 0 && g.outSize[a] * g.strides[a] <= g.inSize[a],
  );
  return nonOverlapping ? 'phases' : null;
}

/**
 * dx `[N, IX, IY, IZ, C]` from dy `[N, OX, OY, OZ, Co]` and W `[kx, ky, kz, C, Co]`, plus `bias` (length C) per
 * channel when given (the biased transposed convolution).
 */
export function conv3dBackpropInput(
  rt: KernelRuntime,
  dy: Float32Array,
  w: Float32Array,
  g: ConvGeometry,
  bias?: Float32Array,
): Float32Array {
  const method = backpropInputMethod(g);
  if (method === 'flip') {
    const c = g.inChannels;
    const co = g.outChannels;
    const taps = g.kernel[0] * g.kernel[1] * g.kernel[2];
    const before = [0, 1, 2].map((a) => g.kernel[a] - 1 - g.padBefore[a]) as Vec3;
    const after = [0, 1, 2].map((a) => g.inSize[a] - g.outSize[a] + g.padBefore[a]) as Vec3;
    const flippedGeometry: ConvGeometry = {
      batch: g.batch,
      inSize: g.outSize,
      inChannels: co,
      outSize: g.inSize,
      outChannels: c,
      kernel: g.kernel,
      strides: [1, 1, 1],
      padBefore: before,
      padAfter: after,
    };
    rt.reset();
    if (c % 8 !== 0) return forwardAfterReset(rt, dy, flipFilter(w, taps, c, co), flippedGeometry, bias);
    // The flip runs in wasm on the worker pool, from a copy of the filter into the flipped one in place.
    const src = rt.alloc(4 * w.length);
    rt.f32.set(w, src >> 2);
    return forwardAfterReset(
      rt,
      dy,
      (dst) => {
        rt.i32.set([src, dst, c, co, taps], 0);
        rt.run(TASK_FLIP, 0, taps, 16 * w.length);
      },
      flippedGeometry,
      bias,
    );
  }
  if (method !== 'phases') throw new Error('conv3dBackpropInput: unsupported geometry');
  rt.reset();
  const c = g.inChannels;
  const co = g.outChannels;
  const [ox, oy, oz] = g.outSize;
  const [ix, iy, iz] = g.inSize;
  const [sx, sy, sz] = g.strides;
  const nCb = Math.ceil(c / 8);
  const c8 = nCb * 8;
  const phases = sx * sy * sz;
  const dyPtr = rt.alloc(4 * dy.length);
  const wp = rt.alloc(4 * phases * nCb * co * 8);
  const out = rt.alloc(4 * g.batch * ix * iy * iz * c8);
  const f = rt.f32;
  f.set(dy, dyPtr >> 2);
  // Output voxels not reached by any window (I > O·s) keep a zero gradient.
  if (ox * sx < ix || oy * sy < iy || oz * sz < iz)
    f.fill(0, out >> 2, (out >> 2) + g.batch * ix * iy * iz * c8);
  const parts: ConvPart[] = [];
  for (let ph = 0; ph < phases; ph++) {
    const a = (ph / (sy * sz)) | 0;
    const b = ((ph / sz) | 0) % sy;
    const d = ph % sz;
    const wPhase = wp + ph * nCb * co * 32;
    for (let cb = 0; cb < nCb; cb++) {
      const lanes = Math.min(8, c - cb * 8);
      for (let o = 0; o < co; o++) {
        const dst = (wPhase >> 2) + (cb * co + o) * 8;
        for (let j = 0; j < 8; j++) f[dst + j] = j < lanes ? w[(ph * c + cb * 8 + j) * co + o] : 0;
      }
    }
    parts.push({
      pixels: [g.batch, ox, oy, oz],
      inBase: dyPtr,
      outBase: out,
      taps: [0, 0],
      k: co,
      outAdd: ((a * iy + b) * iz + d) * c8 * 4,
      w: wPhase,
    });
  }
  runConvTask(rt, {
    inStrides: [ox * oy * oz * co * 4, oy * oz * co * 4, oz * co * 4, co * 4],
    outStrides: [ix * iy * iz * c8 * 4, sx * iy * iz * c8 * 4, sy * iz * c8 * 4, sz * c8 * 4],
    parts,
    nCb,
    wCb: co * 32,
    wStride: 32,
    filterBytes: phases * nCb * co * 32,
  });
  return rt.compactOut(out, g.batch * ix * iy * iz, c, c8, bias);
}

/** dW `[kx, ky, kz, C, Co]` from x `[N, IX, IY, IZ, C]` and dy `[N, OX, OY, OZ, Co]`. */
export function conv3dBackpropFilter(
  rt: KernelRuntime,
  x: Float32Array,
  dy: Float32Array,
  g: ConvGeometry,
): Float32Array {
  rt.reset();
  const c = g.inChannels;
  const co = g.outChannels;
  const [kx, ky, kz] = g.kernel;
  const [ox, oy, oz] = g.outSize;
  const [sx, sy, sz] = g.strides;
  const padded: Vec3 = [0, 1, 2].map((a) => g.inSize[a] + g.padBefore[a] + g.padAfter[a]) as Vec3;
  const [px, py, pz] = padded;
  const xp = copyPadded(rt, x, g.batch, g.inSize, c, g.padBefore, padded);
  const dyPtr = rt.alloc(4 * dy.length);
  const taps = kx * ky;
  const m = kz * c;
  const nCb = Math.ceil(co / 8);
  const co8 = nCb * 8;
  const tapTab = rt.alloc(4 * taps);
  const acc = rt.alloc(4 * taps * m * co8);
  // The rows (n, x, y) of dy whose input row is not padding, per tap (a, b), and the z range of dy whose
  // input z is not padding, per kz: the padding is skipped (it only adds products with a zero factor).
  const [runsX, runsY, runsZ] = geometryRuns(g);
  const zRanges: number[] = [];
  let useful = 0;
  for (let d = 0; d < kz; d++) {
    const [z0, z1] = tapRange(runsZ, d);
    zRanges.push(z0, z1);
    useful += z1 - z0;
  }
  const rowTabs: number[][] = [];
  for (let a = 0; a < kx; a++) {
    const [i0, i1] = tapRange(runsX, a);
    for (let b = 0; b < ky; b++) {
      const [j0, j1] = tapRange(runsY, b);
      const rows: number[] = [];
      for (let n = 0; n < g.batch; n++) {
        for (let i = i0; i < i1; i++) {
          for (let j = j0; j < j1; j++) {
            const r = (n * ox + i) * oy + j;
            rows.push(4 * ((n * px + i * sx) * py + j * sy) * pz * c, 4 * r * oz * co);
          }
        }
      }
      rowTabs.push(rows);
    }
  }
  const tapRows = rt.alloc(8 * taps);
  const zTab = rt.alloc(8 * kz);
  const rowPtrs = rowTabs.map((rows) => rt.alloc(4 * Math.max(1, rows.length)));
  const f = rt.f32;
  const i32 = rt.i32;
  f.set(dy, dyPtr >> 2);
  f.fill(0, acc >> 2, (acc >> 2) + taps * m * co8);
  for (let a = 0; a < kx; a++)
    for (let b = 0; b < ky; b++) i32[(tapTab >> 2) + a * ky + b] = 4 * (a * py + b) * pz * c;
  let rowsUsed = 0;
  rowTabs.forEach((rows, t) => {
    i32.set(rows, rowPtrs[t] >> 2);
    i32[(tapRows >> 2) + 2 * t] = rowPtrs[t];
    i32[(tapRows >> 2) + 2 * t + 1] = rows.length / 2;
    rowsUsed += rows.length / 2;
  });
  i32.set(zRanges, zTab >> 2);
  // Groups of reduction rows (multiples of the 6-row tile) give each thread ~8 items; a chunk of rows of about
  // 512 pixels keeps the x and dy rows it reads in L1/L2 while every group of the thread passes over them.
  const target = 16;
  const groupsPerTap = Math.max(1, Math.min(Math.ceil(m / 6), Math.ceil(target / taps)));
  const perGroup = Math.ceil(m / groupsPerTap / 6) * 6;
  const groups = Math.ceil(m / perGroup);
  const perChunk = Math.max(1, Math.floor(512 / oz));
  rt.i32.set(
    [
      tapRows,
      zTab,
      c,
      xp,
      dyPtr,
      acc,
      sz * c * 4,
      co * 4,
      co8 * 4,
      tapTab,
      taps,
      m,
      nCb,
      perGroup,
      groups,
      perChunk,
    ],
    0,
  );
  rt.run(TASK_DW, 0, taps * groups, 2 * rowsUsed * (useful / kz) * c * co);
  return rt.compactOut(acc, taps * m, co, co8);
}

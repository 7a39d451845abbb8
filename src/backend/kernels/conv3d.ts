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

/** One TASK_CONV (see `runItems`): the output pixels of a phase, addressed by (n, x, y, z) byte strides. */
interface ConvTask {
  /** Output pixels of one phase as (n, x, y, z) counts. */
  pixels: Vec4;
  inBase: number;
  inStrides: Vec4;
  outBase: number;
  outStrides: Vec4;
  tapTab: number;
  taps: number;
  k: number;
  nCb: number;
  /** Bytes between the weights of two 8-channel blocks. */
  wCb: number;
  /** (out offset, weight pointer) pairs, one per phase. */
  phaseTab: number;
  phases: number;
  /** Bytes between two weight rows of a block. */
  wStride: number;
}

/**
 * Writes the pixel table and the TASK_CONV parameter block, chooses the item order and runs it: block-major
 * when the filter would not stay in cache across tiles or when the tiles alone are too few to share among
 * the threads (the deep, narrow-spatial layers), else tile-major (each tile's input read once for every block).
 */
function runConvTask(rt: KernelRuntime, t: ConvTask, g: ConvGeometry): void {
  const [nn, nx, ny, nz] = t.pixels;
  const pixels = nn * nx * ny * nz;
  const pix = rt.alloc(8 * pixels);
  rt.i32.set(pixelTable(t), pix >> 2);
  const tiles = Math.ceil(pixels / MAX_TILE);
  const filterBytes = t.taps * t.k * t.nCb * 32;
  const blockMajor = t.nCb > 1 && (filterBytes > BLOCK_MAJOR_FILTER_BYTES || tiles < BLOCK_MAJOR_TILES);
  rt.i32.set(
    [pixels, pix, t.tapTab, t.taps, t.k, t.nCb, t.wCb, t.phaseTab, t.phases, t.wStride, blockMajor ? 1 : 0],
    0,
  );
  rt.run(TASK_CONV, 0, t.phases * tiles * (blockMajor ? t.nCb : 1), convFlops(g));
}

/**
 * Pixel tables by their layout: a network calls the same convolutions with the same heap layout step after step
 * (every kernel starts from an empty heap and allocates in the same order), so the table of a call is usually
 * one made before. Bounded: cleared when the tables would take more than 64 MiB.
 */
const pixelTables = new Map<string, Int32Array>();
const PIXEL_TABLES_MAX_BYTES = 64 * 2 ** 20;
let pixelTableBytes = 0;

/** The (input, output) byte addresses of every output pixel of a task, in (n, x, y, z) order. */
function pixelTable(t: ConvTask): Int32Array {
  const key = `${t.pixels}|${t.inBase}|${t.inStrides}|${t.outBase}|${t.outStrides}`;
  const cached = pixelTables.get(key);
  if (cached !== undefined) return cached;
  const [nn, nx, ny, nz] = t.pixels;
  const table = new Int32Array(2 * nn * nx * ny * nz);
  let q = 0;
  for (let b = 0; b < nn; b++) {
    for (let x = 0; x < nx; x++) {
      for (let y = 0; y < ny; y++) {
        let i = t.inBase + b * t.inStrides[0] + x * t.inStrides[1] + y * t.inStrides[2];
        let o = t.outBase + b * t.outStrides[0] + x * t.outStrides[1] + y * t.outStrides[2];
        for (let z = 0; z < nz; z++) {
          table[q++] = i;
          table[q++] = o;
          i += t.inStrides[3];
          o += t.outStrides[3];
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
  const taps = kx * ky;
  const k = kz * c;
  const nCb = Math.ceil(co / 8);
  const co8 = nCb * 8;
  const tapTab = rt.alloc(4 * taps);
  const rowsK = taps * k;
  // With Co a multiple of 8 the microkernel reads the filter in place (row stride 4·Co); otherwise the filter
  // is packed into zero-padded blocks of 8 channels.
  const inPlace = co === co8;
  if (!inPlace && typeof w === 'function')
    throw new Error('conv3dForward: a written filter needs Co % 8 = 0');
  const wp = rt.alloc(4 * nCb * rowsK * 8);
  const out = rt.alloc(4 * g.batch * ox * oy * oz * co8);
  const phase = rt.alloc(8);
  const i32 = rt.i32;
  const f = rt.f32;
  for (let a = 0; a < kx; a++)
    for (let b = 0; b < ky; b++) i32[(tapTab >> 2) + a * ky + b] = 4 * (a * py + b) * pz * c;
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
  i32[phase >> 2] = 0;
  i32[(phase >> 2) + 1] = wp;
  const [sx, sy, sz] = g.strides;
  const pxyz = padded[0] * py * pz * c * 4;
  runConvTask(
    rt,
    {
      pixels: [g.batch, ox, oy, oz],
      inBase: xp,
      inStrides: [pxyz, sx * py * pz * c * 4, sy * pz * c * 4, sz * c * 4],
      outBase: out,
      outStrides: [ox * oy * oz * co8 * 4, oy * oz * co8 * 4, oz * co8 * 4, co8 * 4],
      tapTab,
      taps,
      k,
      nCb,
      wCb: inPlace ? 32 : rowsK * 32,
      phaseTab: phase,
      phases: 1,
      wStride: inPlace ? 4 * co : 32,
    },
    g,
  );
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
  const tapTab = rt.alloc(4);
  const wp = rt.alloc(4 * phases * nCb * co * 8);
  const out = rt.alloc(4 * g.batch * ix * iy * iz * c8);
  const phaseTab = rt.alloc(8 * phases);
  const f = rt.f32;
  const i32 = rt.i32;
  f.set(dy, dyPtr >> 2);
  i32[tapTab >> 2] = 0;
  // Output voxels not reached by any window (I > O·s) keep a zero gradient.
  if (ox * sx < ix || oy * sy < iy || oz * sz < iz)
    f.fill(0, out >> 2, (out >> 2) + g.batch * ix * iy * iz * c8);
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
    i32[(phaseTab >> 2) + 2 * ph] = ((a * iy + b) * iz + d) * c8 * 4;
    i32[(phaseTab >> 2) + 2 * ph + 1] = wPhase;
  }
  runConvTask(
    rt,
    {
      pixels: [g.batch, ox, oy, oz],
      inBase: dyPtr,
      inStrides: [ox * oy * oz * co * 4, oy * oz * co * 4, oz * co * 4, co * 4],
      outBase: out,
      outStrides: [ix * iy * iz * c8 * 4, sx * iy * iz * c8 * 4, sy * iz * c8 * 4, sz * c8 * 4],
      tapTab,
      taps: 1,
      k: co,
      nCb,
      wCb: co * 32,
      phaseTab,
      phases,
      wStride: 32,
    },
    g,
  );
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
  const rows = g.batch * ox * oy;
  const tapTab = rt.alloc(4 * taps);
  const rowTab = rt.alloc(8 * rows);
  const acc = rt.alloc(4 * taps * m * co8);
  const f = rt.f32;
  const i32 = rt.i32;
  f.set(dy, dyPtr >> 2);
  f.fill(0, acc >> 2, (acc >> 2) + taps * m * co8);
  for (let a = 0; a < kx; a++)
    for (let b = 0; b < ky; b++) i32[(tapTab >> 2) + a * ky + b] = 4 * (a * py + b) * pz * c;
  for (let b = 0; b < g.batch; b++) {
    for (let i = 0; i < ox; i++) {
      for (let j = 0; j < oy; j++) {
        const r = (b * ox + i) * oy + j;
        i32[(rowTab >> 2) + 2 * r] = 4 * ((b * px + i * sx) * py + j * sy) * pz * c;
        i32[(rowTab >> 2) + 2 * r + 1] = 4 * r * oz * co;
      }
    }
  }
  // Groups of reduction rows (multiples of the 6-row tile) give each thread ~8 items; a chunk of rows of about
  // 512 pixels keeps the x and dy rows it reads in L1/L2 while every group of the thread passes over them.
  const target = 16;
  const groupsPerTap = Math.max(1, Math.min(Math.ceil(m / 6), Math.ceil(target / taps)));
  const perGroup = Math.ceil(m / groupsPerTap / 6) * 6;
  const groups = Math.ceil(m / perGroup);
  const perChunk = Math.max(1, Math.floor(512 / oz));
  rt.i32.set(
    [
      rows,
      rowTab,
      oz,
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
  rt.run(TASK_DW, 0, taps * groups, convFlops(g));
  return rt.compactOut(acc, taps * m, co, co8);
}

/**
 * Broadcasting binary ops (Add, Sub, Multiply, RealDiv), the Sum/Mean reductions, Relu/Step (the ReLU
 * gradient) and Exp (softmax cross-entropy) for float32 tensors.
 *
 * The stock cpu kernels compute a multi-index per element for any broadcast (the batch-norm and bias ops of a
 * channels-last network broadcast `[C]` over `[N, X, Y, Z, C]` on every call), and Sum/Mean transpose the
 * input whenever the reduced axes are not the innermost ones (every `tf.moments` over `[0, 1, 2, 3]` and every
 * bias gradient). Here adjacent axes that broadcast alike are merged first, so `[N,X,Y,Z,C] + [C]` becomes a
 * `[N·X·Y·Z, C]` loop and `[N,X,Y,Z,C] · [N,1,1,1,C]` a `[N, X·Y·Z, C]` loop, and a reduction over leading
 * axes is a column sum. Sums accumulate in doubles like the stock kernels. Other dtypes fall back.
 */
import type { tf } from '../tf.js';
import { takeFloat32 } from './array-pool.js';
import { asCpuBackend, float32Values } from './cpu-backend.js';
import { activeRuntime, type KernelRuntime } from './runtime.js';
import { type BinaryMode, type BinaryOpName, binaryKernelName } from './wasm/microkernels.js';

type BinaryOp = BinaryOpName;

/** Result shape of numpy broadcasting, or null when the shapes do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * Out shape and per-axis element strides of a and b (0 where broadcast), with adjacent axes merged when both
 * operands step through them contiguously (or both repeat over them), and size-1 axes dropped.
 */
function mergedLayout(
  out: readonly number[],
  a: readonly number[],
  b: readonly number[],
): { dims: number[]; sa: number[]; sb: number[] } {
  const rank = out.length;
  const strides = (shape: readonly number[]): number[] => {
    const s = new Array<number>(rank).fill(0);
    let acc = 1;
    for (let i = rank - 1; i >= 0; i--) {
      const d = shape[shape.length - rank + i] ?? 1;
      s[i] = d === 1 ? 0 : acc;
      acc *= d;
    }
    return s;
  };
  const fa = strides(a);
  const fb = strides(b);
  const dims: number[] = [];
  const sa: number[] = [];
  const sb: number[] = [];
  for (let i = 0; i < rank; i++) {
    if (out[i] === 1) continue;
    const k = dims.length - 1;
    // Axis i joins the previous (outer) merged axis when, for each operand, stepping the outer axis is the
    // same as stepping i through its whole extent (contiguous) or both strides are 0 (repeated).
    const joins =
      k >= 0 &&
      ((sa[k] === 0 && fa[i] === 0) || (sa[k] !== 0 && fa[i] !== 0 && sa[k] === fa[i] * out[i])) &&
      ((sb[k] === 0 && fb[i] === 0) || (sb[k] !== 0 && fb[i] !== 0 && sb[k] === fb[i] * out[i]));
    if (joins) {
      dims[k] *= out[i];
      sa[k] = fa[i];
      sb[k] = fb[i];
    } else {
      dims.push(out[i]);
      sa.push(fa[i]);
      sb.push(fb[i]);
    }
  }
  if (dims.length === 0) return { dims: [1], sa: [0], sb: [0] };
  return { dims, sa, sb };
}

function innerLoop(
  op: BinaryOp,
  o: Float32Array,
  oi: number,
  a: Float32Array,
  ai: number,
  sa: number,
  b: Float32Array,
  bi: number,
  sb: number,
  n: number,
): void {
  // One loop per op and stride pattern keeps each loop monomorphic for V8. A scalar operand (stride 0, as in
  // every optimizer update `lr · grad`) is read once.
  if (sa === 0 && sb === 1) {
    const v = a[ai];
    if (op === 'add') for (let i = 0; i < n; i++) o[oi + i] = v + b[bi + i];
    else if (op === 'sub') for (let i = 0; i < n; i++) o[oi + i] = v - b[bi + i];
    else if (op === 'mul') for (let i = 0; i < n; i++) o[oi + i] = v * b[bi + i];
    else for (let i = 0; i < n; i++) o[oi + i] = v / b[bi + i];
    return;
  }
  if (sa === 1 && sb === 0) {
    const v = b[bi];
    if (op === 'add') for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] + v;
    else if (op === 'sub') for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] - v;
    else if (op === 'mul') for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] * v;
    else for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] / v;
    return;
  }
  if (op === 'add') {
    if (sa === 1 && sb === 1) for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] + b[bi + i];
    else for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] + b[bi + i * sb];
  } else if (op === 'sub') {
    if (sa === 1 && sb === 1) for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] - b[bi + i];
    else for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] - b[bi + i * sb];
  } else if (op === 'mul') {
    if (sa === 1 && sb === 1) for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] * b[bi + i];
    else for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] * b[bi + i * sb];
  } else if (sa === 1 && sb === 1) for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] / b[bi + i];
  else for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] / b[bi + i * sb];
}

/** Innermost merged rows shorter than this are run two axes at a time by `innerLoop2`. */
const SHORT_ROW = 256;

/**
 * The two innermost merged axes in one call: n2 rows of n1 elements, operands stepping sa2/sb2 between rows and
 * sa1/sb1 within one. For the short rows of a channels-last broadcast (`[N·V, C] + [C]` with C = 8..64, or a
 * dropout mask `[N, V, C] · [N, 1, C]`) a call per row would cost more than its few elements.
 */
function innerLoop2(
  op: BinaryOp,
  o: Float32Array,
  oi: number,
  a: Float32Array,
  ai: number,
  sa2: number,
  sa1: number,
  b: Float32Array,
  bi: number,
  sb2: number,
  sb1: number,
  n2: number,
  n1: number,
): void {
  let k = oi;
  if (op === 'add') {
    for (let i = 0; i < n2; i++) {
      let pa = ai + i * sa2;
      let pb = bi + i * sb2;
      for (let j = 0; j < n1; j++, pa += sa1, pb += sb1) o[k++] = a[pa] + b[pb];
    }
  } else if (op === 'sub') {
    for (let i = 0; i < n2; i++) {
      let pa = ai + i * sa2;
      let pb = bi + i * sb2;
      for (let j = 0; j < n1; j++, pa += sa1, pb += sb1) o[k++] = a[pa] - b[pb];
    }
  } else if (op === 'mul') {
    for (let i = 0; i < n2; i++) {
      let pa = ai + i * sa2;
      let pb = bi + i * sb2;
      for (let j = 0; j < n1; j++, pa += sa1, pb += sb1) o[k++] = a[pa] * b[pb];
    }
  } else {
    for (let i = 0; i < n2; i++) {
      let pa = ai + i * sa2;
      let pb = bi + i * sb2;
      for (let j = 0; j < n1; j++, pa += sa1, pb += sb1) o[k++] = a[pa] / b[pb];
    }
  }
}

/**
 * Calls `block(ai, bi, oi)` once per index of the outer axes `dims[0..m)` (an odometer), with the operand
 * offsets of that index and the output offset `index · blockSize`.
 */
function forOuter(
  dims: readonly number[],
  sa: readonly number[],
  sb: readonly number[],
  m: number,
  blockSize: number,
  block: (ai: number, bi: number, oi: number) => void,
): void {
  const blocks = dims.slice(0, m).reduce((p, d) => p * d, 1);
  const idx = new Array<number>(m).fill(0);
  let ai = 0;
  let bi = 0;
  for (let blk = 0; blk < blocks; blk++) {
    block(ai, bi, blk * blockSize);
    for (let k = m - 1; k >= 0; k--) {
      idx[k]++;
      ai += sa[k];
      bi += sb[k];
      if (idx[k] < dims[k]) break;
      ai -= sa[k] * dims[k];
      bi -= sb[k] * dims[k];
      idx[k] = 0;
    }
  }
}

/** From this many output floats a binary op runs in WebAssembly: below, its copies and call cost more. */
const WASM_ELEMENTWISE_FLOATS = 16384;

/**
 * Where the rows of a binary op lie: `blocks` blocks of `rows` rows of n1 floats, out dense; a's blocks `aBlock` and
 * rows `aRow` elements apart, b's `bBlock` and `bRow`.
 */
interface RowsLayout {
  blocks: number;
  aBlock: number;
  bBlock: number;
  rows: number;
  aRow: number;
  bRow: number;
  n1: number;
}

/**
 * `out` = a op b on the kernel runtime's main-thread instance (`<op>_<mode>` of the module, one call per block):
 * the same f32 results as the loops, about three times faster with the copies in and out. False when the
 * operands do not fit the wasm memory.
 */
function binaryWasm(
  rt: KernelRuntime,
  op: BinaryOp,
  mode: BinaryMode,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  l: RowsLayout,
): boolean {
  const heap = rt.blocks(4 * a.length, 4 * b.length, 4 * out.length);
  if (heap === null) return false;
  const [pa, pb, po] = heap;
  const f32 = rt.f32;
  f32.set(a, pa >> 2);
  f32.set(b, pb >> 2);
  const kernel = rt.kernel(binaryKernelName(op, mode));
  const block = 4 * l.rows * l.n1;
  for (let i = 0; i < l.blocks; i++) {
    kernel(
      pa + 4 * i * l.aBlock,
      pb + 4 * i * l.bBlock,
      po + i * block,
      l.rows,
      l.n1,
      4 * l.aRow,
      4 * l.bRow,
    );
  }
  out.set(f32.subarray(po >> 2, (po >> 2) + out.length));
  return true;
}

/** a op b with numpy broadcasting; `outShape` from `broadcastShape`. */
export function binaryBroadcast(
  op: BinaryOp,
  a: Float32Array,
  aShape: readonly number[],
  b: Float32Array,
  bShape: readonly number[],
  outShape: readonly number[],
): Float32Array {
  const size = outShape.reduce((p, d) => p * d, 1);
  // Every element is written below, so a reused array needs no clearing.
  const out = takeFloat32(size);
  if (size === 0) return out;
  const { dims, sa, sb } = mergedLayout(outShape, aShape, bShape);
  const r = dims.length;
  const n1 = dims[r - 1];
  const rt = activeRuntime();
  if (size >= WASM_ELEMENTWISE_FLOATS && r <= 3 && rt !== null) {
    // Up to three merged axes: blocks of rows of n1, both operands contiguous along a row or one of them constant
    // on it (a per-sample, per-class or per-channel factor broadcast over the voxels).
    const mode =
      sa[r - 1] === 1 && sb[r - 1] === 1
        ? 'rows'
        : sa[r - 1] === 1 && sb[r - 1] === 0
          ? 'bPerRow'
          : sa[r - 1] === 0 && sb[r - 1] === 1
            ? 'aPerRow'
            : null;
    const at = (v: number[], axis: number, none: number) => (axis >= 0 && axis < r - 1 ? v[axis] : none);
    const layout = {
      blocks: r === 3 ? dims[0] : 1,
      aBlock: r === 3 ? sa[0] : 0,
      bBlock: r === 3 ? sb[0] : 0,
      rows: at(dims, r - 2, 1),
      aRow: at(sa, r - 2, 0),
      bRow: at(sb, r - 2, 0),
      n1,
    };
    if (mode !== null && binaryWasm(rt, op, mode, a, b, out, layout)) return out;
  }
  if (r >= 2 && n1 < SHORT_ROW) {
    const n2 = dims[r - 2];
    const [sa2, sa1, sb2, sb1] = [sa[r - 2], sa[r - 1], sb[r - 2], sb[r - 1]];
    forOuter(dims, sa, sb, r - 2, n2 * n1, (ai, bi, oi) =>
      innerLoop2(op, out, oi, a, ai, sa2, sa1, b, bi, sb2, sb1, n2, n1),
    );
  } else {
    forOuter(dims, sa, sb, r - 1, n1, (ai, bi, oi) =>
      innerLoop(op, out, oi, a, ai, sa[r - 1], b, bi, sb[r - 1], n1),
    );
  }
  return out;
}

/** From this many floats a sum runs in WebAssembly: below, the copy-in costs more. */
const WASM_SUM_FLOATS = 4096;

/**
 * `reduceSum` of x seen as `[outer, reduced, inner]` on the kernel runtime's main-thread instance: column sums
 * (`colSum`) of each outer block when inner > 1, row sums (`rowSum`) when inner = 1; each sum in f64 over the
 * reduced index in order, the bits of the JavaScript loops, several times faster. Null when x does not fit the
 * wasm memory.
 */
function sumsWasm(
  rt: KernelRuntime,
  x: Float32Array,
  outer: number,
  reduced: number,
  inner: number,
): Float64Array | null {
  const heap = rt.blocks(4 * x.length, 8 * outer * inner);
  if (heap === null) return null;
  const [src, acc] = heap;
  rt.f32.set(x, src >> 2);
  if (inner === 1) {
    rt.kernel('rowSum')(src, acc, outer, reduced);
  } else {
    rt.f32.fill(0, acc >> 2, (acc >> 2) + 2 * outer * inner);
    const colSum = rt.kernel('colSum');
    for (let o = 0; o < outer; o++)
      colSum(src + 4 * o * reduced * inner, acc + 8 * o * inner, reduced, 4 * inner);
  }
  return new Float64Array(rt.memory.buffer, acc, outer * inner).slice();
}

/**
 * Sums of x over `axes`, or null when the axes are not one contiguous run (the caller falls back). The input
 * is seen as [outer, reduced, inner]: a leading run is a column sum (outer = 1), a trailing run a row sum
 * (inner = 1), a middle run (the voxel axis of `[N, V, K]`) both; each sum runs over the reduced index in
 * order, as the stock kernel's transpose-then-row-sum does.
 */
export function reduceSum(
  x: Float32Array,
  shape: readonly number[],
  axes: readonly number[],
): Float64Array | null {
  const sorted = [...new Set(axes)].sort((p, q) => p - q);
  const k = sorted.length;
  const first = sorted[0];
  const contiguous = sorted.every((v, i) => v === first + i);
  if (!contiguous || x.length === 0) return null;
  const reduced = sorted.reduce((p, ax) => p * shape[ax], 1);
  const inner = shape.slice(first + k).reduce((p, d) => p * d, 1);
  const outer = x.length / (reduced * inner);
  const rt = activeRuntime();
  if (x.length >= WASM_SUM_FLOATS && rt !== null) {
    const sums = sumsWasm(rt, x, outer, reduced, inner);
    if (sums !== null) return sums;
  }
  const out = new Float64Array(outer * inner);
  if (inner === 1) {
    for (let j = 0; j < outer; j++) {
      let s = 0;
      const base = j * reduced;
      for (let i = 0; i < reduced; i++) s += x[base + i];
      out[j] = s;
    }
  } else {
    for (let o = 0; o < outer; o++) {
      const at = o * inner;
      for (let i = 0; i < reduced; i++) {
        const base = (o * reduced + i) * inner;
        for (let j = 0; j < inner; j++) out[at + j] += x[base + j];
      }
    }
  }
  return out;
}

function normalizeAxes(axis: unknown, rank: number): number[] | null {
  const list =
    axis === undefined || axis === null ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis];
  const out: number[] = [];
  for (const a of list) {
    if (typeof a !== 'number' || !Number.isInteger(a) || a < -rank || a >= rank) return null;
    out.push(a < 0 ? a + rank : a);
  }
  return out;
}

/** Replacement kernel functions; each falls back to `original(name)` outside its fast cases. */
export function makeElementwiseKernels(
  original: (name: string) => tf.KernelFunc,
): Record<string, tf.KernelFunc> {
  const binary =
    (name: string, op: BinaryOp): tf.KernelFunc =>
    (args) => {
      const backend = asCpuBackend(args.backend);
      const { a, b } = args.inputs;
      if (backend === null || a === undefined || b === undefined) return original(name)(args);
      const av = float32Values(backend, a);
      const bv = float32Values(backend, b);
      const outShape = broadcastShape(a.shape, b.shape);
      if (av === null || bv === null || outShape === null) return original(name)(args);
      return backend.makeTensorInfo(
        outShape,
        'float32',
        binaryBroadcast(op, av, a.shape, bv, b.shape, outShape),
      );
    };
  const reduction =
    (name: 'Sum' | 'Mean'): tf.KernelFunc =>
    (args) => {
      const backend = asCpuBackend(args.backend);
      const { x } = args.inputs;
      if (backend === null || x === undefined) return original(name)(args);
      const xv = float32Values(backend, x);
      const { axis, keepDims } = (args.attrs ?? {}) as { axis?: unknown; keepDims?: boolean };
      const axes = normalizeAxes(axis, x.shape.length);
      if (xv === null || axes === null || axes.length === 0) return original(name)(args);
      const sums = reduceSum(xv, x.shape, axes);
      if (sums === null) return original(name)(args);
      const count = axes.reduce((p, ax) => p * x.shape[ax], 1);
      const out = new Float32Array(sums.length);
      if (name === 'Sum') for (let i = 0; i < out.length; i++) out[i] = sums[i];
      else for (let i = 0; i < out.length; i++) out[i] = sums[i] / count;
      const shape = keepDims
        ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
        : x.shape.filter((_, i) => !axes.includes(i));
      return backend.makeTensorInfo(shape, 'float32', out);
    };
  /**
   * An element-wise kernel of one float32 input `x`: `fill(x, out, attrs)` writes every element of `out` (taken
   * from the array pool, so it must not rely on zeros) with the loop of that op.
   */
  const unary =
    (
      name: string,
      fill: (x: Float32Array, out: Float32Array, attrs: Record<string, unknown>) => void,
    ): tf.KernelFunc =>
    (args) => {
      const backend = asCpuBackend(args.backend);
      const xv = backend === null ? null : float32Values(backend, args.inputs.x);
      if (backend === null || xv === null) return original(name)(args);
      const out = takeFloat32(xv.length);
      fill(xv, out, (args.attrs ?? {}) as Record<string, unknown>);
      return backend.makeTensorInfo(args.inputs.x?.shape ?? [], 'float32', out);
    };
  // Math.max(0, v) semantics: NaN stays NaN.
  const relu = unary('Relu', (x, out) => {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      out[i] = v > 0 || Number.isNaN(v) ? v : 0;
    }
  });
  const step = unary('Step', (x, out, attrs) => {
    const alpha = typeof attrs.alpha === 'number' ? attrs.alpha : 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      out[i] = v > 0 ? 1 : Number.isNaN(v) ? v : alpha;
    }
  });
  // The stock kernel's Math.exp per element, without its per-element callback.
  const exp = unary('Exp', (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = Math.exp(x[i]);
  });
  return {
    Exp: exp,
    Relu: relu,
    Step: step,
    Add: binary('Add', 'add'),
    Sub: binary('Sub', 'sub'),
    Multiply: binary('Multiply', 'mul'),
    RealDiv: binary('RealDiv', 'div'),
    Sum: reduction('Sum'),
    Mean: reduction('Mean'),
  };
}

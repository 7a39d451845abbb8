/**
 * The two SIMD microkernels every fast 3-D convolution kernel is made of (see `../conv3d.ts` for how the
 * convolutions map onto them), the per-channel passes of the fused batch norm (`channelKernel` below) and the
 * multiply-add throughput probe (`peak`). All pointers and strides are in bytes; a "block" is 8 output
 * channels held as two f32x4 accumulators per row of the register tile. x64 has 16 vector registers (V8 keeps
 * one as scratch), so a tile of R ≤ 6 rows (2R accumulators, 2 weight vectors, 1 broadcast) stays in registers.
 * Every multiply-add is either exact (a multiply then an add, the same numbers everywhere) or a relaxed-SIMD
 * `f32x4.relaxed_madd` (one instruction, fused on hardware with FMA), chosen when the module is built.
 *
 * - `fwd<R>(w, taps, nTaps, K, wStride, nCb, wCb, pix, tiles, outAdd)`: `tiles` tiles of R output pixels ×
 *   nCb blocks. `pix` is an i32 table of (in, out) byte-address pairs, one per pixel, R per tile, so a tile
 *   can span rows and images when the spatial size is small; for pixel (in, out) of a tile,
 *   (out + outAdd)[8·cb + 0..8) = Σ_t Σ_k in[taps[t].in + 4k] · w[cb·wCb + taps[t].w + k·wStride][0..8).
 *   `taps` is an i32 table of (input, weight) byte-offset pairs, so a tap list can leave out the taps of a
 *   filter that fall on padding; the 8 weights of one (t, k) are contiguous and rows are `wStride` bytes
 *   apart (32 for packed weights, 4·Co when reading a `[t][k][Co]` filter in place, where the block stride
 *   `wCb` is 32). Overwrites the outputs.
 * - `dw<R>(x, dy, acc, rows, nRows, Z, xStride, dyStride, accStride, nCb)`: R consecutive reduction rows ×
 *   nCb blocks of a filter gradient, acc[r][8·cb + 0..8) += Σ_rows Σ_z x[row.x + z·xStride + 4r] ·
 *   dy[row.dy + z·dyStride + 32·cb][0..8). `rows` is an i32 table of (x, dy) byte-offset pairs. Adds into
 *   `acc`.
 */
import { emitModule, F32, F64, FunctionBuilder, I32, V128, type ValType } from './emit.js';

export const MAX_TILE = 6;

function fwdKernel(R: number, relaxed: boolean): FunctionBuilder {
  // params: 0 w, 1 taps, 2 nTaps, 3 K, 4 wStride, 5 nCb, 6 wCb, 7 pixel table, 8 tiles, 9 out offset
  const f = new FunctionBuilder(`fwd${R}`, [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [W, TAPS, NTAPS, K, WS, NCB, WCB, PIX, NTILES, OUTADD] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const acc = Array.from({ length: R }, () => [f.local(V128), f.local(V128)]);
  const w0 = f.local(V128);
  const w1 = f.local(V128);
  const s = f.local(V128);
  const p = Array.from({ length: R }, () => f.local(I32));
  const k = f.local(I32);
  const t = f.local(I32);
  const tp = f.local(I32);
  const wp = f.local(I32);
  const wcb = f.local(I32);
  const oc = f.local(I32);
  const cb = f.local(I32);
  const tap = f.local(I32);
  const o = f.local(I32);
  f.loop(); // tiles
  f.get(W).set(wcb);
  f.get(OUTADD).set(oc);
  f.get(NCB).set(cb);
  f.loop(); // channel blocks
  for (let r = 0; r < R; r++) {
    f.v128Zero().set(acc[r][0]);
    f.v128Zero().set(acc[r][1]);
  }
  f.get(TAPS).set(tp);
  f.get(NTAPS).set(t);
  f.loop(); // taps
  f.get(tp).i32Load().set(tap);
  f.get(wcb).get(tp).i32Load(4).add().set(wp);
  for (let r = 0; r < R; r++)
    f.get(PIX)
      .i32Load(8 * r)
      .get(tap)
      .add()
      .set(p[r]);
  f.get(K).set(k);
  f.loop(); // k
  f.get(wp).v128Load(0).set(w0);
  f.get(wp).v128Load(16).set(w1);
  for (let r = 0; r < R; r++) {
    f.get(p[r]).v128Load32Splat().set(s);
    f.madd(acc[r][0], s, w0, relaxed);
    f.madd(acc[r][1], s, w1, relaxed);
  }
  for (let r = 0; r < R; r++) f.inc(p[r], 4);
  f.inc(wp, { local: WS });
  f.get(k).i32(1).sub().tee(k).brIf(0);
  f.end();
  f.inc(tp, 8);
  f.get(t).i32(1).sub().tee(t).brIf(0);
  f.end();
  for (let r = 0; r < R; r++) {
    f.get(PIX)
      .i32Load(8 * r + 4)
      .get(oc)
      .add()
      .set(o);
    f.get(o).get(acc[r][0]).v128Store(0);
    f.get(o).get(acc[r][1]).v128Store(16);
  }
  f.inc(wcb, { local: WCB });
  f.inc(oc, 32);
  f.get(cb).i32(1).sub().tee(cb).brIf(0);
  f.end();
  f.inc(PIX, 8 * R);
  f.get(NTILES).i32(1).sub().tee(NTILES).brIf(0);
  f.end();
  return f;
}

function dwKernel(R: number, relaxed: boolean): FunctionBuilder {
  // params: 0 x, 1 dy, 2 acc, 3 rows, 4 nRows, 5 Z, 6 xStride, 7 dyStride, 8 accStride, 9 nCb
  const f = new FunctionBuilder(`dw${R}`, [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [X, DY, ACC, ROWS, NROWS, Z, XS, DYS, ACCS, NCB] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const acc = Array.from({ length: R }, () => [f.local(V128), f.local(V128)]);
  const d0 = f.local(V128);
  const d1 = f.local(V128);
  const s = f.local(V128);
  const xp = f.local(I32);
  const dp = f.local(I32);
  const z = f.local(I32);
  const q = f.local(I32);
  const rowp = f.local(I32);
  const n = f.local(I32);
  f.loop(); // channel blocks
  f.get(ACC).set(q);
  for (let r = 0; r < R; r++) {
    f.get(q).v128Load(0).set(acc[r][0]);
    f.get(q).v128Load(16).set(acc[r][1]);
    if (r < R - 1) f.inc(q, { local: ACCS });
  }
  f.get(ROWS).set(rowp);
  f.get(NROWS).set(n);
  f.loop(); // rows
  f.get(X).get(rowp).i32Load(0).add().set(xp);
  f.get(DY).get(rowp).i32Load(4).add().set(dp);
  f.get(Z).set(z);
  f.loop(); // z
  f.get(dp).v128Load(0).set(d0);
  f.get(dp).v128Load(16).set(d1);
  for (let r = 0; r < R; r++) {
    f.get(xp)
      .v128Load32Splat(4 * r)
      .set(s);
    f.madd(acc[r][0], s, d0, relaxed);
    f.madd(acc[r][1], s, d1, relaxed);
  }
  f.inc(xp, { local: XS });
  f.inc(dp, { local: DYS });
  f.get(z).i32(1).sub().tee(z).brIf(0);
  f.end();
  f.inc(rowp, 8);
  f.get(n).i32(1).sub().tee(n).brIf(0);
  f.end();
  f.get(ACC).set(q);
  for (let r = 0; r < R; r++) {
    f.get(q).get(acc[r][0]).v128Store(0);
    f.get(q).get(acc[r][1]).v128Store(16);
    if (r < R - 1) f.inc(q, { local: ACCS });
  }
  f.inc(ACC, 32);
  f.inc(DY, 32);
  f.get(NCB).i32(1).sub().tee(NCB).brIf(0);
  f.end();
  return f;
}

/**
 * `transpose(src, dst, rows, cols)`: dst[j][i] = src[i][j] for an f32 `rows × cols` matrix (the in/out channel
 * swap of a filter tap for the input gradient). Reads run along src rows; the writes of one src row are
 * `rows` floats apart.
 */
function transposeKernel(): FunctionBuilder {
  const f = new FunctionBuilder('transpose', [I32, I32, I32, I32]);
  const [SRC, DST, ROWS, COLS] = [0, 1, 2, 3];
  const dp = f.local(I32);
  const j = f.local(I32);
  const dStride = f.local(I32);
  f.get(ROWS).i32(4).mul().set(dStride);
  f.loop(); // rows
  f.get(DST).set(dp);
  f.get(COLS).set(j);
  f.loop(); // cols
  f.get(dp).get(SRC).f32Load().f32Store();
  f.inc(SRC, 4);
  f.inc(dp, { local: dStride });
  f.get(j).i32(1).sub().tee(j).brIf(0);
  f.end();
  f.inc(DST, 4);
  f.get(ROWS).i32(1).sub().tee(ROWS).brIf(0);
  f.end();
  return f;
}

/**
 * The two loops over one row of the row kernels (compact, lerp, colSum, the binary ops): `vector()` for every 16
 * bytes while o < the row's bytes rounded down to 16 (none when that is 0), then `scalar()` for every 4 bytes while
 * o < bytes, with the local `o` the byte offset in the row, from 0. `bytes` is a local or parameter.
 */
function rowLoops(
  f: FunctionBuilder,
  o: number,
  bytes: number,
  vector: () => void,
  scalar: () => void,
): void {
  const vecBytes = f.local(I32);
  f.get(bytes).i32(-16).and().set(vecBytes);
  f.i32(0).set(o);
  f.block();
  f.get(vecBytes).eqz().brIf(0);
  f.loop();
  vector();
  f.get(o).i32(16).add().tee(o).get(vecBytes).ltS().brIf(0);
  f.end();
  f.end();
  f.block();
  f.get(o).get(bytes).ltS().eqz().brIf(0);
  f.loop();
  scalar();
  f.get(o).i32(4).add().tee(o).get(bytes).ltS().brIf(0);
  f.end();
  f.end();
}

/**
 * `compact(src, dst, n, bytes, srcStride)`: copies n pixels of `bytes` bytes each from rows
 * `srcStride` bytes apart to dense rows (the channel blocks of 8 of a convolution's output, padded past C, to
 * [n, C]): the first bytes rounded down to 16 of a pixel as f32x4, the rest one float at a time, so
 * nothing past a pixel's own `bytes` is written. `compactBias(…, bias)` adds the vector of C floats at `bias`
 * (one f32 sum per element, the value of a broadcast Add of the copied result). In place (src = dst) when
 * `bytes` = `srcStride`.
 */
function compactKernel(withBias: boolean): FunctionBuilder {
  const params = new Array<ValType>(withBias ? 6 : 5).fill(I32);
  const f = new FunctionBuilder(withBias ? 'compactBias' : 'compact', params);
  const [SRC, DST, N, B, SS, BIAS] = [0, 1, 2, 3, 4, 5];
  const o = f.local(I32);
  f.loop(); // pixels
  rowLoops(
    f,
    o,
    B,
    () => {
      f.get(DST).get(o).add();
      f.get(SRC).get(o).add().v128Load();
      if (withBias) f.get(BIAS).get(o).add().v128Load().f32x4Add();
      f.v128Store();
    },
    () => {
      f.get(DST).get(o).add();
      f.get(SRC).get(o).add().f32Load();
      if (withBias) f.get(BIAS).get(o).add().f32Load().f32Add();
      f.f32Store();
    },
  );
  f.inc(SRC, { local: SS });
  f.inc(DST, { local: B });
  f.get(N).i32(1).sub().tee(N).brIf(0);
  f.end();
  return f;
}

/**
 * `lerp(src, dst, tab, rows, bytes)`: `rows` rows of `bytes` bytes, row r = u·src[a0] + v·src[a1] with
 * (a0, a1, u, v) the 16-byte entry r of `tab` (two i32 byte offsets into src, two f32 weights): each product
 * rounded to f32, then their f32 sum, the value of `Math.fround(u·a) + Math.fround(v·b)` stored in a
 * Float32Array. The first bytes rounded down to 16 as f32x4, the rest one float at a time.
 */
function lerpKernel(): FunctionBuilder {
  const f = new FunctionBuilder('lerp', [I32, I32, I32, I32, I32]);
  const [SRC, DST, TAB, ROWS, B] = [0, 1, 2, 3, 4];
  const [a0, a1, o] = [f.local(I32), f.local(I32), f.local(I32)];
  const [u, v] = [f.local(V128), f.local(V128)];
  f.loop(); // rows
  f.get(SRC).get(TAB).i32Load(0).add().set(a0);
  f.get(SRC).get(TAB).i32Load(4).add().set(a1);
  f.get(TAB).v128Load32Splat(8).set(u);
  f.get(TAB).v128Load32Splat(12).set(v);
  rowLoops(
    f,
    o,
    B,
    () => {
      f.get(DST).get(o).add();
      f.get(u).get(a0).get(o).add().v128Load().f32x4Mul();
      f.get(v).get(a1).get(o).add().v128Load().f32x4Mul();
      f.f32x4Add().v128Store();
    },
    () => {
      f.get(DST).get(o).add();
      f.get(TAB).f32Load(8).get(a0).get(o).add().f32Load().f32Mul();
      f.get(TAB).f32Load(12).get(a1).get(o).add().f32Load().f32Mul();
      f.f32Add().f32Store();
    },
  );
  f.inc(DST, { local: B });
  f.inc(TAB, 16);
  f.get(ROWS).i32(1).sub().tee(ROWS).brIf(0);
  f.end();
  return f;
}

/**
 * `maxPool2(src, dst, ow, bytes, rowBytes)`: one output row of a 2×2, stride-2 max pool over channels-last data
 * with C = bytes / 4 a multiple of 4: `ow` windows starting at `src` (the next one 2·bytes on), the rows of a
 * window `rowBytes` apart, written densely to `dst`. Each lane keeps the first strict maximum of its four taps in
 * row-major order starting from −∞ (`if (v > m) m = v`): NaN never wins, so an all-NaN window gives −∞, as the
 * JavaScript loop.
 */
function maxPool2Kernel(): FunctionBuilder {
  return maxPool2Builder(false);
}

/**
 * `maxPool2Grad(x, dy, dx, ow, bytes, rowBytes)`: the gradient of `maxPool2` over one output row: each lane of dy
 * goes to the tap `maxPool2` keeps (the first strict maximum in row-major order), +0 to the other three taps,
 * and nothing selected (an all-NaN or all −∞ window) leaves all four +0, as MaxPoolGrad's scatter into zeros.
 * dx has x's layout; every tap of the row's windows is written.
 */
function maxPool2GradKernel(): FunctionBuilder {
  return maxPool2Builder(true);
}

/** `maxPool2` and, with `grad`, `maxPool2Grad`: one loop over windows and channel blocks of 4. */
function maxPool2Builder(grad: boolean): FunctionBuilder {
  const f = grad
    ? new FunctionBuilder('maxPool2Grad', [I32, I32, I32, I32, I32, I32])
    : new FunctionBuilder('maxPool2', [I32, I32, I32, I32, I32]);
  const [SRC, DY, DX] = [0, 1, 2];
  const DST = 1;
  const [OW, B, RS] = grad ? [3, 4, 5] : [2, 3, 4];
  const [a, o] = [f.local(I32), f.local(I32)];
  const [m, x] = [f.local(V128), f.local(V128)];
  const offsets: Array<() => void> = [
    () => {},
    () => f.get(B).add(),
    () => f.get(RS).add(),
    () => f.get(RS).add().get(B).add(),
  ];
  // The gradient tracks the kept tap per lane (−1: none) and compares it with each tap's index.
  const idx = grad ? f.local(V128) : -1;
  const tapIndex = grad ? offsets.map(() => f.local(V128)) : [];
  const dy = grad ? f.local(V128) : -1;
  tapIndex.forEach((local, t) => {
    f.i32(t).i32x4Splat().set(local);
  });
  f.loop(); // windows
  f.i32(0).set(o);
  f.loop(); // channel blocks of 4
  f.get(SRC).get(o).add().set(a);
  f.f32Const(Number.NEGATIVE_INFINITY).f32x4Splat().set(m);
  if (grad) f.i32(-1).i32x4Splat().set(idx);
  offsets.forEach((offset, t) => {
    f.get(a);
    offset();
    // gt = x > m; m = gt ? x : m (and idx = gt ? t : idx)
    f.v128Load().tee(x).get(m).get(x).get(m).f32x4Gt();
    if (grad) {
      f.set(dy); // the mask, kept a moment in dy's local
      f.get(dy).v128Bitselect().set(m);
      f.get(tapIndex[t]).get(idx).get(dy).v128Bitselect().set(idx);
    } else f.v128Bitselect().set(m);
  });
  if (grad) {
    f.get(DY).get(o).add().v128Load().set(dy);
    offsets.forEach((offset, t) => {
      f.get(DX).get(o).add();
      offset();
      f.get(dy).get(idx).get(tapIndex[t]).i32x4Eq().v128And().v128Store();
    });
  } else f.get(DST).get(o).add().get(m).v128Store();
  f.get(o).i32(16).add().tee(o).get(B).ltS().brIf(0);
  f.end();
  f.inc(SRC, { local: B });
  f.inc(SRC, { local: B });
  if (grad) {
    f.inc(DX, { local: B });
    f.inc(DX, { local: B });
    f.inc(DY, { local: B });
  } else f.inc(DST, { local: B });
  f.get(OW).i32(1).sub().tee(OW).brIf(0);
  f.end();
  return f;
}

/**
 * `colSum(src, acc, rows, bytes)`: acc[j] += src[r][j] for rows r in order, over rows of `bytes` bytes
 * (C = bytes / 4 floats), acc C doubles: each float widened exactly and added in f64, so every column is the
 * JavaScript sum `s += x` in row order, bit for bit. The first bytes rounded down to 16 of a row two
 * f64x2 at a time, the rest one float at a time.
 */
function colSumKernel(): FunctionBuilder {
  const f = new FunctionBuilder('colSum', [I32, I32, I32, I32]);
  const [SRC, ACC, ROWS, B] = [0, 1, 2, 3];
  const [o, a] = [f.local(I32), f.local(I32)];
  const v = f.local(V128);
  f.loop(); // rows
  rowLoops(
    f,
    o,
    B,
    () => {
      f.get(SRC).get(o).add().v128Load().set(v);
      f.get(ACC).get(o).add().get(o).add().set(a);
      f.get(a);
      f.get(a).v128Load().get(v).f64x2PromoteLowF32x4().f64x2Add().v128Store();
      f.get(a);
      f.get(a)
        .v128Load(16)
        .get(v)
        .get(v)
        .i8x16Shuffle(HIGH_HALF)
        .f64x2PromoteLowF32x4()
        .f64x2Add()
        .v128Store(16);
    },
    () => {
      f.get(ACC).get(o).add().get(o).add().set(a);
      f.get(a);
      f.get(a).f64Load().get(SRC).get(o).add().f32Load().f64PromoteF32().f64Add().f64Store();
    },
  );
  f.inc(SRC, { local: B });
  f.get(ROWS).i32(1).sub().tee(ROWS).brIf(0);
  f.end();
  return f;
}

/**
 * `sgd(p, g, b, n, wd, m, lr)`: PyTorch SGD with weight decay and momentum after a parameter's first step (no
 * dampening, no Nesterov) on n floats in place: b ← m·b + (g + wd·p); p ← p − lr·b, every product and sum
 * rounded to f32 as the optimizer's JavaScript loop rounds it. Four floats at a time, the last n mod 4 one
 * by one.
 */
function sgdKernel(): FunctionBuilder {
  const f = new FunctionBuilder('sgd', [I32, I32, I32, I32, F32, F32, F32]);
  const [P, G, B, N, WD, M, LR] = [0, 1, 2, 3, 4, 5, 6];
  const [end, vecEnd] = [f.local(I32), f.local(I32)];
  const [wd, m, lr, b] = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const sb = f.local(F32);
  f.get(WD).f32x4Splat().set(wd);
  f.get(M).f32x4Splat().set(m);
  f.get(LR).f32x4Splat().set(lr);
  // Bytes of the whole groups of four (`vecEnd`), then of the rest (`end`), each counted down to 0.
  f.get(N).i32(-4).and().i32(4).mul().set(vecEnd);
  f.block();
  f.get(vecEnd).eqz().brIf(0);
  f.loop();
  // b = m·b + (g + wd·p)
  f.get(B).get(m).get(B).v128Load().f32x4Mul();
  f.get(G).v128Load().get(wd).get(P).v128Load().f32x4Mul().f32x4Add();
  f.f32x4Add().tee(b).v128Store();
  // p = p − lr·b
  f.get(P).get(P).v128Load().get(lr).get(b).f32x4Mul().f32x4Sub().v128Store();
  f.inc(P, 16);
  f.inc(G, 16);
  f.inc(B, 16);
  f.get(vecEnd).i32(16).sub().tee(vecEnd).brIf(0);
  f.end();
  f.end();
  f.get(N).i32(3).and().i32(4).mul().set(end);
  f.block();
  f.get(end).eqz().brIf(0);
  f.loop();
  f.get(B).get(M).get(B).f32Load().f32Mul();
  f.get(G).f32Load().get(WD).get(P).f32Load().f32Mul().f32Add();
  f.f32Add().tee(sb).f32Store();
  f.get(P).get(P).f32Load().get(LR).get(sb).f32Mul().f32Sub().f32Store();
  f.inc(P, 4);
  f.inc(G, 4);
  f.inc(B, 4);
  f.get(end).i32(4).sub().tee(end).brIf(0);
  f.end();
  f.end();
  return f;
}

/** The element-wise binary ops of `binaryKernel`. */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div'] as const;
export type BinaryOpName = (typeof BINARY_OPS)[number];
/** Operand layouts of `binaryKernel`: both rows contiguous, or b (a) one float per row, broadcast along it. */
export const BINARY_MODES = ['rows', 'bPerRow', 'aPerRow'] as const;
export type BinaryMode = (typeof BINARY_MODES)[number];

/** The export name of the binary kernel of one op and layout. */
export function binaryKernelName(op: BinaryOpName, mode: BinaryMode): string {
  return `${op}_${mode}`;
}

/**
 * `<op>_<mode>(a, b, o, rows, n1, aRow, bRow)`: o = a op b over `rows` rows of n1 floats, o dense, a's rows `aRow`
 * bytes apart and b's `bRow`; `rows`: both rows contiguous, `bPerRow`: b one float per row (broadcast along it),
 * `aPerRow`: a one float per row. One f32 operation per element: the value JavaScript stores for `a op b` into a
 * Float32Array. The first n1 rounded down to 4 as f32x4, the rest one float at a time.
 */
function binaryKernel(op: BinaryOpName, mode: BinaryMode): FunctionBuilder {
  const f = new FunctionBuilder(binaryKernelName(op, mode), [I32, I32, I32, I32, I32, I32, I32]);
  const [A, B, O, ROWS, N1, AROW, BROW] = [0, 1, 2, 3, 4, 5, 6];
  const [o, bytes] = [f.local(I32), f.local(I32)];
  const splat = f.local(V128);
  const vector = () => {
    if (op === 'add') f.f32x4Add();
    else if (op === 'sub') f.f32x4Sub();
    else if (op === 'mul') f.f32x4Mul();
    else f.f32x4Div();
  };
  const scalar = () => {
    if (op === 'add') f.f32Add();
    else if (op === 'sub') f.f32Sub();
    else if (op === 'mul') f.f32Mul();
    else f.f32Div();
  };
  // Pushes operand `base` at byte offset o of the row: a vector, or the row's one float splat.
  const vec = (base: number, perRow: boolean) => {
    if (perRow) f.get(splat);
    else f.get(base).get(o).add().v128Load();
  };
  const one = (base: number, perRow: boolean) => {
    if (perRow) f.get(base).f32Load();
    else f.get(base).get(o).add().f32Load();
  };
  const aPerRow = mode === 'aPerRow';
  const bPerRow = mode === 'bPerRow';
  f.get(N1).i32(4).mul().set(bytes);
  f.loop(); // rows
  if (aPerRow) f.get(A).v128Load32Splat().set(splat);
  if (bPerRow) f.get(B).v128Load32Splat().set(splat);
  rowLoops(
    f,
    o,
    bytes,
    () => {
      f.get(O).get(o).add();
      vec(A, aPerRow);
      vec(B, bPerRow);
      vector();
      f.v128Store();
    },
    () => {
      f.get(O).get(o).add();
      one(A, aPerRow);
      one(B, bPerRow);
      scalar();
      f.f32Store();
    },
  );
  f.inc(A, { local: AROW });
  f.inc(B, { local: BROW });
  f.inc(O, { local: bytes });
  f.get(ROWS).i32(1).sub().tee(ROWS).brIf(0);
  f.end();
  return f;
}

/**
 * `rowSum(src, acc, rows, k)`: acc[r] = Σ_j src[r][j] for rows of k floats, each sum in f64 from 0 in column order
 * (the JavaScript `s += x` of `reduceSum`, bit for bit), acc `rows` doubles.
 */
function rowSumKernel(): FunctionBuilder {
  const f = new FunctionBuilder('rowSum', [I32, I32, I32, I32]);
  const [SRC, ACC, ROWS, K] = [0, 1, 2, 3];
  const j = f.local(I32);
  const sum = f.local(F64);
  f.loop(); // rows
  f.f64Const0().set(sum);
  f.get(K).set(j);
  f.loop();
  f.get(sum).get(SRC).f32Load().f64PromoteF32().f64Add().set(sum);
  f.inc(SRC, 4);
  f.get(j).i32(1).sub().tee(j).brIf(0);
  f.end();
  f.get(ACC).get(sum).f64Store();
  f.inc(ACC, 8);
  f.get(ROWS).i32(1).sub().tee(ROWS).brIf(0);
  f.end();
  return f;
}

/** Independent multiply-adds per iteration of `peak` (10 accumulators and 4 operands fit the registers). */
export const PEAK_MADDS = 10;

/**
 * `peak(ptr, n)`: n iterations of PEAK_MADDS independent f32x4 multiply-adds on registers only, the
 * throughput ceiling of the microkernels. The four operands rotate every iteration, so no product is loop
 * invariant (a compiler cannot hoist the multiplies out of the exact variant). Reads 4 vectors at `ptr`, writes
 * the accumulators after them (so that nothing is dead code).
 */
function peakKernel(relaxed: boolean): FunctionBuilder {
  const f = new FunctionBuilder('peak', [I32, I32]);
  const [PTR, N] = [0, 1];
  const a = Array.from({ length: 4 }, () => f.local(V128));
  const acc = Array.from({ length: PEAK_MADDS }, () => f.local(V128));
  const tmp = f.local(V128);
  for (let i = 0; i < 4; i++)
    f.get(PTR)
      .v128Load(16 * i)
      .set(a[i]);
  for (const v of acc) f.v128Zero().set(v);
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < 4; i++) for (let j = i; j < 4; j++) pairs.push([i, j]);
  f.loop();
  acc.forEach((v, i) => {
    const [x, y] = pairs[i % pairs.length];
    f.madd(v, a[x], a[y], relaxed);
  });
  f.get(a[0]).set(tmp);
  f.get(a[1]).set(a[0]);
  f.get(a[2]).set(a[1]);
  f.get(a[3]).set(a[2]);
  f.get(tmp).set(a[3]);
  f.get(N).i32(1).sub().tee(N).brIf(0);
  f.end();
  acc.forEach((v, i) => {
    f.get(PTR)
      .get(v)
      .v128Store(64 + 16 * i);
  });
  return f;
}

/**
 * Per-channel kernels of the fused batch norm + activation (`../batchnorm.ts`) over `n` pixels of `c` channels
 * (c a multiple of 4), channels last. The pixel pointers advance by 4c bytes per pixel; the per-channel
 * vectors (acc, mean, alpha, …) are indexed by the byte offset o ∈ [0, 4c).
 */
function channelKernel(
  name: string,
  pixelPtrs: number,
  vectorPtrs: number,
  body: (f: FunctionBuilder, px: (i: number) => void, vec: (i: number) => void) => void,
): FunctionBuilder {
  // params: pixel pointers…, vector pointers…, n, c
  const params = new Array<ValType>(pixelPtrs + vectorPtrs + 2).fill(I32);
  const f = new FunctionBuilder(name, params);
  const N = pixelPtrs + vectorPtrs;
  const C = N + 1;
  const o = f.local(I32);
  const bytes = f.local(I32);
  f.get(C).i32(4).mul().set(bytes);
  f.loop(); // pixels
  f.i32(0).set(o);
  f.loop(); // channel blocks of 4
  body(
    f,
    (i) => f.get(i).get(o).add(),
    (i) =>
      f
        .get(pixelPtrs + i)
        .get(o)
        .add(),
  );
  f.get(o).i32(16).add().tee(o).get(bytes).ltS().brIf(0);
  f.end();
  for (let i = 0; i < pixelPtrs; i++) f.inc(i, { local: bytes });
  f.get(N).i32(1).sub().tee(N).brIf(0);
  f.end();
  return f;
}

/** Shuffle lanes: bytes 8–15 of a vector in its low half (the high half ignored). */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** Shuffle lanes: the low half of a, then the low half of b. */
const LOW_HALVES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

type VectorAccess = (i: number) => void;

/** Pushes z = x·alpha + shift (f32 multiply, then add) for pixel pointer `x` and vector pointers `alpha`, `alpha + 1`. */
function preActivation(
  f: FunctionBuilder,
  px: VectorAccess,
  vec: VectorAccess,
  x: number,
  alpha: number,
): void {
  px(x);
  f.v128Load();
  vec(alpha);
  f.v128Load().f32x4Mul();
  vec(alpha + 1);
  f.v128Load().f32x4Add();
}

/**
 * Pushes g, the gradient through the activation of dy (pixel pointer 0) with z from x (pixel pointer 1) and
 * alpha, shift (vectors 1, 2): dy; dy·[z > 0] (Relu); z > 0 ? dy : dy·slope (Leaky, slope an f32x4 at the fixed
 * pointer of parameter `slopeParam`; NaN z takes dy·slope).
 */
function activationGrad(
  f: FunctionBuilder,
  px: VectorAccess,
  vec: VectorAccess,
  act: '' | 'Relu' | 'Leaky',
  slopeParam: number,
): void {
  px(0);
  f.v128Load();
  if (act === 'Leaky') {
    px(0);
    f.v128Load().get(slopeParam).v128Load().f32x4Mul();
  }
  if (act === '') return;
  preActivation(f, px, vec, 1, 1);
  f.v128Zero().f32x4Gt();
  if (act === 'Relu') f.v128And();
  else f.v128Bitselect();
}

function batchNormKernels(): FunctionBuilder[] {
  const fns: FunctionBuilder[] = [];
  // bnSum(x; acc): acc += x
  fns.push(
    channelKernel('bnSum', 1, 1, (f, px, vec) => {
      vec(0);
      vec(0);
      f.v128Load();
      px(0);
      f.v128Load().f32x4Add().v128Store();
    }),
  );
  // bnSqDev(x; mean, acc): acc += (x − mean)²
  fns.push(
    channelKernel('bnSqDev', 1, 2, (f, px, vec) => {
      const d = f.local(V128);
      px(0);
      f.v128Load();
      vec(0);
      f.v128Load().f32x4Sub().set(d);
      vec(1);
      vec(1);
      f.v128Load().get(d).get(d).f32x4Mul().f32x4Add().v128Store();
    }),
  );
  for (const act of ['', 'Relu', 'Leaky'] as const) {
    // bnApply(x, y; alpha, shift, slope): z = x·alpha + shift; y = z, max(z, 0) (Relu) or LeakyReLU (Leaky:
    // z·slope where 0 > z, else z, so −0 and NaN stay; the product in f64, slope an f64x2 at a fixed pointer,
    // then rounded to f32, as JS rounds z·slope)
    fns.push(
      channelKernel(`bnApply${act}`, 2, 3, (f, px, vec) => {
        const z = f.local(V128);
        const slopeF64 = () => f.get(2 + 2).v128Load();
        px(1);
        preActivation(f, px, vec, 0, 0);
        if (act === 'Relu') f.v128Zero().f32x4Max();
        if (act === 'Leaky') {
          f.tee(z).f64x2PromoteLowF32x4();
          slopeF64();
          f.f64x2Mul().f32x4DemoteF64x2Zero();
          f.get(z).get(z).i8x16Shuffle(HIGH_HALF).f64x2PromoteLowF32x4();
          slopeF64();
          f.f64x2Mul().f32x4DemoteF64x2Zero().i8x16Shuffle(LOW_HALVES).get(z);
          f.v128Zero().get(z).f32x4Gt().v128Bitselect();
        }
        f.v128Store();
      }),
    );
    // bnGradSum(dy, x; mean, alpha, shift, slope, sumG, sumGX): g = activation gradient of dy (the mask
    // z > 0 recomputed from x bit for bit as bnApply did); sumG += g; sumGX += g·(x − mean)
    fns.push(
      channelKernel(`bnGradSum${act}`, 2, 6, (f, px, vec) => {
        const g = f.local(V128);
        activationGrad(f, px, vec, act, 2 + 3);
        f.set(g);
        vec(4);
        vec(4);
        f.v128Load().get(g).f32x4Add().v128Store();
        vec(5);
        vec(5);
        f.v128Load().get(g);
        px(1);
        f.v128Load();
        vec(0);
        f.v128Load().f32x4Sub().f32x4Mul().f32x4Add().v128Store();
      }),
    );
    // bnGradApply(dy, x, dx; mean, alpha, shift, slope, k, a, b): dx = k·(g − a − (x − mean)·b)
    fns.push(
      channelKernel(`bnGradApply${act}`, 3, 7, (f, px, vec) => {
        px(2);
        vec(4);
        f.v128Load();
        activationGrad(f, px, vec, act, 3 + 3);
        vec(5);
        f.v128Load().f32x4Sub();
        px(1);
        f.v128Load();
        vec(0);
        f.v128Load().f32x4Sub();
        vec(6);
        f.v128Load().f32x4Mul().f32x4Sub().f32x4Mul().v128Store();
      }),
    );
  }
  return fns;
}

/**
 * Upper bound of the shared memory: just under 2 GiB, so that every byte address is a non-negative i32 in the
 * JS-side parameter blocks (virtual reservation only; pages are committed on growth).
 */
export const MAX_PAGES = 32767;

/**
 * Bytes of the module exporting fwd1…fwd6, dw1…dw6, `peak`, `transpose`, `compact`, `compactBias`, `lerp`, `maxPool2`, `maxPool2Grad`, `colSum`, `rowSum`, `sgd`, the binary element-wise kernels and the batch-norm kernels over an imported shared
 * memory; the convolution kernels and `peak` use relaxed-SIMD multiply-adds when `relaxed` (validate the
 * bytes: a runtime without relaxed SIMD rejects them).
 */
export function microkernelModuleBytes(initialPages: number, relaxed = false): Uint8Array<ArrayBuffer> {
  const fns: FunctionBuilder[] = [];
  for (let r = 1; r <= MAX_TILE; r++) fns.push(fwdKernel(r, relaxed));
  for (let r = 1; r <= MAX_TILE; r++) fns.push(dwKernel(r, relaxed));
  fns.push(peakKernel(relaxed));
  fns.push(transposeKernel());
  fns.push(
    compactKernel(false),
    compactKernel(true),
    lerpKernel(),
    maxPool2Kernel(),
    maxPool2GradKernel(),
    colSumKernel(),
    rowSumKernel(),
    sgdKernel(),
  );
  for (const op of BINARY_OPS) for (const mode of BINARY_MODES) fns.push(binaryKernel(op, mode));
  fns.push(...batchNormKernels());
  return emitModule(fns, { initialPages, maximumPages: MAX_PAGES });
}

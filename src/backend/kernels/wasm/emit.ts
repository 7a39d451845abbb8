/**
 * A minimal WebAssembly binary writer: enough of the format (types, one imported shared memory, functions,
 * exports, code) and of the instruction set (i32 arithmetic, structured control, f32/v128 loads and stores,
 * f32x4 arithmetic, relaxed-SIMD multiply-add) to write the SIMD microkernels of `microkernels.ts` directly as bytes.
 *
 * Why not AssemblyScript or WAT: the project may not add a devDependency, and a build step would have to ship
 * a binary `.wasm`. Emitting the bytes at load time costs well under a millisecond, needs no toolchain and
 * keeps the kernels readable as code; `WebAssembly.validate` checks the result when the module is built.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

function uleb(out: number[], value: number): void {
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
}

function sleb(out: number[], value: number): void {
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return;
  }
}

function utf8(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  for (const b of bytes) out.push(b);
}

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const b of body) out.push(b);
}

/** Builds the body of one function; locals are declared by `local()` and referenced by index. */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly localTypes: ValType[] = [];

  constructor(
    readonly name: string,
    readonly params: ValType[],
    readonly results: ValType[] = [],
  ) {}

  /** Index of a new local of type `t` (parameters come first). */
  local(t: ValType): number {
    this.localTypes.push(t);
    return this.params.length + this.localTypes.length - 1;
  }

  private op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  private simd(opcode: number): this {
    this.code.push(0xfd);
    uleb(this.code, opcode);
    return this;
  }

  private memarg(align: number, offset: number): this {
    uleb(this.code, align);
    uleb(this.code, offset);
    return this;
  }

  get(i: number): this {
    this.op(0x20);
    uleb(this.code, i);
    return this;
  }
  set(i: number): this {
    this.op(0x21);
    uleb(this.code, i);
    return this;
  }
  tee(i: number): this {
    this.op(0x22);
    uleb(this.code, i);
    return this;
  }
  i32(value: number): this {
    this.op(0x41);
    sleb(this.code, value);
    return this;
  }
  add(): this {
    return this.op(0x6a);
  }
  sub(): this {
    return this.op(0x6b);
  }
  mul(): this {
    return this.op(0x6c);
  }
  /** i32 bitwise and. */
  and(): this {
    return this.op(0x71);
  }
  ltS(): this {
    return this.op(0x48);
  }
  gtS(): this {
    return this.op(0x4a);
  }
  eqz(): this {
    return this.op(0x45);
  }
  /** `block` with no result; `br depth` out of it jumps to its end. */
  block(): this {
    return this.op(0x02, 0x40);
  }
  /** `loop` with no result; `br depth` to it jumps to its start. */
  loop(): this {
    return this.op(0x03, 0x40);
  }
  end(): this {
    return this.op(0x0b);
  }
  br(depth: number): this {
    this.op(0x0c);
    uleb(this.code, depth);
    return this;
  }
  brIf(depth: number): this {
    this.op(0x0d);
    uleb(this.code, depth);
    return this;
  }
  i32Load(offset = 0): this {
    return this.op(0x28).memarg(2, offset);
  }
  f32Load(offset = 0): this {
    return this.op(0x2a).memarg(2, offset);
  }
  f32Store(offset = 0): this {
    return this.op(0x38).memarg(2, offset);
  }
  f32Add(): this {
    return this.op(0x92);
  }
  f32Sub(): this {
    return this.op(0x93);
  }
  f32Mul(): this {
    return this.op(0x94);
  }
  f32Div(): this {
    return this.op(0x95);
  }
  f64Load(offset = 0): this {
    return this.op(0x2b).memarg(3, offset);
  }
  f64Store(offset = 0): this {
    return this.op(0x39).memarg(3, offset);
  }
  f64Add(): this {
    return this.op(0xa0);
  }
  /** f64 +0. */
  f64Const0(): this {
    this.op(0x44);
    for (let i = 0; i < 8; i++) this.code.push(0);
    return this;
  }
  /** f32 → f64 (exact). */
  f64PromoteF32(): this {
    return this.op(0xbb);
  }
  f32Const(value: number): this {
    this.op(0x43);
    for (const b of new Uint8Array(new Float32Array([value]).buffer)) this.code.push(b);
    return this;
  }
  /** One f32 broadcast to the four lanes. */
  f32x4Splat(): this {
    return this.simd(0x13);
  }
  /** One i32 broadcast to the four lanes. */
  i32x4Splat(): this {
    return this.simd(0x11);
  }
  /** Lane-wise a = b as an all-ones / all-zeros mask. */
  i32x4Eq(): this {
    return this.simd(0x37);
  }
  v128Load(offset = 0): this {
    return this.simd(0x00).memarg(4, offset);
  }
  /** Loads one f32 and broadcasts it to the four lanes. */
  v128Load32Splat(offset = 0): this {
    return this.simd(0x09).memarg(2, offset);
  }
  v128Store(offset = 0): this {
    return this.simd(0x0b).memarg(4, offset);
  }
  v128Zero(): this {
    this.simd(0x0c);
    for (let i = 0; i < 16; i++) this.code.push(0);
    return this;
  }
  f32x4Add(): this {
    return this.simd(0xe4);
  }
  f32x4Sub(): this {
    return this.simd(0xe5);
  }
  f32x4Mul(): this {
    return this.simd(0xe6);
  }
  f32x4Div(): this {
    return this.simd(0xe7);
  }
  /** Lane-wise maximum, NaN if either lane is NaN (like Math.max). */
  f32x4Max(): this {
    return this.simd(0xe9);
  }
  /** Lane-wise a > b as an all-ones / all-zeros mask. */
  f32x4Gt(): this {
    return this.simd(0x44);
  }
  v128And(): this {
    return this.simd(0x4e);
  }
  /** Lane bits of a where the mask c is set, of b elsewhere (stack: a, b, c). */
  v128Bitselect(): this {
    return this.simd(0x52);
  }
  /** Bytes `lanes[i]` of the concatenation a‖b (stack: a, b; each lane index in [0, 32)). */
  i8x16Shuffle(lanes: readonly number[]): this {
    this.simd(0x0d);
    for (const lane of lanes) this.code.push(lane);
    return this;
  }
  /** The two low f32 lanes widened to f64 (exact). */
  f64x2PromoteLowF32x4(): this {
    return this.simd(0x5f);
  }
  /** The two f64 lanes rounded to f32 in the low lanes, zeros above. */
  f32x4DemoteF64x2Zero(): this {
    return this.simd(0x5e);
  }
  f64x2Add(): this {
    return this.simd(0xf0);
  }
  f64x2Mul(): this {
    return this.simd(0xf2);
  }
  /** Relaxed SIMD `a·b + c` (stack: a, b, c), fused or not as the hardware prefers. */
  f32x4RelaxedMadd(): this {
    return this.simd(0x105);
  }

  /**
   * `local[acc] += local[a] · local[b]` on f32x4 locals: a relaxed fused multiply-add when `relaxed`, else a
   * multiply then an add (two roundings, the same numbers on every machine).
   */
  madd(acc: number, a: number, b: number, relaxed: boolean): this {
    if (relaxed) return this.get(a).get(b).get(acc).f32x4RelaxedMadd().set(acc);
    return this.get(acc).get(a).get(b).f32x4Mul().f32x4Add().set(acc);
  }

  /** `local[i] += delta` for an i32 local. */
  inc(i: number, delta: number | { local: number }): this {
    this.get(i);
    if (typeof delta === 'number') this.i32(delta);
    else this.get(delta.local);
    return this.add().set(i);
  }

  /** Encoded locals declaration followed by the body. */
  body(): number[] {
    const out: number[] = [];
    const groups: Array<[number, ValType]> = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    uleb(out, groups.length);
    for (const [n, t] of groups) {
      uleb(out, n);
      out.push(t);
    }
    for (const b of this.code) out.push(b);
    out.push(0x0b);
    return out;
  }
}

/**
 * A module importing `env.memory` as a shared memory (so that worker threads can instantiate the same module
 * on the same bytes) and exporting every function under its name.
 */
export function emitModule(
  functions: FunctionBuilder[],
  memory: { initialPages: number; maximumPages: number },
): Uint8Array<ArrayBuffer> {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  uleb(types, functions.length);
  for (const f of functions) {
    types.push(0x60);
    uleb(types, f.params.length);
    for (const p of f.params) types.push(p);
    uleb(types, f.results.length);
    for (const r of f.results) types.push(r);
  }
  section(out, 1, types);
  const imports: number[] = [];
  uleb(imports, 1);
  utf8(imports, 'env');
  utf8(imports, 'memory');
  imports.push(0x02, 0x03); // memory, limits flag 3 = shared with a maximum
  uleb(imports, memory.initialPages);
  uleb(imports, memory.maximumPages);
  section(out, 2, imports);
  const funcs: number[] = [];
  uleb(funcs, functions.length);
  functions.forEach((_, i) => {
    uleb(funcs, i);
  });
  section(out, 3, funcs);
  const exports: number[] = [];
  uleb(exports, functions.length);
  functions.forEach((f, i) => {
    utf8(exports, f.name);
    exports.push(0x00);
    uleb(exports, i);
  });
  section(out, 7, exports);
  const code: number[] = [];
  uleb(code, functions.length);
  for (const f of functions) {
    const body = f.body();
    uleb(code, body.length);
    for (const b of body) code.push(b);
  }
  section(out, 10, code);
  return new Uint8Array(out);
}

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type SafetensorsTensor,
  writeSafetensors,
} from '../../src/io/safetensors.js';
import { InputError } from '../../src/util/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'ssmis-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Builds a file by hand: u64 LE header length, header JSON padded with spaces, data bytes. */
function handBuilt(header: string, data: number[], pad = true): Uint8Array {
  let h = header;
  if (pad) while (h.length % 8 !== 0) h += ' ';
  const out = new Uint8Array(8 + h.length + data.length);
  const len = h.length;
  for (let i = 0; i < 8; i++) out[i] = Math.floor(len / 256 ** i) % 256;
  for (let i = 0; i < h.length; i++) out[8 + i] = h.charCodeAt(i);
  out.set(data, 8 + h.length);
  return out;
}

function expectInputError(fn: () => unknown, ...parts: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InputError);
  for (const p of parts) expect((caught as Error).message).toContain(p);
}

describe('encodeSafetensors / decodeSafetensors', () => {
  it('round-trips every dtype, odd shapes and metadata', () => {
    const tensors: Record<string, SafetensorsTensor> = {
      f32: {
        dtype: 'F32',
        shape: [2, 3],
        data: Float32Array.of(1.5, -0, Infinity, -2.25, 3e-38, Number.NaN),
      },
      i32: { dtype: 'I32', shape: [3], data: Int32Array.of(-2147483648, 0, 2147483647) },
      u8: { dtype: 'U8', shape: [5], data: Uint8Array.of(0, 1, 127, 128, 255) },
      f64: { dtype: 'F64', shape: [1, 1, 2], data: Float64Array.of(Math.PI, -1e300) },
      scalar: { dtype: 'F32', shape: [], data: Float32Array.of(7) },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    };
    const bytes = encodeSafetensors(tensors, { format: 'pt', note: 'é ✓' });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
    const back = decodeSafetensors(bytes, 'mem.safetensors');
    expect(back.metadata).toEqual({ format: 'pt', note: 'é ✓' });
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const b = back.tensors[name];
      expect(b.dtype).toBe(t.dtype);
      expect(b.shape).toEqual(t.shape);
      expect(b.data.constructor).toBe(t.data.constructor);
      expect(Array.from(b.data)).toEqual(Array.from(t.data));
    }
    // -0 and NaN survive bit-exactly.
    expect(Object.is(back.tensors.f32.data[1], -0)).toBe(true);
  });

  it('writes exactly the hand-built byte layout', () => {
    const bytes = encodeSafetensors({
      a: { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) },
      b: { dtype: 'U8', shape: [1, 1], data: Uint8Array.of(9) },
    });
    const header =
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[1,1],"data_offsets":[8,9]}}';
    // 1.0f = 00 00 80 3f, 2.0f = 00 00 00 40 (little endian), then the byte 9.
    const expected = handBuilt(header, [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 9]);
    expect(Array.from(bytes)).toEqual(Array.from(expected));
    expect(header.length % 8).not.toBe(0); // so the padding path is exercised
  });

  it('reads a hand-built file with metadata and unordered entries', () => {
    const header =
      '{"__metadata__":{"k":"v"},"y":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},' +
      '"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}';
    const f64 = new Uint8Array(Float64Array.of(-0.5).buffer);
    const file = decodeSafetensors(handBuilt(header, [...f64, 0xff, 0xff, 0xff, 0xff]), 'hand.safetensors');
    expect(file.metadata).toEqual({ k: 'v' });
    expect(Array.from(file.tensors.x.data)).toEqual([-0.5]);
    expect(Array.from(file.tensors.y.data)).toEqual([-1]);
  });

  it('refuses inconsistent tensors when encoding', () => {
    expectInputError(
      () => encodeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }),
      "'w'",
      'needs 3 elements',
    );
    expectInputError(
      () => encodeSafetensors({ w: { dtype: 'I32', shape: [2], data: new Float32Array(2) } }),
      "'w'",
    );
  });
});

describe('hostile input', () => {
  const name = 'bad.safetensors';
  const entry = (o: string) => `{"t":${o}}`;

  it('too short for the length field', () => {
    expectInputError(() => decodeSafetensors(new Uint8Array(5), name), name, 'shorter than the 8-byte');
  });

  it('header length beyond the file', () => {
    const bytes = handBuilt(entry('{"dtype":"F32","shape":[],"data_offsets":[0,4]}'), [0, 0, 0, 0]);
    new DataView(bytes.buffer).setBigUint64(0, 1n << 62n, true);
    expectInputError(() => decodeSafetensors(bytes, name), name, 'header length');
  });

  it('header that is not JSON or not an object', () => {
    expectInputError(() => decodeSafetensors(handBuilt('{"t":', []), name), name, 'JSON');
    expectInputError(() => decodeSafetensors(handBuilt('[1,2]', []), name), name, 'JSON object');
  });

  it('offsets out of range', () => {
    const bytes = handBuilt(entry('{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'), [0, 0, 0, 0]);
    expectInputError(() => decodeSafetensors(bytes, name), name, "tensor 't'", 'beyond');
    const neg = handBuilt(entry('{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}'), [0, 0, 0, 0]);
    expectInputError(() => decodeSafetensors(neg, name), name, "tensor 't'", 'data_offsets');
  });

  it('overlapping tensors', () => {
    const header =
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expectInputError(
      () => decodeSafetensors(handBuilt(header, new Array(8).fill(0)), name),
      name,
      "'b'",
      'overlaps',
    );
  });

  it('shape × dtype size mismatch', () => {
    const bytes = handBuilt(entry('{"dtype":"F64","shape":[2],"data_offsets":[0,8]}'), new Array(8).fill(0));
    expectInputError(() => decodeSafetensors(bytes, name), name, "tensor 't'", 'needs 16 bytes');
  });

  it('unknown dtype and bad shapes', () => {
    const bf16 = handBuilt(entry('{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}'), [0, 0]);
    expectInputError(() => decodeSafetensors(bf16, name), name, "tensor 't'", 'BF16');
    const shape = handBuilt(entry('{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}'), [0]);
    expectInputError(() => decodeSafetensors(shape, name), name, "tensor 't'", 'shape');
  });

  it('non-string metadata', () => {
    const bytes = handBuilt('{"__metadata__":{"a":1}}', []);
    expectInputError(() => decodeSafetensors(bytes, name), name, '__metadata__');
  });

  it('a tensor named __proto__ stays an ordinary entry', () => {
    const bytes = handBuilt('{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [4]);
    const file = decodeSafetensors(bytes, name);
    expect(Object.keys(file.tensors)).toEqual(['__proto__']);
    expect(Object.hasOwn(file.tensors, 'toString')).toBe(false);
  });
});

describe('writeSafetensors / readSafetensors', () => {
  it('writes a file that reads back, atomically (no temp file left)', async () => {
    const file = path.join(dir, 'sub', 'w.safetensors');
    await writeSafetensors(
      file,
      { w: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) } },
      { a: 'b' },
    );
    const back = await readSafetensors(file);
    expect(Array.from(back.tensors.w.data)).toEqual([1, 2, 3, 4]);
    expect(back.metadata).toEqual({ a: 'b' });
    expect(readFileSync(file).length).toBe(8 + Number(readFileSync(file).readBigUInt64LE(0)) + 16);
  });

  it('a missing file is an InputError naming the path', async () => {
    const file = path.join(dir, 'nope.safetensors');
    await expect(readSafetensors(file)).rejects.toThrow(InputError);
    await expect(readSafetensors(file)).rejects.toThrow(file);
  });
});

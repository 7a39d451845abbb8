import { inflateSync, crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, encodePng } from '../../src/io/png.js';

interface Chunk {
  type: string;
  data: Uint8Array;
  crc: number;
  /** Bytes covered by the CRC (type + data). */
  covered: Uint8Array;
}

/** Independent chunk parser of the PNG layout (length, type, data, CRC). */
function parseChunks(png: Uint8Array): Chunk[] {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Chunk[] = [];
  let p = 8;
  while (p < png.length) {
    const length = dv.getUint32(p);
    const type = String.fromCharCode(...png.subarray(p + 4, p + 8));
    const data = png.subarray(p + 8, p + 8 + length);
    const crc = dv.getUint32(p + 8 + length);
    chunks.push({ type, data, crc, covered: png.subarray(p + 4, p + 8 + length) });
    p += 12 + length;
  }
  expect(p).toBe(png.length);
  return chunks;
}

describe('encodePng', () => {
  it('crc32 matches the check value and zlib', () => {
    const check = new TextEncoder().encode('123456789');
    expect(crc32(check)).toBe(0xcbf43926);
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 0xff);
    expect(crc32(bytes)).toBe(zlibCrc32(bytes));
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('writes signature, IHDR, IDAT, IEND with valid CRCs and the exact pixels', () => {
    const width = 3;
    const height = 2;
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    const png = encodePng(rgb, width, height);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const chunks = parseChunks(png);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    for (const c of chunks) expect(c.crc).toBe(zlibCrc32(c.covered));

    const ihdr = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset, 13);
    expect(chunks[0].data.length).toBe(13);
    expect(ihdr.getUint32(0)).toBe(width);
    expect(ihdr.getUint32(4)).toBe(height);
    expect([...chunks[0].data.subarray(8)]).toEqual([8, 2, 0, 0, 0]);
    expect(chunks[2].data.length).toBe(0);

    const raw = inflateSync(chunks[1].data);
    expect(raw.length).toBe(height * (1 + width * 3));
    for (let y = 0; y < height; y++) {
      const row = raw.subarray(y * (1 + width * 3), (y + 1) * (1 + width * 3));
      expect(row[0]).toBe(0);
      expect([...row.subarray(1)]).toEqual([...rgb.subarray(y * width * 3, (y + 1) * width * 3)]);
    }
  });

  it('rejects a buffer of the wrong size and bad dimensions', () => {
    expect(() => encodePng(new Uint8Array(5), 1, 2)).toThrow(/needs 6 bytes, found 5/);
    expect(() => encodePng(new Uint8Array(0), 0, 1)).toThrow(/width must be a positive integer/);
  });
});

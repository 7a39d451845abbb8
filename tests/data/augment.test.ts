import { describe, expect, it } from 'vitest';
import {
  centerCrop,
  cropBox,
  cropPadding,
  flip,
  floorDiv,
  padSymmetric,
  randomCrop,
  randomRotFlip,
  randomRotFlipCrop,
  rot90,
  rot90SourceIndex,
  rotFlip,
  roundHalfEven,
} from '../../src/data/augment.js';
import { Rng } from '../../src/util/rng.js';
import { refusal } from '../helpers/files.js';

/** The 2×3 array [[0, 1, 2], [10, 11, 12]] (N0 = 2, N1 = 3), row-major. */
const A = Int32Array.from([0, 1, 2, 10, 11, 12]);

describe('rot90 / flip index maps (numpy semantics)', () => {
  it('k = 0..3 on a non-square 2×3 array, element by element', () => {
    // np.rot90(A, k) written out by hand from out[i,j] = in[j, N1−1−i] (k=1), in[N0−1−i, N1−1−j] (k=2),
    // in[N0−1−j, i] (k=3).
    const expected: Record<number, { shape: number[]; data: number[] }> = {
      0: { shape: [2, 3], data: [0, 1, 2, 10, 11, 12] },
      1: { shape: [3, 2], data: [2, 12, 1, 11, 0, 10] },
      2: { shape: [2, 3], data: [12, 11, 10, 2, 1, 0] },
      3: { shape: [3, 2], data: [10, 0, 11, 1, 12, 2] },
    };
    for (const k of [0, 1, 2, 3]) {
      const r = rot90(A, [2, 3], k);
      expect(r.shape).toEqual(expected[k].shape);
      expect(Array.from(r.data)).toEqual(expected[k].data);
    }
    expect(Array.from(rot90(A, [2, 3], 5).data)).toEqual(expected[1].data);
    expect(Array.from(rot90(A, [2, 3], -1).data)).toEqual(expected[3].data);
  });

  it('flips along axis 0 and 1', () => {
    expect(Array.from(flip(A, [2, 3], 0).data)).toEqual([10, 11, 12, 0, 1, 2]);
    expect(Array.from(flip(A, [2, 3], 1).data)).toEqual([2, 1, 0, 12, 11, 10]);
  });

  it('keeps trailing axes (Z, channels) intact on a 3×2×4 volume', () => {
    const [n0, n1, n2] = [3, 2, 4];
    const vol = new Float32Array(n0 * n1 * n2);
    for (let i = 0; i < n0; i++)
      for (let j = 0; j < n1; j++)
        for (let k = 0; k < n2; k++) vol[(i * n1 + j) * n2 + k] = 100 * i + 10 * j + k;
    const at = (i: number, j: number, k: number) => 100 * i + 10 * j + k;
    // Independent brute force of numpy's rot90 formulas.
    const maps: Record<number, (i: number, j: number) => [number, number]> = {
      1: (i, j) => [j, n1 - 1 - i],
      2: (i, j) => [n0 - 1 - i, n1 - 1 - j],
      3: (i, j) => [n0 - 1 - j, i],
    };
    for (const k of [1, 2, 3]) {
      const r = rot90(vol, [n0, n1, n2], k);
      const [m0, m1] = k % 2 === 1 ? [n1, n0] : [n0, n1];
      expect(r.shape).toEqual([m0, m1, n2]);
      for (let i = 0; i < m0; i++)
        for (let j = 0; j < m1; j++)
          for (let z = 0; z < n2; z++) {
            const [si, sj] = maps[k](i, j);
            expect(r.data[(i * m1 + j) * n2 + z]).toBe(at(si, sj, z));
          }
    }
    const f = flip(vol, [n0, n1, n2], 1);
    for (let i = 0; i < n0; i++)
      for (let j = 0; j < n1; j++)
        for (let z = 0; z < n2; z++) expect(f.data[(i * n1 + j) * n2 + z]).toBe(at(i, n1 - 1 - j, z));
  });

  it('rot90SourceIndex is the table of numpy rot90', () => {
    expect(rot90SourceIndex(0, 1, 2, 3, 1)).toEqual([1, 2]);
    expect(rot90SourceIndex(0, 1, 2, 3, 2)).toEqual([1, 1]);
    expect(rot90SourceIndex(0, 1, 2, 3, 3)).toEqual([0, 0]);
  });

  it('randomRotFlip draws k = randint(0,4) then axis = randint(0,2) and applies them to image and label', () => {
    const shape = [3, 2, 2];
    const n = 12;
    const label = Uint8Array.from({ length: n }, (_, v) => v);
    // Two channels: c0 = v, c1 = v + 100, so both must follow the label's map.
    const image = new Float32Array(2 * n);
    for (let v = 0; v < n; v++) {
      image[2 * v] = v;
      image[2 * v + 1] = v + 100;
    }
    const rng = new Rng(7);
    const seen = new Set<string>();
    for (let t = 0; t < 200; t++) {
      const probe = rng.clone();
      const k = probe.randint(0, 4);
      const axis = probe.randint(0, 2);
      const r = randomRotFlip(image, label, shape, rng);
      expect([r.k, r.axis]).toEqual([k, axis]);
      expect(rng.getState()).toEqual(probe.getState());
      const manual = flip(rot90(label, shape, k).data, rot90(label, shape, k).shape, axis);
      expect(Array.from(r.label)).toEqual(Array.from(manual.data));
      expect(r.shape).toEqual(manual.shape);
      for (let v = 0; v < n; v++) {
        expect(r.image[2 * v]).toBe(r.label[v]);
        expect(r.image[2 * v + 1]).toBe(r.label[v] + 100);
      }
      seen.add(`${k},${axis}`);
    }
    expect(seen.size).toBe(8);
    // Inputs untouched.
    expect(Array.from(label)).toEqual(Array.from({ length: n }, (_, v) => v));
  });

  it('rotFlip rejects a flip axis other than 0 or 1 (axis 2 is never flipped)', () => {
    expect(() => rotFlip(new Float32Array(8), new Uint8Array(8), [2, 2, 2], 0, 2)).toThrow(/0 or 1/);
  });
});

describe('crop pad rule (Q18)', () => {
  it('floorDiv is Python floor division and roundHalfEven is Python round', () => {
    expect([floorDiv(7, 2), floorDiv(-1, 2), floorDiv(-3, 2), floorDiv(-4, 2)]).toEqual([3, -1, -2, -2]);
    expect([0.5, 1.5, 2.5, 3.5, 4.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 4, 4, -2, 2, 3]);
  });

  it('pads every axis by max((o − s)//2 + 3, 0) when any axis is ≤ patch', () => {
    expect(cropPadding([100, 100, 70], [112, 112, 80], 3)).toEqual([9, 9, 8]);
    expect(cropPadding([120, 120, 90], [112, 112, 80], 3)).toEqual([0, 0, 0]);
    // Equal size triggers (≤): axis 0 padded by 3; axes 8 and 10 larger get (−4)+3 → 0 and (−5)+3 → 0.
    expect(cropPadding([112, 120, 90], [112, 112, 80], 3)).toEqual([3, 0, 0]);
  });

  it('pads an axis 1–4 voxels larger than the patch when another axis triggered it', () => {
    // Axis 1 (100 ≤ 112) triggers; axis 0 is 1, 2, 3, 4, 5 voxels larger: (−1)//2+3 = 2, (−2)//2+3 = 2,
    // (−3)//2+3 = 1, (−4)//2+3 = 1, (−5)//2+3 = 0. Truncating division would give 3, 2, 2, 1, 1.
    const pads = [113, 114, 115, 116, 117].map((s) => cropPadding([s, 100, 90], [112, 112, 80], 3)[0]);
    expect(pads).toEqual([2, 2, 1, 1, 0]);
  });

  it('uses +1 for the pancreas margin', () => {
    expect(cropPadding([90, 100, 96], [96, 96, 96], 1)).toEqual([4, 0, 1]);
    expect(cropPadding([95, 97, 98], [96, 96, 96], 1)).toEqual([1, 0, 0]);
  });

  it('padSymmetric and cropBox keep trailing axes and place data at the offset', () => {
    const p = padSymmetric(Int32Array.from([1, 2, 3, 4]), [2, 1, 2], [1, 0]);
    expect(p.shape).toEqual([4, 1, 2]);
    expect(Array.from(p.data)).toEqual([0, 0, 1, 2, 3, 4, 0, 0]);
    const c = cropBox(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]), [3, 3], [1, 1], [2, 2]);
    expect(Array.from(c.data)).toEqual([4, 5, 7, 8]);
  });
});

/** Brute-force crop of the zero-padded volume, for element-by-element checks. */
function expectedCrop(
  src: ArrayLike<number>,
  shape: number[],
  channels: number,
  pad: number[],
  start: number[],
  patch: number[],
): number[] {
  const out: number[] = [];
  for (let i = 0; i < patch[0]; i++)
    for (let j = 0; j < patch[1]; j++)
      for (let k = 0; k < patch[2]; k++)
        for (let c = 0; c < channels; c++) {
          const x = i + start[0] - pad[0];
          const y = j + start[1] - pad[1];
          const z = k + start[2] - pad[2];
          const inside = x >= 0 && y >= 0 && z >= 0 && x < shape[0] && y < shape[1] && z < shape[2];
          out.push(inside ? src[((x * shape[1] + y) * shape[2] + z) * channels + c] : 0);
        }
  return out;
}

describe('randomCrop / centerCrop', () => {
  const shape = [4, 5, 3];
  const n = 60;
  const label = Uint8Array.from({ length: n }, (_, v) => 1 + (v % 250));
  const image = Float32Array.from({ length: 2 * n }, (_, v) => v + 1);

  it('pads (margin 1), draws starts for axes 0,1,2 in order and crops image and label alike', () => {
    const rng = new Rng(3);
    for (let t = 0; t < 20; t++) {
      const probe = rng.clone();
      // Padded [6, 5, 5] (pads [1, 0, 1]): starts randint(0, 2), randint(0, 1), randint(0, 1).
      const s0 = probe.randint(0, 2);
      const s1 = probe.randint(0, 1);
      const s2 = probe.randint(0, 1);
      const r = randomCrop(image, label, shape, [4, 4, 4], rng, { padMargin: 1 });
      expect(r.pad).toEqual([1, 0, 1]);
      expect(r.start).toEqual([s0, s1, s2]);
      expect(r.shape).toEqual([4, 4, 4]);
      expect(Array.from(r.label)).toEqual(expectedCrop(label, shape, 1, r.pad, r.start, [4, 4, 4]));
      expect(Array.from(r.image)).toEqual(expectedCrop(image, shape, 2, r.pad, r.start, [4, 4, 4]));
    }
  });

  it('defaults to margin 3', () => {
    const r = randomCrop(image, label, shape, [4, 4, 4], new Rng(1));
    expect(r.pad).toEqual([3, 2, 3]);
  });

  it('never draws the last possible start (numpy randint upper bound exclusive)', () => {
    const big = [10, 9, 8];
    const nb = 720;
    const rng = new Rng(11);
    const min = [Infinity, Infinity, Infinity];
    const max = [-Infinity, -Infinity, -Infinity];
    const img = new Float32Array(nb);
    const lab = new Uint8Array(nb);
    for (let t = 0; t < 3000; t++) {
      const r = randomCrop(img, lab, big, [6, 6, 6], rng);
      expect(r.pad).toEqual([0, 0, 0]);
      r.start.forEach((s, a) => {
        min[a] = Math.min(min[a], s);
        max[a] = Math.max(max[a], s);
      });
    }
    // size − o = 4, 3, 2 → starts in [0, 3], [0, 2], [0, 1]; the valid starts 4, 3, 2 never appear.
    expect(min).toEqual([0, 0, 0]);
    expect(max).toEqual([3, 2, 1]);
  });

  it('reports a padded size equal to the patch (margin 0) instead of drawing randint(0, 0)', () => {
    expect(() =>
      randomCrop(new Float32Array(8), new Uint8Array(8), [2, 2, 2], [2, 2, 2], new Rng(1), { padMargin: 0 }),
    ).toThrow(/axis 0 has size 2 after padding and patch 2/);
  });

  it('centerCrop starts at Python round((size − o)/2) (half to even)', () => {
    const s = [9, 10, 11];
    const nv = 990;
    const lab = Uint8Array.from({ length: nv }, (_, v) => v % 256);
    const img = Float32Array.from({ length: nv }, (_, v) => v);
    const r = centerCrop(img, lab, s, [6, 6, 6]);
    // (9−6)/2 = 1.5 → 2; (10−6)/2 = 2; (11−6)/2 = 2.5 → 2.
    expect(r.start).toEqual([2, 2, 2]);
    expect(Array.from(r.image)).toEqual(expectedCrop(img, s, 1, [0, 0, 0], [2, 2, 2], [6, 6, 6]));
    const r2 = centerCrop(new Float32Array(13 * 7 * 7), new Uint8Array(13 * 7 * 7), [13, 7, 7], [6, 6, 6]);
    expect(r2.start).toEqual([4, 0, 0]); // 3.5 → 4, 0.5 → 0
  });

  it('centerCrop uses the same pad rule (margin 3 default, 1 for pancreas)', () => {
    const s = [5, 8, 8];
    const nv = 320;
    const img = Float32Array.from({ length: nv }, (_, v) => v + 1);
    const lab = new Uint8Array(nv).fill(1);
    const r = centerCrop(img, lab, s, [6, 6, 6]);
    // Pads [1//2+3, (−2)//2+3, 2] = [3, 2, 2] → padded [11, 12, 12]; starts [2.5 → 2, 3, 3].
    expect(r.pad).toEqual([3, 2, 2]);
    expect(r.start).toEqual([2, 3, 3]);
    expect(Array.from(r.image)).toEqual(expectedCrop(img, s, 1, r.pad, r.start, [6, 6, 6]));
    const p = centerCrop(img, lab, s, [6, 6, 6], { padMargin: 1 });
    // Pads [1, 0, 0] → padded [7, 8, 8]; starts [0.5 → 0, 1, 1].
    expect(p.pad).toEqual([1, 0, 0]);
    expect(p.start).toEqual([0, 1, 1]);
    expect(Array.from(p.label)).toEqual(expectedCrop(lab, s, 1, p.pad, p.start, [6, 6, 6]));
  });
});

describe('randomRotFlipCrop', () => {
  const cases: Array<{
    shape: number[];
    patch: number[];
    channels: number;
    center: boolean;
    margin: number;
  }> = [
    { shape: [13, 9, 7], patch: [6, 5, 4], channels: 1, center: false, margin: 3 },
    { shape: [9, 13, 7], patch: [6, 5, 4], channels: 2, center: true, margin: 3 },
    { shape: [5, 11, 6], patch: [8, 6, 6], channels: 1, center: false, margin: 1 }, // pads every axis
    { shape: [12, 10, 3], patch: [4, 12, 5], channels: 3, center: true, margin: 3 },
    { shape: [10, 7], patch: [6, 9], channels: 1, center: false, margin: 3 },
    { shape: [6, 5, 4, 3], patch: [4, 4, 4, 2], channels: 2, center: false, margin: 1 },
  ];
  for (const { shape, patch, channels, center, margin } of cases) {
    it(`equals randomRotFlip then ${center ? 'centerCrop' : 'randomCrop'} (shape ${shape}, patch ${patch}, ${channels} channel(s))`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Rng(n);
      const image = Float32Array.from({ length: n * channels }, () => data.normal());
      const label = Uint8Array.from({ length: n }, () => data.randint(0, 3));
      for (let seed = 0; seed < 12; seed++) {
        const a = new Rng(seed);
        const b = new Rng(seed);
        const r = randomRotFlip(image, label, shape, a);
        const expected = center
          ? centerCrop(r.image, r.label, r.shape, patch, { padMargin: margin })
          : randomCrop(r.image, r.label, r.shape, patch, a, { padMargin: margin });
        const got = randomRotFlipCrop(image, label, shape, patch, b, { padMargin: margin, center });
        expect([got.k, got.axis]).toEqual([r.k, r.axis]);
        expect(got.pad).toEqual(expected.pad);
        expect(got.start).toEqual(expected.start);
        expect(Array.from(got.image)).toEqual(Array.from(expected.image));
        expect(Array.from(got.label)).toEqual(Array.from(expected.label));
        expect(got.label).toBeInstanceOf(Uint8Array);
        expect(b.getState()).toEqual(a.getState());
      }
    });
  }
});

describe('bad shapes and arguments are InputErrors (exit code 2) with one line naming the function', () => {
  const image = new Float32Array(8);
  const label = new Uint8Array(8);
  const cases: [string, () => unknown, RegExp][] = [
    ['rot90 shape', () => rot90(A, [0, 6], 1), /^rot90: shape must be positive integers, got \[0, 6\]$/],
    ['rot90 rank', () => rot90(A, [6], 1), /^rot90: shape needs at least 2 axes, got \[6\]$/],
    ['rot90 length', () => rot90(A, [2, 2], 1), /^rot90: data length 6 does not match shape \[2, 2\]$/],
    ['flip axis', () => flip(A, [2, 3], 2), /^flip: axis 2 out of range for shape \[2, 3\]$/],
    ['flip length', () => flip(A, [3, 3], 0), /^flip: data length 6 does not match shape \[3, 3\]$/],
    [
      'padSymmetric',
      () => padSymmetric(A, [2, 3], [-1]),
      /^padSymmetric: bad pads \[-1\] for shape \[2, 3\]$/,
    ],
    ['cropBox rank', () => cropBox(A, [2, 3], [0], [1, 1]), /^cropBox: start\/size rank does not fit/],
    ['cropBox box', () => cropBox(A, [2, 3], [1, 0], [2, 3]), /^cropBox: box start 1 size 2 exceeds axis 0/],
    [
      'cropPadding',
      () => cropPadding([2, 3], [2], 3),
      /^cropPadding: patch \[2\] does not match shape \[2, 3\]$/,
    ],
    [
      'randomCrop patch rank',
      () => randomCrop(image, label, [2, 2, 2], [2, 2], new Rng(1)),
      /^randomCrop: patch \[2, 2\] does not match shape \[2, 2, 2\]$/,
    ],
    [
      'label length',
      () => rotFlip(image, new Uint8Array(7), [2, 2, 2], 0, 0),
      /^rotFlip: label length 7 does not match shape \[2, 2, 2\]$/,
    ],
    [
      'image channels',
      () => rotFlip(new Float32Array(12), label, [2, 2, 2], 0, 0),
      /^rotFlip: image length 12 is not a whole number of channels/,
    ],
    [
      'flip axis of rotFlip',
      () => rotFlip(image, label, [2, 2, 2], 0, 2),
      /^rotFlip: flip axis must be 0 or 1, got 2$/,
    ],
    [
      'padMargin',
      () => centerCrop(image, label, [2, 2, 2], [2, 2, 2], { padMargin: 1.5 }),
      /^centerCrop: padMargin must be an integer, got 1\.5$/,
    ],
    [
      'randomCrop margin 0',
      () => randomCrop(image, label, [2, 2, 2], [2, 2, 2], new Rng(1), { padMargin: 0 }),
      /^randomCrop: axis 0 has size 2 after padding and patch 2; /,
    ],
    [
      'centerCrop margin 0',
      () => centerCrop(new Float32Array(27), new Uint8Array(27), [3, 3, 3], [4, 4, 4], { padMargin: 0 }),
      /^centerCrop: axis 0 has size 3 after padding, smaller than patch 4$/,
    ],
    [
      'randomRotFlipCrop margin 0',
      () => randomRotFlipCrop(image, label, [2, 2, 2], [2, 2, 2], new Rng(1), { padMargin: 0 }),
      /^randomCrop: axis 0 has size 2 after padding and patch 2; /,
    ],
  ];
  for (const [what, call, message] of cases) {
    it(what, async () => {
      expect(await refusal(Promise.resolve().then(call))).toMatch(message);
    });
  }
});

import { describe, expect, it } from 'vitest';
import { evaluateCase } from '../../src/eval/protocol.js';
import { evalInferenceSettings, foregroundClasses, inferCase } from '../../src/infer/infer-case.js';
import { keepLargestComponent, keepLargestComponents } from '../../src/infer/post-process.js';
import { inferVolume } from '../../src/infer/sliding-window.js';
import { box, signImage, signModel3d, tinyConfig } from '../eval/eval-helpers.js';

describe('keepLargestComponents', () => {
  it('keeps the largest 3-D component per class and leaves other classes alone', () => {
    const shape: [number, number, number] = [6, 6, 6];
    const labels = box(shape, [0, 0, 0], [1, 1, 1], 1);
    box(shape, [4, 4, 4], [4, 4, 4], 1, labels); // small class-1 island
    box(shape, [0, 4, 0], [0, 4, 0], 2, labels); // class 2: one voxel
    const out = keepLargestComponents(labels, shape, [1], 26);
    expect(out[(4 * 6 + 4) * 6 + 4]).toBe(0);
    expect(out[(0 * 6 + 4) * 6 + 0]).toBe(2);
    expect(out.reduce((n, v) => n + (v === 1 ? 1 : 0), 0)).toBe(8);
  });

  it('2-D connectivity works slice by slice along the last axis', () => {
    const shape: [number, number, number] = [5, 5, 2];
    const labels = new Uint8Array(50);
    const at = (i: number, j: number, k: number) => (i * 5 + j) * 2 + k;
    // slice 0: a 2-pixel bar and a single pixel; slice 1: a single pixel only (kept: its own slice's largest)
    labels[at(0, 0, 0)] = 1;
    labels[at(0, 1, 0)] = 1;
    labels[at(4, 4, 0)] = 1;
    labels[at(3, 3, 1)] = 1;
    const out = keepLargestComponents(labels, shape, [1], 8);
    expect([out[at(0, 0, 0)], out[at(0, 1, 0)], out[at(4, 4, 0)], out[at(3, 3, 1)]]).toEqual([1, 1, 0, 1]);
  });
});

describe('keepLargestComponent (one mask): the rule evaluateCase shares with eval and predict', () => {
  it('evaluateCase with largestComponent scores exactly the map keepLargestComponents leaves', () => {
    const shape: [number, number, number] = [6, 6, 6];
    const pred = box(shape, [0, 0, 0], [2, 2, 2], 1);
    box(shape, [5, 5, 5], [5, 5, 5], 1, pred); // a false-positive island
    const label = box(shape, [0, 0, 0], [2, 2, 2], 1);
    box(shape, [5, 5, 5], [5, 5, 5], 1, label);
    const option = evaluateCase(pred, label, shape, { largestComponent: 26, protocol: 'paper' });
    const before = evaluateCase(keepLargestComponents(pred, shape, [1], 26), label, shape, {
      protocol: 'paper',
    });
    expect(option).toEqual(before);
    expect(option.classes[0].predVoxels).toBe(27);
  });

  it('a 2-D mask with a 2-D connectivity, and a 3-D mask with a planar one (slice by slice)', () => {
    const flat = Uint8Array.from([1, 1, 0, 0, 0, 1]); // [2, 3]: a bar of 2 and a single pixel
    expect([...keepLargestComponent(flat, [2, 3], 4)]).toEqual([1, 1, 0, 0, 0, 0]);
    const shape = [2, 3, 2];
    const mask = new Uint8Array(12);
    for (const [q, v] of flat.entries()) mask[q * 2] = v; // slice 0 = `flat`
    mask[5 * 2 + 1] = 1; // slice 1: one pixel, its own largest
    const kept = keepLargestComponent(mask, shape, 4);
    expect([...kept]).toEqual([1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    // evaluateCase's option follows the same rule on a 3-D map (it refused a planar connectivity before).
    const scored = evaluateCase(mask, mask, shape, { largestComponent: 4, protocol: 'paper' });
    expect(scored.classes[0].predVoxels).toBe(3);
  });
});

describe('inferCase', () => {
  it('is inferVolume then keepLargestComponents on the foreground classes, with the eval settings', async () => {
    const shape: [number, number, number] = [16, 16, 20];
    const fg = box(shape, [0, 0, 0], [3, 3, 3], 1);
    box(shape, [12, 12, 16], [13, 13, 17], 1, fg); // a smaller second component
    const image = signImage(fg);
    const model = signModel3d();
    const config = tinyConfig('unused', {
      eval: { patch: [16, 16, 16], strides: [16, 16, 4], largestComponent: true, connectivity: 6 },
    });
    const settings = evalInferenceSettings(config);
    expect(settings).toMatchObject({ patch: [16, 16, 16], strides: [16, 16, 4], largestComponent: 6 });
    expect(foregroundClasses(model)).toEqual([1]);
    const c = { image, shape, channels: 1 };
    const raw = await inferVolume(model, { data: image, shape: [...shape, 1] }, settings);
    const result = await inferCase(model, c, settings);
    expect([...raw.labels]).toEqual([...fg]);
    expect(result.probabilities).toEqual(raw.probabilities);
    expect([...result.labels]).toEqual([...keepLargestComponents(raw.labels, shape, [1], 6)]);
    expect(result.labels.reduce((n, v) => n + v, 0)).toBe(64);
    const off = await inferCase(model, c, { ...settings, largestComponent: false });
    expect([...off.labels]).toEqual([...fg]);
  });
});

/**
 * Overlays of a report: the representative slices of a case drawn as PNG pictures (image in grey, label and
 * prediction contours) in `overlays/` beside `report.html`.
 */
import path from 'node:path';
import { encodePng } from '../io/png.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';

/** A case id usable as a file name stem (no separators, not `.`/`..`), else InputError. */
export function safeFileStem(id: string, what = 'case id'): string {
  if (id.length === 0 || id === '.' || id === '..' || /[/\\\0]/.test(id)) {
    throw new InputError(`${what} "${id}" cannot be used as a file name (it contains a path separator)`);
  }
  return id;
}

export type SliceKind = 'largest label area' | 'largest disagreement';

export interface SliceChoice {
  /** Index along the last axis (the axial slice for RAS-like volumes). */
  k: number;
  /** Why it was chosen (one slice can be both). */
  kinds: SliceKind[];
  labelVoxels: number;
  disagreement: number;
}

/**
 * Representative slices along the last axis: the one with the most labelled voxels and the one where label
 * and prediction differ in the most voxels (ties: the lowest index). One slice when both are the same or
 * nothing disagrees. With an empty label the slice with the most predicted voxels stands in (the middle
 * slice when both are empty).
 */
export function representativeSlices(
  label: ArrayLike<number>,
  pred: ArrayLike<number>,
  shape: readonly [number, number, number],
): SliceChoice[] {
  const [nx, ny, nz] = shape;
  const area = new Float64Array(nz);
  const predArea = new Float64Array(nz);
  const diff = new Float64Array(nz);
  for (let p = 0, i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      for (let k = 0; k < nz; k++, p++) {
        if (label[p] !== 0) area[k]++;
        if (pred[p] !== 0) predArea[k]++;
        if (label[p] !== pred[p]) diff[k]++;
      }
    }
  }
  const argmax = (a: Float64Array) => a.reduce((best, v, k) => (v > a[best] ? k : best), 0);
  let kLabel = argmax(area);
  if (area[kLabel] === 0) {
    kLabel = argmax(predArea);
    if (predArea[kLabel] === 0) kLabel = Math.floor(nz / 2);
  }
  const out: SliceChoice[] = [
    { k: kLabel, kinds: ['largest label area'], labelVoxels: area[kLabel], disagreement: diff[kLabel] },
  ];
  const kDiff = argmax(diff);
  if (diff[kDiff] > 0) {
    if (kDiff === kLabel) out[0].kinds.push('largest disagreement');
    else
      out.push({
        k: kDiff,
        kinds: ['largest disagreement'],
        labelVoxels: area[kDiff],
        disagreement: diff[kDiff],
      });
  }
  return out;
}

/** Pixels per voxel so that small volumes are still readable (at least ~256 px on the long side). */
function upscale(nx: number, ny: number): number {
  return Math.max(1, Math.min(16, Math.floor(256 / Math.max(nx, ny))));
}

/** Contour: a non-zero pixel with a 4-neighbour of another value or on the slice edge. */
function contour(values: Uint8Array, nx: number, ny: number): Uint8Array {
  const out = new Uint8Array(nx * ny);
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const v = values[i * ny + j];
      if (v === 0) continue;
      const edge =
        i === 0 ||
        j === 0 ||
        i === nx - 1 ||
        j === ny - 1 ||
        values[(i - 1) * ny + j] !== v ||
        values[(i + 1) * ny + j] !== v ||
        values[i * ny + j - 1] !== v ||
        values[i * ny + j + 1] !== v;
      if (edge) out[i * ny + j] = 1;
    }
  }
  return out;
}

export interface OverlayInput {
  /** `[X, Y, Z, C]` row-major (channels last); channel 0 is drawn. */
  image: Float32Array;
  channels: number;
  label: ArrayLike<number>;
  pred: ArrayLike<number>;
  shape: readonly [number, number, number];
}

/**
 * RGB picture of slice `k`: channel 0 in grey (window = 1st–99th percentile of the slice), label contour in
 * green, prediction contour in red, both in yellow. The i axis runs left → right and j bottom → top, each
 * voxel drawn as an s×s block.
 */
export function renderOverlay(
  input: OverlayInput,
  k: number,
): { rgb: Uint8Array; width: number; height: number } {
  const [nx, ny, nz] = input.shape;
  const c = input.channels;
  const n = nx * ny;
  const grey = new Float32Array(n);
  const lab = new Uint8Array(n);
  const prd = new Uint8Array(n);
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const v = (i * ny + j) * nz + k;
      grey[i * ny + j] = input.image[v * c];
      lab[i * ny + j] = Number(input.label[v]);
      prd[i * ny + j] = Number(input.pred[v]);
    }
  }
  const sorted = Float32Array.from(grey).sort();
  const lo = sorted[Math.floor(0.01 * (n - 1))];
  const hi = sorted[Math.ceil(0.99 * (n - 1))];
  const range = hi > lo ? hi - lo : 1;
  const cl = contour(lab, nx, ny);
  const cp = contour(prd, nx, ny);
  const s = upscale(nx, ny);
  const width = nx * s;
  const height = ny * s;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const q = i * ny + j;
      let r: number;
      let g: number;
      let b: number;
      if (cl[q] && cp[q]) [r, g, b] = [255, 255, 0];
      else if (cl[q]) [r, g, b] = [0, 255, 0];
      else if (cp[q]) [r, g, b] = [255, 0, 0];
      else {
        const t = Math.round((255 * (grey[q] - lo)) / range);
        r = g = b = Math.max(0, Math.min(255, t));
      }
      const row0 = (ny - 1 - j) * s;
      for (let dy = 0; dy < s; dy++) {
        let o = ((row0 + dy) * width + i * s) * 3;
        for (let dx = 0; dx < s; dx++, o += 3) {
          rgb[o] = r;
          rgb[o + 1] = g;
          rgb[o + 2] = b;
        }
      }
    }
  }
  return { rgb, width, height };
}

export interface OverlayRef {
  /** Path relative to the report folder. */
  file: string;
  k: number;
  kinds: SliceKind[];
  labelVoxels: number;
  disagreement: number;
}

/** Writes the representative-slice PNGs of one case into `<outDir>/overlays/` and returns their references. */
export async function writeCaseOverlays(
  outDir: string,
  caseId: string,
  input: OverlayInput,
): Promise<OverlayRef[]> {
  const stem = safeFileStem(caseId);
  const refs: OverlayRef[] = [];
  for (const choice of representativeSlices(input.label, input.pred, input.shape)) {
    const { rgb, width, height } = renderOverlay(input, choice.k);
    const file = `overlays/${stem}_z${choice.k}.png`;
    await writeFileAtomic(path.join(outDir, file), encodePng(rgb, width, height));
    refs.push({
      file,
      k: choice.k,
      kinds: choice.kinds,
      labelVoxels: choice.labelVoxels,
      disagreement: choice.disagreement,
    });
  }
  return refs;
}

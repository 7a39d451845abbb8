/**
 * Geometry checks of volumes read from files: the spatial shape of a 3-D file, and whether two volumes share a
 * grid (same shape, affines within {@link GEOMETRY_TOLERANCE_MM}). The dataset loader, evaluation and prediction
 * check with these; each call site words its own message (naming its case or files). `prepare` compares shapes
 * only (`sameShape`): some raw layouts it reads (LA's h5 files) carry no affine to compare.
 */
import { InputError } from '../util/errors.js';
import { sameShape, shapeText } from '../util/shape.js';
import type { Affine } from './volume.js';

/** Affine entries (mm) of volumes on one grid may differ by this much (float32 header round-off). */
export const GEOMETRY_TOLERANCE_MM = 1e-3;

/** A spatial shape `[X, Y, Z]`. */
export type Shape3 = [number, number, number];

export { sameShape, shapeText } from '../util/shape.js';

/**
 * The spatial shape of a file's volume: 3-D, or 4-D with a single time point. Otherwise an InputError with
 * `message(shapeText(shape))`, so each caller names its file and what it expected.
 */
export function spatialShape(shape: readonly number[], message: (shape: string) => string): Shape3 {
  if (shape.length === 3 || (shape.length === 4 && shape[3] === 1)) return [shape[0], shape[1], shape[2]];
  throw new InputError(message(shapeText(shape)));
}

/** The largest absolute difference between the first three rows of two affines (mm). */
export function maxAffineDiff(a: Affine, b: Affine): number {
  let m = 0;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) m = Math.max(m, Math.abs(a[r][c] - b[r][c]));
  return m;
}

/** The messages of {@link checkSameGrid}, worded by the caller. */
export interface GridMessages {
  /** Shapes differ; both as `[X, Y, Z]`. */
  shape(found: string, expected: string): string;
  /** Affines differ by more than the tolerance; `diff` is the largest difference in mm, 3 significant digits. */
  affine(diff: string): string;
}

/**
 * Checks that a volume lies on the grid of a reference volume: the same spatial shape (checked first), and
 * affines within {@link GEOMETRY_TOLERANCE_MM}. Throws an InputError with the caller's message otherwise.
 */
export function checkSameGrid(
  found: { shape: readonly number[]; affine: Affine },
  expected: { shape: readonly number[]; affine: Affine },
  messages: GridMessages,
): void {
  if (!sameShape(found.shape, expected.shape)) {
    throw new InputError(messages.shape(shapeText(found.shape), shapeText(expected.shape)));
  }
  const diff = maxAffineDiff(found.affine, expected.affine);
  if (diff > GEOMETRY_TOLERANCE_MM) throw new InputError(messages.affine(diff.toPrecision(3)));
}

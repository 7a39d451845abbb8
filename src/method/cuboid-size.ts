/**
 * The cuboid's size (E1) and the reference's start ranges (E2, Q1), without TF.js so that the config layer checks a
 * config with the same rule the training step draws with.
 */
import { requireNumber, requireNumberArray } from '../util/args.js';

/** The names of {@link CuboidStartRange}. */
export const CUBOID_START_RANGES = ['reference', 'valid'] as const;

/**
 * How cuboid starts are drawn (`method.startRange`, quirk Q1):
 * - `reference`: start_i = randint(0, ref_i − size_i) with the reference's hard-coded ranges
 *   ({@link REFERENCE_START_RANGES}). On a 96³ patch (BraTS) starts beyond 32 truncate the cuboid at the border,
 *   and z never exceeds 15. Like the reference (Q2), the last start that keeps the cuboid inside is never drawn.
 * - `valid`: start_i = randint(0, shape_i − size_i + 1), i.e. uniform over **every** start that keeps the cuboid
 *   inside, including the last one (deliberately unlike Q2: this mode is the evident intent, not parity).
 */
export type CuboidStartRange = (typeof CUBOID_START_RANGES)[number];

/**
 * The reference's hard-coded start ranges per spatial dimensionality (`method.referenceStartRange` defaults): the
 * 3-D scripts' 112/112/80 (E2) and the ACDC 2-D mask's 256/256 (docs/equations.md §3.8).
 */
export const REFERENCE_START_RANGES: Readonly<Record<2 | 3, readonly number[]>> = {
  3: [112, 112, 80],
  2: [256, 256],
};

/** E1: size_i = int(shape_i · ratio), truncation toward zero as Python's int() (LA 74,74,53; 96³ → 64³; 256 → 170). */
export function cuboidSize(spatialShape: readonly number[], ratio: number): number[] {
  requireNumberArray('cuboidSize', 'spatialShape', spatialShape, { integer: true, min: 1, minLength: 1 });
  requireNumber('cuboidSize', 'ratio', ratio);
  return spatialShape.map((s) => Math.trunc(s * ratio));
}

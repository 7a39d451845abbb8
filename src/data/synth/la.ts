/**
 * LA phantoms: LGE-MRI-like volumes with a left-atrium-like blob, written as the challenge download
 * (`Training Set/<ID>/lgemri.nrrd` uchar + `laendo.nrrd` with 255 = atrium, LPS, 0.625 mm) or as the UA-MT
 * distribution (`2018LA_Seg_Training Set/<ID>/mri_norm2.h5`, already z-scored and x/y-cropped by the
 * reference preprocessing of §2.1).
 */
import path from 'node:path';
import { writeH5Datasets } from '../../io/hdf5.js';
import { writeNrrd } from '../../io/nrrd.js';
import type { Affine } from '../../io/volume.js';
import { Rng } from '../../util/rng.js';
import { boundingBox, cropArray, laCropBox, zscore } from '../prepare/steps.js';
import { type KnobRange, LA_DIFFICULTY_PRESETS, type LaDifficulty } from './difficulty.js';
import type { SynthSink } from './output.js';
import {
  addNoise,
  biasField,
  type Ellipsoid,
  ellipsoidField,
  quantize,
  randomRotation,
  randomUnit,
  smoothField,
  softInside,
  surfacePoint,
  type Vec3,
} from './shapes.js';

export const LA_SPACING = 0.625;

/** What a case drew for the knobs that change its topology (for checks and summaries; not written to disk). */
export interface LaCaseFeatures {
  /** Lobes attached to the main body. */
  lobes: number;
  /** Whether a second, disconnected target component was added. */
  secondComponent: boolean;
  /** Whether a hole or indentation was cut out of the main body. */
  hole: boolean;
  /** Distractor blobs. */
  distractors: number;
  /** Whether the case is a dark-target case (blood pool darker than tissue). */
  darkTarget: boolean;
}

/** Half-extent along each volume axis of a rotated ellipsoid (its axis-aligned bounding box). */
function halfExtent(e: Ellipsoid): Vec3 {
  const R = e.rotation;
  const [rx, ry, rz] = e.radii;
  return [0, 1, 2].map((a) => Math.hypot(R[a][0] * rx, R[a][1] * ry, R[a][2] * rz)) as Vec3;
}

/** The margin (voxels) `keepInside` leaves between the target and every face of the volume. */
const INSIDE_MARGIN = 2;

/**
 * Moves `parts` together (their centers, in place) so that the bounding box of all of them, each grown by
 * `bulge`, stays `INSIDE_MARGIN` voxels inside `shape`; along an axis where it cannot, the box is centred.
 */
function shiftInside(parts: Ellipsoid[], bulge: number, shape: [number, number, number]): void {
  for (let a = 0; a < 3; a++) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const e of parts) {
      const ext = halfExtent(e)[a] * bulge;
      lo = Math.min(lo, e.center[a] - ext);
      hi = Math.max(hi, e.center[a] + ext);
    }
    const room = shape[a] - 1 - INSIDE_MARGIN;
    const shift =
      hi - lo > room - INSIDE_MARGIN
        ? (shape[a] - 1) / 2 - (lo + hi) / 2
        : Math.max(0, INSIDE_MARGIN - lo) - Math.max(0, hi - room);
    for (const e of parts) e.center[a] += shift;
  }
}

/**
 * One LA case: uint8 image and a 0/1 atrium mask. The atrium is a rotated ellipsoid with attached lobes
 * (appendage, pulmonary-vein stubs) and an irregular surface; bright blood pool with a thin enhanced wall;
 * distractor blobs of similar brightness (aorta/ventricle) so that intensity alone is not enough; a textured
 * body on a dark background, a multiplicative bias field, per-case gain and Gaussian noise. `difficulty` sets
 * the ranges every per-case value is drawn from (default: the `standard` preset, the original generator);
 * a knob at its standard value draws no extra random number.
 */
export function makeLaCase(
  rng: Rng,
  shape: [number, number, number],
  difficulty: LaDifficulty = LA_DIFFICULTY_PRESETS.standard,
): { image: Uint8Array; label: Uint8Array; features: LaCaseFeatures } {
  const d = difficulty;
  const [nx, ny, nz] = shape;
  const u = (range: KnobRange) => rng.uniform(range[0], range[1]);
  const c: Vec3 = [nx * u(d.centerXY), ny * u(d.centerXY), nz * u(d.centerZ)];
  const main: Ellipsoid = {
    center: c,
    radii: [nx * u(d.radiusXY), ny * u(d.radiusXY), nz * u(d.radiusZ)],
    rotation: randomRotation(rng, [d.tilt, d.tilt, Math.PI]),
  };
  if (d.elongation[1] > 1) {
    const e = u(d.elongation);
    const axis = rng.randint(0, 3);
    for (let a = 0; a < 3; a++) main.radii[a] *= a === axis ? e : 1 / Math.sqrt(e);
  }
  if (d.minForeground > 0) {
    const volume = ((4 / 3) * Math.PI * main.radii[0] * main.radii[1] * main.radii[2]) / (nx * ny * nz);
    if (volume < d.minForeground) {
      const k = Math.cbrt(d.minForeground / volume);
      for (let a = 0; a < 3; a++) main.radii[a] *= k;
    }
  }
  // How far the rough surface reaches past an ellipsoid: the distance is scaled by 1 + roughness · f with a
  // unit-variance field f, so |f| < 1.5 almost everywhere.
  const bulge = 1 / (1 - 1.5 * d.roughness);
  const parts = [main];
  const lobes = rng.randint(d.lobes[0], d.lobes[1] + 1);
  const lobeDirs: Vec3[] = [];
  for (let l = 0; l < lobes; l++) {
    const dir = randomUnit(rng);
    lobeDirs.push(dir);
    const scale = u(d.lobeScale);
    parts.push({
      center: surfacePoint(main, dir),
      radii: [main.radii[0] * scale, main.radii[1] * scale, main.radii[2] * scale * 1.5],
      rotation: randomRotation(rng, Math.PI),
    });
  }
  if (d.keepInside) shiftInside(parts, bulge, shape);
  let second = false;
  if (d.secondComponentProbability > 0 && rng.random() < d.secondComponentProbability) {
    const placed = placeSecondComponent(rng, d, main, lobeDirs, parts.slice(1), shape, bulge);
    if (placed) parts.push(placed);
    second = placed !== null;
  }
  let hole: Ellipsoid | null = null;
  if (d.holeProbability > 0 && rng.random() < d.holeProbability) {
    const dir = randomUnit(rng);
    const depth = rng.uniform(0.5, 1);
    const scale = u(d.holeScale);
    const at = surfacePoint(main, dir);
    hole = {
      center: [0, 1, 2].map((a) => c[a] + (at[a] - c[a]) * depth) as Vec3,
      radii: [main.radii[0] * scale, main.radii[1] * scale, main.radii[2] * scale],
      rotation: randomRotation(rng, Math.PI),
    };
  }
  const rough = smoothField(rng, shape, Math.max(6, nx / 8));
  const atrium = ellipsoidField(shape, parts, rough, d.roughness);
  if (hole) {
    // Inside the hole the field is pushed above 1 (not target); its rim gets the enhanced wall as any edge.
    const cut = ellipsoidField(shape, [hole]);
    for (let p = 0; p < atrium.length; p++) atrium[p] = Math.max(atrium[p], 2 - cut[p]);
  }
  // Distractors: bright blobs next to the atrium, drawn under it.
  const distractors: Ellipsoid[] = [];
  const count =
    d.distractors[0] === d.distractors[1]
      ? d.distractors[0]
      : rng.randint(d.distractors[0], d.distractors[1] + 1);
  for (let k = 0; k < count; k++) {
    const dir = randomUnit(rng);
    const dist = u(d.distractorDistance);
    distractors.push({
      center: [0, 1, 2].map((a) => c[a] + dir[a] * main.radii[a] * dist) as Vec3,
      radii: [nx * u(d.distractorRadiusXY), ny * u(d.distractorRadiusXY), nz * u(d.distractorRadiusZ)],
      rotation: randomRotation(rng, 0.5),
    });
  }
  const other = ellipsoidField(shape, distractors);
  const body = ellipsoidField(shape, [
    {
      center: [nx / 2, ny / 2, nz / 2],
      radii: [nx * rng.uniform(0.44, 0.5), ny * rng.uniform(0.38, 0.46), nz * 4],
      rotation: randomRotation(rng, [0, 0, 0.2]),
    },
  ]);
  const texture = smoothField(rng, shape, Math.max(4, nx / 10));
  const bias = biasField(rng, shape, u(d.biasStrength), nx * 1.5);
  const gain = u(d.gain);
  let blood = u(d.bloodIntensity);
  const boost = u(d.wallBoost);
  const distractRatio = u(d.distractorIntensity);
  const tissue = u(d.tissueIntensity);
  // A dark-target case keeps every draw above and adds two; its wall is boosted over the tissue instead.
  const dark = d.darkTargetProbability > 0 && rng.random() < d.darkTargetProbability;
  if (dark) blood = tissue * u(d.darkBloodRatio);
  const wall = (dark ? tissue : blood) + boost;
  const distract = blood * distractRatio;
  const keep = d.keepInside;
  const n = nx * ny * nz;
  const img = new Float32Array(n);
  const label = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const a = atrium[p];
    const inA = softInside(a);
    const rim = Math.exp(-(((a - 1.12) / 0.06) ** 2));
    const inD = softInside(other[p]);
    let inBody = softInside(body[p], 0.02);
    if (keep && inA > inBody) inBody = inA;
    let v = tissue * (1 + 0.25 * texture[p]);
    v = v * (1 - inD) + distract * inD;
    v = v * (1 - inA) + blood * inA;
    v += (wall - blood) * 0.5 * rim;
    v = 6 + (v - 6) * inBody;
    img[p] = v * gain * bias[p];
    if (a < 1) label[p] = 1;
  }
  addNoise(rng, img, u(d.noiseSigma));
  return {
    image: quantize(img, new Uint8Array(n), 0, 255),
    label,
    features: { lobes, secondComponent: second, hole: hole !== null, distractors: count, darkTarget: dark },
  };
}

/**
 * A second target component off the main body, `secondComponentGap` main-body radii from its surface, in the one
 * of 8 random directions farthest from every lobe, among those where it stays clear of the lobes (so that it is
 * disconnected) and, with `keepInside`, fits inside the volume; where none does at its drawn size, it is shrunk
 * to 80 %, and where it still does not fit there is no second component (null). Always the same draws.
 */
function placeSecondComponent(
  rng: Rng,
  d: LaDifficulty,
  main: Ellipsoid,
  lobeDirs: Vec3[],
  lobeParts: Ellipsoid[],
  shape: [number, number, number],
  bulge: number,
): Ellipsoid | null {
  const scale = rng.uniform(d.secondComponentScale[0], d.secondComponentScale[1]);
  const gap = rng.uniform(d.secondComponentGap[0], d.secondComponentGap[1]);
  const rotation = randomRotation(rng, Math.PI);
  const dirs = Array.from({ length: 8 }, () => randomUnit(rng));
  const c = main.center;
  for (const shrink of d.keepInside ? [1, 0.8] : [1]) {
    const radii = main.radii.map((r) => r * scale * shrink) as Vec3;
    const ext = halfExtent({ center: [0, 0, 0], radii, rotation }).map((v) => v * bulge);
    const reach = Math.max(...radii) * bulge;
    let best: { center: Vec3; score: number } | null = null;
    for (const dir of dirs) {
      const at = surfacePoint(main, dir);
      const out = [0, 1, 2].map((a) => at[a] - c[a]) as Vec3;
      const r = Math.hypot(...out) || 1;
      const dist = r * (1 + gap) * bulge + reach;
      const center = [0, 1, 2].map((a) => c[a] + (out[a] / r) * dist) as Vec3;
      const fits = [0, 1, 2].every(
        (a) => center[a] - ext[a] >= INSIDE_MARGIN && center[a] + ext[a] <= shape[a] - 1 - INSIDE_MARGIN,
      );
      // Clear of every lobe, each grown by the roughness, with a voxel to spare.
      const clear = lobeParts.every(
        (l) =>
          Math.hypot(...[0, 1, 2].map((a) => center[a] - l.center[a])) >
          Math.max(...l.radii) * bulge + reach + 1,
      );
      if ((d.keepInside && !fits) || !clear) continue;
      const score = -Math.max(-1, ...lobeDirs.map((l) => l[0] * dir[0] + l[1] * dir[1] + l[2] * dir[2]));
      if (best === null || score > best.score) best = { center, score };
    }
    if (best !== null) return { center: best.center, radii, rotation };
  }
  return null;
}

/** RAS affine of a challenge scan: 0.625 mm, LPS-positive axes (RAS x and y negated), a random origin. */
function laAffine(rng: Rng): Affine {
  const s = LA_SPACING;
  return [
    [-s, 0, 0, rng.uniform(-20, 20)],
    [0, -s, 0, rng.uniform(-20, 20)],
    [0, 0, s, rng.uniform(-60, -20)],
    [0, 0, 0, 1],
  ];
}

/** Writes one LA case into `sink` (challenge NRRD pair or UA-MT h5). */
export async function writeLaCase(
  sink: SynthSink,
  id: string,
  seed: number,
  shape: [number, number, number],
  format: 'nrrd' | 'h5',
  difficulty: LaDifficulty = LA_DIFFICULTY_PRESETS.standard,
): Promise<void> {
  const rng = Rng.stream(seed, `synth/la/${id}`);
  const { image, label } = makeLaCase(rng, shape, difficulty);
  if (format === 'nrrd') {
    const affine = laAffine(rng);
    const spacing = [LA_SPACING, LA_SPACING, LA_SPACING];
    const endo = new Uint8Array(label.length);
    for (let p = 0; p < label.length; p++) endo[p] = label[p] ? 255 : 0;
    const dir = path.join('Training Set', id);
    await sink.file(path.join(dir, 'lgemri.nrrd'), (file) =>
      writeNrrd(file, { data: image, shape, spacing, affine, header: null }),
    );
    await sink.file(path.join(dir, 'laendo.nrrd'), (file) =>
      writeNrrd(file, { data: endo, shape, spacing, affine, header: null }),
    );
    return;
  }
  // UA-MT h5: the reference preprocessing (§2.1) with the reference constants, as the distributed files.
  const bbox = boundingBox(label, shape);
  if (!bbox) throw new Error(`synth la ${id}: empty atrium (size too small)`);
  const box = laCropBox(bbox, shape, rng);
  const z = zscore(image);
  const cropped = [box.end[0] - box.start[0], box.end[1] - box.start[1], shape[2]];
  await sink.file(path.join('2018LA_Seg_Training Set', id, 'mri_norm2.h5'), (file) =>
    writeH5Datasets(file, {
      image: { data: cropArray(z, shape, box), shape: cropped },
      label: { data: cropArray(label, shape, box), shape: cropped },
    }),
  );
}

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

/**
 * One LA case: uint8 image and a 0/1 atrium mask. The atrium is a rotated ellipsoid with 1–3 attached lobes
 * (appendage, pulmonary-vein stubs) and an irregular surface; bright blood pool with a thin enhanced wall;
 * two distractor blobs of similar brightness (aorta/ventricle) so that intensity alone is not enough; a
 * textured body on a dark background, a multiplicative bias field, per-case gain and Gaussian noise.
 */
export function makeLaCase(
  rng: Rng,
  shape: [number, number, number],
): { image: Uint8Array; label: Uint8Array } {
  const [nx, ny, nz] = shape;
  const c: Vec3 = [nx * rng.uniform(0.42, 0.58), ny * rng.uniform(0.42, 0.58), nz * rng.uniform(0.45, 0.55)];
  const main: Ellipsoid = {
    center: c,
    radii: [nx * rng.uniform(0.12, 0.17), ny * rng.uniform(0.12, 0.17), nz * rng.uniform(0.2, 0.28)],
    rotation: randomRotation(rng, [0.4, 0.4, Math.PI]),
  };
  const parts = [main];
  const lobes = rng.randint(1, 4);
  for (let l = 0; l < lobes; l++) {
    const dir = randomUnit(rng);
    const scale = rng.uniform(0.3, 0.5);
    parts.push({
      center: surfacePoint(main, dir),
      radii: [main.radii[0] * scale, main.radii[1] * scale, main.radii[2] * scale * 1.5],
      rotation: randomRotation(rng, Math.PI),
    });
  }
  const rough = smoothField(rng, shape, Math.max(6, nx / 8));
  const atrium = ellipsoidField(shape, parts, rough, 0.12);
  // Distractors: bright blobs next to the atrium but outside it.
  const distractors: Ellipsoid[] = [];
  for (let d = 0; d < 2; d++) {
    const dir = randomUnit(rng);
    const dist = rng.uniform(1.6, 2.2);
    distractors.push({
      center: [0, 1, 2].map((a) => c[a] + dir[a] * main.radii[a] * dist) as Vec3,
      radii: [nx * rng.uniform(0.05, 0.09), ny * rng.uniform(0.05, 0.09), nz * rng.uniform(0.2, 0.4)],
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
  const bias = biasField(rng, shape, rng.uniform(0.1, 0.25), nx * 1.5);
  const gain = rng.uniform(0.75, 1.25);
  const blood = rng.uniform(120, 150);
  const wall = blood + rng.uniform(20, 40);
  const distract = blood * rng.uniform(0.85, 1.05);
  const tissue = rng.uniform(55, 75);
  const n = nx * ny * nz;
  const img = new Float32Array(n);
  const label = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const a = atrium[p];
    const inA = softInside(a);
    const rim = Math.exp(-(((a - 1.12) / 0.06) ** 2));
    const inD = softInside(other[p]);
    const inBody = softInside(body[p], 0.02);
    let v = tissue * (1 + 0.25 * texture[p]);
    v = v * (1 - inD) + distract * inD;
    v = v * (1 - inA) + blood * inA;
    v += (wall - blood) * 0.5 * rim;
    v = 6 + (v - 6) * inBody;
    img[p] = v * gain * bias[p];
    if (a < 1) label[p] = 1;
  }
  addNoise(rng, img, rng.uniform(6, 12));
  return { image: quantize(img, new Uint8Array(n), 0, 255), label };
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
): Promise<void> {
  const rng = Rng.stream(seed, `synth/la/${id}`);
  const { image, label } = makeLaCase(rng, shape);
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

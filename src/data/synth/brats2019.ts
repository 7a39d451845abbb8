/**
 * BraTS2019 phantoms: a brain (irregular ellipsoid, ventricles) inside an exactly-zero background with a
 * glioma-like lesion: edema (2) around a tumour core, enhancing rim (4) and necrotic/non-enhancing core (1)
 * (LGG cases: mostly without enhancement). Four co-registered modalities with the usual contrasts
 * (FLAIR/T2 bright edema, T1ce bright rim, T2 bright CSF). Written as the challenge download:
 * `MICCAI_BraTS_2019_Data_Training/{HGG,LGG}/<ID>/<ID>_{flair,t1,t1ce,t2,seg}.nii.gz`, 1 mm isotropic.
 */
import path from 'node:path';
import { writeNifti } from '../../io/nifti.js';
import type { Affine, Volume } from '../../io/volume.js';
import { Rng } from '../../util/rng.js';
import type { SynthSink } from './output.js';
import {
  addNoise,
  biasField,
  type Ellipsoid,
  ellipsoidField,
  quantize,
  randomRotation,
  smoothField,
  softInside,
  type Vec3,
} from './shapes.js';

export const BRATS_MODALITIES = ['flair', 't1', 't1ce', 't2'] as const;
export type BratsModality = (typeof BRATS_MODALITIES)[number];

/** Tissue intensities per modality: brain, CSF, edema, enhancing rim, necrotic/non-enhancing core. */
const CONTRAST: Record<BratsModality, [number, number, number, number, number]> = {
  flair: [100, 35, 185, 150, 115],
  t1: [120, 40, 90, 105, 55],
  t1ce: [115, 40, 95, 230, 50],
  t2: [95, 220, 200, 165, 215],
};

export function makeBratsCase(
  rng: Rng,
  shape: [number, number, number],
  hgg: boolean,
): { images: Record<BratsModality, Int16Array>; seg: Uint8Array } {
  const [nx, ny, nz] = shape;
  const n = nx * ny * nz;
  const center: Vec3 = [
    nx * rng.uniform(0.47, 0.53),
    ny * rng.uniform(0.47, 0.53),
    nz * rng.uniform(0.47, 0.53),
  ];
  const brainE: Ellipsoid = {
    center,
    radii: [nx * rng.uniform(0.34, 0.4), ny * rng.uniform(0.4, 0.45), nz * rng.uniform(0.34, 0.4)],
    rotation: randomRotation(rng, 0.15),
  };
  const brain = ellipsoidField(shape, [brainE], smoothField(rng, shape, nx / 3), 0.06);
  const ventricles = ellipsoidField(
    shape,
    [-1, 1].map((s) => ({
      center: [center[0] + s * nx * 0.05, center[1] + ny * rng.uniform(-0.03, 0.03), center[2]] as Vec3,
      radii: [nx * 0.035, ny * rng.uniform(0.1, 0.14), nz * 0.06] as Vec3,
      rotation: randomRotation(rng, 0.2),
    })),
  );
  // Tumour centre: inside the brain, away from its surface.
  const tc: Vec3 = [0, 1, 2].map((a) => center[a] + brainE.radii[a] * rng.uniform(-0.45, 0.45)) as Vec3;
  const size = rng.uniform(0.1, 0.17);
  const tumourRot = randomRotation(rng, Math.PI);
  const edemaR: Vec3 = [nx * size, ny * size * rng.uniform(0.8, 1.2), nz * size * rng.uniform(0.8, 1.2)];
  const edema = ellipsoidField(
    shape,
    [
      { center: tc, radii: edemaR, rotation: tumourRot },
      {
        center: [0, 1, 2].map((a) => tc[a] + edemaR[a] * rng.uniform(-0.6, 0.6)) as Vec3,
        radii: edemaR.map((r) => r * rng.uniform(0.5, 0.8)) as Vec3,
        rotation: randomRotation(rng, Math.PI),
      },
    ],
    smoothField(rng, shape, Math.max(5, nx / 8)),
    0.2,
  );
  const coreScale = rng.uniform(0.4, 0.6);
  const core = ellipsoidField(shape, [
    { center: tc, radii: edemaR.map((r) => r * coreScale) as Vec3, rotation: tumourRot },
  ]);
  const necroScale = rng.uniform(0.45, 0.65);
  const texture = smoothField(rng, shape, Math.max(3, nx / 12));
  const seg = new Uint8Array(n);
  const tissue = new Float32Array(n * 5); // soft memberships: brain, csf, edema, rim, core
  for (let p = 0; p < n; p++) {
    const inBrain = brain[p] < 1;
    const e = edema[p];
    const c = core[p];
    if (inBrain) {
      if (c < necroScale) seg[p] = 1;
      else if (c < 1) seg[p] = hgg ? 4 : 1;
      else if (e < 1) seg[p] = 2;
    }
    const wCsf = softInside(ventricles[p], 0.1);
    const wEdema = softInside(e, 0.08);
    const wCore = softInside(c, 0.06);
    const wNecro = softInside(c / necroScale, 0.08);
    const wRim = hgg ? wCore * (1 - wNecro) : 0;
    const wCoreNe = hgg ? wNecro : wCore;
    tissue[p * 5] = 1;
    tissue[p * 5 + 1] = wCsf;
    tissue[p * 5 + 2] = wEdema;
    tissue[p * 5 + 3] = wRim;
    tissue[p * 5 + 4] = wCoreNe;
  }
  const images = {} as Record<BratsModality, Int16Array>;
  for (const m of BRATS_MODALITIES) {
    const [vb, vc, ve, vr, vn] = CONTRAST[m].map((v) => v * rng.uniform(0.9, 1.1));
    const gain = rng.uniform(0.7, 1.4);
    const bias = biasField(rng, shape, rng.uniform(0.05, 0.2), nx * 1.5);
    const img = new Float32Array(n);
    for (let p = 0; p < n; p++) {
      let v = vb * (1 + 0.15 * texture[p]);
      const w = p * 5;
      v = v * (1 - tissue[w + 1]) + vc * tissue[w + 1];
      v = v * (1 - tissue[w + 2]) + ve * tissue[w + 2];
      v = v * (1 - tissue[w + 3]) + vr * tissue[w + 3];
      v = v * (1 - tissue[w + 4]) + vn * tissue[w + 4];
      img[p] = v * gain * bias[p] * 4;
    }
    addNoise(rng, img, rng.uniform(10, 25));
    // Skull-stripped: exactly zero outside the brain, strictly positive inside.
    for (let p = 0; p < n; p++) img[p] = brain[p] < 1 ? Math.max(1, img[p]) : 0;
    images[m] = quantize(img, new Int16Array(n), 0, 32767);
  }
  return { images, seg };
}

/** BraTS-like affine (1 mm, x and y negated as in the distributed files). */
function bratsAffine(shape: number[]): Affine {
  return [
    [-1, 0, 0, 0],
    [0, -1, 0, shape[1] - 1],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

/** Writes one BraTS case folder (four modalities and seg) into `sink`. */
export async function writeBratsCase(
  sink: SynthSink,
  id: string,
  seed: number,
  shape: [number, number, number],
): Promise<void> {
  const rng = Rng.stream(seed, `synth/brats2019/${id}`);
  const hgg = rng.random() < 0.75;
  const { images, seg } = makeBratsCase(rng, shape, hgg);
  const dir = path.join('MICCAI_BraTS_2019_Data_Training', hgg ? 'HGG' : 'LGG', id);
  const geometry = { shape, spacing: [1, 1, 1], affine: bratsAffine(shape), header: null };
  for (const m of BRATS_MODALITIES) {
    const vol: Volume = { data: images[m], ...geometry };
    await sink.file(path.join(dir, `${id}_${m}.nii.gz`), (file) =>
      writeNifti(file, vol, { datatype: 'int16' }),
    );
  }
  await sink.file(path.join(dir, `${id}_seg.nii.gz`), (file) =>
    writeNifti(file, { data: seg, ...geometry }, { datatype: 'uint8' }),
  );
}

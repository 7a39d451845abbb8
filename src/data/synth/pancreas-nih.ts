/**
 * Pancreas-NIH phantoms: abdominal-CT-like volumes in Hounsfield units (int16) with air, a fat layer, soft
 * tissue, spine, liver, kidneys, bowel gas and an elongated, curved, low-contrast pancreas (a chain of
 * ellipsoids with a fat halo), written as users have them after converting the TCIA DICOM with dcm2niix:
 * `Pancreas-CT/PANCREAS_NNNN.nii.gz` + `TCIA_pancreas_labels-02-05-2017/labelNNNN.nii.gz` (id `imageNNNN`).
 */
import path from 'node:path';
import { writeNifti } from '../../io/nifti.js';
import type { Affine } from '../../io/volume.js';
import { InputError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import type { SynthSink } from './output.js';
import {
  addNoise,
  type Ellipsoid,
  ellipsoidField,
  quantize,
  randomRotation,
  smoothField,
  softInside,
  type Vec3,
} from './shapes.js';

export const PANCREAS_SPACING: [number, number, number] = [0.8, 0.8, 1.5];

export function makePancreasCase(
  rng: Rng,
  shape: [number, number, number],
): { image: Int16Array; label: Uint8Array } {
  const [nx, ny, nz] = shape;
  const n = nx * ny * nz;
  const flat = (c: Vec3, r: Vec3, rot = 0.15): Ellipsoid => ({
    center: c,
    radii: r,
    rotation: randomRotation(rng, [0, 0, rot]),
  });
  const bodyR: Vec3 = [nx * rng.uniform(0.4, 0.46), ny * rng.uniform(0.32, 0.4), nz * 5];
  const body = ellipsoidField(shape, [flat([nx / 2, ny / 2, nz / 2], bodyR, 0.05)]);
  const fatDepth = rng.uniform(0.08, 0.16);
  // Spine at the back (high y), liver on one side (low x, patient's right in RAS-flipped storage).
  const spine = ellipsoidField(shape, [
    flat([nx / 2, ny / 2 + bodyR[1] * 0.6, nz / 2], [nx * 0.06, ny * 0.06, nz * 5]),
  ]);
  const liver = ellipsoidField(
    shape,
    [
      flat(
        [nx * rng.uniform(0.22, 0.3), ny * rng.uniform(0.4, 0.5), nz * rng.uniform(0.3, 0.5)],
        [nx * 0.16, ny * 0.18, nz * 0.45],
      ),
    ],
    smoothField(rng, shape, nx / 4),
    0.08,
  );
  const kidneys = ellipsoidField(
    shape,
    [-1, 1].map((s) =>
      flat(
        [nx / 2 + s * nx * 0.2, ny / 2 + bodyR[1] * 0.35, nz * rng.uniform(0.4, 0.6)],
        [nx * 0.06, ny * 0.08, nz * 0.2],
        0.4,
      ),
    ),
  );
  const gas: Ellipsoid[] = [];
  for (let g = 0; g < 5; g++) {
    gas.push(
      flat(
        [nx * rng.uniform(0.3, 0.7), ny * rng.uniform(0.25, 0.45), nz * rng.uniform(0.1, 0.9)],
        [nx * rng.uniform(0.02, 0.05), ny * rng.uniform(0.02, 0.05), nz * rng.uniform(0.03, 0.08)],
        Math.PI,
      ),
    );
  }
  const bowel = ellipsoidField(shape, gas);
  // Pancreas: head near the duodenum (left of centre in storage), body and tail curving towards the spleen.
  const start: Vec3 = [
    nx * rng.uniform(0.34, 0.42),
    ny * rng.uniform(0.45, 0.55),
    nz * rng.uniform(0.4, 0.6),
  ];
  const segments = rng.randint(3, 5);
  const chain: Ellipsoid[] = [];
  let pos = start;
  let heading = rng.uniform(-0.4, 0.4);
  const thick = rng.uniform(0.035, 0.05);
  for (let s = 0; s < segments; s++) {
    const len = nx * rng.uniform(0.06, 0.09);
    const c = Math.cos(heading);
    const si = Math.sin(heading);
    chain.push({
      center: pos,
      radii: [len, nx * thick * (s === 0 ? 1.4 : 1), nz * rng.uniform(0.06, 0.1)],
      // Long axis along the heading (a rotation about z).
      rotation: [
        [c, -si, 0],
        [si, c, 0],
        [0, 0, 1],
      ],
    });
    pos = [
      pos[0] + c * len * 1.5,
      pos[1] + si * len * 1.5 - ny * 0.02,
      pos[2] + rng.uniform(-1, 1) * nz * 0.04,
    ];
    heading += rng.uniform(-0.5, 0.3);
  }
  const pancreas = ellipsoidField(shape, chain, smoothField(rng, shape, Math.max(5, nx / 10)), 0.15);
  const texture = smoothField(rng, shape, Math.max(3, nx / 16));
  const drift = smoothField(rng, shape, nx * 1.5, 4);
  const soft = rng.uniform(25, 45);
  const panc = soft + rng.uniform(8, 25);
  const img = new Float32Array(n);
  const label = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const inBody = softInside(body[p], 0.01);
    const inner = softInside(body[p] / (1 - fatDepth), 0.02);
    let v = -100 + 10 * texture[p]; // subcutaneous fat
    v = v * (1 - inner) + (soft + 12 * texture[p]) * inner;
    const wl = softInside(liver[p], 0.04);
    v = v * (1 - wl) + (soft + 25) * wl;
    const wk = softInside(kidneys[p], 0.05);
    v = v * (1 - wk) + (soft + 5) * wk;
    const halo = softInside(pancreas[p] / 1.35, 0.05) * (1 - softInside(pancreas[p], 0.05));
    v = v * (1 - 0.6 * halo) + -80 * 0.6 * halo; // peripancreatic fat
    const wp = softInside(pancreas[p], 0.06);
    v = v * (1 - wp) + (panc + 8 * texture[p]) * wp;
    const wg = softInside(bowel[p], 0.08);
    v = v * (1 - wg) + -850 * wg;
    const wb = softInside(spine[p], 0.05);
    v = v * (1 - wb) + 650 * wb;
    v = v * inBody + -1000 * (1 - inBody);
    img[p] = v + 8 * drift[p];
    if (pancreas[p] < 1) label[p] = 1;
  }
  addNoise(rng, img, rng.uniform(10, 20));
  return { image: quantize(img, new Int16Array(n), -1024, 3071), label };
}

/** dcm2niix-like affine: x and y negated (DICOM LPS → NIfTI RAS), a random table position. */
function pancreasAffine(rng: Rng): Affine {
  const [sx, sy, sz] = PANCREAS_SPACING;
  return [
    [-sx, 0, 0, rng.uniform(150, 200)],
    [0, -sy, 0, rng.uniform(150, 200)],
    [0, 0, sz, rng.uniform(-400, -200)],
    [0, 0, 0, 1],
  ];
}

/** `image0007` → `0007`. */
export function pancreasNumber(id: string): string {
  const m = /^image(\d{4})$/.exec(id);
  if (!m) throw new InputError(`pancreas-nih id ${JSON.stringify(id)} is not imageNNNN`);
  return m[1];
}

/** Writes one Pancreas case (HU image and TCIA-style label) into `sink`. */
export async function writePancreasCase(
  sink: SynthSink,
  id: string,
  seed: number,
  shape: [number, number, number],
): Promise<void> {
  const rng = Rng.stream(seed, `synth/pancreas-nih/${id}`);
  const { image, label } = makePancreasCase(rng, shape);
  const affine = pancreasAffine(rng);
  const num = pancreasNumber(id);
  const geometry = { shape, spacing: [...PANCREAS_SPACING], affine, header: null };
  const imgFile = path.join('Pancreas-CT', `PANCREAS_${num}.nii.gz`);
  const labFile = path.join('TCIA_pancreas_labels-02-05-2017', `label${num}.nii.gz`);
  await sink.file(imgFile, (file) => writeNifti(file, { data: image, ...geometry }, { datatype: 'int16' }));
  await sink.file(labFile, (file) => writeNifti(file, { data: label, ...geometry }, { datatype: 'uint8' }));
}

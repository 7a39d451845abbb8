/**
 * ACDC phantoms: short-axis cine-MRI-like stacks (few thick slices, 1.5 × 1.5 × 10 mm) with LV cavity (3),
 * myocardium ring (2) and an RV crescent (1), written as the challenge download:
 * `training/patientXXX/patientXXX_frameNN.nii.gz` + `_gt.nii.gz` for the ED frame (01) and an ES frame with a
 * larger number, plus `Info.cfg`. The 4-D cine file `patientXXX_4d.nii.gz` is not written (prepare does not
 * read it).
 */
import path from 'node:path';
import { writeNifti } from '../../io/nifti.js';
import type { Affine, Volume } from '../../io/volume.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { Rng } from '../../util/rng.js';
import type { SynthSink } from './output.js';
import { addNoise, biasField, quantize, smoothField, softInside } from './shapes.js';

export const ACDC_SPACING: [number, number, number] = [1.5, 1.5, 10];
const GROUPS = ['DCM', 'HCM', 'MINF', 'NOR', 'RV'];

interface HeartGeometry {
  cx: number;
  cy: number;
  /** LV cavity in-plane radii at the base (voxels) and in-plane rotation. */
  rx: number;
  ry: number;
  angle: number;
  /** Myocardium thickness relative to the cavity radius. */
  thick: number;
  /** RV centre direction (radians) and size relative to the LV. */
  rvAngle: number;
  rvScale: number;
  /** Slices spanned by the heart: base and apex. */
  base: number;
  apex: number;
}

function heart(rng: Rng, shape: number[]): HeartGeometry {
  const [nx, ny, nz] = shape;
  const base = rng.randint(0, Math.max(1, Math.floor(nz * 0.2)) + 1);
  const apex = Math.max(base + 2, nz - 1 - rng.randint(0, Math.max(1, Math.floor(nz * 0.2)) + 1));
  return {
    cx: nx * rng.uniform(0.42, 0.58),
    cy: ny * rng.uniform(0.42, 0.58),
    rx: nx * rng.uniform(0.1, 0.14),
    ry: ny * rng.uniform(0.1, 0.14),
    angle: rng.uniform(0, Math.PI),
    thick: rng.uniform(0.3, 0.45),
    rvAngle: rng.uniform(0, 2 * Math.PI),
    rvScale: rng.uniform(1.1, 1.5),
    base,
    apex,
  };
}

/**
 * One frame. `contraction` < 1 shrinks the cavities and thickens the myocardium (ES). Slices taper towards
 * the apex; the RV is a crescent wrapped around one side of the myocardium and stops before the apex.
 */
export function makeAcdcFrame(
  rng: Rng,
  shape: [number, number, number],
  h: HeartGeometry,
  contraction: number,
): { image: Int16Array; label: Uint8Array } {
  const [nx, ny, nz] = shape;
  const n = nx * ny * nz;
  const aniso: [number, number, number] = [1, 1, ACDC_SPACING[2] / ACDC_SPACING[0]];
  const rough = smoothField(rng, shape, Math.max(6, nx / 6), 8, aniso);
  const texture = smoothField(rng, shape, Math.max(3, nx / 12), 8, aniso);
  const bias = biasField(rng, shape, rng.uniform(0.1, 0.3), nx * 1.5, aniso);
  const gain = rng.uniform(0.7, 1.3);
  const pool = rng.uniform(180, 230);
  const myo = rng.uniform(60, 85);
  const tissue = rng.uniform(90, 120);
  const lung = rng.uniform(15, 35);
  const cosA = Math.cos(h.angle);
  const sinA = Math.sin(h.angle);
  const thick = h.thick / contraction ** 0.5;
  const rvx = Math.cos(h.rvAngle);
  const rvy = Math.sin(h.rvAngle);
  const img = new Float32Array(n);
  const label = new Uint8Array(n);
  let p = 0;
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      for (let k = 0; k < nz; k++, p++) {
        const dx = i - h.cx;
        const dy = j - h.cy;
        // Heart taper: full size at the base, shrinking to the apex, none outside [base, apex].
        const t = (k - h.base) / Math.max(1, h.apex - h.base);
        const taper = t < 0 || t > 1 ? 0 : Math.sqrt(Math.max(0, 1 - t * t * 0.85));
        const u = (cosA * dx + sinA * dy) / (h.rx * contraction * taper + 1e-6);
        const v = (-sinA * dx + cosA * dy) / (h.ry * contraction * taper + 1e-6);
        const dLv = Math.sqrt(u * u + v * v) * (1 + 0.08 * rough[p]);
        const outer = 1 + thick;
        // RV: a larger ellipse shifted towards rvAngle, minus the LV + myocardium.
        const rvShift = (1 + thick) * 0.9;
        const ru = u - rvx * rvShift;
        const rv = v - rvy * rvShift;
        const rvTaper = t > 0.75 ? 0 : 1;
        const dRv = (Math.sqrt(ru * ru + rv * rv) / (h.rvScale * contraction ** 0.5)) * (1 + 0.1 * rough[p]);
        let value = tissue * (1 + 0.2 * texture[p]);
        // Lungs: dark regions far from the centre.
        const far = Math.hypot(dx / nx, dy / ny);
        const inLung = softInside(far / 0.42, 0.05);
        value = value * inLung + lung * (1 - inLung);
        let lab = 0;
        if (taper > 0) {
          const inRv = rvTaper * softInside(dRv, 0.1) * (1 - softInside(dLv / outer, 0.05));
          value = value * (1 - inRv) + pool * 0.9 * inRv;
          const inMyo = softInside(dLv / outer, 0.05);
          value = value * (1 - inMyo) + myo * inMyo;
          const inLv = softInside(dLv, 0.06);
          value = value * (1 - inLv) + pool * inLv;
          if (dLv < 1) lab = 3;
          else if (dLv < outer) lab = 2;
          else if (rvTaper && dRv < 1) lab = 1;
        }
        img[p] = value * gain * bias[p];
        label[p] = lab;
      }
    }
  }
  addNoise(rng, img, rng.uniform(6, 14));
  return { image: quantize(img, new Int16Array(n), 0, 32767), label };
}

function acdcAffine(rng: Rng): Affine {
  const [sx, sy, sz] = ACDC_SPACING;
  return [
    [sx, 0, 0, rng.uniform(-150, -100)],
    [0, sy, 0, rng.uniform(-150, -100)],
    [0, 0, sz, rng.uniform(-40, 0)],
    [0, 0, 0, 1],
  ];
}

function frameName(patient: string, frame: number): string {
  return `${patient}_frame${String(frame).padStart(2, '0')}`;
}

/** Writes one ACDC patient folder (ED and ES frames with their `_gt`, Info.cfg) into `sink`. */
export async function writeAcdcPatient(
  sink: SynthSink,
  patient: string,
  seed: number,
  shape: [number, number, number],
): Promise<void> {
  const rng = Rng.stream(seed, `synth/acdc/${patient}`);
  const h = heart(rng, shape);
  const ed = 1;
  const es = rng.randint(8, 17);
  const nbFrames = rng.randint(Math.max(es + 8, 25), 36);
  const affine = acdcAffine(rng);
  const dir = path.join('training', patient);
  for (const [frame, contraction] of [
    [ed, 1],
    [es, rng.uniform(0.65, 0.8)],
  ] as const) {
    const { image, label } = makeAcdcFrame(rng, shape, h, contraction);
    const geometry = { shape, spacing: [...ACDC_SPACING], affine, header: null };
    const name = frameName(patient, frame);
    const img: Volume = { data: image, ...geometry };
    const gt: Volume = { data: label, ...geometry };
    await sink.file(path.join(dir, `${name}.nii.gz`), (file) => writeNifti(file, img, { datatype: 'int16' }));
    await sink.file(path.join(dir, `${name}_gt.nii.gz`), (file) =>
      writeNifti(file, gt, { datatype: 'uint8' }),
    );
  }
  const info = [
    `ED: ${ed}`,
    `ES: ${es}`,
    `Group: ${GROUPS[rng.randint(0, GROUPS.length)]}`,
    `Height: ${rng.uniform(150, 195).toFixed(1)}`,
    `NbFrame: ${nbFrames}`,
    `Weight: ${rng.uniform(50, 110).toFixed(1)}`,
    '',
  ].join('\n');
  await sink.file(path.join(dir, 'Info.cfg'), (file) => writeFileAtomic(file, info));
}

/**
 * Shape and intensity building blocks of the synthetic phantoms: smooth random fields (random Fourier
 * features), rotated ellipsoids with irregular boundaries, soft masks (partial volume), bias fields and
 * noise. All randomness comes from the caller's `Rng`; arrays are row-major over `[nx, ny, nz]`.
 */
import type { Rng } from '../../util/rng.js';

export type Vec3 = [number, number, number];
export type Mat3 = [Vec3, Vec3, Vec3];

/**
 * A smooth random field with roughly zero mean and unit variance: the sum of `terms` cosines with random
 * directions, phases and wavelengths around `wavelength` voxels (per-axis `anisotropy` stretches it, e.g. for
 * thick ACDC slices). Cheap (terms × voxels cosines) and band-limited, so it looks like tissue texture or a
 * bias field depending on the wavelength.
 */
export function smoothField(
  rng: Rng,
  shape: number[],
  wavelength: number,
  terms = 8,
  anisotropy: Vec3 = [1, 1, 1],
): Float32Array {
  const [nx, ny, nz] = shape;
  const out = new Float32Array(nx * ny * nz);
  const amp = Math.sqrt(2 / terms);
  for (let t = 0; t < terms; t++) {
    const dir = randomUnit(rng);
    const k = (2 * Math.PI) / (wavelength * rng.uniform(0.7, 1.3));
    const kx = (k * dir[0]) / anisotropy[0];
    const ky = (k * dir[1]) / anisotropy[1];
    const kz = (k * dir[2]) / anisotropy[2];
    const phase = rng.uniform(0, 2 * Math.PI);
    // cos(base + kz·k) along the last axis by the angle-addition recurrence (one cos/sin per row).
    const cz = Math.cos(kz);
    const sz = Math.sin(kz);
    let p = 0;
    for (let i = 0; i < nx; i++) {
      for (let j = 0; j < ny; j++) {
        const base = phase + kx * i + ky * j;
        let c = Math.cos(base);
        let s = Math.sin(base);
        for (let k2 = 0; k2 < nz; k2++, p++) {
          out[p] += amp * c;
          const c2 = c * cz - s * sz;
          s = s * cz + c * sz;
          c = c2;
        }
      }
    }
  }
  return out;
}

export function randomUnit(rng: Rng): Vec3 {
  const v: Vec3 = [rng.normal(), rng.normal(), rng.normal()];
  const n = Math.hypot(...v) || 1;
  return [v[0] / n, v[1] / n, v[2] / n];
}

/** Rotation matrix from Euler angles (z, then y, then x), each uniform in ±maxAngle radians. */
export function randomRotation(rng: Rng, maxAngle: number | Vec3): Mat3 {
  const m = typeof maxAngle === 'number' ? [maxAngle, maxAngle, maxAngle] : maxAngle;
  const a = rng.uniform(-m[0], m[0]);
  const b = rng.uniform(-m[1], m[1]);
  const c = rng.uniform(-m[2], m[2]);
  const [ca, sa, cb, sb, cc, sc] = [
    Math.cos(a),
    Math.sin(a),
    Math.cos(b),
    Math.sin(b),
    Math.cos(c),
    Math.sin(c),
  ];
  // Rz(c) · Ry(b) · Rx(a)
  return [
    [cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa],
    [sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa],
    [-sb, cb * sa, cb * ca],
  ];
}

export interface Ellipsoid {
  center: Vec3;
  radii: Vec3;
  /** Columns are the ellipsoid's axes in voxel space. */
  rotation: Mat3;
}

/**
 * Normalised ellipsoid distance field of a union of ellipsoids: min over ellipsoids of ‖R^T(x − c) / r‖
 * (1 on the surface, < 1 inside), optionally scaled by (1 + amount · perturb) so the surface is irregular.
 */
export function ellipsoidField(
  shape: number[],
  ellipsoids: Ellipsoid[],
  perturb?: Float32Array,
  amount = 0,
): Float32Array {
  const [nx, ny, nz] = shape;
  const out = new Float32Array(nx * ny * nz).fill(Number.POSITIVE_INFINITY);
  for (const e of ellipsoids) {
    const [cx, cy, cz] = e.center;
    const R = e.rotation;
    const [rx, ry, rz] = e.radii;
    // Bounding box of the ellipsoid (scaled ×2 so the field is correct up to d = 2 around each ellipsoid).
    const ext = [0, 1, 2].map(
      (r) => 2 * Math.hypot(R[r][0] * rx, R[r][1] * ry, R[r][2] * rz) * (1 + amount) + 2,
    );
    const i0 = Math.max(0, Math.floor(cx - ext[0]));
    const i1 = Math.min(nx - 1, Math.ceil(cx + ext[0]));
    const j0 = Math.max(0, Math.floor(cy - ext[1]));
    const j1 = Math.min(ny - 1, Math.ceil(cy + ext[1]));
    const k0 = Math.max(0, Math.floor(cz - ext[2]));
    const k1 = Math.min(nz - 1, Math.ceil(cz + ext[2]));
    for (let i = i0; i <= i1; i++) {
      const dx = i - cx;
      for (let j = j0; j <= j1; j++) {
        const dy = j - cy;
        let p = (i * ny + j) * nz + k0;
        for (let k = k0; k <= k1; k++, p++) {
          const dz = k - cz;
          const u = (R[0][0] * dx + R[1][0] * dy + R[2][0] * dz) / rx;
          const v = (R[0][1] * dx + R[1][1] * dy + R[2][1] * dz) / ry;
          const w = (R[0][2] * dx + R[1][2] * dy + R[2][2] * dz) / rz;
          const d = Math.sqrt(u * u + v * v + w * w);
          if (d < out[p]) out[p] = d;
        }
      }
    }
  }
  if (perturb && amount !== 0) for (let p = 0; p < out.length; p++) out[p] *= 1 + amount * perturb[p];
  return out;
}

/** Soft inside-ness of a distance field: 1 deep inside, 0 outside, a logistic edge of `width` (partial volume). */
export function softInside(d: number, width = 0.08): number {
  return 1 / (1 + Math.exp((d - 1) / width));
}

/** A bias field exp(strength · smooth field) with long wavelength (MRI coil shading). */
export function biasField(
  rng: Rng,
  shape: number[],
  strength: number,
  wavelength: number,
  anisotropy?: Vec3,
): Float32Array {
  const f = smoothField(rng, shape, wavelength, 4, anisotropy);
  for (let p = 0; p < f.length; p++) f[p] = Math.exp(strength * f[p]);
  return f;
}

/** Adds N(0, sigma²) noise in place. */
export function addNoise(rng: Rng, data: Float32Array, sigma: number): void {
  for (let p = 0; p < data.length; p++) data[p] += rng.normal(0, sigma);
}

/** Rounds and clamps to an integer typed array (the scanner's stored type). */
export function quantize<T extends Int16Array | Uint8Array>(
  data: Float32Array,
  out: T,
  lo: number,
  hi: number,
): T {
  for (let p = 0; p < data.length; p++) {
    const v = Math.round(data[p]);
    out[p] = v < lo ? lo : Math.min(v, hi);
  }
  return out;
}

/** A point on an ellipsoid's surface in direction `dir` (of its local frame), for attaching lobes. */
export function surfacePoint(e: Ellipsoid, dir: Vec3): Vec3 {
  const n = Math.hypot(...dir) || 1;
  const local: Vec3 = [(dir[0] / n) * e.radii[0], (dir[1] / n) * e.radii[1], (dir[2] / n) * e.radii[2]];
  const R = e.rotation;
  return [0, 1, 2].map(
    (r) => e.center[r] + R[r][0] * local[0] + R[r][1] * local[1] + R[r][2] * local[2],
  ) as Vec3;
}

/** Fraction of voxels where `field < 1`. */
export function insideFraction(field: Float32Array): number {
  let c = 0;
  for (let p = 0; p < field.length; p++) if (field[p] < 1) c++;
  return c / field.length;
}

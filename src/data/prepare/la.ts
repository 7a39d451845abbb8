/**
 * LA (§2.1). Two raw layouts, detected per case under `--raw` (any depth ≤ 3):
 * - the challenge's `<ID>/lgemri.nrrd` + `laendo.nrrd`: label = 1[laendo == 255]; bbox crop in x and y ONLY
 *   with margins randint(10,20) and the px/py padding rule; z kept whole (Q19: the reference computes a z
 *   crop and never applies it); z-score over the whole UNCROPPED volume (population std). The margins are
 *   drawn from `Rng.stream(seed, 'prepare/la/<ID>')`, so they are reproducible (the reference's are not);
 * - the UA-MT `<ID>/mri_norm2.h5` (already normalised and cropped): copied as is. h5 files carry no
 *   geometry, so the affine is diag(0.625 mm) (the challenge's isotropic voxel), origin 0, cropStart 0.
 */
import path from 'node:path';
import { readH5Datasets } from '../../io/hdf5.js';
import { readNrrd } from '../../io/nrrd.js';
import { InputError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import {
  caseFolderUnits,
  checkFinite,
  checkLabelValues,
  checkSameShape,
  type RawIndex,
  readImageLabelPair,
} from './common.js';
import type { DatasetMeta, PreparedCase, PrepareUnit } from './runner.js';
import { boundingBox, cropAffine, cropArray, cropShape, laCropBox, type Shape3, zscore } from './steps.js';

export const LA_META: DatasetMeta = {
  dataset: 'la',
  name: 'LA',
  dims: 3,
  channelNames: { '0': 'MRI' },
  labels: { background: 0, left_atrium: 1 },
  labeledUnit: 'case',
  preprocessing:
    'docs/equations.md §2.1: NRRD → label = laendo==255, z-score over the whole volume, x/y crop to the label bbox ± randint(10,20) with the 112 padding rule, z kept (Q19); mri_norm2.h5 copied as is',
};

export interface LaOptions {
  /** `output_size` of the padding rule (reference [112, 112, 80]). */
  target?: Shape3;
}

const H5_SPACING = 0.625;

/** LA intensity normalisation (§2.1): z-score over the whole uncropped volume (population std). */
export function laNormalize(image: ArrayLike<number>): Float32Array {
  return zscore(image);
}

async function fromNrrd(
  raw: string,
  id: string,
  imgFile: string,
  labFile: string,
  seed: number,
  options: LaOptions,
): Promise<PreparedCase> {
  const { img, shape, image, labels: endo } = await readImageLabelPair(readNrrd, imgFile, labFile, [0, 255]);
  const label = new Uint8Array(endo.length);
  for (let p = 0; p < endo.length; p++) label[p] = endo[p] === 255 ? 1 : 0;
  const bbox = boundingBox(label, shape);
  if (!bbox)
    throw new InputError(`${labFile}: empty foreground (no voxel equals 255); the LA crop needs the atrium`);
  const box = laCropBox(bbox, shape, Rng.stream(seed, `prepare/la/${id}`), { target: options.target });
  const z = laNormalize(image);
  return {
    id,
    channels: [cropArray(z, shape, box)],
    label: cropArray(label, shape, box),
    shape: cropShape(box),
    affine: cropAffine(img.affine, box.start),
    spacing: img.spacing.slice(0, 3),
    header: null,
    source: path.relative(raw, imgFile),
    originalShape: shape,
    cropStart: [...box.start],
  };
}

async function fromH5(raw: string, id: string, file: string): Promise<PreparedCase> {
  const ds = await readH5Datasets(file, ['image', 'label']);
  const { image, label } = ds;
  if (image.shape.length !== 3) {
    throw new InputError(
      `${file}: dataset "image" must be 3-D (X, Y, Z), found shape [${image.shape.join(', ')}]`,
    );
  }
  checkSameShape(image.shape, label.shape, `${file}:image`, `${file}:label`);
  const shape = image.shape as Shape3;
  checkFinite(image.data, shape, `${file}:image`);
  checkLabelValues(label.data, [0, 1], `${file}:label`);
  const s = H5_SPACING;
  return {
    id,
    channels: [image.data instanceof Float32Array ? image.data : Float32Array.from(image.data)],
    label: label.data instanceof Uint8Array ? label.data : Uint8Array.from(label.data),
    shape,
    affine: [
      [s, 0, 0, 0],
      [0, s, 0, 0],
      [0, 0, s, 0],
      [0, 0, 0, 1],
    ],
    spacing: [s, s, s],
    header: null,
    source: path.relative(raw, file),
    originalShape: [...shape],
    cropStart: [0, 0, 0],
  };
}

/** Units for the listed ids found under `raw`; ids without a case folder are `absent`. */
export function laUnits(
  raw: string,
  index: RawIndex,
  ids: string[],
  seed: number,
  options: LaOptions,
): { units: PrepareUnit[]; absent: string[] } {
  const inCaseFolder = (d: string, f: string) => (index.files.get(f) ?? []).includes(path.join(d, f));
  const folders = (id: string) =>
    (index.dirs.get(id) ?? []).filter((d) =>
      ['lgemri.nrrd', 'mri_norm2.h5', 'laendo.nrrd'].some((f) => inCaseFolder(d, f)),
    );
  // Inputs: the challenge NRRD pair when either file is there, else the UA-MT h5 file.
  const inputs = async (_id: string, dir: string) => {
    const has = (f: string) => inCaseFolder(dir, f);
    if (has('lgemri.nrrd') || has('laendo.nrrd')) {
      if (!has('lgemri.nrrd')) throw new InputError(`${path.join(dir, 'lgemri.nrrd')}: missing image file`);
      if (!has('laendo.nrrd')) throw new InputError(`${path.join(dir, 'laendo.nrrd')}: missing label file`);
      return [path.join(dir, 'lgemri.nrrd'), path.join(dir, 'laendo.nrrd')];
    }
    return [path.join(dir, 'mri_norm2.h5')];
  };
  return caseFolderUnits(ids, folders, 1, inputs, async (id, files) =>
    files.length === 2
      ? [await fromNrrd(raw, id, files[0], files[1], seed, options)]
      : [await fromH5(raw, id, files[0])],
  );
}

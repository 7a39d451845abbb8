/**
 * Pancreas-NIH (§2.3, CORA's preprocessing as used by BCP). Raw input: the NIH Pancreas-CT scans converted
 * from DICOM with dcm2niix to `PANCREAS_NNNN.nii.gz` (HU) and the TCIA labels `labelNNNN.nii.gz`, anywhere
 * under `--raw` (depth ≤ 3); ids are `imageNNNN` as in the split lists.
 * Steps: clip HU to [−125, 275]; min–max to [0, 1] over the whole clipped volume; crop to the label
 * bounding box ± `margin` (25) voxels with a minimum crop of `minSize` (96³), clamped to the volume (an axis
 * shorter than the minimum is kept whole). CORA's resampling step (to 1 mm, with the slice spacing replaced
 * by the in-plane spacing, a quirk) is NOT reproduced: volumes keep their native spacing.
 */
import path from 'node:path';
import { readNifti } from '../../io/nifti.js';
import { InputError } from '../../util/errors.js';
import { type RawIndex, readImageLabelPair } from './common.js';
import type { DatasetMeta, PreparedCase, PrepareUnit } from './runner.js';
import {
  boundingBox,
  clip,
  cropAffine,
  cropArray,
  cropShape,
  minMaxNormalize,
  type PancreasCropOptions,
  pancreasCropBox,
} from './steps.js';

export const PANCREAS_META: DatasetMeta = {
  dataset: 'pancreas-nih',
  name: 'Pancreas-NIH',
  dims: 3,
  channelNames: { '0': 'CT' },
  labels: { background: 0, pancreas: 1 },
  labeledUnit: 'case',
  preprocessing:
    'docs/equations.md §2.3 (CORA): HU clip [-125, 275], min-max to [0,1], crop to the label bbox ± margin with a minimum size (no resampling)',
};

/** Pancreas-NIH intensity normalisation (§2.3): HU clip to [−125, 275], then min–max to [0, 1]. */
export function pancreasNormalize(hu: ArrayLike<number>): Float32Array {
  return minMaxNormalize(clip(hu, -125, 275));
}

async function prepareCase(
  raw: string,
  id: string,
  imgFile: string,
  labFile: string,
  options: PancreasCropOptions,
): Promise<PreparedCase> {
  const { img, shape, image: hu, labels } = await readImageLabelPair(readNifti, imgFile, labFile, [0, 1]);
  const bbox = boundingBox(labels, shape);
  if (!bbox)
    throw new InputError(`${labFile}: empty foreground (no pancreas voxel); the crop needs the label`);
  const box = pancreasCropBox(bbox, shape, options);
  const norm = pancreasNormalize(hu);
  return {
    id,
    channels: [cropArray(norm, shape, box)],
    label: cropArray(Uint8Array.from(labels), shape, box),
    shape: cropShape(box),
    affine: cropAffine(img.affine, box.start),
    spacing: img.spacing.slice(0, 3),
    header: img.header,
    source: path.relative(raw, imgFile),
    originalShape: [...shape],
    cropStart: [...box.start],
  };
}

function findOne(index: RawIndex, names: string[]): string[] {
  return names.flatMap((n) => index.files.get(n) ?? []);
}

export function pancreasUnits(
  raw: string,
  index: RawIndex,
  ids: string[],
  options: PancreasCropOptions,
): { units: PrepareUnit[]; absent: string[] } {
  const units: PrepareUnit[] = [];
  const absent: string[] = [];
  for (const id of ids) {
    const m = /^image(\d{4})$/.exec(id);
    if (!m) throw new InputError(`pancreas-nih split id ${JSON.stringify(id)} is not imageNNNN`);
    const num = m[1];
    const imgs = findOne(index, [`PANCREAS_${num}.nii.gz`, `PANCREAS_${num}.nii`]);
    const labs = findOne(index, [`label${num}.nii.gz`, `label${num}.nii`]);
    if (imgs.length === 0 && labs.length === 0) {
      absent.push(id);
      continue;
    }
    units.push({
      name: id,
      outputs: [id],
      channels: 1,
      inputs: async () => {
        if (imgs.length !== 1) {
          throw new InputError(
            imgs.length === 0
              ? `${path.join(raw, 'Pancreas-CT', `PANCREAS_${num}.nii.gz`)}: missing image file`
              : `case ${id}: ${imgs.length} image files (${imgs.join(', ')}); keep one`,
          );
        }
        if (labs.length !== 1) {
          throw new InputError(
            labs.length === 0
              ? `${path.join(raw, 'TCIA_pancreas_labels-02-05-2017', `label${num}.nii.gz`)}: missing label file`
              : `case ${id}: ${labs.length} label files (${labs.join(', ')}); keep one`,
          );
        }
        return [imgs[0], labs[0]];
      },
      run: async ([imgFile, labFile]) => [await prepareCase(raw, id, imgFile, labFile, options)],
    });
  }
  return { units, absent };
}

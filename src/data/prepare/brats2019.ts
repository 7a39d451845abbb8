/**
 * BraTS2019 (§2.2), per case folder `<ID>/` (under `MICCAI_BraTS_2019_Data_Training/{HGG,LGG}/`):
 * FLAIR is channel 0 (the reference's only input); crop to the brain bounding box of FLAIR's non-zero voxels
 * with the END-EXCLUSIVE max (the reference drops the last brain slice/row/column of each axis); clip above
 * the 99.9 % cumulative-histogram value; z-score with mean/std over voxels > 0 (background → −mean/std);
 * label = 1[seg > 0] (whole tumour). T1, T1ce and T2 are kept as channels 1–3 (`_0001.._0003`) with the
 * SAME crop (FLAIR's box) and each its own clip value and z-score (an ssmis extension; the reference
 * trains on FLAIR only). Axis order: the reference works on SimpleITK arrays (z, y, x); ssmis keeps the
 * NIfTI (i, j, k) order. The crop rule is the same on every axis, so the result is the reference's array
 * transposed, and the prepared volumes stay aligned with the NIfTI affine.
 */
import path from 'node:path';
import { readNifti } from '../../io/nifti.js';
import type { Volume } from '../../io/volume.js';
import { InputError } from '../../util/errors.js';
import {
  caseFolderUnits,
  checkFinite,
  checkLabelValues,
  checkSameShape,
  numeric,
  type RawIndex,
  rawShape,
  requireFile,
} from './common.js';
import type { DatasetMeta, PreparedCase, PrepareUnit } from './runner.js';
import {
  brainCropBox,
  clipUpper,
  cropAffine,
  cropArray,
  cropShape,
  cumulativeClipValue,
  zscore,
} from './steps.js';

export const BRATS_META: DatasetMeta = {
  dataset: 'brats2019',
  name: 'BraTS2019',
  dims: 3,
  channelNames: { '0': 'FLAIR', '1': 'T1', '2': 'T1ce', '3': 'T2' },
  labels: { background: 0, whole_tumor: 1 },
  labeledUnit: 'case',
  preprocessing:
    'docs/equations.md §2.2: FLAIR brain-bbox crop (end-exclusive max), 99.9% cumulative-histogram upper clip, z-score over voxels > 0, label = seg > 0; T1/T1ce/T2 as channels 1-3 with the same crop and their own clip/z-score',
};

const MODALITIES = ['flair', 't1', 't1ce', 't2'] as const;

/** The case's four modalities and seg, in channel order, each checked to exist. */
async function caseFiles(id: string, dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const m of [...MODALITIES, 'seg'])
    files.push(await requireFile(path.join(dir, `${id}_${m}.nii.gz`), 'file'));
  return files;
}

async function prepareCase(raw: string, files: string[], id: string): Promise<PreparedCase> {
  const vols: Volume[] = [];
  for (const f of files) vols.push(await readNifti(f));
  const shape = rawShape(vols[0], files[0]);
  for (let v = 1; v < vols.length; v++)
    checkSameShape(shape, rawShape(vols[v], files[v]), files[0], files[v]);
  const seg = numeric(vols[4].data);
  checkLabelValues(seg, [0, 1, 2, 4], files[4]);
  const flair = numeric(vols[0].data);
  checkFinite(flair, shape, files[0]);
  const box = brainCropBox(flair, shape);
  if (!box || cropShape(box).some((s) => s < 1)) {
    throw new InputError(
      `${files[0]}: empty brain (FLAIR has ${box ? 'a single non-zero slice' : 'no non-zero voxel'})`,
    );
  }
  const channels: Float32Array[] = [];
  for (let m = 0; m < MODALITIES.length; m++) {
    const data = numeric(vols[m].data);
    checkFinite(data, shape, files[m]);
    const cropped = cropArray(data, shape, box);
    const clipped = clipUpper(cropped, cumulativeClipValue(cropped, 0.999));
    channels.push(zscore(clipped, (v) => v > 0));
  }
  const segCrop = cropArray(seg, shape, box);
  const label = new Uint8Array(segCrop.length);
  for (let p = 0; p < label.length; p++) label[p] = segCrop[p] > 0 ? 1 : 0;
  return {
    id,
    channels,
    label,
    shape: cropShape(box),
    affine: cropAffine(vols[0].affine, box.start),
    spacing: vols[0].spacing.slice(0, 3),
    header: vols[0].header,
    source: path.relative(raw, files[0]),
    originalShape: [...shape],
    cropStart: [...box.start],
  };
}

export function bratsUnits(
  raw: string,
  index: RawIndex,
  ids: string[],
): { units: PrepareUnit[]; absent: string[] } {
  return caseFolderUnits(
    ids,
    (id) => index.dirs.get(id) ?? [],
    MODALITIES.length,
    caseFiles,
    async (id, files) => [await prepareCase(raw, files, id)],
  );
}

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
import type { NumberVoxelArray } from '../../io/dtype.js';
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
  type CropBox,
  clipUpper,
  cropAffine,
  cropArray,
  cropShape,
  cumulativeClipValue,
  meanStd,
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

/**
 * BraTS intensity normalisation of one channel (§2.2): upper clip at the 99.9 % cumulative-histogram value, then
 * z-score over voxels > 0, both statistics taken inside `box` (FLAIR's brain box). `crop` returns the cropped
 * channel (what `prepare` stores); `grid` applies the same function of intensity to the whole uncropped grid.
 */
export function bratsNormalizeChannel(
  data: NumberVoxelArray,
  shape: number[],
  box: CropBox,
  output: 'crop' | 'grid',
): Float32Array {
  const cropped = cropArray(data, shape, box);
  const hi = cumulativeClipValue(cropped, 0.999);
  const clipped = clipUpper(cropped, hi);
  if (output === 'crop') return zscore(clipped, (v) => v > 0);
  const { mean, std } = meanStd(clipped, (v) => v > 0);
  const inv = std > 0 ? 1 / std : 0;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (Math.min(data[i], hi) - mean) * inv;
  return out;
}

/**
 * The BraTS normalisation of a scan `prepare` never cropped (what `predict` feeds a model): statistics inside
 * FLAIR's (channel 0's) brain box, or the whole grid when FLAIR has no brain, every channel normalised over the
 * whole grid.
 */
export function bratsNormalizeUncropped(
  channels: readonly NumberVoxelArray[],
  shape: number[],
): Float32Array[] {
  const whole: CropBox = { start: [0, 0, 0], end: [shape[0], shape[1], shape[2]] };
  const box = brainCropBox(channels[0], shape);
  const region = box?.end.every((e, a) => e > box.start[a]) ? box : whole;
  return channels.map((d) => bratsNormalizeChannel(d, shape, region, 'grid'));
}

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
    channels.push(bratsNormalizeChannel(data, shape, box, 'crop'));
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

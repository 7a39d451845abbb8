/**
 * ACDC (§2.4). Per patient folder `patientXXX/` (under `training/`, `testing/` or `database/…`): the two
 * annotated frames named by `Info.cfg` (ED:, ES:) — or, without Info.cfg, the two `_frameNN_gt` files —
 * renamed `patientXXX_frame01` / `_frame02` in frame-number order (the split lists' convention). Each volume
 * is min–max normalised to [0, 1] per volume and kept 3-D (the 2-D model trains slice by slice: dims 2).
 * Labels 0 background, 1 RV, 2 Myo, 3 LV. No crop (cropStart 0).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readNifti } from '../../io/nifti.js';
import { readInputText } from '../../io/read-file.js';
import { errorMessage, InputError } from '../../util/errors.js';
import { type RawIndex, readImageLabelPair } from './common.js';
import { type DatasetMeta, exists, type PreparedCase, type PrepareUnit } from './runner.js';
import { minMaxNormalize } from './steps.js';

export const ACDC_META: DatasetMeta = {
  dataset: 'acdc',
  name: 'ACDC',
  dims: 2,
  channelNames: { '0': 'cineMRI' },
  labels: { background: 0, RV: 1, MYO: 2, LV: 3 },
  labeledUnit: 'patient',
  preprocessing:
    'docs/equations.md §2.4: ED and ES frames (Info.cfg) renamed frame01/frame02 in frame order, per-volume min-max to [0,1], kept 3-D for slice-wise training',
};

/** ACDC intensity normalisation (§2.4): min–max to [0, 1] per volume. */
export function acdcNormalize(image: ArrayLike<number>): Float32Array {
  return minMaxNormalize(image);
}

/** `ED: 1` / `ES: 12` from an ACDC Info.cfg. */
export function parseInfoCfg(text: string, file: string): { ed: number; es: number } {
  const get = (key: string): number => {
    const m = new RegExp(`^\\s*${key}\\s*:\\s*(\\d+)\\s*$`, 'm').exec(text);
    if (!m) throw new InputError(`${file}: missing or non-integer "${key}:" line`);
    return Number(m[1]);
  };
  return { ed: get('ED'), es: get('ES') };
}

/** An Info.cfg holds a handful of `key: value` lines. */
const MAX_INFO_CFG_BYTES = 1024 * 1024;

async function framesOf(dir: string, patient: string): Promise<number[]> {
  const cfg = path.join(dir, 'Info.cfg');
  let text: string | null = null;
  try {
    text = await readInputText(cfg, 'Info.cfg', { maxBytes: MAX_INFO_CFG_BYTES });
  } catch (error) {
    // No Info.cfg: the annotated frames are found by name below. Any other failure (a FIFO, a folder) is reported.
    if (((error as { cause?: { code?: string } }).cause?.code ?? '') !== 'ENOENT') throw error;
    text = null;
  }
  if (text !== null) {
    const { ed, es } = parseInfoCfg(text, cfg);
    if (ed === es) throw new InputError(`${cfg}: ED and ES are the same frame (${ed})`);
    return [ed, es].sort((a, b) => a - b);
  }
  const names = await fs.readdir(dir).catch((error) => {
    throw new InputError(`${dir}: cannot list the patient folder (${errorMessage(error)})`);
  });
  const re = new RegExp(`^${patient}_frame(\\d+)_gt\\.nii(\\.gz)?$`);
  const frames = names
    .map((n) => re.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (frames.length !== 2) {
    throw new InputError(
      `${dir}: no Info.cfg and ${frames.length} annotated frames (_frameNN_gt) instead of 2`,
    );
  }
  return frames;
}

async function niftiIn(dir: string, stem: string): Promise<string> {
  for (const ext of ['.nii.gz', '.nii']) {
    const p = path.join(dir, stem + ext);
    try {
      await fs.access(p);
      return p;
    } catch {
      // try the next extension
    }
  }
  throw new InputError(`${path.join(dir, `${stem}.nii.gz`)}: missing file`);
}

/**
 * The files a patient is prepared from: Info.cfg when there is one (it names the frames), then image and `_gt`
 * label of the two annotated frames in frame order.
 */
async function patientFiles(dir: string, patient: string): Promise<string[]> {
  const frames = await framesOf(dir, patient);
  const files: string[] = [];
  for (const frame of frames) {
    const stem = `${patient}_frame${String(frame).padStart(2, '0')}`;
    files.push(await niftiIn(dir, stem), await niftiIn(dir, `${stem}_gt`));
  }
  const cfg = path.join(dir, 'Info.cfg');
  return (await exists(cfg)) ? [cfg, ...files] : files;
}

/** Prepares both frames of a patient from {@link patientFiles} (the last four are image/label pairs). */
async function preparePatient(raw: string, patient: string, inputs: string[]): Promise<PreparedCase[]> {
  const pairs = inputs.slice(-4);
  const out: PreparedCase[] = [];
  for (let f = 0; f < 2; f++) {
    const [imgFile, labFile] = [pairs[2 * f], pairs[2 * f + 1]];
    const {
      img,
      shape,
      image: data,
      labels,
    } = await readImageLabelPair(readNifti, imgFile, labFile, [0, 1, 2, 3]);
    out.push({
      id: `${patient}_frame0${f + 1}`,
      channels: [acdcNormalize(data)],
      label: Uint8Array.from(labels),
      shape,
      affine: img.affine,
      spacing: img.spacing.slice(0, 3),
      header: img.header,
      source: path.relative(raw, imgFile),
      originalShape: [...shape],
      cropStart: [0, 0, 0],
    });
  }
  return out;
}

/** One unit per patient of the listed volumes (`patientXXX_frameYY` → `patientXXX`), in list order. */
export function acdcUnits(
  raw: string,
  index: RawIndex,
  ids: string[],
): { units: PrepareUnit[]; absent: string[] } {
  const patients: string[] = [];
  const volumesOf = new Map<string, string[]>();
  for (const id of ids) {
    const p = id.replace(/_frame\d+$/, '');
    if (!volumesOf.has(p)) {
      patients.push(p);
      volumesOf.set(p, []);
    }
    volumesOf.get(p)?.push(id);
  }
  const units: PrepareUnit[] = [];
  const absent: string[] = [];
  for (const patient of patients) {
    const dirs = index.dirs.get(patient) ?? [];
    if (dirs.length === 0) {
      absent.push(...(volumesOf.get(patient) ?? []));
      continue;
    }
    units.push({
      name: patient,
      outputs: [`${patient}_frame01`, `${patient}_frame02`],
      channels: 1,
      patient,
      inputs: async () => {
        if (dirs.length > 1)
          throw new InputError(`patient ${patient} found in ${dirs.length} folders: ${dirs.join(', ')}`);
        return patientFiles(dirs[0], patient);
      },
      run: (inputs) => preparePatient(raw, patient, inputs),
    });
  }
  return { units, absent };
}

/**
 * `ssmis predict`: label masks (uint8 NIfTI) for new images or prepared cases, written in each input's exact
 * geometry (never an identity affine: a mask must overlay its image in any viewer).
 *
 * Two kinds of input:
 * - prepared cases (`<dataset>/imagesTr/<case>_0000.nii.gz` of a canonical folder, or the folder itself): the
 *   images are already preprocessed; the mask is written in the prepared grid, and — when dataset.json records
 *   `cases[<case>].cropStart/originalShape` — also padded back into the original scan's grid as
 *   `original/<case>.nii.gz`. The original geometry is the source scan's own NIfTI header when `raw` (the
 *   folder `prepare --raw` read) is given and `cases[<case>].source` is a NIfTI file there; otherwise it is
 *   COMPUTED from the prepared affine and cropStart (same linear part, origin moved back by A·cropStart, which
 *   inverts `prepare`'s crop exactly; the header fields besides the affine — qform code, units, description —
 *   come from the prepared file, the qform is re-derived from the affine).
 * - any other NIfTI image: the dataset preset's intensity normalisation is applied first (each preset's own
 *   function in `src/data/prepare/<preset>.ts`, the one `prepare` uses): `la` z-score over the whole volume;
 *   `brats2019` per channel upper clip at the 99.9 % cumulative-histogram value then z-score over voxels > 0,
 *   with both statistics taken inside FLAIR's brain bounding box as `prepare` does (the volume is not cropped:
 *   outside the box the values are the same function of intensity); `pancreas-nih` HU clip [−125, 275] then
 *   min–max; `acdc` min–max; `custom` none (prepare does not transform custom datasets). An image without a
 *   channel number is the model's one channel; otherwise inputs are nnU-Net channel sets `<case>_0000`, `_0001`,
 *   … next to each other, and what is missing is named.
 *
 * Channels: the model takes the files of `data.channels`, in that order (`[2, 0]` feeds `_0002` then `_0000`),
 * for prepared and other inputs alike, as training and evaluation load them; other channel files of a set are
 * ignored (and noted). For `brats2019` images FLAIR (`_0000`) is read as well when the model does not take it,
 * because its brain box gives every channel's normalisation statistics.
 *
 * Post-processing follows `eval.largestComponent` / `eval.connectivity`, so a predicted mask is the one
 * `ssmis eval` scores.
 *
 * Safety: every output path is planned and checked before the model is loaded. An output never replaces an
 * input being read (a scan, a channel, the `--raw` source header; compared by file identity, so links count)
 * and never goes into a dataset's image or label folder, whatever `overwrite` says; an existing output file
 * is replaced only with `overwrite`, and then by an atomic rename. Temp files an interrupted run left in the
 * output folders are removed at the next run.
 */
import { existsSync, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../backend/init.js';
import type { SsmisConfig } from '../config/index.js';
import { type DatasetJson, readDatasetJson } from '../data/dataset-json.js';
import { acdcNormalize } from '../data/prepare/acdc.js';
import { bratsNormalizeUncropped } from '../data/prepare/brats2019.js';
import { laNormalize } from '../data/prepare/la.js';
import { pancreasNormalize } from '../data/prepare/pancreas-nih.js';
import { assertFiniteVoxels, numeric } from '../data/voxel-values.js';
import { evalInferenceSettings, inferCase } from '../infer/infer-case.js';
import { loadCheckpointConfig, loadModelFromCheckpoint } from '../infer/model.js';
import { checkSameGrid, spatialShape } from '../io/geometry.js';
import { readNifti, readNiftiHeader, volumeFromArray, writeNifti } from '../io/nifti.js';
import type { Affine, Volume, VoxelArray } from '../io/volume.js';
import { requireObject, requireString } from '../util/args.js';
import { removeOrphanTemps } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import type { EvaluationProgress } from './evaluate-model.js';
import { checkOutputFolder, datasetDataFolders, realPathOf, statInput } from './output-guard.js';
import { safeFileStem } from './report-overlays.js';

export type Preset = DatasetJson['preset'];

export interface PredictOptions {
  checkpoint: string;
  /** A NIfTI file, a folder of them, a canonical dataset folder, or its `imagesTr` folder. */
  input: string;
  output: string;
  /** The model config, or a config file; default `<run>/config.yaml` of the checkpoint's run folder. */
  config?: SsmisConfig | string;
  /** `--set` overrides when the config is read from a file. */
  set?: readonly string[];
  /** Also write `<case>_probabilities.nii.gz` (float32; the foreground map for two classes). */
  probabilities?: boolean;
  /** The raw folder `prepare` read, to take the original scan's header for prepared inputs. */
  raw?: string;
  /**
   * Replace existing output files. Default false: an existing output file is an error. Never replaces an
   * input being read, and never writes into a dataset's image or label folder.
   */
  overwrite?: boolean;
  onProgress?: (progress: EvaluationProgress) => void;
}

export interface PredictedCase {
  caseId: string;
  kind: 'prepared' | 'image';
  /**
   * Image files read, one per channel: the model's `data.channels` in order (for `brats2019` images, FLAIR first
   * and the others in that order).
   */
  inputs: string[];
  output: string;
  probabilities?: string;
  /** Prepared inputs: the mask in the original scan's grid. */
  original?: string;
  /** How the original geometry was obtained. */
  originalGeometry?: 'source-header' | 'computed';
}

export interface PredictResult {
  cases: PredictedCase[];
  /** Preset whose normalisation was applied to non-prepared images. */
  preset: Preset;
  /** Things the user should know (ignored files, computed geometry). */
  notes: string[];
}

/** One unit of work: the channel files of a case and how to treat them. */
interface PredictJob {
  caseId: string;
  /** The files read, one per entry of `read`. */
  files: string[];
  /** The channel number of each file (`_0002` → 2), in the order they are read and normalised. */
  read: number[];
  prepared: { datasetDir: string; json: DatasetJson } | null;
}

/** What the model takes: `data.channels`, in order, and the channels the normalisation reads. */
interface ChannelPlan {
  /** The model's input channels, in order (`data.channels`). */
  model: readonly number[];
  /**
   * Channels of an image set to read, in the order they are normalised: `model`, except that `brats2019` reads
   * FLAIR (`_0000`) first, taken or not, because the normalisation takes its statistics in FLAIR's brain box.
   */
  image: readonly number[];
}

const NIFTI_RE = /\.nii(\.gz)?$/i;
const CHANNEL_RE = /^(.*)_(\d{4})\.nii(\.gz)?$/i;

// ---------------------------------------------------------------------------------------------------------
// Intensity normalisation

/** Refuses an image with a NaN or infinite voxel, naming the file and the voxel (a network turns it into noise). */
function assertFiniteImage(volume: Volume, shape: readonly number[], file: string): void {
  assertFiniteVoxels(
    numeric(volume.data),
    shape,
    (value, voxel) =>
      `${file}: non-finite intensity ${value} at voxel [${voxel.join(', ')}]; the image must hold finite numbers only`,
  );
}

/**
 * The preset's intensity normalisation of `prepare` (docs/equations.md §2.1–2.4) for one case's channels (row-major
 * over `shape`), without the crops (see the module comment for BraTS).
 */
export function normalizeForPreset(
  preset: Preset,
  channels: readonly VoxelArray[],
  shape: number[],
): Float32Array[] {
  const data = channels.map(numeric);
  for (const [c, d] of data.entries()) {
    assertFiniteVoxels(
      d,
      shape,
      (value, voxel) => `channel ${c}: non-finite intensity ${value} at voxel [${voxel.join(', ')}]`,
    );
  }
  switch (preset) {
    case 'la':
      return data.map((d) => laNormalize(d));
    case 'acdc':
      return data.map((d) => acdcNormalize(d));
    case 'pancreas-nih':
      return data.map((d) => pancreasNormalize(d));
    case 'brats2019':
      return bratsNormalizeUncropped(data, shape);
    default:
      return data.map((d) => (d instanceof Float32Array ? d : Float32Array.from(d)));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Inputs

/** The checked `dataset.json` of a dataset folder (read through the data layer's one reader, size-limited). */
async function datasetJsonOf(dir: string): Promise<DatasetJson> {
  return (await readDatasetJson(path.join(dir, 'dataset.json'))).json;
}

function ending(json: DatasetJson): string {
  return json.file_ending ?? '.nii.gz';
}

/** `<case>_0002` for channel 2. */
function channelStem(caseId: string, channel: number): string {
  return `${caseId}_${String(channel).padStart(4, '0')}`;
}

/** The channel plan of a model config for inputs of `preset` (see the module comment). */
function channelPlan(config: SsmisConfig, preset: Preset): ChannelPlan {
  const model = config.data.channels;
  const image = preset === 'brats2019' ? [0, ...model.filter((c) => c !== 0)] : [...model];
  return { model, image };
}

/** How a message names the model's input: `2 channel(s), data.channels [2, 0]`. */
function describeChannels(channels: readonly number[]): string {
  return `${channels.length} channel(s), data.channels [${channels.join(', ')}]`;
}

async function preparedJobs(
  datasetDir: string,
  channels: readonly number[],
  only?: string,
): Promise<PredictJob[]> {
  const json = await datasetJsonOf(datasetDir);
  const end = ending(json);
  const imagesDir = path.join(datasetDir, 'imagesTr');
  const suffix = `_0000${end}`;
  const ids =
    only !== undefined
      ? [only]
      : (await fs.readdir(imagesDir))
          .filter((n) => n.endsWith(suffix) && n.length > suffix.length)
          .map((n) => n.slice(0, -suffix.length))
          .sort();
  if (ids.length === 0) throw new InputError(`${imagesDir}: no *${suffix} image`);
  return ids.map((id) => {
    const files = channels.map((c) => path.join(imagesDir, `${channelStem(id, c)}${end}`));
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length > 0) {
      throw new InputError(
        `case ${id}: the model takes ${describeChannels(channels)}; missing ${missing.map((f) => path.basename(f)).join(', ')} in ${imagesDir}`,
      );
    }
    return { caseId: id, files, read: [...channels], prepared: { datasetDir, json } };
  });
}

/** The files of `channels` in `caseId`'s set in `dir`, in that order, or an error naming the missing ones. */
function channelSet(dir: string, caseId: string, present: Map<number, string>, plan: ChannelPlan): string[] {
  const files: string[] = [];
  const missing: string[] = [];
  for (const c of plan.image) {
    const f = present.get(c);
    if (f === undefined) missing.push(`${channelStem(caseId, c)}.nii.gz`);
    else files.push(f);
  }
  if (missing.length > 0) {
    const flair =
      plan.model.includes(0) || !plan.image.includes(0) ? '' : ' and FLAIR _0000 for the normalisation';
    throw new InputError(
      `case ${caseId} in ${dir}: the model takes ${describeChannels(plan.model)}${flair}; missing ${missing.join(', ')}`,
    );
  }
  return files;
}

async function imageJobs(
  input: string,
  isDir: boolean,
  plan: ChannelPlan,
  notes: string[],
): Promise<PredictJob[]> {
  const dir = isDir ? input : path.dirname(input);
  const names = isDir
    ? (await fs.readdir(dir)).filter((n) => NIFTI_RE.test(n)).sort()
    : [path.basename(input)];
  if (isDir && names.length === 0) throw new InputError(`${dir}: no .nii or .nii.gz file`);
  const groups = new Map<string, Map<number, string>>();
  const singles: string[] = [];
  for (const name of names) {
    const m = CHANNEL_RE.exec(name);
    if (m === null) {
      singles.push(name);
      continue;
    }
    const group = groups.get(m[1]) ?? new Map<number, string>();
    group.set(Number(m[2]), path.join(dir, name));
    groups.set(m[1], group);
  }
  // A single file `<case>_0000.nii.gz` given: its siblings complete the set.
  if (!isDir && groups.size === 1) {
    const [caseId, group] = [...groups][0];
    for (const c of plan.image) {
      for (const ext of ['.nii.gz', '.nii']) {
        const f = path.join(dir, `${channelStem(caseId, c)}${ext}`);
        if (!group.has(c) && existsSync(f)) group.set(c, f);
      }
    }
  }
  const jobs: PredictJob[] = [];
  for (const name of singles) {
    const caseId = name.replace(NIFTI_RE, '');
    if (plan.model.length > 1) {
      throw new InputError(
        `${path.join(dir, name)}: the model takes ${describeChannels(plan.model)}; give the nnU-Net channel files ${plan.model.map((c) => channelStem(caseId, c)).join(', ')}`,
      );
    }
    // A file without a channel number is the model's one channel, whichever data.channels names.
    jobs.push({ caseId, files: [path.join(dir, name)], read: [plan.model[0]], prepared: null });
  }
  for (const [caseId, group] of groups) {
    const files = channelSet(dir, caseId, group, plan);
    const extra = [...group.keys()].filter((c) => !plan.image.includes(c)).sort((a, b) => a - b);
    if (extra.length > 0) {
      notes.push(
        `case ${caseId}: ignored channel file(s) ${extra.map((c) => `_${String(c).padStart(4, '0')}`).join(', ')} (the model takes ${describeChannels(plan.model)})`,
      );
    }
    jobs.push({ caseId, files, read: [...plan.image], prepared: null });
  }
  const seen = new Set<string>();
  for (const j of jobs) {
    if (seen.has(j.caseId)) throw new InputError(`${dir}: two inputs are named ${j.caseId}; rename one`);
    seen.add(j.caseId);
  }
  return jobs.sort((a, b) => (a.caseId < b.caseId ? -1 : a.caseId > b.caseId ? 1 : 0));
}

async function planJobs(input: string, plan: ChannelPlan, notes: string[]): Promise<PredictJob[]> {
  const isDir = (await statInput(input, '--input')).isDirectory();
  if (isDir) {
    if (existsSync(path.join(input, 'dataset.json')) && existsSync(path.join(input, 'imagesTr'))) {
      return preparedJobs(input, plan.model);
    }
    if (path.basename(input) === 'imagesTr' && existsSync(path.join(input, '..', 'dataset.json'))) {
      return preparedJobs(path.dirname(path.resolve(input)), plan.model);
    }
    return imageJobs(input, true, plan, notes);
  }
  if (!NIFTI_RE.test(input))
    throw new InputError(`--input ${input}: expected a .nii or .nii.gz file or a folder`);
  const parent = path.dirname(path.resolve(input));
  const m = CHANNEL_RE.exec(path.basename(input));
  if (
    m !== null &&
    path.basename(parent) === 'imagesTr' &&
    existsSync(path.join(parent, '..', 'dataset.json'))
  ) {
    return preparedJobs(path.dirname(parent), plan.model, m[1]);
  }
  return imageJobs(input, false, plan, notes);
}

// ---------------------------------------------------------------------------------------------------------
// Geometry

function spatial(volume: Volume, file: string): [number, number, number] {
  return spatialShape(
    volume.shape,
    (shape) => `${file}: shape ${shape}; expected a 3-D image (one file per channel)`,
  );
}

/** The affine of the uncropped grid: same linear part, origin moved back by A·cropStart (inverse of the crop). */
export function uncropAffine(affine: Affine, cropStart: readonly number[]): Affine {
  const out = affine.map((row) => [...row]);
  for (let r = 0; r < 3; r++) {
    out[r][3] =
      affine[r][3] -
      (affine[r][0] * cropStart[0] + affine[r][1] * cropStart[1] + affine[r][2] * cropStart[2]);
  }
  return out;
}

/** Pastes a row-major `[x, y, z]` mask into a zero `[X, Y, Z]` grid at `start`. */
export function padIntoGrid(
  mask: Uint8Array,
  shape: readonly number[],
  grid: readonly number[],
  start: readonly number[],
): Uint8Array {
  const [nx, ny, nz] = shape;
  const [gx, gy, gz] = grid;
  for (let a = 0; a < 3; a++) {
    if (!Number.isInteger(start[a]) || start[a] < 0 || start[a] + shape[a] > grid[a]) {
      throw new InputError(
        `cropStart [${start.join(', ')}] with shape [${shape.join(', ')}] does not fit the original shape [${grid.join(', ')}]`,
      );
    }
  }
  const out = new Uint8Array(gx * gy * gz);
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const src = (i * ny + j) * nz;
      out.set(mask.subarray(src, src + nz), ((i + start[0]) * gy + (j + start[1])) * gz + start[2]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

async function resolveConfig(options: PredictOptions): Promise<SsmisConfig> {
  if (options.config !== undefined && typeof options.config !== 'string') return options.config;
  return loadCheckpointConfig(options.checkpoint, options.config, options.set ?? []);
}

/** The preset whose normalisation applies: the config's, else the dataset's own (`dataset.json`). */
async function presetOf(config: SsmisConfig): Promise<Preset> {
  if (config.data.preset !== 'custom') return config.data.preset;
  const file = path.join(config.data.dataset, 'dataset.json');
  if (!existsSync(file)) return 'custom';
  try {
    return (await datasetJsonOf(config.data.dataset)).preset;
  } catch {
    return 'custom';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Outputs

/** What one job reads and writes. */
interface JobPlan {
  job: PredictJob;
  mask: string;
  probabilities?: string;
  /** The mask in the original grid (prepared inputs with a crop record). */
  original?: string;
  /** The source scan under `--raw` whose header the original-grid mask copies, when it exists. */
  rawSource?: string;
}

function planOutputs(jobs: readonly PredictJob[], out: string, options: PredictOptions): JobPlan[] {
  return jobs.map((job) => {
    const stem = safeFileStem(job.caseId);
    // nnU-Net's names: `<case>` + the dataset's file_ending (else the input's), which its evaluate_folder reads.
    const end = job.prepared ? ending(job.prepared.json) : /\.nii$/i.test(job.files[0]) ? '.nii' : '.nii.gz';
    const plan: JobPlan = { job, mask: path.join(out, `${stem}${end}`) };
    if (options.probabilities) plan.probabilities = path.join(out, `${stem}_probabilities.nii.gz`);
    const entry = job.prepared?.json.cases?.[job.caseId];
    if (entry !== undefined) {
      plan.original = path.join(out, 'original', `${stem}.nii.gz`);
      if (options.raw !== undefined && NIFTI_RE.test(entry.source)) {
        const source = path.join(options.raw, entry.source);
        if (existsSync(source)) plan.rawSource = source;
      }
    }
    return plan;
  });
}

function identity(stat: Stats): string {
  return `${stat.dev}:${stat.ino}`;
}

async function statOrNull(file: string, follow: boolean): Promise<Stats | null> {
  try {
    return follow ? await fs.stat(file) : await fs.lstat(file);
  } catch {
    return null;
  }
}

/**
 * Checks every output of `plans` before any inference (see the module comment), naming the file and the
 * reason, and removes the temp files an interrupted earlier run left in the output folders.
 */
async function checkOutputs(
  plans: readonly JobPlan[],
  config: SsmisConfig,
  options: PredictOptions,
): Promise<void> {
  const flag = `--output ${options.output}`;
  const datasets = new Set([config.data.dataset]);
  for (const p of plans) if (p.job.prepared !== null) datasets.add(p.job.prepared.datasetDir);
  const protectedDirs = (await Promise.all([...datasets].map((d) => datasetDataFolders(d)))).flat();
  const out = path.resolve(options.output);
  const folders = [out, ...(plans.some((p) => p.original !== undefined) ? [path.join(out, 'original')] : [])];
  for (const folder of folders) await checkOutputFolder(folder, '--output', protectedDirs);

  const inputs = new Map<string, string>();
  for (const p of plans) {
    for (const file of [...p.job.files, ...(p.rawSource === undefined ? [] : [p.rawSource])]) {
      const stat = await statOrNull(file, true);
      if (stat !== null) inputs.set(identity(stat), file);
    }
  }
  const planned = new Map<string, string>();
  const existing: string[] = [];
  for (const p of plans) {
    for (const file of [p.mask, p.probabilities, p.original]) {
      if (file === undefined) continue;
      const real = await realPathOf(file);
      const before = planned.get(real);
      if (before !== undefined) {
        throw new InputError(
          `${flag}: cases ${before} and ${p.job.caseId} would both be written to ${file}; rename one input`,
        );
      }
      planned.set(real, p.job.caseId);
      const stat = await statOrNull(file, true);
      if (stat !== null) {
        const victim = inputs.get(identity(stat));
        if (victim !== undefined) {
          throw new InputError(
            `${flag}: ${file} would replace the input scan ${victim}${victim === p.rawSource ? ' (read by --raw)' : ''}; choose another --output`,
          );
        }
        if (!stat.isFile()) {
          throw new InputError(`${flag}: ${file} is a folder (or not a regular file), where a mask goes`);
        }
      }
      if (stat !== null || (await statOrNull(file, false)) !== null) existing.push(file);
    }
  }
  if (existing.length > 0 && !options.overwrite) {
    throw new InputError(
      `${flag}: ${existing[0]} already exists${existing.length > 1 ? ` (and ${existing.length - 1} more output file(s))` : ''}; pass --overwrite to replace, or choose another --output`,
    );
  }
  for (const folder of folders) await removeOrphanTemps(folder);
}

/**
 * Writes a uint8 label mask (NIfTI) for every input image or prepared case, in the input's own geometry, using
 * the trained model of a checkpoint (see the module comment for inputs, normalisation and safety rules). Every
 * output path is planned and checked before the model is loaded; post-processing follows `eval.largestComponent`.
 *
 * @param options `checkpoint` (weights file), `input` (a NIfTI file, a folder of them, a canonical dataset
 *   folder or its `imagesTr`), `output` (folder for the masks), and optionally `config` (config object or file;
 *   default `<run>/config.yaml` of the checkpoint's run folder), `set` overrides, `probabilities`, `raw`,
 *   `overwrite` and an `onProgress` callback.
 * @returns The cases written (inputs read, mask path, optional probability and original-grid paths), the preset
 *   whose normalisation was applied, and notes for the user.
 * @throws InputError when `options` is not an object or `checkpoint`/`input`/`output` is not a string; when the
 *   checkpoint file is missing, or no config is given and the run folder has no `config.yaml`; when the config
 *   is invalid (ConfigError); when an input is missing, unreadable, non-finite, lacks a channel or has channels on
 *   different grids; when an output would replace an input, go into a dataset's image or label folder, collide
 *   with another case's output, or already exists without `overwrite`.
 * @example
 * import { predict } from 'ssmis';
 *
 * const { cases, notes } = await predict({
 *   checkpoint: 'runs/la-5pct/checkpoints/best.safetensors',
 *   input: 'scans/',
 *   output: 'masks/',
 * });
 * for (const c of cases) console.log(c.caseId, '->', c.output);
 * for (const note of notes) console.log(note);
 */
export async function predict(options: PredictOptions): Promise<PredictResult> {
  requireObject('predict', 'options', options);
  requireString('predict', 'options.checkpoint', options.checkpoint);
  requireString('predict', 'options.input', options.input);
  requireString('predict', 'options.output', options.output);
  const config = await resolveConfig(options);
  if (!existsSync(options.checkpoint))
    throw new InputError(`${options.checkpoint}: checkpoint file not found`);
  const notes: string[] = [];
  const preset = await presetOf(config);
  const channelsIn = channelPlan(config, preset);
  const channels = channelsIn.model.length;
  const jobs = await planJobs(options.input, channelsIn, notes);
  const plans = planOutputs(jobs, path.resolve(options.output), options);
  await checkOutputs(plans, config, options);
  await initBackend({ backend: config.backend.name, fastKernels: config.backend.fastKernels });
  const model = await loadModelFromCheckpoint(config, options.checkpoint);
  const settings = evalInferenceSettings(config);
  const cases: PredictedCase[] = [];
  try {
    for (const [index, plan] of plans.entries()) {
      const { job } = plan;
      const volumes: Volume[] = [];
      for (const f of job.files) volumes.push(await readNifti(f));
      const shape = spatial(volumes[0], job.files[0]);
      for (const [c, v] of volumes.entries()) assertFiniteImage(v, shape, job.files[c]);
      for (let c = 1; c < volumes.length; c++) {
        checkSameGrid(
          { shape: spatial(volumes[c], job.files[c]), affine: volumes[c].affine },
          { shape, affine: volumes[0].affine },
          {
            shape: (found, expected) =>
              `${job.files[c]} has shape ${found} but ${job.files[0]} has ${expected}`,
            affine: (diff) =>
              `${job.files[c]} and ${job.files[0]} have different affines (max difference ${diff} mm); channels must share geometry`,
          },
        );
      }
      const perChannel =
        job.prepared !== null
          ? volumes.map((v) => (v.data instanceof Float32Array ? v.data : Float32Array.from(numeric(v.data))))
          : normalizeForPreset(
              preset,
              volumes.map((v) => v.data),
              shape,
            );
      const n = shape[0] * shape[1] * shape[2];
      const image = new Float32Array(n * channels);
      for (let c = 0; c < channels; c++) {
        // The model's c-th input is data.channels[c], wherever the normalisation read it.
        const src = perChannel[job.read.indexOf(channelsIn.model[c])];
        for (let v = 0; v < n; v++) image[v * channels + c] = src[v];
      }
      const result = await inferCase(model, { image, shape, channels }, settings, (done, total) =>
        options.onProgress?.({
          phase: 'window',
          casesDone: index,
          cases: jobs.length,
          caseId: job.caseId,
          windowsDone: done,
          windows: total,
        }),
      );
      const { labels } = result;
      const record: PredictedCase = {
        caseId: job.caseId,
        kind: job.prepared === null ? 'image' : 'prepared',
        inputs: job.files,
        output: plan.mask,
      };
      await writeNifti(record.output, volumeFromArray(labels, [...shape], { like: volumes[0] }), {
        datatype: 'uint8',
        description: 'ssmis prediction',
      });
      if (plan.probabilities !== undefined) {
        record.probabilities = plan.probabilities;
        await writeNifti(
          record.probabilities,
          volumeFromArray(result.probabilities, result.probabilityShape, { like: volumes[0] }),
          { datatype: 'float32', description: 'ssmis probabilities' },
        );
      }
      const entry = job.prepared?.json.cases?.[job.caseId];
      if (plan.original !== undefined && entry !== undefined) {
        const padded = padIntoGrid(labels, shape, entry.originalShape, entry.cropStart);
        record.original = plan.original;
        let target: Volume | null = null;
        const sourceFile = plan.rawSource;
        if (sourceFile !== undefined) {
          const info = await readNiftiHeader(sourceFile);
          const s = info.shape;
          if (s.slice(0, 3).some((v, a) => v !== entry.originalShape[a])) {
            throw new InputError(
              `${sourceFile} has shape [${s.join(', ')}] but dataset.json records originalShape [${entry.originalShape.join(', ')}] for case ${job.caseId}`,
            );
          }
          target = {
            data: padded,
            shape: [...entry.originalShape],
            spacing: info.spacing.slice(0, 3),
            affine: info.affine,
            header: info.header,
          };
          record.originalGeometry = 'source-header';
        }
        if (target === null) {
          target = {
            data: padded,
            shape: [...entry.originalShape],
            spacing: volumes[0].spacing.slice(0, 3),
            affine: uncropAffine(volumes[0].affine, entry.cropStart),
            header: volumes[0].header,
          };
          record.originalGeometry = 'computed';
        }
        await writeNifti(record.original, target, { datatype: 'uint8', description: 'ssmis prediction' });
      }
      cases.push(record);
      options.onProgress?.({
        phase: 'case',
        casesDone: index + 1,
        cases: jobs.length,
        caseId: job.caseId,
        windowsDone: 1,
        windows: 1,
      });
    }
  } finally {
    model.dispose();
  }
  if (cases.some((c) => c.originalGeometry === 'computed')) {
    notes.push(
      'original-grid masks use an affine computed from the prepared affine and cropStart (pass --raw <the folder prepare read> to copy the source scan headers)',
    );
  }
  return { cases, preset, notes };
}

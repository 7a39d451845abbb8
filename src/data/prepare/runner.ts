/**
 * The shared `prepare` runner: runs one unit of work per raw case (ACDC: per patient, two volumes), writes
 * the canonical folder of dataset-format.md, and makes the run resumable and failure-tolerant:
 * - every output file is written atomically; a unit's completion record `<out>/.prepare/<case>.json`
 *   (shape, spacing, crop, source) is written last, so a unit counts as done only when all its files and its
 *   records exist; a second run skips done units (unless `force`) and still lists them in dataset.json;
 * - a unit that throws is reported by name with its message and the others go on;
 * - `dataset.json` is written at the end from the records of every done unit, with the official splits
 *   filtered (in list order) to the prepared cases.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeNifti } from '../../io/nifti.js';
import type { Affine, NiftiGeometry, Volume } from '../../io/volume.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { errorMessage } from '../../util/errors.js';
import type { PresetDataset, SplitLists } from './splits.js';

/** One prepared volume, ready to write. */
export interface PreparedCase {
  id: string;
  /** Float32 channels (`_0000`, `_0001`, …), row-major over `shape`. */
  channels: Float32Array[];
  label: Uint8Array;
  shape: [number, number, number];
  /** Voxel → world of the prepared volume (source affine composed with the crop). */
  affine: Affine;
  spacing: number[];
  /** Source header, kept so units/codes carry over; null for sources without one (NRRD, h5). */
  header: NiftiGeometry | null;
  /** Raw file of channel 0, relative to `--raw`. */
  source: string;
  originalShape: number[];
  cropStart: number[];
}

/** What `.prepare/<id>.json` and `dataset.json` keep of a prepared case. */
export interface CaseRecord {
  id: string;
  source: string;
  shape: number[];
  spacing: number[];
  originalShape: number[];
  cropStart: number[];
  channels: number;
  /** ACDC: the patient this volume belongs to. */
  patient?: string;
}

/** A unit of work: one raw case (ACDC: one patient) producing one or more prepared cases. */
export interface PrepareUnit {
  /** Name used in reports (case id, or patient id for ACDC). */
  name: string;
  /** Prepared case ids this unit produces (known before running, for the resume check). */
  outputs: string[];
  /** Number of image channels per output. */
  channels: number;
  run: () => Promise<PreparedCase[]>;
  /** ACDC: patient of each output. */
  patient?: string;
}

export interface PrepareCaseEvent {
  /** Unit name (ACDC: patient). */
  case: string;
  status: 'prepared' | 'skipped' | 'failed';
  /** Prepared shape(s), or the error message. */
  message: string;
  index: number;
  total: number;
}

export interface PrepareProgress {
  done: number;
  total: number;
  case: string;
}

export interface PrepareResult {
  /** Units prepared in this run (case ids; ACDC: patient ids). */
  prepared: string[];
  /** Units skipped because their outputs were already there. */
  skipped: string[];
  failed: { case: string; error: string }[];
  /** Cases listed in the official splits but absent from the raw folder. */
  absent: string[];
  /** Path of the written dataset.json. */
  datasetJson: string;
}

export interface DatasetMeta {
  dataset: PresetDataset;
  name: string;
  dims: 2 | 3;
  channelNames: Record<string, string>;
  labels: Record<string, number>;
  labeledUnit: 'case' | 'patient';
  preprocessing: string;
}

const FILE_ENDING = '.nii.gz';

export function imagePath(out: string, id: string, channel: number): string {
  return path.join(out, 'imagesTr', `${id}_${String(channel).padStart(4, '0')}${FILE_ENDING}`);
}

export function labelPath(out: string, id: string): string {
  return path.join(out, 'labelsTr', `${id}${FILE_ENDING}`);
}

function recordPath(out: string, id: string): string {
  return path.join(out, '.prepare', `${id}.json`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function readRecords(out: string, unit: PrepareUnit): Promise<CaseRecord[] | null> {
  const records: CaseRecord[] = [];
  for (const id of unit.outputs) {
    let record: CaseRecord;
    try {
      record = JSON.parse(await fs.readFile(recordPath(out, id), 'utf8')) as CaseRecord;
    } catch {
      return null;
    }
    if (record.id !== id || record.channels !== unit.channels) return null;
    for (let c = 0; c < unit.channels; c++) if (!(await exists(imagePath(out, id, c)))) return null;
    if (!(await exists(labelPath(out, id)))) return null;
    records.push(record);
  }
  return records;
}

async function writeCase(out: string, c: PreparedCase, patient: string | undefined): Promise<CaseRecord> {
  const geometry = { shape: c.shape, spacing: c.spacing, affine: c.affine, header: c.header };
  for (let ch = 0; ch < c.channels.length; ch++) {
    const vol: Volume = { data: c.channels[ch], ...geometry };
    await writeNifti(imagePath(out, c.id, ch), vol, { datatype: 'float32' });
  }
  await writeNifti(labelPath(out, c.id), { data: c.label, ...geometry }, { datatype: 'uint8' });
  const record: CaseRecord = {
    id: c.id,
    source: c.source,
    shape: c.shape,
    spacing: c.spacing,
    originalShape: c.originalShape,
    cropStart: c.cropStart,
    channels: c.channels.length,
    ...(patient !== undefined ? { patient } : {}),
  };
  await writeFileAtomic(recordPath(out, c.id), `${JSON.stringify(record)}\n`);
  return record;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Builds dataset.json (dataset-format.md) from the records of the prepared cases. */
export function buildDatasetJson(
  meta: DatasetMeta,
  splits: SplitLists,
  records: CaseRecord[],
  createdAt = new Date().toISOString(),
): Record<string, unknown> {
  const byId = new Map(records.map((r) => [r.id, r]));
  const keep = (list: string[]) => list.filter((id) => byId.has(id));
  const ordered = [...keep(splits.train), ...keep(splits.val), ...keep(splits.test)];
  const cases: Record<string, { source: string; originalShape: number[]; cropStart: number[] }> = {};
  for (const id of ordered) {
    const r = byId.get(id) as CaseRecord;
    cases[id] = { source: r.source, originalShape: r.originalShape, cropStart: r.cropStart };
  }
  const spacings = ordered.map((id) => (byId.get(id) as CaseRecord).spacing);
  const axis = (a: number) => spacings.map((s) => s[a]);
  const spacing = spacings.length
    ? {
        median: [0, 1, 2].map((a) => median(axis(a))),
        min: [0, 1, 2].map((a) => Math.min(...axis(a))),
        max: [0, 1, 2].map((a) => Math.max(...axis(a))),
      }
    : { median: [1, 1, 1], min: [1, 1, 1], max: [1, 1, 1] };
  const json: Record<string, unknown> = {
    name: meta.name,
    preset: meta.dataset,
    dims: meta.dims,
    channel_names: meta.channelNames,
    labels: meta.labels,
    file_ending: FILE_ENDING,
    numTraining: ordered.length,
    splits: { train: keep(splits.train), val: keep(splits.val), test: keep(splits.test) },
    labeledUnit: meta.labeledUnit,
  };
  if (meta.labeledUnit === 'patient') {
    json.patientOf = Object.fromEntries(
      ordered.map((id) => [id, (byId.get(id) as CaseRecord).patient ?? id]),
    );
  }
  json.spacing = spacing;
  json.cases = cases;
  json.preprocessing = meta.preprocessing;
  json.ssmis = { formatVersion: 1, createdBy: `ssmis prepare ${meta.dataset}`, createdAt };
  return json;
}

export interface RunOptions {
  out: string;
  force?: boolean;
  onCase?: (event: PrepareCaseEvent) => void;
  onProgress?: (progress: PrepareProgress) => void;
}

/** Runs the units (sequentially: each holds a whole volume in memory) and writes dataset.json. */
export async function runUnits(
  meta: DatasetMeta,
  splits: SplitLists,
  units: PrepareUnit[],
  absent: string[],
  options: RunOptions,
): Promise<PrepareResult> {
  const { out } = options;
  await fs.mkdir(path.join(out, 'imagesTr'), { recursive: true });
  await fs.mkdir(path.join(out, 'labelsTr'), { recursive: true });
  const result: PrepareResult = {
    prepared: [],
    skipped: [],
    failed: [],
    absent,
    datasetJson: path.join(out, 'dataset.json'),
  };
  const records: CaseRecord[] = [];
  let index = 0;
  for (const unit of units) {
    index++;
    const event = (status: PrepareCaseEvent['status'], message: string) =>
      options.onCase?.({ case: unit.name, status, message, index, total: units.length });
    const done = options.force ? null : await readRecords(out, unit);
    if (done) {
      records.push(...done);
      result.skipped.push(unit.name);
      event('skipped', 'outputs exist');
    } else {
      try {
        const cases = await unit.run();
        const ids = cases.map((c) => c.id).sort();
        if (ids.join() !== [...unit.outputs].sort().join()) {
          throw new Error(`produced volumes [${ids.join(', ')}], expected [${unit.outputs.join(', ')}]`);
        }
        const written: CaseRecord[] = [];
        for (const c of cases) written.push(await writeCase(out, c, unit.patient));
        records.push(...written);
        result.prepared.push(unit.name);
        event('prepared', cases.map((c) => `${c.id} ${c.shape.join('×')}`).join(', '));
      } catch (error) {
        const message = errorMessage(error);
        result.failed.push({ case: unit.name, error: message });
        event('failed', message);
      }
    }
    options.onProgress?.({ done: index, total: units.length, case: unit.name });
  }
  const json = buildDatasetJson(meta, splits, records);
  await writeFileAtomic(result.datasetJson, `${JSON.stringify(json, null, 2)}\n`);
  return result;
}

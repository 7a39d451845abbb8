/**
 * The shared `prepare` runner: runs one unit of work per raw case (ACDC: per patient, two volumes), writes
 * the canonical dataset folder (README, "Datasets"), and makes the run resumable, failure-tolerant and safe:
 * - `out` must be new, empty, or a folder made by `ssmis prepare` (its dataset.json says so, or the `.prepare/`
 *   records of an interrupted first run are there); anything else is refused and nothing is written;
 * - `out` remembers its raw folder (real absolute path: `ssmis.rawSource` in dataset.json and `rawSource` in
 *   every record); another raw folder, another dataset, or a folder made before ssmis recorded the source, is
 *   refused unless `force`, which rebuilds `out` from the new raw folder: the cases prepared there before
 *   (their records and case files, nothing else) are removed first;
 * - every output file is written atomically; a unit's completion record `<out>/.prepare/<case>.json` (shape,
 *   spacing, crop, source, and the SHA-256 fingerprint of its raw files and parameters, see provenance.ts) is
 *   written last. A unit is skipped only when its records, its files and its fingerprint all match (unless
 *   `force`); a unit whose raw files changed is prepared again, never skipped;
 * - dataset.json lists only complete, current cases at every instant: before a listed case is removed or
 *   prepared again, dataset.json is rewritten without it, then its record is removed, then its files; the full
 *   dataset.json (official splits filtered, in list order, to the prepared cases) is written at the end;
 * - `val` holds out the last train-list cases as the validation split (splits.ts `holdOutValidation`), recorded
 *   as `ssmis.valHoldout`; a run without `val` keeps the recorded number. The split is not part of any case's
 *   fingerprint, so changing it skips every case and rewrites only dataset.json;
 * - temp files that a killed earlier run left in `out` are removed; a unit that throws is reported by name with
 *   its message and the others go on.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeNifti } from '../../io/nifti.js';
import { readInputText } from '../../io/read-file.js';
import type { Affine, NiftiGeometry, Volume } from '../../io/volume.js';
import { parseAtomicTempName, removeOrphanTemps, writeFileAtomic } from '../../util/atomic.js';
import { errorMessage, InputError } from '../../util/errors.js';
import { MAX_DATASET_JSON_BYTES } from '../dataset.js';
import { caseFingerprint, fingerprintInputs, type InputFingerprint } from './provenance.js';
import { holdOutValidation, type PresetDataset, type SplitLists } from './splits.js';

/** Whether a path exists (any kind of entry the process may see). */
export async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

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
  /** Real absolute path of the raw folder the case was prepared from (absent in records of older versions). */
  rawSource?: string;
  /** The raw files the case was read from, with their SHA-256. */
  inputs?: InputFingerprint[];
  /** The preparation parameters that change the result (e.g. LA's seed and padding target). */
  params?: Record<string, unknown>;
  /** SHA-256 of `inputs` and `params` (provenance.ts `caseFingerprint`). */
  fingerprint?: string;
}

/** A unit of work: one raw case (ACDC: one patient) producing one or more prepared cases. */
export interface PrepareUnit {
  /** Name used in reports (case id, or patient id for ACDC). */
  name: string;
  /** Prepared case ids this unit produces (known before running, for the resume check). */
  outputs: string[];
  /** Number of image channels per output. */
  channels: number;
  /**
   * The raw files (absolute paths) the unit reads, resolved and checked to exist without reading them; an
   * InputError names what is missing or ambiguous. Their bytes make the unit's fingerprint.
   */
  inputs: () => Promise<string[]>;
  /** Prepares the unit from the files `inputs` returned. */
  run: (inputs: string[]) => Promise<PreparedCase[]>;
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
  /** Train-list cases held out as the validation split (`val`), in list order; [] without a hold-out. */
  heldOut: string[];
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

/** Folder of the completion records (hidden, so it is never taken for a case folder). */
const RECORDS_DIR = '.prepare';
/** A record holds a few numbers and file names; a larger file is not one. */
const MAX_RECORD_BYTES = 1024 * 1024;

function recordPath(out: string, id: string): string {
  return path.join(out, RECORDS_DIR, `${id}.json`);
}

/** Provenance shared by the records of one unit. */
interface Provenance {
  rawSource: string;
  inputs: InputFingerprint[];
  params: Record<string, unknown>;
  fingerprint: string;
}

async function writeCase(
  out: string,
  c: PreparedCase,
  patient: string | undefined,
  provenance: Provenance,
): Promise<CaseRecord> {
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
    ...provenance,
  };
  await writeFileAtomic(recordPath(out, c.id), `${JSON.stringify(record)}\n`);
  return record;
}

/** Removes a prepared case: its record first (so it no longer counts as done), then its files. */
async function removeCase(out: string, record: CaseRecord): Promise<void> {
  await fs.rm(recordPath(out, record.id), { force: true });
  for (let ch = 0; ch < record.channels; ch++) await fs.rm(imagePath(out, record.id, ch), { force: true });
  await fs.rm(labelPath(out, record.id), { force: true });
}

/** What is in `out` before the run. */
interface ExistingOutput {
  /** Readable records of `.prepare/`, by case id. */
  records: Map<string, CaseRecord>;
  /** Record files that are not a readable record (removed before the run). */
  broken: string[];
  /** Case ids the current dataset.json lists. */
  listed: string[];
  /** Train cases its dataset.json holds out as validation (`ssmis.valHoldout`), 0 when none. */
  valHoldout: number;
  /** Why `out` cannot take cases from this raw folder without `force`, or null. */
  conflict: string | null;
}

/** Whether `value` is a usable record of case `id` (anything else is treated as no record). */
function isCaseRecord(value: unknown, id: string): value is CaseRecord {
  const r = value as Partial<CaseRecord> | null;
  const three = (v: unknown, ok: (x: unknown) => boolean) =>
    Array.isArray(v) && v.length === 3 && v.every(ok);
  const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  return (
    r !== null &&
    typeof r === 'object' &&
    r.id === id &&
    typeof r.source === 'string' &&
    Number.isInteger(r.channels) &&
    (r.channels as number) >= 1 &&
    (r.channels as number) <= 64 &&
    three(r.shape, Number.isInteger) &&
    three(r.spacing, finite) &&
    three(r.originalShape, Number.isInteger) &&
    three(r.cropStart, Number.isInteger)
  );
}

/**
 * Reads what `out` holds and checks that `prepare` may write there (see the file comment). Throws an InputError
 * for a folder prepare did not make; returns the conflict, if any, for the caller to refuse or rebuild.
 */
async function inspectOutput(
  out: string,
  dataset: PresetDataset,
  rawSource: string,
): Promise<ExistingOutput> {
  const existing: ExistingOutput = {
    records: new Map(),
    broken: [],
    listed: [],
    valHoldout: 0,
    conflict: null,
  };
  let entries: string[];
  try {
    if (!(await fs.stat(out)).isDirectory()) {
      throw new InputError(`${out}: --out must be a folder, found a file`);
    }
    entries = await fs.readdir(out);
  } catch (error) {
    if (error instanceof InputError) throw error;
    if ((error as { code?: string }).code === 'ENOENT') return existing;
    throw new InputError(`${out}: cannot use as the dataset folder (${errorMessage(error)})`, {
      cause: error,
    });
  }
  const hasJson = entries.includes('dataset.json');
  if (!hasJson && !entries.includes(RECORDS_DIR)) {
    if (entries.length === 0) return existing;
    throw new InputError(
      `${out}: not empty and not a dataset folder made by ssmis prepare (no dataset.json, no ${RECORDS_DIR}/); ` +
        'prepare writes only into an empty folder or one it made, so nothing was written. Choose another --out',
    );
  }
  if (hasJson) {
    const file = path.join(out, 'dataset.json');
    const text = await readInputText(file, 'dataset.json', { maxBytes: MAX_DATASET_JSON_BYTES });
    let json: {
      preset?: unknown;
      splits?: Record<string, unknown>;
      ssmis?: { createdBy?: unknown; rawSource?: unknown; valHoldout?: unknown };
    } | null;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new InputError(
        `${file}: not valid JSON (${errorMessage(error)}); prepare will not write into ${out}`,
        { cause: error },
      );
    }
    const createdBy = json?.ssmis?.createdBy;
    if (typeof createdBy !== 'string' || !createdBy.startsWith('ssmis prepare')) {
      throw new InputError(
        `${file}: not made by ssmis prepare (no "ssmis.createdBy"); prepare will not write into ${out}, so nothing was written. Choose another --out`,
      );
    }
    for (const list of Object.values(json?.splits ?? {})) {
      if (Array.isArray(list)) existing.listed.push(...list.filter((id) => typeof id === 'string'));
    }
    const valHoldout = json?.ssmis?.valHoldout;
    if (Number.isInteger(valHoldout) && (valHoldout as number) > 0)
      existing.valHoldout = valHoldout as number;
    const recorded = json?.ssmis?.rawSource;
    if (json?.preset !== dataset) {
      existing.conflict = `${out} holds a ${String(json?.preset)} dataset, not ${dataset}`;
    } else if (typeof recorded !== 'string') {
      existing.conflict = `${out} does not record its raw folder (prepared by an older ssmis)`;
    } else if (recorded !== rawSource) {
      existing.conflict = `${out} was prepared from ${recorded}`;
    }
  }
  const recordsDir = path.join(out, RECORDS_DIR);
  const names = await fs.readdir(recordsDir).catch(() => [] as string[]);
  for (const name of names.sort()) {
    if (!name.endsWith('.json') || parseAtomicTempName(name) !== null) continue;
    const file = path.join(recordsDir, name);
    const id = name.slice(0, -'.json'.length);
    let record: unknown;
    try {
      record = JSON.parse(await readInputText(file, 'prepare record', { maxBytes: MAX_RECORD_BYTES }));
    } catch {
      record = null;
    }
    if (!isCaseRecord(record, id)) {
      existing.broken.push(file);
      continue;
    }
    existing.records.set(id, record);
    if (existing.conflict === null && record.rawSource !== rawSource) {
      existing.conflict =
        record.rawSource === undefined
          ? `${out} does not record its raw folder (prepared by an older ssmis)`
          : `${out} holds cases prepared from ${record.rawSource}`;
    }
  }
  return existing;
}

/** What the run does with one unit, decided before any file changes. */
interface Plan {
  unit: PrepareUnit;
  inputs: string[];
  provenance: Provenance | null;
  /** Why the unit cannot run (its raw files could not be resolved or read). */
  error: string | null;
  /** Its current records when the unit is complete and its fingerprint matches: it is skipped. */
  done: CaseRecord[] | null;
  /** An earlier record of the unit has another fingerprint: its raw files or parameters changed. */
  changed: boolean;
}

async function planUnit(
  unit: PrepareUnit,
  existing: ExistingOutput,
  options: RunOptions,
  reuse: boolean,
): Promise<Plan> {
  const plan: Plan = { unit, inputs: [], provenance: null, error: null, done: null, changed: false };
  try {
    plan.inputs = await unit.inputs();
    const inputs = await fingerprintInputs(options.raw, plan.inputs);
    const fingerprint = caseFingerprint(inputs, options.params);
    plan.provenance = { rawSource: options.raw, inputs, params: options.params, fingerprint };
  } catch (error) {
    plan.error = errorMessage(error);
    return plan;
  }
  const records: CaseRecord[] = [];
  for (const id of unit.outputs) {
    const record = existing.records.get(id);
    if (record === undefined) return plan;
    if (record.fingerprint !== plan.provenance.fingerprint) plan.changed = true;
    records.push(record);
  }
  if (!reuse || plan.changed) return plan;
  for (const record of records) {
    if (record.channels !== unit.channels) return plan;
    for (let c = 0; c < unit.channels; c++)
      if (!(await exists(imagePath(options.out, record.id, c)))) return plan;
    if (!(await exists(labelPath(options.out, record.id)))) return plan;
  }
  plan.done = records;
  return plan;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Builds dataset.json (README, "Datasets") from the records of the prepared cases. `rawSource`, the raw folder
 * they were prepared from, is kept as `ssmis.rawSource`; each case keeps its fingerprint. `valHoldout` (> 0 when
 * `splits.val` was held out of the train list) is kept as `ssmis.valHoldout`.
 */
export function buildDatasetJson(
  meta: DatasetMeta,
  splits: SplitLists,
  records: CaseRecord[],
  createdAt = new Date().toISOString(),
  rawSource?: string,
  valHoldout = 0,
): Record<string, unknown> {
  const byId = new Map(records.map((r) => [r.id, r]));
  const keep = (list: string[]) => list.filter((id) => byId.has(id));
  const ordered = [...keep(splits.train), ...keep(splits.val), ...keep(splits.test)];
  const cases: Record<
    string,
    { source: string; originalShape: number[]; cropStart: number[]; fingerprint?: string }
  > = {};
  for (const id of ordered) {
    const r = byId.get(id) as CaseRecord;
    cases[id] = {
      source: r.source,
      originalShape: r.originalShape,
      cropStart: r.cropStart,
      ...(r.fingerprint !== undefined ? { fingerprint: r.fingerprint } : {}),
    };
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
  json.ssmis = {
    formatVersion: 1,
    createdBy: `ssmis prepare ${meta.dataset}`,
    createdAt,
    ...(rawSource !== undefined ? { rawSource } : {}),
    ...(valHoldout > 0 ? { valHoldout } : {}),
  };
  return json;
}

export interface RunOptions {
  out: string;
  /** Real absolute path of the raw folder (recorded, and compared with what `out` was prepared from). */
  raw: string;
  /** Preparation parameters that change the result; part of every case's fingerprint. */
  params: Record<string, unknown>;
  /** Prepare every unit again; also rebuilds an `out` prepared from another raw folder or dataset. */
  force?: boolean;
  /**
   * Train cases to hold out as the validation split (see `holdOutValidation`); absent: the number `out`
   * records (0 for a new folder, a rebuilt one, or a dataset with an official validation list).
   */
  val?: number;
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
  const existing = await inspectOutput(out, meta.dataset, options.raw);
  const rebuild = existing.conflict !== null;
  if (rebuild && !options.force) {
    throw new InputError(
      `${existing.conflict}, but --raw is ${options.raw} (${meta.dataset}); prepare never mixes two raw folders ` +
        `in one dataset, so nothing was written. Prepare into a new --out, or pass --force to rebuild ${out} ` +
        `from ${options.raw} (the ${existing.records.size} case(s) prepared there are removed first)`,
    );
  }
  // The validation hold-out is decided (and refused) before anything is written.
  const produced = new Set(units.flatMap((u) => u.outputs));
  const present = new Set(produced);
  if (!rebuild) for (const id of existing.records.keys()) present.add(id);
  const recordedVal = rebuild || splits.val.length > 0 ? 0 : existing.valHoldout;
  const valHoldout = options.val ?? recordedVal;
  const listSplits = holdOutValidation(
    meta.dataset,
    splits,
    present,
    valHoldout,
    options.val === undefined
      ? `the validation hold-out of ${valHoldout} recorded in ${path.join(out, 'dataset.json')} (pass --val to change it)`
      : undefined,
  );
  const result: PrepareResult = {
    prepared: [],
    skipped: [],
    failed: [],
    absent,
    heldOut: valHoldout > 0 ? listSplits.val : [],
    datasetJson: path.join(out, 'dataset.json'),
  };
  // The records folder first: from now on an interrupted run is recognised as prepare's own.
  const recordsDir = path.join(out, RECORDS_DIR);
  await fs.mkdir(recordsDir, { recursive: true });
  await fs.mkdir(path.join(out, 'imagesTr'), { recursive: true });
  await fs.mkdir(path.join(out, 'labelsTr'), { recursive: true });
  for (const dir of [out, recordsDir, path.join(out, 'imagesTr'), path.join(out, 'labelsTr')]) {
    await removeOrphanTemps(dir);
  }

  // Decide every unit before changing anything: the raw files are fingerprinted, not yet read as volumes.
  const plans: Plan[] = [];
  for (const unit of units) plans.push(await planUnit(unit, existing, options, !options.force));
  const keep = new Map<string, CaseRecord>();
  for (const plan of plans) for (const record of plan.done ?? []) keep.set(record.id, record);
  // Cases whose raw case is gone from --raw stay (same raw folder), unless the folder is rebuilt.
  if (!rebuild) for (const [id, record] of existing.records) if (!produced.has(id)) keep.set(id, record);

  const writeDatasetJson = (records: CaseRecord[]) =>
    writeFileAtomic(
      result.datasetJson,
      `${JSON.stringify(buildDatasetJson(meta, listSplits, records, undefined, options.raw, valHoldout), null, 2)}\n`,
    );
  // dataset.json never lists a case whose files are about to change: shrink it first, then remove.
  if (rebuild || existing.listed.some((id) => !keep.has(id))) await writeDatasetJson([...keep.values()]);
  for (const [id, record] of existing.records) if (!keep.has(id)) await removeCase(out, record);
  for (const file of existing.broken) await fs.rm(file, { force: true });

  const records = new Map(keep);
  let index = 0;
  for (const plan of plans) {
    const { unit } = plan;
    index++;
    const event = (status: PrepareCaseEvent['status'], message: string) =>
      options.onCase?.({ case: unit.name, status, message, index, total: units.length });
    if (plan.done) {
      result.skipped.push(unit.name);
      event('skipped', 'outputs exist and the raw files are unchanged');
    } else if (plan.error !== null || plan.provenance === null) {
      const message = plan.error ?? 'no fingerprint';
      result.failed.push({ case: unit.name, error: message });
      event('failed', message);
    } else {
      try {
        const cases = await unit.run(plan.inputs);
        const ids = cases.map((c) => c.id).sort();
        if (ids.join() !== [...unit.outputs].sort().join()) {
          throw new Error(`produced volumes [${ids.join(', ')}], expected [${unit.outputs.join(', ')}]`);
        }
        const written: CaseRecord[] = [];
        for (const c of cases) written.push(await writeCase(out, c, unit.patient, plan.provenance));
        for (const record of written) records.set(record.id, record);
        result.prepared.push(unit.name);
        const shapes = cases.map((c) => `${c.id} ${c.shape.join('×')}`).join(', ');
        event(
          'prepared',
          plan.changed && !options.force ? `${shapes} (raw files changed since the last run)` : shapes,
        );
      } catch (error) {
        const message = errorMessage(error);
        result.failed.push({ case: unit.name, error: message });
        event('failed', message);
      }
    }
    options.onProgress?.({ done: index, total: units.length, case: unit.name });
  }
  await writeDatasetJson([...records.values()]);
  return result;
}

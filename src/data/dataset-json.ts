/**
 * The `dataset.json` of a dataset folder (README, "Datasets"): its schema, and parsing it into the normalised
 * {@link DatasetInfo} that the loader uses. Two forms are read: the richer one `ssmis prepare` writes (with
 * `splits`), and nnU-Net v2's raw form (only `channel_names`, `labels`, `numTraining`, `file_ending`), whose name
 * is the folder's and whose split the loader makes (nnunet.ts). Every check names the file and the field, what
 * was expected and what was found.
 */
import path from 'node:path';
import { z } from 'zod';
import { readInputText } from '../io/read-file.js';
import { isRecord } from '../util/args.js';
import { errorMessage, InputError } from '../util/errors.js';
import { DATASET_PRESETS } from './presets.js';

/** dataset.json lists case ids and a few numbers per case; a larger file is not one. */
export const MAX_DATASET_JSON_BYTES = 64 * 1024 * 1024;

const intArray3 = z.array(z.number().int()).length(3);
const numArray3 = z.array(z.number()).length(3);

/** The file endings ssmis reads (NIfTI); nnU-Net's other readers (`.nrrd`, `.mha`, `.png`, ...) are refused. */
export const DATASET_FILE_ENDINGS = ['.nii.gz', '.nii'] as const;

/**
 * Schema of `dataset.json`. Unknown keys are kept (nnU-Net files carry extra fields such as `licence` or
 * `overwrite_image_reader_writer`). `name` defaults to the folder name and `splits` may be left out (nnU-Net v2).
 */
export const datasetJsonSchema = z
  .object({
    name: z.string().min(1).optional(),
    preset: z.enum(DATASET_PRESETS).default('custom'),
    dims: z.union([z.literal(2), z.literal(3)]).default(3),
    channel_names: z.record(z.string(), z.string()),
    labels: z.record(z.string(), z.number().int().min(0).max(255)),
    file_ending: z.enum(DATASET_FILE_ENDINGS).default('.nii.gz'),
    numTraining: z.number().int().min(0).optional(),
    splits: z
      .object({
        train: z.array(z.string().min(1)).min(1),
        val: z.array(z.string().min(1)).default([]),
        test: z.array(z.string().min(1)).default([]),
      })
      .optional(),
    labeledUnit: z.enum(['case', 'patient']).default('case'),
    patientOf: z.record(z.string(), z.string().min(1)).optional(),
    spacing: z.object({ median: numArray3, min: numArray3, max: numArray3 }).optional(),
    cases: z
      .record(
        z.string(),
        z.object({ source: z.string(), originalShape: intArray3, cropStart: intArray3 }).loose(),
      )
      .optional(),
    preprocessing: z.string().optional(),
    ssmis: z
      .object({ formatVersion: z.number().int(), createdBy: z.string(), createdAt: z.string() })
      .loose()
      .optional(),
  })
  .loose();

export type DatasetJson = z.infer<typeof datasetJsonSchema>;
export type SplitName = 'train' | 'val' | 'test';
export const DATASET_FORMAT_VERSION = 1;

/** Validated, normalised content of `dataset.json`. */
export interface DatasetInfo {
  /** `name`, or the folder name when dataset.json has none (nnU-Net v2). */
  name: string;
  preset: DatasetJson['preset'];
  dims: 2 | 3;
  /** Channel names in channel order (`channel_names["0"]`, `["1"]`, …). */
  channelNames: string[];
  /** name → label value. */
  labels: Record<string, number>;
  /** Sorted label values (0..K−1). */
  labelValues: number[];
  numClasses: number;
  fileEnding: (typeof DATASET_FILE_ENDINGS)[number];
  /**
   * The split: dataset.json's own, or (when it has none) the one `openDataset` made or read, see
   * `splitSource`. `parseDatasetJson` leaves it empty for a dataset.json without `splits`.
   */
  splits: Record<SplitName, string[]>;
  /** Where `splits` comes from, for messages: `dataset.json`, or how the loader made it. */
  splitSource: string;
  /** Whether dataset.json lists the split itself (false for an nnU-Net v2 raw folder). */
  ownSplits: boolean;
  labeledUnit: 'case' | 'patient';
  /** case → patient (only when `labeledUnit` is `patient`). */
  patientOf: Record<string, string> | null;
  /** The parsed file, for fields the loader does not interpret (spacing, cases, preprocessing, …). */
  json: DatasetJson;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(root: unknown, keys: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const key of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/**
 * Checks that no case is listed twice in a split or in two splits; `fail` receives the split and the message
 * (`case "x" is listed twice`, `case "x" is also in splits.train (a case belongs to one split)`) and throws.
 */
export function checkDisjointSplits(
  splits: Record<SplitName, readonly string[]>,
  fail: (split: SplitName, message: string) => never,
): void {
  const seen = new Map<string, SplitName>();
  for (const split of ['train', 'val', 'test'] as const) {
    for (const id of splits[split]) {
      const before = seen.get(id);
      if (before !== undefined) {
        fail(
          split,
          before === split
            ? `case "${id}" is listed twice`
            : `case "${id}" is also in splits.${before} (a case belongs to one split)`,
        );
      }
      seen.set(id, split);
    }
  }
}

/**
 * nnU-Net features ssmis does not read, refused with one line naming the field and the value (the schema's
 * message would only list what is expected).
 */
function refuseUnsupported(raw: unknown, file: string): void {
  if (!isRecord(raw)) return;
  const ending = raw.file_ending;
  if (ending !== undefined && !(DATASET_FILE_ENDINGS as readonly unknown[]).includes(ending)) {
    throw new InputError(
      `${file}: field "file_ending": ${describeValue(ending)} is not supported; ssmis reads NIfTI images only (".nii.gz" or ".nii"): convert the images and labels to NIfTI`,
    );
  }
  const labels = raw.labels;
  if (!isRecord(labels)) return;
  for (const [name, value] of Object.entries(labels)) {
    if (Array.isArray(value)) {
      throw new InputError(
        `${file}: field "labels.${name}": region-based labels (a list of values, found ${describeValue(value)}) are not supported; ssmis trains one class per label value: map each name to one integer`,
      );
    }
    if (name === 'ignore') {
      throw new InputError(
        `${file}: field "labels.ignore": nnU-Net's ignore label (found ${describeValue(value)}) is not supported; ssmis trains on fully labeled cases and images without a label file`,
      );
    }
  }
}

/**
 * Parses and checks `dataset.json` content; `file` is used in every message and its folder names a dataset
 * without `name`. A dataset.json without `splits` (nnU-Net v2) gets empty splits and `ownSplits` false.
 */
export function parseDatasetJson(raw: unknown, file: string): DatasetInfo {
  refuseUnsupported(raw, file);
  const parsed = datasetJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.slice(0, 5).map((issue) => {
      const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
      return `field "${field}": ${issue.message} (found ${describeValue(valueAt(raw, issue.path))})`;
    });
    const more = parsed.error.issues.length > 5 ? `; and ${parsed.error.issues.length - 5} more` : '';
    throw new InputError(`${file}: ${lines.join('; ')}${more}`);
  }
  const json = parsed.data;
  const fail = (field: string, message: string): never => {
    throw new InputError(`${file}: field "${field}": ${message}`);
  };
  if (json.ssmis !== undefined && json.ssmis.formatVersion > DATASET_FORMAT_VERSION) {
    fail(
      'ssmis.formatVersion',
      `format ${json.ssmis.formatVersion} is newer than this ssmis reads (${DATASET_FORMAT_VERSION})`,
    );
  }

  const channelKeys = Object.keys(json.channel_names);
  if (channelKeys.length === 0) fail('channel_names', 'expected at least one channel, found none');
  const channelNames: string[] = [];
  for (let c = 0; c < channelKeys.length; c++) {
    const name = json.channel_names[String(c)];
    if (name === undefined) {
      fail(
        'channel_names',
        `expected keys "0".."${channelKeys.length - 1}", found ${describeValue(channelKeys)}`,
      );
    }
    channelNames.push(name as string);
  }

  const labelValues = Object.values(json.labels).sort((a, b) => a - b);
  if (labelValues.length < 2)
    fail('labels', `expected background and at least one class, found ${labelValues.length}`);
  labelValues.forEach((v, i) => {
    if (v !== i) {
      fail(
        'labels',
        `expected consecutive values 0..${labelValues.length - 1} (background 0), found [${labelValues}]`,
      );
    }
  });

  const splits: Record<SplitName, string[]> = {
    train: json.splits?.train ?? [],
    val: json.splits?.val ?? [],
    test: json.splits?.test ?? [],
  };
  checkDisjointSplits(splits, (split, message) => fail(`splits.${split}`, message));

  let patientOf: Record<string, string> | null = null;
  if (json.labeledUnit === 'patient') {
    if (json.patientOf === undefined)
      fail('patientOf', 'required when labeledUnit is "patient", found nothing');
    patientOf = json.patientOf as Record<string, string>;
    for (const id of splits.train) {
      if (patientOf[id] === undefined) fail('patientOf', `train case "${id}" has no patient`);
    }
  }

  return {
    name: json.name ?? path.basename(path.dirname(path.resolve(file))),
    preset: json.preset,
    dims: json.dims,
    channelNames,
    labels: { ...json.labels },
    labelValues,
    numClasses: labelValues.length,
    fileEnding: json.file_ending,
    splits,
    splitSource: json.splits === undefined ? 'not made yet' : 'dataset.json',
    ownSplits: json.splits !== undefined,
    labeledUnit: json.labeledUnit,
    patientOf,
    json,
  };
}

/**
 * Reads and checks the `dataset.json` at `file` (size-limited to {@link MAX_DATASET_JSON_BYTES}).
 * @param file - The path of `dataset.json`, named in every message.
 * @returns The parsed, normalised content.
 * @throws InputError when the file is missing (naming `ssmis prepare`), unreadable, too large, not JSON, or
 *   fails a check of {@link parseDatasetJson}.
 */
export async function readDatasetJson(file: string): Promise<DatasetInfo> {
  const text = await readInputText(file, 'dataset.json', {
    maxBytes: MAX_DATASET_JSON_BYTES,
    failure: (error) =>
      new InputError(
        (error as { code?: string }).code === 'ENOENT'
          ? `${file}: not found; expected a dataset folder (an nnU-Net v2 raw folder, or one \`ssmis prepare\` wrote)`
          : `${file}: cannot read (${errorMessage(error)})`,
        { cause: error },
      ),
  });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${file}: not valid JSON (${errorMessage(error)})`, { cause: error });
  }
  return parseDatasetJson(raw, file);
}

/**
 * Where `ssmis eval` and `ssmis predict` may write, and how an evaluation report replaces an earlier one.
 *
 * Rules shared by both commands: an output folder must be a folder (an existing file on its path is an
 * error before any work), and it is never inside a dataset's image or label folder (`imagesTr`, `labelsTr`,
 * `imagesTs`, `labelsTs`, by name or by real path), whatever `--overwrite` says.
 *
 * A report is written as one set: every file goes into a temp folder next to the target
 * (`<out>.tmp-<pid>-<hex>`, the pattern of `atomicTempPath`), which is renamed into place once complete. An
 * earlier report being replaced is first renamed aside (`<out>.old-<pid>-<hex>`) and removed after the new
 * one is in place, so a kill at any instant leaves either the old complete report, the new complete one, or
 * (between the two renames) no report and the old one aside, which the next run of the command puts back.
 * Chosen over per-file temps plus a manifest because a folder rename makes the whole set appear at once,
 * including predictions and overlays, and readers need no manifest to know the set is complete.
 */
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { atomicTempPath, parseAtomicTempName, processIsAlive } from '../util/atomic.js';
import { errorMessage, InputError } from '../util/errors.js';

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

/** One line for a failed `stat` of an input path: not found, symlink loop, or the system's reason. */
export function statFailure(error: unknown, file: string, what: string): InputError {
  const code = codeOf(error);
  const reason =
    code === 'ENOENT' || code === 'ENOTDIR'
      ? 'not found'
      : code === 'ELOOP'
        ? 'symlink loop (a symbolic link on this path points back to itself)'
        : `cannot read (${errorMessage(error)})`;
  return new InputError(`${what} ${file}: ${reason}`, { cause: error });
}

/** `stat` of an input path (symlinks followed), failing with {@link statFailure}. */
export async function statInput(file: string, what: string): Promise<Stats> {
  try {
    return await fs.stat(file);
  } catch (error) {
    throw statFailure(error, file, what);
  }
}

/** The real path of `p`: symlinks of the part that exists resolved, the part that does not appended. */
export async function realPathOf(p: string): Promise<string> {
  let head = path.resolve(p);
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(await fs.realpath(head), ...tail);
    } catch (error) {
      const code = codeOf(error);
      if (code === 'ELOOP') throw statFailure(error, p, 'output');
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      const parent = path.dirname(head);
      if (parent === head) return path.resolve(p);
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
}

/** Sub-folders of a dataset that hold its scans and labels; no command writes a prediction or report there. */
export const DATASET_DATA_FOLDERS: readonly string[] = ['imagesTr', 'labelsTr', 'imagesTs', 'labelsTs'];

/** The real paths of the image and label folders of dataset folder `dataset` (existing or not). */
export async function datasetDataFolders(dataset: string): Promise<string[]> {
  return Promise.all(DATASET_DATA_FOLDERS.map((f) => realPathOf(path.join(dataset, f))));
}

function isWithin(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Checks that `dir` can be an output folder before any work: nothing on its path is a file, and it is not
 * inside a dataset's image or label folder (a path component named as one, or inside one of `protectedDirs`,
 * compared by real path). Returns its real path. `flag` names the option in messages (`--out`).
 */
export async function checkOutputFolder(
  dir: string,
  flag: string,
  protectedDirs: readonly string[] = [],
): Promise<string> {
  const real = await realPathOf(dir);
  for (let p = real; ; p = path.dirname(p)) {
    let stat: Stats | null = null;
    try {
      stat = await fs.stat(p);
    } catch (error) {
      const code = codeOf(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw statFailure(error, p, flag);
    }
    if (stat !== null) {
      if (stat.isDirectory()) break;
      throw new InputError(`${flag} ${dir}: ${p === real ? '' : `${p} `}is a file, not a folder`);
    }
    if (path.dirname(p) === p) break;
  }
  const parts = real.split(path.sep);
  const index = parts.findIndex((part) =>
    DATASET_DATA_FOLDERS.some((f) => f.toLowerCase() === part.toLowerCase()),
  );
  const where =
    protectedDirs.find((d) => isWithin(real, d)) ??
    (index < 0 ? undefined : parts.slice(0, index + 1).join(path.sep));
  if (where !== undefined) {
    throw new InputError(
      `${flag} ${dir}: ${where === path.resolve(dir) ? 'is' : where === real ? `is ${where},` : `is inside ${where},`} a dataset's image or label folder; predictions and reports never go there`,
    );
  }
  return real;
}

// ---------------------------------------------------------------------------------------------------------
// Report folders

/** What a report folder holds: top-level files, and sub-folders with the file names allowed in them. */
const REPORT_FILES: readonly string[] = ['cases.csv', 'summary.json', 'report.html'];
const REPORT_FOLDERS: Readonly<Record<string, RegExp>> = {
  overlays: /\.png$/i,
  predictions: /\.nii\.gz$/i,
  probabilities: /\.nii\.gz$/i,
};

/**
 * The first entry of `dir` that is not part of an ssmis report (as a path), or null when everything in it is
 * (temp files of interrupted writes count as part of it).
 */
export async function foreignReportEntry(dir: string): Promise<string | null> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isFile() && (REPORT_FILES.includes(entry.name) || parseAtomicTempName(entry.name) !== null)) {
      continue;
    }
    const allowed = Object.hasOwn(REPORT_FOLDERS, entry.name) ? REPORT_FOLDERS[entry.name] : undefined;
    if (!entry.isDirectory() || allowed === undefined) return p;
    for (const inner of await fs.readdir(p, { withFileTypes: true })) {
      if (!inner.isFile() || !(allowed.test(inner.name) || parseAtomicTempName(inner.name) !== null)) {
        return path.join(p, inner.name);
      }
    }
  }
  return null;
}

async function readdirOrNull(dir: string): Promise<string[] | null> {
  try {
    return await fs.readdir(dir);
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Tidies what an interrupted report write of `target` left next to it (only folders of writers that are no
 * longer running, and only when they hold nothing but report files): a report renamed aside is put back when
 * the target is missing (else removed), a temp folder is removed.
 */
async function recoverInterruptedReports(target: string): Promise<void> {
  const parent = path.dirname(target);
  const names = (await readdirOrNull(parent)) ?? [];
  const base = path.basename(target);
  const found = names
    .map((name) => ({ name, m: parseAtomicTempName(name, ['old', 'tmp']) }))
    .filter(
      (e): e is { name: string; m: { target: string; tag: 'tmp' | 'old'; pid: number } } =>
        e.m !== null && e.m.target === base && !processIsAlive(e.m.pid),
    )
    .sort((a, b) => (a.m.tag === b.m.tag ? 0 : a.m.tag === 'old' ? -1 : 1));
  for (const { name, m } of found) {
    const p = path.join(parent, name);
    try {
      if (!(await fs.lstat(p)).isDirectory() || (await foreignReportEntry(p)) !== null) continue;
      if (m.tag === 'old' && (await readdirOrNull(target)) === null) await fs.rename(p, target);
      else await fs.rm(p, { recursive: true, force: true });
    } catch {
      // Another process tidied it first: nothing left to do.
    }
  }
}

export interface ReportTargetOptions {
  /** Replace an earlier ssmis report in the folder. */
  overwrite?: boolean;
  /** The option that named the folder, for messages; default `--out`. */
  flag?: string;
}

/**
 * Checks, before any work, that a report may be written to `outDir` and returns its real path: a missing or
 * empty folder is fine; a folder holding an earlier ssmis report needs `overwrite`; a folder holding anything
 * else is never replaced. Also tidies what an interrupted earlier write left (see the module comment).
 */
export async function prepareReportTarget(
  outDir: string,
  options: ReportTargetOptions = {},
): Promise<string> {
  const flag = options.flag ?? '--out';
  const target = await checkOutputFolder(outDir, flag);
  await recoverInterruptedReports(target);
  const entries = await readdirOrNull(target);
  if (entries === null || entries.length === 0) return target;
  const foreign = await foreignReportEntry(target);
  if (foreign !== null) {
    throw new InputError(
      `${flag} ${outDir}: ${foreign} is not part of an ssmis report; choose another folder (ssmis replaces only its own report folders)`,
    );
  }
  if (!options.overwrite) {
    throw new InputError(
      `${flag} ${outDir}: already holds a report (${entries.sort().join(', ')}); pass --overwrite to replace it, or choose another folder (--out DIR)`,
    );
  }
  return target;
}

/** A report being written: files go to `dir`; `commit` puts the set in place at once; `discard` drops it. */
export interface ReportFolder {
  /** The temp folder to write every report file into. */
  dir: string;
  /** The real path of the report folder. */
  target: string;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** Starts writing a report to `outDir` (checked by {@link prepareReportTarget}) in a temp folder beside it. */
export async function openReportFolder(
  outDir: string,
  options: ReportTargetOptions = {},
): Promise<ReportFolder> {
  const target = await prepareReportTarget(outDir, options);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const dir = atomicTempPath(target);
  await fs.mkdir(dir);
  return {
    dir,
    target,
    commit: () => commitReport(dir, target, outDir, options),
    discard: () => fs.rm(dir, { recursive: true, force: true }).catch(() => {}),
  };
}

/**
 * Runs `write` on a report folder for `outDir` (written in a temp folder beside it and put in place as a whole
 * when `write` returns; dropped when it throws), or on null without `outDir`.
 * @param outDir - The report folder, or undefined to write nothing.
 * @param overwrite - Replace an earlier ssmis report there (never a folder holding anything else).
 * @param write - Writes the report files into `folder.dir` and returns the result.
 * @returns What `write` returns.
 * @throws InputError when `outDir` may not be written (see {@link prepareReportTarget}), and whatever `write` throws.
 */
export async function withReportFolder<T>(
  outDir: string | undefined,
  overwrite: boolean | undefined,
  write: (folder: ReportFolder | null) => Promise<T>,
): Promise<T> {
  if (outDir === undefined) return write(null);
  const folder = await openReportFolder(outDir, { overwrite });
  try {
    const result = await write(folder);
    await folder.commit();
    return result;
  } catch (error) {
    await folder.discard();
    throw error;
  }
}

async function commitReport(
  temp: string,
  target: string,
  outDir: string,
  options: ReportTargetOptions,
): Promise<void> {
  const existing = await readdirOrNull(target);
  if (existing === null) {
    await fs.rename(temp, target);
    return;
  }
  if (existing.length === 0) {
    await fs.rmdir(target);
    await fs.rename(temp, target);
    return;
  }
  // The folder was filled while this report was computed (another process): check it again.
  const foreign = await foreignReportEntry(target);
  if (foreign !== null || !options.overwrite) {
    throw new InputError(
      `${options.flag ?? '--out'} ${outDir}: ${foreign ?? 'a report'} appeared there while this one was computed; nothing was replaced`,
    );
  }
  const aside = atomicTempPath(target, 'old');
  await fs.rename(target, aside);
  try {
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rename(aside, target).catch(() => {});
    throw error;
  }
  await fs.rm(aside, { recursive: true, force: true });
}

/**
 * The run folder: its file names, the marker that proves ssmis made it, the rule for what `--force` may delete,
 * and the exclusive lock a training holds on it.
 */
import { existsSync, promises as fs, readFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RUN_SPLITS_FILE } from '../data/nnunet.js';
import { parseAtomicTempName, processIsAlive, removeOrphanTemps, writeFileAtomic } from '../util/atomic.js';
import { errorMessage, InputError } from '../util/errors.js';
import { packageVersion } from '../util/package-info.js';
import { CHECKPOINT_NAMES } from './state.js';

/** The file a run folder is recognised by: written when ssmis creates the folder. */
export const RUN_MARKER = '.ssmis-run';
/** The lock file of a training that is writing the folder. */
export const RUN_LOCK = '.ssmis-lock';

/** The files of a run folder (`<outputDir>/<run.name>/`). */
export interface RunPaths {
  dir: string;
  /** The resolved config (every default filled, paths absolute). */
  config: string;
  /** pino JSON lines: loss parts, learning rate, diagnostics, numTensors, iteration time, validations. */
  log: string;
  metrics: string;
  curves: string;
  checkpoints: string;
  evalDir: string;
  /** `.ssmis-run`: JSON with the ssmis version, creation time and run name. */
  marker: string;
  /** `.ssmis-lock`: JSON with pid, host and start time of the training holding the folder. */
  lock: string;
}

/** The paths of the run folder `dir` (nothing is read or created). */
export function runPaths(dir: string): RunPaths {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    config: path.join(abs, 'config.yaml'),
    log: path.join(abs, 'log.jsonl'),
    metrics: path.join(abs, 'metrics.csv'),
    curves: path.join(abs, 'curves.svg'),
    checkpoints: path.join(abs, 'checkpoints'),
    evalDir: path.join(abs, 'eval'),
    marker: path.join(abs, RUN_MARKER),
    lock: path.join(abs, RUN_LOCK),
  };
}

/** Top-level entries a training (and `ssmis eval` into `<run>/eval`) writes. */
const RUN_ENTRIES = new Set([
  RUN_MARKER,
  RUN_LOCK,
  'config.yaml',
  'log.jsonl',
  'metrics.csv',
  'curves.svg',
  RUN_SPLITS_FILE,
  'checkpoints',
  'eval',
]);
const CHECKPOINT_ENTRIES = new Set(CHECKPOINT_NAMES.flatMap((n) => [`${n}.safetensors`, `${n}.json`]));

/** What a folder at a run's path holds, as far as deleting or continuing it is concerned. */
export interface RunFolderInfo {
  exists: boolean;
  empty: boolean;
  /** A valid `.ssmis-run` marker is present. */
  marked: boolean;
  /** No marker, but the shape of a run folder made before markers existed (checkpoints/, config.yaml, log.jsonl). */
  legacy: boolean;
  /** Entries that no training writes (relative to the folder), e.g. `thesis.tex`, `checkpoints/notes.txt`. */
  foreign: string[];
}

/** The entry name a temp file of `writeFileAtomic` stands for, or the name itself. */
function targetName(name: string): string {
  return parseAtomicTempName(name)?.target ?? name;
}

function readMarker(file: string): boolean {
  try {
    const marker = JSON.parse(readFileSync(file, 'utf8')) as { tool?: unknown };
    return marker.tool === 'ssmis';
  } catch {
    return false;
  }
}

/** Looks at a folder without changing it: marker, legacy run shape, and entries no training writes. */
export async function inspectRunFolder(dir: string): Promise<RunFolderInfo> {
  const paths = runPaths(dir);
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(paths.dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') return { exists: false, empty: true, marked: false, legacy: false, foreign: [] };
    if (code === 'ENOTDIR') {
      throw new InputError(`run folder ${paths.dir} is a file, not a folder; choose another run.name`);
    }
    throw new InputError(`run folder ${paths.dir}: cannot read it (${errorMessage(error)})`);
  }
  const foreign: string[] = [];
  let checkpointsDir = false;
  for (const entry of entries) {
    const name = targetName(entry.name);
    if (!RUN_ENTRIES.has(name)) foreign.push(entry.name);
    else if (entry.name === 'checkpoints') {
      if (!entry.isDirectory()) foreign.push(entry.name);
      else checkpointsDir = true;
    }
  }
  if (checkpointsDir) {
    for (const name of await fs.readdir(paths.checkpoints)) {
      if (!CHECKPOINT_ENTRIES.has(targetName(name))) foreign.push(`checkpoints/${name}`);
    }
  }
  foreign.sort();
  const names = new Set(entries.map((e) => e.name));
  const marked = names.has(RUN_MARKER) && readMarker(paths.marker);
  const legacy =
    !marked && checkpointsDir && names.has('config.yaml') && names.has('log.jsonl') && foreign.length === 0;
  return { exists: true, empty: entries.length === 0, marked, legacy, foreign };
}

/** Writes (or rewrites) the marker that makes `paths.dir` a run folder ssmis may later delete with --force. */
export async function writeRunMarker(paths: RunPaths, runName: string): Promise<void> {
  const marker = {
    tool: 'ssmis',
    version: packageVersion(),
    created: new Date().toISOString(),
    run: runName,
  };
  await writeFileAtomic(paths.marker, `${JSON.stringify(marker, null, 1)}\n`);
}

/** A file or folder `--force` must never delete, and what it is (for the message). */
export interface ProtectedPath {
  path: string;
  what: string;
}

async function realPath(p: string): Promise<string> {
  try {
    return await fs.realpath(p);
  } catch {
    return path.resolve(p);
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Throws unless `--force` may empty `paths.dir`: it must be a run folder (marker, or the pre-marker shape), hold
 * nothing a training does not write, and contain none of the protected paths (dataset, split files, config).
 */
async function checkForceAllowed(
  paths: RunPaths,
  info: RunFolderInfo,
  protectedPaths: readonly ProtectedPath[],
): Promise<void> {
  const refuse = (why: string) =>
    new InputError(`--force: refusing to delete ${paths.dir}: ${why}; nothing was deleted`);
  const real = await realPath(paths.dir);
  for (const p of protectedPaths) {
    if (isInside(await realPath(p.path), real)) throw refuse(`it contains ${p.what} ${p.path}`);
  }
  if (!info.marked && !info.legacy) {
    throw refuse(
      `it is not a run folder made by ssmis (no ${RUN_MARKER} marker)${info.foreign.length > 0 ? `; it holds ${describeEntries(info.foreign)}` : ''}`,
    );
  }
  if (info.foreign.length > 0) {
    throw refuse(
      `it holds ${describeEntries(info.foreign)}, which training did not write; move them out first`,
    );
  }
}

function describeEntries(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

/** Options of {@link createRunDir}. */
export interface CreateRunDirOptions {
  /** Empty an existing run folder first (only one ssmis made, see {@link checkForceAllowed}). */
  force?: boolean;
  /** Written into the marker. */
  runName: string;
  /** Paths `--force` must never delete. */
  protectedPaths?: readonly ProtectedPath[];
  onWarning?: (message: string) => void;
}

/**
 * Creates a new run folder and locks it. An existing non-empty folder is never overwritten unless `force` is set,
 * and then only when ssmis made it and it holds none of the protected paths; it is emptied while locked.
 * Resuming uses {@link openRunDir} instead.
 */
export async function createRunDir(
  dir: string,
  options: CreateRunDirOptions,
): Promise<{ paths: RunPaths; lock: RunLock }> {
  const paths = runPaths(dir);
  const info = await inspectRunFolder(paths.dir);
  let lock: RunLock | undefined;
  if (info.exists && !info.empty) {
    if (!options.force) {
      if (info.marked || info.legacy) {
        throw new InputError(
          `run folder ${paths.dir} already exists; continue it with \`ssmis train --resume ${dir}\`, choose another run.name, or pass --force to overwrite it`,
        );
      }
      throw new InputError(
        `run folder ${paths.dir} already exists and is not an ssmis run folder (no ${RUN_MARKER} marker); choose another run.name or run.outputDir`,
      );
    }
    await checkForceAllowed(paths, info, options.protectedPaths ?? []);
    lock = await acquireRunLock(paths, options.onWarning);
    try {
      for (const name of await fs.readdir(paths.dir)) {
        if (name !== RUN_LOCK) await fs.rm(path.join(paths.dir, name), { recursive: true, force: true });
      }
    } catch (error) {
      lock.release();
      throw error;
    }
  }
  if (lock === undefined) {
    await fs.mkdir(paths.dir, { recursive: true });
    lock = await acquireRunLock(paths, options.onWarning);
    // Another training may have created and finished the same run between the look above and the lock.
    const now = await fs.readdir(paths.dir);
    if (now.some((name) => name !== RUN_LOCK)) {
      lock.release();
      throw new InputError(
        `run folder ${paths.dir} was just created by another training; choose another run.name or continue it with \`ssmis train --resume ${dir}\``,
      );
    }
  }
  try {
    await fs.mkdir(paths.checkpoints, { recursive: true });
    await writeRunMarker(paths, options.runName);
  } catch (error) {
    lock.release();
    throw error;
  }
  return { paths, lock };
}

/**
 * Opens an existing run folder to continue it: it must exist and be a run (marker, pre-marker shape, or a `last`
 * checkpoint); takes the lock, then removes the temp files of writes a crash interrupted.
 */
export async function openRunDir(
  dir: string,
  options: { onWarning?: (message: string) => void } = {},
): Promise<{ paths: RunPaths; lock: RunLock; info: RunFolderInfo }> {
  const paths = runPaths(dir);
  const info = await inspectRunFolder(paths.dir);
  if (!info.exists) throw new InputError(`cannot resume: run folder ${paths.dir} does not exist`);
  const hasLast = existsSync(path.join(paths.checkpoints, 'last.safetensors'));
  if (!info.marked && !info.legacy && !hasLast) {
    throw new InputError(
      `cannot resume: ${paths.dir} is not an ssmis run folder (no ${RUN_MARKER} marker and no checkpoints/last.safetensors)`,
    );
  }
  const lock = await acquireRunLock(paths, options.onWarning);
  try {
    for (const removed of [
      ...(await removeOrphanTemps(paths.dir)),
      ...(await removeOrphanTemps(paths.checkpoints)),
    ]) {
      options.onWarning?.(`removed ${removed}, left by an interrupted write`);
    }
  } catch (error) {
    lock.release();
    throw error;
  }
  return { paths, lock, info };
}

/** The exclusive hold of one process on a run folder. */
export interface RunLock {
  readonly file: string;
  /** Removes the lock file if it is still this process's; safe to call more than once. */
  release(): void;
}

interface LockRecord {
  pid: number;
  host: string;
  started: string;
}

function parseLock(text: string): LockRecord | null {
  try {
    const raw = JSON.parse(text) as Partial<LockRecord>;
    if (Number.isSafeInteger(raw.pid) && typeof raw.host === 'string' && typeof raw.started === 'string') {
      return raw as LockRecord;
    }
  } catch {
    // Not a lock record.
  }
  return null;
}

/** The lock file's text, or null when it vanished. */
async function readLockText(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Takes the exclusive lock of a run folder: `.ssmis-lock` created with `open(..., 'wx')` holding pid, host and
 * start time. A lock of a running process (or of another host, whose processes cannot be checked) is refused
 * naming its owner; a lock whose process on this host is gone is taken over with a warning.
 */
export async function acquireRunLock(
  paths: RunPaths,
  onWarning?: (message: string) => void,
): Promise<RunLock> {
  const host = os.hostname();
  const record: LockRecord = { pid: process.pid, host, started: new Date().toISOString() };
  const text = `${JSON.stringify(record)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    let handle: fs.FileHandle | undefined;
    try {
      handle = await fs.open(paths.lock, 'wx');
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') {
        throw new InputError(`run folder ${paths.dir}: cannot create ${paths.lock} (${errorMessage(error)})`);
      }
    }
    if (handle !== undefined) {
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return heldLock(paths.lock, text);
    }
    // Someone holds it. A holder between its open and its write shows an empty file for a moment.
    let seen = await readLockText(paths.lock);
    for (let wait = 0; wait < 10 && seen !== null && parseLock(seen) === null; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen = await readLockText(paths.lock);
    }
    if (seen === null) continue;
    const owner = parseLock(seen);
    if (owner === null) {
      throw new InputError(
        `run folder ${paths.dir} is locked by ${paths.lock}, which is not a valid lock record; delete it if no ssmis process is using this run`,
      );
    }
    const since = `since ${owner.started}`;
    if (owner.host !== host) {
      throw new InputError(
        `run folder ${paths.dir} is in use by pid ${owner.pid} on host ${owner.host} (${since}); if that training is gone, delete ${paths.lock}`,
      );
    }
    if (processIsAlive(owner.pid)) {
      throw new InputError(
        `run folder ${paths.dir} is in use by a running training (pid ${owner.pid} on ${owner.host}, ${since}); wait for it to end or stop it first`,
      );
    }
    // Stale: move it aside under a unique name, so two processes taking it over cannot both succeed.
    const aside = `${paths.lock}.stale-${process.pid}-${attempt}`;
    try {
      await fs.rename(paths.lock, aside);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') continue;
      throw error;
    }
    const moved = await readLockText(aside);
    if (moved !== seen) {
      // Another process replaced the stale lock meanwhile: give its lock back and look again.
      await fs.link(aside, paths.lock).catch(() => {});
      await fs.rm(aside, { force: true });
      continue;
    }
    await fs.rm(aside, { force: true });
    onWarning?.(
      `took over the stale lock of ${paths.dir}: pid ${owner.pid} on ${owner.host} (${since}) is no longer running`,
    );
  }
  throw new InputError(
    `run folder ${paths.dir}: could not take ${paths.lock}; another process keeps changing it`,
  );
}

function heldLock(file: string, text: string): RunLock {
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    try {
      if (readFileSync(file, 'utf8') === text) unlinkSync(file);
    } catch {
      // Already gone.
    }
  };
  // Also on a process exit that skips the caller's `finally` (process.exit in a handler).
  process.on('exit', release);
  return { file, release };
}

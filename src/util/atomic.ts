import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { argumentError, requireOptions, requireString } from './args.js';

/**
 * Writes a file so that readers see either the old content or the whole new one, never a partial file:
 * write a temp file in the same folder, fsync, rename over the target. On failure the temp file is removed
 * and the previous file is untouched. `options.beforeRename` runs once the temp file is complete, just before
 * the rename (a test hook for crashes at that instant).
 *
 * @param file The file to write; its folder is created if missing.
 * @param data The whole new content: text (written as UTF-8) or bytes.
 * @param options `beforeRename`: a callback run once the temp file is complete, just before the rename.
 * @returns A promise that resolves once the new content is in place under `file`.
 * @throws InputError when `file` is not a string, `data` is neither a string nor a Uint8Array, or `options` is not
 *   an object. File-system errors (no permission, disk full) are rethrown as they are, after the temp file is
 *   removed.
 * @example
 * import { writeFileAtomic } from 'ssmis';
 *
 * await writeFileAtomic('runs/notes/summary.json', `${JSON.stringify({ dice: 0.91 }, null, 2)}\n`);
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { beforeRename?: () => void } = {},
): Promise<void> {
  requireString('writeFileAtomic', 'file', file);
  if (typeof data !== 'string' && !(data instanceof Uint8Array))
    throw argumentError('writeFileAtomic', 'data', 'a string or a Uint8Array', data);
  requireOptions('writeFileAtomic', 'options', options);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = atomicTempPath(file);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'w');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    options.beforeRename?.();
    await fs.rename(tmp, file);
  } catch (error) {
    await handle?.close().catch(() => {});
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw error;
  }
}

/**
 * The temp path {@link writeFileAtomic} writes before its rename: `<file>.tmp-<pid>-<8 hex digits>`. Another
 * `tag` names a different kind of short-lived sibling of the same form (e.g. `old` for a folder renamed aside
 * while its replacement moves in), so that {@link parseAtomicTempName} recognises it and its writer.
 */
export function atomicTempPath(file: string, tag: 'tmp' | 'old' = 'tmp'): string {
  return `${file}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

const ATOMIC_TEMP_RE = /^(.+)\.(tmp|old)-(\d+)-[0-9a-f]{8}$/;

/**
 * The target name, tag and writer pid of a name made by {@link atomicTempPath}
 * (`a.txt.tmp-123-0badf00d` → `{ target: 'a.txt', tag: 'tmp', pid: 123 }`), or null for any other name. Only
 * `tag: 'tmp'` names unless `tags` says otherwise.
 */
export function parseAtomicTempName(
  name: string,
  tags: readonly ('tmp' | 'old')[] = ['tmp'],
): { target: string; tag: 'tmp' | 'old'; pid: number } | null {
  const m = ATOMIC_TEMP_RE.exec(name);
  if (m === null) return null;
  const tag = m[2] as 'tmp' | 'old';
  return tags.includes(tag) ? { target: m[1], tag, pid: Number(m[3]) } : null;
}

/** Whether process `pid` is running on this machine (a process of another user counts as running). */
export function processIsAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/**
 * Removes the temp files an interrupted {@link writeFileAtomic} left in `dir` (only regular files named by
 * {@link atomicTempPath} whose writer process is no longer running, so a live writer is never disturbed).
 * Returns the removed paths; a missing folder removes nothing.
 */
export async function removeOrphanTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const temp = parseAtomicTempName(name);
    if (temp === null || processIsAlive(temp.pid)) continue;
    const file = path.join(dir, name);
    try {
      if (!(await fs.lstat(file)).isFile()) continue;
      await fs.rm(file, { force: true });
      removed.push(file);
    } catch {
      // Gone meanwhile, or not ours to remove: nothing to clean.
    }
  }
  return removed;
}

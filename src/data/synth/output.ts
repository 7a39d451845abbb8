/**
 * The folder `ssmis synth` writes into, and the rule that protects it: synth writes only into an empty (or new)
 * folder; `--force` replaces an earlier synth output there and removes nothing synth did not write.
 *
 * How synth knows what it wrote: a manifest `<out>/.ssmis-synth.json` lists every file, and each file is added
 * to it (atomically) BEFORE the file itself is written, so a kill at any instant leaves a manifest that covers
 * every file on disk (and the temp files of interrupted writes, `<file>.tmp-<pid>-<hex>`).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readInputText } from '../../io/read-file.js';
import { parseAtomicTempName, processIsAlive, writeFileAtomic } from '../../util/atomic.js';
import { errorMessage, InputError } from '../../util/errors.js';

/** Name of the manifest in the output folder (hidden, so `prepare` never indexes it). */
export const SYNTH_MANIFEST = '.ssmis-synth.json';

const CREATED_BY = 'ssmis synth';
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

interface Manifest {
  createdBy: typeof CREATED_BY;
  formatVersion: 1;
  dataset: string;
  /** How the phantoms were made (seed, size, case count, LA format and difficulty), so a dataset can be identified; absent in older manifests. */
  settings?: SynthSettings;
  /** Files written (or about to be), relative to the output folder, in write order. */
  files: string[];
}

/** What `synthesize` records in the manifest about how the phantoms were made. */
export interface SynthSettings {
  seed: number;
  size: [number, number, number];
  /** Cases (ACDC: patients) written. */
  cases: number;
  /** LA only. */
  format?: 'nrrd' | 'h5';
  difficulty: {
    /** The preset, or the base preset of the knobs given. */
    preset: string;
    /** Whether single knobs were set on top of the preset. */
    custom: boolean;
    /** LA: every knob as used. */
    knobs?: object;
  };
}

/** Where the phantom writers put their files: each file is recorded in the manifest before it is written. */
export interface SynthSink {
  /** The output folder. */
  readonly root: string;
  /** Files written so far, relative to `root`. */
  readonly files: readonly string[];
  /** Records `rel` in the manifest, then runs `write` with its absolute path. */
  file(rel: string, write: (absolute: string) => Promise<void>): Promise<void>;
}

async function listTree(root: string): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      const child = rel === '' ? e.name : path.join(rel, e.name);
      if (e.isDirectory()) {
        dirs.push(child);
        await visit(child);
      } else {
        files.push(child);
      }
    }
  };
  await visit('');
  return { files, dirs };
}

/** The manifest of an earlier synth run in `root`, or an InputError saying why `--force` will not touch it. */
async function readManifest(root: string): Promise<Manifest> {
  const file = path.join(root, SYNTH_MANIFEST);
  const refuse = (why: string) =>
    new InputError(
      `${root}: not an output of ssmis synth (${why}); --force replaces only what ssmis synth wrote, so nothing was removed`,
    );
  let text: string;
  try {
    text = await readInputText(file, 'the synth manifest', { maxBytes: MAX_MANIFEST_BYTES });
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    throw code === 'ENOENT' ? refuse(`no ${SYNTH_MANIFEST}`) : error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw refuse(`${SYNTH_MANIFEST} is not valid JSON: ${errorMessage(error)}`);
  }
  const m = raw as Partial<Manifest> | null;
  const safe = (f: unknown) =>
    typeof f === 'string' &&
    f !== '' &&
    !path.isAbsolute(f) &&
    path.normalize(f) === f &&
    !f.split(path.sep).includes('..');
  if (
    m === null ||
    typeof m !== 'object' ||
    m.createdBy !== CREATED_BY ||
    !Array.isArray(m.files) ||
    !m.files.every(safe)
  ) {
    throw refuse(`${SYNTH_MANIFEST} is not a synth manifest`);
  }
  return m as Manifest;
}

/**
 * Removes an earlier synth output from `root` after checking that every file there is synth's: listed in the
 * manifest, the manifest itself, or the temp file of an interrupted write of a listed file whose writer died.
 * Anything else is an InputError naming it, and then nothing is removed. Folders left empty are removed.
 */
async function removeEarlierOutput(root: string): Promise<void> {
  const manifest = await readManifest(root);
  const ours = new Set(manifest.files);
  const { files, dirs } = await listTree(root);
  const foreign: string[] = [];
  const remove: string[] = [];
  for (const rel of files) {
    if (rel === SYNTH_MANIFEST) continue;
    const temp = parseAtomicTempName(path.basename(rel));
    const target = temp && path.join(path.dirname(rel), temp.target);
    if (ours.has(rel)) remove.push(rel);
    else if (temp !== null && target !== null && ours.has(target)) {
      if (processIsAlive(temp.pid)) {
        throw new InputError(
          `${root}: process ${temp.pid} is still writing ${target}; wait for it to finish (nothing was removed)`,
        );
      }
      remove.push(rel);
    } else foreign.push(rel);
  }
  if (foreign.length > 0) {
    const shown = foreign
      .slice(0, 3)
      .map((f) => JSON.stringify(f))
      .join(', ');
    throw new InputError(
      `${root}: --force removes only what ssmis synth wrote, but ${foreign.length} other file(s) are there (${shown}${foreign.length > 3 ? ', …' : ''}); nothing was removed`,
    );
  }
  for (const rel of remove) await fs.rm(path.join(root, rel), { force: true });
  // Deepest folders first; a folder that still holds something is kept.
  for (const rel of [...dirs].sort((a, b) => b.split(path.sep).length - a.split(path.sep).length)) {
    await fs.rmdir(path.join(root, rel)).catch(() => {});
  }
}

/**
 * Prepares `root` for a synth run and returns the sink its writers use. A missing or empty folder is used as
 * is; a non-empty one is refused unless `force`, and with `force` an earlier synth output is removed first
 * (see {@link removeEarlierOutput}). The manifest, with `settings` when given, is written before any phantom file.
 */
export async function openSynthOutput(
  root: string,
  dataset: string,
  force: boolean,
  settings?: SynthSettings,
): Promise<SynthSink> {
  let entries: string[] | null = null;
  try {
    const stat = await fs.stat(root);
    if (!stat.isDirectory()) throw new InputError(`${root}: --out must be a folder, found a file`);
    entries = await fs.readdir(root);
  } catch (error) {
    if (error instanceof InputError) throw error;
    if ((error as { code?: string }).code !== 'ENOENT') {
      throw new InputError(`${root}: cannot use as the output folder (${errorMessage(error)})`, {
        cause: error,
      });
    }
  }
  if (entries !== null && entries.length > 0) {
    if (!force) {
      const shown = entries
        .slice(0, 3)
        .map((e) => JSON.stringify(e))
        .join(', ');
      throw new InputError(
        `${root}: not empty (${shown}${entries.length > 3 ? ', …' : ''}); synth writes only into an empty or new folder. ` +
          'Choose another --out, or pass --force to replace an earlier ssmis synth output there',
      );
    }
    await removeEarlierOutput(root);
  }
  const manifest: Manifest = {
    createdBy: CREATED_BY,
    formatVersion: 1,
    dataset,
    ...(settings ? { settings } : {}),
    files: [],
  };
  const manifestFile = path.join(root, SYNTH_MANIFEST);
  const save = () => writeFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 1)}\n`);
  await save();
  const written: string[] = [];
  return {
    root,
    files: written,
    async file(rel, write) {
      manifest.files.push(rel);
      await save();
      await write(path.join(root, rel));
      written.push(rel);
    },
  };
}

import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNTH_MANIFEST, type SynthesizeOptions, synthesize } from '../../src/data/synth/index.js';
import { refusal, snapshot } from '../helpers/files.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-synth-out-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const SMALL: Omit<SynthesizeOptions, 'out'> = { dataset: 'la', cases: 2, size: [24, 24, 8] };

/** A pid that is certainly not running (a child that has exited). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid as number;
}

describe('synth never mixes phantoms with, or removes, files it did not write', () => {
  it('a non-empty folder is refused without --force, and its files stay byte-identical', async () => {
    const out = path.join(dir, 'user-data');
    await fs.mkdir(path.join(out, 'Training Set', 'MY_CASE'), { recursive: true });
    await fs.writeFile(path.join(out, 'Training Set', 'MY_CASE', 'lgemri.nrrd'), 'my real scan');
    await fs.writeFile(path.join(out, 'notes.txt'), 'thesis notes');
    const before = await snapshot(out);
    const message = await refusal(synthesize({ ...SMALL, out }));
    expect(message).toContain(`${out}: not empty ("Training Set", "notes.txt")`);
    expect(message).toContain('--force');
    expect(await snapshot(out)).toEqual(before);
    // --force does not help: nothing there was written by synth.
    expect(await refusal(synthesize({ ...SMALL, out, force: true }))).toBe(
      `${out}: not an output of ssmis synth (no ${SYNTH_MANIFEST}); --force replaces only what ssmis synth wrote, so nothing was removed`,
    );
    expect(await snapshot(out)).toEqual(before);
  });

  it('--force replaces an earlier synth output completely, and refuses when a foreign file was added', async () => {
    const out = path.join(dir, 'phantoms');
    const first = await synthesize({ ...SMALL, out, cases: 3, seed: 1 });
    const manifest = JSON.parse(await fs.readFile(path.join(out, SYNTH_MANIFEST), 'utf8'));
    expect(manifest.files).toEqual(first.files);
    expect(await refusal(synthesize({ ...SMALL, out }))).toContain('not empty');

    // A file the user put among the phantoms blocks --force, and nothing is removed.
    const [id] = first.ids.train;
    const mine = path.join('Training Set', id, 'my-annotation.nrrd');
    await fs.writeFile(path.join(out, mine), 'hand-made');
    const before = await snapshot(out);
    expect(await refusal(synthesize({ ...SMALL, out, force: true }))).toBe(
      `${out}: --force removes only what ssmis synth wrote, but 1 other file(s) are there (${JSON.stringify(mine)}); nothing was removed`,
    );
    expect(await snapshot(out)).toEqual(before);
    await fs.rm(path.join(out, mine));

    const second = await synthesize({ ...SMALL, out, cases: 2, seed: 2, force: true });
    const after = await snapshot(out);
    expect([...after.keys()].sort()).toEqual([...second.files, SYNTH_MANIFEST].sort());
    // The case of the first run that the second does not make is gone, with its folder.
    const dropped = first.ids.train[1];
    expect([...second.ids.train, ...second.ids.test]).not.toContain(dropped);
    await expect(fs.access(path.join(out, 'Training Set', dropped))).rejects.toThrow();
  });

  it('after a kill, the next --force run removes the orphan temp files and the half-written case', async () => {
    const out = path.join(dir, 'killed');
    const res = await synthesize({ ...SMALL, out });
    // What a kill during the next case leaves: that case in the manifest, one finished file, one temp file.
    const manifestFile = path.join(out, SYNTH_MANIFEST);
    const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8'));
    const half = path.join('Training Set', 'HALF_WRITTEN');
    manifest.files.push(path.join(half, 'lgemri.nrrd'), path.join(half, 'laendo.nrrd'));
    await fs.writeFile(manifestFile, JSON.stringify(manifest));
    await fs.mkdir(path.join(out, half));
    await fs.writeFile(path.join(out, half, 'lgemri.nrrd'), 'x');
    const orphan = path.join(half, `laendo.nrrd.tmp-${deadPid()}-0badf00d`);
    await fs.writeFile(path.join(out, orphan), 'partial');
    const again = await synthesize({ ...SMALL, out, force: true });
    expect(again.files).toEqual(res.files);
    expect([...(await snapshot(out)).keys()].sort()).toEqual([...res.files, SYNTH_MANIFEST].sort());
  });

  it('an --out that is a file is refused', async () => {
    const file = path.join(dir, 'a-file');
    await fs.writeFile(file, 'x');
    expect(await refusal(synthesize({ ...SMALL, out: file }))).toBe(
      `${file}: --out must be a folder, found a file`,
    );
    expect(await fs.readFile(file, 'utf8')).toBe('x');
  });
});

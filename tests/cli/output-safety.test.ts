/**
 * Data safety of `ssmis predict` and `ssmis eval`: no output ever replaces a scan, a label or an earlier result
 * unless `--overwrite` says so, and even then never an input being read or a dataset's image/label folder.
 * Every victim file is compared byte for byte afterwards.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  promises as fs,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerEval } from '../../src/cli/commands/eval.js';
import { registerPredict } from '../../src/cli/commands/predict.js';
import { volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import {
  box,
  diagAffine,
  removeTempDirs,
  tempDir,
  tinyPredictRun,
  writeLabelFile,
} from '../eval/eval-helpers.js';
import { snapshot } from '../helpers/files.js';
import { runCommand } from './run-command.js';

afterAll(removeTempDirs);

function expectUnchanged(dir: string, before: Map<string, Buffer>): void {
  const after = snapshot(dir);
  expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
  for (const [file, bytes] of before) expect(after.get(file)?.equals(bytes), file).toBe(true);
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  if (child.pid === undefined) throw new Error('could not spawn a child process');
  return child.pid;
}

async function writeScan(file: string, shape = [12, 12, 12]): Promise<void> {
  const n = shape[0] * shape[1] * shape[2];
  await writeNifti(
    file,
    volumeFromArray(
      Float32Array.from({ length: n }, (_, i) => (i % 7) - 3),
      shape,
      { affine: diagAffine([1, 1, 1]) },
    ),
  );
}

async function predictCli(args: string[]) {
  return runCommand(registerPredict, ['predict', ...args]);
}

function expectOneLineError(res: { code: number; stderr: string }, message: RegExp): void {
  expect(res.code).toBe(2);
  expect(res.stderr.trim().split('\n')).toHaveLength(1);
  expect(res.stderr).toMatch(message);
}

describe('ssmis predict never overwrites scans, labels or earlier masks', () => {
  it('refuses --output <dataset>/labelsTr, with and without --overwrite, and leaves the labels intact', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { checkpoint, dataset } = await tinyPredictRun(dir, 'la');
    const before = snapshot(dataset);
    for (const extra of [[], ['--overwrite']]) {
      const res = await predictCli([
        '--checkpoint',
        checkpoint,
        '--input',
        dataset,
        '--output',
        path.join(dataset, 'labelsTr'),
        ...extra,
      ]);
      expectOneLineError(res, /labelsTr.*dataset's image or label folder/);
    }
    // A folder reached through a symlink is the same folder.
    symlinkSync(path.join(dataset, 'imagesTr'), path.join(dir, 'images-link'));
    const linked = await predictCli([
      '--checkpoint',
      checkpoint,
      '--input',
      dataset,
      '--output',
      path.join(dir, 'images-link'),
      '--overwrite',
    ]);
    expectOneLineError(linked, /imagesTr.*dataset's image or label folder/);
    expectUnchanged(dataset, before);
  });

  it('refuses an output folder that would replace the input scan, also with --overwrite', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { checkpoint } = await tinyPredictRun(dir, 'la');
    const scans = path.join(dir, 'scans');
    await writeScan(path.join(scans, 'scan.nii.gz'));
    const before = snapshot(scans);
    for (const extra of [[], ['--overwrite']]) {
      const res = await predictCli([
        '--checkpoint',
        checkpoint,
        '--input',
        path.join(scans, 'scan.nii.gz'),
        '--output',
        scans,
        ...extra,
      ]);
      expectOneLineError(res, /scan\.nii\.gz.*input scan/);
    }
    // The same through a folder input and through a hard link to the scan.
    const other = path.join(dir, 'other');
    mkdirSync(other);
    linkSync(path.join(scans, 'scan.nii.gz'), path.join(other, 'scan.nii.gz'));
    const viaLink = await predictCli([
      '--checkpoint',
      checkpoint,
      '--input',
      scans,
      '--output',
      other,
      '--overwrite',
    ]);
    expectOneLineError(viaLink, /other.*scan\.nii\.gz.*input scan/);
    expectUnchanged(scans, before);
  });

  it('refuses to write over the raw scan that --raw reads for the original grid', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { checkpoint, dataset } = await tinyPredictRun(dir, 'la');
    const json = JSON.parse(readFileSync(path.join(dataset, 'dataset.json'), 'utf8'));
    json.cases = { a: { source: 'a.nii.gz', cropStart: [0, 0, 0], originalShape: [2, 2, 2] } };
    writeFileSync(path.join(dataset, 'dataset.json'), JSON.stringify(json));
    // <out>/original/a.nii.gz is the raw scan itself.
    const out = path.join(dir, 'out');
    const raw = path.join(out, 'original');
    await writeScan(path.join(raw, 'a.nii.gz'), [2, 2, 2]);
    const before = snapshot(raw);
    const res = await predictCli([
      '--checkpoint',
      checkpoint,
      '--input',
      dataset,
      '--output',
      out,
      '--raw',
      raw,
      '--overwrite',
    ]);
    expectOneLineError(res, /original.*a\.nii\.gz.*input scan/);
    expectUnchanged(raw, before);
    expect(existsSync(path.join(out, 'a.nii.gz'))).toBe(false);
  });

  it('refuses to replace earlier masks unless --overwrite, checking every output before any inference', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { checkpoint } = await tinyPredictRun(dir, 'la');
    const scans = path.join(dir, 'scans');
    await writeScan(path.join(scans, 'a.nii.gz'));
    await writeScan(path.join(scans, 'b.nii.gz'));
    const out = path.join(dir, 'masks');
    mkdirSync(out);
    // An earlier mask of case b only: case a must not be written either.
    writeFileSync(path.join(out, 'b.nii.gz'), 'an earlier mask');
    const before = snapshot(out);
    const refused = await predictCli(['--checkpoint', checkpoint, '--input', scans, '--output', out]);
    expectOneLineError(refused, /masks.*b\.nii\.gz already exists.*--overwrite/);
    expectUnchanged(out, before);
    const replaced = await predictCli([
      '--checkpoint',
      checkpoint,
      '--input',
      scans,
      '--output',
      out,
      '--overwrite',
    ]);
    expect(replaced.stderr).not.toMatch(/ssmis:/);
    expect(replaced.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['a.nii.gz', 'b.nii.gz']);
    expect(readFileSync(path.join(out, 'b.nii.gz')).equals(before.get('b.nii.gz') as Buffer)).toBe(false);
  });

  it('an existing file given as --output is a clear error before any work; a folder where a mask goes too', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { checkpoint } = await tinyPredictRun(dir, 'la');
    const scan = path.join(dir, 'scan.nii.gz');
    await writeScan(scan);
    const file = path.join(dir, 'notes.txt');
    writeFileSync(file, 'my notes');
    for (const output of [file, path.join(file, 'sub')]) {
      const res = await predictCli([
        '--checkpoint',
        checkpoint,
        '--input',
        scan,
        '--output',
        output,
        '--overwrite',
      ]);
      expectOneLineError(res, /notes\.txt.* is a file, not a folder/);
    }
    expect(readFileSync(file, 'utf8')).toBe('my notes');
    const out = path.join(dir, 'out');
    mkdirSync(path.join(out, 'scan.nii.gz'), { recursive: true });
    const folder = await predictCli([
      '--checkpoint',
      checkpoint,
      '--input',
      scan,
      '--output',
      out,
      '--overwrite',
    ]);
    expectOneLineError(folder, /scan\.nii\.gz.*is a folder/);
  });

  it('removes the temp files an interrupted predict left in the output folder, and only those', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { checkpoint } = await tinyPredictRun(dir, 'la');
    const scan = path.join(dir, 'scan.nii.gz');
    await writeScan(scan);
    const out = path.join(dir, 'out');
    mkdirSync(out);
    const orphan = `old.nii.gz.tmp-${deadPid()}-0badf00d`;
    writeFileSync(path.join(out, orphan), 'half a mask');
    writeFileSync(path.join(out, 'keep.tmp-mine.txt'), 'user file');
    const res = await predictCli(['--checkpoint', checkpoint, '--input', scan, '--output', out]);
    expect(res.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['keep.tmp-mine.txt', 'scan.nii.gz']);
  });
});

// ---------------------------------------------------------------------------------------------------------

const SHAPE = [10, 10, 10];

/** A prediction/label folder pair with one case. */
async function filesPair(dir: string): Promise<{ pred: string; label: string }> {
  const pred = path.join(dir, 'pred');
  const label = path.join(dir, 'label');
  await writeLabelFile(
    path.join(pred, 'c1.nii.gz'),
    box(SHAPE, [3, 2, 2], [6, 5, 5]),
    SHAPE,
    diagAffine([1, 1, 1]),
  );
  await writeLabelFile(
    path.join(label, 'c1.nii.gz'),
    box(SHAPE, [2, 2, 2], [5, 5, 5]),
    SHAPE,
    diagAffine([1, 1, 1]),
  );
  return { pred, label };
}

async function evalCli(args: string[]) {
  return runCommand(registerEval, ['eval', ...args]);
}

describe('ssmis eval never replaces an earlier report silently', () => {
  it('refuses an existing report folder unless --overwrite, then replaces it as a whole', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { pred, label } = await filesPair(dir);
    const out = path.join(dir, 'report');
    const first = await evalCli(['--pred', pred, '--label', label, '--out', out]);
    expect(first.code).toBe(0);
    const before = snapshot(out);
    expect([...before.keys()].sort()).toEqual(['cases.csv', 'report.html', 'summary.json']);
    const refused = await evalCli(['--pred', pred, '--label', label, '--out', out, '--protocol', 'paper']);
    expectOneLineError(refused, /report.*already holds .*--overwrite/);
    expectUnchanged(out, before);
    const replaced = await evalCli([
      '--pred',
      pred,
      '--label',
      label,
      '--out',
      out,
      '--protocol',
      'paper',
      '--overwrite',
    ]);
    expect(replaced.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).protocol).toBe('paper');
    expect(readdirSync(dir).sort()).toEqual(['label', 'pred', 'report']);
  });

  it('never replaces a folder that is not an ssmis report, and an empty folder is fine', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { pred, label } = await filesPair(dir);
    const thesis = path.join(dir, 'thesis');
    mkdirSync(thesis);
    writeFileSync(path.join(thesis, 'chapter1.tex'), 'years of work');
    writeFileSync(path.join(thesis, 'summary.json'), '{}');
    const before = snapshot(thesis);
    for (const extra of [[], ['--overwrite']]) {
      const res = await evalCli(['--pred', pred, '--label', label, '--out', thesis, ...extra]);
      expectOneLineError(res, /thesis/);
    }
    const withOverwrite = await evalCli(['--pred', pred, '--label', label, '--out', thesis, '--overwrite']);
    expect(withOverwrite.stderr).toMatch(/chapter1\.tex.*not part of an ssmis report/);
    expectUnchanged(thesis, before);
    // The labels folder is never a report folder either.
    const labels = snapshot(label);
    const intoLabels = await evalCli(['--pred', pred, '--label', label, '--out', label, '--overwrite']);
    expect(intoLabels.code).toBe(2);
    expectUnchanged(label, labels);
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    const ok = await evalCli(['--pred', pred, '--label', label, '--out', empty]);
    expect(ok.code).toBe(0);
    expect(existsSync(path.join(empty, 'summary.json'))).toBe(true);
  });

  it('an existing file given as --out is a clear exit-2 error before any work', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { pred, label } = await filesPair(dir);
    const file = path.join(dir, 'results.txt');
    writeFileSync(file, 'keep me');
    for (const out of [file, path.join(file, 'sub')]) {
      const res = await evalCli(['--pred', pred, '--label', label, '--out', out, '--overwrite']);
      expectOneLineError(res, /--out .*results\.txt.* is a file, not a folder/);
    }
    // Before any work: a broken prediction is not even read.
    writeFileSync(path.join(pred, 'c1.nii.gz'), 'not a NIfTI');
    const early = await evalCli(['--pred', pred, '--label', label, '--out', file]);
    expectOneLineError(early, /is a file, not a folder/);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('cleans the temp folders an interrupted eval left next to its report, and restores a report being replaced', async () => {
    const dir = await tempDir('ssmis-safety-');
    const { pred, label } = await filesPair(dir);
    const out = path.join(dir, 'report');
    expect((await evalCli(['--pred', pred, '--label', label, '--out', out])).code).toBe(0);
    const before = snapshot(out);
    // A kill between "old report moved aside" and "new report moved in": only the moved-aside copy exists.
    const dead = deadPid();
    await fs.rename(out, path.join(dir, `report.old-${dead}-0badf00d`));
    const half = path.join(dir, `report.tmp-${dead}-0123abcd`);
    mkdirSync(path.join(half, 'overlays'), { recursive: true });
    writeFileSync(path.join(half, 'cases.csv'), 'case,class\n');
    const refused = await evalCli(['--pred', pred, '--label', label, '--out', out]);
    expectOneLineError(refused, /already holds/);
    expectUnchanged(out, before);
    expect(readdirSync(dir).sort()).toEqual(['label', 'pred', 'report']);
  });
});

// ---------------------------------------------------------------------------------------------------------
// A real kill -9 of the built CLI while it replaces a report.

const bin = new URL('../../bin/ssmis.js', import.meta.url).pathname;

/** The report in `out`: byte-identical to `old`, or a complete `paper` report (never a mix). */
function reportState(out: string, old: Map<string, Buffer>, cases: number): 'old' | 'new' {
  const now = snapshot(out);
  const same = now.size === old.size && [...old].every(([f, b]) => now.get(f)?.equals(b));
  if (same) return 'old';
  expect([...now.keys()].sort()).toEqual(['cases.csv', 'report.html', 'summary.json']);
  expect(JSON.parse(now.get('summary.json')?.toString() ?? '').protocol).toBe('paper');
  const rows = now.get('cases.csv')?.toString().trimEnd().split('\n') ?? [];
  expect(rows).toHaveLength(cases + 1);
  for (const row of rows.slice(1)) expect(row).toContain(',paper,voxel,');
  return 'new';
}

describe('ssmis eval (built CLI) killed while replacing a report', () => {
  it('leaves the earlier report or the complete new one, and the next run tidies up', async () => {
    const dir = await tempDir('ssmis-safety-kill-');
    const shape = [40, 40, 40];
    const cases = 24;
    for (let n = 0; n < cases; n++) {
      const id = `k${String(n).padStart(2, '0')}`;
      const lo = 4 + (n % 5);
      await writeLabelFile(
        path.join(dir, 'pred', `${id}.nii.gz`),
        box(shape, [lo, 5, 5], [lo + 20, 30, 28]),
        shape,
        diagAffine([1, 1, 1]),
      );
      await writeLabelFile(
        path.join(dir, 'label', `${id}.nii.gz`),
        box(shape, [6, 5, 6], [26, 31, 30]),
        shape,
        diagAffine([1, 1, 1]),
      );
    }
    const out = path.join(dir, 'report');
    const args = ['eval', '--pred', path.join(dir, 'pred'), '--label', path.join(dir, 'label'), '--out', out];
    const runToEnd = (extra: string[]) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [bin, ...args, ...extra], { stdio: 'ignore' });
        child.on('exit', (code) => resolve(code));
      });
    expect(await runToEnd([])).toBe(0);
    let old = snapshot(out);
    const tempThere = () => readdirSync(dir).some((n) => n.startsWith('report.tmp-'));
    /** Starts a replacing run; resolves once its temp folder exists (or it ended), with the time since start. */
    const startReplacing = async () => {
      const child = spawn(process.execPath, [bin, ...args, '--overwrite', '--protocol', 'paper'], {
        stdio: 'ignore',
      });
      let ended = false;
      const exited = new Promise<void>((resolve) =>
        child.on('exit', () => {
          ended = true;
          resolve();
        }),
      );
      while (!ended && !tempThere()) await new Promise((r) => setTimeout(r, 5));
      return { child, exited, ended: () => ended };
    };
    // How long a replacing run works with its temp folder in place: the kills are spread over that span.
    const probe = await startReplacing();
    const t0 = performance.now();
    await probe.exited;
    const span = performance.now() - t0;
    expect(reportState(out, old, cases)).toBe('new');
    expect(await runToEnd(['--overwrite'])).toBe(0);
    old = snapshot(out);
    let killedMidWrite = 0;
    for (let k = 0; k < 5; k++) {
      const run = await startReplacing();
      await new Promise((r) => setTimeout(r, (span * k) / 4));
      if (!run.ended()) {
        if (tempThere()) killedMidWrite++;
        run.child.kill('SIGKILL');
      }
      await run.exited;
      if (reportState(out, old, cases) === 'new') {
        // Back to an earlier (strict) report for the next kill.
        expect(await runToEnd(['--overwrite'])).toBe(0);
        old = snapshot(out);
      }
    }
    expect(killedMidWrite).toBeGreaterThan(0);
    // The next run removes what the killed ones left beside the report.
    expect(await runToEnd(['--overwrite', '--protocol', 'paper'])).toBe(0);
    expect(reportState(out, old, cases)).toBe('new');
    expect(readdirSync(dir).sort()).toEqual(['label', 'pred', 'report']);
  });
});

/**
 * `scripts/experiment.mjs --quick` end to end (tiny phantoms, network and iteration counts, two seeds) through the
 * library's sweep: records, report, the same stage-1 weights in every row of a seed (each row trains its own
 * stage 1), a lost record recorded again from its finished run folder without training, a lost run trained
 * again alone, a fresh work folder with another job count (so another kernel thread count: the stage-1 weights
 * must not depend on it), SIGTERM, and a plan that disagrees with the record. Runs against dist/.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = path.resolve('scripts/experiment.mjs');
const root = mkdtempSync(path.join(os.tmpdir(), 'ssmis-experiment-'));
const record = path.join(root, 'record');
const work = path.join(root, 'work');
// Each run's thread share is the script's choice (cores / jobs), not the suite's setting.
const env = { ...process.env };
delete env.SSMIS_THREADS;
const base = ['--quick', '--record', record, '--work', work];

async function experiment(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], {
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const recordOf = (id: string) => path.join(record, 'runs', `${id}.json`);
/** The sweep's run folder of a record id `<row>-s<seed>`. */
const runDirOf = (id: string) =>
  path.join(work, 'sweep', 'runs', `quick-${id.replace(/-s(\d+)$/, '-seed_$1')}`);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('experiment --quick', () => {
  it('records every run, writes the report, and continues only what is missing', async () => {
    const first = await experiment([...base, '--jobs', '2']);
    expect(first.code, first.out).toBe(0);
    const ids = readdirSync(path.join(record, 'runs')).sort();
    const expected = [1, 2].flatMap((s) =>
      ['stage1', 'supervised', 'cpam-trcm', 'fully-supervised'].map((m) => `${m}-s${s}.json`),
    );
    expect(ids).toEqual(expected.sort());
    const r = json(recordOf('cpam-trcm-s2'));
    expect(r.selection.split).toBe('val');
    expect(r.test.perCase.length).toBe(json(path.join(record, 'data.json')).counts.test);
    expect(r.test.strict.dice).toBeGreaterThanOrEqual(0);
    expect(r.test.paper.dice).toBeGreaterThanOrEqual(0);
    expect(r.diagnostics.reliableFraction).toBeGreaterThan(0);
    expect(r.diagnostics.iterations).toBe(3);
    // Every row of a seed trained stage 1 itself: the same weights.
    expect(r.stage1Sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(json(recordOf('stage1-s2')).stage1Sha256).toBe(r.stage1Sha256);
    expect(json(recordOf('supervised-s2')).stage1Sha256).toBe(r.stage1Sha256);
    expect(json(recordOf('stage1-s1')).stage1Sha256).not.toBe(r.stage1Sha256);
    expect(json(recordOf('fully-supervised-s1')).stage1Sha256).toBeNull();
    expect(first.out).not.toContain('warning');
    const md = readFileSync(path.join(record, 'results.md'), 'utf8');
    expect(md).toContain('## Paired differences (Dice points)');
    expect(md).toContain('8 of 8 planned runs are recorded');

    // A lost record whose run folder finished is recorded again from it, without training, with the same numbers.
    rmSync(recordOf('cpam-trcm-s2'));
    const recorded = await experiment([...base, '--jobs', '2']);
    expect(recorded.code, recorded.out).toBe(0);
    expect(recorded.out).toContain('recorded cpam-trcm-s2');
    expect(recorded.out).not.toContain('start ');
    expect(json(recordOf('cpam-trcm-s2')).test).toEqual(r.test);

    // A lost run (record and folder) is trained again, and only it; the numbers are the same.
    rmSync(recordOf('cpam-trcm-s2'));
    rmSync(runDirOf('cpam-trcm-s2'), { recursive: true });
    const again = await experiment([...base, '--jobs', '2']);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('start cpam-trcm-s2');
    expect(again.out).not.toContain('start supervised-s1');
    expect(json(recordOf('cpam-trcm-s2')).test).toEqual(r.test);

    // A fresh work folder (another machine, a fresh clone) with one job, so every core for the run: only the
    // run without a record is trained, and its stage 1 gives the recorded weights.
    rmSync(work, { recursive: true });
    rmSync(recordOf('supervised-s1'));
    const fresh = await experiment([...base, '--jobs', '1']);
    expect(fresh.code, fresh.out).toBe(0);
    expect(fresh.out).toContain('start supervised-s1');
    expect(fresh.out).not.toContain('start stage1-s1');
    expect(fresh.out).not.toContain('warning');
    expect(json(recordOf('supervised-s1')).stage1Sha256).toBe(json(recordOf('stage1-s1')).stage1Sha256);

    // `--methods` and `--seeds` say what an invocation trains or records (with the seed's stage-1 row, whose
    // folder this work folder does not have: trained); the rest waits for a later one.
    rmSync(recordOf('supervised-s1'));
    rmSync(recordOf('stage1-s1'));
    rmSync(recordOf('cpam-trcm-s2'));
    const only = await experiment([...base, '--jobs', '2', '--methods', 'supervised', '--seeds', '1']);
    expect(only.code, only.out).toBe(0);
    expect(only.out).toContain('recorded supervised-s1');
    expect(only.out).toContain('recorded stage1-s1');
    expect(only.out).not.toContain('cpam-trcm-s2');
    expect(existsSync(recordOf('cpam-trcm-s2'))).toBe(false);
    expect(readFileSync(path.join(record, 'results.md'), 'utf8')).toContain(
      '7 of 8 planned runs are recorded',
    );
    const rest = await experiment([...base, '--jobs', '2']);
    expect(rest.code, rest.out).toBe(0);
    expect(rest.out).toContain('recorded cpam-trcm-s2');
    expect(rest.out.match(/^start /gm)).toEqual(['start ']); // cpam-trcm-s2 only (its folder went with the work folder)

    // SIGTERM to the experiment (not a terminal's Ctrl-C) stops its runs too; the next invocation finishes.
    rmSync(recordOf('fully-supervised-s2'));
    const child = spawn(process.execPath, [script, ...base, '--jobs', '2'], { env });
    let output = '';
    let sent = false;
    const code = await new Promise<number | null>((resolve) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        // Once: a second SIGTERM while the process exits would meet Node's default action.
        if (!sent && output.includes('start fully-supervised-s2')) {
          sent = true;
          child.kill('SIGTERM');
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('close', resolve);
    });
    expect(code, output).toBe(130);
    expect(output).toContain('SIGTERM: stopping the running runs');
    expect(existsSync(recordOf('fully-supervised-s2'))).toBe(false);
    const resumed = await experiment([...base, '--jobs', '2']);
    expect(resumed.code, resumed.out).toBe(0);
    expect(existsSync(recordOf('fully-supervised-s2'))).toBe(true);
  }, 1_800_000);

  it('rebuilds the report alone, and refuses a command that disagrees with the recorded plan', async () => {
    rmSync(path.join(record, 'results.md'));
    const report = await experiment([...base, '--report']);
    expect(report.code, report.out).toBe(0);
    expect(existsSync(path.join(record, 'results.md'))).toBe(true);
    const other = await experiment([...base, '--lr', '0.5']);
    expect(other.code).toBe(2);
    expect(other.out).toContain('settings.lr is 0.01 in the recorded plan, the command says 0.5');
  }, 120_000);
});

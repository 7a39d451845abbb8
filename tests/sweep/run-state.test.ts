import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { failureLine, runAction, runState, trainArgv } from '../../src/sweep/run-state.js';

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'ssmis-run-state-'));
}

const MARKER = JSON.stringify({ tool: 'ssmis', version: '0', created: '', run: 'r' });

describe('runState and runAction', () => {
  it('starts a run without a folder or with an empty one', async () => {
    const dir = tmp();
    const run = path.join(dir, 'r');
    expect(await runState(run)).toEqual({ kind: 'new' });
    mkdirSync(run);
    expect(await runState(run)).toEqual({ kind: 'new' });
    const action = runAction(await runState(run), 'c.yaml', run);
    expect(action).toEqual({ skip: false, train: { mode: 'start', config: 'c.yaml', force: false } });
    if (!action.skip) expect(trainArgv(action.train)).toEqual(['train', '--config', 'c.yaml']);
  });

  it('resumes a run folder whose training has not ended, and skips a finished one', async () => {
    const run = path.join(tmp(), 'r');
    mkdirSync(path.join(run, 'checkpoints'), { recursive: true });
    writeFileSync(path.join(run, '.ssmis-run'), MARKER);
    writeFileSync(path.join(run, 'config.yaml'), 'run: { name: r }\n');
    writeFileSync(path.join(run, 'log.jsonl'), '{"event":"start"}\n{"event":"checkpoint"}\n{"event":"do');
    expect(await runState(run)).toEqual({ kind: 'unfinished', locked: false });
    const action = runAction(await runState(run), 'c.yaml', run);
    if (action.skip) throw new Error('expected a resume');
    expect(trainArgv(action.train)).toEqual(['train', '--resume', run]);
    writeFileSync(path.join(run, 'log.jsonl'), '{"event":"start"}\n{"event":"done","best":{}}\n');
    expect(await runState(run)).toEqual({ kind: 'finished' });
    expect(runAction({ kind: 'finished' }, 'c.yaml', run)).toEqual({ skip: true });
  });

  it('restarts with --force a folder killed before its config was written (marker and lock only)', async () => {
    const run = path.join(tmp(), 'r');
    mkdirSync(path.join(run, 'checkpoints'), { recursive: true });
    writeFileSync(path.join(run, '.ssmis-run'), MARKER);
    writeFileSync(path.join(run, '.ssmis-lock'), '{"pid":1,"host":"h","started":""}\n');
    expect(await runState(run)).toEqual({ kind: 'unstarted' });
    const action = runAction(await runState(run), 'c.yaml', run);
    if (action.skip) throw new Error('expected a start');
    expect(trainArgv(action.train)).toEqual(['train', '--config', 'c.yaml', '--force']);
  });

  it('never touches a folder ssmis did not make', async () => {
    const run = path.join(tmp(), 'r');
    mkdirSync(run);
    writeFileSync(path.join(run, 'thesis.tex'), 'x');
    const state = await runState(run);
    expect(state.kind).toBe('foreign');
    expect(() => runAction(state, 'c.yaml', run)).toThrow(
      /not an ssmis run folder.*the sweep does not touch it/,
    );
  });
});

describe('failureLine', () => {
  it('is the last `ssmis:` line of a log, else its last line', async () => {
    const dir = tmp();
    const log = path.join(dir, 'r.log');
    writeFileSync(log, 'ssmis: first\nprogress\nssmis: data.dataset: folder x does not exist\nmore\n');
    expect(await failureLine(log)).toBe('ssmis: data.dataset: folder x does not exist');
    writeFileSync(log, 'a\nb\n\n');
    expect(await failureLine(log)).toBe('b');
    expect(await failureLine(path.join(dir, 'none.log'))).toBe('');
  });
});

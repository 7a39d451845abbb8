import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/io/safetensors.js';
import { ssmis } from '../helpers/cli.js';
import { tinyLaDataset } from '../helpers/synthetic.js';

const bin = new URL('../../bin/ssmis.js', import.meta.url).pathname;
let data: { root: string; dataset: string };

beforeAll(async () => {
  data = await tinyLaDataset();
});

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function finished(child: ChildProcess): Promise<Finished> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** Runs the CLI with extra environment variables; resolves with exit code or signal. */
function run(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  return finished(child);
}

/** A config file for the tiny dataset; `stages` and `extra` lines complete the `train:` block. */
function writeConfig(name: string, outputDir: string, train: string[]): string {
  const file = path.join(data.root, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `run: { name: ${name}, outputDir: ${JSON.stringify(outputDir)} }`,
      `data: { dataset: ${JSON.stringify(data.dataset)}, preset: la, patchSize: [32, 32, 16], labeled: { count: 2 } }`,
      'model: { name: vnet, baseFilters: 2, dropout: 0.5 }',
      'method: { name: cpam-trcm, startRange: valid }',
      'train:',
      '  seed: 3',
      '  batch: { labeled: 2, unlabeled: 2 }',
      ...train.map((line) => `  ${line}`),
      'eval: { patch: [32, 32, 16], strides: [16, 16, 8] }',
    ].join('\n'),
  );
  return file;
}

/** Every tensor of every checkpoint of a run, by `<checkpoint>/<tensor>`. */
async function checkpointTensors(runDir: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const name of ['last', 'best', 'pretrain-best', 'pretrain-last']) {
    const file = await readSafetensors(path.join(runDir, 'checkpoints', `${name}.safetensors`));
    for (const [tensor, t] of Object.entries(file.tensors)) out.set(`${name}/${tensor}`, Array.from(t.data));
  }
  return out;
}

describe('a kill at any step of a checkpoint write leaves a run that resumes bit-exactly', () => {
  it('SIGKILL at every write and rename of every checkpoint, then --resume, equals an uninterrupted run', async () => {
    const out = path.join(data.root, 'fault');
    // Every checkpoint kind is written: pretrain-best, pretrain-last, best, and last in the middle of a stage and
    // at each stage's end.
    const config = writeConfig('fault', out, [
      'stages: { pretrain: { iterations: 1 }, selftrain: { iterations: 2 } }',
      'validation: { interval: 1, split: test, strides: [16, 16, 8] }',
      'logInterval: 1',
      'checkpointInterval: 1',
    ]);
    const reference = await run(['train', '--config', config, '--set', 'run.name=reference']);
    expect(reference.code, reference.stderr).toBe(0);
    const expected = await checkpointTensors(path.join(out, 'reference'));
    const expectedState = JSON.parse(
      readFileSync(path.join(out, 'reference', 'checkpoints', 'last.json'), 'utf8'),
    );

    let k = 1;
    for (; ; k++) {
      const name = `k${k}`;
      const runDir = path.join(out, name);
      const first = await run(['train', '--config', config, '--set', `run.name=${name}`], {
        SSMIS_FAULT_INJECT: `checkpoint:${k}`,
      });
      if (first.code === 0) break;
      expect(first.signal, `k=${k}: ${first.stderr}`).toBe('SIGKILL');
      const resumed = await run(['train', '--resume', runDir]);
      expect(resumed.code, `k=${k}: ${resumed.stderr}`).toBe(0);
      expect(resumed.stderr, `k=${k}`).toContain('warning: took over the stale lock');
      const got = await checkpointTensors(runDir);
      expect([...got.keys()].sort(), `k=${k}`).toEqual([...expected.keys()].sort());
      for (const [key, values] of expected) expect(got.get(key), `k=${k}: ${key}`).toEqual(values);
      const state = JSON.parse(readFileSync(path.join(runDir, 'checkpoints', 'last.json'), 'utf8'));
      expect(state.history, `k=${k}`).toEqual(
        expectedState.history.map((row: { msPerIteration: number }) => ({
          ...row,
          msPerIteration: expect.any(Number),
        })),
      );
      const left = [...readdirSync(runDir), ...readdirSync(path.join(runDir, 'checkpoints'))];
      expect(
        left.filter((f) => f.includes('.tmp-') || f === '.ssmis-lock'),
        `k=${k}`,
      ).toEqual([]);
    }
    // Each of the 7 checkpoint files written counts two steps (temp complete, renamed), plus the last.json copies.
    expect(k - 1).toBeGreaterThanOrEqual(14);
  }, 900_000);
});

describe('ssmis train refuses what would destroy data', () => {
  it('--force on a folder ssmis did not make: exit 2, one line, the folder byte-identical', async () => {
    const out = path.join(data.root, 'force-cli');
    const victim = path.join(out, 'thesis');
    mkdirSync(victim, { recursive: true });
    writeFileSync(path.join(victim, 'thesis.tex'), 'four years\n');
    const config = writeConfig('thesis', out, [
      'stages: { pretrain: { iterations: 1 }, selftrain: { enabled: false } }',
      'validation: { split: none }',
    ]);
    const r = await ssmis(['train', '--config', config, '--force']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `ssmis: --force: refusing to delete ${victim}: it is not a run folder made by ssmis (no .ssmis-run marker); it holds thesis.tex; nothing was deleted\n`,
    );
    expect(readdirSync(victim)).toEqual(['thesis.tex']);
    expect(readFileSync(path.join(victim, 'thesis.tex'), 'utf8')).toBe('four years\n');
  });

  it('a second --resume or --force on a live run is refused naming its pid; SIGINT releases the lock', async () => {
    const out = path.join(data.root, 'live');
    const config = writeConfig('live', out, [
      'stages: { pretrain: { iterations: 100000 }, selftrain: { iterations: 2 } }',
      'validation: { split: none }',
    ]);
    const runDir = path.join(out, 'live');
    const child = spawn(process.execPath, [bin, 'train', '--config', config], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const done = finished(child);
    await new Promise<void>((resolve, reject) => {
      let text = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (/pretrain 1\/\d+/.test(text)) resolve();
      });
      child.on('close', () => reject(new Error(`training ended early: ${text}`)));
    });
    try {
      const owner = `(pid ${child.pid} on ${os.hostname()}, since `;
      const second = await ssmis(['train', '--resume', runDir]);
      expect(second.code).toBe(2);
      expect(second.stderr).toContain(`ssmis: run folder ${runDir} is in use by a running training ${owner}`);
      const forced = await ssmis(['train', '--config', config, '--force']);
      expect(forced.code).toBe(2);
      expect(forced.stderr).toContain(`is in use by a running training ${owner}`);
      expect(existsSync(path.join(runDir, 'config.yaml'))).toBe(true);
    } finally {
      child.kill('SIGINT');
    }
    const first = await done;
    expect(first.code, first.stderr).toBe(130);
    expect(existsSync(path.join(runDir, '.ssmis-lock'))).toBe(false);
  });
});

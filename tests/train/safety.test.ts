import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SsmisConfig } from '../../src/config/index.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { type TrainEvent, train } from '../../src/train/train.js';
import { InputError } from '../../src/util/errors.js';
import { snapshot } from '../helpers/files.js';
import { tinyConfig, tinyLaDataset } from '../helpers/synthetic.js';

let data: { root: string; dataset: string };

beforeAll(async () => {
  data = await tinyLaDataset();
});

/** A small run: pre-training only, 2 iterations, no validation (fast). */
function quickConfig(outputDir: string, name: string, dataset = data.dataset): SsmisConfig {
  return tinyConfig(dataset, outputDir, {
    run: { name },
    train: { stages: { selftrain: { enabled: false } }, validation: { split: 'none' } },
  });
}

/** The pid of a process that has ended (a stale lock's owner). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('train --force deletes only run folders ssmis made', () => {
  it('refuses a folder without the run marker (a thesis) and leaves it byte-identical', async () => {
    const out = path.join(data.root, 'force-foreign');
    const victim = path.join(out, 'thesis');
    mkdirSync(path.join(victim, 'chapters'), { recursive: true });
    writeFileSync(path.join(victim, 'thesis.tex'), '\\documentclass{book}\n');
    writeFileSync(path.join(victim, 'chapters', 'one.tex'), 'years of work\n');
    const before = snapshot(victim);
    const error = await rejection(train(quickConfig(out, 'thesis'), { force: true }));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toBe(
      `--force: refusing to delete ${victim}: it is not a run folder made by ssmis (no .ssmis-run marker); it holds chapters, thesis.tex; nothing was deleted`,
    );
    expect(snapshot(victim)).toEqual(before);
  });

  it('refuses a run folder that contains the dataset, a split file or the config file', async () => {
    const out = path.join(data.root, 'force-contains');
    const first = await train(quickConfig(out, 'r'), { stopAfterIterations: 1 });
    // The dataset moved into the run folder (marker present: only the containment rule stops it).
    const inner = path.join(first.runDir, 'eval', 'dataset');
    cpSync(data.dataset, inner, { recursive: true });
    const before = snapshot(first.runDir);
    let error = await rejection(train(quickConfig(out, 'r', inner), { force: true }));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toBe(
      `--force: refusing to delete ${first.runDir}: it contains the dataset (data.dataset) ${inner}; nothing was deleted`,
    );
    expect(snapshot(first.runDir)).toEqual(before);

    const splitFile = path.join(first.runDir, 'eval', 'test.txt');
    writeFileSync(splitFile, 'la_006\nla_007\n');
    const withSplit = tinyConfig(data.dataset, out, {
      run: { name: 'r' },
      data: { dataset: data.dataset, splits: { test: splitFile } },
      train: { stages: { selftrain: { enabled: false } }, validation: { split: 'none' } },
    });
    error = await rejection(train(withSplit, { force: true }));
    expect(error.message).toContain(`it contains the split file (data.splits.test) ${splitFile}`);

    const configFile = path.join(first.runDir, 'eval', 'my.yaml');
    writeFileSync(configFile, 'run: { name: r }\n');
    error = await rejection(train(quickConfig(out, 'r'), { force: true, configFiles: [configFile] }));
    expect(error.message).toContain(`it contains the config file ${configFile}`);
    expect(readFileSync(configFile, 'utf8')).toBe('run: { name: r }\n');
  });

  it('refuses a run folder holding files training did not write; empties a clean one', async () => {
    const out = path.join(data.root, 'force-extra');
    const first = await train(quickConfig(out, 'r'), { stopAfterIterations: 1 });
    writeFileSync(path.join(first.runDir, 'notes.md'), 'my notes\n');
    const before = snapshot(first.runDir);
    const error = await rejection(train(quickConfig(out, 'r'), { force: true }));
    expect(error.message).toBe(
      `--force: refusing to delete ${first.runDir}: it holds notes.md, which training did not write; move them out first; nothing was deleted`,
    );
    expect(snapshot(first.runDir)).toEqual(before);
    rmSync(path.join(first.runDir, 'notes.md'));
    const again = await train(quickConfig(out, 'r'), { force: true, stopAfterIterations: 1 });
    expect(again.runDir).toBe(first.runDir);
    expect(existsSync(path.join(again.runDir, '.ssmis-run'))).toBe(true);
    expect(existsSync(path.join(again.runDir, 'checkpoints', 'last.safetensors'))).toBe(true);
  });

  it('accepts a run folder from before the marker (checkpoints/, config.yaml, log.jsonl, nothing else)', async () => {
    const out = path.join(data.root, 'force-legacy');
    const first = await train(quickConfig(out, 'r'), { stopAfterIterations: 1 });
    rmSync(path.join(first.runDir, '.ssmis-run'));
    const again = await train(quickConfig(out, 'r'), { force: true, stopAfterIterations: 1 });
    expect(existsSync(path.join(again.runDir, '.ssmis-run'))).toBe(true);
  });

  it('without --force, says whether the existing folder is a run or something else', async () => {
    const out = path.join(data.root, 'no-force');
    mkdirSync(path.join(out, 'photos'), { recursive: true });
    writeFileSync(path.join(out, 'photos', 'a.jpg'), 'jpeg');
    await expect(train(quickConfig(out, 'photos'))).rejects.toThrow(
      `run folder ${path.join(out, 'photos')} already exists and is not an ssmis run folder (no .ssmis-run marker); choose another run.name or run.outputDir`,
    );
  });
});

describe('the run lock', () => {
  it('is held while training and released at the end, after an interruption and after an error', async () => {
    const out = path.join(data.root, 'lock-release');
    const lock = path.join(out, 'r', '.ssmis-lock');
    let seen: { pid: number; host: string; started: string } | null = null;
    const result = await train(quickConfig(out, 'r'), {
      stopAfterIterations: 1,
      onEvent: (e) => {
        if (e.type === 'iteration') seen = JSON.parse(readFileSync(lock, 'utf8'));
      },
    });
    expect(result.interrupted).toBe(true);
    expect(seen).toMatchObject({ pid: process.pid, host: os.hostname() });
    expect(existsSync(lock)).toBe(false);
    // An error inside the run (a state that does not fit) releases it too.
    const state = path.join(out, 'r', 'checkpoints', 'last.safetensors');
    const file = await readSafetensors(state);
    const embedded = JSON.parse(file.metadata['ssmis.state']);
    await writeSafetensors(state, file.tensors, {
      ...file.metadata,
      'ssmis.state': JSON.stringify({ ...embedded, stage: 'finetune' }),
    });
    await expect(train(quickConfig(out, 'r'), { resume: true, runDir: result.runDir })).rejects.toThrow(
      `(training state): stage: expected one of 'pretrain', 'selftrain', got string "finetune"`,
    );
    expect(existsSync(lock)).toBe(false);
  });

  it('refuses --resume and --force while a live process holds it, naming pid and host', async () => {
    const out = path.join(data.root, 'lock-live');
    const first = await train(quickConfig(out, 'r'), { stopAfterIterations: 1 });
    const lock = path.join(first.runDir, '.ssmis-lock');
    // Our own pid is certainly alive.
    writeFileSync(
      lock,
      JSON.stringify({ pid: process.pid, host: os.hostname(), started: '2024-01-01T00:00:00.000Z' }),
    );
    const before = snapshot(first.runDir);
    const message = `run folder ${first.runDir} is in use by a running training (pid ${process.pid} on ${os.hostname()}, since 2024-01-01T00:00:00.000Z); wait for it to end or stop it first`;
    await expect(train(quickConfig(out, 'r'), { resume: true, runDir: first.runDir })).rejects.toThrow(
      message,
    );
    await expect(train(quickConfig(out, 'r'), { force: true })).rejects.toThrow(message);
    expect(snapshot(first.runDir)).toEqual(before);

    writeFileSync(
      lock,
      JSON.stringify({ pid: 4242, host: 'other-host', started: '2024-01-01T00:00:00.000Z' }),
    );
    await expect(train(quickConfig(out, 'r'), { resume: true, runDir: first.runDir })).rejects.toThrow(
      `run folder ${first.runDir} is in use by pid 4242 on host other-host (since 2024-01-01T00:00:00.000Z); if that training is gone, delete ${lock}`,
    );
  });

  it('takes over a stale lock (same host, process gone) with a warning', async () => {
    const out = path.join(data.root, 'lock-stale');
    const first = await train(quickConfig(out, 'r'), { stopAfterIterations: 1 });
    const pid = deadPid();
    writeFileSync(
      path.join(first.runDir, '.ssmis-lock'),
      JSON.stringify({ pid, host: os.hostname(), started: '2024-01-01T00:00:00.000Z' }),
    );
    const warnings: string[] = [];
    const onEvent = (e: TrainEvent) => {
      if (e.type === 'warning') warnings.push(e.message);
    };
    const resumed = await train(quickConfig(out, 'r'), { resume: true, runDir: first.runDir, onEvent });
    expect(resumed.interrupted).toBe(false);
    expect(warnings).toContain(
      `took over the stale lock of ${first.runDir}: pid ${pid} on ${os.hostname()} (since 2024-01-01T00:00:00.000Z) is no longer running`,
    );
    expect(existsSync(path.join(first.runDir, '.ssmis-lock'))).toBe(false);
  });
});

describe('the resume state is validated', () => {
  /** A run stopped after one pre-training iteration, its embedded state replaced by `edit(state)`. */
  async function editedRun(name: string, edit: (state: Record<string, unknown>) => unknown) {
    const out = path.join(data.root, 'state');
    const config = quickConfig(out, name);
    const first = await train(config, { stopAfterIterations: 1 });
    const file = path.join(first.runDir, 'checkpoints', 'last.safetensors');
    const weights = await readSafetensors(file);
    const embedded = weights.metadata['ssmis.state'];
    if (embedded === undefined) {
      // Checkpoints that keep the state only in last.json (so this test shows the problem on them too).
      const json = path.join(first.runDir, 'checkpoints', 'last.json');
      writeFileSync(json, JSON.stringify(edit(JSON.parse(readFileSync(json, 'utf8')))));
    } else {
      await writeSafetensors(file, weights.tensors, {
        ...weights.metadata,
        'ssmis.state': JSON.stringify(edit(JSON.parse(embedded) as Record<string, unknown>)),
      });
    }
    return { config, runDir: first.runDir, file };
  }

  it('an iteration beyond the stage is an error naming the file and the field, not an instant "done"', async () => {
    const run = await editedRun('iter', (s) => ({ ...s, iteration: 999999 }));
    const error = await rejection(train(run.config, { resume: true, runDir: run.runDir }));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toBe(
      `cannot resume: ${run.file} (training state): iteration: 999999 is beyond the 2 iterations of stage pretrain (train.stages.pretrain.iterations)`,
    );
  });

  it('a missing RNG state is an InputError naming the field, not a TypeError', async () => {
    const run = await editedRun('rng', (s) => ({ ...s, rng: null }));
    const error = await rejection(train(run.config, { resume: true, runDir: run.runDir }));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toBe(
      `cannot resume: ${run.file} (training state): rng: expected a mapping, got null`,
    );
  });

  it('checks RNG words, loader indices and completed stages', async () => {
    let run = await editedRun('words', (s) => ({
      ...s,
      rng: { ...(s.rng as object), dropout: { s: [1, 2, -3, 4] } },
    }));
    await expect(train(run.config, { resume: true, runDir: run.runDir })).rejects.toThrow(
      /\(training state\): rng\.dropout\.s\[2\]: expected .*, got -3/,
    );
    run = await editedRun('loader', (s) => {
      const loader = s.loader as { sampler: { primary: number[] } };
      loader.sampler.primary = [0, 7];
      return s;
    });
    await expect(train(run.config, { resume: true, runDir: run.runDir })).rejects.toThrow(
      `cannot resume: ${run.file} (training state): loader.sampler.primary[1]: 7 is not a labeled unit index (0..1)`,
    );
    run = await editedRun('stages', (s) => ({ ...s, completedStages: ['selftrain'] }));
    await expect(train(run.config, { resume: true, runDir: run.runDir })).rejects.toThrow(
      /completedStages: \[selftrain\] does not fit stage pretrain/,
    );
  });

  it('reads a checkpoint of the earlier format (state only in last.json) and validates it', async () => {
    const out = path.join(data.root, 'state-legacy');
    const config = quickConfig(out, 'old');
    const first = await train(config, { stopAfterIterations: 1 });
    const file = path.join(first.runDir, 'checkpoints', 'last.safetensors');
    const json = path.join(first.runDir, 'checkpoints', 'last.json');
    const weights = await readSafetensors(file);
    const { 'ssmis.state': _, ...metadata } = weights.metadata;
    await writeSafetensors(file, weights.tensors, metadata);
    const state = JSON.parse(readFileSync(json, 'utf8'));
    writeFileSync(json, JSON.stringify({ ...state, rng: null }));
    await expect(train(config, { resume: true, runDir: first.runDir })).rejects.toThrow(
      `cannot resume: ${json}: rng: expected a mapping, got null`,
    );
    writeFileSync(json, JSON.stringify(state));
    const resumed = await train(config, { resume: true, runDir: first.runDir });
    expect(resumed.interrupted).toBe(false);
  });
});

describe('a failure before the first checkpoint', () => {
  it('a corrupt or missing label fails before the run folder is created', async () => {
    const copy = path.join(data.root, 'corrupt-dataset');
    cpSync(data.dataset, copy, { recursive: true });
    const splits = JSON.parse(readFileSync(path.join(copy, 'dataset.json'), 'utf8')).splits as {
      train: string[];
      test: string[];
    };
    const out = path.join(data.root, 'corrupt-runs');
    // A validation case, first read at the first validation (iteration 2) by the loop itself.
    const corrupt = path.join(copy, 'labelsTr', `${splits.test[2]}.nii.gz`);
    writeFileSync(corrupt, Buffer.from('not a nifti file at all'));
    const config = tinyConfig(copy, out, {
      run: { name: 'c' },
      train: { stages: { selftrain: { enabled: false } } },
    });
    await expect(train(config)).rejects.toThrow(new RegExp(`case ${splits.test[2]}: `));
    expect(existsSync(path.join(out, 'c'))).toBe(false);
    cpSync(path.join(data.dataset, 'labelsTr', `${splits.test[2]}.nii.gz`), corrupt);
    // An unlabeled case (its label is read with it) of the self-training stage.
    rmSync(path.join(copy, 'labelsTr', `${splits.train[4]}.nii.gz`));
    await expect(train(tinyConfig(copy, out, { run: { name: 'm' } }))).rejects.toThrow(
      `case ${splits.train[4]}: label file labelsTr/${splits.train[4]}.nii.gz not found in ${copy}`,
    );
    expect(existsSync(path.join(out, 'm'))).toBe(false);
  });

  it('--resume of a run folder without a checkpoint starts it from iteration 0', async () => {
    const out = path.join(data.root, 'no-checkpoint');
    const full = await train(quickConfig(out, 'full'));
    const config = quickConfig(out, 'r');
    const first = await train(config, { stopAfterIterations: 1 });
    // As left by a failure (or a kill) before the first checkpoint: config.yaml, log.jsonl, empty checkpoints/.
    for (const name of readdirSync(path.join(first.runDir, 'checkpoints'))) {
      rmSync(path.join(first.runDir, 'checkpoints', name));
    }
    rmSync(path.join(first.runDir, 'metrics.csv'));
    rmSync(path.join(first.runDir, 'curves.svg'));
    const warnings: string[] = [];
    const resumed = await train(config, {
      resume: true,
      runDir: first.runDir,
      onEvent: (e) => {
        if (e.type === 'warning') warnings.push(e.message);
      },
    });
    expect(resumed.interrupted).toBe(false);
    expect(warnings).toContain(`${first.runDir} has no checkpoint yet: starting the run from iteration 0`);
    const a = await readSafetensors(path.join(full.runDir, 'checkpoints', 'last.safetensors'));
    const b = await readSafetensors(path.join(resumed.runDir, 'checkpoints', 'last.safetensors'));
    for (const [name, t] of Object.entries(a.tensors)) {
      expect(Array.from(b.tensors[name]?.data ?? []), name).toEqual(Array.from(t.data));
    }
  });

  it('--resume refuses a folder that is not a run (no marker, no checkpoint)', async () => {
    const dir = path.join(data.root, 'not-a-run');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'config.yaml'), 'mine\n');
    await expect(train(quickConfig(data.root, 'x'), { resume: true, runDir: dir })).rejects.toThrow(
      `cannot resume: ${dir} is not an ssmis run folder (no .ssmis-run marker and no checkpoints/last.safetensors)`,
    );
    expect(readdirSync(dir)).toEqual(['config.yaml']);
  });
});

describe('temp files of interrupted writes', () => {
  it('are removed at the next resume; nothing else is', async () => {
    const out = path.join(data.root, 'orphans');
    const config = quickConfig(out, 'r');
    const first = await train(config, { stopAfterIterations: 1 });
    const pid = deadPid();
    const orphans = [
      path.join(first.runDir, 'checkpoints', `last.safetensors.tmp-${pid}-0badf00d`),
      path.join(first.runDir, `metrics.csv.tmp-${pid}-12345678`),
    ];
    for (const file of orphans) writeFileSync(file, 'partial');
    const kept = path.join(first.runDir, 'eval', 'keep.tmp-x');
    mkdirSync(path.dirname(kept), { recursive: true });
    writeFileSync(kept, 'not ours');
    const resumed = await train(config, { resume: true, runDir: first.runDir });
    expect(resumed.interrupted).toBe(false);
    for (const file of orphans) expect(existsSync(file), file).toBe(false);
    expect(readFileSync(kept, 'utf8')).toBe('not ours');
  });
});

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { METHOD_NAMES } from '../../src/config/index.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { train } from '../../src/train/train.js';
import { tinyConfig, tinyLaDataset } from '../helpers/synthetic.js';

let data: { root: string; dataset: string };

beforeAll(async () => {
  data = await tinyLaDataset();
});

function logLines(runDir: string): Array<Record<string, unknown>> {
  return readFileSync(path.join(runDir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('train (both stages on synthetic LA phantoms)', () => {
  it('writes the run folder, selects a best model and keeps numTensors flat', async () => {
    const before = tf.memory().numTensors;
    const config = tinyConfig(data.dataset, path.join(data.root, 'runs'), { run: { name: 'full' } });
    const result = await train(config);
    expect(result.interrupted).toBe(false);
    for (const file of ['config.yaml', 'log.jsonl', 'metrics.csv', 'curves.svg']) {
      expect(existsSync(path.join(result.runDir, file)), file).toBe(true);
    }
    for (const file of ['last.safetensors', 'last.json', 'best.safetensors', 'pretrain-best.safetensors']) {
      expect(existsSync(path.join(result.runDir, 'checkpoints', file)), file).toBe(true);
    }
    const csv = readFileSync(path.join(result.runDir, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toContain('stage,iteration,lr,loss');
    expect(csv[0]).toContain('reliableFraction');
    expect(csv).toHaveLength(1 + 2 + 3);
    expect(readFileSync(path.join(result.runDir, 'curves.svg'), 'utf8')).toContain('<svg');
    expect(result.best.selftrain?.iteration).toBe(2);
    // numTensors is logged every iteration; after the first step of a stage (optimizer slots) it is constant.
    const counts = logLines(result.runDir)
      .filter((l) => l.event === 'iteration' && l.stage === 'selftrain')
      .map((l) => l.numTensors);
    expect(counts.length).toBe(3);
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an interrupted run resumed from `last` ends with the same weights as an uninterrupted one', async () => {
    const out = path.join(data.root, 'runs-resume');
    const full = await train(tinyConfig(data.dataset, out, { run: { name: 'a' } }));
    const config = tinyConfig(data.dataset, out, { run: { name: 'b' } });
    const first = await train(config, { stopAfterIterations: 3 });
    expect(first.interrupted).toBe(true);
    const state = JSON.parse(readFileSync(path.join(first.runDir, 'checkpoints', 'last.json'), 'utf8'));
    expect(state).toMatchObject({ stage: 'selftrain', iteration: 1, completedStages: ['pretrain'] });
    const resumed = await train(config, { resume: true, runDir: first.runDir });
    expect(resumed.interrupted).toBe(false);
    const a = await readSafetensors(path.join(full.runDir, 'checkpoints', 'last.safetensors'));
    const b = await readSafetensors(path.join(resumed.runDir, 'checkpoints', 'last.safetensors'));
    expect(Object.keys(b.tensors).sort()).toEqual(Object.keys(a.tensors).sort());
    for (const [name, t] of Object.entries(a.tensors)) {
      expect(Array.from(b.tensors[name].data), name).toEqual(Array.from(t.data));
    }
    expect(resumed.history.map((r) => r.loss)).toEqual(full.history.map((r) => r.loss));
  });

  it('refuses to overwrite an existing run folder without force, and fails early on a missing dataset', async () => {
    const out = path.join(data.root, 'runs-guard');
    await train(
      tinyConfig(data.dataset, out, {
        run: { name: 'g' },
        train: { stages: { selftrain: { enabled: false } } },
      }),
    );
    await expect(train(tinyConfig(data.dataset, out, { run: { name: 'g' } }))).rejects.toThrow(
      /already exists; continue it with `ssmis train --resume .*`, choose another run.name, or pass --force/,
    );
    const missing = path.join(data.root, 'no-such-dataset');
    await expect(train(tinyConfig(missing, out, { run: { name: 'h' } }))).rejects.toThrow(
      `data.dataset: folder ${missing} does not exist`,
    );
    expect(existsSync(path.join(out, 'h'))).toBe(false);
  });
});

describe.each(METHOD_NAMES.map((m) => [m]))('method %s', (method) => {
  it('trains a few self-training iterations with flat numTensors', async () => {
    const before = tf.memory().numTensors;
    const config = tinyConfig(data.dataset, path.join(data.root, 'runs-methods'), {
      run: { name: method },
      method: { name: method },
      train: {
        stages: { pretrain: { enabled: false }, selftrain: { iterations: 3, initFrom: 'last' } },
        validation: { interval: 100 },
      },
    });
    const result = await train(config);
    const iterations = logLines(result.runDir).filter((l) => l.event === 'iteration');
    expect(iterations).toHaveLength(3);
    for (const line of iterations) expect(Number.isFinite(line.loss)).toBe(true);
    expect(new Set(iterations.slice(1).map((l) => l.numTensors)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });
});

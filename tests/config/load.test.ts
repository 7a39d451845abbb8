import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  configToYaml,
  loadConfig,
  MAX_CONFIG_BYTES,
  MAX_CONFIG_DEPTH,
  MAX_EXTENDS_DEPTH,
} from '../../src/config/index.js';

let dir: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-config-'));
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Writes a file under the temp dir (creating folders) and returns its absolute path. */
async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
  return file;
}

/** The error message of a load that must fail. */
async function failure(file: string, set?: string[]): Promise<ConfigError> {
  try {
    await loadConfig(file, { set });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected the config to be rejected');
}

const MINIMAL = 'run:\n  name: demo\ndata:\n  dataset: ./data/la\n';

describe('YAML files', () => {
  it('loads a minimal file and resolves the dataset against its folder', async () => {
    const file = await write('configs/demo.yaml', MINIMAL);
    const { config, sources, files } = await loadConfig(file);
    expect(config.data.dataset).toBe(path.join(dir, 'configs/data/la'));
    expect(config.train.seed).toBe(1337);
    expect(files).toEqual([file]);
    expect(sources).toEqual({ 'run.name': file, 'data.dataset': file });
  });

  it('reports a syntax error with file, line and column', async () => {
    const file = await write('bad.yaml', 'run:\n  name: demo\ndata:\n  dataset: [a, b\n  preset: la\n');
    const error = await failure(file);
    expect(error.problems[0]).toMatchObject({
      source: file,
      line: expect.any(Number),
      column: expect.any(Number),
    });
    expect(error.message).toMatch(new RegExp(`^${escapeRegExp(file)}:\\d+:\\d+: YAML syntax error: `));
  });

  it('reports duplicate keys and several documents', async () => {
    const dup = await failure(await write('dup.yaml', 'run:\n  name: a\n  name: b\n'));
    expect(dup.message).toBe(`${dup.problems[0]?.source}:3:3: YAML syntax error: Map keys must be unique`);
    const multi = await failure(await write('multi.yaml', `${MINIMAL}---\nrun: {name: x}\n`));
    expect(multi.message).toContain(':5:1: YAML syntax error: Source contains multiple documents');
  });

  it('rejects language and custom tags without executing anything', async () => {
    const g = globalThis as { __ssmisPwned?: unknown };
    const file = await write(
      'evil.yaml',
      `${MINIMAL}method:\n  name: !!js/function "function () { globalThis.__ssmisPwned = 1; return 'bcp' }"\n` +
        'eval:\n  split: !custom test\n  patch: !!binary aGVsbG8=\n',
    );
    const error = await failure(file);
    expect(g.__ssmisPwned).toBeUndefined();
    expect(error.problems.map((p) => [p.line, p.message])).toEqual([
      [6, 'YAML tag not allowed (only plain values, lists and mappings): tag:yaml.org,2002:js/function'],
      [8, 'YAML tag not allowed (only plain values, lists and mappings): !custom'],
      [9, 'YAML tag not allowed (only plain values, lists and mappings): tag:yaml.org,2002:binary'],
    ]);
  });

  it('stops alias expansion bombs', async () => {
    let text = `${MINIMAL}x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n`;
    for (let i = 1; i < 8; i++)
      text += `x${i}: &x${i} [${Array(10)
        .fill(`*x${i - 1}`)
        .join(', ')}]\n`;
    const error = await failure(await write('bomb.yaml', text));
    expect(error.message).toMatch(/YAML: .*alias.* \(at most 100 aliases\)/i);
  });

  it('accepts a few anchors and aliases', async () => {
    const ok = await write(
      'alias.yaml',
      `run: {name: demo}\ndata:\n  dataset: d\n  patchSize: &patch [96, 96, 96]\neval:\n  patch: *patch\n`,
    );
    expect((await loadConfig(ok)).config.eval.patch).toEqual([96, 96, 96]);
  });

  it('rejects an empty file, a list, unknown extensions and missing files', async () => {
    expect((await failure(await write('empty.yaml', '# nothing\n'))).message).toMatch(
      /empty\.yaml: expected a mapping of config sections \(run, data, \.\.\.\), got an empty document$/,
    );
    expect((await failure(await write('list.yaml', '- a\n'))).message).toMatch(/got a list$/);
    expect((await failure(await write('conf.toml', 'a = 1\n'))).message).toMatch(
      /conf\.toml: expected a \.yaml, \.yml or \.json config file, got "\.toml"$/,
    );
    expect((await failure(path.join(dir, 'nope.yaml'))).message).toMatch(
      /nope\.yaml: cannot read the config file: no such file$/,
    );
  });

  it('lists every problem of a file at once, each with file and key path', async () => {
    const file = await write(
      'many.yaml',
      [
        'run:',
        '  name: demo',
        'data:',
        '  dataset: d',
        '  patchSize: [112, 112, 80]',
        'method:',
        '  nmae: bcp',
        'model:',
        '  numClasses: 1',
        'train:',
        '  stages:',
        '    selftrain:',
        '      optimizer:',
        '        lr: fast',
        'eval:',
        '  protocol: papr',
        '',
      ].join('\n'),
    );
    const error = await failure(file);
    expect(error.message.split('\n')).toEqual([
      '4 problems in the configuration:',
      `  ${file}: model.numClasses: expected an integer of at least 2, got 1`,
      `  ${file}: method.nmae: unknown key (did you mean 'name'?)`,
      `  ${file}: train.stages.selftrain.optimizer.lr: expected a number, got string "fast"`,
      `  ${file}: eval.protocol: expected one of 'strict', 'paper', got string "papr" (did you mean 'paper'?)`,
    ]);
  });

  it('reports a missing required key and an unknown section', async () => {
    const file = await write('missing.yaml', 'run:\n  outputDir: out\nmodels:\n  name: vnet\n');
    const error = await failure(file);
    expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      "run.name: expected a safe folder name (letters, digits, '.', '_', '-', not starting with '.' or '-', at most 100 characters), got nothing (the key is required)",
      'data: expected a mapping, got nothing (the key is required)',
      "models: unknown key (did you mean 'model'?)",
    ]);
  });
});

describe('JSON files', () => {
  it('loads JSON configs', async () => {
    const file = await write(
      'c.json',
      JSON.stringify({ run: { name: 'j' }, data: { dataset: 'd' }, train: { seed: 3 } }),
    );
    const { config } = await loadConfig(file);
    expect(config.train.seed).toBe(3);
    expect(config.data.dataset).toBe(path.join(dir, 'd'));
  });

  it('reports JSON syntax errors with line and column', async () => {
    const file = await write('c.json', '{\n  "run": { "name": "j" },\n  "data": { "dataset": "d", }\n}\n');
    const error = await failure(file);
    expect(error.problems[0]).toMatchObject({ line: 3, column: 29 });
    expect(error.message).toMatch(new RegExp(`^${escapeRegExp(file)}:3:29: JSON syntax error: `));
  });

  it('treats __proto__ as an unknown key, never as a prototype', async () => {
    const file = await write(
      'proto.json',
      '{"run": {"name": "p"}, "data": {"dataset": "d"}, "__proto__": {"polluted": 1}, "eval": {"__proto__": {"x": 1}}}',
    );
    const error = await failure(file);
    expect(error.problems.map((p) => `${p.path}: ${p.message.split(' (')[0]}`)).toEqual([
      'eval.__proto__: unknown key',
      '__proto__: unknown key',
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('dangerous keys', () => {
  it('treats __proto__ and constructor in YAML as unknown keys', async () => {
    const file = await write(
      'proto.yaml',
      `${MINIMAL}__proto__: {polluted: 1}\nrun:\n  name: x\n  constructor: 1\n`.replace(
        'run:\n  name: demo\n',
        '',
      ),
    );
    const error = await failure(file);
    expect(error.problems.map((p) => p.path)).toEqual(['run.constructor', '__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('extends', () => {
  it('merges parents key by key, replaces lists, and resolves paths against the defining file', async () => {
    await write(
      'base/la-base.yaml',
      [
        'run:',
        '  name: base',
        '  outputDir: out',
        'data:',
        '  dataset: ../datasets/la',
        '  preset: la',
        '  splits:',
        '    test: ../splits/test.list',
        '  channels: [0, 1]',
        'model:',
        '  inChannels: 2',
        'train:',
        '  stages:',
        '    selftrain:',
        '      iterations: 15000',
        '      schedule: step',
        '',
      ].join('\n'),
    );
    const child = await write(
      'exp/la-5.yaml',
      [
        'extends: ../base/la-base.yaml',
        'run:',
        '  name: la-5',
        'data:',
        '  labeled: {count: 4}',
        '  channels: [1]',
        '  splits:',
        '    train: lists/train.txt',
        'model:',
        '  inChannels: null',
        'train:',
        '  stages:',
        '    selftrain:',
        '      schedule: {every: 1000}',
        '',
      ].join('\n'),
    );
    const { config, sources, files } = await loadConfig(child);
    expect(files).toEqual([path.join(dir, 'base/la-base.yaml'), child]);
    expect(config.run).toEqual({ name: 'la-5', outputDir: 'out' });
    expect(config.data.dataset).toBe(path.join(dir, 'datasets/la'));
    expect(config.data.splits).toEqual({
      test: path.join(dir, 'splits/test.list'),
      train: path.join(dir, 'exp/lists/train.txt'),
    });
    expect(config.data.channels).toEqual([1]);
    expect(config.data.labeled).toEqual({ count: 4 });
    expect(config.model.inChannels).toBe(1);
    expect(config.train.stages.selftrain.iterations).toBe(15000);
    expect(config.train.stages.selftrain.schedule).toEqual({ name: 'step', gamma: 0.1, every: 1000 });
    expect(sources['data.dataset']).toBe(path.join(dir, 'base/la-base.yaml'));
    expect(sources['run.name']).toBe(child);
    expect(sources['model.inChannels']).toBeUndefined();
  });

  it('names the file that set a bad value, even a parent', async () => {
    await write('parent.yaml', 'run: {name: p}\ndata:\n  dataset: d\n  patchSize: [100, 112, 80]\n');
    const child = await write('child.yaml', 'extends: parent.yaml\nmethod: {name: bcp}\n');
    const error = await failure(child);
    expect(error.message).toBe(
      `${path.join(dir, 'parent.yaml')}: data.patchSize[0]: expected a multiple of 16 for model.name 'vnet', got 100`,
    );
  });

  it('accepts a list of parents, applied in order and each once', async () => {
    await write('base.yaml', 'run: {name: base}\ndata: {dataset: d}\ntrain: {seed: 1, logInterval: 1}\n');
    await write('a.yaml', 'extends: base.yaml\ntrain: {seed: 2}\n');
    await write('b.yaml', 'extends: base.yaml\ntrain: {checkpointInterval: 50}\n');
    const child = await write('c.yaml', 'extends: [a.yaml, b.yaml]\nrun: {name: c}\n');
    const { config, files } = await loadConfig(child);
    expect(files.map((f) => path.basename(f))).toEqual(['base.yaml', 'a.yaml', 'b.yaml', 'c.yaml']);
    // b's copy of base does not undo a's seed.
    expect(config.train).toMatchObject({ seed: 2, logInterval: 1, checkpointInterval: 50 });
  });

  it('detects cycles and lists the chain', async () => {
    await write('x.yaml', 'extends: y.yaml\nrun: {name: x}\n');
    await write('y.yaml', 'extends: z.yaml\n');
    await write('z.yaml', 'extends: ./x.yaml\n');
    const error = await failure(path.join(dir, 'x.yaml'));
    const [x, y, z] = ['x', 'y', 'z'].map((n) => path.join(dir, `${n}.yaml`));
    expect(error.message).toBe(`${x}: extends: cycle: ${x} → ${y} → ${z} → ${x}`);
    const self = await write('self.yaml', 'extends: self.yaml\n');
    expect((await failure(self)).message).toBe(`${self}: extends: cycle: ${self} → ${self}`);
  });

  it('limits the depth of a chain', async () => {
    for (let i = 0; i <= MAX_EXTENDS_DEPTH; i++) {
      await write(`d${i}.yaml`, i === MAX_EXTENDS_DEPTH ? MINIMAL : `extends: d${i + 1}.yaml\n`);
    }
    const error = await failure(path.join(dir, 'd0.yaml'));
    expect(error.message).toContain(`extends: expected a chain of at most ${MAX_EXTENDS_DEPTH} files`);
    await fs.writeFile(path.join(dir, `d1.yaml`), MINIMAL);
    expect((await loadConfig(path.join(dir, 'd0.yaml'))).config.run.name).toBe('demo');
  });

  it('reports a bad extends value and a missing parent', async () => {
    const bad = await write('bad.yaml', `extends: 3\n${MINIMAL}`);
    expect((await failure(bad)).message).toBe(
      `${bad}: extends: expected a file path or a list of file paths, got 3`,
    );
    const missing = await write('orphan.yaml', `extends: gone.yaml\n${MINIMAL}`);
    expect((await failure(missing)).message).toBe(
      `${path.join(dir, 'gone.yaml')}: cannot read the config file: no such file`,
    );
  });

  it('restarts a model, optimizer or schedule mapping when a child switches its name', async () => {
    await write(
      'parent.yaml',
      [
        'run: {name: p}',
        'data: {dataset: d}',
        'model: {name: vnet, dropout: 0.3}',
        'train:',
        '  stages:',
        '    pretrain:',
        '      optimizer: {name: sgd, momentum: 0.5, lr: 0.1}',
        '    selftrain:',
        '      schedule: {name: poly, power: 2}',
        '      optimizer: {lr: 0.2}',
        '',
      ].join('\n'),
    );
    const child = await write(
      'child.yaml',
      'extends: parent.yaml\nmodel: {name: unet2d}\ntrain:\n  stages:\n    selftrain:\n      schedule: step\n      optimizer: {name: sgd, nesterov: true}\n',
    );
    const { config, sources } = await loadConfig(child, {
      set: ['train.stages.pretrain.optimizer.name=adam'],
    });
    expect(config.model).toMatchObject({ name: 'unet2d', dropout: [0.05, 0.1, 0.2, 0.3, 0.5] });
    expect(config.train.stages.pretrain.optimizer).toMatchObject({ name: 'adam', lr: 1e-3 });
    expect(config.train.stages.selftrain.schedule).toEqual({ name: 'step', gamma: 0.1, every: 2500 });
    // Same variant (sgd is the default name): merged, so the parent's lr stays.
    expect(config.train.stages.selftrain.optimizer).toMatchObject({ name: 'sgd', lr: 0.2, nesterov: true });
    expect(sources['model.dropout']).toBeUndefined();
    expect(sources['train.stages.pretrain.optimizer.name']).toBe(
      '--set train.stages.pretrain.optimizer.name=adam',
    );
  });

  it('mixes JSON and YAML parents', async () => {
    await write('p.json', '{"run": {"name": "json"}, "data": {"dataset": "d"}, "train": {"seed": 9}}');
    const child = await write('c.yml', 'extends: p.json\n');
    expect((await loadConfig(child)).config.train.seed).toBe(9);
  });
});

describe('--set overrides', () => {
  it('parses values as YAML scalars and flow collections', async () => {
    const file = await write('c.yaml', MINIMAL);
    const { config, sources } = await loadConfig(file, {
      set: [
        'train.seed=7',
        'data.patchSize=[96,96,96]',
        'method.name=bcp',
        'method.maskRatio=1/2',
        'eval.saveProbabilities=true',
        'train.stages.selftrain.optimizer.lr=2e-3',
        'run.name=007',
        'data.dataset=other/place',
        'train.stages.pretrain.schedule={name: step, every: 10}',
      ],
    });
    expect(config.train.seed).toBe(7);
    expect(config.data.patchSize).toEqual([96, 96, 96]);
    expect(config.method.name).toBe('bcp');
    expect(config.method.maskRatio).toBe(0.5);
    expect(config.eval.saveProbabilities).toBe(true);
    expect(config.train.stages.selftrain.optimizer.lr).toBe(0.002);
    expect(config.run.name).toBe('007');
    expect(config.data.dataset).toBe(path.resolve('other/place'));
    expect(config.train.stages.pretrain.schedule).toEqual({ name: 'step', gamma: 0.1, every: 10 });
    expect(sources['train.seed']).toBe('--set train.seed=7');
  });

  it('removes a value with null so that its default applies', async () => {
    const file = await write('c.yaml', `${MINIMAL}eval:\n  patch: [96, 96, 96]\n`);
    const { config } = await loadConfig(file, { set: ['eval.patch=null'] });
    expect(config.eval.patch).toEqual([112, 112, 80]);
  });

  it('applies overrides in order, later wins', async () => {
    const file = await write('c.yaml', MINIMAL);
    const { config } = await loadConfig(file, { set: ['train.seed=1', 'train.seed=2'] });
    expect(config.train.seed).toBe(2);
  });

  it('reports wrong types and unknown paths like any other key, naming the --set', async () => {
    const file = await write('c.yaml', MINIMAL);
    const error = await failure(file, [
      'train.seed=abc',
      'method.nmae=bcp',
      'train.stages.selftrain.optimiser.lr=1',
    ]);
    expect(error.message.split('\n').slice(1)).toEqual([
      "  --set method.nmae=bcp: method.nmae: unknown key (did you mean 'name'?)",
      '  --set train.seed=abc: train.seed: expected an integer, got string "abc"',
      "  --set train.stages.selftrain.optimiser.lr=1: train.stages.selftrain.optimiser: unknown key (did you mean 'optimizer'?)",
    ]);
  });

  it('rejects malformed overrides together with the schema problems', async () => {
    const file = await write('c.yaml', MINIMAL);
    const error = await failure(file, [
      'train.seed',
      'a..b=1',
      'extends=x.yaml',
      'train.seed=[1',
      'model.numClasses=1',
    ]);
    expect(error.problems.map((p) => [p.source, p.path, p.message.split(':')[0]])).toEqual([
      ['--set', undefined, 'expected key.path=value, got "train.seed"'],
      [
        '--set a..b=1',
        undefined,
        'expected a key path of names separated by dots (e.g. train.seed), got "a..b"',
      ],
      ['--set extends=x.yaml', 'extends', 'cannot be set with --set (name the parent in a file)'],
      ['--set train.seed=[1', 'train.seed', 'YAML syntax error'],
      ['--set model.numClasses=1', 'model.numClasses', 'expected an integer of at least 2, got 1'],
    ]);
  });

  it('cannot execute code through a value', async () => {
    const file = await write('c.yaml', MINIMAL);
    const error = await failure(file, ['method.name=!!js/function "function () { return 1 }"']);
    expect(error.message).toContain('YAML tag not allowed');
  });
});

describe('resolved config round trip', () => {
  it('writes YAML that loads back to the same config from another folder', async () => {
    const file = await write(
      'configs/c.yaml',
      'run: {name: rt}\nmethod: {name: cpam}\ndata:\n  dataset: ../d\n  splits: {val: v.list}\n',
    );
    const { config } = await loadConfig(file, { set: ['train.seed=5'] });
    const copy = await write('runs/demo/config.yaml', configToYaml(config));
    const again = await loadConfig(copy);
    expect(again.config).toEqual(config);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('hostile config files', () => {
  it('refuses nesting deeper than MAX_CONFIG_DEPTH in JSON, YAML flow and block style and through aliases', async () => {
    const deep = 100_000;
    const json = await write(
      'deep.json',
      `{"run": {"name": "x"}, "data": {"dataset": "d"}, "x": ${'['.repeat(deep)}${']'.repeat(deep)}}`,
    );
    const flow = await write('deep.yaml', `run: {name: x}\nx: ${'['.repeat(deep)}${']'.repeat(deep)}\n`);
    const block = await write(
      'block.yaml',
      `a:\n${Array.from({ length: 1200 }, (_, i) => `${' '.repeat(i + 1)}-\n`).join('')}`,
    );
    // Each alias repeats a 40-deep list, so the data is deeper than the text.
    const nest = (n: number, inner: string) => `${'['.repeat(n)}${inner}${']'.repeat(n)}`;
    const aliases = await write(
      'aliases.yaml',
      `a: &a ${nest(40, '1')}\nb: &b ${nest(40, '*a')}\nc: ${nest(40, '*b')}\n`,
    );
    const limit = `nested more than ${MAX_CONFIG_DEPTH} levels deep`;
    for (const file of [json, flow, block, aliases]) {
      const error = await failure(file);
      expect(error.message).toContain(path.basename(file));
      expect(error.message).toContain(limit);
    }
    expect((await failure(flow)).message).toMatch(/deep\.yaml:2:\d+: nested more than 64 levels deep/);
    const set = await failure(await write('c.yaml', MINIMAL), [`train.seed=${nest(deep, '1')}`]);
    expect(set.message).toContain(limit);
    // Nesting up to the limit is fine (the schema then reports the unknown key).
    const ok = await failure(
      await write('ok.json', `{"run": {"name": "x"}, "x": ${nest(MAX_CONFIG_DEPTH - 1, '')}}`),
    );
    expect(ok.message).not.toContain(limit);
  });

  it('refuses a device, a FIFO, a folder and an oversized file before reading them', async () => {
    const zero = path.join(dir, 'zero.yaml');
    await fs.symlink('/dev/zero', zero);
    expect((await failure(zero)).message).toMatch(
      /zero\.yaml: cannot read the config file: it is a device, not a regular file$/,
    );
    const fifo = path.join(dir, 'fifo.yaml');
    await promisify(execFile)('mkfifo', [fifo]);
    expect((await failure(fifo)).message).toMatch(
      /fifo\.yaml: cannot read the config file: it is a FIFO \(named pipe\), not a regular file$/,
    );
    const folder = path.join(dir, 'folder.yaml');
    await fs.mkdir(folder);
    expect((await failure(folder)).message).toMatch(
      /folder\.yaml: cannot read the config file: it is a folder/,
    );
    const big = await write('big.yaml', `${MINIMAL}# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    expect((await failure(big)).message).toMatch(
      new RegExp(
        `big\\.yaml: cannot read the config file: it has \\d+ bytes, more than the limit of ${MAX_CONFIG_BYTES}$`,
      ),
    );
  });
});

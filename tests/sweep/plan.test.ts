import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import {
  checkGrid,
  expandSweep,
  parseGridFlag,
  parseRowFlag,
  parseSeeds,
  readSweepRecord,
  runName,
  writeSweep,
} from '../../src/sweep/plan.js';
import { readSweepFile } from '../../src/sweep/sweep-file.js';
import { snapshot } from '../helpers/files.js';

/** A base config that validates without a dataset on disk. */
function baseConfig(dir: string, name = 'base'): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `run: { name: ${name} }`,
      'data: { dataset: ds, preset: la, patchSize: [32, 32, 16], labeled: { count: 2 } }',
      'model: { name: vnet, baseFilters: 2 }',
      'method: { name: cpam-trcm }',
      'train: { seed: 7, batch: { labeled: 2, unlabeled: 2 } }',
    ].join('\n'),
  );
  return file;
}

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'ssmis-sweep-plan-'));
}

describe('grid and seed flags', () => {
  it('splits values at top-level commas only', () => {
    expect(parseGridFlag('method.name=supervised,bcp,cpam-trcm')).toEqual({
      key: 'method.name',
      values: ['supervised', 'bcp', 'cpam-trcm'],
    });
    expect(parseGridFlag('data.patchSize=[32,32,16],[64, 64, 32]').values).toEqual([
      '[32,32,16]',
      '[64, 64, 32]',
    ]);
  });

  it('refuses malformed axes with one line naming the flag', () => {
    expect(() => parseGridFlag('method.name')).toThrow(/^--grid method.name: expected key=value1,value2/);
    expect(() => parseGridFlag('method.name=bcp,,cpam')).toThrow(/--grid .*non-empty values/);
    expect(() => parseGridFlag('method.name=bcp,bcp')).toThrow(/value "bcp" is listed twice/);
    expect(() => parseGridFlag('run.name=a,b')).toThrow(/set by the sweep itself/);
    expect(() => parseGridFlag('train.seed=1,2')).toThrow(/--seeds/);
    expect(() => parseGridFlag('method..name=a')).toThrow(/config key path/);
    expect(() =>
      checkGrid(
        [
          { key: 'a.b', values: ['1'] },
          { key: 'a.b', values: ['2'] },
        ],
        'sweep.yaml: grid',
      ),
    ).toThrow(/a.b is given on two grid axes/);
  });

  it('parses seed ranges and lists', () => {
    expect(parseSeeds('1-5')).toEqual([1, 2, 3, 4, 5]);
    expect(parseSeeds('1,3,7')).toEqual([1, 3, 7]);
    expect(parseSeeds('1-3, 9')).toEqual([1, 2, 3, 9]);
    expect(() => parseSeeds('5-1')).toThrow(/must run upwards/);
    expect(() => parseSeeds('1,x')).toThrow(/^--seeds 1,x: expected seeds/);
    expect(() => parseSeeds('1-3,2')).toThrow(/seed 2 is listed twice/);
    expect(() => parseSeeds('0-5000')).toThrow(/at most 1000/);
  });

  it('names runs deterministically and safely for folders', () => {
    expect(runName('la', { 'method.name': 'bcp' }, 1)).toBe('la-method.name_bcp-seed_1');
    expect(runName('la', { 'data.patchSize': '[32, 32, 16]' }, 2)).toBe('la-data.patchSize_32_32_16-seed_2');
    const long = runName('la', { 'method.unlabeledWeight': 'x'.repeat(200) }, 3);
    expect(long.length).toBe(100);
    expect(long).toBe(runName('la', { 'method.unlabeledWeight': 'x'.repeat(200) }, 3));
    expect(long).not.toBe(runName('la', { 'method.unlabeledWeight': 'x'.repeat(201) }, 3));
  });
});

describe('expandSweep and writeSweep', () => {
  it('expands the cartesian product of the axes times the seeds into resolved run configs', async () => {
    const dir = tmp();
    const out = path.join(dir, 'sweep');
    const plan = await expandSweep({
      config: baseConfig(dir),
      grid: [parseGridFlag('method.name=supervised,bcp'), parseGridFlag('data.labeled.count=2,3')],
      seeds: [1, 2],
      set: ['train.stages.selftrain.iterations=5'],
      out,
    });
    expect(plan.runs.map((r) => r.name)).toEqual([
      'base-method.name_supervised-data.labeled.count_2-seed_1',
      'base-method.name_supervised-data.labeled.count_2-seed_2',
      'base-method.name_supervised-data.labeled.count_3-seed_1',
      'base-method.name_supervised-data.labeled.count_3-seed_2',
      'base-method.name_bcp-data.labeled.count_2-seed_1',
      'base-method.name_bcp-data.labeled.count_2-seed_2',
      'base-method.name_bcp-data.labeled.count_3-seed_1',
      'base-method.name_bcp-data.labeled.count_3-seed_2',
    ]);
    const run = plan.runs[5];
    expect(run.config.method.name).toBe('bcp');
    expect(run.config.data.labeled).toEqual({ count: 2 });
    expect(run.config.train.seed).toBe(2);
    expect(run.config.train.stages.selftrain.iterations).toBe(5);
    expect(run.config.run.outputDir).toBe(path.join(out, 'runs'));
    expect(run.runDir).toBe(path.join(out, 'runs', run.name));
    expect(await writeSweep(plan)).toBe(true);
    // The written config is what the run trains: loading it gives the run's config.
    expect((await loadConfig(run.configFile)).config).toEqual(run.config);
    const record = await readSweepRecord(out);
    expect(record?.runs).toHaveLength(8);
    expect(record?.runs[5]).toEqual({
      name: run.name,
      seed: 2,
      assignments: { 'method.name': 'bcp', 'data.labeled.count': '2' },
    });
  });

  it('keeps the base seed without --seeds, and the default folder is <outputDir>/sweeps/<name>', async () => {
    const dir = tmp();
    const plan = await expandSweep({
      config: baseConfig(dir),
      grid: [],
      seeds: null,
      set: [`run.outputDir=${dir}/r`],
    });
    expect(plan.runs.map((r) => r.name)).toEqual(['base-seed_7']);
    expect(plan.paths.dir).toBe(path.join(dir, 'r', 'sweeps', 'base'));
  });

  it('names the run whose config is invalid and writes nothing', async () => {
    const dir = tmp();
    const out = path.join(dir, 'sweep');
    await expect(
      expandSweep({
        config: baseConfig(dir),
        grid: [parseGridFlag('method.name=bcp,nope')],
        seeds: [1],
        set: [],
        out,
      }),
    ).rejects.toThrow(/^sweep run base-method.name_nope-seed_1 \(method.name=nope, seed 1\): /);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses values that give the same run name', async () => {
    const dir = tmp();
    await expect(
      expandSweep({
        config: baseConfig(dir),
        grid: [parseGridFlag('run.description=a b,a/b')],
        seeds: [1],
        set: [],
        out: path.join(dir, 's'),
      }),
    ).rejects.toThrow(/give the same run name/);
  });

  it('continues the same sweep and refuses another one in the folder, leaving its files byte-identical', async () => {
    const dir = tmp();
    const out = path.join(dir, 'sweep');
    const spec = {
      config: baseConfig(dir),
      grid: [parseGridFlag('method.name=supervised,bcp')],
      seeds: [1],
      set: [],
      out,
    };
    expect(await writeSweep(await expandSweep(spec))).toBe(true);
    const before = snapshot(out);
    expect(await writeSweep(await expandSweep(spec))).toBe(false);
    expect(snapshot(out)).toEqual(before);
    await expect(writeSweep(await expandSweep({ ...spec, seeds: [1, 2] }))).rejects.toThrow(
      /holds another sweep \(it has no run base-method.name_supervised-seed_2\)/,
    );
    await expect(
      writeSweep(await expandSweep({ ...spec, set: ['train.seed=3', 'model.baseFilters=4'] })),
    ).rejects.toThrow(
      /configs\/base-method.name_supervised-seed_1.yaml differs from what this sweep would write/,
    );
    expect(snapshot(out)).toEqual(before);
  });
});

describe('named rows', () => {
  it('parses --row flags and refuses malformed ones with one line naming the flag', () => {
    expect(parseRowFlag('upper:data.labeled.count=null,data.patchSize=[32,32,16]')).toEqual({
      name: 'upper',
      set: ['data.labeled.count=null', 'data.patchSize=[32,32,16]'],
    });
    expect(parseRowFlag('plain:')).toEqual({ name: 'plain', set: [] });
    expect(() => parseRowFlag('upper')).toThrow(/^--row upper: expected name:key=value/);
    expect(() => parseRowFlag('a b:method.name=bcp')).toThrow(/row name "a b": expected letters/);
    expect(() => parseRowFlag('x:method.name')).toThrow(/row x: expected key=value, got "method.name"/);
    expect(() => parseRowFlag('x:run.name=y')).toThrow(/run.name is set by the sweep itself/);
    expect(() => parseRowFlag('x:train.seed=3')).toThrow(/give seeds with --seeds/);
  });

  it('expands rows × grid × seeds (rows need not form a product), the row in every run name', async () => {
    const dir = tmp();
    const out = path.join(dir, 'sweep');
    const plan = await expandSweep({
      config: baseConfig(dir),
      rows: [
        { name: 'stage1', set: ['train.stages.selftrain.enabled=false'] },
        { name: 'bcp', set: ['method.name=bcp'] },
        {
          name: 'upper',
          set: [
            'method.name=supervised',
            'data.labeled.count=null',
            'data.labeled.percent=100',
            'train.batch.unlabeled=0',
          ],
        },
      ],
      grid: [parseGridFlag('model.baseFilters=2,4')],
      seeds: [1, 2],
      set: [],
      out,
    });
    expect(plan.runs).toHaveLength(12);
    expect(plan.runs.slice(0, 4).map((r) => r.name)).toEqual([
      'base-stage1-model.baseFilters_2-seed_1',
      'base-stage1-model.baseFilters_2-seed_2',
      'base-stage1-model.baseFilters_4-seed_1',
      'base-stage1-model.baseFilters_4-seed_2',
    ]);
    const upper = plan.runs[11];
    expect(upper.name).toBe('base-upper-model.baseFilters_4-seed_2');
    expect(upper.row).toBe('upper');
    expect(upper.config.method.name).toBe('supervised');
    expect(upper.config.data.labeled).toEqual({ percent: 100 });
    expect(upper.config.train.batch.unlabeled).toBe(0);
    expect(upper.config.model.baseFilters).toBe(4);
    expect(plan.runs[0].config.train.stages.selftrain.enabled).toBe(false);
    expect(plan.runs[0].config.method.name).toBe('cpam-trcm');
    expect(plan.runs[5].config.method.name).toBe('bcp');
    expect(await writeSweep(plan)).toBe(true);
    const record = await readSweepRecord(out);
    expect(record?.rows?.map((r) => r.name)).toEqual(['stage1', 'bcp', 'upper']);
    expect(record?.runs[11]).toEqual({
      name: upper.name,
      row: 'upper',
      seed: 2,
      assignments: { 'model.baseFilters': '4' },
    });
    await expect(
      expandSweep({
        config: baseConfig(dir),
        rows: [{ name: 'bad', set: ['method.name=nope'] }],
        grid: [],
        seeds: [1],
        set: [],
        out: path.join(dir, 'bad'),
      }),
    ).rejects.toThrow(/^sweep run base-bad-seed_1 \(row bad, seed 1\): /);
    await expect(
      expandSweep({
        config: baseConfig(dir),
        rows: [
          { name: 'a', set: [] },
          { name: 'a', set: ['method.name=bcp'] },
        ],
        grid: [],
        seeds: [1],
        set: [],
        out: path.join(dir, 'twice'),
      }),
    ).rejects.toThrow(/row a is given twice/);
  });

  it('writeSweep with addRuns continues a sweep that grew, and still refuses one that lost a run', async () => {
    const dir = tmp();
    const out = path.join(dir, 'sweep');
    const spec = {
      config: baseConfig(dir),
      rows: [{ name: 'sup', set: ['method.name=supervised'] }],
      grid: [],
      seeds: [1],
      set: [],
      out,
    };
    expect(await writeSweep(await expandSweep(spec))).toBe(true);
    const first = readFileSync(path.join(out, 'configs', 'base-sup-seed_1.yaml'));
    const grown = await expandSweep({
      ...spec,
      rows: [...spec.rows, { name: 'bcp', set: ['method.name=bcp'] }],
      seeds: [1, 2],
    });
    // Without the option a grown plan is another sweep (the default stays strict).
    await expect(writeSweep(grown)).rejects.toThrow(/holds another sweep/);
    expect(await writeSweep(grown, { addRuns: true })).toBe(false);
    expect((await readSweepRecord(out))?.runs.map((r) => r.name)).toEqual([
      'base-sup-seed_1',
      'base-sup-seed_2',
      'base-bcp-seed_1',
      'base-bcp-seed_2',
    ]);
    expect(readFileSync(path.join(out, 'configs', 'base-sup-seed_1.yaml'))).toEqual(first);
    const before = snapshot(out);
    await expect(writeSweep(await expandSweep(spec), { addRuns: true })).rejects.toThrow(
      /holds another sweep \(it has the run base-sup-seed_2, which this sweep does not\)/,
    );
    expect(snapshot(out)).toEqual(before);
  });
});

describe('sweep files', () => {
  it('reads a sweep file: the base config relative to it, the grid, seeds, set, out and Slurm resources', async () => {
    const dir = tmp();
    baseConfig(dir);
    const file = path.join(dir, 'sweep.yaml');
    writeFileSync(
      file,
      [
        'config: base.yaml',
        'rows:',
        '  few: [data.labeled.count=2]',
        '  upper: [data.labeled.count=null, "data.labeled.percent=100"]',
        'grid:',
        '  method.name: [supervised, bcp]',
        '  data.patchSize: [[32, 32, 16]]',
        'seeds: 1-3',
        'set: [train.seed=1]',
        'out: somewhere',
        'parallel: 2',
        'slurm: { partition: gpu, time: "12:00:00", cpus: 8, mem: 32G, gpus: 1 }',
      ].join('\n'),
    );
    const sweep = await readSweepFile(file);
    expect(sweep.config).toBe(path.join(dir, 'base.yaml'));
    expect(sweep.rows).toEqual([
      { name: 'few', set: ['data.labeled.count=2'] },
      { name: 'upper', set: ['data.labeled.count=null', 'data.labeled.percent=100'] },
    ]);
    expect(sweep.grid).toEqual([
      { key: 'method.name', values: ['supervised', 'bcp'] },
      { key: 'data.patchSize', values: ['[32,32,16]'] },
    ]);
    expect(sweep.seeds).toEqual([1, 2, 3]);
    expect(sweep.out).toBe(path.resolve('somewhere'));
    expect(sweep.slurm).toEqual({ partition: 'gpu', time: '12:00:00', cpus: 8, mem: '32G', gpus: '1' });
  });

  it('names the file and the field of a mistake', async () => {
    const dir = tmp();
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'config: base.yaml\ngrid: { method.name: bcp }\n');
    await expect(readSweepFile(file)).rejects.toThrow(new RegExp(`^${file}: field "grid.method.name": `));
    writeFileSync(file, 'config: base.yaml\nsedes: 1-3\n');
    await expect(readSweepFile(file)).rejects.toThrow(/field "\(top level\)": .*sedes/);
    writeFileSync(file, 'config: base.yaml\nseeds: 3-1\n');
    await expect(readSweepFile(file)).rejects.toThrow(/field "seeds": the range 3-1 must run upwards/);
    writeFileSync(file, 'config: base.yaml\nrows: { "a/b": [method.name=bcp] }\n');
    await expect(readSweepFile(file)).rejects.toThrow(/rows: row name "a\/b": expected letters/);
    writeFileSync(file, 'config: base.yaml\nslurm: { cpus: 0 }\n');
    await expect(readSweepFile(file)).rejects.toThrow(/field "slurm": cpus: /);
    writeFileSync(file, 'config: base.yaml\nslurm: { partition: "gpu\\n#SBATCH --x" }\n');
    await expect(readSweepFile(file)).rejects.toThrow(/partition: expected a partition name/);
  });
});

/**
 * The shipped ablation and sweep configs (configs/ablation/): what each one sets, and that each trains two
 * self-training iterations on phantoms of its dataset (synth → prepare, the way a user makes a dataset), shrunk by
 * `--set` to a tiny network and patch (everything else as shipped: method, mixes, weights, schedules, selection).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type SsmisConfig } from '../../src/config/index.js';
import { prepareDataset } from '../../src/data/prepare/index.js';
import type { PresetDataset } from '../../src/data/prepare/splits.js';
import { synthesize } from '../../src/data/synth/index.js';
import { train } from '../../src/train/train.js';

const CONFIGS = new URL('../../configs/', import.meta.url).pathname;
const load = async (file: string) => (await loadConfig(path.join(CONFIGS, file))).config;

/** Every config under configs/ablation/ (subfolders included), relative to configs/. */
function ablationFiles(dir = 'ablation'): string[] {
  return readdirSync(path.join(CONFIGS, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return ablationFiles(rel);
    return entry.name.endsWith('.yaml') ? [rel] : [];
  });
}

const FILES = ablationFiles();
const MIX_ROWS: [string, string[]][] = [
  ['ablation/la-5pct-bcp.yaml', ['lu', 'ul']],
  ['ablation/la-5pct-bcp-ll.yaml', ['lu', 'ul', 'll']],
  ['ablation/la-5pct-bcp-uu.yaml', ['lu', 'ul', 'uu']],
  ['ablation/la-5pct-cpam.yaml', ['lu', 'ul', 'll', 'uu']],
  ['ablation/la-5pct-cpam-trcm.yaml', ['lu', 'ul', 'll', 'uu']],
];
const TRCM_ROWS = ['la-5pct', 'brats2019-10pct', 'pancreas-nih-20pct'];
const GAMMAS = [0.1, 0.25, 0.5, 1, 2];

/** The config with `run.name`, `method.unlabeledWeight` and `method.mixes` set as `other`'s. */
function withMethodOf(config: SsmisConfig, other: SsmisConfig): SsmisConfig {
  return {
    ...config,
    run: { ...config.run, name: other.run.name },
    method: { ...config.method, unlabeledWeight: other.method.unlabeledWeight, mixes: other.method.mixes },
  };
}

describe('configs/ablation: what each file reproduces', () => {
  it('holds the mix ablation, the TRCM ablation and the γ sweep, and nothing else', () => {
    const expected = [
      ...MIX_ROWS.map(([file]) => file),
      ...TRCM_ROWS.filter((d) => d !== 'la-5pct').flatMap((d) => [
        `ablation/${d}-cpam.yaml`,
        `ablation/${d}-cpam-trcm.yaml`,
      ]),
      ...GAMMAS.map((u) => `ablation/gamma-sweep/la-5pct-u${u}.yaml`),
    ];
    expect([...FILES].sort()).toEqual(expected.sort());
  });

  it('mix ablation, LA 5 %: the rows differ from the shipped bcp / cpam / cpam-trcm configs only in mixes', async () => {
    const bcp = await load('la-5pct-bcp.yaml');
    const cpam = await load('la-5pct-cpam.yaml');
    const full = await load('la-5pct.yaml');
    const names = new Set<string>();
    for (const [file, mixes] of MIX_ROWS) {
      const row = await load(file);
      expect(row.method.mixes, file).toEqual(mixes);
      names.add(row.run.name);
      const base = file.endsWith('-bcp.yaml') ? bcp : file.endsWith('-trcm.yaml') ? full : cpam;
      expect(withMethodOf(base, row), file).toEqual(row);
    }
    expect(names.size).toBe(MIX_ROWS.length);
  });

  it('TRCM ablation: CPAM alone and CPAM + TRCM for LA, BraTS and Pancreas', async () => {
    for (const dataset of TRCM_ROWS) {
      const on = await load(`ablation/${dataset}-cpam-trcm.yaml`);
      const off = await load(`ablation/${dataset}-cpam.yaml`);
      const main = await load(`${dataset}.yaml`);
      expect(on.method.name, dataset).toBe('cpam-trcm');
      expect(off.method.name, dataset).toBe('cpam');
      // TRCM on is the shipped main config.
      expect({ ...on, run: main.run, method: { ...on.method, mixes: undefined } }).toEqual(main);
    }
    // BraTS without TRCM follows BraTS_CPAM_train.py: step schedule and the 0.95 × best rule (Q6, Q7).
    const bratsOff = await load('ablation/brats2019-10pct-cpam.yaml');
    expect(bratsOff.train.stages.selftrain.schedule).toEqual({ name: 'step', gamma: 0.1, every: 2500 });
    expect(bratsOff.train.validation.selection).toBe('ratio95');
    // Pancreas has no CPAM-only script: only the method differs.
    const pancreasOn = await load('ablation/pancreas-nih-20pct-cpam-trcm.yaml');
    const pancreasOff = await load('ablation/pancreas-nih-20pct-cpam.yaml');
    expect({ ...pancreasOff, run: pancreasOn.run, method: pancreasOn.method }).toEqual(pancreasOn);
  });

  it('γ sweep: LA 5 % CPAM + TRCM with method.unlabeledWeight 0.1, 0.25, 0.5, 1, 2 and nothing else changed', async () => {
    const main = await load('la-5pct.yaml');
    for (const u of GAMMAS) {
      const config = await load(`ablation/gamma-sweep/la-5pct-u${u}.yaml`);
      expect(config.method.unlabeledWeight).toBe(u);
      expect(config.run.name).toBe(`sweep-la-5pct-u${u}`);
      expect(withMethodOf(main, config)).toEqual(config);
    }
  });
});

/** Tiny phantoms of each dataset, made once. */
const roots: string[] = [];
const datasets = new Map<PresetDataset, Promise<string>>();
const PHANTOMS: Partial<Record<PresetDataset, { size: number[]; cases: number; minSize?: number[] }>> = {
  la: { size: [40, 40, 24], cases: 8 },
  brats2019: { size: [32, 32, 32], cases: 8 },
  'pancreas-nih': { size: [48, 48, 32], cases: 6, minSize: [24, 24, 24] },
};

function phantoms(preset: PresetDataset): Promise<string> {
  let made = datasets.get(preset);
  if (made === undefined) {
    made = (async () => {
      const root = mkdtempSync(path.join(os.tmpdir(), `ssmis-ablation-${preset}-`));
      roots.push(root);
      const phantom = PHANTOMS[preset];
      if (phantom === undefined) throw new Error(`no phantoms for ${preset}`);
      const { size, cases, minSize } = phantom;
      await synthesize({ dataset: preset, out: path.join(root, 'raw'), cases, seed: 6, size });
      const prepared = await prepareDataset({
        dataset: preset,
        raw: path.join(root, 'raw'),
        out: path.join(root, 'ds'),
        seed: 6,
        minSize,
      });
      expect(prepared.failed).toEqual([]);
      return path.join(root, 'ds');
    })();
    datasets.set(preset, made);
  }
  return made;
}

afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

describe.each(FILES.map((f) => [f]))('%s on phantoms', (file) => {
  it('trains two self-training iterations with the shipped method settings, validating once', async () => {
    const shipped = await load(file);
    const dataset = await phantoms(shipped.data.preset as PresetDataset);
    const { config } = await loadConfig(path.join(CONFIGS, file), {
      set: [
        `run.outputDir=${path.join(path.dirname(dataset), 'runs')}`,
        `data.dataset=${dataset}`,
        'data.patchSize=[32, 32, 16]',
        'data.labeled.count=2',
        'model.baseFilters=2',
        'train.batch.labeled=2',
        'train.batch.unlabeled=2',
        // The configs differ in self-training only: stage 2 starts from the initial weights.
        'train.stages.pretrain.enabled=false',
        'train.stages.selftrain.initFrom=last',
        'train.stages.selftrain.carryOptimizer=false',
        'train.stages.selftrain.iterations=2',
        'train.validation.interval=2',
        'train.validation.strides=[16, 16, 8]',
        'train.checkpointInterval=2',
        'train.logInterval=1',
        'eval.patch=[32, 32, 16]',
        'eval.strides=[16, 16, 8]',
      ],
    });
    expect(config.method).toEqual(shipped.method);
    const result = await train(config);
    expect(result.interrupted).toBe(false);
    const rows = result.history.filter((r) => r.stage === 'selftrain');
    expect(rows.map((r) => r.iteration)).toEqual([1, 2]);
    const mixes =
      shipped.method.mixes ?? (shipped.method.name === 'bcp' ? ['lu', 'ul'] : ['lu', 'ul', 'll', 'uu']);
    const terms = mixes.map((m) => ({ lu: 'l', ul: 'u', ll: 'll', uu: 'uu' })[m]);
    for (const row of rows) {
      expect(Number.isFinite(row.loss)).toBe(true);
      // The log holds the terms of the configured mixes and no other.
      expect(Object.keys(row.parts).sort()).toEqual(['total', ...(terms as string[])].sort());
    }
  });
});

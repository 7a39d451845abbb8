import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNifti } from '../../src/io/nifti.js';
import { ssmis } from '../helpers/cli.js';

/** The user's path end to end, through the built CLI: synth → prepare → train → eval → predict. */
describe('ssmis pipeline on synthetic LA phantoms', () => {
  it('synth → prepare → train (both stages) → eval → predict', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'ssmis-pipeline-'));
    const raw = path.join(root, 'raw');
    const dataset = path.join(root, 'dataset');
    let r = await ssmis([
      'synth',
      '--dataset',
      'la',
      '--out',
      raw,
      '--cases',
      '7',
      '--seed',
      '2',
      '--size',
      '40,40,24',
    ]);
    expect(r.code, r.stderr).toBe(0);
    r = await ssmis(['prepare', 'la', '--raw', raw, '--out', dataset, '--min-size', '32,32,16']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('prepared 7, skipped 0 (already done), failed 0');
    r = await ssmis(['prepare', 'la', '--raw', raw, '--out', dataset, '--min-size', '32,32,16']);
    expect(r.stdout).toContain('prepared 0, skipped 7 (already done), failed 0');

    const config = path.join(root, 'tiny.yaml');
    writeFileSync(
      config,
      [
        'run: { name: tiny, outputDir: runs }',
        'data: { dataset: dataset, preset: la, patchSize: [32, 32, 16], labeled: { count: 2 } }',
        'model: { name: vnet, baseFilters: 2 }',
        'method: { name: cpam-trcm, startRange: valid }',
        'train:',
        '  batch: { labeled: 2, unlabeled: 2 }',
        '  stages: { pretrain: { iterations: 2 }, selftrain: { iterations: 2 } }',
        '  validation: { interval: 2, split: test, strides: [16, 16, 8] }',
        'eval: { patch: [32, 32, 16], strides: [16, 16, 8] }',
      ].join('\n'),
    );
    const runDir = path.join(root, 'runs', 'tiny');
    r = await ssmis(['train', '--config', config, '--set', `run.outputDir=${path.join(root, 'runs')}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('protocol strict');
    expect(r.stdout).toMatch(/Dice/);
    for (const file of [
      'config.yaml',
      'log.jsonl',
      'metrics.csv',
      'curves.svg',
      'checkpoints/best.safetensors',
    ]) {
      expect(existsSync(path.join(runDir, file)), file).toBe(true);
    }
    for (const file of ['cases.csv', 'summary.json', 'report.html']) {
      expect(existsSync(path.join(runDir, 'eval', file)), file).toBe(true);
    }

    const checkpoint = path.join(runDir, 'checkpoints', 'best.safetensors');
    r = await ssmis(['eval', '--checkpoint', checkpoint, '--json', '--out', path.join(root, 'eval2')]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.protocol).toBe('strict');

    const out = path.join(root, 'pred');
    const input = path.join(dataset, 'imagesTr', readdirSync(path.join(dataset, 'imagesTr'))[0]);
    r = await ssmis(['predict', '--checkpoint', checkpoint, '--input', input, '--output', out]);
    expect(r.code, r.stderr).toBe(0);
    const written = readdirSync(out).filter((f) => f.endsWith('.nii.gz'));
    expect(written.length).toBe(1);
    const [mask, image] = await Promise.all([readNifti(path.join(out, written[0])), readNifti(input)]);
    expect(mask.shape).toEqual(image.shape.slice(0, 3));
    expect(mask.affine).toEqual(image.affine);
  });

  it('train with a config whose dataset folder is missing fails before any work', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'ssmis-pipeline-'));
    const r = await ssmis([
      'train',
      '--config',
      new URL('../../configs/demo.yaml', import.meta.url).pathname,
      '--set',
      `data.dataset=${path.join(root, 'nothing')}`,
      '--set',
      `run.outputDir=${path.join(root, 'runs')}`,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `ssmis: data.dataset: folder ${path.join(root, 'nothing')} does not exist (prepare one with \`ssmis prepare\` or \`ssmis synth\` + \`ssmis prepare\`)`,
    );
    expect(existsSync(path.join(root, 'runs'))).toBe(false);
  });
});

import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerEval } from '../../src/cli/commands/eval.js';
import { configToYaml } from '../../src/config/index.js';
import { saveWeights } from '../../src/nn/checkpoint.js';
import { createModel } from '../../src/nn/create.js';
import { Rng } from '../../src/util/rng.js';
import {
  box,
  diagAffine,
  removeTempDirs,
  signImage,
  tempDir,
  tinyConfig,
  writeDataset,
  writeLabelFile,
} from '../eval/eval-helpers.js';
import { ssmis } from '../helpers/cli.js';
import { runCommand } from './run-command.js';

afterAll(removeTempDirs);

const SHAPE = [10, 10, 10];
const LABEL = box(SHAPE, [2, 2, 2], [5, 5, 5]);
const PRED = box(SHAPE, [3, 2, 2], [6, 5, 5]);

/** Prediction/label pair of the hand-computed cubes (see tests/eval/evaluate.test.ts), spacing (2, 1, 1). */
async function cubePair(): Promise<{ dir: string; pred: string; label: string }> {
  const dir = await tempDir('ssmis-cli-eval-');
  const affine = diagAffine([2, 1, 1]);
  const pred = path.join(dir, 'pred', 'case1.nii.gz');
  const label = path.join(dir, 'label', 'case1.nii.gz');
  await writeLabelFile(pred, PRED, SHAPE, affine);
  await writeLabelFile(label, LABEL, SHAPE, affine);
  return { dir, pred, label };
}

describe('ssmis eval --pred --label (in process)', () => {
  it('prints the header line and the table with the hand-computed metrics', async () => {
    const { pred, label } = await cubePair();
    const { code, stdout } = await runCommand(registerEval, ['eval', '--pred', pred, '--label', label]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^protocol strict .* · distances in mm · largest component off · model selection: not recorded/,
    );
    expect(lines[1]).toMatch(/^class\s+Dice/);
    expect(lines[3]).toMatch(
      /^class 1\s+0\.7500 ± 0\.0000\s+0\.6000 ± 0\.0000\s+2\.00 ± 0\.00\s+2\.00 ± 0\.00\s+0\.64 ± 0\.00\s+0\.64 ± 0\.00\s+1\s+0\s+0$/,
    );
    expect(lines[4]).toMatch(/^mean\s+0\.7500 ± 0\.0000/);
  });

  it('--json prints the summary only; --units voxel, --protocol paper and --lcc are honoured; --out writes files', async () => {
    const { dir, pred, label } = await cubePair();
    const out = path.join(dir, 'report');
    const { code, stdout, stderr } = await runCommand(registerEval, [
      'eval',
      '--pred',
      path.dirname(pred),
      '--label',
      path.dirname(label),
      '--protocol',
      'paper',
      '--lcc',
      '26',
      '--json',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({
      protocol: 'paper',
      units: 'voxel',
      largestComponent: { enabled: true, connectivity: 26 },
    });
    expect(summary.classes[0].metrics.asd.mean).toBeCloseTo(20 / 56, 12);
    expect(stderr).toContain('report.html');
    for (const f of ['cases.csv', 'summary.json', 'report.html'])
      expect(existsSync(path.join(out, f))).toBe(true);
    const vox = await runCommand(registerEval, [
      'eval',
      '--pred',
      pred,
      '--label',
      label,
      '--units',
      'voxel',
      '--json',
    ]);
    expect(JSON.parse(vox.stdout).classes[0].metrics.hd95.mean).toBeCloseTo(1, 12);
  });

  it('a class absent from both files is a note under the table, stray prediction values a warning', async () => {
    const { dir, label } = await cubePair();
    const stray = path.join(dir, 'stray.nii.gz');
    const values = PRED.slice();
    values[0] = 4;
    await writeLabelFile(stray, values, SHAPE, diagAffine([2, 1, 1]));
    const res = await runCommand(registerEval, [
      'eval',
      '--pred',
      stray,
      '--label',
      label,
      '--classes',
      '1,7',
    ]);
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[4]).toMatch(/^class 7(\s+missing){6}\s+1\s+1\s+1$/);
    expect(lines[5]).toMatch(/^mean\s+0\.7500 ± 0\.0000/);
    expect(lines[6]).toBe(
      'note: class 7: absent from both prediction and label in every case (1); reported as missing and left out of the means',
    );
    expect(res.stderr.trim().split('\n').at(-1)).toBe(
      'warning: case case1: the prediction holds value 4 (1 voxel) that the label does not have and that is not scored; ignored',
    );
  });

  it('bad input exits 2 with one clear line', async () => {
    const { dir, pred, label } = await cubePair();
    const moved = path.join(dir, 'moved.nii.gz');
    await writeLabelFile(moved, PRED, SHAPE, diagAffine([1, 1, 1]));
    const cases: [string[], RegExp][] = [
      [['eval'], /needs --checkpoint CK .* or --pred P --label L/],
      [['eval', '--pred', pred], /--pred and --label go together/],
      [
        ['eval', '--pred', moved, '--label', label],
        /moved\.nii\.gz and its label .*case1\.nii\.gz have different affines/,
      ],
      [['eval', '--pred', path.join(dir, 'nothing'), '--label', label], /prediction .*nothing: not found/],
      [
        ['eval', '--pred', pred, '--label', label, '--protocol', 'loose'],
        /--protocol: expected strict or paper/,
      ],
      [['eval', '--pred', pred, '--label', label, '--lcc', '5'], /--lcc: expected a connectivity/],
      [['eval', '--pred', pred, '--label', label, '--checkpoint', 'x'], /choose one mode/],
      [['eval', '--config', 'c.yaml'], /--config needs --checkpoint/],
      [
        ['eval', '--pred', pred, '--label', label, '--classes', '1,1,7'],
        /^ssmis: --classes 1,1,7: class 1 is listed more than once/,
      ],
      [
        ['eval', '--pred', pred, '--label', label, '--classes', '1,,2'],
        /--classes: expected positive integer/,
      ],
      [['eval', '--pred', path.join(dir, 'loop.nii.gz'), '--label', label], /loop\.nii\.gz: symlink loop/],
    ];
    symlinkSync(path.join(dir, 'loop.nii.gz'), path.join(dir, 'loop.nii.gz'));
    for (const [args, message] of cases) {
      const { code, stderr } = await runCommand(registerEval, args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(message);
    }
  });
});

describe('ssmis eval --checkpoint (in process)', () => {
  it('takes the config from the run folder, evaluates the split, writes <run>/eval', async () => {
    const dir = await tempDir('ssmis-cli-eval-');
    const shape = [12, 12, 12];
    const cases = ['t0', 't1', 't2'].map((id, n) => ({
      id,
      channels: [signImage(box(shape, [3, 2 + n, 2], [6, 5 + n, 5]))],
      label: box(shape, [2, 2 + n, 2], [5, 5 + n, 5]),
      shape,
      affine: diagAffine([1, 1, 1]),
    }));
    const dataset = await writeDataset(path.join(dir, 'ds'), cases, {
      train: ['t0'],
      val: ['t1'],
      test: ['t2'],
    });
    const config = tinyConfig(dataset);
    const run = path.join(dir, 'runs', 'tiny');
    const model = createModel(config, { name: 'cliEval', rng: new Rng(1) });
    try {
      await saveWeights(path.join(run, 'checkpoints', 'last.safetensors'), { models: { student: model } });
    } finally {
      model.dispose();
    }
    const { writeFileAtomic } = await import('../../src/util/atomic.js');
    await writeFileAtomic(path.join(run, 'config.yaml'), configToYaml(config));
    const checkpoint = path.join(run, 'checkpoints', 'last.safetensors');
    const res = await runCommand(registerEval, [
      'eval',
      '--checkpoint',
      checkpoint,
      '--set',
      'eval.savePredictions=false',
    ]);
    expect(res.stderr).not.toMatch(/ssmis:/);
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n')[0]).toMatch(
      /model selection: none, last weights \(last\.safetensors\) .* 1 case$/,
    );
    const summary = JSON.parse(readFileSync(path.join(run, 'eval', 'summary.json'), 'utf8'));
    expect(summary.source.split).toBe('test');
    expect(existsSync(path.join(run, 'eval', 'predictions'))).toBe(false);
    const val = await runCommand(registerEval, [
      'eval',
      '--checkpoint',
      checkpoint,
      '--split',
      'val',
      '--protocol',
      'paper',
      '--out',
      path.join(dir, 'val'),
      '--json',
    ]);
    expect(val.code).toBe(0);
    expect(JSON.parse(val.stdout)).toMatchObject({
      protocol: 'paper',
      units: 'voxel',
      source: { split: 'val' },
    });
    const bad = await runCommand(registerEval, ['eval', '--checkpoint', checkpoint, '--split', 'train']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--split: expected test or val/);
  });
});

// End-to-end through bin/ssmis.js (the built CLI).
describe('ssmis eval (built CLI)', () => {
  it('prints the metrics of a NIfTI pair and exits 2 on a missing partner', async () => {
    const { dir, pred, label } = await cubePair();
    const ok = await ssmis(['eval', '--pred', pred, '--label', label]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/0\.7500 ± 0\.0000/);
    await writeLabelFile(path.join(dir, 'label', 'case2.nii.gz'), LABEL, SHAPE, diagAffine([2, 1, 1]));
    const missing = await ssmis(['eval', '--pred', path.dirname(pred), '--label', path.dirname(label)]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toMatch(
      /^ssmis: cases do not match: no prediction in .* for label case\(s\) case2$/,
    );
  });
});

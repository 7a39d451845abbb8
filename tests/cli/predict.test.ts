import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerPredict } from '../../src/cli/commands/predict.js';
import { readNifti, volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import { diagAffine, ROTATED, removeTempDirs, tempDir, tinyPredictRun } from '../eval/eval-helpers.js';
import { ssmis } from '../helpers/cli.js';
import { runCommand } from './run-command.js';

afterAll(removeTempDirs);

/** The checkpoint of {@link tinyPredictRun}. */
async function tinyRun(dir: string, preset: string): Promise<string> {
  return (await tinyPredictRun(dir, preset)).checkpoint;
}

describe('ssmis predict (in process)', () => {
  it('writes one mask per input in the input geometry and lists the files', async () => {
    const dir = await tempDir('ssmis-cli-predict-');
    const checkpoint = await tinyRun(dir, 'pancreas-nih');
    const input = path.join(dir, 'scans');
    const hu = Int16Array.from({ length: 18 * 16 * 10 }, (_, i) => ((i * 53) % 700) - 300);
    await writeNifti(path.join(input, 'ct1.nii.gz'), volumeFromArray(hu, [18, 16, 10], { affine: ROTATED }));
    await writeNifti(
      path.join(input, 'ct2_0000.nii'),
      volumeFromArray(hu, [18, 16, 10], { affine: diagAffine([0.7, 0.7, 2]) }),
    );
    const output = path.join(dir, 'masks');
    const res = await runCommand(registerPredict, [
      'predict',
      '--checkpoint',
      checkpoint,
      '--input',
      input,
      '--output',
      output,
      '--probabilities',
    ]);
    expect(res.stderr).toMatch(/predicted 2 cases into .*masks \(normalisation: preset pancreas-nih\)/);
    expect(res.code).toBe(0);
    const listed = res.stdout
      .trim()
      .split('\n')
      .map((l) => path.resolve(l));
    expect(listed).toEqual([
      path.join(output, 'ct1.nii.gz'),
      path.join(output, 'ct1_probabilities.nii.gz'),
      // A mask takes its input's ending (nnU-Net's names): ct2_0000.nii → ct2.nii.
      path.join(output, 'ct2.nii'),
      path.join(output, 'ct2_probabilities.nii.gz'),
    ]);
    for (const [name, source] of [
      ['ct1.nii.gz', 'ct1.nii.gz'],
      ['ct2.nii', 'ct2_0000.nii'],
    ]) {
      const mask = await readNifti(path.join(output, name));
      const src = await readNifti(path.join(input, source));
      expect(mask.shape).toEqual(src.shape);
      expect(mask.affine).toEqual(src.affine);
      expect(mask.header?.srow).toEqual(src.header?.srow);
      expect(mask.header?.quatern).toEqual(src.header?.quatern);
      expect(mask.header?.pixdim.slice(0, 4)).toEqual(src.header?.pixdim.slice(0, 4));
      expect(mask.header?.datatype).toBe(2);
    }
    const json = await runCommand(registerPredict, [
      'predict',
      '--checkpoint',
      checkpoint,
      '--input',
      path.join(input, 'ct1.nii.gz'),
      '--output',
      output,
      '--json',
      // ct1.nii.gz is already there from the first run.
      '--overwrite',
    ]);
    expect(JSON.parse(json.stdout).cases[0]).toMatchObject({ caseId: 'ct1', kind: 'image' });
  });

  it('bad input exits 2 with one line', async () => {
    const dir = await tempDir('ssmis-cli-predict-');
    const checkpoint = await tinyRun(dir, 'la');
    for (const [args, message] of [
      [
        ['predict', '--checkpoint', checkpoint, '--input', path.join(dir, 'nope'), '--output', dir],
        /--input .*nope: not found/,
      ],
      [
        ['predict', '--checkpoint', path.join(dir, 'x.safetensors'), '--input', dir, '--output', dir],
        /no run folder config/,
      ],
    ] as [string[], RegExp][]) {
      const res = await runCommand(registerPredict, args);
      expect(res.code).toBe(2);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(message);
    }
    const usage = await runCommand(registerPredict, ['predict', '--input', dir]);
    expect(usage.code).toBe(2);
  });
});

// End-to-end through bin/ssmis.js (the built CLI).
describe('ssmis predict (built CLI)', () => {
  it('predicts a NIfTI image into its geometry', async () => {
    const dir = await tempDir('ssmis-cli-predict-');
    const checkpoint = await tinyRun(dir, 'la');
    const input = path.join(dir, 'img.nii.gz');
    await writeNifti(
      input,
      volumeFromArray(
        new Float32Array(12 * 12 * 12).map((_, i) => i % 7),
        [12, 12, 12],
        { affine: ROTATED },
      ),
    );
    const res = await ssmis([
      'predict',
      '--checkpoint',
      checkpoint,
      '--input',
      input,
      '--output',
      path.join(dir, 'out'),
    ]);
    expect(res.code).toBe(0);
    const mask = await readNifti(path.join(dir, 'out', 'img.nii.gz'));
    expect(mask.affine).toEqual((await readNifti(input)).affine);
  });
});

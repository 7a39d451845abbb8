import { describe, expect, it } from 'vitest';
import { ssmis } from '../helpers/cli.js';

describe('ssmis CLI', () => {
  it('--help lists every command', async () => {
    const { code, stdout } = await ssmis(['--help']);
    expect(code).toBe(0);
    for (const command of [
      'train',
      'eval',
      'predict',
      'prepare',
      'synth',
      'demo',
      'info',
      'inspect',
      'validate',
    ]) {
      expect(stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
  });

  it('info reports the pure-JS cpu backend and why the native ones are absent', async () => {
    const { code, stdout } = await ssmis(['info']);
    expect(code).toBe(0);
    expect(stdout).toContain('backend: cpu (pure JavaScript)');
    expect(stdout).toContain('not used: @tensorflow/tfjs-node: package not installed');
    expect(stdout).toContain('not used: @tensorflow/tfjs-node-gpu: package not installed');
    const json = await ssmis(['info', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ backend: 'cpu', tfjs: '4.22.0' });
  });

  it('an explicitly requested native backend that cannot load is an error naming the package', async () => {
    const { code, stderr } = await ssmis(['info', '--backend', 'tensorflow-gpu']);
    expect(code).toBe(1);
    expect(stderr).toContain('npm install @tensorflow/tfjs-node-gpu@4.22.0');
    expect(stderr).toContain('CUDA 11.2 and cuDNN 8.1');
    expect(stderr).not.toContain('    at ');
  });

  it('an unknown command is a usage error with exit code 2', async () => {
    const { code, stderr } = await ssmis(['frobnicate']);
    expect(code).toBe(2);
    expect(stderr).toContain("unknown command 'frobnicate'");
  });
});

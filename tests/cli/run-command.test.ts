/**
 * The in-process command runner of the CLI tests maps failures with the product's own rule (`src/cli/exit.ts`),
 * so a command tested through it exits and prints exactly as under `runCli`.
 */
import { Writable } from 'node:stream';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerEval } from '../../src/cli/commands/eval.js';
import { TrainExit } from '../../src/cli/commands/train.js';
import { exitCodeOf, reportCliFailure } from '../../src/cli/exit.js';
import { runCli } from '../../src/cli/main.js';
import { InputError, SsmisError } from '../../src/util/errors.js';
import { runCommand } from './run-command.js';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('the CLI exit-code rule', () => {
  it('maps each kind of failure to its exit code', () => {
    expect(exitCodeOf(new InputError('bad'))).toBe(2);
    expect(exitCodeOf(new SsmisError('failed'))).toBe(1);
    expect(exitCodeOf(new SsmisError('bad', 2))).toBe(2);
    expect(exitCodeOf(new Error('bug'))).toBe(1);
    expect(exitCodeOf('a string')).toBe(1);
    expect(exitCodeOf(new TrainExit(130))).toBe(130);
    expect(exitCodeOf(new CommanderError(0, 'commander.helpDisplayed', '(help)'))).toBe(0);
    expect(exitCodeOf(new CommanderError(1, 'commander.unknownOption', 'unknown option'))).toBe(2);
  });

  it('prints one line, the stack only when verbose, nothing for an interruption', () => {
    const quiet = { out: new Sink(), err: new Sink(), verbose: false };
    expect(reportCliFailure(new InputError('x.yaml: bad field'), quiet)).toBe(2);
    expect(quiet.err.text).toBe('ssmis: x.yaml: bad field\n');
    const verbose = { out: new Sink(), err: new Sink(), verbose: true };
    expect(reportCliFailure(new Error('boom'), verbose)).toBe(1);
    expect(verbose.err.text).toMatch(/^ssmis: boom\nError: boom\n\s+at /);
    const interrupted = { out: new Sink(), err: new Sink(), verbose: false };
    expect(reportCliFailure(new TrainExit(130), interrupted)).toBe(130);
    expect(interrupted.err.text).toBe('');
  });
});

describe('runCommand (the tests helper) and runCli agree', () => {
  it('an interrupted command exits with its own code and prints nothing', async () => {
    const res = await runCommand(
      (program) => {
        program.command('stop').action(() => {
          throw new TrainExit(130);
        });
      },
      ['stop'],
    );
    expect(res).toEqual({ code: 130, stdout: '', stderr: '' });
  });

  it('a real command failure gives the same code and the same line in both', async () => {
    const args = ['eval', '--pred', '/nonexistent/ssmis-pred', '--label', '/nonexistent/ssmis-label'];
    const out = new Sink();
    const err = new Sink();
    const code = await runCli(args, { out, err });
    const res = await runCommand(registerEval, args);
    expect(code).toBe(2);
    expect(res.code).toBe(code);
    expect(res.stderr).toBe(err.text);
    expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

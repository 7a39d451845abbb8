import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeFound, displayFile, editDistance, suggest } from '../../src/config/errors.js';
import { ConfigError, formatProblem } from '../../src/config/index.js';
import { InputError } from '../../src/util/errors.js';

describe('problem formatting', () => {
  it('joins location, key path and message', () => {
    expect(formatProblem({ source: 'a.yaml', path: 'x.y', message: 'expected 1, got 2' })).toBe(
      'a.yaml: x.y: expected 1, got 2',
    );
    expect(formatProblem({ source: 'a.yaml', line: 3, column: 7, message: 'YAML syntax error: bad' })).toBe(
      'a.yaml:3:7: YAML syntax error: bad',
    );
    expect(formatProblem({ path: 'x', message: 'm' })).toBe('x: m');
  });

  it('puts one problem on one line and several under a count', () => {
    const one = new ConfigError([{ source: 'a.yaml', path: 'x', message: 'm' }]);
    expect(one.message).toBe('a.yaml: x: m');
    expect(one).toBeInstanceOf(InputError);
    expect(one.name).toBe('ConfigError');
    const two = new ConfigError([
      { source: 'a.yaml', path: 'x', message: 'm' },
      { source: 'b.yaml', path: 'y', message: 'n' },
    ]);
    expect(two.message).toBe('2 problems in the configuration:\n  a.yaml: x: m\n  b.yaml: y: n');
    expect(two.problems).toHaveLength(2);
  });

  it('shows files relative to the working directory when inside it', () => {
    expect(displayFile(path.resolve('configs/la.yaml'))).toBe(path.join('configs', 'la.yaml'));
    expect(displayFile('/elsewhere/x.yaml')).toBe('/elsewhere/x.yaml');
  });

  it('describes found values with their type', () => {
    expect(describeFound('fast')).toBe('string "fast"');
    expect(describeFound(3)).toBe('number 3');
    expect(describeFound(false)).toBe('boolean false');
    expect(describeFound(null)).toBe('null');
    expect(describeFound(undefined)).toBe('nothing');
    expect(describeFound([1, 2])).toBe('a list [1,2]');
    expect(describeFound({ a: 1 })).toBe('a mapping {"a":1}');
    expect(describeFound('x'.repeat(100))).toBe(`string "${'x'.repeat(56)}...`);
  });
});

describe('suggestions', () => {
  it('counts a transposition as one edit, case-insensitively', () => {
    expect(editDistance('nmae', 'name')).toBe(1);
    expect(editDistance('patchsize', 'patchSize')).toBe(0);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests only plausible typos', () => {
    expect(suggest('nmae', ['name', 'maskRatio'])).toBe('name');
    expect(suggest('optimiser', ['optimizer', 'schedule'])).toBe('optimizer');
    expect(suggest('iter', ['iterations', 'enabled'])).toBe('iterations');
    expect(suggest('xy', ['lr', 'eps'])).toBeUndefined();
    expect(suggest('banana', ['name', 'dataset'])).toBeUndefined();
  });
});

/** The config key `method.mixes`: which mixes each method accepts, as one clear problem naming the key. */
import { describe, expect, it } from 'vitest';
import { ConfigError, configReferenceMarkdown, parseConfig } from '../../src/config/index.js';
import { InputError } from '../../src/util/errors.js';

const minimal = (method: Record<string, unknown>) => ({
  run: { name: 'mixes' },
  data: { dataset: 'data/la' },
  method,
});

/** The problems of a config that must fail, as `path: message` lines. */
function problems(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toBeInstanceOf(InputError);
    return (error as ConfigError).problems.map((p) => [p.path, p.message].filter(Boolean).join(': '));
  }
  throw new Error('expected the config to be rejected');
}

describe('method.mixes', () => {
  it('is left out by default (the method name is the preset) and kept as given for the copy-paste methods', () => {
    expect(parseConfig(minimal({})).method.mixes).toBe(undefined);
    expect(parseConfig(minimal({ name: 'bcp', mixes: ['lu', 'ul', 'll'] })).method.mixes).toEqual([
      'lu',
      'ul',
      'll',
    ]);
    expect(parseConfig(minimal({ name: 'cpam', mixes: ['uu'] })).method.mixes).toEqual(['uu']);
    expect(parseConfig(minimal({ name: 'cpam-trcm', mixes: ['ll', 'ul', 'lu'] })).method.mixes).toEqual([
      'll',
      'ul',
      'lu',
    ]);
  });

  it('is refused for supervised and mean-teacher, and for cpam-trcm without lu, ul and ll', () => {
    expect(problems(minimal({ name: 'supervised', mixes: ['lu', 'ul'] }))).toEqual([
      "method.mixes: expected no value for method 'supervised' (it has no copy-paste mixes), got [lu, ul]",
    ]);
    expect(problems(minimal({ name: 'mean-teacher', mixes: ['uu'] }))).toEqual([
      "method.mixes: expected no value for method 'mean-teacher' (it has no copy-paste mixes), got [uu]",
    ]);
    expect(problems(minimal({ name: 'cpam-trcm', mixes: ['lu', 'ul', 'uu'] }))).toEqual([
      "method.mixes: expected lu, ul, ll among the mixes of method 'cpam-trcm' (TRCM's reliability masks read the L-U, U-L and L-L predictions), got [lu, ul, uu]",
    ]);
  });

  it('must be a non-empty list of distinct mix names', () => {
    expect(problems(minimal({ name: 'cpam', mixes: [] }))).toEqual([
      "method.mixes: expected at least one mix for method 'cpam', got []",
    ]);
    expect(problems(minimal({ name: 'cpam', mixes: ['lu', 'll', 'lu'] }))).toEqual([
      "method.mixes: expected distinct mixes, got 'lu' twice in [lu, ll, lu]",
    ]);
    const unknown = problems(minimal({ name: 'bcp', mixes: ['lu', 'L-L'] }));
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatch(/^method\.mixes\[1\]: .*'lu'.*'ul'.*'ll'.*'uu'/);
  });

  it('is documented in the config reference with its per-method default', () => {
    const row = configReferenceMarkdown()
      .split('\n')
      .find((line) => line.startsWith('| `method.mixes` |'));
    expect(row).toContain('bcp: [lu, ul]');
    expect(row).toContain('cpam-trcm');
  });
});

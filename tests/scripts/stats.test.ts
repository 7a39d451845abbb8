import { describe, expect, it } from 'vitest';
import {
  formatMs,
  formatRate,
  formatRatio,
  formatTable,
  mean,
  median,
  sampleStd,
  timeMedian,
} from '../../scripts/lib/stats.mjs';

describe('stats helpers', () => {
  it('median of odd and even counts, and refuses an empty list', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(() => median([])).toThrow(/empty/);
  });

  it('mean and sample std (n − 1)', () => {
    expect(mean([])).toBeNull();
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    // Σ(x − 2.5)² = 5, / 3
    expect(sampleStd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(sampleStd([5])).toBe(0);
    expect(sampleStd([])).toBeNull();
  });

  it('timeMedian runs the warm-up untimed and the timed runs, calling after() for each', async () => {
    const calls: string[] = [];
    let n = 0;
    const result = await timeMedian(
      () => {
        calls.push(`run${n++}`);
      },
      { runs: 3, warmup: 2, after: (i) => calls.push(`after${i}`) },
    );
    expect(calls).toEqual(['run0', 'run1', 'run2', 'after0', 'run3', 'after1', 'run4', 'after2']);
    expect(result.times).toHaveLength(3);
    expect(result.median).toBe(median(result.times));
    await expect(timeMedian(() => {}, { runs: 0 })).rejects.toThrow(/runs/);
  });

  it('formats durations, rates and ratios', () => {
    expect(formatMs(0.5)).toBe('500 µs');
    expect(formatMs(12.34)).toBe('12.3 ms');
    expect(formatMs(250)).toBe('250 ms');
    expect(formatMs(4210)).toBe('4.21 s');
    expect(formatRate(2.5e6, 'voxels/s')).toBe('2.50 Mvoxels/s');
    expect(formatRate(12, 'B/s')).toBe('12.00 B/s');
    expect(formatRatio(1.234)).toBe('1.23×');
    expect(formatRatio(Number.NaN)).toBe('–');
  });

  it('formatTable pads text left and numbers right, with a dashed rule', () => {
    const text = formatTable(
      ['name', 'ms'],
      [
        ['a', '12.5 ms'],
        ['longer', 3],
        ['none', null],
      ],
    );
    expect(text).toBe(
      ['name         ms', '------  -------', 'a       12.5 ms', 'longer        3', 'none          –'].join(
        '\n',
      ),
    );
    expect(() => formatTable(['a', 'b'], [['x']])).toThrow(/1 cells/);
  });
});

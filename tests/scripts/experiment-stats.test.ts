import { describe, expect, it } from 'vitest';
import * as script from '../../scripts/lib/experiment-stats.mjs';
import * as scriptStats from '../../scripts/lib/stats.mjs';

/** The statistics live in the library (src/eval/stats.ts, tested in tests/eval/stats.test.ts); the scripts re-export
 * the compiled ones, so that the experiment report and `ssmis collect` cannot compute them two ways. */
describe('scripts/lib/experiment-stats.mjs', () => {
  it('re-exports the library functions from dist/', async () => {
    const dist = await import(new URL('../../dist/eval/stats.js', import.meta.url).href);
    expect(script.tQuantile).toBe(dist.tQuantile);
    expect(script.pairedDifference).toBe(dist.pairedDifference);
    expect(script.seedsToDetect).toBe(dist.seedsToDetect);
    expect(scriptStats.mean).toBe(dist.mean);
    expect(scriptStats.sampleStd).toBe(dist.sampleStd);
  });

  it('computes what the experiment report prints: a paired 95 % interval over seeds', () => {
    const d = script.pairedDifference({ 1: 0.7, 2: 0.8, 3: 0.9 }, { 1: 0.69, 2: 0.78, 3: 0.87 });
    expect(d.mean).toBeCloseTo(0.02, 12);
    expect(d.halfWidth).toBeCloseTo((4.3027 * 0.01) / Math.sqrt(3), 12);
  });
});

import { requireNumber } from '../util/args.js';

/**
 * Paper: Tarvainen & Valpola, "Mean teachers are better role models" (NeurIPS 2017).
 * The sigmoid ramp-up of the mean-teacher consistency weight (docs/equations.md §3.1; SSL4MIS
 * `ramps.sigmoid_rampup`): exp(−5·(1 − clip(t, 0, L)/L)²), and 1 when L = 0.
 */
export function sigmoidRampup(current: number, rampupLength: number): number {
  requireNumber('sigmoidRampup', 'current', current);
  requireNumber('sigmoidRampup', 'rampupLength', rampupLength, { min: 0 });
  if (rampupLength === 0) return 1;
  const t = Math.min(Math.max(current, 0), rampupLength);
  const phase = 1 - t / rampupLength;
  return Math.exp(-5 * phase * phase);
}

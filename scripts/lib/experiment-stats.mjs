// @ts-check
/**
 * Paired statistics over seeds for `scripts/experiment.mjs` (Student-t quantiles, the mean paired difference
 * with its 95 % confidence interval, the detectable difference): the library's own, `src/eval/stats.ts`, which
 * `ssmis collect` uses too, re-exported from the compiled `dist/` (`npm run build` first).
 */
import { loadDist } from './runtime.mjs';

const stats = await loadDist('eval/stats.js');

export const { tQuantile, pairedDifference, seedsToDetect } = stats;

/** @typedef {import('../../src/eval/stats.js').PairedDifference} PairedDifference */

/** Types of `experiment-stats.mjs`: the library's own, which it re-exports from `dist/`. */
export { type PairedDifference, pairedDifference, seedsToDetect, tQuantile } from '../../src/eval/stats.js';

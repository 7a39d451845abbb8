/**
 * Runs before every test file: the suite runs with the fast CPU kernels, as users get them, unless
 * `SSMIS_FAST_KERNELS=0` (CI runs the suite both ways, so the stock TF.js path stays tested).
 */
import { fastKernelsAllowedByEnv } from '../src/backend/kernels/index.js';
import { activateSuiteFastKernels } from './helpers/fast-kernels.js';

if (fastKernelsAllowedByEnv()) await activateSuiteFastKernels();

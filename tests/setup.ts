/**
 * Runs before every test file: the suite runs with the fast CPU kernels, as users get them, unless
 * `SSMIS_FAST_KERNELS=0` (CI runs the suite both ways, so the stock TF.js path stays tested).
 */
import {
  fastKernelsAllowedByEnv,
  fastKernelWorkersReady,
  registerFastKernels,
} from '../src/backend/kernels/index.js';

// The exact multiply-add kernels unless SSMIS_RELAXED_SIMD asks otherwise: their rounding does not depend on the
// hardware, and the relaxed ones are tested on their own (tests/backend/conv3d-paths.test.ts).
if (fastKernelsAllowedByEnv()) {
  registerFastKernels({ relaxedSimd: process.env.SSMIS_RELAXED_SIMD === undefined ? false : undefined });
  await fastKernelWorkersReady();
}

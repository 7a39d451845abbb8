/**
 * Runs before every test file: the suite runs with the fast CPU kernels, as users get them, unless
 * `SSMIS_FAST_KERNELS=0` (CI runs the suite both ways, issue 7).
 */
import {
  fastKernelsAllowedByEnv,
  fastKernelWorkersReady,
  registerFastKernels,
} from '../src/backend/kernels/index.js';

if (fastKernelsAllowedByEnv()) {
  registerFastKernels();
  await fastKernelWorkersReady();
}

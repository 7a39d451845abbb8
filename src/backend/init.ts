import { createRequire } from 'node:module';
import { requireBoolean, requireOneOf, requireOptions } from '../util/args.js';
import { SsmisError } from '../util/errors.js';
import {
  fastKernelsActive,
  fastKernelsAllowedByEnv,
  fastKernelsSupported,
  fastKernelWorkerCount,
  fastKernelWorkersReady,
  registerFastKernels,
  unregisterFastKernels,
} from './kernels/index.js';
import { tf } from './tf.js';

export type BackendChoice = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'cpu';
/** What TF.js calls the backend that ended up active. */
export type ActiveBackend = 'tensorflow-gpu' | 'tensorflow' | 'cpu';

export interface BackendInfo {
  /** The backend in use. */
  active: ActiveBackend;
  /** TF.js's own name of the backend (`tensorflow` for both native packages, `cpu` for pure JS). */
  tfBackendName: string;
  /** Why each backend tried before the active one is not in use (package → reason). */
  unavailable: Record<string, string>;
  /** The TF.js version. */
  tfjsVersion: string;
  /** The fast CPU kernels: whether they are in use (pure-JS cpu backend only), why not, and their threads. */
  fastKernels: { active: boolean; reason: string; workers: number };
}

const NATIVE_PACKAGES: Record<'tensorflow-gpu' | 'tensorflow', string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

/** First line of an import failure, without the long "Require stack" lists Node appends. */
function importFailureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return 'package not installed';
  if (message.includes('tfjs_binding.node')) {
    return 'package installed without its native binding (its install script could not download libtensorflow)';
  }
  return message.split('\n')[0];
}

/**
 * Loads a native backend package through a guarded dynamic import. The package registers a `tensorflow`
 * backend on the TF.js engine it was built against; if npm gave it a private copy of @tensorflow/tfjs
 * (version mismatch), the backend lands on another engine and is useless to us, so that is checked too.
 */
async function tryNative(choice: 'tensorflow-gpu' | 'tensorflow'): Promise<string | null> {
  const pkg = NATIVE_PACKAGES[choice];
  try {
    // A computed specifier keeps bundlers and tsc from requiring the optional package at build time.
    const specifier: string = pkg;
    await import(specifier);
  } catch (error) {
    return importFailureReason(error);
  }
  if (tf.findBackend('tensorflow') === null) {
    return `${pkg} loaded but registered its backend on another copy of @tensorflow/tfjs; install ${pkg}@${tf.version_core} to match`;
  }
  try {
    const ok = await tf.setBackend('tensorflow');
    if (!ok) return `${pkg} loaded but its backend failed to initialise`;
  } catch (error) {
    return importFailureReason(error);
  }
  return null;
}

/**
 * Chooses and initialises the TF.js backend. `auto` tries the CUDA package, then the native
 * CPU package, then the pure-JS `cpu` backend, and reports why the others were not used. An explicitly requested
 * native backend that cannot load is an error naming the package to install. The wasm backend is never used:
 * TF.js 4.22's wasm Conv3DBackpropInputV2 kernel returns wrong results (a missing term in its depth loop bound),
 * so conv3d input gradients and transposed convolutions would be wrong. `train`, `evaluate` and `predict` call it
 * themselves with the config's `backend` section; call it before using the networks directly.
 *
 * @param options - `backend`: `'auto'` (default), `'tensorflow-gpu'` (`@tensorflow/tfjs-node-gpu`),
 *   `'tensorflow'` (`@tensorflow/tfjs-node`) or `'cpu'`; `fastKernels` (default true): the fast WebAssembly CPU
 *   kernels on the pure-JS `cpu` backend.
 * @returns the active backend, why each backend tried before it is unavailable, the TF.js version and whether
 *   the fast kernels are in use.
 * @throws {@link InputError} when `options` is not an object, `backend` is not one of the four choices or
 *   `fastKernels` is not a boolean. {@link SsmisError} when an explicitly requested native backend cannot be
 *   loaded (naming the package to install).
 * @example
 * const info = await initBackend({ backend: 'auto' });
 * console.log(info.active, info.fastKernels.active, info.unavailable);
 */
export async function initBackend(
  options: { backend?: BackendChoice; fastKernels?: boolean } = {},
): Promise<BackendInfo> {
  requireOptions('initBackend', 'options', options);
  if (options.backend !== undefined)
    requireOneOf('initBackend', 'options.backend', options.backend, [
      'auto',
      'cpu',
      ...Object.keys(NATIVE_PACKAGES),
    ]);
  if (options.fastKernels !== undefined)
    requireBoolean('initBackend', 'options.fastKernels', options.fastKernels);
  const choice = options.backend ?? 'auto';
  const unavailable: Record<string, string> = {};
  const order: ActiveBackend[] =
    choice === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'cpu'] : [choice as ActiveBackend];
  for (const candidate of order) {
    if (candidate === 'cpu') {
      await tf.setBackend('cpu');
      await tf.ready();
      const fastKernels = await setupFastKernels(options.fastKernels ?? true);
      return {
        active: 'cpu',
        tfBackendName: tf.getBackend(),
        unavailable,
        tfjsVersion: tf.version_core,
        fastKernels,
      };
    }
    const reason = await tryNative(candidate);
    if (reason === null) {
      await tf.ready();
      const fastKernels = {
        active: false,
        reason: 'native backend (the fast kernels replace pure-JS cpu kernels only)',
        workers: 0,
      };
      return {
        active: candidate,
        tfBackendName: tf.getBackend(),
        unavailable,
        tfjsVersion: tf.version_core,
        fastKernels,
      };
    }
    unavailable[NATIVE_PACKAGES[candidate]] = reason;
    if (choice !== 'auto') {
      const pkg = NATIVE_PACKAGES[candidate];
      const needs =
        candidate === 'tensorflow-gpu' ? ' (it needs CUDA 11.2 and cuDNN 8.1 on the machine)' : '';
      throw new SsmisError(
        `backend '${candidate}' is not available: ${pkg}: ${reason}. Install it with \`npm install ${pkg}@${tf.version_core}\`${needs}, or use --backend auto|cpu.`,
      );
    }
  }
  /* c8 ignore next */
  throw new SsmisError('no TF.js backend could be initialised');
}

/**
 * Registers (or removes) the fast CPU kernels (`src/backend/kernels/`): WebAssembly SIMD convolutions on worker
 * threads and fused element-wise ops. Off with `backend.fastKernels: false` or `SSMIS_FAST_KERNELS=0`.
 */
async function setupFastKernels(wanted: boolean): Promise<BackendInfo['fastKernels']> {
  let reason = 'on';
  if (!wanted) reason = 'off (backend.fastKernels is false)';
  else if (!fastKernelsAllowedByEnv()) reason = 'off (SSMIS_FAST_KERNELS=0)';
  else if (!fastKernelsSupported())
    reason = 'unavailable (this Node.js lacks WebAssembly SIMD or shared memory)';
  if (reason !== 'on') {
    unregisterFastKernels();
    return { active: false, reason, workers: 0 };
  }
  registerFastKernels();
  await fastKernelWorkersReady();
  return { active: fastKernelsActive(), reason, workers: fastKernelWorkerCount() };
}

/** Installed version of an optional package, or null, without importing it. */
export function installedVersion(pkg: string): string | null {
  try {
    const require = createRequire(import.meta.url);
    const manifest = require(`${pkg}/package.json`) as { version?: string };
    return manifest.version ?? null;
  } catch {
    return null;
  }
}

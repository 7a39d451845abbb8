// @ts-check
/**
 * Backend set-up and machine description shared by the bench and the experiment scripts. Both run against the
 * compiled library in `dist/` (`npm run build` first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const DIST = new URL('../../dist/', import.meta.url);

/**
 * The modules of `dist/` the scripts load, by path, with the types of the sources they are compiled from.
 * @typedef {{
 *   'index.js': typeof import('../../src/index.js'),
 *   'backend/kernels/index.js': typeof import('../../src/backend/kernels/index.js'),
 *   'backend/kernels/runtime.js': typeof import('../../src/backend/kernels/runtime.js'),
 *   'backend/tf.js': typeof import('../../src/backend/tf.js'),
 *   'config/index.js': typeof import('../../src/config/index.js'),
 *   'data/synth/difficulty.js': typeof import('../../src/data/synth/difficulty.js'),
 *   'eval/stats.js': typeof import('../../src/eval/stats.js'),
 *   'infer/model.js': typeof import('../../src/infer/model.js'),
 *   'infer/sliding-window.js': typeof import('../../src/infer/sliding-window.js'),
 *   'nn/unet2d.js': typeof import('../../src/nn/unet2d.js'),
 *   'nn/vnet.js': typeof import('../../src/nn/vnet.js'),
 *   'sweep/local.js': typeof import('../../src/sweep/local.js'),
 *   'sweep/plan.js': typeof import('../../src/sweep/plan.js'),
 *   'sweep/run-state.js': typeof import('../../src/sweep/run-state.js'),
 *   'sweep/sweep-file.js': typeof import('../../src/sweep/sweep-file.js'),
 *   'train/state.js': typeof import('../../src/train/state.js'),
 *   'util/atomic.js': typeof import('../../src/util/atomic.js'),
 *   'util/rng.js': typeof import('../../src/util/rng.js'),
 * }} DistModules
 */

/**
 * Imports a module of `dist/` by its path (e.g. `index.js`), failing with the command that builds it.
 * @template {keyof DistModules} K
 * @param {K} rel
 * @returns {Promise<DistModules[K]>}
 */
export async function loadDist(rel) {
  const url = new URL(rel, DIST);
  if (!existsSync(url)) {
    throw new Error(`${url.pathname} not found: build the library first (npm run build)`);
  }
  return import(url.href);
}

/**
 * The active backend, and the fast kernels' module when the build has them (always when they are active).
 * @typedef {{ active: string, tfjsVersion: string } & (
 *   | { fastKernels: true, kernelWorkers: number, kernels: DistModules['backend/kernels/index.js'] }
 *   | { fastKernels: false, kernelWorkers: 0, kernels: DistModules['backend/kernels/index.js'] | null }
 * )} BackendSetup
 */

/**
 * Initialises the backend as `train` does, and on the pure-JS `cpu` backend activates the fast kernels
 * (WebAssembly SIMD convolutions on a worker pool) when the build has them, they are not already active (a later `initBackend` may register them
 * itself) and `SSMIS_FAST_KERNELS` does not turn them off, so that the numbers are what a user of the default
 * config (`backend.fastKernels: true`) gets. `SSMIS_FAST_KERNELS=0` measures the stock kernels.
 * @param {{ backend?: string }} [options] `backend` as given (e.g. `--backend`): `initBackend` checks it
 * @returns {Promise<BackendSetup>}
 */
export async function setupBackend(options = {}) {
  const { initBackend } = await loadDist('index.js');
  const info = await initBackend({
    backend: /** @type {import('../../src/index.js').BackendChoice} */ (options.backend ?? 'auto'),
  });
  /** @type {DistModules['backend/kernels/index.js'] | null} */
  let kernels = null;
  let fastKernels = false;
  let kernelWorkers = 0;
  if (info.active === 'cpu' && existsSync(new URL('backend/kernels/index.js', DIST))) {
    try {
      kernels = await loadDist('backend/kernels/index.js');
    } catch (error) {
      console.warn(`fast kernels not loadable: ${error instanceof Error ? error.message : error}`);
    }
    if (kernels !== null) {
      if (!kernels.fastKernelsActive()) kernels.registerFastKernels();
      if (kernels.fastKernelsActive()) {
        await kernels.fastKernelWorkersReady();
        fastKernels = true;
        kernelWorkers = kernels.fastKernelWorkerCount();
      }
    }
  }
  // fastKernels is set only after the kernels' module loaded, and kernelWorkers only with it.
  return /** @type {BackendSetup} */ ({
    active: info.active,
    tfjsVersion: info.tfjsVersion,
    fastKernels,
    kernelWorkers,
    kernels,
  });
}

/**
 * The code a record was made with: the commit of the repository this script runs from and whether tracked files
 * differ from it (`dirty`), or null outside a git checkout (a packed copy), so numbers can be traced to their code.
 * @returns {{ commit: string, dirty: boolean } | null}
 */
export function codeVersion() {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const git = (/** @type {string[]} */ ...args) =>
    spawnSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const head = git('rev-parse', 'HEAD');
  if (head.status !== 0) return null;
  const status = git('status', '--porcelain', '--untracked-files=no');
  return { commit: head.stdout.trim(), dirty: status.status !== 0 || status.stdout.trim() !== '' };
}

/** CPU model, logical CPUs, memory, Node and OS: what a reader needs to compare numbers across machines. */
export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    logicalCpus: os.availableParallelism(),
    totalMemoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  };
}

/**
 * The WebAssembly ceiling of one core (`maddCeiling`: peak f32x4 multiply-add GFLOP/s with a multiply then an add,
 * and with relaxed SIMD's fused multiply-add when the runtime has it), whether the active fast kernels use the
 * fused one, and `perCore`: the ceiling of the multiply-add they use.
 */
export async function wasmCeiling() {
  const { maddCeiling, activeRuntime } = await loadDist('backend/kernels/runtime.js');
  const { exact, relaxed } = maddCeiling();
  const relaxedInUse = activeRuntime()?.relaxedSimd ?? false;
  return { exact, relaxed, relaxedInUse, perCore: relaxedInUse && relaxed !== null ? relaxed : exact };
}

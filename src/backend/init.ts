import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
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
import { registerWebgpuKernelFixes } from './webgpu-kernels.js';

export type BackendChoice = 'auto' | 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'cpu';
/** What TF.js calls the backend that ended up active. */
export type ActiveBackend = 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'cpu';

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
  /** The WebGPU adapter, when the `webgpu` backend is active or was skipped for its adapter. */
  adapter?: WebGpuAdapter;
  /** Warnings for the user (e.g. a software WebGPU adapter, which is slow). */
  warnings: string[];
}

/** A WebGPU adapter as the `webgpu` package (Dawn) reports it. */
export interface WebGpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (llvmpipe, lavapipe, SwiftShader, WARP): correct but slow. */
  software: boolean;
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

/** The two packages of the `webgpu` backend: TF.js's WebGPU kernels and Dawn, the WebGPU implementation for Node. */
export const WEBGPU_PACKAGES = ['@tensorflow/tfjs-backend-webgpu', 'webgpu'] as const;
const WEBGPU_KEY = 'webgpu (@tensorflow/tfjs-backend-webgpu + webgpu)';

/** The parts of Dawn's `webgpu` package and TF.js's WebGPU backend used here. */
interface DawnModule {
  create(flags: string[]): DawnGpu;
  globals: Record<string, unknown>;
}
interface DawnGpu {
  requestAdapter(options?: {
    powerPreference?: 'high-performance' | 'low-power';
  }): Promise<DawnAdapter | null>;
}
type DawnAdapterInfo = Partial<Omit<WebGpuAdapter, 'software'>> & { isFallbackAdapter?: boolean };
interface DawnAdapter {
  info?: DawnAdapterInfo;
  isFallbackAdapter?: boolean;
  limits: Record<string, number>;
  features: { has(name: string): boolean };
  requestDevice(descriptor: object): Promise<unknown>;
}
interface WebGpuBackendModule {
  WebGPUBackend: new (device: unknown, adapterInfo?: unknown) => tf.KernelBackend;
}

/** Names of CPU implementations of WebGPU/Vulkan/D3D, as adapters describe themselves. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|softpipe|software|basic render|\bwarp\b/i;

/**
 * Whether an adapter is a software one: WebGPU's `isFallbackAdapter`, the `software` architecture Dawn reports
 * for CPU Vulkan drivers, or a known software driver in its vendor, device or description.
 */
export function isSoftwareAdapter(info: {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  if (info.isFallbackAdapter === true) return true;
  if ((info.architecture ?? '').toLowerCase() === 'software') return true;
  return [info.vendor, info.device, info.description].some((s) => SOFTWARE_ADAPTER.test(s ?? ''));
}

/** One line naming an adapter: its description (or vendor and device) and whether it is software. */
export function describeAdapter(adapter: WebGpuAdapter): string {
  const name =
    adapter.description || [adapter.vendor, adapter.device].filter((s) => s !== '').join(' ') || 'unnamed';
  const traits = [adapter.vendor || 'unknown vendor', adapter.architecture];
  if (adapter.software) traits.push('software');
  return `${name} (${[...new Set(traits.filter((t) => t !== ''))].join(', ')})`;
}

let webgpuAdapterInUse: WebGpuAdapter | undefined;

/** What the probe process found: the adapter's info, null without an adapter, or why the probe failed. */
type AdapterProbe = { info: DawnAdapterInfo | null } | { error: string };

/**
 * Asks Dawn for the high-performance adapter in a separate Node process, so that `auto` can skip a software
 * adapter without loading Dawn here: Dawn's native code prints limit warnings on stderr when it opens a Vulkan
 * adapter, which would otherwise appear in every command on a machine with only a software driver.
 */
function probeAdapter(): Promise<AdapterProbe> {
  probed ??= runAdapterProbe();
  return probed;
}

/** The probe's answer, asked once per process (drivers do not appear while a process runs). */
let probed: Promise<AdapterProbe> | undefined;

/** The adapter-info fields ssmis reads (`adapterOf`): copied by the probe, since Dawn's info object is not plain. */
const ADAPTER_INFO_KEYS = [
  'vendor',
  'architecture',
  'device',
  'description',
  'isFallbackAdapter',
] as const satisfies readonly (keyof DawnAdapterInfo)[];

function runAdapterProbe(): Promise<AdapterProbe> {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(WEBGPU_PACKAGES[1]);
  } catch (error) {
    return Promise.resolve({ error: importFailureReason(error) });
  }
  const script = [
    `const dawn = await import(${JSON.stringify(pathToFileURL(entry).href)});`,
    "const adapter = await dawn.create([]).requestAdapter({ powerPreference: 'high-performance' });",
    'const info = adapter === null ? null : { ...(adapter.info ?? {}) };',
    `if (info !== null) for (const k of ${JSON.stringify(ADAPTER_INFO_KEYS)})`,
    '  if (adapter.info?.[k] !== undefined) info[k] = adapter.info[k];',
    'if (info !== null && info.isFallbackAdapter === undefined) info.isFallbackAdapter = adapter.isFallbackAdapter;',
    'process.stdout.write(JSON.stringify({ info }));',
    'process.exit(0);',
  ].join('\n');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { timeout: 60_000, maxBuffer: 1 << 20 },
      (error, stdout) => {
        try {
          if (error === null) {
            resolve(JSON.parse(stdout) as AdapterProbe);
            return;
          }
        } catch {
          // Falls through to the failure below.
        }
        resolve({
          error: `the WebGPU adapter probe failed (${error?.message.split('\n')[0] ?? 'no output'})`,
        });
      },
    );
  });
}

/**
 * Loads Dawn and TF.js's WebGPU kernels, asks for the high-performance adapter and registers the `webgpu`
 * backend on it. A software adapter is refused unless `allowSoftware` (`auto` never trains on one). Returns the
 * adapter and null, or why the backend is unavailable (with the adapter, when one was found).
 */
async function tryWebgpu(
  allowSoftware: boolean,
): Promise<{ reason: string | null; adapter?: WebGpuAdapter }> {
  if (tf.findBackend('webgpu') !== null && webgpuAdapterInUse !== undefined) {
    if (webgpuAdapterInUse.software && !allowSoftware) {
      return { reason: softwareReason(webgpuAdapterInUse), adapter: webgpuAdapterInUse };
    }
    await tf.setBackend('webgpu');
    return { reason: null, adapter: webgpuAdapterInUse };
  }
  if (!allowSoftware) {
    // `auto`: look at the adapter from another process first, and load Dawn here only for a hardware one.
    const probe = await probeAdapter();
    if ('error' in probe) return { reason: probe.error };
    if (probe.info === null) return { reason: NO_ADAPTER };
    const seen = adapterOf(probe.info, probe.info.isFallbackAdapter);
    if (seen.software) return { reason: softwareReason(seen), adapter: seen };
  }
  let dawn: DawnModule;
  let kernels: WebGpuBackendModule;
  try {
    // Computed specifiers keep bundlers and tsc from requiring the optional packages at build time.
    const dawnSpecifier: string = WEBGPU_PACKAGES[1];
    const kernelSpecifier: string = WEBGPU_PACKAGES[0];
    dawn = (await import(dawnSpecifier)) as DawnModule;
    // The kernels are registered on import; the backend itself is registered below on the adapter chosen here
    // (the package registers its own only when `navigator.gpu` exists, which Node does not define).
    kernels = (await import(kernelSpecifier)) as WebGpuBackendModule;
  } catch (error) {
    return { reason: importFailureReason(error) };
  }
  if (tf.getKernel('Conv3D', 'webgpu') === undefined) {
    return {
      reason: `${WEBGPU_PACKAGES[0]} registered its kernels on another copy of @tensorflow/tfjs; install ${WEBGPU_PACKAGES[0]}@${tf.version_core} to match`,
    };
  }
  registerWebgpuKernelFixes();
  // The WebGPU constants (GPUBufferUsage, GPUMapMode, ...) the kernels use as globals, as a browser has them.
  const scope = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(dawn.globals)) if (!(name in scope)) scope[name] = value;
  let adapter: DawnAdapter | null;
  let gpu: DawnGpu;
  try {
    gpu = dawn.create([]);
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { reason: `no WebGPU adapter: ${importFailureReason(error)}` };
  }
  if (adapter === null) return { reason: NO_ADAPTER };
  const found = adapterOf(adapter.info ?? {}, adapter.isFallbackAdapter);
  if (found.software && !allowSoftware) return { reason: softwareReason(found), adapter: found };
  const limits = adapter.limits;
  // The limits TF.js's own WebGPU registration asks for: the adapter's maxima instead of WebGPU's defaults
  // (128 MiB storage bindings would cap the volumes a convolution can take).
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  // The backend checks for `navigator.gpu` as in a browser; Node 20 has no `navigator`, later Nodes one without gpu.
  if (scope.navigator === undefined) scope.navigator = { gpu };
  else Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true });
  tf.registerBackend('webgpu', () => new kernels.WebGPUBackend(device, adapter.info), 3);
  try {
    const ok = await tf.setBackend('webgpu');
    if (!ok) return { reason: 'the webgpu backend failed to initialise', adapter: found };
  } catch (error) {
    return { reason: importFailureReason(error), adapter: found };
  }
  webgpuAdapterInUse = found;
  return { reason: null, adapter: found };
}

const NO_ADAPTER =
  'no WebGPU adapter (Dawn found no GPU driver: Vulkan on Linux, Metal on macOS, Direct3D 12 on Windows)';

/** The adapter as ssmis reports it, from Dawn's adapter info. */
function adapterOf(info: DawnAdapterInfo, isFallbackAdapter: boolean | undefined): WebGpuAdapter {
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    software: isSoftwareAdapter({ ...info, isFallbackAdapter: info.isFallbackAdapter ?? isFallbackAdapter }),
  };
}

function softwareReason(adapter: WebGpuAdapter): string {
  return `only a software adapter, ${describeAdapter(adapter)}: auto uses hardware GPUs only (--backend webgpu takes it anyway, slowly)`;
}

/**
 * Chooses and initialises the TF.js backend. `auto` tries the CUDA package, then WebGPU on a hardware adapter
 * (never a software one), then the native CPU package, then the pure-JS `cpu` backend, and reports why the
 * others were not used. An explicitly requested backend that cannot load is an error naming the packages to
 * install; an explicit `webgpu` takes a software adapter too, with a warning. The wasm backend is never used:
 * TF.js 4.22's wasm Conv3DBackpropInputV2 kernel returns wrong results (a missing term in its depth loop bound),
 * so conv3d input gradients and transposed convolutions would be wrong. `train`, `evaluate` and `predict` call it
 * themselves with the config's `backend` section; call it before using the networks directly.
 *
 * @param options - `backend`: `'auto'` (default), `'tensorflow-gpu'` (`@tensorflow/tfjs-node-gpu`), `'webgpu'`
 *   (`@tensorflow/tfjs-backend-webgpu` and `webgpu`), `'tensorflow'` (`@tensorflow/tfjs-node`) or `'cpu'`;
 *   `fastKernels` (default true): the fast WebAssembly CPU kernels on the pure-JS `cpu` backend.
 * @returns the active backend, why each backend tried before it is unavailable, the WebGPU adapter (when one
 *   was found), warnings, the TF.js version and whether the fast kernels are in use.
 * @throws {@link InputError} when `options` is not an object, `backend` is not one of the five choices or
 *   `fastKernels` is not a boolean. {@link SsmisError} when an explicitly requested backend cannot be loaded
 *   (naming the packages to install).
 * @example
 * const info = await initBackend({ backend: 'auto' });
 * console.log(info.active, info.adapter, info.unavailable);
 */
export async function initBackend(
  options: { backend?: BackendChoice; fastKernels?: boolean } = {},
): Promise<BackendInfo> {
  requireOptions('initBackend', 'options', options);
  if (options.backend !== undefined)
    requireOneOf('initBackend', 'options.backend', options.backend, [
      'auto',
      'cpu',
      'webgpu',
      ...Object.keys(NATIVE_PACKAGES),
    ]);
  if (options.fastKernels !== undefined)
    requireBoolean('initBackend', 'options.fastKernels', options.fastKernels);
  const choice = options.backend ?? 'auto';
  const unavailable: Record<string, string> = {};
  const warnings: string[] = [];
  let adapter: WebGpuAdapter | undefined;
  const order: ActiveBackend[] =
    choice === 'auto' ? ['tensorflow-gpu', 'webgpu', 'tensorflow', 'cpu'] : [choice as ActiveBackend];
  const result = (active: ActiveBackend, fastKernels: BackendInfo['fastKernels']): BackendInfo => ({
    active,
    tfBackendName: tf.getBackend(),
    unavailable,
    tfjsVersion: tf.version_core,
    fastKernels,
    ...(adapter !== undefined ? { adapter } : {}),
    warnings,
  });
  for (const candidate of order) {
    if (candidate === 'cpu') {
      await tf.setBackend('cpu');
      await tf.ready();
      return result('cpu', await setupFastKernels(options.fastKernels ?? true));
    }
    if (candidate === 'webgpu') {
      const tried = await tryWebgpu(choice === 'webgpu');
      adapter = tried.adapter;
      if (tried.reason === null) {
        await tf.ready();
        // The fast kernels replace cpu kernels only, but the cpu backend also runs small ops for webgpu.
        unregisterFastKernels();
        if (adapter?.software) {
          warnings.push(
            `WebGPU adapter ${describeAdapter(adapter)} is a software implementation on the CPU: correct but slow (the fast cpu backend is quicker)`,
          );
        }
        return result('webgpu', { active: false, reason: 'webgpu backend (cpu kernels only)', workers: 0 });
      }
      unavailable[WEBGPU_KEY] = tried.reason;
      if (choice !== 'auto') {
        const install = WEBGPU_PACKAGES.map(
          (p) => `${p}@${p === 'webgpu' ? WEBGPU_VERSION : tf.version_core}`,
        );
        const fix = tried.reason.startsWith('no WebGPU adapter')
          ? 'Install or update the GPU driver (Vulkan on Linux; Mesa 25 or later for its software driver)'
          : `Install the two packages with \`npm install ${install.join(' ')}\``;
        throw new SsmisError(
          `backend 'webgpu' is not available: ${tried.reason}. ${fix}, or use --backend auto|cpu.`,
        );
      }
      continue;
    }
    const reason = await tryNative(candidate);
    if (reason === null) {
      await tf.ready();
      return result(candidate, {
        active: false,
        reason: 'native backend (the fast kernels replace pure-JS cpu kernels only)',
        workers: 0,
      });
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

/** The version of Dawn's `webgpu` package ssmis is tested with (its optional peer dependency). */
export const WEBGPU_VERSION = '0.6.2';

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

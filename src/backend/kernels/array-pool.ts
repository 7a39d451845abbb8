/**
 * A pool of the float32 output arrays of the fast kernels, so that a training step reuses the arrays of the last
 * one instead of asking the allocator for fresh memory. A fresh array costs its page faults and the zeroing of
 * its pages, about four times the copy that fills it, and the garbage collector has to find it again later; a
 * VNet step with 16 base filters at 32³ makes about 150 MiB of such arrays.
 *
 * An array goes back into the pool only when nothing else can see it:
 * - it was made here ({@link takeFloat32}) and handed to the cpu backend as the values of a tensor;
 * - every tensor (data id) whose values are that array has been disposed (a kernel that stores the same array
 *   under a second data id counts as a second user);
 * - nobody outside the kernels was handed it: reading a tensor's values through the backend (`dataSync()`,
 *   `data()`, `bufferSync()`) marks its array as escaped for good, and so does a view of it stored as another
 *   tensor's values (the stock `Slice` returns a `subarray`), so a caller holding either never sees it reused.
 * The library's own transient reads use {@link peekFloat32}, which does not mark the array.
 *
 * The pool is switched on with the fast kernels and off with them (it hooks the active cpu backend's `write`,
 * `readSync`, `read` and `disposeData` and puts them back); it keeps at most
 * `SSMIS_ARRAY_POOL_MB` MiB (default 512; 0 turns it off) of free arrays, oldest dropped first.
 */
import { InputError } from '../../util/errors.js';
import { tf } from '../tf.js';
import { asCpuBackend, float32Values } from './cpu-backend.js';

/** Arrays shorter than this are allocated as usual (their page faults are few, the bookkeeping is not). */
const MIN_POOLED = 4096;
const DEFAULT_CAP_MIB = 512;

interface Tracked {
  array: Float32Array;
  /** Data ids of the backend whose values are this array (or a view of it). */
  users: number;
  /** Read by someone outside the kernels, or stored as a view: never reused. */
  escaped: boolean;
}

interface BackendHooks {
  data: { get(dataId: object): { values?: unknown } | undefined; has(dataId: object): boolean };
  write(values: unknown, shape: number[], dtype: tf.DataType): object;
  readSync(dataId: object): unknown;
  read(dataId: object): Promise<unknown>;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The pool's arrays by their buffer (a view of one has the same buffer). */
const tracked = new WeakMap<ArrayBufferLike, Tracked>();
/** Free arrays by length, each list oldest first; `order` holds every free array oldest first. */
const free = new Map<number, Float32Array[]>();
let order: Float32Array[] = [];
let freeBytes = 0;
let capBytes = DEFAULT_CAP_MIB * 2 ** 20;
let installed: { backend: BackendHooks; restore: () => void } | null = null;
/** Switched on with the fast kernels ({@link enableArrayPool}). */
let wanted = false;

/** Switches the pool on (with the fast kernels): it installs itself on the active cpu backend at first use. */
export function enableArrayPool(): void {
  wanted = true;
  capBytes = poolCapBytes();
  const active: unknown = tf.findBackend('cpu');
  if (active !== null && active === tf.backend()) installArrayPool(active);
}

/** Switches the pool off, removes it from its backend and drops the free arrays. */
export function disableArrayPool(): void {
  wanted = false;
  uninstallArrayPool();
}

/** The cap in bytes from `SSMIS_ARRAY_POOL_MB` (a non-negative number of MiB), or the default. */
export function poolCapBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SSMIS_ARRAY_POOL_MB?.trim();
  if (raw === undefined || raw === '') return DEFAULT_CAP_MIB * 2 ** 20;
  const mib = Number(raw);
  if (!Number.isFinite(mib) || mib < 0) {
    throw new InputError(`SSMIS_ARRAY_POOL_MB must be a non-negative number of MiB, found '${raw}'`);
  }
  return Math.floor(mib * 2 ** 20);
}

/**
 * A float32 array of `length` elements for a kernel output that the kernel then fills completely: a reused one
 * when the pool has one of that length (its old values are still there), else a new one.
 */
export function takeFloat32(length: number): Float32Array {
  if (!wanted || length < MIN_POOLED || capBytes === 0) return new Float32Array(length);
  // The engine may have made a new cpu backend since the pool was switched on (tf.engine().reset() does):
  // the pool follows the active one.
  const active: unknown = tf.backend();
  if (installed?.backend !== active && !installArrayPool(active)) return new Float32Array(length);
  const list = free.get(length);
  const reused = list?.pop();
  if (reused !== undefined) {
    freeBytes -= reused.byteLength;
    order.splice(order.lastIndexOf(reused), 1);
    const t = tracked.get(reused.buffer);
    if (t !== undefined) t.users = 0;
    return reused;
  }
  const array = new Float32Array(length);
  tracked.set(array.buffer, { array, users: 0, escaped: false });
  return array;
}

/** The float32 values of a tensor on the cpu backend for a transient read that does not keep them (not an escape). */
export function peekFloat32(t: tf.Tensor): Float32Array | null {
  if (tf.getBackend() !== 'cpu') return null;
  const backend = asCpuBackend(tf.backend());
  return backend === null ? null : float32Values(backend, t);
}

function put(array: Float32Array): void {
  const list = free.get(array.length) ?? [];
  list.push(array);
  free.set(array.length, list);
  order.push(array);
  freeBytes += array.byteLength;
  while (freeBytes > capBytes && order.length > 0) {
    const old = order.shift() as Float32Array;
    const same = free.get(old.length) as Float32Array[];
    same.splice(same.indexOf(old), 1);
    freeBytes -= old.byteLength;
  }
}

function markEscaped(values: unknown): void {
  if (!ArrayBuffer.isView(values)) return;
  const t = tracked.get(values.buffer);
  if (t !== undefined) t.escaped = true;
}

/**
 * Installs the pool on the cpu backend `backend`; a second call with the same backend does nothing, with another
 * backend moves the pool there. Returns whether it is installed (false for a backend that is not the cpu one).
 */
function installArrayPool(backend: unknown): boolean {
  const b = backend as Partial<BackendHooks> | null;
  if (
    b === null ||
    typeof b !== 'object' ||
    typeof b.write !== 'function' ||
    typeof b.readSync !== 'function' ||
    typeof b.read !== 'function' ||
    typeof b.disposeData !== 'function' ||
    typeof b.data?.get !== 'function' ||
    typeof b.data?.has !== 'function'
  ) {
    return false;
  }
  const hooks = b as BackendHooks;
  if (installed?.backend === hooks) return true;
  uninstallArrayPool();
  const { write, readSync, read, disposeData } = hooks;
  const own = Object.getOwnPropertyNames(hooks);
  hooks.write = function (this: BackendHooks, values, shape, dtype) {
    if (ArrayBuffer.isView(values)) {
      const t = tracked.get(values.buffer);
      if (t !== undefined) {
        t.users++;
        if (values !== t.array) t.escaped = true;
      }
    }
    return write.call(this, values, shape, dtype);
  };
  hooks.readSync = function (this: BackendHooks, dataId) {
    markEscaped(this.data.get(dataId)?.values);
    return readSync.call(this, dataId);
  };
  hooks.read = function (this: BackendHooks, dataId) {
    markEscaped(this.data.get(dataId)?.values);
    return read.call(this, dataId);
  };
  hooks.disposeData = function (this: BackendHooks, dataId, force) {
    const values = this.data.get(dataId)?.values;
    const released = disposeData.call(this, dataId, force);
    if (ArrayBuffer.isView(values) && !this.data.has(dataId)) {
      const t = tracked.get(values.buffer);
      if (t !== undefined) {
        t.users--;
        if (t.users === 0 && !t.escaped && capBytes > 0) put(t.array);
      }
    }
    return released;
  };
  installed = {
    backend: hooks,
    restore: () => {
      // The methods were the prototype's unless the instance had its own: put back exactly what was there.
      for (const [name, fn] of [
        ['write', write],
        ['readSync', readSync],
        ['read', read],
        ['disposeData', disposeData],
      ] as const) {
        if (own.includes(name)) Object.assign(hooks, { [name]: fn });
        else delete (hooks as unknown as Record<string, unknown>)[name];
      }
    },
  };
  return true;
}

/** Removes the pool from its backend and drops the free arrays. Safe when nothing is installed. */
function uninstallArrayPool(): void {
  installed?.restore();
  installed = null;
  free.clear();
  order = [];
  freeBytes = 0;
}

/** Free bytes held by the pool and whether it is installed (for tests and `ssmis info`). */
export function arrayPoolStats(): { installed: boolean; freeBytes: number; capBytes: number } {
  return { installed: installed !== null, freeBytes, capBytes };
}

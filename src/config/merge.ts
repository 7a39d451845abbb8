/**
 * Layering of config objects (parents, the file, `--set` overrides) with the source of every value recorded, so
 * that an error names the file that set the offending key.
 *
 * Rules: mappings merge key by key; lists and scalars replace; `null` removes the key (the default applies
 * again), which lets a child config or `--set` drop an inherited value (`--set eval.patch=null`).
 */
import path from 'node:path';
import { isPlainObject } from '../util/args.js';
import { formatPath, type PathSegment } from './walk.js';

export type Plain = Record<string, unknown>;

/** Own property read that never reaches `Object.prototype` (a key named `__proto__` is just a key). */
function getOwn(object: Plain, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** Own property write that cannot change a prototype. */
function setOwn(object: Plain, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

/** Deep copy of parsed config data: mappings lose their null-valued keys, lists are copied element by element. */
export function cloneData(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneData);
  if (isPlainObject(value)) {
    const out: Plain = {};
    for (const key of Object.keys(value)) {
      const item = value[key];
      if (item !== null) setOwn(out, key, cloneData(item));
    }
    return out;
  }
  return value;
}

/** A merged config value and, per leaf key path, the source (file or `--set ...`) that set it. */
export class Layers {
  readonly value: Plain = {};
  readonly sources = new Map<string, string>();

  /** Merges `layer` on top; `source` is recorded for every leaf it sets. */
  apply(layer: Plain, source: string | undefined): void {
    this.mergeInto(this.value, layer, [], source);
  }

  /**
   * Source of the value at `path`: the path itself or its nearest ancestor that was set as a leaf, else the first
   * source below it (a mapping assembled from several keys).
   */
  sourceOf(keyPath: readonly PathSegment[]): string | undefined {
    for (let n = keyPath.length; n > 0; n--) {
      const found = this.sources.get(formatPath(keyPath.slice(0, n)));
      if (found !== undefined) return found;
    }
    const prefix = formatPath(keyPath);
    if (prefix === '') return undefined;
    for (const [key, source] of this.sources) {
      if (key.startsWith(`${prefix}.`) || key.startsWith(`${prefix}[`)) return source;
    }
    return undefined;
  }

  private mergeInto(target: Plain, over: Plain, prefix: string[], source: string | undefined): void {
    for (const key of Object.keys(over)) {
      const keyPath = [...prefix, key];
      const value = over[key];
      const current = getOwn(target, key);
      if (value === null) {
        delete target[key];
        this.forget(keyPath);
      } else if (isPlainObject(value) && isPlainObject(current)) {
        this.mergeInto(current, value, keyPath, source);
      } else {
        this.forget(keyPath);
        setOwn(target, key, cloneData(value));
        this.record(value, keyPath, source);
      }
    }
  }

  private record(value: unknown, keyPath: string[], source: string | undefined): void {
    if (isPlainObject(value) && Object.keys(value).length > 0) {
      for (const key of Object.keys(value)) {
        if (value[key] !== null) this.record(value[key], [...keyPath, key], source);
      }
    } else if (source !== undefined) {
      this.sources.set(formatPath(keyPath), source);
    }
  }

  private forget(keyPath: string[]): void {
    const key = formatPath(keyPath);
    for (const existing of [...this.sources.keys()]) {
      if (existing === key || existing.startsWith(`${key}.`) || existing.startsWith(`${key}[`)) {
        this.sources.delete(existing);
      }
    }
  }
}

/** Builds `{ a: { b: value } }` from `['a', 'b']`. */
export function nest(keys: readonly string[], value: unknown): Plain {
  let out: unknown = value;
  for (let i = keys.length - 1; i >= 0; i--) {
    const wrapper: Plain = {};
    setOwn(wrapper, keys[i] as string, out);
    out = wrapper;
  }
  return out as Plain;
}

/**
 * Makes the file paths of a layer absolute against `baseDir` (the folder of the file that wrote them, or the
 * working directory for `--set` and in-memory objects): `data.dataset`, `data.unlabeledDir`,
 * `data.autoSplit.nnunetSplits` and string `data.splits.*`. Values of the wrong type are left for the schema to
 * report. Mutates `layer`.
 */
export function resolveLayerPaths(layer: Plain, baseDir: string): void {
  const data = getOwn(layer, 'data');
  if (!isPlainObject(data)) return;
  const resolveKey = (object: Plain, key: string) => {
    const value = getOwn(object, key);
    if (typeof value === 'string' && value !== '') setOwn(object, key, path.resolve(baseDir, value));
  };
  resolveKey(data, 'dataset');
  resolveKey(data, 'unlabeledDir');
  const autoSplit = getOwn(data, 'autoSplit');
  if (isPlainObject(autoSplit)) resolveKey(autoSplit, 'nnunetSplits');
  const splits = getOwn(data, 'splits');
  if (!isPlainObject(splits)) return;
  for (const split of ['train', 'val', 'test']) resolveKey(splits, split);
}

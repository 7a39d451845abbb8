/**
 * Reads the structure of the zod schema at run time: which keys an object accepts (for "did you mean"), which
 * schema sits at a key path (for `--set` typing and error texts), metadata and defaults (for the reference table,
 * and the schema's key order for `configToYaml`). Only the zod 4 node kinds this config uses are handled.
 */
import { z } from 'zod';
import { isRecord } from '../util/args.js';
import type { KeyMeta } from './raw-schema.js';

export type Schema = z.core.$ZodType;
export type PathSegment = string | number;

interface Def {
  type: string;
  innerType?: Schema;
  in?: Schema;
  out?: Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  options?: readonly Schema[];
  discriminator?: string;
  entries?: Record<string, string | number>;
  values?: readonly unknown[];
  defaultValue?: unknown;
  format?: string;
  checks?: readonly { _zod: { def: CheckDef } }[];
}

export interface CheckDef {
  check: string;
  value?: number;
  inclusive?: boolean;
  minimum?: number;
  maximum?: number;
  length?: number;
}

export function defOf(schema: Schema): Def {
  return schema._zod.def as unknown as Def;
}

/** One wrapper layer down (optional, default, prefault, nullable, readonly, pipe), or undefined at a core node. */
export function innerOf(schema: Schema): Schema | undefined {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
    case 'readonly':
    case 'nonoptional':
      return def.innerType;
    case 'pipe':
      // z.preprocess(fn, schema) is pipe(transform, schema); schema.transform(fn) is pipe(schema, transform).
      return def.in && defOf(def.in).type === 'transform' ? def.out : def.in;
    default:
      return undefined;
  }
}

/** The core node under every wrapper. */
export function unwrap(schema: Schema): Schema {
  let current = schema;
  for (let next = innerOf(current); next; next = innerOf(current)) current = next;
  return current;
}

/** Metadata of the first layer (outermost first) that has some. */
export function metaOf(schema: Schema): Partial<KeyMeta> {
  const merged: Partial<KeyMeta> = {};
  for (let current: Schema | undefined = schema; current; current = innerOf(current)) {
    const meta = z.globalRegistry.get(current) as Partial<KeyMeta> | undefined;
    if (meta) {
      merged.description ??= meta.description;
      merged.typeText ??= meta.typeText;
      merged.defaultText ??= meta.defaultText;
    }
  }
  return merged;
}

/** The default value of a field, if one of its layers is a `.default()` (not `.prefault()`). */
export function defaultOf(schema: Schema): { value: unknown } | undefined {
  for (let current: Schema | undefined = schema; current; current = innerOf(current)) {
    const def = defOf(current);
    if (def.type === 'default') return { value: def.defaultValue };
  }
  return undefined;
}

/** True when a missing value is accepted (optional, default or prefault layer). */
export function isOptional(schema: Schema): boolean {
  for (let current: Schema | undefined = schema; current; current = innerOf(current)) {
    const type = defOf(current).type;
    if (type === 'optional' || type === 'default' || type === 'prefault') return true;
  }
  return false;
}

/** Discriminated-union option whose literal discriminator equals `name`. */
export function unionOption(union: Schema, name: unknown): Schema | undefined {
  const def = defOf(union);
  if (def.type !== 'union' || !def.discriminator || !def.options) return undefined;
  const key = def.discriminator;
  return def.options.find((option) => {
    const shape = defOf(unwrap(option)).shape;
    const literal = shape?.[key];
    return literal !== undefined && literalValues(literal).includes(name);
  });
}

/** Values of a literal or enum node. */
export function literalValues(schema: Schema): unknown[] {
  const def = defOf(unwrap(schema));
  if (def.type === 'literal') return [...(def.values ?? [])];
  if (def.type === 'enum') return Object.values(def.entries ?? {});
  return [];
}

/**
 * The object node that describes `value` at this schema: the object itself, or for a discriminated union the
 * option selected by the value's discriminator (the default option's when the value has none).
 */
export function objectNode(schema: Schema, value: unknown): Schema | undefined {
  const core = unwrap(schema);
  const def = defOf(core);
  if (def.type === 'object') return core;
  if (def.type === 'union' && def.discriminator && def.options) {
    const name = isRecord(value) ? value[def.discriminator] : typeof value === 'string' ? value : undefined;
    return unionOption(core, name) ?? (name === undefined ? defaultUnionOption(schema) : undefined);
  }
  return undefined;
}

/** The option a `namedUnion` uses when `name` is omitted: the one its prefault names. */
function defaultUnionOption(schema: Schema): Schema | undefined {
  const name = defaultDiscriminator(schema);
  return name === undefined ? undefined : unionOption(unwrap(schema), name);
}

/** Discriminator value a discriminated union takes when it is omitted (from its prefault), if any. */
export function defaultDiscriminator(schema: Schema): unknown {
  const discriminator = defOf(unwrap(schema)).discriminator;
  if (!discriminator) return undefined;
  for (let current: Schema | undefined = schema; current; current = innerOf(current)) {
    const def = defOf(current);
    if (def.type === 'prefault' && isRecord(def.defaultValue)) return def.defaultValue[discriminator];
  }
  return undefined;
}

/** Keys an object accepts at this schema for this value (all options' keys for an undetermined union). */
export function knownKeys(schema: Schema, value: unknown): string[] {
  const node = objectNode(schema, value);
  if (node) return Object.keys(defOf(node).shape ?? {});
  const def = defOf(unwrap(schema));
  if (def.type === 'union' && def.options) {
    return [...new Set(def.options.flatMap((option) => Object.keys(defOf(unwrap(option)).shape ?? {})))];
  }
  return [];
}

/** Schema of `key` inside `schema` (object field or array element), following the value for unions. */
export function childSchema(schema: Schema, key: PathSegment, value: unknown): Schema | undefined {
  const core = unwrap(schema);
  const def = defOf(core);
  if (def.type === 'union' && !def.discriminator && def.options) {
    // e.g. "list of ids | file path": the option that has such a child.
    for (const option of def.options) {
      const child = childSchema(option, key, value);
      if (child) return child;
    }
    return undefined;
  }
  if (typeof key === 'number') return def.type === 'array' ? def.element : undefined;
  const node = objectNode(schema, value);
  const shape = node ? defOf(node).shape : undefined;
  // Own keys only: `__proto__` or `constructor` in a config are unknown keys, not paths into Object.prototype.
  return shape && Object.hasOwn(shape, key) ? shape[key] : undefined;
}

/** Schema at a key path of `root`, with the value along the path used to pick union options. */
export function schemaAt(root: Schema, path: readonly PathSegment[], rootValue: unknown): Schema | undefined {
  let schema: Schema | undefined = root;
  let value: unknown = rootValue;
  for (const key of path) {
    if (!schema) return undefined;
    schema = childSchema(schema, key, value);
    value =
      isRecord(value) || Array.isArray(value) ? (value as Record<PathSegment, unknown>)[key] : undefined;
  }
  return schema;
}

/** `a.b[0].c` */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? key : `.${key}`;
  }
  return out;
}

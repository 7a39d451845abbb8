/**
 * Argument checks for the public library functions: each throws an InputError that names the function and the
 * argument, `computeMetrics: argument 'pred' must be a typed array or an array of numbers, got string "abc"`,
 * instead of a raw TypeError from deep inside (or a silently wrong result). Tensors and models are recognised by
 * their shape, so this module needs no TF.js.
 */
import { InputError } from './errors.js';

/**
 * `text` cut to `max` characters with `...` at the end, for values quoted in messages.
 * @param text - The text.
 * @param max - Its largest length (default 40).
 * @returns `text` when short enough, else its first `max - 3` characters and `...`.
 */
export function truncate(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** A tensor as TF.js makes it (checked by shape, without importing TF.js). */
interface TensorLike {
  shape: number[];
  dtype: string;
  rank: number;
  isDisposed: boolean;
  dataSync(): unknown;
}

function isTensorLike(value: unknown): value is TensorLike {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Partial<TensorLike>;
  return Array.isArray(t.shape) && typeof t.dtype === 'string' && typeof t.dataSync === 'function';
}

/** What a value is, for "got ..." (`nothing`, `null`, `string "abc"`, `number 3`, `a Float32Array of length 8`). */
export function describeArgument(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return `string ${JSON.stringify(truncate(value))}`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    const length = 'length' in value ? ` of length ${String(value.length)}` : '';
    return `a ${value.constructor.name}${length}`;
  }
  if (isTensorLike(value)) return `a ${value.dtype} tensor of shape [${value.shape.join(', ')}]`;
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor
    ?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/** The InputError of a wrong argument: `<fn>: argument '<name>' must be <expected>, got <found>`. */
export function argumentError(fn: string, name: string, expected: string, value: unknown): InputError {
  return new InputError(`${fn}: argument '${name}' must be ${expected}, got ${describeArgument(value)}`);
}

/**
 * The one "is this an options object" test: an object that is not null, not an array and not a typed array or
 * DataView (a class instance passes; compare {@link isPlainObject}).
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/**
 * The one "is this a data mapping" test of config layering and output: a {@link isRecord} whose prototype is
 * `Object.prototype` or `null` (what YAML, JSON and object literals make; a class instance, Map or Date is not).
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (!isRecord(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** An object (not null, not an array); `what` replaces "an object" in the message (e.g. "an options object"). */
export function requireObject(
  fn: string,
  name: string,
  value: unknown,
  what = 'an object',
): asserts value is Record<string, unknown> {
  if (!isRecord(value) || isTensorLike(value)) throw argumentError(fn, name, what, value);
}

/** Nothing (the defaults) or an options object. */
export function requireOptions(
  fn: string,
  name: string,
  value: unknown,
): asserts value is Record<string, unknown> | undefined {
  if (value !== undefined) requireObject(fn, name, value, 'an options object or nothing');
}

/** A string, non-empty unless `allowEmpty`. */
export function requireString(
  fn: string,
  name: string,
  value: unknown,
  options: { allowEmpty?: boolean } = {},
): asserts value is string {
  if (typeof value !== 'string' || (!options.allowEmpty && value === '')) {
    throw argumentError(fn, name, options.allowEmpty ? 'a string' : 'a non-empty string', value);
  }
}

/** An array of strings (e.g. `--set` overrides or case ids). */
export function requireStringArray(fn: string, name: string, value: unknown): asserts value is string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw argumentError(fn, name, 'an array of strings', value);
  }
}

/** An array; `what` describes its elements in the message (e.g. "an array of case evaluations"). */
export function requireArray(
  fn: string,
  name: string,
  value: unknown,
  what = 'an array',
): asserts value is unknown[] {
  if (!Array.isArray(value)) throw argumentError(fn, name, what, value);
}

/** `value` after {@link requireObject}, for a check inside an expression (the argument of a `super(...)` call). */
export function objectArgument<T>(fn: string, name: string, value: T): T {
  requireObject(fn, name, value);
  return value;
}

/** true or false. */
export function requireBoolean(fn: string, name: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') throw argumentError(fn, name, 'true or false', value);
}

/** Bounds of {@link requireNumber} and {@link requireInteger} (inclusive). */
export interface NumberBounds {
  min?: number;
  max?: number;
}

function boundsText(bounds: NumberBounds): string {
  const { min, max } = bounds;
  if (min !== undefined && max !== undefined) return ` in [${min}, ${max}]`;
  if (min !== undefined) return min === 0 ? ' ≥ 0' : min === 1 ? ' ≥ 1' : ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

function inBounds(value: number, bounds: NumberBounds): boolean {
  return (
    (bounds.min === undefined || value >= bounds.min) && (bounds.max === undefined || value <= bounds.max)
  );
}

/** A finite number within `bounds`. */
export function requireNumber(
  fn: string,
  name: string,
  value: unknown,
  bounds: NumberBounds = {},
): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !inBounds(value, bounds)) {
    throw argumentError(fn, name, `a finite number${boundsText(bounds)}`, value);
  }
}

/** A safe integer within `bounds`. */
export function requireInteger(
  fn: string,
  name: string,
  value: unknown,
  bounds: NumberBounds = {},
): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || !inBounds(value, bounds)) {
    throw argumentError(fn, name, `an integer${boundsText(bounds)}`, value);
  }
}

/** Options of {@link requireNumberArray}. */
export interface NumberArrayOptions extends NumberBounds {
  /** Exact length, or the accepted lengths. */
  length?: number | readonly number[];
  minLength?: number;
  integer?: boolean;
}

function lengthText(length: number | readonly number[] | undefined, minLength: number | undefined): string {
  if (typeof length === 'number') return `${length} `;
  if (length !== undefined) return `${length.join(' or ')} `;
  if (minLength !== undefined && minLength > 0) return `at least ${minLength} `;
  return '';
}

/** A plain array of finite numbers (integers if `integer`) within the bounds, of the given length. */
export function requireNumberArray(
  fn: string,
  name: string,
  value: unknown,
  options: NumberArrayOptions = {},
): asserts value is number[] {
  const kind = options.integer ? 'integers' : 'finite numbers';
  const expected = `an array of ${lengthText(options.length, options.minLength)}${kind}${boundsText(options)}`;
  if (!Array.isArray(value)) throw argumentError(fn, name, expected, value);
  const { length, minLength } = options;
  const lengthOk =
    typeof length === 'number'
      ? value.length === length
      : length !== undefined
        ? length.includes(value.length)
        : minLength === undefined || value.length >= minLength;
  const itemsOk = value.every(
    (v) =>
      typeof v === 'number' &&
      (options.integer ? Number.isSafeInteger(v) : Number.isFinite(v)) &&
      inBounds(v, options),
  );
  if (!lengthOk || !itemsOk) {
    throw new InputError(
      `${fn}: argument '${name}' must be ${expected}, got [${truncate(value.map(String).join(', '), 60)}]`,
    );
  }
}

/** Names of the typed arrays (BigInt arrays excluded: they do not hold plain numbers). */
export type TypedArrayName =
  | 'Int8Array'
  | 'Uint8Array'
  | 'Uint8ClampedArray'
  | 'Int16Array'
  | 'Uint16Array'
  | 'Int32Array'
  | 'Uint32Array'
  | 'Float32Array'
  | 'Float64Array'
  | 'BigInt64Array'
  | 'BigUint64Array';

const NUMBER_TYPED_ARRAYS: readonly TypedArrayName[] = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
];

/** Every voxel array a {@link Volume}-like object may hold: the number arrays and the 64-bit integer ones. */
export const VOXEL_ARRAYS: readonly TypedArrayName[] = [
  ...NUMBER_TYPED_ARRAYS,
  'BigInt64Array',
  'BigUint64Array',
];

function typedArrayName(
  value: unknown,
  types: readonly TypedArrayName[] = NUMBER_TYPED_ARRAYS,
): TypedArrayName | undefined {
  if (!ArrayBuffer.isView(value) || value instanceof DataView) return undefined;
  if (value instanceof Uint8Array) return 'Uint8Array'; // also a Buffer
  const name = value.constructor.name as TypedArrayName;
  return types.includes(name) ? name : undefined;
}

/** A typed array of one of `types` (default: any typed array of numbers; a Buffer counts as a Uint8Array). */
export function requireTypedArray(
  fn: string,
  name: string,
  value: unknown,
  types: readonly TypedArrayName[] = NUMBER_TYPED_ARRAYS,
): void {
  const found = typedArrayName(value, VOXEL_ARRAYS);
  if (found === undefined || !types.includes(found)) {
    const expected =
      types === NUMBER_TYPED_ARRAYS
        ? 'a typed array of numbers'
        : types === VOXEL_ARRAYS
          ? 'a typed array'
          : types.length === 1
            ? `a ${types[0]}`
            : `one of ${types.join(', ')}`;
    throw argumentError(fn, name, expected, value);
  }
}

/**
 * Voxel values: a typed array of numbers or a plain array of finite numbers, with `length` elements when given
 * (a string, though array-like, is refused).
 */
export function requireNumbers(
  fn: string,
  name: string,
  value: unknown,
  length?: number,
): asserts value is ArrayLike<number> {
  const ok =
    typedArrayName(value) !== undefined ||
    (Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v)));
  if (!ok) throw argumentError(fn, name, 'a typed array or an array of finite numbers', value);
  const actual = (value as ArrayLike<number>).length;
  if (length !== undefined && actual !== length) {
    throw new InputError(`${fn}: argument '${name}' must have ${length} values, got ${actual}`);
  }
}

/** Options of {@link requireTensor}. */
export interface TensorOptions {
  /** Accepted ranks. */
  rank?: number | readonly number[];
  /** Accepted dtypes. */
  dtype?: string | readonly string[];
}

/** A live TF.js tensor of the given rank and dtype. */
export function requireTensor(fn: string, name: string, value: unknown, options: TensorOptions = {}): void {
  const ranks = options.rank === undefined ? undefined : ([] as number[]).concat(options.rank);
  const dtypes = options.dtype === undefined ? undefined : ([] as string[]).concat(options.dtype);
  const expected = `a${dtypes ? ` ${dtypes.join(' or ')}` : ''} tensor${ranks ? ` of rank ${ranks.join(' or ')}` : ''}`;
  if (!isTensorLike(value)) throw argumentError(fn, name, expected, value);
  if (value.isDisposed) throw new InputError(`${fn}: argument '${name}' is a disposed tensor`);
  if ((ranks && !ranks.includes(value.shape.length)) || (dtypes && !dtypes.includes(value.dtype))) {
    throw argumentError(fn, name, expected, value);
  }
}

/** Nothing or a tensor as {@link requireTensor} checks it. */
export function requireOptionalTensor(
  fn: string,
  name: string,
  value: unknown,
  options: TensorOptions = {},
): void {
  if (value !== undefined) requireTensor(fn, name, value, options);
}

/** An object whose `keys` are live tensors (`<name>.<key>` in the message), e.g. the inputs of a loss. */
export function requireTensorFields(
  fn: string,
  name: string,
  value: unknown,
  keys: readonly string[],
  options: TensorOptions = {},
): void {
  requireObject(fn, name, value);
  for (const key of keys) requireTensor(fn, `${name}.${key}`, value[key], options);
}

/**
 * A volume as `readNifti` returns it: `data` a typed array, `shape` positive integers whose product is the
 * number of values (its geometry is checked where it is written).
 */
export function requireVolume(fn: string, name: string, value: unknown): void {
  requireObject(fn, name, value, 'a volume ({ data, shape, ... } as readNifti returns it)');
  requireTypedArray(fn, `${name}.data`, value.data, VOXEL_ARRAYS);
  requireNumberArray(fn, `${name}.shape`, value.shape, { integer: true, min: 1, minLength: 1 });
  const size = value.shape.reduce((a, b) => a * b, 1);
  const length = (value.data as ArrayLike<unknown>).length;
  if (length !== size) {
    throw new InputError(
      `${fn}: argument '${name}' has shape [${value.shape.join(', ')}] (${size} values) but ${length} values in data`,
    );
  }
}

/**
 * A segmentation model (what `createVNet`, `createUNet2d` or `createModel` return, or a stand-in with the same
 * members): an `apply` function, `spatialDims` 2 or 3 (`dims` when given), `inChannels` and `numClasses`.
 */
export function requireModel(fn: string, name: string, value: unknown, dims?: 2 | 3): void {
  const expected = `a ${dims ? `${dims}-D ` : ''}segmentation model (createVNet, createUNet2d or createModel)`;
  if (!isRecord(value)) throw argumentError(fn, name, expected, value);
  const ok =
    typeof value.apply === 'function' &&
    (value.spatialDims === 2 || value.spatialDims === 3) &&
    Number.isInteger(value.inChannels) &&
    Number.isInteger(value.numClasses);
  if (!ok) throw argumentError(fn, name, expected, value);
  if (dims !== undefined && value.spatialDims !== dims) {
    throw new InputError(
      `${fn}: argument '${name}' must be ${expected}, got a ${String(value.spatialDims)}-D model`,
    );
  }
}

/** A function. */
export function requireFunction(
  fn: string,
  name: string,
  value: unknown,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw argumentError(fn, name, 'a function', value);
}

/** One of `options` (compared with ===). */
export function requireOneOf<T>(
  fn: string,
  name: string,
  value: unknown,
  options: readonly T[],
): asserts value is T {
  if (!options.includes(value as T)) {
    throw argumentError(fn, name, `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`, value);
  }
}

/** A random generator (`new Rng(seed)`; recognised by its methods, so this module does not import it). */
export function requireRng(fn: string, name: string, value: unknown): void {
  const ok =
    isRecord(value) &&
    typeof value.nextUint32 === 'function' &&
    typeof value.randint === 'function' &&
    typeof value.getState === 'function';
  if (!ok) throw argumentError(fn, name, 'an Rng (new Rng(seed))', value);
}

/** A Map (e.g. of named variables or gradients). */
export function requireMap(fn: string, name: string, value: unknown): asserts value is Map<unknown, unknown> {
  if (!(value instanceof Map)) throw argumentError(fn, name, 'a Map', value);
}

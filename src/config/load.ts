/**
 * Loading configs: YAML (core schema, no custom or language tags, bounded alias expansion) or JSON, `extends`
 * parents, `--set key.path=value` overrides, path resolution against the defining file, and validation with every
 * problem reported at once.
 */
import path from 'node:path';
import {
  type CST,
  type DocumentOptions,
  type ParseOptions,
  Parser,
  parseDocument,
  type SchemaOptions,
  type ToJSOptions,
} from 'yaml';
import { readInputText } from '../io/read-file.js';
import {
  argumentError,
  isPlainObject,
  requireObject,
  requireOptions,
  requireString,
  requireStringArray,
} from '../util/args.js';
import { errorMessage, InputError } from '../util/errors.js';
import { ConfigError, type ConfigProblem, displayFile, renderIssues } from './errors.js';
import { cloneData, Layers, nest, type Plain, resolveLayerPaths } from './merge.js';
import { configSchema, rawConfigSchema, type SsmisConfig } from './schema.js';
import {
  childSchema,
  defaultDiscriminator,
  defOf,
  literalValues,
  type PathSegment,
  type Schema,
  schemaAt,
  unwrap,
} from './walk.js';

/** Longest `extends` chain accepted (a guard against runaway chains; cycles are detected separately). */
export const MAX_EXTENDS_DEPTH = 16;
/** Alias expansions allowed per YAML document ("billion laughs" guard). */
export const MAX_YAML_ALIASES = 100;
/**
 * Largest config file read (1 MiB; the biggest shipped config is a few KiB): a device such as `/dev/zero` or a huge
 * file is refused before it is read instead of failing with "Invalid string length".
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/**
 * Deepest nesting of lists and mappings accepted in a config file or `--set` value (a valid config needs 5): deeper
 * data would overflow the call stack of the parser and the validation, which walk it recursively.
 */
export const MAX_CONFIG_DEPTH = 64;

const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions & ToJSOptions = {
  schema: 'core',
  customTags: [],
  // Without this, the core schema still resolves !!binary, !!set, !!omap, !!pairs and !!timestamp.
  resolveKnownTags: false,
  merge: false,
  uniqueKeys: true,
  strict: true,
  prettyErrors: true,
  maxAliasCount: MAX_YAML_ALIASES,
};

export interface LoadOptions {
  /** `key.path=value` overrides, applied after the files in order; values are YAML scalars or flow collections. */
  set?: readonly string[];
}

export interface LoadedConfig {
  config: SsmisConfig;
  /** Source of every value that a file or `--set` wrote: key path (`data.patchSize`) → file or `--set ...`. */
  sources: Record<string, string>;
  /** Absolute paths of the files read, parents first. */
  files: string[];
}

export interface ParseOptionsConfig {
  /** The file the object came from: named in errors, and relative paths resolve against its folder. */
  file?: string;
}

// ---------------------------------------------------------------------------------------------------------------

/** First line of a `yaml` error message without its "at line L, column C:" suffix. */
function yamlMessage(message: string): string {
  const first = message.split('\n')[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?\s*$/, '');
}

/** Line and column (1-based) of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

function tooDeep(source: string, where?: { line: number; column: number }): ConfigProblem {
  return {
    source,
    ...where,
    message: `nested more than ${MAX_CONFIG_DEPTH} levels deep (lists and mappings inside each other); a config needs far fewer`,
  };
}

/**
 * Offset of the first YAML collection nested deeper than {@link MAX_CONFIG_DEPTH}, found on the concrete syntax
 * tree without recursion (the `yaml` composer recurses and would overflow the stack), or undefined.
 */
function firstTooDeepYaml(text: string): number | undefined {
  const stack: [CST.Token, number][] = [];
  for (const token of new Parser().parse(text)) stack.push([token, 0]);
  while (stack.length > 0) {
    const [token, depth] = stack.pop() as [CST.Token, number];
    if (token.type === 'document') {
      if (token.value) stack.push([token.value, depth]);
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > MAX_CONFIG_DEPTH) return token.offset;
      for (const item of token.items) {
        if (item.key) stack.push([item.key, depth + 1]);
        if (item.value) stack.push([item.value, depth + 1]);
      }
    }
  }
  return undefined;
}

/** True when parsed data nests lists and mappings deeper than {@link MAX_CONFIG_DEPTH} (checked without recursion). */
function isTooDeep(value: unknown): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (typeof item !== 'object' || item === null) continue;
    if (depth + 1 > MAX_CONFIG_DEPTH) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Parses YAML text with the safe options; problems carry the line and column. */
function parseYaml(text: string, source: string): { value?: unknown; problems: ConfigProblem[] } {
  const deep = firstTooDeepYaml(text);
  if (deep !== undefined) return { problems: [tooDeep(source, lineColumn(text, deep))] };
  const doc = parseDocument(text, YAML_OPTIONS);
  const problems: ConfigProblem[] = [];
  for (const error of doc.errors) {
    const pos = error.linePos?.[0];
    problems.push({
      source,
      line: pos?.line,
      column: pos?.col,
      message: `YAML syntax error: ${yamlMessage(error.message)}`,
    });
  }
  for (const warning of doc.warnings) {
    const pos = warning.linePos?.[0];
    const message = yamlMessage(warning.message);
    problems.push({
      source,
      line: pos?.line,
      column: pos?.col,
      message:
        warning.code === 'TAG_RESOLVE_FAILED'
          ? `YAML tag not allowed (only plain values, lists and mappings): ${message.replace(/^Unresolved tag: /, '')}`
          : `YAML: ${message}`,
    });
  }
  if (problems.length > 0) return { problems };
  try {
    const value: unknown = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
    // Aliases can stack collections deeper than the text shows.
    if (isTooDeep(value)) return { problems: [tooDeep(source)] };
    return { value, problems };
  } catch (error) {
    return {
      problems: [{ source, message: `YAML: ${errorMessage(error)} (at most ${MAX_YAML_ALIASES} aliases)` }],
    };
  }
}

function parseJson(text: string, source: string): { value?: unknown; problems: ConfigProblem[] } {
  let value: unknown;
  try {
    // JSON.parse itself does not recurse, so the depth is checked on its result.
    value = JSON.parse(text);
  } catch (error) {
    const message = errorMessage(error);
    const position = /at position (\d+)/.exec(message);
    const where = position ? lineColumn(text, Number(position[1])) : {};
    return { problems: [{ source, ...where, message: `JSON syntax error: ${message}` }] };
  }
  return isTooDeep(value) ? { problems: [tooDeep(source)] } : { value, problems: [] };
}

/** Reads one config file into a mapping; throws a ConfigError for unreadable, malformed or non-mapping files. */
async function readConfigFile(file: string): Promise<Plain> {
  const source = displayFile(file);
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.yaml' && ext !== '.yml' && ext !== '.json') {
    throw new ConfigError([
      {
        source,
        message: `expected a .yaml, .yml or .json config file, got ${ext ? `"${ext}"` : 'no extension'}`,
      },
    ]);
  }
  const what = 'the config file';
  let text: string;
  try {
    // `source` names the same file as `file` (relative to the working directory, or absolute).
    text = await readInputText(source, what, {
      maxBytes: MAX_CONFIG_BYTES,
      failure: (error) => {
        const code = (error as NodeJS.ErrnoException).code;
        const reason = code === 'ENOENT' ? 'no such file' : errorMessage(error);
        return new ConfigError([{ source, message: `cannot read ${what}: ${reason}` }]);
      },
    });
  } catch (error) {
    if (error instanceof ConfigError || !(error instanceof InputError)) throw error;
    // A folder, FIFO, device or oversized file: the message already starts with `<source>: `.
    const prefix = `${source}: `;
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    throw new ConfigError([{ source, message }]);
  }
  const { value, problems } = ext === '.json' ? parseJson(text, source) : parseYaml(text, source);
  if (problems.length > 0) throw new ConfigError(problems);
  if (!isPlainObject(value)) {
    const found =
      value === null || value === undefined
        ? 'an empty document'
        : Array.isArray(value)
          ? 'a list'
          : typeof value;
    throw new ConfigError([
      { source, message: `expected a mapping of config sections (run, data, ...), got ${found}` },
    ]);
  }
  return value;
}

/**
 * Merges one layer with the rules for discriminated unions (`model`, `optimizer`, `schedule`): a bare name is
 * short for `{ name }`, and a layer that switches to another variant replaces the inherited mapping instead of
 * merging into it (the old variant's keys, such as sgd's momentum, mean nothing to the new one).
 */
function applyLayer(layers: Layers, layer: Plain, source: string | undefined): void {
  const restarts: string[][] = [];
  const visit = (value: Plain, schema: Schema, current: unknown, keyPath: string[]) => {
    for (const key of Object.keys(value)) {
      const child = childSchema(schema, key, value);
      if (!child) continue;
      const item = value[key];
      const inherited = isPlainObject(current) && Object.hasOwn(current, key) ? current[key] : undefined;
      const discriminator = defOf(unwrap(child)).discriminator;
      if (discriminator) {
        const incoming = typeof item === 'string' ? { [discriminator]: item } : item;
        if (typeof item === 'string') value[key] = incoming;
        const name = (obj: unknown) =>
          isPlainObject(obj)
            ? (obj[discriminator] ?? defaultDiscriminator(child))
            : typeof obj === 'string'
              ? obj
              : undefined;
        if (
          isPlainObject(incoming) &&
          incoming[discriminator] !== undefined &&
          inherited !== undefined &&
          name(inherited) !== incoming[discriminator]
        ) {
          restarts.push([...keyPath, key]);
        }
        if (isPlainObject(incoming)) visit(incoming, child, inherited, [...keyPath, key]);
      } else if (isPlainObject(item)) {
        visit(item, child, inherited, [...keyPath, key]);
      }
    }
  };
  visit(layer, rawConfigSchema, layers.value, []);
  for (const keyPath of restarts) layers.apply(nest(keyPath, null), undefined);
  layers.apply(layer, source);
}

/**
 * Applies `file` and its parents to `layers`, parents first and each file once (a file reached twice through two
 * parents is applied at its first position, so a later sibling does not undo an earlier sibling's overrides).
 */
async function applyFile(
  file: string,
  chain: readonly string[],
  layers: Layers,
  applied: string[],
): Promise<void> {
  const cycleAt = chain.indexOf(file);
  if (cycleAt >= 0) {
    const loop = [...chain.slice(cycleAt), file].map(displayFile).join(' → ');
    throw new ConfigError([
      { source: displayFile(chain[0] as string), path: 'extends', message: `cycle: ${loop}` },
    ]);
  }
  if (chain.length >= MAX_EXTENDS_DEPTH) {
    throw new ConfigError([
      {
        source: displayFile(file),
        path: 'extends',
        message: `expected a chain of at most ${MAX_EXTENDS_DEPTH} files, got a longer one: ${[...chain, file].map(displayFile).join(' → ')}`,
      },
    ]);
  }
  if (applied.includes(file)) return;
  const layer = await readConfigFile(file);
  const parents = layer.extends;
  delete layer.extends;
  const dir = path.dirname(file);
  let parentList: string[] = [];
  if (parents !== undefined && parents !== null) {
    const list = Array.isArray(parents) ? parents : [parents];
    if (list.length === 0 || !list.every((p): p is string => typeof p === 'string' && p !== '')) {
      throw new ConfigError([
        {
          source: displayFile(file),
          path: 'extends',
          message: `expected a file path or a list of file paths, got ${JSON.stringify(parents)}`,
        },
      ]);
    }
    parentList = list.map((p) => path.resolve(dir, p));
  }
  for (const parent of parentList) await applyFile(parent, [...chain, file], layers, applied);
  resolveLayerPaths(layer, dir);
  applyLayer(layers, layer, displayFile(file));
  applied.push(file);
}

/** A `--set` value that goes to a string or string-enum key stays text (`--set run.name=007` is "007"). */
function expectsString(keys: readonly string[], current: unknown): boolean {
  const schema = schemaAt(rawConfigSchema, keys, current);
  if (!schema) return false;
  const core = unwrap(schema);
  const type = defOf(core).type;
  if (type === 'string') return true;
  if (type === 'enum' || type === 'literal') return literalValues(core).every((v) => typeof v === 'string');
  return false;
}

/** Applies `--set` overrides; malformed ones become problems (reported with the schema's). */
function applySets(sets: readonly string[], layers: Layers): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const arg of sets) {
    const source = `--set ${arg}`;
    const eq = arg.indexOf('=');
    if (eq < 0) {
      problems.push({ source: '--set', message: `expected key.path=value, got "${arg}"` });
      continue;
    }
    const key = arg.slice(0, eq).trim();
    const keys = key.split('.');
    if (!keys.every((k) => /^[A-Za-z_][A-Za-z0-9_-]*$/.test(k))) {
      problems.push({
        source,
        message: `expected a key path of names separated by dots (e.g. train.seed), got "${key}"`,
      });
      continue;
    }
    if (keys[0] === 'extends') {
      problems.push({
        source,
        path: 'extends',
        message: 'cannot be set with --set (name the parent in a file)',
      });
      continue;
    }
    const text = arg.slice(eq + 1);
    const parsed = parseYaml(text, source);
    if (parsed.problems.length > 0) {
      for (const problem of parsed.problems) problems.push({ source, path: key, message: problem.message });
      continue;
    }
    let value = parsed.value === undefined ? null : parsed.value;
    if ((typeof value === 'number' || typeof value === 'boolean') && expectsString(keys, layers.value)) {
      value = text.trim();
    }
    const layer = nest(keys, value);
    resolveLayerPaths(layer, process.cwd());
    applyLayer(layers, layer, source);
  }
  return problems;
}

/** Validates merged layers; throws one ConfigError with `extra` problems and every schema problem. */
function validate(layers: Layers, mainSource: string | undefined, extra: ConfigProblem[]): SsmisConfig {
  const result = configSchema.safeParse(layers.value, { reportInput: true });
  if (result.success && extra.length === 0) return result.data;
  const problems = [...extra];
  if (!result.success) {
    problems.push(
      ...renderIssues(result.error.issues, {
        schema: rawConfigSchema,
        input: layers.value,
        sourceOf: (keyPath: readonly PathSegment[]) => layers.sourceOf(keyPath) ?? mainSource,
      }),
    );
  }
  throw new ConfigError(problems);
}

/** Validates a config mapping whose problems are reported under `source`, relative paths against `baseDir`. */
function parseMapping(input: Plain, source: string | undefined, baseDir: string): SsmisConfig {
  if (Object.hasOwn(input, 'extends')) {
    throw new ConfigError([
      {
        source,
        path: 'extends',
        message: 'only supported in config files read by loadConfig (resolve parents first)',
      },
    ]);
  }
  const layer = cloneData(input) as Plain;
  resolveLayerPaths(layer, baseDir);
  const layers = new Layers();
  layers.apply(layer, source);
  return validate(layers, source, []);
}

/**
 * Validates a config object (as read from a file or built in code) and fills every default. Relative paths resolve
 * against the folder of `options.file` (else the working directory).
 *
 * @param input A mapping of config sections (`run`, `data`, ...), most keys optional; `extends` is refused (only
 *   `loadConfig` reads parent files).
 * @param options `file`: the file the object came from, named in errors and the base of relative paths.
 * @returns The config with every default filled (`SsmisConfig`).
 * @throws ConfigError (an InputError, exit code 2) listing every problem with its key path: an unknown key, a wrong
 *   type or value, a cross-key conflict (patch vs model, batch vs method, ...), `extends`, or an input that is not
 *   a plain mapping.
 * @throws InputError when `input` is not an object or `options.file` is not a string.
 * @example
 * const config = parseConfig({ run: { name: 'la-demo' }, data: { dataset: 'data/la', labeled: '8%' } });
 * config.train.stages.selftrain.optimizer; // { name: 'sgd', lr: 0.01, momentum: 0.9, ... }
 */
export function parseConfig(input: unknown, options: ParseOptionsConfig = {}): SsmisConfig {
  requireObject(
    'parseConfig',
    'input',
    input,
    'a config object (a mapping of config sections run, data, ...)',
  );
  requireOptions('parseConfig', 'options', options);
  if (options.file !== undefined) requireString('parseConfig', 'options.file', options.file);
  const source = options.file !== undefined ? displayFile(path.resolve(options.file)) : undefined;
  if (!isPlainObject(input)) {
    throw new ConfigError([
      { source, message: 'expected a mapping of config sections (run, data, ...), got a class instance' },
    ]);
  }
  const baseDir = options.file !== undefined ? path.dirname(path.resolve(options.file)) : process.cwd();
  return parseMapping(input, source, baseDir);
}

/**
 * The config argument of a library function (`train(config)`, `evaluate(config, ...)`, ...): validated with the
 * config schema and returned with every default filled, so a partial object works like a parsed one (a parsed
 * config parses to itself). Problems are reported as `<fn>: argument '<name>': <key.path>: expected ..., got ...`;
 * a file path is refused with a pointer to `loadConfig`.
 *
 * @param fn The calling function's name, for messages.
 * @param name The argument's name, for messages.
 * @param value The argument: a parsed or partial config object.
 * @returns The config with every default filled.
 * @throws InputError (a ConfigError for schema problems) when `value` is a path, not a plain object, or not a
 *   valid config.
 * @example
 * export function myCommand(config: SsmisConfig) {
 *   config = requireConfig('myCommand', 'config', config);
 * }
 */
export function requireConfig(fn: string, name: string, value: unknown): SsmisConfig {
  if (typeof value === 'string') {
    throw argumentError(fn, name, 'a config object (read a config file with loadConfig(file) first)', value);
  }
  const what = 'a config object (parseConfig(...) or loadConfig(file).config)';
  requireObject(fn, name, value, what);
  if (!isPlainObject(value)) throw argumentError(fn, name, what, value);
  return parseMapping(value, `${fn}: argument '${name}'`, process.cwd());
}

/**
 * Reads a YAML or JSON config file with its `extends` parents, applies `--set` overrides and validates the result.
 *
 * @param file Path of a `.yaml`, `.yml` or `.json` config file.
 * @param options `set`: `key.path=value` overrides (YAML values), applied after every file.
 * @returns The validated config, the source (file or `--set`) of every value written, and the files read (parents
 *   first; `train` never deletes a folder holding one).
 * @throws ConfigError (an InputError, exit code 2) listing every problem with its file and key path: a file that
 *   cannot be read (missing, not a regular file, larger than MAX_CONFIG_BYTES), a wrong extension, YAML/JSON
 *   syntax, nesting deeper than MAX_CONFIG_DEPTH, too many YAML aliases, an `extends` cycle or chain longer than
 *   MAX_EXTENDS_DEPTH, a malformed `--set`, and every schema problem.
 * @throws InputError when `file` is not a string or `options.set` not a list of strings.
 * @example
 * const { config, files } = await loadConfig('configs/la-10pct.yaml', { set: ['train.seed=2'] });
 * await train(config, { configFiles: files });
 */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<LoadedConfig> {
  requireString('loadConfig', 'file', file);
  requireOptions('loadConfig', 'options', options);
  if (options.set !== undefined) requireStringArray('loadConfig', 'options.set', options.set);
  const absolute = path.resolve(file);
  const layers = new Layers();
  const files: string[] = [];
  await applyFile(absolute, [], layers, files);
  const problems = applySets(options.set ?? [], layers);
  const config = validate(layers, displayFile(absolute), problems);
  return { config, sources: Object.fromEntries(layers.sources), files };
}

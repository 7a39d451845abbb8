/**
 * Config errors: one `ConfigError` lists every problem as `<file>: <key.path>: expected <what>, got <found>`.
 * Zod issues are rendered here into that format (never raw zod JSON), with "did you mean" suggestions for unknown
 * keys and enum values.
 */
import path from 'node:path';
import type { z } from 'zod';
import { truncate } from '../util/args.js';
import { InputError } from '../util/errors.js';
import {
  defOf,
  formatPath,
  knownKeys,
  metaOf,
  type PathSegment,
  type Schema,
  schemaAt,
  unwrap,
} from './walk.js';

export interface ConfigProblem {
  /** Where the value came from: a config file (as displayed), `--set key=value`, or undefined (an object). */
  source?: string;
  line?: number;
  column?: number;
  /** Key path such as `data.patchSize[0]`; empty for whole-file problems. */
  path?: string;
  /** `expected ..., got ...`, `unknown key (...)`, or a syntax message. */
  message: string;
}

/**
 * One config problem as one line: `<file>:<line>:<column>: <key.path>: <message>` (each part only when known).
 *
 * @param problem A problem of a ConfigError's `problems`.
 * @returns The line.
 * @example
 * if (error instanceof ConfigError) for (const problem of error.problems) console.error(formatProblem(problem));
 */
export function formatProblem(problem: ConfigProblem): string {
  let where = problem.source;
  if (where !== undefined && problem.line !== undefined) {
    where += `:${problem.line}`;
    if (problem.column !== undefined) where += `:${problem.column}`;
  }
  return [where, problem.path, problem.message]
    .filter((part) => part !== undefined && part !== '')
    .join(': ');
}

/** Invalid configuration. `problems` holds every problem found, the message lists them one per line. */
export class ConfigError extends InputError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map(formatProblem);
    super(
      lines.length === 1
        ? (lines[0] as string)
        : `${lines.length} problems in the configuration:\n${lines.map((line) => `  ${line}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A file name as shown in messages: relative to the working directory when inside it, else absolute. */
export function displayFile(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

// ---------------------------------------------------------------------------------------------------------------

/** Config messages quote up to 60 characters of a value. */
const QUOTE_MAX = 60;

/** A found value with its type, for type errors: `string "fast"`, `number 3`, `a list [1,2]`. */
export function describeFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `string ${truncate(JSON.stringify(value), QUOTE_MAX)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `a list ${truncate(safeJson(value), QUOTE_MAX)}`;
  if (typeof value === 'object') return `a mapping ${truncate(safeJson(value), QUOTE_MAX)}`;
  return typeof value;
}

/** A found value without its type, for range errors: `100`, `"abc"`, `[1,2]`. */
function bare(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (value === undefined) return 'nothing';
  return truncate(safeJson(value), QUOTE_MAX);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function quoteOption(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

/** Optimal-string-alignment distance (a transposition counts 1), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) =>
    Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      let best = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        best = Math.min(best, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = best;
    }
  }
  return (d[s.length] as number[])[t.length] as number;
}

/** The closest candidate if it is close enough to be a plausible typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const limit = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined && bestDistance <= limit) return best;
  const lower = word.toLowerCase();
  if (lower.length >= 3) return candidates.find((c) => c.toLowerCase().startsWith(lower));
  return undefined;
}

function typeName(expected: string): string {
  switch (expected) {
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    default:
      return expected;
  }
}

function isIntegerSchema(schema: Schema | undefined): boolean {
  return schema !== undefined && defOf(unwrap(schema)).format === 'safeint';
}

export interface RenderContext {
  /** The schema the issues come from, to find accepted keys and type texts. */
  schema: Schema;
  /** The value that was parsed. */
  input: unknown;
  /** Source (file or `--set ...`) of the value at a key path. */
  sourceOf: (path: readonly PathSegment[]) => string | undefined;
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PathSegment, unknown>)[key];
  }
  return value;
}

type Issue = z.core.$ZodIssue;

/** Renders zod issues into config problems, one per issue (one per key for unknown keys). */
export function renderIssues(issues: readonly Issue[], context: RenderContext): ConfigProblem[] {
  return tightestBounds(issues).flatMap((issue) => renderIssue(issue, [], context));
}

/** The numeric bound of a too_big / too_small issue on a number (not a list or string length), else undefined. */
function numberBound(issue: Issue): number | undefined {
  if (
    issue.code === 'too_big' &&
    issue.origin !== 'array' &&
    issue.origin !== 'set' &&
    issue.origin !== 'string'
  )
    return Number(issue.maximum);
  if (
    issue.code === 'too_small' &&
    issue.origin !== 'array' &&
    issue.origin !== 'set' &&
    issue.origin !== 'string'
  )
    return Number(issue.minimum);
  return undefined;
}

/**
 * Keeps one bound problem per key and direction, the tightest: zod reports every failed bound, so an integer key
 * with its own maximum (train.seed ≤ 2³² − 1) given 2⁵³ + 1 also fails the safe-integer range of `z.int()`, and
 * "at most 9007199254740991" beside "at most 4294967295" would contradict each other.
 */
function tightestBounds(issues: readonly Issue[]): Issue[] {
  const keyOf = (issue: Issue) => JSON.stringify([issue.code, issue.path.map(String)]);
  const best = new Map<string, { issue: Issue; bound: number }>();
  for (const issue of issues) {
    const bound = numberBound(issue);
    if (bound === undefined) continue;
    const key = keyOf(issue);
    const current = best.get(key);
    const tighter =
      current === undefined || (issue.code === 'too_big' ? bound < current.bound : bound > current.bound);
    if (tighter) best.set(key, { issue, bound });
  }
  return issues.filter(
    (issue) => numberBound(issue) === undefined || best.get(keyOf(issue))?.issue === issue,
  );
}

function renderIssue(issue: Issue, prefix: readonly PathSegment[], context: RenderContext): ConfigProblem[] {
  const issuePath: PathSegment[] = [
    ...prefix,
    ...issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key)),
  ];
  const make = (keyPath: readonly PathSegment[], message: string): ConfigProblem => ({
    source: context.sourceOf(keyPath),
    path: formatPath(keyPath),
    message,
  });
  const schema = schemaAt(context.schema, issuePath, context.input);
  const typeText = schema ? metaOf(schema).typeText : undefined;
  const found =
    'input' in issue && issue.input !== undefined ? issue.input : valueAt(context.input, issuePath);

  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(schema ?? context.schema, valueAt(context.input, issuePath));
      return issue.keys.map((key) => {
        const guess = suggest(key, known);
        const hint = guess ? `did you mean '${guess}'?` : `expected one of: ${known.join(', ')}`;
        return make([...issuePath, key], `unknown key (${hint})`);
      });
    }
    case 'invalid_type': {
      const missing = valueAt(context.input, issuePath) === undefined;
      const expected =
        typeText ??
        (issue.expected === 'number' && isIntegerSchema(schema) ? 'an integer' : typeName(issue.expected));
      if (missing) return [make(issuePath, `expected ${expected}, got nothing (the key is required)`)];
      const received = 'received' in issue && typeof issue.received === 'string' ? issue.received : undefined;
      const shown =
        received === 'Infinity' || received === 'NaN' ? `number ${received}` : describeFound(found);
      return [make(issuePath, `expected ${expected}, got ${shown}`)];
    }
    case 'invalid_value': {
      const options = issue.values;
      const guess =
        typeof found === 'string'
          ? suggest(
              found,
              options.filter((v): v is string => typeof v === 'string'),
            )
          : undefined;
      return [
        make(
          issuePath,
          `expected one of ${options.map(quoteOption).join(', ')}, got ${describeFound(found)}` +
            (guess ? ` (did you mean '${guess}'?)` : ''),
        ),
      ];
    }
    case 'invalid_union': {
      if ('discriminator' in issue && typeof issue.discriminator === 'string') {
        // zod puts the discriminator key on the path and the whole object in `input`.
        const objectValue = valueAt(context.input, issuePath.slice(0, -1));
        const value =
          typeof objectValue === 'string'
            ? objectValue
            : typeof objectValue === 'object' && objectValue !== null
              ? (objectValue as Record<string, unknown>)[issue.discriminator]
              : undefined;
        const options = (issue as { options?: unknown[] }).options ?? [];
        const guess =
          typeof value === 'string'
            ? suggest(
                value,
                options.filter((v): v is string => typeof v === 'string'),
              )
            : undefined;
        return [
          make(
            issuePath,
            `expected one of ${options.map(quoteOption).join(', ')}, got ${describeFound(value)}` +
              (guess ? ` (did you mean '${guess}'?)` : ''),
          ),
        ];
      }
      // A union such as "list of ids | file path": if exactly one branch accepted the value's type, its problems
      // are the useful ones.
      const branches = issue.errors.filter(
        (branch) => !branch.some((inner) => inner.code === 'invalid_type' && inner.path.length === 0),
      );
      if (branches.length === 1)
        return (branches[0] as Issue[]).flatMap((inner) => renderIssue(inner, issuePath, context));
      return [
        make(issuePath, `expected ${typeText ?? 'one of the accepted forms'}, got ${describeFound(found)}`),
      ];
    }
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = Number(
        small
          ? (issue as { minimum: number | bigint }).minimum
          : (issue as { maximum: number | bigint }).maximum,
      );
      const inclusive = issue.inclusive !== false;
      const exact = (issue as { exact?: boolean }).exact === true;
      if (issue.origin === 'array' || issue.origin === 'set') {
        const count = Array.isArray(found) ? found.length : 0;
        const items = `${bound} item${bound === 1 ? '' : 's'}`;
        const what = exact ? `exactly ${items}` : small ? `at least ${items}` : `at most ${items}`;
        return [make(issuePath, `expected a list of ${what}, got ${count} (${bare(found)})`)];
      }
      if (issue.origin === 'string') {
        if (small && bound === 1) return [make(issuePath, `expected a non-empty string, got ""`)];
        const what = small ? `at least ${bound}` : `at most ${bound}`;
        return [make(issuePath, `expected ${what} characters, got ${bare(found)}`)];
      }
      const kind = issue.origin === 'int' || isIntegerSchema(schema) ? 'an integer' : 'a number';
      const relation = small
        ? inclusive
          ? 'of at least'
          : 'greater than'
        : inclusive
          ? 'of at most'
          : 'less than';
      return [make(issuePath, `expected ${kind} ${relation} ${bound}, got ${bare(found)}`)];
    }
    case 'not_multiple_of':
      return [make(issuePath, `expected a multiple of ${String(issue.divisor)}, got ${bare(found)}`)];
    case 'invalid_format': {
      const expected =
        typeText ??
        ('pattern' in issue && issue.pattern ? `a string matching ${issue.pattern}` : `a ${issue.format}`);
      return [make(issuePath, `expected ${expected}, got ${bare(found)}`)];
    }
    case 'custom':
      return [make(issuePath, issue.message)];
    default:
      return [make(issuePath, issue.message)];
  }
}

/**
 * The config reference (key, type, default, description) generated from the schema itself, so the README table
 * cannot drift from what the loader accepts.
 */
import { rawConfigSchema } from './raw-schema.js';
import {
  type CheckDef,
  defaultOf,
  defOf,
  innerOf,
  isOptional,
  literalValues,
  metaOf,
  type Schema,
  unwrap,
} from './walk.js';

export interface ConfigKeyDoc {
  /** Dotted key path, e.g. `train.stages.selftrain.optimizer.lr`. */
  key: string;
  /** Accepted values, e.g. `integer ≥ 1`, `'strict' | 'paper'`. */
  type: string;
  /** Default value, `required`, or `—` for optional keys without a default. */
  default: string;
  /** What the key does; a variant-specific key starts with `[variant]`. */
  description: string;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{ ${Object.entries(value)
      .map(([k, v]) => `${k}: ${formatValue(v)}`)
      .join(', ')} }`;
  }
  return String(value);
}

function checksOf(schema: Schema): CheckDef[] {
  return (defOf(schema).checks ?? []).map((check) => check._zod.def);
}

function numberText(schema: Schema): string {
  const name = defOf(schema).format === 'safeint' ? 'integer' : 'number';
  let low: CheckDef | undefined;
  let high: CheckDef | undefined;
  for (const check of checksOf(schema)) {
    if (check.check === 'greater_than') low = check;
    if (check.check === 'less_than') high = check;
  }
  if (low && high) {
    return `${name} in ${low.inclusive ? '[' : '('}${low.value}, ${high.value}${high.inclusive ? ']' : ')'}`;
  }
  if (low) return `${name} ${low.inclusive ? '≥' : '>'} ${low.value}`;
  if (high) return `${name} ${high.inclusive ? '≤' : '<'} ${high.value}`;
  return name;
}

function lengthText(schema: Schema): string {
  let min: number | undefined;
  let max: number | undefined;
  for (const check of checksOf(schema)) {
    if (check.check === 'min_length') min = check.minimum;
    if (check.check === 'max_length') max = check.maximum;
    if (check.check === 'length_equals') min = max = check.length;
  }
  if (min !== undefined && min === max) return `${min} × `;
  if (min !== undefined && max !== undefined) return `${min}–${max} × `;
  if (min !== undefined) return `≥ ${min} × `;
  return '';
}

function typeText(schema: Schema): string {
  const meta = metaOf(schema).typeText;
  if (meta) return meta;
  const core = unwrap(schema);
  const def = defOf(core);
  switch (def.type) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
      return numberText(core);
    case 'enum':
    case 'literal':
      return literalValues(core).map(formatValue).join(' | ');
    case 'array':
      return `list of ${lengthText(core)}${def.element ? typeText(def.element) : 'value'}`;
    case 'union':
      return (def.options ?? []).map(typeText).join(' or ');
    default:
      return def.type;
  }
}

function defaultText(schema: Schema): string {
  const meta = metaOf(schema).defaultText;
  if (meta) return meta;
  const found = defaultOf(schema);
  if (found) return formatValue(found.value);
  return isOptional(schema) ? '—' : 'required';
}

function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

/** Name of the option a union takes when its `name` is omitted (from its prefault). */
function defaultOptionName(schema: Schema): string | undefined {
  for (let current: Schema | undefined = schema; current; current = innerOf(current)) {
    const def = defOf(current);
    if (def.type === 'prefault') {
      const value = def.defaultValue as { name?: unknown } | undefined;
      if (typeof value?.name === 'string') return value.name;
    }
  }
  return undefined;
}

function walk(schema: Schema, key: string, rows: ConfigKeyDoc[], variant?: string): void {
  const core = unwrap(schema);
  const def = defOf(core);
  const tag = variant ? `[${variant}] ` : '';
  if (def.type === 'object' && def.shape) {
    for (const [name, child] of Object.entries(def.shape)) walk(child, join(key, name), rows, variant);
    return;
  }
  if (def.type === 'union' && def.discriminator && def.options) {
    const disc = def.discriminator;
    const options = def.options.map((option) => {
      const shape = defOf(unwrap(option)).shape ?? {};
      return { name: String(literalValues(shape[disc] as Schema)[0]), shape };
    });
    const discSchema = options[0]?.shape[disc] as Schema;
    rows.push({
      key: join(key, disc),
      type: options.map((o) => formatValue(o.name)).join(' | '),
      default: formatValue(defaultOptionName(schema) ?? options[0]?.name),
      description: tag + (metaOf(discSchema).description ?? ''),
    });
    // A field shared by every option with the same meaning gets one row; the others one row per option.
    const seen = new Set<string>();
    for (const option of options) {
      for (const [name, child] of Object.entries(option.shape)) {
        if (name === disc || seen.has(name)) continue;
        const same = options.every((other) => {
          const twin = other.shape[name];
          return (
            twin !== undefined &&
            metaOf(twin).description === metaOf(child).description &&
            defaultText(twin) === defaultText(child) &&
            typeText(twin) === typeText(child)
          );
        });
        if (same) {
          seen.add(name);
          walk(child, join(key, name), rows, variant);
        } else {
          walk(child, join(key, name), rows, variant ? `${variant}, ${option.name}` : option.name);
        }
      }
    }
    return;
  }
  rows.push({
    key,
    type: typeText(schema),
    default: defaultText(schema),
    description: tag + (metaOf(schema).description ?? ''),
  });
}

/**
 * Every config key with its type, default and description, in schema order (`extends` first).
 *
 * @returns One row per key (`data.patchSize`, ...), as the README's config reference shows them.
 * @example
 * describeConfigSchema().find((row) => row.key === 'train.seed')?.default; // '1337'
 */
export function describeConfigSchema(): ConfigKeyDoc[] {
  const rows: ConfigKeyDoc[] = [
    {
      key: 'extends',
      type: 'path or list of paths',
      default: '—',
      description:
        'Parent config file(s), relative to this file, merged first (mappings key by key; lists and scalars replaced; null removes an inherited value).',
    },
  ];
  walk(rawConfigSchema, '', rows);
  return rows;
}

/**
 * The reference as a Markdown table (for the README).
 *
 * @returns The table of {@link describeConfigSchema}, `|` escaped, ending in a newline.
 * @example
 * writeFileSync('config-reference.md', configReferenceMarkdown());
 */
export function configReferenceMarkdown(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const row of describeConfigSchema()) {
    lines.push(`| \`${row.key}\` | ${cell(row.type)} | ${cell(row.default)} | ${cell(row.description)} |`);
  }
  return `${lines.join('\n')}\n`;
}

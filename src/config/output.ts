/**
 * Writes a resolved config as YAML for the run folder (`config.yaml`, what the run actually used): keys in schema
 * order (stable across runs and versions whatever order the input had), lists of numbers in flow style, undefined
 * values left out. Loading the text again gives the same config.
 */
import { Document, isScalar, visit } from 'yaml';
import { isPlainObject, requireOptions } from '../util/args.js';
import { requireConfig } from './load.js';
import type { Plain } from './merge.js';
import { rawConfigSchema, type SsmisConfig } from './schema.js';
import { childSchema, defOf, objectNode, type Schema } from './walk.js';

function ordered(value: unknown, schema: Schema | undefined): unknown {
  if (Array.isArray(value))
    return value.map((item, i) => ordered(item, schema && childSchema(schema, i, value)));
  if (!isPlainObject(value)) return value;
  const node = schema && objectNode(schema, value);
  const shapeKeys = node ? Object.keys(defOf(node).shape ?? {}) : [];
  const keys = [
    ...shapeKeys.filter((k) => Object.hasOwn(value, k)),
    ...Object.keys(value).filter((k) => !shapeKeys.includes(k)),
  ];
  const out: Plain = {};
  for (const key of keys) {
    const item = value[key];
    if (item !== undefined) out[key] = ordered(item, schema && childSchema(schema, key, value));
  }
  return out;
}

export interface ConfigYamlOptions {
  /** Comment written above the document (e.g. how the run was started). */
  header?: string;
}

/**
 * YAML text of a parsed config, in schema key order (lists of scalars on one line); `loadConfig` reads it back to
 * the same config.
 *
 * @param config A parsed or partial config (defaults are filled first).
 * @param options `header`: a comment written above the document.
 * @returns The YAML document.
 * @throws InputError (a ConfigError for schema problems) when `config` is not a valid config or `options` not an
 *   object.
 * @example
 * await writeFile('config.yaml', configToYaml(config, { header: 'ssmis train configs/la.yaml' }));
 */
export function configToYaml(config: SsmisConfig, options: ConfigYamlOptions = {}): string {
  config = requireConfig('configToYaml', 'config', config);
  requireOptions('configToYaml', 'options', options);
  const doc = new Document(ordered(config, rawConfigSchema));
  visit(doc, {
    Seq(_key, node) {
      if (node.items.every((item) => isScalar(item))) node.flow = true;
    },
  });
  if (options.header)
    doc.commentBefore = options.header
      .split('\n')
      .map((line) => ` ${line}`)
      .join('\n');
  return doc.toString({ lineWidth: 0 });
}
